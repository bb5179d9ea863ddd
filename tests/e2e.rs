//! End to end on a real Kubernetes control plane (etcd, kube-apiserver and
//! kube-controller-manager built from Kubernetes' Go modules by scripts/testenv-build),
//! with the real kubectl, the AWS emulator, and `ecsfleet run` as a process that
//! authenticates as deploy/'s ServiceAccount: a missing RBAC rule fails this test.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::control_plane::{ControlPlane, Operator};
use support::{Cluster, Emulator};

const RESYNC_SECONDS: u64 = 5;
const ECSFLEET: &str = env!("CARGO_BIN_EXE_ecsfleet");

/// Polls `check` until it returns `Some`, or fails with `what` and the operator's log.
async fn eventually<T>(
    what: &str,
    timeout: Duration,
    operator: Option<&Operator>,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() > deadline {
            let logs = operator.map(|o| o.logs()).unwrap_or_default();
            panic!("timed out after {timeout:?} waiting for {what}\n--- operator log\n{logs}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn json(plane: &ControlPlane, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&plane.kubectl_ok(&all)).expect("kubectl prints JSON")
}

fn agent(plane: &ControlPlane) -> Value {
    json(
        plane,
        &["get", "daemonservice", "datadog-agent", "-n", "monitoring"],
    )
}

fn condition(object: &Value, type_: &str) -> Option<(String, String, String)> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
            )
        })
}

fn ready_and_current(object: &Value) -> bool {
    let generation = &object["metadata"]["generation"];
    object["status"]["observedGeneration"] == *generation
        && condition(object, "Ready").is_some_and(|c| c.0 == "True")
        && condition(object, "Synced").is_some_and(|c| c.0 == "True")
}

/// A control plane and an emulator with the operator's namespace, ServiceAccount and
/// RBAC from deploy/base installed; returns them with the ServiceAccount's kubeconfig.
fn prepared() -> (ControlPlane, Emulator, std::path::PathBuf) {
    let plane = ControlPlane::start();
    let emulator = Emulator::start();
    let base = support::repo_root().join("deploy/base");
    plane.kubectl_ok(&[
        "apply",
        "-f",
        &base.join("namespace.yaml").display().to_string(),
        "-f",
        &base.join("rbac.yaml").display().to_string(),
    ]);
    let kubeconfig = plane.service_account_kubeconfig("ecsfleet-system", "ecsfleet");
    (plane, emulator, kubeconfig)
}

/// A small DaemonService on the `production` cluster.
fn daemon_service_yaml(name: &str, namespace: &str) -> String {
    format!(
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  cluster: production\n  taskDefinition:\n    family: {name}\n    containerDefinitions: [{{name: a, image: 'agent:7', memory: 64}}]\n"
    )
}

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

