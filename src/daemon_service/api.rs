//! The DaemonService API: the custom resource's types, from which its CRD is generated
//! (`ecsfleet crds`). Every field's doc comment is what `kubectl explain` shows.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{CommonSpec, CommonStatus, JsonObjects, Owner};

/// An ECS service that runs one task on every ACTIVE container instance of a cluster.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ecsfleet.dev",
    version = "v1alpha1",
    kind = "DaemonService",
    doc = "An ECS service that runs exactly one task on every ACTIVE container instance of a cluster, with a desired count that follows the cluster.",
    namespaced,
    shortname = "dsvc",
    category = "ecsfleet",
    status = "DaemonServiceStatus",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.cluster"}"#,
    printcolumn = r#"{"name":"Instances","type":"integer","jsonPath":".status.matchingInstances"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".status.desiredCount"}"#,
    printcolumn = r#"{"name":"Running","type":"integer","jsonPath":".status.runningCount"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","priority":1,"jsonPath":".status.scheduling"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.serviceName) == has(oldSelf.serviceName) && (!has(self.serviceName) || self.serviceName == oldSelf.serviceName)",
     "message": "spec.serviceName is immutable"},
    {"rule": "!has(oldSelf.scheduling) || (has(self.scheduling) && self.scheduling == oldSelf.scheduling)",
     "message": "spec.scheduling is immutable once set: ECS cannot change a service's scheduling strategy"},
    {"rule": "!has(self.scheduling) || self.scheduling != 'ManagedDaemon' || (!has(self.launchType) && !has(self.instanceFilter) && !has(self.networkConfiguration))",
     "message": "spec.scheduling ManagedDaemon runs on the daemon's capacity providers: launchType, instanceFilter and networkConfiguration do not apply"},
    {"rule": "!(has(self.launchType) && has(self.capacityProviderStrategy))",
     "message": "spec.launchType and spec.capacityProviderStrategy are mutually exclusive"},
    {"rule": "!has(self.scheduling) || self.scheduling != 'Daemon' || (!has(self.capacityProviderStrategy) && (!has(self.launchType) || self.launchType == 'EC2'))",
     "message": "spec.scheduling Daemon works only with the EC2 launch type and no capacityProviderStrategy; use PerInstance"},
    {"rule": "!has(self.tags) || self.tags.all(k, !k.startsWith('ecsfleet.dev/'))",
     "message": "spec.tags: keys under ecsfleet.dev/ are reserved"}
]))]
pub struct DaemonServiceSpec {
    /// The ECS cluster, by name or ARN.
    #[schemars(length(min = 1, max = 2048))]
    pub cluster: String,

    /// Name of the ECS service. Defaults to `metadata.name`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}$"))]
    pub service_name: Option<String>,

    /// The task definition: either `arn` (an existing `family:revision` or ARN, used as
    /// is) or an inline definition (`family` and `containerDefinitions`, with the optional
    /// task-level fields). A new revision is registered only when the inline definition
    /// differs from the family's latest revision.
    pub task_definition: TaskDefinitionSpec,

    /// How the task runs on every instance. `Daemon`: ECS's native DAEMON strategy with
    /// the EC2 launch type; ignored by cluster auto scaling's managed scaling and managed
    /// termination protection. `PerInstance`: a REPLICA service with a `distinctInstance`
    /// placement constraint and a desired count equal to the ACTIVE container instances
    /// matching `instanceFilter` (for what DAEMON cannot do, e.g. a capacity provider
    /// strategy); refused where ECS scales the instances it would land on.
    /// `ManagedDaemon`: an ECS Managed Daemon on Managed Instances capacity providers.
    /// Unset: chosen from the spec and the cluster's capacity providers (see
    /// `status.scheduling`). Immutable once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling: Option<Scheduling>,

    /// An ECS cluster query language expression selecting the container instances to run
    /// on, e.g. `attribute:ecs.os-type == linux`. Becomes a `memberOf` placement
    /// constraint, and (PerInstance) only matching instances count towards the desired
    /// count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2000))]
    pub instance_filter: Option<String>,

    /// The launch type. Mutually exclusive with `capacityProviderStrategy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,

