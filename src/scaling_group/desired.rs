//! The desired state: the spec validated and resolved, with every refusal naming its
//! field. Pure; runs before any AWS call.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::{InstanceRefreshSpec, InstanceRefreshStatus, LaunchTemplateSpec, ScalingGroup};
use crate::common::Owner;
use crate::tenancy::{Grant, cluster_name};
use crate::{Error, Result};

/// The group tag that remembers the `spec.desiredCapacity` last applied, so that a
/// resync never resets a capacity the scaling policies have moved (it survives a lost
/// status, and serves the CLI too).
pub const DESIRED_CAPACITY_TAG: &str = "ecsfleet.dev/desired-capacity";
/// Launch template versions made by ecsfleet carry the digest of their spec in their
/// description (versions are immutable, so this is all the comparison needs).
pub const DIGEST_PREFIX: &str = "ecsfleet sha256:";

const ADJUSTMENT_TYPES: &[&str] = &[
    "ChangeInCapacity",
    "PercentChangeInCapacity",
    "ExactCapacity",
];
const COMPARISON_OPERATORS: &[&str] = &[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];
const STATISTICS: &[&str] = &["Average", "Sum", "Minimum", "Maximum", "SampleCount"];
const PREDEFINED_METRICS: &[&str] = &[
    "ASGAverageCPUUtilization",
    "ASGAverageNetworkIn",
    "ASGAverageNetworkOut",
    "ALBRequestCountPerTarget",
];
const VOLUME_TYPES: &[&str] = &["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"];

/// `spec.notifications.types` → Auto Scaling's notification types.
pub fn notification_type(name: &str) -> Option<&'static str> {
    Some(match name {
        "Launch" => "autoscaling:EC2_INSTANCE_LAUNCH",
        "Terminate" => "autoscaling:EC2_INSTANCE_TERMINATE",
        "LaunchError" => "autoscaling:EC2_INSTANCE_LAUNCH_ERROR",
        "TerminateError" => "autoscaling:EC2_INSTANCE_TERMINATE_ERROR",
        _ => return None,
    })
}

/// `spec.lifecycleHooks[].transition` → Auto Scaling's lifecycle transition.
pub fn lifecycle_transition(name: &str) -> Option<&'static str> {
    Some(match name {
        "Launching" => "autoscaling:EC2_INSTANCE_LAUNCHING",
        "Terminating" => "autoscaling:EC2_INSTANCE_TERMINATING",
        _ => return None,
    })
}

