//! Calls to other services (ARCHITECTURE.md decision 9): a [`Replicas`] channel that spreads
//! calls over every replica of a dependency, and a [`Dependency`] that makes each call with a
//! deadline, the trace context and request id, and either the served caller's credential or the
//! service's own.
//!
//! Why not tonic's `Channel::balance_channel`: it keeps sending to a replica whose connection
//! was refused (a lazily connected endpoint never fails `poll_ready`, so the balancer cannot see
//! it is gone) and it does not follow the replicas' health, so a draining pod still gets new
//! calls and a restarting one fails half of them. Here each replica is a tonic `Channel` (which
//! reconnects by itself); a replica is skipped while its health watch says NOT_SERVING (set at the
//! start of a graceful shutdown) and for a moment after a connection failure, host names are
//! re-resolved to follow pods as they come and go, and a call that is safe to repeat is retried
//! on another replica.

use std::{
    collections::BTreeMap,
    error::Error as _,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU8, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tonic::{
    Status,
    metadata::{MetadataMap, MetadataValue},
    transport::{Channel, Endpoint},
};

use crate::{Error, auth::ServiceIdentity, call::Call, config::DependencyConfig, shutdown::Stop};

/// How long a replica whose connection failed is skipped before it is tried again.
const EJECTION: Duration = Duration::from_secs(1);
/// Attempts of a call that is safe to repeat.
const SAFE_ATTEMPTS: usize = 3;

const HEALTH_UNKNOWN: u8 = 0;
const HEALTH_SERVING: u8 = 1;
const HEALTH_NOT_SERVING: u8 = 2;

/// One replica: an address and its own channel.
#[derive(Debug)]
struct Replica {
    address: SocketAddr,
    channel: Channel,
    health: Arc<AtomicU8>,
    ejected_until: Mutex<Option<Instant>>,
    watch: tokio::task::AbortHandle,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.watch.abort();
    }
}

impl Replica {
    fn ejected(&self, now: Instant) -> bool {
        self.ejected_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|until| until > now)
    }

    fn eject(&self) {
        *self
            .ejected_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + EJECTION);
    }
}

/// The target of a dependency: `scheme://host:port` entries, separated by commas.
#[derive(Debug, Clone)]
struct Target {
    host: String,
    port: u16,
}

fn parse_targets(address: &str) -> anyhow::Result<Vec<Target>> {
    let mut targets = Vec::new();
    for part in address.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let uri: http::Uri = part
            .parse()
            .map_err(|e| anyhow::anyhow!("{part:?} is not a URL: {e}"))?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http"),
            "{part:?}: only http:// is supported between services (TLS is the mesh's job)"
        );
        let host = uri
            .host()
            .ok_or_else(|| anyhow::anyhow!("{part:?} names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri
            .port_u16()
            .ok_or_else(|| anyhow::anyhow!("{part:?} names no port"))?;
        targets.push(Target { host, port });
    }
    anyhow::ensure!(!targets.is_empty(), "no address given");
    Ok(targets)
}

async fn resolve(targets: &[Target]) -> Vec<SocketAddr> {
    let mut addresses = Vec::new();
    for target in targets {
        match tokio::net::lookup_host((target.host.as_str(), target.port)).await {
            Ok(found) => addresses.extend(found),
            Err(error) => {
                tracing::warn!(host = %target.host, %error, "cannot resolve a dependency's address")
            }
        }
    }
    addresses.sort();
    addresses.dedup();
    addresses
}

/// Every replica of one gRPC server, kept current, with calls spread over them.
#[derive(Debug, Clone)]
pub struct Replicas {
    name: Arc<str>,
    health_service: Arc<str>,
    replicas: Arc<Mutex<Vec<Arc<Replica>>>>,
    next: Arc<AtomicUsize>,
}

