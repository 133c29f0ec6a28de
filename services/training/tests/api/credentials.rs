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
    let mut child = std::process::Command::new("python3")
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
        "the jwcrypto verifier failed (install it with `python3 -m pip install jwcrypto`): {stderr}"
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
