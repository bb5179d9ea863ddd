//! Table-driven tests of the pure plan: every branch, no mocks.

use std::sync::Arc;

use serde_json::json;

use super::*;
use std::collections::BTreeMap;

use crate::daemon_service::desired::*;
use crate::daemon_service::ecs::{ContainerInstance, ObservedTaskDefinition};
use crate::daemon_service::filter::InstanceFacts;
use crate::daemon_service::*;
use crate::daemon_service::{DaemonServiceSpec, DaemonServiceStatus, TaskDefinitionSpec};
use crate::runtime::Change as _;

fn spec() -> DaemonServiceSpec {
    serde_json::from_value(json!({
        "cluster": "prod",
        "taskDefinition": {
            "family": "datadog-agent",
            "containerDefinitions": [{"name": "agent", "image": "datadog/agent:7", "memory": 256}]
        }
    }))
    .unwrap()
}

fn object(spec: DaemonServiceSpec) -> DaemonService {
    let mut obj = DaemonService::new("agent", spec);
    obj.metadata.namespace = Some("monitoring".into());
    obj.metadata.uid = Some("uid-1".into());
    obj.metadata.generation = Some(1);
    obj
}

fn desired(spec: DaemonServiceSpec) -> Desired {
    Desired::from_spec(&object(spec)).unwrap()
}

/// `spec()` with `extra` merged in at the top.
fn desired_from(extra: serde_json::Value) -> Desired {
    let mut value = serde_json::to_value(spec()).unwrap();
    for (key, v) in extra.as_object().unwrap() {
        value[key] = v.clone();
    }
    desired(serde_json::from_value(value).unwrap())
}

fn instance(id: &str, status: &str, os: &str) -> ContainerInstance {
    ContainerInstance {
        arn: format!("arn:aws:ecs:eu-west-1:123456789012:container-instance/prod/{id}"),
        status: status.into(),
        facts: InstanceFacts {
            ec2_instance_id: Some(id.into()),
            agent_connected: true,
            attributes: BTreeMap::from([("ecs.os-type".into(), Some(os.into()))]),
            ..InstanceFacts::default()
        },
    }
}

fn instances(list: Vec<ContainerInstance>) -> Arc<Vec<ContainerInstance>> {
    Arc::new(list)
}

const TD_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/datadog-agent:3";

/// A service exactly as `desired` wants it, running on `count` instances.
fn service_in_sync(desired: &Desired, count: i32) -> ObservedService {
    ObservedService {
        arn: "arn:aws:ecs:eu-west-1:123456789012:service/prod/agent".into(),
        name: "agent".into(),
        status: "ACTIVE".into(),
        scheduling_strategy: "REPLICA".into(),
        desired_count: count,
        running_count: count,
        pending_count: 0,
        task_definition: Some(TD_ARN.into()),
        launch_type: Some("EC2".into()),
        capacity_provider_strategy: vec![],
        placement_constraints: desired.placement_constraints(Scheduling::PerInstance),
        deployment_limits: Some((Some(50), Some(100))),
        deployment_guards: desired.deployment_guards(),
        options: desired.options.clone(),
        network: None,
        tags: desired.tags.clone(),
        primary_rollout_state: Some("COMPLETED".into()),
        deployments: 1,
    }
}

fn latest_revision(desired: &Desired) -> Option<ObservedTaskDefinition> {
    let digest = match &desired.task_definition {
        DesiredTaskDefinition::Inline(rendered) => Some(rendered.digest.clone()),
        DesiredTaskDefinition::Reference(_) => None,
    };
    Some(ObservedTaskDefinition {
        arn: TD_ARN.into(),
        digest,
        ..Default::default()
    })
}

/// Three ACTIVE linux instances and a service and revision that match.
fn in_sync(desired: &Desired) -> Observed {
    Observed {
        instances: instances(vec![
            instance("i-1", "ACTIVE", "linux"),
            instance("i-2", "ACTIVE", "linux"),
            instance("i-3", "ACTIVE", "linux"),
        ]),
        service: Some(service_in_sync(desired, 3)),
        task_definition: latest_revision(desired),
        ..Observed::default()
    }
}