impl Replicas {
    /// The replicas behind `address` (see [`DependencyConfig::address`]), named `name` in errors
    /// and logs, whose health is watched for `health_service` (`""`: the whole server). Host
    /// names are resolved now and every `resolve_every` until `stop`.
    pub async fn new(
        name: &str,
        address: &str,
        health_service: &str,
        resolve_every: Duration,
        stop: Stop,
    ) -> anyhow::Result<Replicas> {
        let targets = parse_targets(address).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let replicas = Replicas {
            name: name.into(),
            health_service: health_service.into(),
            replicas: Arc::default(),
            next: Arc::default(),
        };
        replicas.update(resolve(&targets).await);
        let all_literal = targets
            .iter()
            .all(|t| t.host.parse::<std::net::IpAddr>().is_ok());
        if !all_literal {
            let follower = replicas.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(resolve_every) => {}
                        () = stop.wait() => break,
                    }
                    let found = resolve(&targets).await;
                    // A failed lookup keeps what we had: a DNS hiccup must not drop every replica.
                    if !found.is_empty() {
                        follower.update(found);
                    }
                }
            });
        }
        Ok(replicas)
    }

    /// The addresses currently in use.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.lock().iter().map(|r| r.address).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Replica>>> {
        self.replicas.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the replica set by `addresses`, keeping the channels of those still present.
    fn update(&self, addresses: Vec<SocketAddr>) {
        let mut replicas = self.lock();
        let before: Vec<SocketAddr> = replicas.iter().map(|r| r.address).collect();
        if before == addresses {
            return;
        }
        replicas.retain(|r| addresses.contains(&r.address));
        for address in addresses {
            if replicas.iter().any(|r| r.address == address) {
                continue;
            }
            let endpoint = Endpoint::from_shared(format!("http://{address}"))
                .expect("a socket address makes a valid URI")
                .connect_timeout(Duration::from_secs(2))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_while_idle(true);
            let channel = endpoint.connect_lazy();
            let health = Arc::new(AtomicU8::new(HEALTH_UNKNOWN));
            let watch = tokio::spawn(watch_health(
                channel.clone(),
                self.health_service.to_string(),
                Arc::clone(&health),
            ))
            .abort_handle();
            replicas.push(Arc::new(Replica {
                address,
                channel,
                health,
                ejected_until: Mutex::new(None),
                watch,
            }));
        }
        replicas.sort_by_key(|r| r.address);
        tracing::info!(dependency = %self.name, replicas = ?replicas.iter().map(|r| r.address).collect::<Vec<_>>(), "replicas changed");
    }

    /// The replica for the next call: round robin over those that are neither ejected nor known
    /// to be draining, avoiding `tried`; when none qualifies, any not yet tried.
    fn pick(&self, tried: &[SocketAddr]) -> Option<Arc<Replica>> {
        let replicas = self.lock();
        if replicas.is_empty() {
            return None;
        }
        let now = Instant::now();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let candidates = |ok: &dyn Fn(&Replica) -> bool| {
            (0..replicas.len())
                .map(|i| &replicas[(start + i) % replicas.len()])
                .find(|r| !tried.contains(&r.address) && ok(r))
                .cloned()
        };
        candidates(&|r| !r.ejected(now) && r.health.load(Ordering::Relaxed) != HEALTH_NOT_SERVING)
            .or_else(|| candidates(&|r| !r.ejected(now)))
            .or_else(|| candidates(&|_| true))
    }

    /// Runs `call` on a replica. A call that fails because its replica is unreachable is
    /// repeated on another one when `safe` (a read, or a write the callee deduplicates), or
    /// when the request provably never left (connection refused).
    pub async fn call<T, F, Fut>(&self, safe: bool, mut call: F) -> Result<T, Status>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut tried = Vec::new();
        let mut attempts = 0;
        loop {
            attempts += 1;
            // Every replica tried once: a second round may meet a replica whose connection was
            // only stale (a channel reports the failure of its last connection attempt once).
            let replica = match self.pick(&tried) {
                Some(replica) => replica,
                None if !tried.is_empty() && attempts <= SAFE_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    match self.pick(&[]) {
                        Some(replica) => replica,
                        None => {
                            return Err(Status::unavailable(format!(
                                "{} has no replica",
                                self.name
                            )));
                        }
                    }
                }
                None => {
                    return Err(match tried.is_empty() {
                        true => Status::unavailable(format!("{} has no replica", self.name)),
                        false => Status::unavailable(format!(
                            "{} is unreachable on every replica tried",
                            self.name
                        )),
                    });
                }
            };
            let outcome = call(replica.channel.clone()).await;
            let Err(status) = &outcome else {
                return outcome;
            };
            if !replica_gone(status) {
                return outcome;
            }
            replica.eject();
            if !tried.contains(&replica.address) {
                tried.push(replica.address);
            }
            let again = (safe || never_sent(status)) && attempts < SAFE_ATTEMPTS;
            if !again {
                return outcome;
            }
            tracing::debug!(dependency = %self.name, replica = %replica.address, code = ?status.code(), "retrying on another replica");
        }
    }
}

