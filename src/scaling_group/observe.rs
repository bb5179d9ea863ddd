//! Observation of the group and everything wired to it. A group in sync costs seven
//! reads (group, template, template versions, policies, alarms, notifications, hooks),
//! plus one for a created topic; instance refreshes are read only while one matters.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_autoscaling::types::AutoScalingGroup;

use super::InstanceRefreshStatus;
use super::desired::{
    AlarmOptions, Desired, GroupSettings, Hook, Mixed, PolicyExtras, Scheduled, Step,
    TemplateSource, Topic, TrackedMetric, WarmPool, sorted_steps,
};
use crate::Result;
use crate::aws::{AccountClients, aws_error, error_code};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    pub template: Option<ObservedTemplate>,
    pub group: Option<ObservedGroup>,
    pub policies: BTreeMap<String, ObservedPolicy>,
    pub alarms: BTreeMap<String, ObservedAlarm>,
    /// Topic ARN → notification types.
    pub notifications: BTreeMap<String, BTreeSet<String>>,
    /// The topic the spec's notifications go to (for `createTopic`, the ARN it has or
    /// will have).
    pub topic_arn: Option<String>,
    pub topic_exists: bool,
    pub hooks: BTreeMap<String, Hook>,
    /// The warm pool and the instances in it, when it was read (the spec has one, or
    /// had); `Some((None, 0))`: none (or one being deleted).
    pub warm_pool: Option<(Option<WarmPool>, i32)>,
    /// Scheduled actions by name, when they were read (the spec has some, or had).
    pub scheduled: Option<BTreeMap<String, Scheduled>>,
    /// The newest instance refresh, when it was read.
    pub refresh: Option<InstanceRefreshStatus>,
    /// How many of the group's running or launching instances are Spot, when it was
    /// read (a mixed group, or a template that asks for Spot).
    pub spot_instances: Option<i32>,
}

/// The managed launch template.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedTemplate {
    pub id: String,
    pub latest_version: i64,
    pub tags: BTreeMap<String, String>,
    /// Version number → description, of the versions read (the group's and the latest).
    pub versions: BTreeMap<i64, String>,
    /// The version the group launches from, when it uses this template.
    pub group_version: Option<i64>,
}

