//! Apply: executes the plan in order; deletion.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_autoscaling::types::{
    AlarmSpecification, CustomizedMetricSpecification, DeletionProtection, DesiredConfiguration,
    InstanceMaintenancePolicy, InstanceReusePolicy, InstancesDistribution,
    LaunchTemplate as AsgLaunchTemplate, LaunchTemplateSpecification, LifecycleHookSpecification,
    Metric, MetricDimension, MetricStatistic, MetricType, MixedInstancesPolicy,
    PredefinedMetricPairType, PredefinedMetricSpecification, PredictiveScalingConfiguration,
    PredictiveScalingMaxCapacityBreachBehavior, PredictiveScalingMetricSpecification,
    PredictiveScalingMode, PredictiveScalingPredefinedMetricPair, RefreshPreferences,
    ScaleInProtectedInstances, StandbyInstances, StepAdjustment, Tag as GroupTagInput,
    TargetTrackingConfiguration, TargetTrackingMetricDataQuery, TargetTrackingMetricStat,
    WarmPoolState,
};
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, StandardUnit, Statistic, Tag as AlarmTag,
};
use aws_sdk_ec2::types::{
    CapacityReservationPreference, CreditSpecificationRequest,
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateCapacityReservationSpecificationRequest,
    LaunchTemplateCpuOptionsRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMarketOptionsRequest, LaunchTemplateInstanceMetadataEndpointState,
    LaunchTemplateInstanceMetadataOptionsRequest, LaunchTemplateInstanceMetadataProtocolIpv6,
    LaunchTemplateInstanceMetadataTagsState,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest, LaunchTemplatePlacementRequest,
    LaunchTemplateSpotMarketOptionsRequest, LaunchTemplateTagSpecificationRequest,
    LaunchTemplatesMonitoringRequest, MarketType, RequestLaunchTemplateData, ResourceType,
    Tag as Ec2Tag, TagSpecification, Tenancy, VolumeType,
};

use aws_sdk_autoscaling::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::ScalingGroup;
use super::desired::{
    Adjustment, Desired, DesiredPolicy, DesiredTemplate, GroupSettings, PolicyKind, TemplateSource,
    TrackedMetric,
};
use super::observe::{Observed, describe_policies, wanted_template_version};
use super::plan::Change;
use crate::aws::{AccountClients, aws_error, error_code};
use crate::common::Owner;
use crate::runtime::{Change as _, PlannedChange};
use crate::{Error, Result};

mod delete;
pub use delete::delete;

/// What apply learns on the way: ids and ARNs that later changes need.
struct Progress {
    template_id: Option<String>,
    template_version: Option<String>,
    policy_arns: BTreeMap<String, String>,
    topic_arn: Option<String>,
}

pub async fn apply(
    desired: &Desired,
    observed: &Observed,
    changes: &[Change],
    clients: &AccountClients,
) -> Result<Vec<PlannedChange>> {
    let mut progress = Progress {
        template_id: observed.template.as_ref().map(|t| t.id.clone()),
        template_version: wanted_template_version(desired, observed),
        policy_arns: observed
            .policies
            .iter()
            .map(|(name, p)| (name.clone(), p.arn.clone()))
            .collect(),
        topic_arn: observed.topic_arn.clone(),
    };
    let mut applied = Vec::new();
    for change in changes {
        apply_one(desired, change, &mut progress, clients).await?;
        applied.push(change.describe());
    }
    Ok(applied)
}

