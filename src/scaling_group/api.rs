//! The ScalingGroup API: the custom resource's types, from which its CRD is generated
//! (`ecsfleet crds`). Every field's doc comment is what `kubectl explain` shows.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{CommonSpec, CommonStatus};

/// An EC2 Auto Scaling group with its launch template, policies, alarms, notifications
/// and lifecycle hooks.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ecsfleet.dev",
    version = "v1alpha1",
    kind = "ScalingGroup",
    doc = "An EC2 Auto Scaling group with its launch template, scale-up/scale-down policies and their CloudWatch alarms, SNS notifications and lifecycle hooks, kept consistent as one object.",
    namespaced,
    shortname = "asg",
    category = "ecsfleet",
    status = "ScalingGroupStatus",
    printcolumn = r#"{"name":"Min","type":"integer","jsonPath":".spec.minSize"}"#,
    printcolumn = r#"{"name":"Max","type":"integer","jsonPath":".spec.maxSize"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".status.desiredCapacity"}"#,
    printcolumn = r#"{"name":"InService","type":"integer","jsonPath":".status.instances.inService"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.name) == has(oldSelf.name) && (!has(self.name) || self.name == oldSelf.name)",
     "message": "spec.name is immutable"},
    {"rule": "self.minSize <= self.maxSize",
     "message": "spec.minSize must not exceed spec.maxSize"},
    {"rule": "!has(self.desiredCapacity) || (self.minSize <= self.desiredCapacity && self.desiredCapacity <= self.maxSize)",
     "message": "spec.desiredCapacity must lie within [spec.minSize, spec.maxSize]"},
    {"rule": "has(self.launchTemplate) != has(self.launchTemplateRef)",
     "message": "set exactly one of spec.launchTemplate and spec.launchTemplateRef"},
    {"rule": "(has(self.availabilityZones) && size(self.availabilityZones) > 0) != (has(self.subnetIds) && size(self.subnetIds) > 0)",
     "message": "set exactly one of spec.availabilityZones and spec.subnetIds"},
    {"rule": "!has(self.tags) || self.tags.all(t, !t.key.startsWith('ecsfleet.dev/'))",
     "message": "spec.tags: keys under ecsfleet.dev/ are reserved"},
    {"rule": "!(has(self.warmPool) && (has(self.mixedInstancesPolicy) || (has(self.launchTemplate) && has(self.launchTemplate.instanceMarketOptions))))",
     "message": "spec.warmPool: Auto Scaling keeps no warm pool for a group that runs Spot (mixedInstancesPolicy or Spot market options)"},
    {"rule": "!(has(self.mixedInstancesPolicy) && has(self.launchTemplate) && has(self.launchTemplate.instanceMarketOptions))",
     "message": "spec.launchTemplate.instanceMarketOptions: a mixed instances policy chooses Spot itself (instancesDistribution)"}
]))]
pub struct ScalingGroupSpec {
    /// Name of the Auto Scaling group (and of its managed launch template). Defaults to
    /// `metadata.name`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[\x21-\x7E]{1,255}$"))]
    pub name: Option<String>,
    /// An inline launch template, managed as a launch template named after the group; a
    /// change creates a new version. Exclusive with `launchTemplateRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template: Option<LaunchTemplateSpec>,
    /// An existing launch template, used as it is. Exclusive with `launchTemplate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template_ref: Option<LaunchTemplateRef>,
    /// Several instance types, On-Demand and Spot: the template (`launchTemplate` or
    /// `launchTemplateRef`) with instance type overrides, and how instances are
    /// distributed between On-Demand and Spot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixed_instances_policy: Option<MixedInstancesPolicySpec>,
    /// Fewest instances the group keeps.
    #[schemars(range(min = 0))]
    pub min_size: i32,
    /// Most instances the group may have.
    #[schemars(range(min = 0))]
    pub max_size: i32,
    /// Applied when the group is created and whenever this value changes; a resync never
    /// resets a capacity that the scaling policies have moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub desired_capacity: Option<i32>,
    /// Availability zones (EC2-Classic style placement). Exclusive with `subnetIds`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub availability_zones: Vec<String>,
    /// VPC subnets to launch into. Exclusive with `availabilityZones`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnet_ids: Vec<String>,
    /// How Auto Scaling decides an instance is unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckSpec>,
    /// Seconds after a scaling activity before another may start (AWS default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub default_cooldown_seconds: Option<i32>,
    /// Which instances scale-in terminates first, in order: Auto Scaling's `Default`,
    /// `AllocationStrategy`, `OldestLaunchTemplate`, `OldestLaunchConfiguration`,
    /// `ClosestToNextInstanceHour`, `NewestInstance`, `OldestInstance`, or a Lambda
    /// function's ARN (a custom termination policy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 10),
        extend("items" = {"type": "string", "maxLength": 1600, "pattern": TERMINATION_POLICY})
    )]
    pub termination_policies: Vec<String>,
    /// Replace Spot instances at an elevated risk of interruption ahead of time.
    /// Unset leaves Auto Scaling's value, as for the settings below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_rebalance: Option<bool>,
    /// Seconds a new instance warms up before its metrics count (default warmup for
    /// scaling and instance refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub default_instance_warmup: Option<i32>,
    /// The longest an instance may serve, in seconds: 0 (no limit) or 86400–31536000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 31536000))]
    pub max_instance_lifetime: Option<i32>,
    /// Auto Scaling processes to keep suspended, e.g. `[AZRebalance]`: exactly these are
    /// suspended, the others resumed. Unset leaves the group's as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("items" = {"type": "string", "enum": ["Launch", "Terminate", "AddToLoadBalancer", "AlarmNotification", "AZRebalance", "HealthCheck", "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions"]}))]
    pub suspended_processes: Option<Vec<String>>,
    /// Group metrics sent to CloudWatch every minute, e.g. `[GroupInServiceInstances,
    /// GroupDesiredCapacity]`: exactly these are collected. Unset leaves the group's as
    /// they are; `[]` collects none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 30))]
    pub metrics_collection: Option<Vec<String>>,
    /// Guards the group against deletion: `none`, `prevent-force-deletion` (not while it
    /// has instances) or `prevent-all-deletion`. ecsfleet honours it too: while it is not
    /// `none`, deleting this object deletes nothing and says so (set it to `none`, or
    /// `deletionPolicy: Orphan`, to let the object go). Unset leaves the group's as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["none", "prevent-force-deletion", "prevent-all-deletion"]))]
    pub deletion_protection: Option<String>,
    /// New instances start protected from scale-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_instances_protected_from_scale_in: Option<bool>,
    /// How many instances stay healthy while instances are replaced (health check,
    /// rebalancing, lifetime), in percent of the desired capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_maintenance_policy: Option<InstanceMaintenancePolicySpec>,
    /// Target groups the instances are registered with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_group_arns: Vec<String>,
    /// Tags on the group, optionally propagated to its instances. Besides the ownership
    /// tags; a tag removed from the spec is left on the group. At most 47: Auto Scaling
    /// allows 50 a group, ecsfleet adds three.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 47),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key"])
    )]
    pub tags: Vec<GroupTag>,
    /// Rolling a new template version onto running instances.
    #[serde(default)]
    pub instance_refresh: InstanceRefreshSpec,
    /// Simple scaling policies, each with its CloudWatch alarm, or target tracking
    /// policies. A policy removed from the spec is deleted with its alarm.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 50),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub scaling_policies: Vec<ScalingPolicySpec>,
    /// SNS notifications of launches and terminations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<NotificationsSpec>,
    /// Lifecycle hooks, e.g. a teardown hook that lets a configuration-management server
    /// forget a terminated node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 50),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub lifecycle_hooks: Vec<LifecycleHookSpec>,
    /// A warm pool: instances launched and prepared ahead, kept stopped, running or
    /// hibernated, that the group takes in when it scales out. Removed from the spec, it
    /// is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_pool: Option<WarmPoolSpec>,
    /// Scheduled changes of the group's size, e.g. down to zero at night and back in the
    /// morning: added, changed, removed and repaired like policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 125),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub scheduled_actions: Vec<ScheduledActionSpec>,
    /// The ECS cluster this group's instances join: DaemonServices of that cluster are
    /// reconciled again as soon as this group's instances change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub ecs_cluster: Option<String>,
    #[serde(flatten)]
    pub common: CommonSpec,
}

