//! The plan: a pure function of the validated spec and the observation. No I/O, no
//! clock. A group in sync yields an empty plan.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::observe::{Observed, ObservedAlarm, ObservedHook, ObservedPolicy};
use super::{InstanceRefreshSpec, InstanceRefreshStatus, LaunchTemplateSpec, ScalingGroup};
use crate::common::{Claim, Owner};
use crate::runtime::PlannedChange;
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
    pub termination_policies: Vec<String>,
    pub target_group_arns: BTreeSet<String>,
    /// Key → (value, propagate at launch), with the ownership tags.
    pub tags: BTreeMap<String, (String, bool)>,
    pub instance_refresh: InstanceRefreshSpec,
    pub policies: Vec<DesiredPolicy>,
    pub notifications: Option<DesiredNotifications>,
    pub hooks: BTreeMap<String, ObservedHook>,
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
}

#[derive(Clone, Debug, PartialEq)]
pub enum PolicyKind {
    /// Executed by its alarm: simple or step scaling.
    Alarm {
        adjustment_type: String,
        adjustment: Adjustment,
        cooldown: Option<i32>,
        alarm: DesiredAlarm,
    },
    TargetTracking {
        predefined_metric: String,
        target_value: f64,
    },
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

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::invalid(field, message)
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{value:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

fn unique<'a>(field: &str, names: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = BTreeSet::new();
    for (index, name) in names.enumerate() {
        if !seen.insert(name) {
            return Err(invalid(
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
            return Err(invalid(
                "spec.name",
                format!(
                    "{name:?} is not a valid Auto Scaling group name (1–255 printable characters, no spaces)"
                ),
            ));
        }
        if spec.min_size < 0 || spec.max_size < 0 {
            return Err(invalid("spec.minSize", "sizes cannot be negative"));
        }
        if spec.min_size > spec.max_size {
            return Err(invalid(
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
            return Err(invalid(
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
                return Err(invalid(
                    "spec.availabilityZones",
                    "set either availabilityZones or subnetIds, not both",
                ));
            }
            (true, true) => {
                return Err(invalid(
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
                return Err(invalid(
                    format!("spec.tags[{index}].key"),
                    "keys under ecsfleet.dev/ are reserved",
                ));
            }
        }
        if !(0..=100).contains(&spec.instance_refresh.min_healthy_percentage) {
            return Err(invalid(
                "spec.instanceRefresh.minHealthyPercentage",
                "must be 0–100",
            ));
        }
        unique(
            "spec.scalingPolicies",
            spec.scaling_policies.iter().map(|p| p.name.as_str()),
        )?;
        unique(
            "spec.lifecycleHooks",
            spec.lifecycle_hooks.iter().map(|h| h.name.as_str()),
        )?;
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
            termination_policies: spec.termination_policies.clone(),
            target_group_arns: spec.target_group_arns.iter().cloned().collect(),
            tags,
            instance_refresh: spec.instance_refresh.clone(),
            policies,
            notifications,
            hooks,
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
                PolicyKind::TargetTracking { .. } => None,
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

fn template_source(obj: &ScalingGroup, name: &str) -> Result<TemplateSource> {
    let spec = &obj.spec;
    match (&spec.launch_template, &spec.launch_template_ref) {
        (Some(_), Some(_)) => Err(invalid(
            "spec.launchTemplate",
            "set either launchTemplate or launchTemplateRef, not both",
        )),
        (None, None) => Err(invalid(
            "spec.launchTemplate",
            "one of launchTemplate and launchTemplateRef is required",
        )),
        (None, Some(reference)) => {
            if reference.name.is_some() == reference.id.is_some() {
                return Err(invalid(
                    "spec.launchTemplateRef",
                    "set exactly one of name and id",
                ));
            }
            let version = reference.version.clone();
            if !(version == "$Latest"
                || version == "$Default"
                || (!version.is_empty() && version.chars().all(|c| c.is_ascii_digit())))
            {
                return Err(invalid(
                    "spec.launchTemplateRef.version",
                    format!("{version:?} is neither a version number, $Latest nor $Default"),
                ));
            }
            Ok(TemplateSource::Reference {
                id: reference.id.clone(),
                name: reference.name.clone(),
                version,
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
                return Err(invalid(
                    "spec.name",
                    format!(
                        "{name:?} cannot name the managed launch template (3–128 of letters, digits and ().-/_); choose another name or use launchTemplateRef"
                    ),
                ));
            }
            if template.image_id.trim().is_empty() {
                return Err(invalid(format!("{field}.imageId"), "is required"));
            }
            if template.instance_type.trim().is_empty() {
                return Err(invalid(format!("{field}.instanceType"), "is required"));
            }
            one_of(
                &format!("{field}.metadataOptions.httpTokens"),
                &template.metadata_options.http_tokens,
                &["required", "optional"],
            )?;
            if !(1..=64).contains(&template.metadata_options.http_put_response_hop_limit) {
                return Err(invalid(
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
                    return Err(invalid(
                        format!("{field}.blockDeviceMappings[{index}].deviceName"),
                        "is required",
                    ));
                }
            }
            if template.user_data.as_ref().is_some_and(|u| u.len() > 16384) {
                return Err(invalid(
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

fn desired_policy(
    index: usize,
    policy: &super::ScalingPolicySpec,
    group: &str,
) -> Result<DesiredPolicy> {
    let field = format!("spec.scalingPolicies[{index}]");
    if policy.name.is_empty() {
        return Err(invalid(format!("{field}.name"), "is required"));
    }
    // Its alarm is named `<group>-<policy>`; CloudWatch allows 255 characters.
    if group.len() + 1 + policy.name.len() > 255 {
        return Err(invalid(
            format!("{field}.name"),
            "makes the alarm name <group>-<policy> longer than the 255 characters CloudWatch allows",
        ));
    }
    let kind = match (&policy.alarm, &policy.target_tracking) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                &field,
                "has both alarm and targetTracking; a policy is either simple scaling with an alarm or target tracking",
            ));
        }
        (None, None) => {
            return Err(invalid(
                &field,
                "needs an alarm (simple scaling) or targetTracking",
            ));
        }
        (None, Some(tracking)) => {
            one_of(
                &format!("{field}.targetTracking.predefinedMetric"),
                &tracking.predefined_metric,
                PREDEFINED_METRICS,
            )?;
            if tracking.predefined_metric == "ALBRequestCountPerTarget" {
                return Err(invalid(
                    format!("{field}.targetTracking.predefinedMetric"),
                    "ALBRequestCountPerTarget needs a resource label, which ecsfleet does not support yet",
                ));
            }
            PolicyKind::TargetTracking {
                predefined_metric: tracking.predefined_metric.clone(),
                target_value: tracking.target_value,
            }
        }
        (Some(alarm), None) => {
            let adjustment_type = policy
                .adjustment_type
                .clone()
                .unwrap_or_else(|| "ChangeInCapacity".into());
            one_of(
                &format!("{field}.adjustmentType"),
                &adjustment_type,
                ADJUSTMENT_TYPES,
            )?;
            let adjustment = match (policy.scaling_adjustment, policy.steps.is_empty()) {
                (Some(n), true) => Adjustment::Simple(n),
                (None, false) => {
                    if policy.cooldown_seconds.is_some() {
                        return Err(invalid(
                            format!("{field}.cooldownSeconds"),
                            "applies to simple scaling only, not to steps",
                        ));
                    }
                    Adjustment::Steps(steps(&field, &policy.steps)?)
                }
                (Some(_), false) => {
                    return Err(invalid(
                        format!("{field}.scalingAdjustment"),
                        "set either scalingAdjustment (simple scaling) or steps (step scaling), not both",
                    ));
                }
                (None, true) => {
                    return Err(invalid(
                        format!("{field}.scalingAdjustment"),
                        "is required with an alarm (or steps, for step scaling)",
                    ));
                }
            };
            one_of(
                &format!("{field}.alarm.comparisonOperator"),
                &alarm.comparison_operator,
                COMPARISON_OPERATORS,
            )?;
            let statistic = alarm.statistic.clone().unwrap_or_else(|| "Average".into());
            one_of(&format!("{field}.alarm.statistic"), &statistic, STATISTICS)?;
            let period = alarm.period_seconds.unwrap_or(300);
            if !(period == 10 || period == 30 || (period >= 60 && period % 60 == 0)) {
                return Err(invalid(
                    format!("{field}.alarm.periodSeconds"),
                    "must be 10, 30 or a multiple of 60",
                ));
            }
            let evaluation_periods = alarm.evaluation_periods.unwrap_or(1);
            if evaluation_periods < 1 {
                return Err(invalid(
                    format!("{field}.alarm.evaluationPeriods"),
                    "must be at least 1",
                ));
            }
            if !alarm.threshold.is_finite() {
                return Err(invalid(
                    format!("{field}.alarm.threshold"),
                    "must be a number",
                ));
            }
            let dimensions = if alarm.dimensions.is_empty() {
                BTreeMap::from([("AutoScalingGroupName".to_string(), group.to_string())])
            } else {
                alarm.dimensions.clone()
            };
            PolicyKind::Alarm {
                adjustment_type,
                adjustment,
                cooldown: policy.cooldown_seconds,
                alarm: DesiredAlarm {
                    name: format!("{group}-{}", policy.name),
                    metric_name: alarm.metric_name.clone(),
                    namespace: alarm.namespace.clone().unwrap_or_else(|| "AWS/EC2".into()),
                    statistic,
                    period,
                    evaluation_periods,
                    threshold: alarm.threshold,
                    comparison_operator: alarm.comparison_operator.clone(),
                    dimensions,
                },
            }
        }
    };
    Ok(DesiredPolicy {
        name: policy.name.clone(),
        kind,
    })
}

/// Validates step intervals: each below its upper bound, and together meeting without
/// gaps or overlaps, with at most the first open below and the last open above.
fn steps(field: &str, specs: &[super::StepSpec]) -> Result<Vec<Step>> {
    for (index, step) in specs.iter().enumerate() {
        if let (Some(lower), Some(upper)) = (step.lower_bound, step.upper_bound)
            && lower >= upper
        {
            return Err(invalid(
                format!("{field}.steps[{index}]"),
                "lowerBound must be below upperBound",
            ));
        }
    }
    let steps = sorted_steps(
        specs
            .iter()
            .map(|s| Step {
                lower_bound: s.lower_bound,
                upper_bound: s.upper_bound,
                scaling_adjustment: s.scaling_adjustment,
            })
            .collect(),
    );
    let open_below = steps.iter().filter(|s| s.lower_bound.is_none()).count();
    let open_above = steps.iter().filter(|s| s.upper_bound.is_none()).count();
    let contiguous = steps
        .windows(2)
        .all(|pair| pair[0].upper_bound.is_some() && pair[0].upper_bound == pair[1].lower_bound);
    if open_below > 1 || open_above > 1 || !contiguous {
        return Err(invalid(
            format!("{field}.steps"),
            "step intervals must meet without gaps or overlaps (each upperBound is the next step's lowerBound), with at most one step open below and one open above",
        ));
    }
    Ok(steps)
}

fn desired_notifications(spec: &super::NotificationsSpec) -> Result<DesiredNotifications> {
    let topic = match (&spec.topic_arn, &spec.create_topic) {
        (Some(arn), None) => {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" {
                return Err(invalid(
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
                return Err(invalid(
                    "spec.notifications.createTopic.name",
                    "must be 1–256 letters, digits, hyphens or underscores",
                ));
            }
            Topic::Create(create.name.clone())
        }
        _ => {
            return Err(invalid(
                "spec.notifications",
                "set exactly one of topicArn and createTopic",
            ));
        }
    };
    if spec.types.is_empty() {
        return Err(invalid(
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
                invalid(
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

fn desired_hook(index: usize, spec: &super::LifecycleHookSpec) -> Result<ObservedHook> {
    let field = format!("spec.lifecycleHooks[{index}]");
    let transition = lifecycle_transition(&spec.transition).ok_or_else(|| {
        invalid(
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
        return Err(invalid(
            format!("{field}.heartbeatTimeoutSeconds"),
            "must be 30–7200",
        ));
    }
    if spec.target_arn.is_some() != spec.role_arn.is_some() {
        return Err(invalid(
            format!("{field}.roleArn"),
            "targetArn and roleArn go together: Auto Scaling assumes the role to publish to the target",
        ));
    }
    Ok(ObservedHook {
        transition: transition.to_string(),
        target_arn: spec.target_arn.clone(),
        role_arn: spec.role_arn.clone(),
        heartbeat_timeout: heartbeat,
        default_result,
    })
}

/// One change to make, in plan order.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    CreateLaunchTemplate,
    /// Tag an adopted template as this object's.
    TagLaunchTemplate,
    /// The template spec differs from the version in use.
    CreateLaunchTemplateVersion {
        drift: bool,
    },
    CreateGroup,
    /// Tag an adopted group (and apply the other tags).
    TagGroup {
        drift: bool,
    },
    /// `UpdateAutoScalingGroup` of the fields named.
    UpdateGroup {
        fields: Vec<&'static str>,
        drift: bool,
    },
    AttachTargetGroups {
        arns: Vec<String>,
        drift: bool,
    },
    DetachTargetGroups {
        arns: Vec<String>,
        drift: bool,
    },
    StartInstanceRefresh,
    PutScalingPolicy {
        name: String,
        drift: bool,
    },
    PutMetricAlarm {
        policy: String,
        alarm: String,
        drift: bool,
    },
    DeleteAlarms {
        names: Vec<String>,
        drift: bool,
    },
    DeletePolicy {
        name: String,
        drift: bool,
    },
    CreateTopic {
        name: String,
    },
    PutNotificationConfiguration {
        drift: bool,
    },
    DeleteNotificationConfiguration {
        topic_arn: String,
        drift: bool,
    },
    PutLifecycleHook {
        name: String,
        drift: bool,
    },
    DeleteLifecycleHook {
        name: String,
        drift: bool,
    },
}

impl Change {
    pub fn is_drift_repair(&self) -> bool {
        match self {
            Change::CreateLaunchTemplateVersion { drift }
            | Change::TagGroup { drift }
            | Change::UpdateGroup { drift, .. }
            | Change::AttachTargetGroups { drift, .. }
            | Change::DetachTargetGroups { drift, .. }
            | Change::PutScalingPolicy { drift, .. }
            | Change::PutMetricAlarm { drift, .. }
            | Change::DeleteAlarms { drift, .. }
            | Change::DeletePolicy { drift, .. }
            | Change::PutNotificationConfiguration { drift }
            | Change::DeleteNotificationConfiguration { drift, .. }
            | Change::PutLifecycleHook { drift, .. }
            | Change::DeleteLifecycleHook { drift, .. } => *drift,
            Change::CreateLaunchTemplate
            | Change::TagLaunchTemplate
            | Change::CreateGroup
            | Change::StartInstanceRefresh
            | Change::CreateTopic { .. } => false,
        }
    }

    /// The change as `plan` prints it.
    pub fn describe(&self) -> PlannedChange {
        let (action, target, detail) = match self {
            Change::CreateLaunchTemplate => (
                "CreateLaunchTemplate",
                "launch-template".to_string(),
                "create the managed launch template".to_string(),
            ),
            Change::TagLaunchTemplate => (
                "CreateTags",
                "launch-template".to_string(),
                "tag as managed by this object".to_string(),
            ),
            Change::CreateLaunchTemplateVersion { .. } => (
                "CreateLaunchTemplateVersion",
                "launch-template".to_string(),
                "the template spec differs from the version in use; new version".to_string(),
            ),
            Change::CreateGroup => (
                "CreateAutoScalingGroup",
                "group".to_string(),
                "create the group".to_string(),
            ),
            Change::TagGroup { .. } => (
                "CreateOrUpdateTags",
                "group".to_string(),
                "tags".to_string(),
            ),
            Change::UpdateGroup { fields, .. } => (
                "UpdateAutoScalingGroup",
                "group".to_string(),
                fields.join(", "),
            ),
            Change::AttachTargetGroups { arns, .. } => (
                "AttachLoadBalancerTargetGroups",
                "group".to_string(),
                arns.join(", "),
            ),
            Change::DetachTargetGroups { arns, .. } => (
                "DetachLoadBalancerTargetGroups",
                "group".to_string(),
                arns.join(", "),
            ),
            Change::StartInstanceRefresh => (
                "StartInstanceRefresh",
                "group".to_string(),
                "roll the new template version onto running instances".to_string(),
            ),
            Change::PutScalingPolicy { name, .. } => (
                "PutScalingPolicy",
                format!("policy/{name}"),
                "create or update the policy".to_string(),
            ),
            Change::PutMetricAlarm { policy, alarm, .. } => (
                "PutMetricAlarm",
                format!("alarm/{alarm}"),
                format!("alarm executing policy {policy}"),
            ),
            Change::DeleteAlarms { names, .. } => {
                ("DeleteAlarms", "alarms".to_string(), names.join(", "))
            }
            Change::DeletePolicy { name, .. } => (
                "DeletePolicy",
                format!("policy/{name}"),
                "not in the spec".to_string(),
            ),
            Change::CreateTopic { name } => (
                "CreateTopic",
                format!("topic/{name}"),
                "create the notification topic".to_string(),
            ),
            Change::PutNotificationConfiguration { .. } => (
                "PutNotificationConfiguration",
                "notifications".to_string(),
                "notification types".to_string(),
            ),
            Change::DeleteNotificationConfiguration { topic_arn, .. } => (
                "DeleteNotificationConfiguration",
                "notifications".to_string(),
                topic_arn.clone(),
            ),
            Change::PutLifecycleHook { name, .. } => (
                "PutLifecycleHook",
                format!("hook/{name}"),
                "create or update the hook".to_string(),
            ),
            Change::DeleteLifecycleHook { name, .. } => (
                "DeleteLifecycleHook",
                format!("hook/{name}"),
                "not in the spec".to_string(),
            ),
        };
        PlannedChange {
            action: action.to_string(),
            target,
            detail: if self.is_drift_repair() {
                format!("{detail} (repairs drift)")
            } else {
                detail
            },
        }
    }
}

/// The launch template version (number as text) the group should launch from, if known
/// before applying: `None` when a new version is to be made.
pub fn wanted_template_version(desired: &Desired, observed: &Observed) -> Option<String> {
    match &desired.template {
        TemplateSource::Reference { version, .. } => Some(version.clone()),
        TemplateSource::Managed(template) => observed
            .template
            .as_ref()?
            .matching_version(&template.description)
            .map(|v| v.to_string()),
    }
}

/// The changes that bring AWS to `desired`. Refuses, before proposing anything, a group
/// or template that is not this object's (unless `adoptExisting`) or that is another's.
pub fn plan(desired: &Desired, observed: &Observed) -> Result<Vec<Change>> {
    let drift = desired.spec_unchanged;
    let mut changes = Vec::new();
    let group_claim = match &observed.group {
        Some(group) => {
            if group.deleting {
                return Err(Error::NotReady(format!(
                    "Auto Scaling group {} is being deleted",
                    desired.name
                )));
            }
            Some(
                desired.owner.claim(
                    &format!("Auto Scaling group {}", desired.name),
                    &group
                        .tags
                        .iter()
                        .map(|(k, (v, _))| (k.clone(), v.clone()))
                        .collect(),
                    desired.adopt_existing,
                )?,
            )
        }
        None => None,
    };

    // The launch template.
    let mut template_version_changes = false;
    if let TemplateSource::Managed(template) = &desired.template {
        match &observed.template {
            None => {
                changes.push(Change::CreateLaunchTemplate);
                template_version_changes = true;
            }
            Some(live) => {
                let claim = desired.owner.claim(
                    &format!("launch template {}", template.name),
                    &live.tags,
                    desired.adopt_existing,
                )?;
                if claim == Claim::Adopt {
                    changes.push(Change::TagLaunchTemplate);
                }
                if live.matching_version(&template.description).is_none() {
                    changes.push(Change::CreateLaunchTemplateVersion { drift });
                    template_version_changes = true;
                }
            }
        }
    }

    match &observed.group {
        None => changes.push(Change::CreateGroup),
        Some(group) => {
            let adopting = group_claim == Some(Claim::Adopt);
            let tags_differ = desired
                .tags
                .iter()
                .any(|(key, wanted)| group.tags.get(key) != Some(wanted));
            // The remembered capacity tag changes with the spec; that is no drift.
            let capacity_changed = desired.desired_capacity.is_some_and(|d| {
                group
                    .tags
                    .get(DESIRED_CAPACITY_TAG)
                    .map(|(v, _)| v.as_str())
                    != Some(d.to_string().as_str())
            });
            if adopting || tags_differ {
                changes.push(Change::TagGroup {
                    drift: drift && !adopting && !capacity_changed,
                });
            }
            let mut fields = Vec::new();
            if group.min_size != desired.min_size {
                fields.push("minSize");
            }
            if group.max_size != desired.max_size {
                fields.push("maxSize");
            }
            if capacity_changed {
                fields.push("desiredCapacity");
            }
            let launch_template_differs = match &desired.template {
                TemplateSource::Managed(_) => {
                    // (template id, version) the group uses, and the one it should.
                    let live = group
                        .template
                        .as_ref()
                        .map(|t| (t.id.clone(), t.version.clone()));
                    let wanted = observed
                        .template
                        .as_ref()
                        .map(|t| t.id.clone())
                        .zip(wanted_template_version(desired, observed));
                    template_version_changes || live != wanted
                }
                TemplateSource::Reference { id, name, version } => {
                    group.template.as_ref().is_none_or(|live| {
                        id.as_ref().is_some_and(|id| *id != live.id)
                            || name.as_ref().is_some_and(|name| *name != live.name)
                            || live.version != *version
                    })
                }
            };
            if launch_template_differs {
                fields.push("launchTemplate");
            }
            if desired.subnet_ids.is_empty() {
                if group.availability_zones != desired.availability_zones {
                    fields.push("availabilityZones");
                }
            } else if group.subnet_ids != desired.subnet_ids {
                fields.push("subnetIds");
            }
            if group.health_check_type != desired.health_check_type {
                fields.push("healthCheck.type");
            }
            if desired
                .health_check_grace_period
                .is_some_and(|g| Some(g) != group.health_check_grace_period)
            {
                fields.push("healthCheck.gracePeriodSeconds");
            }
            if desired
                .default_cooldown
                .is_some_and(|c| Some(c) != group.default_cooldown)
            {
                fields.push("defaultCooldownSeconds");
            }
            if !desired.termination_policies.is_empty()
                && group.termination_policies != desired.termination_policies
            {
                fields.push("terminationPolicies");
            }
            if !fields.is_empty() {
                // Following a spec change (capacity, a new template version) is no drift.
                let follows_spec = capacity_changed || template_version_changes;
                changes.push(Change::UpdateGroup {
                    fields,
                    drift: drift && !follows_spec,
                });
            }
            let attach: Vec<String> = desired
                .target_group_arns
                .difference(&group.target_group_arns)
                .cloned()
                .collect();
            if !attach.is_empty() {
                changes.push(Change::AttachTargetGroups {
                    arns: attach,
                    drift,
                });
            }
            let detach: Vec<String> = group
                .target_group_arns
                .difference(&desired.target_group_arns)
                .cloned()
                .collect();
            if !detach.is_empty() {
                changes.push(Change::DetachTargetGroups {
                    arns: detach,
                    drift,
                });
            }
            if needs_instance_refresh(desired, observed, template_version_changes) {
                changes.push(Change::StartInstanceRefresh);
            }
        }
    }

    // With the spec unchanged, anything missing or different on an existing group was
    // changed behind our back.
    let drift = drift && observed.group.is_some();
    plan_policies(desired, observed, drift, &mut changes);
    plan_notifications(desired, observed, drift, &mut changes);
    plan_hooks(desired, observed, drift, &mut changes);
    Ok(changes)
}

/// One instance refresh at a time, started when the group gets a new version of the
/// managed template (or of a numbered referenced one) or still runs instances of an
/// older version, unless a refresh for that version already ran (a failed one is not
/// retried in a loop: change the template or start one by hand).
fn needs_instance_refresh(desired: &Desired, observed: &Observed, version_changes: bool) -> bool {
    if !desired.instance_refresh.on_template_change {
        return false;
    }
    let Some(group) = &observed.group else {
        return false;
    };
    if group.instances.is_empty() {
        return false;
    }
    if observed
        .refresh
        .as_ref()
        .is_some_and(|r| is_active_refresh(&r.status))
    {
        return false;
    }
    if version_changes {
        return true;
    }
    let Some(wanted) = wanted_template_version(desired, observed)
        .filter(|v| v.chars().all(|c| c.is_ascii_digit()))
    else {
        return false;
    };
    if group.template.as_ref().map(|t| &t.version) != Some(&wanted) {
        // The group is being pointed at it now.
        return observed
            .refresh
            .as_ref()
            .and_then(|r| r.launch_template_version.as_ref())
            != Some(&wanted);
    }
    let outdated = group
        .instances
        .iter()
        .any(|i| i.template_version.as_ref().is_some_and(|v| *v != wanted));
    outdated
        && observed
            .refresh
            .as_ref()
            .and_then(|r| r.launch_template_version.as_ref())
            != Some(&wanted)
}

fn policy_matches(wanted: &DesiredPolicy, live: &ObservedPolicy) -> bool {
    match &wanted.kind {
        PolicyKind::Alarm {
            adjustment_type,
            adjustment,
            cooldown,
            ..
        } => {
            live.adjustment_type.as_deref() == Some(adjustment_type.as_str())
                && match adjustment {
                    Adjustment::Simple(n) => {
                        live.policy_type == "SimpleScaling"
                            && live.scaling_adjustment == Some(*n)
                            && cooldown.is_none_or(|c| live.cooldown == Some(c))
                    }
                    Adjustment::Steps(steps) => {
                        live.policy_type == "StepScaling" && live.steps == *steps
                    }
                }
        }
        PolicyKind::TargetTracking {
            predefined_metric,
            target_value,
        } => {
            live.policy_type == "TargetTrackingScaling"
                && live.predefined_metric.as_deref() == Some(predefined_metric.as_str())
                && live.target_value == Some(*target_value)
        }
    }
}

fn alarm_matches(wanted: &DesiredAlarm, live: &ObservedAlarm, policy_arn: &str) -> bool {
    live.metric_name == wanted.metric_name
        && live.namespace == wanted.namespace
        && live.statistic == wanted.statistic
        && live.period == wanted.period
        && live.evaluation_periods == wanted.evaluation_periods
        && live.threshold == wanted.threshold
        && live.comparison_operator == wanted.comparison_operator
        && live.dimensions == wanted.dimensions
        && live.actions == [policy_arn.to_string()]
}

fn plan_policies(desired: &Desired, observed: &Observed, drift: bool, changes: &mut Vec<Change>) {
    for policy in &desired.policies {
        let live = observed.policies.get(&policy.name);
        let policy_put = match live {
            None => true,
            Some(live) => !policy_matches(policy, live),
        };
        if policy_put {
            changes.push(Change::PutScalingPolicy {
                name: policy.name.clone(),
                drift,
            });
        }
        if let PolicyKind::Alarm { alarm, .. } = &policy.kind {
            let live_alarm = observed.alarms.get(&alarm.name);
            let matches = match (live, live_alarm) {
                (Some(policy), Some(live_alarm)) => alarm_matches(alarm, live_alarm, &policy.arn),
                _ => false,
            };
            if !matches {
                changes.push(Change::PutMetricAlarm {
                    policy: policy.name.clone(),
                    alarm: alarm.name.clone(),
                    drift,
                });
            }
        }
    }
    // Alarms named after this group that execute one of its policies, but are not in the
    // spec (their policy was removed): deleted with the policy.
    let wanted_alarms = desired.alarm_names();
    let group_policy_marker = format!(":autoScalingGroupName/{}:", desired.name);
    let stale_alarms: Vec<String> = observed
        .alarms
        .iter()
        .filter(|(name, alarm)| {
            !wanted_alarms.contains(*name)
                && alarm
                    .actions
                    .iter()
                    .any(|action| action.contains(&group_policy_marker))
        })
        .map(|(name, _)| name.clone())
        .collect();
    if !stale_alarms.is_empty() {
        changes.push(Change::DeleteAlarms {
            names: stale_alarms,
            drift,
        });
    }
    for name in observed.policies.keys() {
        if !desired.policies.iter().any(|p| p.name == *name) {
            changes.push(Change::DeletePolicy {
                name: name.clone(),
                drift,
            });
        }
    }
}

fn plan_notifications(
    desired: &Desired,
    observed: &Observed,
    drift: bool,
    changes: &mut Vec<Change>,
) {
    let wanted_topic = observed.topic_arn.as_ref();
    if let Some(wanted) = &desired.notifications {
        if let Topic::Create(name) = &wanted.topic
            && !observed.topic_exists
        {
            changes.push(Change::CreateTopic { name: name.clone() });
        }
        let live = wanted_topic.and_then(|topic| observed.notifications.get(topic));
        if live != Some(&wanted.types) {
            changes.push(Change::PutNotificationConfiguration { drift });
        }
    }
    for topic in observed.notifications.keys() {
        if desired.notifications.is_none() || Some(topic) != wanted_topic {
            changes.push(Change::DeleteNotificationConfiguration {
                topic_arn: topic.clone(),
                drift,
            });
        }
    }
}

fn plan_hooks(desired: &Desired, observed: &Observed, drift: bool, changes: &mut Vec<Change>) {
    for (name, hook) in &desired.hooks {
        let live = observed.hooks.get(name);
        if live != Some(hook) {
            changes.push(Change::PutLifecycleHook {
                name: name.clone(),
                drift,
            });
        }
    }
    for name in observed.hooks.keys() {
        if !desired.hooks.contains_key(name) {
            changes.push(Change::DeleteLifecycleHook {
                name: name.clone(),
                drift,
            });
        }
    }
}

#[cfg(test)]
mod tests;