    /// Capacity providers to place tasks with (PerInstance), or the Managed Instances
    /// capacity providers a ManagedDaemon runs on (default: all of the cluster's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["capacityProvider"]))]
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,

    /// The awsvpc network configuration, for task definitions with network mode `awsvpc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,

    /// Tags on the service and on registered task definitions, besides the ownership tags
    /// (at most 48: ECS allows 50 a resource, ecsfleet adds two).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 48, "additionalProperties" = {"type": "string", "maxLength": 256}))]
    pub tags: BTreeMap<String, String>,

    /// Load balancers the tasks register with (Daemon and PerInstance), as the ECS API
    /// has them: a `targetGroupArn` (or a Classic `loadBalancerName`), and the
    /// `containerName` and `containerPort` that receive the traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub load_balancers: Vec<LoadBalancerSpec>,
    /// Seconds ECS ignores failing load balancer health checks of a task that just
    /// started (with `loadBalancers`). Unset leaves ECS's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub health_check_grace_period_seconds: Option<i32>,
    /// ECS Exec: allow `aws ecs execute-command` into the tasks (Daemon and PerInstance;
    /// the task role needs the SSM permissions ECS documents).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable_execute_command: bool,
    /// ECS managed tags (`aws:ecs:clusterName`, `aws:ecs:serviceName`) on the tasks.
    #[serde(
        default,
        rename = "enableECSManagedTags",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub enable_ecs_managed_tags: bool,
    /// Where the tasks' tags come from: `SERVICE` (the default: the service's tags,
    /// ownership tags included), `TASK_DEFINITION` or `NONE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<TagSource>,
    /// Rolling-deployment limits, circuit breaker and alarms.
    #[serde(default)]
    pub deployment: DeploymentSpec,

    #[serde(flatten)]
    pub common: CommonSpec,
}

/// A referenced or an inline task definition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.arn) != has(self.family)",
     "message": "set exactly one of spec.taskDefinition.arn and spec.taskDefinition.family (inline definition)"},
    {"rule": "has(self.family) == has(self.containerDefinitions)",
     "message": "an inline task definition needs both family and containerDefinitions"},
    {"rule": "!has(self.arn) || !(has(self.taskRoleArn) || has(self.executionRoleArn) || has(self.networkMode) || has(self.cpu) || has(self.memory) || has(self.volumes) || has(self.pidMode) || has(self.ipcMode) || has(self.requiresCompatibilities) || has(self.placementConstraints) || has(self.proxyConfiguration) || has(self.inferenceAccelerators) || has(self.ephemeralStorage) || has(self.runtimePlatform) || has(self.enableFaultInjection) || has(self.trustedExecutionConfiguration))",
     "message": "spec.taskDefinition.arn cannot be combined with inline task definition fields"},
    {"rule": "!has(self.containerDefinitions) || self.containerDefinitions.all(c, !has(c.name) || self.containerDefinitions.filter(d, has(d.name) && d.name == c.name).size() == 1)",
     "message": "spec.taskDefinition.containerDefinitions: container names must be unique"}
]))]
pub struct TaskDefinitionSpec {
    /// An existing task definition (`family:revision` or full ARN), used as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub arn: Option<String>,
    /// Family of the inline task definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-zA-Z0-9_-]{1,255}$"))]
    pub family: Option<String>,
    /// Container definitions in the ECS API's JSON shape (as in `aws ecs
    /// register-task-definition`), registered as given: every member ECS takes, checked
    /// against ECS's API model before any call; `null` means absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "container_definitions", length(min = 1, max = 10))]
    pub container_definitions: Option<JsonObjects>,
    /// IAM role the task's containers assume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// IAM role the ECS agent uses to pull images and write logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Docker networking mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,
    /// Task-level CPU units, e.g. `256` or `1 vCPU`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Task-level memory, e.g. `512` (MiB) or `1 GB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Volumes in the ECS API's JSON shape (`name`, `host`, `dockerVolumeConfiguration`,
    /// `efsVolumeConfiguration`, `fsxWindowsFileServerVolumeConfiguration`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_objects")]
    pub volumes: Option<JsonObjects>,
    /// Process namespace: `host` or `task` (a Managed Daemon's: `none` or `shared`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<PidMode>,
    /// IPC namespace: `host`, `task` or `none` (a Managed Daemon's: `none` or `shared`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<IpcMode>,
    /// Launch types the definition must be valid for, e.g. `[EC2]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_compatibilities: Option<Vec<LaunchType>>,
    /// Task placement constraints in the ECS API's JSON shape (`type`, `expression`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_objects")]
    pub placement_constraints: Option<JsonObjects>,
    /// The App Mesh proxy configuration in the ECS API's JSON shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub proxy_configuration: Option<serde_json::Value>,
    /// Elastic Inference accelerators in the ECS API's JSON shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_objects")]
    pub inference_accelerators: Option<JsonObjects>,
    /// The task's ephemeral storage in the ECS API's JSON shape (`sizeInGiB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub ephemeral_storage: Option<serde_json::Value>,
    /// The operating system and CPU architecture in the ECS API's JSON shape
    /// (`operatingSystemFamily`, `cpuArchitecture`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub runtime_platform: Option<serde_json::Value>,
    /// Whether the task accepts fault injection requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_fault_injection: Option<bool>,
    /// Trusted execution (isolation mode, attestation policy) in the ECS API's JSON shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub trusted_execution_configuration: Option<serde_json::Value>,
}

