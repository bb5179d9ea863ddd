//! ScalingGroup against the AWS emulator's Auto Scaling, EC2, CloudWatch and SNS over
//! HTTP, every call counted.

use std::collections::BTreeMap;

use crate::support::{Emulator, plain_env, sync, writes};
use ecsfleet::Reason;
use ecsfleet::runtime::Pipeline;
use ecsfleet::scaling_group::ScalingGroup;

const EXAMPLE: &str = include_str!("../../examples/haproxy-scaling-group.yaml");
const GROUP: &str = "haproxy-staging";

/// The example with `fields` (spec lines, each ending in a line break) added.
fn example_with(fields: &str) -> String {
    EXAMPLE.replace(
        "  lifecycleHooks:\n",
        &format!("{fields}  lifecycleHooks:\n"),
    )
}

fn group(yaml: &str) -> ScalingGroup {
    let mut obj: ScalingGroup = serde_yaml_ng::from_str(yaml).unwrap();
    obj.metadata.uid = Some("group-uid-1".into());
    obj.metadata.generation = Some(1);
    obj
}

/// The object after a spec edit: a new generation.
fn edited(obj: &ScalingGroup, yaml: &str) -> ScalingGroup {
    let mut next = group(yaml);
    next.metadata.generation = obj.metadata.generation.map(|g| g + 1);
    next.status = obj.status.clone();
    next
}

struct Aws {
    pipeline: Pipeline<ScalingGroup>,
    autoscaling: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    sns: aws_sdk_sns::Client,
}

async fn aws(emulator: &Emulator) -> Aws {
    let config = emulator.sdk_config().await;
    Aws {
        pipeline: Pipeline::new(plain_env(emulator).await, ()),
        autoscaling: aws_sdk_autoscaling::Client::new(&config),
        ec2: aws_sdk_ec2::Client::new(&config),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
        sns: aws_sdk_sns::Client::new(&config),
    }
}

impl Aws {
    /// One more sync of an object in sync: nothing written; the AWS reads it took.
    async fn in_sync_reads(&self, obj: &mut ScalingGroup) -> u64 {
        let reads = || -> u64 { self.pipeline.env.metrics().aws_requests().values().sum() };
        let before = reads();
        crate::support::assert_in_sync(obj, &self.pipeline).await;
        reads() - before
    }

    async fn group(&self) -> Option<aws_sdk_autoscaling::types::AutoScalingGroup> {
        self.autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(GROUP)
            .send()
            .await
            .unwrap()
            .auto_scaling_groups()
            .first()
            .cloned()
    }

    async fn policies(&self) -> Vec<aws_sdk_autoscaling::types::ScalingPolicy> {
        self.autoscaling
            .describe_policies()
            .auto_scaling_group_name(GROUP)
            .send()
            .await
            .unwrap()
            .scaling_policies()
            .to_vec()
    }

    async fn hooks(&self) -> Vec<aws_sdk_autoscaling::types::LifecycleHook> {
        self.autoscaling
            .describe_lifecycle_hooks()
            .auto_scaling_group_name(GROUP)
            .send()
            .await
            .unwrap()
            .lifecycle_hooks()
            .to_vec()
    }

    async fn alarms(&self) -> Vec<aws_sdk_cloudwatch::types::MetricAlarm> {
        self.cloudwatch
            .describe_alarms()
            .alarm_name_prefix(format!("{GROUP}-"))
            .send()
            .await
            .unwrap()
            .metric_alarms()
            .to_vec()
    }

    /// The example's scale-up alarm, as CloudWatch has it.
    async fn scale_up_alarm(&self) -> aws_sdk_cloudwatch::types::MetricAlarm {
        self.cloudwatch
            .describe_alarms()
            .alarm_names("haproxy-staging-haproxy-cpu-high")
            .send()
            .await
            .unwrap()
            .metric_alarms()[0]
            .clone()
    }

    async fn template_versions(&self) -> Vec<aws_sdk_ec2::types::LaunchTemplateVersion> {
        self.ec2
            .describe_launch_template_versions()
            .launch_template_name(GROUP)
            .send()
            .await
            .map(|answer| answer.launch_template_versions().to_vec())
            .unwrap_or_default()
    }

    async fn topics(&self) -> Vec<String> {
        self.sns
            .list_topics()
            .send()
            .await
            .unwrap()
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn().map(str::to_string))
            .collect()
    }
}

#[tokio::test]
async fn creates_the_group_with_every_part_wired_together() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let mut obj = group(EXAMPLE);
    let actions = sync(&mut obj, &aws.pipeline).await.unwrap();
    assert_eq!(
        actions,
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

    // The template: IMDSv2 required, user data encoded, the spec digest as description.
    let versions = aws.template_versions().await;
    assert_eq!(versions.len(), 1);
    let data = versions[0].launch_template_data().unwrap();
    assert_eq!(
        data.metadata_options()
            .unwrap()
            .http_tokens()
            .unwrap()
            .as_str(),
        "required"
    );
    let user_data = aws_smithy_types::base64::decode(data.user_data().unwrap()).unwrap();
    assert!(
        String::from_utf8(user_data)
            .unwrap()
            .contains("ECS_CLUSTER=staging")
    );
    assert!(
        versions[0]
            .version_description()
            .unwrap()
            .starts_with("ecsfleet sha256:")
    );

    // The group: sizes, template version, ownership and capacity tags, instances.
    let live = aws.group().await.unwrap();
    assert_eq!(
        (live.min_size(), live.max_size(), live.desired_capacity()),
        (Some(1), Some(5), Some(2))
    );
    assert_eq!(live.launch_template().unwrap().version(), Some("1"));
    let tags: BTreeMap<&str, &str> = live
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags["ecsfleet.dev/owner"], "edge/haproxy-staging");
    assert_eq!(tags["ecsfleet.dev/desired-capacity"], "2");
    assert_eq!(live.instances().len(), 2);

    // Each alarm executes its policy, whose ARN was read back (moto answers PolicyArn,
    // which the SDK does not know as PolicyARN): one DescribePolicies per policy put,
    // and one for the status.
    assert_eq!(
        aws.pipeline.env.metrics().successful_aws_requests()["DescribePolicies"],
        3
    );
    let status = obj.status.clone().unwrap();
    assert_eq!(status.policies.len(), 2);
    let alarms = aws.alarms().await;
    for policy in &status.policies {
        let arn = policy.arn.as_deref().expect("policy ARN in status");
        assert!(
            arn.contains(&format!("policyName/{}", policy.name)),
            "{arn}"
        );
        let alarm = alarms
            .iter()
            .find(|a| a.alarm_name() == policy.alarm.as_deref())
            .expect("the policy's alarm");
        assert_eq!(alarm.alarm_actions(), [arn.to_string()]);
        assert_eq!(alarm.dimensions()[0].value(), Some(GROUP));
    }
    let high = alarms
        .iter()
        .find(|a| a.alarm_name() == Some("haproxy-staging-haproxy-cpu-high"))
        .unwrap();
    assert_eq!(high.threshold(), Some(70.0));

    // Notifications to the created topic, and the teardown hook with its target.
    let topic = status.topic_arn.clone().unwrap();
    assert!(aws.topics().await.contains(&topic));
    let notifications = aws
        .autoscaling
        .describe_notification_configurations()
        .auto_scaling_group_names(GROUP)
        .send()
        .await
        .unwrap();
    assert_eq!(notifications.notification_configurations().len(), 4);
    let hooks = aws.hooks().await;
    let hook = &hooks[0];
    assert_eq!(
        hook.notification_target_arn(),
        Some("arn:aws:sqs:eu-west-1:123456789012:node-teardown")
    );
    assert_eq!(hook.heartbeat_timeout(), Some(300));

    assert_eq!(status.desired_capacity, Some(2));
    assert_eq!(status.applied_desired_capacity, Some(2));
    assert_eq!(status.instances.as_ref().unwrap().in_service, 2);
    assert_eq!(status.launch_template_version.as_deref(), Some("1"));
}

