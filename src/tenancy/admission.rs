//! The ValidatingAdmissionPolicy that enforces the [`TenancyPolicy`](super::TenancyPolicy)
//! at admission: the same rules as the controller's checks, in CEL, with the policy object
//! named `ecsfleet` as parameters. No webhook server runs. Only a spec that changes is
//! judged, so finalizers and metadata of objects admitted under an older policy can
//! always be written (deletion never wedges).
//!
//! Each [`Rule`] names the field and the grant it checks; the controller refuses with the
//! same two names (`tests/e2e/tenancy.rs` checks that both refuse the same objects).

use serde_json::{Value, json};

use super::POLICY_NAME;

/// The name of the admission policy and of its binding.
pub const ADMISSION_POLICY: &str = "ecsfleet-tenancy";

/// One check at admission.
pub struct Rule {
    /// The kind it applies to, or `None` for every kind.
    pub kind: Option<&'static str>,
    /// The field it judges, as the controller names it (without list indexes).
    pub field: &'static str,
    /// The grant that allows it, as the controller names it.
    pub grant: &'static str,
    /// CEL: true when the object may have the field as it is.
    pub allowed: String,
}

/// CEL: whether one of the patterns of the list `patterns` allows `value`.
fn allows(patterns: &str, value: &str) -> String {
    format!(
        "variables.grants.{patterns}.exists(p, p.endsWith('*') ? ({value}).startsWith(p.substring(0, size(p) - 1)) : p == ({value}))"
    )
}

/// CEL: `field` of `object.spec` (a `.`-path) is unset or allowed by `allowed`.
fn unset_or(path: &str, allowed: String) -> String {
    let mut guards = Vec::new();
    let mut at = String::from("object.spec");
    for part in path.split('.') {
        at = format!("{at}.{part}");
        guards.push(format!("!has({at})"));
    }
    format!("{} || {allowed}", guards.join(" || "))
}

fn rule(
    kind: Option<&'static str>,
    field: &'static str,
    grant: &'static str,
    allowed: String,
) -> Rule {
    Rule {
        kind,
        field,
        grant,
        allowed,
    }
}

/// A DaemonService rule of host access: `allowed` holds unless the namespace may have
/// `Privileged` task definitions.
fn host_rule(field: &'static str, allowed: String) -> Rule {
    let allowed = format!("variables.privileged || {allowed}");
    rule(Some("DaemonService"), field, "ecs.hostAccess", allowed)
}

/// Whether the task definition's `field` is not `host`.
fn not_host(field: &'static str, path: &str) -> Rule {
    host_rule(
        field,
        unset_or(path, format!("object.spec.{path} != 'host'")),
    )
}

/// Whether every container of the task definition satisfies `allowed` (CEL on `c`).
fn containers(field: &'static str, allowed: &str) -> Rule {
    let all = format!("object.spec.taskDefinition.containerDefinitions.all(c, {allowed})");
    host_rule(field, unset_or("taskDefinition.containerDefinitions", all))
}