/// A termination policy: one of Auto Scaling's, or a Lambda function (optionally a
/// version or alias of it).
pub const TERMINATION_POLICY: &str = r"^(Default|AllocationStrategy|OldestLaunchTemplate|OldestLaunchConfiguration|ClosestToNextInstanceHour|NewestInstance|OldestInstance|arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?)$";

/// The inline launch template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!(has(self.securityGroupIds) && size(self.securityGroupIds) > 0 && has(self.networkInterfaces) && size(self.networkInterfaces) > 0)",
     "message": "set security groups either in securityGroupIds or on the networkInterfaces, not both"}
]))]
pub struct LaunchTemplateSpec {
    /// AMI ID, e.g. `ami-0123456789abcdef0`.
    #[schemars(regex(pattern = r"^ami-[0-9a-f]+$"))]
    pub image_id: String,
    /// e.g. `t3.small`.
    #[schemars(regex(pattern = r"^[a-z0-9-]+\.[a-z0-9-]+$"))]
    pub instance_type: String,
    /// An EC2 key pair for SSH access to the instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// An instance profile, by name or ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam_instance_profile: Option<String>,
    /// Security groups of the instances' network interfaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_group_ids: Vec<String>,
    /// User data as plain text (a script or cloud-config); the operator encodes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16384))]
    pub user_data: Option<String>,
    /// EBS volumes attached at launch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    /// Instance metadata service settings; IMDSv2 (tokens) is required by default.
    #[serde(default)]
    pub metadata_options: MetadataOptions,
    /// Network interfaces, each with its own security groups (then `securityGroupIds` is
    /// left out: EC2 takes groups in one place only). The group's subnets place them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 8),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["deviceIndex"])
    )]
    pub network_interfaces: Vec<NetworkInterfaceSpec>,
    /// Detailed (one-minute) CloudWatch monitoring of the instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<bool>,
    /// CPU credits of burstable instances (T family): `standard` or `unlimited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["standard", "unlimited"]))]
    pub credit_specification: Option<String>,
    /// CPU cores and threads per core the instances get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_options: Option<CpuOptionsSpec>,
    /// EBS-optimized instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebs_optimized: Option<bool>,
    /// Where the instances run: tenancy and placement group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementSpec>,
    /// Request Spot instances for the whole group (exclusive with
    /// `mixedInstancesPolicy`, which splits On-Demand and Spot itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_market_options: Option<InstanceMarketOptionsSpec>,
    /// Whether instances launch into open capacity reservations: `open`, `none` or
    /// `capacity-reservations-only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_reservation_specification: Option<CapacityReservationSpec>,
    /// Tags put on the instances and volumes launched from the template (at most 50, as
    /// EC2 allows a resource).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 50, "additionalProperties" = {"type": "string", "maxLength": 256}))]
    pub tags: BTreeMap<String, String>,
}

