//! The inline task definition: rendered from the spec's JSON (the ECS API's shape) into
//! the SDK's types, with every error naming the field's path, and a digest of the
//! definition that decides whether a new revision is needed.
//!
//! ECS fills in defaults when it stores a definition, so comparing a described revision
//! field by field with the spec would see differences that are not there. Instead every
//! revision ecsfleet registers carries the digest of the spec it came from as the tag
//! `ecsfleet.dev/definition-digest`; the family's latest revision is current exactly when
//! it carries the digest of the spec (a revision registered by hand has none, and is
//! replaced). Revisions never change, so once a sync of a generation has succeeded, the
//! revision it left the service running needs no reading again while the spec stays
//! (`Desired::known_revision`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::TaskDefinitionSpec;
use crate::aws::model::{self, ECS, Unknown};
use crate::{Error, Result};

/// The least memory a container may have, in MiB: what Docker reserves for one.
const MIN_MEMORY_MIB: i64 = 6;
/// ECS's quota on the size of one task definition (64 KiB).
const MAX_DEFINITION_BYTES: usize = 64 * 1024;

/// The tag that carries the digest of the spec a revision was registered from.
pub const DIGEST_TAG: &str = "ecsfleet.dev/definition-digest";

/// The operation that registers a task definition, and the one for a Managed Daemon's.
pub const REGISTER: &str = "RegisterTaskDefinition";
pub const REGISTER_DAEMON: &str = "RegisterDaemonTaskDefinition";

/// An inline task definition, ready to register.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedTaskDefinition {
    pub family: String,
    /// The register request's members in ECS's JSON, exactly as the spec gives them
    /// (`null` members left out): what ECS registers.
    pub request: Map<String, Value>,
    /// Hex SHA-256 of the canonical JSON of the definition.
    pub digest: String,
}

impl RenderedTaskDefinition {
    /// The request body of `operation` with `tags` added: the spec's members, as given.
    pub fn body(&self, tags: &BTreeMap<String, String>) -> String {
        let mut request = self.request.clone();
        let tags: Vec<Value> = tags
            .iter()
            .map(|(key, value)| json!({"key": key, "value": value}))
            .collect();
        if !tags.is_empty() {
            request.insert("tags".into(), Value::Array(tags));
        }
        Value::Object(request).to_string()
    }

    /// A member of the request, e.g. `taskRoleArn`.
    pub fn member(&self, name: &str) -> Option<&Value> {
        self.request.get(name)
    }

    /// The container definitions as given.
    pub fn containers(&self) -> &[Value] {
        self.list("containerDefinitions")
    }

    /// The volumes as given.
    pub fn volumes(&self) -> &[Value] {
        self.list("volumes")
    }

