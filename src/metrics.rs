//! The process's metrics, one registry, rendered in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Registry {
    counters: BTreeMap<&'static str, BTreeMap<Labels, u64>>,
    /// Sum and count per label set: enough for an average and a rate.
    summaries: BTreeMap<&'static str, BTreeMap<Labels, (f64, u64)>>,
}

/// A cheap, cloneable handle on the process's metrics.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Mutex<Registry>>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    fn add(&self, name: &'static str, labels: Labels, by: u64) {
        let mut registry = self.0.lock().expect("metrics lock");
        *registry
            .counters
            .entry(name)
            .or_default()
            .entry(labels)
            .or_default() += by;
    }

    pub fn count_aws_request(&self, service: &str, operation: &str, outcome: &'static str) {
        self.add(
            "ecsfleet_aws_requests_total",
            vec![
                ("service", service.to_string()),
                ("operation", operation.to_string()),
                ("outcome", outcome.to_string()),
            ],
            1,
        );
    }

    pub fn count_reconcile(&self, kind: &str, result: &str) {
        self.add(
            "ecsfleet_reconcile_total",
            vec![("kind", kind.to_string()), ("result", result.to_string())],
            1,
        );
    }

    pub fn count_drift_repairs(&self, kind: &str, repairs: u64) {
        if repairs > 0 {
            self.add(
                "ecsfleet_drift_repairs_total",
                vec![("kind", kind.to_string())],
                repairs,
            );
        }
    }

    pub fn observe_reconcile_duration(&self, kind: &str, seconds: f64) {
        let mut registry = self.0.lock().expect("metrics lock");
        let entry = registry
            .summaries
            .entry("ecsfleet_reconcile_duration_seconds")
            .or_default()
            .entry(vec![("kind", kind.to_string())])
            .or_default();
        entry.0 += seconds;
        entry.1 += 1;
    }

    /// AWS request attempts so far, by operation name (e.g. `UpdateService`), all outcomes.
    pub fn aws_requests(&self) -> BTreeMap<String, u64> {
        self.aws_requests_where(|_| true)
    }

    /// AWS requests that succeeded, by operation name.
    pub fn successful_aws_requests(&self) -> BTreeMap<String, u64> {
        self.aws_requests_where(|outcome| outcome == "success")
    }

    fn aws_requests_where(&self, outcome_matches: impl Fn(&str) -> bool) -> BTreeMap<String, u64> {
        let label = |labels: &Labels, wanted: &str| {
            labels
                .iter()
                .find(|(name, _)| *name == wanted)
                .map(|(_, value)| value.clone())
                .unwrap_or_default()
        };
        let registry = self.0.lock().expect("metrics lock");
        let mut by_operation = BTreeMap::new();
        for (labels, count) in registry
            .counters
            .get("ecsfleet_aws_requests_total")
            .into_iter()
            .flatten()
            .filter(|(labels, _)| outcome_matches(&label(labels, "outcome")))
        {
            *by_operation.entry(label(labels, "operation")).or_default() += count;
        }
        by_operation
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let registry = self.0.lock().expect("metrics lock");
        let mut out = String::new();
        for (name, series) in &registry.counters {
            let _ = writeln!(out, "# TYPE {name} counter");
            for (labels, value) in series {
                let _ = writeln!(out, "{name}{} {value}", render_labels(labels));
            }
        }
        for (name, series) in &registry.summaries {
            let _ = writeln!(out, "# TYPE {name} summary");
            for (labels, (sum, count)) in series {
                let labels = render_labels(labels);
                let _ = writeln!(out, "{name}_sum{labels} {sum}");
                let _ = writeln!(out, "{name}_count{labels} {count}");
            }
        }
        out
    }
}

fn render_labels(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(name, value)| {
            let escaped = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{name}=\"{escaped}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_escaped_labels() {
        let metrics = Metrics::default();
        metrics.count_aws_request("ECS", "UpdateService", "success");
        metrics.count_aws_request("ECS", "UpdateService", "success");
        metrics.count_reconcile("DaemonService", "say \"hi\"");
        let text = metrics.render();
        assert!(text.contains(
            "ecsfleet_aws_requests_total{service=\"ECS\",operation=\"UpdateService\",outcome=\"success\"} 2"
        ), "{text}");
        assert!(text.contains("result=\"say \\\"hi\\\"\""), "{text}");
        metrics.count_aws_request("ECS", "UpdateService", "error");
        assert_eq!(metrics.aws_requests().get("UpdateService"), Some(&3));
        assert_eq!(
            metrics.successful_aws_requests().get("UpdateService"),
            Some(&2)
        );
    }
}
