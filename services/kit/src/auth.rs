//! The caller context: who is calling, in which roles, over which region.
//!
//! Every gRPC call carries `authorization: Bearer <JWT>` signed with Ed25519 by the suite's token
//! issuer (the gateway for people and systems, the launcher for the development token). Services
//! verify it, never trust an unsigned header, and check the region scope on every read and write.

use std::{fmt, path::Path, sync::Arc, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use shequ_regions::RegionCode;

use crate::{config::AuthConfig, error::Error};

/// `iss` of tokens minted inside the suite.
pub const DEFAULT_ISSUER: &str = "shequ";
/// `aud` of tokens meant for the suite's services.
pub const DEFAULT_AUDIENCE: &str = "shequ-services";
/// Subject prefix (and `kid` prefix) of a service acting as itself: `service:evaluation`.
pub const SERVICE_SUBJECT_PREFIX: &str = "service:";

/// What a caller is allowed to be. The permissions of each role are decided per operation by the
/// services (see the README's role table); the kit only carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 省级管理员: administers a province.
    ProvinceAdmin,
    /// 市级管理员.
    CityAdmin,
    /// 区级管理员 (county or district organisation department).
    DistrictAdmin,
    /// 街道工作人员.
    StreetOfficer,
    /// A secretary reading their own record.
    Secretary,
    /// 第三方评估机构: writes external assessments only.
    Assessor,
    /// Another government system, as its key allows.
    Integration,
    /// 审计员: reads the audit log only.
    Auditor,
    /// The gateway acting on its own behalf (verifying API keys); never granted to people or keys.
    Gateway,
    /// Another service of the suite acting as itself (a background job, an event handler), with
    /// its own credential; what it may do is the callee's grant table, never granted to people
    /// or keys.
    Service,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 10] = [
        Role::ProvinceAdmin,
        Role::CityAdmin,
        Role::DistrictAdmin,
        Role::StreetOfficer,
        Role::Secretary,
        Role::Assessor,
        Role::Integration,
        Role::Auditor,
        Role::Gateway,
        Role::Service,
    ];

    /// True for the roles only the suite itself holds (the gateway, a service acting as itself):
    /// no person or API key may be granted them.
    pub fn is_internal(self) -> bool {
        matches!(self, Role::Gateway | Role::Service)
    }

    /// The role named `text` (the claim value).
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// The claim value, e.g. `district_admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ProvinceAdmin => "province_admin",
            Role::CityAdmin => "city_admin",
            Role::DistrictAdmin => "district_admin",
            Role::StreetOfficer => "street_officer",
            Role::Secretary => "secretary",
            Role::Assessor => "assessor",
            Role::Integration => "integration",
            Role::Auditor => "auditor",
            Role::Gateway => "gateway",
            Role::Service => "service",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verified identity of the caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Stable identifier, e.g. `user:zhangwei` or `apikey:12345-platform`.
    pub subject: String,
    /// Granted roles.
    pub roles: Vec<Role>,
    /// The region the caller may act in.
    pub scope: RegionCode,
    /// For the secretary role: the caller's own record, `secretaries/{id}`.
    pub secretary: Option<String>,
}

impl Caller {
    /// True when the caller holds any of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }

    /// Fails with PERMISSION_DENIED unless the caller holds one of `roles`.
    pub fn require_any(&self, roles: &[Role], operation: &str) -> Result<(), Error> {
        if self.has_any(roles) {
            return Ok(());
        }
        Err(Error::PermissionDenied {
            reason: "ROLE_NOT_PERMITTED",
            message: format!(
                "{operation} needs one of the roles {}",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            metadata: vec![("operation", operation.to_owned())],
        })
    }

    /// The name of the suite component calling as itself: `gateway` for the gateway, the service's
    /// name (e.g. `evaluation`) for a service with its own credential; `None` for people and
    /// API keys.
    pub fn component(&self) -> Option<&str> {
        if self.roles.contains(&Role::Service) {
            return self.subject.strip_prefix(SERVICE_SUBJECT_PREFIX);
        }
        self.roles.contains(&Role::Gateway).then_some("gateway")
    }

    /// True when `region` lies inside the caller's scope.
    pub fn covers(&self, region: RegionCode) -> bool {
        self.scope.contains(region)
    }

    /// Fails with PERMISSION_DENIED (REGION_OUT_OF_SCOPE) when the caller names a region outside
    /// their scope. Use for regions the caller supplied; for stored records use NOT_FOUND instead so
    /// that existence does not leak.
    pub fn require_scope(&self, region: RegionCode, field: &str) -> Result<(), Error> {
        if self.covers(region) {
            return Ok(());
        }
        Err(Error::PermissionDenied {
            reason: "REGION_OUT_OF_SCOPE",
            message: format!(
                "{field} {region} is outside the caller's region scope {}",
                self.scope
            ),
            metadata: vec![
                ("field", field.to_owned()),
                ("region", region.to_string()),
                ("scope", self.scope.to_string()),
            ],
        })
    }

    /// The caller attached to a request by [`AuthInterceptor`].
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Caller, Error> {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or(Error::Unauthenticated {
                reason: "TOKEN_MISSING",
                message: "no verified caller on this request".to_owned(),
            })
    }
}

/// JWT claims of a caller token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Subject.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Not valid before, seconds since the epoch (checked when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Granted roles.
    pub roles: Vec<Role>,
    /// 12-digit region code of the caller's scope.
    pub scope: String,
    /// Own record of a secretary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secretary: Option<String>,
}

/// An Ed25519 key pair in PKCS#8 / SPKI PEM.
#[derive(Clone)]
pub struct KeyPair {
    /// Private key, PKCS#8 PEM. Secret.
    pub private_pem: String,
    /// Public key, SPKI PEM.
    pub public_pem: String,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_pem", &self.public_pem)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A fresh random key pair.
    pub fn generate() -> KeyPair {
        use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
        let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        KeyPair {
            private_pem: signing
                .to_pkcs8_pem(LineEnding::LF)
                .expect("an Ed25519 key encodes as PKCS#8")
                .to_string(),
            public_pem: signing
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .expect("an Ed25519 key encodes as SPKI"),
        }
    }

    /// The pair of a private key in PKCS#8 PEM (the public half is derived).
    pub fn from_private_pem(private_pem: &str) -> anyhow::Result<KeyPair> {
        use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
        let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(private_pem)
            .map_err(|e| anyhow::anyhow!("not an Ed25519 PKCS#8 private key: {e}"))?;
        Ok(KeyPair {
            private_pem: private_pem.to_owned(),
            public_pem: signing
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| anyhow::anyhow!("cannot encode the public key: {e}"))?,
        })
    }

    /// Loads `signing-key.pem` and `signing-key.pub.pem` from `dir`, creating them (private key
    /// readable by the owner only) on first use.
    pub fn load_or_generate(dir: &Path) -> std::io::Result<KeyPair> {
        let private = dir.join("signing-key.pem");
        let public = dir.join("signing-key.pub.pem");
        if private.exists() && public.exists() {
            return Ok(KeyPair {
                private_pem: std::fs::read_to_string(private)?,
                public_pem: std::fs::read_to_string(public)?,
            });
        }
        std::fs::create_dir_all(dir)?;
        let pair = KeyPair::generate();
        write_private(&private, pair.private_pem.as_bytes())?;
        std::fs::write(public, &pair.public_pem)?;
        Ok(pair)
    }
}

/// Writes a file only the owner can read.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents)
}

