//! Table-driven tests of the IntegrationRole plan: every branch, no mocks.

use std::collections::BTreeSet;

use serde_json::json;

use super::*;
use crate::aws::Sensitive;
use crate::integration_role::desired::Desired;
use crate::integration_role::observe::{ObservedPolicy, ObservedRole};
use crate::integration_role::*;
use crate::integration_role::{IntegrationRoleSpec, IntegrationRoleStatus};
use crate::runtime::Change as _;

const ACCOUNT: &str = "123456789012";

fn spec() -> IntegrationRoleSpec {
    serde_json::from_value(json!({
        "roleName": "DatadogIntegrationRole",
        "trust": {"principals": ["464622532012"], "externalId": {"secretRef": {"name": "ext", "key": "id"}}},
        "policy": {"statements": [{"actions": ["ec2:Describe*", "s3:ListAllMyBuckets"]}]},
        "managedPolicyArns": ["arn:aws:iam::aws:policy/SecurityAudit"]
    }))
    .unwrap()
}

fn object(spec: IntegrationRoleSpec) -> IntegrationRole {
    let mut obj = IntegrationRole::new("datadog", spec);
    obj.metadata.namespace = Some("monitoring".into());
    obj.metadata.uid = Some("uid-7".into());
    obj.metadata.generation = Some(1);
    obj
}

fn desired(spec: IntegrationRoleSpec) -> Desired {
    Desired {
        external_id: Some(external_id()),
        ..Desired::from_spec(&object(spec)).unwrap()
    }
}

fn steady(desired: Desired) -> Desired {
    Desired {
        spec_unchanged: true,
        ..desired
    }
}

fn external_id() -> Sensitive {
    Sensitive("s3cr3t-external-id-0123456789".into())
}

fn nothing() -> Observed {
    Observed {
        account_id: ACCOUNT.into(),
        partition: "aws".into(),
        ..Observed::default()
    }
}

/// IAM exactly as `desired` wants it.
fn in_sync(desired: &Desired) -> Observed {
    let mut observed = nothing();
    observed.role = Some(ObservedRole {
        arn: format!("arn:aws:iam::{ACCOUNT}:role/{}", desired.role_name),
        path: "/".into(),
        description: desired.description.clone(),
        max_session_duration_seconds: desired.max_session_duration_seconds,
        permissions_boundary_arn: desired.permissions_boundary_arn.clone(),
        trust: Some(desired.trust_policy()),
        tags: desired.tags.clone(),
    });
    if let Some(policy) = &desired.policy {
        for (number, grants) in policy.permissions.pack() {
            let arn = observed.part_arn(desired, number).unwrap();
            observed.policies.insert(
                number,
                ObservedPolicy {
                    arn,
                    default_version: "v1".into(),
                    document: Some(policy.permissions.render(&grants)),
                    tags: desired.tags.clone(),
                },
            );
        }
    }
    observed.attached = desired
        .managed_policy_arns
        .iter()
        .cloned()
        .chain(observed.policies.values().map(|p| p.arn.clone()))
        .collect();
    observed
}

fn actions(changes: &[Change]) -> Vec<String> {
    changes.iter().map(|c| c.describe().action).collect()
}

#[test]
fn nothing_exists_creates_policy_role_and_attachments() {
    let desired = desired(spec());
    let changes = plan(&desired, &nothing()).unwrap();
    assert_eq!(
        actions(&changes),
        [
            "CreatePolicy",
            "CreateRole",
            "AttachRolePolicy",
            "AttachRolePolicy"
        ]
    );
    assert!(changes.iter().all(|c| !c.is_drift_repair()));
    assert_eq!(
        nothing().part_arn(&desired, 1).as_deref(),
        Some("arn:aws:iam::123456789012:policy/DatadogIntegrationRolePolicy")
    );
}

#[test]
fn in_sync_plans_nothing() {
    let desired = steady(desired(spec()));
    assert_eq!(plan(&desired, &in_sync(&desired)).unwrap(), vec![]);
}

#[test]
fn documents_are_compared_semantically() {
    let desired = steady(desired(spec()));
    let mut observed = in_sync(&desired);
    // IAM's answer: one-element lists as strings, other order, a single statement object.
    observed.role.as_mut().unwrap().trust = Some(json!({
        "Version": "2012-10-17",
        "Statement": {"Action": "sts:AssumeRole", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::464622532012:root"},
            "Condition": {"StringEquals": {"sts:ExternalId": external_id().0}}}
    }));
    observed.policies.get_mut(&1).unwrap().document = Some(json!({
        "Version": "2012-10-17",
        "Statement": [{"Resource": "*", "Action": ["s3:ListAllMyBuckets", "ec2:Describe*"], "Effect": "Allow"}]
    }));
    assert_eq!(plan(&desired, &observed).unwrap(), vec![]);
}

