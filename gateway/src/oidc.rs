//! People sign in through the province's identity provider (OIDC). The gateway validates their
//! access tokens against the provider's JWKS (from a file or a URL, refreshed, several keys for
//! rotation), checks issuer, audience and expiry, and maps claims to the suite's caller.
//!
//! Algorithms are an allow-list (EdDSA, ES256, RS256 by default). A token's `alg` must be on it
//! and must match the family of the key its `kid` names, so `none`, an HMAC token keyed with a
//! public key, or an RSA token presented against an EC key are refused before any signature work.

use std::{path::PathBuf, sync::Arc, time::Duration};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    errors::ErrorKind,
    jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm},
};
use serde::{Deserialize, Serialize};

use shequ_kit::{
    Error,
    auth::{Caller, Role},
    regions::RegionCode,
};

/// Where the provider's keys come from and how its claims map to a caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// A JWKS document on disk (re-read on every refresh).
    pub jwks_file: Option<PathBuf>,
    /// A JWKS URL: `https://` (the server's certificate checked against the system's roots and
    /// `jwks_ca_file`), or `http://` inside the province network or through a mesh sidecar.
    pub jwks_url: Option<String>,
    /// PEM file of CA certificates trusted for an `https://` `jwks_url` besides the system's
    /// roots, typically the province's own CA.
    pub jwks_ca_file: Option<PathBuf>,
    /// How often the key set is refreshed.
    pub refresh_secs: u64,
    /// Accepted `alg` values.
    pub algorithms: Vec<String>,
    /// Claim holding the role names (an array of strings, the suite's role names).
    pub roles_claim: String,
    /// Claim holding the 12-digit region code of the caller's scope.
    pub scope_claim: String,
    /// Claim naming a secretary's own record (`secretaries/{id}`), when present.
    pub secretary_claim: String,
    /// Tolerated clock skew, seconds.
    pub leeway_secs: u64,
    /// Longest lifetime (`exp` − `iat`) of an access token that is accepted.
    pub max_lifetime_secs: u64,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer: String::new(),
            audience: "shequ".to_owned(),
            jwks_file: None,
            jwks_url: None,
            jwks_ca_file: None,
            refresh_secs: 300,
            algorithms: vec!["EdDSA".to_owned(), "ES256".to_owned(), "RS256".to_owned()],
            roles_claim: "roles".to_owned(),
            scope_claim: "region_scope".to_owned(),
            secretary_claim: "secretary".to_owned(),
            leeway_secs: 30,
            max_lifetime_secs: shequ_kit::auth::DEFAULT_MAX_TOKEN_LIFETIME_SECS,
        }
    }
}