/// Mints caller tokens. Held by the gateway and the launcher, never by the services.
#[derive(Clone)]
pub struct TokenIssuer {
    key: Arc<EncodingKey>,
    issuer: String,
    audience: String,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer signing with the private key of `pair`.
    pub fn new(pair: &KeyPair, issuer: &str, audience: &str) -> anyhow::Result<Self> {
        Ok(TokenIssuer {
            key: Arc::new(EncodingKey::from_ed_pem(pair.private_pem.as_bytes())?),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// A signed token for `caller`, valid for `ttl`.
    pub fn issue(&self, caller: &Caller, ttl: Duration) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: caller.subject.clone(),
            exp: now + ttl.as_secs() as i64,
            iat: now,
            nbf: None,
            roles: caller.roles.clone(),
            scope: caller.scope.to_string(),
            secretary: caller.secretary.clone(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.key)
            .expect("signing with a loaded Ed25519 key cannot fail")
    }
}

/// Verifies caller tokens: those the suite's token issuer signed (the gateway for people and
/// systems, the launcher in development), and those a trusted service signed with its own key
/// when it calls as itself (header `kid` = `service:<name>`, subject the same, role `service`).
///
/// A client sends the same token with every call, and an Ed25519 verification costs tens of
/// microseconds, so verified tokens are remembered (bounded) until they expire.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Arc<Vec<DecodingKey>>,
    services: Arc<std::sync::RwLock<ServiceKeys>>,
    validation: Arc<Validation>,
    max_lifetime: u64,
    verified: Arc<std::sync::RwLock<std::collections::HashMap<String, (Caller, i64)>>>,
}

/// Verified tokens remembered at most; the cache is emptied when full.
const VERIFIED_CACHE_CAPACITY: usize = 10_000;

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenVerifier")
    }
}

/// The trusted services' public keys, and where they come from. A token naming a service whose
/// key is not known yet makes the source be read again when the folder changed, or at most once a
/// second otherwise, so a key added to the folder (a ConfigMap update, a new service) is trusted
/// without a restart.
#[derive(Default)]
struct ServiceKeys {
    keys: std::collections::HashMap<String, Vec<DecodingKey>>,
    source: Option<AuthConfig>,
    loaded_at: Option<std::time::Instant>,
    folder_changed: Option<std::time::SystemTime>,
}

impl ServiceKeys {
    fn load(&mut self, pairs: Vec<(String, String)>) -> anyhow::Result<()> {
        let mut keys = std::collections::HashMap::new();
        for (name, pem) in pairs {
            let decoded = public_keys(&pem).map_err(|e| {
                anyhow::anyhow!("the public key of service {name} is not an Ed25519 PEM key: {e}")
            })?;
            keys.insert(format!("{SERVICE_SUBJECT_PREFIX}{name}"), decoded);
        }
        self.keys = keys;
        self.loaded_at = Some(std::time::Instant::now());
        Ok(())
    }

    /// When the folder of keys last changed.
    fn folder_time(&self) -> Option<std::time::SystemTime> {
        let dir = self.source.as_ref()?.service_keys_dir.as_ref()?;
        std::fs::metadata(dir).and_then(|m| m.modified()).ok()
    }

    /// Reads the source again if the folder changed or it has not been read in the last second.
    fn reload(&mut self) {
        let changed = self.folder_time();
        let recent = self
            .loaded_at
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1));
        if recent && changed == self.folder_changed {
            return;
        }
        self.folder_changed = changed;
        self.loaded_at = Some(std::time::Instant::now());
        let Some(source) = &self.source else { return };
        match source.service_public_keys() {
            Ok(pairs) => {
                if let Err(error) = self.load(pairs) {
                    tracing::warn!(%error, "service public keys could not be reloaded");
                }
            }
            Err(error) => tracing::warn!(%error, "service public keys could not be reloaded"),
        }
    }
}

fn validation(issuer: &str, audience: &str) -> Validation {
    // Only EdDSA: a token claiming another algorithm (none, HS256 with the public key as the
    // secret) is refused before its signature is looked at.
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation
}

/// Clock skew tolerated between the machines that sign and verify tokens.
pub const LEEWAY_SECS: u64 = 30;

/// Longest lifetime (`exp` − `iat`) a caller token may claim by default: one day. The gateway's
/// caller tokens live minutes, the services' own tokens less; a longer one is either forged with
/// a stolen key or mis-issued, and would outlive any revocation.
pub const DEFAULT_MAX_TOKEN_LIFETIME_SECS: u64 = 86_400;

