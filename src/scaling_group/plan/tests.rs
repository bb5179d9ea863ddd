use super::*;
use std::collections::BTreeMap;

use crate::runtime::Change as _;
use crate::scaling_group::desired::*;
use crate::scaling_group::observe::{
    GroupTemplate, ObservedGroup, ObservedInstance, ObservedTemplate,
};
use crate::scaling_group::*;
use crate::{Error, Reason};

const EXAMPLE: &str = include_str!("../../../examples/haproxy-scaling-group.yaml");
const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:haproxy-staging-events";

fn object(yaml: &str) -> ScalingGroup {
    let mut obj: ScalingGroup = serde_yaml_ng::from_str(yaml).unwrap();
    obj.metadata.uid = Some("uid-1".into());
    obj.metadata.generation = Some(1);
    obj
}

/// The spec as the last sync saw it: a difference now is drift.
fn desired(yaml: &str) -> Desired {
    Desired {
        spec_unchanged: true,
        ..Desired::from_spec(&object(yaml)).unwrap()
    }
}

/// A spec changed since the last sync: differences follow the spec.
fn changed(yaml: &str) -> Desired {
    Desired::from_spec(&object(yaml)).unwrap()
}

fn policy_arn(name: &str) -> String {
    format!(
        "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:x:autoScalingGroupName/haproxy-staging:policyName/{name}"
    )
}

/// What AWS looks like when everything matches `desired`, with two instances in service
/// on template version 1.
fn in_sync(desired: &Desired) -> Observed {
    let TemplateSource::Managed(template) = &desired.template else {
        panic!("the example has an inline template");
    };
    let policies = desired
        .policies
        .iter()
        .map(|p| {
            let live = match &p.kind {
                PolicyKind::Alarm {
                    adjustment_type,
                    adjustment,
                    cooldown,
                    ..
                } => ObservedPolicy {
                    arn: policy_arn(&p.name),
                    policy_type: match adjustment {
                        Adjustment::Simple(_) => "SimpleScaling".into(),
                        Adjustment::Steps(_) => "StepScaling".into(),
                    },
                    adjustment_type: Some(adjustment_type.clone()),
                    scaling_adjustment: match adjustment {
                        Adjustment::Simple(n) => Some(*n),
                        Adjustment::Steps(_) => None,
                    },
                    steps: match adjustment {
                        Adjustment::Simple(_) => Vec::new(),
                        Adjustment::Steps(steps) => steps.clone(),
                    },
                    cooldown: *cooldown,
                    ..ObservedPolicy::default()
                },
                PolicyKind::TargetTracking {
                    metric,
                    target_value,
                } => ObservedPolicy {
                    arn: policy_arn(&p.name),
                    policy_type: "TargetTrackingScaling".into(),
                    tracked: Some(metric.clone()),
                    target_value: Some(*target_value),
                    ..ObservedPolicy::default()
                },
                PolicyKind::Predictive(predictive) => ObservedPolicy {
                    arn: policy_arn(&p.name),
                    policy_type: "PredictiveScaling".into(),
                    predictive: Some((**predictive).clone()),
                    ..ObservedPolicy::default()
                },
            };
            (p.name.clone(), live)
        })
        .collect();
    let alarms = desired
        .policies
        .iter()
        .filter_map(|p| match &p.kind {
            PolicyKind::Alarm { alarm, .. } => Some((
                alarm.name.clone(),
                ObservedAlarm {
                    metric_name: alarm.metric_name.clone(),
                    namespace: alarm.namespace.clone(),
                    statistic: alarm.statistic.clone(),
                    period: alarm.period,
                    evaluation_periods: alarm.evaluation_periods,
                    threshold: alarm.threshold,
                    comparison_operator: alarm.comparison_operator.clone(),
                    dimensions: alarm.dimensions.clone(),
                    actions: vec![policy_arn(&p.name)],
                    options: alarm.options.clone(),
                    arn: format!("arn:aws:cloudwatch:eu-west-1:1:alarm:{}", alarm.name),
                    tags: None,
                },
            )),
            PolicyKind::TargetTracking { .. } | PolicyKind::Predictive(_) => None,
        })
        .collect();
    let instance = |id: &str| ObservedInstance {
        id: id.into(),
        lifecycle_state: "InService".into(),
        template_version: Some("1".into()),
    };
    Observed {
        template: Some(ObservedTemplate {
            id: "lt-1".into(),
            latest_version: 1,
            tags: desired.owner.tags(),
            versions: BTreeMap::from([(1, template.description.clone())]),
            group_version: Some(1),
        }),
        group: Some(ObservedGroup {
            arn: Some("arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:x:autoScalingGroupName/haproxy-staging".into()),
            min_size: desired.min_size,
            max_size: desired.max_size,
            desired_capacity: desired.desired_capacity.unwrap_or(desired.min_size),
            template: Some(GroupTemplate {
                id: "lt-1".into(),
                name: "haproxy-staging".into(),
                version: "1".into(),
            }),
            availability_zones: desired.availability_zones.clone(),
            subnet_ids: desired.subnet_ids.clone(),
            health_check_type: desired.health_check_type.clone(),
            health_check_grace_period: desired.health_check_grace_period,
            default_cooldown: desired.default_cooldown,
            termination_policies: desired.termination_policies.clone(),
            settings: desired.settings.clone(),
            mixed: desired.mixed.clone(),
            target_group_arns: desired.target_group_arns.clone(),
            tags: desired.tags.clone(),
            instances: vec![instance("i-1"), instance("i-2")],
            deleting: false,
        }),
        policies,
        alarms,
        notifications: desired
            .notifications
            .iter()
            .map(|n| (TOPIC.to_string(), n.types.clone()))
            .collect(),
        topic_arn: desired.notifications.as_ref().map(|_| TOPIC.to_string()),
        topic_exists: desired.notifications.is_some(),
        hooks: desired.hooks.clone(),
        warm_pool: desired.warm_pool.clone().map(|pool| (Some(pool), 0)),
        scheduled: (!desired.scheduled.is_empty()).then(|| desired.scheduled.clone()),
        refresh: None,
        spot_instances: None,
    }
}