/// An EBS volume of the template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockDeviceMapping {
    /// e.g. `/dev/xvda`.
    #[schemars(length(min = 1))]
    pub device_name: String,
    /// Size of the volume in GiB (1–65536).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65536))]
    pub volume_size_gib: Option<i32>,
    /// gp3 (default), gp2, io1, io2, st1, sc1, standard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"]))]
    pub volume_type: Option<String>,
    /// Provisioned IOPS (io1, io2, gp3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i32>,
    /// Throughput in MiB/s (gp3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<i32>,
    /// Encrypt the volume (with the account's default EBS key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_on_termination: Option<bool>,
    /// The KMS key that encrypts the volume (ID, alias or ARN; implies `encrypted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub kms_key_id: Option<String>,
    /// A snapshot the volume starts from, e.g. `snap-0123456789abcdef0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^snap-[0-9a-f]{8,17}$"))]
    pub snapshot_id: Option<String>,
}

/// A network interface of the template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterfaceSpec {
    /// The interface's position (0 is the primary).
    #[schemars(range(min = 0, max = 31))]
    pub device_index: i32,
    /// Give the instance a public IPv4 address (primary interface only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associate_public_ip_address: Option<bool>,
    /// Security groups of this interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 16),
        extend("items" = {"type": "string", "pattern": "^sg-[0-9a-f]{1,17}$"})
    )]
    pub security_group_ids: Vec<String>,
    /// IPv6 addresses to assign from the subnet's range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 50))]
    pub ipv6_address_count: Option<i32>,
    /// Delete the interface when the instance terminates (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_on_termination: Option<bool>,
    /// A description of the interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub description: Option<String>,
}

/// CPU options of the template.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CpuOptionsSpec {
    /// CPU cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 448))]
    pub core_count: Option<i32>,
    /// Threads per core: 1 turns simultaneous multithreading off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2))]
    pub threads_per_core: Option<i32>,
}

/// Placement of the template's instances.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementSpec {
    /// `default`, `dedicated` or `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["default", "dedicated", "host"]))]
    pub tenancy: Option<String>,
    /// A placement group (cluster, spread or partition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub group_name: Option<String>,
}

/// Spot for every instance of the group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceMarketOptionsSpec {
    /// `spot`.
    #[schemars(extend("enum" = ["spot"]))]
    pub market_type: String,
    /// The most to pay an hour (default: the On-Demand price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?$"))]
    pub max_price: Option<String>,
}

/// Capacity reservations the instances may use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityReservationSpec {
    /// `open` (any open reservation; EC2's default), `none` or
    /// `capacity-reservations-only`.
    #[schemars(extend("enum" = ["open", "none", "capacity-reservations-only"]))]
    pub capacity_reservation_preference: String,
}

/// Instance metadata service options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataOptions {
    /// `required` (IMDSv2 only, default) or `optional`.
    #[serde(default = "required")]
    #[schemars(extend("enum" = ["required", "optional"]))]
    pub http_tokens: String,
    /// Hops a metadata response may travel (default 2, so containers reach it).
    #[serde(default = "two")]
    #[schemars(range(min = 1, max = 64))]
    pub http_put_response_hop_limit: i32,
    /// Expose the instance's tags in the metadata service.
    #[serde(default)]
    pub instance_metadata_tags: bool,
    /// `enabled` (EC2's default) or `disabled`: whether the metadata service answers at
    /// all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["enabled", "disabled"]))]
    pub http_endpoint: Option<String>,
    /// `enabled` or `disabled` (EC2's default): the metadata service's IPv6 endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["enabled", "disabled"]))]
    pub http_protocol_ipv6: Option<String>,
}

fn required() -> String {
    "required".into()
}

fn two() -> i32 {
    2
}

impl Default for MetadataOptions {
    fn default() -> Self {
        MetadataOptions {
            http_tokens: required(),
            http_put_response_hop_limit: two(),
            instance_metadata_tags: false,
            http_endpoint: None,
            http_protocol_ipv6: None,
        }
    }
}

/// An existing launch template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.name) != has(self.id)",
     "message": "set exactly one of spec.launchTemplateRef.name and spec.launchTemplateRef.id"}
]))]
pub struct LaunchTemplateRef {
    /// The template's name (set this or `id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The template's ID, e.g. `lt-0123456789abcdef0` (set this or `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A version number, `$Latest` or `$Default` (default).
    #[serde(default = "default_version")]
    #[schemars(regex(pattern = r"^(\d+|\$Latest|\$Default)$"))]
    pub version: String,
}

