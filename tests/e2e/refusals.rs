//! The controller's own refusals and the API server's, side by side: every cross-field
//! refusal of the controller (what one field's schema cannot see) is a case below, sent
//! both to the controller's validation and to the real API server (`kubectl apply
//! --dry-run=server` with the CRDs installed). Where CEL (or a list-map key) can express
//! the rule, the API server must refuse it too; where it cannot, the case says why and the
//! API server must accept it — so a rule added on either side without the other fails
//! here. And every CEL rule of the CRDs must be exercised by a case the controller refuses
//! as well: the two lists stay equal. (Single-field constraints — patterns, ranges,
//! lengths, enums — are the schema table's, in tests/schema_table.rs.)

use std::collections::BTreeSet;

use ecsfleet::daemon_service::DaemonService;
use ecsfleet::integration_role::IntegrationRole;
use ecsfleet::runtime::Env;
use ecsfleet::runtime::secrets::Secrets;
use ecsfleet::scaling_group::ScalingGroup;
use serde_json::{Value, json};

use crate::support::control_plane::ControlPlane;
use crate::support::{self, offline_env};

/// What the API server does with a case.
enum Api {
    /// A CEL rule refuses it with this message.
    Cel(&'static str),
    /// The structural schema refuses it (a list-map key), with this text.
    Schema(&'static str),
    /// Nothing in the schema can say it; why.
    Accepts(&'static str),
}

struct Case {
    what: &'static str,
    kind: &'static str,
    /// A JSON merge patch (RFC 7386) on the kind's valid base object's `spec`.
    spec: Value,
    /// The field the controller's refusal names (a prefix of its message).
    field: &'static str,
    api: Api,
}

pub(crate) fn base(kind: &str) -> Value {
    match kind {
        "DaemonService" => json!({
            "cluster": "production",
            "taskDefinition": {"family": "parity", "containerDefinitions": [
                {"name": "agent", "image": "agent:1", "memory": 128}
            ]},
        }),
        "IntegrationRole" => json!({
            "trust": {"principals": ["464622532012"], "allowWithoutExternalId": true},
            "policy": {"statements": [{"sid": "Read", "actions": ["ec2:Describe*"]}]},
        }),
        "ScalingGroup" => json!({
            "launchTemplate": {"imageId": "ami-12345678", "instanceType": "t3.small"},
            "minSize": 1,
            "maxSize": 3,
            "availabilityZones": ["eu-west-1a"],
        }),
        other => panic!("no base for {other}"),
    }
}

pub(crate) fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

fn alarm() -> Value {
    json!({"metricName": "CPUUtilization", "statistic": "Average", "periodSeconds": 60,
           "evaluationPeriods": 2, "threshold": 70, "comparisonOperator": "GreaterThanThreshold"})
}

fn step_policy(steps: Value) -> Value {
    json!({"scalingPolicies": [{"name": "steps", "adjustmentType": "ChangeInCapacity",
                                "alarm": alarm(), "steps": steps}]})
}

fn cases() -> Vec<Case> {
    let container = |name: &str| json!({"name": name, "image": "agent:1", "memory": 128});
    let hook = |name: &str| json!({"name": name, "transition": "Launching"});
    let simple = |name: &str| {
        json!({"name": name, "adjustmentType": "ChangeInCapacity", "scalingAdjustment": 1,
               "alarm": alarm()})
    };
    vec![
        // DaemonService
        Case {
            what: "two containers of one name",
            kind: "DaemonService",
            spec: json!({"taskDefinition": {"containerDefinitions": [container("a"), container("a")]}}),
            field: "spec.taskDefinition.containerDefinitions[1].name",
            api: Api::Cel(
                "spec.taskDefinition.containerDefinitions: container names must be unique",
            ),
        },
        Case {
            what: "a launch type and a capacity provider strategy",
            kind: "DaemonService",
            spec: json!({"launchType": "EC2", "capacityProviderStrategy": [{"capacityProvider": "cp", "weight": 1}]}),
            field: "spec.capacityProviderStrategy",
            api: Api::Cel(
                "spec.launchType and spec.capacityProviderStrategy are mutually exclusive",
            ),
        },
        Case {
            what: "native daemon scheduling on Fargate",
            kind: "DaemonService",
            spec: json!({"scheduling": "Daemon", "launchType": "FARGATE"}),
            field: "spec.scheduling",
            api: Api::Cel("spec.scheduling Daemon works only with the EC2 launch type"),
        },
        Case {
            what: "a Managed Daemon with an instance filter",
            kind: "DaemonService",
            spec: json!({"scheduling": "ManagedDaemon", "instanceFilter": "attribute:ecs.os-type == linux"}),
            field: "spec.instanceFilter",
            api: Api::Cel("spec.scheduling ManagedDaemon runs on the daemon's capacity providers"),
        },
        Case {
            what: "a tag key under ecsfleet.dev/",
            kind: "DaemonService",
            spec: json!({"tags": {"ecsfleet.dev/owner": "someone"}}),
            field: "spec.tags",
            api: Api::Cel("spec.tags: keys under ecsfleet.dev/ are reserved"),
        },
        Case {
            what: "an ARN and an inline definition",
            kind: "DaemonService",
            spec: json!({"taskDefinition": {"arn": "agent:1"}}),
            field: "spec.taskDefinition",
            api: Api::Cel(
                "set exactly one of spec.taskDefinition.arn and spec.taskDefinition.family",
            ),
        },
        Case {
            what: "a family without containers",
            kind: "DaemonService",
            spec: json!({"taskDefinition": {"containerDefinitions": null}}),
            field: "spec.taskDefinition.containerDefinitions",
            api: Api::Cel("an inline task definition needs both family and containerDefinitions"),
        },
        Case {
            what: "an ARN with inline fields",
            kind: "DaemonService",
            spec: json!({"taskDefinition": {"arn": "agent:1", "family": null, "containerDefinitions": null, "cpu": "256"}}),
            field: "spec.taskDefinition",
            api: Api::Cel(
                "spec.taskDefinition.arn cannot be combined with inline task definition fields",
            ),
        },
        Case {
            what: "an instance filter that does not parse",
            kind: "DaemonService",
            spec: json!({"instanceFilter": "attribute:ecs.os-type =="}),
            field: "spec.instanceFilter",
            api: Api::Accepts("the cluster query language needs a parser; CEL has none"),
        },
        // IntegrationRole
        Case {
            what: "one Sid twice",
            kind: "IntegrationRole",
            spec: json!({"policy": {"statements": [
                {"sid": "Same", "actions": ["ec2:Describe*"]},
                {"sid": "Same", "actions": ["s3:List*"]}]}}),
            field: "spec.policy.statements[1].sid",
            api: Api::Cel("spec.policy.statements: statement Sids must be unique"),
        },
        Case {
            what: "every action on every resource",
            kind: "IntegrationRole",
            spec: json!({"policy": {"statements": [{"actions": ["*"], "resources": ["*"]}]}}),
            field: "spec.policy.statements[0]",
            api: Api::Cel(
                "spec.policy.statements: a statement allows every action on every resource",
            ),
        },
        Case {
            what: "a role name and a prefix",
            kind: "IntegrationRole",
            spec: json!({"roleName": "Vendor", "roleNamePrefix": "vendor-"}),
            field: "spec.roleNamePrefix",
            api: Api::Cel("set at most one of spec.roleName and spec.roleNamePrefix"),
        },
        Case {
            what: "a policy with neither statements nor a document",
            kind: "IntegrationRole",
            spec: json!({"policy": {"statements": null}}),
            field: "spec.policy.statements",
            api: Api::Cel("spec.policy needs statements, a document, or both"),
        },
        Case {
            what: "a trust that names nobody",
            kind: "IntegrationRole",
            spec: json!({"trust": {"principals": null}}),
            field: "spec.trust",
            api: Api::Cel("spec.trust names nobody"),
        },
        Case {
            what: "a tag key under ecsfleet.dev/",
            kind: "IntegrationRole",
            spec: json!({"tags": {"ecsfleet.dev/uid": "x"}}),
            field: "spec.tags",
            api: Api::Cel("spec.tags: keys under ecsfleet.dev/ are reserved"),
        },
        Case {
            what: "no external ID without saying so",
            kind: "IntegrationRole",
            spec: json!({"trust": {"allowWithoutExternalId": false}}),
            field: "spec.trust.externalId",
            api: Api::Cel("spec.trust.externalId is required unless"),
        },
        Case {
            what: "a secretRef and generate",
            kind: "IntegrationRole",
            spec: json!({"trust": {"externalId": {"secretRef": {"name": "s", "key": "k"}, "generate": true}}}),
            field: "spec.trust.externalId",
            api: Api::Cel(
                "set exactly one of spec.trust.externalId.secretRef and spec.trust.externalId.generate",
            ),
        },
        Case {
            what: "more policies than the quota",
            kind: "IntegrationRole",
            spec: json!({"attachedPolicyQuota": 2, "managedPolicyArns": [
                "arn:aws:iam::aws:policy/SecurityAudit", "arn:aws:iam::aws:policy/ReadOnlyAccess"]}),
            field: "spec.policy.statements",
            api: Api::Accepts(
                "how many policies the permissions take follows from their rendered size, which only the controller computes",
            ),
        },
        // ScalingGroup
        Case {
            what: "minSize above maxSize",
            kind: "ScalingGroup",
            spec: json!({"minSize": 5}),
            field: "spec.minSize",
            api: Api::Cel("spec.minSize must not exceed spec.maxSize"),
        },
        Case {
            what: "desiredCapacity outside the sizes",
            kind: "ScalingGroup",
            spec: json!({"desiredCapacity": 9}),
            field: "spec.desiredCapacity",
            api: Api::Cel("spec.desiredCapacity must lie within"),
        },
        Case {
            what: "a template and a template reference",
            kind: "ScalingGroup",
            spec: json!({"launchTemplateRef": {"name": "lt"}}),
            field: "spec.launchTemplate",
            api: Api::Cel("set exactly one of spec.launchTemplate and spec.launchTemplateRef"),
        },
        Case {
            what: "a template reference by name and id",
            kind: "ScalingGroup",
            spec: json!({"launchTemplate": null, "launchTemplateRef": {"name": "lt", "id": "lt-0123456789abcdef0"}}),
            field: "spec.launchTemplateRef",
            api: Api::Cel(
                "set exactly one of spec.launchTemplateRef.name and spec.launchTemplateRef.id",
            ),
        },
        Case {
            what: "zones and subnets",
            kind: "ScalingGroup",
            spec: json!({"subnetIds": ["subnet-12345678"]}),
            field: "spec.availabilityZones",
            api: Api::Cel("set exactly one of spec.availabilityZones and spec.subnetIds"),
        },
        Case {
            what: "a tag key under ecsfleet.dev/",
            kind: "ScalingGroup",
            spec: json!({"tags": [{"key": "ecsfleet.dev/owner", "value": "x"}]}),
            field: "spec.tags[0].key",
            api: Api::Cel("spec.tags: keys under ecsfleet.dev/ are reserved"),
        },
        Case {
            what: "two policies of one name",
            kind: "ScalingGroup",
            spec: json!({"scalingPolicies": [simple("up"), simple("up")]}),
            field: "spec.scalingPolicies[1].name",
            api: Api::Schema("Duplicate value"),
        },
        Case {
            what: "two hooks of one name",
            kind: "ScalingGroup",
            spec: json!({"lifecycleHooks": [hook("h"), hook("h")]}),
            field: "spec.lifecycleHooks[1].name",
            api: Api::Schema("Duplicate value"),
        },
        Case {
            what: "a hook target without a role",
            kind: "ScalingGroup",
            spec: json!({"lifecycleHooks": [{"name": "h", "transition": "Launching",
                "targetArn": "arn:aws:sqs:eu-west-1:123456789012:q"}]}),
            field: "spec.lifecycleHooks[0].roleArn",
            api: Api::Cel("targetArn and roleArn go together"),
        },
        Case {
            what: "a policy with an alarm and target tracking",
            kind: "ScalingGroup",
            spec: json!({"scalingPolicies": [{"name": "p", "adjustmentType": "ChangeInCapacity", "scalingAdjustment": 1,
                "alarm": alarm(), "targetTracking": {"predefinedMetric": "ASGAverageCPUUtilization", "targetValue": 50}}]}),
            field: "spec.scalingPolicies[0]",
            api: Api::Cel(
                "a scaling policy needs exactly one of alarm, targetTracking and predictiveScaling",
            ),
        },
        Case {
            what: "an alarm policy with an adjustment and steps",
            kind: "ScalingGroup",
            spec: json!({"scalingPolicies": [{"name": "p", "adjustmentType": "ChangeInCapacity", "scalingAdjustment": 1,
                "alarm": alarm(), "steps": [{"scalingAdjustment": 1}]}]}),
            field: "spec.scalingPolicies[0].scalingAdjustment",
            api: Api::Cel(
                "a policy with an alarm needs exactly one of scalingAdjustment and steps",
            ),
        },
        Case {
            what: "steps with a gap",
            kind: "ScalingGroup",
            spec: step_policy(json!([
                {"upperBound": 10, "scalingAdjustment": 1},
                {"lowerBound": 20, "scalingAdjustment": 2}])),
            field: "spec.scalingPolicies[0].steps",
            api: Api::Cel("step intervals must meet without gaps or overlaps"),
        },
        Case {
            what: "overlapping steps",
            kind: "ScalingGroup",
            spec: step_policy(json!([
                {"lowerBound": 0, "upperBound": 10, "scalingAdjustment": 1},
                {"lowerBound": 5, "upperBound": 15, "scalingAdjustment": 2}])),
            field: "spec.scalingPolicies[0].steps",
            api: Api::Cel("step intervals must meet without gaps or overlaps"),
        },
        Case {
            what: "two steps open above",
            kind: "ScalingGroup",
            spec: step_policy(json!([
                {"lowerBound": 0, "scalingAdjustment": 1},
                {"lowerBound": 10, "scalingAdjustment": 2}])),
            field: "spec.scalingPolicies[0].steps",
            api: Api::Cel("step intervals must meet without gaps or overlaps"),
        },
        Case {
            what: "a step whose lower bound is not below its upper",
            kind: "ScalingGroup",
            spec: step_policy(
                json!([{"lowerBound": 10, "upperBound": 10, "scalingAdjustment": 1}]),
            ),
            field: "spec.scalingPolicies[0].steps[0]",
            api: Api::Cel("a step's lowerBound must be below its upperBound"),
        },
        Case {
            what: "a warm pool for a group that runs Spot",
            kind: "ScalingGroup",
            spec: json!({"warmPool": {"minSize": 1},
                "mixedInstancesPolicy": {"launchTemplate": {"overrides": [{"instanceType": "m5.large"}]}}}),
            field: "spec.warmPool",
            api: Api::Cel(
                "spec.warmPool: Auto Scaling keeps no warm pool for a group that runs Spot",
            ),
        },
        Case {
            what: "an override with an instance type and requirements",
            kind: "ScalingGroup",
            spec: json!({"mixedInstancesPolicy": {"launchTemplate": {"overrides": [{"instanceType": "m5.large",
                "instanceRequirements": {"vCpuCount": {"min": 2}, "memoryMiB": {"min": 4096}}}]}}}),
            field: "spec.mixedInstancesPolicy.launchTemplate.overrides[0]",
            api: Api::Cel("an override has exactly one of instanceType and instanceRequirements"),
        },
        Case {
            what: "an override's template by name and ID",
            kind: "ScalingGroup",
            spec: json!({"mixedInstancesPolicy": {"launchTemplate": {"overrides": [{"instanceType": "m6g.large",
                "launchTemplate": {"name": "arm", "id": "lt-0123456789abcdef0"}}]}}}),
            field: "spec.mixedInstancesPolicy.launchTemplate.overrides[0].launchTemplate",
            api: Api::Cel("set exactly one of name and id"),
        },
        Case {
            what: "instance requirements without a vCPU minimum",
            kind: "ScalingGroup",
            spec: json!({"mixedInstancesPolicy": {"launchTemplate": {"overrides": [{
                "instanceRequirements": {"vCpuCount": {"max": 8}, "memoryMiB": {"min": 4096}}}]}}}),
            field: "spec.mixedInstancesPolicy.launchTemplate.overrides[0].instanceRequirements.vCpuCount.min",
            api: Api::Cel("vCpuCount.min and memoryMiB.min are required"),
        },
        Case {
            what: "instance requirements that allow and exclude types",
            kind: "ScalingGroup",
            spec: json!({"mixedInstancesPolicy": {"launchTemplate": {"overrides": [{
                "instanceRequirements": {"vCpuCount": {"min": 2}, "memoryMiB": {"min": 4096},
                    "allowedInstanceTypes": ["m6g.*"], "excludedInstanceTypes": ["t2.*"]}}]}}}),
            field: "spec.mixedInstancesPolicy.launchTemplate.overrides[0].instanceRequirements.allowedInstanceTypes",
            api: Api::Cel("set at most one of excludedInstanceTypes and allowedInstanceTypes"),
        },
        Case {
            what: "a count range whose minimum exceeds its maximum",
            kind: "ScalingGroup",
            spec: json!({"mixedInstancesPolicy": {"launchTemplate": {"overrides": [{
                "instanceRequirements": {"vCpuCount": {"min": 8, "max": 2}, "memoryMiB": {"min": 4096}}}]}}}),
            field: "spec.mixedInstancesPolicy.launchTemplate.overrides[0].instanceRequirements.vCpuCount",
            api: Api::Cel("min must not exceed max"),
        },
        Case {
            what: "target tracking on a predefined and a customized metric",
            kind: "ScalingGroup",
            spec: json!({"scalingPolicies": [{"name": "t", "targetTracking": {"targetValue": 5,
                "predefinedMetric": "ASGAverageCPUUtilization",
                "customizedMetric": {"metricName": "Backlog", "namespace": "App", "statistic": "Sum"}}}]}),
            field: "spec.scalingPolicies[0].targetTracking",
            api: Api::Cel("set exactly one of predefinedMetric and customizedMetric"),
        },
        Case {
            what: "a customized metric with a name and metric math",
            kind: "ScalingGroup",
            spec: json!({"scalingPolicies": [{"name": "t", "targetTracking": {"targetValue": 5,
                "customizedMetric": {"metricName": "Backlog", "namespace": "App", "statistic": "Sum",
                    "metrics": [{"id": "e", "expression": "1"}]}}}]}),
            field: "spec.scalingPolicies[0].targetTracking.customizedMetric",
            api: Api::Cel("set either metricName (one metric) or metrics (metric math)"),
        },
        Case {
            what: "a metric math query with an expression and a metric",
            kind: "ScalingGroup",
            spec: json!({"scalingPolicies": [{"name": "t", "targetTracking": {"targetValue": 5,
                "customizedMetric": {"metrics": [{"id": "e", "expression": "1",
                    "metricStat": {"metric": {"metricName": "m", "namespace": "n"}, "stat": "Sum"}}]}}}]}),
            field: "spec.scalingPolicies[0].targetTracking.customizedMetric.metrics[0]",
            api: Api::Cel("a query has exactly one of expression and metricStat"),
        },
        Case {
            what: "metric math with two results",
            kind: "ScalingGroup",
            spec: json!({"scalingPolicies": [{"name": "t", "targetTracking": {"targetValue": 5,
                "customizedMetric": {"metrics": [{"id": "a", "expression": "1"}, {"id": "b", "expression": "2"}]}}}]}),
            field: "spec.scalingPolicies[0].targetTracking.customizedMetric.metrics",
            api: Api::Cel("exactly one query is the tracked value"),
        },
        Case {
            what: "an alarm with a statistic and a percentile",
            kind: "ScalingGroup",
            spec: json!({"scalingPolicies": [{"name": "p", "adjustmentType": "ChangeInCapacity", "scalingAdjustment": 1,
                "alarm": {"metricName": "CPUUtilization", "statistic": "Average", "extendedStatistic": "p99",
                          "threshold": 70, "comparisonOperator": "GreaterThanThreshold"}}]}),
            field: "spec.scalingPolicies[0].alarm.extendedStatistic",
            api: Api::Cel("set at most one of statistic and extendedStatistic"),
        },
        Case {
            what: "security groups on the template and on its interfaces",
            kind: "ScalingGroup",
            spec: json!({"launchTemplate": {"securityGroupIds": ["sg-1"],
                "networkInterfaces": [{"deviceIndex": 0, "securityGroupIds": ["sg-2"]}]}}),
            field: "spec.launchTemplate.networkInterfaces",
            api: Api::Cel(
                "set security groups either in securityGroupIds or on the networkInterfaces",
            ),
        },
        Case {
            what: "Spot market options with a mixed instances policy",
            kind: "ScalingGroup",
            spec: json!({"launchTemplate": {"instanceMarketOptions": {"marketType": "spot"}},
                "mixedInstancesPolicy": {"launchTemplate": {"overrides": [{"instanceType": "m5.large"}]}}}),
            field: "spec.launchTemplate.instanceMarketOptions",
            api: Api::Cel(
                "spec.launchTemplate.instanceMarketOptions: a mixed instances policy chooses Spot",
            ),
        },
        Case {
            what: "a topic and a topic to create",
            kind: "ScalingGroup",
            spec: json!({"notifications": {"topicArn": "arn:aws:sns:eu-west-1:123456789012:t",
                "createTopic": {"name": "t"}, "types": ["Launch"]}}),
            field: "spec.notifications",
            api: Api::Cel(
                "set exactly one of spec.notifications.topicArn and spec.notifications.createTopic",
            ),
        },
        Case {
            what: "an alarm name over CloudWatch's 255 characters",
            kind: "ScalingGroup",
            spec: json!({"name": "g".repeat(250), "launchTemplate": null,
                "launchTemplateRef": {"name": "lt"}, "scalingPolicies": [simple("scale-up")]}),
            field: "spec.scalingPolicies[0].name",
            api: Api::Accepts(
                "the group's name defaults to metadata.name, which a rule on spec cannot read",
            ),
        },
    ]
}

/// Every CEL rule of the CRDs that judges one object (not a transition from the old one).
fn cel_messages() -> BTreeSet<String> {
    let mut messages = BTreeSet::new();
    fn walk(value: &Value, messages: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(rules)) = map.get("x-kubernetes-validations") {
                    for rule in rules {
                        if !rule["rule"].as_str().unwrap().contains("oldSelf") {
                            messages.insert(rule["message"].as_str().unwrap().to_string());
                        }
                    }
                }
                map.values().for_each(|v| walk(v, messages));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, messages)),
            _ => {}
        }
    }
    for crd in ecsfleet::cli::crds() {
        walk(&serde_json::to_value(&crd).unwrap(), &mut messages);
    }
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_refuses_what_the_controller_refuses_where_cel_can_say_it() {
    let plane = ControlPlane::start();
    let crds = support::repo_root().join("crds").display().to_string();
    plane.kubectl_ok(&["apply", "-f", &crds]);
    for crd in ["daemonservices", "integrationroles", "scalinggroups"] {
        plane.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{crd}.ecsfleet.dev"),
            "--timeout=60s",
        ]);
    }
    plane.kubectl_ok(&["create", "namespace", "parity"]);
    let env = offline_env(Secrets::Files(Default::default())).await;

    // The valid bases pass both.
    for kind in ["DaemonService", "IntegrationRole", "ScalingGroup"] {
        let object = object(kind, &base(kind));
        assert_eq!(controller(kind, object.clone(), &env).await, None, "{kind}");
        let output = plane.kubectl_input(
            &["apply", "--dry-run=server", "-f", "-"],
            &object.to_string(),
        );
        assert!(output.status.success(), "{kind}: {output:?}");
    }

    let mut failures = Vec::new();
    let mut exercised = BTreeSet::new();
    for case in cases() {
        let mut spec = base(case.kind);
        merge(&mut spec, &case.spec);
        let object = object(case.kind, &spec);
        let id = format!("{} / {}", case.kind, case.what);
        match controller(case.kind, object.clone(), &env).await {
            Some(refusal) if refusal.starts_with(&format!("{}: ", case.field)) => {}
            other => failures.push(format!(
                "{id}: the controller should refuse naming {}, got {other:?}",
                case.field
            )),
        }
        let output = plane.kubectl_input(
            &["apply", "--dry-run=server", "-f", "-"],
            &object.to_string(),
        );
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        match case.api {
            Api::Cel(message) | Api::Schema(message) => {
                if output.status.success() || !stderr.contains(message) {
                    failures.push(format!(
                        "{id}: the API server should refuse with {message:?}, got {}: {stderr}",
                        output.status
                    ));
                }
                if let Api::Cel(message) = case.api {
                    exercised.insert(message);
                }
            }
            Api::Accepts(why) => {
                if !output.status.success() {
                    failures.push(format!(
                        "{id}: the API server refuses it now ({stderr}); it was controller-only because {why}: make it Api::Cel"
                    ));
                }
            }
        }
    }
    // Each CEL rule is one the controller applies too.
    for message in cel_messages() {
        if !exercised.iter().any(|m| message.starts_with(m)) {
            failures.push(format!(
                "the CEL rule {message:?} has no case here: add one the controller refuses as well"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn object(kind: &str, spec: &Value) -> Value {
    json!({
        "apiVersion": "ecsfleet.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "parity", "namespace": "parity"},
        "spec": spec,
    })
}

async fn controller(kind: &str, object: Value, env: &Env) -> Option<String> {
    match kind {
        "DaemonService" => support::refusal::<DaemonService>(object, env).await,
        "IntegrationRole" => support::refusal::<IntegrationRole>(object, env).await,
        "ScalingGroup" => support::refusal::<ScalingGroup>(object, env).await,
        other => panic!("unknown kind {other}"),
    }
}