fn actions(changes: &[Change]) -> Vec<String> {
    changes.iter().map(|c| c.describe().action).collect()
}

#[test]
fn a_new_group_gets_every_part_in_order() {
    let desired = desired(EXAMPLE);
    let observed = Observed {
        topic_arn: Some(TOPIC.into()),
        ..Observed::default()
    };
    let changes = plan(&desired, &observed).unwrap();
    assert_eq!(
        actions(&changes),
        [
            "CreateLaunchTemplate",
            "CreateAutoScalingGroup",
            "PutScalingPolicy",
            "PutMetricAlarm",
            "PutScalingPolicy",
            "PutMetricAlarm",
            "CreateTopic",
            "PutNotificationConfiguration",
            "PutLifecycleHook",
        ]
    );
    assert!(changes.iter().all(|c| !c.is_drift_repair()));
}

#[test]
fn a_group_in_sync_needs_nothing() {
    let desired = desired(EXAMPLE);
    assert_eq!(plan(&desired, &in_sync(&desired)).unwrap(), Vec::new());
}

#[test]
fn capacity_moved_by_scaling_policies_is_kept() {
    let desired = desired(EXAMPLE);
    let mut observed = in_sync(&desired);
    observed.group.as_mut().unwrap().desired_capacity = 4;
    assert_eq!(plan(&desired, &observed).unwrap(), Vec::new());
}

#[test]
fn a_changed_spec_capacity_is_applied_and_remembered() {
    let before = desired(EXAMPLE);
    let observed = in_sync(&before);
    let after = changed(&EXAMPLE.replace("desiredCapacity: 2", "desiredCapacity: 3"));
    let changes = plan(&after, &observed).unwrap();
    assert_eq!(
        changes,
        [
            Change::TagGroup { drift: false },
            Change::UpdateGroup {
                fields: vec!["desiredCapacity"],
                drift: false
            }
        ]
    );
    assert_eq!(
        after.tags[DESIRED_CAPACITY_TAG],
        ("3".to_string(), false),
        "the new value is remembered on the group"
    );
}

#[test]
fn min_and_max_are_enforced() {
    let desired = desired(EXAMPLE);
    let mut observed = in_sync(&desired);
    observed.group.as_mut().unwrap().max_size = 10;
    assert_eq!(
        plan(&desired, &observed).unwrap(),
        [Change::UpdateGroup {
            fields: vec!["maxSize"],
            drift: true
        }]
    );
}