fn default_version() -> String {
    "$Default".into()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckSpec {
    /// `EC2` (default) or `ELB`.
    #[serde(rename = "type", default = "ec2")]
    #[schemars(extend("enum" = ["EC2", "ELB"]))]
    pub type_: String,
    /// Seconds after launch before health checks count (AWS default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub grace_period_seconds: Option<i32>,
}

fn ec2() -> String {
    "EC2".into()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupTag {
    /// The tag's key (at most 128 characters; keys under `ecsfleet.dev/` are reserved).
    #[schemars(length(min = 1, max = 128))]
    pub key: String,
    /// The tag's value (at most 256 characters).
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub value: String,
    /// Put the tag on instances the group launches (default true).
    #[serde(default = "yes")]
    pub propagate_at_launch: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRefreshSpec {
    /// Start an instance refresh when the managed template gets a new version (default
    /// true), so running instances pick up the change.
    #[serde(default = "yes")]
    pub on_template_change: bool,
    /// Share of capacity kept in service during a refresh (default 90).
    #[serde(default = "ninety")]
    #[schemars(range(min = 0, max = 100))]
    pub min_healthy_percentage: i32,
    /// Share of capacity in service at most, to launch replacements before terminating
    /// (100–200; at most 100 above `minHealthyPercentage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 200))]
    pub max_healthy_percentage: Option<i32>,
    /// Seconds a new instance warms up before the refresh counts it (default: the
    /// group's `defaultInstanceWarmup`, else its health check grace period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub instance_warmup: Option<i32>,
    /// Leave instances that already run the new template version alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_matching: Option<bool>,
    /// Pause at these shares of instances replaced, ascending, e.g. `[20, 100]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10), extend("items" = {"type": "integer", "minimum": 1, "maximum": 100}))]
    pub checkpoint_percentages: Vec<i32>,
    /// Seconds each checkpoint pauses (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 172800))]
    pub checkpoint_delay: Option<i32>,
    /// Roll back to the previous version when the refresh fails or an alarm of `alarms`
    /// fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rollback: Option<bool>,
    /// CloudWatch alarms (names) that fail the refresh when they go to ALARM.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10), extend("items" = {"type": "string", "minLength": 1, "maxLength": 255}))]
    pub alarms: Vec<String>,
    /// What to do with instances protected from scale-in: `Refresh` (default), `Ignore`
    /// or `Wait`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Refresh", "Ignore", "Wait"]))]
    pub scale_in_protected_instances: Option<String>,
    /// What to do with instances in Standby: `Terminate`, `Ignore` (default) or `Wait`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Terminate", "Ignore", "Wait"]))]
    pub standby_instances: Option<String>,
    /// Seconds to wait after the last replacement before the refresh counts as done
    /// (0–172800), so an alarm has time to fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 172800))]
    pub bake_time: Option<i32>,
}

fn ninety() -> i32 {
    90
}

impl Default for InstanceRefreshSpec {
    fn default() -> Self {
        InstanceRefreshSpec {
            on_template_change: true,
            min_healthy_percentage: ninety(),
            max_healthy_percentage: None,
            instance_warmup: None,
            skip_matching: None,
            checkpoint_percentages: Vec::new(),
            checkpoint_delay: None,
            auto_rollback: None,
            alarms: Vec::new(),
            scale_in_protected_instances: None,
            standby_instances: None,
            bake_time: None,
        }
    }
}

/// A scaling policy: simple scaling with its alarm, or target tracking.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "[has(self.alarm), has(self.targetTracking), has(self.predictiveScaling)].filter(x, x).size() == 1",
     "message": "a scaling policy needs exactly one of alarm, targetTracking and predictiveScaling"},
    {"rule": "!has(self.alarm) || has(self.scalingAdjustment) != (has(self.steps) && size(self.steps) > 0)",
     "message": "a policy with an alarm needs exactly one of scalingAdjustment and steps"},
    {"rule": "!has(self.steps) || (self.steps.filter(s, !has(s.lowerBound) || !self.steps.exists(t, has(t.upperBound) && t.upperBound == s.lowerBound)).size() <= 1 && self.steps.filter(s, !has(s.upperBound) || !self.steps.exists(t, has(t.lowerBound) && t.lowerBound == s.upperBound)).size() <= 1 && self.steps.all(s, !has(s.upperBound) || self.steps.filter(t, has(t.lowerBound) && t.lowerBound == s.upperBound).size() <= 1))",
     "message": "step intervals must meet without gaps or overlaps (each upperBound is the next step's lowerBound), with at most one step open below and one open above"}
]))]
pub struct ScalingPolicySpec {
    /// Unique within the group; its alarm is named `<group>-<name>`.
    #[schemars(regex(pattern = r"^[\x21-\x7E]{1,200}$"))]
    pub name: String,
    /// ChangeInCapacity (default), PercentChangeInCapacity or ExactCapacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity"]))]
    pub adjustment_type: Option<String>,
    /// Instances (or percent) to add, negative to remove: simple scaling. With `alarm`,
    /// this or `steps` is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling_adjustment: Option<i32>,
    /// Step scaling instead: adjustments by how far past the alarm's threshold the metric
    /// is. Intervals meet without gaps; the first may be open below, the last above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub steps: Vec<StepSpec>,
    /// Seconds before another simple-scaling activity may start (default: the group's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub cooldown_seconds: Option<i32>,
    /// The CloudWatch alarm that executes the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<AlarmSpec>,
    /// Keep a metric at a target value instead (AWS manages the alarms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_tracking: Option<TargetTrackingSpec>,
    /// Or scale ahead of a forecast of the load, learnt from its history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictive_scaling: Option<PredictiveScalingSpec>,
    /// `false` keeps the policy but stops it from scaling. Unset leaves Auto Scaling's
    /// value (enabled), as for the fields below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Seconds a new instance takes before its metrics count (step and target tracking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub estimated_instance_warmup: Option<i32>,
    /// The fewest instances a `PercentChangeInCapacity` adjustment changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_adjustment_magnitude: Option<i32>,
    /// How the alarm's datapoints are aggregated for step scaling: `Average` (default),
    /// `Minimum` or `Maximum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Average", "Minimum", "Maximum"]))]
    pub metric_aggregation_type: Option<String>,
}

