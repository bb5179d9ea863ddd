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
    let kind = match (
        &policy.alarm,
        &policy.target_tracking,
        &policy.predictive_scaling,
    ) {
        (None, None, None) => {
            return Err(Error::invalid(
                &field,
                "needs an alarm (simple or step scaling), targetTracking or predictiveScaling",
            ));
        }
        (None, Some(tracking), None) => target_tracking(&field, tracking)?,
        (None, None, Some(predictive)) => {
            PolicyKind::Predictive(Box::new(predictive_scaling(&field, predictive)?))
        }
        (Some(alarm), None, None) => {
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
            let statistic = match (&alarm.statistic, &alarm.extended_statistic) {
                (Some(_), Some(_)) => {
                    return Err(Error::invalid(
                        format!("{field}.alarm.extendedStatistic"),
                        "set at most one of statistic and extendedStatistic",
                    ));
                }
                (_, Some(extended)) => {
                    if !crate::runtime::schema::matches(EXTENDED_STATISTIC, extended) {
                        return Err(Error::invalid(
                            format!("{field}.alarm.extendedStatistic"),
                            format!(
                                "{extended:?} is not a percentile or trimmed statistic such as p99 or tm90"
                            ),
                        ));
                    }
                    String::new()
                }
                (statistic, None) => {
                    let statistic = statistic.clone().unwrap_or_else(|| "Average".into());
                    one_of(&format!("{field}.alarm.statistic"), &statistic, STATISTICS)?;
                    statistic
                }
            };
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
        _ => {
            return Err(Error::invalid(
                &field,
                "has more than one of alarm, targetTracking and predictiveScaling; a policy is one kind",
            ));
        }
    };
    let extras = policy_extras(&field, policy, &kind)?;
    Ok(DesiredPolicy {
        name: policy.name.clone(),
        kind,
        extras,
    })
}

fn resource_label(field: &str, label: &str) -> Result<()> {
    let parts: Vec<&str> = label.split('/').collect();
    if parts.len() != 6 || parts[0] != "app" || parts[3] != "targetgroup" {
        return Err(Error::invalid(
            field,
            format!("{label:?} is not app/<load-balancer>/<id>/targetgroup/<target-group>/<id>"),
        ));
    }
    Ok(())
}

fn target_tracking(
    field: &str,
    tracking: &crate::scaling_group::TargetTrackingSpec,
) -> Result<PolicyKind> {
    let field = format!("{field}.targetTracking");
    let metric = match (&tracking.predefined_metric, &tracking.customized_metric) {
        (Some(predefined), None) => {
            one_of(
                &format!("{field}.predefinedMetric"),
                predefined,
                PREDEFINED_METRICS,
            )?;
            let per_target = predefined == "ALBRequestCountPerTarget";
            if per_target != tracking.resource_label.is_some() {
                return Err(Error::invalid(
                    format!("{field}.resourceLabel"),
                    "is required with ALBRequestCountPerTarget, and applies to no other metric",
                ));
            }
            TrackedMetric::Predefined(predefined.clone())
        }
        (None, Some(customized)) => {
            if tracking.resource_label.is_some() {
                return Err(Error::invalid(
                    format!("{field}.resourceLabel"),
                    "applies to ALBRequestCountPerTarget only",
                ));
            }
            customized_metric(&format!("{field}.customizedMetric"), customized)?;
            TrackedMetric::Customized(Box::new(customized.clone()))
        }
        _ => {
            return Err(Error::invalid(
                &field,
                "set exactly one of predefinedMetric and customizedMetric",
            ));
        }
    };
    if let Some(label) = &tracking.resource_label {
        resource_label(&format!("{field}.resourceLabel"), label)?;
    }
    if !tracking.target_value.is_finite() {
        return Err(Error::invalid(
            format!("{field}.targetValue"),
            "must be a number",
        ));
    }
    Ok(PolicyKind::TargetTracking {
        metric,
        target_value: tracking.target_value,
    })
}