/// ECS's container definitions, free-form but for the name, which CEL keys uniqueness on.
fn container_definitions(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
            "properties": {
                "name": {
                    "type": "string",
                    "maxLength": 255,
                    "description": "The container's name, unique within the task definition."
                }
            }
        }
    })
}

fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

fn free_form_objects(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    })
}

/// The ways ECS can run one task on every instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Scheduling {
    PerInstance,
    Daemon,
    ManagedDaemon,
}

impl Scheduling {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheduling::PerInstance => "PerInstance",
            Scheduling::Daemon => "Daemon",
            Scheduling::ManagedDaemon => "ManagedDaemon",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LaunchType {
    Ec2,
    Fargate,
    External,
    #[serde(rename = "MANAGED_INSTANCES")]
    ManagedInstances,
}

impl LaunchType {
    pub fn as_str(self) -> &'static str {
        match self {
            LaunchType::Ec2 => "EC2",
            LaunchType::Fargate => "FARGATE",
            LaunchType::External => "EXTERNAL",
            LaunchType::ManagedInstances => "MANAGED_INSTANCES",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    Bridge,
    Host,
    Awsvpc,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PidMode {
    Host,
    Task,
    /// A Managed Daemon's: its own namespace.
    None,
    /// A Managed Daemon's: one namespace for the daemon's containers.
    Shared,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IpcMode {
    Host,
    Task,
    None,
    /// A Managed Daemon's: one namespace for the daemon's containers.
    Shared,
}

/// One capacity provider of a strategy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderStrategyItem {
    /// Name of the capacity provider.
    #[schemars(length(min = 1))]
    pub capacity_provider: String,
    /// Relative share of tasks (0–1000).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1000))]
    pub weight: i32,
    /// Tasks placed on this provider before weights apply (0–100000).
    #[serde(default)]
    #[schemars(range(min = 0, max = 100000))]
    pub base: i32,
}

/// Network configuration of awsvpc tasks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConfiguration {
    /// Subnets, security groups and public IP of the tasks' network interfaces.
    pub awsvpc_configuration: AwsVpcConfiguration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsVpcConfiguration {
    /// Subnets of the tasks' network interfaces.
    #[schemars(length(min = 1, max = 16))]
    pub subnets: Vec<String>,
    /// Security groups of the tasks' network interfaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub security_groups: Vec<String>,
    /// Whether the tasks get a public IP address.
    #[serde(default)]
    pub assign_public_ip: bool,
}

/// One load balancer of the service.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerSpec {
    /// An Application or Network Load Balancer target group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup/.+$"
    ))]
    pub target_group_arn: Option<String>,
    /// A Classic Load Balancer's name (instead of `targetGroupArn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    pub load_balancer_name: Option<String>,
    /// The container that receives the traffic.
    #[schemars(length(min = 1, max = 255))]
    pub container_name: String,
    /// Its port.
    #[schemars(range(min = 0, max = 65535))]
    pub container_port: i32,
}

