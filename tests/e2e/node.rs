//! The chart installed as users install it, on a node where its pods really run
//! (containerd, kubelet, kube-proxy and kube-scheduler; see tests/testenv): `helm install
//! --wait` returns only once the Deployment is rolled out, which needs every replica's
//! `/readyz`, the leader's included, to answer 200 through the kubelet's probe.

use serde_json::Value;

use crate::support::{
    self,
    control_plane::{ControlPlane, testenv_bin},
};

const IMAGE: &str = "ecsfleet.test/ecsfleet";
const TAG: &str = "e2e";

#[test]
fn helm_install_wait_completes_once_the_leader_and_its_standby_are_ready() {
    let plane = ControlPlane::start_with_node();
    // The image: this build of ecsfleet, the shared libraries it links and the CA
    // bundle, as the shipped image (distroless/cc) has them.
    let socket = plane.dir.path().join("k8s/node/containerd.sock");
    let image = std::process::Command::new(testenv_bin("testenv"))
        .args(["image", "--containerd"])
        .arg(&socket)
        .args([
            "--name",
            &format!("{IMAGE}:{TAG}"),
            "--entrypoint",
            "/ecsfleet",
        ])
        .arg(format!("{}:/ecsfleet", crate::ECSFLEET))
        .arg("/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt")
        .output()
        .expect("testenv image runs");
    assert!(
        image.status.success(),
        "building the image: {}",
        String::from_utf8_lossy(&image.stderr)
    );

    let install = std::process::Command::new(support::repo_root().join(".cache/testenv/bin/helm"))
        .args(["install", "ops"])
        .arg(support::repo_root().join("deploy/helm/ecsfleet"))
        .args(["--namespace", "ecsfleet-system", "--create-namespace"])
        .args(["--set", &format!("image.repository={IMAGE}")])
        .args(["--set", &format!("image.tag={TAG}")])
        .args(["--wait", "--timeout", "180s"])
        .env("KUBECONFIG", &plane.kubeconfig)
        .env("HELM_CACHE_HOME", plane.dir.path().join("helm-cache"))
        .env("HELM_CONFIG_HOME", plane.dir.path().join("helm-config"))
        .env("HELM_DATA_HOME", plane.dir.path().join("helm-data"))
        .output()
        .expect("helm runs (scripts/testenv-build builds it)");
    let pods = plane.kubectl(&["get", "pods", "-A", "-o", "wide"]);
    assert!(
        install.status.success(),
        "helm install --wait: {}\n{}\n{}",
        String::from_utf8_lossy(&install.stderr),
        String::from_utf8_lossy(&pods.stdout),
        plane.logs()
    );

    // What --wait waited for: two replicas, both Ready, one of them the leader.
    plane.kubectl_ok(&[
        "-n",
        "ecsfleet-system",
        "rollout",
        "status",
        "deployment/ops-ecsfleet",
        "--timeout=10s",
    ]);
    let listed: Value = serde_json::from_str(&plane.kubectl_ok(&[
        "-n",
        "ecsfleet-system",
        "get",
        "pods",
        "-o",
        "json",
    ]))
    .unwrap();
    let ready: Vec<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pod| {
            pod["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .map(|pod| pod["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ready.len(), 2, "{listed}");
    let lease: Value = serde_json::from_str(&plane.kubectl_ok(&[
        "-n",
        "ecsfleet-system",
        "get",
        "lease",
        "ecsfleet",
        "-o",
        "json",
    ]))
    .unwrap();
    let leader = lease["spec"]["holderIdentity"].as_str().unwrap_or_default();
    assert!(
        ready.iter().any(|pod| pod == leader),
        "the leader {leader:?} is one of the Ready pods {ready:?}"
    );

    // Stopped, the node leaves no pod, mount or address behind.
    let dir = plane.dir.path().display().to_string();
    drop(plane);
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains(&dir), "mounts left under {dir}:\n{mounts}");
    let processes = std::process::Command::new("pgrep")
        .args(["-a", "-f", &dir])
        .output()
        .unwrap();
    assert!(
        processes.stdout.is_empty(),
        "processes left: {}",
        String::from_utf8_lossy(&processes.stdout)
    );
    let addresses = std::process::Command::new("ip")
        .args(["-o", "address", "show", "dev", "lo"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&addresses.stdout).contains("10.250.0.1"),
        "the API server's node address is still on lo"
    );
}