#[test]
fn the_control_plane_stops_cleanly_and_leaves_no_process_behind() {
    let plane = ControlPlane::start();
    let pids: Vec<String> = std::fs::read_to_string(plane.dir.path().join("k8s/pids"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        pids.len(),
        3,
        "etcd, kube-apiserver, kube-controller-manager"
    );
    let alive = |pid: &String| {
        std::process::Command::new("kill")
            .args(["-0", pid])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(pids.iter().all(alive));
    let dir = plane.dir.path().to_path_buf();
    drop(plane); // SIGTERM to `testenv up`, which stops its children
    let deadline = Instant::now() + Duration::from_secs(30);
    while pids.iter().any(alive) {
        assert!(
            Instant::now() < deadline,
            "still running after SIGTERM: {pids:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!dir.exists(), "the working folder is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integration_role_secrets_drift_and_garbage_collection() {
    let (plane, emulator, kubeconfig) = prepared();
    plane.kubectl_ok(&["create", "namespace", "vendors"]);
    let resync = format!("{RESYNC_SECONDS}s");
    let operator = Operator::start(
        ECSFLEET,
        &kubeconfig,
        &emulator,
        plane.dir.path().join("operator.log"),
        &["--resync", &resync],
    );
    let within_resync = Duration::from_secs(RESYNC_SECONDS * 4);

    let role = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: IntegrationRole
metadata: {name: acme, namespace: vendors}
spec:
  roleName: AcmeMonitoring
  trust:
    principals: ["464622532012"]
    externalId: {generate: true}
  policy:
    statements: [{actions: ["ec2:Describe*", "cloudwatch:Get*"]}]
  outputSecretName: acme-handover
"#;
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], role)
            .status
            .success()
    );
    let get = || json(&plane, &["get", "irole", "acme", "-n", "vendors"]);
    let ready = eventually(
        "the role to become Ready",
        Duration::from_secs(60),
        Some(&operator),
        || Some(get()).filter(ready_and_current),
    )
    .await;
    assert_eq!(ready["status"]["externalIdSecretName"], "acme-external-id");

    // The generated external ID: 40 random characters, in a Secret owned by the object.
    let generated = json(
        &plane,
        &["get", "secret", "acme-external-id", "-n", "vendors"],
    );
    assert_eq!(
        generated["metadata"]["ownerReferences"][0]["kind"],
        "IntegrationRole"
    );
    assert_eq!(
        generated["metadata"]["ownerReferences"][0]["uid"],
        ready["metadata"]["uid"]
    );
    let decode = |secret: &Value, key: &str| {
        let encoded = secret["data"][key].as_str().unwrap_or_default().to_string();
        let output = std::process::Command::new("base64")
            .arg("-d")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(encoded.as_bytes())?;
                child.wait_with_output()
            });
        String::from_utf8(output.unwrap().stdout).unwrap()
    };
    let external_id = decode(&generated, "externalId");
    assert_eq!(external_id.len(), 40);

    // The hand-over Secret holds the values a vendor's form asks for.
    let handover = json(&plane, &["get", "secret", "acme-handover", "-n", "vendors"]);
    assert_eq!(decode(&handover, "accountId"), "123456789012");
    assert_eq!(decode(&handover, "roleName"), "AcmeMonitoring");
    assert_eq!(
        decode(&handover, "roleArn"),
        "arn:aws:iam::123456789012:role/AcmeMonitoring"
    );
    assert_eq!(decode(&handover, "externalId"), external_id);
    assert_eq!(handover["metadata"]["ownerReferences"][0]["name"], "acme");

    // IAM requires exactly that external ID.
    let iam = aws_sdk_iam::Client::new(&emulator.sdk_config().await);
    let trust = |iam: aws_sdk_iam::Client| async move {
        let live = iam
            .get_role()
            .role_name("AcmeMonitoring")
            .send()
            .await
            .unwrap();
        ecsfleet::integration_role::document::decode(
            live.role().unwrap().assume_role_policy_document().unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        trust(iam.clone()).await["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        external_id.as_str()
    );

    // A trust policy opened by hand is closed again within the resync, and counted.
    let open = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    iam.update_assume_role_policy()
        .role_name("AcmeMonitoring")
        .policy_document(open)
        .send()
        .await
        .unwrap();
    eventually(
        "the trust policy to be repaired",
        within_resync,
        Some(&operator),
        || Some(get()).filter(|o| o["status"]["driftRepairs"] == 1),
    )
    .await;
    assert_eq!(
        trust(iam.clone()).await["Statement"][0]["Principal"]["AWS"],
        serde_json::json!(["arn:aws:iam::464622532012:root"])
    );
    let events = plane.kubectl_ok(&["get", "events", "-n", "vendors", "-o", "json"]);
    assert!(
        events.contains("UpdateAssumeRolePolicy"),
        "the repair raised an Event"
    );

    // The external ID is nowhere but in its Secrets.
    let status = serde_json::to_string(&get()["status"]).unwrap();
    let logs = operator.logs();
    for (place, text) in [
        ("status", &status),
        ("events", &events),
        ("operator log", &logs),
    ] {
        assert!(
            !text.contains(&external_id),
            "the external ID leaked into the {place}"
        );
    }

    // kubectl delete → role and policy gone; the owned Secrets are garbage-collected.
    plane.kubectl_ok(&["delete", "irole", "acme", "-n", "vendors", "--timeout=60s"]);
    assert!(
        iam.get_role()
            .role_name("AcmeMonitoring")
            .send()
            .await
            .is_err(),
        "the role is deleted"
    );
    eventually(
        "the owned Secrets to be garbage-collected",
        Duration::from_secs(60),
        Some(&operator),
        || {
            let left = plane.kubectl(&[
                "get",
                "secret",
                "acme-external-id",
                "acme-handover",
                "-n",
                "vendors",
                "--ignore-not-found",
                "-o",
                "name",
            ]);
            String::from_utf8_lossy(&left.stdout)
                .trim()
                .is_empty()
                .then_some(())
        },
    )
    .await;
    let logs = operator.logs();
    assert!(operator.stop());
    assert!(
        !logs.contains("forbidden"),
        "the operator hit an RBAC refusal:\n{logs}"
    );
}

/// The first line of `log` containing `text`, if any.
fn first_line_with<'a>(log: &'a str, text: &str) -> Option<&'a str> {
    log.lines().find(|line| line.contains(text))
}

