//! Scaling policies and their alarms, validated: simple, step and target tracking.

use super::*;

pub(super) fn desired_policy(
    index: usize,
    policy: &crate::scaling_group::ScalingPolicySpec,
    group: &str,
) -> Result<DesiredPolicy> {
    let field = format!("spec.scalingPolicies[{index}]");
    if policy.name.is_empty() {
        return Err(Error::invalid(format!("{field}.name"), "is required"));
    }
    // Its alarm is named `<group>-<policy>`; CloudWatch allows 255 characters.
    if group.len() + 1 + policy.name.len() > 255 {
        return Err(Error::invalid(
            format!("{field}.name"),
            "makes the alarm name <group>-<policy> longer than the 255 characters CloudWatch allows",
        ));
    }
    let kind = match (&policy.alarm, &policy.target_tracking) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                &field,
                "has both alarm and targetTracking; a policy is either simple scaling with an alarm or target tracking",
            ));
        }
        (None, None) => {
            return Err(Error::invalid(
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
                return Err(Error::invalid(
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
                        return Err(Error::invalid(
                            format!("{field}.cooldownSeconds"),
                            "applies to simple scaling only, not to steps",
                        ));
                    }
                    Adjustment::Steps(steps(&field, &policy.steps)?)
                }
                (Some(_), false) => {
                    return Err(Error::invalid(
                        format!("{field}.scalingAdjustment"),
                        "set either scalingAdjustment (simple scaling) or steps (step scaling), not both",
                    ));
                }
                (None, true) => {
                    return Err(Error::invalid(
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
                return Err(Error::invalid(
                    format!("{field}.alarm.periodSeconds"),
                    "must be 10, 30 or a multiple of 60",
                ));
            }
            let evaluation_periods = alarm.evaluation_periods.unwrap_or(1);
            if evaluation_periods < 1 {
                return Err(Error::invalid(
                    format!("{field}.alarm.evaluationPeriods"),
                    "must be at least 1",
                ));
            }
            if !alarm.threshold.is_finite() {
                return Err(Error::invalid(
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
                alarm: Box::new(DesiredAlarm {
                    name: format!("{group}-{}", policy.name),
                    metric_name: alarm.metric_name.clone(),
                    namespace: alarm.namespace.clone().unwrap_or_else(|| "AWS/EC2".into()),
                    statistic,
                    period,
                    evaluation_periods,
                    threshold: alarm.threshold,
                    comparison_operator: alarm.comparison_operator.clone(),
                    dimensions,
                    options: alarm_options(&format!("{field}.alarm"), alarm, evaluation_periods)?,
                }),
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
fn steps(field: &str, specs: &[crate::scaling_group::StepSpec]) -> Result<Vec<Step>> {
    for (index, step) in specs.iter().enumerate() {
        if let (Some(lower), Some(upper)) = (step.lower_bound, step.upper_bound)
            && lower >= upper
        {
            return Err(Error::invalid(
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
        return Err(Error::invalid(
            format!("{field}.steps"),
            "step intervals must meet without gaps or overlaps (each upperBound is the next step's lowerBound), with at most one step open below and one open above",
        ));
    }
    Ok(steps)
}

/// The alarm's options, checked: M of N within the evaluation periods, a treatment
/// CloudWatch has, and actions that only notify (SNS topics): an alarm action may not
/// execute another group's policy or stop an instance.
fn alarm_options(
    field: &str,
    alarm: &crate::scaling_group::AlarmSpec,
    evaluation_periods: i32,
) -> Result<AlarmOptions> {
    if let Some(m) = alarm.datapoints_to_alarm
        && !(1..=evaluation_periods).contains(&m)
    {
        return Err(Error::invalid(
            format!("{field}.datapointsToAlarm"),
            format!("must be 1–{evaluation_periods} (the evaluation periods)"),
        ));
    }
    if let Some(treatment) = &alarm.treat_missing_data {
        one_of(
            &format!("{field}.treatMissingData"),
            treatment,
            &["missing", "breaching", "notBreaching", "ignore"],
        )?;
    }
    let topics = |key: &str, arns: &[String]| -> Result<Vec<String>> {
        for (index, arn) in arns.iter().enumerate() {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
                return Err(Error::invalid(
                    format!("{field}.{key}[{index}]"),
                    format!("{arn:?} is not an SNS topic ARN (alarm actions here only notify)"),
                ));
            }
        }
        let mut sorted = arns.to_vec();
        sorted.sort();
        sorted.dedup();
        Ok(sorted)
    };
    Ok(AlarmOptions {
        datapoints_to_alarm: alarm.datapoints_to_alarm,
        treat_missing_data: alarm.treat_missing_data.clone(),
        alarm_actions: topics("alarmActions", &alarm.alarm_actions)?,
        ok_actions: topics("okActions", &alarm.ok_actions)?,
        insufficient_data_actions: topics(
            "insufficientDataActions",
            &alarm.insufficient_data_actions,
        )?,
    })
}