#[test]
fn trust_policy_changed_by_hand_is_repaired_as_drift() {
    let desired = steady(desired(spec()));
    let mut observed = in_sync(&desired);
    observed.role.as_mut().unwrap().trust = Some(document::trust_policy(
        &["arn:aws:iam::999999999999:root".into()],
        None,
    ));
    let changes = plan(&desired, &observed).unwrap();
    assert_eq!(
        changes,
        vec![Change::UpdateAssumeRolePolicy {
            drift: true,
            rotation: false
        }]
    );
    assert!(changes[0].is_drift_repair());
}

#[test]
fn a_rotated_external_id_updates_the_trust_policy() {
    let desired = steady(desired(spec()));
    let observed = in_sync(&desired);
    let rotated = Desired {
        external_id: Some(Sensitive("another-external-id-9876543210".into())),
        ..desired.clone()
    };
    let changes = plan(&rotated, &observed).unwrap();
    assert_eq!(
        changes,
        vec![Change::UpdateAssumeRolePolicy {
            drift: true,
            rotation: true
        }]
    );
    assert_eq!(actions(&changes), ["RotateExternalId"]);
    assert!(!changes[0].is_drift_repair(), "a rotation is not drift");
    // Another principal as well: that is drift, not a rotation.
    let mut observed = in_sync(&desired);
    observed.role.as_mut().unwrap().trust = Some(document::trust_policy(
        &["arn:aws:iam::999999999999:root".into()],
        Some(&external_id().0),
    ));
    assert_eq!(
        actions(&plan(&rotated, &observed).unwrap()),
        ["UpdateAssumeRolePolicy"]
    );
}

#[test]
fn changed_statements_create_a_policy_version_not_counted_as_drift() {
    let old = desired(spec());
    let observed = in_sync(&old);
    let mut new_spec = spec();
    new_spec.policy.as_mut().unwrap().statements[0]
        .actions
        .push("rds:Describe*".into());
    let new = desired(new_spec);
    let changes = plan(&new, &observed).unwrap();
    assert!(
        matches!(
            &changes[..],
            [Change::CreatePolicyVersion {
                part: 1,
                drift: false,
                ..
            }]
        ),
        "{changes:?}"
    );
}

#[test]
fn attachments_follow_the_spec_and_extras_are_detached() {
    let desired = steady(desired(spec()));
    let mut observed = in_sync(&desired);
    observed
        .attached
        .remove("arn:aws:iam::aws:policy/SecurityAudit");
    observed
        .attached
        .insert("arn:aws:iam::aws:policy/AdministratorAccess".into());
    let changes = plan(&desired, &observed).unwrap();
    assert_eq!(
        changes,
        vec![
            Change::AttachRolePolicy {
                arn: "arn:aws:iam::aws:policy/SecurityAudit".into(),
                drift: true
            },
            Change::DetachRolePolicy {
                arn: "arn:aws:iam::aws:policy/AdministratorAccess".into(),
                drift: true
            },
        ]
    );
}

#[test]
fn description_session_and_boundary_follow_the_spec() {
    let mut spec = spec();
    spec.description = Some("for Datadog".into());
    spec.max_session_duration_seconds = Some(7200);
    spec.permissions_boundary_arn = Some("arn:aws:iam::123456789012:policy/Boundary".into());
    let desired = desired(spec);
    let mut observed = in_sync(&desired);
    let role = observed.role.as_mut().unwrap();
    role.description = None;
    role.max_session_duration_seconds = 3600;
    role.permissions_boundary_arn = None;
    assert_eq!(
        actions(&plan(&desired, &observed).unwrap()),
        ["UpdateRole", "PutRolePermissionsBoundary"]
    );
    let mut without = desired.clone();
    without.permissions_boundary_arn = None;
    let mut observed = in_sync(&without);
    observed.role.as_mut().unwrap().permissions_boundary_arn =
        Some("arn:aws:iam::123456789012:policy/B".into());
    assert_eq!(
        actions(&plan(&without, &observed).unwrap()),
        ["DeleteRolePermissionsBoundary"]
    );
}