/// One usable key of the set.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies the provider's access tokens.
#[derive(Clone)]
pub struct OidcVerifier {
    config: Arc<OidcConfig>,
    allowed: Arc<Vec<Algorithm>>,
    keys: Arc<std::sync::RwLock<Vec<Key>>>,
    /// Where the key set is fetched from, when it is a URL.
    source: Option<Arc<JwksUrl>>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

/// The algorithms we ever accept; anything else in the configuration is an error.
fn parse_algorithm(name: &str) -> anyhow::Result<Algorithm> {
    match name {
        "EdDSA" => Ok(Algorithm::EdDSA),
        "ES256" => Ok(Algorithm::ES256),
        "RS256" => Ok(Algorithm::RS256),
        other => anyhow::bail!(
            "oidc.algorithms: {other} is not allowed (choose from EdDSA, ES256, RS256)"
        ),
    }
}

/// The algorithm a key is for, from its type (and its `alg`, which must agree).
fn key_algorithm(
    params: &AlgorithmParameters,
    declared: Option<KeyAlgorithm>,
) -> Option<Algorithm> {
    let by_type = match params {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        // symmetric keys and other curves are never trusted for people's tokens
        _ => return None,
    };
    let agrees = match declared {
        None => true,
        Some(KeyAlgorithm::EdDSA) => by_type == Algorithm::EdDSA,
        Some(KeyAlgorithm::ES256) => by_type == Algorithm::ES256,
        Some(KeyAlgorithm::RS256) => by_type == Algorithm::RS256,
        Some(_) => false,
    };
    agrees.then_some(by_type)
}

impl OidcVerifier {
    /// A verifier with no keys yet; call [`OidcVerifier::refresh`] or
    /// [`OidcVerifier::load_jwks`].
    pub fn new(config: OidcConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(!config.issuer.is_empty(), "oidc.issuer must be set");
        anyhow::ensure!(
            config.jwks_file.is_some() || config.jwks_url.is_some(),
            "oidc.jwks_file or oidc.jwks_url must be set"
        );
        let allowed = config
            .algorithms
            .iter()
            .map(|a| parse_algorithm(a))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let source = match (&config.jwks_file, &config.jwks_url) {
            (None, Some(url)) => Some(Arc::new(JwksUrl::new(url, config.jwks_ca_file.as_deref())?)),
            _ => None,
        };
        Ok(OidcVerifier {
            config: Arc::new(config),
            allowed: Arc::new(allowed),
            keys: Arc::default(),
            source,
        })
    }

    /// Replaces the key set with the keys of a JWKS document; unusable keys are skipped.
    pub fn load_jwks(&self, json: &str) -> anyhow::Result<usize> {
        let set: JwkSet = serde_json::from_str(json)?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let declared = jwk.common.key_algorithm;
            let Some(algorithm) = key_algorithm(&jwk.algorithm, declared) else {
                tracing::warn!(kid = ?jwk.common.key_id, "JWKS key of an unaccepted type skipped");
                continue;
            };
            if !self.allowed.contains(&algorithm) {
                continue;
            }
            keys.push(Key {
                kid: jwk.common.key_id.clone(),
                algorithm,
                key: DecodingKey::from_jwk(jwk)?,
            });
        }
        anyhow::ensure!(!keys.is_empty(), "the JWKS holds no usable key");
        let count = keys.len();
        *self
            .keys
            .write()
            .map_err(|_| anyhow::anyhow!("key set lock poisoned"))? = keys;
        Ok(count)
    }

    /// Fetches the key set from the configured file or URL.
    pub async fn refresh(&self) -> anyhow::Result<usize> {
        let json = match (&self.config.jwks_file, &self.source) {
            (Some(file), _) => tokio::fs::read_to_string(file).await?,
            (None, Some(url)) => url.fetch().await?,
            (None, None) => anyhow::bail!("no JWKS source configured"),
        };
        self.load_jwks(&json)
    }