/// One step of a step scaling policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.lowerBound) || !has(self.upperBound) || self.lowerBound < self.upperBound",
     "message": "a step's lowerBound must be below its upperBound"}
]))]
pub struct StepSpec {
    /// Lower bound of the metric's distance past the threshold (inclusive); open if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_bound: Option<f64>,
    /// Upper bound (exclusive); open if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_bound: Option<f64>,
    /// Instances (or percent) to add within these bounds, negative to remove.
    pub scaling_adjustment: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!(has(self.statistic) && has(self.extendedStatistic))",
     "message": "set at most one of statistic and extendedStatistic"}
]))]
pub struct AlarmSpec {
    /// e.g. `CPUUtilization`.
    #[schemars(length(min = 1, max = 255))]
    pub metric_name: String,
    /// Default `AWS/EC2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Average (default), Sum, Minimum, Maximum or SampleCount. Exclusive with
    /// `extendedStatistic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Average", "Sum", "Minimum", "Maximum", "SampleCount"]))]
    pub statistic: Option<String>,
    /// A percentile or trimmed statistic instead, e.g. `p99`, `p99.9`, `tm90`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(p|tm|wm|tc|ts)(100|[0-9]{1,2}(\.[0-9]{1,10})?)$"))]
    pub extended_statistic: Option<String>,
    /// The metric's unit, when it is published in several (e.g. `Seconds`, `Count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"]))]
    pub unit: Option<String>,
    /// The alarm's description (default: which policy of which group it executes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// Default 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10))]
    pub period_seconds: Option<i32>,
    /// Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub evaluation_periods: Option<i32>,
    /// The value the metric is compared with.
    pub threshold: f64,
    /// GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold or
    /// LessThanOrEqualToThreshold.
    #[schemars(extend("enum" = ["GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"]))]
    pub comparison_operator: String,
    /// Metric dimensions; default `AutoScalingGroupName=<group name>` (at most 30, as
    /// CloudWatch allows).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 30, "additionalProperties" = {"type": "string", "maxLength": 1024}))]
    pub dimensions: BTreeMap<String, String>,
    /// How many of the `evaluationPeriods` must breach to alarm (M of N; default all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub datapoints_to_alarm: Option<i32>,
    /// What missing data counts as: `missing` (CloudWatch's default), `breaching`,
    /// `notBreaching` or `ignore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["missing", "breaching", "notBreaching", "ignore"]))]
    pub treat_missing_data: Option<String>,
    /// SNS topics told when the alarm fires, next to the policy it executes (a paging
    /// topic).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4))]
    pub alarm_actions: Vec<String>,
    /// SNS topics told when the alarm returns to OK.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub ok_actions: Vec<String>,
    /// SNS topics told when the alarm has too little data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub insufficient_data_actions: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.predefinedMetric) != has(self.customizedMetric)",
     "message": "set exactly one of predefinedMetric and customizedMetric"}
]))]
pub struct TargetTrackingSpec {
    /// ASGAverageCPUUtilization, ASGAverageNetworkIn, ASGAverageNetworkOut or
    /// ALBRequestCountPerTarget. Exclusive with `customizedMetric`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["ASGAverageCPUUtilization", "ASGAverageNetworkIn", "ASGAverageNetworkOut", "ALBRequestCountPerTarget"]))]
    pub predefined_metric: Option<String>,
    /// Any CloudWatch metric, or metric math over several (e.g. a queue's backlog per
    /// instance). Exclusive with `predefinedMetric`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customized_metric: Option<CustomizedMetricSpec>,
    /// The value the policy keeps the metric at.
    pub target_value: f64,
    /// For `ALBRequestCountPerTarget`: the target group,
    /// `app/<load-balancer>/<id>/targetgroup/<target-group>/<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1023))]
    pub resource_label: Option<String>,
    /// Only scale out; scaling in is left to other policies or to hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_scale_in: Option<bool>,
}

/// A target tracking metric of CloudWatch's: one metric (`metricName`, `namespace`,
/// `statistic`) or `metrics`, a metric math expression over queries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.metricName) != (has(self.metrics) && size(self.metrics) > 0)",
     "message": "set either metricName (one metric) or metrics (metric math)"},
    {"rule": "!has(self.metrics) || size(self.metrics) == 0 || self.metrics.filter(q, !has(q.returnData) || q.returnData).size() == 1",
     "message": "exactly one query is the tracked value (returnData unset or true)"}
]))]
pub struct CustomizedMetricSpec {
    /// The metric's name, e.g. `ApproximateNumberOfMessagesVisible`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub metric_name: Option<String>,
    /// The metric's namespace, e.g. `AWS/SQS` (required with `metricName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub namespace: Option<String>,
    /// The metric's dimensions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 30, "additionalProperties" = {"type": "string", "maxLength": 1024}))]
    pub dimensions: BTreeMap<String, String>,
    /// Average, Minimum, Maximum, SampleCount or Sum (required with `metricName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Average", "Minimum", "Maximum", "SampleCount", "Sum"]))]
    pub statistic: Option<String>,
    /// The metric's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1023))]
    pub unit: Option<String>,
    /// Metric math: the queries, exactly one of them returning the tracked value
    /// (`returnData` unset or true; the others `returnData: false`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub metrics: Vec<MetricQuerySpec>,
}