fn with_previous(mut desired: Desired, count: i32) -> Desired {
    desired.previous = Previous {
        scheduling: Some(Scheduling::PerInstance),
        daemon_arn: None,
        desired_count: Some(count),
        task_definition_arn: Some(TD_ARN.into()),
        spec_unchanged: true,
        synced: true,
        redeployed: None,
    };
    desired
}

#[test]
fn nothing_exists_registers_and_creates() {
    let desired = desired(spec());
    let observed = Observed {
        instances: instances(vec![
            instance("i-1", "ACTIVE", "linux"),
            instance("i-2", "ACTIVE", "linux"),
        ]),
        service: None,
        task_definition: None,
        ..Observed::default()
    };
    let changes = plan(&desired, &observed).unwrap();
    assert!(
        matches!(&changes[0], Change::RegisterTaskDefinition { family, replaces: None, .. } if family == "datadog-agent")
    );
    assert_eq!(
        changes[1],
        Change::CreateService {
            scheduling: Scheduling::PerInstance,
            desired_count: Some(2),
            task_definition: TaskDefinitionRef::Registered
        }
    );
    assert_eq!(changes.len(), 2);
}

#[test]
fn in_sync_plans_nothing() {
    let desired = with_previous(desired(spec()), 3);
    assert_eq!(plan(&desired, &in_sync(&desired)).unwrap(), vec![]);
}

#[test]
fn joined_instance_raises_desired_count_without_counting_drift() {
    let desired = with_previous(desired(spec()), 3);
    let mut observed = in_sync(&desired);
    let mut list = observed.instances.as_ref().clone();
    list.push(instance("i-4", "ACTIVE", "linux"));
    observed.instances = instances(list);
    let changes = plan(&desired, &observed).unwrap();
    let [Change::UpdateService(update)] = changes.as_slice() else {
        panic!("{changes:?}")
    };
    assert_eq!(update.desired_count, Some((3, 4)));
    assert!(update.drift.is_empty());
    assert!(!changes[0].is_drift_repair());
}

#[test]
fn drained_instance_lowers_desired_count() {
    let desired = with_previous(desired(spec()), 3);
    let mut observed = in_sync(&desired);
    let mut list = observed.instances.as_ref().clone();
    list[0].status = "DRAINING".into();
    observed.instances = instances(list);
    let changes = plan(&desired, &observed).unwrap();
    let [Change::UpdateService(update)] = changes.as_slice() else {
        panic!("{changes:?}")
    };
    assert_eq!(update.desired_count, Some((3, 2)));
}

#[test]
fn desired_count_changed_by_hand_is_repaired_as_drift() {
    let desired = with_previous(desired(spec()), 3);
    let mut observed = in_sync(&desired);
    observed.service.as_mut().unwrap().desired_count = 7;
    let changes = plan(&desired, &observed).unwrap();
    let [Change::UpdateService(update)] = changes.as_slice() else {
        panic!("{changes:?}")
    };
    assert_eq!(update.desired_count, Some((7, 3)));
    assert_eq!(update.drift, vec!["desiredCount"]);
    assert!(changes[0].is_drift_repair());
}

#[test]
fn task_definition_changed_by_hand_is_set_back() {
    let desired = with_previous(desired(spec()), 3);
    let mut observed = in_sync(&desired);
    observed.service.as_mut().unwrap().task_definition =
        Some("arn:aws:ecs:eu-west-1:123456789012:task-definition/other:1".into());
    let changes = plan(&desired, &observed).unwrap();
    let [Change::UpdateService(update)] = changes.as_slice() else {
        panic!("{changes:?}")
    };
    assert_eq!(
        update.task_definition.as_ref().unwrap().1,
        TaskDefinitionRef::Existing(TD_ARN.into())
    );
    assert_eq!(update.drift, vec!["taskDefinition"]);
}

#[test]
fn placement_changed_by_hand_is_set_back() {
    let desired = with_previous(desired(spec()), 3);
    let mut observed = in_sync(&desired);
    observed.service.as_mut().unwrap().placement_constraints = vec![];
    let changes = plan(&desired, &observed).unwrap();
    let [Change::UpdateService(update)] = changes.as_slice() else {
        panic!("{changes:?}")
    };
    assert_eq!(
        update.placement_constraints,
        Some(vec![("distinctInstance".into(), None)])
    );
    assert_eq!(update.drift, vec!["placementConstraints"]);
}

