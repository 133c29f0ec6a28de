//! Verifiable certificates: every certificate is also a W3C Verifiable Credential 2.0 in the
//! Open Badges 3.0 shape (`AchievementCredential`), secured as a JWT per VC-JOSE-COSE (`typ`
//! `vc+jwt`), with its revocation and suspension published as W3C Bitstring Status Lists.
//!
//! A province chooses the signature algorithm ([`KeyAlgorithm`]): EdDSA over Ed25519 by default,
//! signed and verified by the `jsonwebtoken` crate with `ed25519-dalek` keys; or SM2 (GM/T 0003)
//! where national algorithms are required, signed and verified by RustCrypto's `sm2` crate. JOSE
//! has no registered SM2 algorithm, so its JWS is written here by the compact serialisation of
//! RFC 7515 with `alg` `SM2`: an SM2 signature with SM3 and the default distinguishing
//! identifier of GM/T 0009 (`1234567812345678`) over the signing input, as the 64 bytes r ‖ s (as
//! ES256 writes its signature), and the public key as a JWK `{"kty": "EC", "crv": "SM2", x, y}`.
//! Only that framing is ours; every cryptographic step is a library's.

use std::io::{Read as _, Write as _};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, NaiveDate, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

use crate::domain::Level;

/// The distinguishing identifier of an SM2 signature: GM/T 0009's default.
const SM2_DISTINGUISHING_ID: &str = "1234567812345678";

/// The signature algorithm of a province's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum KeyAlgorithm {
    /// EdDSA over Ed25519 (RFC 8037), what general-purpose JOSE libraries verify.
    #[default]
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// SM2 with SM3 (GM/T 0003, GM/T 0009), the national algorithm.
    #[serde(rename = "SM2")]
    Sm2,
}

impl KeyAlgorithm {
    /// The JOSE `alg` (and the stored code).
    pub fn code(self) -> &'static str {
        match self {
            KeyAlgorithm::EdDsa => "EdDSA",
            KeyAlgorithm::Sm2 => "SM2",
        }
    }

    /// The algorithm named `code`.
    pub fn parse(code: &str) -> Option<KeyAlgorithm> {
        match code {
            "EdDSA" => Some(KeyAlgorithm::EdDsa),
            "SM2" => Some(KeyAlgorithm::Sm2),
            _ => None,
        }
    }
}

/// The public half of an issuer key as published in its JWK: `x` (Ed25519's key bytes, or the
/// SM2 point's x coordinate) and `y` (SM2 only; empty for Ed25519), base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub algorithm: KeyAlgorithm,
    pub x: String,
    pub y: String,
}
/// Entries of one status list: 131,072, the minimum the Bitstring Status List recommends so that
/// a list does not tell how many credentials were issued.
pub const STATUS_LIST_SIZE: usize = 131_072;

/// The two status purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Revocation,
    Suspension,
}

impl Purpose {
    pub fn code(self) -> &'static str {
        match self {
            Purpose::Revocation => "revocation",
            Purpose::Suspension => "suspension",
        }
    }

    pub fn parse(code: &str) -> Option<Purpose> {
        [Purpose::Revocation, Purpose::Suspension]
            .into_iter()
            .find(|p| p.code() == code)
    }
}

/// Where the public documents of a province live: the status lists, the keys, the verification
/// page of a certificate.
#[derive(Debug, Clone)]
pub struct Urls {
    pub base: String,
    pub province: String,
}

impl Urls {
    pub fn issuer(&self) -> String {
        format!("{}/v1/provinces/{}/issuerKeys", self.base, self.province)
    }

    pub fn status_list(&self, purpose: Purpose) -> String {
        format!(
            "{}/v1/provinces/{}/statusLists/{}",
            self.base,
            self.province,
            purpose.code()
        )
    }

    pub fn verification(base: &str, number: &str) -> String {
        format!("{base}/v1/certificates/{number}:verify")
    }
}

