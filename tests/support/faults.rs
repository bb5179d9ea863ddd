//! The fault-injecting proxy (tests/emulator/fault_proxy.py) between ecsfleet and the
//! emulator: throttling, 5xx, resets and lost answers in each protocol's error shape,
//! drawn from a seed; and a hold on the k-th request for crash tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ecsfleet::aws::AwsFactory;
use ecsfleet::metrics::Metrics;
use ecsfleet::runtime::Env;
use ecsfleet::runtime::secrets::Secrets;
use serde_json::{Value, json};

use super::{Emulator, emulator_python, repo_root};

/// Every fault kind the proxy knows.
pub const ALL: &[&str] = &["throttle", "error", "reset", "lost"];

/// The proxy, on a free loopback port, stopped when dropped.
pub struct FaultProxy {
    child: Child,
    port: u16,
    /// Point clients here instead of at the emulator.
    pub endpoint: String,
}

impl FaultProxy {
    /// Starts the proxy in front of `emulator`, with faults off.
    pub fn start(emulator: &Emulator) -> FaultProxy {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(emulator_python())
            .arg(repo_root().join("tests/emulator/fault_proxy.py"))
            .args([
                "--port",
                &port.to_string(),
                "--upstream",
                &emulator.endpoint,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the fault proxy");
        let mut proxy = FaultProxy {
            child,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("the fault proxy exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "the fault proxy did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
        proxy
    }

    /// Faults at `rate` (0 turns them off), of `kinds`, drawn from `seed`, for the
    /// operations matching `only` (a regular expression; None: all).
    pub fn configure(&self, rate: f64, seed: u64, kinds: &[&str], only: Option<&str>) {
        self.control(
            "POST",
            "config",
            json!({"rate": rate, "seed": seed, "kinds": kinds, "only": only}),
        );
    }

    /// Requests seen by operation, and faults injected by kind.
    pub fn stats(&self) -> Value {
        self.control("GET", "stats", Value::Null)
    }

    /// Requests seen in all.
    pub fn requests(&self) -> u64 {
        let stats = self.stats();
        stats["requests"]
            .as_object()
            .map(|ops| ops.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0)
    }

    /// Holds the `at`-th request from now until `release`.
    pub fn hold(&self, at: u64) {
        self.control("POST", "hold", json!({"at": at}));
    }

    pub fn held(&self) -> bool {
        self.control("GET", "held", Value::Null)["held"] == true
    }

    pub fn release(&self) {
        self.control("POST", "release", Value::Null);
    }

    /// An environment whose AWS calls go through the proxy, with ecsfleet's own retry
    /// and timeout settings.
    pub async fn env(&self, secrets: Secrets) -> Env {
        let config = super::ecsfleet_sdk_config(&self.endpoint).await;
        Env::new(AwsFactory::from_config(config, Metrics::default()), secrets)
    }

    /// The environment a spawned `ecsfleet` needs to go through the proxy.
    pub fn process_env(&self) -> Vec<(&'static str, String)> {
        let mut vars = Emulator::attach(&self.endpoint).process_env();
        vars.retain(|(name, _)| *name != "AWS_ENDPOINT_URL");
        vars.push(("AWS_ENDPOINT_URL", self.endpoint.clone()));
        vars
    }

    fn control(&self, method: &str, action: &str, body: Value) -> Value {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("the fault proxy");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "{method} /__faults/{action} HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (_, body) = answer
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("a control answer: {answer}"));
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