async fn apply_one(
    desired: &Desired,
    change: &Change,
    progress: &mut Progress,
    clients: &AccountClients,
) -> Result<()> {
    let autoscaling = &clients.autoscaling;
    let group = desired.name.as_str();
    match change {
        Change::CreateLaunchTemplate => {
            let template = managed_template(desired);
            let answer = clients
                .ec2
                .create_launch_template()
                .launch_template_name(&template.name)
                .version_description(&template.description)
                .launch_template_data(template_data(&template.spec)?)
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::LaunchTemplate)
                        .set_tags(Some(ec2_tags(&desired.owner.tags())))
                        .build(),
                )
                .customize()
                .config_override(crate::single_attempt!(aws_sdk_ec2))
                .send()
                .await
                .map_err(
                    |error| match aws_error("EC2", "CreateLaunchTemplate", error) {
                        Error::Aws { code, .. } if code.ends_with("AlreadyExistsException") => {
                            Error::NotReady(format!(
                                "launch template {} appeared while being created; will look again",
                                template.name
                            ))
                        }
                        other => other,
                    },
                )?;
            let created = answer.launch_template();
            progress.template_id = created.and_then(|t| t.launch_template_id().map(str::to_string));
            progress.template_version = Some(
                created
                    .and_then(|t| t.latest_version_number())
                    .unwrap_or(1)
                    .to_string(),
            );
        }
        Change::TagLaunchTemplate => {
            clients
                .ec2
                .create_tags()
                .resources(progress.template_id.clone().unwrap_or_default())
                .set_tags(Some(ec2_tags(&desired.owner.tags())))
                .send()
                .await
                .map_err(|e| aws_error("EC2", "CreateTags", e))?;
        }
        Change::CreateLaunchTemplateVersion { .. } => {
            let template = managed_template(desired);
            let answer = clients
                .ec2
                .create_launch_template_version()
                .launch_template_id(progress.template_id.clone().unwrap_or_default())
                .version_description(&template.description)
                .launch_template_data(template_data(&template.spec)?)
                .customize()
                .config_override(crate::single_attempt!(aws_sdk_ec2))
                .send()
                .await
                .map_err(|e| aws_error("EC2", "CreateLaunchTemplateVersion", e))?;
            let version = answer
                .launch_template_version()
                .and_then(|v| v.version_number())
                .ok_or_else(|| {
                    Error::NotReady("CreateLaunchTemplateVersion returned no version".into())
                })?;
            progress.template_version = Some(version.to_string());
        }
        Change::CreateGroup => {
            let mut request = autoscaling
                .create_auto_scaling_group()
                .auto_scaling_group_name(group)
                .min_size(desired.min_size)
                .max_size(desired.max_size)
                .set_desired_capacity(desired.desired_capacity)
                .health_check_type(&desired.health_check_type)
                .set_health_check_grace_period(desired.health_check_grace_period)
                .set_default_cooldown(desired.default_cooldown)
                .set_capacity_rebalance(desired.settings.capacity_rebalance)
                .set_default_instance_warmup(desired.settings.default_instance_warmup)
                .set_max_instance_lifetime(desired.settings.max_instance_lifetime)
                .set_new_instances_protected_from_scale_in(
                    desired.settings.new_instances_protected_from_scale_in,
                )
                .set_instance_maintenance_policy(maintenance_policy(&desired.settings))
                .set_deletion_protection(
                    desired
                        .settings
                        .deletion_protection
                        .as_deref()
                        .map(DeletionProtection::from),
                )
                .set_termination_policies(
                    (!desired.termination_policies.is_empty())
                        .then(|| desired.termination_policies.clone()),
                )
                .set_target_group_arns(
                    (!desired.target_group_arns.is_empty())
                        .then(|| desired.target_group_arns.iter().cloned().collect()),
                )
                .set_tags(Some(group_tags(desired)))
                // Hooks exist before the first instance launches; PutLifecycleHook
                // follows in the plan and changes nothing where this was honoured.
                .set_lifecycle_hook_specification_list(Some(hook_specifications(desired)));
            request = match mixed_policy(desired, progress) {
                Some(policy) => request.mixed_instances_policy(policy),
                None => request.launch_template(group_template(desired, progress)),
            };
            request = if desired.subnet_ids.is_empty() {
                request.set_availability_zones(Some(
                    desired.availability_zones.iter().cloned().collect(),
                ))
            } else {
                request.vpc_zone_identifier(join(&desired.subnet_ids))
            };
            request.customize()
                .config_override(crate::single_attempt!(aws_sdk_autoscaling))
                .send().await.map_err(|error| {
                match template_not_visible_yet(
                    desired,
                    aws_error("AutoScaling", "CreateAutoScalingGroup", error),
                ) {
                    Error::Aws { code, .. } if code == "AlreadyExists" => Error::NotReady(format!(
                        "Auto Scaling group {group} appeared while being created; will look again"
                    )),
                    other => other,
                }
            })?;
        }
        Change::TagGroup { .. } => {
            autoscaling
                .create_or_update_tags()
                .set_tags(Some(group_tags(desired)))
                .send()
                .await
                .map_err(|e| aws_error("AutoScaling", "CreateOrUpdateTags", e))?;
        }
        Change::UpdateGroup { fields, .. } => {
            let has = |field: &str| fields.contains(&field);
            let mut request = autoscaling
                .update_auto_scaling_group()
                .auto_scaling_group_name(group)
                .min_size(desired.min_size)
                .max_size(desired.max_size);
            if has("desiredCapacity") {
                request = request.set_desired_capacity(desired.desired_capacity);
            }
            if has("launchTemplate") || has("mixedInstancesPolicy") {
                // With a mixed instances policy the template goes inside it.
                request = match mixed_policy(desired, progress) {
                    Some(policy) => request.mixed_instances_policy(policy),
                    None => request.launch_template(group_template(desired, progress)),
                };
            }
            if has("availabilityZones") {
                request = request.set_availability_zones(Some(
                    desired.availability_zones.iter().cloned().collect(),
                ));
            }
            if has("subnetIds") {
                request = request.vpc_zone_identifier(join(&desired.subnet_ids));
            }
            if has("healthCheck.type") || has("healthCheck.gracePeriodSeconds") {
                request = request
                    .health_check_type(&desired.health_check_type)
                    .set_health_check_grace_period(desired.health_check_grace_period);
            }
            if has("defaultCooldownSeconds") {
                request = request.set_default_cooldown(desired.default_cooldown);
            }
            if has("terminationPolicies") {
                request =
                    request.set_termination_policies(Some(desired.termination_policies.clone()));
            }
            let settings = &desired.settings;
            if has("capacityRebalance") {
                request = request.set_capacity_rebalance(settings.capacity_rebalance);
            }
            if has("defaultInstanceWarmup") {
                request = request.set_default_instance_warmup(settings.default_instance_warmup);
            }
            if has("maxInstanceLifetime") {
                request = request.set_max_instance_lifetime(settings.max_instance_lifetime);
            }
            if has("newInstancesProtectedFromScaleIn") {
                request = request.set_new_instances_protected_from_scale_in(
                    settings.new_instances_protected_from_scale_in,
                );
            }
            if has("deletionProtection") {
                request = request.set_deletion_protection(
                    settings
                        .deletion_protection
                        .as_deref()
                        .map(DeletionProtection::from),
                );
            }
            if has("instanceMaintenancePolicy") {
                request = request.set_instance_maintenance_policy(maintenance_policy(settings));
            }
            request.send().await.map_err(|e| {
                template_not_visible_yet(
                    desired,
                    aws_error("AutoScaling", "UpdateAutoScalingGroup", e),
                )
            })?;
        }
        Change::AttachTargetGroups { arns, .. } => {
            autoscaling
                .attach_load_balancer_target_groups()
                .auto_scaling_group_name(group)
                .set_target_group_arns(Some(arns.clone()))
                .send()
                .await
                .map_err(|e| aws_error("AutoScaling", "AttachLoadBalancerTargetGroups", e))?;
        }
        Change::DetachTargetGroups { arns, .. } => {
            autoscaling
                .detach_load_balancer_target_groups()
                .auto_scaling_group_name(group)
                .set_target_group_arns(Some(arns.clone()))
                .send()
                .await
                .map_err(|e| aws_error("AutoScaling", "DetachLoadBalancerTargetGroups", e))?;
        }
        Change::StartInstanceRefresh => {
            let result = autoscaling
                .start_instance_refresh()
                .auto_scaling_group_name(group)
                .preferences(refresh_preferences(&desired.instance_refresh))
                // Naming the version lets the next observation tell which version a
                // refresh rolled out.
                .desired_configuration(
                    DesiredConfiguration::builder()
                        .launch_template(group_template(desired, progress))
                        .build(),
                )
                .customize()
                .config_override(crate::single_attempt!(aws_sdk_autoscaling))
                .send()
                .await;
            if let Err(error) = result {
                // One at a time: a refresh started meanwhile is waited for.
                if error_code(&error) != Some("InstanceRefreshInProgress") {
                    return Err(aws_error("AutoScaling", "StartInstanceRefresh", error));
                }
            }
        }
        Change::PutScalingPolicy { name, .. } => {
            let policy = desired
                .policies
                .iter()
                .find(|p| p.name == *name)
                .expect("planned from the spec");
            let answer = put_policy(clients, group, policy).await?;
            let arn = match answer {
                Some(arn) => arn,
                // Some answers lack PolicyARN: read it back.
                None => describe_policies(clients, group)
                    .await?
                    .remove(name)
                    .map(|p| p.arn)
                    .ok_or_else(|| Error::NotReady(format!("policy {name} is not readable yet")))?,
            };
            progress.policy_arns.insert(name.clone(), arn);
        }
        Change::PutMetricAlarm { policy, adopt, .. } => {
            let tags: Vec<AlarmTag> = desired
                .owner
                .tags()
                .iter()
                .map(|(k, v)| AlarmTag::builder().key(k).value(v).build())
                .collect();
            let Some(DesiredPolicy {
                kind: PolicyKind::Alarm { alarm, .. },
                ..
            }) = desired.policies.iter().find(|p| p.name == *policy)
            else {
                unreachable!("alarms are planned for simple policies only");
            };
            let arn = match progress.policy_arns.get(policy) {
                Some(arn) if !arn.is_empty() => arn.clone(),
                _ => describe_policies(clients, group)
                    .await?
                    .remove(policy)
                    .map(|p| p.arn)
                    .ok_or_else(|| {
                        Error::NotReady(format!("policy {policy} is not readable yet"))
                    })?,
            };
            clients
                .cloudwatch
                .put_metric_alarm()
                .alarm_name(&alarm.name)
                .alarm_description(alarm.options.description.clone().unwrap_or_else(|| {
                    format!(
                        "Executes scaling policy {policy} of {group}; managed by ecsfleet for {}",
                        desired.owner.key()
                    )
                }))
                .metric_name(&alarm.metric_name)
                .namespace(&alarm.namespace)
                .set_statistic(
                    (!alarm.statistic.is_empty())
                        .then(|| Statistic::from(alarm.statistic.as_str())),
                )
                .set_extended_statistic(alarm.options.extended_statistic.clone())
                .set_unit(alarm.options.unit.as_deref().map(StandardUnit::from))
                .period(alarm.period)
                .evaluation_periods(alarm.evaluation_periods)
                .threshold(alarm.threshold)
                .comparison_operator(ComparisonOperator::from(alarm.comparison_operator.as_str()))
                .set_dimensions(Some(
                    alarm
                        .dimensions
                        .iter()
                        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                        .collect(),
                ))
                .set_alarm_actions(Some(
                    std::iter::once(arn.clone())
                        .chain(alarm.options.alarm_actions.iter().cloned())
                        .collect(),
                ))
                .set_ok_actions(Some(alarm.options.ok_actions.clone()))
                .set_insufficient_data_actions(Some(
                    alarm.options.insufficient_data_actions.clone(),
                ))
                .set_datapoints_to_alarm(alarm.options.datapoints_to_alarm)
                .set_treat_missing_data(alarm.options.treat_missing_data.clone())
                .set_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(|e| aws_error("CloudWatch", "PutMetricAlarm", e))?;
            // The tags of a write to an existing alarm are ignored: adoption tags it.
            if let Some(arn) = adopt {
                clients
                    .cloudwatch
                    .tag_resource()
                    .resource_arn(arn)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| aws_error("CloudWatch", "TagResource", e))?;
            }
        }
        Change::DeleteAlarms { names, .. } => {
            delete_alarms(clients, names).await?;
        }
        Change::DeletePolicy { name, .. } => {
            deleted(
                "DeletePolicy",
                autoscaling
                    .delete_policy()
                    .auto_scaling_group_name(group)
                    .policy_name(name)
                    .send()
                    .await,
            )?;
        }
        Change::CreateTopic { name } => {
            let answer = clients
                .sns
                .create_topic()
                .name(name)
                .set_tags(Some(
                    desired
                        .owner
                        .tags()
                        .iter()
                        .map(|(k, v)| aws_sdk_sns::types::Tag::builder().key(k).value(v).build())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| Error::invalid("metadata", e.to_string()))?,
                ))
                .send()
                .await
                .map_err(|e| aws_error("SNS", "CreateTopic", e))?;
            progress.topic_arn = answer.topic_arn().map(str::to_string);
        }
        Change::PutNotificationConfiguration { .. } => {
            let notifications = desired
                .notifications
                .as_ref()
                .expect("planned with notifications");
            autoscaling
                .put_notification_configuration()
                .auto_scaling_group_name(group)
                .topic_arn(progress.topic_arn.clone().unwrap_or_default())
                .set_notification_types(Some(notifications.types.iter().cloned().collect()))
                .send()
                .await
                .map_err(|e| aws_error("AutoScaling", "PutNotificationConfiguration", e))?;
        }
        Change::DeleteNotificationConfiguration { topic_arn, .. } => {
            deleted(
                "DeleteNotificationConfiguration",
                autoscaling
                    .delete_notification_configuration()
                    .auto_scaling_group_name(group)
                    .topic_arn(topic_arn)
                    .send()
                    .await,
            )?;
        }
        Change::PutLifecycleHook { name, .. } => {
            let hook = &desired.hooks[name];
            autoscaling
                .put_lifecycle_hook()
                .auto_scaling_group_name(group)
                .lifecycle_hook_name(name)
                .lifecycle_transition(&hook.transition)
                .set_notification_target_arn(hook.target_arn.clone())
                .set_role_arn(hook.role_arn.clone())
                .heartbeat_timeout(hook.heartbeat_timeout)
                .default_result(&hook.default_result)
                .send()
                .await
                .map_err(|e| aws_error("AutoScaling", "PutLifecycleHook", e))?;
        }
        Change::SuspendProcesses { processes, .. } => {
            autoscaling
                .suspend_processes()
                .auto_scaling_group_name(group)
                .set_scaling_processes(Some(processes.clone()))
                .send()
                .await
                .map_err(|e| aws_error("AutoScaling", "SuspendProcesses", e))?;
        }
        Change::ResumeProcesses { processes, .. } => {
            autoscaling
                .resume_processes()
                .auto_scaling_group_name(group)
                .set_scaling_processes(Some(processes.clone()))
                .send()
                .await
                .map_err(|e| aws_error("AutoScaling", "ResumeProcesses", e))?;
        }
        Change::EnableMetricsCollection { metrics, .. } => {
            autoscaling
                .enable_metrics_collection()
                .auto_scaling_group_name(group)
                .granularity("1Minute")
                .set_metrics(Some(metrics.clone()))
                .send()
                .await
                .map_err(|e| aws_error("AutoScaling", "EnableMetricsCollection", e))?;
        }
        Change::DisableMetricsCollection { metrics, .. } => {
            autoscaling
                .disable_metrics_collection()
                .auto_scaling_group_name(group)
                .set_metrics(Some(metrics.clone()))
                .send()
                .await
                .map_err(|e| aws_error("AutoScaling", "DisableMetricsCollection", e))?;
        }
        Change::PutWarmPool { .. } => {
            let pool = desired
                .warm_pool
                .as_ref()
                .expect("the plan puts only a warm pool the spec has");
            autoscaling
                .put_warm_pool()
                .auto_scaling_group_name(group)
                .min_size(pool.min_size)
                // -1 is Auto Scaling's "the group's maximum size".
                .max_group_prepared_capacity(pool.max_group_prepared_capacity.unwrap_or(-1))
                .pool_state(WarmPoolState::from(pool.pool_state.as_str()))
                .instance_reuse_policy(
                    InstanceReusePolicy::builder()
                        .reuse_on_scale_in(pool.reuse_on_scale_in)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| aws_error("AutoScaling", "PutWarmPool", e))?;
        }
        Change::DeleteWarmPool { .. } => {
            deleted(
                "DeleteWarmPool",
                autoscaling
                    .delete_warm_pool()
                    .auto_scaling_group_name(group)
                    .force_delete(true)
                    .send()
                    .await,
            )?;
        }
        Change::PutScheduledUpdateGroupAction { name, .. } => {
            let action = &desired.scheduled[name];
            let time = |secs: Option<i64>| secs.map(aws_smithy_types::DateTime::from_secs);
            autoscaling
                .put_scheduled_update_group_action()
                .auto_scaling_group_name(group)
                .scheduled_action_name(name)
                .set_recurrence(action.recurrence.clone())
                .set_time_zone(action.time_zone.clone())
                .set_start_time(time(action.start_time))
                .set_end_time(time(action.end_time))
                .set_min_size(action.min_size)
                .set_max_size(action.max_size)
                .set_desired_capacity(action.desired_capacity)
                .send()
                .await
                .map_err(|e| aws_error("AutoScaling", "PutScheduledUpdateGroupAction", e))?;
        }
        Change::DeleteScheduledAction { name, .. } => {
            deleted(
                "DeleteScheduledAction",
                autoscaling
                    .delete_scheduled_action()
                    .auto_scaling_group_name(group)
                    .scheduled_action_name(name)
                    .send()
                    .await,
            )?;
        }
        Change::DeleteLifecycleHook { name, .. } => {
            deleted(
                "DeleteLifecycleHook",
                autoscaling
                    .delete_lifecycle_hook()
                    .auto_scaling_group_name(group)
                    .lifecycle_hook_name(name)
                    .send()
                    .await,
            )?;
        }
    }
    Ok(())
}