impl ObservedTemplate {
    /// The version whose description carries `description` (the spec's digest): the
    /// group's own if it matches, else the latest if that does.
    pub fn matching_version(&self, description: &str) -> Option<i64> {
        let matches = |v: &i64| self.versions.get(v).is_some_and(|d| d == description);
        self.group_version
            .filter(matches)
            .or(Some(self.latest_version).filter(matches))
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupTemplate {
    pub id: String,
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedInstance {
    pub id: String,
    pub lifecycle_state: String,
    pub template_version: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedGroup {
    pub arn: Option<String>,
    pub min_size: i32,
    pub max_size: i32,
    pub desired_capacity: i32,
    pub template: Option<GroupTemplate>,
    pub availability_zones: BTreeSet<String>,
    pub subnet_ids: BTreeSet<String>,
    pub health_check_type: String,
    pub health_check_grace_period: Option<i32>,
    pub default_cooldown: Option<i32>,
    pub termination_policies: Vec<String>,
    pub settings: GroupSettings,
    pub mixed: Option<Mixed>,
    pub target_group_arns: BTreeSet<String>,
    pub tags: BTreeMap<String, (String, bool)>,
    pub instances: Vec<ObservedInstance>,
    /// AWS is deleting the group.
    pub deleting: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedPolicy {
    pub arn: String,
    pub policy_type: String,
    pub adjustment_type: Option<String>,
    pub scaling_adjustment: Option<i32>,
    /// Step adjustments, sorted as the plan sorts them.
    pub steps: Vec<Step>,
    pub cooldown: Option<i32>,
    pub tracked: Option<TrackedMetric>,
    pub predictive: Option<crate::scaling_group::PredictiveScalingSpec>,
    pub target_value: Option<f64>,
    pub extras: PolicyExtras,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedAlarm {
    pub metric_name: String,
    pub namespace: String,
    pub statistic: String,
    pub period: i32,
    pub evaluation_periods: i32,
    pub threshold: f64,
    pub comparison_operator: String,
    pub dimensions: BTreeMap<String, String>,
    pub actions: Vec<String>,
    /// The options, `alarm_actions` without the policy's ARN.
    pub options: AlarmOptions,
    pub arn: String,
    /// Read only for an alarm the spec names that does not execute one of this group's
    /// policies: it may be someone else's (an administrator's paging alarm of the same
    /// name), so its owner is checked before anything writes it.
    pub tags: Option<BTreeMap<String, String>>,
}

/// Whether `alarm` executes a policy of the group `group` (as every alarm ecsfleet
/// writes for it does).
pub fn executes_a_policy_of(alarm: &ObservedAlarm, group: &str) -> bool {
    let marker = format!(":autoScalingGroupName/{group}:");
    alarm.actions.iter().any(|action| action.contains(&marker))
}

impl Observed {
    /// Instance IDs and lifecycle states, to notice when the group's instances change.
    pub fn instance_fingerprint(&self) -> Vec<(String, String)> {
        let mut instances: Vec<(String, String)> = self
            .group
            .iter()
            .flat_map(|g| &g.instances)
            .map(|i| (i.id.clone(), i.lifecycle_state.clone()))
            .collect();
        instances.sort();
        instances
    }
}

fn sorted(values: &[String]) -> Vec<String> {
    strings(values).into_iter().collect()
}

fn strings(values: &[String]) -> BTreeSet<String> {
    values.iter().filter(|v| !v.is_empty()).cloned().collect()
}

pub async fn observe(desired: &Desired, clients: &AccountClients) -> Result<Observed> {
    let group = describe_group(clients, &desired.name).await?;
    let mut observed = Observed {
        group,
        ..Observed::default()
    };
    if let TemplateSource::Managed(template) = &desired.template {
        observed.template = describe_template(clients, &template.name, &observed).await?;
    }
    if observed.group.is_some() {
        observed.policies = describe_policies(clients, &desired.name).await?;
        observed.notifications = describe_notifications(clients, &desired.name).await?;
        observed.hooks = describe_hooks(clients, &desired.name).await?;
        if desired.warm_pool.is_some() || desired.had_warm_pool {
            observed.warm_pool = Some(describe_warm_pool(clients, &desired.name).await?);
        }
        if !desired.scheduled.is_empty() || desired.had_scheduled {
            observed.scheduled = Some(describe_scheduled(clients, &desired.name).await?);
        }
        if wants_refresh_state(desired, &observed) {
            observed.refresh = newest_refresh(clients, &desired.name).await?;
        }
        if desired.may_run_spot()
            && observed
                .group
                .as_ref()
                .is_some_and(|g| !g.instances.is_empty())
        {
            observed.spot_instances = Some(count_spot(clients, &desired.name).await?);
        }
    }
    observed.alarms = describe_alarms(clients, &desired.alarm_prefix()).await?;
    for name in desired.alarm_names() {
        if let Some(alarm) = observed.alarms.get_mut(&name)
            && !executes_a_policy_of(alarm, &desired.name)
        {
            alarm.tags = Some(alarm_tags(clients, &alarm.arn).await?);
        }
    }
    if let Some(notifications) = &desired.notifications {
        match &notifications.topic {
            Topic::Existing(arn) => {
                observed.topic_arn = Some(arn.clone());
                observed.topic_exists = true;
            }
            Topic::Create(name) => {
                let arn = topic_arn(clients, &observed, name).await?;
                observed.topic_exists = topic_exists(clients, &arn).await?;
                observed.topic_arn = Some(arn);
            }
        }
    }
    Ok(observed)
}

/// The group's running or launching Spot instances, from EC2 (Auto Scaling does not say
/// which of its instances are Spot): one read, paged only past 1000 instances.
async fn count_spot(clients: &AccountClients, group: &str) -> Result<i32> {
    use aws_sdk_ec2::types::{Filter, InstanceLifecycleType};
    let mut spot = 0;
    let mut token = None;
    loop {
        let page = clients
            .ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("tag:aws:autoscaling:groupName")
                    .values(group)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .build(),
            )
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("EC2", "DescribeInstances", e))?;
        spot += page
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.instance_lifecycle() == Some(&InstanceLifecycleType::Spot))
            .count() as i32;
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(spot);
        }
    }
}

/// The ARN a topic named `name` has in this account and region.
pub async fn topic_arn(
    clients: &AccountClients,
    observed: &Observed,
    name: &str,
) -> Result<String> {
    // The group's ARN names partition and account; without a group, ask STS (cached).
    let from_group = observed
        .group
        .as_ref()
        .and_then(|g| g.arn.as_ref())
        .and_then(|arn| {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            (parts.len() == 6).then(|| (parts[1].to_string(), parts[4].to_string()))
        });
    let (partition, account) = match from_group {
        Some(found) => found,
        None => ("aws".to_string(), clients.account_id().await?),
    };
    Ok(format!(
        "arn:{partition}:sns:{}:{account}:{name}",
        clients.region
    ))
}

/// Whether the refresh state matters now: the group runs, or is about to run, instances
/// of another version than the wanted one, or the last status showed a refresh running.
fn wants_refresh_state(desired: &Desired, observed: &Observed) -> bool {
    let Some(group) = &observed.group else {
        return false;
    };
    if !desired.instance_refresh.on_template_change || group.instances.is_empty() {
        return false;
    }
    if desired.refresh_in_progress() {
        return true;
    }
    let Some(wanted) = wanted_template_version(desired, observed) else {
        // A new version is about to be made.
        return true;
    };
    group.template.as_ref().map(|t| &t.version) != Some(&wanted)
        || group
            .instances
            .iter()
            .any(|i| i.template_version.as_ref().is_some_and(|v| *v != wanted))
}

async fn describe_group(clients: &AccountClients, name: &str) -> Result<Option<ObservedGroup>> {
    let answer = clients
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|e| aws_error("AutoScaling", "DescribeAutoScalingGroups", e))?;
    Ok(answer
        .auto_scaling_groups()
        .iter()
        .find(|g| g.auto_scaling_group_name() == Some(name))
        .map(observed_group))
}

pub fn observed_group(group: &AutoScalingGroup) -> ObservedGroup {
    ObservedGroup {
        arn: group.auto_scaling_group_arn().map(str::to_string),
        min_size: group.min_size().unwrap_or_default(),
        max_size: group.max_size().unwrap_or_default(),
        desired_capacity: group.desired_capacity().unwrap_or_default(),
        template: group
            .launch_template()
            .or_else(|| {
                group
                    .mixed_instances_policy()
                    .and_then(|m| m.launch_template())
                    .and_then(|t| t.launch_template_specification())
            })
            .map(|t| GroupTemplate {
                id: t.launch_template_id().unwrap_or_default().to_string(),
                name: t.launch_template_name().unwrap_or_default().to_string(),
                version: t.version().unwrap_or("$Default").to_string(),
            }),
        mixed: group.mixed_instances_policy().map(|policy| {
            let distribution = policy.instances_distribution();
            Mixed {
                overrides: policy
                    .launch_template()
                    .map(|t| t.overrides())
                    .unwrap_or_default()
                    .iter()
                    .map(super::overrides::from_sdk)
                    .collect(),
                distribution: crate::scaling_group::InstancesDistributionSpec {
                    on_demand_allocation_strategy: distribution
                        .and_then(|d| d.on_demand_allocation_strategy())
                        .map(str::to_string),
                    on_demand_base_capacity: distribution.and_then(|d| d.on_demand_base_capacity()),
                    on_demand_percentage_above_base_capacity: distribution
                        .and_then(|d| d.on_demand_percentage_above_base_capacity()),
                    spot_allocation_strategy: distribution
                        .and_then(|d| d.spot_allocation_strategy())
                        .map(str::to_string),
                    spot_instance_pools: distribution.and_then(|d| d.spot_instance_pools()),
                    spot_max_price: distribution
                        .and_then(|d| d.spot_max_price())
                        .map(str::to_string),
                },
            }
        }),
        availability_zones: strings(group.availability_zones()),
        subnet_ids: group
            .vpc_zone_identifier()
            .map(|ids| {
                ids.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        health_check_type: group.health_check_type().unwrap_or("EC2").to_string(),
        health_check_grace_period: group.health_check_grace_period(),
        default_cooldown: group.default_cooldown(),
        settings: GroupSettings {
            suspended_processes: Some(
                group
                    .suspended_processes()
                    .iter()
                    .filter_map(|p| p.process_name().map(str::to_string))
                    .collect(),
            ),
            metrics: Some(
                group
                    .enabled_metrics()
                    .iter()
                    .filter_map(|m| m.metric().map(str::to_string))
                    .collect(),
            ),
            deletion_protection: group.deletion_protection().map(|p| p.as_str().to_string()),
            capacity_rebalance: group.capacity_rebalance(),
            default_instance_warmup: group.default_instance_warmup(),
            max_instance_lifetime: group.max_instance_lifetime(),
            new_instances_protected_from_scale_in: group.new_instances_protected_from_scale_in(),
            instance_maintenance_policy: group.instance_maintenance_policy().map(|p| {
                (
                    p.min_healthy_percentage().unwrap_or(-1),
                    p.max_healthy_percentage().unwrap_or(-1),
                )
            }),
        },
        termination_policies: group.termination_policies().to_vec(),
        target_group_arns: strings(group.target_group_arns()),
        tags: group
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    (
                        t.value().unwrap_or_default().to_string(),
                        t.propagate_at_launch().unwrap_or(false),
                    ),
                ))
            })
            .collect(),
        instances: group
            .instances()
            .iter()
            .map(|i| ObservedInstance {
                id: i.instance_id().unwrap_or_default().to_string(),
                lifecycle_state: i
                    .lifecycle_state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                template_version: i
                    .launch_template()
                    .and_then(|t| t.version())
                    .map(str::to_string),
            })
            .collect(),
        deleting: group
            .status()
            .is_some_and(|s| s.to_ascii_lowercase().contains("delete")),
    }
}