#[tokio::test]
async fn a_group_in_sync_makes_no_write_call() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let mut obj = group(EXAMPLE);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let after_create = writes(&aws.pipeline.env);
    let reads_before: u64 = aws.pipeline.env.metrics().aws_requests().values().sum();
    for _ in 0..3 {
        assert_eq!(
            sync(&mut obj, &aws.pipeline).await.unwrap(),
            Vec::<String>::new()
        );
    }
    assert_eq!(
        writes(&aws.pipeline.env),
        after_create,
        "no write on a resync in sync"
    );
    let reads: u64 = aws
        .pipeline
        .env
        .metrics()
        .aws_requests()
        .values()
        .sum::<u64>()
        - reads_before;
    assert_eq!(
        reads,
        3 * 8,
        "group, template, versions, policies, notifications, hooks, alarms, topic: {:?}",
        aws.pipeline.env.metrics().aws_requests()
    );
}

#[tokio::test]
async fn capacity_moved_by_scaling_is_kept_and_a_spec_change_is_applied() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let mut obj = group(EXAMPLE);
    sync(&mut obj, &aws.pipeline).await.unwrap();

    // The scale-up alarm fires: its policy adds an instance.
    aws.autoscaling
        .execute_policy()
        .auto_scaling_group_name(GROUP)
        .policy_name("haproxy-cpu-high")
        .send()
        .await
        .unwrap();
    assert_eq!(aws.group().await.unwrap().desired_capacity(), Some(3));
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(aws.group().await.unwrap().desired_capacity(), Some(3));
    assert_eq!(obj.status.as_ref().unwrap().desired_capacity, Some(3));

    // The spec's capacity changes: applied, and remembered.
    let mut obj = edited(
        &obj,
        &EXAMPLE.replace("desiredCapacity: 2", "desiredCapacity: 4"),
    );
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["CreateOrUpdateTags", "UpdateAutoScalingGroup"]
    );
    assert_eq!(aws.group().await.unwrap().desired_capacity(), Some(4));
    assert_eq!(
        obj.status.as_ref().unwrap().applied_desired_capacity,
        Some(4)
    );
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        Vec::<String>::new()
    );

    // min/max are enforced: a hand-made change is set back.
    aws.autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(GROUP)
        .max_size(9)
        .send()
        .await
        .unwrap();
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["UpdateAutoScalingGroup"]
    );
    assert_eq!(aws.group().await.unwrap().max_size(), Some(5));
    assert_eq!(obj.status.as_ref().unwrap().common.drift_repairs, Some(1));
}

#[tokio::test]
async fn a_removed_policy_is_deleted_with_its_alarm() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let mut obj = group(EXAMPLE);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    assert_eq!(aws.alarms().await.len(), 2);

    let start = EXAMPLE.find("    - name: haproxy-cpu-low").unwrap();
    let end = EXAMPLE.find("  notifications:").unwrap();
    let yaml = format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]);
    let mut obj = edited(&obj, &yaml);
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["DeleteAlarms", "DeletePolicy"]
    );
    let alarms = aws.alarms().await;
    assert_eq!(
        alarms
            .iter()
            .map(|a| a.alarm_name().unwrap())
            .collect::<Vec<_>>(),
        ["haproxy-staging-haproxy-cpu-high"]
    );
    assert_eq!(aws.policies().await.len(), 1);
    assert_eq!(obj.status.as_ref().unwrap().policies.len(), 1);
}

#[tokio::test]
async fn a_changed_template_makes_a_new_version_and_refreshes_the_instances() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let mut obj = group(EXAMPLE);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let before: Vec<String> = aws
        .group()
        .await
        .unwrap()
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect();

    let mut obj = edited(&obj, &EXAMPLE.replace("t3.small", "t3.medium"));
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        [
            "CreateLaunchTemplateVersion",
            "UpdateAutoScalingGroup",
            "StartInstanceRefresh"
        ]
    );
    assert_eq!(aws.template_versions().await.len(), 2);
    let live = aws.group().await.unwrap();
    assert_eq!(live.launch_template().unwrap().version(), Some("2"));
    // Every running host was replaced by one of the new version.
    for instance in live.instances() {
        assert!(!before.contains(&instance.instance_id().unwrap().to_string()));
        assert_eq!(instance.launch_template().unwrap().version(), Some("2"));
    }
    let status = obj.status.clone().unwrap();
    assert_eq!(live.instances().len(), 2, "{:?}", live.instances());
    assert_eq!(status.instances.as_ref().unwrap().in_service, 2);
    assert_eq!(status.launch_template_version.as_deref(), Some("2"));
    let refresh = status.instance_refresh.expect("the refresh in status");
    assert_eq!(refresh.status, "Successful");
    assert_eq!(refresh.launch_template_version.as_deref(), Some("2"));
    assert!(!refresh.id.is_empty());

    // Settled: no further version, no further refresh.
    let writes_before = writes(&aws.pipeline.env);
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(writes(&aws.pipeline.env), writes_before);
}