/// The group's template inside the spec's mixed instances policy, if it has one.
fn mixed_policy(desired: &Desired, progress: &Progress) -> Option<MixedInstancesPolicy> {
    let mixed = desired.mixed.as_ref()?;
    let overrides = mixed
        .overrides
        .iter()
        .map(super::overrides::to_sdk)
        .collect();
    let d = &mixed.distribution;
    Some(
        MixedInstancesPolicy::builder()
            .launch_template(
                AsgLaunchTemplate::builder()
                    .launch_template_specification(group_template(desired, progress))
                    .set_overrides(Some(overrides))
                    .build(),
            )
            .instances_distribution(
                InstancesDistribution::builder()
                    .set_on_demand_allocation_strategy(d.on_demand_allocation_strategy.clone())
                    .set_on_demand_base_capacity(d.on_demand_base_capacity)
                    .set_on_demand_percentage_above_base_capacity(
                        d.on_demand_percentage_above_base_capacity,
                    )
                    .set_spot_allocation_strategy(d.spot_allocation_strategy.clone())
                    .set_spot_instance_pools(d.spot_instance_pools)
                    .set_spot_max_price(d.spot_max_price.clone())
                    .build(),
            )
            .build(),
    )
}

fn refresh_preferences(refresh: &super::InstanceRefreshSpec) -> RefreshPreferences {
    let checkpoints = &refresh.checkpoint_percentages;
    RefreshPreferences::builder()
        .min_healthy_percentage(refresh.min_healthy_percentage)
        .set_max_healthy_percentage(refresh.max_healthy_percentage)
        .set_instance_warmup(refresh.instance_warmup)
        .set_skip_matching(refresh.skip_matching)
        .set_checkpoint_percentages((!checkpoints.is_empty()).then(|| checkpoints.clone()))
        .set_checkpoint_delay(refresh.checkpoint_delay)
        .set_auto_rollback(refresh.auto_rollback)
        .set_alarm_specification((!refresh.alarms.is_empty()).then(|| {
            AlarmSpecification::builder()
                .set_alarms(Some(refresh.alarms.clone()))
                .build()
        }))
        .set_scale_in_protected_instances(
            refresh
                .scale_in_protected_instances
                .as_deref()
                .map(ScaleInProtectedInstances::from),
        )
        .set_standby_instances(
            refresh
                .standby_instances
                .as_deref()
                .map(StandbyInstances::from),
        )
        .set_bake_time(refresh.bake_time)
        .build()
}

