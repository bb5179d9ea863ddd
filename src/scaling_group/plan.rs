//! The plan: a pure function of the validated spec and the observation. No I/O, no
//! clock. A group in sync yields an empty plan.

use std::collections::BTreeSet;

use super::CustomizedMetricSpec;
use super::desired::{
    Adjustment, DESIRED_CAPACITY_TAG, Desired, DesiredAlarm, DesiredPolicy, PolicyKind,
    TemplateSource, Topic, TrackedMetric, given, is_active_refresh,
};
use super::observe::{Observed, ObservedAlarm, ObservedPolicy, wanted_template_version};
use crate::common::Claim;
use crate::runtime::{self, PlannedChange};
use crate::{Error, Result};

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
        /// An existing alarm of that name that is not tagged as this object's, taken over
        /// (`adoptExisting`): its ARN, tagged after the write.
        adopt: Option<String>,
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
    SuspendProcesses {
        processes: Vec<String>,
        drift: bool,
    },
    ResumeProcesses {
        processes: Vec<String>,
        drift: bool,
    },
    EnableMetricsCollection {
        metrics: Vec<String>,
        drift: bool,
    },
    DisableMetricsCollection {
        metrics: Vec<String>,
        drift: bool,
    },
    PutWarmPool {
        drift: bool,
    },
    DeleteWarmPool {
        drift: bool,
    },
    PutScheduledUpdateGroupAction {
        name: String,
        drift: bool,
    },
    DeleteScheduledAction {
        name: String,
        drift: bool,
    },
}