#[tokio::test]
async fn hooks_alarms_and_notifications_changed_by_hand_are_set_back() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let mut obj = group(EXAMPLE);
    sync(&mut obj, &aws.pipeline).await.unwrap();

    aws.autoscaling
        .put_lifecycle_hook()
        .auto_scaling_group_name(GROUP)
        .lifecycle_hook_name("forget-node")
        .lifecycle_transition("autoscaling:EC2_INSTANCE_TERMINATING")
        .heartbeat_timeout(900)
        .send()
        .await
        .unwrap();
    aws.cloudwatch
        .delete_alarms()
        .alarm_names("haproxy-staging-haproxy-cpu-low")
        .send()
        .await
        .unwrap();
    let topic = obj.status.as_ref().unwrap().topic_arn.clone().unwrap();
    aws.autoscaling
        .delete_notification_configuration()
        .auto_scaling_group_name(GROUP)
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    aws.autoscaling
        .put_lifecycle_hook()
        .auto_scaling_group_name(GROUP)
        .lifecycle_hook_name("added-by-hand")
        .lifecycle_transition("autoscaling:EC2_INSTANCE_LAUNCHING")
        .send()
        .await
        .unwrap();

    let actions = sync(&mut obj, &aws.pipeline).await.unwrap();
    assert_eq!(
        actions,
        [
            "PutMetricAlarm",
            "PutNotificationConfiguration",
            "PutLifecycleHook",
            "DeleteLifecycleHook"
        ]
    );
    assert_eq!(obj.status.as_ref().unwrap().common.drift_repairs, Some(4));
    let hooks = aws.hooks().await;
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].heartbeat_timeout(), Some(300));
    assert_eq!(aws.alarms().await.len(), 2);
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_written() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let scheduled = |action: &str| {
        EXAMPLE.replace(
            "  lifecycleHooks:\n",
            &format!("  scheduledActions: [{action}]\n  lifecycleHooks:\n"),
        )
    };
    let policy_low = "      adjustmentType: ChangeInCapacity\n      scalingAdjustment: -1";
    // (the example with one thing changed, the field the error must name)
    let cases = [
        (EXAMPLE.replace("minSize: 1", "minSize: 6"), "spec.minSize"),
        (
            EXAMPLE.replace("desiredCapacity: 2", "desiredCapacity: 9"),
            "spec.desiredCapacity",
        ),
        (
            EXAMPLE.replace(
                "  minSize: 1",
                "  launchTemplateRef: {name: other}\n  minSize: 1",
            ),
            "spec.launchTemplate",
        ),
        (
            EXAMPLE.replace("  launchTemplate:\n", "  unused:\n"),
            "spec.launchTemplate",
        ),
        (
            EXAMPLE.replace(
                "availabilityZones: [eu-west-1a, eu-west-1b]",
                "availabilityZones: [eu-west-1a]\n  subnetIds: [subnet-1]",
            ),
            "spec.availabilityZones",
        ),
        (
            EXAMPLE.replace("availabilityZones: [eu-west-1a, eu-west-1b]", ""),
            "spec.availabilityZones",
        ),
        (
            EXAMPLE.replacen(
                "adjustmentType: ChangeInCapacity",
                "adjustmentType: ChangeALot",
                1,
            ),
            "spec.scalingPolicies[0].adjustmentType",
        ),
        (
            EXAMPLE.replace(
                "comparisonOperator: LessThanOrEqualToThreshold",
                "comparisonOperator: Below",
            ),
            "spec.scalingPolicies[1].alarm.comparisonOperator",
        ),
        (
            EXAMPLE.replace(
                "    - name: haproxy-cpu-low",
                "    - name: no-trigger\n      scalingAdjustment: 1\n    - name: haproxy-cpu-low",
            ),
            "spec.scalingPolicies[1]",
        ),
        (
            EXAMPLE.replace("name: haproxy-cpu-low", "name: haproxy-cpu-high"),
            "spec.scalingPolicies[1].name",
        ),
        (
            EXAMPLE.replace(
                "      defaultResult: CONTINUE",
                "      defaultResult: CONTINUE\n    - {name: forget-node, transition: Launching}",
            ),
            "spec.lifecycleHooks[1].name",
        ),
        (
            EXAMPLE.replace(policy_low, "      adjustmentType: ChangeInCapacity"),
            "spec.scalingPolicies[1].scalingAdjustment",
        ),
        (
            EXAMPLE.replace("types: [Launch, Terminate,", "types: [Launch, Reboot,"),
            "spec.notifications.types[1]",
        ),
        (
            EXAMPLE.replace("transition: Terminating", "transition: Rebooting"),
            "spec.lifecycleHooks[0].transition",
        ),
        (
            EXAMPLE.replace(
                "{key: team, value: edge}",
                "{key: ecsfleet.dev/owner, value: x}",
            ),
            "spec.tags[0].key",
        ),
        (
            EXAMPLE.replace("httpTokens: required", "httpTokens: sometimes"),
            "spec.launchTemplate.metadataOptions.httpTokens",
        ),
        (
            scheduled("{name: n, recurrence: \"0 20 * *\", minSize: 0}"),
            "spec.scheduledActions[0].recurrence",
        ),
        (
            scheduled("{name: n, minSize: 0}"),
            "spec.scheduledActions[0].startTime",
        ),
        (
            example_with("  maxInstanceLifetime: 3600\n"),
            "spec.maxInstanceLifetime",
        ),
        (
            example_with("  suspendedProcesses: [Sleep]\n"),
            "spec.suspendedProcesses[0]",
        ),
        (
            example_with("  metricsCollection: [CPUUtilization]\n"),
            "spec.metricsCollection[0]",
        ),
        (
            EXAMPLE.replacen(
                "      cooldownSeconds: 300\n",
                "      cooldownSeconds: 300\n      minAdjustmentMagnitude: 2\n",
                1,
            ),
            "spec.scalingPolicies[0].minAdjustmentMagnitude",
        ),
        (
            EXAMPLE.replace(
                "  notifications:\n",
                "    - {name: requests, targetTracking: {predefinedMetric: ALBRequestCountPerTarget, targetValue: 1000}}\n  notifications:\n",
            ),
            "spec.scalingPolicies[2].targetTracking.resourceLabel",
        ),
        (
            EXAMPLE.replacen(
                "        evaluationPeriods: 2\n",
                "        evaluationPeriods: 2\n        datapointsToAlarm: 3\n",
                1,
            ),
            "spec.scalingPolicies[0].alarm.datapointsToAlarm",
        ),
        (
            EXAMPLE.replacen(
                "        evaluationPeriods: 2\n",
                "        evaluationPeriods: 2\n        alarmActions: [\"arn:aws:automate:eu-west-1:ec2:terminate\"]\n",
                1,
            ),
            "spec.scalingPolicies[0].alarm.alarmActions[0]",
        ),
        (
            example_with("  mixedInstancesPolicy: {launchTemplate: {overrides: [{instanceType: m5.large}, {instanceType: m5.large}]}}\n"),
            "spec.mixedInstancesPolicy.launchTemplate.overrides[1].instanceType",
        ),
        (
            example_with("  mixedInstancesPolicy: {launchTemplate: {overrides: [{instanceType: m5.large, weightedCapacity: \"2\"}, {instanceType: m6i.large}]}}\n"),
            "spec.mixedInstancesPolicy.launchTemplate.overrides",
        ),
        (
            example_with("  warmPool: {minSize: 1}\n  mixedInstancesPolicy: {launchTemplate: {overrides: [{instanceType: m5.large}]}}\n"),
            "spec.warmPool",
        ),
        (
            example_with("  warmPool: {poolState: Frozen}\n"),
            "spec.warmPool.poolState",
        ),
        (
            example_with("  warmPool: {maxGroupPreparedCapacity: 0}\n"),
            "spec.warmPool.maxGroupPreparedCapacity",
        ),
        (
            EXAMPLE.replace(
                "  notifications:\n",
                "    - {name: q, targetTracking: {targetValue: 5, customizedMetric: {metricName: Backlog, statistic: Sum}}}\n  notifications:\n",
            ),
            "spec.scalingPolicies[2].targetTracking.customizedMetric.namespace",
        ),
        (
            EXAMPLE.replace(
                "  notifications:\n",
                "    - {name: q, targetTracking: {targetValue: 5, customizedMetric: {metrics: [{id: a, expression: \"1\"}, {id: b, expression: \"2\"}]}}}\n  notifications:\n",
            ),
            "spec.scalingPolicies[2].targetTracking.customizedMetric.metrics",
        ),
        (
            EXAMPLE.replace(
                "  notifications:\n",
                "    - {name: f, predictiveScaling: {predefinedMetricPair: ASGCPUUtilization, targetValue: 50, maxCapacityBuffer: 10}}\n  notifications:\n",
            ),
            "spec.scalingPolicies[2].predictiveScaling.maxCapacityBuffer",
        ),
        (
            EXAMPLE.replace(
                "    minHealthyPercentage: 50\n",
                "    minHealthyPercentage: 50\n    alarms: [haproxy-5xx]\n",
            ),
            "spec.instanceRefresh.alarms",
        ),
        (
            EXAMPLE.replace(
                "    minHealthyPercentage: 50\n",
                "    minHealthyPercentage: 50\n    checkpointPercentages: [50, 20]\n",
            ),
            "spec.instanceRefresh.checkpointPercentages[1]",
        ),
        (
            EXAMPLE.replace(
                "terminationPolicies: [OldestLaunchTemplate, Default]",
                "terminationPolicies: [OldestLaunchTemplate, YoungestFirst]",
            ),
            "spec.terminationPolicies[1]",
        ),
        (
            EXAMPLE.replace(
                "targetArn: arn:aws:sqs:eu-west-1:123456789012:node-teardown",
                "targetArn: node-teardown",
            ),
            "spec.lifecycleHooks[0].targetArn",
        ),
        (
            scheduled("{name: n, startTime: \"next monday\", minSize: 0}"),
            "spec.scheduledActions[0].startTime",
        ),
        (
            scheduled("{name: n, recurrence: \"0 20 * * *\"}"),
            "spec.scheduledActions[0]",
        ),
        (
            scheduled(
                "{name: n, recurrence: \"0 20 * * *\", startTime: \"2027-03-02T00:00:00Z\", endTime: \"2027-03-01T00:00:00Z\", minSize: 0}",
            ),
            "spec.scheduledActions[0].endTime",
        ),
    ];
    for (yaml, field) in &cases {
        let error = sync(&mut group(yaml), &aws.pipeline).await.unwrap_err();
        assert_eq!(error.reason(), Reason::InvalidSpec, "{error}");
        assert!(
            error.to_string().starts_with(&format!("{field}:")),
            "{error} should name {field}"
        );
    }
    assert_eq!(
        writes(&aws.pipeline.env),
        BTreeMap::new(),
        "bad input writes nothing"
    );
    assert!(aws.group().await.is_none());
}