/// The spec, validated: what AWS should look like.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub owner: Owner,
    pub name: String,
    pub template: TemplateSource,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: Option<i32>,
    pub availability_zones: BTreeSet<String>,
    pub subnet_ids: BTreeSet<String>,
    pub health_check_type: String,
    pub health_check_grace_period: Option<i32>,
    pub default_cooldown: Option<i32>,
    /// Settings compared only when the spec gives them.
    pub settings: GroupSettings,
    /// Several instance types, On-Demand and Spot.
    pub mixed: Option<Mixed>,
    pub termination_policies: Vec<String>,
    pub target_group_arns: BTreeSet<String>,
    /// Key → (value, propagate at launch), with the ownership tags.
    pub tags: BTreeMap<String, (String, bool)>,
    pub instance_refresh: InstanceRefreshSpec,
    pub policies: Vec<DesiredPolicy>,
    pub notifications: Option<DesiredNotifications>,
    pub hooks: BTreeMap<String, Hook>,
    /// The warm pool the spec asks for.
    pub warm_pool: Option<WarmPool>,
    /// The last status showed a warm pool: it may be left to delete.
    pub had_warm_pool: bool,
    /// Scheduled actions by name.
    pub scheduled: BTreeMap<String, Scheduled>,
    /// The last status counted scheduled actions: some may be left to delete.
    pub had_scheduled: bool,
    pub ecs_cluster: Option<String>,
    pub adopt_existing: bool,
    /// The spec has not changed since the last successful sync, so a difference found
    /// now is drift (someone changed AWS), not a spec change being followed.
    pub spec_unchanged: bool,
    /// The instance refresh the last status showed (kept while not observed again).
    pub previous_refresh: Option<InstanceRefreshStatus>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TemplateSource {
    /// The inline template, managed as a launch template named after the group.
    Managed(Box<DesiredTemplate>),
    /// An existing template: `LaunchTemplateId` or `LaunchTemplateName`, and version.
    Reference {
        id: Option<String>,
        name: Option<String>,
        version: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct DesiredTemplate {
    pub name: String,
    pub spec: LaunchTemplateSpec,
    /// `ecsfleet sha256:<hex>`: what the version description of a matching version holds.
    pub description: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DesiredPolicy {
    pub name: String,
    pub kind: PolicyKind,
    pub extras: PolicyExtras,
}

/// A policy's settings besides its kind, each compared only when the spec gives it
/// (Auto Scaling has a value for each).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyExtras {
    pub enabled: Option<bool>,
    pub estimated_instance_warmup: Option<i32>,
    pub min_adjustment_magnitude: Option<i32>,
    pub metric_aggregation_type: Option<String>,
    pub disable_scale_in: Option<bool>,
    pub resource_label: Option<String>,
}

impl PolicyExtras {
    pub fn matches(&self, live: &PolicyExtras) -> bool {
        given(&self.enabled, &live.enabled)
            && given(
                &self.estimated_instance_warmup,
                &live.estimated_instance_warmup,
            )
            && given(
                &self.min_adjustment_magnitude,
                &live.min_adjustment_magnitude,
            )
            && given(&self.metric_aggregation_type, &live.metric_aggregation_type)
            && given(&self.disable_scale_in, &live.disable_scale_in)
            && given(&self.resource_label, &live.resource_label)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PolicyKind {
    /// Executed by its alarm: simple or step scaling.
    Alarm {
        adjustment_type: String,
        adjustment: Adjustment,
        cooldown: Option<i32>,
        alarm: Box<DesiredAlarm>,
    },
    TargetTracking {
        metric: TrackedMetric,
        target_value: f64,
    },
    /// Scaling ahead of a forecast.
    Predictive(Box<super::PredictiveScalingSpec>),
}

/// What a target tracking policy tracks.
#[derive(Clone, Debug, PartialEq)]
pub enum TrackedMetric {
    Predefined(String),
    Customized(Box<super::CustomizedMetricSpec>),
}

impl PolicyKind {
    /// Auto Scaling's policy type.
    pub fn policy_type(&self) -> &'static str {
        match self {
            PolicyKind::Alarm {
                adjustment: Adjustment::Simple(_),
                ..
            } => "SimpleScaling",
            PolicyKind::Alarm { .. } => "StepScaling",
            PolicyKind::TargetTracking { .. } => "TargetTrackingScaling",
            PolicyKind::Predictive(_) => "PredictiveScaling",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Adjustment {
    /// Simple scaling: one adjustment.
    Simple(i32),
    /// Step scaling: adjustments by how far past the threshold the metric is, sorted by
    /// lower bound.
    Steps(Vec<Step>),
}

/// One step of a step scaling policy; bounds are relative to the alarm's threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub lower_bound: Option<f64>,
    pub upper_bound: Option<f64>,
    pub scaling_adjustment: i32,
}

/// Steps in Auto Scaling's order: by lower bound, the unbounded one first.
pub fn sorted_steps(mut steps: Vec<Step>) -> Vec<Step> {
    steps.sort_by(|a, b| {
        a.lower_bound
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&b.lower_bound.unwrap_or(f64::NEG_INFINITY))
    });
    steps
}

#[derive(Clone, Debug, PartialEq)]
pub struct DesiredAlarm {
    pub name: String,
    pub metric_name: String,
    pub namespace: String,
    pub statistic: String,
    pub period: i32,
    pub evaluation_periods: i32,
    pub threshold: f64,
    pub comparison_operator: String,
    pub dimensions: BTreeMap<String, String>,
    pub options: AlarmOptions,
}

/// An alarm's options besides its metric and threshold, as comparable values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlarmOptions {
    /// Compared only when the spec gives it.
    pub datapoints_to_alarm: Option<i32>,
    /// Compared only when the spec gives it.
    pub treat_missing_data: Option<String>,
    /// SNS topics told besides the policy, sorted.
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    /// A percentile statistic (then `DesiredAlarm::statistic` is empty).
    pub extended_statistic: Option<String>,
    pub unit: Option<String>,
    /// Compared only when the spec gives it (else ecsfleet's own description is written).
    pub description: Option<String>,
}

impl AlarmOptions {
    /// Whether `live` has these options (the two CloudWatch defaults only when given).
    pub fn matches(&self, live: &AlarmOptions) -> bool {
        given(&self.datapoints_to_alarm, &live.datapoints_to_alarm)
            && given(&self.treat_missing_data, &live.treat_missing_data)
            && self.ok_actions == live.ok_actions
            && self.insufficient_data_actions == live.insufficient_data_actions
            && self.extended_statistic == live.extended_statistic
            && self.unit == live.unit
            && given(&self.description, &live.description)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct DesiredNotifications {
    pub topic: Topic,
    /// Auto Scaling's names, e.g. `autoscaling:EC2_INSTANCE_LAUNCH`.
    pub types: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Topic {
    Existing(String),
    /// Created (and deleted) by the operator.
    Create(String),
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{value:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

fn unique<'a>(field: &str, names: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = BTreeSet::new();
    for (index, name) in names.enumerate() {
        if !seen.insert(name) {
            return Err(Error::invalid(
                format!("{field}[{index}].name"),
                format!("{name:?} is used twice; names must be unique"),
            ));
        }
    }
    Ok(())
}

impl Desired {
    /// Validates the spec. Everything the CRD schema and CEL rules check is checked again
    /// here, because the CLI reads files that no API server has seen.
    pub fn from_spec(obj: &ScalingGroup) -> Result<Desired> {
        let spec = &obj.spec;
        let name = obj.group_name();
        if name.is_empty() || name.len() > 255 || !name.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Error::invalid(
                "spec.name",
                format!(
                    "{name:?} is not a valid Auto Scaling group name (1–255 printable characters, no spaces)"
                ),
            ));
        }
        if spec.min_size < 0 || spec.max_size < 0 {
            return Err(Error::invalid("spec.minSize", "sizes cannot be negative"));
        }
        if spec.min_size > spec.max_size {
            return Err(Error::invalid(
                "spec.minSize",
                format!(
                    "minSize {} exceeds maxSize {}",
                    spec.min_size, spec.max_size
                ),
            ));
        }
        if let Some(desired) = spec.desired_capacity
            && !(spec.min_size..=spec.max_size).contains(&desired)
        {
            return Err(Error::invalid(
                "spec.desiredCapacity",
                format!(
                    "{desired} is outside [minSize {}, maxSize {}]",
                    spec.min_size, spec.max_size
                ),
            ));
        }
        let template = template_source(obj, &name)?;
        match (
            spec.availability_zones.is_empty(),
            spec.subnet_ids.is_empty(),
        ) {
            (false, false) => {
                return Err(Error::invalid(
                    "spec.availabilityZones",
                    "set either availabilityZones or subnetIds, not both",
                ));
            }
            (true, true) => {
                return Err(Error::invalid(
                    "spec.availabilityZones",
                    "one of availabilityZones and subnetIds is required",
                ));
            }
            _ => {}
        }
        let health_check_type = spec
            .health_check
            .as_ref()
            .map(|h| h.type_.clone())
            .unwrap_or_else(|| "EC2".into());
        one_of("spec.healthCheck.type", &health_check_type, &["EC2", "ELB"])?;
        for (index, tag) in spec.tags.iter().enumerate() {
            if tag.key.starts_with("ecsfleet.dev/") {
                return Err(Error::invalid(
                    format!("spec.tags[{index}].key"),
                    "keys under ecsfleet.dev/ are reserved",
                ));
            }
        }
        check_refresh(&spec.instance_refresh)?;
        unique(
            "spec.scalingPolicies",
            spec.scaling_policies.iter().map(|p| p.name.as_str()),
        )?;
        unique(
            "spec.lifecycleHooks",
            spec.lifecycle_hooks.iter().map(|h| h.name.as_str()),
        )?;
        unique(
            "spec.scheduledActions",
            spec.scheduled_actions.iter().map(|a| a.name.as_str()),
        )?;
        let runs_spot = spec.mixed_instances_policy.is_some()
            || spec
                .launch_template
                .as_ref()
                .is_some_and(|t| t.instance_market_options.is_some());
        if spec.warm_pool.is_some() && runs_spot {
            return Err(Error::invalid(
                "spec.warmPool",
                "Auto Scaling keeps no warm pool for a group that runs Spot (mixedInstancesPolicy or Spot market options)",
            ));
        }
        let warm_pool = spec.warm_pool.as_ref().map(warm_pool).transpose()?;
        if let Some(pool) = &warm_pool
            && let Some(capacity) = pool.max_group_prepared_capacity
            && capacity < spec.min_size
        {
            return Err(Error::invalid(
                "spec.warmPool.maxGroupPreparedCapacity",
                "must be at least spec.minSize",
            ));
        }
        let scheduled = spec
            .scheduled_actions
            .iter()
            .enumerate()
            .map(|(index, action)| {
                scheduled_action(index, action).map(|a| (action.name.clone(), a))
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        let policies = spec
            .scaling_policies
            .iter()
            .enumerate()
            .map(|(index, policy)| desired_policy(index, policy, &name))
            .collect::<Result<Vec<_>>>()?;
        let notifications = spec
            .notifications
            .as_ref()
            .map(desired_notifications)
            .transpose()?;
        let hooks = spec
            .lifecycle_hooks
            .iter()
            .enumerate()
            .map(|(index, hook)| desired_hook(index, hook).map(|h| (hook.name.clone(), h)))
            .collect::<Result<BTreeMap<_, _>>>()?;

        let owner = obj.owner();
        let mut tags: BTreeMap<String, (String, bool)> = spec
            .tags
            .iter()
            .map(|t| (t.key.clone(), (t.value.clone(), t.propagate_at_launch)))
            .collect();
        tags.extend(owner.tags().into_iter().map(|(k, v)| (k, (v, false))));
        if let Some(desired) = spec.desired_capacity {
            tags.insert(
                DESIRED_CAPACITY_TAG.to_string(),
                (desired.to_string(), false),
            );
        }
        let status = obj.status.as_ref();
        Ok(Desired {
            owner,
            name,
            template,
            min_size: spec.min_size,
            max_size: spec.max_size,
            desired_capacity: spec.desired_capacity,
            availability_zones: spec.availability_zones.iter().cloned().collect(),
            subnet_ids: spec.subnet_ids.iter().cloned().collect(),
            health_check_type,
            health_check_grace_period: spec
                .health_check
                .as_ref()
                .and_then(|h| h.grace_period_seconds),
            default_cooldown: spec.default_cooldown_seconds,
            settings: group_settings(spec)?,
            mixed: spec
                .mixed_instances_policy
                .as_ref()
                .map(mixed)
                .transpose()?,
            termination_policies: termination_policies(&spec.termination_policies)?,
            target_group_arns: spec.target_group_arns.iter().cloned().collect(),
            tags,
            instance_refresh: spec.instance_refresh.clone(),
            policies,
            notifications,
            hooks,
            warm_pool,
            had_warm_pool: status.is_some_and(|s| s.warm_pool.is_some()),
            scheduled,
            had_scheduled: status
                .and_then(|s| s.scheduled_actions)
                .is_some_and(|n| n > 0),
            ecs_cluster: spec.ecs_cluster.clone(),
            adopt_existing: spec.common.adopt_existing,
            spec_unchanged: status
                .and_then(|s| s.common.observed_generation)
                .is_some_and(|g| Some(g) == obj.metadata.generation),
            previous_refresh: status.and_then(|s| s.instance_refresh.clone()),
        })
    }

    /// The alarm names of this group's simple policies.
    pub fn alarm_names(&self) -> BTreeSet<String> {
        self.policies
            .iter()
            .filter_map(|p| match &p.kind {
                PolicyKind::Alarm { alarm, .. } => Some(alarm.name.clone()),
                PolicyKind::TargetTracking { .. } | PolicyKind::Predictive(_) => None,
            })
            .collect()
    }

    /// The last status showed an instance refresh still running.
    pub fn refresh_in_progress(&self) -> bool {
        self.previous_refresh
            .as_ref()
            .is_some_and(|r| is_active_refresh(&r.status))
    }

    /// The prefix of the alarms this group's policies get: `<group>-`.
    /// Whether the group may run Spot instances: a mixed instances policy, or a managed
    /// template that asks for Spot.
    pub fn may_run_spot(&self) -> bool {
        self.mixed.is_some()
            || matches!(&self.template, TemplateSource::Managed(t) if t.spec.instance_market_options.is_some())
    }

    pub fn alarm_prefix(&self) -> String {
        format!("{}-", self.name)
    }
}

/// Whether an instance refresh in this state is still running (one at a time).
pub fn is_active_refresh(status: &str) -> bool {
    matches!(
        status,
        "Pending" | "InProgress" | "Cancelling" | "RollbackInProgress" | "Baking"
    )
}

mod policies;
use policies::desired_policy;

fn template_source(obj: &ScalingGroup, name: &str) -> Result<TemplateSource> {
    let spec = &obj.spec;
    match (&spec.launch_template, &spec.launch_template_ref) {
        (Some(_), Some(_)) => Err(Error::invalid(
            "spec.launchTemplate",
            "set either launchTemplate or launchTemplateRef, not both",
        )),
        (None, None) => Err(Error::invalid(
            "spec.launchTemplate",
            "one of launchTemplate and launchTemplateRef is required",
        )),
        (None, Some(reference)) => {
            template_reference(
                "spec.launchTemplateRef",
                reference.name.is_some() == reference.id.is_some(),
                &reference.version,
            )?;
            Ok(TemplateSource::Reference {
                id: reference.id.clone(),
                name: reference.name.clone(),
                version: reference.version.clone(),
            })
        }
        (Some(template), None) => {
            let field = "spec.launchTemplate";
            // The managed template is named after the group; EC2 is stricter than Auto Scaling.
            if !(3..=128).contains(&name.len())
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "().-/_".contains(c))
            {
                return Err(Error::invalid(
                    "spec.name",
                    format!(
                        "{name:?} cannot name the managed launch template (3–128 of letters, digits and ().-/_); choose another name or use launchTemplateRef"
                    ),
                ));
            }
            if template.image_id.trim().is_empty() {
                return Err(Error::invalid(format!("{field}.imageId"), "is required"));
            }
            if template.instance_type.trim().is_empty() {
                return Err(Error::invalid(
                    format!("{field}.instanceType"),
                    "is required",
                ));
            }
            one_of(
                &format!("{field}.metadataOptions.httpTokens"),
                &template.metadata_options.http_tokens,
                &["required", "optional"],
            )?;
            if !(1..=64).contains(&template.metadata_options.http_put_response_hop_limit) {
                return Err(Error::invalid(
                    format!("{field}.metadataOptions.httpPutResponseHopLimit"),
                    "must be 1–64",
                ));
            }
            for (index, mapping) in template.block_device_mappings.iter().enumerate() {
                if let Some(volume_type) = &mapping.volume_type {
                    one_of(
                        &format!("{field}.blockDeviceMappings[{index}].volumeType"),
                        volume_type,
                        VOLUME_TYPES,
                    )?;
                }
                if mapping.device_name.is_empty() {
                    return Err(Error::invalid(
                        format!("{field}.blockDeviceMappings[{index}].deviceName"),
                        "is required",
                    ));
                }
            }
            check_template_extras(template, obj.spec.mixed_instances_policy.is_some())?;
            if template.user_data.as_ref().is_some_and(|u| u.len() > 16384) {
                return Err(Error::invalid(
                    format!("{field}.userData"),
                    "is longer than the 16 KiB EC2 allows",
                ));
            }
            let canonical = serde_json::to_vec(template).expect("a launch template serializes");
            let digest = Sha256::digest(&canonical);
            let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
            Ok(TemplateSource::Managed(Box::new(DesiredTemplate {
                name: name.to_string(),
                spec: template.clone(),
                description: format!("{DIGEST_PREFIX}{hex}"),
            })))
        }
    }
}

/// A reference to an existing launch template: its name or ID, and a version.
fn template_reference(field: &str, ambiguous: bool, version: &str) -> Result<()> {
    if ambiguous {
        return Err(Error::invalid(field, "set exactly one of name and id"));
    }
    if !(version == "$Latest"
        || version == "$Default"
        || (!version.is_empty() && version.chars().all(|c| c.is_ascii_digit())))
    {
        return Err(Error::invalid(
            format!("{field}.version"),
            format!("{version:?} is neither a version number, $Latest nor $Default"),
        ));
    }
    Ok(())
}

/// Attribute-based instance selection: the two required minimums, ranges that are
/// ranges, and one list of instance types at most.
fn instance_requirements(field: &str, spec: &super::InstanceRequirementsSpec) -> Result<()> {
    for (member, range) in [
        ("vCpuCount", &spec.v_cpu_count),
        ("memoryMiB", &spec.memory_mi_b),
    ] {
        if range.min.is_none() {
            return Err(Error::invalid(
                format!("{field}.{member}.min"),
                "is required",
            ));
        }
    }
    let counts = [
        ("vCpuCount", Some(&spec.v_cpu_count)),
        ("memoryMiB", Some(&spec.memory_mi_b)),
        (
            "networkInterfaceCount",
            spec.network_interface_count.as_ref(),
        ),
        (
            "baselineEbsBandwidthMbps",
            spec.baseline_ebs_bandwidth_mbps.as_ref(),
        ),
        ("acceleratorCount", spec.accelerator_count.as_ref()),
        (
            "acceleratorTotalMemoryMiB",
            spec.accelerator_total_memory_mi_b.as_ref(),
        ),
    ];
    for (member, range) in counts {
        if let Some(range) = range
            && (range.min.is_some_and(|n| n < 0)
                || range.max.is_some_and(|n| n < 0)
                || range.min.zip(range.max).is_some_and(|(lo, hi)| lo > hi))
        {
            return Err(Error::invalid(
                format!("{field}.{member}"),
                "min and max are 0 or more, min not above max",
            ));
        }
    }
    let amounts = [
        ("memoryGiBPerVCpu", spec.memory_gi_b_per_v_cpu.as_ref()),
        ("totalLocalStorageGB", spec.total_local_storage_g_b.as_ref()),
        ("networkBandwidthGbps", spec.network_bandwidth_gbps.as_ref()),
    ];
    for (member, range) in amounts {
        if let Some(range) = range
            && (range.min.is_some_and(|n| n.is_nan() || n < 0.0)
                || range.max.is_some_and(|n| n.is_nan() || n < 0.0)
                || range.min.zip(range.max).is_some_and(|(lo, hi)| lo > hi))
        {
            return Err(Error::invalid(
                format!("{field}.{member}"),
                "min and max are 0 or more, min not above max",
            ));
        }
    }
    for (member, types) in [
        ("excludedInstanceTypes", &spec.excluded_instance_types),
        ("allowedInstanceTypes", &spec.allowed_instance_types),
    ] {
        for (index, pattern) in types.iter().enumerate() {
            if !crate::runtime::schema::matches(r"^[a-zA-Z0-9.*-]{1,30}$", pattern) {
                return Err(Error::invalid(
                    format!("{field}.{member}[{index}]"),
                    format!("{pattern:?} is not an instance type or a wildcard of one (e.g. m5.*)"),
                ));
            }
        }
    }
    if !spec.excluded_instance_types.is_empty() && !spec.allowed_instance_types.is_empty() {
        return Err(Error::invalid(
            format!("{field}.allowedInstanceTypes"),
            "set at most one of excludedInstanceTypes and allowedInstanceTypes",
        ));
    }
    if spec.spot_max_price_percentage_over_lowest_price.is_some()
        && spec
            .max_spot_price_as_percentage_of_optimal_on_demand_price
            .is_some()
    {
        return Err(Error::invalid(
            format!("{field}.maxSpotPriceAsPercentageOfOptimalOnDemandPrice"),
            "set at most one of the two Spot price protections",
        ));
    }
    let lists: [(&str, &Vec<String>, &[&str]); 6] = [
        (
            "cpuManufacturers",
            &spec.cpu_manufacturers,
            &["intel", "amd", "amazon-web-services", "apple"],
        ),
        (
            "instanceGenerations",
            &spec.instance_generations,
            &["current", "previous"],
        ),
        (
            "localStorageTypes",
            &spec.local_storage_types,
            &["hdd", "ssd"],
        ),
        (
            "acceleratorTypes",
            &spec.accelerator_types,
            &["gpu", "fpga", "inference"],
        ),
        (
            "acceleratorManufacturers",
            &spec.accelerator_manufacturers,
            &["nvidia", "amd", "amazon-web-services", "xilinx"],
        ),
        (
            "acceleratorNames",
            &spec.accelerator_names,
            &[
                "a100",
                "v100",
                "k80",
                "t4",
                "m60",
                "radeon-pro-v520",
                "vu9p",
            ],
        ),
    ];
    for (member, values, allowed) in lists {
        for (index, value) in values.iter().enumerate() {
            one_of(&format!("{field}.{member}[{index}]"), value, allowed)?;
        }
    }
    for (member, value) in [
        ("bareMetal", &spec.bare_metal),
        ("burstablePerformance", &spec.burstable_performance),
        ("localStorage", &spec.local_storage),
    ] {
        if let Some(value) = value {
            one_of(
                &format!("{field}.{member}"),
                value,
                &["included", "excluded", "required"],
            )?;
        }
    }
    Ok(())
}

/// Instance refresh preferences as Auto Scaling takes them.
fn check_refresh(refresh: &super::InstanceRefreshSpec) -> Result<()> {
    let field = "spec.instanceRefresh";
    let min = refresh.min_healthy_percentage;
    if !(0..=100).contains(&min) {
        return Err(Error::invalid(
            format!("{field}.minHealthyPercentage"),
            "must be 0–100",
        ));
    }
    if let Some(max) = refresh.max_healthy_percentage
        && !(100..=200).contains(&max)
    {
        return Err(Error::invalid(
            format!("{field}.maxHealthyPercentage"),
            "must be 100–200",
        ));
    }
    if let Some(max) = refresh.max_healthy_percentage
        && max - min > 100
    {
        return Err(Error::invalid(
            format!("{field}.maxHealthyPercentage"),
            format!("may be at most 100 above minHealthyPercentage ({min})"),
        ));
    }
    let checkpoints = &refresh.checkpoint_percentages;
    for (index, checkpoint) in checkpoints.iter().enumerate() {
        if !(1..=100).contains(checkpoint) {
            return Err(Error::invalid(
                format!("{field}.checkpointPercentages[{index}]"),
                "must be 1–100",
            ));
        }
        if index > 0 && checkpoints[index - 1] >= *checkpoint {
            return Err(Error::invalid(
                format!("{field}.checkpointPercentages[{index}]"),
                "checkpoints go up",
            ));
        }
    }
    if refresh.checkpoint_delay.is_some() && checkpoints.is_empty() {
        return Err(Error::invalid(
            format!("{field}.checkpointDelay"),
            "applies only with checkpointPercentages",
        ));
    }
    if !refresh.alarms.is_empty() && refresh.auto_rollback != Some(true) {
        return Err(Error::invalid(
            format!("{field}.alarms"),
            "fail the refresh by rolling it back: set autoRollback: true",
        ));
    }
    for (member, value, allowed) in [
        (
            "scaleInProtectedInstances",
            &refresh.scale_in_protected_instances,
            &["Refresh", "Ignore", "Wait"],
        ),
        (
            "standbyInstances",
            &refresh.standby_instances,
            &["Terminate", "Ignore", "Wait"],
        ),
    ] {
        if let Some(value) = value {
            one_of(&format!("{field}.{member}"), value, allowed)?;
        }
    }
    Ok(())
}

/// The template's network, CPU, placement, market and volume options, as EC2 and Auto
/// Scaling take them.
fn check_template_extras(template: &LaunchTemplateSpec, mixed: bool) -> Result<()> {
    let field = "spec.launchTemplate";
    let interfaces = &template.network_interfaces;
    if !interfaces.is_empty() && !template.security_group_ids.is_empty() {
        return Err(Error::invalid(
            format!("{field}.networkInterfaces"),
            "set security groups either in securityGroupIds or on the networkInterfaces, not both",
        ));
    }
    let mut indexes = BTreeSet::new();
    for (index, interface) in interfaces.iter().enumerate() {
        let at = format!("{field}.networkInterfaces[{index}]");
        if !indexes.insert(interface.device_index) {
            return Err(Error::invalid(
                format!("{at}.deviceIndex"),
                format!("device index {} is used twice", interface.device_index),
            ));
        }
        if interface.associate_public_ip_address == Some(true) && interface.device_index != 0 {
            return Err(Error::invalid(
                format!("{at}.associatePublicIpAddress"),
                "EC2 gives a public IP to the primary interface (deviceIndex 0) only",
            ));
        }
        for (i, group) in interface.security_group_ids.iter().enumerate() {
            if !crate::runtime::schema::matches(r"^sg-[0-9a-f]{1,17}$", group) {
                return Err(Error::invalid(
                    format!("{at}.securityGroupIds[{i}]"),
                    format!("{group:?} is not a security group ID"),
                ));
            }
        }
    }
    if let Some(credits) = &template.credit_specification {
        one_of(
            &format!("{field}.creditSpecification"),
            credits,
            &["standard", "unlimited"],
        )?;
    }
    if let Some(tenancy) = template.placement.as_ref().and_then(|p| p.tenancy.as_ref()) {
        one_of(
            &format!("{field}.placement.tenancy"),
            tenancy,
            &["default", "dedicated", "host"],
        )?;
    }
    if let Some(market) = &template.instance_market_options {
        if mixed {
            return Err(Error::invalid(
                format!("{field}.instanceMarketOptions"),
                "a mixed instances policy chooses Spot itself (instancesDistribution)",
            ));
        }
        one_of(
            &format!("{field}.instanceMarketOptions.marketType"),
            &market.market_type,
            &["spot"],
        )?;
    }
    if let Some(reservation) = &template.capacity_reservation_specification {
        one_of(
            &format!("{field}.capacityReservationSpecification.capacityReservationPreference"),
            &reservation.capacity_reservation_preference,
            &["open", "none", "capacity-reservations-only"],
        )?;
    }
    let metadata = &template.metadata_options;
    for (member, value) in [
        ("httpEndpoint", &metadata.http_endpoint),
        ("httpProtocolIpv6", &metadata.http_protocol_ipv6),
    ] {
        if let Some(value) = value {
            one_of(
                &format!("{field}.metadataOptions.{member}"),
                value,
                &["enabled", "disabled"],
            )?;
        }
    }
    for (index, mapping) in template.block_device_mappings.iter().enumerate() {
        if mapping.kms_key_id.is_some() && mapping.encrypted == Some(false) {
            return Err(Error::invalid(
                format!("{field}.blockDeviceMappings[{index}].kmsKeyId"),
                "encrypts the volume; leave encrypted unset or true",
            ));
        }
    }
    Ok(())
}

fn desired_notifications(spec: &super::NotificationsSpec) -> Result<DesiredNotifications> {
    let topic = match (&spec.topic_arn, &spec.create_topic) {
        (Some(arn), None) => {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" {
                return Err(Error::invalid(
                    "spec.notifications.topicArn",
                    format!("{arn:?} is not an SNS topic ARN"),
                ));
            }
            Topic::Existing(arn.clone())
        }
        (None, Some(create)) => {
            if create.name.is_empty()
                || create.name.len() > 256
                || !create
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(Error::invalid(
                    "spec.notifications.createTopic.name",
                    "must be 1–256 letters, digits, hyphens or underscores",
                ));
            }
            Topic::Create(create.name.clone())
        }
        _ => {
            return Err(Error::invalid(
                "spec.notifications",
                "set exactly one of topicArn and createTopic",
            ));
        }
    };
    if spec.types.is_empty() {
        return Err(Error::invalid(
            "spec.notifications.types",
            "at least one type is required",
        ));
    }
    let types = spec
        .types
        .iter()
        .enumerate()
        .map(|(index, name)| {
            notification_type(name).map(str::to_string).ok_or_else(|| {
                Error::invalid(
                    format!("spec.notifications.types[{index}]"),
                    format!(
                        "{name:?} is not one of Launch, Terminate, LaunchError, TerminateError"
                    ),
                )
            })
        })
        .collect::<Result<BTreeSet<_>>>()?;
    Ok(DesiredNotifications { topic, types })
}

/// A lifecycle hook, in Auto Scaling's terms: what the spec asks for and what AWS has
/// are compared in this one shape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hook {
    pub transition: String,
    pub target_arn: Option<String>,
    pub role_arn: Option<String>,
    pub heartbeat_timeout: i32,
    pub default_result: String,
}

/// Whether `live` has the value the spec `wanted`, where a value the spec leaves out is
/// Auto Scaling's to choose (it fills one in, and that is no difference).
pub fn given<T: PartialEq>(wanted: &Option<T>, live: &Option<T>) -> bool {
    wanted.is_none() || wanted == live
}

/// A mixed instances policy as Auto Scaling keeps it: the overrides (instance type,
/// weight) in order, and the distribution.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mixed {
    pub overrides: Vec<super::InstanceOverrideSpec>,
    pub distribution: super::InstancesDistributionSpec,
}

impl Mixed {
    /// Whether `live` is this policy: the overrides as given, and the distribution's
    /// fields the spec gives (Auto Scaling fills in the others).
    pub fn matches(&self, live: &Mixed) -> bool {
        let (w, l) = (&self.distribution, &live.distribution);
        self.overrides == live.overrides
            && given(
                &w.on_demand_allocation_strategy,
                &l.on_demand_allocation_strategy,
            )
            && given(&w.on_demand_base_capacity, &l.on_demand_base_capacity)
            && given(
                &w.on_demand_percentage_above_base_capacity,
                &l.on_demand_percentage_above_base_capacity,
            )
            && given(&w.spot_allocation_strategy, &l.spot_allocation_strategy)
            && given(&w.spot_instance_pools, &l.spot_instance_pools)
            && given(&w.spot_max_price, &l.spot_max_price)
    }
}

fn mixed(spec: &super::MixedInstancesPolicySpec) -> Result<Mixed> {
    const FIELD: &str = "spec.mixedInstancesPolicy";
    let overrides = &spec.launch_template.overrides;
    if overrides.is_empty() {
        return Err(Error::invalid(
            format!("{FIELD}.launchTemplate.overrides"),
            "name at least one instance type",
        ));
    }
    let by_attributes = overrides
        .iter()
        .filter(|o| o.instance_requirements.is_some())
        .count();
    if by_attributes != 0 && by_attributes != overrides.len() {
        return Err(Error::invalid(
            format!("{FIELD}.launchTemplate.overrides"),
            "choose instances by instanceType or by instanceRequirements, not both in one group",
        ));
    }
    let weighted = overrides
        .iter()
        .filter(|o| o.weighted_capacity.is_some())
        .count();
    let mut types = BTreeSet::new();
    for (index, o) in overrides.iter().enumerate() {
        let at = format!("{FIELD}.launchTemplate.overrides[{index}]");
        match (&o.instance_type, &o.instance_requirements) {
            (Some(instance_type), None) => {
                if instance_type.trim().is_empty() {
                    return Err(Error::invalid(format!("{at}.instanceType"), "is required"));
                }
                if !types.insert(instance_type.as_str()) {
                    return Err(Error::invalid(
                        format!("{at}.instanceType"),
                        format!("{instance_type:?} is named twice"),
                    ));
                }
            }
            (None, Some(requirements)) => {
                instance_requirements(&format!("{at}.instanceRequirements"), requirements)?
            }
            _ => {
                return Err(Error::invalid(
                    &at,
                    "an override has exactly one of instanceType and instanceRequirements",
                ));
            }
        }
        if let Some(weight) = &o.weighted_capacity
            && !weight.parse::<u16>().is_ok_and(|w| (1..=999).contains(&w))
        {
            return Err(Error::invalid(
                format!("{at}.weightedCapacity"),
                format!("{weight:?} is not 1–999"),
            ));
        }
        if let Some(reference) = &o.launch_template {
            template_reference(
                &format!("{at}.launchTemplate"),
                reference.name.is_some() == reference.id.is_some(),
                reference.version.as_deref().unwrap_or("$Default"),
            )?;
        }
    }
    if weighted != 0 && weighted != overrides.len() {
        return Err(Error::invalid(
            format!("{FIELD}.launchTemplate.overrides"),
            "give every override a weightedCapacity, or none",
        ));
    }
    let distribution = spec.instances_distribution.clone().unwrap_or_default();
    let at = format!("{FIELD}.instancesDistribution");
    if let Some(strategy) = &distribution.on_demand_allocation_strategy {
        one_of(
            &format!("{at}.onDemandAllocationStrategy"),
            strategy,
            &["prioritized", "lowest-price"],
        )?;
    }
    if let Some(strategy) = &distribution.spot_allocation_strategy {
        one_of(
            &format!("{at}.spotAllocationStrategy"),
            strategy,
            &[
                "lowest-price",
                "capacity-optimized",
                "capacity-optimized-prioritized",
                "price-capacity-optimized",
            ],
        )?;
    }
    if distribution.on_demand_base_capacity.is_some_and(|n| n < 0) {
        return Err(Error::invalid(
            format!("{at}.onDemandBaseCapacity"),
            "must be 0 or more",
        ));
    }
    if distribution
        .on_demand_percentage_above_base_capacity
        .is_some_and(|n| !(0..=100).contains(&n))
    {
        return Err(Error::invalid(
            format!("{at}.onDemandPercentageAboveBaseCapacity"),
            "must be 0–100",
        ));
    }
    if distribution
        .spot_instance_pools
        .is_some_and(|n| !(1..=20).contains(&n))
    {
        return Err(Error::invalid(
            format!("{at}.spotInstancePools"),
            "must be 1–20",
        ));
    }
    Ok(Mixed {
        // A template's version left out is `$Default`, as Auto Scaling reports it.
        overrides: overrides
            .iter()
            .cloned()
            .map(|mut o| {
                if let Some(template) = &mut o.launch_template {
                    template.version.get_or_insert_with(|| "$Default".into());
                }
                o
            })
            .collect(),
        distribution,
    })
}

/// Group settings that Auto Scaling gives a value when the spec has none: each is
/// compared (and set) only when the spec gives it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupSettings {
    pub capacity_rebalance: Option<bool>,
    pub default_instance_warmup: Option<i32>,
    pub max_instance_lifetime: Option<i32>,
    pub new_instances_protected_from_scale_in: Option<bool>,
    /// (min, max) healthy percentage.
    pub instance_maintenance_policy: Option<(i32, i32)>,
    pub deletion_protection: Option<String>,
    /// Processes kept suspended, when the spec says.
    pub suspended_processes: Option<BTreeSet<String>>,
    /// Metrics collected, when the spec says.
    pub metrics: Option<BTreeSet<String>>,
}

impl GroupSettings {
    /// The fields of `self` (the spec's) that `live` does not have, as the spec names them.
    pub fn differing(&self, live: &GroupSettings) -> Vec<&'static str> {
        [
            (
                "capacityRebalance",
                !given(&self.capacity_rebalance, &live.capacity_rebalance),
            ),
            (
                "defaultInstanceWarmup",
                !given(&self.default_instance_warmup, &live.default_instance_warmup),
            ),
            (
                "maxInstanceLifetime",
                !given(&self.max_instance_lifetime, &live.max_instance_lifetime),
            ),
            (
                "newInstancesProtectedFromScaleIn",
                !given(
                    &self.new_instances_protected_from_scale_in,
                    &live.new_instances_protected_from_scale_in,
                ),
            ),
            (
                "deletionProtection",
                !given(&self.deletion_protection, &live.deletion_protection),
            ),
            (
                "instanceMaintenancePolicy",
                !given(
                    &self.instance_maintenance_policy,
                    &live.instance_maintenance_policy,
                ),
            ),
        ]
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(field, _)| field)
        .collect()
    }
}