/// Checks the claims every token must satisfy beyond its signature, expiry and audience (for
/// our own tokens and the identity provider's alike): a subject, an issue time not in the future,
/// and a lifetime no longer than `max_lifetime`. Returns the refusal's reason and message.
pub fn check_token_claims(
    sub: &str,
    iat: Option<i64>,
    exp: i64,
    now: i64,
    leeway: u64,
    max_lifetime: u64,
) -> Result<(), (&'static str, String)> {
    if sub.trim().is_empty() {
        return Err((
            "TOKEN_CLAIMS_INVALID",
            "the bearer token names no subject (sub)".to_owned(),
        ));
    }
    let Some(iat) = iat else {
        return Err((
            "TOKEN_CLAIMS_INVALID",
            "the bearer token has no issue time (iat)".to_owned(),
        ));
    };
    if iat > now.saturating_add(leeway as i64) {
        return Err((
            "TOKEN_NOT_YET_VALID",
            "the bearer token's issue time (iat) is in the future".to_owned(),
        ));
    }
    if exp.saturating_sub(iat) > max_lifetime as i64 {
        return Err((
            "TOKEN_LIFETIME_TOO_LONG",
            format!(
                "the bearer token is valid for {} s from its issue time; at most {max_lifetime} s are accepted",
                exp.saturating_sub(iat)
            ),
        ));
    }
    Ok(())
}

impl TokenVerifier {
    /// A verifier for tokens signed by `public_pem`, with the issuer and audience of `config`.
    pub fn new(public_pem: &str, issuer: &str, audience: &str) -> anyhow::Result<Self> {
        Ok(TokenVerifier {
            keys: Arc::new(public_keys(public_pem)?),
            services: Arc::default(),
            validation: Arc::new(validation(issuer, audience)),
            max_lifetime: DEFAULT_MAX_TOKEN_LIFETIME_SECS,
            verified: Arc::default(),
        })
    }

    /// Accepts tokens living up to `secs` from their issue time (the launcher's long development
    /// tokens), instead of [`DEFAULT_MAX_TOKEN_LIFETIME_SECS`].
    pub fn with_max_lifetime(mut self, secs: u64) -> Self {
        self.max_lifetime = secs;
        self
    }

    /// Also accepts tokens of the services in `keys` (name → Ed25519 public key PEM) calling as
    /// themselves.
    pub fn with_services(
        self,
        keys: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        self.write_services().load(keys.into_iter().collect())?;
        Ok(self)
    }

    fn write_services(&self) -> std::sync::RwLockWriteGuard<'_, ServiceKeys> {
        self.services
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A verifier configured from the service's auth section.
    pub fn from_config(config: &AuthConfig) -> anyhow::Result<Self> {
        let pem = match (&config.public_key_pem, &config.public_key_file) {
            (Some(pem), _) => pem.clone(),
            (None, Some(file)) => std::fs::read_to_string(file).map_err(|e| {
                anyhow::anyhow!("cannot read auth.public_key_file {}: {e}", file.display())
            })?,
            (None, None) => anyhow::bail!(
                "auth.public_key_file (SHEQU_AUTH__PUBLIC_KEY_FILE) or auth.public_key_pem must be set"
            ),
        };
        let verifier = TokenVerifier::new(&pem, &config.issuer, &config.audience).map_err(|e| {
            anyhow::anyhow!(
                "auth.public_key: not an Ed25519 public key in SPKI PEM ({e}); give the public half \
                 (signing-key.pub.pem), never the private key"
            )
        })?;
        let verifier = verifier
            .with_max_lifetime(config.max_token_lifetime_secs)
            .with_services(config.service_public_keys()?)?;
        {
            let mut services = verifier.write_services();
            services.source = Some(config.clone());
            services.folder_changed = services.folder_time();
        }
        Ok(verifier)
    }

    /// The caller a token speaks for, or UNAUTHENTICATED naming why it was refused.
    pub fn verify(&self, token: &str) -> Result<Caller, Error> {
        let now = chrono::Utc::now().timestamp();
        if let Ok(cache) = self.verified.read()
            && let Some((caller, expires)) = cache.get(token)
            && *expires > now
        {
            return Ok(caller.clone());
        }
        let (caller, expires) = self.verify_signature(token)?;
        if let Ok(mut cache) = self.verified.write() {
            if cache.len() >= VERIFIED_CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(token.to_owned(), (caller.clone(), expires));
        }
        Ok(caller)
    }