#[test]
fn a_changed_template_makes_a_version_and_refreshes_instances() {
    let before = desired(EXAMPLE);
    let observed = in_sync(&before);
    let after = changed(&EXAMPLE.replace("t3.small", "t3.medium"));
    let changes = plan(&after, &observed).unwrap();
    assert_eq!(
        changes,
        [
            Change::CreateLaunchTemplateVersion { drift: false },
            Change::UpdateGroup {
                fields: vec!["launchTemplate"],
                drift: false
            },
            Change::StartInstanceRefresh,
        ]
    );

    let without_refresh = desired(
        &EXAMPLE
            .replace("t3.small", "t3.medium")
            .replace("onTemplateChange: true", "onTemplateChange: false"),
    );
    assert!(
        !actions(&plan(&without_refresh, &observed).unwrap())
            .contains(&"StartInstanceRefresh".to_string())
    );
}

#[test]
fn one_instance_refresh_at_a_time() {
    let after = desired(&EXAMPLE.replace("t3.small", "t3.medium"));
    let mut observed = in_sync(&desired(EXAMPLE));
    observed.refresh = Some(InstanceRefreshStatus {
        id: "r-1".into(),
        status: "InProgress".into(),
        launch_template_version: Some("1".into()),
    });
    let changes = actions(&plan(&after, &observed).unwrap());
    assert!(changes.contains(&"CreateLaunchTemplateVersion".to_string()));
    assert!(!changes.contains(&"StartInstanceRefresh".to_string()));
}

#[test]
fn instances_of_an_older_version_are_refreshed_once_per_version() {
    let desired = desired(EXAMPLE);
    let mut observed = in_sync(&desired);
    // The group already launches version 2 (a refresh was postponed), hosts run 1.
    let TemplateSource::Managed(template) = &desired.template else {
        unreachable!()
    };
    let live = observed.template.as_mut().unwrap();
    live.latest_version = 2;
    live.group_version = Some(2);
    live.versions = BTreeMap::from([(2, template.description.clone())]);
    observed
        .group
        .as_mut()
        .unwrap()
        .template
        .as_mut()
        .unwrap()
        .version = "2".into();
    assert_eq!(
        plan(&desired, &observed).unwrap(),
        [Change::StartInstanceRefresh]
    );
    // A refresh to version 2 ran (and, say, failed): not restarted in a loop.
    observed.refresh = Some(InstanceRefreshStatus {
        id: "r-1".into(),
        status: "Failed".into(),
        launch_template_version: Some("2".into()),
    });
    assert_eq!(plan(&desired, &observed).unwrap(), Vec::new());
}

#[test]
fn a_removed_policy_is_deleted_with_its_alarm() {
    let before = desired(EXAMPLE);
    let observed = in_sync(&before);
    let start = EXAMPLE.find("    - name: haproxy-cpu-low").unwrap();
    let end = EXAMPLE.find("  notifications:").unwrap();
    let yaml = format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]);
    let changes = plan(&changed(&yaml), &observed).unwrap();
    assert_eq!(
        changes,
        [
            Change::DeleteAlarms {
                names: vec!["haproxy-staging-haproxy-cpu-low".into()],
                drift: false
            },
            Change::DeletePolicy {
                name: "haproxy-cpu-low".into(),
                drift: false
            },
        ]
    );
}

#[test]
fn an_alarm_changed_out_of_band_is_set_back() {
    let desired = desired(EXAMPLE);
    let mut observed = in_sync(&desired);
    let alarm = observed
        .alarms
        .get_mut("haproxy-staging-haproxy-cpu-high")
        .unwrap();
    alarm.threshold = 95.0;
    let changes = plan(&desired, &observed).unwrap();
    assert_eq!(
        changes,
        [Change::PutMetricAlarm {
            policy: "haproxy-cpu-high".into(),
            alarm: "haproxy-staging-haproxy-cpu-high".into(),
            adopt: None,
            drift: true
        }]
    );
    assert!(changes[0].describe().detail.ends_with("(repairs drift)"));
}

#[test]
fn a_recreated_policy_gets_its_alarm_pointed_at_it_again() {
    let desired = desired(EXAMPLE);
    let mut observed = in_sync(&desired);
    observed.policies.remove("haproxy-cpu-high");
    assert_eq!(
        actions(&plan(&desired, &observed).unwrap()),
        ["PutScalingPolicy", "PutMetricAlarm"]
    );
}