/// What a certificate's credential states.
#[derive(Debug, Clone)]
pub struct Claims<'a> {
    pub number: &'a str,
    pub level: Level,
    pub issuer_name: &'a str,
    pub issued: NaiveDate,
    pub expires: NaiveDate,
    /// When it was signed.
    pub signed_at: DateTime<Utc>,
    /// The holder: an Open Badges `IdentityObject` with a salted hash of their name (see
    /// [`holder_identity`]), kept from the first issue through renewals.
    pub holder: &'a Value,
    pub status_index: i64,
    pub urls: &'a Urls,
}

fn start_of(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// The last second of the expiry day in China (the certificate is valid through it).
pub fn end_of(date: NaiveDate) -> DateTime<Utc> {
    let next = date.succ_opt().unwrap_or(date);
    start_of(next) - chrono::Duration::hours(8) - chrono::Duration::seconds(1)
}

/// `sha256$hex` of the name with the salt, as Open Badges 3.0 hashes identities (OB 3.0 names
/// SHA-256; verifiers would not know SM3 here).
pub fn identity_hash(name: &str, salt: &str) -> String {
    use sha2::Digest as _;
    format!(
        "sha256${}",
        hex::encode(sha2::Sha256::digest(format!("{name}{salt}").as_bytes()))
    )
}

/// The holder as an Open Badges `IdentityObject`: whoever holds the printed certificate (with
/// the name on it) can check the hash; the credential itself does not disclose the name.
pub fn holder_identity(name: &str, salt: &str) -> Value {
    json!({
        "type": "IdentityObject",
        "identityType": "name",
        "hashed": true,
        "identityHash": identity_hash(name, salt),
        "salt": salt,
    })
}

/// The claims of a JWT, read without verifying it (to carry the holder over to a renewal of a
/// credential this service signed and stored).
pub fn unverified_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// The credential's JSON (the JWT claims set): an Open Badges 3.0 `AchievementCredential`, a W3C
/// VC 2.0, with `iss`, `jti`, `nbf`, `iat` and `exp` repeating what it says for JWT verifiers.
pub fn achievement_credential(claims: &Claims<'_>) -> Value {
    let urls = claims.urls;
    let id = format!("urn:shequ:certificate:{}", claims.number);
    let valid_from = start_of(claims.issued);
    let valid_until = end_of(claims.expires);
    let status = |purpose: Purpose| {
        json!({
            "id": format!("{}#{}", urls.status_list(purpose), claims.status_index),
            "type": "BitstringStatusListEntry",
            "statusPurpose": purpose.code(),
            "statusListIndex": claims.status_index.to_string(),
            "statusListCredential": urls.status_list(purpose),
        })
    };
    json!({
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
        ],
        "id": id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": claims.level.chinese(),
        "issuer": {
            "id": urls.issuer(),
            "type": ["Profile"],
            "name": claims.issuer_name,
        },
        "validFrom": valid_from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "validUntil": valid_until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [claims.holder],
            "achievement": {
                "id": format!("urn:shequ:achievement:digital-secretary:{}", claims.level.code().to_ascii_lowercase()),
                "type": ["Achievement"],
                "achievementType": "Certificate",
                "name": claims.level.chinese(),
                "description": "数字书记 certification of community Party secretaries",
                "criteria": {"narrative": format!("Passed every module exam of the {} level, having held the level below.", claims.level.code().to_ascii_lowercase())},
            },
        },
        "credentialStatus": [status(Purpose::Revocation), status(Purpose::Suspension)],
        "iss": urls.issuer(),
        "jti": id,
        "iat": claims.signed_at.timestamp(),
        "nbf": valid_from.timestamp(),
        "exp": valid_until.timestamp(),
    })
}