/// One query of a metric math target: a metric, or an expression over other queries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.expression) != has(self.metricStat)",
     "message": "a query has exactly one of expression and metricStat"}
]))]
pub struct MetricQuerySpec {
    /// The query's name in expressions: a lowercase letter, then letters, digits, `_`.
    #[schemars(regex(pattern = r"^[a-z][a-zA-Z0-9_]{0,254}$"))]
    pub id: String,
    /// Metric math over other queries' ids, e.g. `visible / inService`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2047))]
    pub expression: Option<String>,
    /// A metric and the statistic taken of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_stat: Option<MetricStatSpec>,
    /// A label for the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2047))]
    pub label: Option<String>,
    /// Whether this query is the tracked value (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_data: Option<bool>,
}

/// A metric and its statistic, in a metric math query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricStatSpec {
    /// The metric.
    pub metric: MetricSpec,
    /// Average, Minimum, Maximum, SampleCount or Sum.
    #[schemars(extend("enum" = ["Average", "Minimum", "Maximum", "SampleCount", "Sum"]))]
    pub stat: String,
    /// The metric's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1023))]
    pub unit: Option<String>,
}

/// A CloudWatch metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricSpec {
    /// The metric's name.
    #[schemars(length(min = 1, max = 255))]
    pub metric_name: String,
    /// The metric's namespace.
    #[schemars(length(min = 1, max = 255))]
    pub namespace: String,
    /// The metric's dimensions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 30, "additionalProperties" = {"type": "string", "maxLength": 1024}))]
    pub dimensions: BTreeMap<String, String>,
}

/// A predictive scaling policy (Auto Scaling's `PredictiveScalingConfiguration`) on a
/// predefined metric pair. Fields left out keep Auto Scaling's defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PredictiveScalingSpec {
    /// `ASGCPUUtilization`, `ASGNetworkIn`, `ASGNetworkOut` or `ALBRequestCount`: the
    /// load forecast and the metric scaled on.
    #[schemars(extend("enum" = ["ASGCPUUtilization", "ASGNetworkIn", "ASGNetworkOut", "ALBRequestCount"]))]
    pub predefined_metric_pair: String,
    /// For `ALBRequestCount`: the target group,
    /// `app/<load-balancer>/<id>/targetgroup/<target-group>/<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1023))]
    pub resource_label: Option<String>,
    /// The value the forecast capacity keeps the metric at per instance.
    pub target_value: f64,
    /// `ForecastOnly` (Auto Scaling's default: forecasts are made, nothing scales) or
    /// `ForecastAndScale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["ForecastOnly", "ForecastAndScale"]))]
    pub mode: Option<String>,
    /// Seconds ahead of the forecast that instances launch (0–3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub scheduling_buffer_time: Option<i32>,
    /// `HonorMaxCapacity` (default) or `IncreaseMaxCapacity` when the forecast is above
    /// the group's maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["HonorMaxCapacity", "IncreaseMaxCapacity"]))]
    pub max_capacity_breach_behavior: Option<String>,
    /// With `IncreaseMaxCapacity`: how far above the forecast the maximum may go, in
    /// percent (0–100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub max_capacity_buffer: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.topicArn) != has(self.createTopic)",
     "message": "set exactly one of spec.notifications.topicArn and spec.notifications.createTopic"}
]))]
pub struct NotificationsSpec {
    /// An existing SNS topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:.+$"))]
    pub topic_arn: Option<String>,
    /// A topic the operator creates (tagged as this object's) and deletes with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_topic: Option<CreateTopic>,
    /// Launch, Terminate, LaunchError, TerminateError.
    #[schemars(
        length(min = 1, max = 4),
        extend("items" = {"type": "string", "enum": ["Launch", "Terminate", "LaunchError", "TerminateError"]})
    )]
    pub types: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateTopic {
    /// Name of the topic (created in the group's region).
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,256}$"))]
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.targetArn) == has(self.roleArn)",
     "message": "targetArn and roleArn go together: Auto Scaling assumes the role to publish to the target"}
]))]
pub struct LifecycleHookSpec {
    /// Unique within the group: the hook's name in Auto Scaling.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_./-]{1,255}$"))]
    pub name: String,
    /// `Launching` or `Terminating`.
    #[schemars(extend("enum" = ["Launching", "Terminating"]))]
    pub transition: String,
    /// Where the lifecycle notification goes: an SQS queue or SNS topic ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^arn:aws[a-z-]*:(sqs|sns):[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$"
    ))]
    pub target_arn: Option<String>,
    /// The role Auto Scaling assumes to publish to `targetArn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\x21-\x7E]{1,512}$"))]
    pub role_arn: Option<String>,
    /// Seconds the instance waits for completion (30–7200, default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30, max = 7200))]
    pub heartbeat_timeout_seconds: Option<i32>,
    /// What happens when the timeout passes: `CONTINUE` or `ABANDON` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["CONTINUE", "ABANDON"]))]
    pub default_result: Option<String>,
}

/// The mixed instances policy, as Auto Scaling's API has it (the template itself is the
/// group's `launchTemplate` or `launchTemplateRef`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MixedInstancesPolicySpec {
    /// The instance types the group may launch.
    pub launch_template: MixedLaunchTemplateSpec,
    /// How instances are split between On-Demand and Spot, and chosen within each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances_distribution: Option<InstancesDistributionSpec>,
}

/// The overrides of the group's template.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MixedLaunchTemplateSpec {
    /// Instance types in priority order (for the `prioritized` strategies).
    #[schemars(length(min = 1, max = 40))]
    pub overrides: Vec<InstanceOverrideSpec>,
}

