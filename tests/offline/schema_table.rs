//! The table of every spec field × a bad value, generated from the CRD schema: for each
//! field the schema constrains (pattern, enum, range, length, item count), a value that
//! breaks the constraint is put into a complete object and ecsfleet must refuse it by
//! itself — naming that field, before any AWS call — because the CLI reads files no API
//! server has checked. Every field of the schema must appear in one of the complete
//! objects below, so a field cannot be added without its refusal being tested.

use std::collections::BTreeSet;

use ecsfleet::daemon_service::DaemonService;
use ecsfleet::integration_role::IntegrationRole;
use ecsfleet::runtime::Managed;
use ecsfleet::runtime::secrets::Secrets;
use ecsfleet::scaling_group::ScalingGroup;
use serde_json::{Value, json};

/// One field of the schema: its path (`spec.a[0].b`, maps as `spec.tags.*`) and schema.
struct Field {
    path: Vec<String>,
    schema: Value,
}

fn walk(schema: &Value, path: Vec<String>, out: &mut Vec<Field>) {
    out.push(Field {
        path: path.clone(),
        schema: schema.clone(),
    });
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true)) {
        return; // Free-form (ECS's own JSON shape): checked by the renderer's tests.
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, sub) in properties {
            let mut path = path.clone();
            path.push(name.clone());
            walk(sub, path, out);
        }
    }
    if let Some(items) = schema.get("items") {
        let mut path = path.clone();
        path.push("0".into());
        walk(items, path, out);
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        let mut path = path.clone();
        path.push("*".into());
        walk(values, path, out);
    }
}