#[test]
fn changed_image_registers_a_revision_and_rolls_it_out() {
    let old = desired(spec());
    let observed = in_sync(&old);
    let mut new_spec = spec();
    new_spec.task_definition.container_definitions =
        Some(vec![json!({"name": "agent", "image": "datadog/agent:7.1", "memory": 256})].into());
    let new = desired(new_spec);
    let changes = plan(&new, &observed).unwrap();
    assert!(
        matches!(&changes[0], Change::RegisterTaskDefinition { replaces: Some(arn), .. } if arn == TD_ARN)
    );
    let Change::UpdateService(update) = &changes[1] else {
        panic!("{changes:?}")
    };
    assert_eq!(
        update.task_definition.as_ref().unwrap().1,
        TaskDefinitionRef::Registered
    );
    assert!(update.drift.is_empty(), "following the spec is not drift");
}

#[test]
fn service_pointed_at_a_hand_registered_revision_is_drift() {
    let desired = with_previous(desired(spec()), 3);
    let mut observed = in_sync(&desired);
    let foreign = "arn:aws:ecs:eu-west-1:123456789012:task-definition/datadog-agent:4";
    observed.task_definition = Some(ObservedTaskDefinition {
        arn: foreign.into(),
        digest: None,
        ..Default::default()
    });
    observed.service.as_mut().unwrap().task_definition = Some(foreign.into());
    let changes = plan(&desired, &observed).unwrap();
    assert!(matches!(changes[0], Change::RegisterTaskDefinition { .. }));
    let Change::UpdateService(update) = &changes[1] else {
        panic!("{changes:?}")
    };
    assert_eq!(update.drift, vec!["taskDefinition"]);
}

#[test]
fn revision_registered_by_hand_is_replaced() {
    let desired = with_previous(desired(spec()), 3);
    let mut observed = in_sync(&desired);
    observed.task_definition = Some(ObservedTaskDefinition {
        arn: "arn:aws:ecs:eu-west-1:123456789012:task-definition/datadog-agent:4".into(),
        digest: None,
        ..Default::default()
    });
    let changes = plan(&desired, &observed).unwrap();
    assert!(matches!(changes[0], Change::RegisterTaskDefinition { .. }));
}

#[test]
fn referenced_definition_is_used_as_is() {
    let mut spec = spec();
    spec.task_definition = TaskDefinitionSpec {
        arn: Some("datadog-agent:3".into()),
        ..TaskDefinitionSpec::default()
    };
    let desired = desired(spec);
    let mut observed = in_sync(&desired);
    assert_eq!(plan(&desired, &observed).unwrap(), vec![]);
    observed.service = None;
    assert_eq!(
        plan(&desired, &observed).unwrap(),
        vec![Change::CreateService {
            scheduling: Scheduling::PerInstance,
            desired_count: Some(3),
            task_definition: TaskDefinitionRef::Existing(TD_ARN.into())
        }]
    );
}