const METRIC_STATISTICS: &[&str] = &["Average", "Minimum", "Maximum", "SampleCount", "Sum"];

/// One metric, or metric math whose queries have ids of their own and one result.
fn customized_metric(
    field: &str,
    metric: &crate::scaling_group::CustomizedMetricSpec,
) -> Result<()> {
    let single = metric.metric_name.is_some();
    if single != metric.metrics.is_empty() {
        return Err(Error::invalid(
            field,
            "set either metricName (one metric) or metrics (metric math)",
        ));
    }
    if single {
        if metric.namespace.is_none() {
            return Err(Error::invalid(
                format!("{field}.namespace"),
                "is required with metricName",
            ));
        }
        match &metric.statistic {
            Some(statistic) => one_of(&format!("{field}.statistic"), statistic, METRIC_STATISTICS)?,
            None => {
                return Err(Error::invalid(
                    format!("{field}.statistic"),
                    "is required with metricName",
                ));
            }
        }
        return Ok(());
    }
    for (member, present) in [
        ("namespace", metric.namespace.is_some()),
        ("statistic", metric.statistic.is_some()),
        ("unit", metric.unit.is_some()),
        ("dimensions", !metric.dimensions.is_empty()),
    ] {
        if present {
            return Err(Error::invalid(
                format!("{field}.{member}"),
                "belongs to metricName; with metrics, each query names its own",
            ));
        }
    }
    let mut ids = BTreeSet::new();
    for (index, query) in metric.metrics.iter().enumerate() {
        let at = format!("{field}.metrics[{index}]");
        if !crate::runtime::schema::matches(r"^[a-z][a-zA-Z0-9_]{0,254}$", &query.id) {
            return Err(Error::invalid(
                format!("{at}.id"),
                format!(
                    "{:?} must start with a lowercase letter, then letters, digits or _",
                    query.id
                ),
            ));
        }
        if !ids.insert(query.id.as_str()) {
            return Err(Error::invalid(
                format!("{at}.id"),
                format!("{:?} is used by another query", query.id),
            ));
        }
        match (&query.expression, &query.metric_stat) {
            (Some(_), None) => {}
            (None, Some(stat)) => one_of(
                &format!("{at}.metricStat.stat"),
                &stat.stat,
                METRIC_STATISTICS,
            )?,
            _ => {
                return Err(Error::invalid(
                    &at,
                    "a query has exactly one of expression and metricStat",
                ));
            }
        }
    }
    let results = metric
        .metrics
        .iter()
        .filter(|q| q.return_data != Some(false))
        .count();
    if results != 1 {
        return Err(Error::invalid(
            format!("{field}.metrics"),
            format!(
                "exactly one query is the tracked value (returnData unset or true), not {results}: set returnData: false on the others"
            ),
        ));
    }
    Ok(())
}

fn predictive_scaling(
    field: &str,
    spec: &crate::scaling_group::PredictiveScalingSpec,
) -> Result<crate::scaling_group::PredictiveScalingSpec> {
    let field = format!("{field}.predictiveScaling");
    one_of(
        &format!("{field}.predefinedMetricPair"),
        &spec.predefined_metric_pair,
        &[
            "ASGCPUUtilization",
            "ASGNetworkIn",
            "ASGNetworkOut",
            "ALBRequestCount",
        ],
    )?;
    let per_target = spec.predefined_metric_pair == "ALBRequestCount";
    if per_target != spec.resource_label.is_some() {
        return Err(Error::invalid(
            format!("{field}.resourceLabel"),
            "is required with ALBRequestCount, and applies to no other metric pair",
        ));
    }
    if let Some(label) = &spec.resource_label {
        resource_label(&format!("{field}.resourceLabel"), label)?;
    }
    if !(spec.target_value.is_finite() && spec.target_value > 0.0) {
        return Err(Error::invalid(
            format!("{field}.targetValue"),
            "must be a number above 0",
        ));
    }
    if let Some(mode) = &spec.mode {
        one_of(
            &format!("{field}.mode"),
            mode,
            &["ForecastOnly", "ForecastAndScale"],
        )?;
    }
    if let Some(behavior) = &spec.max_capacity_breach_behavior {
        one_of(
            &format!("{field}.maxCapacityBreachBehavior"),
            behavior,
            &["HonorMaxCapacity", "IncreaseMaxCapacity"],
        )?;
    }
    if spec.max_capacity_buffer.is_some()
        && spec.max_capacity_breach_behavior.as_deref() != Some("IncreaseMaxCapacity")
    {
        return Err(Error::invalid(
            format!("{field}.maxCapacityBuffer"),
            "applies only with maxCapacityBreachBehavior IncreaseMaxCapacity",
        ));
    }
    if spec
        .scheduling_buffer_time
        .is_some_and(|t| !(0..=3600).contains(&t))
    {
        return Err(Error::invalid(
            format!("{field}.schedulingBufferTime"),
            "must be 0–3600 seconds",
        ));
    }
    Ok(spec.clone())
}

