//! Verifiable certificates: verified by this service and, independently, by jwcrypto (a JOSE
//! library this project did not write) from nothing but the published JWKS and status lists;
//! tampered, expired, revoked, suspended and unknown-key credentials each fail for their reason;
//! key rotation keeps old credentials verifying.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use shequ_kit::auth::Role;
use shequ_proto::training::v1 as pb;

use crate::helpers::*;

fn tampered(jwt: &str) -> String {
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["name"] = json!("数字书记（高级）");
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    )
}

/// The same claims, signed by a key nobody published.
fn forged(jwt: &str) -> String {
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let pair = shequ_kit::auth::KeyPair::generate();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some("vc+jwt".into());
    header.kid = Some("440000000000-not-ours".into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_pem(pair.private_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn exp(jwt: &str) -> i64 {
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    claims["exp"].as_i64().unwrap()
}

async fn verify(env: &Env, credential: &str) -> pb::CredentialVerification {
    env.training(Role::Integration, "330000000000")
        .verify_credential(pb::VerifyCredentialRequest {
            credential: credential.into(),
        })
        .await
        .expect("verification answers")
        .into_inner()
}

struct Issued {
    valid: pb::Certificate,
    revoked: pb::Certificate,
    suspended: pb::Certificate,
}

async fn issue_three(env: &Env) -> Issued {
    let mut certificates = Vec::new();
    for _ in 0..3 {
        let secretary = env.appoint(NANTOU_COMMUNITY, "2022-03-01").await;
        certificates.push(env.certified(&secretary, pb::CertificateLevel::Basic).await);
    }
    let suspended = certificates.pop().unwrap();
    let revoked = certificates.pop().unwrap();
    env.admin()
        .revoke_certificate(pb::RevokeCertificateRequest {
            name: revoked.name.clone(),
            reason: "考试舞弊".into(),
        })
        .await
        .expect("revoked");
    env.admin()
        .suspend_certificate(pb::SuspendCertificateRequest {
            name: suspended.name.clone(),
            reason: "核查中".into(),
        })
        .await
        .expect("suspended");
    Issued {
        valid: certificates.pop().unwrap(),
        revoked,
        suspended,
    }
}

#[tokio::test]
async fn the_service_tells_tampered_expired_revoked_suspended_and_unknown_key_credentials_apart() {
    let env = Env::spawn().await;
    let issued = issue_three(&env).await;
    let jwt = &issued.valid.credential;
    let ok = verify(&env, jwt).await;
    assert_eq!((ok.verified, ok.outcome.as_str()), (true, "VERIFIED"));
    assert_eq!(ok.number, issued.valid.number);
    assert_eq!(
        (ok.issue_date.as_str(), ok.expiry_date.as_str()),
        ("2026-06-15", "2029-06-14")
    );
    assert_eq!(ok.issuer, "数字书记认证中心");
    assert_eq!(
        verify(&env, &tampered(jwt)).await.outcome,
        "SIGNATURE_INVALID"
    );
    assert_eq!(verify(&env, &forged(jwt)).await.outcome, "KEY_UNKNOWN");
    assert_eq!(
        verify(&env, &issued.revoked.credential).await.outcome,
        "REVOKED"
    );
    assert_eq!(
        verify(&env, &issued.suspended.credential).await.outcome,
        "SUSPENDED"
    );
    assert_eq!(
        verify(&env, "eyJub3QiOiJhIGp3dCJ9").await.outcome,
        "MALFORMED"
    );
    // The public page of a certificate number says the same, and nothing about the holder.
    let page = env
        .training(Role::Integration, "330000000000")
        .verify_certificate(pb::VerifyCertificateRequest {
            name: issued.revoked.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.outcome, "REVOKED");
    assert!(!format!("{page:?}").contains("secretaries/"), "{page:?}");
    // Reinstated, the suspended one verifies again; later, the valid one expires.
    env.admin()
        .reinstate_certificate(pb::ReinstateCertificateRequest {
            name: issued.suspended.name.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        verify(&env, &issued.suspended.credential).await.outcome,
        "VERIFIED"
    );
    env.clock.set("2029-06-15T00:00:00Z".parse().unwrap());
    assert_eq!(verify(&env, jwt).await.outcome, "EXPIRED");
}

fn run_jwcrypto(input: &Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/verify_credentials.py");
    let python = shequ_kit::testing::python_with(&[("jwcrypto", "jwcrypto")]);
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (the independent verifier needs it)");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the jwcrypto verifier failed: {stderr}"
    );
    serde_json::from_slice(&output.stdout).expect("the verifier prints JSON")
}

#[tokio::test]
async fn jwcrypto_verifies_offline_from_the_published_keys_and_status_lists_across_a_key_rotation()
{
    let env = Env::spawn().await;
    let issued = issue_three(&env).await;
    // The province rotates its key; a certificate issued afterwards is signed by the new one.
    let mut province = env.training(Role::ProvinceAdmin, GUANGDONG);
    let rotated = province
        .rotate_issuer_key(pb::RotateIssuerKeyRequest {
            parent: format!("provinces/{GUANGDONG}"),
            request_id: String::new(),
        })
        .await
        .expect("rotated")
        .into_inner();
    let later = env.appoint(NANTOU_COMMUNITY, "2022-03-01").await;
    let after = env.certified(&later, pb::CertificateLevel::Basic).await;
    assert_eq!(
        shequ_training::credential::key_id(&after.credential),
        Some(rotated.kid.clone())
    );
    assert_ne!(
        shequ_training::credential::key_id(&issued.valid.credential),
        Some(rotated.kid.clone())
    );

    // What anyone can fetch without an account: the JWKS and both status lists.
    let public = env.training(Role::Integration, "330000000000");
    let keys = public
        .clone()
        .list_issuer_keys(pb::ListIssuerKeysRequest {
            parent: format!("provinces/{GUANGDONG}"),
        })
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(keys.len(), 2, "the retired key is still published");
    let jwks = json!({"keys": keys.iter().map(|k| json!({"kty": k.kty, "crv": k.crv, "x": k.x, "kid": k.kid, "alg": k.alg, "use": k.r#use})).collect::<Vec<_>>()});
    let mut lists = Vec::new();
    for purpose in ["revocation", "suspension"] {
        lists.push(
            public
                .clone()
                .get_status_list(pb::GetStatusListRequest {
                    name: format!("provinces/{GUANGDONG}/statusLists/{purpose}"),
                })
                .await
                .unwrap()
                .into_inner()
                .credential,
        );
    }
    let now = shequ_kit::clock::Clock::now(&env.clock).timestamp();
    let jwt = &issued.valid.credential;
    let case = |name: &str, credential: &str, now: i64| json!({"name": name, "credential": credential, "now": now});
    let outcomes = run_jwcrypto(&json!({
        "jwks": jwks,
        "status_lists": lists,
        "cases": [
            case("before the rotation", jwt, now),
            case("after the rotation", &after.credential, now),
            case("tampered", &tampered(jwt), now),
            case("expired", jwt, exp(jwt) + 1),
            case("revoked", &issued.revoked.credential, now),
            case("suspended", &issued.suspended.credential, now),
            case("unknown key", &forged(jwt), now),
        ],
    }));
    assert_eq!(
        outcomes,
        json!({
            "before the rotation": "VERIFIED",
            "after the rotation": "VERIFIED",
            "tampered": "SIGNATURE_INVALID",
            "expired": "EXPIRED",
            "revoked": "REVOKED",
            "suspended": "SUSPENDED",
            "unknown key": "KEY_UNKNOWN",
        })
    );
}

fn run_gmssl(input: &Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/verify_sm2.py");
    let python = shequ_kit::testing::python_with(&[("gmssl", "gmssl==3.2.2")]);
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (the independent verifier needs it)");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the gmssl verifier failed: {stderr}"
    );
    serde_json::from_slice(&output.stdout).expect("the verifier prints JSON")
}

fn algorithm(jwt: &str) -> String {
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    header["alg"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_province_that_chooses_sm2_signs_with_a_new_sm2_key_that_gmssl_verifies_and_earlier_certificates_still_verify()
 {
    let env = Env::spawn().await;
    let first = env.appoint(NANTOU_COMMUNITY, "2022-03-01").await;
    let before = env.certified(&first, pb::CertificateLevel::Basic).await;
    assert_eq!(
        algorithm(&before.credential),
        "EdDSA",
        "the shipped default"
    );

    let mut province = env.training(Role::ProvinceAdmin, GUANGDONG);
    let policy = province
        .get_training_policy(pb::GetTrainingPolicyRequest {
            name: format!("provinces/{GUANGDONG}/trainingPolicy"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(policy.credential_algorithm, "EdDSA");
    let choose = |algorithm: &str| pb::UpdateTrainingPolicyRequest {
        training_policy: Some(pb::TrainingPolicy {
            credential_algorithm: algorithm.into(),
            ..policy.clone()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["credential_algorithm".into()],
        }),
    };
    let refused = province
        .update_training_policy(choose("RS256"))
        .await
        .expect_err("an algorithm the province cannot choose");
    assert_eq!(
        violations(&refused),
        vec![(
            "training_policy.credential_algorithm".to_owned(),
            "VALUE_NOT_ALLOWED".to_owned()
        )]
    );
    let chosen = province
        .update_training_policy(choose("SM2"))
        .await
        .expect("SM2 chosen")
        .into_inner();
    assert_eq!(chosen.credential_algorithm, "SM2");

    // The next certificate is signed by a new SM2 key; the earlier one keeps its Ed25519 key.
    let second = env.appoint(NANTOU_COMMUNITY, "2022-03-01").await;
    let after = env.certified(&second, pb::CertificateLevel::Basic).await;
    assert_eq!(algorithm(&after.credential), "SM2");
    let (old_kid, new_kid) = (
        shequ_training::credential::key_id(&before.credential).unwrap(),
        shequ_training::credential::key_id(&after.credential).unwrap(),
    );
    assert_ne!(old_kid, new_kid);
    for (credential, expected) in [
        (&after.credential, "VERIFIED"),
        (&before.credential, "VERIFIED"),
        (&tampered(&after.credential), "SIGNATURE_INVALID"),
    ] {
        assert_eq!(verify(&env, credential).await.outcome, expected);
    }

    // Both keys are published, the SM2 one as an EC JWK with both coordinates.
    let keys = env
        .training(Role::Integration, "330000000000")
        .list_issuer_keys(pb::ListIssuerKeysRequest {
            parent: format!("provinces/{GUANGDONG}"),
        })
        .await
        .unwrap()
        .into_inner()
        .keys;
    let sm2 = keys.iter().find(|k| k.kid == new_kid).expect("the SM2 key");
    assert_eq!(
        (sm2.kty.as_str(), sm2.crv.as_str(), sm2.alg.as_str()),
        ("EC", "SM2", "SM2")
    );
    assert!(!sm2.x.is_empty() && !sm2.y.is_empty());
    let jwks = json!({"keys": keys.iter().map(|k| json!({"kty": k.kty, "crv": k.crv, "x": k.x, "y": k.y, "kid": k.kid, "alg": k.alg})).collect::<Vec<_>>()});
    let outcomes = run_gmssl(&json!({
        "jwks": jwks,
        "cases": [
            {"name": "sm2", "credential": after.credential},
            {"name": "tampered", "credential": tampered(&after.credential)},
            {"name": "ed25519", "credential": before.credential},
        ],
    }));
    assert_eq!(
        outcomes,
        json!({"sm2": "VERIFIED", "tampered": "SIGNATURE_INVALID", "ed25519": "NOT_SM2"})
    );
}