/// An issuer key: its id, algorithm, private half (Ed25519: PKCS#8 PEM; SM2: the 32-byte
/// secret scalar, base64url) and public half.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub private: String,
    pub public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.public.algorithm)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key named `kid`.
    pub fn generate(kid: String, algorithm: KeyAlgorithm) -> anyhow::Result<SigningKey> {
        match algorithm {
            KeyAlgorithm::EdDsa => {
                let pair = shequ_kit::auth::KeyPair::generate();
                let x = public_x(&pair.public_pem)?;
                Ok(SigningKey {
                    kid,
                    private: pair.private_pem,
                    public: PublicKey {
                        algorithm,
                        x,
                        y: String::new(),
                    },
                })
            }
            KeyAlgorithm::Sm2 => {
                // A uniformly random scalar; the rare value outside [1, n-1] is drawn again.
                let key = loop {
                    let secret: [u8; 32] = rand::random();
                    if let Ok(key) =
                        sm2::dsa::SigningKey::from_slice(SM2_DISTINGUISHING_ID, &secret)
                    {
                        break key;
                    }
                };
                let point = key.verifying_key().to_sec1_bytes();
                anyhow::ensure!(
                    point.len() == 65 && point[0] == 4,
                    "an SM2 public key is an uncompressed point"
                );
                Ok(SigningKey {
                    kid,
                    private: URL_SAFE_NO_PAD.encode(key.to_bytes()),
                    public: PublicKey {
                        algorithm,
                        x: URL_SAFE_NO_PAD.encode(&point[1..33]),
                        y: URL_SAFE_NO_PAD.encode(&point[33..65]),
                    },
                })
            }
        }
    }

    /// Signs `claims` as a VC-JOSE JWT.
    pub fn sign(&self, claims: &Value, typ: &str) -> anyhow::Result<String> {
        match self.public.algorithm {
            KeyAlgorithm::EdDsa => {
                let mut header = Header::new(Algorithm::EdDSA);
                header.typ = Some(typ.to_owned());
                header.kid = Some(self.kid.clone());
                let key = EncodingKey::from_ed_pem(self.private.as_bytes())?;
                Ok(jsonwebtoken::encode(&header, claims, &key)?)
            }
            KeyAlgorithm::Sm2 => {
                use sm2::dsa::signature::Signer as _;
                let header = json!({"alg": "SM2", "typ": typ, "kid": self.kid});
                let input = format!(
                    "{}.{}",
                    URL_SAFE_NO_PAD.encode(header.to_string()),
                    URL_SAFE_NO_PAD.encode(claims.to_string())
                );
                let secret = URL_SAFE_NO_PAD.decode(&self.private)?;
                let key = sm2::dsa::SigningKey::from_slice(SM2_DISTINGUISHING_ID, &secret)
                    .map_err(|e| anyhow::anyhow!("the stored SM2 key is not a key: {e}"))?;
                let signature: sm2::dsa::Signature = key.try_sign(input.as_bytes())?;
                Ok(format!(
                    "{input}.{}",
                    URL_SAFE_NO_PAD.encode(signature.to_bytes())
                ))
            }
        }
    }
}

/// The `x` (base64url public key bytes) of an Ed25519 SPKI PEM key.
pub fn public_x(public_pem: &str) -> anyhow::Result<String> {
    use ed25519_dalek::pkcs8::DecodePublicKey as _;
    let key = ed25519_dalek::VerifyingKey::from_public_key_pem(public_pem)
        .map_err(|e| anyhow::anyhow!("not an Ed25519 public key: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(key.as_bytes()))
}

/// Why a presented credential does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Verified,
    Malformed,
    KeyUnknown,
    SignatureInvalid,
    Expired,
    Revoked,
    Suspended,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Verified => "VERIFIED",
            Outcome::Malformed => "MALFORMED",
            Outcome::KeyUnknown => "KEY_UNKNOWN",
            Outcome::SignatureInvalid => "SIGNATURE_INVALID",
            Outcome::Expired => "EXPIRED",
            Outcome::Revoked => "REVOKED",
            Outcome::Suspended => "SUSPENDED",
        }
    }
}

/// The JOSE header of a compact JWS, whatever its algorithm.
fn header(jwt: &str) -> Option<Value> {
    let encoded = jwt.split('.').next()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()
}

/// The `kid` a JWT's header names.
pub fn key_id(jwt: &str) -> Option<String> {
    header(jwt)?["kid"].as_str().map(str::to_owned)
}