#[test]
fn untagged_role_is_refused_or_adopted() {
    let desired = desired(spec());
    let mut observed = in_sync(&desired);
    observed.role.as_mut().unwrap().tags.clear();
    observed.policies.get_mut(&1).unwrap().tags.clear();
    let error = plan(&desired, &observed).unwrap_err();
    assert_eq!(error.reason(), crate::Reason::AlreadyExists, "{error}");
    let adopting = Desired {
        adopt_existing: true,
        ..desired
    };
    assert_eq!(
        actions(&plan(&adopting, &observed).unwrap()),
        ["TagPolicy", "TagRole"]
    );
}

#[test]
fn role_of_another_object_is_never_touched() {
    let desired = Desired {
        adopt_existing: true,
        ..desired(spec())
    };
    let mut observed = in_sync(&desired);
    observed
        .role
        .as_mut()
        .unwrap()
        .tags
        .insert(crate::common::OWNER_TAG.into(), "team-b/datadog".into());
    let error = plan(&desired, &observed).unwrap_err();
    assert_eq!(error.reason(), crate::Reason::OwnedByOther);
}

#[test]
fn a_role_on_another_path_cannot_be_moved() {
    let desired = desired(spec());
    let mut observed = in_sync(&desired);
    observed.role.as_mut().unwrap().path = "/vendors/".into();
    let error = plan(&desired, &observed).unwrap_err();
    assert!(error.to_string().starts_with("spec.path:"), "{error}");
}

#[test]
fn without_external_id_when_allowed() {
    let mut spec = spec();
    spec.trust.external_id = None;
    spec.trust.allow_without_external_id = true;
    let desired = desired(spec);
    assert!(!desired.requires_external_id);
    let trust = Desired {
        external_id: None,
        ..desired.clone()
    }
    .trust_policy();
    assert!(trust["Statement"][0].get("Condition").is_none());
}

#[test]
fn principals_are_normalized() {
    let desired = desired(spec());
    assert_eq!(desired.trust.principals, ["arn:aws:iam::464622532012:root"]);
    assert_eq!(
        desired.tags.get("ecsfleet.dev/owner").map(String::as_str),
        Some("monitoring/datadog")
    );
}

#[test]
fn previous_generation_decides_drift() {
    let mut obj = object(spec());
    obj.status = Some(IntegrationRoleStatus {
        common: crate::common::CommonStatus {
            observed_generation: Some(1),
            ..Default::default()
        },
        ..Default::default()
    });
    assert!(Desired::from_spec(&obj).unwrap().spec_unchanged);
    obj.metadata.generation = Some(2);
    assert!(!Desired::from_spec(&obj).unwrap().spec_unchanged);
}

