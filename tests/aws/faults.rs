//! Every kind under AWS faults: a proxy between ecsfleet and the emulator throttles,
//! answers 5xx, resets connections and loses answers after the write took effect (30 %
//! of requests, seeded). Each scenario converges, then the AWS inventory is checked
//! exactly: one of each thing, one revision or version per real change; a fault-free
//! re-apply writes nothing; a delete under faults leaves nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::faults::{ALL, FaultProxy};
use crate::support::{Cluster, Emulator, sync, writes};
use ecsfleet::daemon_service::{DaemonService, Shared};
use ecsfleet::integration_role::IntegrationRole;
use ecsfleet::runtime::secrets::Secrets;
use ecsfleet::runtime::{Directory, Env, Managed, Pipeline};
use ecsfleet::scaling_group::ScalingGroup;
use k8s_openapi::api::core::v1::Secret;

const RATE: f64 = 0.3;
const SEEDS: [u64; 3] = [11, 23, 47];

/// Syncs until a sync succeeds with nothing left to change, as the controller's retries
/// would; every error on the way must be retryable. Returns the attempts it took.
async fn converge<K: Managed>(obj: &mut K, pipeline: &Pipeline<K>, what: &str) -> usize {
    for attempt in 1..=60 {
        match sync(obj, pipeline).await {
            Ok(actions) if actions.is_empty() => return attempt,
            Ok(_) => {}
            Err(error) => assert!(
                error.is_retryable(),
                "{what}: a fault must not turn into a terminal error: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: did not converge in 60 syncs");
}

/// Deletes until a delete succeeds, as the controller's finalizer would.
async fn delete<K: Managed>(obj: &K, pipeline: &Pipeline<K>, what: &str) {
    for _ in 0..60 {
        match pipeline.delete(obj).await {
            Ok(_) => return,
            Err(error) => assert!(error.is_retryable(), "{what}: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: the delete did not finish in 60 attempts");
}

/// A fault-free sync changes nothing and writes nothing.
async fn quiet<K: Managed>(obj: &mut K, pipeline: &Pipeline<K>, proxy: &FaultProxy) {
    proxy.configure(0.0, 0, ALL, None);
    let before = writes(&pipeline.env);
    assert_eq!(sync(obj, pipeline).await.unwrap(), Vec::<String>::new());
    assert_eq!(writes(&pipeline.env), before, "a re-apply writes nothing");
}

fn faults_injected(proxy: &FaultProxy) -> u64 {
    proxy.stats()["faults"]
        .as_object()
        .map(|kinds| kinds.values().filter_map(|n| n.as_u64()).sum())
        .unwrap_or(0)
}

/// Every throttling answer the proxy injected (in the service's own protocol: JSON, Query
/// XML, EC2 XML or CBOR) was counted as `outcome="throttled"`, and nothing else was.
fn throttles_counted(proxy: &FaultProxy, env: &Env) {
    let injected = proxy.stats()["faults"]["throttle"].as_u64().unwrap_or(0);
    let counted: u64 = env.metrics().throttled_aws_requests().values().sum();
    assert!(injected > 0, "throttling was injected");
    assert_eq!(counted, injected, "throttled requests counted");
}

fn agent(image: &str, generation: i64) -> DaemonService {
    let mut obj: DaemonService = serde_yaml_ng::from_str(&format!(
        r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {{name: agent, namespace: monitoring, uid: agent-uid}}
spec:
  cluster: faults
  taskDefinition:
    family: agent-faults
    containerDefinitions:
      - {{name: agent, image: "{image}", memory: 128, essential: true}}
"#
    ))
    .unwrap();
    obj.metadata.generation = Some(generation);
    obj
}

#[tokio::test]
async fn daemon_service_under_faults_makes_one_revision_per_change() {
    for seed in SEEDS {
        let emulator = Emulator::start();
        let cluster = Cluster::create(&emulator, "faults").await;
        for _ in 0..3 {
            cluster.add_instance(&emulator).await;
        }
        let proxy = FaultProxy::start(&emulator);
        let env = proxy.env(Secrets::Files(BTreeMap::new())).await;
        let shared = Shared::new(Duration::ZERO, Directory::default(), &env.hosts);
        let pipeline = Pipeline::new(env, shared);
        proxy.configure(RATE, seed, ALL, None);

        let mut obj = agent("agent:1", 1);
        converge(&mut obj, &pipeline, "create").await;
        assert_eq!(
            cluster.revisions("agent-faults").await.len(),
            1,
            "seed {seed}"
        );
        let service = cluster.service("agent").await.expect("the service");
        assert_eq!(service.desired_count(), 3);

        let status = obj.status.clone();
        obj = agent("agent:2", 2);
        obj.status = status;
        converge(&mut obj, &pipeline, "image change").await;
        assert_eq!(
            cluster.revisions("agent-faults").await.len(),
            2,
            "seed {seed}: one revision per change"
        );
        let service = cluster.service("agent").await.unwrap();
        assert!(service.task_definition().unwrap().ends_with(":2"));
        assert!(faults_injected(&proxy) > 0, "faults were injected");
        throttles_counted(&proxy, &pipeline.env);

        // Every answer to RegisterTaskDefinition lost, after it took effect.
        proxy.configure(1.0, seed, &["lost"], Some("RegisterTaskDefinition"));
        let status = obj.status.clone();
        obj = agent("agent:3", 3);
        obj.status = status;
        converge(&mut obj, &pipeline, "image change, answers lost").await;
        assert_eq!(
            cluster.revisions("agent-faults").await.len(),
            3,
            "seed {seed}: a lost answer is not written again"
        );
        let service = cluster.service("agent").await.unwrap();
        assert!(service.task_definition().unwrap().ends_with(":3"));
        quiet(&mut obj, &pipeline, &proxy).await;

        proxy.configure(RATE, seed, ALL, None);
        delete(&obj, &pipeline, "delete").await;
        assert!(cluster.service("agent").await.is_none(), "seed {seed}");
        assert_eq!(cluster.revisions("agent-faults").await.len(), 3);
    }
}

#[tokio::test]
async fn managed_daemon_under_faults_makes_one_daemon_and_one_definition_per_change() {
    for seed in SEEDS {
        let emulator = Emulator::start();
        let cluster = Cluster::create(&emulator, "faults").await;
        crate::support::managed_instances(&emulator, &cluster, 2).await;
        let proxy = FaultProxy::start(&emulator);
        let env = proxy.env(Secrets::Files(BTreeMap::new())).await;
        let shared = Shared::new(Duration::ZERO, Directory::default(), &env.hosts);
        let pipeline = Pipeline::new(env, shared);
        let daemon = |image: &str, generation: i64| {
            let mut obj = agent(image, generation);
            obj.spec.scheduling = Some(ecsfleet::daemon_service::Scheduling::ManagedDaemon);
            obj
        };
        let daemons = || async {
            cluster
                .ecs
                .list_daemons()
                .send()
                .await
                .unwrap()
                .daemon_summaries_list()
                .len()
        };
        let definitions = || async {
            cluster
                .ecs
                .list_daemon_task_definitions()
                .family("agent-faults")
                .send()
                .await
                .map(|l| l.daemon_task_definitions().len())
                .unwrap_or(0)
        };

        // Every answer to the two creating writes lost, after they took effect.
        proxy.configure(
            1.0,
            seed,
            &["lost"],
            Some("CreateDaemon|RegisterDaemonTaskDefinition"),
        );
        let mut obj = daemon("agent:1", 1);
        converge(&mut obj, &pipeline, "create, answers lost").await;
        assert_eq!(daemons().await, 1, "seed {seed}: one daemon");
        assert_eq!(definitions().await, 1, "seed {seed}: one definition");

        proxy.configure(RATE, seed, ALL, None);
        let status = obj.status.clone();
        obj = daemon("agent:2", 2);
        obj.status = status;
        converge(&mut obj, &pipeline, "image change").await;
        assert_eq!(
            definitions().await,
            2,
            "seed {seed}: one definition per change"
        );
        assert_eq!(daemons().await, 1);
        quiet(&mut obj, &pipeline, &proxy).await;

        proxy.configure(RATE, seed, ALL, None);
        delete(&obj, &pipeline, "delete").await;
        assert_eq!(daemons().await, 0, "seed {seed}");
    }
}

const ROLE: &str = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: IntegrationRole
metadata: {name: vendor, namespace: monitoring, uid: role-uid}
spec:
  roleName: VendorRole
  trust:
    principals: ["464622532012"]
    externalId: {secretRef: {name: vendor-external-id, key: externalId}}
  policy:
    statements:
      - {sid: Read, actions: ["ec2:Describe*", "cloudwatch:Get*"]}
  managedPolicyArns: [arn:aws:iam::aws:policy/SecurityAudit]
"#;

fn role(yaml: &str, generation: i64) -> IntegrationRole {
    let mut obj: IntegrationRole = serde_yaml_ng::from_str(yaml).unwrap();
    obj.metadata.generation = Some(generation);
    obj
}

fn external_id_secret() -> Secrets {
    let secret: Secret = serde_yaml_ng::from_str(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: vendor-external-id, namespace: monitoring}\nstringData: {externalId: Faults-external-id-0123456789}\n",
    )
    .unwrap();
    Secrets::Files(BTreeMap::from([(
        ("monitoring".to_string(), "vendor-external-id".to_string()),
        secret,
    )]))
}

#[tokio::test]
async fn integration_role_under_faults_makes_one_version_per_change() {
    for seed in SEEDS {
        let emulator = Emulator::start();
        let iam = aws_sdk_iam::Client::new(&emulator.sdk_config().await);
        let proxy = FaultProxy::start(&emulator);
        let pipeline = Pipeline::new(proxy.env(external_id_secret()).await, ());
        proxy.configure(RATE, seed, ALL, None);

        let mut obj = role(ROLE, 1);
        converge(&mut obj, &pipeline, "create").await;
        let policies = |iam: aws_sdk_iam::Client| async move {
            iam.list_policies()
                .scope(aws_sdk_iam::types::PolicyScopeType::Local)
                .send()
                .await
                .unwrap()
                .policies()
                .to_vec()
        };
        let live = policies(iam.clone()).await;
        assert_eq!(live.len(), 1, "seed {seed}: one policy");
        let arn = live[0].arn().unwrap().to_string();
        let versions = |iam: aws_sdk_iam::Client, arn: String| async move {
            iam.list_policy_versions()
                .policy_arn(arn)
                .send()
                .await
                .unwrap()
                .versions()
                .len()
        };
        assert_eq!(versions(iam.clone(), arn.clone()).await, 1);
        let roles = iam.list_roles().send().await.unwrap();
        assert_eq!(roles.roles().len(), 1, "seed {seed}: one role");

        let status = obj.status.clone();
        obj = role(&ROLE.replace("cloudwatch:Get*", "cloudwatch:List*"), 2);
        obj.status = status;
        converge(&mut obj, &pipeline, "statement change").await;
        assert_eq!(
            versions(iam.clone(), arn.clone()).await,
            2,
            "seed {seed}: one version per change"
        );
        assert!(faults_injected(&proxy) > 0);
        throttles_counted(&proxy, &pipeline.env);

        // Every answer to CreatePolicyVersion lost, after it took effect.
        proxy.configure(1.0, seed, &["lost"], Some("CreatePolicyVersion"));
        let status = obj.status.clone();
        obj = role(&ROLE.replace("cloudwatch:Get*", "cloudwatch:Describe*"), 3);
        obj.status = status;
        converge(&mut obj, &pipeline, "statement change, answers lost").await;
        assert_eq!(
            versions(iam.clone(), arn.clone()).await,
            3,
            "seed {seed}: a lost answer is not written again"
        );
        quiet(&mut obj, &pipeline, &proxy).await;

        proxy.configure(RATE, seed, ALL, None);
        delete(&obj, &pipeline, "delete").await;
        assert!(policies(iam.clone()).await.is_empty(), "seed {seed}");
        assert!(iam.list_roles().send().await.unwrap().roles().is_empty());
    }
}

const GROUP: &str = include_str!("../../examples/haproxy-scaling-group.yaml");

fn group(yaml: &str, generation: i64) -> ScalingGroup {
    let mut obj: ScalingGroup = serde_yaml_ng::from_str(yaml).unwrap();
    obj.metadata.uid = Some("group-uid".into());
    obj.metadata.generation = Some(generation);
    obj
}

#[tokio::test]
async fn scaling_group_under_faults_makes_one_template_version_per_change() {
    for seed in SEEDS {
        let emulator = Emulator::start();
        let config = emulator.sdk_config().await;
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let autoscaling = aws_sdk_autoscaling::Client::new(&config);
        let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
        let sns = aws_sdk_sns::Client::new(&config);
        let proxy = FaultProxy::start(&emulator);
        let pipeline = Pipeline::new(proxy.env(Secrets::Files(BTreeMap::new())).await, ());
        proxy.configure(RATE, seed, ALL, None);

        let mut obj = group(GROUP, 1);
        converge(&mut obj, &pipeline, "create").await;
        let templates = ec2.describe_launch_templates().send().await.unwrap();
        assert_eq!(templates.launch_templates().len(), 1, "seed {seed}");
        let versions = || async {
            ec2.describe_launch_template_versions()
                .launch_template_name("haproxy-staging")
                .send()
                .await
                .unwrap()
                .launch_template_versions()
                .len()
        };
        assert_eq!(versions().await, 1, "seed {seed}");
        let groups = autoscaling
            .describe_auto_scaling_groups()
            .send()
            .await
            .unwrap();
        assert_eq!(groups.auto_scaling_groups().len(), 1);
        let alarms = cloudwatch.describe_alarms().send().await.unwrap();
        let alarm_count = alarms.metric_alarms().len();
        assert!(alarm_count > 0);
        let topics = sns.list_topics().send().await.unwrap().topics().len();
        assert_eq!(topics, 1, "seed {seed}: one topic");

        let status = obj.status.clone();
        obj = group(&GROUP.replace("t3.small", "t3.medium"), 2);
        obj.status = status;
        converge(&mut obj, &pipeline, "template change").await;
        assert_eq!(versions().await, 2, "seed {seed}: one version per change");
        let refreshes = autoscaling
            .describe_instance_refreshes()
            .auto_scaling_group_name("haproxy-staging")
            .send()
            .await
            .unwrap();
        assert_eq!(
            refreshes.instance_refreshes().len(),
            1,
            "seed {seed}: one instance refresh"
        );
        let alarms = cloudwatch.describe_alarms().send().await.unwrap();
        assert_eq!(alarms.metric_alarms().len(), alarm_count);
        assert!(faults_injected(&proxy) > 0);
        throttles_counted(&proxy, &pipeline.env);

        // Every answer to the writes that make something new lost, after they took
        // effect.
        proxy.configure(
            1.0,
            seed,
            &["lost"],
            Some("CreateLaunchTemplateVersion|StartInstanceRefresh"),
        );
        let status = obj.status.clone();
        obj = group(&GROUP.replace("t3.small", "t3.large"), 3);
        obj.status = status;
        converge(&mut obj, &pipeline, "template change, answers lost").await;
        assert_eq!(
            versions().await,
            3,
            "seed {seed}: a lost answer is not written again"
        );
        let refreshes = autoscaling
            .describe_instance_refreshes()
            .auto_scaling_group_name("haproxy-staging")
            .send()
            .await
            .unwrap();
        assert_eq!(refreshes.instance_refreshes().len(), 2, "seed {seed}");
        quiet(&mut obj, &pipeline, &proxy).await;

        proxy.configure(RATE, seed, ALL, None);
        delete(&obj, &pipeline, "delete").await;
        let groups = autoscaling
            .describe_auto_scaling_groups()
            .send()
            .await
            .unwrap();
        assert!(groups.auto_scaling_groups().is_empty(), "seed {seed}");
        let templates = ec2.describe_launch_templates().send().await.unwrap();
        assert!(templates.launch_templates().is_empty());
        let alarms = cloudwatch.describe_alarms().send().await.unwrap();
        assert!(alarms.metric_alarms().is_empty());
        assert!(sns.list_topics().send().await.unwrap().topics().is_empty());
    }
}