#[tokio::test]
async fn delete_removes_alarms_group_template_and_topic() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let mut obj = group(EXAMPLE);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let steps: Vec<String> = aws
        .pipeline
        .delete(&obj)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.action)
        .collect();
    assert_eq!(
        steps,
        [
            "DeleteAlarms",
            "DeleteAutoScalingGroup",
            "DeleteLaunchTemplate",
            "DeleteTopic"
        ]
    );
    assert!(aws.group().await.is_none());
    assert!(aws.alarms().await.is_empty());
    assert!(aws.template_versions().await.is_empty());
    assert!(aws.topics().await.is_empty());
    // Deleting again finds nothing and is done.
    assert_eq!(aws.pipeline.delete(&obj).await.unwrap(), Vec::new());
}

#[tokio::test]
async fn a_group_of_another_object_is_neither_changed_nor_deleted() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let mut theirs = group(EXAMPLE);
    sync(&mut theirs, &aws.pipeline).await.unwrap();
    let before = writes(&aws.pipeline.env);

    let mut ours = group(&EXAMPLE.replace(
        "name: haproxy-staging\n  namespace: edge",
        "name: copy\n  namespace: edge\n  # same group\n",
    ));
    ours.spec.name = Some(GROUP.into());
    ours.spec.common.adopt_existing = true;
    let error = sync(&mut ours, &aws.pipeline).await.unwrap_err();
    assert_eq!(error.reason(), Reason::OwnedByOther, "{error}");
    let steps = aws.pipeline.delete(&ours).await.unwrap();
    assert_eq!(steps[0].action, "LeaveGroup");
    assert_eq!(
        writes(&aws.pipeline.env),
        before,
        "nothing written for the other object"
    );
    assert!(aws.group().await.is_some());
}

#[tokio::test]
async fn a_step_scaling_policy_round_trips_without_rewrites() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let steps = "      steps:\n        - {lowerBound: 0, upperBound: 20, scalingAdjustment: 1}\n        - {lowerBound: 20, scalingAdjustment: 2}\n";
    let yaml = EXAMPLE.replacen(
        "      scalingAdjustment: 1\n      cooldownSeconds: 300\n",
        steps,
        1,
    );
    let mut obj = group(&yaml);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let policies = aws.policies().await;
    let policy = policies
        .iter()
        .find(|p| p.policy_name() == Some("haproxy-cpu-high"))
        .unwrap();
    assert_eq!(policy.policy_type(), Some("StepScaling"));
    let adjustments: Vec<_> = policy
        .step_adjustments()
        .iter()
        .map(|s| {
            (
                s.metric_interval_lower_bound(),
                s.metric_interval_upper_bound(),
                s.scaling_adjustment(),
            )
        })
        .collect();
    assert_eq!(
        adjustments,
        [
            (Some(0.0), Some(20.0), Some(1)),
            (Some(20.0), None, Some(2))
        ]
    );
    let after_create = writes(&aws.pipeline.env);
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(writes(&aws.pipeline.env), after_create);
}

#[tokio::test]
async fn a_group_in_subnets_follows_a_subnet_change() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let vpc = aws
        .ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap();
    let mut subnets = Vec::new();
    for (cidr, zone) in [("10.0.1.0/24", "eu-west-1a"), ("10.0.2.0/24", "eu-west-1b")] {
        let subnet = aws
            .ec2
            .create_subnet()
            .vpc_id(vpc_id)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        subnets.push(subnet.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let zones = "availabilityZones: [eu-west-1a, eu-west-1b]";
    let mut obj = group(&EXAMPLE.replace(zones, &format!("subnetIds: [{}]", subnets[0])));
    sync(&mut obj, &aws.pipeline).await.unwrap();
    assert_eq!(
        aws.group().await.unwrap().vpc_zone_identifier(),
        Some(subnets[0].as_str())
    );
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        Vec::<String>::new()
    );

    let both = EXAMPLE.replace(
        zones,
        &format!("subnetIds: [{}, {}]", subnets[0], subnets[1]),
    );
    let mut obj = edited(&obj, &both);
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["UpdateAutoScalingGroup"]
    );
    let live = aws.group().await.unwrap();
    let mut live_subnets: Vec<&str> = live.vpc_zone_identifier().unwrap().split(',').collect();
    live_subnets.sort();
    let mut wanted: Vec<&str> = subnets.iter().map(String::as_str).collect();
    wanted.sort();
    assert_eq!(live_subnets, wanted);
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        Vec::<String>::new()
    );
}

/// An administrator's paging alarm that has the name ecsfleet would give a policy's alarm
/// is not overwritten (nor, then, deleted with the object): the object is refused before
/// any write, as for a group or template of the same name.
#[tokio::test]
async fn an_alarm_of_the_same_name_that_is_not_ours_is_left_alone() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let name = format!("{GROUP}-haproxy-cpu-high");
    let paging = "arn:aws:sns:eu-west-1:123456789012:oncall";
    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name(&name)
        .metric_name("CPUUtilization")
        .namespace("AWS/EC2")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(60)
        .evaluation_periods(3)
        .threshold(90.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .alarm_actions(paging)
        .send()
        .await
        .unwrap();
    let mut obj = group(EXAMPLE);
    let error = sync(&mut obj, &aws.pipeline).await.unwrap_err();
    assert_eq!(error.reason(), Reason::AlreadyExists, "{error}");
    assert!(error.to_string().contains(&name), "{error}");
    assert!(
        writes(&aws.pipeline.env).is_empty(),
        "{:?}",
        writes(&aws.pipeline.env)
    );
    let alarms = aws.alarms().await;
    let alarm = alarms
        .iter()
        .find(|a| a.alarm_name() == Some(&name))
        .unwrap();
    assert_eq!(alarm.alarm_actions(), [paging.to_string()], "untouched");
}

/// Scheduled actions: created with the group, in sync at one more read, a hand edit set
/// back (drift), removed from the spec and deleted, after which they are not read again.
#[tokio::test]
async fn scheduled_actions_are_added_repaired_and_removed_like_policies() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let scheduled = EXAMPLE.replace(
        "  lifecycleHooks:\n",
        r#"  scheduledActions:
    - {name: night, recurrence: "0 20 * * 1-5", timeZone: Europe/Berlin, minSize: 0, maxSize: 0, desiredCapacity: 0}
    - {name: launch-day, startTime: "2027-03-01T06:00:00Z", minSize: 2, maxSize: 6, desiredCapacity: 4}
  lifecycleHooks:
"#,
    );
    let mut obj = group(&scheduled);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let actions = || async {
        aws.autoscaling
            .describe_scheduled_actions()
            .auto_scaling_group_name(GROUP)
            .send()
            .await
            .unwrap()
            .scheduled_update_group_actions()
            .to_vec()
    };
    let live = actions().await;
    assert_eq!(live.len(), 2);
    let night = live
        .iter()
        .find(|a| a.scheduled_action_name() == Some("night"))
        .unwrap();
    assert_eq!(night.recurrence(), Some("0 20 * * 1-5"));
    assert_eq!(night.time_zone(), Some("Europe/Berlin"));
    assert_eq!(night.desired_capacity(), Some(0));
    assert_eq!(obj.status.as_ref().unwrap().scheduled_actions, Some(2));
    assert_eq!(
        aws.in_sync_reads(&mut obj).await,
        9,
        "one read more than a group without them"
    );

    // By hand: the night action keeps two instances. Set back, as drift.
    aws.autoscaling
        .put_scheduled_update_group_action()
        .auto_scaling_group_name(GROUP)
        .scheduled_action_name("night")
        .recurrence("0 20 * * 1-5")
        .time_zone("Europe/Berlin")
        .min_size(0)
        .max_size(2)
        .desired_capacity(2)
        .send()
        .await
        .unwrap();
    let drift_before = obj.status.as_ref().unwrap().common.drift_repairs;
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["PutScheduledUpdateGroupAction"]
    );
    assert!(obj.status.as_ref().unwrap().common.drift_repairs > drift_before);
    let night = actions().await;
    let night = night
        .iter()
        .find(|a| a.scheduled_action_name() == Some("night"))
        .unwrap();
    assert_eq!(night.desired_capacity(), Some(0));

    // Removed from the spec: deleted, and not read again.
    obj = edited(&obj, EXAMPLE);
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["DeleteScheduledAction", "DeleteScheduledAction"]
    );
    assert!(actions().await.is_empty());
    assert_eq!(obj.status.as_ref().unwrap().scheduled_actions, None);
    assert_eq!(aws.in_sync_reads(&mut obj).await, 8);
}

