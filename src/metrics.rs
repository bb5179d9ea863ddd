//! The process's metrics: one `prometheus-client` registry, served as OpenMetrics text.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

mod process;

/// The content type of [`Metrics::render`]'s text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of [`Metrics::render_classic`]'s text.
pub const CLASSIC_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AwsRequest {
    service: String,
    operation: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabel {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reconcile {
    kind: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObjectLabels {
    kind: String,
    namespace: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventResult {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: &'static str,
}

type DurationFamily = Family<KindLabel, Histogram, fn() -> Histogram>;

/// Reconcile durations from 5 ms to about 41 s: a resync that reads a few resources takes
/// tens of milliseconds; a rollout's apply can take seconds.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

fn object_labels(kind: &str, namespace: &str, name: &str) -> ObjectLabels {
    ObjectLabels {
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    }
}

/// An AWS request's outcome, as the `outcome` label has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsOutcome {
    Success,
    /// Refused by AWS's request rate limits (the SDK retries these with backoff).
    Throttled,
    Error,
}

impl AwsOutcome {
    fn label(self) -> &'static str {
        match self {
            AwsOutcome::Success => "success",
            AwsOutcome::Throttled => "throttled",
            AwsOutcome::Error => "error",
        }
    }
}

struct Inner {
    registry: Registry,
    aws_requests: Family<AwsRequest, Counter>,
    reconciles: Family<Reconcile, Counter>,
    drift_repairs: Family<KindLabel, Counter>,
    reconcile_duration: DurationFamily,
    object_ready: Family<ObjectLabels, Gauge>,
    events: Family<EventResult, Counter>,
    budget_waits: Family<ServiceLabel, Counter>,
    budget_wait_seconds: Family<ServiceLabel, Counter<f64, AtomicU64>>,
    budget_rate: Family<ServiceLabel, Gauge<f64, AtomicU64>>,
    watched_objects: Family<KindLabel, Gauge>,
    shard_labels: Family<KindLabel, Counter>,
}

/// A cheap, cloneable handle on the process's metrics.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let aws_requests = Family::<AwsRequest, Counter>::default();
        registry.register(
            "ecsfleet_aws_requests",
            "AWS API request attempts, by service, operation and outcome (success, throttled, error); retries count once each",
            aws_requests.clone(),
        );
        let reconciles = Family::<Reconcile, Counter>::default();
        registry.register(
            "ecsfleet_reconcile",
            "Reconciles finished, by kind and result (success or error)",
            reconciles.clone(),
        );
        let drift_repairs = Family::<KindLabel, Counter>::default();
        registry.register(
            "ecsfleet_drift_repairs",
            "Changes made in AWS by someone else that ecsfleet set back, by kind",
            drift_repairs.clone(),
        );
        let reconcile_duration: DurationFamily =
            Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register(
            "ecsfleet_reconcile_duration_seconds",
            "Time one reconcile took, AWS calls and status write included, by kind",
            reconcile_duration.clone(),
        );
        let object_ready = Family::<ObjectLabels, Gauge>::default();
        registry.register(
            "ecsfleet_object_ready",
            "1 while the object's Ready condition is True, 0 otherwise; one series per object this replica reconciles",
            object_ready.clone(),
        );
        let events = Family::<EventResult, Counter>::default();
        registry.register(
            "ecsfleet_events",
            "AWS events read from the SQS queues, by result: triggered (objects told to look again), ignored (not ours, or ecsfleet's own write), malformed; with --shards also passed-on (one write to another replica's inbox: an event, or a ScalingGroup's host change) and received (one entry read from this replica's inbox)",
            events.clone(),
        );
        let budget_waits = Family::<ServiceLabel, Counter>::default();
        registry.register(
            "ecsfleet_aws_budget_waits",
            "AWS requests that waited for the call budget (--aws-rate/--aws-burst), by service",
            budget_waits.clone(),
        );
        let budget_wait_seconds = Family::<ServiceLabel, Counter<f64, AtomicU64>>::default();
        registry.register(
            "ecsfleet_aws_budget_wait_seconds",
            "Time AWS requests waited for the call budget, by service",
            budget_wait_seconds.clone(),
        );
        let budget_rate = Family::<ServiceLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "ecsfleet_aws_budget_rate",
            "Requests a second the call budget allows now (lowered by throttling answers), by service, for the last bucket used",
            budget_rate.clone(),
        );
        let watched_objects = Family::<KindLabel, Gauge>::default();
        registry.register(
            "ecsfleet_watched_objects",
            "Objects this replica watches and keeps in memory, by kind: all of them, or with --shards those of the shards it holds",
            watched_objects.clone(),
        );
        let shard_labels = Family::<KindLabel, Counter>::default();
        registry.register(
            "ecsfleet_shard_labels",
            "Objects labelled with their shard by this replica (new objects, and objects whose shard changed), by kind",
            shard_labels.clone(),
        );
        registry.register(
            "ecsfleet_build",
            "The running ecsfleet's version",
            Info::new(Build {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        registry.register_collector(Box::new(process::ProcessCollector));
        Metrics(Arc::new(Inner {
            registry,
            aws_requests,
            reconciles,
            drift_repairs,
            reconcile_duration,
            object_ready,
            events,
            budget_waits,
            budget_wait_seconds,
            budget_rate,
            watched_objects,
            shard_labels,
        }))
    }
}

impl Metrics {
    /// One request through the call budget: the rate its bucket allows now, and how long it
    /// waits.
    pub fn observe_aws_budget(&self, service: &str, rate: f64, wait_seconds: f64) {
        let label = ServiceLabel {
            service: service.to_string(),
        };
        self.0.budget_rate.get_or_create(&label).set(rate);
        if wait_seconds > 0.0 {
            self.0.budget_waits.get_or_create(&label).inc();
            self.0
                .budget_wait_seconds
                .get_or_create(&label)
                .inc_by(wait_seconds);
        }
    }

    pub fn count_aws_request(&self, service: &str, operation: &str, outcome: AwsOutcome) {
        self.0
            .aws_requests
            .get_or_create(&AwsRequest {
                service: service.to_string(),
                operation: operation.to_string(),
                outcome: outcome.label(),
            })
            .inc();
    }

    pub fn count_reconcile(&self, kind: &str, result: &str) {
        self.0
            .reconciles
            .get_or_create(&Reconcile {
                kind: kind.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    pub fn count_drift_repairs(&self, kind: &str, repairs: u64) {
        if repairs > 0 {
            self.0
                .drift_repairs
                .get_or_create(&KindLabel {
                    kind: kind.to_string(),
                })
                .inc_by(repairs);
        }
    }

    pub fn observe_reconcile_duration(&self, kind: &str, seconds: f64) {
        self.0
            .reconcile_duration
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .observe(seconds);
    }

    /// Records whether an object is Ready after its reconcile.
    pub fn set_object_ready(&self, kind: &str, namespace: &str, name: &str, ready: bool) {
        self.0
            .object_ready
            .get_or_create(&object_labels(kind, namespace, name))
            .set(i64::from(ready));
    }

    pub fn set_watched_objects(&self, kind: &str, count: usize) {
        self.0
            .watched_objects
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub fn count_shard_label(&self, kind: &str) {
        self.0
            .shard_labels
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .inc();
    }

    /// Counts one AWS event read from a queue.
    pub fn count_event(&self, result: &'static str) {
        self.0.events.get_or_create(&EventResult { result }).inc();
    }

    /// Drops a deleted object's series.
    pub fn forget_object(&self, kind: &str, namespace: &str, name: &str) {
        self.0
            .object_ready
            .remove(&object_labels(kind, namespace, name));
    }

    /// AWS request attempts so far, by operation name (e.g. `UpdateService`), all outcomes.
    pub fn aws_requests(&self) -> BTreeMap<String, u64> {
        self.aws_requests_where(|_| true)
    }

    /// AWS requests that succeeded, by operation name.
    pub fn successful_aws_requests(&self) -> BTreeMap<String, u64> {
        self.aws_requests_where(|outcome| outcome == "success")
    }

    /// AWS requests refused by rate limits, by operation name.
    pub fn throttled_aws_requests(&self) -> BTreeMap<String, u64> {
        self.aws_requests_where(|outcome| outcome == "throttled")
    }

    /// Read back from the exposition itself (a `Family` cannot be iterated), so the
    /// figures tests and benchmarks use are exactly those Prometheus scrapes.
    fn aws_requests_where(&self, outcome_matches: impl Fn(&str) -> bool) -> BTreeMap<String, u64> {
        let mut by_operation = BTreeMap::new();
        let text = self.render();
        for sample in text
            .lines()
            .filter_map(|line| line.strip_prefix("ecsfleet_aws_requests_total{"))
        {
            let Some((labels, value)) = sample.rsplit_once("} ") else {
                continue;
            };
            let label = |name: &str| {
                labels
                    .split(',')
                    .find_map(|pair| pair.strip_prefix(name)?.strip_prefix("=\""))
                    .map(|value| value.trim_end_matches('"').to_string())
                    .unwrap_or_default()
            };
            if outcome_matches(&label("outcome")) {
                *by_operation.entry(label("operation")).or_default() +=
                    value.parse::<u64>().unwrap_or(0);
            }
        }
        by_operation
    }

    /// Everything, in the OpenMetrics text format ([`OPENMETRICS`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.0.registry).expect("writing to a String cannot fail");
        out
    }

    /// Everything, in Prometheus's classic text format ([`CLASSIC_TEXT`]), for scrapers
    /// and tools that do not ask for OpenMetrics (`curl`, `promtool check metrics`).
    pub fn render_classic(&self) -> String {
        openmetrics_to_classic(&self.render())
    }
}

/// The classic text format of an OpenMetrics exposition, as `client_golang` writes it: a
/// counter family is named after its `_total` samples, an info family after its `_info`
/// sample and typed gauge; `# UNIT`, `# EOF` and `_created` samples have no place in it.
fn openmetrics_to_classic(text: &str) -> String {
    let mut kinds = BTreeMap::new();
    for line in text.lines() {
        if let Some((name, kind)) = line
            .strip_prefix("# TYPE ")
            .and_then(|rest| rest.split_once(' '))
        {
            kinds.insert(name, kind);
        }
    }
    let renamed = |name: &str| match kinds.get(name) {
        Some(&"counter") => format!("{name}_total"),
        Some(&"info") => format!("{name}_info"),
        _ => name.to_string(),
    };
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str(&format!("# HELP {} {help}\n", renamed(name)));
        } else if let Some((name, kind)) = line
            .strip_prefix("# TYPE ")
            .and_then(|rest| rest.split_once(' '))
        {
            let kind = if kind == "info" { "gauge" } else { kind };
            out.push_str(&format!("# TYPE {} {kind}\n", renamed(name)));
        } else if line.starts_with("# UNIT ")
            || line == "# EOF"
            || kinds.iter().any(|(name, kind)| {
                *kind == "counter" && line.starts_with(&format!("{name}_created"))
            })
        {
            continue;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_help_and_escaped_labels() {
        let metrics = Metrics::default();
        metrics.count_aws_request("ECS", "UpdateService", AwsOutcome::Success);
        metrics.count_aws_request("ECS", "UpdateService", AwsOutcome::Success);
        metrics.count_reconcile("DaemonService", "say \"hi\"");
        let text = metrics.render();
        assert!(text.contains(
            "ecsfleet_aws_requests_total{service=\"ECS\",operation=\"UpdateService\",outcome=\"success\"} 2"
        ), "{text}");
        assert!(
            text.contains("# HELP ecsfleet_aws_requests AWS API"),
            "{text}"
        );
        assert!(text.contains("result=\"say \\\"hi\\\"\""), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        let classic = metrics.render_classic();
        assert!(
            classic.contains("# HELP ecsfleet_aws_requests_total AWS API")
                && classic.contains("# TYPE ecsfleet_aws_requests_total counter")
                && classic.contains("# TYPE ecsfleet_build_info gauge")
                && !classic.contains("# EOF"),
            "{classic}"
        );
        metrics.count_aws_request("ECS", "UpdateService", AwsOutcome::Error);
        metrics.count_aws_request("IAM", "GetRole", AwsOutcome::Throttled);
        assert_eq!(metrics.aws_requests().get("UpdateService"), Some(&3));
        assert_eq!(
            metrics.successful_aws_requests().get("UpdateService"),
            Some(&2)
        );
        assert_eq!(
            metrics.throttled_aws_requests(),
            BTreeMap::from([("GetRole".to_string(), 1)])
        );
    }

    #[test]
    fn reconcile_durations_are_a_histogram_and_the_build_is_named() {
        let metrics = Metrics::default();
        metrics.observe_reconcile_duration("IntegrationRole", 0.03);
        metrics.set_object_ready("IntegrationRole", "team", "vendor", false);
        metrics.set_object_ready("IntegrationRole", "team", "vendor", true);
        metrics.set_object_ready("DaemonService", "team", "gone", true);
        metrics.forget_object("DaemonService", "team", "gone");
        let text = metrics.render();
        assert!(
            text.contains(
                "ecsfleet_object_ready{kind=\"IntegrationRole\",namespace=\"team\",name=\"vendor\"} 1"
            ) && !text.contains("name=\"gone\""),
            "{text}"
        );
        assert!(
            text.contains("# TYPE ecsfleet_reconcile_duration_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains(
                "ecsfleet_reconcile_duration_seconds_bucket{le=\"0.04\",kind=\"IntegrationRole\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "ecsfleet_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            )),
            "{text}"
        );
    }
}
