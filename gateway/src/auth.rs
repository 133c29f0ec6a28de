//! Who is calling: the gateway turns a client's credential into the caller context the services
//! verify, so that no service ever trusts a header a client could forge.
//!
//! Accepted credentials:
//! - `Authorization: Bearer <access token>` from the province's identity provider (OIDC, verified
//!   against its JWKS: issuer, audience, expiry, algorithm allow-list);
//! - `Authorization: ApiKey <secret>` of an integrating system, verified by the identity service
//!   and cached for `api_key_cache_secs`; the gateway follows identity's event feed and drops a
//!   revoked or rotated key from the cache as soon as the change commits (see [`crate::revocations`]);
//! - in development mode only, `Authorization: Bearer <token>` signed by the suite's own key (the
//!   token the `shequ` launcher prints).
//!
//! The caller is then re-issued as a short-lived internal token signed by the gateway's key,
//! which is the only thing the services accept. Repeated failures lock out the failing credential
//! and throttle the address (which then gets only what verifies without a remote call);
//! authenticated callers are rate-limited per credential.
//!
//! The lockout, the rate limit and the API-key cache read the injected [`Clock`] (tests move a
//! manual clock); internal tokens, whose expiry the services check on the wall clock, are reused
//! by the wall clock.

use std::{
    collections::HashMap,
    net::IpAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};

use crate::{
    limits::{FailureLockout, RateLimiter},
    oidc::{OidcConfig, OidcVerifier},
};
use serde::{Deserialize, Serialize};
use shequ_kit::{
    auth::{Caller, DEFAULT_AUDIENCE, DEFAULT_ISSUER, KeyPair, Role, TokenIssuer, TokenVerifier},
    clock::{Clock, SystemClock},
    config::Secret,
    regions::RegionCode,
};
use shequ_proto::identity::v1::{VerifyApiKeyRequest, api_key_service_client::ApiKeyServiceClient};
use sm3::Digest;

use crate::backend::Backend;

/// Whether the suite's own development tokens are accepted from clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Only OIDC access tokens and API keys.
    #[default]
    Production,
    /// Also tokens signed by the suite's own key (local development).
    Development,
}

/// The `[auth]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Production or development.
    pub mode: Mode,
    /// Ed25519 private key (PKCS#8 PEM file) that signs the internal caller tokens; the services
    /// hold its public half.
    pub signing_key_file: Option<PathBuf>,
    /// The same key inline (takes precedence).
    pub signing_key_pem: Option<Secret>,
    /// Lifetime of an internal caller token.
    pub internal_token_ttl_secs: u64,
    /// Development mode: the longest lifetime of a token signed by the suite's own key that is
    /// accepted (the launcher raises it for the token it prints).
    pub max_token_lifetime_secs: u64,
    /// The province this deployment serves: the scope of the gateway's own calls.
    pub province: String,
    /// The identity provider; without it people cannot sign in (API keys still work).
    pub oidc: Option<OidcConfig>,
    /// How long a verified API key is trusted before it is checked again (a revocation or
    /// rotation drops it at once through identity's feed; this bounds staleness should the feed
    /// be interrupted).
    pub api_key_cache_secs: u64,
    /// Addresses of the reverse proxies (load balancers) in front of the gateway: a request from
    /// one of them is attributed to the address it reports in `X-Forwarded-For` (the right-most
    /// address that is not itself a trusted proxy). From anywhere else that header is ignored.
    pub trusted_proxies: Vec<IpAddr>,
    /// Requests per second allowed per credential, on average.
    pub rate_per_second: f64,
    /// Requests allowed per credential in a burst.
    pub rate_burst: u32,
    /// Failed authentications of one credential, or from one address, that trigger a lockout of
    /// that credential, or a throttle of that address (valid credentials from it still pass)...
    pub lockout_failures: u32,
    /// ... within this many seconds ...
    pub lockout_window_secs: u64,
    /// ... and how long the lockout lasts.
    pub lockout_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            mode: Mode::Production,
            signing_key_file: None,
            signing_key_pem: None,
            internal_token_ttl_secs: 300,
            max_token_lifetime_secs: shequ_kit::auth::DEFAULT_MAX_TOKEN_LIFETIME_SECS,
            province: "440000000000".to_owned(),
            oidc: None,
            api_key_cache_secs: 30,
            trusted_proxies: Vec::new(),
            rate_per_second: 100.0,
            rate_burst: 200,
            lockout_failures: 10,
            lockout_window_secs: 60,
            lockout_secs: 300,
        }
    }
}

