//! The HTTP side: one handler that answers the operational endpoints, looks every other request up
//! in the route table and transcodes it, stamps the request id, records metrics and writes the
//! access log. CORS wraps it when an allow-list is configured.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::State,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header, request::Parts,
};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use opentelemetry::propagation::Extractor;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    backend::Backends,
    config::{CorsConfig, GatewayConfig},
    deadline::{TIMEOUT_HEADER, effective, parse_timeout},
    errors::{GatewayError, InputError},
    metrics::Metrics,
    routes::{BodyRule, Lookup, Route, RouteTable},
    template::Binding,
    transcode::{BodyFormat, api_key_parameter, encode_request, encode_response, http_body},
};

/// Request id header, read from the client and echoed on every response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The client's own request id, echoed and forwarded beside ours.
pub const CLIENT_REQUEST_ID_HEADER: &str = "x-client-request-id";

/// The service that verifies API keys.
const IDENTITY_SERVICE: &str = "shequ.identity.v1.ApiKeyService";

/// Header (and metadata key) that makes a retried write take effect once.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Header (and metadata key) with which a sensing terminal's readings present the terminal's
/// own key to the warnings service (checked there; the gateway only passes it on).
pub const TERMINAL_KEY_HEADER: &str = "x-terminal-key";

const DOCS_HTML: &str = include_str!("docs.html");

/// The longest value of one path variable: every resource name of the contracts is far shorter
/// (`secretaries/{26-character id}/careerEvents/{id}`), and a longer one only travels to a service
/// to be refused there.
pub const MAX_PATH_VARIABLE_BYTES: usize = 256;
/// The longest query string (field masks and page tokens included).
pub const MAX_QUERY_BYTES: usize = 8 * 1024;

/// Refuses path variables and query strings longer than any valid request needs, before they are
/// sent anywhere.
fn check_lengths(
    route: &Route,
    bindings: &[Binding],
    query: Option<&str>,
) -> Result<(), InputError> {
    for binding in bindings {
        if binding.value.len() > MAX_PATH_VARIABLE_BYTES {
            let field = route.template.variables[binding.variable]
                .field_path
                .join(".");
            return Err(InputError::field(
                "PATH_VARIABLE_TOO_LONG",
                field,
                format!(
                    "{} bytes; a path variable has at most {MAX_PATH_VARIABLE_BYTES}",
                    binding.value.len()
                ),
            ));
        }
    }
    match query {
        Some(query) if query.len() > MAX_QUERY_BYTES => Err(InputError::general(
            "QUERY_TOO_LONG",
            format!(
                "the query string has {} bytes; at most {MAX_QUERY_BYTES} are accepted",
                query.len()
            ),
        )),
        _ => Ok(()),
    }
}

/// Labels of requests that are not API operations.
struct OpsLabels {
    healthz: Arc<str>,
    readyz: Arc<str>,
    metrics: Arc<str>,
    openapi: Arc<str>,
    docs: Arc<str>,
    unmatched: Arc<str>,
}

/// Everything a request needs, built once at start-up.
pub struct Gateway {
    auth: Arc<crate::auth::Authenticator>,
    routes: RouteTable,
    backends: Backends,
    openapi: Bytes,
    metrics: Metrics,
    default_deadline: Duration,
    max_body_bytes: usize,
    /// `/metrics` on the public listener (false when an admin listener serves it).
    public_metrics: bool,
    labels: OpsLabels,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("backends", &self.backends)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the route table, the OpenAPI document and the backend channels from an encoded
    /// descriptor set (which must keep the `google.api.http` options).
    pub async fn new(
        config: &GatewayConfig,
        descriptor_set: &[u8],
        stop: shequ_kit::shutdown::Stop,
    ) -> anyhow::Result<Gateway> {
        Self::with_clock(
            config,
            descriptor_set,
            stop,
            Arc::new(shequ_kit::clock::SystemClock),
        )
        .await
    }