#[test]
fn invalid_specs_name_the_offender() {
    let many_actions: Vec<String> = (0..3000)
        .map(|i| format!("ec2:DescribeSomething{i:04}"))
        .collect();
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            json!({"policy": {"statements": [{"actions": ["ec2 Describe"]}]}}),
            "spec.policy.statements[0].actions[0]:",
        ),
        (
            json!({"policy": {"statements": [{"actions": ["*"]}]}}),
            "spec.policy.statements[0]: allows every action on every resource",
        ),
        (
            json!({"trust": {"principals": ["datadog"], "allowWithoutExternalId": true}}),
            "spec.trust.principals[0]:",
        ),
        (
            json!({"trust": {"principals": ["464622532012"]}}),
            "spec.trust.externalId: is required",
        ),
        (
            json!({"trust": {"principals": ["464622532012"], "externalId": {"secretRef": {"name": "a", "key": "b"}, "generate": true}}}),
            "spec.trust.externalId: set exactly one",
        ),
        (
            json!({"policy": {"statements": [{"actions": ["s3:GetObject"], "resources": []}]}}),
            "spec.policy.statements[0].resources: an empty list is refused",
        ),
        (
            json!({"policy": {"statements": [{"actions": ["s3:GetObject"], "resources": ["my-bucket"]}]}}),
            "spec.policy.statements[0].resources[0]: \"my-bucket\" is neither",
        ),
        (
            json!({"policy": {"statements": [{"actions": ["s3:GetObject"], "conditions": {"StringEqualz": {"aws:SourceVpc": ["vpc-1"]}}}]}}),
            "spec.policy.statements[0].conditions.StringEqualz: is not an IAM condition operator",
        ),
        (json!({"roleName": "bad name!"}), "spec.roleName:"),
        (json!({"path": "vendors"}), "spec.path:"),
        (
            json!({"maxSessionDurationSeconds": 60}),
            "spec.maxSessionDurationSeconds:",
        ),
        (
            json!({"managedPolicyArns": ["SecurityAudit"]}),
            "spec.managedPolicyArns[0]:",
        ),
        (
            json!({"policy": {"statements": [{"actions": many_actions}]}}),
            "spec.policy.statements: the permissions need 14 managed policies of at most 6144 characters and spec.managedPolicyArns has 1: 15 attached policies, over the role's quota of 10",
        ),
        (
            json!({"policy": {"statements": [{"actions": many_actions[..1900]}]}, "attachedPolicyQuota": 8}),
            "spec.policy.statements: the permissions need 9 managed policies",
        ),
        (
            json!({"attachedPolicyQuota": 21}),
            "spec.attachedPolicyQuota:",
        ),
        (
            json!({"attachedPolicyQuota": 1, "managedPolicyArns": ["arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:policy/B"]}),
            "spec.managedPolicyArns: 2 policies, over the role's quota of 1",
        ),
        (
            json!({"policy": {"statements": [{"sid": "A", "actions": ["s3:Get*"]}, {"sid": "A", "actions": ["s3:List*"], "resources": ["arn:aws:s3:::b"]}]}}),
            "spec.policy.statements[1].sid:",
        ),
        (
            json!({"policy": {"statements": [{"actions": ["s3:Get*"], "resources": (0..300).map(|i| format!("arn:aws:s3:::bucket-{i:04}/*")).collect::<Vec<_>>()}]}}),
            "spec.policy.statements[0]: a policy with one action of this statement has",
        ),
        (
            json!({"policy": {"name": "P".repeat(126), "statements": [{"actions": ["s3:Get*"]}]}}),
            "spec.policy.name: at most 125 characters",
        ),
        (json!({"tags": {"ecsfleet.dev/uid": "x"}}), "spec.tags:"),
        (
            json!({"trust": {"allowWithoutExternalId": true}}),
            "spec.trust: names nobody",
        ),
        (
            json!({"trust": {"services": ["lambda.example.com"]}}),
            "spec.trust.services[0]: \"lambda.example.com\" is not an AWS service principal",
        ),
        (
            json!({"trust": {"federated": [{"providerArn": "arn:aws:iam::111122223333:saml-provider/x", "subjects": ["a"]}]}}),
            "spec.trust.federated[0].providerArn: is not an IAM OIDC provider ARN",
        ),
        (
            json!({"trust": {"federated": [{"providerArn": "arn:aws:iam::111122223333:oidc-provider/oidc.example", "subjects": []}]}}),
            "spec.trust.federated[0].subjects: needs at least one value",
        ),
        (
            json!({"trust": {"principals": ["464622532012"], "allowWithoutExternalId": true,
                             "conditions": {"StringEquals": {"sts:ExternalId": ["mine"]}}}}),
            "spec.trust.conditions.StringEquals.sts:ExternalId: the external ID is spec.trust.externalId",
        ),
        (
            json!({"trust": {"principals": ["464622532012"], "allowWithoutExternalId": true,
                             "conditions": {"StringEqualz": {"aws:PrincipalOrgID": ["o-a"]}}}}),
            "spec.trust.conditions.StringEqualz: is not an IAM condition operator",
        ),
        (
            json!({"trust": {"principals": ["464622532012"], "allowWithoutExternalId": true,
                             "actions": ["sts:AssumeRoot"]}}),
            "spec.trust.actions[0]: \"sts:AssumeRoot\" is not a trust action ecsfleet adds",
        ),
    ];
    for (patch, expected) in cases {
        let mut value = serde_json::to_value(spec()).unwrap();
        for (key, v) in patch.as_object().unwrap() {
            value[key] = v.clone();
        }
        let spec: IntegrationRoleSpec = serde_json::from_value(value).unwrap();
        let error = Desired::from_spec(&object(spec)).unwrap_err();
        assert_eq!(error.reason(), crate::Reason::InvalidSpec);
        assert!(
            error.to_string().starts_with(expected),
            "{error} should start with {expected}"
        );
    }
}