/// Why a request was refused before it reached a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No usable credential.
    Unauthenticated {
        /// Reason code.
        reason: &'static str,
        /// Explanation.
        message: String,
    },
    /// Too many failed authentications from this address.
    LockedOut {
        /// Time until the lockout ends.
        retry_after: Duration,
    },
    /// The credential exceeded its rate limit.
    RateLimited {
        /// Time until a request is allowed again.
        retry_after: Duration,
    },
    /// The credential would need a call to the identity service, which a throttled address does
    /// not get.
    NeedsVerification,
    /// The identity service cannot verify API keys right now.
    Unavailable {
        /// Explanation.
        message: String,
    },
}

fn unauthenticated(reason: &'static str, message: impl Into<String>) -> AuthError {
    AuthError::Unauthenticated {
        reason,
        message: message.into(),
    }
}

/// Authenticates clients and issues internal caller tokens.
pub struct Authenticator {
    mode: Mode,
    issuer: TokenIssuer,
    own_tokens: TokenVerifier,
    oidc: Option<OidcVerifier>,
    identity: Option<Backend>,
    gateway_caller: Caller,
    token_ttl: Duration,
    api_key_ttl: Duration,
    api_keys: Mutex<HashMap<String, (Caller, DateTime<Utc>)>>,
    minted: Mutex<HashMap<String, (String, Instant)>>,
    limiter: RateLimiter,
    lockout: FailureLockout,
    trusted_proxies: Vec<IpAddr>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Cached entries kept at most (minted tokens, verified API keys).
const CACHE_CAPACITY: usize = 10_000;

impl Authenticator {
    /// An authenticator as `config` says, verifying API keys through `identity` (the identity
    /// service's channel, when configured).
    pub fn new(config: &AuthConfig, identity: Option<Backend>) -> anyhow::Result<Authenticator> {
        Self::with_clock(config, identity, Arc::new(SystemClock))
    }

