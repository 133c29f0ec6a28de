//! The backends: one lazily connected tonic `Channel` per configured gRPC service, shared by every
//! request (a channel multiplexes calls over one HTTP/2 connection and reconnects by itself), the
//! raw unary call used by transcoding, and the `grpc.health.v1` check used by `/readyz`.

use std::{collections::HashMap, time::Duration};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::uri::PathAndQuery;
use prost_reflect::DescriptorPool;
use serde::Serialize;
use tonic::{
    Status,
    metadata::MetadataMap,
    transport::{Channel, Endpoint},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::codec::RawCodec;

/// One backend service.
#[derive(Debug, Clone)]
pub struct Backend {
    /// Full gRPC service name.
    pub service: String,
    /// Where it listens.
    pub url: String,
    channel: Channel,
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
    /// `pool` and creates a lazy channel for each. Unknown or ambiguous keys are errors.
    pub fn connect(
        configured: &std::collections::BTreeMap<String, String>,
        pool: &DescriptorPool,
    ) -> anyhow::Result<Backends> {
        let mut by_service = HashMap::new();
        for (key, url) in configured {
            let service = resolve(key, pool)?;
            let endpoint = Endpoint::from_shared(url.clone())
                .with_context(|| format!("backend URL {url:?} for {key}"))?
                .connect_timeout(Duration::from_secs(2))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_while_idle(true);
            let backend = Backend {
                service: service.clone(),
                url: url.clone(),
                channel: endpoint.connect_lazy(),
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
    /// Calls `path` with an encoded request, returning the encoded response. `timeout` is sent as
    /// The pooled channel, for calls the gateway makes on its own behalf.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// `grpc-timeout` and also bounds the call locally.
    pub async fn unary(
        &self,
        path: PathAndQuery,
        body: Bytes,
        metadata: MetadataMap,
        timeout: Duration,
    ) -> Result<Bytes, Status> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready().await.map_err(|e| {
            Status::unavailable(format!("backend {} is not ready: {e}", self.service))
        })?;
        let mut request = tonic::Request::from_parts(metadata, tonic::Extensions::default(), body);
        request.set_timeout(timeout);
        let response = grpc.unary(request, path, RawCodec).await?;
        Ok(response.into_inner())
    }

    /// `grpc.health.v1.Health/Check` for this backend's service.
    pub async fn health(&self, timeout: Duration) -> BackendHealth {
        let mut client = HealthClient::new(self.channel.clone());
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: self.service.clone(),
        });
        request.set_timeout(timeout);
        let (status, error) = match tokio::time::timeout(timeout, client.check(request)).await {
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
        };
        BackendHealth {
            service: self.service.clone(),
            url: self.url.clone(),
            status,
            error,
        }
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
        assert!(resolve("evaluation", &pool).is_err());
    }
}
