//! The webhook sender: delivers the outbox (`webhook_deliveries`) at least once.
//!
//! A due delivery is claimed with a lease in an audited transaction (another replica skips it
//! while the lease runs; a replica that dies mid-attempt leaves it to another once the lease
//! ends), POSTed with the Standard Webhooks headers and signature, and the attempt's outcome
//! recorded in a second audited transaction: delivered on a 2xx, otherwise retried after an
//! exponential back-off until the attempts run out. The address connected to is the one that
//! was checked: the host is resolved here and only addresses outside the forbidden ranges are
//! used (unless the deployment allows them). Waiting, for the next attempt and for an answer,
//! is on the kit's clock.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full, Limited};
use shequ_kit::{
    Error,
    audit::AuditLog,
    auth::Caller,
    call::{Call, CallStart},
    clock::Clock,
    crypto::FieldCipher,
    db::Database,
    shutdown::Stop,
};
use tokio::sync::Semaphore;

use crate::{
    api::Wakers,
    domain::webhook::{Target, backoff, forbidden, parse_target, secret_key, sign},
    store::{Outcome, Store},
};

/// Where endpoint secrets are encrypted (the context of the SM4-GCM field cipher).
pub(crate) const SECRET_CONTEXT: &str = "webhook_endpoints.secret";
/// Deliveries attempted at once by one replica.
const CONCURRENCY: usize = 8;
/// Largest answer body read (and discarded).
const ANSWER_LIMIT: usize = 64 * 1024;

/// Delivery settings.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// Connect to loopback, private and link-local addresses too.
    pub(crate) allow_private: bool,
    /// How long an attempt waits for an answer.
    pub(crate) timeout: Duration,
    /// Pause after the first failed attempt (doubling after each).
    pub(crate) first_retry: Duration,
    /// Longest pause.
    pub(crate) max_retry: Duration,
    /// Attempts before giving up.
    pub(crate) max_attempts: i64,
}

/// The sender of one replica.
pub(crate) struct Sender {
    pub(crate) store: Store,
    pub(crate) database: Database,
    pub(crate) log: AuditLog,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) identity: Caller,
    pub(crate) cipher: FieldCipher,
    pub(crate) wakers: Arc<Wakers>,
    pub(crate) policy: Policy,
    pub(crate) poll: Duration,
}