fn group_settings(spec: &super::ScalingGroupSpec) -> Result<GroupSettings> {
    if let Some(lifetime) = spec.max_instance_lifetime
        && lifetime != 0
        && !(86_400..=31_536_000).contains(&lifetime)
    {
        return Err(Error::invalid(
            "spec.maxInstanceLifetime",
            "0 (no limit) or 86400–31536000 seconds (one day to one year)",
        ));
    }
    if spec.default_instance_warmup.is_some_and(|w| w < 0) {
        return Err(Error::invalid(
            "spec.defaultInstanceWarmup",
            "must be 0 or more",
        ));
    }
    let policy = spec.instance_maintenance_policy.as_ref();
    if let Some(policy) = policy {
        if !(0..=100).contains(&policy.min_healthy_percentage) {
            return Err(Error::invalid(
                "spec.instanceMaintenancePolicy.minHealthyPercentage",
                "must be 0–100",
            ));
        }
        if !(100..=200).contains(&policy.max_healthy_percentage) {
            return Err(Error::invalid(
                "spec.instanceMaintenancePolicy.maxHealthyPercentage",
                "must be 100–200",
            ));
        }
    }
    const PROCESSES: &[&str] = &[
        "Launch",
        "Terminate",
        "AddToLoadBalancer",
        "AlarmNotification",
        "AZRebalance",
        "HealthCheck",
        "InstanceRefresh",
        "ReplaceUnhealthy",
        "ScheduledActions",
    ];
    for (index, process) in spec.suspended_processes.iter().flatten().enumerate() {
        one_of(
            &format!("spec.suspendedProcesses[{index}]"),
            process,
            PROCESSES,
        )?;
    }
    for (index, metric) in spec.metrics_collection.iter().flatten().enumerate() {
        let known = metric.starts_with("Group")
            && metric.len() <= 255
            && metric.chars().all(|c| c.is_ascii_alphanumeric());
        if !known {
            return Err(Error::invalid(
                format!("spec.metricsCollection[{index}]"),
                format!(
                    "{metric:?} is not an Auto Scaling group metric (e.g. GroupInServiceInstances)"
                ),
            ));
        }
    }
    Ok(GroupSettings {
        suspended_processes: spec
            .suspended_processes
            .as_ref()
            .map(|p| p.iter().cloned().collect()),
        metrics: spec
            .metrics_collection
            .as_ref()
            .map(|m| m.iter().cloned().collect()),
        deletion_protection: match &spec.deletion_protection {
            Some(protection) => {
                one_of(
                    "spec.deletionProtection",
                    protection,
                    &["none", "prevent-force-deletion", "prevent-all-deletion"],
                )?;
                Some(protection.clone())
            }
            None => None,
        },
        capacity_rebalance: spec.capacity_rebalance,
        default_instance_warmup: spec.default_instance_warmup,
        max_instance_lifetime: spec.max_instance_lifetime,
        new_instances_protected_from_scale_in: spec.new_instances_protected_from_scale_in,
        instance_maintenance_policy: policy
            .map(|p| (p.min_healthy_percentage, p.max_healthy_percentage)),
    })
}