/// Log lines start with an RFC 3339 timestamp, which sorts as text.
fn timestamp(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_leader_and_a_fast_handover() {
    let (plane, emulator, kubeconfig) = prepared();
    plane.kubectl_ok(&["create", "namespace", "team"]);
    let cluster = Cluster::create(&emulator, "production").await;
    cluster.add_instance(&emulator).await;
    let lease_seconds = 6;
    let args = [
        "--resync",
        "5s",
        "--leader-elect",
        "--leader-elect-namespace",
        "ecsfleet-system",
        "--leader-elect-lease-duration",
        "6s",
    ];
    let start = |name: &str| {
        Operator::start_with_env(
            ECSFLEET,
            &kubeconfig,
            &emulator,
            plane.dir.path().join(format!("{name}.log")),
            &args,
            &[("POD_NAME", name)],
        )
    };
    let a = start("replica-a");
    eventually(
        "replica-a to lead",
        Duration::from_secs(30),
        Some(&a),
        || first_line_with(&a.logs(), "became the leader").map(|_| ()),
    )
    .await;
    let b = start("replica-b");
    eventually(
        "replica-b to be a ready standby",
        Duration::from_secs(30),
        Some(&b),
        || b.get("/readyz").filter(|(code, _)| *code == 200),
    )
    .await;
    assert_eq!(a.get("/livez").map(|r| r.0), Some(200));

    let service = |name: &str| daemon_service_yaml(name, "team");
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], &service("first"))
            .status
            .success()
    );
    eventually(
        "first to become Ready",
        Duration::from_secs(30),
        Some(&a),
        || Some(json(&plane, &["get", "dsvc", "first", "-n", "team"])).filter(ready_and_current),
    )
    .await;
    let lease = json(
        &plane,
        &["get", "lease", "ecsfleet", "-n", "ecsfleet-system"],
    );
    assert_eq!(lease["spec"]["holderIdentity"], "replica-a");
    assert!(first_line_with(&a.logs(), "applied").is_some());
    assert!(
        first_line_with(&b.logs(), "reconcile").is_none(),
        "the standby must not reconcile:\n{}",
        b.logs()
    );
    let (code, metrics) = a.get("/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("ecsfleet_reconcile_total{kind=\"DaemonService\",result=\"success\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("ecsfleet_aws_requests_total{service=\"ECS\",operation=\"CreateService\",outcome=\"success\"} 1"), "{metrics}");

    // SIGTERM to the leader: it finishes, releases the Lease, and the standby takes over
    // well within the lease duration.
    let a_log = a.log.clone();
    assert!(a.stop(), "the leader exits 0 on SIGTERM");
    let a_logs = std::fs::read_to_string(&a_log).unwrap();
    let released = first_line_with(&a_logs, "released the leader Lease")
        .expect("the leader released the Lease");
    let took_over = eventually(
        "replica-b to lead",
        Duration::from_secs(lease_seconds),
        Some(&b),
        || first_line_with(&b.logs(), "became the leader").map(str::to_string),
    )
    .await;
    assert!(
        timestamp(released) <= timestamp(&took_over),
        "no two leaders at once"
    );
    let last_by_a = a_logs
        .lines()
        .rfind(|l| l.contains("reconcile"))
        .unwrap_or_default();
    assert!(
        timestamp(last_by_a) <= timestamp(&took_over),
        "a reconciled after b took over"
    );

    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], &service("second"))
            .status
            .success()
    );
    eventually(
        "second to become Ready under the new leader",
        Duration::from_secs(30),
        Some(&b),
        || Some(json(&plane, &["get", "dsvc", "second", "-n", "team"])).filter(ready_and_current),
    )
    .await;
    let lease = json(
        &plane,
        &["get", "lease", "ecsfleet", "-n", "ecsfleet-system"],
    );
    assert_eq!(lease["spec"]["holderIdentity"], "replica-b");
    let logs = b.logs();
    assert!(b.stop());
    assert!(!logs.contains("forbidden"), "an RBAC refusal:\n{logs}");
}