/// A warm pool: created with the group, in sync at one more read, changed by hand and set
/// back, and deleted once the spec drops it; then it is not read again.
#[tokio::test]
async fn a_warm_pool_is_created_kept_and_deleted_with_the_spec() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let pooled = example_with(
        "  warmPool: {minSize: 1, maxGroupPreparedCapacity: 5, poolState: Hibernated, reuseOnScaleIn: true}\n",
    );
    let mut obj = group(&pooled);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let pool = || async {
        aws.autoscaling
            .describe_warm_pool()
            .auto_scaling_group_name(GROUP)
            .send()
            .await
            .unwrap()
            .warm_pool_configuration()
            .cloned()
    };
    let live = pool().await.expect("the warm pool");
    assert_eq!(live.min_size(), Some(1));
    assert_eq!(live.max_group_prepared_capacity(), Some(5));
    assert_eq!(live.pool_state().map(|s| s.as_str()), Some("Hibernated"));
    assert_eq!(
        live.instance_reuse_policy()
            .and_then(|p| p.reuse_on_scale_in()),
        Some(true)
    );
    let status = obj.status.as_ref().unwrap().warm_pool.clone().unwrap();
    assert_eq!(status.pool_state.as_deref(), Some("Hibernated"));
    assert_eq!(
        aws.in_sync_reads(&mut obj).await,
        9,
        "one read more than a group without one"
    );

    // By hand: the pool kept running. Set back.
    aws.autoscaling
        .put_warm_pool()
        .auto_scaling_group_name(GROUP)
        .min_size(1)
        .max_group_prepared_capacity(5)
        .pool_state(aws_sdk_autoscaling::types::WarmPoolState::Running)
        .send()
        .await
        .unwrap();
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["PutWarmPool"]
    );
    assert_eq!(
        pool().await.unwrap().pool_state().map(|s| s.as_str()),
        Some("Hibernated")
    );

    obj = edited(&obj, EXAMPLE);
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["DeleteWarmPool"]
    );
    assert!(pool().await.is_none());
    assert!(obj.status.as_ref().unwrap().warm_pool.is_none());
    assert_eq!(aws.in_sync_reads(&mut obj).await, 8);
}

/// Capacity rebalancing, instance warmup, lifetime, scale-in protection of new instances
/// and the maintenance policy: set on create, set back when changed by hand, and left as
/// Auto Scaling has them when the spec does not say.
#[tokio::test]
async fn group_settings_are_set_and_kept() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let settings = example_with(
        "  capacityRebalance: true\n  defaultInstanceWarmup: 120\n  maxInstanceLifetime: 604800\n  newInstancesProtectedFromScaleIn: true\n  instanceMaintenancePolicy: {minHealthyPercentage: 90, maxHealthyPercentage: 120}\n",
    );
    let mut obj = group(&settings);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let live = aws.group().await.unwrap();
    assert_eq!(live.capacity_rebalance(), Some(true));
    assert_eq!(live.default_instance_warmup(), Some(120));
    assert_eq!(live.max_instance_lifetime(), Some(604800));
    assert_eq!(live.new_instances_protected_from_scale_in(), Some(true));
    let policy = live.instance_maintenance_policy().unwrap();
    assert_eq!(policy.min_healthy_percentage(), Some(90));
    assert_eq!(policy.max_healthy_percentage(), Some(120));
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;

    aws.autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(GROUP)
        .max_instance_lifetime(0)
        .capacity_rebalance(false)
        .send()
        .await
        .unwrap();
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["UpdateAutoScalingGroup"]
    );
    let live = aws.group().await.unwrap();
    assert_eq!(live.max_instance_lifetime(), Some(604800));
    assert_eq!(live.capacity_rebalance(), Some(true));
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;
}

/// Spot and several instance types: the group is created with the mixed instances
/// policy around its managed template, a hand edit of the distribution is set back, a new
/// template version goes inside the policy, and dropping the policy returns the group to
/// its plain template.
#[tokio::test]
async fn a_mixed_instances_policy_is_created_kept_and_removed() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let mixed = EXAMPLE.replace(
        "  lifecycleHooks:\n",
        r#"  mixedInstancesPolicy:
    launchTemplate:
      overrides:
        - {instanceType: m6i.large, weightedCapacity: "2"}
        - {instanceType: m5.large, weightedCapacity: "2"}
    instancesDistribution:
      onDemandBaseCapacity: 1
      onDemandPercentageAboveBaseCapacity: 25
      spotAllocationStrategy: price-capacity-optimized
  lifecycleHooks:
"#,
    );
    let mut obj = group(&mixed);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let live = aws.group().await.unwrap();
    let policy = live
        .mixed_instances_policy()
        .expect("a mixed instances policy");
    let template = policy.launch_template().unwrap();
    let types: Vec<_> = template
        .overrides()
        .iter()
        .map(|o| (o.instance_type().unwrap(), o.weighted_capacity().unwrap()))
        .collect();
    assert_eq!(types, [("m6i.large", "2"), ("m5.large", "2")]);
    assert!(template.launch_template_specification().is_some());
    let distribution = policy.instances_distribution().unwrap();
    assert_eq!(distribution.on_demand_base_capacity(), Some(1));
    assert_eq!(
        distribution.on_demand_percentage_above_base_capacity(),
        Some(25)
    );
    assert_eq!(
        distribution.spot_allocation_strategy(),
        Some("price-capacity-optimized")
    );
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;

    // By hand: all On-Demand. Set back.
    use aws_sdk_autoscaling::types::{
        InstancesDistribution, LaunchTemplate, LaunchTemplateOverrides,
        LaunchTemplateSpecification, MixedInstancesPolicy,
    };
    let status = obj.status.clone().unwrap();
    let edited_policy = MixedInstancesPolicy::builder()
        .launch_template(
            LaunchTemplate::builder()
                .launch_template_specification(
                    LaunchTemplateSpecification::builder()
                        .set_launch_template_id(status.launch_template_id.clone())
                        .set_version(status.launch_template_version.clone())
                        .build(),
                )
                .overrides(
                    LaunchTemplateOverrides::builder()
                        .instance_type("m6i.large")
                        .weighted_capacity("2")
                        .build(),
                )
                .overrides(
                    LaunchTemplateOverrides::builder()
                        .instance_type("m5.large")
                        .weighted_capacity("2")
                        .build(),
                )
                .build(),
        )
        .instances_distribution(
            InstancesDistribution::builder()
                .on_demand_base_capacity(1)
                .on_demand_percentage_above_base_capacity(100)
                .spot_allocation_strategy("price-capacity-optimized")
                .build(),
        )
        .build();
    aws.autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(GROUP)
        .mixed_instances_policy(edited_policy)
        .send()
        .await
        .unwrap();
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["UpdateAutoScalingGroup"]
    );
    let live = aws.group().await.unwrap();
    let distribution = live
        .mixed_instances_policy()
        .and_then(|p| p.instances_distribution())
        .unwrap();
    assert_eq!(
        distribution.on_demand_percentage_above_base_capacity(),
        Some(25)
    );
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;

    // Dropped from the spec: the group runs its plain template again.
    obj = edited(&obj, EXAMPLE);
    assert!(
        sync(&mut obj, &aws.pipeline)
            .await
            .unwrap()
            .contains(&"UpdateAutoScalingGroup".to_string())
    );
    let live = aws.group().await.unwrap();
    assert!(live.launch_template().is_some(), "{live:?}");
}

