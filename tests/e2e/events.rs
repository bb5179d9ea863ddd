//! AWS events end to end: `ecsfleet events install` makes the queues and rules on the
//! emulator (whose services publish the events AWS publishes), the controller runs with
//! a resync far longer than the test, and reacts within seconds — or, without the event
//! source, does not.

use std::time::Duration;

use crate::support::control_plane::{ControlPlane, Operator};
use crate::support::{Cluster, Emulator};
use crate::*;

/// Far longer than any wait in this test; `clear_of_resync_turn` keeps the one wait that
/// must see no reconcile away from the object's turn, so that anything that happens in it
/// happens because of an event.
const LONG_RESYNC: Duration = Duration::from_secs(600);
/// How long an event may take to be acted on here (the benchmark measures the real
/// figure; this only bounds the wait).
const WITHIN: Duration = Duration::from_secs(15);

/// `ecsfleet events install --region REGION`; returns the queue URL it prints.
fn install(emulator: &Emulator, region: &str) -> String {
    emulator.events_queue(ECSFLEET, region)
}

fn desired(plane: &ControlPlane) -> Option<i64> {
    json(plane, &["get", "dsvc", "agent", "-n", "monitoring"])["status"]["desiredCount"].as_i64()
}

fn start(
    plane: &ControlPlane,
    emulator: &Emulator,
    kubeconfig: &std::path::Path,
    extra: &[&str],
) -> Operator {
    let resync = format!("{}s", LONG_RESYNC.as_secs());
    let mut args = vec!["--resync", resync.as_str()];
    args.extend(extra);
    Operator::start(
        ECSFLEET,
        kubeconfig,
        emulator,
        plane.dir.path().join("operator.log"),
        &args,
    )
}