/// A revision named by ARN is judged by what ECS says it holds: a namespace without the
/// grant cannot borrow another team's task role or host access through it.
#[test]
fn a_referenced_definition_reaches_only_what_the_namespace_was_granted() {
    use crate::daemon_service::ecs::Reach;
    use crate::tenancy::{HostAccess, Tenancy};
    let mut spec = spec();
    spec.task_definition = TaskDefinitionSpec {
        arn: Some("datadog-agent:3".into()),
        ..TaskDefinitionSpec::default()
    };
    let mut desired = desired(spec);
    desired.reference_grant = Some(Tenancy::Fixed(None).grant("monitoring"));
    let mut observed = in_sync(&desired);
    let reach = |task_role: Option<&str>, host: Option<&'static str>| Reach {
        task_role_arn: task_role.map(str::to_string),
        execution_role_arn: None,
        host,
    };
    let refusal = |observed: &Observed| match plan(&desired, observed) {
        Err(crate::Error::InvalidSpec { field, message }) => format!("{field}: {message}"),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let admin = "arn:aws:iam::123456789012:role/platform-admin";
    observed.task_definition.as_mut().unwrap().reach = reach(Some(admin), None);
    assert!(refusal(&observed).contains("ecs.taskRoleArns"));
    observed.task_definition.as_mut().unwrap().reach = reach(None, Some("a privileged container"));
    let message = refusal(&observed);
    assert!(
        message.starts_with("spec.taskDefinition.arn: ")
            && message.contains("ecs.hostAccess, for a privileged container"),
        "{message}"
    );
    // Granted, the same revision is used as is.
    let mut grant = Tenancy::Fixed(None).grant("monitoring");
    grant.grants.ecs.host_access = HostAccess::Privileged;
    grant.grants.ecs.task_role_arns = vec![admin.into()];
    desired.reference_grant = Some(grant);
    observed.task_definition.as_mut().unwrap().reach = reach(Some(admin), Some("a host path"));
    assert_eq!(plan(&desired, &observed).unwrap(), vec![]);
}

#[test]
fn instance_filter_counts_only_matching_instances_and_adds_member_of() {
    let mut spec = spec();
    spec.instance_filter = Some("attribute:ecs.os-type == linux".into());
    let desired = desired(spec);
    let mut observed = in_sync(&desired);
    let mut list = observed.instances.as_ref().clone();
    list.push(instance("i-9", "ACTIVE", "windows"));
    observed.instances = instances(list);
    assert_eq!(observed.matching_instances(&desired), 3);
    assert_eq!(
        desired.placement_constraints(Scheduling::PerInstance),
        vec![
            ("distinctInstance".to_string(), None),
            (
                "memberOf".to_string(),
                Some("attribute:ecs.os-type == linux".to_string())
            )
        ]
    );
    assert_eq!(plan(&desired, &observed).unwrap(), vec![]);
}

#[test]
fn daemon_scheduling_leaves_the_count_to_ecs() {
    let mut spec = spec();
    spec.scheduling = Some(Scheduling::Daemon);
    let desired = desired(spec);
    let observed = Observed {
        mode: Scheduling::Daemon,
        instances: instances(vec![instance("i-1", "ACTIVE", "linux")]),
        service: None,
        task_definition: latest_revision(&desired),
        ..Observed::default()
    };
    assert_eq!(desired.placement_constraints(Scheduling::Daemon), vec![]);
    assert_eq!(
        plan(&desired, &observed).unwrap(),
        vec![Change::CreateService {
            scheduling: Scheduling::Daemon,
            desired_count: None,
            task_definition: TaskDefinitionRef::Existing(TD_ARN.into())
        }]
    );
    let mut service = service_in_sync(&desired, 5);
    service.scheduling_strategy = "DAEMON".into();
    service.placement_constraints = desired.placement_constraints(Scheduling::Daemon);
    let observed = Observed {
        service: Some(service),
        ..observed
    };
    assert_eq!(
        plan(&desired, &observed).unwrap(),
        vec![],
        "DAEMON counts are ECS's"
    );
}

#[test]
fn existing_service_not_ours_is_refused_without_any_change() {
    let desired = desired(spec());
    let mut observed = in_sync(&desired);
    observed.service.as_mut().unwrap().tags = BTreeMap::new();
    observed.task_definition = None; // would otherwise register a revision
    let error = plan(&desired, &observed).unwrap_err();
    assert_eq!(error.reason(), crate::Reason::AlreadyExists, "{error}");
}

#[test]
fn adopt_existing_tags_the_service_then_manages_it() {
    let mut spec = spec();
    spec.common.adopt_existing = true;
    let desired = desired(spec);
    let mut observed = in_sync(&desired);
    observed.service.as_mut().unwrap().tags = BTreeMap::from([("team".into(), "sre".into())]);
    observed.service.as_mut().unwrap().desired_count = 1;
    let changes = plan(&desired, &observed).unwrap();
    assert!(matches!(changes[0], Change::AdoptService { .. }));
    assert!(matches!(&changes[1], Change::UpdateService(u) if u.desired_count == Some((1, 3))));
}