fn maintenance_policy(settings: &GroupSettings) -> Option<InstanceMaintenancePolicy> {
    settings.instance_maintenance_policy.map(|(min, max)| {
        InstanceMaintenancePolicy::builder()
            .min_healthy_percentage(min)
            .max_healthy_percentage(max)
            .build()
    })
}

/// Auto Scaling sees a launch template or version EC2 has just created only after a
/// moment, and until then answers a `ValidationError` that it does not exist. For the
/// managed template, which this object created a moment ago, that is a dependency not
/// ready yet (retried), not the user's mistake.
fn template_not_visible_yet(desired: &Desired, error: Error) -> Error {
    match error {
        Error::Aws {
            ref code,
            ref message,
            ..
        } if code == "ValidationError"
            && matches!(desired.template, TemplateSource::Managed(_))
            && is_missing_template(message) =>
        {
            Error::NotReady(format!(
                "Auto Scaling does not see launch template {} yet; will try again",
                managed_template(desired).name
            ))
        }
        other => other,
    }
}

fn is_missing_template(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("launch template")
        && (message.contains("does not exist")
            || message.contains("not found")
            || message.contains("could not be found"))
}

/// Auto Scaling answers a missing resource with a `ValidationError` saying so.
fn is_not_found<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    let message = error
        .as_service_error()
        .and_then(|e| e.message())
        .unwrap_or_default()
        .to_ascii_lowercase();
    matches!(
        error_code(error),
        Some("ValidationError") | Some("ResourceNotFound")
    ) && (message.contains("not found") || message.contains("does not exist"))
}