/// Where a service's tasks take their tags from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TagSource {
    Service,
    TaskDefinition,
    None,
}

impl TagSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TagSource::Service => "SERVICE",
            TagSource::TaskDefinition => "TASK_DEFINITION",
            TagSource::None => "NONE",
        }
    }
}

/// The deployment circuit breaker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreakerSpec {
    /// Stop a deployment whose tasks keep failing to start.
    pub enable: bool,
    /// And roll back to the last completed deployment.
    #[serde(default)]
    pub rollback: bool,
}

/// CloudWatch alarms that fail a deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentAlarmsSpec {
    /// The alarms' names.
    #[schemars(length(min = 1, max = 10), inner(length(min = 1, max = 255)))]
    pub alarm_names: Vec<String>,
    /// Fail the deployment when one goes to ALARM (default true).
    #[serde(default = "yes")]
    pub enable: bool,
    /// And roll back to the last completed deployment.
    #[serde(default)]
    pub rollback: bool,
}

fn yes() -> bool {
    true
}

/// Rolling-deployment limits, as percentages of the desired count, and what stops a
/// failing deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// Lower limit of running tasks during a deployment (default 50). With one task per
    /// host, a replacement task can only start after the old one stopped.
    #[serde(default = "default_minimum_healthy_percent")]
    #[schemars(range(min = 0, max = 100))]
    pub minimum_healthy_percent: i32,
    /// Upper limit of running tasks during a deployment (default 100).
    #[serde(default = "default_maximum_percent")]
    #[schemars(range(min = 100, max = 200))]
    pub maximum_percent: i32,
    /// The deployment circuit breaker (PerInstance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_circuit_breaker: Option<CircuitBreakerSpec>,
    /// Alarms that fail a deployment (PerInstance; a Managed Daemon's stop its roll-out
    /// and cannot roll back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<DeploymentAlarmsSpec>,
    /// A Managed Daemon's: the percentage of instances drained and replaced at a time
    /// when a new definition rolls out (ECS's default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub drain_percent: Option<i32>,
    /// A Managed Daemon's: minutes ECS waits after each batch before the next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1440))]
    pub bake_time_in_minutes: Option<i32>,
}

fn default_minimum_healthy_percent() -> i32 {
    50
}

fn default_maximum_percent() -> i32 {
    100
}

impl Default for DeploymentSpec {
    fn default() -> Self {
        DeploymentSpec {
            minimum_healthy_percent: default_minimum_healthy_percent(),
            maximum_percent: default_maximum_percent(),
            deployment_circuit_breaker: None,
            alarms: None,
            drain_percent: None,
            bake_time_in_minutes: None,
        }
    }
}

/// What the operator last saw of the service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DaemonServiceStatus {
    /// The scheduling mode in use: `spec.scheduling`, or the one chosen for the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling: Option<Scheduling>,
    /// ARN of the ECS Managed Daemon (ManagedDaemon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_arn: Option<String>,
    /// ARN of the ECS service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    /// ARN of the task definition revision the service runs (the daemon task definition
    /// for a ManagedDaemon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// ACTIVE container instances matching `instanceFilter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching_instances: Option<i32>,
    /// The service's desired count in ECS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<i32>,
    /// Tasks running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_count: Option<i32>,
    /// Tasks pending (placed, not yet running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_count: Option<i32>,
    /// Rollout state of the primary deployment: IN_PROGRESS, COMPLETED or FAILED; for a
    /// ManagedDaemon the state of its latest deployment (PENDING, IN_PROGRESS,
    /// SUCCESSFUL, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_state: Option<String>,
    /// The `ecsfleet.dev/redeploy` annotation value the last forced deployment answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeployed: Option<String>,
    #[serde(flatten)]
    pub common: CommonStatus,
}

impl DaemonService {
    /// The ECS service name: `spec.serviceName`, or `metadata.name`.
    pub fn service_name(&self) -> String {
        self.spec
            .service_name
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }

    pub fn owner(&self) -> Owner {
        Owner::from_meta(&self.metadata)
    }
}