    /// As [`Gateway::new`], reading time (lockout, rate limits, the API-key cache) from `clock`.
    pub async fn with_clock(
        config: &GatewayConfig,
        descriptor_set: &[u8],
        stop: shequ_kit::shutdown::Stop,
        clock: Arc<dyn shequ_kit::clock::Clock>,
    ) -> anyhow::Result<Gateway> {
        let pool = prost_reflect::DescriptorPool::decode(descriptor_set)?;
        let routes = RouteTable::from_pool(&pool)?;
        let backends = Backends::connect(&config.backends, &pool, stop).await?;
        let identity = backends.get(IDENTITY_SERVICE).cloned();
        let auth = Arc::new(crate::auth::Authenticator::with_clock(
            &config.auth,
            identity,
            clock,
        )?);
        for route in routes.routes() {
            if backends.get(route.service()).is_none() {
                tracing::warn!(service = route.service(), route = %route.label, "no backend configured; the route answers 503");
            }
        }
        let openapi = Bytes::from(serde_json::to_vec(&crate::openapi::document(
            &pool, &routes,
        ))?);
        let label = |s: &str| Arc::<str>::from(s);
        Ok(Gateway {
            auth,
            routes,
            backends,
            openapi,
            metrics: Metrics::default(),
            default_deadline: config.http.default_deadline(),
            max_body_bytes: config.http.max_body_bytes,
            public_metrics: config.http.admin_listen.is_none(),
            labels: OpsLabels {
                healthz: label("GET /healthz"),
                readyz: label("GET /readyz"),
                metrics: label("GET /metrics"),
                openapi: label("GET /openapi.json"),
                docs: label("GET /docs"),
                unmatched: label("unmatched"),
            },
        })
    }

    /// The route table.
    pub fn routes(&self) -> &RouteTable {
        &self.routes
    }

    /// The OpenAPI document, serialized.
    pub fn openapi_json(&self) -> &Bytes {
        &self.openapi
    }

    /// The backends.
    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    /// The client authenticator.
    pub fn authenticator(&self) -> &crate::auth::Authenticator {
        &self.auth
    }

    /// The client authenticator, shared with the revocation follower.
    pub fn auth_handle(&self) -> Arc<crate::auth::Authenticator> {
        Arc::clone(&self.auth)
    }
}

/// The HTTP application: the gateway handler, wrapped in CORS when origins are allowed.
pub fn router(gateway: Arc<Gateway>, cors: &CorsConfig) -> anyhow::Result<Router> {
    let router = Router::new().fallback(handle).with_state(gateway);
    if cors.allowed_origins.is_empty() {
        return Ok(router);
    }
    let origin = if cors.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let origins = cors
            .allowed_origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o)
                    .map_err(|_| anyhow::anyhow!("CORS origin {o:?} is not a valid header value"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(origins)
    };
    let layer = CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(REQUEST_ID_HEADER),
            HeaderName::from_static(TIMEOUT_HEADER),
            HeaderName::from_static(IDEMPOTENCY_KEY_HEADER),
            HeaderName::from_static(TERMINAL_KEY_HEADER),
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("tracestate"),
        ])
        .expose_headers([
            HeaderName::from_static(REQUEST_ID_HEADER),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600));
    Ok(router.layer(layer))
}

/// The operators' listener: metrics and health, nothing of the API.
pub fn admin_router(gateway: Arc<Gateway>) -> Router {
    Router::new().fallback(handle_admin).with_state(gateway)
}