    fn list(&self, name: &str) -> &[Value] {
        self.request
            .get(name)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Checks the request against `operation`'s input in ECS's model: every member ECS
    /// takes there, with the model's types and value rules; anything else is named.
    pub fn check(&self, operation: &str, unknown: Unknown<'_>) -> Result<()> {
        ECS.check(
            operation,
            &Value::Object(self.request.clone()),
            FIELD,
            unknown,
        )
    }
}

const FIELD: &str = "spec.taskDefinition";

/// What a member ECS's RegisterTaskDefinition does not take is called.
pub const NOT_A_MEMBER: Unknown<'static> =
    Unknown("is not a member ECS's RegisterTaskDefinition takes here");
/// What a member a daemon task definition does not take is called.
pub const NOT_A_DAEMON_MEMBER: Unknown<'static> =
    Unknown("is not supported in a daemon task definition (scheduling ManagedDaemon)");

/// Renders and validates an inline definition for `operation` (REGISTER, or
/// REGISTER_DAEMON when the spec asks for a Managed Daemon). Pure.
pub fn render(spec: &TaskDefinitionSpec, operation: &str) -> Result<RenderedTaskDefinition> {
    let family = spec.family.clone().ok_or_else(|| {
        Error::invalid(
            format!("{FIELD}.family"),
            "required for an inline task definition",
        )
    })?;
    let given = serde_json::to_value(spec).map_err(|e| Error::invalid(FIELD, e.to_string()))?;
    // Bounded first: everything after reads the whole definition.
    let canonical = canonical_json(&given).to_string();
    if canonical.len() > MAX_DEFINITION_BYTES {
        return Err(Error::invalid(
            FIELD,
            format!(
                "{} bytes of JSON, over the {MAX_DEFINITION_BYTES} ECS takes in one task definition",
                canonical.len()
            ),
        ));
    }
    let Value::Object(mut request) = model::without_nulls(&given) else {
        unreachable!("a task definition serializes as an object");
    };
    request.remove("arn");
    let rendered = RenderedTaskDefinition {
        family,
        request,
        digest: hex(&Sha256::digest(canonical.as_bytes())),
    };
    let unknown = match operation {
        REGISTER_DAEMON => NOT_A_DAEMON_MEMBER,
        _ => NOT_A_MEMBER,
    };
    rendered.check(operation, unknown)?;
    documented_rules(&rendered)?;
    Ok(rendered)
}

/// What ECS's documentation says of a definition beyond its model: names, units, and
/// references between containers and volumes. Runs on a definition the model has
/// checked, so types are as the model says.
fn documented_rules(rendered: &RenderedTaskDefinition) -> Result<()> {
    let containers = rendered.containers();
    if containers.is_empty() {
        return Err(Error::invalid(
            format!("{FIELD}.containerDefinitions"),
            "at least one container definition is required",
        ));
    }
    let mut volume_names = BTreeSet::new();
    for (index, volume) in rendered.volumes().iter().enumerate() {
        let name = volume
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !volume_names.insert(name) {
            return Err(Error::invalid(
                format!("{FIELD}.volumes[{index}].name"),
                "volume names must be unique",
            ));
        }
    }
    let mut names = BTreeSet::new();
    for (index, container) in containers.iter().enumerate() {
        let at = |key: &str| format!("{FIELD}.containerDefinitions[{index}].{key}");
        let text = |key: &str| container.get(key).and_then(Value::as_str);
        let number = |key: &str| container.get(key).and_then(Value::as_i64);
        let name = text("name")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::invalid(at("name"), "is required"))?;
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || name.len() > 255
        {
            return Err(Error::invalid(
                at("name"),
                "up to 255 letters, digits, hyphens and underscores",
            ));
        }
        if !names.insert(name) {
            return Err(Error::invalid(at("name"), "container names must be unique"));
        }
        let image = text("image")
            .filter(|i| !i.is_empty())
            .ok_or_else(|| Error::invalid(at("image"), "is required"))?;
        if image.len() > 255 {
            return Err(Error::invalid(
                at("image"),
                "at most 255 characters, as ECS takes it",
            ));
        }
        // ECS's units: CPU shares from 0; memory in MiB, at least the 6 MiB Docker reserves.
        if number("cpu").is_some_and(|cpu| cpu < 0) {
            return Err(Error::invalid(at("cpu"), format!("must be 0–{}", i32::MAX)));
        }
        for key in ["memory", "memoryReservation"] {
            if number(key).is_some_and(|mib| mib < MIN_MEMORY_MIB) {
                return Err(Error::invalid(
                    at(key),
                    format!("must be {MIN_MEMORY_MIB}–{}", i32::MAX),
                ));
            }
        }
        let items = |key: &str| {
            container
                .get(key)
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
        };
        for (at_port, port) in items("portMappings").iter().enumerate() {
            for key in ["containerPort", "hostPort"] {
                if port
                    .get(key)
                    .and_then(Value::as_i64)
                    .is_some_and(|p| !(0..=65535).contains(&p))
                {
                    return Err(Error::invalid(
                        at(&format!("portMappings[{at_port}].{key}")),
                        "must be 0–65535",
                    ));
                }
            }
        }
        for (at_mount, mount) in items("mountPoints").iter().enumerate() {
            let field = at(&format!("mountPoints[{at_mount}].sourceVolume"));
            let source = mount
                .get("sourceVolume")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::invalid(&field, "is required"))?;
            if !volume_names.contains(source) {
                return Err(Error::invalid(
                    field,
                    format!("{source:?} names no volume of spec.taskDefinition.volumes"),
                ));
            }
        }
    }
    Ok(())
}

