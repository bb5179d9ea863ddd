//! The scheduling modes of a DaemonService against the emulator's model of cluster auto
//! scaling (tests/emulator/ecsfleet_capacity.py): the default mode per cluster, the
//! refusal of PerInstance where ECS scales the instances, no runaway and no blocked
//! scale-in with Daemon, and Managed Daemons on Managed Instances.

use std::time::Duration;

use crate::support::{Cluster, Emulator, REGION, calls, plain_env, scaled_cluster, sync, writes};
use aws_sdk_ecs::types::{PlacementConstraint, PlacementConstraintType, SchedulingStrategy};
use ecsfleet::Reason;
use ecsfleet::daemon_service::{DaemonService, Scheduling, Shared};
use ecsfleet::runtime::{Directory, Pipeline};
use serde_json::{Value, json};

fn agent(cluster: &str, scheduling: Option<&str>, image: &str) -> DaemonService {
    let scheduling = scheduling
        .map(|s| format!("  scheduling: {s}\n"))
        .unwrap_or_default();
    let mut obj: DaemonService = serde_yaml_ng::from_str(&format!(
        r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {{name: agent, namespace: monitoring, uid: 7c1d-uid, generation: 1}}
spec:
  cluster: {cluster}
{scheduling}  taskDefinition:
    family: agent-{cluster}
    containerDefinitions:
      - {{name: agent, image: "{image}", memory: 128, essential: true}}
"#
    ))
    .expect("valid YAML");
    obj.metadata.generation = Some(1);
    obj
}

async fn pipeline(emulator: &Emulator) -> Pipeline<DaemonService> {
    let env = plain_env(emulator).await;
    let shared = Shared::new(Duration::ZERO, Directory::default(), &env.hosts);
    Pipeline::new(env, shared)
}

/// A cluster of ECS Managed Instances with `hosts` instances.
async fn managed_instances_cluster(emulator: &Emulator, name: &str, hosts: usize) -> Cluster {
    let cluster = Cluster::create(emulator, name).await;
    crate::support::managed_instances(emulator, &cluster, hosts).await;
    cluster
}

/// Runs `count` intervals of cluster auto scaling; returns the group's size after each.
async fn intervals(emulator: &Emulator, cluster: &str, count: usize) -> Vec<i64> {
    let report = emulator
        .control(
            "/_ecsfleet/cluster-auto-scaling",
            Some(json!({"region": REGION, "cluster": cluster, "intervals": count})),
        )
        .await;
    report
        .as_array()
        .expect("one report per interval")
        .iter()
        .map(|interval| interval[0]["desiredCapacity"].as_i64().expect("a size"))
        .collect()
}

async fn active_instances(cluster: &Cluster) -> usize {
    cluster
        .ecs
        .list_container_instances()
        .cluster(&cluster.name)
        .status(aws_sdk_ecs::types::ContainerInstanceStatus::Active)
        .send()
        .await
        .expect("instances listed")
        .container_instance_arns()
        .len()
}

/// Other work on the cluster: a REPLICA service with one task per instance.
async fn web(cluster: &Cluster, count: i32) {
    cluster
        .ecs
        .register_task_definition()
        .family("web")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("web")
                .image("web:1")
                .memory(256)
                .build(),
        )
        .send()
        .await
        .expect("web definition");
    cluster
        .ecs
        .create_service()
        .cluster(&cluster.name)
        .service_name("web")
        .task_definition("web")
        .desired_count(count)
        .placement_constraints(
            PlacementConstraint::builder()
                .r#type(PlacementConstraintType::DistinctInstance)
                .build(),
        )
        .send()
        .await
        .expect("web created");
}

async fn set_count(cluster: &Cluster, service: &str, count: i32) {
    cluster
        .ecs
        .update_service()
        .cluster(&cluster.name)
        .service(service)
        .desired_count(count)
        .send()
        .await
        .expect("count set");
}

fn ready(obj: &DaemonService) -> Option<&str> {
    let status = obj.status.as_ref()?;
    let ready = status
        .common
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")?;
    Some(ready.status.as_str())
}

fn mode(obj: &DaemonService) -> Option<Scheduling> {
    obj.status.as_ref().and_then(|s| s.scheduling)
}

