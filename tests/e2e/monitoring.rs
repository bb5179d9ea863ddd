//! What ships for monitoring is checked by Prometheus's own promtool (built from its Go
//! module by scripts/testenv-build): the metrics the process exports pass `promtool check
//! metrics`; the alerts in deploy/prometheus pass `promtool check rules` and their unit
//! tests (`promtool test rules`); every query of the Grafana dashboard parses, and every
//! metric the alerts and the dashboard name is one ecsfleet exports.

use std::collections::BTreeSet;
use std::process::Output;

use crate::support::control_plane;
use crate::support::repo_root;
use ecsfleet::metrics::{AwsOutcome, Metrics};

fn promtool(args: &[&str], dir: &std::path::Path, stdin: Option<&str>) -> Output {
    control_plane::promtool(args, dir, stdin.unwrap_or(""))
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A registry with a sample in every family, as a busy controller has.
fn busy_metrics() -> Metrics {
    let metrics = Metrics::default();
    for outcome in [
        AwsOutcome::Success,
        AwsOutcome::Throttled,
        AwsOutcome::Error,
    ] {
        metrics.count_aws_request("ECS", "DescribeServices", outcome);
    }
    metrics.count_reconcile("DaemonService", "success");
    metrics.count_reconcile("DaemonService", "error");
    metrics.count_drift_repairs("IntegrationRole", 2);
    metrics.observe_reconcile_duration("ScalingGroup", 0.2);
    metrics.set_object_ready("ScalingGroup", "team", "web", false);
    metrics
}

#[test]
fn the_exported_metrics_pass_promtool_check_metrics() {
    let text = busy_metrics().render_classic();
    let output = promtool(&["check", "metrics"], &repo_root(), Some(&text));
    assert_success(&output, &format!("promtool check metrics on\n{text}"));
}

/// The PrometheusRule's `spec` (a plain rule file) written into a fresh folder, with the
/// alerts' unit tests next to it.
fn rules_folder() -> tempfile::TempDir {
    let rule: serde_json::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo_root().join("deploy/prometheus/prometheusrule.yaml"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rule["kind"], "PrometheusRule");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        serde_yaml_ng::to_string(&rule["spec"]).unwrap(),
    )
    .unwrap();
    std::fs::copy(
        repo_root().join("deploy/prometheus/alerts_test.yaml"),
        dir.path().join("alerts_test.yaml"),
    )
    .unwrap();
    dir
}

#[test]
fn the_alerts_are_valid_and_fire_when_their_unit_tests_say() {
    let dir = rules_folder();
    assert_success(
        &promtool(&["check", "rules", "rules.yaml"], dir.path(), None),
        "promtool check rules",
    );
    assert_success(
        &promtool(&["test", "rules", "alerts_test.yaml"], dir.path(), None),
        "promtool test rules",
    );
}

/// Every `expr` of the dashboard, with Grafana's `$__rate_interval` as it substitutes it.
fn dashboard_queries() -> Vec<String> {
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("deploy/grafana/ecsfleet-dashboard.json"))
            .unwrap(),
    )
    .unwrap();
    let queries: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap().clone())
        .map(|target| {
            target["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "5m")
        })
        .collect();
    assert!(queries.len() >= 8, "{queries:?}");
    queries
}

#[test]
fn every_dashboard_query_parses() {
    // promtool parses a rule file's expressions with Prometheus's own PromQL parser.
    let rules = serde_json::json!({"groups": [{
        "name": "dashboard",
        "rules": dashboard_queries().iter().enumerate().map(|(n, expr)| {
            serde_json::json!({"record": format!("dashboard:query{n}"), "expr": expr})
        }).collect::<Vec<_>>(),
    }]});
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dashboard.yaml"),
        serde_yaml_ng::to_string(&rules).unwrap(),
    )
    .unwrap();
    assert_success(
        &promtool(&["check", "rules", "dashboard.yaml"], dir.path(), None),
        "the dashboard's queries",
    );
}

#[test]
fn alerts_and_dashboard_name_only_metrics_ecsfleet_exports() {
    let exported: BTreeSet<String> = busy_metrics()
        .render_classic()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    let alerts =
        std::fs::read_to_string(repo_root().join("deploy/prometheus/prometheusrule.yaml")).unwrap();
    let text = format!("{alerts}\n{}", dashboard_queries().join("\n"));
    let named: BTreeSet<String> = regex::Regex::new(r"\becsfleet_[a-z_]+")
        .unwrap()
        .find_iter(&text)
        .map(|m| m.as_str().to_string())
        .collect();
    assert!(named.len() >= 5, "{named:?}");
    let unknown: Vec<&String> = named.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "not exported: {unknown:?} (exported: {exported:?})"
    );
}