/// Follows `grpc.health.v1.Health/Watch` of one replica into `health`.
async fn watch_health(channel: Channel, service: String, health: Arc<AtomicU8>) {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let mut client = HealthClient::new(channel);
    loop {
        let request = HealthCheckRequest {
            service: service.clone(),
        };
        if let Ok(stream) = client.watch(request).await {
            let mut stream = stream.into_inner();
            while let Ok(Some(reply)) = stream.message().await {
                let state = if reply.status == ServingStatus::Serving as i32 {
                    HEALTH_SERVING
                } else {
                    HEALTH_NOT_SERVING
                };
                health.store(state, Ordering::Relaxed);
            }
        }
        // The stream ended: the replica stopped or restarts. Unknown until it answers again.
        health.store(HEALTH_UNKNOWN, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The failure says the replica (not the call) is the problem: it refused, reset or closed the
/// connection (a crashed pod cancels the calls in flight on it), or is shutting down. A call
/// cancelled by its own deadline is not: its time is up wherever it goes.
fn replica_gone(status: &Status) -> bool {
    match status.code() {
        tonic::Code::Unavailable => true,
        tonic::Code::Unknown => io_error(status).is_some(),
        tonic::Code::Cancelled | tonic::Code::Internal => connection_lost(status),
        _ => false,
    }
}

/// The transport lost the connection under the call (not the call's own timer).
fn connection_lost(status: &Status) -> bool {
    // tonic turns a hyper error caused by HTTP/2 (a connection reset by a dying server) into a
    // status without a source, only this message; a service's own INTERNAL never carries it.
    if status.message().starts_with("h2 protocol error") {
        return true;
    }
    let mut source = status.source();
    while let Some(error) = source {
        if let Some(hyper) = error.downcast_ref::<hyper::Error>() {
            return hyper.is_canceled() || hyper.is_closed() || hyper.is_incomplete_message();
        }
        // The HTTP/2 connection broke (reset, went away), not the call's own content.
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            return h2.is_io() || h2.is_go_away() || h2.is_reset();
        }
        if error.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        source = error.source();
    }
    false
}

/// The request never reached a server: the connection was refused.
fn never_sent(status: &Status) -> bool {
    io_error(status).is_some_and(|kind| kind == std::io::ErrorKind::ConnectionRefused)
}

fn io_error(status: &Status) -> Option<std::io::ErrorKind> {
    let mut source = status.source();
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = error.source();
    }
    None
}

/// A service this one calls: its replicas, its deadline, and the credentials to call it with.
#[derive(Debug, Clone)]
pub struct Dependency {
    name: &'static str,
    replicas: Replicas,
    deadline: Duration,
    identity: Option<ServiceIdentity>,
}

/// How a call to a dependency authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acting {
    /// As the person (or system) whose call is being served: their scope applies in the callee.
    OnBehalf,
    /// As this service itself, with its own credential: the callee's grants apply.
    AsService,
}

impl Dependency {
    /// Connects to dependency `name` as `config` says.
    pub async fn connect(
        name: &'static str,
        config: &DependencyConfig,
        identity: Option<ServiceIdentity>,
        stop: Stop,
    ) -> anyhow::Result<Dependency> {
        anyhow::ensure!(
            !config.address.is_empty(),
            "dependencies.{name}.address (SHEQU_DEPENDENCIES__{}__ADDRESS) must say where {name} listens",
            name.to_ascii_uppercase()
        );
        let replicas = Replicas::new(
            name,
            &config.address,
            "",
            Duration::from_millis(config.resolve_interval_ms.max(100)),
            stop,
        )
        .await?;
        Ok(Dependency {
            name,
            replicas,
            deadline: Duration::from_millis(config.deadline_ms.max(1)),
            identity,
        })
    }