    fn verify_signature(&self, token: &str) -> Result<(Caller, i64), Error> {
        let refused = |reason: &'static str, message: &str| Error::Unauthenticated {
            reason,
            message: message.to_owned(),
        };
        let kid = jsonwebtoken::decode_header(token)
            .map_err(|_| refused("TOKEN_INVALID", "the bearer token is malformed"))?
            .kid;
        // A service's own token names its key; anything else must be the suite issuer's.
        let service = kid
            .as_deref()
            .filter(|kid| kid.starts_with(SERVICE_SUBJECT_PREFIX));
        let service_key = match service {
            Some(kid) => {
                let known = |keys: &ServiceKeys| keys.keys.get(kid).cloned();
                let found = self
                    .services
                    .read()
                    .ok()
                    .and_then(|keys| known(&keys))
                    .or_else(|| {
                        let mut keys = self.write_services();
                        keys.reload();
                        known(&keys)
                    });
                Some(found.ok_or_else(|| {
                    refused(
                        "TOKEN_UNTRUSTED_SERVICE",
                        "the calling service's key is not among the keys this service trusts",
                    )
                })?)
            }
            None => None,
        };
        let keys = service_key.as_deref().unwrap_or(&self.keys);
        // Several keys while one is being rotated: the token verifies under one of them.
        let mut outcome = Err(jsonwebtoken::errors::ErrorKind::InvalidSignature.into());
        for key in keys {
            outcome = jsonwebtoken::decode::<Claims>(token, key, &self.validation);
            let wrong_key = matches!(&outcome, Err(e) if *e.kind() == ErrorKind::InvalidSignature);
            if !wrong_key {
                break;
            }
        }
        let data = outcome.map_err(|e: jsonwebtoken::errors::Error| match e.kind() {
            ErrorKind::ExpiredSignature => refused("TOKEN_EXPIRED", "the bearer token has expired"),
            ErrorKind::ImmatureSignature => refused(
                "TOKEN_NOT_YET_VALID",
                "the bearer token is not valid yet (nbf)",
            ),
            ErrorKind::InvalidAudience | ErrorKind::InvalidIssuer => refused(
                "TOKEN_WRONG_AUDIENCE",
                "the bearer token was not issued for this suite",
            ),
            _ => refused(
                "TOKEN_INVALID",
                "the bearer token is malformed or its signature is invalid",
            ),
        })?;
        let claims = data.claims;
        check_token_claims(
            &claims.sub,
            Some(claims.iat),
            claims.exp,
            chrono::Utc::now().timestamp(),
            LEEWAY_SECS,
            self.max_lifetime,
        )
        .map_err(|(reason, message)| Error::Unauthenticated { reason, message })?;
        let scope = RegionCode::parse(&claims.scope).map_err(|_| {
            refused(
                "TOKEN_INVALID",
                "the bearer token's scope is not a region code",
            )
        })?;
        if claims.roles.is_empty() {
            return Err(refused("TOKEN_INVALID", "the bearer token grants no role"));
        }
        // A service speaks only as itself, and only a service's own key makes a service caller.
        let speaks_as_service = claims.roles.contains(&Role::Service);
        match service {
            Some(kid) if claims.sub != kid || claims.roles != [Role::Service] => {
                return Err(refused(
                    "TOKEN_INVALID",
                    "a service token must name the service whose key signed it, with the service role only",
                ));
            }
            None if speaks_as_service => {
                return Err(refused(
                    "TOKEN_INVALID",
                    "the service role is only accepted with that service's own key",
                ));
            }
            _ => {}
        }
        Ok((
            Caller {
                subject: claims.sub,
                roles: claims.roles,
                scope,
                secretary: claims.secretary,
            },
            claims.exp,
        ))
    }
}