#[test]
fn notification_types_and_hooks_follow_the_spec() {
    let desired_now = changed(
        &EXAMPLE
            .replace(
                "types: [Launch, Terminate, LaunchError, TerminateError]",
                "types: [Launch, Terminate]",
            )
            .replace(
                "heartbeatTimeoutSeconds: 300",
                "heartbeatTimeoutSeconds: 600",
            ),
    );
    let observed = in_sync(&desired(EXAMPLE));
    assert_eq!(
        plan(&desired_now, &observed).unwrap(),
        [
            Change::PutNotificationConfiguration { drift: false },
            Change::PutLifecycleHook {
                name: "forget-node".into(),
                drift: false
            }
        ]
    );

    let start = EXAMPLE.find("  notifications:").unwrap();
    let end = EXAMPLE.find("  # The hosts join").unwrap();
    let bare = changed(&format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]));
    assert_eq!(
        plan(&bare, &observed).unwrap(),
        [
            Change::DeleteNotificationConfiguration {
                topic_arn: TOPIC.into(),
                drift: false
            },
            Change::DeleteLifecycleHook {
                name: "forget-node".into(),
                drift: false
            },
        ]
    );
}

#[test]
fn hooks_compare_every_field() {
    let desired = desired(EXAMPLE);
    let mut observed = in_sync(&desired);
    observed.hooks.get_mut("forget-node").unwrap().role_arn =
        Some("arn:aws:iam::1234567890:role/my-auto-scaling-role".into());
    assert_eq!(
        actions(&plan(&desired, &observed).unwrap()),
        ["PutLifecycleHook"]
    );
}

#[test]
fn ownership_is_checked_before_anything_is_planned() {
    let desired = desired(EXAMPLE);
    let mut observed = in_sync(&desired);
    let group = observed.group.as_mut().unwrap();
    group.tags.retain(|k, _| !k.starts_with("ecsfleet.dev/"));
    let error = plan(&desired, &observed).unwrap_err();
    assert_eq!(error.reason(), Reason::AlreadyExists, "{error}");

    let mut adopting = desired.clone();
    adopting.adopt_existing = true;
    // Adopted: tagged, and the spec capacity applied for the first time.
    assert_eq!(
        plan(&adopting, &observed).unwrap(),
        [
            Change::TagGroup { drift: false },
            Change::UpdateGroup {
                fields: vec!["desiredCapacity"],
                drift: false
            }
        ]
    );

    let group = observed.group.as_mut().unwrap();
    group.tags.insert(
        "ecsfleet.dev/owner".into(),
        ("edge/someone-else".into(), false),
    );
    let error = plan(&adopting, &observed).unwrap_err();
    assert!(matches!(error, Error::OwnedByOther { .. }), "{error}");
}

#[test]
fn a_group_being_deleted_is_waited_for() {
    let desired = desired(EXAMPLE);
    let mut observed = in_sync(&desired);
    observed.group.as_mut().unwrap().deleting = true;
    let error = plan(&desired, &observed).unwrap_err();
    assert!(error.is_retryable(), "{error}");
}

#[test]
fn the_template_digest_follows_the_template_only() {
    let a = desired(EXAMPLE);
    let b = desired(&EXAMPLE.replace("maxSize: 5", "maxSize: 6"));
    let c = desired(&EXAMPLE.replace("systemctl enable --now haproxy", "reboot"));
    let digest = |d: &Desired| match &d.template {
        TemplateSource::Managed(t) => t.description.clone(),
        TemplateSource::Reference { .. } => unreachable!(),
    };
    assert_eq!(digest(&a), digest(&b));
    assert_ne!(digest(&a), digest(&c));
    assert!(digest(&a).starts_with(DIGEST_PREFIX));
}

#[test]
fn alarms_default_to_the_group_dimension() {
    let desired = desired(EXAMPLE);
    let PolicyKind::Alarm { alarm, .. } = &desired.policies[0].kind else {
        panic!("simple policy")
    };
    assert_eq!(
        alarm.dimensions,
        BTreeMap::from([(
            "AutoScalingGroupName".to_string(),
            "haproxy-staging".to_string()
        )])
    );
    assert_eq!(alarm.namespace, "AWS/EC2");
    assert_eq!(alarm.name, "haproxy-staging-haproxy-cpu-high");
}

/// The scale-up policy of the example as step scaling: +1 up to 20 points past the
/// threshold, +2 beyond.
const STEPS: &str = "      steps:\n        - {upperBound: 20, scalingAdjustment: 1, lowerBound: 0}\n        - {lowerBound: 20, scalingAdjustment: 2}\n";

fn with_steps(steps: &str) -> String {
    EXAMPLE.replacen(
        "      scalingAdjustment: 1\n      cooldownSeconds: 300\n",
        steps,
        1,
    )
}