    /// Refreshes the key set every `refresh_secs` until `stop`; a failed refresh keeps the
    /// previous keys.
    pub async fn keep_fresh(self, stop: shequ_kit::shutdown::Stop) {
        let interval = Duration::from_secs(self.config.refresh_secs.max(10));
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = stop.wait() => return,
            }
            match self.refresh().await {
                Ok(count) => tracing::debug!(count, "JWKS refreshed"),
                Err(error) => {
                    tracing::warn!(%error, "JWKS refresh failed; keeping the previous keys")
                }
            }
        }
    }

    /// The caller an access token speaks for, or UNAUTHENTICATED naming why it was refused.
    pub fn verify(&self, token: &str) -> Result<Caller, Error> {
        let refused = |reason: &'static str, message: &str| Error::Unauthenticated {
            reason,
            message: message.to_owned(),
        };
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| refused("TOKEN_INVALID", "the token is malformed"))?;
        if !self.allowed.contains(&header.alg) {
            return Err(refused(
                "TOKEN_ALGORITHM_REFUSED",
                "the token's signing algorithm is not accepted",
            ));
        }
        let key = {
            let keys = self
                .keys
                .read()
                .map_err(|_| Error::internal(anyhow::anyhow!("key set lock poisoned")))?;
            let candidates: Vec<&Key> = keys
                .iter()
                .filter(|k| match (&header.kid, &k.kid) {
                    (Some(wanted), Some(kid)) => wanted == kid,
                    (Some(_), None) => false,
                    (None, _) => true,
                })
                .collect();
            match candidates.as_slice() {
                [one] => (*one).clone(),
                [] => {
                    return Err(refused(
                        "TOKEN_KEY_UNKNOWN",
                        "the token was signed by an unknown key",
                    ));
                }
                _ => {
                    return Err(refused(
                        "TOKEN_KEY_UNKNOWN",
                        "the token names no key and several are published",
                    ));
                }
            }
        };
        if key.algorithm != header.alg {
            return Err(refused(
                "TOKEN_ALGORITHM_REFUSED",
                "the token's algorithm does not match its key",
            ));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.config.leeway_secs;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => refused("TOKEN_EXPIRED", "the token has expired"),
                ErrorKind::ImmatureSignature => {
                    refused("TOKEN_NOT_YET_VALID", "the token is not valid yet (nbf)")
                }
                ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => refused(
                    "TOKEN_WRONG_AUDIENCE",
                    "the token was issued by or for someone else",
                ),
                _ => refused(
                    "TOKEN_INVALID",
                    "the token's signature or claims are invalid",
                ),
            })?;
        let number = |name: &str| data.claims.get(name).and_then(serde_json::Value::as_i64);
        shequ_kit::auth::check_token_claims(
            data.claims
                .get("sub")
                .and_then(|v| v.as_str())
                .unwrap_or_default(),
            number("iat"),
            number("exp").unwrap_or_default(),
            chrono::Utc::now().timestamp(),
            self.config.leeway_secs,
            self.config.max_lifetime_secs,
        )
        .map_err(|(reason, message)| refused(reason, &message))?;
        self.caller_of(&data.claims)
            .map_err(|message| refused("TOKEN_CLAIMS_INVALID", &message))
    }

    fn caller_of(&self, claims: &serde_json::Value) -> Result<Caller, String> {
        let subject = claims
            .get("sub")
            .and_then(|v| v.as_str())
            .ok_or("the token has no subject")?;
        let roles: Vec<Role> = claims
            .get(&self.config.roles_claim)
            .and_then(|v| v.as_array())
            .ok_or_else(|| format!("the token has no {} claim", self.config.roles_claim))?
            .iter()
            .filter_map(|r| r.as_str().and_then(Role::parse))
            // the gateway role is the gateway's own, never a person's
            .filter(|r| !r.is_internal())
            .collect();
        if roles.is_empty() {
            return Err("the token grants no role of this suite".to_owned());
        }
        let scope = claims
            .get(&self.config.scope_claim)
            .and_then(|v| v.as_str())
            .and_then(|s| RegionCode::parse(s).ok())
            .ok_or_else(|| {
                format!(
                    "the token's {} claim is not a region code",
                    self.config.scope_claim
                )
            })?;
        let secretary = claims
            .get(&self.config.secretary_claim)
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        Ok(Caller {
            subject: format!("oidc:{subject}"),
            roles,
            scope,
            secretary,
        })
    }
}

/// The largest JWKS document accepted: a provider publishes a handful of keys, and a refresh must
/// not let a misbehaving endpoint fill the gateway's memory.
const JWKS_LIMIT: usize = 256 * 1024;