impl Sender {
    /// Runs until `stop`.
    pub(crate) async fn run(self, stop: Stop) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        let tls = tls_connector();
        let mut backoff = Duration::from_millis(100);
        loop {
            let next = match this.sweep(&slots, &tls).await {
                Ok(next) => {
                    backoff = Duration::from_millis(100);
                    next
                }
                Err(error) => {
                    tracing::warn!(%error, "webhook sender paused");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = stop.wait() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            let due = async {
                match next {
                    Some(at) => this.clock.wait_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = due => {}
                () = this.wakers.webhooks.notified() => {}
                () = tokio::time::sleep(this.poll) => {}
                () = stop.wait() => return,
            }
        }
    }

    /// Starts an attempt of every due delivery (as slots free up); the next due time.
    async fn sweep(
        self: &Arc<Self>,
        slots: &Arc<Semaphore>,
        tls: &Option<tokio_rustls::TlsConnector>,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        let now = self.clock.now();
        for (id, attempts) in self.store.due_deliveries(now, CONCURRENCY * 4).await? {
            let Ok(slot) = Arc::clone(slots).acquire_owned().await else {
                break;
            };
            let this = Arc::clone(self);
            let tls = tls.clone();
            tokio::spawn(async move {
                if let Err(error) = this.attempt(&id, attempts, tls.as_ref()).await {
                    tracing::warn!(%error, delivery = id, "webhook attempt not recorded");
                }
                drop(slot);
                this.wakers.webhooks.notify_one();
            });
        }
        self.store.next_delivery().await
    }

    /// One attempt of delivery `id`, seen with `attempts` so far.
    async fn attempt(
        &self,
        id: &str,
        attempts: i64,
        tls: Option<&tokio_rustls::TlsConnector>,
    ) -> Result<(), Error> {
        let number = attempts + 1;
        let call = Call::new(
            CallStart {
                caller: self.identity.clone(),
                token: None,
                action: "DeliverWebhook",
                request_id: format!("webhook:{id}:{number}"),
                client_request_id: None,
                deadline: None,
            },
            self.log.clone(),
            Arc::clone(&self.clock),
        );
        let Some((delivery, endpoint, secret)) = self.store.delivery_to_send(id).await? else {
            return Ok(());
        };
        call.target(&endpoint.name(), endpoint.region);
        let start = self.clock.now();
        let lease = start
            + chrono::Duration::from_std(self.policy.timeout + Duration::from_secs(50))
                .unwrap_or_else(|_| chrono::Duration::minutes(1));
        let mut tx = call.begin(&self.database).await?;
        if !Store::claim_delivery(&mut tx, id, attempts, start, lease).await? {
            return tx.rollback().await;
        }
        tx.commit().await?;

        let key = self
            .cipher
            .decrypt_string(&secret, SECRET_CONTEXT)
            .ok()
            .and_then(|s| secret_key(&s));
        let (status, error) = match key {
            None => (0, "the endpoint's secret cannot be read".to_owned()),
            Some(key) => {
                self.post(&endpoint.url, &key, id, &delivery.payload, tls)
                    .await
            }
        };
        let now = self.clock.now();
        let outcome = if (200..300).contains(&status) {
            Outcome::Delivered
        } else if number >= self.policy.max_attempts {
            Outcome::GiveUp
        } else {
            let pause = backoff(
                number as u32,
                self.policy.first_retry,
                self.policy.max_retry,
            );
            Outcome::Retry(now + chrono::Duration::from_std(pause).unwrap_or_default())
        };
        let mut tx = call.begin(&self.database).await?;
        Store::finish_attempt(&mut tx, id, number, i64::from(status), &error, outcome, now).await?;
        tx.commit().await
    }

    /// POSTs `body` to `url` signed with `key`; the status (0 for none) and why it failed.
    async fn post(
        &self,
        url: &str,
        key: &[u8],
        id: &str,
        body: &str,
        tls: Option<&tokio_rustls::TlsConnector>,
    ) -> (u16, String) {
        let target = match parse_target(url) {
            Ok(target) => target,
            Err(why) => return (0, format!("bad URL: {why}")),
        };
        let addresses = match self.resolve(&target).await {
            Ok(addresses) => addresses,
            Err(why) => return (0, why),
        };
        let timestamp = self.clock.now().timestamp();
        let signature = sign(key, id, timestamp, body);
        let started = self.clock.now();
        let deadline =
            started + chrono::Duration::from_std(self.policy.timeout).unwrap_or_default();
        let exchange = exchange(&target, &addresses, id, timestamp, &signature, body, tls);
        tokio::select! {
            outcome = exchange => match outcome {
                Ok(status) if (200..300).contains(&status) => (status, String::new()),
                Ok(status) => (status, format!("answered {status}")),
                Err(why) => (0, why),
            },
            () = self.clock.wait_until(deadline) => (
                0,
                format!("no answer within {} s", self.policy.timeout.as_secs()),
            ),
        }
    }

    /// The addresses of the target that may be connected to.
    async fn resolve(&self, target: &Target) -> Result<Vec<SocketAddr>, String> {
        let resolved: Vec<SocketAddr> = match target.host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, target.port)],
            Err(_) => tokio::time::timeout(
                Duration::from_secs(10),
                tokio::net::lookup_host((target.host.as_str(), target.port)),
            )
            .await
            .map_err(|_| format!("{} did not resolve within 10 s", target.host))?
            .map_err(|e| format!("{} does not resolve: {e}", target.host))?
            .collect(),
        };
        let allowed: Vec<SocketAddr> = resolved
            .iter()
            .copied()
            .filter(|a| self.policy.allow_private || !forbidden(a.ip()))
            .collect();
        if allowed.is_empty() {
            let listed: Vec<String> = resolved.iter().map(|a| a.ip().to_string()).collect();
            return Err(format!(
                "{} resolves only to forbidden addresses ({}): loopback, private and link-local \
                 targets are refused",
                target.host,
                listed.join(", ")
            ));
        }
        Ok(allowed)
    }
}

/// Connects to the first address that answers and makes the request; the status.
async fn exchange(
    target: &Target,
    addresses: &[SocketAddr],
    id: &str,
    timestamp: i64,
    signature: &str,
    body: &str,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Result<u16, String> {
    let mut last = String::from("no address");
    for address in addresses {
        let stream = match tokio::net::TcpStream::connect(address).await {
            Ok(stream) => stream,
            Err(error) => {
                last = format!("cannot connect to {address}: {error}");
                continue;
            }
        };
        let request = http::Request::post(target.path.as_str())
            .header(http::header::HOST, target.authority.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "shequ-warnings")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(Full::new(bytes::Bytes::from(body.to_owned())))
            .map_err(|e| e.to_string())?;
        return if target.https {
            let tls = tls.ok_or("no trusted root certificates for https targets")?;
            let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|e| format!("{}: {e}", target.host))?;
            let stream = tls
                .connect(name, stream)
                .await
                .map_err(|e| format!("TLS with {}: {e}", target.host))?;
            send(stream, request).await
        } else {
            send(stream, request).await
        };
    }
    Err(last)
}

async fn send<S>(stream: S, request: http::Request<Full<bytes::Bytes>>) -> Result<u16, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("HTTP request: {e}"))?;
    let status = response.status().as_u16();
    // Read (and drop) a bounded answer, so the connection ends cleanly.
    let _ = Limited::new(response.into_body(), ANSWER_LIMIT)
        .collect()
        .await;
    Ok(status)
}

/// TLS client trust: the system's roots (none: https targets fail, each attempt saying why).
fn tls_connector() -> Option<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return None;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