    /// As [`Authenticator::new`], reading time from `clock`.
    pub fn with_clock(
        config: &AuthConfig,
        identity: Option<Backend>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Authenticator> {
        let private_pem = match (&config.signing_key_pem, &config.signing_key_file) {
            (Some(pem), _) => pem.expose().to_owned(),
            (None, Some(file)) => std::fs::read_to_string(file).map_err(|e| {
                anyhow::anyhow!("cannot read auth.signing_key_file {}: {e}", file.display())
            })?,
            (None, None) => anyhow::bail!(
                "auth.signing_key_file (SHEQU_AUTH__SIGNING_KEY_FILE) must name the key that signs caller tokens"
            ),
        };
        let pair = KeyPair::from_private_pem(&private_pem).map_err(|e| {
            anyhow::anyhow!(
                "auth.signing_key_file / auth.signing_key_pem: {e}; give the gateway the private key \
                 (signing-key.pem from `shequ-gateway keygen`), the services its public half"
            )
        })?;
        let province = RegionCode::parse(&config.province)
            .map_err(|e| anyhow::anyhow!("auth.province: {e}"))?;
        let oidc = config.oidc.clone().map(OidcVerifier::new).transpose()?;
        if config.mode == Mode::Production && oidc.is_none() && identity.is_none() {
            anyhow::bail!(
                "in production the gateway needs auth.oidc or an identity backend, or nobody can sign in"
            );
        }
        Ok(Authenticator {
            mode: config.mode,
            issuer: TokenIssuer::new(&pair, DEFAULT_ISSUER, DEFAULT_AUDIENCE)?,
            own_tokens: TokenVerifier::new(&pair.public_pem, DEFAULT_ISSUER, DEFAULT_AUDIENCE)?
                .with_max_lifetime(config.max_token_lifetime_secs),
            oidc,
            identity,
            gateway_caller: Caller {
                subject: "system:gateway".to_owned(),
                roles: vec![Role::Gateway],
                scope: province,
                secretary: None,
            },
            token_ttl: Duration::from_secs(config.internal_token_ttl_secs.max(30)),
            api_key_ttl: Duration::from_secs(config.api_key_cache_secs),
            api_keys: Mutex::default(),
            minted: Mutex::default(),
            limiter: RateLimiter::new(config.rate_per_second, config.rate_burst),
            lockout: FailureLockout::new(
                config.lockout_failures,
                Duration::from_secs(config.lockout_window_secs),
                Duration::from_secs(config.lockout_secs),
            ),
            trusted_proxies: config.trusted_proxies.clone(),
            clock,
        })
    }

    /// The OIDC verifier, whose keys must be loaded and kept fresh.
    pub fn oidc(&self) -> Option<&OidcVerifier> {
        self.oidc.as_ref()
    }

    /// Authenticates the `Authorization` header of a request from `client`, and applies the
    /// lockout and the rate limit.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        client: IpAddr,
    ) -> Result<Caller, AuthError> {
        let now = self.clock.now();
        // A credential that failed repeatedly is locked out, wherever it is presented from.
        let credential = authorization.filter(|h| !h.trim().is_empty()).map(|h| {
            format!(
                "credential:{}",
                hex::encode(sm3::Sm3::digest(h.trim().as_bytes()))
            )
        });
        if let Some(key) = &credential
            && let Err(retry_after) = self.lockout.check(key, now)
        {
            return Err(AuthError::LockedOut { retry_after });
        }
        // An address that failed repeatedly is throttled, not shut: what it presents must prove
        // itself without a call to the identity service (a signed token, an API key verified
        // recently), so the valid users of a district office behind one NAT keep working while
        // guessing API keys from it stops.
        let address = format!("address:{client}");
        let throttled = self.lockout.check(&address, now).err();
        let caller = match self.identify(authorization, throttled.is_none()).await {
            Ok(caller) => caller,
            Err(error @ AuthError::Unauthenticated { reason, .. }) => {
                if reason == "TOKEN_MISSING" {
                    return Err(error); // nothing was guessed
                }
                let locked = credential
                    .as_ref()
                    .and_then(|key| self.lockout.record_failure(key, now));
                if let Some(retry_after) = throttled {
                    return Err(AuthError::LockedOut { retry_after });
                }
                if let Some(retry_after) = self.lockout.record_failure(&address, now) {
                    tracing::warn!(client = %client, "authentication failures: address throttled");
                    return Err(AuthError::LockedOut { retry_after });
                }
                if let Some(retry_after) = locked {
                    tracing::warn!("authentication failures: credential locked out");
                    return Err(AuthError::LockedOut { retry_after });
                }
                return Err(error);
            }
            Err(AuthError::NeedsVerification) => {
                return Err(AuthError::LockedOut {
                    retry_after: throttled.unwrap_or_default(),
                });
            }
            Err(other) => return Err(other),
        };
        if let Some(key) = &credential {
            self.lockout.record_success(key);
        }
        self.limiter
            .check(&caller.subject, now)
            .map_err(|retry_after| AuthError::RateLimited { retry_after })?;
        Ok(caller)
    }

