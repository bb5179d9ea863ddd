//! The process as an operator runs it, with no API server or AWS to reach: how it stops,
//! what it exports about itself, and what it says when AWS cannot be reached.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A kubeconfig whose API server refuses every connection (nothing listens on port 1).
fn unreachable_kubeconfig(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        r#"apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"#,
    )
    .unwrap();
    path
}

/// `ecsfleet run` against `kubeconfig`, its log lines read until `ready_line` appears.
fn start(kubeconfig: &std::path::Path, extra: &[&str], ready_line: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecsfleet"))
        .args(["run", "--metrics-addr", "127.0.0.1:0"])
        .args(extra)
        .env("KUBECONFIG", kubeconfig)
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ecsfleet runs");
    let stderr = child.stderr.take().unwrap();
    let (seen, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = seen.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(ready_line) => break,
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                panic!("ecsfleet never logged {ready_line:?}");
            }
        }
    }
    // Keep draining the log so the process never blocks on a full pipe.
    std::thread::spawn(move || while lines.recv().is_ok() {});
    child
}

#[test]
fn sigterm_with_the_api_server_unreachable_ends_at_once_not_at_the_shutdown_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = unreachable_kubeconfig(&dir);
    let shutdown_timeout = Duration::from_secs(60);
    let mut child = start(
        &kubeconfig,
        &["--shutdown-timeout", "60s"],
        "ecsfleet controller starting",
    );
    // Let the watches fail and back off, as they do while the API server is away.
    std::thread::sleep(Duration::from_secs(2));
    let signalled = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if signalled.elapsed() > shutdown_timeout / 3 {
            let _ = child.kill();
            panic!(
                "still running {:?} after SIGTERM with nothing in flight",
                signalled.elapsed()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        exit.success(),
        "a clean stop, not the timeout's exit: {exit}"
    );
}
