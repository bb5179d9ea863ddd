//! DaemonService against the AWS emulator over HTTP: the reconcile the controller and
//! the CLI share, with every AWS call counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::support::{Cluster, Emulator, Os, calls, plain_env, sync, writes};
use ecsfleet::Reason;
use ecsfleet::daemon_service::cache::EcsObserver;
use ecsfleet::daemon_service::ecs::ClusterKey;
use ecsfleet::daemon_service::{DaemonService, Shared};
use ecsfleet::runtime::triggers::Trigger;
use ecsfleet::runtime::{Directory, Pipeline};

fn daemon_service(yaml: &str) -> DaemonService {
    let mut obj: DaemonService = serde_yaml_ng::from_str(yaml).expect("valid YAML");
    obj.metadata
        .namespace
        .get_or_insert_with(|| "monitoring".into());
    obj.metadata
        .uid
        .get_or_insert_with(|| "0b5e2a7c-uid".into());
    obj.metadata.generation.get_or_insert(1);
    obj
}

fn agent(cluster: &str, image: &str) -> DaemonService {
    daemon_service(&format!(
        r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {{name: agent}}
spec:
  cluster: {cluster}
  taskDefinition:
    family: agent-{cluster}
    containerDefinitions:
      - {{name: agent, image: "{image}", memory: 128, essential: true}}
"#
    ))
}

/// A pipeline whose observations are never reused, so each sync sees AWS as it is.
async fn pipeline(emulator: &Emulator) -> Pipeline<DaemonService> {
    pipeline_with(emulator, Duration::ZERO, Directory::default()).await
}

/// A pipeline whose observations serve for `freshness`, batching with `peers`.
async fn pipeline_with(
    emulator: &Emulator,
    freshness: Duration,
    peers: Directory<DaemonService>,
) -> Pipeline<DaemonService> {
    let env = plain_env(emulator).await;
    let shared = Shared::new(freshness, peers, &env.hosts);
    Pipeline::new(env, shared)
}

/// `count` DaemonServices `agent-00`, `agent-01`… on `cluster`, their services created.
async fn created_agents(emulator: &Emulator, cluster: &str, count: usize) -> Vec<DaemonService> {
    let mut objects: Vec<DaemonService> = (0..count)
        .map(|i| {
            let mut obj = agent(cluster, "agent:7");
            obj.metadata.name = Some(format!("agent-{i:02}"));
            obj.metadata.uid = Some(format!("uid-{i}"));
            obj
        })
        .collect();
    let setup = pipeline(emulator).await;
    for obj in &mut objects {
        sync(obj, &setup).await.unwrap();
    }
    objects
}

async fn cluster_with(emulator: &Emulator, name: &str, hosts: usize) -> (Cluster, Vec<String>) {
    let cluster = Cluster::create(emulator, name).await;
    let mut arns = Vec::new();
    for _ in 0..hosts {
        arns.push(cluster.add_instance(emulator).await);
    }
    (cluster, arns)
}