/// Waits until `operator` has reconciled some `kind` object and then done no reconcile of
/// that kind for three seconds.
async fn settled(operator: &Operator, kind: &str) {
    let quiet = Duration::from_secs(3);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut last = operator.reconciles(kind);
    loop {
        tokio::time::sleep(quiet).await;
        let now = operator.reconciles(kind);
        if now > 0 && now == last {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{kind} reconciles never settled ({now} so far)\n{}",
            operator.logs()
        );
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_events_make_the_controller_react_without_waiting_for_the_resync() {
    let (plane, emulator, kubeconfig) = prepared();
    plane.kubectl_ok(&["create", "namespace", "monitoring"]);
    let cluster = Cluster::create(&emulator, "production").await;
    let first = cluster.add_instance(&emulator).await;
    cluster.add_instance(&emulator).await;

    let regional = install(&emulator, "eu-west-1");
    // IAM is global: its CloudTrail events arrive in us-east-1 only.
    let global = install(&emulator, "us-east-1");
    // Installing again changes nothing and prints the same queue.
    assert_eq!(install(&emulator, "eu-west-1"), regional);

    let operator = start(
        &plane,
        &emulator,
        &kubeconfig,
        &[
            "--events-queue-url",
            &regional,
            "--events-queue-url",
            &format!("us-east-1={global}"),
        ],
    );
    assert!(
        plane
            .kubectl_input(
                &["apply", "-f", "-"],
                &daemon_service_yaml("agent", "monitoring")
            )
            .status
            .success()
    );
    eventually(
        "agent on 2 hosts",
        Duration::from_secs(60),
        Some(&operator),
        || desired(&plane).filter(|n| *n == 2),
    )
    .await;

    // A host joins a cluster no ScalingGroup feeds: ECS's container instance event.
    cluster.add_instance(&emulator).await;
    eventually("agent to follow the join", WITHIN, Some(&operator), || {
        desired(&plane).filter(|n| *n == 3)
    })
    .await;
    // A host drains.
    cluster.drain(&first).await;
    eventually("agent to follow the drain", WITHIN, Some(&operator), || {
        desired(&plane).filter(|n| *n == 2)
    })
    .await;

    // A poison message does not stop the consumer: the next event is still acted on.
    let sqs = aws_sdk_sqs::Client::new(&emulator.sdk_config().await);
    for body in ["not json", r#"{"source": "aws.ecs"}"#, "{}"] {
        sqs.send_message()
            .queue_url(&regional)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    cluster.add_instance(&emulator).await;
    eventually(
        "agent to follow a join after poison",
        WITHIN,
        Some(&operator),
        || desired(&plane).filter(|n| *n == 3),
    )
    .await;
    let (_, metrics) = operator.get("/metrics").unwrap();
    assert!(
        metrics.contains(r#"ecsfleet_events_total{result="malformed"} 3"#),
        "{metrics}"
    );
    assert_eq!(
        operator
            .logs()
            .matches("a message that is not an EventBridge event")
            .count(),
        1,
        "logged once"
    );

    // A trust policy edited by hand is set back within seconds (CloudTrail's record of
    // the call, in us-east-1), not at the resync ten minutes away.
    let role = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: IntegrationRole
metadata: {name: vendor, namespace: monitoring}
spec:
  roleName: VendorEvents
  trust:
    principals: ["464622532012"]
    allowWithoutExternalId: true
  policy:
    statements: [{sid: Read, actions: ["ec2:Describe*"]}]
"#;
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], role)
            .status
            .success()
    );
    let get_role = || json(&plane, &["get", "irole", "vendor", "-n", "monitoring"]);
    eventually(
        "the role Ready",
        Duration::from_secs(60),
        Some(&operator),
        || Some(get_role()).filter(ready_and_current),
    )
    .await;
    let iam = aws_sdk_iam::Client::new(&emulator.sdk_config().await);
    let open = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    iam.update_assume_role_policy()
        .role_name("VendorEvents")
        .policy_document(open)
        .send()
        .await
        .unwrap();
    eventually("the trust policy repaired", WITHIN, Some(&operator), || {
        Some(get_role()).filter(|o| o["status"]["driftRepairs"] == 1)
    })
    .await;
    let live = iam
        .get_role()
        .role_name("VendorEvents")
        .send()
        .await
        .unwrap();
    let trust = ecsfleet::integration_role::document::decode(
        live.role().unwrap().assume_role_policy_document().unwrap(),
    )
    .unwrap();
    assert_eq!(
        trust["Statement"][0]["Principal"]["AWS"],
        serde_json::json!(["arn:aws:iam::464622532012:root"])
    );
    // Its own repair (a write with app/ecsfleet in its User-Agent) triggers nothing more.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, metrics) = operator.get("/metrics").unwrap();
    assert!(
        metrics.contains(r#"ecsfleet_events_total{result="ignored"}"#),
        "the repair's own CloudTrail record is ignored: {metrics}"
    );
    assert_eq!(get_role()["status"]["driftRepairs"], 1, "no loop");

    // A ScalingGroup's alarm deleted by hand (CloudWatch's CloudTrail record, carried
    // over the CBOR protocol) is made again within seconds.
    let group = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: ScalingGroup
metadata: {name: workers, namespace: monitoring}
spec:
  launchTemplate: {imageId: ami-760aaa0f, instanceType: t3.small}
  minSize: 1
  maxSize: 4
  desiredCapacity: 1
  availabilityZones: [eu-west-1a]
  scalingPolicies:
    - name: cpu-high
      adjustmentType: ChangeInCapacity
      scalingAdjustment: 1
      alarm: {metricName: CPUUtilization, statistic: Average, periodSeconds: 60,
              evaluationPeriods: 2, threshold: 70, comparisonOperator: GreaterThanThreshold}
"#;
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], group)
            .status
            .success()
    );
    let get_group = || {
        json(
            &plane,
            &["get", "scalinggroup", "workers", "-n", "monitoring"],
        )
    };
    eventually(
        "the group Ready",
        Duration::from_secs(60),
        Some(&operator),
        || Some(get_group()).filter(ready_and_current),
    )
    .await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&emulator.sdk_config().await);
    let alarms = || async {
        cloudwatch
            .describe_alarms()
            .alarm_names("workers-cpu-high")
            .send()
            .await
            .unwrap()
            .metric_alarms()
            .len()
    };
    assert_eq!(alarms().await, 1);
    cloudwatch
        .delete_alarms()
        .alarm_names("workers-cpu-high")
        .send()
        .await
        .unwrap();
    assert_eq!(alarms().await, 0);
    let deadline = std::time::Instant::now() + WITHIN;
    while alarms().await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the alarm was not made again within {WITHIN:?}\n{}",
            operator.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let events_log = operator.logs();
    assert!(operator.stop(), "exits 0 on SIGTERM:\n{events_log}");

    // Without the event source, the same join waits for the resync: nothing moves.
    let operator = start(&plane, &emulator, &kubeconfig, &[]);
    eventually(
        "a first reconcile",
        Duration::from_secs(30),
        Some(&operator),
        || operator.get("/readyz").filter(|(code, _)| *code == 200),
    )
    .await;
    // Past the object's turn if it is near, and ready means the watches synced, not that
    // the object was reconciled: wait for its reconciles (start-up, a turn just passed,
    // any their status writes cause) to be over, so that the join below cannot be seen
    // by one that merely came late.
    plane
        .clear_of_resync_turn("monitoring", "agent", LONG_RESYNC, WITHIN * 3)
        .await;
    settled(&operator, "DaemonService").await;
    let before = desired(&plane).unwrap();
    cluster.add_instance(&emulator).await;
    tokio::time::sleep(WITHIN).await;
    assert_eq!(
        desired(&plane),
        Some(before),
        "without events the join waits for the resync\n{}",
        operator.logs()
    );
    assert!(operator.stop());
}