pub async fn describe_template(
    clients: &AccountClients,
    name: &str,
    observed: &Observed,
) -> Result<Option<ObservedTemplate>> {
    let answer = match clients
        .ec2
        .describe_launch_templates()
        .launch_template_names(name)
        .send()
        .await
    {
        Ok(answer) => answer,
        Err(error)
            if error_code(&error).is_some_and(|c| {
                c == "InvalidLaunchTemplateName.NotFoundException"
                    || c == "InvalidLaunchTemplateId.NotFound"
            }) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(aws_error("EC2", "DescribeLaunchTemplates", error)),
    };
    let Some(template) = answer.launch_templates().first() else {
        return Ok(None);
    };
    let id = template
        .launch_template_id()
        .unwrap_or_default()
        .to_string();
    let latest_version = template.latest_version_number().unwrap_or(1);
    let group_version = observed
        .group
        .as_ref()
        .and_then(|g| g.template.as_ref())
        .filter(|t| t.id == id)
        .and_then(|t| t.version.parse::<i64>().ok());
    let mut wanted: BTreeSet<i64> = BTreeSet::from([latest_version]);
    wanted.extend(group_version);
    let versions = clients
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(&id)
        .set_versions(Some(wanted.iter().map(i64::to_string).collect()))
        .send()
        .await
        .map_err(|e| aws_error("EC2", "DescribeLaunchTemplateVersions", e))?;
    Ok(Some(ObservedTemplate {
        id,
        latest_version,
        tags: template
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
        versions: versions
            .launch_template_versions()
            .iter()
            .filter_map(|v| {
                Some((
                    v.version_number()?,
                    v.version_description().unwrap_or_default().to_string(),
                ))
            })
            .collect(),
        group_version,
    }))
}