#[tokio::test]
async fn creates_the_service_with_one_task_per_instance() {
    let emulator = Emulator::start();
    let (cluster, _) = cluster_with(&emulator, "create", 3).await;
    let pipeline = pipeline(&emulator).await;
    let mut obj = agent("create", "agent:7");

    let actions = sync(&mut obj, &pipeline).await.unwrap();
    assert_eq!(actions, ["RegisterTaskDefinition", "CreateService"]);

    let service = cluster.service("agent").await.expect("service exists");
    assert_eq!(service.desired_count(), 3);
    assert_eq!(
        service.scheduling_strategy().map(|s| s.as_str()),
        Some("REPLICA")
    );
    let constraints: Vec<_> = service
        .placement_constraints()
        .iter()
        .map(|c| c.r#type().map(|t| t.as_str().to_string()))
        .collect();
    assert_eq!(constraints, [Some("distinctInstance".to_string())]);
    let tags: BTreeMap<_, _> = service
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect();
    assert_eq!(tags.get("ecsfleet.dev/owner"), Some(&"monitoring/agent"));
    assert_eq!(tags.get("ecsfleet.dev/uid"), Some(&"0b5e2a7c-uid"));

    let status = obj.status.as_ref().unwrap();
    assert_eq!(status.matching_instances, Some(3));
    assert_eq!(status.desired_count, Some(3));
    assert!(
        status
            .task_definition_arn
            .as_deref()
            .unwrap()
            .ends_with("task-definition/agent-create:1")
    );
}

#[tokio::test]
async fn in_sync_resync_makes_no_write_call_and_registers_nothing() {
    let emulator = Emulator::start();
    let (cluster, _) = cluster_with(&emulator, "steady", 2).await;
    let pipeline = pipeline(&emulator).await;
    let mut obj = agent("steady", "agent:7");
    sync(&mut obj, &pipeline).await.unwrap();
    let writes_after_create = writes(&pipeline.env);

    for _ in 0..3 {
        assert_eq!(
            sync(&mut obj, &pipeline).await.unwrap(),
            Vec::<String>::new()
        );
    }
    assert_eq!(
        writes(&pipeline.env),
        writes_after_create,
        "a resync in sync must not write"
    );
    assert_eq!(cluster.revisions("agent-steady").await.len(), 1);
    let outcome = pipeline.sync(&obj).await.unwrap();
    assert!(outcome.readiness.ready, "{:?}", outcome.readiness);
}

#[tokio::test]
async fn desired_count_follows_instances_joining_and_draining() {
    let emulator = Emulator::start();
    let (cluster, arns) = cluster_with(&emulator, "follow", 2).await;
    let pipeline = pipeline(&emulator).await;
    let mut obj = agent("follow", "agent:7");
    sync(&mut obj, &pipeline).await.unwrap();

    cluster.add_instance(&emulator).await;
    assert_eq!(sync(&mut obj, &pipeline).await.unwrap(), ["UpdateService"]);
    assert_eq!(cluster.service("agent").await.unwrap().desired_count(), 3);

    cluster.drain(&arns[0]).await;
    sync(&mut obj, &pipeline).await.unwrap();
    assert_eq!(cluster.service("agent").await.unwrap().desired_count(), 2);
    assert_eq!(obj.status.as_ref().unwrap().matching_instances, Some(2));
    assert_eq!(
        obj.status.as_ref().unwrap().common.drift_repairs,
        None,
        "following the cluster is not drift"
    );

    cluster.activate(&arns[0]).await;
    sync(&mut obj, &pipeline).await.unwrap();
    assert_eq!(cluster.service("agent").await.unwrap().desired_count(), 3);
}

#[tokio::test]
async fn instance_filter_counts_only_matching_hosts() {
    let emulator = Emulator::start();
    let (cluster, _) = cluster_with(&emulator, "mixed", 2).await;
    cluster.add_host(&emulator, Os::Windows).await;
    let pipeline = pipeline(&emulator).await;
    let mut obj = agent("mixed", "agent:7");
    obj.spec.instance_filter = Some("attribute:ecs.os-type == linux".into());
    sync(&mut obj, &pipeline).await.unwrap();
    let service = cluster.service("agent").await.unwrap();
    assert_eq!(service.desired_count(), 2);
    let member_of: Vec<_> = service
        .placement_constraints()
        .iter()
        .filter_map(|c| c.expression())
        .collect();
    assert_eq!(member_of, ["attribute:ecs.os-type == linux"]);
}

#[tokio::test]
async fn hand_edited_desired_count_and_task_definition_are_repaired() {
    let emulator = Emulator::start();
    let (cluster, _) = cluster_with(&emulator, "drift", 2).await;
    let pipeline = pipeline(&emulator).await;
    let mut obj = agent("drift", "agent:7");
    sync(&mut obj, &pipeline).await.unwrap();

    cluster
        .ecs
        .update_service()
        .cluster("drift")
        .service("agent")
        .desired_count(9)
        .send()
        .await
        .unwrap();
    assert_eq!(sync(&mut obj, &pipeline).await.unwrap(), ["UpdateService"]);
    assert_eq!(cluster.service("agent").await.unwrap().desired_count(), 2);
    assert_eq!(obj.status.as_ref().unwrap().common.drift_repairs, Some(1));

    // Somebody registers a revision by hand and points the service at it.
    let foreign = cluster.register_by_hand("agent-drift", "evil:latest").await;
    cluster.point_by_hand("agent", &foreign).await;
    sync(&mut obj, &pipeline).await.unwrap();
    let live = cluster.service("agent").await.unwrap();
    assert_ne!(live.task_definition(), Some(foreign.as_str()));
    assert!(
        live.task_definition().unwrap().ends_with("agent-drift:3"),
        "{live:?}"
    );

    // Somebody removes the one-task-per-host constraint.
    cluster
        .ecs
        .update_service()
        .cluster("drift")
        .service("agent")
        .set_placement_constraints(Some(vec![]))
        .send()
        .await
        .unwrap();
    assert!(
        cluster
            .service("agent")
            .await
            .unwrap()
            .placement_constraints()
            .is_empty()
    );
    assert_eq!(sync(&mut obj, &pipeline).await.unwrap(), ["UpdateService"]);
    let constraints = cluster
        .service("agent")
        .await
        .unwrap()
        .placement_constraints()
        .to_vec();
    assert_eq!(constraints.len(), 1);
    assert_eq!(
        constraints[0].r#type().map(|t| t.as_str()),
        Some("distinctInstance")
    );
    assert_eq!(obj.status.as_ref().unwrap().common.drift_repairs, Some(3));
}

#[tokio::test]
async fn changed_image_registers_and_rolls_out_a_new_revision() {
    let emulator = Emulator::start();
    let (cluster, _) = cluster_with(&emulator, "rollout", 2).await;
    let pipeline = pipeline(&emulator).await;
    let mut obj = agent("rollout", "agent:7.59");
    sync(&mut obj, &pipeline).await.unwrap();

    let mut updated = agent("rollout", "agent:7.60");
    updated.metadata.generation = Some(2);
    updated.status = obj.status.clone();
    assert_eq!(
        sync(&mut updated, &pipeline).await.unwrap(),
        ["RegisterTaskDefinition", "UpdateService"]
    );
    assert_eq!(cluster.revisions("agent-rollout").await.len(), 2);
    let live = cluster.service("agent").await.unwrap();
    assert!(live.task_definition().unwrap().ends_with("agent-rollout:2"));
    assert_eq!(updated.status.as_ref().unwrap().common.drift_repairs, None);

    // The same definition again: nothing new is registered.
    assert_eq!(
        sync(&mut updated, &pipeline).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(cluster.revisions("agent-rollout").await.len(), 2);
}

/// A revision never changes: while the service runs the one the last successful sync of
/// the object's generation left it, a resync reads no task definition, and a revision
/// registered by hand that nothing runs starts no rollout. A new generation, a failed
/// sync of this generation, or a revision run by hand read the family again.
#[tokio::test]
async fn the_revision_a_synced_generation_left_running_is_not_read_again() {
    let emulator = Emulator::start();
    let (cluster, _) = cluster_with(&emulator, "known", 2).await;
    let pipeline = pipeline(&emulator).await;
    let reads = || calls(&pipeline.env, "DescribeTaskDefinition");
    let mut obj = agent("known", "agent:7");
    sync(&mut obj, &pipeline).await.unwrap();
    let created = reads();
    assert!(sync(&mut obj, &pipeline).await.unwrap().is_empty());
    assert_eq!(reads(), created, "a steady resync reads no family");

    // Registered by hand in the family, run by nothing: no new revision, no rollout.
    let foreign = cluster.register_by_hand("agent-known", "other:1").await;
    assert!(sync(&mut obj, &pipeline).await.unwrap().is_empty());
    assert_eq!(reads(), created);
    let live = cluster.service("agent").await.unwrap();
    assert!(live.task_definition().unwrap().ends_with("agent-known:1"));

    // A new generation whose sync failed before any write (as the report step records
    // it: Synced False for generation 2, the status's revision still generation 1's):
    // the next sync reads the family and rolls the new spec out.
    let mut changed = agent("known", "agent:8");
    changed.metadata.generation = Some(2);
    changed.status = obj.status.clone();
    let failed: Result<ecsfleet::runtime::Outcome<_>, ecsfleet::Error> =
        Err(ecsfleet::Error::NotReady("lost answer".into()));
    let now =
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
    changed.status = ecsfleet::runtime::report::next_status(&changed, &failed, &now);
    let status = changed.status.as_ref().unwrap();
    assert_eq!(status.common.observed_generation, Some(2));
    assert!(
        status
            .task_definition_arn
            .as_deref()
            .unwrap()
            .ends_with("agent-known:1")
    );
    assert_eq!(
        sync(&mut changed, &pipeline).await.unwrap(),
        ["RegisterTaskDefinition", "UpdateService"]
    );
    assert_eq!(reads(), created + 1);
    let live = cluster.service("agent").await.unwrap();
    assert!(live.task_definition().unwrap().ends_with("agent-known:3"));
    assert!(sync(&mut changed, &pipeline).await.unwrap().is_empty());
    assert_eq!(reads(), created + 1);

    // Pointed by hand at another revision: the family is read (its latest revision is
    // the spec's) and the service pointed back.
    cluster.point_by_hand("agent", &foreign).await;
    assert_eq!(
        sync(&mut changed, &pipeline).await.unwrap(),
        ["UpdateService"]
    );
    assert_eq!(reads(), created + 2);
    let live = cluster.service("agent").await.unwrap();
    assert!(live.task_definition().unwrap().ends_with("agent-known:3"));
}

/// A referenced revision the service runs is not read again; a reference to a family
/// alone follows its latest revision, read at every sync.
#[tokio::test]
async fn a_referenced_revision_the_service_runs_is_not_read_again() {
    let emulator = Emulator::start();
    let (cluster, _) = cluster_with(&emulator, "referenced", 1).await;
    let pipeline = pipeline(&emulator).await;
    let reads = || calls(&pipeline.env, "DescribeTaskDefinition");
    let first = cluster.register_by_hand("shared-agent", "agent:7").await;
    let referencing = |reference: &str| {
        daemon_service(&format!(
            "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {{name: agent}}\nspec:\n  cluster: referenced\n  taskDefinition: {{arn: '{reference}'}}\n"
        ))
    };
    let mut obj = referencing("shared-agent:1");
    assert_eq!(sync(&mut obj, &pipeline).await.unwrap(), ["CreateService"]);
    let created = reads();
    assert!(sync(&mut obj, &pipeline).await.unwrap().is_empty());
    assert_eq!(
        reads(),
        created,
        "the revision the spec names is not read again"
    );
    let live = cluster.service("agent").await.unwrap();
    assert_eq!(live.task_definition(), Some(first.as_str()));

    let second = cluster.register_by_hand("shared-agent", "agent:8").await;
    let mut family = referencing("shared-agent");
    family.metadata.generation = Some(2);
    family.status = obj.status.clone();
    assert_eq!(
        sync(&mut family, &pipeline).await.unwrap(),
        ["UpdateService"]
    );
    let live = cluster.service("agent").await.unwrap();
    assert_eq!(live.task_definition(), Some(second.as_str()));
    let before = reads();
    assert!(sync(&mut family, &pipeline).await.unwrap().is_empty());
    assert_eq!(reads(), before + 1, "a family alone is read for its latest");
}

/// A revision named by ARN is judged by what ECS says it holds: registered by someone
/// else with a task role and a privileged container, it is refused to a namespace with
/// the default grants, before any write; granted, it is used.
#[tokio::test]
async fn a_referenced_revision_reaches_only_what_the_namespace_was_granted() {
    use ecsfleet::tenancy::{Grants, Tenancy, TenancyPolicy, TenancyPolicySpec};
    let emulator = Emulator::start();
    let (cluster, _) = cluster_with(&emulator, "shared", 1).await;
    let admin = "arn:aws:iam::123456789012:role/platform-admin";
    cluster
        .ecs
        .register_task_definition()
        .family("platform-agent")
        .task_role_arn(admin)
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("agent")
                .image("agent:7")
                .memory(128)
                .privileged(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut obj = daemon_service(
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {name: borrowed}\nspec:\n  cluster: shared\n  taskDefinition: {arn: 'platform-agent:1'}\n",
    );
    let with = |tenancy: Tenancy| async {
        let env = plain_env(&emulator).await.with_tenancy(tenancy);
        let shared = Shared::new(Duration::ZERO, Directory::default(), &env.hosts);
        Pipeline::<DaemonService>::new(env, shared)
    };
    let restricted = with(Tenancy::Fixed(None)).await;
    let error = sync(&mut obj, &restricted).await.unwrap_err();
    assert_eq!(error.reason(), Reason::InvalidSpec);
    assert!(
        error.to_string().starts_with("spec.taskDefinition.arn: ")
            && error.to_string().contains("ecs.taskRoleArns"),
        "{error}"
    );
    assert!(
        writes(&restricted.env).is_empty(),
        "{:?}",
        writes(&restricted.env)
    );

    let mut grants = Grants::default();
    grants.ecs.task_role_arns = vec![admin.into()];
    let only_the_role = TenancyPolicy::new(
        "ecsfleet",
        TenancyPolicySpec {
            defaults: grants.clone(),
            rules: Vec::new(),
        },
    );
    let error = sync(
        &mut obj,
        &with(Tenancy::Fixed(Some(Arc::new(only_the_role)))).await,
    )
    .await
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("ecs.hostAccess, for a privileged container"),
        "{error}"
    );

    grants.ecs.host_access = ecsfleet::tenancy::HostAccess::Privileged;
    let granted = TenancyPolicy::new(
        "ecsfleet",
        TenancyPolicySpec {
            defaults: grants,
            rules: Vec::new(),
        },
    );
    let pipeline = with(Tenancy::Fixed(Some(Arc::new(granted)))).await;
    assert_eq!(sync(&mut obj, &pipeline).await.unwrap(), ["CreateService"]);
}

/// Two objects whose inline definitions share one family (each another image): each
/// registers its revision once, and their resyncs leave each other's revision alone.
/// Were the family's latest revision read at every sync, each object would find the
/// other's there and register its own again, rolling both clusters' tasks every resync.
#[tokio::test]
async fn objects_sharing_one_inline_family_register_once_each() {
    let emulator = Emulator::start();
    let (east, _) = cluster_with(&emulator, "share-east", 1).await;
    let (west, _) = cluster_with(&emulator, "share-west", 1).await;
    let pipeline = pipeline(&emulator).await;
    let sharing = |cluster: &str, image: &str| {
        daemon_service(&format!(
            "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {{name: agent}}\nspec:\n  cluster: {cluster}\n  taskDefinition:\n    family: shared-family\n    containerDefinitions:\n      - {{name: agent, image: '{image}', memory: 128, essential: true}}\n"
        ))
    };
    let mut first = sharing("share-east", "agent:7");
    let mut second = sharing("share-west", "agent:8");
    let mut created = sync(&mut first, &pipeline).await.unwrap();
    created.extend(sync(&mut second, &pipeline).await.unwrap());
    assert_eq!(
        created,
        [
            "RegisterTaskDefinition",
            "CreateService",
            "RegisterTaskDefinition",
            "CreateService"
        ]
    );
    for _ in 0..3 {
        assert!(sync(&mut first, &pipeline).await.unwrap().is_empty());
        assert!(sync(&mut second, &pipeline).await.unwrap().is_empty());
    }
    for (cluster, revision) in [(east, "shared-family:1"), (west, "shared-family:2")] {
        let live = cluster.service("agent").await.unwrap();
        assert!(live.task_definition().unwrap().ends_with(revision));
    }
}

#[tokio::test]
async fn delete_scales_to_zero_then_deletes_and_is_idempotent() {
    let emulator = Emulator::start();
    let (cluster, _) = cluster_with(&emulator, "remove", 2).await;
    let pipeline = pipeline(&emulator).await;
    let mut obj = agent("remove", "agent:7");
    sync(&mut obj, &pipeline).await.unwrap();

    let steps: Vec<_> = pipeline
        .delete(&obj)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.action)
        .collect();
    assert_eq!(steps, ["UpdateService", "DeleteService"]);
    assert!(cluster.service("agent").await.is_none());
    assert!(
        pipeline.delete(&obj).await.unwrap().is_empty(),
        "deleting again is a no-op"
    );
}

#[tokio::test]
async fn existing_service_is_refused_unless_adopt_existing() {
    let emulator = Emulator::start();
    let (cluster, _) = cluster_with(&emulator, "adopt", 2).await;
    let pipeline = pipeline(&emulator).await;
    // A service created by hand, with a revision registered by hand.
    let mut earlier = agent("adopt", "agent:6");
    earlier.metadata.uid = Some("someone-by-hand".into());
    sync(&mut earlier, &pipeline).await.unwrap();
    cluster
        .ecs
        .untag_resource()
        .resource_arn(
            earlier
                .status
                .as_ref()
                .unwrap()
                .service_arn
                .clone()
                .unwrap(),
        )
        .tag_keys("ecsfleet.dev/owner")
        .tag_keys("ecsfleet.dev/uid")
        .send()
        .await
        .unwrap();
    let writes_before = writes(&pipeline.env);

    let mut obj = agent("adopt", "agent:7");
    let error = sync(&mut obj, &pipeline).await.unwrap_err();
    assert_eq!(error.reason(), Reason::AlreadyExists, "{error}");
    assert_eq!(
        writes(&pipeline.env),
        writes_before,
        "a refused object writes nothing"
    );
    assert_eq!(cluster.revisions("agent-adopt").await.len(), 1);
    // Deleting the refused object leaves the service alone.
    assert_eq!(
        pipeline.delete(&obj).await.unwrap()[0].action,
        "LeaveService"
    );
    assert!(cluster.service("agent").await.is_some());

    obj.spec.common.adopt_existing = true;
    let actions = sync(&mut obj, &pipeline).await.unwrap();
    assert_eq!(
        actions,
        ["AdoptService", "RegisterTaskDefinition", "UpdateService"]
    );
    let tags = cluster.service("agent").await.unwrap().tags().to_vec();
    assert!(
        tags.iter()
            .any(|t| t.key() == Some("ecsfleet.dev/uid") && t.value() == Some("0b5e2a7c-uid"))
    );
}

#[tokio::test]
async fn service_of_another_object_is_never_modified() {
    let emulator = Emulator::start();
    let (cluster, _) = cluster_with(&emulator, "owned", 1).await;
    let pipeline = pipeline(&emulator).await;
    let mut first = agent("owned", "agent:7");
    sync(&mut first, &pipeline).await.unwrap();

    let mut second = agent("owned", "agent:8");
    second.metadata.namespace = Some("other-team".into());
    second.spec.common.adopt_existing = true;
    let writes_before = writes(&pipeline.env);
    let error = sync(&mut second, &pipeline).await.unwrap_err();
    assert_eq!(error.reason(), Reason::OwnedByOther, "{error}");
    assert!(error.to_string().contains("monitoring/agent"), "{error}");
    assert_eq!(writes(&pipeline.env), writes_before);
    assert!(pipeline.delete(&second).await.unwrap()[0].action == "LeaveService");
    assert!(cluster.service("agent").await.is_some());
}

#[tokio::test]
async fn invalid_specs_write_nothing_and_name_the_field() {
    let emulator = Emulator::start();
    cluster_with(&emulator, "bad", 1).await;
    let pipeline = pipeline(&emulator).await;
    let cases = [
        ("taskDefinition: {}", "spec.taskDefinition"),
        (
            "taskDefinition: {arn: 'x:1', family: f, containerDefinitions: [{name: a, image: i}]}",
            "spec.taskDefinition",
        ),
        (
            "taskDefinition: {arn: 'missing:1'}",
            "spec.taskDefinition.arn",
        ),
        (
            "taskDefinition: {family: f, containerDefinitions: [{name: a, image: i, memory: 64, bogus: 1}]}",
            "spec.taskDefinition.containerDefinitions[0].bogus",
        ),
        (
            "instanceFilter: 'attribute:x ==='\n  taskDefinition: {arn: 'x:1'}",
            "spec.instanceFilter",
        ),
        // ECS itself refuses: a container without any memory setting.
        (
            "taskDefinition: {family: nomem, containerDefinitions: [{name: a, image: i}]}",
            "spec.taskDefinition",
        ),
    ];
    for (spec, field) in cases {
        let mut obj = daemon_service(&format!(
            "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {{name: bad}}\nspec:\n  cluster: bad\n  {spec}\n"
        ));
        let error = sync(&mut obj, &pipeline).await.unwrap_err();
        assert_eq!(error.reason(), Reason::InvalidSpec, "{spec}: {error}");
        assert!(!error.is_retryable());
        assert!(error.to_string().starts_with(field), "{spec}: {error}");
    }
    assert_eq!(
        writes(&pipeline.env),
        BTreeMap::new(),
        "invalid specs must not write"
    );
}

#[tokio::test]
async fn missing_cluster_is_retryable_and_named() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let mut obj = agent("nowhere", "agent:7");
    let error = sync(&mut obj, &pipeline).await.unwrap_err();
    assert!(error.is_retryable());
    assert!(
        error
            .to_string()
            .contains("nowhere (spec.cluster) does not exist"),
        "{error}"
    );
    assert_eq!(writes(&pipeline.env), BTreeMap::new());
}

