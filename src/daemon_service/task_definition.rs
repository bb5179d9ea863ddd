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
use std::sync::Mutex;

use aws_sdk_ecs::types::{
    ContainerCondition, ContainerDefinition, ContainerDependency, HealthCheck,
    HostVolumeProperties, KernelCapabilities, KeyValuePair, LinuxParameters, LogConfiguration,
    LogDriver, MountPoint, PortMapping, Secret, SystemControl, TransportProtocol, Ulimit,
    UlimitName, Volume, VolumeFrom,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::TaskDefinitionSpec;
use crate::common::JsonObjects;
use crate::{Error, Result};

/// The least memory a container may have, in MiB: what Docker reserves for one.
const MIN_MEMORY_MIB: i32 = 6;
/// ECS's quota on the size of one task definition (64 KiB).
const MAX_DEFINITION_BYTES: usize = 64 * 1024;

/// The tag that carries the digest of the spec a revision was registered from.
pub const DIGEST_TAG: &str = "ecsfleet.dev/definition-digest";

/// An inline task definition, ready to register.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedTaskDefinition {
    pub family: String,
    pub container_definitions: Vec<ContainerDefinition>,
    pub volumes: Vec<Volume>,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
    pub network_mode: Option<String>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub pid_mode: Option<String>,
    pub ipc_mode: Option<String>,
    pub requires_compatibilities: Vec<String>,
    /// Hex SHA-256 of the canonical JSON of the definition.
    pub digest: String,
}

const FIELD: &str = "spec.taskDefinition";