/// One override of a mixed group: an instance type, or the attributes instance types
/// must have; optionally launched from a template of its own.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.instanceType) != has(self.instanceRequirements)",
     "message": "an override has exactly one of instanceType and instanceRequirements"}
]))]
pub struct InstanceOverrideSpec {
    /// e.g. `m6i.large`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub instance_type: Option<String>,
    /// Attribute-based selection: every instance type with these attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_requirements: Option<InstanceRequirementsSpec>,
    /// Capacity units an instance of this type counts for (1–999), e.g. its vCPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,2}$"))]
    pub weighted_capacity: Option<String>,
    /// An existing launch template for this override (e.g. an ARM image for Graviton
    /// types) instead of the group's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template: Option<OverrideTemplate>,
}

/// An existing launch template of one override.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.name) != has(self.id)",
     "message": "set exactly one of name and id"}
]))]
pub struct OverrideTemplate {
    /// The template's name (set this or `id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The template's ID (set this or `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A version number, `$Latest` or `$Default` (when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(\d+|\$Latest|\$Default)$"))]
    pub version: Option<String>,
}

/// Instance type attributes, as Auto Scaling's `InstanceRequirements` has them. Left out:
/// no constraint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.vCpuCount.min) && has(self.memoryMiB.min)",
     "message": "vCpuCount.min and memoryMiB.min are required"},
    {"rule": "!(has(self.excludedInstanceTypes) && size(self.excludedInstanceTypes) > 0 && has(self.allowedInstanceTypes) && size(self.allowedInstanceTypes) > 0)",
     "message": "set at most one of excludedInstanceTypes and allowedInstanceTypes"}
]))]
pub struct InstanceRequirementsSpec {
    /// vCPUs per instance.
    pub v_cpu_count: CountRange,
    /// Memory per instance, in MiB.
    pub memory_mi_b: CountRange,
    /// Memory per vCPU, in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_gi_b_per_v_cpu: Option<AmountRange>,
    /// `intel`, `amd`, `amazon-web-services`, `apple`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4), extend("items" = {"type": "string", "enum": ["intel", "amd", "amazon-web-services", "apple"]}))]
    pub cpu_manufacturers: Vec<String>,
    /// `current`, `previous`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2), extend("items" = {"type": "string", "enum": ["current", "previous"]}))]
    pub instance_generations: Vec<String>,
    /// Instance types (wildcards allowed, e.g. `m5.*`) never to launch. Exclusive with
    /// `allowedInstanceTypes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 400), extend("items" = {"type": "string", "minLength": 1, "maxLength": 30, "pattern": "^[a-zA-Z0-9.*-]+$"}))]
    pub excluded_instance_types: Vec<String>,
    /// Only these instance types (wildcards allowed). Exclusive with
    /// `excludedInstanceTypes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 400), extend("items" = {"type": "string", "minLength": 1, "maxLength": 30, "pattern": "^[a-zA-Z0-9.*-]+$"}))]
    pub allowed_instance_types: Vec<String>,
    /// Spot instance types priced at most this percent above the cheapest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub spot_max_price_percentage_over_lowest_price: Option<i32>,
    /// Spot instance types priced at most this percent of the optimal On-Demand price.
    /// Exclusive with `spotMaxPricePercentageOverLowestPrice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_spot_price_as_percentage_of_optimal_on_demand_price: Option<i32>,
    /// On-Demand instance types priced at most this percent above the cheapest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub on_demand_max_price_percentage_over_lowest_price: Option<i32>,
    /// Bare metal types: `included`, `excluded` (default) or `required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["included", "excluded", "required"]))]
    pub bare_metal: Option<String>,
    /// Burstable (T) types: `included`, `excluded` (default) or `required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["included", "excluded", "required"]))]
    pub burstable_performance: Option<String>,
    /// Only types that support hibernation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_hibernate_support: Option<bool>,
    /// Network interfaces per instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_interface_count: Option<CountRange>,
    /// Instance store volumes: `included` (default), `excluded` or `required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["included", "excluded", "required"]))]
    pub local_storage: Option<String>,
    /// `hdd`, `ssd`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2), extend("items" = {"type": "string", "enum": ["hdd", "ssd"]}))]
    pub local_storage_types: Vec<String>,
    /// Instance store per instance, in GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_local_storage_g_b: Option<AmountRange>,
    /// Baseline EBS bandwidth, in Mbps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_ebs_bandwidth_mbps: Option<CountRange>,
    /// `gpu`, `fpga`, `inference`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3), extend("items" = {"type": "string", "enum": ["gpu", "fpga", "inference"]}))]
    pub accelerator_types: Vec<String>,
    /// Accelerators per instance (`max: 0` excludes accelerated types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accelerator_count: Option<CountRange>,
    /// `nvidia`, `amd`, `amazon-web-services`, `xilinx`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4), extend("items" = {"type": "string", "enum": ["nvidia", "amd", "amazon-web-services", "xilinx"]}))]
    pub accelerator_manufacturers: Vec<String>,
    /// e.g. `a100`, `t4`, `inferentia`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), extend("items" = {"type": "string", "enum": ["a100", "v100", "k80", "t4", "m60", "radeon-pro-v520", "vu9p"]}))]
    pub accelerator_names: Vec<String>,
    /// Accelerator memory per instance, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accelerator_total_memory_mi_b: Option<CountRange>,
    /// Network bandwidth, in Gbps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_bandwidth_gbps: Option<AmountRange>,
}