#[test]
fn the_kustomize_base_applies_to_a_real_api_server() {
    let plane = ControlPlane::start();
    let base = support::repo_root()
        .join("deploy/base")
        .display()
        .to_string();
    let rendered = plane.kubectl_ok(&["kustomize", &base]);
    for kind in [
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "Role",
        "Deployment",
        "Service",
    ] {
        assert!(
            rendered.contains(&format!("kind: {kind}\n")),
            "{kind} missing:\n{rendered}"
        );
    }
    // Server-side dry run first (what a GitOps diff does), then for real. A dry run
    // creates no namespace, so the namespace exists first.
    plane.kubectl_ok(&["create", "namespace", "ecsfleet-system"]);
    plane.kubectl_ok(&["apply", "-k", &base, "--server-side", "--dry-run=server"]);
    plane.kubectl_ok(&["apply", "-k", &base, "--server-side"]);
    let deployment = json(
        &plane,
        &["get", "deployment", "ecsfleet", "-n", "ecsfleet-system"],
    );
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"][0],
        "ALL"
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(
        container["args"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("--leader-elect"))
    );
    // The ServiceAccount may do what the operator needs, and not list Secrets.
    let can = |verb: &str, resource: &str| {
        let output = plane.kubectl(&[
            "auth",
            "can-i",
            verb,
            resource,
            "--as=system:serviceaccount:ecsfleet-system:ecsfleet",
            "-n",
            "monitoring",
        ]);
        String::from_utf8_lossy(&output.stdout).trim() == "yes"
    };
    assert!(can("watch", "daemonservices.ecsfleet.dev"));
    assert!(can("patch", "integrationroles.ecsfleet.dev/status"));
    assert!(can("create", "events.events.k8s.io"));
    assert!(can("get", "secrets"));
    assert!(!can("list", "secrets"), "Secrets are read by name only");
    assert!(!can("delete", "daemonservices.ecsfleet.dev"));
}

