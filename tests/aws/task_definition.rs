//! A DaemonService's task definition is ECS's, whole. The decoder is ECS's own model
//! (botocore's, pinned in the emulator's environment); the copy ecsfleet embeds must be
//! that model, so a member ECS adds in a newer model fails here until it is taken in. And
//! a definition that sets every member of the model is registered exactly as given and
//! described back by boto3, for a service and for a Managed Daemon.

use std::process::Command;

use serde_json::{Map, Value, json};

use crate::support::{
    Cluster, Emulator, emulator_python, managed_instances, plain_env, repo_root, sync,
};
use ecsfleet::daemon_service::{DaemonService, Shared};
use ecsfleet::runtime::{Directory, Pipeline};

fn embedded_model() -> Value {
    let text = std::fs::read_to_string(repo_root().join("src/aws/models/ecs.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `tests/emulator/service_model.py` run on the pinned botocore.
fn pinned_model() -> Value {
    let output = Command::new(emulator_python())
        .arg(repo_root().join("tests/emulator/service_model.py"))
        .args([
            "ecs",
            "RegisterTaskDefinition",
            "RegisterDaemonTaskDefinition",
        ])
        .output()
        .expect("running service_model.py");
    assert!(
        output.status.success(),
        "service_model.py: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_embedded_ecs_model_is_the_pinned_one() {
    assert!(
        embedded_model() == pinned_model(),
        "src/aws/models/ecs.json is not the pinned botocore's ECS model: run scripts/generate-crds"
    );
}

/// The task-level members a DaemonService spells in `spec.taskDefinition` are exactly
/// the ones RegisterTaskDefinition takes (its tags are `spec.tags`), so a member ECS adds
/// at task level fails here until the CRD has it.
#[test]
fn the_crd_spells_every_task_level_member() {
    let crd = serde_json::to_value(<DaemonService as kube::CustomResourceExt>::crd()).unwrap();
    let properties = crd
        .pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/taskDefinition/properties")
        .and_then(Value::as_object)
        .expect("spec.taskDefinition's properties");
    let mut spelled: Vec<&str> = properties
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "arn")
        .collect();
    spelled.push("tags");
    spelled.sort_unstable();
    let model = embedded_model();
    let members = model
        .pointer("/shapes/RegisterTaskDefinitionRequest/members")
        .and_then(Value::as_object)
        .unwrap();
    let mut taken: Vec<&str> = members.keys().map(String::as_str).collect();
    taken.sort_unstable();
    assert_eq!(spelled, taken);
}

/// A value of `shape` with every member set: one item per list, one entry per map, an
/// enum's first value, a number at its least. A union sets its first member.
fn sample(shapes: &Value, name: &str, depth: usize) -> Value {
    assert!(depth < 16, "{name}: the model nests deeper than expected");
    let shape = &shapes[name];
    let min = |default: i64| shape["min"].as_i64().unwrap_or(default);
    match shape["type"].as_str().unwrap() {
        "structure" => {
            let members = shape["members"].as_object().unwrap();
            let union = shape["union"] == json!(true);
            Value::Object(
                members
                    .iter()
                    .take(if union { 1 } else { members.len() })
                    .map(|(key, r)| {
                        let shape = r["shape"].as_str().unwrap();
                        (key.clone(), sample(shapes, shape, depth + 1))
                    })
                    .collect(),
            )
        }
        "list" => json!([sample(
            shapes,
            shape["member"]["shape"].as_str().unwrap(),
            depth + 1
        )]),
        "map" => {
            let value = sample(shapes, shape["value"]["shape"].as_str().unwrap(), depth + 1);
            json!({"entry": value})
        }
        "string" => match shape["enum"].as_array() {
            Some(values) => values[0].clone(),
            None => json!("v".repeat(min(1).max(1) as usize)),
        },
        "integer" | "long" => json!(min(1).max(1)),
        "double" | "float" => json!(1.5),
        "boolean" => json!(true),
        other => panic!("{name}: a {other} in a task definition"),
    }
}

/// Every member of `operation`'s input set, with what ecsfleet's own rules (and the
/// CRD's types) need: names, units, a mount point on the declared volume.
fn every_member(operation: &str) -> Map<String, Value> {
    let model = embedded_model();
    let root = model["operations"][operation].as_str().unwrap();
    let Value::Object(mut request) = sample(&model["shapes"], root, 0) else {
        unreachable!()
    };
    request.remove("tags");
    request.insert("family".into(), json!(format!("whole-{}", operation.len())));
    for (key, value) in [("cpu", "256"), ("memory", "512")] {
        request.insert(key.into(), json!(value));
    }
    let volume = &mut request["volumes"][0];
    volume["name"] = json!("data");
    let container = &mut request["containerDefinitions"][0];
    container["name"] = json!("agent");
    container["image"] = json!("public.ecr.aws/vendor/agent:7");
    container["cpu"] = json!(128);
    container["memory"] = json!(256);
    container["memoryReservation"] = json!(128);
    container["mountPoints"][0]["sourceVolume"] = json!("data");
    if let Some(port) = container.get_mut("portMappings").map(|p| &mut p[0]) {
        port["containerPort"] = json!(8125);
        port["hostPort"] = json!(8125);
    }
    request
}

fn daemon_service(
    cluster: &str,
    scheduling: &str,
    definition: &Map<String, Value>,
) -> DaemonService {
    let mut obj: DaemonService = serde_json::from_value(json!({
        "apiVersion": "ecsfleet.dev/v1alpha1",
        "kind": "DaemonService",
        "metadata": {"name": "whole", "namespace": "monitoring", "uid": "uid-whole", "generation": 1},
        "spec": {"cluster": cluster, "scheduling": scheduling, "taskDefinition": definition},
    }))
    .expect("every member ECS takes decodes as a DaemonService");
    obj.metadata.generation = Some(1);
    obj
}

/// What boto3 (the pinned botocore, so every member of the model) describes.
fn described(emulator: &Emulator, operation: &str, arn: &str) -> Value {
    let script = r#"
import json, sys
import boto3
ecs = boto3.client("ecs", endpoint_url=sys.argv[1], region_name="eu-west-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
if sys.argv[2] == "daemon":
    answer = ecs.describe_daemon_task_definition(daemonTaskDefinition=sys.argv[3])
    print(json.dumps(answer["daemonTaskDefinition"], default=str))
else:
    print(json.dumps(ecs.describe_task_definition(taskDefinition=sys.argv[3])["taskDefinition"], default=str))
"#;
    let output = Command::new(emulator_python())
        .args(["-c", script, &emulator.endpoint, operation, arn])
        .output()
        .expect("running boto3");
    assert!(
        output.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `given` within `found`: every member given is there with the value given (ECS, and the
/// emulator, add defaults of their own).
fn missing(given: &Value, found: &Value, path: &str, out: &mut Vec<String>) {
    match (given, found) {
        (Value::Object(given), Value::Object(found)) => {
            for (key, value) in given {
                match found.get(key) {
                    Some(f) => missing(value, f, &format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}")),
                }
            }
        }
        (Value::Array(given), Value::Array(found)) if given.len() == found.len() => {
            for (index, (g, f)) in given.iter().zip(found).enumerate() {
                missing(g, f, &format!("{path}[{index}]"), out);
            }
        }
        (g, f) if g == f => {}
        (g, f) => out.push(format!("{path}: gave {g}, found {f}")),
    }
}

#[tokio::test]
async fn every_member_ecs_takes_is_registered_as_given() {
    let emulator = Emulator::start();
    let cluster = Cluster::create(&emulator, "whole").await;
    cluster.add_instance(&emulator).await;
    let env = plain_env(&emulator).await;
    let shared = Shared::new(std::time::Duration::ZERO, Directory::default(), &env.hosts);
    let pipeline = Pipeline::new(env, shared);

    let definition = every_member("RegisterTaskDefinition");
    let mut obj = daemon_service("whole", "Daemon", &definition);
    sync(&mut obj, &pipeline)
        .await
        .expect("registered and running");
    let service = cluster.service("whole").await.expect("the service");
    let arn = service.task_definition().expect("its revision");
    let mut gaps = Vec::new();
    missing(
        &Value::Object(definition),
        &described(&emulator, "task", arn),
        "spec.taskDefinition",
        &mut gaps,
    );
    assert!(gaps.is_empty(), "not registered as given: {gaps:?}");
}

#[tokio::test]
async fn every_member_a_daemon_task_definition_takes_is_registered_as_given() {
    let emulator = Emulator::start();
    let cluster = Cluster::create(&emulator, "whole-mi").await;
    managed_instances(&emulator, &cluster, 1).await;
    let env = plain_env(&emulator).await;
    let shared = Shared::new(std::time::Duration::ZERO, Directory::default(), &env.hosts);
    let pipeline = Pipeline::new(env, shared);

    let definition = every_member("RegisterDaemonTaskDefinition");
    let mut obj = daemon_service("whole-mi", "ManagedDaemon", &definition);
    sync(&mut obj, &pipeline)
        .await
        .expect("registered and running");
    let arn = obj
        .status
        .as_ref()
        .and_then(|s| s.task_definition_arn.clone())
        .expect("the daemon's revision in status");
    let mut gaps = Vec::new();
    missing(
        &Value::Object(definition),
        &described(&emulator, "daemon", &arn),
        "spec.taskDefinition",
        &mut gaps,
    );
    assert!(gaps.is_empty(), "not registered as given: {gaps:?}");
}

/// The README's vendor daemon definitions register exactly what they say: the example
/// DaemonServices (a service, and a Managed Daemon), on clusters of the emulator.
#[tokio::test]
async fn the_examples_definitions_are_registered_unchanged() {
    let emulator = Emulator::start();
    let env = plain_env(&emulator).await;
    let shared = Shared::new(std::time::Duration::ZERO, Directory::default(), &env.hosts);
    let pipeline = Pipeline::new(env, shared);
    for (file, managed) in [
        ("examples/datadog-agent.yaml", false),
        ("deploy/examples/managed-daemon.yaml", true),
    ] {
        let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
        let mut obj: DaemonService = serde_yaml_ng::from_str(&text).unwrap();
        let given = serde_json::to_value(&obj.spec.task_definition).unwrap();
        // The example's cluster, as the emulator has it: only the cluster differs.
        let cluster = Cluster::create(&emulator, &obj.spec.cluster).await;
        if managed {
            managed_instances(&emulator, &cluster, 1).await;
            obj.spec.capacity_provider_strategy = None;
        } else {
            cluster.add_instance(&emulator).await;
        }
        obj.metadata.uid = Some(format!("uid-{file}"));
        obj.metadata.generation = Some(1);
        sync(&mut obj, &pipeline).await.expect(file);
        let arn = obj
            .status
            .as_ref()
            .and_then(|s| s.task_definition_arn.clone())
            .expect("the revision in status");
        let kind = if managed { "daemon" } else { "task" };
        let mut gaps = Vec::new();
        missing(&given, &described(&emulator, kind, &arn), file, &mut gaps);
        assert!(gaps.is_empty(), "{file}: not registered as given: {gaps:?}");
    }
}
