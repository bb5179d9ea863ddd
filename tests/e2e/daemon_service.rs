//! DaemonService end to end: apply, Ready, hosts joining and draining, rollout, drift,
//! refusals, print columns, restart, delete and Orphan.

use std::time::Duration;

use crate::support::control_plane::{ControlPlane, Operator};
use crate::support::{self, Cluster, Emulator};
use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_service_lifecycle_on_a_real_control_plane() {
    let plane = ControlPlane::start();
    let emulator = Emulator::start();
    let within_resync = Duration::from_secs(RESYNC_SECONDS * 4);
    let repo = support::repo_root();
    let path = |p: &str| repo.join(p).display().to_string();

    // The CRDs are accepted (structural schema, CEL rules) and established.
    plane.kubectl_ok(&["apply", "-f", &path("crds")]);
    plane.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "crd/daemonservices.ecsfleet.dev",
        "--timeout=60s",
    ]);
    plane.kubectl_ok(&[
        "apply",
        "-f",
        &path("deploy/base/namespace.yaml"),
        "-f",
        &path("deploy/base/rbac.yaml"),
    ]);
    plane.kubectl_ok(&["create", "namespace", "monitoring"]);

    let cluster = Cluster::create(&emulator, "production").await;
    let mut hosts = Vec::new();
    for _ in 0..3 {
        hosts.push(cluster.add_instance(&emulator).await);
    }

    let kubeconfig = plane.service_account_kubeconfig("ecsfleet-system", "ecsfleet");
    let log = plane.dir.path().join("operator.log");
    let resync = format!("{RESYNC_SECONDS}s");
    let operator = Operator::start(
        ECSFLEET,
        &kubeconfig,
        &emulator,
        log.clone(),
        &["--resync", &resync],
    );

    // kubectl apply -f examples/ → the service exists, Ready and Synced, status current.
    plane.kubectl_ok(&["apply", "-f", &path("examples")]);
    // A team that moves to server-side apply (or diffs with it) meets no conflict: no
    // list holds items the API server fills in unless it is keyed.
    let diff = plane.kubectl(&["diff", "--server-side", "-f", &path("examples")]);
    assert!(
        diff.status.code().is_some_and(|code| code <= 1),
        "kubectl diff --server-side after kubectl apply: {}",
        String::from_utf8_lossy(&diff.stderr)
    );
    plane.kubectl_ok(&["apply", "--server-side", "-f", &path("examples")]);
    let created = eventually(
        "the example to become Ready",
        Duration::from_secs(60),
        Some(&operator),
        || Some(agent(&plane)).filter(ready_and_current),
    )
    .await;
    assert_eq!(created["status"]["desiredCount"], 3);
    assert_eq!(created["metadata"]["finalizers"][0], "ecsfleet.dev/cleanup");
    assert_eq!(
        cluster
            .service("datadog-agent")
            .await
            .unwrap()
            .desired_count(),
        3
    );

    // The IntegrationRole of examples/ is Ready too, its account ID bare.
    let role = eventually(
        "the example IntegrationRole to become Ready",
        Duration::from_secs(60),
        Some(&operator),
        || {
            Some(json(
                &plane,
                &[
                    "get",
                    "integrationrole",
                    "datadog-integration",
                    "-n",
                    "monitoring",
                ],
            ))
            .filter(ready_and_current)
        },
    )
    .await;
    assert_eq!(role["status"]["accountId"], "123456789012");

    // And the haproxy ScalingGroup: every part in place, instances in service.
    let group = eventually(
        "the example ScalingGroup to become Ready",
        Duration::from_secs(60),
        Some(&operator),
        || {
            Some(json(
                &plane,
                &["get", "scalinggroup", "haproxy-staging", "-n", "edge"],
            ))
            .filter(ready_and_current)
        },
    )
    .await;
    assert_eq!(group["status"]["instances"]["inService"], 2);
    assert_eq!(group["status"]["policies"].as_array().unwrap().len(), 2);

    // And the Spot-first ECS hosts: one On-Demand host, the rest Spot.
    let spot_first = eventually(
        "the Spot-first ScalingGroup to become Ready",
        Duration::from_secs(60),
        Some(&operator),
        || {
            Some(json(
                &plane,
                &["get", "scalinggroup", "ecs-workers", "-n", "platform"],
            ))
            .filter(ready_and_current)
        },
    )
    .await;
    assert_eq!(spot_first["status"]["instances"]["onDemand"], 1);
    assert_eq!(spot_first["status"]["instances"]["spot"], 2);
    assert_eq!(spot_first["status"]["scheduledActions"], 2);

    // `ecsfleet plan` as a GitOps pull-request check: from files alone the objects have
    // no identity, and it says so (pointing at --from-cluster rather than at adoption);
    // with --from-cluster it sees what the controller sees.
    let plan = |args: &[&str]| {
        let output = std::process::Command::new(ECSFLEET)
            .arg("plan")
            .args(args)
            .env("KUBECONFIG", &plane.kubeconfig)
            .envs(emulator.process_env())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.code(), text)
    };
    let (code, text) = plan(&["-f", &path("examples/datadog-agent.yaml")]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("under another identity") && text.contains("plan --from-cluster"),
        "{text}"
    );
    let (code, text) = plan(&["--from-cluster", "-f", &path("examples")]);
    assert_eq!(code, Some(0), "every example in sync:\n{text}");
    assert_eq!(text.matches(": in sync").count(), 5, "{text}");
    let (code, text) = plan(&["--from-cluster", "-n", "monitoring"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("DaemonService monitoring/datadog-agent: in sync")
            && text.contains("IntegrationRole monitoring/datadog-integration: in sync")
            && !text.contains("edge/"),
        "{text}"
    );
    // A changed spec in a pull request: the changes the controller would make, none made.
    let edited = plane.dir.path().join("datadog-agent-edited.yaml");
    let example = std::fs::read_to_string(repo.join("examples/datadog-agent.yaml")).unwrap();
    assert!(
        example.contains("public.ecr.aws/datadog/agent:7\n"),
        "the example's image"
    );
    std::fs::write(
        &edited,
        example.replace(
            "public.ecr.aws/datadog/agent:7\n",
            "public.ecr.aws/datadog/agent:7.60.0\n",
        ),
    )
    .unwrap();
    let (code, text) = plan(&["--from-cluster", "-f", &edited.display().to_string()]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("RegisterTaskDefinition") && text.contains("UpdateService"),
        "{text}"
    );
    assert!(
        !text.contains("under another identity"),
        "the live identity is used:\n{text}"
    );
    let service = cluster.service("datadog-agent").await.unwrap();
    assert!(
        service.task_definition().unwrap().ends_with(":1"),
        "plan writes nothing"
    );

    // Print columns of both kinds, listed together by the category, and field docs.
    let table = plane.kubectl_ok(&["get", "ecsfleet", "-A"]);
    let headers: Vec<Vec<&str>> = table
        .lines()
        .filter(|line| line.starts_with("NAMESPACE"))
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert!(
        headers.contains(&vec![
            "NAMESPACE",
            "NAME",
            "CLUSTER",
            "INSTANCES",
            "DESIRED",
            "RUNNING",
            "READY",
            "AGE"
        ]),
        "{table}"
    );
    assert!(
        headers.contains(&vec![
            "NAMESPACE",
            "NAME",
            "ROLE",
            "ACCOUNT",
            "POLICIES",
            "READY",
            "AGE"
        ]),
        "{table}"
    );
    assert!(
        headers.contains(&vec![
            "NAMESPACE",
            "NAME",
            "MIN",
            "MAX",
            "DESIRED",
            "INSERVICE",
            "READY",
            "AGE"
        ]),
        "{table}"
    );
    assert!(
        table.contains("production")
            && table.contains("arn:aws:iam::123456789012:role/DatadogIntegrationRole")
            && table.contains("haproxy-staging"),
        "{table}"
    );
    let explain = eventually("kubectl explain", Duration::from_secs(30), None, || {
        let output = plane.kubectl(&["explain", "daemonservice.spec"]);
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    })
    .await;
    assert!(
        explain.contains("instanceFilter") && explain.contains("ECS cluster query language"),
        "{explain}"
    );

    // Events are visible.
    let events = plane.kubectl_ok(&["get", "events", "-n", "monitoring"]);
    assert!(
        events.contains("CreateService") && events.contains("RegisterTaskDefinition"),
        "{events}"
    );

    // A host joins and one drains: desiredCount follows within a resync.
    hosts.push(cluster.add_instance(&emulator).await);
    eventually(
        "desiredCount 4 after a host joined",
        within_resync,
        Some(&operator),
        || Some(agent(&plane)).filter(|o| o["status"]["desiredCount"] == 4),
    )
    .await;
    cluster.drain(&hosts[0]).await;
    cluster.drain(&hosts[1]).await;
    eventually(
        "desiredCount 2 after two hosts drained",
        within_resync,
        Some(&operator),
        || {
            Some(agent(&plane)).filter(|o| {
                o["status"]["desiredCount"] == 2 && o["status"]["matchingInstances"] == 2
            })
        },
    )
    .await;
    assert_eq!(
        cluster
            .service("datadog-agent")
            .await
            .unwrap()
            .desired_count(),
        2
    );

    // An edit of the spec → AWS follows: a new revision is registered and rolled out.
    plane.kubectl_ok(&[
        "patch", "daemonservice", "datadog-agent", "-n", "monitoring", "--type=json", "-p",
        r#"[{"op":"replace","path":"/spec/taskDefinition/containerDefinitions/0/image","value":"public.ecr.aws/datadog/agent:7.60"}]"#,
    ]);
    let rolled = eventually(
        "the new revision to roll out",
        within_resync,
        Some(&operator),
        || {
            Some(agent(&plane)).filter(|o| {
                ready_and_current(o)
                    && o["status"]["taskDefinitionArn"]
                        .as_str()
                        .unwrap_or_default()
                        .ends_with(":2")
            })
        },
    )
    .await;
    assert_eq!(rolled["metadata"]["generation"], 2);

    // An AWS-side change → repaired within the resync.
    cluster
        .ecs
        .update_service()
        .cluster("production")
        .service("datadog-agent")
        .desired_count(9)
        .send()
        .await
        .unwrap();
    eventually(
        "the hand-edited count to be repaired",
        within_resync,
        Some(&operator),
        || {
            Some(agent(&plane))
                .filter(|o| o["status"]["driftRepairs"] == 1 && o["status"]["desiredCount"] == 2)
        },
    )
    .await;
    assert_eq!(
        cluster
            .service("datadog-agent")
            .await
            .unwrap()
            .desired_count(),
        2
    );

    // The controller restarted mid-way → no duplicate resources.
    let revisions_before = cluster.revisions("datadog-agent").await;
    assert!(operator.stop(), "the operator exits 0 on SIGTERM");
    let operator = Operator::start(
        ECSFLEET,
        &kubeconfig,
        &emulator,
        log.clone(),
        &["--resync", &resync],
    );
    tokio::time::sleep(Duration::from_secs(RESYNC_SECONDS * 2)).await;
    assert_eq!(
        cluster.revisions("datadog-agent").await,
        revisions_before,
        "no revision registered again"
    );
    let services = cluster
        .ecs
        .list_services()
        .cluster("production")
        .send()
        .await
        .unwrap();
    assert_eq!(services.service_arns().len(), 1, "one service, not two");
    assert!(ready_and_current(&agent(&plane)));

    // Invalid objects: the API server refuses what the schema and CEL can see ...
    let both_forms = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {name: both, namespace: monitoring}
spec:
  cluster: production
  taskDefinition: {arn: "datadog-agent:1", family: x, containerDefinitions: [{name: a, image: b}]}
"#;
    let refused = plane.kubectl_input(&["apply", "-f", "-"], both_forms);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message
            .contains("set exactly one of spec.taskDefinition.arn and spec.taskDefinition.family"),
        "{message}"
    );
    let unknown = plane.kubectl_input(
        &["apply", "-f", "-"],
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {name: sched, namespace: monitoring}\nspec: {cluster: c, scheduling: Sometimes, taskDefinition: {arn: 'a:1'}}\n",
    );
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("Unsupported value: \"Sometimes\""),
        "{unknown:?}"
    );
    let immutable = plane.kubectl(&[
        "patch",
        "daemonservice",
        "datadog-agent",
        "-n",
        "monitoring",
        "--type=merge",
        "-p",
        r#"{"spec":{"serviceName":"renamed"}}"#,
    ]);
    assert!(
        String::from_utf8_lossy(&immutable.stderr).contains("spec.serviceName is immutable"),
        "{immutable:?}"
    );
    // ... and the controller reports what needs more logic as InvalidSpec, naming the field.
    let bad_filter = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {name: bad-filter, namespace: monitoring}