/// Every policy of the group, by name (paged).
pub async fn describe_policies(
    clients: &AccountClients,
    group: &str,
) -> Result<BTreeMap<String, ObservedPolicy>> {
    let mut policies = BTreeMap::new();
    let mut token = None;
    loop {
        let page = clients
            .autoscaling
            .describe_policies()
            .auto_scaling_group_name(group)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("AutoScaling", "DescribePolicies", e))?;
        for policy in page.scaling_policies() {
            // Some answers omit the group; keep only this group's policies.
            if policy
                .auto_scaling_group_name()
                .is_some_and(|name| name != group)
            {
                continue;
            }
            let Some(name) = policy.policy_name() else {
                continue;
            };
            let tracking = policy.target_tracking_configuration();
            policies.insert(
                name.to_string(),
                ObservedPolicy {
                    arn: policy.policy_arn().unwrap_or_default().to_string(),
                    policy_type: policy.policy_type().unwrap_or("SimpleScaling").to_string(),
                    adjustment_type: policy.adjustment_type().map(str::to_string),
                    scaling_adjustment: policy.scaling_adjustment(),
                    steps: sorted_steps(
                        policy
                            .step_adjustments()
                            .iter()
                            .map(|s| Step {
                                lower_bound: s.metric_interval_lower_bound(),
                                upper_bound: s.metric_interval_upper_bound(),
                                scaling_adjustment: s.scaling_adjustment().unwrap_or_default(),
                            })
                            .collect(),
                    ),
                    cooldown: policy.cooldown(),
                    tracked: tracking.and_then(tracked_metric),
                    predictive: policy
                        .predictive_scaling_configuration()
                        .and_then(predictive_spec),
                    target_value: tracking.and_then(|t| t.target_value()),
                    extras: PolicyExtras {
                        enabled: policy.enabled(),
                        estimated_instance_warmup: policy.estimated_instance_warmup(),
                        min_adjustment_magnitude: policy.min_adjustment_magnitude(),
                        metric_aggregation_type: policy
                            .metric_aggregation_type()
                            .map(str::to_string),
                        disable_scale_in: tracking.and_then(|t| t.disable_scale_in()),
                        resource_label: tracking
                            .and_then(|t| t.predefined_metric_specification())
                            .and_then(|m| m.resource_label())
                            .map(str::to_string),
                    },
                },
            );
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(policies);
        }
    }
}