/// Every Ed25519 public key in `pem` (one, or several concatenated while a key is rotated).
fn public_keys(pem: &str) -> anyhow::Result<Vec<DecodingKey>> {
    const END: &str = "-----END PUBLIC KEY-----";
    let mut keys = Vec::new();
    let mut rest = pem;
    while let Some(end) = rest.find(END) {
        let block = &rest[..end + END.len()];
        keys.push(DecodingKey::from_ed_pem(block.trim().as_bytes())?);
        rest = &rest[end + END.len()..];
    }
    anyhow::ensure!(
        !keys.is_empty(),
        "no PUBLIC KEY block (is it a private key?)"
    );
    Ok(keys)
}

/// The credential of a service calling other services as itself: its own Ed25519 key, with
/// which it signs short-lived tokens (`kid` and subject `service:<name>`, role `service`, scope
/// the province it serves). The callee verifies them against the public keys it trusts.
#[derive(Clone)]
pub struct ServiceIdentity {
    name: String,
    key: Arc<EncodingKey>,
    caller: Caller,
    issuer: String,
    audience: String,
    minted: Arc<std::sync::Mutex<Option<(String, i64)>>>,
}

impl fmt::Debug for ServiceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceIdentity")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Lifetime of a service's own token.
const SERVICE_TOKEN_TTL_SECS: i64 = 300;

impl ServiceIdentity {
    /// The identity of service `name` with its private key (PKCS#8 PEM), acting over `province`.
    pub fn new(name: &str, private_pem: &str, province: RegionCode) -> anyhow::Result<Self> {
        Ok(ServiceIdentity {
            name: name.to_owned(),
            key: Arc::new(
                EncodingKey::from_ed_pem(private_pem.as_bytes()).map_err(|e| {
                    anyhow::anyhow!(
                        "auth.service_key of {name}: not an Ed25519 PKCS#8 private key ({e})"
                    )
                })?,
            ),
            caller: Caller {
                subject: format!("{SERVICE_SUBJECT_PREFIX}{name}"),
                roles: vec![Role::Service],
                scope: province,
                secretary: None,
            },
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            minted: Arc::default(),
        })
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The caller this identity speaks as.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// A token, reused until half its lifetime has passed.
    pub fn token(&self) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut minted = self
            .minted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((token, issued)) = minted.as_ref()
            && now - issued < SERVICE_TOKEN_TTL_SECS / 2
        {
            return token.clone();
        }
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: self.caller.subject.clone(),
            exp: now + SERVICE_TOKEN_TTL_SECS,
            iat: now,
            nbf: None,
            roles: self.caller.roles.clone(),
            scope: self.caller.scope.to_string(),
            secretary: None,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.caller.subject.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.key)
            .expect("signing with a loaded Ed25519 key cannot fail");
        *minted = Some((token.clone(), now));
        token
    }
}

/// The bearer token a call arrived with, kept beside the [`Caller`] so that a call made on the
/// caller's behalf can forward it.
#[derive(Debug, Clone)]
pub struct BearerToken(pub String);

/// Verifies the bearer token of every call to the wrapped service and attaches the [`Caller`].
#[derive(Clone, Debug)]
pub struct AuthInterceptor {
    verifier: TokenVerifier,
}

impl AuthInterceptor {
    /// An interceptor using `verifier`.
    pub fn new(verifier: TokenVerifier) -> Self {
        AuthInterceptor { verifier }
    }
}