/// The JSON with every object's keys sorted, so equal definitions have equal digests.
fn canonical_json(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, canonical_json(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical_json).collect()),
        other => other.clone(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(containers: Value) -> TaskDefinitionSpec {
        TaskDefinitionSpec {
            family: Some("datadog-agent".into()),
            container_definitions: Some(serde_json::from_value(containers).unwrap()),
            ..TaskDefinitionSpec::default()
        }
    }

    fn agent() -> Value {
        json!([{
            "name": "agent", "image": "public.ecr.aws/datadog/agent:7", "memory": 256, "essential": true,
            "environment": [{"name": "DD_SITE", "value": "datadoghq.com"}],
            "mountPoints": [{"sourceVolume": "docker_sock", "containerPath": "/var/run/docker.sock", "readOnly": true}],
            "portMappings": [{"containerPort": 8125, "hostPort": 8125, "protocol": "udp"}],
            "healthCheck": {"command": ["CMD-SHELL", "agent health"], "interval": 30, "retries": 3}
        }])
    }

    /// The digest names the registered revision (its tag): a new way of holding the spec
    /// must not change it, or every service would register a new revision on upgrade.
    /// The value was computed by the release before container definitions were kept as
    /// text.
    #[test]
    fn the_digest_of_a_spec_is_the_same_across_releases() {
        let mut spec = spec(agent());
        spec.volumes = Some(
            serde_json::from_value(
                json!([{"name": "docker_sock", "host": {"sourcePath": "/var/run/docker.sock"}}]),
            )
            .unwrap(),
        );
        assert_eq!(
            render(&spec, REGISTER).unwrap().digest,
            "ab1c25428265fa251563edcc404680ddfc17145eee40aa0324dd7a66dfcf1e68"
        );
    }

    /// What ECS refuses is refused first, naming the field, so that no call is made that
    /// would fail.
    #[test]
    fn what_ecs_refuses_is_refused_before_any_call() {
        let container = |extra: Value| {
            let mut c = json!({"name": "a", "image": "i:1", "memory": 64});
            merge_object(&mut c, extra);
            c
        };
        for (definition, volumes, field) in [
            (
                container(json!({"cpu": -1})),
                json!([]),
                "containerDefinitions[0].cpu",
            ),
            (
                container(json!({"memory": 2})),
                json!([]),
                "containerDefinitions[0].memory",
            ),
            (
                container(json!({"memoryReservation": 0})),
                json!([]),
                "containerDefinitions[0].memoryReservation",
            ),
            (
                container(json!({"image": "i".repeat(256)})),
                json!([]),
                "containerDefinitions[0].image",
            ),
            (
                container(
                    json!({"mountPoints": [{"sourceVolume": "nowhere", "containerPath": "/x"}]}),
                ),
                json!([]),
                "containerDefinitions[0].mountPoints[0].sourceVolume",
            ),
            (
                container(json!({})),
                json!([{"name": "v"}, {"name": "v"}]),
                "volumes[1].name",
            ),
            (
                container(json!({"environment": (0..3000)
                    .map(|i| json!({"name": format!("VARIABLE_{i}"), "value": "some value"}))
                    .collect::<Vec<_>>()})),
                json!([]),
                "spec.taskDefinition",
            ),
        ] {
            let mut spec = spec(json!([definition]));
            spec.volumes = Some(serde_json::from_value(volumes).unwrap());
            let error = render(&spec, REGISTER).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("spec.taskDefinition.{field}"))
                    || (field == "spec.taskDefinition" && error.contains("bytes of JSON")),
                "{field}: {error}"
            );
        }
    }

    fn merge_object(target: &mut Value, extra: Value) {
        if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
            target.extend(extra);
        }
    }

    #[test]
    fn digest_ignores_key_order_but_not_values() {
        let a = render(
            &spec(json!([{"name": "a", "image": "i:1", "memory": 64}])),
            REGISTER,
        )
        .unwrap();
        let b = render(
            &spec(json!([{"memory": 64, "image": "i:1", "name": "a"}])),
            REGISTER,
        )
        .unwrap();
        let c = render(
            &spec(json!([{"name": "a", "image": "i:2", "memory": 64}])),
            REGISTER,
        )
        .unwrap();
        assert_eq!(a.digest, b.digest);
        assert_ne!(a.digest, c.digest);
    }

    #[test]
    fn unknown_field_is_named_with_its_path() {
        let error = render(
            &spec(json!([{"name": "a", "image": "i", "memry": 64}])),
            REGISTER,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "spec.taskDefinition.containerDefinitions[0].memry: is not a member ECS's RegisterTaskDefinition takes here"
        );
    }

    #[test]
    fn ports_protocols_and_mount_points_are_checked_as_ecs_would() {
        for (container, expected) in [
            (
                json!({"portMappings": [{"containerPort": 65536}]}),
                "portMappings[0].containerPort: must be 0–65535",
            ),
            (
                json!({"portMappings": [{"containerPort": 80, "hostPort": -1}]}),
                "portMappings[0].hostPort: must be 0–65535",
            ),
            (
                json!({"portMappings": [{"containerPort": 80, "protocol": "sctp"}]}),
                "portMappings[0].protocol: \"sctp\" is not one of tcp, udp",
            ),
            (
                json!({"mountPoints": [{"containerPath": "/data"}]}),
                "mountPoints[0].sourceVolume: is required",
            ),
        ] {
            let mut definition = json!({"name": "a", "image": "i"});
            for (key, value) in container.as_object().unwrap() {
                definition[key] = value.clone();
            }
            let error = render(&spec(json!([definition])), REGISTER)
                .unwrap_err()
                .to_string();
            assert_eq!(
                error,
                format!("spec.taskDefinition.containerDefinitions[0].{expected}")
            );
        }
    }

    #[test]
    fn nested_type_errors_are_named_with_their_path() {
        let error = render(
            &spec(json!([{"name": "a", "image": "i",
            "portMappings": [{"containerPort": "80"}]}])),
            REGISTER,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "spec.taskDefinition.containerDefinitions[0].portMappings[0].containerPort: must be an integer"
        );
    }

    #[test]
    fn missing_image_and_duplicate_names_are_refused() {
        let error = render(&spec(json!([{"name": "a"}])), REGISTER)
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with("containerDefinitions[0].image: is required"),
            "{error}"
        );
        let error = render(
            &spec(json!([{"name": "a", "image": "i"}, {"name": "a", "image": "j"}])),
            REGISTER,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("containerDefinitions[1].name: container names must be unique"),
            "{error}"
        );
    }

    /// The request is the spec's members as given, `null` members left out, the tags
    /// added: nothing ECS takes is dropped on the way.
    #[test]
    fn the_request_is_the_spec_as_given() {
        let mut spec = spec(json!([{"name": "a", "image": "i", "memory": null,
            "restartPolicy": {"enabled": true, "restartAttemptPeriod": 60},
            "linuxParameters": {"maxSwap": 0, "tmpfs": [{"containerPath": "/t", "size": 8}]}}]));
        spec.volumes = Some(
            vec![json!({"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}})]
                .into(),
        );
        spec.network_mode = Some(super::super::NetworkMode::Host);
        spec.runtime_platform = Some(json!({"cpuArchitecture": "ARM64"}));
        spec.ephemeral_storage = Some(json!({"sizeInGiB": 30}));
        let rendered = render(&spec, REGISTER).unwrap();
        let body: Value = serde_json::from_str(
            &rendered.body(&BTreeMap::from([("team".to_string(), "a".to_string())])),
        )
        .unwrap();
        assert_eq!(
            body,
            json!({
                "family": "datadog-agent",
                "containerDefinitions": [{"name": "a", "image": "i",
                    "restartPolicy": {"enabled": true, "restartAttemptPeriod": 60},
                    "linuxParameters": {"maxSwap": 0, "tmpfs": [{"containerPath": "/t", "size": 8}]}}],
                "volumes": [{"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-1"}}],
                "networkMode": "host",
                "runtimePlatform": {"cpuArchitecture": "ARM64"},
                "ephemeralStorage": {"sizeInGiB": 30},
                "tags": [{"key": "team", "value": "a"}],
            })
        );
    }

    /// A Managed Daemon's definition is checked against RegisterDaemonTaskDefinition,
    /// which takes its own members (a log driver volume) and not others (port mappings).
    #[test]
    fn a_daemon_definition_is_checked_as_one() {
        let mut daemon = spec(json!([{"name": "a", "image": "i"}]));
        daemon.volumes = Some(
            vec![json!({"name": "logs", "logDriverVolumeConfiguration": {"driver": "json-file"}})]
                .into(),
        );
        assert!(render(&daemon, REGISTER_DAEMON).is_ok());
        assert_eq!(
            render(&daemon, REGISTER).unwrap_err().to_string(),
            "spec.taskDefinition.volumes[0].logDriverVolumeConfiguration: is not a member ECS's RegisterTaskDefinition takes here"
        );
        let ports =
            spec(json!([{"name": "a", "image": "i", "portMappings": [{"containerPort": 80}]}]));
        assert_eq!(
            render(&ports, REGISTER_DAEMON).unwrap_err().to_string(),
            "spec.taskDefinition.containerDefinitions[0].portMappings: is not supported in a daemon task definition (scheduling ManagedDaemon)"
        );
    }
}