#[tokio::test]
async fn the_default_mode_follows_the_cluster() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;

    // No capacity providers: PerInstance, as before.
    let plain = Cluster::create(&emulator, "plain").await;
    plain.add_instance(&emulator).await;
    let mut obj = agent("plain", None, "agent:1");
    sync(&mut obj, &pipeline).await.unwrap();
    assert_eq!(mode(&obj), Some(Scheduling::PerInstance));
    let service = plain.service("agent").await.expect("service");
    assert_eq!(
        service.scheduling_strategy(),
        Some(&SchedulingStrategy::Replica)
    );

    // Hosts from a group ECS scales: Daemon, with the EC2 launch type (the cluster's
    // default strategy would otherwise apply, and DAEMON cannot use one).
    let scaled = scaled_cluster(&emulator, "scaled", 2, 6, 80).await;
    let mut obj = agent("scaled", None, "agent:1");
    assert_eq!(
        sync(&mut obj, &pipeline).await.unwrap(),
        ["RegisterTaskDefinition", "CreateService"]
    );
    assert_eq!(mode(&obj), Some(Scheduling::Daemon));
    let service = scaled.service("agent").await.expect("service");
    assert_eq!(
        service.scheduling_strategy(),
        Some(&SchedulingStrategy::Daemon)
    );
    assert_eq!(service.launch_type().map(|l| l.as_str()), Some("EC2"));
    assert_eq!(service.running_count(), 2, "one task on each host");
    assert!(sync(&mut obj, &pipeline).await.unwrap().is_empty());
    assert_eq!(ready(&obj), Some("True"));

    // Only Managed Instances: a Managed Daemon on them.
    managed_instances_cluster(&emulator, "managed", 2).await;
    let mut obj = agent("managed", None, "agent:1");
    assert_eq!(
        sync(&mut obj, &pipeline).await.unwrap(),
        ["RegisterDaemonTaskDefinition", "CreateDaemon"]
    );
    assert_eq!(mode(&obj), Some(Scheduling::ManagedDaemon));
    assert!(sync(&mut obj, &pipeline).await.unwrap().is_empty());
    let status = obj.status.as_ref().unwrap();
    assert_eq!(status.running_count, Some(2));
    assert_eq!(status.rollout_state.as_deref(), Some("SUCCESSFUL"));
    assert_eq!(ready(&obj), Some("True"));
}

#[tokio::test]
async fn per_instance_is_refused_where_ecs_scales_the_hosts() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let cluster = scaled_cluster(&emulator, "scaled", 2, 6, 80).await;
    let mut obj = agent("scaled", Some("PerInstance"), "agent:1");
    let error = sync(&mut obj, &pipeline).await.unwrap_err();
    assert_eq!(error.reason(), Reason::InvalidSpec, "{error}");
    assert!(
        error
            .to_string()
            .starts_with("spec.scheduling: PerInstance would put a REPLICA task"),
        "{error}"
    );
    assert!(
        writes(&pipeline.env).is_empty(),
        "{:?}",
        writes(&pipeline.env)
    );
    assert!(cluster.service("agent").await.is_none());
}

#[tokio::test]
async fn a_daemon_keeps_a_target_80_group_at_its_size_and_lets_it_scale_in() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let cluster = scaled_cluster(&emulator, "fleet", 3, 10, 80).await;
    web(&cluster, 2).await;
    let mut obj = agent("fleet", None, "agent:1");
    sync(&mut obj, &pipeline).await.unwrap();
    assert_eq!(mode(&obj), Some(Scheduling::Daemon));

    // M = 2 hosts with web's tasks: ceil(2 / 0.8) = 3 hosts, interval after interval.
    for round in 0..12 {
        let sizes = intervals(&emulator, "fleet", 1).await;
        sync(&mut obj, &pipeline).await.unwrap();
        assert_eq!(sizes, [3], "round {round}: the group must keep its size");
        let service = cluster.service("agent").await.unwrap();
        assert_eq!(
            service.running_count(),
            3,
            "round {round}: one task on each host"
        );
    }

    // Other work leaves: the group scales in to its minimum, and the daemon still runs
    // on every remaining host.
    set_count(&cluster, "web", 0).await;
    let sizes = intervals(&emulator, "fleet", 4).await;
    assert_eq!(sizes.last(), Some(&1), "{sizes:?}");
    sync(&mut obj, &pipeline).await.unwrap();
    assert_eq!(active_instances(&cluster).await, 1);
    let service = cluster.service("agent").await.unwrap();
    assert_eq!((service.desired_count(), service.running_count()), (1, 1));
    assert_eq!(obj.status.as_ref().unwrap().running_count, Some(1));

    // Managed draining: each retired host's daemon task stopped before the host did.
    let timeline = emulator
        .control(
            &format!("/_ecsfleet/timeline?region={REGION}&cluster=fleet"),
            None,
        )
        .await;
    let events = timeline.as_array().unwrap();
    let terminated: Vec<(usize, &Value)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["event"] == "InstanceTerminated")
        .collect();
    assert_eq!(terminated.len(), 2, "{timeline}");
    for (at, event) in terminated {
        let host = &event["containerInstance"];
        assert!(
            events[..at].iter().any(|e| e["event"] == "TaskStopped"
                && e["service"] == "agent"
                && &e["containerInstance"] == host),
            "the daemon task on {host} must stop before the host: {timeline}"
        );
    }
}