fn dimensions_of(
    dimensions: &[aws_sdk_autoscaling::types::MetricDimension],
) -> BTreeMap<String, String> {
    dimensions
        .iter()
        .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
        .collect()
}

/// A target tracking policy's metric, in the spec's terms.
fn tracked_metric(
    tracking: &aws_sdk_autoscaling::types::TargetTrackingConfiguration,
) -> Option<TrackedMetric> {
    use crate::scaling_group::{CustomizedMetricSpec, MetricQuerySpec, MetricSpec, MetricStatSpec};
    if let Some(predefined) = tracking
        .predefined_metric_specification()
        .and_then(|m| m.predefined_metric_type())
    {
        return Some(TrackedMetric::Predefined(predefined.as_str().to_string()));
    }
    let customized = tracking.customized_metric_specification()?;
    Some(TrackedMetric::Customized(Box::new(CustomizedMetricSpec {
        metric_name: customized.metric_name().map(str::to_string),
        namespace: customized.namespace().map(str::to_string),
        dimensions: dimensions_of(customized.dimensions()),
        statistic: customized.statistic().map(|s| s.as_str().to_string()),
        unit: customized.unit().map(str::to_string),
        metrics: customized
            .metrics()
            .iter()
            .map(|query| MetricQuerySpec {
                id: query.id().unwrap_or_default().to_string(),
                expression: query.expression().map(str::to_string),
                metric_stat: query.metric_stat().map(|stat| {
                    let metric = stat.metric();
                    MetricStatSpec {
                        metric: MetricSpec {
                            metric_name: metric
                                .and_then(|m| m.metric_name())
                                .unwrap_or_default()
                                .to_string(),
                            namespace: metric
                                .and_then(|m| m.namespace())
                                .unwrap_or_default()
                                .to_string(),
                            dimensions: metric
                                .map(|m| dimensions_of(m.dimensions()))
                                .unwrap_or_default(),
                        },
                        stat: stat.stat().unwrap_or_default().to_string(),
                        unit: stat.unit().map(str::to_string),
                    }
                }),
                label: query.label().map(str::to_string),
                return_data: query.return_data(),
            })
            .collect(),
    })))
}