/// An alarm's M-of-N, missing-data treatment and the paging topics told next to the
/// policy reach CloudWatch, are kept, and a hand edit of them is set back.
#[tokio::test]
async fn alarm_options_and_paging_topics_are_set_and_kept() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let paging = "arn:aws:sns:eu-west-1:123456789012:paging";
    let options = EXAMPLE.replacen(
        "        evaluationPeriods: 2\n",
        &format!(
            "        evaluationPeriods: 2\n        datapointsToAlarm: 1\n        treatMissingData: breaching\n        alarmActions: [\"{paging}\"]\n        okActions: [\"{paging}\"]\n"
        ),
        1,
    );
    let mut obj = group(&options);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let alarm = || aws.scale_up_alarm();
    let live = alarm().await;
    assert_eq!(live.datapoints_to_alarm(), Some(1));
    assert_eq!(live.treat_missing_data(), Some("breaching"));
    assert_eq!(
        live.alarm_actions().len(),
        2,
        "the policy and the paging topic"
    );
    assert!(live.alarm_actions().iter().any(|a| a == paging));
    assert_eq!(live.ok_actions(), [paging]);
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;

    // By hand: the paging topic dropped. Set back.
    let policy_arn = live
        .alarm_actions()
        .iter()
        .find(|a| *a != paging)
        .unwrap()
        .clone();
    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name("haproxy-staging-haproxy-cpu-high")
        .metric_name("CPUUtilization")
        .namespace("AWS/EC2")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(300)
        .evaluation_periods(2)
        .datapoints_to_alarm(1)
        .treat_missing_data("breaching")
        .threshold(70.0)
        .comparison_operator(
            aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
        )
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("AutoScalingGroupName")
                .value(GROUP)
                .build(),
        )
        .alarm_actions(policy_arn)
        .ok_actions(paging)
        .send()
        .await
        .unwrap();
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["PutMetricAlarm"]
    );
    assert!(alarm().await.alarm_actions().iter().any(|a| a == paging));
}

/// Policy settings beyond the kind (enabled, warmup, minimum magnitude, aggregation) and
/// target tracking on ALBRequestCountPerTarget with its resource label and scale-in
/// disabled: put as given, and in sync afterwards.
#[tokio::test]
async fn policy_settings_and_request_count_tracking_are_put_and_kept() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let label = "app/edge/0123456789abcdef/targetgroup/haproxy/fedcba9876543210";
    let yaml = EXAMPLE.replace(
        "  notifications:\n",
        &format!(
            r#"    - name: requests
      targetTracking: {{predefinedMetric: ALBRequestCountPerTarget, targetValue: 1000, resourceLabel: "{label}", disableScaleIn: true}}
      estimatedInstanceWarmup: 180
    - name: steps
      adjustmentType: PercentChangeInCapacity
      minAdjustmentMagnitude: 2
      metricAggregationType: Maximum
      enabled: false
      steps: [{{lowerBound: 0, scalingAdjustment: 20}}]
      alarm: {{metricName: CPUUtilization, threshold: 90, comparisonOperator: GreaterThanOrEqualToThreshold}}
  notifications:
"#
        ),
    );
    let mut obj = group(&yaml);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let policies = aws.policies().await;
    let named = |name: &str| {
        policies
            .iter()
            .find(|p| p.policy_name() == Some(name))
            .unwrap()
            .clone()
    };
    let requests = named("requests");
    assert_eq!(requests.estimated_instance_warmup(), Some(180));
    let tracking = requests.target_tracking_configuration().unwrap();
    assert_eq!(tracking.disable_scale_in(), Some(true));
    assert_eq!(
        tracking
            .predefined_metric_specification()
            .and_then(|m| m.resource_label()),
        Some(label)
    );
    let steps = named("steps");
    assert_eq!(steps.min_adjustment_magnitude(), Some(2));
    assert_eq!(steps.metric_aggregation_type(), Some("Maximum"));
    assert_eq!(steps.enabled(), Some(false));
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;
}

/// Suspended processes and collected metrics: exactly the spec's, set after the group is
/// created, a hand change set back, and nothing written once in sync.
#[tokio::test]
async fn suspended_processes_and_metrics_are_exactly_the_specs() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let yaml = example_with(
        "  suspendedProcesses: [AZRebalance]\n  metricsCollection: [GroupInServiceInstances, GroupDesiredCapacity]\n",
    );
    let mut obj = group(&yaml);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let state = || async {
        let group = aws.group().await.unwrap();
        let mut processes: Vec<String> = group
            .suspended_processes()
            .iter()
            .filter_map(|p| p.process_name().map(str::to_string))
            .collect();
        processes.sort();
        let mut metrics: Vec<String> = group
            .enabled_metrics()
            .iter()
            .filter_map(|m| m.metric().map(str::to_string))
            .collect();
        metrics.sort();
        (processes, metrics)
    };
    let expected = (
        vec!["AZRebalance".to_string()],
        vec![
            "GroupDesiredCapacity".to_string(),
            "GroupInServiceInstances".to_string(),
        ],
    );
    assert_eq!(state().await, expected);
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;

    // By hand: launches suspended too, and one metric more.
    aws.autoscaling
        .suspend_processes()
        .auto_scaling_group_name(GROUP)
        .scaling_processes("Launch")
        .send()
        .await
        .unwrap();
    aws.autoscaling
        .enable_metrics_collection()
        .auto_scaling_group_name(GROUP)
        .granularity("1Minute")
        .metrics("GroupTotalInstances")
        .send()
        .await
        .unwrap();
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["ResumeProcesses", "DisableMetricsCollection"]
    );
    assert_eq!(state().await, expected);
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;
}

/// A percentile alarm with a unit and a description of its own: put as given, in sync
/// afterwards, and set back after a hand edit turns it into an average.
#[tokio::test]
async fn percentile_alarms_with_unit_and_description_are_put_and_kept() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let percentile = EXAMPLE.replacen(
        "        statistic: Average\n",
        "        extendedStatistic: p90\n        unit: Percent\n        description: Pages the edge team when haproxy runs hot\n",
        1,
    );
    let mut obj = group(&percentile);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let alarm = || aws.scale_up_alarm();
    let live = alarm().await;
    assert_eq!(live.extended_statistic(), Some("p90"));
    assert_eq!(live.statistic(), None);
    assert_eq!(
        live.unit(),
        Some(&aws_sdk_cloudwatch::types::StandardUnit::Percent)
    );
    assert_eq!(
        live.alarm_description(),
        Some("Pages the edge team when haproxy runs hot")
    );
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;

    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name("haproxy-staging-haproxy-cpu-high")
        .metric_name("CPUUtilization")
        .namespace("AWS/EC2")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(300)
        .evaluation_periods(2)
        .threshold(70.0)
        .comparison_operator(
            aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
        )
        .set_alarm_actions(Some(live.alarm_actions().to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["PutMetricAlarm"]
    );
    let live = alarm().await;
    assert_eq!(live.extended_statistic(), Some("p90"));
    assert_eq!(
        live.alarm_description(),
        Some("Pages the edge team when haproxy runs hot")
    );
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;
}

/// Deletion protection is set, repaired and honoured: while the group is protected,
/// deleting the object deletes nothing (alarms included) and names the field; once the
/// spec lifts it, the delete goes through.
#[tokio::test]
async fn deletion_protection_is_kept_and_honoured_by_delete() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let protected = example_with("  deletionProtection: prevent-all-deletion\n");
    let mut obj = group(&protected);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let protection = || async {
        aws.group()
            .await
            .unwrap()
            .deletion_protection()
            .map(|p| p.as_str().to_string())
    };
    assert_eq!(protection().await.as_deref(), Some("prevent-all-deletion"));
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;

    aws.autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(GROUP)
        .deletion_protection(aws_sdk_autoscaling::types::DeletionProtection::None)
        .send()
        .await
        .unwrap();
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["UpdateAutoScalingGroup"]
    );
    assert_eq!(protection().await.as_deref(), Some("prevent-all-deletion"));

    let before = writes(&aws.pipeline.env);
    let error = aws.pipeline.delete(&obj).await.unwrap_err();
    assert!(
        error.to_string().starts_with("spec.deletionProtection:"),
        "{error}"
    );
    assert_eq!(writes(&aws.pipeline.env), before, "nothing deleted");
    assert_eq!(aws.alarms().await.len(), 2);

    let mut lifted = edited(&obj, &example_with("  deletionProtection: none\n"));
    sync(&mut lifted, &aws.pipeline).await.unwrap();
    aws.pipeline.delete(&lifted).await.unwrap();
    assert!(aws.group().await.is_none());
}