/// The model reproduces what the Daemon mode avoids: a REPLICA task on every host,
/// its count following the hosts, drives a target-80 group to its maximum.
#[tokio::test]
async fn a_task_per_host_that_follows_the_hosts_runs_the_group_away() {
    let emulator = Emulator::start();
    let cluster = scaled_cluster(&emulator, "runaway", 3, 10, 80).await;
    web(&cluster, 2).await;
    cluster
        .ecs
        .create_service()
        .cluster("runaway")
        .service_name("per-host")
        .task_definition("web")
        .desired_count(3)
        .placement_constraints(
            PlacementConstraint::builder()
                .r#type(PlacementConstraintType::DistinctInstance)
                .build(),
        )
        .send()
        .await
        .expect("per-host created");
    let mut sizes = Vec::new();
    for _ in 0..12 {
        sizes.extend(intervals(&emulator, "runaway", 1).await);
        let hosts = active_instances(&cluster).await as i32;
        set_count(&cluster, "per-host", hosts).await;
    }
    assert_eq!(sizes.last(), Some(&10), "grows to its maximum: {sizes:?}");
}

#[tokio::test]
async fn a_managed_daemon_rolls_out_a_new_definition_and_is_deleted() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let cluster = managed_instances_cluster(&emulator, "mi", 3).await;
    let mut obj = agent("mi", Some("ManagedDaemon"), "agent:1");
    assert_eq!(
        sync(&mut obj, &pipeline).await.unwrap(),
        ["RegisterDaemonTaskDefinition", "CreateDaemon"]
    );
    let daemon = obj
        .status
        .as_ref()
        .unwrap()
        .daemon_arn
        .clone()
        .expect("daemon ARN");
    assert!(daemon.ends_with("/mi/agent"), "{daemon}");
    assert!(sync(&mut obj, &pipeline).await.unwrap().is_empty());
    assert_eq!(obj.status.as_ref().unwrap().running_count, Some(3));

    obj.spec = agent("mi", Some("ManagedDaemon"), "agent:2").spec;
    obj.metadata.generation = Some(2);
    assert_eq!(
        sync(&mut obj, &pipeline).await.unwrap(),
        ["RegisterDaemonTaskDefinition", "UpdateDaemon"]
    );
    assert!(sync(&mut obj, &pipeline).await.unwrap().is_empty());
    let status = obj.status.as_ref().unwrap();
    assert!(
        status
            .task_definition_arn
            .as_deref()
            .is_some_and(|a| a.ends_with("agent-mi:2")),
        "{status:?}"
    );
    // Revisions never change: a steady resync does not read the family again.
    let reads = || calls(&pipeline.env, "DescribeDaemonTaskDefinition");
    let before = reads();
    assert!(sync(&mut obj, &pipeline).await.unwrap().is_empty());
    assert_eq!(reads(), before, "a steady resync read the family");
    let described = cluster
        .ecs
        .describe_daemon()
        .daemon_arn(&daemon)
        .send()
        .await
        .unwrap();
    assert!(described.daemon().is_some());

    let deleted = pipeline.delete(&obj).await.unwrap();
    assert_eq!(deleted[0].action, "DeleteDaemon");
    let gone = cluster
        .ecs
        .describe_daemon()
        .daemon_arn(&daemon)
        .send()
        .await;
    assert!(gone.is_err(), "the daemon is deleted");
    assert!(
        pipeline.delete(&obj).await.unwrap().is_empty(),
        "idempotent"
    );
}