    /// The dependency's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its replicas.
    pub fn replicas(&self) -> &Replicas {
        &self.replicas
    }

    /// The metadata and timeout of a call made while serving `call` (or, with `None`, by a
    /// background job acting as the service): credential, request id, trace context, and the
    /// smaller of this dependency's deadline and the time the served caller has left.
    pub fn prepare(&self, call: Option<&Call>, acting: Acting) -> Result<Outgoing, Error> {
        let token = match acting {
            Acting::AsService => self
                .identity
                .as_ref()
                .map(ServiceIdentity::token)
                .ok_or_else(|| {
                    Error::internal(anyhow::anyhow!(
                        "no service key (auth.service_key_file) to call {} as this service",
                        self.name
                    ))
                })?,
            Acting::OnBehalf => call
                .and_then(Call::token)
                .ok_or_else(|| {
                    Error::internal(anyhow::anyhow!(
                        "a call to {} on behalf of a caller needs the caller's token",
                        self.name
                    ))
                })?
                .to_owned(),
        };
        let mut metadata = MetadataMap::new();
        let bearer = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|e| Error::internal(anyhow::anyhow!("token is not ASCII: {e}")))?;
        metadata.insert("authorization", bearer);
        if let Some(call) = call
            && let Ok(id) = MetadataValue::try_from(call.request_id())
        {
            metadata.insert("x-request-id", id);
        }
        crate::telemetry::inject_trace_context(&mut metadata);
        let mut timeout = self.deadline;
        if let Some(deadline) = call.and_then(Call::deadline) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::DependencyDeadline {
                    dependency: self.name,
                });
            }
            timeout = timeout.min(left);
        }
        Ok(Outgoing {
            dependency: self.name,
            metadata,
            timeout,
        })
    }

    /// Calls the dependency: `call` gets a channel to one replica and a prepared request for
    /// `message` (build a generated client on the channel and send it). `safe` calls (reads, or
    /// writes the callee makes idempotent with a request id) are retried on another replica
    /// when theirs is gone. Failures come back as the kit's errors naming the dependency.
    pub async fn call<M, T, F, Fut>(
        &self,
        outgoing: &Outgoing,
        safe: bool,
        message: M,
        call: F,
    ) -> Result<T, Error>
    where
        M: Clone,
        F: Fn(Channel, tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let started = Instant::now();
        let result = self
            .replicas
            .call(safe, |channel| {
                let mut request = tonic::Request::new(message.clone());
                *request.metadata_mut() = outgoing.metadata.clone();
                let left = outgoing.timeout.saturating_sub(started.elapsed());
                request.set_timeout(left.max(Duration::from_millis(1)));
                let sent = call(channel, request);
                async move {
                    match tokio::time::timeout(left, sent).await {
                        Ok(result) => result,
                        Err(_) => Err(Status::deadline_exceeded("deadline passed")),
                    }
                }
            })
            .await;
        result
            .map(tonic::Response::into_inner)
            .map_err(|status| outgoing.error(status))
    }
}

/// A prepared outgoing call: its metadata and timeout.
#[derive(Debug, Clone)]
pub struct Outgoing {
    dependency: &'static str,
    metadata: MetadataMap,
    timeout: Duration,
}

impl Outgoing {
    /// The timeout the call runs under.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The metadata the call carries.
    pub fn metadata(&self) -> &MetadataMap {
        &self.metadata
    }

    /// Maps a failed call to the kit's error: unreachable or slow dependencies are named;
    /// anything else the callee said (a refusal, a validation error) passes through as it is.
    pub fn error(&self, status: Status) -> Error {
        match status.code() {
            tonic::Code::Unavailable | tonic::Code::Unknown if replica_gone(&status) => {
                tracing::warn!(
                    dependency = self.dependency,
                    message = status.message(),
                    "dependency unavailable"
                );
                Error::DependencyUnavailable {
                    dependency: self.dependency,
                }
            }
            tonic::Code::Unavailable => Error::DependencyUnavailable {
                dependency: self.dependency,
            },
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => Error::DependencyDeadline {
                dependency: self.dependency,
            },
            _ => Error::Dependency {
                dependency: self.dependency,
                status: Box::new(status),
            },
        }
    }
}