/// The result of an Auto Scaling delete: a resource already gone counts as deleted.
fn deleted<T, E>(
    operation: &'static str,
    result: std::result::Result<T, SdkError<E, HttpResponse>>,
) -> Result<()>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(error) if is_not_found(&error) => Ok(()),
        Err(error) => Err(aws_error("AutoScaling", operation, error)),
    }
}

fn metric_dimensions(dimensions: &BTreeMap<String, String>) -> Option<Vec<MetricDimension>> {
    (!dimensions.is_empty()).then(|| {
        dimensions
            .iter()
            .map(|(name, value)| MetricDimension::builder().name(name).value(value).build())
            .collect()
    })
}

fn customized_metric(spec: &super::CustomizedMetricSpec) -> CustomizedMetricSpecification {
    let metrics = spec
        .metrics
        .iter()
        .map(|query| {
            let stat = query.metric_stat.as_ref().map(|stat| {
                TargetTrackingMetricStat::builder()
                    .metric(
                        Metric::builder()
                            .metric_name(&stat.metric.metric_name)
                            .namespace(&stat.metric.namespace)
                            .set_dimensions(metric_dimensions(&stat.metric.dimensions))
                            .build(),
                    )
                    .stat(&stat.stat)
                    .set_unit(stat.unit.clone())
                    .build()
            });
            TargetTrackingMetricDataQuery::builder()
                .id(&query.id)
                .set_expression(query.expression.clone())
                .set_metric_stat(stat)
                .set_label(query.label.clone())
                .set_return_data(query.return_data)
                .build()
        })
        .collect::<Vec<_>>();
    CustomizedMetricSpecification::builder()
        .set_metric_name(spec.metric_name.clone())
        .set_namespace(spec.namespace.clone())
        .set_dimensions(metric_dimensions(&spec.dimensions))
        .set_statistic(spec.statistic.as_deref().map(MetricStatistic::from))
        .set_unit(spec.unit.clone())
        .set_metrics((!metrics.is_empty()).then_some(metrics))
        .build()
}

