//! Operations end to end: the control plane's own shutdown, leader election and
//! hand-over, the kustomize base and the Helm chart, namespace-scoped watches.

use std::time::{Duration, Instant};

use crate::support::control_plane::{ControlPlane, Operator};
use crate::support::{self, Cluster};
use crate::*;

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
    eventually(
        "the leader's /readyz to answer 200 once its watches synced",
        Duration::from_secs(20),
        Some(&a),
        || a.get("/readyz").filter(|(code, _)| *code == 200),
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
    assert!(
        metrics.contains(
            "ecsfleet_object_ready{kind=\"DaemonService\",namespace=\"team\",name=\"first\"} 1"
        ),
        "{metrics}"
    );
    promtool_check_metrics(&metrics);

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
        "TenancyPolicy",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
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

    // The sharded overlay: three replicas, each holding some of 12 shards, which may
    // list the Leases (membership) and delete long-expired ones.
    let sharded = support::repo_root()
        .join("deploy/sharded")
        .display()
        .to_string();
    plane.kubectl_ok(&["apply", "-k", &sharded, "--server-side"]);
    let deployment = json(
        &plane,
        &["get", "deployment", "ecsfleet", "-n", "ecsfleet-system"],
    );
    assert_eq!(deployment["spec"]["replicas"], 3);
    let args = &deployment["spec"]["template"]["spec"]["containers"][0]["args"];
    let args: Vec<&str> = args
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(args.contains(&"--shards=12"), "{args:?}");
    assert!(!args.contains(&"--leader-elect"), "{args:?}");
    let can_here = |verb: &str| {
        let output = plane.kubectl(&[
            "auth",
            "can-i",
            verb,
            "leases.coordination.k8s.io",
            "--as=system:serviceaccount:ecsfleet-system:ecsfleet",
            "-n",
            "ecsfleet-system",
        ]);
        String::from_utf8_lossy(&output.stdout).trim() == "yes"
    };
    assert!(can_here("list") && can_here("delete") && can_here("update"));
}