/// The settings besides the kind, refused where Auto Scaling does not take them.
fn policy_extras(
    field: &str,
    policy: &crate::scaling_group::ScalingPolicySpec,
    kind: &PolicyKind,
) -> Result<PolicyExtras> {
    let predictive = matches!(kind, PolicyKind::Predictive(_));
    let (simple, steps, percent) = match kind {
        PolicyKind::Alarm {
            adjustment,
            adjustment_type,
            ..
        } => (
            matches!(adjustment, Adjustment::Simple(_)),
            matches!(adjustment, Adjustment::Steps(_)),
            adjustment_type == "PercentChangeInCapacity",
        ),
        PolicyKind::TargetTracking { .. } | PolicyKind::Predictive(_) => (false, false, false),
    };
    if policy.estimated_instance_warmup.is_some() && (simple || predictive) {
        return Err(Error::invalid(
            format!("{field}.estimatedInstanceWarmup"),
            "applies to step and target tracking policies (simple scaling has cooldownSeconds)",
        ));
    }
    if policy.min_adjustment_magnitude.is_some() && !percent {
        return Err(Error::invalid(
            format!("{field}.minAdjustmentMagnitude"),
            "applies only with adjustmentType PercentChangeInCapacity",
        ));
    }
    if let Some(aggregation) = &policy.metric_aggregation_type {
        if !steps {
            return Err(Error::invalid(
                format!("{field}.metricAggregationType"),
                "applies only to step scaling",
            ));
        }
        one_of(
            &format!("{field}.metricAggregationType"),
            aggregation,
            &["Average", "Minimum", "Maximum"],
        )?;
    }
    let tracking = policy.target_tracking.as_ref();
    Ok(PolicyExtras {
        enabled: policy.enabled,
        estimated_instance_warmup: policy.estimated_instance_warmup,
        min_adjustment_magnitude: policy.min_adjustment_magnitude,
        metric_aggregation_type: policy.metric_aggregation_type.clone(),
        disable_scale_in: tracking.and_then(|t| t.disable_scale_in),
        resource_label: tracking.and_then(|t| t.resource_label.clone()),
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

const EXTENDED_STATISTIC: &str = r"^(p|tm|wm|tc|ts)(100|[0-9]{1,2}(\.[0-9]{1,10})?)$";

/// CloudWatch's units (`StandardUnit`).
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

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
    if let Some(description) = &alarm.description
        && description.chars().count() > 1024
    {
        return Err(Error::invalid(
            format!("{field}.description"),
            "is longer than the 1024 characters CloudWatch allows",
        ));
    }
    if let Some(unit) = &alarm.unit {
        one_of(&format!("{field}.unit"), unit, UNITS)?;
    }
    Ok(AlarmOptions {
        extended_statistic: alarm.extended_statistic.clone(),
        unit: alarm.unit.clone(),
        description: alarm.description.clone(),
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