#[test]
fn step_scaling_policies_are_kept_in_line() {
    let desired = desired(&with_steps(STEPS));
    let PolicyKind::Alarm {
        adjustment: Adjustment::Steps(steps),
        ..
    } = &desired.policies[0].kind
    else {
        panic!("a step policy")
    };
    assert_eq!(steps.len(), 2);
    let mut observed = in_sync(&desired);
    assert_eq!(plan(&desired, &observed).unwrap(), Vec::new());

    // A step changed by hand is set back; the same steps in another order are in line.
    let live = observed.policies.get_mut("haproxy-cpu-high").unwrap();
    live.steps[1].scaling_adjustment = 5;
    assert_eq!(
        actions(&plan(&desired, &observed).unwrap()),
        ["PutScalingPolicy"]
    );
    let reordered = desired_policy_steps(
        "      steps:\n        - {lowerBound: 20, scalingAdjustment: 2}\n        - {lowerBound: 0, upperBound: 20, scalingAdjustment: 1}\n",
    );
    assert_eq!(reordered, *steps);

    // A simple policy that became a step policy is put again.
    let simple = in_sync(&changed(EXAMPLE));
    assert_eq!(
        actions(&plan(&desired, &simple).unwrap()),
        ["PutScalingPolicy"]
    );
}

fn desired_policy_steps(steps: &str) -> Vec<Step> {
    match &desired(&with_steps(steps)).policies[0].kind {
        PolicyKind::Alarm {
            adjustment: Adjustment::Steps(steps),
            ..
        } => steps.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn step_intervals_must_meet() {
    let cases = [
        (
            "      steps:\n        - {lowerBound: 0, upperBound: 10, scalingAdjustment: 1}\n        - {lowerBound: 20, scalingAdjustment: 2}\n",
            "spec.scalingPolicies[0].steps:",
        ),
        (
            "      steps:\n        - {lowerBound: 10, upperBound: 5, scalingAdjustment: 1}\n",
            "spec.scalingPolicies[0].steps[0]:",
        ),
        (
            "      steps:\n        - {scalingAdjustment: 1}\n        - {scalingAdjustment: 2}\n",
            "spec.scalingPolicies[0].steps:",
        ),
        (
            "      scalingAdjustment: 1\n      steps:\n        - {lowerBound: 0, scalingAdjustment: 1}\n",
            "spec.scalingPolicies[0].scalingAdjustment:",
        ),
        (
            "      cooldownSeconds: 60\n      steps:\n        - {lowerBound: 0, scalingAdjustment: 1}\n",
            "spec.scalingPolicies[0].cooldownSeconds:",
        ),
    ];
    for (steps, field) in cases {
        let error = Desired::from_spec(&object(&with_steps(steps))).unwrap_err();
        assert_eq!(error.reason(), Reason::InvalidSpec, "{error}");
        assert!(
            error.to_string().starts_with(field),
            "{error} should name {field}"
        );
    }
}

#[test]
fn target_groups_and_subnets_follow_the_spec() {
    let yaml = EXAMPLE
        .replace(
            "availabilityZones: [eu-west-1a, eu-west-1b]",
            "subnetIds: [subnet-a, subnet-b]\n  targetGroupArns: [arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/haproxy/1]",
        );
    let desired = desired(&yaml);
    let mut observed = in_sync(&desired);
    assert_eq!(plan(&desired, &observed).unwrap(), Vec::new());

    let group = observed.group.as_mut().unwrap();
    group.subnet_ids = ["subnet-a".to_string()].into();
    group.target_group_arns =
        ["arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/old/2".to_string()]
            .into();
    assert_eq!(
        plan(&desired, &observed).unwrap(),
        [
            Change::UpdateGroup {
                fields: vec!["subnetIds"],
                drift: true
            },
            Change::AttachTargetGroups {
                arns: vec![
                    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/haproxy/1"
                        .into()
                ],
                drift: true
            },
            Change::DetachTargetGroups {
                arns: vec![
                    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/old/2".into()
                ],
                drift: true
            },
        ]
    );
}

#[test]
fn a_referenced_template_is_pointed_at_as_given() {
    let start = EXAMPLE.find("  launchTemplate:").unwrap();
    let end = EXAMPLE.find("  minSize:").unwrap();
    let yaml = format!(
        "{}  launchTemplateRef: {{name: shared-haproxy, version: \"7\"}}\n{}",
        &EXAMPLE[..start],
        &EXAMPLE[end..]
    );
    let mut observed = in_sync(&desired(EXAMPLE));
    let desired = desired(&yaml);
    observed.template = None;
    let group = observed.group.as_mut().unwrap();
    group.template = Some(GroupTemplate {
        id: "lt-9".into(),
        name: "shared-haproxy".into(),
        version: "7".into(),
    });
    for instance in &mut group.instances {
        instance.template_version = Some("7".into());
    }
    assert_eq!(plan(&desired, &observed).unwrap(), Vec::new());
    observed
        .group
        .as_mut()
        .unwrap()
        .template
        .as_mut()
        .unwrap()
        .version = "6".into();
    assert_eq!(
        plan(&desired, &observed).unwrap(),
        [
            Change::UpdateGroup {
                fields: vec!["launchTemplate"],
                drift: true
            },
            Change::StartInstanceRefresh
        ]
    );
}

#[test]
fn names_aws_would_refuse_are_refused_first() {
    let long = "p".repeat(240);
    let cases = [
        (
            EXAMPLE.replace("name: haproxy-cpu-low", &format!("name: {long}")),
            "spec.scalingPolicies[1].name:",
        ),
        (
            EXAMPLE.replace("  minSize: 1", "  name: \"haproxy:staging\"\n  minSize: 1"),
            "spec.name:",
        ),
    ];
    for (yaml, field) in &cases {
        let error = Desired::from_spec(&object(yaml)).unwrap_err();
        assert!(
            error.to_string().starts_with(field),
            "{error} should name {field}"
        );
    }
}

/// An administrator's alarm that happens to have the name ecsfleet gives a policy's alarm
/// (`<group>-<policy>`) and pages someone instead of scaling the group: refused before
/// any write, never overwritten (and so never deleted with the object either).
#[test]
fn an_alarm_of_the_same_name_that_is_not_ours_is_refused_unless_adopted() {
    let desired = desired(EXAMPLE);
    let mut observed = in_sync(&desired);
    let name = "haproxy-staging-haproxy-cpu-high";
    let alarm = observed.alarms.get_mut(name).unwrap();
    alarm.actions = vec!["arn:aws:sns:eu-west-1:1:paging".into()];
    alarm.tags = Some(BTreeMap::new());
    let error = plan(&desired, &observed).unwrap_err();
    assert_eq!(error.reason(), Reason::AlreadyExists, "{error}");
    assert!(
        error
            .to_string()
            .contains(&format!("CloudWatch alarm {name}")),
        "{error}"
    );

    let mut adopting = desired.clone();
    adopting.adopt_existing = true;
    let changes = plan(&adopting, &observed).unwrap();
    assert!(
        changes.iter().any(
            |c| matches!(c, Change::PutMetricAlarm { adopt: Some(arn), .. } if arn.ends_with(name))
        ),
        "{changes:?}"
    );

    // Tagged as this object's (its actions edited by hand): drift, set back.
    let alarm = observed.alarms.get_mut(name).unwrap();
    alarm.tags = Some(desired.owner.tags());
    let changes = plan(&desired, &observed).unwrap();
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::PutMetricAlarm { adopt: None, .. })),
        "{changes:?}"
    );
}