/// A whole-number range; `min` defaults to 0, `max` to no limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.min) || !has(self.max) || self.min <= self.max",
     "message": "min must not exceed max"}
]))]
pub struct CountRange {
    /// The least (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min: Option<i32>,
    /// The most (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max: Option<i32>,
}

/// A decimal range; `min` defaults to 0, `max` to no limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.min) || !has(self.max) || self.min <= self.max",
     "message": "min must not exceed max"}
]))]
pub struct AmountRange {
    /// The least (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min: Option<f64>,
    /// The most (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max: Option<f64>,
}

/// On-Demand and Spot. Fields left out keep Auto Scaling's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstancesDistributionSpec {
    /// `prioritized` (the overrides' order) or `lowest-price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["prioritized", "lowest-price"]))]
    pub on_demand_allocation_strategy: Option<String>,
    /// On-Demand capacity the group keeps before any Spot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub on_demand_base_capacity: Option<i32>,
    /// The On-Demand share of the capacity above the base (0–100; the rest is Spot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub on_demand_percentage_above_base_capacity: Option<i32>,
    /// `price-capacity-optimized`, `capacity-optimized`, `capacity-optimized-prioritized`
    /// or `lowest-price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["lowest-price", "capacity-optimized", "capacity-optimized-prioritized", "price-capacity-optimized"]))]
    pub spot_allocation_strategy: Option<String>,
    /// Spot pools to spread over (1–20, with `lowest-price`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20))]
    pub spot_instance_pools: Option<i32>,
    /// The most to pay an hour for a Spot instance (default: the On-Demand price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub spot_max_price: Option<String>,
}

/// The group's instance maintenance policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceMaintenancePolicySpec {
    /// At least this share stays in service (0–100).
    #[schemars(range(min = 0, max = 100))]
    pub min_healthy_percentage: i32,
    /// At most this share is in service at once (100–200).
    #[schemars(range(min = 100, max = 200))]
    pub max_healthy_percentage: i32,
}

/// The group's warm pool (Auto Scaling's `PutWarmPool`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WarmPoolSpec {
    /// Instances the pool keeps at least (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_size: Option<i32>,
    /// Instances the group and its pool may have prepared together; unset: the group's
    /// maximum size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_group_prepared_capacity: Option<i32>,
    /// How the pool keeps its instances: `Stopped` (default), `Running` or `Hibernated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["Stopped", "Running", "Hibernated"]))]
    pub pool_state: Option<String>,
    /// Return instances to the pool on scale-in instead of terminating them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reuse_on_scale_in: bool,
}

/// A scheduled change of the group's size (Auto Scaling's scheduled action).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledActionSpec {
    /// Unique within the group: the action's name in Auto Scaling.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_./-]{1,255}$"))]
    pub name: String,
    /// When it recurs, in cron format (minute hour day-of-month month day-of-week), e.g.
    /// `0 20 * * 1-5`. Without it the action runs once, at `startTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub recurrence: Option<String>,
    /// The IANA time zone of `recurrence`, e.g. `Europe/Berlin` (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub time_zone: Option<String>,
    /// When the action first runs (RFC 3339, e.g. `2027-01-04T07:00:00Z`); a one-off
    /// action runs then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When a recurring action stops (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// The group's minimum size from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_size: Option<i32>,
    /// The group's maximum size from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_size: Option<i32>,
    /// The group's desired capacity from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub desired_capacity: Option<i32>,
}

/// What the operator last saw of the group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalingGroupStatus {
    /// ARN of the Auto Scaling group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_arn: Option<String>,
    /// ID of the launch template the group launches from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template_id: Option<String>,
    /// The template version the group launches from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template_version: Option<String>,
    /// The group's desired capacity as AWS has it now (scaling policies move it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_capacity: Option<i32>,
    /// The `spec.desiredCapacity` last applied: a change of the spec value is applied
    /// again, a resync is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_desired_capacity: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<InstanceCounts>,
    /// Each scaling policy with its ARN and alarm.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyStatus>,
    /// The SNS topic notifications go to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_arn: Option<String>,
    /// The latest instance refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_refresh: Option<InstanceRefreshStatus>,
    /// The warm pool, when the spec has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_pool: Option<WarmPoolStatus>,
    /// How many scheduled actions the group has from the spec (their names are the
    /// spec's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_actions: Option<u32>,
    #[serde(flatten)]
    pub common: CommonStatus,
}

/// The group's instances by lifecycle state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceCounts {
    /// Instances in service.
    pub in_service: i32,
    /// Instances launching.
    pub pending: i32,
    /// Instances terminating.
    pub terminating: i32,
    /// Every instance of the group.
    pub total: i32,
    /// Of the running and launching ones, how many are On-Demand (a group that may run
    /// Spot: a mixed instances policy, or Spot market options).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_demand: Option<i32>,
    /// Of the running and launching ones, how many are Spot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    /// The policy's name in the spec.
    pub name: String,
    /// The policy's ARN in Auto Scaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The alarm's name (none for target tracking, whose alarms AWS manages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRefreshStatus {
    /// The refresh's ID.
    pub id: String,
    /// Pending, InProgress, Successful, Failed, Cancelling, Cancelled, ...
    pub status: String,
    /// The template version the refresh rolls out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_template_version: Option<String>,
}

/// What the warm pool holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WarmPoolStatus {
    /// Instances in the pool.
    pub size: i32,
    /// The state it keeps them in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_state: Option<String>,
}
