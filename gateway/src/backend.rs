//! The backends: every replica of each configured gRPC service (the addresses behind its name,
//! re-resolved as pods come and go), shared by every request through the kit's [`Replicas`]; the
//! raw unary call used by transcoding, retried on another replica when a safe request's replica
//! goes away; and the `grpc.health.v1` check used by `/readyz`.

use std::{collections::HashMap, time::Duration};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::uri::PathAndQuery;
use prost_reflect::DescriptorPool;
use serde::Serialize;
use shequ_kit::{client::Replicas, shutdown::Stop};
use tonic::{Status, metadata::MetadataMap, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::codec::RawCodec;

/// How often backend host names are resolved again.
const RESOLVE_EVERY: Duration = Duration::from_secs(5);

/// One backend service.
#[derive(Debug, Clone)]
pub struct Backend {
    /// Full gRPC service name.
    pub service: String,
    /// Where it listens, as configured.
    pub url: String,
    replicas: Replicas,
}

/// Health of one backend as `/readyz` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct BackendHealth {
    /// Full gRPC service name.
    pub service: String,
    /// Backend URL.
    pub url: String,
    /// `SERVING`, `NOT_SERVING`, `SERVICE_UNKNOWN`, `UNKNOWN` or `UNREACHABLE`.
    pub status: String,
    /// Why it is unreachable, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Each replica behind the URL.
    pub replicas: Vec<ReplicaHealth>,
}

/// Health of one replica of a backend.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaHealth {
    /// Its address.
    pub address: String,
    /// As for the backend.
    pub status: String,
    /// Why it is unreachable, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl BackendHealth {
    /// True when the backend can take traffic.
    pub fn is_serving(&self) -> bool {
        self.status == "SERVING"
    }
}

/// The configured backends by full service name.
#[derive(Debug, Clone, Default)]
pub struct Backends {
    by_service: HashMap<String, Backend>,
}

impl Backends {
    /// Resolves the configured keys (full or short service names) against the services of
    /// `pool` and finds the replicas of each (re-resolved until `stop`). Unknown or ambiguous
    /// keys are errors.
    pub async fn connect(
        configured: &std::collections::BTreeMap<String, String>,
        pool: &DescriptorPool,
        stop: Stop,
    ) -> anyhow::Result<Backends> {
        let mut by_service = HashMap::new();
        for (key, url) in configured {
            let service = resolve(key, pool)?;
            let replicas = Replicas::new(&service, url, &service, RESOLVE_EVERY, stop.clone())
                .await
                .with_context(|| format!("backend {key}"))?;
            let backend = Backend {
                service: service.clone(),
                url: url.clone(),
                replicas,
            };
            if by_service.insert(service.clone(), backend).is_some() {
                bail!("backend of {service} configured twice (by full and short name?)");
            }
        }
        Ok(Backends { by_service })
    }

    /// The backend of a service.
    pub fn get(&self, service: &str) -> Option<&Backend> {
        self.by_service.get(service)
    }

    /// Every backend, ordered by service name.
    pub fn all(&self) -> Vec<&Backend> {
        let mut all: Vec<&Backend> = self.by_service.values().collect();
        all.sort_by(|a, b| a.service.cmp(&b.service));
        all
    }

    /// Checks every backend concurrently.
    pub async fn health(&self, timeout: Duration) -> Vec<BackendHealth> {
        futures::future::join_all(self.all().into_iter().map(|b| b.health(timeout))).await
    }
}

/// The full service name a configuration key stands for.
fn resolve(key: &str, pool: &DescriptorPool) -> anyhow::Result<String> {
    let matches: Vec<String> = pool
        .services()
        .filter(|s| {
            s.full_name().eq_ignore_ascii_case(key)
                || short_name(s.package_name()).eq_ignore_ascii_case(key)
        })
        .map(|s| s.full_name().to_owned())
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("backend key {key:?} names no gRPC service in the descriptor set"),
        several => bail!(
            "backend key {key:?} is ambiguous ({}); use the full service name",
            several.join(", ")
        ),
    }
}

/// `shequ.personnel.v1` → `personnel`: the last package component that is not a version.
fn short_name(package: &str) -> &str {
    package
        .rsplit('.')
        .find(|part| {
            !(part.starts_with('v') && part[1..].chars().next().is_some_and(|c| c.is_ascii_digit()))
        })
        .unwrap_or(package)
}