/// A predictive scaling policy's configuration, in the spec's terms (its first metric
/// specification: Auto Scaling takes one).
fn predictive_spec(
    configuration: &aws_sdk_autoscaling::types::PredictiveScalingConfiguration,
) -> Option<crate::scaling_group::PredictiveScalingSpec> {
    let metric = configuration.metric_specifications().first()?;
    let pair = metric.predefined_metric_pair_specification()?;
    Some(crate::scaling_group::PredictiveScalingSpec {
        predefined_metric_pair: pair.predefined_metric_type()?.as_str().to_string(),
        resource_label: pair.resource_label().map(str::to_string),
        target_value: metric.target_value()?,
        mode: configuration.mode().map(|m| m.as_str().to_string()),
        scheduling_buffer_time: configuration.scheduling_buffer_time(),
        max_capacity_breach_behavior: configuration
            .max_capacity_breach_behavior()
            .map(|b| b.as_str().to_string()),
        max_capacity_buffer: configuration.max_capacity_buffer(),
    })
}

/// The tags of the alarm `arn`.
async fn alarm_tags(clients: &AccountClients, arn: &str) -> Result<BTreeMap<String, String>> {
    let listed = clients
        .cloudwatch
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| aws_error("CloudWatch", "ListTagsForResource", e))?;
    Ok(listed
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect())
}

/// The alarms whose names start with `prefix` (paged).
pub async fn describe_alarms(
    clients: &AccountClients,
    prefix: &str,
) -> Result<BTreeMap<String, ObservedAlarm>> {
    let mut alarms = BTreeMap::new();
    let mut token = None;
    loop {
        let page = clients
            .cloudwatch
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("CloudWatch", "DescribeAlarms", e))?;
        for alarm in page.metric_alarms() {
            let Some(name) = alarm.alarm_name() else {
                continue;
            };
            alarms.insert(
                name.to_string(),
                ObservedAlarm {
                    metric_name: alarm.metric_name().unwrap_or_default().to_string(),
                    namespace: alarm.namespace().unwrap_or_default().to_string(),
                    statistic: alarm
                        .statistic()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    period: alarm.period().unwrap_or_default(),
                    evaluation_periods: alarm.evaluation_periods().unwrap_or_default(),
                    threshold: alarm.threshold().unwrap_or_default(),
                    comparison_operator: alarm
                        .comparison_operator()
                        .map(|c| c.as_str().to_string())
                        .unwrap_or_default(),
                    dimensions: alarm
                        .dimensions()
                        .iter()
                        .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
                        .collect(),
                    actions: alarm.alarm_actions().to_vec(),
                    options: AlarmOptions {
                        datapoints_to_alarm: alarm.datapoints_to_alarm(),
                        treat_missing_data: alarm.treat_missing_data().map(str::to_string),
                        alarm_actions: Vec::new(),
                        ok_actions: sorted(alarm.ok_actions()),
                        insufficient_data_actions: sorted(alarm.insufficient_data_actions()),
                        extended_statistic: alarm.extended_statistic().map(str::to_string),
                        unit: alarm.unit().map(|u| u.as_str().to_string()),
                        description: alarm.alarm_description().map(str::to_string),
                    },
                    arn: alarm.alarm_arn().unwrap_or_default().to_string(),
                    tags: None,
                },
            );
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(alarms);
        }
    }
}

async fn describe_notifications(
    clients: &AccountClients,
    group: &str,
) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut notifications: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut token = None;
    loop {
        let page = clients
            .autoscaling
            .describe_notification_configurations()
            .auto_scaling_group_names(group)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("AutoScaling", "DescribeNotificationConfigurations", e))?;
        for configuration in page.notification_configurations() {
            if let (Some(topic), Some(kind)) =
                (configuration.topic_arn(), configuration.notification_type())
            {
                notifications
                    .entry(topic.to_string())
                    .or_default()
                    .insert(kind.to_string());
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(notifications);
        }
    }
}