impl tonic::service::Interceptor for AuthInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let header =
            request
                .metadata()
                .get("authorization")
                .ok_or_else(|| Error::Unauthenticated {
                    reason: "TOKEN_MISSING",
                    message: "authorization metadata with a bearer token is required".to_owned(),
                })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or_else(|| Error::Unauthenticated {
                reason: "TOKEN_MISSING",
                message: "authorization must be `Bearer <token>`".to_owned(),
            })?;
        let caller = self.verifier.verify(token.trim())?;
        tracing::Span::current().record("caller", caller.subject.as_str());
        let token = BearerToken(token.trim().to_owned());
        request.extensions_mut().insert(caller);
        request.extensions_mut().insert(token);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            subject: "user:test".into(),
            roles: vec![Role::DistrictAdmin],
            scope: RegionCode::parse("440305000000").unwrap(),
            secretary: None,
        }
    }

    fn pair_and_verifier() -> (KeyPair, TokenVerifier) {
        let pair = KeyPair::generate();
        let verifier =
            TokenVerifier::new(&pair.public_pem, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        (pair, verifier)
    }

    #[test]
    fn an_issued_token_verifies_to_the_same_caller() {
        let (pair, verifier) = pair_and_verifier();
        let issuer = TokenIssuer::new(&pair, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        let token = issuer.issue(&caller(), Duration::from_secs(60));
        assert_eq!(verifier.verify(&token).unwrap(), caller());
    }

    #[test]
    fn a_token_from_another_key_is_refused() {
        let (_, verifier) = pair_and_verifier();
        let other =
            TokenIssuer::new(&KeyPair::generate(), DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        let err = verifier
            .verify(&other.issue(&caller(), Duration::from_secs(60)))
            .unwrap_err();
        assert!(matches!(
            err,
            Error::Unauthenticated {
                reason: "TOKEN_INVALID",
                ..
            }
        ));
    }

    #[test]
    fn expired_and_wrong_audience_tokens_are_refused() {
        let (pair, verifier) = pair_and_verifier();
        let mut claims = Claims {
            iss: DEFAULT_ISSUER.into(),
            aud: DEFAULT_AUDIENCE.into(),
            sub: "user:x".into(),
            exp: chrono::Utc::now().timestamp() - 3600,
            iat: chrono::Utc::now().timestamp() - 7200,
            nbf: None,
            roles: vec![Role::ProvinceAdmin],
            scope: "440000000000".into(),
            secretary: None,
        };
        let key = EncodingKey::from_ed_pem(pair.private_pem.as_bytes()).unwrap();
        let sign =
            |c: &Claims| jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), c, &key).unwrap();
        assert!(matches!(
            verifier.verify(&sign(&claims)),
            Err(Error::Unauthenticated {
                reason: "TOKEN_EXPIRED",
                ..
            })
        ));
        claims.exp = chrono::Utc::now().timestamp() + 3600;
        claims.aud = "someone-else".into();
        assert!(matches!(
            verifier.verify(&sign(&claims)),
            Err(Error::Unauthenticated {
                reason: "TOKEN_WRONG_AUDIENCE",
                ..
            })
        ));
    }

    #[test]
    fn tokens_not_yet_valid_issued_in_the_future_too_long_lived_or_without_subject_are_refused() {
        let (pair, verifier) = pair_and_verifier();
        let now = chrono::Utc::now().timestamp();
        let good = Claims {
            iss: DEFAULT_ISSUER.into(),
            aud: DEFAULT_AUDIENCE.into(),
            sub: "user:x".into(),
            exp: now + 600,
            iat: now,
            nbf: None,
            roles: vec![Role::ProvinceAdmin],
            scope: "440000000000".into(),
            secretary: None,
        };
        let key = EncodingKey::from_ed_pem(pair.private_pem.as_bytes()).unwrap();
        let reason = |change: &dyn Fn(&mut Claims)| {
            let mut claims = good.clone();
            change(&mut claims);
            let token =
                jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key).unwrap();
            match verifier.verify(&token) {
                Ok(_) => "accepted",
                Err(Error::Unauthenticated { reason, .. }) => reason,
                Err(other) => panic!("{other:?}"),
            }
        };
        assert_eq!(reason(&|_| {}), "accepted");
        assert_eq!(reason(&|c| c.nbf = Some(now + 300)), "TOKEN_NOT_YET_VALID");
        assert_eq!(
            reason(&|c| c.nbf = Some(now + 20)),
            "accepted",
            "within the leeway"
        );
        assert_eq!(reason(&|c| c.iat = now + 300), "TOKEN_NOT_YET_VALID");
        assert_eq!(
            reason(&|c| c.exp = c.iat + 86_401),
            "TOKEN_LIFETIME_TOO_LONG"
        );
        assert_eq!(reason(&|c| c.exp = c.iat + 86_400), "accepted");
        assert_eq!(reason(&|c| c.sub = " ".into()), "TOKEN_CLAIMS_INVALID");
        // A token without `iat` does not parse as our claims at all.
        let mut claims = serde_json::to_value(&good).unwrap();
        claims.as_object_mut().unwrap().remove("iat");
        let token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key).unwrap();
        assert!(verifier.verify(&token).is_err());
        // The launcher's long development token passes where its services are told so.
        let long = verifier.clone().with_max_lifetime(30 * 86_400);
        let mut claims = good.clone();
        claims.exp = now + 29 * 86_400;
        let token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key).unwrap();
        assert!(long.verify(&token).is_ok());
    }

    #[test]
    fn unsigned_and_hmac_tokens_are_refused() {
        let (pair, verifier) = pair_and_verifier();
        let claims = serde_json::json!({
            "iss": DEFAULT_ISSUER, "aud": DEFAULT_AUDIENCE, "sub": "user:x",
            "exp": chrono::Utc::now().timestamp() + 3600, "iat": chrono::Utc::now().timestamp(),
            "roles": ["province_admin"], "scope": "440000000000"
        });
        // alg=none
        let b64 = |v: &serde_json::Value| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
            b64(&claims)
        );
        assert!(verifier.verify(&none).is_err());
        // HS256 keyed with the public key (algorithm confusion)
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(pair.public_pem.as_bytes()),
        )
        .unwrap();
        assert!(verifier.verify(&hs).is_err());
    }

    #[test]
    fn during_a_key_rotation_tokens_of_the_old_and_the_new_key_verify() {
        let (old, new) = (KeyPair::generate(), KeyPair::generate());
        let both = format!("{}{}", old.public_pem, new.public_pem);
        let verifier = TokenVerifier::new(&both, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        for pair in [&old, &new] {
            let issuer = TokenIssuer::new(pair, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
            let token = issuer.issue(&caller(), Duration::from_secs(60));
            assert_eq!(verifier.verify(&token).unwrap(), caller());
        }
        let stranger = TokenIssuer::new(&KeyPair::generate(), DEFAULT_ISSUER, DEFAULT_AUDIENCE)
            .unwrap()
            .issue(&caller(), Duration::from_secs(60));
        assert!(verifier.verify(&stranger).is_err());
    }

    #[test]
    fn a_private_key_where_the_public_key_belongs_is_named() {
        let pair = KeyPair::generate();
        let config = AuthConfig {
            public_key_pem: Some(pair.private_pem.clone()),
            ..AuthConfig::default()
        };
        let refused = TokenVerifier::from_config(&config).unwrap_err().to_string();
        assert!(refused.contains("auth.public_key"), "{refused}");
        assert!(refused.contains("public half"), "{refused}");
    }

    #[test]
    fn scope_checks_name_the_field_and_region() {
        let caller = caller();
        assert!(
            caller
                .require_scope(
                    RegionCode::parse("440305001001").unwrap(),
                    "secretary.region"
                )
                .is_ok()
        );
        let err = caller
            .require_scope(
                RegionCode::parse("440306001001").unwrap(),
                "secretary.region",
            )
            .unwrap_err();
        assert!(matches!(
            err,
            Error::PermissionDenied {
                reason: "REGION_OUT_OF_SCOPE",
                ..
            }
        ));
    }

    #[test]
    fn the_public_half_is_derived_from_the_private_key() {
        let pair = KeyPair::generate();
        assert_eq!(
            KeyPair::from_private_pem(&pair.private_pem)
                .unwrap()
                .public_pem,
            pair.public_pem
        );
        assert!(KeyPair::from_private_pem("not a key").is_err());
    }

    #[test]
    fn key_pairs_are_created_once_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = KeyPair::load_or_generate(dir.path()).unwrap();
        let second = KeyPair::load_or_generate(dir.path()).unwrap();
        assert_eq!(first.public_pem, second.public_pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("signing-key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "private key readable by owner only");
        }
    }
}