#[tokio::test]
async fn one_observation_serves_every_daemon_service_of_a_cluster() {
    let emulator = Emulator::start();
    let (cluster, _) = cluster_with(&emulator, "shared", 3).await;
    let mut objects = created_agents(&emulator, "shared", 4).await;
    for i in 0..4 {
        assert_eq!(
            cluster
                .service(&format!("agent-{i:02}"))
                .await
                .unwrap()
                .desired_count(),
            3
        );
    }

    // A resync of all four within one freshness window, as the controller does.
    let peers = Directory::Fixed(Arc::new(objects.clone()));
    let pipeline = pipeline_with(&emulator, Duration::from_secs(300), peers).await;
    for obj in &mut objects {
        assert!(sync(obj, &pipeline).await.unwrap().is_empty());
    }
    let calls = pipeline.env.metrics().aws_requests();
    assert_eq!(calls.get("ListContainerInstances"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("DescribeContainerInstances"),
        None,
        "no filter: the ACTIVE instances are listed, not described: {calls:?}"
    );
    assert_eq!(
        calls.get("DescribeServices"),
        Some(&1),
        "four services in one call: {calls:?}"
    );
    assert_eq!(
        calls.get("DescribeTaskDefinition"),
        None,
        "each service runs the revision its last sync left: no family read: {calls:?}"
    );
    assert_eq!(writes(&pipeline.env), BTreeMap::new());
}

#[tokio::test]
async fn service_answers_past_their_freshness_are_not_kept() {
    let emulator = Emulator::start();
    cluster_with(&emulator, "turns", 1).await;
    let objects = created_agents(&emulator, "turns", 11).await;
    let freshness = Duration::from_secs(2);
    let peers = Directory::Fixed(Arc::new(objects.clone()));
    let pipeline = pipeline_with(&emulator, freshness, peers).await;
    let held = || pipeline.shared.clusters.services_held();
    // agent-00 with nine peers in one call, then agent-10 alone: eleven answers.
    sync(&mut objects[0].clone(), &pipeline).await.unwrap();
    sync(&mut objects[10].clone(), &pipeline).await.unwrap();
    assert_eq!(held().await, 11);
    // Past their freshness, agent-10 again with nine stale peers (agent-00 to agent-08):
    // agent-09's stale answer, not in that call, is dropped rather than kept.
    tokio::time::sleep(freshness + Duration::from_millis(100)).await;
    sync(&mut objects[10].clone(), &pipeline).await.unwrap();
    assert_eq!(held().await, 10);
    let calls = pipeline.env.metrics().aws_requests();
    assert_eq!(calls.get("DescribeServices"), Some(&3), "{calls:?}");
}

#[tokio::test]
async fn a_clusters_service_answers_are_dropped_once_its_turn_is_over() {
    let emulator = Emulator::start();
    cluster_with(&emulator, "shrinks", 1).await;
    let freshness = Duration::from_secs(1);
    let pipeline = pipeline_with(&emulator, freshness, Directory::default()).await;
    let target = ecsfleet::aws::AwsTarget {
        region: Some(crate::support::REGION.into()),
        ..Default::default()
    };
    let clients = pipeline.env.aws.clients(&target).await.unwrap();
    let key = ClusterKey::new(&clients.region, &target, "shrinks");
    let clusters = &pipeline.shared.clusters;
    // A whole cluster's turn: a hundred services, ten to a call.
    let names: Vec<String> = (0..100).map(|i| format!("svc-{i:03}")).collect();
    for batch in names.chunks(10) {
        let peers = batch.to_vec();
        clusters
            .service(&clients, &key, "shrinks", &batch[0], &peers)
            .await
            .unwrap();
    }
    assert!(clusters.service_capacity(&key).await >= 100);
    assert_eq!(clusters.services_held().await, 100);
    // The turn is over: the stale answers and the table's room are given back without
    // waiting for the cluster's next call.
    tokio::time::sleep(freshness + Duration::from_millis(300)).await;
    assert_eq!(clusters.services_held().await, 0);
    assert_eq!(clusters.service_capacity(&key).await, 0);
    // The next turn describes again and keeps what it needs.
    clusters
        .service(&clients, &key, "shrinks", "svc-000", &[])
        .await
        .unwrap();
    assert_eq!(clusters.services_held().await, 1);
    let capacity = clusters.service_capacity(&key).await;
    assert!(capacity <= 8, "room for {capacity} answers kept");
}

/// A cluster's turn may take longer than the freshness: an answer fetched for a peer
/// serves that peer's first look for longer, and then ages like any other. An AWS event
/// about a service forgets its answer, so the reconcile it triggers reads it again.
#[tokio::test]
async fn a_peers_answer_serves_its_first_look_and_an_event_forgets_it() {
    let emulator = Emulator::start();
    cluster_with(&emulator, "prefetch", 1).await;
    let env = plain_env(&emulator).await;
    let freshness = Duration::from_millis(300);
    let observer = EcsObserver::new(freshness).with_prefetched_life(Duration::from_secs(5));
    let clusters = Arc::new(observer);
    let shared = Shared::with_clusters(clusters.clone(), Directory::default(), &env.hosts);
    let pipeline: Pipeline<DaemonService> = Pipeline::new(env, shared);
    let target = ecsfleet::aws::AwsTarget {
        region: Some(crate::support::REGION.into()),
        ..Default::default()
    };
    let clients = pipeline.env.aws.clients(&target).await.unwrap();
    let key = ClusterKey::new(&clients.region, &target, "prefetch");
    let names: Vec<String> = (0..10).map(|i| format!("svc-{i}")).collect();
    let described = || {
        pipeline
            .env
            .metrics()
            .aws_requests()
            .get("DescribeServices")
            .copied()
            .unwrap_or(0)
    };
    let look = |name: &'static str| clusters.service(&clients, &key, "prefetch", name, &names);
    look("svc-0").await.unwrap();
    assert_eq!(described(), 1);
    tokio::time::sleep(freshness * 2).await;
    // Past the freshness: the asker's own answer is stale, a peer's first look is not.
    look("svc-5").await.unwrap();
    assert_eq!(
        described(),
        1,
        "svc-5 was fetched with svc-0's batch and not used yet"
    );
    tokio::time::sleep(freshness * 2).await;
    look("svc-5").await.unwrap();
    assert_eq!(described(), 2, "once used, an answer ages like any other");
    // Fresh again now; an event about it forgets it (in any role's table).
    look("svc-5").await.unwrap();
    assert_eq!(described(), 2);
    clusters.forget_service_in(
        crate::support::REGION,
        "arn:aws:ecs:eu-west-1:123456789012:cluster/prefetch",
        "svc-5",
    );
    look("svc-5").await.unwrap();
    assert_eq!(described(), 3, "the event's service is read again");

    // The controller's stream of AWS events does so before it names the object.
    let mut obj = agent("prefetch", "agent:7");
    obj.metadata.namespace = Some("ns".into());
    obj.spec.common.region = Some(crate::support::REGION.into());
    obj.spec.service_name = Some("svc-5".into());
    let (store, mut writer) = kube::runtime::reflector::store();
    writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(
        kube::core::DeserializeGuard(Ok(obj)),
    ));
    let (sender, receiver) = tokio::sync::broadcast::channel(4);
    let named =
        ecsfleet::daemon_service::reconciles_for_events(store, receiver, None, clusters.clone());
    futures::pin_mut!(named);
    look("svc-5").await.unwrap();
    assert_eq!(clusters.services_held().await, 10);
    sender
        .send(Trigger::Service {
            region: crate::support::REGION.into(),
            cluster: "prefetch".into(),
            service: "svc-5".into(),
        })
        .unwrap();
    let object = futures::StreamExt::next(&mut named).await.unwrap();
    assert_eq!(object.name, "agent");
    assert_eq!(
        clusters.services_held().await,
        9,
        "forgotten before the object was named"
    );
}