spec:
  cluster: production
  instanceFilter: "attribute:ecs.os-type =="
  taskDefinition: {arn: "datadog-agent:1"}
"#;
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], bad_filter)
            .status
            .success()
    );
    let invalid = eventually(
        "InvalidSpec on bad-filter",
        within_resync,
        Some(&operator),
        || {
            let object = json(
                &plane,
                &["get", "daemonservice", "bad-filter", "-n", "monitoring"],
            );
            condition(&object, "Synced").filter(|c| c.1 == "InvalidSpec")
        },
    )
    .await;
    assert!(invalid.2.starts_with("spec.instanceFilter:"), "{invalid:?}");

    // deletionPolicy Orphan → the finalizer is released and the service stays.
    plane.kubectl_ok(&[
        "patch",
        "daemonservice",
        "bad-filter",
        "-n",
        "monitoring",
        "--type=merge",
        "-p",
        r#"{"spec":{"instanceFilter":null}}"#,
    ]);
    let orphan = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {name: orphan, namespace: monitoring}
spec:
  cluster: production
  deletionPolicy: Orphan
  taskDefinition: {arn: "datadog-agent:1"}
"#;
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], orphan)
            .status
            .success()
    );
    eventually("the orphan service", within_resync, Some(&operator), || {
        Some(json(
            &plane,
            &["get", "daemonservice", "orphan", "-n", "monitoring"],
        ))
        .filter(ready_and_current)
    })
    .await;
    plane.kubectl_ok(&[
        "delete",
        "daemonservice",
        "orphan",
        "-n",
        "monitoring",
        "--timeout=60s",
    ]);
    assert!(
        cluster.service("orphan").await.is_some(),
        "Orphan leaves the service"
    );

    // kubectl delete → the service is gone and the finalizer released.
    plane.kubectl_ok(&[
        "delete",
        "-f",
        &path("examples/datadog-agent.yaml"),
        "--timeout=60s",
    ]);
    assert!(
        cluster.service("datadog-agent").await.is_none(),
        "the service is deleted"
    );
    let gone = plane.kubectl(&["get", "daemonservice", "datadog-agent", "-n", "monitoring"]);
    assert!(!gone.status.success());

    let logs = operator.logs();
    assert!(operator.stop(), "the operator exits 0 on SIGTERM:\n{logs}");
    assert!(
        !logs.contains("forbidden"),
        "the operator hit an RBAC refusal:\n{logs}"
    );
}