/// The dependencies of a service, by name.
#[derive(Debug, Clone, Default)]
pub struct Dependencies {
    by_name: Arc<BTreeMap<&'static str, Dependency>>,
}

impl Dependencies {
    /// Connects to every dependency in `names`, as configured.
    pub async fn connect(
        names: &[&'static str],
        optional: &[&'static str],
        configs: &BTreeMap<String, DependencyConfig>,
        identity: Option<ServiceIdentity>,
        stop: Stop,
    ) -> anyhow::Result<Dependencies> {
        let mut by_name = BTreeMap::new();
        for name in names {
            let config = configs.get(*name).cloned().unwrap_or_default();
            let dependency =
                Dependency::connect(name, &config, identity.clone(), stop.clone()).await?;
            by_name.insert(*name, dependency);
        }
        // An optional dependency is connected only where it is configured.
        for name in optional {
            if let Some(config) = configs.get(*name) {
                let dependency =
                    Dependency::connect(name, config, identity.clone(), stop.clone()).await?;
                by_name.insert(*name, dependency);
            }
        }
        for configured in configs.keys() {
            anyhow::ensure!(
                names.contains(&configured.as_str()) || optional.contains(&configured.as_str()),
                "dependencies.{configured} is configured but this service does not call it (it calls: {})",
                names
                    .iter()
                    .chain(optional)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(Dependencies {
            by_name: Arc::new(by_name),
        })
    }

    /// True when `name` is connected (a required dependency always is; an optional one where
    /// configured).
    pub fn is_configured(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The dependency `name` (declared by the service, so present).
    pub fn get(&self, name: &str) -> Result<&Dependency, Error> {
        self.by_name
            .get(name)
            .ok_or_else(|| Error::internal(anyhow::anyhow!("{name} is not a declared dependency")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_comma_separated_http_urls_with_ports() {
        let targets = parse_targets("http://10.0.0.1:50051, http://personnel:50051").unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(
            (targets[1].host.as_str(), targets[1].port),
            ("personnel", 50051)
        );
        assert!(parse_targets("https://x:1").is_err());
        assert!(parse_targets("http://x").is_err());
        assert!(parse_targets("").is_err());
        assert_eq!(parse_targets("http://[::1]:7").unwrap()[0].host, "::1");
    }

    #[tokio::test]
    async fn calls_skip_an_ejected_replica_and_spread_over_the_others() {
        let (_handle, stop) = crate::shutdown::channel();
        let replicas = Replicas::new(
            "test",
            "http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3",
            "",
            Duration::from_secs(60),
            stop,
        )
        .await
        .unwrap();
        assert_eq!(replicas.addresses().len(), 3);
        let first = replicas.pick(&[]).unwrap();
        first.eject();
        for _ in 0..10 {
            assert_ne!(replicas.pick(&[]).unwrap().address, first.address);
        }
        let seen: std::collections::BTreeSet<SocketAddr> = (0..10)
            .map(|_| replicas.pick(&[]).unwrap().address)
            .collect();
        assert_eq!(seen.len(), 2, "round robin over the two left");
        // with every replica tried, there is none left to pick
        let all = replicas.addresses();
        assert!(replicas.pick(&all).is_none());
    }

    #[tokio::test]
    async fn a_refused_connection_is_retried_on_another_replica_even_when_unsafe() {
        let (_handle, stop) = crate::shutdown::channel();
        // nothing listens on these ports
        let replicas = Replicas::new(
            "nobody",
            "http://127.0.0.1:9,http://127.0.0.1:11",
            "",
            Duration::from_secs(60),
            stop,
        )
        .await
        .unwrap();
        let attempts = AtomicUsize::new(0);
        let outcome: Result<(), Status> = replicas
            .call(false, |channel| {
                attempts.fetch_add(1, Ordering::Relaxed);
                async move {
                    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
                    client
                        .check(tonic_health::pb::HealthCheckRequest::default())
                        .await
                        .map(|_| ())
                }
            })
            .await;
        let status = outcome.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert_eq!(
            attempts.load(Ordering::Relaxed),
            SAFE_ATTEMPTS,
            "refused every time: never sent, so tried on each replica and once more"
        );
    }
}