/// Checks the signature of `jwt` under `key` (the header's `alg` must be the key's: a
/// credential cannot choose how it is checked) and returns its claims. Time is checked by the
/// caller against the service's clock.
pub fn verify_signature(jwt: &str, key: &PublicKey) -> Result<Value, Outcome> {
    let alg = header(jwt).ok_or(Outcome::Malformed)?["alg"]
        .as_str()
        .map(str::to_owned)
        .ok_or(Outcome::Malformed)?;
    if alg != key.algorithm.code() {
        return Err(Outcome::SignatureInvalid);
    }
    match key.algorithm {
        KeyAlgorithm::EdDsa => {
            let decoding =
                DecodingKey::from_ed_components(&key.x).map_err(|_| Outcome::KeyUnknown)?;
            let mut validation = Validation::new(Algorithm::EdDSA);
            validation.validate_exp = false;
            validation.validate_nbf = false;
            validation.validate_aud = false;
            validation.required_spec_claims.clear();
            jsonwebtoken::decode::<Value>(jwt, &decoding, &validation)
                .map(|data| data.claims)
                .map_err(|e| match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => Outcome::SignatureInvalid,
                    _ => Outcome::Malformed,
                })
        }
        KeyAlgorithm::Sm2 => {
            use sm2::dsa::signature::Verifier as _;
            let mut parts = jwt.split('.');
            let (Some(head), Some(body), Some(signature), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(Outcome::Malformed);
            };
            let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| Outcome::Malformed);
            let mut point = vec![4_u8];
            point.extend(decode(&key.x)?);
            point.extend(decode(&key.y)?);
            let verifying = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DISTINGUISHING_ID, &point)
                .map_err(|_| Outcome::KeyUnknown)?;
            let signature = sm2::dsa::Signature::from_slice(&decode(signature)?)
                .map_err(|_| Outcome::SignatureInvalid)?;
            verifying
                .verify(format!("{head}.{body}").as_bytes(), &signature)
                .map_err(|_| Outcome::SignatureInvalid)?;
            serde_json::from_slice(&decode(body)?).map_err(|_| Outcome::Malformed)
        }
    }
}

/// The GZIP-compressed, multibase base64url (`u` prefix) bitstring of a status list in which the
/// entries `set` are 1. Index 0 is the left-most (most significant) bit of the first byte.
pub fn encode_list(set: &[i64]) -> String {
    let mut bits = vec![0_u8; STATUS_LIST_SIZE / 8];
    for &index in set {
        if let Ok(i) = usize::try_from(index)
            && i < STATUS_LIST_SIZE
        {
            bits[i / 8] |= 0x80 >> (i % 8);
        }
    }
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&bits)
        .expect("writing to memory cannot fail");
    let compressed = gzip.finish().expect("writing to memory cannot fail");
    format!("u{}", URL_SAFE_NO_PAD.encode(compressed))
}

/// Whether entry `index` of an encoded list is set (for tests and verifiers).
pub fn list_bit(encoded: &str, index: usize) -> Option<bool> {
    let compressed = URL_SAFE_NO_PAD.decode(encoded.strip_prefix('u')?).ok()?;
    let mut bits = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .read_to_end(&mut bits)
        .ok()?;
    let byte = bits.get(index / 8)?;
    Some(byte & (0x80 >> (index % 8)) != 0)
}

/// The BitstringStatusListCredential of a province and purpose (the JWT claims set).
pub fn status_list_credential(
    urls: &Urls,
    purpose: Purpose,
    encoded: &str,
    now: DateTime<Utc>,
) -> Value {
    let id = urls.status_list(purpose);
    json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": id,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": urls.issuer(),
        "validFrom": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "credentialSubject": {
            "id": format!("{id}#list"),
            "type": "BitstringStatusList",
            "statusPurpose": purpose.code(),
            "encodedList": encoded,
        },
        "iss": urls.issuer(),
        "jti": id,
        "iat": now.timestamp(),
    })
}