#[test]
fn the_helm_chart_renders_and_applies_to_a_real_api_server() {
    let plane = ControlPlane::start();
    let chart = support::repo_root()
        .join("deploy/helm/ecsfleet")
        .display()
        .to_string();
    let helm_run = |args: &[&str]| {
        std::process::Command::new(support::repo_root().join(".cache/testenv/bin/helm"))
            .args(args)
            .env("HELM_CACHE_HOME", plane.dir.path().join("helm-cache"))
            .env("HELM_CONFIG_HOME", plane.dir.path().join("helm-config"))
            .env("HELM_DATA_HOME", plane.dir.path().join("helm-data"))
            .output()
            .expect("helm runs (scripts/testenv-build builds it)")
    };
    let helm = |args: &[&str]| {
        let output = helm_run(args);
        assert!(
            output.status.success(),
            "helm {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    // The values schema refuses what would render a broken install.
    for (set, expected) in [
        ("logFormat=xml", "/logFormat"),
        ("replicaCount=0", "/replicaCount"),
        ("resync=soon", "/resync"),
        ("watchNamespaces={Team_A}", "/watchNamespaces/0"),
    ] {
        let output = helm_run(&["template", "ops", &chart, "--set", set]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(expected),
            "{set}: {stderr}"
        );
    }
    // A single-team cluster: the policy grants every namespace everything, exactly what
    // the controller calls everything; no policy at all when the administrator keeps it.
    let single_team = helm(&[
        "template",
        "ops",
        &chart,
        "--set",
        "tenancy.singleTeam=true",
    ]);
    let policy: ecsfleet::tenancy::TenancyPolicy = single_team
        .split("\n---")
        .find(|document| document.contains("kind: TenancyPolicy"))
        .map(|document| serde_yaml_ng::from_str(document).unwrap())
        .expect("the chart renders the TenancyPolicy");
    assert_eq!(
        policy.spec.defaults,
        ecsfleet::tenancy::Grants::everything()
    );
    let kept = helm(&[
        "template",
        "ops",
        &chart,
        "--set",
        "tenancy.install=false,tenancy.admission=false",
    ]);
    assert!(!kept.contains("kind: TenancyPolicy") && !kept.contains("ValidatingAdmissionPolicy"));
    // Without leader election: one replica (two would both reconcile), no PDB.
    let single = helm(&[
        "template",
        "ops",
        &chart,
        "--set",
        "leaderElection.enabled=false",
    ]);
    assert!(single.contains("replicas: 1"), "{single}");
    assert!(!single.contains("kind: PodDisruptionBudget"));
    // Sharded: every replica works, no leader election, a PDB.
    let sharded = helm(&[
        "template",
        "ops",
        &chart,
        "--set",
        "replicaCount=3",
        "--set",
        "sharding.shards=12",
        "--set",
        "sharding.key=uid",
    ]);
    assert!(sharded.contains("replicas: 3"), "{sharded}");
    assert!(sharded.contains("- --shards=12\n") && sharded.contains("- --shard-key=uid\n"));
    assert!(!sharded.contains("--leader-elect\n"), "{sharded}");
    assert!(sharded.contains("kind: PodDisruptionBudget"));
    // The shard Leases need their RBAC without leader election too.
    assert!(
        sharded.contains("resources: [leases]"),
        "no Lease RBAC for the shards: {sharded}"
    );
    assert!(!single.contains("resources: [leases]"), "{single}");
    // The inboxes through which replicas pass events on, with sharding only.
    assert!(sharded.contains("resources: [configmaps]"), "{sharded}");
    let leader_elected = helm(&["template", "ops", &chart]);
    assert!(leader_elected.contains("resources: [leases]"));
    assert!(
        !leader_elected.contains("resources: [configmaps]"),
        "{leader_elected}"
    );
    let output = helm_run(&["template", "ops", &chart, "--set", "sharding.key=name"]);
    assert!(
        !output.status.success()
            && String::from_utf8_lossy(&output.stderr).contains("/sharding/key")
    );
    // The knobs every chart has, as users set them.
    let knobs = helm(&[
        "template",
        "ops",
        &chart,
        "--set",
        "podAnnotations.team=edge",
        "--set",
        "podLabels.tier=platform",
        "--set",
        "imagePullSecrets[0].name=regcred",
        "--set",
        "extraEnv[0].name=AWS_STS_REGIONAL_ENDPOINTS",
        "--set",
        "extraEnv[0].value=regional",
        "--set",
        "priorityClassName=system-cluster-critical",
        "--set",
        "nodeSelector.pool=ops",
        "--set",
        "tolerations[0].key=dedicated",
    ]);
    for expected in [
        "      annotations:\n        team: edge\n",
        "        tier: platform\n",
        "      imagePullSecrets:\n        - name: regcred\n",
        "            - name: AWS_STS_REGIONAL_ENDPOINTS\n              value: regional\n",
        "      priorityClassName: \"system-cluster-critical\"\n",
        "      nodeSelector:\n        pool: ops\n",
        "      tolerations:\n        - key: dedicated\n",
    ] {
        assert!(knobs.contains(expected), "{expected:?} not in\n{knobs}");
    }
    // Options that are off by default.
    let extras = helm(&[
        "template",
        "ops",
        &chart,
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "networkPolicy.enabled=true",
    ]);
    for kind in [
        "kind: ServiceMonitor",
        "kind: NetworkPolicy",
        "kind: PodDisruptionBudget",
        "podAntiAffinity",
    ] {
        assert!(extras.contains(kind), "{kind} rendered");
    }
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
        "events.queueUrls={https://sqs.us-east-2.amazonaws.com/111122223333/ecsfleet-events,us-east-1=https://sqs.us-east-1.amazonaws.com/111122223333/ecsfleet-events}",
        "--set",
        "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::111122223333:role/ecsfleet",
    ]);
    assert!(
        rendered.contains("kind: CustomResourceDefinition"),
        "the chart's crds/ are included"
    );
    plane.kubectl_ok(&["create", "namespace", "ecsfleet-system"]);
    plane.kubectl_ok(&["create", "namespace", "monitoring"]);
    plane.kubectl_ok(&["create", "namespace", "vendors"]);
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
        "--events-queue-url=https://sqs.us-east-2.amazonaws.com/111122223333/ecsfleet-events",
        "--events-queue-url=us-east-1=https://sqs.us-east-1.amazonaws.com/111122223333/ecsfleet-events",
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
    assert!(can("watch", "tenancypolicies.ecsfleet.dev"));
    assert!(!can("patch", "tenancypolicies.ecsfleet.dev"));
    // The policy and its admission check are installed; safe defaults unless asked.
    let policy = json(&plane, &["get", "tenancypolicy", "ecsfleet"]);
    assert_eq!(policy["spec"]["defaults"]["allowAdoption"], false);
    json(
        &plane,
        &[
            "get",
            "validatingadmissionpolicybinding",
            "ecsfleet-tenancy",
        ],
    );
    assert!(can("patch", "daemonservices.ecsfleet.dev/status"));
    assert!(!can("list", "secrets"));
    // With watchNamespaces, Secrets only in those namespaces.
    let can_in = |verb: &str, resource: &str, namespace: &str| {
        let output = plane.kubectl(&[
            "auth",
            "can-i",
            verb,
            resource,
            "--as=system:serviceaccount:ecsfleet-system:ecsfleet",
            "-n",
            namespace,
        ]);
        String::from_utf8_lossy(&output.stdout).trim() == "yes"
    };
    for namespace in ["monitoring", "vendors"] {
        assert!(can_in("get", "secrets", namespace), "{namespace}");
        assert!(can_in("patch", "secrets", namespace), "{namespace}");
    }
    assert!(
        !can_in("get", "secrets", "default"),
        "no Secret outside the watched namespaces"
    );
    assert!(!can_in("get", "secrets", "ecsfleet-system"));
    let budget = json(
        &plane,
        &["get", "pdb", "ops-ecsfleet", "-n", "ecsfleet-system"],
    );
    assert_eq!(budget["spec"]["minAvailable"], 1);
    // The install notes say what was installed and how to check it (a namespace of its
    // own: the release above was applied with kubectl, not installed by helm).
    plane.kubectl_ok(&["create", "namespace", "notes-system"]);
    let notes = std::process::Command::new(support::repo_root().join(".cache/testenv/bin/helm"))
        .args([
            "install",
            "notes",
            &chart,
            "--namespace",
            "notes-system",
            "--dry-run=server",
        ])
        .args([
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "watchNamespaces={monitoring}",
            // The cluster's one TenancyPolicy and its admission policy came with the
            // release above.
            "--set",
            "tenancy.install=false,tenancy.admission=false",
        ])
        .env("KUBECONFIG", &plane.kubeconfig)
        .env("HELM_CACHE_HOME", plane.dir.path().join("helm-cache"))
        .env("HELM_CONFIG_HOME", plane.dir.path().join("helm-config"))
        .env("HELM_DATA_HOME", plane.dir.path().join("helm-data"))
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&notes.stdout);
    assert!(
        notes.status.success(),
        "{}",
        String::from_utf8_lossy(&notes.stderr)
    );
    for expected in [
        "is installed in notes-system",
        "1 replica, no leader election",
        "watching monitoring",
        "rollout status deployment/notes-ecsfleet",
    ] {
        assert!(
            printed.contains(expected),
            "NOTES lack {expected:?}:\n{printed}"
        );
    }
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
    // The replica that reconciles (no leader election: it is the leader) turns ready
    // once its watches have synced, even with nothing to watch yet, so a Deployment's
    // rollout completes.
    eventually(
        "the reconciling replica's /readyz to answer 200",
        Duration::from_secs(20),
        Some(&operator),
        || operator.get("/readyz").filter(|(code, _)| *code == 200),
    )
    .await;
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