/// Every check, in the order the controller makes them.
pub fn rules() -> Vec<Rule> {
    let ds = Some("DaemonService");
    let ir = Some("IntegrationRole");
    let sg = Some("ScalingGroup");
    vec![
        rule(None, "spec.region", "regions", unset_or("region", allows("regions", "object.spec.region"))),
        rule(
            None,
            "spec.assumeRoleArn",
            "assumeRoleArns",
            unset_or(
                "assumeRoleArn",
                format!(
                    "(has(variables.grants.assumeRoleArn) && variables.grants.assumeRoleArn == object.spec.assumeRoleArn) || {}",
                    allows("assumeRoleArns", "object.spec.assumeRoleArn")
                ),
            ),
        ),
        rule(
            None,
            "spec.adoptExisting",
            "allowAdoption",
            unset_or("adoptExisting", "!object.spec.adoptExisting || variables.grants.allowAdoption".into()),
        ),
        rule(
            ir,
            "spec.roleName",
            "iam.roleNames",
            format!(
                "has(object.spec.roleNamePrefix) && !has(object.spec.roleName) || {}",
                allows(
                    "iam.roleNames",
                    "has(object.spec.roleName) ? object.spec.roleName : object.metadata.name",
                )
            ),
        ),
        rule(
            ir,
            "spec.roleNamePrefix",
            "iam.roleNames",
            unset_or(
                "roleNamePrefix",
                "has(object.spec.roleName) || variables.grants.iam.roleNames.exists(p, p.endsWith('*') && object.spec.roleNamePrefix.startsWith(p.substring(0, size(p) - 1)))".into(),
            ),
        ),
        rule(
            ir,
            "spec.path",
            "iam.paths",
            allows("iam.paths", "has(object.spec.path) ? object.spec.path : '/'"),
        ),
        rule(
            ir,
            "spec.permissionsBoundaryArn",
            "iam.permissionsBoundaryArn",
            format!(
                "!has(variables.grants.iam.permissionsBoundaryArn) || variables.grants.iam.permissionsBoundaryArn == '' || {}",
                unset_or(
                    "permissionsBoundaryArn",
                    "object.spec.permissionsBoundaryArn == variables.grants.iam.permissionsBoundaryArn".into()
                )
            ),
        ),
        rule(
            ir,
            "spec.managedPolicyArns",
            "iam.managedPolicyArns",
            unset_or(
                "managedPolicyArns",
                format!("object.spec.managedPolicyArns.all(a, {})", allows("iam.managedPolicyArns", "a")),
            ),
        ),
        rule(
            ir,
            "spec.policy.allowFullAccess",
            "iam.allowFullAccess",
            unset_or(
                "policy.allowFullAccess",
                "!object.spec.policy.allowFullAccess || variables.grants.iam.allowFullAccess".into(),
            ),
        ),
        rule(
            ir,
            "spec.trust.principals",
            "iam.trustedAccounts",
            unset_or(
                "trust.principals",
                format!(
                    "object.spec.trust.principals.all(a, {})",
                    allows("iam.trustedAccounts", "a.startsWith('arn:') ? a.split(':')[4] : a")
                ),
            ),
        ),
        rule(
            ir,
            "spec.trust.services",
            "iam.trustedServices",
            unset_or(
                "trust.services",
                format!(
                    "object.spec.trust.services.all(s, {})",
                    allows("iam.trustedServices", "s")
                ),
            ),
        ),
        rule(
            ir,
            "spec.trust.federated",
            "iam.oidcProviderArns",
            unset_or(
                "trust.federated",
                format!(
                    "object.spec.trust.federated.all(f, {})",
                    allows("iam.oidcProviderArns", "f.providerArn")
                ),
            ),
        ),
        rule(
            ds,
            "spec.cluster",
            "ecs.clusters",
            allows(
                "ecs.clusters",
                "object.spec.cluster.substring(object.spec.cluster.lastIndexOf('/') + 1)",
            ),
        ),
        rule(
            ds,
            "spec.taskDefinition.taskRoleArn",
            "ecs.taskRoleArns",
            unset_or(
                "taskDefinition.taskRoleArn",
                allows("ecs.taskRoleArns", "object.spec.taskDefinition.taskRoleArn"),
            ),
        ),
        rule(
            ds,
            "spec.taskDefinition.executionRoleArn",
            "ecs.executionRoleArns",
            unset_or(
                "taskDefinition.executionRoleArn",
                allows("ecs.executionRoleArns", "object.spec.taskDefinition.executionRoleArn"),
            ),
        ),
        rule(
            ds,
            "spec.loadBalancers",
            "ecs.loadBalancers",
            unset_or(
                "loadBalancers",
                format!(
                    "object.spec.loadBalancers.all(lb, {})",
                    allows(
                        "ecs.loadBalancers",
                        "has(lb.targetGroupArn) ? lb.targetGroupArn : (has(lb.loadBalancerName) ? lb.loadBalancerName : '')"
                    )
                ),
            ),
        ),
        not_host("spec.taskDefinition.networkMode", "taskDefinition.networkMode"),
        not_host("spec.taskDefinition.pidMode", "taskDefinition.pidMode"),
        not_host("spec.taskDefinition.ipcMode", "taskDefinition.ipcMode"),
        host_rule(
            "spec.taskDefinition.volumes",
            unset_or(
                "taskDefinition.volumes",
                "object.spec.taskDefinition.volumes.all(v, (!has(v.host) || !has(v.host.sourcePath)) && (!has(v.dockerVolumeConfiguration) || !has(v.dockerVolumeConfiguration.driverOpts) || size(v.dockerVolumeConfiguration.driverOpts) == 0))".into(),
            ),
        ),
        containers(
            "spec.taskDefinition.containerDefinitions.privileged",
            "!has(c.privileged) || c.privileged != true",
        ),
        containers(
            "spec.taskDefinition.containerDefinitions.dockerSecurityOptions",
            "!has(c.dockerSecurityOptions) || size(c.dockerSecurityOptions) == 0",
        ),
        containers(
            "spec.taskDefinition.containerDefinitions.linuxParameters",
            "!has(c.linuxParameters) || ((!has(c.linuxParameters.capabilities) || !has(c.linuxParameters.capabilities.add) || size(c.linuxParameters.capabilities.add) == 0) && (!has(c.linuxParameters.devices) || size(c.linuxParameters.devices) == 0))",
        ),
        rule(
            sg,
            "spec.name",
            "autoScaling.groupNames",
            allows(
                "autoScaling.groupNames",
                "has(object.spec.name) ? object.spec.name : object.metadata.name",
            ),
        ),
        rule(
            sg,
            "spec.launchTemplate.iamInstanceProfile",
            "autoScaling.instanceProfiles",
            unset_or(
                "launchTemplate.iamInstanceProfile",
                allows("autoScaling.instanceProfiles", "object.spec.launchTemplate.iamInstanceProfile"),
            ),
        ),
        rule(
            sg,
            "spec.lifecycleHooks.roleArn",
            "autoScaling.lifecycleHookRoleArns",
            unset_or(
                "lifecycleHooks",
                format!(
                    "object.spec.lifecycleHooks.all(h, !has(h.roleArn) || {})",
                    allows("autoScaling.lifecycleHookRoleArns", "h.roleArn")
                ),
            ),
        ),
        rule(
            sg,
            "spec.targetGroupArns",
            "autoScaling.targetGroupArns",
            unset_or(
                "targetGroupArns",
                format!(
                    "object.spec.targetGroupArns.all(arn, {})",
                    allows("autoScaling.targetGroupArns", "arn")
                ),
            ),
        ),
        rule(
            sg,
            "spec.ecsCluster",
            "ecs.clusters",
            unset_or(
                "ecsCluster",
                allows(
                    "ecs.clusters",
                    "object.spec.ecsCluster.substring(object.spec.ecsCluster.lastIndexOf('/') + 1)",
                ),
            ),
        ),
    ]
}