#[tokio::test]
async fn a_daemon_made_by_hand_is_refused_unless_adopted() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let cluster = managed_instances_cluster(&emulator, "hand", 1).await;
    let definition = cluster
        .ecs
        .register_daemon_task_definition()
        .family("by-hand")
        .container_definitions(
            aws_sdk_ecs::types::DaemonContainerDefinition::builder()
                .name("agent")
                .image("agent:0")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let cluster_arn = cluster
        .ecs
        .describe_clusters()
        .clusters("hand")
        .send()
        .await
        .unwrap()
        .clusters()[0]
        .cluster_arn()
        .unwrap()
        .to_string();
    let provider = cluster
        .ecs
        .describe_capacity_providers()
        .capacity_providers("hand-mi")
        .send()
        .await
        .unwrap()
        .capacity_providers()[0]
        .capacity_provider_arn()
        .unwrap()
        .to_string();
    let made = cluster
        .ecs
        .create_daemon()
        .daemon_name("agent")
        .cluster_arn(cluster_arn)
        .daemon_task_definition_arn(definition.daemon_task_definition_arn().unwrap())
        .capacity_provider_arns(provider)
        .send()
        .await
        .unwrap();

    let mut obj = agent("hand", Some("ManagedDaemon"), "agent:1");
    let error = sync(&mut obj, &pipeline).await.unwrap_err();
    assert_eq!(error.reason(), Reason::AlreadyExists, "{error}");
    assert!(
        writes(&pipeline.env).is_empty(),
        "{:?}",
        writes(&pipeline.env)
    );

    obj.spec.common.adopt_existing = true;
    assert_eq!(
        sync(&mut obj, &pipeline).await.unwrap(),
        [
            "AdoptDaemon",
            "RegisterDaemonTaskDefinition",
            "UpdateDaemon"
        ]
    );
    assert_eq!(
        obj.status.as_ref().unwrap().daemon_arn.as_deref(),
        made.daemon_arn()
    );
    assert!(sync(&mut obj, &pipeline).await.unwrap().is_empty());
    assert_eq!(
        pipeline.delete(&obj).await.unwrap()[0].action,
        "DeleteDaemon"
    );
}

/// `scheduling: Daemon` needs neither the default nor the guard: the cluster's capacity
/// providers are not read at all.
#[tokio::test]
async fn an_explicit_daemon_reads_no_capacity_providers() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    scaled_cluster(&emulator, "explicit", 2, 4, 80).await;
    let mut obj = agent("explicit", Some("Daemon"), "agent:1");
    sync(&mut obj, &pipeline).await.unwrap();
    assert!(sync(&mut obj, &pipeline).await.unwrap().is_empty());
    let calls = pipeline.env.metrics().successful_aws_requests();
    assert!(!calls.contains_key("DescribeClusters"), "{calls:?}");
    assert!(
        !calls.contains_key("DescribeCapacityProviders"),
        "{calls:?}"
    );

    // Unset, the same cluster is read once per sync here (no reuse: freshness zero).
    let mut unset = agent("explicit", None, "agent:1");
    unset.metadata.name = Some("other".into());
    unset.spec.service_name = Some("other".into());
    sync(&mut unset, &pipeline).await.unwrap();
    let calls = pipeline.env.metrics().successful_aws_requests();
    assert_eq!(calls.get("DescribeClusters"), Some(&1), "{calls:?}");
}

/// A Managed Daemon rolls a new definition out as the spec says (drain percentage, bake
/// time, alarms), not with ECS's defaults: the deployment ECS starts carries them.
#[tokio::test]
async fn a_managed_daemon_rolls_out_with_the_specs_deployment_configuration() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let cluster = managed_instances_cluster(&emulator, "paced", 2).await;
    let mut obj = agent("paced", Some("ManagedDaemon"), "agent:1");
    obj.spec.deployment = serde_json::from_value(serde_json::json!({
        "drainPercent": 25, "bakeTimeInMinutes": 10,
        "alarms": {"alarmNames": ["agent-errors"]}}))
    .unwrap();
    sync(&mut obj, &pipeline).await.unwrap();
    let daemon = obj.status.as_ref().unwrap().daemon_arn.clone().unwrap();
    let described = cluster
        .ecs
        .describe_daemon()
        .daemon_arn(&daemon)
        .send()
        .await
        .unwrap();
    let deployment = described
        .daemon()
        .and_then(|d| d.deployment_arn())
        .unwrap()
        .to_string();
    let deployments = cluster
        .ecs
        .describe_daemon_deployments()
        .daemon_deployment_arns(deployment)
        .send()
        .await
        .unwrap();
    let configuration = deployments.daemon_deployments()[0]
        .deployment_configuration()
        .expect("the deployment's configuration");
    assert_eq!(configuration.drain_percent(), Some(25.0));
    assert_eq!(configuration.bake_time_in_minutes(), 10);
    let alarms = configuration.alarms().unwrap();
    assert_eq!(alarms.alarm_names(), ["agent-errors"]);
    assert!(alarms.enable());

    // What a Managed Daemon cannot take is refused with its field, before any write.
    let mut breaker = agent("paced", Some("ManagedDaemon"), "agent:1");
    breaker.metadata.name = Some("breaker".into());
    breaker.spec.deployment = serde_json::from_value(serde_json::json!({
        "deploymentCircuitBreaker": {"enable": true}}))
    .unwrap();
    let error = sync(&mut breaker, &pipeline).await.unwrap_err().to_string();
    assert!(
        error.starts_with(
            "spec.deployment.deploymentCircuitBreaker: does not apply to scheduling ManagedDaemon"
        ),
        "{error}"
    );
}