async fn handle_admin(State(gateway): State<Arc<Gateway>>, request: Request<Body>) -> Response {
    if request.method() != Method::GET {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    match request.uri().path() {
        "/metrics" => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            gateway.metrics.render(),
        )
            .into_response(),
        "/healthz" => json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec()),
        "/readyz" => readiness(&gateway).await,
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn handle(State(gateway): State<Arc<Gateway>>, request: Request<Body>) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // Our own id, always: a client's id is kept beside it (`x-client-request-id`), never instead,
    // so no caller can make its audit entries pass for another's.
    let request_id = ulid::Ulid::new().to_string();
    let client_request_id = client_request_id(request.headers());
    let span = server_span(&method, &request_id, request.headers());

    let (label, mut response) = dispatch(&gateway, request, &request_id, started)
        .instrument(span.clone())
        .await;
    span.record("route", &*label);

    let status = response.status().as_u16();
    let latency = started.elapsed();
    gateway.metrics.record(&method, &label, status, latency);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    if let Some(value) = client_request_id
        .as_deref()
        .and_then(|id| HeaderValue::from_str(id).ok())
    {
        response
            .headers_mut()
            .insert(CLIENT_REQUEST_ID_HEADER, value);
    }
    // The access log, outside the span (its fields are all here): never the raw path or query
    // (they may carry personal data), never bodies.
    tracing::info!(
        target: "shequ_gateway::access",
        method = %method,
        route = %label,
        status,
        latency_us = latency.as_micros() as u64,
        request_id = %request_id,
        client_request_id = client_request_id.as_deref().unwrap_or(""),
        "request"
    );
    response
}

/// The span of one request, joined to the caller's trace when it sent `traceparent`; the backend
/// call made inside it carries the context on.
fn server_span(method: &Method, request_id: &str, headers: &HeaderMap) -> tracing::Span {
    let span = tracing::info_span!("http", otel.kind = "server", method = %method, route = tracing::field::Empty, request_id = %request_id);
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    // Fails only when no OpenTelemetry layer is installed, where there is nothing to join.
    let _ = span.set_parent(parent);
    span
}

/// The client's own request id (its `x-request-id`), if it sent a sane one.
fn client_request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
}

async fn dispatch(
    gateway: &Gateway,
    request: Request<Body>,
    request_id: &str,
    started: Instant,
) -> (Arc<str>, Response) {
    let path = request.uri().path();
    let ops = match path {
        "/healthz" => Some(&gateway.labels.healthz),
        "/readyz" => Some(&gateway.labels.readyz),
        "/metrics" if gateway.public_metrics => Some(&gateway.labels.metrics),
        "/openapi.json" => Some(&gateway.labels.openapi),
        "/docs" | "/docs/" => Some(&gateway.labels.docs),
        _ => None,
    };
    if let Some(label) = ops {
        let label = label.clone();
        if request.method() != Method::GET {
            let problem = GatewayError::MethodNotAllowed {
                allowed: vec![Method::GET],
            }
            .problem();
            return (label, problem.into_response_with_id(request_id));
        }
        let response = match path {
            "/healthz" => json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec()),
            "/readyz" => readiness(gateway).await,
            "/metrics" => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                )],
                gateway.metrics.render(),
            )
                .into_response(),
            "/openapi.json" => json_response(StatusCode::OK, gateway.openapi.clone()),
            _ => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )],
                DOCS_HTML,
            )
                .into_response(),
        };
        return (label, response);
    }

    let route = match gateway.routes.lookup(request.method(), path) {
        Lookup::Found(route, bindings) => (route, bindings),
        Lookup::MethodNotAllowed(allowed) => {
            return (
                gateway.labels.unmatched.clone(),
                GatewayError::MethodNotAllowed { allowed }
                    .problem()
                    .into_response_with_id(request_id),
            );
        }
        Lookup::NotFound => {
            return (
                gateway.labels.unmatched.clone(),
                GatewayError::RouteNotFound
                    .problem()
                    .into_response_with_id(request_id),
            );
        }
    };
    let (route, bindings) = route;
    let response = match transcode(gateway, route, &bindings, request, request_id, started).await {
        Ok(response) => response,
        Err(error) => {
            let problem = error.problem();
            if problem.status().is_server_error() {
                tracing::warn!(route = %route.label, status = problem.status, code = problem.code, reason = %problem.reason, "backend call failed");
            }
            problem.into_response_with_id(request_id)
        }
    };
    (route.label.clone(), response)
}

/// The address a request comes from: the connection's peer, unless the peer is a trusted proxy,
/// then the right-most address of `X-Forwarded-For` that is not itself a trusted proxy (the one
/// the nearest trusted proxy saw; anything to its left was written by the client and proves
/// nothing).
fn client_address(
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    forwarded
        .iter()
        .rev()
        .filter_map(|a| a.parse::<std::net::IpAddr>().ok())
        .find(|a| !trusted.contains(a))
        .unwrap_or(peer)
}

fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = (status, body.into()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn readiness(gateway: &Gateway) -> Response {
    let backends = gateway.backends.health(Duration::from_secs(2)).await;
    let ready = backends.iter().all(|b| b.is_serving());
    let body = serde_json::json!({ "status": if ready { "ready" } else { "not_ready" }, "backends": backends });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, serde_json::to_vec(&body).unwrap_or_default())
}

/// One transcoded call: deadline, body, request message, metadata, backend call, response JSON.
async fn transcode(
    gateway: &Gateway,
    route: &Route,
    bindings: &[Binding],
    request: Request<Body>,
    request_id: &str,
    started: Instant,
) -> Result<Response, GatewayError> {
    let (parts, body) = request.into_parts();
    let mut body_stream = Some(body);
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
    let client = client_address(peer, &parts.headers, gateway.auth.trusted_proxies());
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // A GeoReport-style route may carry the API key as a parameter, possibly in the body, which
    // is then read before the caller is known (bounded by max_body_bytes like any body).
    let mut early_body = None;
    let mut parameter_credential = None;
    if route.takes_api_key_parameter() && authorization.is_none() && !route.is_public() {
        let body = read_body(
            &parts,
            body_stream.take().unwrap_or_default(),
            gateway.max_body_bytes,
        )
        .await?;
        let format = body_format(&parts.headers, route)?;
        parameter_credential =
            api_key_parameter(parts.uri.query(), &body, format).map(|key| format!("ApiKey {key}"));
        early_body = Some(body);
    }
    let authorization = authorization.or(parameter_credential.as_deref());
    // A public route needs no account: whatever credential came is ignored, and the call is
    // made as the gateway itself (which the service grants exactly these operations).
    let caller_token = if route.is_public() {
        gateway.auth.own_token()
    } else {
        let caller = gateway
            .auth
            .authenticate(authorization, client)
            .await
            .map_err(GatewayError::Auth)?;
        gateway.auth.internal_token(&caller)
    };
    check_lengths(route, bindings, parts.uri.query()).map_err(GatewayError::BadInput)?;
    let requested = match parts.headers.get(TIMEOUT_HEADER) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| InputError::field("TIMEOUT_INVALID", TIMEOUT_HEADER, "not ASCII"))
                .and_then(|v| {
                    parse_timeout(v)
                        .map_err(|why| InputError::field("TIMEOUT_INVALID", TIMEOUT_HEADER, why))
                })
                .map_err(GatewayError::BadInput)?,
        ),
    };
    let deadline = effective(gateway.default_deadline, requested);

    let body = match early_body {
        Some(body) => body,
        None => {
            read_body(
                &parts,
                body_stream.take().unwrap_or_default(),
                gateway.max_body_bytes,
            )
            .await?
        }
    };
    let mut format = BodyFormat::Json;
    if !body.is_empty() {
        if matches!(route.body, BodyRule::None) {
            return Err(GatewayError::BadInput(InputError::general(
                "BODY_NOT_ALLOWED",
                format!(
                    "{} takes no request body; send the fields as query parameters",
                    route.rpc.name()
                ),
            )));
        }
        format = body_format(&parts.headers, route)?;
    }
    let message = encode_request(route, bindings, parts.uri.query(), &body, format)
        .map_err(GatewayError::BadInput)?;

    let backend = gateway.backends.get(route.service()).ok_or_else(|| {
        GatewayError::BackendNotConfigured {
            service: route.service().to_owned(),
        }
    })?;
    let metadata = metadata(&parts, request_id, &caller_token);
    let remaining = deadline.saturating_sub(started.elapsed());
    if remaining.is_zero() {
        return Err(GatewayError::DeadlineExceeded { deadline });
    }
    // A read, or a write the service makes idempotent with the client's key, may be sent to
    // another replica when the first goes away mid-call.
    let safe = parts.method == Method::GET || parts.headers.contains_key(IDEMPOTENCY_KEY_HEADER);
    let call = backend.unary(
        route.grpc_path.clone(),
        Bytes::from(message),
        metadata,
        remaining,
        safe,
    );
    let reply = match tokio::time::timeout(remaining, call).await {
        Ok(Ok(reply)) => reply,
        // The channel's own timer reports an expired grpc-timeout as CANCELLED.
        Ok(Err(status))
            if status.code() == tonic::Code::Cancelled && started.elapsed() >= deadline =>
        {
            return Err(GatewayError::DeadlineExceeded { deadline });
        }
        Ok(Err(status)) => return Err(GatewayError::Backend(status)),
        Err(_) => return Err(GatewayError::DeadlineExceeded { deadline }),
    };
    if route.returns_http_body() {
        let (content_type, data) =
            http_body(route, &reply).map_err(GatewayError::BadBackendResponse)?;
        let mut response = (StatusCode::OK, data).into_response();
        if let Ok(value) = HeaderValue::from_str(&content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        return Ok(response);
    }
    let json = encode_response(route, &reply).map_err(GatewayError::BadBackendResponse)?;
    Ok(json_response(StatusCode::OK, json))
}