/// A warm pool as Auto Scaling keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WarmPool {
    pub min_size: i32,
    /// `None`: the group's maximum size.
    pub max_group_prepared_capacity: Option<i32>,
    pub pool_state: String,
    pub reuse_on_scale_in: bool,
}

fn warm_pool(spec: &super::WarmPoolSpec) -> Result<WarmPool> {
    const FIELD: &str = "spec.warmPool";
    let pool_state = spec.pool_state.clone().unwrap_or_else(|| "Stopped".into());
    one_of(
        &format!("{FIELD}.poolState"),
        &pool_state,
        &["Stopped", "Running", "Hibernated"],
    )?;
    let min_size = spec.min_size.unwrap_or(0);
    if min_size < 0 {
        return Err(Error::invalid(
            format!("{FIELD}.minSize"),
            "must be 0 or more",
        ));
    }
    if spec.max_group_prepared_capacity.is_some_and(|n| n < 0) {
        return Err(Error::invalid(
            format!("{FIELD}.maxGroupPreparedCapacity"),
            "must be 0 or more (leave it out for the group's maximum size)",
        ));
    }
    Ok(WarmPool {
        min_size,
        max_group_prepared_capacity: spec.max_group_prepared_capacity,
        pool_state,
        reuse_on_scale_in: spec.reuse_on_scale_in,
    })
}