#[test]
fn service_of_another_object_is_never_touched() {
    let mut spec = spec();
    spec.common.adopt_existing = true;
    let desired = desired(spec);
    let mut observed = in_sync(&desired);
    let tags = &mut observed.service.as_mut().unwrap().tags;
    tags.insert(crate::common::OWNER_TAG.into(), "other/agent".into());
    let error = plan(&desired, &observed).unwrap_err();
    assert_eq!(error.reason(), crate::Reason::OwnedByOther, "{error}");
}

#[test]
fn inactive_service_is_created_again_and_draining_one_is_waited_for() {
    let desired = desired(spec());
    let mut observed = in_sync(&desired);
    observed.service.as_mut().unwrap().status = "INACTIVE".into();
    assert!(matches!(
        plan(&desired, &observed).unwrap()[0],
        Change::CreateService { .. }
    ));
    observed.service.as_mut().unwrap().status = "DRAINING".into();
    let error = plan(&desired, &observed).unwrap_err();
    assert!(error.is_retryable(), "{error}");
}

#[test]
fn scheduling_mismatch_is_a_spec_error() {
    let mut spec = spec();
    spec.common.adopt_existing = true;
    let desired = desired(spec);
    let mut observed = in_sync(&desired);
    observed.service.as_mut().unwrap().scheduling_strategy = "DAEMON".into();
    let error = plan(&desired, &observed).unwrap_err();
    assert!(error.to_string().starts_with("spec.scheduling:"), "{error}");
}

#[test]
fn deployment_limits_capacity_providers_and_network_follow_the_spec() {
    let mut spec = spec();
    spec.deployment.minimum_healthy_percent = 0;
    spec.capacity_provider_strategy =
        Some(vec![crate::daemon_service::CapacityProviderStrategyItem {
            capacity_provider: "spot".into(),
            weight: 1,
            base: 0,
        }]);
    spec.network_configuration = Some(
        serde_json::from_value(json!({
            "awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"]}
        }))
        .unwrap(),
    );
    let desired = desired(spec);
    let observed = in_sync(&desired);
    let changes = plan(&desired, &observed).unwrap();
    let [Change::UpdateService(update)] = changes.as_slice() else {
        panic!("{changes:?}")
    };
    assert_eq!(update.deployment_limits, Some((0, 100)));
    assert!(update.capacity_provider_strategy.is_some());
    assert!(update.network_configuration.is_some());
    assert!(
        update.drift.is_empty(),
        "a first sync of a new spec is not drift"
    );
}

#[test]
fn invalid_specs_name_the_field() {
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            json!({"cluster": "", "taskDefinition": {"arn": "a:1"}}),
            "spec.cluster: is required",
        ),
        (
            json!({"cluster": "c", "taskDefinition": {}}),
            "spec.taskDefinition: set exactly one of arn and family",
        ),
        (
            json!({"cluster": "c", "taskDefinition": {"arn": "a:1", "family": "f", "containerDefinitions": [{"name": "a", "image": "i"}]}}),
            "spec.taskDefinition: set exactly one of arn and family",
        ),
        (
            json!({"cluster": "c", "taskDefinition": {"arn": "a:1"}, "instanceFilter": "attribute:x =="}),
            "spec.instanceFilter:",
        ),
        (
            json!({"cluster": "c", "taskDefinition": {"arn": "a:1"}, "scheduling": "Daemon", "launchType": "FARGATE"}),
            "spec.scheduling: Daemon works only with the EC2 launch type",
        ),
        (
            json!({"cluster": "c", "taskDefinition": {"arn": "a:1"}, "launchType": "EC2",
                   "capacityProviderStrategy": [{"capacityProvider": "p"}]}),
            "spec.capacityProviderStrategy: cannot be combined with spec.launchType",
        ),
        (
            json!({"cluster": "c", "taskDefinition": {"arn": "a:1"}, "serviceName": "bad name"}),
            "spec.serviceName:",
        ),
        (
            json!({"cluster": "c", "taskDefinition": {"arn": "a:1"}, "tags": {"ecsfleet.dev/owner": "me"}}),
            "spec.tags: keys under ecsfleet.dev/ are reserved",
        ),
        (
            json!({"cluster": "c", "taskDefinition": {"family": "f", "containerDefinitions": [{"name": "a"}]}}),
            "spec.taskDefinition.containerDefinitions[0].image: is required",
        ),
        (
            json!({"cluster": "c", "taskDefinition": {"arn": "a:1"}, "deployment": {"maximumPercent": 300}}),
            "spec.deployment:",
        ),
    ];
    for (spec, expected) in cases {
        let spec: DaemonServiceSpec = serde_json::from_value(spec.clone()).unwrap();
        let error = Desired::from_spec(&object(spec)).unwrap_err();
        assert_eq!(error.reason(), crate::Reason::InvalidSpec);
        assert!(
            error.to_string().starts_with(expected),
            "{error} should start with {expected}"
        );
    }
}

