//! The controller's Kubernetes I/O against kube's tower-test mock of the API server (the
//! AWS side is the real emulator): finalizer, status by server-side apply, events,
//! cleanup, and no Kubernetes write at all for an object in sync.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{Cluster, Emulator, plain_env};
use ecsfleet::daemon_service::{DaemonService, Shared};
use ecsfleet::runtime::controller::{Context, Settings, error_policy, reconcile};
use ecsfleet::runtime::{Directory, Pipeline};
use http::{Request, Response};
use kube::client::Body;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

/// A request the operator made of the API server.
#[derive(Clone, Debug)]
struct Call {
    method: String,
    path: String,
    query: String,
    body: Value,
}

impl Call {
    fn is(&self, method: &str, path_suffix: &str) -> bool {
        self.method == method && self.path.ends_with(path_suffix)
    }
}

/// A mocked API server that records every request and answers with `answer(call)`:
/// (status code, body).
fn recording_api(
    answer: impl Fn(&Call) -> (u16, Value) + Send + 'static,
) -> (kube::Client, Arc<Mutex<Vec<Call>>>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let recorded = calls.clone();
    tokio::spawn(async move {
        while let Some((request, respond)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap();
            let call = Call {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or_default().to_string(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let (status, body) = answer(&call);
            recorded.lock().unwrap().push(call);
            respond.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap(),
            );
        }
    });
    (kube::Client::new(service, "default"), calls)
}

/// The API server as the controller sees it: patches return the object, event creations
/// return the event.
fn mock_api(object: Value) -> (kube::Client, Arc<Mutex<Vec<Call>>>) {
    recording_api(move |call| {
        if call.path.contains("/events") {
            (200, call.body.clone())
        } else {
            (200, object.clone())
        }
    })
}

fn object(cluster: &str, extra: Value) -> Value {
    let mut object = json!({
        "apiVersion": "ecsfleet.dev/v1alpha1",
        "kind": "DaemonService",
        "metadata": {
            "name": "agent", "namespace": "monitoring", "uid": "7c9e-uid",
            "generation": 1, "resourceVersion": "100"
        },
        "spec": {
            "cluster": cluster,
            "taskDefinition": {
                "family": format!("ctl-{cluster}"),
                "containerDefinitions": [{"name": "agent", "image": "agent:7", "memory": 128}]
            }
        }
    });
    merge(&mut object, extra);
    object
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                merge(into.entry(key).or_insert(Value::Null), value);
            }
        }
        (into, from) => *into = from,
    }
}

async fn context(emulator: &Emulator, client: kube::Client) -> Arc<Context<DaemonService>> {
    let env = plain_env(emulator).await;
    let shared = Shared::new(Duration::ZERO, Directory::default(), &env.hosts);
    let settings = Settings {
        namespaces: vec![],
        resync: Duration::from_secs(60),
        concurrency: 2,
    };
    Arc::new(Context::new(client, Pipeline::new(env, shared), settings))
}

/// A DaemonService in sync keeps no timer of its own: it comes back at its cluster's
/// resync turn (`ecsfleet::runtime::turns`) or on a change.
fn assert_waits_for_its_turn<E: std::fmt::Debug>(result: &Result<Action, E>) {
    assert!(
        matches!(result, Ok(action) if *action == Action::await_change()),
        "{result:?}"
    );
}

async fn run(
    emulator: &Emulator,
    object: Value,
) -> (
    Result<Action, String>,
    Vec<Call>,
    Arc<Context<DaemonService>>,
) {
    let (client, calls) = mock_api(object.clone());
    let context = context(emulator, client).await;
    let parsed: DaemonService = serde_json::from_value(object).unwrap();
    let guard = Arc::new(DeserializeGuard(Ok(parsed)));
    let result = reconcile(guard, context.clone())
        .await
        .map_err(|e| e.to_string());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let calls = calls.lock().unwrap().clone();
    (result, calls, context)
}

const WITH_FINALIZER: fn() -> Value =
    || json!({"metadata": {"finalizers": ["ecsfleet.dev/cleanup"]}});