fn predictive_configuration(spec: &super::PredictiveScalingSpec) -> PredictiveScalingConfiguration {
    PredictiveScalingConfiguration::builder()
        .metric_specifications(
            PredictiveScalingMetricSpecification::builder()
                .target_value(spec.target_value)
                .predefined_metric_pair_specification(
                    PredictiveScalingPredefinedMetricPair::builder()
                        .predefined_metric_type(PredefinedMetricPairType::from(
                            spec.predefined_metric_pair.as_str(),
                        ))
                        .set_resource_label(spec.resource_label.clone())
                        .build(),
                )
                .build(),
        )
        .set_mode(spec.mode.as_deref().map(PredictiveScalingMode::from))
        .set_scheduling_buffer_time(spec.scheduling_buffer_time)
        .set_max_capacity_breach_behavior(
            spec.max_capacity_breach_behavior
                .as_deref()
                .map(PredictiveScalingMaxCapacityBreachBehavior::from),
        )
        .set_max_capacity_buffer(spec.max_capacity_buffer)
        .build()
}

async fn put_policy(
    clients: &AccountClients,
    group: &str,
    policy: &DesiredPolicy,
) -> Result<Option<String>> {
    let extras = &policy.extras;
    let request = clients
        .autoscaling
        .put_scaling_policy()
        .auto_scaling_group_name(group)
        .policy_name(&policy.name)
        .set_enabled(extras.enabled)
        .set_estimated_instance_warmup(extras.estimated_instance_warmup)
        .set_min_adjustment_magnitude(extras.min_adjustment_magnitude)
        .set_metric_aggregation_type(extras.metric_aggregation_type.clone());
    let request = match &policy.kind {
        PolicyKind::Alarm {
            adjustment_type,
            adjustment: Adjustment::Simple(adjustment),
            cooldown,
            ..
        } => request
            .policy_type("SimpleScaling")
            .adjustment_type(adjustment_type)
            .scaling_adjustment(*adjustment)
            .set_cooldown(*cooldown),
        PolicyKind::Alarm {
            adjustment_type,
            adjustment: Adjustment::Steps(steps),
            ..
        } => request
            .policy_type("StepScaling")
            .adjustment_type(adjustment_type)
            .set_step_adjustments(Some(
                steps
                    .iter()
                    .map(|step| {
                        StepAdjustment::builder()
                            .set_metric_interval_lower_bound(step.lower_bound)
                            .set_metric_interval_upper_bound(step.upper_bound)
                            .scaling_adjustment(step.scaling_adjustment)
                            .build()
                    })
                    .collect(),
            )),
        PolicyKind::TargetTracking {
            metric,
            target_value,
        } => {
            let configuration = TargetTrackingConfiguration::builder()
                .target_value(*target_value)
                .set_disable_scale_in(extras.disable_scale_in);
            let configuration = match metric {
                TrackedMetric::Predefined(predefined) => configuration
                    .predefined_metric_specification(
                        PredefinedMetricSpecification::builder()
                            .predefined_metric_type(MetricType::from(predefined.as_str()))
                            .set_resource_label(extras.resource_label.clone())
                            .build(),
                    ),
                TrackedMetric::Customized(customized) => {
                    configuration.customized_metric_specification(customized_metric(customized))
                }
            };
            request
                .policy_type("TargetTrackingScaling")
                .target_tracking_configuration(configuration.build())
        }
        PolicyKind::Predictive(predictive) => request
            .policy_type("PredictiveScaling")
            .predictive_scaling_configuration(predictive_configuration(predictive)),
    };
    let answer = request
        .send()
        .await
        .map_err(|e| aws_error("AutoScaling", "PutScalingPolicy", e))?;
    Ok(answer
        .policy_arn()
        .filter(|arn| !arn.is_empty())
        .map(str::to_string))
}