/// How long one fetch may take, from connecting to the last byte.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A JWKS endpoint, with the TLS trust it is checked against when it is `https://`.
struct JwksUrl {
    uri: http::Uri,
    host: String,
    port: u16,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl JwksUrl {
    fn new(url: &str, ca_file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| anyhow::anyhow!("oidc.jwks_url is not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => anyhow::bail!("oidc.jwks_url must be an https:// or http:// URL"),
        };
        anyhow::ensure!(
            !uri.authority().is_some_and(|a| a.as_str().contains('@')),
            "oidc.jwks_url must not carry credentials"
        );
        // An IPv6 literal keeps its brackets in the URI, not in a socket address or TLS name.
        let host = uri
            .host()
            .ok_or_else(|| anyhow::anyhow!("oidc.jwks_url has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| anyhow::anyhow!("oidc.jwks_url host {host:?}: {e}"))?;
            Some(tls_connector(ca_file)?)
        } else {
            anyhow::ensure!(
                ca_file.is_none(),
                "oidc.jwks_ca_file is set but oidc.jwks_url is not https://"
            );
            None
        };
        Ok(JwksUrl {
            uri,
            host,
            port,
            tls,
        })
    }

    /// GETs the document; any status but 2xx, a body over [`JWKS_LIMIT`] or a slow answer fails.
    async fn fetch(&self) -> anyhow::Result<String> {
        use anyhow::Context as _;
        self.fetch_once()
            .await
            .with_context(|| format!("JWKS fetch from {}", self.uri))
    }

    async fn fetch_once(&self) -> anyhow::Result<String> {
        tokio::time::timeout(FETCH_TIMEOUT, async {
            let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await?;
            match &self.tls {
                Some(connector) => {
                    let name = rustls::pki_types::ServerName::try_from(self.host.clone())?;
                    let stream = connector.connect(name, stream).await?;
                    self.get(stream).await
                }
                None => self.get(stream).await,
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("JWKS fetch took longer than {FETCH_TIMEOUT:?}"))?
    }

    async fn get<S>(&self, stream: S) -> anyhow::Result<String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        use http_body_util::BodyExt;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let authority = self
            .uri
            .authority()
            .map_or(self.host.as_str(), |a| a.as_str());
        let request = http::Request::get(self.uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(http::header::HOST, authority)
            .header(http::header::ACCEPT, "application/json")
            .body(http_body_util::Empty::<bytes::Bytes>::new())?;
        let response = sender.send_request(request).await?;
        anyhow::ensure!(
            response.status().is_success(),
            "JWKS fetch answered {}",
            response.status()
        );
        let body = http_body_util::Limited::new(response.into_body(), JWKS_LIMIT)
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("JWKS body refused: {e}"))?
            .to_bytes();
        Ok(String::from_utf8(body.to_vec())?)
    }
}

/// TLS client trust for the JWKS endpoint: the system's roots and the configured CA file.
fn tls_connector(ca_file: Option<&std::path::Path>) -> anyhow::Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped; the CA file, when given, must be sound.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(file) = ca_file {
        let pem = std::fs::read(file)
            .map_err(|e| anyhow::anyhow!("oidc.jwks_ca_file {}: {e}", file.display()))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert =
                cert.map_err(|e| anyhow::anyhow!("oidc.jwks_ca_file {}: {e}", file.display()))?;
            roots.add(cert)?;
            added += 1;
        }
        anyhow::ensure!(
            added > 0,
            "oidc.jwks_ca_file {} holds no certificate",
            file.display()
        );
    }
    anyhow::ensure!(
        !roots.is_empty(),
        "no trusted root certificates for oidc.jwks_url: set oidc.jwks_ca_file"
    );
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, jwk::Jwk};

    pub(super) struct Provider {
        key: EncodingKey,
        pub(super) jwk: Jwk,
    }