/// The message of a refusal at admission: the field and the grant, as the controller's.
pub fn message(rule: &Rule) -> String {
    format!(
        "{}: not granted to this namespace (TenancyPolicy {POLICY_NAME}: {})",
        rule.field, rule.grant
    )
}

/// The ValidatingAdmissionPolicy and its binding, as Kubernetes objects.
pub fn objects() -> Vec<Value> {
    let selects = "r.namespaces.exists(p, p.endsWith('*') ? request.namespace.startsWith(p.substring(0, size(p) - 1)) : p == request.namespace)";
    let validations: Vec<Value> = rules()
        .iter()
        .map(|rule| {
            let applies = match rule.kind {
                Some(kind) => format!("request.kind.kind != '{kind}' || "),
                None => String::new(),
            };
            json!({
                "expression": format!("!variables.changed || {applies}({})", rule.allowed),
                "message": message(rule),
                "reason": "Forbidden",
            })
        })
        .collect();
    vec![
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": ADMISSION_POLICY},
            "spec": {
                "failurePolicy": "Fail",
                "paramKind": {"apiVersion": "ecsfleet.dev/v1alpha1", "kind": "TenancyPolicy"},
                "matchConstraints": {
                    "resourceRules": [{
                        "apiGroups": ["ecsfleet.dev"],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["daemonservices", "integrationroles", "scalinggroups"],
                    }],
                },
                "variables": [
                    {"name": "changed", "expression": "oldObject == null || object.spec != oldObject.spec"},
                    {"name": "grants", "expression": format!(
                        "params.spec.rules.exists(r, {selects}) ? params.spec.rules.filter(r, {selects})[0].grants : params.spec.defaults"
                    )},
                    {"name": "privileged", "expression": "variables.grants.ecs.hostAccess == 'Privileged'"},
                ],
                "validations": validations,
            },
        }),
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": ADMISSION_POLICY},
            "spec": {
                "policyName": ADMISSION_POLICY,
                "validationActions": ["Deny"],
                "paramRef": {"name": POLICY_NAME, "parameterNotFoundAction": "Deny"},
            },
        }),
    ]
}

/// The admission policy and binding as multi-document YAML.
pub fn yaml() -> String {
    objects()
        .iter()
        .map(|object| serde_yaml_ng::to_string(object).expect("JSON serializes as YAML"))
        .collect::<Vec<_>>()
        .join("---\n")
}