async fn delete_alarms(clients: &AccountClients, names: &[String]) -> Result<()> {
    // DeleteAlarms takes up to 100 names and ignores missing ones.
    for chunk in names.chunks(100) {
        clients
            .cloudwatch
            .delete_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error("CloudWatch", "DeleteAlarms", e))?;
    }
    Ok(())
}

fn managed_template(desired: &Desired) -> &DesiredTemplate {
    match &desired.template {
        TemplateSource::Managed(template) => template,
        TemplateSource::Reference { .. } => unreachable!("planned for a managed template"),
    }
}

fn join(values: &BTreeSet<String>) -> String {
    values.iter().cloned().collect::<Vec<_>>().join(",")
}

/// The group's template: the managed one at the version made or found, or the reference.
fn group_template(desired: &Desired, progress: &Progress) -> LaunchTemplateSpecification {
    match &desired.template {
        TemplateSource::Managed(_) => LaunchTemplateSpecification::builder()
            .set_launch_template_id(progress.template_id.clone())
            .set_version(progress.template_version.clone())
            .build(),
        TemplateSource::Reference { id, name, version } => LaunchTemplateSpecification::builder()
            .set_launch_template_id(id.clone())
            .set_launch_template_name(name.clone())
            .version(version)
            .build(),
    }
}

fn group_tags(desired: &Desired) -> Vec<GroupTagInput> {
    desired
        .tags
        .iter()
        .map(|(key, (value, propagate))| {
            GroupTagInput::builder()
                .resource_id(&desired.name)
                .resource_type("auto-scaling-group")
                .key(key)
                .value(value)
                .propagate_at_launch(*propagate)
                .build()
        })
        .collect()
}

fn hook_specifications(desired: &Desired) -> Vec<LifecycleHookSpecification> {
    desired
        .hooks
        .iter()
        .map(|(name, hook)| {
            LifecycleHookSpecification::builder()
                .lifecycle_hook_name(name)
                .lifecycle_transition(&hook.transition)
                .set_notification_target_arn(hook.target_arn.clone())
                .set_role_arn(hook.role_arn.clone())
                .heartbeat_timeout(hook.heartbeat_timeout)
                .default_result(&hook.default_result)
                .build()
        })
        .collect()
}

fn ec2_tags(tags: &BTreeMap<String, String>) -> Vec<Ec2Tag> {
    tags.iter()
        .map(|(k, v)| Ec2Tag::builder().key(k).value(v).build())
        .collect()
}