async fn describe_hooks(clients: &AccountClients, group: &str) -> Result<BTreeMap<String, Hook>> {
    let answer = clients
        .autoscaling
        .describe_lifecycle_hooks()
        .auto_scaling_group_name(group)
        .send()
        .await
        .map_err(|e| aws_error("AutoScaling", "DescribeLifecycleHooks", e))?;
    Ok(answer
        .lifecycle_hooks()
        .iter()
        .filter_map(|hook| {
            Some((
                hook.lifecycle_hook_name()?.to_string(),
                Hook {
                    transition: hook.lifecycle_transition().unwrap_or_default().to_string(),
                    target_arn: hook
                        .notification_target_arn()
                        .filter(|a| !a.is_empty())
                        .map(str::to_string),
                    role_arn: hook
                        .role_arn()
                        .filter(|a| !a.is_empty())
                        .map(str::to_string),
                    heartbeat_timeout: hook.heartbeat_timeout().unwrap_or(3600),
                    default_result: hook.default_result().unwrap_or("ABANDON").to_string(),
                },
            ))
        })
        .collect())
}

async fn describe_warm_pool(
    clients: &AccountClients,
    group: &str,
) -> Result<(Option<WarmPool>, i32)> {
    let answer = clients
        .autoscaling
        .describe_warm_pool()
        .auto_scaling_group_name(group)
        .send()
        .await
        .map_err(|e| aws_error("AutoScaling", "DescribeWarmPool", e))?;
    let size = i32::try_from(answer.instances().len()).unwrap_or(i32::MAX);
    let pool = answer
        .warm_pool_configuration()
        // A pool being deleted is gone as far as the spec is concerned.
        .filter(|c| c.status().is_none_or(|s| s.as_str() != "PendingDelete"))
        .map(|c| WarmPool {
            min_size: c.min_size().unwrap_or(0),
            max_group_prepared_capacity: c.max_group_prepared_capacity().filter(|n| *n >= 0),
            pool_state: c.pool_state().map_or("Stopped", |s| s.as_str()).to_string(),
            reuse_on_scale_in: c
                .instance_reuse_policy()
                .and_then(|p| p.reuse_on_scale_in())
                .unwrap_or(false),
        });
    Ok((pool, size))
}

async fn describe_scheduled(
    clients: &AccountClients,
    group: &str,
) -> Result<BTreeMap<String, Scheduled>> {
    let answer = clients
        .autoscaling
        .describe_scheduled_actions()
        .auto_scaling_group_name(group)
        .send()
        .await
        .map_err(|e| aws_error("AutoScaling", "DescribeScheduledActions", e))?;
    Ok(answer
        .scheduled_update_group_actions()
        .iter()
        .filter_map(|action| {
            Some((
                action.scheduled_action_name()?.to_string(),
                Scheduled {
                    recurrence: action.recurrence().map(str::to_string),
                    time_zone: action.time_zone().map(str::to_string),
                    start_time: action.start_time().map(|t| t.secs()),
                    end_time: action.end_time().map(|t| t.secs()),
                    min_size: action.min_size(),
                    max_size: action.max_size(),
                    desired_capacity: action.desired_capacity(),
                },
            ))
        })
        .collect())
}

/// The newest instance refresh of the group.
pub async fn newest_refresh(
    clients: &AccountClients,
    group: &str,
) -> Result<Option<InstanceRefreshStatus>> {
    let answer = clients
        .autoscaling
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .max_records(1)
        .send()
        .await
        .map_err(|e| aws_error("AutoScaling", "DescribeInstanceRefreshes", e))?;
    Ok(answer
        .instance_refreshes()
        .first()
        .map(|refresh| InstanceRefreshStatus {
            id: refresh
                .instance_refresh_id()
                .unwrap_or_default()
                .to_string(),
            status: refresh
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            launch_template_version: refresh
                .desired_configuration()
                .and_then(|c| c.launch_template())
                .and_then(|t| t.version())
                .map(str::to_string),
        }))
}

async fn topic_exists(clients: &AccountClients, arn: &str) -> Result<bool> {
    match clients
        .sns
        .get_topic_attributes()
        .topic_arn(arn)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(error) if error_code(&error) == Some("NotFound") => Ok(false),
        Err(error) => Err(aws_error("SNS", "GetTopicAttributes", error)),
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