/// The launch template's network interfaces, monitoring, credits, CPU options,
/// placement, Spot market, capacity reservation preference, metadata endpoint and KMS /
/// snapshot volumes reach EC2 as given, and the group stays in sync.
#[tokio::test]
async fn launch_template_options_reach_ec2() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    // The snapshot a volume starts from exists (EC2 checks it at launch).
    let volume = aws
        .ec2
        .create_volume()
        .availability_zone("eu-west-1a")
        .size(8)
        .send()
        .await
        .unwrap();
    let snapshot = aws
        .ec2
        .create_snapshot()
        .volume_id(volume.volume_id().unwrap())
        .send()
        .await
        .unwrap();
    let snapshot = snapshot.snapshot_id().unwrap();
    let template = EXAMPLE
        .replace(
            "        encrypted: true\n",
            &format!("        encrypted: true\n        kmsKeyId: alias/fleet-volumes\n      - {{deviceName: /dev/xvdb, snapshotId: {snapshot}}}\n"),
        )
        .replace(
            "      httpPutResponseHopLimit: 2\n",
            "      httpPutResponseHopLimit: 2\n      httpEndpoint: enabled\n      httpProtocolIpv6: enabled\n    networkInterfaces:\n      - {deviceIndex: 0, associatePublicIpAddress: false, securityGroupIds: [sg-0123456789abcdef0], ipv6AddressCount: 1, description: primary}\n    monitoring: true\n    creditSpecification: unlimited\n    cpuOptions: {coreCount: 1, threadsPerCore: 2}\n    ebsOptimized: true\n    placement: {tenancy: default, groupName: edge-spread}\n    instanceMarketOptions: {marketType: spot, maxPrice: \"0.02\"}\n    capacityReservationSpecification: {capacityReservationPreference: none}\n",
        );
    let mut obj = group(&template);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let versions = aws.template_versions().await;
    let data = versions[0].launch_template_data().unwrap();
    let interface = &data.network_interfaces()[0];
    assert_eq!(interface.device_index(), Some(0));
    assert_eq!(interface.associate_public_ip_address(), Some(false));
    assert_eq!(interface.groups(), ["sg-0123456789abcdef0"]);
    assert_eq!(interface.ipv6_address_count(), Some(1));
    assert_eq!(interface.delete_on_termination(), Some(true));
    assert_eq!(data.monitoring().and_then(|m| m.enabled()), Some(true));
    assert_eq!(
        data.credit_specification().and_then(|c| c.cpu_credits()),
        Some("unlimited")
    );
    let cpu = data.cpu_options().unwrap();
    assert_eq!(
        (cpu.core_count(), cpu.threads_per_core()),
        (Some(1), Some(2))
    );
    assert_eq!(data.ebs_optimized(), Some(true));
    assert_eq!(
        data.placement().and_then(|p| p.group_name()),
        Some("edge-spread")
    );
    let market = data.instance_market_options().unwrap();
    assert_eq!(market.market_type().map(|m| m.as_str()), Some("spot"));
    assert_eq!(
        market.spot_options().and_then(|s| s.max_price()),
        Some("0.02")
    );
    assert_eq!(
        data.capacity_reservation_specification()
            .and_then(|c| c.capacity_reservation_preference())
            .map(|p| p.as_str()),
        Some("none")
    );
    let metadata = data.metadata_options().unwrap();
    assert_eq!(
        metadata.http_endpoint().map(|e| e.as_str()),
        Some("enabled")
    );
    assert_eq!(
        metadata.http_protocol_ipv6().map(|e| e.as_str()),
        Some("enabled")
    );
    let volumes = data.block_device_mappings();
    let root = volumes[0].ebs().unwrap();
    assert_eq!(root.kms_key_id(), Some("alias/fleet-volumes"));
    assert_eq!(root.encrypted(), Some(true));
    assert_eq!(
        volumes[1].ebs().and_then(|e| e.snapshot_id()),
        Some(snapshot)
    );
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;
}

/// Target tracking on a queue's backlog per instance (metric math over the queue's depth
/// and the group's in-service instances) and a predictive policy: put as given, in sync
/// afterwards, and set back after a hand edit.
#[tokio::test]
async fn backlog_tracking_and_predictive_policies_are_put_and_kept() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let policies = EXAMPLE.replace(
        "  notifications:\n",
        r#"    - name: backlog
      targetTracking:
        targetValue: 100
        customizedMetric:
          metrics:
            - id: visible
              metricStat:
                metric: {metricName: ApproximateNumberOfMessagesVisible, namespace: AWS/SQS, dimensions: {QueueName: jobs}}
                stat: Sum
              returnData: false
            - id: hosts
              metricStat:
                metric: {metricName: GroupInServiceInstances, namespace: AWS/AutoScaling, dimensions: {AutoScalingGroupName: haproxy-staging}}
                stat: Average
              returnData: false
            - {id: backlog, expression: "visible / hosts", label: Backlog per instance}
    - name: forecast
      predictiveScaling:
        predefinedMetricPair: ASGCPUUtilization
        targetValue: 50
        mode: ForecastAndScale
        schedulingBufferTime: 300
        maxCapacityBreachBehavior: IncreaseMaxCapacity
        maxCapacityBuffer: 10
  notifications:
"#,
    );
    let mut obj = group(&policies);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let find = |name: &str, all: &[aws_sdk_autoscaling::types::ScalingPolicy]| {
        all.iter()
            .find(|p| p.policy_name() == Some(name))
            .cloned()
            .unwrap()
    };
    let live = aws.policies().await;
    let backlog = find("backlog", &live);
    let metrics = backlog
        .target_tracking_configuration()
        .and_then(|t| t.customized_metric_specification())
        .unwrap()
        .metrics();
    assert_eq!(metrics.len(), 3);
    assert_eq!(metrics[2].expression(), Some("visible / hosts"));
    assert_eq!(
        metrics[0]
            .metric_stat()
            .and_then(|s| s.metric())
            .and_then(|m| m.metric_name()),
        Some("ApproximateNumberOfMessagesVisible")
    );
    let forecast = find("forecast", &live);
    assert_eq!(forecast.policy_type(), Some("PredictiveScaling"));
    let configuration = forecast.predictive_scaling_configuration().unwrap();
    assert_eq!(
        configuration.mode().map(|m| m.as_str()),
        Some("ForecastAndScale")
    );
    assert_eq!(configuration.max_capacity_buffer(), Some(10));
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;

    // By hand: the backlog policy tracks CPU instead, the forecast only forecasts.
    aws.autoscaling
        .put_scaling_policy()
        .auto_scaling_group_name(GROUP)
        .policy_name("backlog")
        .policy_type("TargetTrackingScaling")
        .target_tracking_configuration(
            aws_sdk_autoscaling::types::TargetTrackingConfiguration::builder()
                .predefined_metric_specification(
                    aws_sdk_autoscaling::types::PredefinedMetricSpecification::builder()
                        .predefined_metric_type(
                            aws_sdk_autoscaling::types::MetricType::AsgAverageCpuUtilization,
                        )
                        .build(),
                )
                .target_value(100.0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.autoscaling
        .put_scaling_policy()
        .auto_scaling_group_name(GROUP)
        .policy_name("forecast")
        .policy_type("PredictiveScaling")
        .predictive_scaling_configuration(
            aws_sdk_autoscaling::types::PredictiveScalingConfiguration::builder()
                .set_metric_specifications(Some(configuration.metric_specifications().to_vec()))
                .mode(aws_sdk_autoscaling::types::PredictiveScalingMode::ForecastOnly)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["PutScalingPolicy", "PutScalingPolicy"]
    );
    let live = aws.policies().await;
    assert!(
        find("backlog", &live)
            .target_tracking_configuration()
            .and_then(|t| t.customized_metric_specification())
            .is_some()
    );
    assert_eq!(
        find("forecast", &live)
            .predictive_scaling_configuration()
            .and_then(|c| c.mode())
            .map(|m| m.as_str()),
        Some("ForecastAndScale")
    );
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;
}

/// The refresh a template change starts carries every preference of the spec.
#[tokio::test]
async fn a_refresh_carries_the_specs_preferences() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let preferences = EXAMPLE.replace(
        "    minHealthyPercentage: 50\n",
        "    minHealthyPercentage: 50\n    maxHealthyPercentage: 150\n    instanceWarmup: 60\n    skipMatching: true\n    checkpointPercentages: [50, 100]\n    checkpointDelay: 600\n    autoRollback: true\n    alarms: [haproxy-5xx]\n    scaleInProtectedInstances: Wait\n    standbyInstances: Terminate\n    bakeTime: 300\n",
    );
    let mut obj = group(&preferences);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let mut obj = edited(&obj, &preferences.replace("t3.small", "t3.medium"));
    assert!(
        sync(&mut obj, &aws.pipeline)
            .await
            .unwrap()
            .contains(&"StartInstanceRefresh".to_string())
    );
    let refreshes = aws
        .autoscaling
        .describe_instance_refreshes()
        .auto_scaling_group_name(GROUP)
        .send()
        .await
        .unwrap();
    let sent = refreshes.instance_refreshes()[0].preferences().unwrap();
    assert_eq!(sent.min_healthy_percentage(), Some(50));
    assert_eq!(sent.max_healthy_percentage(), Some(150));
    assert_eq!(sent.instance_warmup(), Some(60));
    assert_eq!(sent.skip_matching(), Some(true));
    assert_eq!(sent.checkpoint_percentages(), [50, 100]);
    assert_eq!(sent.checkpoint_delay(), Some(600));
    assert_eq!(sent.auto_rollback(), Some(true));
    assert_eq!(
        sent.alarm_specification().map(|a| a.alarms()),
        Some(&["haproxy-5xx".to_string()][..])
    );
    assert_eq!(
        sent.scale_in_protected_instances().map(|p| p.as_str()),
        Some("Wait")
    );
    assert_eq!(
        sent.standby_instances().map(|p| p.as_str()),
        Some("Terminate")
    );
    assert_eq!(sent.bake_time(), Some(300));
}