/// Renders and validates an inline definition. Pure.
pub fn render(spec: &TaskDefinitionSpec) -> Result<RenderedTaskDefinition> {
    let family = spec.family.clone().ok_or_else(|| {
        Error::invalid(
            format!("{FIELD}.family"),
            "required for an inline task definition",
        )
    })?;
    let containers = spec
        .container_definitions
        .as_ref()
        .map(JsonObjects::values)
        .unwrap_or_default();
    if containers.is_empty() {
        return Err(Error::invalid(
            format!("{FIELD}.containerDefinitions"),
            "at least one container definition is required",
        ));
    }
    let container_definitions = containers
        .iter()
        .enumerate()
        .map(|(index, value)| {
            container_definition(&Fields::new(
                format!("{FIELD}.containerDefinitions[{index}]"),
                value,
            )?)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut names = BTreeSet::new();
    for (index, container) in container_definitions.iter().enumerate() {
        if !names.insert(container.name().unwrap_or_default()) {
            return Err(Error::invalid(
                format!("{FIELD}.containerDefinitions[{index}].name"),
                "container names must be unique",
            ));
        }
    }
    let volumes = spec
        .volumes
        .as_ref()
        .map(JsonObjects::values)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(index, value)| volume(&Fields::new(format!("{FIELD}.volumes[{index}]"), value)?))
        .collect::<Result<Vec<_>>>()?;
    let mut volume_names = BTreeSet::new();
    for (index, volume) in volumes.iter().enumerate() {
        if !volume_names.insert(volume.name().unwrap_or_default()) {
            return Err(Error::invalid(
                format!("{FIELD}.volumes[{index}].name"),
                "volume names must be unique",
            ));
        }
    }
    for (index, container) in container_definitions.iter().enumerate() {
        for (at, mount) in container.mount_points().iter().enumerate() {
            let source = mount.source_volume().unwrap_or_default();
            if !volume_names.contains(source) {
                return Err(Error::invalid(
                    format!("{FIELD}.containerDefinitions[{index}].mountPoints[{at}].sourceVolume"),
                    format!("{source:?} names no volume of spec.taskDefinition.volumes"),
                ));
            }
        }
    }
    let canonical = canonical_json(
        &serde_json::to_value(spec).map_err(|e| Error::invalid(FIELD, e.to_string()))?,
    );
    let size = canonical.to_string().len();
    if size > MAX_DEFINITION_BYTES {
        return Err(Error::invalid(
            FIELD,
            format!(
                "{size} bytes of JSON, over the {MAX_DEFINITION_BYTES} ECS takes in one task definition"
            ),
        ));
    }
    let digest = hex(&Sha256::digest(canonical.to_string().as_bytes()));
    Ok(RenderedTaskDefinition {
        family,
        container_definitions,
        volumes,
        task_role_arn: spec.task_role_arn.clone(),
        execution_role_arn: spec.execution_role_arn.clone(),
        network_mode: spec.network_mode.as_ref().map(api_str),
        cpu: spec.cpu.clone(),
        memory: spec.memory.clone(),
        pid_mode: spec.pid_mode.as_ref().map(api_str),
        ipc_mode: spec.ipc_mode.as_ref().map(api_str),
        requires_compatibilities: spec
            .requires_compatibilities
            .iter()
            .flatten()
            .map(|l| l.as_str().to_string())
            .collect(),
        digest,
    })
}

/// An enum's API spelling, which is its serde spelling.
fn api_str<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn container_definition(fields: &Fields<'_>) -> Result<ContainerDefinition> {
    let name = fields.required_str("name")?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || name.len() > 255
    {
        return Err(fields.error("name", "up to 255 letters, digits, hyphens and underscores"));
    }
    let image = fields.required_str("image")?;
    if image.len() > 255 {
        return Err(fields.error("image", "at most 255 characters, as ECS takes it"));
    }
    // ECS's units: CPU shares from 0; memory in MiB, at least the 6 MiB Docker reserves.
    let builder = ContainerDefinition::builder()
        .name(name)
        .image(image)
        .set_cpu(fields.int_in("cpu", 0..=i32::MAX)?)
        .set_memory(fields.int_in("memory", MIN_MEMORY_MIB..=i32::MAX)?)
        .set_memory_reservation(fields.int_in("memoryReservation", MIN_MEMORY_MIB..=i32::MAX)?)
        .set_essential(fields.bool("essential")?)
        .set_command(fields.strings("command")?)
        .set_entry_point(fields.strings("entryPoint")?)
        .set_links(fields.strings("links")?)
        .set_hostname(fields.str("hostname")?)
        .set_user(fields.str("user")?)
        .set_working_directory(fields.str("workingDirectory")?)
        .set_disable_networking(fields.bool("disableNetworking")?)
        .set_privileged(fields.bool("privileged")?)
        .set_readonly_root_filesystem(fields.bool("readonlyRootFilesystem")?)
        .set_interactive(fields.bool("interactive")?)
        .set_pseudo_terminal(fields.bool("pseudoTerminal")?)
        .set_dns_servers(fields.strings("dnsServers")?)
        .set_dns_search_domains(fields.strings("dnsSearchDomains")?)
        .set_docker_security_options(fields.strings("dockerSecurityOptions")?)
        .set_start_timeout(fields.int("startTimeout")?)
        .set_stop_timeout(fields.int("stopTimeout")?)
        .set_docker_labels(
            fields
                .string_map("dockerLabels")?
                .map(|m| m.into_iter().collect()),
        )
        .set_environment(fields.optional_list("environment", |item| {
            Ok(KeyValuePair::builder()
                .name(item.required_str("name")?)
                .set_value(item.str("value")?)
                .build())
        })?)
        .set_secrets(fields.optional_list("secrets", |item| {
            Secret::builder()
                .name(item.required_str("name")?)
                .value_from(item.required_str("valueFrom")?)
                .build()
                .map_err(|e| item.error("", e.to_string()))
        })?)
        .set_port_mappings(fields.optional_list("portMappings", |item| {
            let protocol = item.str("protocol")?;
            if let Some(other) = protocol.as_deref().filter(|p| !matches!(*p, "tcp" | "udp")) {
                return Err(item.error("protocol", format!("{other:?} is neither tcp nor udp")));
            }
            Ok(PortMapping::builder()
                .set_container_port(item.int_in("containerPort", 0..=65535)?)
                .set_host_port(item.int_in("hostPort", 0..=65535)?)
                .set_protocol(protocol.map(|p| TransportProtocol::from(p.as_str())))
                .set_name(item.str("name")?)
                .build())
        })?)
        .set_mount_points(fields.optional_list("mountPoints", |item| {
            Ok(MountPoint::builder()
                .source_volume(item.required_str("sourceVolume")?)
                .container_path(item.required_str("containerPath")?)
                .set_read_only(item.bool("readOnly")?)
                .build())
        })?)
        .set_volumes_from(fields.optional_list("volumesFrom", |item| {
            Ok(VolumeFrom::builder()
                .set_source_container(item.str("sourceContainer")?)
                .set_read_only(item.bool("readOnly")?)
                .build())
        })?)
        .set_depends_on(fields.optional_list("dependsOn", |item| {
            ContainerDependency::builder()
                .container_name(item.required_str("containerName")?)
                .condition(ContainerCondition::from(
                    item.required_str("condition")?.as_str(),
                ))
                .build()
                .map_err(|e| item.error("", e.to_string()))
        })?)
        .set_ulimits(fields.optional_list("ulimits", |item| {
            Ulimit::builder()
                .name(UlimitName::from(item.required_str("name")?.as_str()))
                .soft_limit(item.required_int("softLimit")?)
                .hard_limit(item.required_int("hardLimit")?)
                .build()
                .map_err(|e| item.error("", e.to_string()))
        })?)
        .set_system_controls(fields.optional_list("systemControls", |item| {
            Ok(SystemControl::builder()
                .set_namespace(item.str("namespace")?)
                .set_value(item.str("value")?)
                .build())
        })?)
        .set_log_configuration(fields.object("logConfiguration", |item| {
            LogConfiguration::builder()
                .log_driver(LogDriver::from(item.required_str("logDriver")?.as_str()))
                .set_options(item.string_map("options")?.map(|m| m.into_iter().collect()))
                .set_secret_options(item.optional_list("secretOptions", |secret| {
                    Secret::builder()
                        .name(secret.required_str("name")?)
                        .value_from(secret.required_str("valueFrom")?)
                        .build()
                        .map_err(|e| secret.error("", e.to_string()))
                })?)
                .build()
                .map_err(|e| item.error("", e.to_string()))
        })?)
        .set_health_check(fields.object("healthCheck", |item| {
            HealthCheck::builder()
                .set_command(Some(item.required_strings("command")?))
                .set_interval(item.int("interval")?)
                .set_timeout(item.int("timeout")?)
                .set_retries(item.int("retries")?)
                .set_start_period(item.int("startPeriod")?)
                .build()
                .map_err(|e| item.error("", e.to_string()))
        })?)
        .set_linux_parameters(fields.object("linuxParameters", |item| {
            Ok(LinuxParameters::builder()
                .set_capabilities(item.object("capabilities", |caps| {
                    Ok(KernelCapabilities::builder()
                        .set_add(caps.strings("add")?)
                        .set_drop(caps.strings("drop")?)
                        .build())
                })?)
                .set_init_process_enabled(item.bool("initProcessEnabled")?)
                .set_shared_memory_size(item.int("sharedMemorySize")?)
                .build())
        })?);
    fields.finish()?;
    Ok(builder.build())
}

fn volume(fields: &Fields<'_>) -> Result<Volume> {
    let volume = Volume::builder()
        .name(fields.required_str("name")?)
        .set_host(fields.object("host", |host| {
            Ok(HostVolumeProperties::builder()
                .set_source_path(host.str("sourcePath")?)
                .build())
        })?)
        .build();
    fields.finish()?;
    Ok(volume)
}

/// Reads a JSON object's fields by name, remembering which were read so that `finish`
/// can name the first field that ecsfleet does not support (rather than drop it silently).
struct Fields<'a> {
    path: String,
    map: &'a Map<String, Value>,
    read: Mutex<BTreeSet<String>>,
}