/// A scheduled action as Auto Scaling keeps it; times in seconds since the epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scheduled {
    pub recurrence: Option<String>,
    pub time_zone: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub min_size: Option<i32>,
    pub max_size: Option<i32>,
    pub desired_capacity: Option<i32>,
}

impl Scheduled {
    /// Whether `live` is this action. Auto Scaling fills in a start time (now) and a
    /// time zone (UTC) the spec may leave out: those are compared only when given.
    pub fn matches(&self, live: &Scheduled) -> bool {
        self.recurrence == live.recurrence
            && given(&self.time_zone, &live.time_zone)
            && given(&self.start_time, &live.start_time)
            && self.end_time == live.end_time
            && self.min_size == live.min_size
            && self.max_size == live.max_size
            && self.desired_capacity == live.desired_capacity
    }
}

fn scheduled_action(index: usize, spec: &super::ScheduledActionSpec) -> Result<Scheduled> {
    let field = format!("spec.scheduledActions[{index}]");
    let time = |key: &str, value: &Option<String>| -> Result<Option<i64>> {
        value
            .as_deref()
            .map(|text| {
                text.parse::<k8s_openapi::jiff::Timestamp>()
                    .map(|t| t.as_second())
                    .map_err(|_| {
                        Error::invalid(
                            format!("{field}.{key}"),
                            format!("{text:?} is not an RFC 3339 time (e.g. 2027-01-04T07:00:00Z)"),
                        )
                    })
            })
            .transpose()
    };
    let start_time = time("startTime", &spec.start_time)?;
    let end_time = time("endTime", &spec.end_time)?;
    if let Some(recurrence) = &spec.recurrence
        && recurrence.split_whitespace().count() != 5
    {
        return Err(Error::invalid(
            format!("{field}.recurrence"),
            format!(
                "{recurrence:?} is not a cron expression of five fields (minute hour day-of-month month day-of-week)"
            ),
        ));
    }
    if spec.recurrence.is_none() && start_time.is_none() {
        return Err(Error::invalid(
            format!("{field}.startTime"),
            "a one-off action (no recurrence) needs its start time",
        ));
    }
    if spec.recurrence.is_none() && end_time.is_some() {
        return Err(Error::invalid(
            format!("{field}.endTime"),
            "applies only to a recurring action",
        ));
    }
    if let (Some(start), Some(end)) = (start_time, end_time)
        && end <= start
    {
        return Err(Error::invalid(
            format!("{field}.endTime"),
            "must come after startTime",
        ));
    }
    if let Some(zone) = &spec.time_zone
        && !zone
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '-'))
    {
        return Err(Error::invalid(
            format!("{field}.timeZone"),
            format!("{zone:?} is not an IANA time zone name (e.g. Europe/Berlin)"),
        ));
    }
    let sizes = [
        ("minSize", spec.min_size),
        ("maxSize", spec.max_size),
        ("desiredCapacity", spec.desired_capacity),
    ];
    if sizes.iter().all(|(_, size)| size.is_none()) {
        return Err(Error::invalid(
            field,
            "sets none of minSize, maxSize and desiredCapacity",
        ));
    }
    if let Some((key, _)) = sizes.iter().find(|(_, size)| size.is_some_and(|n| n < 0)) {
        return Err(Error::invalid(
            format!("{field}.{key}"),
            "must be 0 or more",
        ));
    }
    if let (Some(min), Some(max)) = (spec.min_size, spec.max_size)
        && min > max
    {
        return Err(Error::invalid(
            format!("{field}.minSize"),
            "must not exceed maxSize",
        ));
    }
    Ok(Scheduled {
        recurrence: spec.recurrence.clone(),
        time_zone: spec.time_zone.clone(),
        start_time,
        end_time,
        min_size: spec.min_size,
        max_size: spec.max_size,
        desired_capacity: spec.desired_capacity,
    })
}

