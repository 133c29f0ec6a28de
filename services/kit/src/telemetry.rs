//! Structured logs with `tracing`, OpenTelemetry export over OTLP when an endpoint is configured,
//! and W3C trace context (`traceparent`) carried across gRPC calls in both directions.
//!
//! Without a configured propagator (tests, or before [`init`]) injection and extraction are
//! no-ops, which keeps tests quiet and independent.

use std::collections::HashMap;

use opentelemetry::{
    global,
    propagation::{Extractor, Injector},
    trace::TracerProvider as _,
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{LogFormat, TelemetryConfig};

/// Keeps the exporter alive; call [`Telemetry::shutdown`] at exit to flush spans.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    /// Flushes the log writer's queue when dropped.
    _log_writer: tracing_appender::non_blocking::WorkerGuard,
}

impl Telemetry {
    /// Flushes and stops span export, then the log writer. Call from a multi-threaded runtime.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("telemetry shutdown: {error}");
        }
    }
}

/// Installs the global subscriber for a process named `service`. Call once, from `main`. Logs go
/// to standard error, so standard output stays for what a command prints on purpose.
pub fn init(service: &'static str, config: &TelemetryConfig) -> anyhow::Result<Telemetry> {
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build());
    if let Some(endpoint) = &config.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    global::set_tracer_provider(provider.clone());
    global::set_text_map_propagator(TraceContextPropagator::new());

    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log_filter));
    // Spans become OpenTelemetry spans only when they are exported: building them costs time on
    // every call. Without export, trace context still passes through the gateway untouched.
    let otel = config
        .otlp_endpoint
        .is_some()
        .then(|| tracing_opentelemetry::layer().with_tracer(provider.tracer(service)));
    // Lines are written by a background thread so that a request never waits on stderr; the
    // queue blocks rather than drops when it is full, so no log line is lost.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stderr());
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    match config.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(writer),
            )
            .try_init()?,
        // Colours only for a person at a terminal: a log file or a collector gets plain text.
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(writer),
            )
            .try_init()?,
    }
    Ok(Telemetry {
        provider,
        _log_writer: guard,
    })
}

/// The span of one incoming gRPC call, joined to the caller's trace when the request carries
/// `traceparent`. Named after the RPC path, which keeps span names low-cardinality.
pub fn server_span(request: &http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!(
        "grpc",
        rpc = %request.uri().path(),
        caller = tracing::field::Empty,
    );
    let parent =
        global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(request.headers())));
    // Only a propagator that found a context changes the parent; the error case (no OpenTelemetry
    // layer installed) is harmless.
    let _ = span.set_parent(parent);
    span
}

/// Writes the current span's context into outgoing gRPC metadata (`traceparent`).
pub fn inject_trace_context(metadata: &mut tonic::metadata::MetadataMap) {
    let context = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    global::get_text_map_propagator(|p| p.inject_context(&context, &mut MapInjector(&mut carrier)));
    for (key, value) in carrier {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            metadata.insert(key, value);
        }
    }
}

/// A client interceptor that propagates the trace context of the calling span.
pub fn propagate_trace(
    mut request: tonic::Request<()>,
) -> Result<tonic::Request<()>, tonic::Status> {
    inject_trace_context(request.metadata_mut());
    Ok(request)
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct MapInjector<'a>(&'a mut HashMap<String, String>);

impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt;
    use opentelemetry_sdk::trace::InMemorySpanExporter;

    #[test]
    fn a_trace_started_by_a_client_continues_on_the_server() {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));

        tracing::subscriber::with_default(subscriber, || {
            let client = tracing::info_span!("client call");
            let _entered = client.enter();
            let client_trace = client.context().span().span_context().trace_id();

            let mut metadata = tonic::metadata::MetadataMap::new();
            inject_trace_context(&mut metadata);
            let traceparent = metadata.get("traceparent").expect("traceparent injected");

            let request = http::Request::builder()
                .uri("/shequ.personnel.v1.PersonnelService/GetSecretary")
                .header("traceparent", traceparent.to_str().unwrap())
                .body(())
                .unwrap();
            let server = server_span(&request);
            assert_eq!(
                server.context().span().span_context().trace_id(),
                client_trace
            );
        });
    }
}