#[tokio::test]
async fn daemon_scheduling_uses_the_native_strategy() {
    let emulator = Emulator::start();
    let (cluster, _) = cluster_with(&emulator, "native", 2).await;
    let pipeline = pipeline(&emulator).await;
    let mut obj = agent("native", "agent:7");
    obj.spec.scheduling = Some(ecsfleet::daemon_service::Scheduling::Daemon);
    assert_eq!(
        sync(&mut obj, &pipeline).await.unwrap(),
        ["RegisterTaskDefinition", "CreateService"]
    );
    let service = cluster.service("agent").await.unwrap();
    assert_eq!(
        service.scheduling_strategy().map(|s| s.as_str()),
        Some("DAEMON")
    );
    assert!(sync(&mut obj, &pipeline).await.unwrap().is_empty());
}

/// The service options daemons use reach ECS on create, a hand edit of them is set back
/// (counted as drift), a resync in sync writes nothing, and a new `ecsfleet.dev/redeploy`
/// value forces exactly one new deployment of the same revision.
#[tokio::test]
async fn service_options_are_created_kept_and_a_redeploy_is_forced_once() {
    let emulator = Emulator::start();
    let (cluster, _) = cluster_with(&emulator, "options", 2).await;
    let pipeline = pipeline(&emulator).await;
    let target_group =
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/agent/0123456789abcdef";
    let mut obj = daemon_service(&format!(
        r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {{name: agent}}
spec:
  cluster: options
  loadBalancers: [{{targetGroupArn: "{target_group}", containerName: agent, containerPort: 8126}}]
  healthCheckGracePeriodSeconds: 60
  enableExecuteCommand: true
  enableECSManagedTags: true
  propagateTags: TASK_DEFINITION
  deployment:
    deploymentCircuitBreaker: {{enable: true, rollback: true}}
    alarms: {{alarmNames: [agent-errors]}}
  taskDefinition:
    family: agent-options
    containerDefinitions:
      - {{name: agent, image: "agent:7", memory: 128, portMappings: [{{containerPort: 8126}}]}}
"#
    ));
    sync(&mut obj, &pipeline).await.unwrap();
    let service = cluster.service("agent").await.unwrap();
    assert!(service.enable_execute_command());
    assert!(service.enable_ecs_managed_tags());
    assert_eq!(
        service.propagate_tags().map(|p| p.as_str()),
        Some("TASK_DEFINITION")
    );
    assert_eq!(service.health_check_grace_period_seconds(), Some(60));
    assert_eq!(
        service.load_balancers()[0].target_group_arn(),
        Some(target_group)
    );
    let deployment = service.deployment_configuration().unwrap();
    let breaker = deployment.deployment_circuit_breaker().unwrap();
    assert!(breaker.enable() && breaker.rollback());
    assert_eq!(deployment.alarms().unwrap().alarm_names(), ["agent-errors"]);
    assert!(sync(&mut obj, &pipeline).await.unwrap().is_empty());

    // By hand: ECS Exec off. Set back, as drift.
    cluster
        .ecs
        .update_service()
        .cluster("options")
        .service("agent")
        .enable_execute_command(false)
        .send()
        .await
        .unwrap();
    let repaired = sync(&mut obj, &pipeline).await.unwrap();
    assert_eq!(repaired, ["UpdateService"]);
    assert!(
        cluster
            .service("agent")
            .await
            .unwrap()
            .enable_execute_command()
    );
    assert!(sync(&mut obj, &pipeline).await.unwrap().is_empty());

    // A redeploy: one new deployment of the same revision, then nothing.
    let before = cluster.service("agent").await.unwrap();
    let deployment_id =
        |s: &aws_sdk_ecs::types::Service| s.deployments()[0].id().map(str::to_string);
    obj.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("ecsfleet.dev/redeploy".into(), "pull agent:7 again".into());
    assert_eq!(sync(&mut obj, &pipeline).await.unwrap(), ["UpdateService"]);
    let after = cluster.service("agent").await.unwrap();
    assert_ne!(
        deployment_id(&before),
        deployment_id(&after),
        "a new deployment"
    );
    assert_eq!(
        before.task_definition(),
        after.task_definition(),
        "of the same revision"
    );
    assert_eq!(
        obj.status.as_ref().unwrap().redeployed.as_deref(),
        Some("pull agent:7 again")
    );
    assert!(
        sync(&mut obj, &pipeline).await.unwrap().is_empty(),
        "answered once"
    );
}