    fn b64(bytes: &[u8]) -> String {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub(super) fn ed25519(kid: &str) -> Provider {
        use ed25519_dalek::pkcs8::{EncodePrivateKey, spki::der::pem::LineEnding};
        let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let pem = signing.to_pkcs8_pem(LineEnding::LF).unwrap();
        let jwk = serde_json::from_value(serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": kid,
            "x": b64(signing.verifying_key().as_bytes()),
        }))
        .unwrap();
        Provider {
            key: EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
            jwk,
        }
    }

    fn p256(kid: &str) -> Provider {
        use p256::{
            elliptic_curve::sec1::ToEncodedPoint,
            pkcs8::{EncodePrivateKey, LineEnding},
        };
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        let point = secret.public_key().to_encoded_point(false);
        let jwk = serde_json::from_value(serde_json::json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": kid,
            "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
        }))
        .unwrap();
        Provider {
            key: EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
            jwk,
        }
    }

    fn verifier(providers: &[&Provider]) -> OidcVerifier {
        let verifier = OidcVerifier::new(OidcConfig {
            issuer: "https://idp.gd.gov.cn".into(),
            jwks_file: Some("unused".into()),
            ..OidcConfig::default()
        })
        .unwrap();
        let set =
            serde_json::json!({ "keys": providers.iter().map(|p| &p.jwk).collect::<Vec<_>>() });
        verifier.load_jwks(&set.to_string()).unwrap();
        verifier
    }

    pub(super) fn claims() -> serde_json::Value {
        serde_json::json!({
            "iss": "https://idp.gd.gov.cn", "aud": "shequ", "sub": "zhangwei",
            "iat": chrono::Utc::now().timestamp(),
            "exp": chrono::Utc::now().timestamp() + 600,
            "roles": ["district_admin", "unknown_role"], "region_scope": "440305000000"
        })
    }

    pub(super) fn sign(
        provider: &Provider,
        alg: Algorithm,
        kid: &str,
        claims: &serde_json::Value,
    ) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &provider.key).unwrap()
    }

    pub(super) fn reason(result: Result<Caller, Error>) -> &'static str {
        match result {
            Err(Error::Unauthenticated { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_provider_token_maps_to_a_caller() {
        let provider = ed25519("k1");
        let caller = verifier(&[&provider])
            .verify(&sign(&provider, Algorithm::EdDSA, "k1", &claims()))
            .unwrap();
        assert_eq!(caller.subject, "oidc:zhangwei");
        assert_eq!(
            caller.roles,
            vec![Role::DistrictAdmin],
            "unknown roles are ignored"
        );
        assert_eq!(caller.scope.to_string(), "440305000000");
    }

    #[test]
    fn several_keys_allow_rotation_and_es256_works_too() {
        let (old, new) = (ed25519("old"), p256("new"));
        let verifier = verifier(&[&old, &new]);
        assert!(
            verifier
                .verify(&sign(&old, Algorithm::EdDSA, "old", &claims()))
                .is_ok()
        );
        assert!(
            verifier
                .verify(&sign(&new, Algorithm::ES256, "new", &claims()))
                .is_ok()
        );
        // a key that is not published
        let stranger = ed25519("stranger");
        assert_eq!(
            reason(verifier.verify(&sign(&stranger, Algorithm::EdDSA, "stranger", &claims()))),
            "TOKEN_KEY_UNKNOWN"
        );
        // a forged signature under a published kid
        assert_eq!(
            reason(verifier.verify(&sign(&stranger, Algorithm::EdDSA, "old", &claims()))),
            "TOKEN_INVALID"
        );
    }

    #[test]
    fn expired_wrong_issuer_and_wrong_audience_tokens_are_refused() {
        let provider = ed25519("k1");
        let verifier = verifier(&[&provider]);
        let mut expired = claims();
        expired["exp"] = serde_json::json!(chrono::Utc::now().timestamp() - 3600);
        assert_eq!(
            reason(verifier.verify(&sign(&provider, Algorithm::EdDSA, "k1", &expired))),
            "TOKEN_EXPIRED"
        );
        let mut issuer = claims();
        issuer["iss"] = serde_json::json!("https://evil.example");
        assert_eq!(
            reason(verifier.verify(&sign(&provider, Algorithm::EdDSA, "k1", &issuer))),
            "TOKEN_WRONG_AUDIENCE"
        );
        let mut audience = claims();
        audience["aud"] = serde_json::json!("another-app");
        assert_eq!(
            reason(verifier.verify(&sign(&provider, Algorithm::EdDSA, "k1", &audience))),
            "TOKEN_WRONG_AUDIENCE"
        );
    }

    #[test]
    fn unsigned_and_algorithm_swapped_tokens_are_refused() {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let provider = ed25519("k1");
        let verifier = verifier(&[&provider]);
        let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!(
            "{}.{}.",
            b64(serde_json::json!({"alg": "none", "kid": "k1"})),
            b64(claims())
        );
        assert_eq!(reason(verifier.verify(&none)), "TOKEN_INVALID");
        // HS256 keyed with the published public key (the classic confusion attack)
        let public = serde_json::to_string(&provider.jwk).unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let hs = jsonwebtoken::encode(
            &header,
            &claims(),
            &EncodingKey::from_secret(public.as_bytes()),
        )
        .unwrap();
        assert_eq!(reason(verifier.verify(&hs)), "TOKEN_ALGORITHM_REFUSED");
        // ES256 presented against the Ed25519 key
        let ec = p256("k1");
        assert_eq!(
            reason(verifier.verify(&sign(&ec, Algorithm::ES256, "k1", &claims()))),
            "TOKEN_ALGORITHM_REFUSED"
        );
    }

    #[test]
    fn tokens_without_suite_roles_or_scope_are_refused() {
        let provider = ed25519("k1");
        let verifier = verifier(&[&provider]);
        let mut no_roles = claims();
        no_roles["roles"] = serde_json::json!(["gateway", "admin"]);
        assert_eq!(
            reason(verifier.verify(&sign(&provider, Algorithm::EdDSA, "k1", &no_roles))),
            "TOKEN_CLAIMS_INVALID"
        );
        let mut no_scope = claims();
        no_scope["region_scope"] = serde_json::json!("Guangdong");
        assert_eq!(
            reason(verifier.verify(&sign(&provider, Algorithm::EdDSA, "k1", &no_scope))),
            "TOKEN_CLAIMS_INVALID"
        );
    }

    #[test]
    fn hmac_keys_in_a_jwks_are_never_trusted() {
        let verifier = OidcVerifier::new(OidcConfig {
            issuer: "x".into(),
            jwks_file: Some("f".into()),
            ..OidcConfig::default()
        })
        .unwrap();
        let set = serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]});
        assert!(verifier.load_jwks(&set.to_string()).is_err());
    }
}

