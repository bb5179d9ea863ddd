//! The operator's own IAM policy, generated from the [`TenancyPolicy`](super::TenancyPolicy)
//! that says what the namespaces may reach: no grant of the operator is wider than what
//! some namespace may ask for. `ecsfleet iam-policy -f FILE` prints it;
//! `deploy/iam-policy.json` is the one for the shipped `deploy/base/tenancy-policy.yaml`.
//!
//! - Every write is conditioned on ecsfleet's ownership tag: creates must carry it
//!   (`aws:RequestTag`), updates and deletes need it on the resource (`aws:ResourceTag`).
//!   Taking over an untagged resource (`adoptExisting`) therefore needs a grant the
//!   administrator adds to the role by hand.
//! - IAM writes are confined to the role names and paths the grants allow, and, when
//!   every grant requires a permissions boundary, to roles that carry one of those
//!   boundaries (`iam:PermissionsBoundary`); a boundary can then not be removed.
//! - `iam:PassRole` and `sts:AssumeRole` reach only the roles the grants name, ECS and
//!   Auto Scaling writes only the clusters and group names they allow.
//!
//! Resource ARNs use `*` for Region and account: the grants do not say them.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Grants, TenancyPolicySpec};
use crate::common::UID_TAG;

/// Every grant of the policy: its defaults and each rule's.
fn all_grants(policy: &TenancyPolicySpec) -> Vec<&Grants> {
    std::iter::once(&policy.defaults)
        .chain(policy.rules.iter().map(|rule| &rule.grants))
        .collect()
}

/// The values of `pick` over every grant, deduplicated and sorted.
fn union<'a>(grants: &[&'a Grants], pick: impl Fn(&'a Grants) -> Vec<&'a String>) -> Vec<String> {
    let set: BTreeSet<String> = grants.iter().flat_map(|g| pick(g)).cloned().collect();
    set.into_iter().collect()
}

/// An IAM role ARN pattern for a pattern of the grants: `*` alone becomes every role.
fn role_arn(pattern: &str) -> String {
    if pattern == "*" {
        "arn:aws:iam::*:role/*".to_string()
    } else {
        pattern.to_string()
    }
}

/// The ARN fragment after `role` or `policy` for an IAM path pattern and a name pattern.
fn path_and_name(path: &str, name: &str) -> String {
    let path = if path == "*" { "/*" } else { path };
    if path.ends_with('*') {
        path.to_string()
    } else {
        format!("{path}{name}")
    }
}

fn statement(
    sid: &str,
    actions: &[&str],
    resources: Vec<String>,
    condition: Option<Value>,
) -> Value {
    let mut actions: Vec<&str> = actions.to_vec();
    actions.sort_unstable();
    let mut statement = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": resources,
    });
    if let Some(condition) = condition {
        statement["Condition"] = condition;
    }
    statement
}

/// The creates: the request carries ecsfleet's ownership tag.
fn tagged_request() -> Value {
    json!({"Null": {format!("aws:RequestTag/{UID_TAG}"): "false"}})
}

/// The updates and deletes: the resource carries ecsfleet's ownership tag.
fn tagged_resource() -> Value {
    json!({"Null": {format!("aws:ResourceTag/{UID_TAG}"): "false"}})
}

/// `condition` with the permissions boundary required, when there is one.
fn with_boundary(mut condition: Value, boundaries: &Option<Vec<String>>) -> Value {
    if let Some(boundaries) = boundaries {
        condition["ArnEquals"] = json!({"iam:PermissionsBoundary": boundaries});
    }
    condition
}

