//! Prometheus text-format metrics: request count and latency histogram per (method, route
//! template, status). The route label is always a template or a fixed name, never the raw path,
//! so the number of series stays bounded whatever clients send.

use std::{
    collections::HashMap,
    fmt::Write as _,
    sync::{Arc, Mutex},
    time::Duration,
};

use http::Method;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    method: Method,
    route: Arc<str>,
    status: u16,
}

#[derive(Debug, Default, Clone)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// The gateway's request metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<HashMap<Key, Series>>,
}

impl Metrics {
    /// Records one finished request.
    pub fn record(&self, method: &Method, route: &Arc<str>, status: u16, latency: Duration) {
        // Non-standard methods are folded together so they cannot create series at will.
        let method = if is_standard(method) {
            method.clone()
        } else {
            Method::from_bytes(b"OTHER").unwrap_or(Method::GET)
        };
        let seconds = latency.as_secs_f64();
        let key = Key {
            method,
            route: route.clone(),
            status,
        };
        let mut series = match self.series.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let entry = series.entry(key).or_default();
        entry.count += 1;
        entry.sum += seconds;
        for (bucket, bound) in entry.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut snapshot: Vec<(Key, Series)> = {
            let series = match self.series.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            series.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        snapshot.sort_by(|a, b| {
            (&*a.0.route, a.0.method.as_str(), a.0.status).cmp(&(
                &*b.0.route,
                b.0.method.as_str(),
                b.0.status,
            ))
        });
        let mut out = String::new();
        out.push_str("# HELP shequ_gateway_http_requests_total HTTP requests handled, by method, route template and status.\n");
        out.push_str("# TYPE shequ_gateway_http_requests_total counter\n");
        for (key, series) in &snapshot {
            let _ = writeln!(
                out,
                "shequ_gateway_http_requests_total{{{}}} {}",
                labels(key),
                series.count
            );
        }
        out.push_str("# HELP shequ_gateway_http_request_duration_seconds Time from request received to response headers, by method, route template and status.\n");
        out.push_str("# TYPE shequ_gateway_http_request_duration_seconds histogram\n");
        for (key, series) in &snapshot {
            let labels = labels(key);
            for (bound, count) in BUCKETS.iter().zip(series.buckets) {
                let _ = writeln!(
                    out,
                    "shequ_gateway_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "shequ_gateway_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                series.count
            );
            let _ = writeln!(
                out,
                "shequ_gateway_http_request_duration_seconds_sum{{{labels}}} {}",
                series.sum
            );
            let _ = writeln!(
                out,
                "shequ_gateway_http_request_duration_seconds_count{{{labels}}} {}",
                series.count
            );
        }
        out
    }
}

fn is_standard(method: &Method) -> bool {
    [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ]
    .contains(method)
}

fn labels(key: &Key) -> String {
    format!(
        "method=\"{}\",route=\"{}\",status=\"{}\"",
        key.method,
        escape(&key.route),
        key.status
    )
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_per_route_template_with_a_cumulative_histogram() {
        let metrics = Metrics::default();
        let route: Arc<str> = Arc::from("GET /v1/{name=secretaries/*}");
        metrics.record(&Method::GET, &route, 200, Duration::from_millis(3));
        metrics.record(&Method::GET, &route, 200, Duration::from_millis(30));
        let text = metrics.render();
        let labels = r#"method="GET",route="GET /v1/{name=secretaries/*}",status="200""#;
        assert!(
            text.contains(&format!("shequ_gateway_http_requests_total{{{labels}}} 2")),
            "{text}"
        );
        assert!(
            text.contains(&format!("_bucket{{{labels},le=\"0.005\"}} 1")),
            "{text}"
        );
        assert!(
            text.contains(&format!("_bucket{{{labels},le=\"0.05\"}} 2")),
            "{text}"
        );
        assert!(
            text.contains(&format!("_bucket{{{labels},le=\"+Inf\"}} 2")),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped_and_odd_methods_folded() {
        let metrics = Metrics::default();
        let route: Arc<str> = Arc::from("a\"b\\c");
        metrics.record(
            &Method::from_bytes(b"BREW").unwrap(),
            &route,
            404,
            Duration::ZERO,
        );
        let text = metrics.render();
        assert!(
            text.contains(r#"method="OTHER",route="a\"b\\c",status="404""#),
            "{text}"
        );
    }
}