#[test]
fn previous_state_comes_from_the_status() {
    let mut obj = object(spec());
    obj.metadata.generation = Some(4);
    obj.status = Some(DaemonServiceStatus {
        desired_count: Some(3),
        task_definition_arn: Some(TD_ARN.into()),
        common: crate::common::CommonStatus {
            observed_generation: Some(4),
            ..Default::default()
        },
        ..Default::default()
    });
    let desired = Desired::from_spec(&obj).unwrap();
    assert_eq!(desired.previous.desired_count, Some(3));
    assert!(desired.previous.spec_unchanged);
    obj.metadata.generation = Some(5);
    assert!(!Desired::from_spec(&obj).unwrap().previous.spec_unchanged);
}

#[test]
fn changes_describe_themselves_for_plan_output() {
    let change = Change::UpdateService(ServiceUpdate {
        desired_count: Some((3, 4)),
        drift: vec!["desiredCount"],
        ..ServiceUpdate::default()
    });
    let described = change.describe();
    assert_eq!(described.action, "UpdateService");
    assert_eq!(
        described.detail,
        "desiredCount 3 -> 4, (repairs drift of desiredCount)"
    );
}

#[test]
fn scheduling_set_later_must_name_the_mode_in_use() {
    let mut spec = spec();
    spec.scheduling = Some(Scheduling::Daemon);
    let mut desired = with_previous(desired(spec), 3);
    desired.previous.scheduling = Some(Scheduling::ManagedDaemon);
    let observed = Observed {
        mode: Scheduling::Daemon,
        service: None,
        ..in_sync(&desired)
    };
    let error = plan(&desired, &observed).unwrap_err().to_string();
    assert!(
        error.starts_with("spec.scheduling: the object runs as ManagedDaemon"),
        "{error}"
    );
    desired.previous.scheduling = Some(Scheduling::Daemon);
    assert!(plan(&desired, &observed).is_ok());
}

/// The revision a service runs is known to be the spec's without reading the family only
/// when the spec names it, or when the last sync of this very generation succeeded and
/// left the service on it.
#[test]
fn a_running_revision_is_known_only_after_a_successful_sync_of_the_generation() {
    let with_status = |spec: DaemonServiceSpec, synced: &str, generation: i64| {
        let mut obj = object(spec);
        obj.status = Some(
            serde_json::from_value(json!({
                "taskDefinitionArn": TD_ARN,
                "observedGeneration": generation,
                "conditions": [{
                    "type": "Synced", "status": synced, "reason": "R", "message": "",
                    "lastTransitionTime": "2026-11-29T00:00:00Z",
                    "observedGeneration": generation,
                }],
            }))
            .unwrap(),
        );
        Desired::from_spec(&obj).unwrap()
    };
    let digest = match &desired(spec()).task_definition {
        DesiredTaskDefinition::Inline(rendered) => rendered.digest.clone(),
        other => panic!("{other:?}"),
    };
    let known = with_status(spec(), "True", 1);
    assert_eq!(
        known.known_revision(TD_ARN),
        Some(ObservedTaskDefinition {
            arn: TD_ARN.into(),
            digest: Some(digest),
            ..Default::default()
        })
    );
    let other_revision = TD_ARN.replace(":3", ":4");
    assert_eq!(known.known_revision(&other_revision), None, "run by hand");
    assert_eq!(
        with_status(spec(), "False", 1).known_revision(TD_ARN),
        None,
        "the last sync failed"
    );
    assert_eq!(
        with_status(spec(), "True", 0).known_revision(TD_ARN),
        None,
        "synced for an older generation"
    );
    assert_eq!(desired(spec()).known_revision(TD_ARN), None, "no status");

    let reference = |arn: &str| {
        serde_json::from_value::<DaemonServiceSpec>(
            json!({"cluster": "prod", "taskDefinition": {"arn": arn}}),
        )
        .unwrap()
    };
    assert_eq!(
        desired(reference("datadog-agent:3")).known_revision(TD_ARN),
        Some(ObservedTaskDefinition {
            arn: TD_ARN.into(),
            digest: None,
            ..Default::default()
        }),
        "the revision the spec names"
    );
    assert_eq!(
        desired(reference("datadog-agent")).known_revision(TD_ARN),
        None,
        "a family names no revision: its latest is read"
    );
}