/// The QR code of `url` as an SVG document, for the printed certificate.
pub fn qr_svg(url: &str) -> anyhow::Result<String> {
    let code = qrcode::QrCode::new(url.as_bytes())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(160, 160)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> Urls {
        Urls {
            base: "https://shequ.example.gov.cn".into(),
            province: "440000000000".into(),
        }
    }

    #[test]
    fn a_signed_credential_verifies_under_its_key_and_not_under_another_or_tampered() {
        for algorithm in [KeyAlgorithm::EdDsa, KeyAlgorithm::Sm2] {
            let key = SigningKey::generate("k1".into(), algorithm).unwrap();
            let other = SigningKey::generate("k2".into(), algorithm).unwrap();
            let urls = urls();
            let claims = Claims {
                number: "SZSJ-44-2026-000001",
                level: Level::Basic,
                issuer_name: "广东省数字书记认证中心",
                issued: "2026-06-15".parse().unwrap(),
                expires: "2029-06-14".parse().unwrap(),
                signed_at: "2026-06-15T02:00:00Z".parse().unwrap(),
                holder: &holder_identity("王芳", "s4lt"),
                status_index: 7,
                urls: &urls,
            };
            let jwt = key
                .sign(&achievement_credential(&claims), "vc+jwt")
                .unwrap();
            assert_eq!(key_id(&jwt).as_deref(), Some("k1"));
            assert_eq!(
                header(&jwt).unwrap()["alg"],
                algorithm.code(),
                "{algorithm:?}"
            );
            let body = verify_signature(&jwt, &key.public).unwrap();
            assert_eq!(body["type"][1], "OpenBadgeCredential");
            assert_eq!(body["credentialStatus"][0]["statusListIndex"], "7");
            assert_eq!(
                body["validUntil"], "2029-06-14T15:59:59Z",
                "through the expiry day in China"
            );
            assert!(!body.to_string().contains("王芳"), "the name is hashed");
            assert_eq!(
                verify_signature(&jwt, &other.public),
                Err(Outcome::SignatureInvalid),
                "{algorithm:?}: another key"
            );
            let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
            let mut payload: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
            payload["exp"] = json!(4_102_444_800_i64);
            parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
            assert_eq!(
                verify_signature(&parts.join("."), &key.public),
                Err(Outcome::SignatureInvalid),
                "{algorithm:?}: tampered"
            );
            assert_eq!(
                verify_signature("not a jwt", &key.public),
                Err(Outcome::Malformed)
            );
        }
    }

    #[test]
    fn a_credential_cannot_choose_the_algorithm_it_is_checked_with() {
        let ed = SigningKey::generate("k1".into(), KeyAlgorithm::EdDsa).unwrap();
        let sm2 = SigningKey::generate("k1".into(), KeyAlgorithm::Sm2).unwrap();
        let jwt = sm2.sign(&json!({"jti": "x"}), "vc+jwt").unwrap();
        assert_eq!(
            verify_signature(&jwt, &ed.public),
            Err(Outcome::SignatureInvalid)
        );
        let jwt = ed.sign(&json!({"jti": "x"}), "vc+jwt").unwrap();
        assert_eq!(
            verify_signature(&jwt, &sm2.public),
            Err(Outcome::SignatureInvalid)
        );
    }

    #[test]
    fn the_status_list_sets_exactly_the_listed_bits_left_to_right() {
        let encoded = encode_list(&[0, 9, 131_071]);
        assert!(encoded.starts_with('u'));
        assert_eq!(list_bit(&encoded, 0), Some(true));
        assert_eq!(list_bit(&encoded, 1), Some(false));
        assert_eq!(list_bit(&encoded, 9), Some(true));
        assert_eq!(list_bit(&encoded, 131_071), Some(true));
        assert_eq!(list_bit(&encoded, 131_072), None);
        let empty = encode_list(&[]);
        assert!(
            empty.len() < 200,
            "a 16 KiB list of zeros compresses: {}",
            empty.len()
        );
    }

    #[test]
    fn the_qr_code_is_an_svg() {
        let svg = qr_svg("https://shequ.example.gov.cn/v1/certificates/SZSJ-44-2026-000001:verify")
            .unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }
}
