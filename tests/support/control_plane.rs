//! The local Kubernetes control plane (tests/testenv, built by scripts/testenv-build) and
//! the operator running against it as a process.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{Emulator, repo_root};

pub fn testenv_bin(name: &str) -> PathBuf {
    let path = repo_root().join(".cache/testenv/bin").join(name);
    assert!(
        path.exists(),
        "the local control plane is not built at {}: run scripts/testenv-build (scripts/test does)",
        path.display()
    );
    path
}

/// Runs `command` with `input` on its standard input; its output.
pub fn with_input(mut command: Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Prometheus's promtool (built by scripts/testenv-build) in `dir`, `input` on stdin.
pub fn promtool(args: &[&str], dir: &std::path::Path, input: &str) -> Output {
    let mut command = Command::new(testenv_bin("promtool"));
    command.args(args).current_dir(dir);
    with_input(command, input)
}

fn terminate(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return; // already stopped
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// etcd + kube-apiserver + kube-controller-manager on loopback, stopped when dropped.
pub struct ControlPlane {
    child: Child,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl ControlPlane {
    /// Starts the control plane and waits until the API server is ready; panics (never
    /// skips) if it cannot.
    pub fn start() -> ControlPlane {
        Self::start_with(&[])
    }

    /// The control plane with a node where pods run (containerd, kubelet, kube-proxy,
    /// kube-scheduler; scripts/node-install), ready once the node is. One at a time: the
    /// node's network and address are the machine's.
    pub fn start_with_node() -> ControlPlane {
        Self::start_with(&["--node"])
    }

    fn start_with(options: &[&str]) -> ControlPlane {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let log = std::fs::File::create(dir.path().join("up.log")).unwrap();
        let child = Command::new(testenv_bin("testenv"))
            .args(["up", "--dir"])
            .arg(dir.path().join("k8s"))
            .args(options)
            // Installed before the controller manager starts, so that its garbage
            // collector knows our kinds (it rediscovers new kinds only every 30 s).
            .arg("--crds")
            .arg(repo_root().join("crds"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting the control plane");
        let mut plane = ControlPlane {
            child,
            kubeconfig: dir.path().join("k8s/kubeconfig"),
            dir,
        };
        let ready = plane.dir.path().join("k8s/ready");
        let deadline = Instant::now() + Duration::from_secs(180);
        while !ready.exists() {
            if let Ok(Some(status)) = plane.child.try_wait() {
                panic!("the control plane exited ({status}):\n{}", plane.logs());
            }
            assert!(
                Instant::now() < deadline,
                "the control plane was not ready in 180 s:\n{}",
                plane.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        plane
    }

    /// The tails of the control plane's logs, for failure messages.
    pub fn logs(&self) -> String {
        [
            "up.log",
            "k8s/etcd.log",
            "k8s/kube-apiserver.log",
            "k8s/kube-controller-manager.log",
            "k8s/containerd.log",
            "k8s/kubelet.log",
        ]
        .iter()
        .filter(|name| self.dir.path().join(name).exists())
        .map(|name| {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            format!(
                "--- {name}\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
    }

    /// Runs the real kubectl as the cluster admin.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(testenv_bin("kubectl"))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .expect("kubectl runs")
    }

    /// kubectl that must succeed; returns its standard output.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl(args);
        assert!(
            output.status.success(),
            "kubectl {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// kubectl with `input` on its standard input (e.g. `apply -f -`).
    pub fn kubectl_input(&self, args: &[&str], input: &str) -> Output {
        let mut command = Command::new(testenv_bin("kubectl"));
        command.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        with_input(command, input)
    }

    /// The kstatus verdict (sigs.k8s.io/cli-utils, as Flux and kubectl tooling compute
    /// it) of the object `kubectl get ARGS -o json` returns: (status, message).
    pub fn kstatus(&self, args: &[&str]) -> (String, String) {
        self.judge(args, &["kstatus"])
    }

    /// The Argo CD health (the Lua check in `script`, run by gopher-lua) of the object
    /// `kubectl get ARGS -o json` returns: (status, message).
    pub fn argocd_health(&self, script: &std::path::Path, args: &[&str]) -> (String, String) {
        self.judge(args, &["argocd-health", &script.display().to_string()])
    }

    /// Runs `testenv JUDGE` on the object `kubectl get ARGS -o json` returns.
    fn judge(&self, args: &[&str], judge: &[&str]) -> (String, String) {
        use std::io::Write;
        let mut get = args.to_vec();
        get.extend(["-o", "json"]);
        let object = self.kubectl_ok(&get);
        let mut child = Command::new(testenv_bin("testenv"))
            .args(judge)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("testenv runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(object.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "testenv {judge:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_string();
        let (status, message) = text.split_once('\t').unwrap_or((&text, ""));
        (status.to_string(), message.to_string())
    }

    /// Resync turns fall at a fixed phase of wall-clock time (`ecsfleet::runtime::turns`),
    /// so even a resync far longer than a test can come during it. For a test that needs
    /// a stretch of `window` with no resync of DaemonService `namespace/name` (whatever
    /// happens must have another cause): when its group's turn falls within `window`
    /// from now, waits until the turn has passed.
    pub async fn clear_of_resync_turn(
        &self,
        namespace: &str,
        name: &str,
        resync: Duration,
        window: Duration,
    ) {
        use ecsfleet::runtime::Managed;
        use ecsfleet::runtime::turns::{phase, until_next};
        let text = self.kubectl_ok(&["get", "dsvc", name, "-n", namespace, "-o", "json"]);
        let object: ecsfleet::daemon_service::DaemonService =
            serde_json::from_str(&text).expect("a DaemonService");
        let group = object
            .resync_group()
            .expect("DaemonServices resync by cluster");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let next = until_next(now, resync, phase(resync, &group));
        if next <= window {
            tokio::time::sleep(next + Duration::from_secs(2)).await;
        }
    }

    /// A kubeconfig that authenticates as `serviceaccount` in `namespace` with a token
    /// from the TokenRequest API: the operator gets exactly that account's RBAC.
    pub fn service_account_kubeconfig(&self, namespace: &str, serviceaccount: &str) -> PathBuf {
        let token = self.kubectl_ok(&[
            "create",
            "token",
            serviceaccount,
            "-n",
            namespace,
            "--duration=2h",
        ]);
        let admin: serde_json::Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&self.kubeconfig).unwrap()).unwrap();
        let cluster = &admin["clusters"][0]["cluster"];
        let config = serde_json::json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "testenv", "cluster": cluster}],
            "users": [{"name": serviceaccount, "user": {"token": token.trim()}}],
            "contexts": [{"name": "operator", "context": {"cluster": "testenv", "user": serviceaccount}}],
            "current-context": "operator",
        });
        let path = self.dir.path().join(format!("{serviceaccount}.kubeconfig"));
        std::fs::write(&path, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
        path
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(30));
    }
}

/// The calls of `after` made since `before` (two [`Operator::aws_calls`]), without zeros.
pub fn calls_since(
    after: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(op, n)| (op.clone(), n - before.get(op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// `ecsfleet run` as a process, stopped (SIGTERM) when dropped.
pub struct Operator {
    child: Child,
    pub log: PathBuf,
    /// Where its /livez, /readyz and /metrics answer.
    pub metrics: String,
}

/// The controller a benchmark measures: `ECSFLEET_BINARY` when set (scripts/bench passes
/// the release build, the binary that ships), else the benchmark's own build of it.
pub fn measured_binary(own: &str) -> String {
    std::env::var("ECSFLEET_BINARY").unwrap_or_else(|_| own.to_string())
}

impl Operator {
    /// Starts `binary run ARGS` (the test's `CARGO_BIN_EXE_ecsfleet`) with `kubeconfig`,
    /// its operations endpoints on a free loopback port.
    pub fn start(
        binary: &str,
        kubeconfig: &std::path::Path,
        emulator: &Emulator,
        log: PathBuf,
        args: &[&str],
    ) -> Operator {
        Operator::start_with_env(binary, kubeconfig, emulator, log, args, &[])
    }

    /// As [`Operator::start`], with `env` set too (`RUST_LOG` in it replaces the default).
    pub fn start_with_env(
        binary: &str,
        kubeconfig: &std::path::Path,
        emulator: &Emulator,
        log: PathBuf,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Operator {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let metrics = format!("127.0.0.1:{port}");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(binary)
            .arg("run")
            .args(["--metrics-addr", &metrics])
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .envs(emulator.process_env())
            .env("RUST_LOG", "info,kube=warn")
            .envs(env.iter().copied())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("starting ecsfleet run");
        Operator {
            child,
            log,
            metrics,
        }
    }

    /// GET `path` on the operations endpoint: (status code, body), or None if unreachable.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&self.metrics).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: ecsfleet\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let code = response.get(9..12)?.parse().ok()?;
        let body = response
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string();
        Some((code, body))
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its process ID (for /proc/PID/status).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How many reconciles of `kind` it finished so far, whatever their result (from
    /// its /metrics).
    pub fn reconciles(&self, kind: &str) -> u64 {
        let (_, text) = self.get("/metrics").expect("the metrics answer");
        let prefix = format!("ecsfleet_reconcile_total{{kind=\"{kind}\",");
        text.lines()
            .filter(|line| line.starts_with(&prefix))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// The AWS requests it made so far, by operation, read from its /metrics (every
    /// outcome counted).
    /// The value of the series `series` (name and labels, as /metrics prints them); 0
    /// when it has none.
    pub fn metric(&self, series: &str) -> u64 {
        self.get("/metrics")
            .and_then(|(_, text)| {
                text.lines().find_map(|l| {
                    l.strip_prefix(series)?
                        .strip_prefix(' ')?
                        .trim()
                        .parse()
                        .ok()
                })
            })
            .unwrap_or(0)
    }

    pub fn aws_calls(&self) -> BTreeMap<String, u64> {
        let (_, text) = self.get("/metrics").expect("the metrics answer");
        let mut calls = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("ecsfleet_aws_requests_total{") else {
                continue;
            };
            let operation = rest
                .split("operation=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default();
            let value: u64 = rest
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            *calls.entry(operation.to_string()).or_default() += value;
        }
        calls
    }

    /// Stops the operator as Kubernetes would (SIGTERM) and returns whether it exited 0.
    /// SIGTERM, then waits up to `within` for the process to end by itself: its exit
    /// status, or None if it had to be killed.
    pub fn terminate_within(mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// Kills the operator with SIGKILL: no shutdown, no Lease released.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn stop(mut self) -> bool {
        terminate(&mut self.child, Duration::from_secs(20));
        self.child
            .try_wait()
            .ok()
            .flatten()
            .is_some_and(|s| s.success())
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(20));
    }
}

/// Resident memory of a process, in MiB.
#[derive(Clone, Copy)]
pub struct Memory {
    /// VmRSS: all of it.
    pub rss: f64,
    /// VmHWM: the peak of VmRSS.
    pub peak: f64,
    /// RssAnon: the process's own memory (heap, stacks): what it cannot give back.
    pub anon: f64,
    /// RssFile: pages of the binary's code and data mapped from the page cache, clean
    /// and reclaimable.
    pub file: f64,
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} MiB ({:.1} anon + {:.1} file)",
            self.rss, self.anon, self.file
        )
    }
}

pub fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
            .expect("the field")
    };
    Memory {
        rss: field("VmRSS:"),
        peak: field("VmHWM:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
    }
}