impl Backend {
    /// Calls the backend on its own behalf (the gateway's own calls): `call` gets a channel to
    /// one replica, and is repeated on another when that replica is gone.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, Status>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        self.replicas.call(true, call).await
    }

    /// Calls `path` with an encoded request, returning the encoded response. `timeout` is sent as
    /// `grpc-timeout`. A `safe` request (a read, or a write the service makes idempotent with the
    /// client's key) whose replica went away is sent again to another replica.
    pub async fn unary(
        &self,
        path: PathAndQuery,
        body: Bytes,
        metadata: MetadataMap,
        timeout: Duration,
        safe: bool,
    ) -> Result<Bytes, Status> {
        self.replicas
            .call(safe, |channel| {
                let (path, body, metadata) = (path.clone(), body.clone(), metadata.clone());
                async move {
                    let mut grpc = tonic::client::Grpc::new(channel);
                    grpc.ready().await.map_err(|e| {
                        Status::unavailable(format!("backend {} is not ready: {e}", self.service))
                    })?;
                    let mut request =
                        tonic::Request::from_parts(metadata, tonic::Extensions::default(), body);
                    request.set_timeout(timeout);
                    let response = grpc.unary(request, path, RawCodec).await?;
                    Ok(response.into_inner())
                }
            })
            .await
    }

    /// `grpc.health.v1.Health/Check` of this backend's service on every replica: SERVING when
    /// any replica serves.
    pub async fn health(&self, timeout: Duration) -> BackendHealth {
        let addresses = self.replicas.addresses();
        let checks = addresses.iter().map(|address| {
            let channel = Channel::from_shared(format!("http://{address}"))
                .expect("a socket address makes a valid URI")
                .connect_timeout(timeout)
                .connect_lazy();
            check(channel, self.service.clone(), timeout)
        });
        let results = futures::future::join_all(checks).await;
        let replicas: Vec<ReplicaHealth> = addresses
            .iter()
            .zip(results)
            .map(|(address, (status, error))| ReplicaHealth {
                address: address.to_string(),
                status,
                error,
            })
            .collect();
        let status = if replicas.iter().any(|r| r.status == "SERVING") {
            "SERVING".to_owned()
        } else if replicas.is_empty() {
            "UNREACHABLE".to_owned()
        } else {
            replicas[0].status.clone()
        };
        BackendHealth {
            service: self.service.clone(),
            url: self.url.clone(),
            error: replicas
                .iter()
                .find_map(|r| r.error.clone())
                .filter(|_| status != "SERVING"),
            status,
            replicas,
        }
    }
}

/// One replica's answer to a health check: status name and why it is unreachable.
async fn check(channel: Channel, service: String, timeout: Duration) -> (String, Option<String>) {
    let mut client = HealthClient::new(channel);
    let mut request = tonic::Request::new(HealthCheckRequest { service });
    request.set_timeout(timeout);
    match tokio::time::timeout(timeout, client.check(request)).await {
        Ok(Ok(reply)) => {
            let status = ServingStatus::try_from(reply.into_inner().status)
                .unwrap_or(ServingStatus::Unknown);
            (status.as_str_name().to_owned(), None)
        }
        Ok(Err(status)) if status.code() == tonic::Code::NotFound => {
            ("SERVICE_UNKNOWN".to_owned(), None)
        }
        Ok(Err(status)) => ("UNREACHABLE".to_owned(), Some(status.message().to_owned())),
        Err(_) => (
            "UNREACHABLE".to_owned(),
            Some(format!("no answer within {} ms", timeout.as_millis())),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_the_version() {
        assert_eq!(short_name("shequ.personnel.v1"), "personnel");
        assert_eq!(short_name("shequ.warnings.v2beta1"), "warnings");
        assert_eq!(short_name("library"), "library");
    }

    #[test]
    fn keys_resolve_by_full_or_short_name_and_unknown_keys_are_errors() {
        let pool = DescriptorPool::decode(shequ_proto::FILE_DESCRIPTOR_SET).unwrap();
        assert_eq!(
            resolve("personnel", &pool).unwrap(),
            "shequ.personnel.v1.PersonnelService"
        );
        assert_eq!(
            resolve("shequ.personnel.v1.PersonnelService", &pool).unwrap(),
            "shequ.personnel.v1.PersonnelService"
        );
        assert_eq!(
            resolve("evaluation", &pool).unwrap(),
            "shequ.evaluation.v1.EvaluationService"
        );
        assert!(resolve("library", &pool).is_err());
    }
}