#[test]
fn the_helm_chart_renders_and_applies_to_a_real_api_server() {
    let plane = ControlPlane::start();
    let chart = support::repo_root()
        .join("deploy/helm/ecsfleet")
        .display()
        .to_string();
    let helm = |args: &[&str]| {
        let output =
            std::process::Command::new(support::repo_root().join(".cache/testenv/bin/helm"))
                .args(args)
                .env("HELM_CACHE_HOME", plane.dir.path().join("helm-cache"))
                .env("HELM_CONFIG_HOME", plane.dir.path().join("helm-config"))
                .env("HELM_DATA_HOME", plane.dir.path().join("helm-data"))
                .output()
                .expect("helm runs (scripts/testenv-build builds it)");
        assert!(
            output.status.success(),
            "helm {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    helm(&["lint", &chart, "--strict"]);
    let rendered = helm(&[
        "template",
        "ops",
        &chart,
        "--namespace",
        "ecsfleet-system",
        "--include-crds",
        "--set",
        "replicaCount=3",
        "--set",
        "watchNamespaces={monitoring,vendors}",
        "--set",
        "region=us-east-2",
        "--set",
        "logFormat=text",
        "--set",
        "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::111122223333:role/ecsfleet",
    ]);
    assert!(
        rendered.contains("kind: CustomResourceDefinition"),
        "the chart's crds/ are included"
    );
    plane.kubectl_ok(&["create", "namespace", "ecsfleet-system"]);
    for dry_run in ["--dry-run=server", "--dry-run=none"] {
        let output =
            plane.kubectl_input(&["apply", "--server-side", dry_run, "-f", "-"], &rendered);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let deployment = json(
        &plane,
        &["get", "deployment", "ops-ecsfleet", "-n", "ecsfleet-system"],
    );
    assert_eq!(deployment["spec"]["replicas"], 3);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for expected in [
        "--leader-elect",
        "--namespace=monitoring",
        "--namespace=vendors",
        "--log-format=text",
    ] {
        assert!(args.contains(&expected), "{args:?}");
    }
    assert_eq!(container["env"][0]["value"], "us-east-2");
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let account = json(
        &plane,
        &["get", "serviceaccount", "ecsfleet", "-n", "ecsfleet-system"],
    );
    assert_eq!(
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::111122223333:role/ecsfleet"
    );
    let can = |verb: &str, resource: &str| {
        let output = plane.kubectl(&[
            "auth",
            "can-i",
            verb,
            resource,
            "--as=system:serviceaccount:ecsfleet-system:ecsfleet",
            "-n",
            "ecsfleet-system",
        ]);
        String::from_utf8_lossy(&output.stdout).trim() == "yes"
    };
    assert!(can("update", "leases.coordination.k8s.io"));
    assert!(can("patch", "daemonservices.ecsfleet.dev/status"));
    assert!(!can("list", "secrets"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_namespace_flags_watch_exactly_those_namespaces() {
    let (plane, emulator, kubeconfig) = prepared();
    let cluster = Cluster::create(&emulator, "production").await;
    cluster.add_instance(&emulator).await;
    let operator = Operator::start(
        ECSFLEET,
        &kubeconfig,
        &emulator,
        plane.dir.path().join("operator.log"),
        &[
            "--resync",
            "5s",
            "--namespace",
            "team-a",
            "--namespace",
            "team-b",
        ],
    );
    for namespace in ["team-a", "team-b", "team-c"] {
        plane.kubectl_ok(&["create", "namespace", namespace]);
        let object = daemon_service_yaml(&format!("agent-{namespace}"), namespace);
        assert!(
            plane
                .kubectl_input(&["apply", "-f", "-"], &object)
                .status
                .success()
        );
    }
    for namespace in ["team-a", "team-b"] {
        eventually(
            &format!("the object in {namespace} to become Ready"),
            Duration::from_secs(30),
            Some(&operator),
            || {
                Some(json(
                    &plane,
                    &[
                        "get",
                        "dsvc",
                        &format!("agent-{namespace}"),
                        "-n",
                        namespace,
                    ],
                ))
                .filter(ready_and_current)
            },
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(RESYNC_SECONDS)).await;
    let unwatched = json(&plane, &["get", "dsvc", "agent-team-c", "-n", "team-c"]);
    assert!(
        unwatched.get("status").is_none(),
        "team-c is not watched: {unwatched}"
    );
    assert!(cluster.service("agent-team-c").await.is_none());
    assert!(operator.stop());
}

/// A small ScalingGroup whose hosts join the `production` ECS cluster.
const WORKERS: &str = "apiVersion: ecsfleet.dev/v1alpha1
kind: ScalingGroup
metadata: {name: workers, namespace: edge}
spec:
  launchTemplate: {imageId: ami-760aaa0f, instanceType: t3.small}
  minSize: 1
  maxSize: 4
  desiredCapacity: 1
  availabilityZones: [eu-west-1a]
  ecsCluster: production
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaling_groups_new_instances_make_its_clusters_daemon_services_look_again() {
    let (plane, emulator, kubeconfig) = prepared();
    let cluster = Cluster::create(&emulator, "production").await;
    cluster.add_instance(&emulator).await;
    // A resync far beyond the test: only the trigger can make the DaemonService look.
    let operator = Operator::start(
        ECSFLEET,
        &kubeconfig,
        &emulator,
        plane.dir.path().join("operator.log"),
        &["--resync", "600s"],
    );
    plane.kubectl_ok(&["create", "namespace", "edge"]);
    // The API server refuses inconsistent sizes (CEL), naming the fields.
    for (from, to, message) in [
        (
            "maxSize: 4",
            "maxSize: 0",
            "spec.minSize must not exceed spec.maxSize",
        ),
        (
            "desiredCapacity: 1",
            "desiredCapacity: 9",
            "spec.desiredCapacity must lie within",
        ),
    ] {
        let refused = plane.kubectl_input(&["apply", "-f", "-"], &WORKERS.replace(from, to));
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            !refused.status.success() && stderr.contains(message),
            "{stderr}"
        );
    }
    let service = daemon_service_yaml("agent", "edge");
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], &service)
            .status
            .success()
    );
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], WORKERS)
            .status
            .success()
    );
    let workers = || json(&plane, &["get", "asg", "workers", "-n", "edge"]);
    let agent = || json(&plane, &["get", "dsvc", "agent", "-n", "edge"]);
    eventually(
        "the group to become Ready",
        Duration::from_secs(60),
        Some(&operator),
        || Some(workers()).filter(ready_and_current),
    )
    .await;
    eventually(
        "the agent on 1 host",
        Duration::from_secs(30),
        Some(&operator),
        || Some(agent()).filter(|o| ready_and_current(o) && o["status"]["desiredCount"] == 1),
    )
    .await;

    // The group grows; the new host's ECS agent registers with the cluster.
    cluster.add_instance(&emulator).await;
    plane.kubectl_ok(&[
        "patch",
        "asg",
        "workers",
        "-n",
        "edge",
        "--type=merge",
        "-p",
        r#"{"spec":{"desiredCapacity":2}}"#,
    ]);
    eventually(
        "the agent to follow the group's new host without waiting for its resync",
        Duration::from_secs(30),
        Some(&operator),
        || Some(agent()).filter(|o| o["status"]["desiredCount"] == 2),
    )
    .await;
    assert_eq!(workers()["status"]["instances"]["inService"], 2);

    // Deleting the object deletes the group (finalizer), the template with it.
    plane.kubectl_ok(&["delete", "asg", "workers", "-n", "edge", "--timeout=60s"]);
    let autoscaling = aws_sdk_autoscaling::Client::new(&emulator.sdk_config().await);
    let groups = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("workers")
        .send()
        .await
        .unwrap();
    assert!(groups.auto_scaling_groups().is_empty());
    assert!(operator.stop());
}