async fn read_body(parts: &Parts, body: Body, limit: usize) -> Result<Bytes, GatewayError> {
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(GatewayError::PayloadTooLarge { limit });
    }
    if declared == Some(0) {
        return Ok(Bytes::new());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(GatewayError::PayloadTooLarge { limit })
        }
        Err(error) => Err(GatewayError::BadInput(InputError::general(
            "BODY_UNREADABLE",
            format!("the request body could not be read: {error}"),
        ))),
    }
}

/// How a body is encoded: JSON, or a form on a GeoReport-style route whose whole request is the
/// body (see `routes::API_KEY_PARAMETER`); anything else is refused.
fn body_format(headers: &HeaderMap, route: &Route) -> Result<BodyFormat, GatewayError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if form && route.takes_api_key_parameter() && matches!(route.body, BodyRule::Whole) {
        return Ok(BodyFormat::Form);
    }
    check_content_type(headers)?;
    Ok(BodyFormat::Json)
}

fn check_content_type(headers: &HeaderMap) -> Result<(), GatewayError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("");
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(GatewayError::UnsupportedMediaType {
            content_type: text.chars().take(100).collect(),
        })
    }
}

/// gRPC metadata of the backend call: the gateway's token for the authenticated caller, the
/// request id, the idempotency key, a terminal key (for the warnings service's readings) and the
/// trace context. Nothing else from the client is forwarded; in particular its own credential
/// never reaches a service.
fn metadata(parts: &Parts, request_id: &str, caller_token: &str) -> MetadataMap {
    let mut metadata = MetadataMap::with_capacity(4);
    if let Ok(value) = MetadataValue::try_from(format!("Bearer {caller_token}")) {
        metadata.insert("authorization", value);
    }
    if let Ok(value) = MetadataValue::try_from(request_id) {
        metadata.insert(REQUEST_ID_HEADER, value);
    }
    if let Some(value) =
        client_request_id(&parts.headers).and_then(|id| MetadataValue::try_from(id).ok())
    {
        metadata.insert(CLIENT_REQUEST_ID_HEADER, value);
    }
    // The services make a write take effect once per key (and check the key themselves).
    if let Some(value) = parts.headers.get(IDEMPOTENCY_KEY_HEADER)
        && let Ok(value) = MetadataValue::try_from(value.as_bytes())
    {
        metadata.insert(IDEMPOTENCY_KEY_HEADER, value);
    }
    if let Some(value) = parts.headers.get(TERMINAL_KEY_HEADER)
        && let Ok(value) = MetadataValue::try_from(value.as_bytes())
    {
        metadata.insert(TERMINAL_KEY_HEADER, value);
    }
    shequ_kit::telemetry::inject_trace_context(&mut metadata);
    // Without an OpenTelemetry pipeline nothing was injected; keep the caller's trace intact.
    if !metadata.contains_key("traceparent") {
        for name in ["traceparent", "tracestate"] {
            if let Some(value) = parts.headers.get(name)
                && let (Ok(key), Ok(value)) = (
                    MetadataKey::from_bytes(name.as_bytes()),
                    MetadataValue::try_from(value.as_bytes()),
                )
            {
                metadata.insert(key, value);
            }
        }
    }
    metadata
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_client_request_id_is_kept_and_anything_else_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("abc-123_x.y:z"));
        assert_eq!(
            client_request_id(&headers).as_deref(),
            Some("abc-123_x.y:z")
        );
        headers.insert(REQUEST_ID_HEADER, HeaderValue::from_static("has space"));
        assert_eq!(client_request_id(&headers), None);
        assert_eq!(client_request_id(&HeaderMap::new()), None);
    }

    #[test]
    fn a_forwarded_address_counts_only_from_a_trusted_proxy() {
        let proxy: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 203.0.113.9, 10.0.0.3"),
        );
        let trusted = ["10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap()];
        assert_eq!(
            client_address(proxy, &headers, &trusted),
            "203.0.113.9".parse::<std::net::IpAddr>().unwrap(),
            "the right-most untrusted hop; the client-written 1.2.3.4 is ignored"
        );
        let stranger: std::net::IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(
            client_address(stranger, &headers, &trusted),
            stranger,
            "from anyone else the header is ignored"
        );
        assert_eq!(client_address(proxy, &HeaderMap::new(), &trusted), proxy);
    }

    #[test]
    fn json_content_types_are_accepted_and_others_refused() {
        let mut headers = HeaderMap::new();
        assert!(check_content_type(&headers).is_ok(), "absent is fine");
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(check_content_type(&headers).is_ok());
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/merge-patch+json"),
        );
        assert!(check_content_type(&headers).is_ok());
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(matches!(
            check_content_type(&headers),
            Err(GatewayError::UnsupportedMediaType { .. })
        ));
    }

    #[test]
    fn the_backend_call_continues_the_callers_trace_in_a_new_span() {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt as _;

        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let request = Request::builder()
            .header("traceparent", incoming)
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let outgoing = tracing::subscriber::with_default(subscriber, || {
            let span = server_span(&Method::GET, "rid", &parts.headers);
            let _entered = span.enter();
            metadata(&parts, "rid", "token")
                .get("traceparent")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        });
        let fields: Vec<&str> = outgoing.split('-').collect();
        assert_eq!(
            fields[1], "4bf92f3577b34da6a3ce929d0e0e4736",
            "same trace: {outgoing}"
        );
        assert_ne!(
            fields[2], "00f067aa0ba902b7",
            "the gateway's own span is the parent now: {outgoing}"
        );
    }

    #[test]
    fn only_the_caller_token_request_id_idempotency_key_terminal_key_and_trace_context_are_forwarded()
     {
        let request = Request::builder()
            .header("authorization", "Bearer t0k")
            .header("idempotency-key", "retry-7")
            .header("x-terminal-key", "shqt_01abc_key")
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .header("cookie", "session=secret")
            .header("x-forwarded-for", "10.0.0.1")
            .header("x-request-id", "client-7")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let metadata = metadata(&parts, "rid-1", "internal");
        assert_eq!(
            metadata.get("authorization").unwrap(),
            "Bearer internal",
            "the client's own credential is replaced by the gateway's caller token"
        );
        assert_eq!(metadata.get(REQUEST_ID_HEADER).unwrap(), "rid-1");
        assert_eq!(
            metadata.get(CLIENT_REQUEST_ID_HEADER).unwrap(),
            "client-7",
            "the client's id travels beside ours, not instead of it"
        );
        assert_eq!(metadata.get(IDEMPOTENCY_KEY_HEADER).unwrap(), "retry-7");
        assert_eq!(metadata.get(TERMINAL_KEY_HEADER).unwrap(), "shqt_01abc_key");
        assert!(metadata.get("traceparent").is_some());
        assert!(metadata.get("cookie").is_none());
        assert!(metadata.get("x-forwarded-for").is_none());
    }
}