/// The operator's IAM policy for what `policy` grants the namespaces.
pub fn operator_policy(policy: &TenancyPolicySpec) -> Value {
    let grants = all_grants(policy);
    let mut statements = Vec::new();

    // ECS: the clusters the grants allow.
    let clusters = union(&grants, |g| g.ecs.clusters.iter().collect());
    let in_clusters = |kind: &str, suffix: &str| -> Vec<String> {
        clusters
            .iter()
            .map(|cluster| format!("arn:aws:ecs:*:*:{kind}/{cluster}{suffix}"))
            .collect()
    };
    statements.push(statement(
        "EcsReadClusters",
        &["ecs:DescribeClusters", "ecs:ListContainerInstances"],
        in_clusters("cluster", ""),
        None,
    ));
    statements.push(statement(
        "EcsReadInstances",
        &["ecs:DescribeContainerInstances"],
        in_clusters("container-instance", "/*"),
        None,
    ));
    statements.push(statement(
        "EcsReadServices",
        &["ecs:DescribeServices", "ecs:ListTagsForResource"],
        [
            in_clusters("service", "/*"),
            vec!["arn:aws:ecs:*:*:task-definition/*".into()],
        ]
        .concat(),
        None,
    ));
    statements.push(statement(
        "EcsReadCapacityProviders",
        &["ecs:DescribeCapacityProviders"],
        vec!["arn:aws:ecs:*:*:capacity-provider/*".into()],
        None,
    ));
    statements.push(statement(
        "ReadsOfNoResource",
        // Neither names a resource: IAM authorizes them on `*` only.
        &["ecs:DescribeTaskDefinition", "sts:GetCallerIdentity"],
        vec!["*".into()],
        None,
    ));
    statements.push(statement(
        "EcsCreate",
        &["ecs:CreateService", "ecs:RegisterTaskDefinition"],
        [
            in_clusters("service", "/*"),
            vec!["arn:aws:ecs:*:*:task-definition/*".into()],
        ]
        .concat(),
        Some(tagged_request()),
    ));
    statements.push(statement(
        "EcsUpdateOwn",
        &["ecs:DeleteService", "ecs:TagResource", "ecs:UpdateService"],
        in_clusters("service", "/*"),
        Some(tagged_resource()),
    ));
    // Managed Daemons: newer than the IAM references the auditors know; the tag keys are
    // the ones every ECS resource takes.
    statements.push(statement(
        "EcsDaemonsRead",
        &[
            "ecs:DescribeDaemon",
            "ecs:DescribeDaemonDeployments",
            "ecs:DescribeDaemonRevisions",
            "ecs:DescribeDaemonTaskDefinition",
            "ecs:ListDaemons",
        ],
        vec!["arn:aws:ecs:*:*:*".into()],
        None,
    ));
    statements.push(statement(
        "EcsDaemonsCreate",
        &["ecs:CreateDaemon", "ecs:RegisterDaemonTaskDefinition"],
        vec!["arn:aws:ecs:*:*:*".into()],
        Some(tagged_request()),
    ));
    statements.push(statement(
        "EcsDaemonsUpdateOwn",
        &["ecs:DeleteDaemon", "ecs:UpdateDaemon"],
        vec!["arn:aws:ecs:*:*:*".into()],
        Some(tagged_resource()),
    ));

    // Auto Scaling: the group names the grants allow, and their alarms.
    let groups = union(&grants, |g| g.auto_scaling.group_names.iter().collect());
    let group_arns: Vec<String> = groups
        .iter()
        .map(|name| {
            format!("arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/{name}")
        })
        .collect();
    let alarm_arns: Vec<String> = groups
        .iter()
        .map(|name| match name.strip_suffix('*') {
            Some(prefix) => format!("arn:aws:cloudwatch:*:*:alarm:{prefix}*"),
            None => format!("arn:aws:cloudwatch:*:*:alarm:{name}-*"),
        })
        .collect();
    statements.push(statement(
        "AutoScalingRead",
        // None takes a resource: IAM authorizes them on `*` only.
        &[
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:DescribeInstanceRefreshes",
            "autoscaling:DescribeLifecycleHooks",
            "autoscaling:DescribeNotificationConfigurations",
            "autoscaling:DescribePolicies",
            "autoscaling:DescribeScheduledActions",
            "autoscaling:DescribeWarmPool",
            "ec2:DescribeInstances",
            "ec2:DescribeLaunchTemplateVersions",
            "ec2:DescribeLaunchTemplates",
        ],
        vec!["*".into()],
        None,
    ));
    statements.push(statement(
        "AutoScalingCreate",
        &["autoscaling:CreateAutoScalingGroup"],
        group_arns.clone(),
        Some(tagged_request()),
    ));
    statements.push(statement(
        "AutoScalingUpdateOwn",
        &[
            "autoscaling:AttachLoadBalancerTargetGroups",
            "autoscaling:CreateOrUpdateTags",
            "autoscaling:DeleteAutoScalingGroup",
            "autoscaling:DeleteLifecycleHook",
            "autoscaling:DeleteNotificationConfiguration",
            "autoscaling:DeletePolicy",
            "autoscaling:DeleteScheduledAction",
            "autoscaling:DeleteWarmPool",
            "autoscaling:DetachLoadBalancerTargetGroups",
            "autoscaling:DisableMetricsCollection",
            "autoscaling:EnableMetricsCollection",
            "autoscaling:PutLifecycleHook",
            "autoscaling:PutNotificationConfiguration",
            "autoscaling:PutScalingPolicy",
            "autoscaling:PutScheduledUpdateGroupAction",
            "autoscaling:PutWarmPool",
            "autoscaling:ResumeProcesses",
            "autoscaling:StartInstanceRefresh",
            "autoscaling:SuspendProcesses",
            "autoscaling:UpdateAutoScalingGroup",
        ],
        group_arns,
        Some(tagged_resource()),
    ));
    statements.push(statement(
        "LaunchTemplatesCreate",
        &["ec2:CreateLaunchTemplate"],
        vec!["arn:aws:ec2:*:*:launch-template/*".into()],
        Some(tagged_request()),
    ));
    statements.push(statement(
        "LaunchTemplatesTagOnCreate",
        &["ec2:CreateTags"],
        vec!["arn:aws:ec2:*:*:launch-template/*".into()],
        Some(json!({"StringEquals": {"ec2:CreateAction": "CreateLaunchTemplate"}})),
    ));
    statements.push(statement(
        "LaunchTemplatesUpdateOwn",
        &[
            "ec2:CreateLaunchTemplateVersion",
            "ec2:DeleteLaunchTemplate",
        ],
        vec!["arn:aws:ec2:*:*:launch-template/*".into()],
        Some(tagged_resource()),
    ));
    statements.push(statement(
        "LaunchFromOwnTemplates",
        // Checked when a group is created or updated with a launch template.
        &["ec2:RunInstances"],
        [
            "instance/*",
            "volume/*",
            "network-interface/*",
            "subnet/*",
            "security-group/*",
            "key-pair/*",
            "launch-template/*",
        ]
        .iter()
        .map(|kind| format!("arn:aws:ec2:*:*:{kind}"))
        .chain([
            "arn:aws:ec2:*::image/*".to_string(),
            "arn:aws:ec2:*::snapshot/*".to_string(),
        ])
        .collect(),
        None,
    ));
    statements.push(statement(
        "AlarmsRead",
        &[
            "cloudwatch:DescribeAlarms",
            "cloudwatch:ListTagsForResource",
        ],
        vec!["arn:aws:cloudwatch:*:*:alarm:*".into()],
        None,
    ));
    statements.push(statement(
        // A policy's alarm: its name is the group's and the policy's. Deletion also removes
        // an untagged alarm that executes the group's own policy (docs/tenancy.md).
        "AlarmsOfOwnGroups",
        &["cloudwatch:DeleteAlarms", "cloudwatch:PutMetricAlarm"],
        alarm_arns.clone(),
        None,
    ));
    statements.push(statement(
        "AlarmsTagOwn",
        &["cloudwatch:TagResource"],
        alarm_arns,
        Some(tagged_resource()),
    ));
    statements.push(statement(
        "TopicsRead",
        &["sns:GetTopicAttributes", "sns:ListTagsForResource"],
        vec!["arn:aws:sns:*:*:*".into()],
        None,
    ));
    statements.push(statement(
        "TopicsCreate",
        &["sns:CreateTopic"],
        vec!["arn:aws:sns:*:*:*".into()],
        Some(tagged_request()),
    ));
    statements.push(statement(
        "TopicsUpdateOwn",
        &["sns:DeleteTopic", "sns:TagResource"],
        vec!["arn:aws:sns:*:*:*".into()],
        Some(tagged_resource()),
    ));
    statements.push(statement(
        "AutoScalingServiceLinkedRole",
        &["iam:CreateServiceLinkedRole"],
        vec!["arn:aws:iam::*:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling".into()],
        Some(json!({"StringEquals": {"iam:AWSServiceName": "autoscaling.amazonaws.com"}})),
    ));

    // IAM: the role names and paths the grants allow.
    let mut roles = BTreeSet::new();
    let mut policies = BTreeSet::new();
    for grant in &grants {
        for path in &grant.iam.paths {
            policies.insert(format!("arn:aws:iam::*:policy{}", path_and_name(path, "*")));
            for name in &grant.iam.role_names {
                roles.insert(format!("arn:aws:iam::*:role{}", path_and_name(path, name)));
            }
        }
    }
    let roles: Vec<String> = roles.into_iter().collect();
    let policies: Vec<String> = policies.into_iter().collect();
    let bounded = grants.iter().all(|g| g.boundary().is_some());
    let boundaries = bounded.then(|| union(&grants, |g| vec![&g.iam.permissions_boundary_arn]));
    statements.push(statement(
        "RolesRead",
        &[
            "iam:GetRole",
            "iam:ListAttachedRolePolicies",
            "iam:ListRolePolicies",
        ],
        roles.clone(),
        None,
    ));
    statements.push(statement(
        "PoliciesRead",
        // Managed policies of any account: AWS's own are attached too.
        &[
            "iam:GetPolicy",
            "iam:GetPolicyVersion",
            "iam:ListPolicyVersions",
        ],
        vec!["arn:aws:iam::*:policy/*".into()],
        None,
    ));
    statements.push(statement(
        "RolesCreate",
        &["iam:CreateRole"],
        roles.clone(),
        Some(with_boundary(tagged_request(), &boundaries)),
    ));
    // What can change a role's permissions carries the boundary condition (the keys IAM
    // documents it for); the rest needs only the ownership tag: the role was created
    // with the boundary, which then cannot be removed.
    let mut permission_changes = vec![
        "iam:AttachRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:DetachRolePolicy",
        "iam:PutRolePermissionsBoundary",
    ];
    if boundaries.is_none() {
        permission_changes.push("iam:DeleteRolePermissionsBoundary");
    }
    statements.push(statement(
        "RolesChangePermissionsOfOwn",
        &permission_changes,
        roles.clone(),
        Some(with_boundary(tagged_resource(), &boundaries)),
    ));
    statements.push(statement(
        "RolesUpdateOwn",
        &[
            "iam:DeleteRole",
            "iam:TagRole",
            "iam:UpdateAssumeRolePolicy",
            "iam:UpdateRole",
        ],
        roles,
        Some(tagged_resource()),
    ));
    statements.push(statement(
        "PoliciesCreate",
        &["iam:CreatePolicy"],
        policies.clone(),
        Some(tagged_request()),
    ));
    statements.push(statement(
        "PoliciesUpdateOwn",
        &[
            "iam:CreatePolicyVersion",
            "iam:DeletePolicy",
            "iam:DeletePolicyVersion",
            "iam:TagPolicy",
        ],
        policies,
        Some(tagged_resource()),
    ));

    // Roles handed to AWS services, and roles the operator acts as: only those granted.
    let passed = [
        (
            "PassTaskRoles",
            "ecs-tasks.amazonaws.com",
            union(&grants, |g| {
                g.ecs
                    .task_role_arns
                    .iter()
                    .chain(&g.ecs.execution_role_arns)
                    .collect()
            }),
        ),
        (
            "PassLifecycleHookRoles",
            "autoscaling.amazonaws.com",
            union(&grants, |g| {
                g.auto_scaling.lifecycle_hook_role_arns.iter().collect()
            }),
        ),
    ];
    for (sid, service, arns) in passed {
        if !arns.is_empty() {
            statements.push(statement(
                sid,
                &["iam:PassRole"],
                arns.iter().map(|a| role_arn(a)).collect(),
                Some(json!({"StringEquals": {"iam:PassedToService": service}})),
            ));
        }
    }
    if grants
        .iter()
        .any(|g| !g.auto_scaling.instance_profiles.is_empty())
    {
        // An instance profile's role is not named by the grants (they name profiles).
        statements.push(statement(
            "PassInstanceProfileRoles",
            &["iam:PassRole"],
            vec!["arn:aws:iam::*:role/*".into()],
            Some(json!({"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})),
        ));
    }
    let assumed = union(&grants, |g| {
        g.assume_role_arns
            .iter()
            .chain(&g.assume_role_arn)
            .collect()
    });
    if !assumed.is_empty() {
        statements.push(statement(
            "AssumeGrantedRoles",
            &["sts:AssumeRole"],
            assumed.iter().map(|a| role_arn(a)).collect(),
            None,
        ));
    }
    statements.push(statement(
        "EventQueues",
        &["sqs:DeleteMessage", "sqs:ReceiveMessage"],
        vec!["arn:aws:sqs:*:*:ecsfleet-*".into()],
        None,
    ));
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The policy as `deploy/iam-policy.json` holds it.
pub fn operator_policy_json(policy: &TenancyPolicySpec) -> String {
    let mut text = serde_json::to_string_pretty(&operator_policy(policy)).expect("JSON");
    text.push('\n');
    text
}