impl<'a> Fields<'a> {
    fn new(path: String, value: &'a Value) -> Result<Self> {
        match value {
            Value::Object(map) => Ok(Fields {
                path,
                map,
                read: Mutex::default(),
            }),
            _ => Err(Error::invalid(&path, "must be an object")),
        }
    }

    fn error(&self, key: &str, message: impl Into<String>) -> crate::Error {
        if key.is_empty() {
            Error::invalid(&self.path, message)
        } else {
            Error::invalid(format!("{}.{key}", self.path), message)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.read
            .lock()
            .expect("fields lock")
            .insert(key.to_string());
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn str(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(key, "must be a string")),
        }
    }

    fn required_str(&self, key: &str) -> Result<String> {
        match self.str(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(self.error(key, "is required")),
        }
    }

    fn int(&self, key: &str) -> Result<Option<i32>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.error(key, "must be a 32-bit integer")),
            Some(_) => Err(self.error(key, "must be an integer")),
        }
    }

    /// An integer within `range`, e.g. a port.
    fn int_in(&self, key: &str, range: std::ops::RangeInclusive<i32>) -> Result<Option<i32>> {
        match self.int(key)? {
            Some(n) if !range.contains(&n) => {
                Err(self.error(key, format!("must be {}–{}", range.start(), range.end())))
            }
            other => Ok(other),
        }
    }

    fn required_int(&self, key: &str) -> Result<i32> {
        self.int(key)?.ok_or_else(|| self.error(key, "is required"))
    }

    fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.error(key, "must be true or false")),
        }
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(self.error(key, "must be a list of strings")),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(self.error(key, "must be a list of strings")),
        }
    }

    fn required_strings(&self, key: &str) -> Result<Vec<String>> {
        match self.strings(key)? {
            Some(list) if !list.is_empty() => Ok(list),
            _ => Err(self.error(key, "is required")),
        }
    }

    fn string_map(&self, key: &str) -> Result<Option<BTreeMap<String, String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(self.error(&format!("{key}.{k}"), "must be a string")),
                })
                .collect::<Result<BTreeMap<_, _>>>()
                .map(Some),
            Some(_) => Err(self.error(key, "must be an object of strings")),
        }
    }

    fn optional_list<T>(
        &self,
        key: &str,
        item: impl Fn(&Fields<'a>) -> Result<T>,
    ) -> Result<Option<Vec<T>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(values)) => values
                .iter()
                .enumerate()
                .map(|(index, value)| {
                    let fields = Fields::new(format!("{}.{key}[{index}]", self.path), value)?;
                    let parsed = item(&fields)?;
                    fields.finish()?;
                    Ok(parsed)
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(_) => Err(self.error(key, "must be a list")),
        }
    }

    fn object<T>(&self, key: &str, read: impl Fn(&Fields<'a>) -> Result<T>) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => {
                let fields = Fields::new(format!("{}.{key}", self.path), value)?;
                let parsed = read(&fields)?;
                fields.finish()?;
                Ok(Some(parsed))
            }
        }
    }

    /// Fails on the first field that was never read: one ecsfleet does not support.
    fn finish(&self) -> Result<()> {
        let read = self.read.lock().expect("fields lock");
        match self.map.keys().find(|key| !read.contains(*key)) {
            Some(key) => Err(self.error(key, "is not a field ecsfleet supports here")),
            None => Ok(()),
        }
    }
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
            render(&spec).unwrap().digest,
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
            let error = render(&spec).unwrap_err().to_string();
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
    fn renders_the_ecs_json_shape() {
        let mut spec = spec(agent());
        spec.volumes = Some(
            serde_json::from_value(
                json!([{"name": "docker_sock", "host": {"sourcePath": "/var/run/docker.sock"}}]),
            )
            .unwrap(),
        );
        let rendered = render(&spec).unwrap();
        let container = &rendered.container_definitions[0];
        assert_eq!(container.name(), Some("agent"));
        assert_eq!(container.memory(), Some(256));
        assert_eq!(container.environment()[0].value(), Some("datadoghq.com"));
        assert_eq!(
            container.port_mappings()[0].protocol(),
            Some(&TransportProtocol::Udp)
        );
        assert_eq!(container.health_check().unwrap().retries(), Some(3));
        assert_eq!(rendered.digest.len(), 64);
    }

    #[test]
    fn digest_ignores_key_order_but_not_values() {
        let a = render(&spec(json!([{"name": "a", "image": "i:1", "memory": 64}]))).unwrap();
        let b = render(&spec(json!([{"memory": 64, "image": "i:1", "name": "a"}]))).unwrap();
        let c = render(&spec(json!([{"name": "a", "image": "i:2", "memory": 64}]))).unwrap();
        assert_eq!(a.digest, b.digest);
        assert_ne!(a.digest, c.digest);
    }

    #[test]
    fn unknown_field_is_named_with_its_path() {
        let error = render(&spec(json!([{"name": "a", "image": "i", "memry": 64}])))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "spec.taskDefinition.containerDefinitions[0].memry: is not a field ecsfleet supports here"
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
                "portMappings[0].protocol: \"sctp\" is neither tcp nor udp",
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
            let error = render(&spec(json!([definition]))).unwrap_err().to_string();
            assert_eq!(
                error,
                format!("spec.taskDefinition.containerDefinitions[0].{expected}")
            );
        }
    }

    #[test]
    fn nested_type_errors_are_named_with_their_path() {
        let error = render(&spec(json!([{"name": "a", "image": "i",
            "portMappings": [{"containerPort": "80"}]}])))
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "spec.taskDefinition.containerDefinitions[0].portMappings[0].containerPort: must be an integer"
        );
    }

    #[test]
    fn missing_image_and_duplicate_names_are_refused() {
        let error = render(&spec(json!([{"name": "a"}])))
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with("containerDefinitions[0].image: is required"),
            "{error}"
        );
        let error = render(&spec(
            json!([{"name": "a", "image": "i"}, {"name": "a", "image": "j"}]),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("containerDefinitions[1].name: container names must be unique"),
            "{error}"
        );
    }

    #[test]
    fn volumes_and_task_fields_are_rendered() {
        let mut spec = spec(agent());
        spec.volumes = Some(
            vec![json!({"name": "docker_sock", "host": {"sourcePath": "/var/run/docker.sock"}})]
                .into(),
        );
        spec.network_mode = Some(super::super::NetworkMode::Host);
        spec.pid_mode = Some(super::super::PidMode::Host);
        let rendered = render(&spec).unwrap();
        assert_eq!(
            rendered.volumes[0].host().unwrap().source_path(),
            Some("/var/run/docker.sock")
        );
        assert_eq!(rendered.network_mode.as_deref(), Some("host"));
        assert_eq!(rendered.pid_mode.as_deref(), Some("host"));
    }
}