/// Fetching the key set from a URL: over TLS with the configured trust, or plain HTTP.
#[cfg(test)]
mod fetching {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A test CA and a certificate it issued for `localhost`.
    struct Pki {
        ca_pem: String,
        server_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        server_key: rustls::pki_types::PrivateKeyDer<'static>,
    }

    fn pki() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Test Province CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &rcgen::Issuer::new(ca_params, ca_key))
            .unwrap();
        Pki {
            ca_pem: ca.pem(),
            server_chain: vec![server.der().clone()],
            server_key: rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        }
    }

    /// Serves `body` with `status` to every request, over TLS when `tls` is given.
    async fn serve(status: &'static str, body: String, tls: Option<&Pki>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let acceptor = tls.map(|pki| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(pki.server_chain.clone(), pki.server_key.clone_key())
                .unwrap();
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, body) = (acceptor.clone(), body.clone());
                tokio::spawn(async move {
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                answer(stream, &response).await;
                            }
                        }
                        None => answer(stream, &response).await,
                    }
                });
            }
        });
        address
    }

    async fn answer<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
        mut stream: S,
        response: &str,
    ) {
        let mut request = Vec::new();
        let mut buffer = [0_u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buffer[..n]),
            }
        }
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    fn jwks(provider: &tests::Provider) -> String {
        serde_json::json!({ "keys": [&provider.jwk] }).to_string()
    }

    fn from_url(url: String, ca_file: Option<PathBuf>) -> anyhow::Result<OidcVerifier> {
        OidcVerifier::new(OidcConfig {
            issuer: "https://idp.gd.gov.cn".into(),
            jwks_url: Some(url),
            jwks_ca_file: ca_file,
            ..OidcConfig::default()
        })
    }

    #[tokio::test]
    async fn keys_are_fetched_over_tls_from_a_server_the_province_ca_vouches_for() {
        let pki = pki();
        let provider = tests::ed25519("k1");
        let address = serve("200 OK", jwks(&provider), Some(&pki)).await;
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("province-ca.pem");
        std::fs::write(&ca_file, &pki.ca_pem).unwrap();
        let url = format!("https://localhost:{}/oauth2/jwks", address.port());

        let verifier = from_url(url.clone(), Some(ca_file)).unwrap();
        assert_eq!(verifier.refresh().await.unwrap(), 1);
        let token = tests::sign(&provider, Algorithm::EdDSA, "k1", &tests::claims());
        assert_eq!(verifier.verify(&token).unwrap().subject, "oidc:zhangwei");

        // The certificate names localhost, not the address: refused.
        let by_address = from_url(
            format!("https://127.0.0.1:{}/oauth2/jwks", address.port()),
            Some(dir.path().join("province-ca.pem")),
        )
        .unwrap();
        let error = format!("{:#}", by_address.refresh().await.unwrap_err());
        assert!(error.contains("not valid for name"), "{error}");

        // Without the province's CA the same server is not trusted, and no key is loaded (on a
        // machine without system roots the URL is refused outright).
        match from_url(url, None) {
            Err(error) => assert!(error.to_string().contains("no trusted root"), "{error}"),
            Ok(untrusted) => {
                let error = format!("{:#}", untrusted.refresh().await.unwrap_err());
                assert!(error.contains("UnknownIssuer"), "{error}");
                assert_eq!(tests::reason(untrusted.verify(&token)), "TOKEN_KEY_UNKNOWN");
            }
        }
    }

    /// Why a refresh from a plain HTTP server answering `status` and `body` fails.
    async fn refresh_error(status: &'static str, body: String) -> String {
        let address = serve(status, body, None).await;
        let error = from_url(format!("http://127.0.0.1:{}/jwks", address.port()), None)
            .unwrap()
            .refresh()
            .await
            .unwrap_err();
        format!("{error:#}")
    }

    #[tokio::test]
    async fn plain_http_works_and_bad_answers_are_refused() {
        let provider = tests::ed25519("k1");
        let ok = serve("200 OK", jwks(&provider), None).await;
        let verifier = from_url(format!("http://127.0.0.1:{}/jwks", ok.port()), None).unwrap();
        assert_eq!(verifier.refresh().await.unwrap(), 1);

        let error = refresh_error("503 Service Unavailable", String::new()).await;
        assert!(error.contains("503"), "{error}");
        let error = refresh_error("200 OK", "x".repeat(JWKS_LIMIT + 1)).await;
        assert!(error.contains("length limit exceeded"), "{error}");
    }

    #[test]
    fn only_http_and_https_urls_are_accepted_and_a_ca_file_needs_https() {
        let error = from_url("ftp://idp/jwks".into(), None).unwrap_err();
        assert!(error.to_string().contains("https:// or http://"), "{error}");
        let error = from_url("http://idp/jwks".into(), Some("ca.pem".into())).unwrap_err();
        assert!(error.to_string().contains("not https://"), "{error}");
        let error = from_url("https://user:secret@idp/jwks".into(), None).unwrap_err();
        assert!(error.to_string().contains("credentials"), "{error}");
        let error = from_url(
            "https://idp/jwks".into(),
            Some("/nonexistent/ca.pem".into()),
        )
        .unwrap_err();
        assert!(error.to_string().contains("oidc.jwks_ca_file"), "{error}");
    }
}