/// With an API server that fails every request (its connections accepted and closed at
/// once), the watches retry with growing pauses, not in a hot loop. (Two layers pause:
/// kube's client retries a failed request with exponential backoff, and the watches
/// back off between failed requests; this checks the sum, the rate the API server sees.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_back_off_while_the_api_server_fails() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stream.is_ok() {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters: [{{name: failing, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\ncontexts: [{{name: c, context: {{cluster: failing, user: u}}}}]\ncurrent-context: c\n"),
    )
    .unwrap();
    let operator = Operator::start(
        ECSFLEET,
        &kubeconfig,
        &Emulator::attach("http://127.0.0.1:9"),
        dir.path().join("operator.log"),
        &[],
    );
    eventually(
        "the watches to reach the API server",
        Duration::from_secs(20),
        Some(&operator),
        || (connections.load(Ordering::SeqCst) > 0).then_some(()),
    )
    .await;
    let before = connections.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let attempts = connections.load(Ordering::SeqCst) - before;
    // Three watches (one per kind), each pausing longer after every failure: about ten
    // connections in ten seconds (nine measured). A loop without pauses makes thousands.
    assert!(
        (1..=60).contains(&attempts),
        "{attempts} connections in 10 s\n{}",
        operator.logs()
    );
    operator.kill();
}

/// What the live leader serves passes Prometheus's own linter.
fn promtool_check_metrics(metrics: &str) {
    let output =
        support::control_plane::promtool(&["check", "metrics"], &support::repo_root(), metrics);
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}\n{metrics}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What the controller's Events look like on a real API server: a change (Normal) is an
/// Event of its own each time, with nothing remembered after it is published; a failure
/// (Warning) repeated is one Event whose series counts the repeats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_events_of_their_own_and_repeated_failures_count_in_one_series() {
    use ecsfleet::runtime::controller::Events;
    use k8s_openapi::api::core::v1::ObjectReference;
    use kube::runtime::events::{Event, EventType, Reporter};

    let plane = ControlPlane::start();
    let kubeconfig = kube::config::Kubeconfig::read_from(&plane.kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let events = Events::new(
        kube::Client::try_from(config).unwrap(),
        Reporter {
            controller: "ecsfleet".into(),
            instance: None,
        },
    );
    let reference = ObjectReference {
        api_version: Some("ecsfleet.dev/v1alpha1".into()),
        kind: Some("DaemonService".into()),
        namespace: Some("default".into()),
        name: Some("agent".into()),
        ..Default::default()
    };
    let event = |type_, reason: &str| Event {
        type_,
        reason: reason.into(),
        note: Some(format!("{reason} note")),
        action: reason.into(),
        secondary: None,
    };
    for _ in 0..2 {
        let change = event(EventType::Normal, "UpdateService");
        events.publish(&change, &reference).await.unwrap();
        let failure = event(EventType::Warning, "AccessDenied");
        events.publish(&failure, &reference).await.unwrap();
    }

    let listed = json(&plane, &["get", "events.events.k8s.io", "-n", "default"]);
    let of = |reason: &str| -> Vec<Value> {
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["reason"] == reason)
            .cloned()
            .collect()
    };
    let changes = of("UpdateService");
    assert_eq!(changes.len(), 2, "{changes:#?}");
    assert!(
        changes.iter().all(|e| e["series"].is_null()),
        "{changes:#?}"
    );
    let failures = of("AccessDenied");
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(failures[0]["series"]["count"], 2, "{failures:#?}");
}