    /// The caller a credential speaks for; `remote` allows a call to the identity service (an
    /// API key not verified recently).
    async fn identify(
        &self,
        authorization: Option<&str>,
        remote: bool,
    ) -> Result<Caller, AuthError> {
        let header = authorization.ok_or_else(|| {
            unauthenticated(
                "TOKEN_MISSING",
                "send Authorization: Bearer <access token> or Authorization: ApiKey <key>",
            )
        })?;
        let (scheme, credential) = header.split_once(' ').unwrap_or((header, ""));
        let credential = credential.trim();
        if credential.is_empty() {
            return Err(unauthenticated(
                "TOKEN_MISSING",
                "the Authorization header carries no credential",
            ));
        }
        if scheme.eq_ignore_ascii_case("apikey") {
            return self.api_key(credential, remote).await;
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(unauthenticated(
                "AUTH_SCHEME_UNSUPPORTED",
                "use the Bearer or ApiKey scheme",
            ));
        }
        // In development the launcher's own tokens are accepted; anywhere else only the
        // identity provider's.
        if self.mode == Mode::Development
            && let Ok(mut caller) = self.own_tokens.verify(credential)
        {
            // the gateway role is the gateway's own, whoever signed the token
            caller.roles.retain(|r| !r.is_internal());
            if caller.roles.is_empty() {
                return Err(unauthenticated(
                    "TOKEN_INVALID",
                    "the token grants no client role",
                ));
            }
            return Ok(caller);
        }
        match &self.oidc {
            Some(oidc) => oidc.verify(credential).map_err(|e| match e {
                shequ_kit::Error::Unauthenticated { reason, message } => {
                    unauthenticated(reason, message)
                }
                other => unauthenticated("TOKEN_INVALID", other.to_string()),
            }),
            None => Err(unauthenticated(
                "TOKEN_INVALID",
                "bearer tokens are not accepted by this deployment",
            )),
        }
    }

