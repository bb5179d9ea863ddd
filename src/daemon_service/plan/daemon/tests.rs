//! The Managed Daemon plan, a pure function: what it writes, and what it refuses.

use std::sync::Arc;

use super::*;
use crate::daemon_service::capacity::{ClusterCapacity, Provider, ProviderKind};
use crate::daemon_service::ecs::ObservedTaskDefinition;
use crate::daemon_service::observe::ObservedDaemon;
use crate::daemon_service::{DaemonService, Scheduling};

fn desired(extra: &str) -> Desired {
    let obj: DaemonService = serde_yaml_ng::from_str(&format!(
        r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {{name: agent, namespace: ops, uid: u1}}
spec:
  cluster: fleet
  scheduling: ManagedDaemon
  taskDefinition:
    family: agent
    containerDefinitions:
      - {{name: agent, image: "agent:1", memory: 128}}
{extra}"#
    ))
    .unwrap();
    Desired::from_spec(&obj).unwrap()
}

fn capacity() -> Arc<ClusterCapacity> {
    Arc::new(ClusterCapacity {
        cluster_arn: "arn:aws:ecs:eu-west-1:1:cluster/fleet".into(),
        providers: vec![Provider {
            name: "mi".into(),
            arn: "arn:aws:ecs:eu-west-1:1:capacity-provider/mi".into(),
            kind: ProviderKind::ManagedInstances,
        }],
        default_strategy: vec![],
    })
}

fn observed(daemon: Option<ObservedDaemon>, digest: Option<&str>) -> Observed {
    Observed {
        mode: Scheduling::ManagedDaemon,
        capacity: Some(capacity()),
        daemon,
        task_definition: digest.map(|d| ObservedTaskDefinition {
            arn: "arn:aws:ecs:eu-west-1:1:daemon-task-definition/agent:1".into(),
            digest: Some(d.to_string()),
            ..Default::default()
        }),
        ..Observed::default()
    }
}

fn digest(desired: &Desired) -> String {
    match &desired.task_definition {
        DesiredTaskDefinition::Inline(rendered) => rendered.digest.clone(),
        DesiredTaskDefinition::Reference(_) => unreachable!(),
    }
}

fn live(definition: &str) -> ObservedDaemon {
    ObservedDaemon {
        arn: "arn:aws:ecs:eu-west-1:1:daemon/fleet/agent".into(),
        status: "ACTIVE".into(),
        tags: None,
        task_definition: Some(definition.into()),
        capacity_providers: vec!["arn:aws:ecs:eu-west-1:1:capacity-provider/mi".into()],
        deployment_state: Some("SUCCESSFUL".into()),
        running: 2,
        without_daemon: 0,
    }
}

fn actions(changes: &[Change]) -> Vec<String> {
    use crate::runtime::Change as _;
    changes.iter().map(|c| c.describe().action).collect()
}

#[test]
fn a_new_daemon_registers_its_definition_and_is_created_on_managed_instances() {
    let spec = desired("");
    let changes = plan(&spec, &observed(None, None)).unwrap();
    assert_eq!(
        actions(&changes),
        ["RegisterDaemonTaskDefinition", "CreateDaemon"]
    );
    let Change::Daemon(DaemonChange::Create {
        cluster_arn,
        task_definition,
        capacity_providers,
    }) = &changes[1]
    else {
        panic!("{changes:?}")
    };
    assert_eq!(*task_definition, TaskDefinitionRef::Registered);
    assert_eq!(
        cluster_arn,
        &capacity().cluster_arn,
        "the plan names the cluster"
    );
    let Change::Daemon(DaemonChange::RegisterDefinition {
        digest: planned, ..
    }) = &changes[0]
    else {
        panic!("{changes:?}")
    };
    assert_eq!(
        *planned,
        digest(&spec),
        "the plan registers the spec's definition"
    );
    assert_eq!(
        capacity_providers,
        &["arn:aws:ecs:eu-west-1:1:capacity-provider/mi".to_string()]
    );
}

#[test]
fn a_daemon_in_sync_plans_nothing_and_a_new_definition_updates_it() {
    let spec = desired("");
    let current = "arn:aws:ecs:eu-west-1:1:daemon-task-definition/agent:1";
    let in_sync = observed(Some(live(current)), Some(&digest(&spec)));
    assert!(plan(&spec, &in_sync).unwrap().is_empty());

    let changed = observed(Some(live(current)), Some("an older digest"));
    let changes = plan(&spec, &changed).unwrap();
    assert_eq!(
        actions(&changes),
        ["RegisterDaemonTaskDefinition", "UpdateDaemon"]
    );
}

#[test]
fn a_daemon_of_someone_else_is_refused_before_any_write() {
    let spec = desired("");
    let mut other = live("arn:aws:ecs:eu-west-1:1:daemon-task-definition/agent:1");
    other.tags = Some([("team".to_string(), "other".to_string())].into());
    let error = plan(&spec, &observed(Some(other), None)).unwrap_err();
    assert_eq!(error.reason(), crate::Reason::AlreadyExists, "{error}");
}

/// Refused with its path before any write: at once when the spec asks for a Managed
/// Daemon, and when the plan finds the cluster's capacity makes it one.
#[test]
fn what_a_daemon_task_definition_cannot_hold_is_refused_with_its_path() {
    let yaml = |scheduling: &str| {
        format!(
            r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {{name: agent, namespace: ops, uid: u1}}
spec:
  cluster: fleet
  {scheduling}
  taskDefinition:
    family: agent
    containerDefinitions:
      - {{name: agent, image: "agent:1", memory: 128, portMappings: [{{containerPort: 80}}]}}
"#
        )
    };
    let field = "spec.taskDefinition.containerDefinitions[0].portMappings:";
    let asked: DaemonService = serde_yaml_ng::from_str(&yaml("scheduling: ManagedDaemon")).unwrap();
    let error = Desired::from_spec(&asked).unwrap_err().to_string();
    assert!(error.starts_with(field), "{error}");

    let chosen: DaemonService = serde_yaml_ng::from_str(&yaml("")).unwrap();
    let spec = Desired::from_spec(&chosen).unwrap();
    let error = plan(&spec, &observed(None, None)).unwrap_err().to_string();
    assert!(error.starts_with(field), "{error}");
}

#[test]
fn managed_daemon_refuses_fields_that_do_not_apply() {
    for (field, yaml) in [
        (
            "spec.instanceFilter",
            "instanceFilter: \"attribute:ecs.os-type == linux\"",
        ),
        ("spec.launchType", "launchType: EC2"),
    ] {
        let obj: DaemonService = serde_yaml_ng::from_str(&format!(
            r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {{name: agent, namespace: ops, uid: u1}}
spec:
  cluster: fleet
  scheduling: ManagedDaemon
  {yaml}
  taskDefinition: {{arn: "agent:1"}}
"#
        ))
        .unwrap();
        let error = Desired::from_spec(&obj).unwrap_err().to_string();
        assert!(error.starts_with(&format!("{field}:")), "{error}");
    }
}