/// Attribute-based instance selection, and an override with a template of its own (an
/// ARM image for Graviton types): created as given, in sync afterwards, set back after a
/// hand edit of the requirements.
#[tokio::test]
async fn instance_requirements_and_override_templates_are_created_and_kept() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    aws.ec2
        .create_launch_template()
        .launch_template_name("haproxy-arm")
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id("ami-760aaa0f")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let by_attributes = example_with(
        r#"  mixedInstancesPolicy:
    launchTemplate:
      overrides:
        - instanceRequirements:
            vCpuCount: {min: 2, max: 8}
            memoryMiB: {min: 4096}
            memoryGiBPerVCpu: {min: 2, max: 4.5}
            cpuManufacturers: [intel, amd]
            instanceGenerations: [current]
            excludedInstanceTypes: ["t2.*"]
            spotMaxPricePercentageOverLowestPrice: 50
            burstablePerformance: excluded
            localStorage: excluded
            acceleratorCount: {max: 0}
        - instanceRequirements:
            vCpuCount: {min: 2, max: 8}
            memoryMiB: {min: 4096}
            cpuManufacturers: [amazon-web-services]
          launchTemplate: {name: haproxy-arm, version: $Latest}
    instancesDistribution: {onDemandBaseCapacity: 1, spotAllocationStrategy: price-capacity-optimized}
"#,
    );
    let mut obj = group(&by_attributes);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let overrides = || async {
        aws.group()
            .await
            .unwrap()
            .mixed_instances_policy()
            .and_then(|p| p.launch_template())
            .map(|t| t.overrides().to_vec())
            .unwrap()
    };
    let live = overrides().await;
    let first = live[0].instance_requirements().unwrap();
    assert_eq!(first.v_cpu_count().and_then(|v| v.max()), Some(8));
    assert_eq!(
        first.memory_gib_per_v_cpu().and_then(|m| m.max()),
        Some(4.5)
    );
    assert_eq!(first.excluded_instance_types(), ["t2.*"]);
    assert_eq!(first.accelerator_count().and_then(|a| a.max()), Some(0));
    assert_eq!(
        live[1]
            .launch_template_specification()
            .and_then(|t| t.launch_template_name()),
        Some("haproxy-arm")
    );
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;

    // By hand: the overrides become one plain instance type.
    let policy = aws
        .group()
        .await
        .unwrap()
        .mixed_instances_policy()
        .unwrap()
        .clone();
    aws.autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(GROUP)
        .mixed_instances_policy(
            aws_sdk_autoscaling::types::MixedInstancesPolicy::builder()
                .launch_template(
                    aws_sdk_autoscaling::types::LaunchTemplate::builder()
                        .launch_template_specification(
                            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                                .launch_template_name(GROUP)
                                .version("1")
                                .build(),
                        )
                        .overrides(
                            aws_sdk_autoscaling::types::LaunchTemplateOverrides::builder()
                                .instance_type("m5.large")
                                .build(),
                        )
                        .build(),
                )
                .set_instances_distribution(policy.instances_distribution().cloned())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        sync(&mut obj, &aws.pipeline).await.unwrap(),
        ["UpdateAutoScalingGroup"]
    );
    assert_eq!(overrides().await, live);
    crate::support::assert_in_sync(&mut obj, &aws.pipeline).await;
}

/// A Spot-first group reports how many of its instances are On-Demand and how many Spot
/// (Auto Scaling does not say; EC2 does), at one read more than a plain group.
#[tokio::test]
async fn the_on_demand_and_spot_split_is_in_status() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let spot_first = example_with(
        "  mixedInstancesPolicy:\n    launchTemplate:\n      overrides: [{instanceType: m6i.large}, {instanceType: m5.large}]\n    instancesDistribution: {onDemandBaseCapacity: 1, onDemandPercentageAboveBaseCapacity: 0}\n",
    )
    .replace("desiredCapacity: 2", "desiredCapacity: 4");
    let mut obj = group(&spot_first);
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let instances = obj.status.as_ref().unwrap().instances.clone().unwrap();
    assert_eq!(instances.total, 4);
    assert_eq!((instances.on_demand, instances.spot), (Some(1), Some(3)));
    assert_eq!(
        aws.in_sync_reads(&mut obj).await,
        9,
        "8 as a plain group, and EC2's one"
    );

    // A plain group reads nothing more and says nothing of Spot.
    let emulator = Emulator::start();
    let aws = self::aws(&emulator).await;
    let mut plain = group(EXAMPLE);
    sync(&mut plain, &aws.pipeline).await.unwrap();
    let instances = plain.status.as_ref().unwrap().instances.clone().unwrap();
    assert_eq!((instances.on_demand, instances.spot), (None, None));
}

/// The Spot-first ECS host group of examples/: created whole (mixed instances, capacity
/// rebalance, schedules, backlog tracking, encrypted root volume), split 1 On-Demand / 2
/// Spot, and in sync afterwards at one read more per part it uses.
#[tokio::test]
async fn the_spot_first_example_is_created_and_kept() {
    let emulator = Emulator::start();
    let aws = aws(&emulator).await;
    let mut obj = group(include_str!("../../examples/spot-ecs-hosts.yaml"));
    sync(&mut obj, &aws.pipeline).await.unwrap();
    let live = aws
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("ecs-workers")
        .send()
        .await
        .unwrap()
        .auto_scaling_groups()[0]
        .clone();
    assert_eq!(live.capacity_rebalance(), Some(true));
    let policy = live.mixed_instances_policy().unwrap();
    assert_eq!(policy.launch_template().unwrap().overrides().len(), 4);
    let status = obj.status.clone().unwrap();
    let instances = status.instances.unwrap();
    assert_eq!((instances.on_demand, instances.spot), (Some(1), Some(2)));
    assert_eq!(status.scheduled_actions, Some(2));
    assert_eq!(status.policies.len(), 1);
    // The haproxy example's 8 reads less its topic's one, plus one for the scheduled
    // actions and EC2's one for the split.
    assert_eq!(aws.in_sync_reads(&mut obj).await, 9);
}