#[test]
fn full_access_is_allowed_only_when_declared() {
    let mut spec = spec();
    let policy = spec.policy.as_mut().unwrap();
    policy.statements[0].actions = vec!["*".into()];
    policy.allow_full_access = true;
    assert!(Desired::from_spec(&object(spec.clone())).is_ok());
    // A Deny of everything is never refused.
    let policy = spec.policy.as_mut().unwrap();
    policy.allow_full_access = false;
    policy.statements[0].effect = crate::integration_role::Effect::Deny;
    assert!(Desired::from_spec(&object(spec)).is_ok());
}

#[test]
fn changes_never_describe_a_document() {
    let desired = desired(spec());
    let changes = plan(&desired, &nothing()).unwrap();
    let printed: BTreeSet<String> = changes
        .iter()
        .map(|c| format!("{:?} {}", c, c.describe()))
        .collect();
    assert!(
        printed.iter().all(|line| !line.contains(&external_id().0)),
        "{printed:?}"
    );
}

/// Services and OIDC providers get statements of their own, without the external ID;
/// conditions and extra actions join the principals' statement next to it, and a trust of
/// principals alone renders as it always did.
#[test]
fn trust_forms_render_as_iam_reads_them() {
    let mut value = serde_json::to_value(spec()).unwrap();
    value["trust"]["services"] = json!(["ec2.amazonaws.com"]);
    value["trust"]["federated"] = json!([{
        "providerArn": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC",
        "subjects": ["system:serviceaccount:monitoring:*"]}]);
    value["trust"]["conditions"] = json!({"StringEquals": {"aws:PrincipalOrgID": ["o-a1b2c3"]},
                                          "Bool": {"aws:MultiFactorAuthPresent": ["true"]}});
    value["trust"]["actions"] = json!(["sts:TagSession"]);
    let wide: IntegrationRoleSpec = serde_json::from_value(value).unwrap();
    let mut desired = Desired::from_spec(&object(wide)).unwrap();
    desired.external_id = Some(crate::aws::Sensitive("shared".into()));
    let expected = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::464622532012:root"]},
         "Action": ["sts:AssumeRole", "sts:TagSession"],
         "Condition": {"StringEquals": {"aws:PrincipalOrgID": ["o-a1b2c3"], "sts:ExternalId": "shared"},
                       "Bool": {"aws:MultiFactorAuthPresent": ["true"]}}},
        {"Effect": "Allow", "Principal": {"Service": ["ec2.amazonaws.com"]},
         "Action": ["sts:AssumeRole", "sts:TagSession"]},
        {"Effect": "Allow",
         "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"},
         "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
         "Condition": {
            "StringLike": {"oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub": ["system:serviceaccount:monitoring:*"]},
            "StringEquals": {"oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud": ["sts.amazonaws.com"]}}}]});
    assert_eq!(desired.trust_policy(), expected);

    let plain = Desired::from_spec(&object(spec())).unwrap();
    assert_eq!(
        plain.trust.render(Some("shared")),
        document::trust_policy(&["arn:aws:iam::464622532012:root".into()], Some("shared"))
    );
    assert_eq!(
        plain.trust.render(Some("shared"))["Statement"][0]["Action"],
        "sts:AssumeRole",
        "unchanged for roles that exist"
    );
}

/// A generated name: the prefix and 26 characters from the object's namespace and name,
/// the same at every reconcile, never over IAM's 64; not with a roleName too.
#[test]
fn a_role_name_prefix_generates_one_stable_name_per_object() {
    let mut value = serde_json::to_value(spec()).unwrap();
    value.as_object_mut().unwrap().remove("roleName");
    value["roleNamePrefix"] = json!("p".repeat(38));
    let prefixed: IntegrationRoleSpec = serde_json::from_value(value.clone()).unwrap();
    let name = Desired::from_spec(&object(prefixed.clone()))
        .unwrap()
        .role_name;
    assert_eq!(name.len(), 64);
    assert!(name.starts_with(&"p".repeat(38)));
    assert_eq!(
        Desired::from_spec(&object(prefixed)).unwrap().role_name,
        name
    );
    assert_ne!(
        crate::integration_role::generated_role_name("p", "monitoring", "other"),
        crate::integration_role::generated_role_name("p", "monitoring", "datadog"),
    );
    value["roleName"] = json!("Both");
    let both: IntegrationRoleSpec = serde_json::from_value(value).unwrap();
    let error = Desired::from_spec(&object(both)).unwrap_err().to_string();
    assert!(
        error.starts_with("spec.roleNamePrefix: set at most one"),
        "{error}"
    );
}