#[tokio::test]
async fn a_new_object_gets_the_finalizer_first() {
    let emulator = Emulator::start();
    let (result, calls, _) = run(&emulator, object("ctl", json!({}))).await;
    assert_eq!(result, Ok(Action::await_change()));
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert!(calls[0].is("PATCH", "/namespaces/monitoring/daemonservices/agent"));
    assert!(
        calls[0].body.to_string().contains("ecsfleet.dev/cleanup"),
        "{:?}",
        calls[0].body
    );
}

#[tokio::test]
async fn apply_publishes_events_and_patches_status_by_server_side_apply() {
    let emulator = Emulator::start();
    let cluster = Cluster::create(&emulator, "ctl").await;
    cluster.add_instance(&emulator).await;
    let (result, calls, _) = run(&emulator, object("ctl", WITH_FINALIZER())).await;
    assert_waits_for_its_turn(&result);

    let events: Vec<_> = calls.iter().filter(|c| c.is("POST", "/events")).collect();
    let reasons: Vec<_> = events
        .iter()
        .map(|e| e.body["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["RegisterTaskDefinition", "CreateService"]);
    assert_eq!(events[0].body["type"], "Normal");
    assert_eq!(events[0].body["regarding"]["name"], "agent");

    let status: Vec<_> = calls
        .iter()
        .filter(|c| c.is("PATCH", "/daemonservices/agent/status"))
        .collect();
    assert_eq!(status.len(), 1, "{calls:#?}");
    assert!(
        status[0].query.contains("fieldManager=ecsfleet") && status[0].query.contains("force=true")
    );
    let body = &status[0].body;
    assert_eq!(body["kind"], "DaemonService");
    assert_eq!(body["status"]["observedGeneration"], 1);
    assert_eq!(body["status"]["desiredCount"], 1);
    let conditions: BTreeMap<_, _> = body["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap(),
                (c["status"].as_str().unwrap(), c["reason"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(conditions["Synced"], ("True", "ReconcileSuccess"));
    assert_eq!(conditions["Ready"], ("True", "Ready"));
}

#[tokio::test]
async fn an_object_in_sync_makes_no_kubernetes_write() {
    let emulator = Emulator::start();
    let cluster = Cluster::create(&emulator, "ctl").await;
    cluster.add_instance(&emulator).await;
    // First reconcile: learn the status the operator writes.
    let (_, calls, _) = run(&emulator, object("ctl", WITH_FINALIZER())).await;
    let status = calls
        .iter()
        .find(|c| c.is("PATCH", "/status"))
        .map(|c| c.body["status"].clone())
        .unwrap();
    // A resync of the object carrying that status: nothing to write, anywhere.
    let synced = object(
        "ctl",
        json!({"metadata": {"finalizers": ["ecsfleet.dev/cleanup"]}, "status": status}),
    );
    let (result, calls, context) = run(&emulator, synced).await;
    assert_waits_for_its_turn(&result);
    assert!(
        calls.is_empty(),
        "no Kubernetes request expected: {calls:#?}"
    );
    let writes: Vec<_> = context
        .pipeline
        .env
        .metrics()
        .successful_aws_requests()
        .into_keys()
        .filter(|op| !op.starts_with("Describe") && !op.starts_with("List"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test]
async fn invalid_spec_reports_the_field_and_is_not_retried_hot() {
    let emulator = Emulator::start();
    Cluster::create(&emulator, "ctl").await;
    let bad = object(
        "ctl",
        json!({"metadata": {"finalizers": ["ecsfleet.dev/cleanup"]}, "spec": {"instanceFilter": "attribute:x =="}}),
    );
    let (client, calls) = mock_api(bad.clone());
    let context = context(&emulator, client).await;
    let guard = Arc::new(DeserializeGuard(Ok(
        serde_json::from_value::<DaemonService>(bad).unwrap(),
    )));
    let error = reconcile(guard.clone(), context.clone()).await.unwrap_err();
    assert!(
        error.to_string().starts_with("spec.instanceFilter:"),
        "{error}"
    );
    // Terminal: wait for the resync turn (or a spec change), never a quick retry.
    assert_eq!(error_policy(guard, &error, context), Action::await_change());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let calls = calls.lock().unwrap().clone();
    let warning = calls
        .iter()
        .find(|c| c.is("POST", "/events"))
        .expect("a Warning event");
    assert_eq!(warning.body["type"], "Warning");
    assert_eq!(warning.body["reason"], "InvalidSpec");
    let status = calls
        .iter()
        .find(|c| c.is("PATCH", "/status"))
        .expect("a status patch");
    let synced = status.body["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Synced")
        .unwrap()
        .clone();
    assert_eq!(synced["status"], "False");
    assert_eq!(synced["reason"], "InvalidSpec");
    assert!(
        synced["message"]
            .as_str()
            .unwrap()
            .starts_with("spec.instanceFilter:")
    );
}

#[tokio::test]
async fn retryable_failures_back_off_and_success_resets() {
    let emulator = Emulator::start();
    // The cluster does not exist yet: retryable.
    let missing = object("later", WITH_FINALIZER());
    let (client, _) = mock_api(missing.clone());
    let context = context(&emulator, client).await;
    let guard = Arc::new(DeserializeGuard(Ok(
        serde_json::from_value::<DaemonService>(missing.clone()).unwrap(),
    )));
    let error = reconcile(guard.clone(), context.clone()).await.unwrap_err();
    let seconds = |d: Duration| d.as_secs_f64();
    let delays: Vec<f64> = (0..4)
        .map(|_| {
            seconds(
                context
                    .retry_delay(
                        "monitoring/agent",
                        &ecsfleet::Error::NotReady(error.to_string()),
                    )
                    .expect("retryable"),
            )
        })
        .collect();
    for (delay, (low, high)) in
        delays
            .iter()
            .zip([(4.0, 6.0), (8.0, 12.0), (16.0, 24.0), (32.0, 48.0)])
    {
        assert!((low..=high).contains(delay), "{delays:?}");
    }
    assert!(
        matches!(error_policy(guard.clone(), &error, context.clone()), a if a != Action::await_change())
    );

    // Once the cluster exists the reconcile succeeds and the count starts over.
    Cluster::create(&emulator, "later").await;
    reconcile(guard, context.clone()).await.unwrap();
    let after = context
        .retry_delay(
            "monitoring/agent",
            &ecsfleet::Error::NotReady("again".into()),
        )
        .expect("retryable");
    assert!(after <= Duration::from_secs(6), "{after:?}");
}

#[tokio::test]
async fn deletion_cleans_up_then_releases_the_finalizer() {
    let emulator = Emulator::start();
    let cluster = Cluster::create(&emulator, "ctl").await;
    cluster.add_instance(&emulator).await;
    let (created, _, _) = run(&emulator, object("ctl", WITH_FINALIZER())).await;
    assert!(created.is_ok(), "{created:?}");
    assert!(cluster.service("agent").await.is_some());

    let deleting = object(
        "ctl",
        json!({"metadata": {"finalizers": ["ecsfleet.dev/cleanup"], "deletionTimestamp": "2026-11-21T10:00:00Z"}}),
    );
    let (result, calls, _) = run(&emulator, deleting).await;
    assert!(result.is_ok(), "{result:?}");
    assert!(
        cluster.service("agent").await.is_none(),
        "the service is deleted"
    );
    let deleting_status = calls
        .iter()
        .find(|c| c.is("PATCH", "/status"))
        .expect("status patch");
    assert!(deleting_status.body.to_string().contains("Deleting"));
    let reasons: Vec<_> = calls
        .iter()
        .filter(|c| c.is("POST", "/events"))
        .map(|c| c.body["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons, ["UpdateService", "DeleteService"]);
    let last = calls.last().unwrap();
    assert!(
        last.is("PATCH", "/daemonservices/agent"),
        "finalizer removal last: {calls:#?}"
    );
    assert!(
        last.body.to_string().contains("remove") || last.body.to_string().contains("finalizers")
    );
}

#[tokio::test]
async fn orphan_deletion_releases_the_finalizer_and_leaves_aws() {
    let emulator = Emulator::start();
    let cluster = Cluster::create(&emulator, "ctl").await;
    cluster.add_instance(&emulator).await;
    let (created, _, _) = run(&emulator, object("ctl", WITH_FINALIZER())).await;
    assert!(created.is_ok(), "{created:?}");

    let orphaned = object(
        "ctl",
        json!({"metadata": {"finalizers": ["ecsfleet.dev/cleanup"], "deletionTimestamp": "2026-11-21T10:00:00Z"},
               "spec": {"deletionPolicy": "Orphan"}}),
    );
    let (result, calls, context) = run(&emulator, orphaned).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(calls.len(), 1, "only the finalizer removal: {calls:#?}");
    assert!(calls[0].is("PATCH", "/daemonservices/agent"));
    assert!(cluster.service("agent").await.is_some(), "left in AWS");
    assert!(
        context.pipeline.env.metrics().aws_requests().is_empty(),
        "no AWS call at all"
    );
}

/// The API server for Lease calls: GET answers `lease`, writes answer `write_status`.
fn lease_api(lease: Value, write_status: u16) -> (kube::Client, Arc<Mutex<Vec<Call>>>) {
    recording_api(move |call| match call.method.as_str() {
        "GET" => (200, lease.clone()),
        _ if write_status == 409 => (
            409,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                   "reason": "Conflict", "code": 409, "message": "the object has been modified"}),
        ),
        _ => (write_status, call.body.clone()),
    })
}

fn lease(holder: Option<&str>, renewed: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "ecsfleet", "namespace": "ecsfleet-system", "resourceVersion": "42"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                 "acquireTime": renewed, "renewTime": renewed}
    })
}

fn elector(client: kube::Client, identity: &str) -> ecsfleet::runtime::lease::LeaderElector {
    ecsfleet::runtime::lease::LeaderElector::new(
        client,
        "ecsfleet-system",
        "ecsfleet",
        identity.to_string(),
        Duration::from_secs(15),
    )
}

#[tokio::test]
async fn a_replica_that_loses_the_write_race_does_not_lead() {
    let (client, calls) = lease_api(lease(None, "2026-01-01T00:00:00.000000Z"), 409);
    assert!(!elector(client, "b").try_lead().await.unwrap());
    let calls = calls.lock().unwrap().clone();
    let put = calls
        .iter()
        .find(|c| c.method == "PUT")
        .expect("a guarded write");
    assert_eq!(
        put.body["metadata"]["resourceVersion"], "42",
        "the write carries the version read"
    );
    assert_eq!(put.body["spec"]["holderIdentity"], "b");
}

#[tokio::test]
async fn a_replica_that_wins_the_write_leads() {
    let (client, _) = lease_api(lease(None, "2026-01-01T00:00:00.000000Z"), 200);
    assert!(elector(client, "b").try_lead().await.unwrap());
}

#[tokio::test]
async fn a_standby_does_not_write_while_the_leader_holds_the_lease() {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let (client, calls) = lease_api(lease(Some("a"), &now), 200);
    let standby = elector(client, "b");
    assert!(!standby.try_lead().await.unwrap());
    standby.release().await.unwrap();
    let calls = calls.lock().unwrap().clone();
    assert!(calls.iter().all(|c| c.method == "GET"), "{calls:#?}");
}

#[tokio::test]
async fn an_object_that_does_not_decode_is_reported_and_not_retried() {
    let emulator = Emulator::start();
    let (client, calls) = mock_api(json!({}));
    let context = context(&emulator, client).await;
    let invalid = kube::core::error_boundary::InvalidObject {
        error: "invalid type: string \"three\", expected i32 at line 1".into(),
        metadata: kube::api::ObjectMeta {
            name: Some("broken".into()),
            namespace: Some("monitoring".into()),
            generation: Some(4),
            ..Default::default()
        },
    };
    let guard: Arc<DeserializeGuard<DaemonService>> = Arc::new(DeserializeGuard(Err(invalid)));
    let action = reconcile(guard, context).await.unwrap();
    assert_eq!(
        action,
        Action::await_change(),
        "no retry until the object changes"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let calls = calls.lock().unwrap().clone();
    let status = calls
        .iter()
        .find(|c| c.is("PATCH", "/daemonservices/broken/status"))
        .expect("the status says why");
    let synced = &status.body["status"]["conditions"][1];
    assert_eq!(synced["reason"], "InvalidSpec");
    assert!(synced["message"].as_str().unwrap().contains("expected i32"));
    let event = calls
        .iter()
        .find(|c| c.is("POST", "/events"))
        .expect("a Warning event");
    assert_eq!(event.body["type"], "Warning");
    assert_eq!(event.body["regarding"]["name"], "broken");
}