/// `spec.a[0].b` as ecsfleet's messages write it.
fn display(path: &[String]) -> String {
    let mut out = String::new();
    for key in path {
        if key.parse::<usize>().is_ok() {
            out.push_str(&format!("[{key}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(key);
        }
    }
    out
}

/// The value at `path`, if the object has it: for an array, the first item that has
/// the rest of the path; for a map (`*`), the first key that does. Returns the value and
/// its real path.
fn get_mut<'a>(value: &'a mut Value, path: &[String]) -> Option<(&'a mut Value, Vec<String>)> {
    let Some((key, rest)) = path.split_first() else {
        return Some((value, Vec::new()));
    };
    let candidates: Vec<String> = match &*value {
        Value::Object(fields) if key == "*" => fields.keys().cloned().collect(),
        Value::Object(_) => vec![key.clone()],
        Value::Array(items) => (0..items.len()).map(|i| i.to_string()).collect(),
        _ => return None,
    };
    let found = candidates.into_iter().find(|candidate| {
        let mut probe = value.clone();
        let child = match &mut probe {
            Value::Object(fields) => fields.get_mut(candidate),
            Value::Array(items) => items.get_mut(candidate.parse::<usize>().unwrap()),
            _ => None,
        };
        child.is_some_and(|child| get_mut(child, rest).is_some())
    })?;
    let child = match value {
        Value::Object(fields) => fields.get_mut(&found)?,
        Value::Array(items) => items.get_mut(found.parse::<usize>().ok()?)?,
        _ => return None,
    };
    let (at, mut real) = get_mut(child, rest)?;
    real.insert(0, found);
    Some((at, real))
}

/// Values that break `schema`'s constraints, each with what it breaks. `current` is the
/// valid value the complete object has there.
fn bad_values(schema: &Value, current: &Value) -> Vec<(String, Value)> {
    let mut bad = Vec::new();
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && options.iter().all(Value::is_string)
    {
        bad.push(("enum".into(), json!("NotAnOption")));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        let regex = regex::Regex::new(pattern).expect("the CRD's pattern is a regular expression");
        let candidates = [
            String::new(),
            "no spaces allowed".into(),
            "-".into(),
            "UPPER_case!".into(),
            "a".repeat(1300),
            "arn:aws:iam::12:role/x".into(),
        ];
        if let Some(breaking) = candidates.into_iter().find(|c| !regex.is_match(c)) {
            bad.push((format!("pattern {pattern}"), json!(breaking)));
        }
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
        bad.push((
            format!("maxLength {max}"),
            json!("a".repeat(max as usize + 1)),
        ));
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && min > 0
    {
        bad.push((format!("minLength {min}"), json!("")));
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        bad.push((format!("minimum {min}"), json!(min as i64 - 1)));
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        bad.push((format!("maximum {max}"), json!(max as i64 + 1)));
    }
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && let Some((_, value)) = current.as_object().and_then(|fields| fields.iter().next())
    {
        let entries = (0..=max)
            .map(|i| (format!("key{i}"), value.clone()))
            .collect();
        bad.push((format!("maxProperties {max}"), Value::Object(entries)));
    }
    if let Some(item) = current.as_array().and_then(|items| items.first()) {
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            let items: Vec<Value> = (0..=max).map(|_| item.clone()).collect();
            bad.push((format!("maxItems {max}"), Value::Array(items)));
        }
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && min > 0
        {
            bad.push((format!("minItems {min}"), json!([])));
        }
    }
    bad
}

/// Checks every field of `kind`'s schema against the complete objects `complete`.
async fn table<K>(kind: &str, complete: &[&str], secrets: Secrets) -> usize
where
    K: Managed + serde::de::DeserializeOwned + kube::CustomResourceExt,
{
    let crd = ecsfleet::cli::crds()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .unwrap();
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap();
    let mut fields = Vec::new();
    walk(
        &schema["properties"]["spec"],
        vec!["spec".into()],
        &mut fields,
    );
    let env = crate::support::offline_env(secrets).await;
    let objects: Vec<Value> = complete
        .iter()
        .map(|yaml| {
            let mut object: Value = serde_yaml_ng::from_str(yaml).unwrap();
            object["metadata"]["uid"] = json!("uid");
            object["metadata"]["generation"] = json!(1);
            object
        })
        .collect();
    for (index, object) in objects.iter().enumerate() {
        assert_eq!(
            crate::support::refusal::<K>(object.clone(), &env).await,
            None,
            "{kind}: complete object {index} is valid"
        );
    }

    let mut missing = BTreeSet::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for field in &fields {
        let Some((object, (current, real))) = objects.iter().find_map(|object| {
            let mut copy = object.clone();
            get_mut(&mut copy, &field.path)
                .map(|(current, real)| (current.clone(), real))
                .map(|found| (object.clone(), found))
        }) else {
            missing.insert(display(&field.path));
            continue;
        };
        for (constraint, value) in bad_values(&field.schema, &current) {
            let mut broken = object.clone();
            *get_mut(&mut broken, &field.path).unwrap().0 = value;
            checked += 1;
            let path = display(&real);
            match crate::support::refusal::<K>(broken, &env).await {
                Some(message) if message.starts_with(&path) => {}
                Some(message) => failures.push(format!(
                    "{path} ({constraint}): refused, but naming another field: {message}"
                )),
                None => failures.push(format!("{path} ({constraint}): accepted")),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{kind}: fields in no complete object (add them so their refusals are tested): {missing:#?}"
    );
    assert!(
        failures.is_empty(),
        "{kind}: {} of {checked} bad values not refused by their field:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{kind}: {checked} bad values from the schema, each refused naming its field");
    checked
}

fn external_id_secret() -> Secrets {
    let secret = serde_yaml_ng::from_str(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: datadog-external-id, namespace: monitoring}\nstringData: {externalId: Table-external-id-0123456789}\n",
    )
    .unwrap();
    Secrets::Files(std::collections::BTreeMap::from([(
        ("monitoring".to_string(), "datadog-external-id".to_string()),
        secret,
    )]))
}

const DAEMON_SERVICE: &str = include_str!("../../examples/datadog-agent.yaml");
const DAEMON_SERVICE_MANAGED: &str = include_str!("../../deploy/examples/managed-daemon.yaml");
const SCALING_GROUP: &str = include_str!("../../examples/haproxy-scaling-group.yaml");

#[tokio::test]
async fn every_daemon_service_field_refuses_its_bad_value() {
    let checked = table::<DaemonService>(
        "DaemonService",
        &[
            DAEMON_SERVICE,
            DAEMON_SERVICE_MORE,
            DAEMON_SERVICE_DAEMON,
            DAEMON_SERVICE_MANAGED,
        ],
        Secrets::Files(Default::default()),
    )
    .await;
    assert!(checked > 10, "{checked}");
}

#[tokio::test]
async fn every_integration_role_field_refuses_its_bad_value() {
    let checked = table::<IntegrationRole>(
        "IntegrationRole",
        &[INTEGRATION_ROLE, INTEGRATION_ROLE_MORE],
        external_id_secret(),
    )
    .await;
    assert!(checked > 10, "{checked}");
}

#[tokio::test]
async fn every_scaling_group_field_refuses_its_bad_value() {
    let checked = table::<ScalingGroup>(
        "ScalingGroup",
        &[
            SCALING_GROUP,
            SCALING_GROUP_MORE,
            SCALING_GROUP_TEMPLATE,
            SCALING_GROUP_TEMPLATE_MORE,
            SCALING_GROUP_ATTRIBUTES,
            SCALING_GROUP_TEMPLATE_ID,
        ],
        Secrets::Files(Default::default()),
    )
    .await;
    assert!(checked > 10, "{checked}");
}

/// The fields the example does not set (some exclude others, so there are several).
const DAEMON_SERVICE_MORE: &str = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {name: more, namespace: monitoring}
spec:
  serviceName: agent-more
  cluster: production
  region: eu-west-1
  assumeRoleArn: arn:aws:iam::123456789012:role/deployer
  assumeRoleExternalId: {name: deployer-external-id, key: externalId}
  adoptExisting: true
  deletionPolicy: Orphan
  scheduling: PerInstance
  capacityProviderStrategy: [{capacityProvider: asg-provider, base: 1, weight: 1}]
  networkConfiguration:
    awsvpcConfiguration: {assignPublicIp: false, securityGroups: [sg-0123], subnets: [subnet-0123]}
  loadBalancers:
    - {targetGroupArn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/agent/0123456789abcdef", containerName: agent, containerPort: 8126}
  healthCheckGracePeriodSeconds: 60
  enableExecuteCommand: true
  enableECSManagedTags: true
  propagateTags: TASK_DEFINITION
  deployment:
    deploymentCircuitBreaker: {enable: true, rollback: true}
    alarms: {alarmNames: [agent-errors], enable: true, rollback: false}
  taskDefinition: {arn: "arn:aws:ecs:eu-west-1:123456789012:task-definition/agent:3"}
"#;

const DAEMON_SERVICE_DAEMON: &str = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {name: daemon, namespace: monitoring}
spec:
  cluster: production
  scheduling: Daemon
  loadBalancers: [{loadBalancerName: classic-agent, containerName: agent, containerPort: 8126}]
  taskDefinition:
    family: agent-full
    cpu: "256"
    memory: "512"
    executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
    taskRoleArn: arn:aws:iam::123456789012:role/agent
    ipcMode: host
    pidMode: host
    networkMode: host
    requiresCompatibilities: [EC2]
    placementConstraints: [{type: memberOf, expression: "attribute:ecs.os-type == linux"}]
    proxyConfiguration: {type: APPMESH, containerName: agent}
    inferenceAccelerators: [{deviceName: device1, deviceType: eia2.medium}]
    ephemeralStorage: {sizeInGiB: 30}
    runtimePlatform: {cpuArchitecture: ARM64, operatingSystemFamily: LINUX}
    enableFaultInjection: true
    trustedExecutionConfiguration: {isolationMode: ISOLATED_SANDBOX}
    containerDefinitions: [{name: agent, image: "agent:7", memory: 128}]
"#;

const INTEGRATION_ROLE: &str = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: IntegrationRole
metadata: {name: datadog, namespace: monitoring}
spec:
  roleName: DatadogIntegrationRole
  path: /vendors/
  description: read-only for a vendor
  maxSessionDurationSeconds: 7200
  permissionsBoundaryArn: arn:aws:iam::123456789012:policy/Boundary
  attachedPolicyQuota: 12
  region: eu-west-1
  assumeRoleArn: arn:aws:iam::123456789012:role/deployer
  assumeRoleExternalId: {name: deployer-external-id, key: externalId}
  adoptExisting: true
  deletionPolicy: Orphan
  tags: {team: observability}
  outputSecretName: datadog-handover
  trust:
    principals: ["464622532012"]
    externalId: {secretRef: {name: datadog-external-id, key: externalId}}
  policy:
    name: DatadogPolicy
    allowFullAccess: false
    statements:
      - sid: ReadOnly
        effect: Allow
        actions: ["ec2:Describe*"]
        resources: ["arn:aws:ec2:eu-west-1:123456789012:instance/*"]
        conditions: {StringEquals: {"aws:RequestedRegion": [eu-west-1]}}
  managedPolicyArns: [arn:aws:iam::aws:policy/SecurityAudit]
"#;

const INTEGRATION_ROLE_MORE: &str = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: IntegrationRole
metadata: {name: generated, namespace: monitoring}
spec:
  roleNamePrefix: vendor-
  trust:
    principals: ["464622532012"]
    externalId: {generate: true}
    allowWithoutExternalId: false
    services: [ec2.amazonaws.com]
    federated:
      - providerArn: arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC
        subjects: ["system:serviceaccount:monitoring:agent"]
        audiences: [sts.amazonaws.com]
    conditions: {StringEquals: {"aws:PrincipalOrgID": [o-a1b2c3d4]}}
    actions: [sts:TagSession]
  policy:
    document: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
"#;

const SCALING_GROUP_MORE: &str = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: ScalingGroup
metadata: {name: more, namespace: edge}
spec:
  name: edge-more
  region: eu-west-1
  assumeRoleArn: arn:aws:iam::123456789012:role/deployer
  assumeRoleExternalId: {name: deployer-external-id, key: externalId}
  adoptExisting: true
  deletionPolicy: Orphan
  launchTemplateRef: {name: shared-template, version: "3"}
  minSize: 1
  maxSize: 5
  subnetIds: [subnet-0123, subnet-4567]
  targetGroupArns: ["arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef"]
  tags:
    - {key: team, value: edge, propagateAtLaunch: false}
  mixedInstancesPolicy:
    launchTemplate:
      overrides: [{instanceType: m6i.large, weightedCapacity: "2"}, {instanceType: m5.large, weightedCapacity: "2"}]
    instancesDistribution:
      onDemandAllocationStrategy: prioritized
      onDemandBaseCapacity: 1
      onDemandPercentageAboveBaseCapacity: 25
      spotAllocationStrategy: lowest-price
      spotInstancePools: 2
      spotMaxPrice: "0.05"
  suspendedProcesses: [AZRebalance]
  metricsCollection: [GroupInServiceInstances]
  capacityRebalance: true
  defaultInstanceWarmup: 120
  maxInstanceLifetime: 604800
  newInstancesProtectedFromScaleIn: false
  instanceMaintenancePolicy: {minHealthyPercentage: 90, maxHealthyPercentage: 120}
  scheduledActions:
    - {name: night, recurrence: "0 20 * * 1-5", timeZone: Europe/Berlin, startTime: "2027-01-04T07:00:00Z", endTime: "2027-12-31T00:00:00Z", minSize: 0, maxSize: 0, desiredCapacity: 0}
  notifications:
    topicArn: arn:aws:sns:eu-west-1:123456789012:fleet-events
    types: [Launch]
  scalingPolicies:
    - name: steps
      adjustmentType: ChangeInCapacity
      steps:
        - {upperBound: 10, scalingAdjustment: 1}
        - {lowerBound: 10, scalingAdjustment: 2}
      alarm:
        metricName: CPUUtilization
        namespace: AWS/EC2
        dimensions: {AutoScalingGroupName: edge-more}
        statistic: Average
        periodSeconds: 60
        evaluationPeriods: 1
        threshold: 70
        comparisonOperator: GreaterThanOrEqualToThreshold
        datapointsToAlarm: 1
        treatMissingData: notBreaching
        alarmActions: ["arn:aws:sns:eu-west-1:123456789012:paging"]
        okActions: ["arn:aws:sns:eu-west-1:123456789012:paging"]
        insufficientDataActions: ["arn:aws:sns:eu-west-1:123456789012:paging"]
    - name: cpu-target
      targetTracking: {predefinedMetric: ASGAverageCPUUtilization, targetValue: 50, disableScaleIn: false}
      estimatedInstanceWarmup: 120
      enabled: true
    - name: requests
      targetTracking: {predefinedMetric: ALBRequestCountPerTarget, targetValue: 1000, resourceLabel: "app/edge/0123456789abcdef/targetgroup/haproxy/fedcba9876543210"}
    - name: percent
      adjustmentType: PercentChangeInCapacity
      minAdjustmentMagnitude: 2
      metricAggregationType: Maximum
      steps: [{lowerBound: 0, scalingAdjustment: 20}]
      alarm: {metricName: CPUUtilization, threshold: 90, comparisonOperator: GreaterThanOrEqualToThreshold, extendedStatistic: p99, unit: Percent, description: Hot}
    - name: queue
      targetTracking:
        targetValue: 10
        customizedMetric: {metricName: ApproximateNumberOfMessagesVisible, namespace: AWS/SQS, dimensions: {QueueName: jobs}, statistic: Sum, unit: Count}
    - name: backlog
      targetTracking:
        targetValue: 10
        customizedMetric:
          metrics:
            - {id: visible, metricStat: {metric: {metricName: ApproximateNumberOfMessagesVisible, namespace: AWS/SQS, dimensions: {QueueName: jobs}}, stat: Sum, unit: Count}, returnData: false}
            - {id: backlog, expression: visible / 2, label: Backlog, returnData: true}
    - name: forecast
      predictiveScaling: {predefinedMetricPair: ALBRequestCount, resourceLabel: "app/edge/0123456789abcdef/targetgroup/haproxy/fedcba9876543210", targetValue: 1000, mode: ForecastAndScale, schedulingBufferTime: 300, maxCapacityBreachBehavior: IncreaseMaxCapacity, maxCapacityBuffer: 10}
  deletionProtection: prevent-force-deletion
  instanceRefresh: {onTemplateChange: true, minHealthyPercentage: 90, maxHealthyPercentage: 110, instanceWarmup: 60, skipMatching: true, checkpointPercentages: [50, 100], checkpointDelay: 600, autoRollback: true, alarms: [edge-5xx], scaleInProtectedInstances: Ignore, standbyInstances: Wait, bakeTime: 60}
"#;

const SCALING_GROUP_TEMPLATE_ID: &str = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: ScalingGroup
metadata: {name: by-id, namespace: edge}
spec:
  launchTemplateRef: {id: lt-0123456789abcdef0}
  minSize: 0
  maxSize: 2
  availabilityZones: [eu-west-1a]
  warmPool: {minSize: 1, maxGroupPreparedCapacity: 5, poolState: Hibernated, reuseOnScaleIn: true}
  scalingPolicies:
    - name: steps
      steps:
        - {upperBound: 0, scalingAdjustment: -1}
        - {lowerBound: 0, scalingAdjustment: 1}
      alarm: {metricName: CPUUtilization, threshold: 50, comparisonOperator: GreaterThanThreshold}
"#;

const SCALING_GROUP_ATTRIBUTES: &str = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: ScalingGroup
metadata: {name: attributes, namespace: edge}
spec:
  launchTemplateRef: {name: shared-template}
  minSize: 1
  maxSize: 5
  availabilityZones: [eu-west-1a]
  mixedInstancesPolicy:
    launchTemplate:
      overrides:
        - weightedCapacity: "1"
          launchTemplate: {name: arm, version: $Latest}
          instanceRequirements:
            vCpuCount: {min: 2, max: 8}
            memoryMiB: {min: 4096, max: 32768}
            memoryGiBPerVCpu: {min: 2, max: 4}
            cpuManufacturers: [amazon-web-services]
            instanceGenerations: [current]
            excludedInstanceTypes: ["t2.*"]
            spotMaxPricePercentageOverLowestPrice: 50
            onDemandMaxPricePercentageOverLowestPrice: 20
            bareMetal: excluded
            burstablePerformance: excluded
            requireHibernateSupport: false
            networkInterfaceCount: {min: 1, max: 4}
            localStorage: included
            localStorageTypes: [ssd]
            totalLocalStorageGB: {min: 10, max: 100}
            baselineEbsBandwidthMbps: {min: 100, max: 10000}
            acceleratorTypes: [gpu]
            acceleratorCount: {min: 0, max: 1}
            acceleratorManufacturers: [nvidia]
            acceleratorNames: [t4]
            acceleratorTotalMemoryMiB: {min: 0, max: 16384}
            networkBandwidthGbps: {min: 1, max: 25}
        - weightedCapacity: "1"
          launchTemplate: {id: lt-0123456789abcdef0, version: "2"}
          instanceRequirements:
            vCpuCount: {min: 2}
            memoryMiB: {min: 4096}
            allowedInstanceTypes: ["m6g.*"]
            maxSpotPriceAsPercentageOfOptimalOnDemandPrice: 60
"#;

const SCALING_GROUP_TEMPLATE_MORE: &str = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: ScalingGroup
metadata: {name: template-more, namespace: edge}
spec:
  launchTemplate:
    imageId: ami-760aaa0f
    instanceType: t3.small
    metadataOptions: {httpEndpoint: enabled, httpProtocolIpv6: disabled}
    networkInterfaces:
      - {deviceIndex: 0, associatePublicIpAddress: true, securityGroupIds: [sg-0123], ipv6AddressCount: 1, deleteOnTermination: true, description: primary}
    monitoring: true
    creditSpecification: standard
    cpuOptions: {coreCount: 2, threadsPerCore: 1}
    ebsOptimized: true
    placement: {tenancy: dedicated, groupName: spread}
    instanceMarketOptions: {marketType: spot, maxPrice: "0.05"}
    capacityReservationSpecification: {capacityReservationPreference: open}
    blockDeviceMappings:
      - {deviceName: /dev/xvda, kmsKeyId: alias/volumes, snapshotId: snap-0123456789abcdef0}
  minSize: 1
  maxSize: 5
  availabilityZones: [eu-west-1a]
"#;

const SCALING_GROUP_TEMPLATE: &str = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: ScalingGroup
metadata: {name: template, namespace: edge}
spec:
  launchTemplate:
    imageId: ami-760aaa0f
    instanceType: t3.small
    iamInstanceProfile: ecs-instance
    keyName: ops
    securityGroupIds: [sg-0123]
    metadataOptions: {httpTokens: required, httpPutResponseHopLimit: 2, instanceMetadataTags: true}
    blockDeviceMappings:
      - {deviceName: /dev/xvda, volumeSizeGib: 30, volumeType: gp3, iops: 3000, throughput: 125, deleteOnTermination: true, encrypted: true}
  minSize: 1
  maxSize: 5
  availabilityZones: [eu-west-1a]
"#;
