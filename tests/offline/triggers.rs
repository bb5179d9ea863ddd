//! Which objects an AWS event's trigger concerns: each kind answers for the names it owns
//! (a service in its cluster and region, a group and its policies' alarms, a role and its
//! policy parts), and nothing else.

use ecsfleet::daemon_service::DaemonService;
use ecsfleet::integration_role::IntegrationRole;
use ecsfleet::runtime::triggers::{Concerns, Trigger};
use ecsfleet::scaling_group::ScalingGroup;

fn service() -> DaemonService {
    serde_yaml_ng::from_str(
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {name: agent, namespace: m}\nspec:\n  cluster: arn:aws:ecs:eu-west-1:123456789012:cluster/production\n  taskDefinition: {arn: 'agent:1'}\n",
    )
    .unwrap()
}

fn group() -> ScalingGroup {
    serde_yaml_ng::from_str(
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: ScalingGroup\nmetadata: {name: workers, namespace: m}\nspec:\n  region: us-west-2\n  launchTemplate: {imageId: ami-1, instanceType: t3.small}\n  minSize: 1\n  maxSize: 2\n  availabilityZones: [us-west-2a]\n  scalingPolicies:\n    - {name: cpu-high, adjustmentType: ChangeInCapacity, scalingAdjustment: 1, alarm: {metricName: CPUUtilization, statistic: Average, periodSeconds: 60, evaluationPeriods: 1, threshold: 70, comparisonOperator: GreaterThanThreshold}}\n",
    )
    .unwrap()
}

fn role() -> IntegrationRole {
    serde_yaml_ng::from_str(
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: IntegrationRole\nmetadata: {name: vendor, namespace: m}\nspec:\n  roleName: Vendor\n  trust: {principals: ['464622532012'], allowWithoutExternalId: true}\n  policy: {statements: [{actions: ['ec2:Describe*']}]}\n",
    )
    .unwrap()
}

const DEFAULT: Option<&str> = Some("eu-west-1");

#[test]
fn a_service_trigger_concerns_the_daemon_service_of_that_service_cluster_and_region() {
    let trigger = |region: &str, cluster: &str, service: &str| Trigger::Service {
        region: region.into(),
        cluster: cluster.into(),
        service: service.into(),
    };
    assert!(service().concerns(&trigger("eu-west-1", "production", "agent"), DEFAULT));
    assert!(!service().concerns(&trigger("eu-west-1", "production", "other"), DEFAULT));
    assert!(!service().concerns(&trigger("eu-west-1", "staging", "agent"), DEFAULT));
    assert!(!service().concerns(&trigger("us-east-1", "production", "agent"), DEFAULT));
    let group_trigger = Trigger::Group {
        region: "eu-west-1".into(),
        group: "agent".into(),
    };
    assert!(!service().concerns(&group_trigger, DEFAULT));
}

#[test]
fn a_group_trigger_or_its_alarms_concern_the_scaling_group_in_its_region() {
    let group_trigger = |region: &str, name: &str| Trigger::Group {
        region: region.into(),
        group: name.into(),
    };
    assert!(group().concerns(&group_trigger("us-west-2", "workers"), DEFAULT));
    assert!(!group().concerns(&group_trigger("eu-west-1", "workers"), DEFAULT));
    assert!(!group().concerns(&group_trigger("us-west-2", "other"), DEFAULT));
    let alarms = |names: &[&str]| Trigger::Alarms {
        region: "us-west-2".into(),
        names: names.iter().map(|n| n.to_string()).collect(),
    };
    assert!(group().concerns(&alarms(&["x", "workers-cpu-high"]), DEFAULT));
    assert!(!group().concerns(&alarms(&["workers-cpu-low"]), DEFAULT));
}

#[test]
fn a_role_or_policy_trigger_concerns_the_integration_role_that_owns_it() {
    let role_trigger = |name: &str| Trigger::Role { role: name.into() };
    assert!(role().concerns(&role_trigger("Vendor"), DEFAULT));
    assert!(!role().concerns(&role_trigger("Vendor2"), DEFAULT));
    let policy = |name: &str| Trigger::Policy {
        arn: format!("arn:aws:iam::123456789012:policy/{name}"),
    };
    assert!(role().concerns(&policy("VendorPolicy"), DEFAULT));
    assert!(role().concerns(&policy("VendorPolicy-3"), DEFAULT));
    assert!(!role().concerns(&policy("VendorPolicy-x"), DEFAULT));
    assert!(!role().concerns(&policy("OtherPolicy"), DEFAULT));
}