const HOOK_TARGET: &str = r"^arn:aws[a-z-]*:(sqs|sns):[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$";
const ROLE_ARN: &str = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\x21-\x7E]{1,512}$";

/// Auto Scaling's termination policy names or Lambda function ARNs, refused before the
/// template and group are created (AWS would refuse them only after).
fn termination_policies(policies: &[String]) -> Result<Vec<String>> {
    if policies.len() > 10 {
        return Err(Error::invalid(
            "spec.terminationPolicies",
            "at most 10 policies",
        ));
    }
    for (index, policy) in policies.iter().enumerate() {
        if !crate::runtime::schema::matches(super::TERMINATION_POLICY, policy) {
            let shown: String = policy.chars().take(64).collect();
            return Err(Error::invalid(
                format!("spec.terminationPolicies[{index}]"),
                format!(
                    "{shown:?} is neither one of Auto Scaling's termination policies nor a Lambda function ARN"
                ),
            ));
        }
    }
    Ok(policies.to_vec())
}

fn desired_hook(index: usize, spec: &super::LifecycleHookSpec) -> Result<Hook> {
    let field = format!("spec.lifecycleHooks[{index}]");
    let transition = lifecycle_transition(&spec.transition).ok_or_else(|| {
        Error::invalid(
            format!("{field}.transition"),
            format!("{:?} is not Launching or Terminating", spec.transition),
        )
    })?;
    let default_result = spec
        .default_result
        .clone()
        .unwrap_or_else(|| "ABANDON".into());
    one_of(
        &format!("{field}.defaultResult"),
        &default_result,
        &["CONTINUE", "ABANDON"],
    )?;
    let heartbeat = spec.heartbeat_timeout_seconds.unwrap_or(3600);
    if !(30..=7200).contains(&heartbeat) {
        return Err(Error::invalid(
            format!("{field}.heartbeatTimeoutSeconds"),
            "must be 30–7200",
        ));
    }
    for (member, value, pattern, what) in [
        (
            "targetArn",
            &spec.target_arn,
            HOOK_TARGET,
            "an SQS queue or SNS topic ARN",
        ),
        ("roleArn", &spec.role_arn, ROLE_ARN, "an IAM role ARN"),
    ] {
        if let Some(value) = value
            && !crate::runtime::schema::matches(pattern, value)
        {
            return Err(Error::invalid(
                format!("{field}.{member}"),
                format!("{value:?} is not {what}"),
            ));
        }
    }
    if spec.target_arn.is_some() != spec.role_arn.is_some() {
        return Err(Error::invalid(
            format!("{field}.roleArn"),
            "targetArn and roleArn go together: Auto Scaling assumes the role to publish to the target",
        ));
    }
    Ok(Hook {
        transition: transition.to_string(),
        target_arn: spec.target_arn.clone(),
        role_arn: spec.role_arn.clone(),
        heartbeat_timeout: heartbeat,
        default_result,
    })
}

