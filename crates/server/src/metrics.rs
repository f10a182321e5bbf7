//! Counters for `GET /metrics`, in the Prometheus text format, written by hand.
//!
//! * `leadscore_events_ingested_total`: messages newly stored by ingestion.
//! * `leadscore_events_duplicate_total`: messages acknowledged but already stored.
//! * `leadscore_group_commits_total`: transactions of the ingestion endpoints' group
//!   committer (each one fsync); their messages over commits is the group size the
//!   load reached.
//! * `leadscore_rescored_total`: contacts rescored after their history changed
//!   (ingestion, imports); rescorings over messages says how many events one rescoring
//!   covered.
//! * `leadscore_http_requests_total{route,status}`: requests by route pattern (never
//!   the raw path, so ids do not blow up the label set) and status.
//! * `leadscore_http_request_duration_seconds{route}`: a latency histogram.
//!
//! Per process: several servers behind a load balancer are summed by Prometheus.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Upper bounds of the latency buckets, in seconds.
const BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// The counters of one process.
#[derive(Debug, Default)]
pub struct Metrics {
    events_ingested: AtomicU64,
    events_duplicate: AtomicU64,
    group_commits: AtomicU64,
    rescored: AtomicU64,
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    durations: Mutex<BTreeMap<String, Histogram>>,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Count per bucket (not cumulative; made cumulative when rendered).
    buckets: [u64; BOUNDS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// Count an ingestion: `inserted` new messages, `duplicates` already stored.
    pub fn ingested(&self, inserted: u64, duplicates: u64) {
        self.events_ingested.fetch_add(inserted, Ordering::Relaxed);
        self.events_duplicate
            .fetch_add(duplicates, Ordering::Relaxed);
    }

    /// Count one group commit of the ingestion endpoints (not an import's append).
    pub fn group_committed(&self) {
        self.group_commits.fetch_add(1, Ordering::Relaxed);
    }

    /// Count `contacts` rescored in the background after their history changed.
    pub fn rescored(&self, contacts: u64) {
        self.rescored.fetch_add(contacts, Ordering::Relaxed);
    }

    /// Count a finished request.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        {
            let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            *requests.entry((route.to_owned(), status)).or_default() += 1;
        }
        let mut durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        let histogram = durations.entry(route.to_owned()).or_default();
        if let Some(i) = BOUNDS.iter().position(|&bound| seconds <= bound) {
            histogram.buckets[i] += 1;
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP leadscore_events_ingested_total Messages newly stored by ingestion.\n\
             # TYPE leadscore_events_ingested_total counter\n\
             leadscore_events_ingested_total {}",
            self.events_ingested.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP leadscore_events_duplicate_total Messages acknowledged whose messageId was already stored.\n\
             # TYPE leadscore_events_duplicate_total counter\n\
             leadscore_events_duplicate_total {}",
            self.events_duplicate.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP leadscore_group_commits_total Ingestion transactions (one fsync each).\n\
             # TYPE leadscore_group_commits_total counter\n\
             leadscore_group_commits_total {}\n\
             # HELP leadscore_rescored_total Contacts rescored after their history changed.\n\
             # TYPE leadscore_rescored_total counter\n\
             leadscore_rescored_total {}",
            self.group_commits.load(Ordering::Relaxed),
            self.rescored.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP leadscore_http_requests_total HTTP requests by route and status.\n\
             # TYPE leadscore_http_requests_total counter\n",
        );
        {
            let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
            for ((route, status), count) in requests.iter() {
                let _ = writeln!(
                    out,
                    "leadscore_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
                    escape(route)
                );
            }
        }
        out.push_str(
            "# HELP leadscore_http_request_duration_seconds HTTP request latency by route.\n\
             # TYPE leadscore_http_request_duration_seconds histogram\n",
        );
        let durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        for (route, histogram) in durations.iter() {
            let route = escape(route);
            let mut cumulative = 0;
            for (bound, count) in BOUNDS.iter().zip(histogram.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "leadscore_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "leadscore_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n\
                 leadscore_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n\
                 leadscore_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                histogram.count, histogram.sum, histogram.count
            );
        }
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: time and count every request by its route pattern.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let start = Instant::now();
    let response = next.run(request).await;
    state.metrics.request(
        &route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.ingested(3, 1);
        metrics.group_committed();
        metrics.request("/v1/track", 200, 0.0007);
        metrics.request("/v1/track", 200, 0.003);
        let text = metrics.render();
        assert!(text.contains("leadscore_events_ingested_total 3\n"));
        assert!(text.contains("leadscore_events_duplicate_total 1\n"));
        assert!(text.contains("leadscore_group_commits_total 1\n"), "{text}");
        assert!(text.contains("leadscore_rescored_total 0\n"), "{text}");
        assert!(
            text.contains("leadscore_http_requests_total{route=\"/v1/track\",status=\"200\"} 2")
        );
        assert!(text.contains(
            "leadscore_http_request_duration_seconds_bucket{route=\"/v1/track\",le=\"0.001\"} 1"
        ));
        assert!(text.contains(
            "leadscore_http_request_duration_seconds_bucket{route=\"/v1/track\",le=\"0.005\"} 2"
        ));
        assert!(
            text.contains("leadscore_http_request_duration_seconds_count{route=\"/v1/track\"} 2")
        );
    }
}