    async fn api_key(&self, secret: &str, remote: bool) -> Result<Caller, AuthError> {
        let fingerprint = hex::encode(sm3::Sm3::digest(secret.as_bytes()));
        if let Some((caller, verified)) = self.lock_api_keys().get(&fingerprint).cloned()
            && (self.clock.now() - verified)
                .to_std()
                .is_ok_and(|age| age < self.api_key_ttl)
        {
            return Ok(caller);
        }
        let identity = self.identity.as_ref().ok_or_else(|| {
            unauthenticated(
                "API_KEY_INVALID",
                "API keys are not accepted by this deployment",
            )
        })?;
        if !remote {
            return Err(AuthError::NeedsVerification);
        }
        let token = self.internal_token(&self.gateway_caller);
        let value: tonic::metadata::MetadataValue<_> =
            format!("Bearer {token}")
                .parse()
                .map_err(|_| AuthError::Unavailable {
                    message: "cannot build the gateway's own credential".into(),
                })?;
        let verified = identity
            .call(|channel| {
                let mut request = tonic::Request::new(VerifyApiKeyRequest {
                    secret: secret.to_owned(),
                });
                request.set_timeout(Duration::from_secs(3));
                request
                    .metadata_mut()
                    .insert("authorization", value.clone());
                async move {
                    ApiKeyServiceClient::new(channel)
                        .verify_api_key(request)
                        .await
                }
            })
            .await;
        let reply = match verified {
            Ok(reply) => reply.into_inner(),
            Err(status) if status.code() == tonic::Code::Unauthenticated => {
                return Err(unauthenticated(
                    "API_KEY_INVALID",
                    "the API key is unknown, revoked or expired",
                ));
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), "API key verification unavailable");
                return Err(AuthError::Unavailable {
                    message: "API keys cannot be verified right now; retry".into(),
                });
            }
        };
        let key = reply.api_key.unwrap_or_default();
        let caller = Caller {
            subject: reply.subject,
            roles: key
                .roles
                .iter()
                .filter_map(|r| Role::parse(r))
                .filter(|r| !r.is_internal())
                .collect(),
            scope: RegionCode::parse(&key.scope).map_err(|_| AuthError::Unavailable {
                message: "the identity service returned a bad scope".into(),
            })?,
            secretary: None,
        };
        let mut cache = self.lock_api_keys();
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(fingerprint, (caller.clone(), self.clock.now()));
        Ok(caller)
    }

    /// Drops the cached verification of API key `api_key` (`apiKeys/{id}`): identity's feed said
    /// it was revoked or rotated.
    pub fn forget_api_key(&self, api_key: &str) {
        let Some(id) = api_key.strip_prefix("apiKeys/") else {
            return;
        };
        let subject = format!("apikey:{id}");
        self.lock_api_keys()
            .retain(|_, (caller, _)| caller.subject != subject);
    }

    /// Drops every cached API-key verification (the feed was interrupted: anything may have been
    /// revoked meanwhile).
    pub fn forget_api_keys(&self) {
        self.lock_api_keys().clear();
    }

    /// The trusted reverse proxies.
    pub fn trusted_proxies(&self) -> &[IpAddr] {
        &self.trusted_proxies
    }

    /// The identity service, when configured.
    pub fn identity(&self) -> Option<&Backend> {
        self.identity.as_ref()
    }

    /// The gateway's own caller token, for its own calls (verifying keys, following feeds).
    pub fn own_token(&self) -> String {
        self.internal_token(&self.gateway_caller)
    }

    fn lock_api_keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Caller, DateTime<Utc>)>> {
        self.api_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An internal token for `caller`, reused until half its lifetime has passed (signing costs
    /// tens of microseconds; a caller sends many requests).
    pub fn internal_token(&self, caller: &Caller) -> String {
        let key = format!(
            "{}|{}|{}|{}",
            caller.subject,
            caller
                .roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(","),
            caller.scope,
            caller.secretary.as_deref().unwrap_or("")
        );
        let mut minted = self
            .minted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((token, issued)) = minted.get(&key)
            && issued.elapsed() < self.token_ttl / 2
        {
            return token.clone();
        }
        let token = self.issuer.issue(caller, self.token_ttl);
        if minted.len() >= CACHE_CAPACITY {
            minted.clear();
        }
        minted.insert(key, (token.clone(), Instant::now()));
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: Mode) -> (AuthConfig, KeyPair) {
        let pair = KeyPair::generate();
        let config = AuthConfig {
            mode,
            signing_key_pem: Some(Secret::new(pair.private_pem.clone())),
            oidc: Some(OidcConfig {
                issuer: "https://idp.example".into(),
                jwks_file: Some("unused.json".into()),
                ..OidcConfig::default()
            }),
            lockout_failures: 3,
            rate_per_second: 1.0,
            rate_burst: 2,
            ..AuthConfig::default()
        };
        (config, pair)
    }

    fn local() -> IpAddr {
        IpAddr::from([10, 0, 0, 7])
    }

    fn dev_token(pair: &KeyPair) -> String {
        let issuer = TokenIssuer::new(pair, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        issuer.issue(
            &shequ_kit::testing::caller(Role::ProvinceAdmin, "440000000000"),
            Duration::from_secs(600),
        )
    }

    #[tokio::test]
    async fn the_launchers_token_works_only_in_development_mode() {
        let (config, pair) = config(Mode::Development);
        let dev = Authenticator::new(&config, None).unwrap();
        let header = format!("Bearer {}", dev_token(&pair));
        assert_eq!(
            dev.authenticate(Some(&header), local())
                .await
                .unwrap()
                .roles,
            vec![Role::ProvinceAdmin]
        );

        let production = Authenticator::new(
            &AuthConfig {
                mode: Mode::Production,
                ..config
            },
            None,
        )
        .unwrap();
        assert!(matches!(
            production.authenticate(Some(&header), local()).await,
            Err(AuthError::Unauthenticated { .. })
        ));
    }

    #[tokio::test]
    async fn missing_and_unknown_credentials_are_named() {
        let (config, _) = config(Mode::Production);
        let auth = Authenticator::new(&config, None).unwrap();
        let reason = |r: Result<Caller, AuthError>| match r {
            Err(AuthError::Unauthenticated { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(auth.authenticate(None, local()).await),
            "TOKEN_MISSING"
        );
        assert_eq!(
            reason(
                auth.authenticate(Some("Basic dXNlcjpwdw=="), IpAddr::from([10, 0, 0, 8]))
                    .await
            ),
            "AUTH_SCHEME_UNSUPPORTED"
        );
    }

    fn manual() -> shequ_kit::clock::ManualClock {
        shequ_kit::clock::ManualClock::at("2026-06-15T02:00:00Z".parse().unwrap())
    }

    #[tokio::test]
    async fn repeated_failures_lock_out_the_credential_and_throttle_the_address_not_its_users() {
        let (config, pair) = config(Mode::Development);
        let clock = manual();
        let auth = Authenticator::with_clock(&config, None, Arc::new(clock.clone())).unwrap();
        for _ in 0..2 {
            assert!(matches!(
                auth.authenticate(Some("Bearer forged"), local()).await,
                Err(AuthError::Unauthenticated { .. })
            ));
        }
        assert_eq!(
            auth.authenticate(Some("Bearer forged"), local()).await,
            Err(AuthError::LockedOut {
                retry_after: Duration::from_secs(300)
            })
        );
        // the failing credential is locked out wherever it comes from
        assert_eq!(
            auth.authenticate(Some("Bearer forged"), IpAddr::from([10, 0, 0, 9]))
                .await,
            Err(AuthError::LockedOut {
                retry_after: Duration::from_secs(300)
            })
        );
        // a valid token from the same address (a colleague behind the same NAT) still works
        let good = format!("Bearer {}", dev_token(&pair));
        assert!(auth.authenticate(Some(&good), local()).await.is_ok());
        // another guess from the throttled address is refused, told how long is left
        clock.advance(chrono::Duration::seconds(299));
        assert_eq!(
            auth.authenticate(Some("Bearer another-guess"), local())
                .await,
            Err(AuthError::LockedOut {
                retry_after: Duration::from_secs(1)
            })
        );
        // five minutes after it began, the lockout is over
        clock.advance(chrono::Duration::seconds(1));
        assert!(matches!(
            auth.authenticate(Some("Bearer forged"), local()).await,
            Err(AuthError::Unauthenticated { .. })
        ));
    }

    #[tokio::test]
    async fn requests_without_a_credential_lock_nobody_out() {
        let (config, pair) = config(Mode::Development);
        let auth = Authenticator::with_clock(&config, None, Arc::new(manual())).unwrap();
        for _ in 0..20 {
            assert!(matches!(
                auth.authenticate(None, local()).await,
                Err(AuthError::Unauthenticated {
                    reason: "TOKEN_MISSING",
                    ..
                })
            ));
        }
        let good = format!("Bearer {}", dev_token(&pair));
        assert!(auth.authenticate(Some(&good), local()).await.is_ok());
    }

    #[tokio::test]
    async fn a_credential_over_its_rate_is_told_when_to_retry() {
        let (config, pair) = config(Mode::Development);
        let clock = manual();
        let auth = Authenticator::with_clock(&config, None, Arc::new(clock.clone())).unwrap();
        let good = format!("Bearer {}", dev_token(&pair));
        // 1 per second, bursts of 2
        assert!(auth.authenticate(Some(&good), local()).await.is_ok());
        assert!(auth.authenticate(Some(&good), local()).await.is_ok());
        assert_eq!(
            auth.authenticate(Some(&good), local()).await,
            Err(AuthError::RateLimited {
                retry_after: Duration::from_secs(1)
            })
        );
        clock.advance(chrono::Duration::milliseconds(250));
        assert_eq!(
            auth.authenticate(Some(&good), local()).await,
            Err(AuthError::RateLimited {
                retry_after: Duration::from_millis(750)
            })
        );
        clock.advance(chrono::Duration::milliseconds(750));
        assert!(auth.authenticate(Some(&good), local()).await.is_ok());
    }

    #[test]
    fn internal_tokens_are_reused_and_verify_at_the_services() {
        let (config, pair) = config(Mode::Production);
        let auth = Authenticator::new(&config, None).unwrap();
        let caller = shequ_kit::testing::caller(Role::Integration, "440305000000");
        let token = auth.internal_token(&caller);
        assert_eq!(auth.internal_token(&caller), token);
        let services =
            TokenVerifier::new(&pair.public_pem, DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
        assert_eq!(services.verify(&token).unwrap(), caller);
    }

    #[test]
    fn production_without_any_sign_in_is_refused() {
        let (mut config, _) = config(Mode::Production);
        config.oidc = None;
        assert!(Authenticator::new(&config, None).is_err());
    }
}