/// What the namespace's [`Grant`] allows of the group: its name, the instance profile
/// its instances get, the roles its lifecycle hooks pass and the ECS cluster it joins
/// (the same rules as at admission).
pub fn check_grant(obj: &ScalingGroup, grant: &Grant) -> Result<()> {
    let spec = &obj.spec;
    let auto_scaling = &grant.grants.auto_scaling;
    grant.require_match(
        &auto_scaling.group_names,
        &obj.group_name(),
        "spec.name",
        "autoScaling.groupNames",
    )?;
    if let Some(profile) = spec
        .launch_template
        .as_ref()
        .and_then(|t| t.iam_instance_profile.as_deref())
    {
        grant.require_match(
            &auto_scaling.instance_profiles,
            profile,
            "spec.launchTemplate.iamInstanceProfile",
            "autoScaling.instanceProfiles",
        )?;
    }
    for (index, hook) in spec.lifecycle_hooks.iter().enumerate() {
        if let Some(role) = &hook.role_arn {
            grant.require_match(
                &auto_scaling.lifecycle_hook_role_arns,
                role,
                format!("spec.lifecycleHooks[{index}].roleArn"),
                "autoScaling.lifecycleHookRoleArns",
            )?;
        }
    }
    for (index, arn) in spec.target_group_arns.iter().enumerate() {
        grant.require_match(
            &auto_scaling.target_group_arns,
            arn,
            format!("spec.targetGroupArns[{index}]"),
            "autoScaling.targetGroupArns",
        )?;
    }
    if let Some(cluster) = &spec.ecs_cluster {
        grant.require_match(
            &grant.grants.ecs.clusters,
            cluster_name(cluster),
            "spec.ecsCluster",
            "ecs.clusters",
        )?;
    }
    Ok(())
}