/// The EC2 launch template data of the inline spec; user data is base64-encoded here.
fn template_data(spec: &super::LaunchTemplateSpec) -> Result<RequestLaunchTemplateData> {
    let metadata = &spec.metadata_options;
    let mut data = RequestLaunchTemplateData::builder()
        .image_id(&spec.image_id)
        .instance_type(spec.instance_type.as_str().into())
        .set_key_name(spec.key_name.clone())
        .set_security_group_ids(
            (!spec.security_group_ids.is_empty()).then(|| spec.security_group_ids.clone()),
        )
        .set_user_data(
            spec.user_data
                .as_ref()
                .map(|text| aws_smithy_types::base64::encode(text.as_bytes())),
        )
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(LaunchTemplateHttpTokensState::from(
                    metadata.http_tokens.as_str(),
                ))
                .http_put_response_hop_limit(metadata.http_put_response_hop_limit)
                .instance_metadata_tags(if metadata.instance_metadata_tags {
                    LaunchTemplateInstanceMetadataTagsState::Enabled
                } else {
                    LaunchTemplateInstanceMetadataTagsState::Disabled
                })
                .set_http_endpoint(
                    metadata
                        .http_endpoint
                        .as_deref()
                        .map(LaunchTemplateInstanceMetadataEndpointState::from),
                )
                .set_http_protocol_ipv6(
                    metadata
                        .http_protocol_ipv6
                        .as_deref()
                        .map(LaunchTemplateInstanceMetadataProtocolIpv6::from),
                )
                .build(),
        )
        .set_ebs_optimized(spec.ebs_optimized)
        .set_monitoring(spec.monitoring.map(|enabled| {
            LaunchTemplatesMonitoringRequest::builder()
                .enabled(enabled)
                .build()
        }))
        .set_credit_specification(spec.credit_specification.as_ref().map(|credits| {
            CreditSpecificationRequest::builder()
                .cpu_credits(credits)
                .build()
        }))
        .set_cpu_options(spec.cpu_options.as_ref().map(|cpu| {
            LaunchTemplateCpuOptionsRequest::builder()
                .set_core_count(cpu.core_count)
                .set_threads_per_core(cpu.threads_per_core)
                .build()
        }))
        .set_placement(spec.placement.as_ref().map(|placement| {
            LaunchTemplatePlacementRequest::builder()
                .set_tenancy(placement.tenancy.as_deref().map(Tenancy::from))
                .set_group_name(placement.group_name.clone())
                .build()
        }))
        .set_instance_market_options(spec.instance_market_options.as_ref().map(|market| {
            LaunchTemplateInstanceMarketOptionsRequest::builder()
                .market_type(MarketType::from(market.market_type.as_str()))
                .set_spot_options(market.max_price.as_ref().map(|price| {
                    LaunchTemplateSpotMarketOptionsRequest::builder()
                        .max_price(price)
                        .build()
                }))
                .build()
        }))
        .set_capacity_reservation_specification(
            spec.capacity_reservation_specification
                .as_ref()
                .map(|reservation| {
                    LaunchTemplateCapacityReservationSpecificationRequest::builder()
                        .capacity_reservation_preference(CapacityReservationPreference::from(
                            reservation.capacity_reservation_preference.as_str(),
                        ))
                        .build()
                }),
        );
    for interface in &spec.network_interfaces {
        data = data.network_interfaces(
            LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                .device_index(interface.device_index)
                .set_associate_public_ip_address(interface.associate_public_ip_address)
                .set_groups(
                    (!interface.security_group_ids.is_empty())
                        .then(|| interface.security_group_ids.clone()),
                )
                .set_ipv6_address_count(interface.ipv6_address_count)
                .delete_on_termination(interface.delete_on_termination.unwrap_or(true))
                .set_description(interface.description.clone())
                .build(),
        );
    }
    if let Some(profile) = &spec.iam_instance_profile {
        let builder = LaunchTemplateIamInstanceProfileSpecificationRequest::builder();
        data = data.iam_instance_profile(if profile.starts_with("arn:") {
            builder.arn(profile).build()
        } else {
            builder.name(profile).build()
        });
    }
    for mapping in &spec.block_device_mappings {
        data = data.block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(&mapping.device_name)
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .set_volume_size(mapping.volume_size_gib)
                        .volume_type(VolumeType::from(
                            mapping.volume_type.as_deref().unwrap_or("gp3"),
                        ))
                        .set_iops(mapping.iops)
                        .set_throughput(mapping.throughput)
                        .set_encrypted(
                            mapping
                                .encrypted
                                .or(mapping.kms_key_id.as_ref().map(|_| true)),
                        )
                        .set_kms_key_id(mapping.kms_key_id.clone())
                        .set_snapshot_id(mapping.snapshot_id.clone())
                        .delete_on_termination(mapping.delete_on_termination.unwrap_or(true))
                        .build(),
                )
                .build(),
        );
    }
    if !spec.tags.is_empty() {
        for resource in [ResourceType::Instance, ResourceType::Volume] {
            data = data.tag_specifications(
                LaunchTemplateTagSpecificationRequest::builder()
                    .resource_type(resource)
                    .set_tags(Some(ec2_tags(&spec.tags)))
                    .build(),
            );
        }
    }
    Ok(data.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(template: &str) -> Desired {
        let yaml = format!(
            "apiVersion: ecsfleet.dev/v1alpha1\nkind: ScalingGroup\nmetadata: {{name: web, namespace: team-a, uid: u1}}\nspec: {{region: eu-west-1, minSize: 0, maxSize: 1, availabilityZones: [eu-west-1a], {template}}}\n"
        );
        let obj: ScalingGroup = serde_yaml_ng::from_str(&yaml).unwrap();
        Desired::from_spec(&obj).unwrap()
    }

    fn refusal(message: &str) -> Error {
        Error::Aws {
            service: "AutoScaling",
            operation: "CreateAutoScalingGroup",
            code: "ValidationError".into(),
            message: message.into(),
            retryable: false,
        }
    }

    const NOT_YET: &str = "You must use a valid fully-formed launch template. The specified launch template, with template ID lt-0123456789abcdef0, does not exist.";

    #[test]
    fn a_managed_template_auto_scaling_does_not_see_yet_is_not_ready() {
        let managed =
            group("launchTemplate: {imageId: ami-0123456789abcdef0, instanceType: t3.small}");
        assert!(matches!(
            template_not_visible_yet(&managed, refusal(NOT_YET)),
            Error::NotReady(_)
        ));
        // Another validation error stays what it is.
        let other = template_not_visible_yet(
            &managed,
            refusal("Max bound, 5, must be greater than or equal to min bound, 6"),
        );
        assert!(matches!(other, Error::Aws { ref code, .. } if code == "ValidationError"));
        // A referenced template is the user's: its absence is reported as AWS said.
        let referenced = group("launchTemplateRef: {name: someone-elses}");
        assert!(matches!(
            template_not_visible_yet(&referenced, refusal(NOT_YET)),
            Error::Aws { .. }
        ));
    }
}