impl runtime::Change for Change {
    fn is_drift_repair(&self) -> bool {
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
            | Change::DeleteLifecycleHook { drift, .. }
            | Change::SuspendProcesses { drift, .. }
            | Change::ResumeProcesses { drift, .. }
            | Change::EnableMetricsCollection { drift, .. }
            | Change::DisableMetricsCollection { drift, .. }
            | Change::PutWarmPool { drift }
            | Change::DeleteWarmPool { drift }
            | Change::PutScheduledUpdateGroupAction { drift, .. }
            | Change::DeleteScheduledAction { drift, .. } => *drift,
            Change::CreateLaunchTemplate
            | Change::TagLaunchTemplate
            | Change::CreateGroup
            | Change::StartInstanceRefresh
            | Change::CreateTopic { .. } => false,
        }
    }

    /// The change as `plan` prints it.
    fn describe(&self) -> PlannedChange {
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
            Change::SuspendProcesses { processes, .. } => {
                ("SuspendProcesses", String::new(), processes.join(", "))
            }
            Change::ResumeProcesses { processes, .. } => {
                ("ResumeProcesses", String::new(), processes.join(", "))
            }
            Change::EnableMetricsCollection { metrics, .. } => {
                ("EnableMetricsCollection", String::new(), metrics.join(", "))
            }
            Change::DisableMetricsCollection { metrics, .. } => (
                "DisableMetricsCollection",
                String::new(),
                metrics.join(", "),
            ),
            Change::PutWarmPool { .. } => (
                "PutWarmPool",
                "warm-pool".to_string(),
                "create or update the warm pool".to_string(),
            ),
            Change::DeleteWarmPool { .. } => (
                "DeleteWarmPool",
                "warm-pool".to_string(),
                "not in the spec".to_string(),
            ),
            Change::PutScheduledUpdateGroupAction { name, .. } => (
                "PutScheduledUpdateGroupAction",
                format!("scheduled-action/{name}"),
                "create or update the scheduled action".to_string(),
            ),
            Change::DeleteScheduledAction { name, .. } => (
                "DeleteScheduledAction",
                format!("scheduled-action/{name}"),
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

    // Suspended processes and collected metrics have calls of their own: exactly the
    // spec's, when it says (a new group has none of either).
    let live_settings = observed.group.as_ref().map(|g| &g.settings);
    let set_difference = |wanted: &Option<BTreeSet<String>>, live: Option<&BTreeSet<String>>| {
        let empty = BTreeSet::new();
        let live = live.unwrap_or(&empty);
        wanted.as_ref().map(|wanted| {
            (
                wanted.difference(live).cloned().collect::<Vec<_>>(),
                live.difference(wanted).cloned().collect::<Vec<_>>(),
            )
        })
    };
    let processes = set_difference(
        &desired.settings.suspended_processes,
        live_settings.and_then(|s| s.suspended_processes.as_ref()),
    );
    let metrics = set_difference(
        &desired.settings.metrics,
        live_settings.and_then(|s| s.metrics.as_ref()),
    );
    let exists = observed.group.is_some();
    let mut after_group = Vec::new();
    if let Some((suspend, resume)) = processes {
        if !suspend.is_empty() {
            after_group.push(Change::SuspendProcesses {
                processes: suspend,
                drift: drift && exists,
            });
        }
        if !resume.is_empty() {
            after_group.push(Change::ResumeProcesses {
                processes: resume,
                drift: drift && exists,
            });
        }
    }
    if let Some((enable, disable)) = metrics {
        if !enable.is_empty() {
            after_group.push(Change::EnableMetricsCollection {
                metrics: enable,
                drift: drift && exists,
            });
        }
        if !disable.is_empty() {
            after_group.push(Change::DisableMetricsCollection {
                metrics: disable,
                drift: drift && exists,
            });
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
            fields.extend(desired.settings.differing(&group.settings));
            let mixed_differs = match (&desired.mixed, &group.mixed) {
                (Some(wanted), Some(live)) => !wanted.matches(live),
                (None, None) => false,
                _ => true,
            };
            if mixed_differs {
                fields.push("mixedInstancesPolicy");
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
    plan_policies(desired, observed, drift, &mut changes)?;
    plan_notifications(desired, observed, drift, &mut changes);
    changes.extend(after_group);
    plan_hooks(desired, observed, drift, &mut changes);
    if let Some((live, _)) = &observed.warm_pool {
        match (&desired.warm_pool, live) {
            (Some(wanted), live) if live.as_ref() != Some(wanted) => {
                changes.push(Change::PutWarmPool {
                    drift: drift && desired.had_warm_pool,
                });
            }
            (None, Some(_)) => changes.push(Change::DeleteWarmPool { drift }),
            _ => {}
        }
    } else if desired.warm_pool.is_some() {
        // Not read: the group is being created in this plan.
        changes.push(Change::PutWarmPool { drift: false });
    }
    plan_scheduled(desired, observed, drift, &mut changes);
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
    wanted.extras.matches(&live.extras) && kind_matches(wanted, live)
}

fn kind_matches(wanted: &DesiredPolicy, live: &ObservedPolicy) -> bool {
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
            metric,
            target_value,
        } => {
            live.policy_type == "TargetTrackingScaling"
                && live.target_value == Some(*target_value)
                && match (metric, &live.tracked) {
                    (TrackedMetric::Predefined(wanted), Some(TrackedMetric::Predefined(live))) => {
                        wanted == live
                    }
                    (TrackedMetric::Customized(wanted), Some(TrackedMetric::Customized(live))) => {
                        customized_matches(wanted, live)
                    }
                    _ => false,
                }
        }
        PolicyKind::Predictive(wanted) => {
            live.policy_type == "PredictiveScaling"
                && live.predictive.as_ref().is_some_and(|live| {
                    wanted.predefined_metric_pair == live.predefined_metric_pair
                        && wanted.resource_label == live.resource_label
                        && wanted.target_value == live.target_value
                        && given(&wanted.mode, &live.mode)
                        && given(&wanted.scheduling_buffer_time, &live.scheduling_buffer_time)
                        && given(
                            &wanted.max_capacity_breach_behavior,
                            &live.max_capacity_breach_behavior,
                        )
                        && given(&wanted.max_capacity_buffer, &live.max_capacity_buffer)
                })
        }
    }
}

/// A customized metric as the spec gives it; a query's `returnData` left out is true.
fn customized_matches(wanted: &CustomizedMetricSpec, live: &CustomizedMetricSpec) -> bool {
    let normal = |metric: &CustomizedMetricSpec| {
        let mut metric = metric.clone();
        for query in &mut metric.metrics {
            query.return_data = Some(query.return_data.unwrap_or(true));
        }
        metric
    };
    normal(wanted) == normal(live)
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
        && wanted.options.matches(&live.options)
        && {
            // The policy, then the topics told besides it, in any order.
            let mut wanted_actions = wanted.options.alarm_actions.clone();
            wanted_actions.push(policy_arn.to_string());
            wanted_actions.sort();
            let mut live_actions = live.actions.clone();
            live_actions.sort();
            live_actions == wanted_actions
        }
}

fn plan_policies(
    desired: &Desired,
    observed: &Observed,
    drift: bool,
    changes: &mut Vec<Change>,
) -> Result<()> {
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
            // An alarm of that name that executes none of this group's policies may be
            // anyone's: written only if it is tagged as ours, or adopted.
            let adopt = match live_alarm.and_then(|a| a.tags.as_ref().map(|tags| (a, tags))) {
                Some((live, tags)) => {
                    let claim = desired.owner.claim(
                        &format!("CloudWatch alarm {}", alarm.name),
                        tags,
                        desired.adopt_existing,
                    )?;
                    (claim == Claim::Adopt).then(|| live.arn.clone())
                }
                None => None,
            };
            let matches = match (live, live_alarm) {
                (Some(policy), Some(live_alarm)) => alarm_matches(alarm, live_alarm, &policy.arn),
                _ => false,
            };
            if !matches {
                changes.push(Change::PutMetricAlarm {
                    policy: policy.name.clone(),
                    alarm: alarm.name.clone(),
                    adopt,
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
    Ok(())
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

/// Scheduled actions, like hooks: put what is missing or differs, delete what the spec
/// no longer has. Nothing when they were not read (the spec never had any).
fn plan_scheduled(desired: &Desired, observed: &Observed, drift: bool, changes: &mut Vec<Change>) {
    let empty = std::collections::BTreeMap::new();
    let live = match &observed.scheduled {
        Some(live) => live,
        None if desired.scheduled.is_empty() => return,
        None => &empty,
    };
    for (name, action) in &desired.scheduled {
        if !live.get(name).is_some_and(|l| action.matches(l)) {
            changes.push(Change::PutScheduledUpdateGroupAction {
                name: name.clone(),
                drift: drift && desired.had_scheduled,
            });
        }
    }
    for name in live.keys() {
        if !desired.scheduled.contains_key(name) {
            changes.push(Change::DeleteScheduledAction {
                name: name.clone(),
                drift,
            });
        }
    }
}

#[cfg(test)]
mod tests;