/// Two replicas sharing 8 shards and one queue: SQS hands an event to one of them, and
/// the DaemonService of the other replica's shard follows the host change as soon as
/// its own does — the receiving replica passes it on to the other's inbox, and each
/// replica watches only its own shard's objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_sharding_an_event_reaches_the_objects_of_every_replica() {
    const SHARDS: u32 = 8;
    let members = ["replica-a".to_string(), "replica-b".to_string()];
    let namespaces = namespaces_of_two_replicas(&members, SHARDS);
    let (plane, emulator, kubeconfig) = prepared();
    let cluster = Cluster::create(&emulator, "production").await;
    cluster.add_instance(&emulator).await;
    cluster.add_instance(&emulator).await;
    let regional = install(&emulator, "eu-west-1");
    let resync = format!("{}s", LONG_RESYNC.as_secs());
    let args = [
        "--resync",
        &resync,
        "--shards",
        &SHARDS.to_string(),
        "--events-queue-url",
        &regional,
    ];
    let replicas: Vec<Operator> = members
        .iter()
        .map(|name| replica(&plane, &emulator, &kubeconfig, name, &args))
        .collect();
    all_ready(&replicas).await;
    let desired_in = |namespace: &str| {
        let name = format!("agent-{namespace}");
        json(&plane, &["get", "dsvc", &name, "-n", namespace])["status"]["desiredCount"].as_i64()
    };
    for namespace in [&namespaces.0, &namespaces.1] {
        plane.kubectl_ok(&["create", "namespace", namespace]);
        // Named apart: one ECS cluster, one service name each.
        let service = daemon_service_yaml(&format!("agent-{namespace}"), namespace);
        assert!(
            plane
                .kubectl_input(&["apply", "-f", "-"], &service)
                .status
                .success()
        );
    }
    for (namespace, replica) in [(&namespaces.0, &replicas[0]), (&namespaces.1, &replicas[1])] {
        eventually(
            "agent on 2 hosts",
            Duration::from_secs(60),
            Some(replica),
            || desired_in(namespace).filter(|n| *n == 2),
        )
        .await;
    }

    // A host joins: one event, taken off the queue by one of the two replicas.
    cluster.add_instance(&emulator).await;
    for (namespace, replica) in [(&namespaces.0, &replicas[0]), (&namespaces.1, &replicas[1])] {
        eventually(
            "each replica's agent to follow the join",
            WITHIN,
            Some(replica),
            || desired_in(namespace).filter(|n| *n == 3),
        )
        .await;
    }
    let counted = |result: &str| -> u64 {
        replicas
            .iter()
            .map(|replica| {
                replica.metric(&format!(r#"ecsfleet_events_total{{result="{result}"}}"#))
            })
            .sum()
    };
    assert!(
        counted("passed-on") >= 1,
        "the receiving replica passed the event on"
    );
    assert!(
        counted("received") >= 1,
        "the other replica read it from its inbox"
    );
    // An inbox deleted under a live replica is made again.
    let inbox = [
        "get",
        "configmap",
        "ecsfleet-inbox-replica-b",
        "-n",
        "ecsfleet-system",
    ];
    plane.kubectl_ok(&inbox);
    plane.kubectl_ok(&[
        "delete",
        "configmap",
        "ecsfleet-inbox-replica-b",
        "-n",
        "ecsfleet-system",
    ]);
    eventually(
        "the inbox made again",
        Duration::from_secs(20),
        Some(&replicas[1]),
        || plane.kubectl(&inbox).status.success().then_some(()),
    )
    .await;
    for replica in replicas {
        assert!(replica.stop());
    }
}