/// Load balancers, ECS Exec, managed tags and tag propagation changed by hand are set
/// back (drift); a new redeploy annotation value forces one deployment, and only once.
#[test]
fn service_options_are_kept_and_a_redeploy_is_answered_once() {
    let desired = with_previous(
        desired_from(serde_json::json!({
            "loadBalancers": [{"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/agent/0123456789abcdef",
                               "containerName": "agent", "containerPort": 8126}],
            "healthCheckGracePeriodSeconds": 30,
            "enableExecuteCommand": true,
            "propagateTags": "TASK_DEFINITION",
            "deployment": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}},
        })),
        3,
    );
    let in_sync_now = in_sync(&desired);
    assert!(
        plan(&desired, &in_sync_now).unwrap().is_empty(),
        "in sync: nothing to do"
    );

    let mut edited = in_sync(&desired);
    let service = edited.service.as_mut().unwrap();
    service.options.enable_execute_command = false;
    service.deployment_guards.circuit_breaker = (false, false);
    let changes = plan(&desired, &edited).unwrap();
    let [Change::UpdateService(update)] = changes.as_slice() else {
        panic!("{changes:?}")
    };
    assert_eq!(update.options.as_ref(), Some(&desired.options));
    assert!(update.deployment_limits.is_some());
    assert_eq!(update.drift, ["deploymentConfiguration", "serviceOptions"]);

    let mut asked = desired.clone();
    asked.redeploy = Some("2026-12-07".into());
    let changes = plan(&asked, &in_sync(&asked)).unwrap();
    let [Change::UpdateService(update)] = changes.as_slice() else {
        panic!("{changes:?}")
    };
    assert!(update.force_new_deployment);
    asked.previous.redeployed = Some("2026-12-07".into());
    assert!(
        plan(&asked, &in_sync(&asked)).unwrap().is_empty(),
        "answered once"
    );
}

/// What a mode cannot take is refused with its field, whether the spec names the mode
/// or the cluster chose it.
#[test]
fn options_a_mode_cannot_take_are_refused() {
    let per_instance = desired_from(serde_json::json!({
        "deployment": {"alarms": {"alarmNames": ["agent-errors"]}}}));
    let mut daemon = in_sync(&per_instance);
    daemon.mode = Scheduling::Daemon;
    let error = plan(&per_instance, &daemon).unwrap_err().to_string();
    assert!(
        error.starts_with("spec.deployment.alarms: does not apply to scheduling Daemon"),
        "{error}"
    );
}

/// Deployment alarms are sent only when the spec has them, or disabled when the live
/// service has some the spec dropped (an empty alarm list is not sent otherwise).
#[test]
fn dropped_deployment_alarms_are_turned_off() {
    let desired = with_previous(desired_from(serde_json::json!({})), 3);
    let mut live = in_sync(&desired);
    assert!(plan(&desired, &live).unwrap().is_empty());
    live.service.as_mut().unwrap().deployment_guards.alarms =
        Some((vec!["agent-errors".into()], false));
    let changes = plan(&desired, &live).unwrap();
    let [Change::UpdateService(update)] = changes.as_slice() else {
        panic!("{changes:?}")
    };
    assert!(update.disable_alarms);
}