/// Scheduled actions as Auto Scaling keeps them: the start time and time zone it fills
/// in are no difference unless the spec gives them; a changed size is put back; one the
/// spec no longer has is deleted.
#[test]
fn scheduled_actions_compare_what_the_spec_gives() {
    let spec = desired(&EXAMPLE.replace(
        "  lifecycleHooks:\n",
        "  scheduledActions:\n    - {name: night, recurrence: \"0 20 * * *\", desiredCapacity: 0}\n  lifecycleHooks:\n",
    ));
    let mut live = in_sync(&spec);
    let night = live.scheduled.as_mut().unwrap().get_mut("night").unwrap();
    night.start_time = Some(1_800_000_000);
    night.time_zone = Some("UTC".into());
    assert!(
        plan(&spec, &live).unwrap().is_empty(),
        "filled in by Auto Scaling"
    );

    live.scheduled
        .as_mut()
        .unwrap()
        .get_mut("night")
        .unwrap()
        .desired_capacity = Some(2);
    live.scheduled.as_mut().unwrap().insert(
        "old".into(),
        crate::scaling_group::desired::Scheduled::default(),
    );
    let actions: Vec<String> = plan(&spec, &live)
        .unwrap()
        .iter()
        .map(|c| c.describe().action)
        .collect();
    assert_eq!(
        actions,
        ["PutScheduledUpdateGroupAction", "DeleteScheduledAction"]
    );
}
