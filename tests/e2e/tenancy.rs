//! Tenancy end to end: a tenant — a ServiceAccount that may edit ecsfleet's kinds and
//! read Secrets in its own namespace only — tries each escalation of the threat model
//! (docs/tenancy.md). Each is refused at admission by the ValidatingAdmissionPolicy of
//! deploy/base/admission.yaml, and again by the controller when an administrator writes the
//! object with admission out of the way: the same field and the same grant named both
//! times, and nothing written to AWS. What the tenant may do still works, within the
//! permissions boundary the policy requires.

use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

use crate::refusals::{base, merge};
use crate::support::control_plane::{Operator, testenv_bin, with_input};
use crate::*;

const NAMESPACE: &str = "team-a";
const BOUNDARY: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";

/// The administrator's policy: team-a keeps the safe defaults, narrowed to its own names,
/// one vendor account, one Region, and a required permissions boundary.
fn policy() -> String {
    format!(
        r#"apiVersion: ecsfleet.dev/v1alpha1
kind: TenancyPolicy
metadata: {{name: ecsfleet}}
spec:
  rules:
    - name: tenant
      namespaces: [{NAMESPACE}]
      grants:
        regions: [eu-west-1]
        iam:
          roleNames: [team-a-*]
          permissionsBoundaryArn: {BOUNDARY}
          trustedAccounts: ["464622532012"]
        ecs:
          clusters: [team-a-*]
        autoScaling:
          groupNames: [team-a-*]
"#
    )
}

/// The tenant's bases: valid, and within everything the policy grants team-a.
fn tenant_base(kind: &str) -> Value {
    let mut spec = base(kind);
    let own = match kind {
        "DaemonService" => json!({"cluster": "team-a-prod"}),
        "IntegrationRole" => json!({"roleName": "team-a-vendor"}),
        _ => json!({"name": "team-a-web"}),
    };
    merge(&mut spec, &own);
    spec
}

/// One escalation: a merge patch on the tenant's base, and what refuses it.
struct Case {
    what: &'static str,
    kind: &'static str,
    spec: Value,
    /// The field, as the admission policy names it (the controller adds list indexes).
    field: &'static str,
    grant: &'static str,
}

fn cases() -> Vec<Case> {
    let case = |what, kind, spec, field, grant| Case {
        what,
        kind,
        spec,
        field,
        grant,
    };
    let other_role = "arn:aws:iam::123456789012:role/platform-admin";
    vec![
        case(
            "take over an administrator's role",
            "IntegrationRole",
            json!({"adoptExisting": true}),
            "spec.adoptExisting",
            "allowAdoption",
        ),
        case(
            "`*` on `*`",
            "IntegrationRole",
            json!({"policy": {"allowFullAccess": true, "statements": [{"actions": ["*"], "resources": ["*"]}]}}),
            "spec.policy.allowFullAccess",
            "iam.allowFullAccess",
        ),
        case(
            "attach AdministratorAccess",
            "IntegrationRole",
            json!({"managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]}),
            "spec.managedPolicyArns",
            "iam.managedPolicyArns",
        ),
        case(
            "a weaker boundary",
            "IntegrationRole",
            json!({"permissionsBoundaryArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            "spec.permissionsBoundaryArn",
            "iam.permissionsBoundaryArn",
        ),
        case(
            "trusted by an unlisted account",
            "IntegrationRole",
            json!({"trust": {"principals": ["arn:aws:iam::999988887777:root"]}}),
            "spec.trust.principals",
            "iam.trustedAccounts",
        ),
        case(
            "a generated role name outside the team's",
            "IntegrationRole",
            json!({"roleName": null, "roleNamePrefix": "other-"}),
            "spec.roleNamePrefix",
            "iam.roleNames",
        ),
        case(
            "trusted by an AWS service",
            "IntegrationRole",
            json!({"trust": {"services": ["lambda.amazonaws.com"]}}),
            "spec.trust.services",
            "iam.trustedServices",
        ),
        case(
            "trusted by the cluster's pods through an OIDC provider",
            "IntegrationRole",
            json!({"trust": {"federated": [{
                "providerArn": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC",
                "subjects": ["system:serviceaccount:team-a:*"]}]}}),
            "spec.trust.federated",
            "iam.oidcProviderArns",
        ),
        case(
            "a role name outside the team's",
            "IntegrationRole",
            json!({"roleName": "PlatformAdmin"}),
            "spec.roleName",
            "iam.roleNames",
        ),
        case(
            "act in another account (confused deputy)",
            "IntegrationRole",
            json!({"assumeRoleArn": "arn:aws:iam::210987654321:role/ecsfleet-trusting"}),
            "spec.assumeRoleArn",
            "assumeRoleArns",
        ),
        case(
            "another Region",
            "ScalingGroup",
            json!({"region": "us-east-1"}),
            "spec.region",
            "regions",
        ),
        case(
            "the host's PID namespace",
            "DaemonService",
            json!({"taskDefinition": {"pidMode": "host"}}),
            "spec.taskDefinition.pidMode",
            "ecs.hostAccess",
        ),
        case(
            "the host's network",
            "DaemonService",
            json!({"taskDefinition": {"networkMode": "host"}}),
            "spec.taskDefinition.networkMode",
            "ecs.hostAccess",
        ),
        case(
            "a privileged container",
            "DaemonService",
            json!({"taskDefinition": {"containerDefinitions": [
                {"name": "agent", "image": "agent:1", "memory": 128, "privileged": true}]}}),
            "spec.taskDefinition.containerDefinitions.privileged",
            "ecs.hostAccess",
        ),
        case(
            "an added capability",
            "DaemonService",
            json!({"taskDefinition": {"containerDefinitions": [
                {"name": "agent", "image": "agent:1", "memory": 128,
                 "linuxParameters": {"capabilities": {"add": ["SYS_ADMIN"]}}}]}}),
            "spec.taskDefinition.containerDefinitions.linuxParameters",
            "ecs.hostAccess",
        ),
        case(
            "a host path",
            "DaemonService",
            json!({"taskDefinition": {"volumes": [{"name": "root", "host": {"sourcePath": "/"}}]}}),
            "spec.taskDefinition.volumes",
            "ecs.hostAccess",
        ),
        case(
            "a Docker volume that binds a host path",
            "DaemonService",
            json!({"taskDefinition": {"volumes": [{"name": "root", "dockerVolumeConfiguration":
                {"driver": "local", "driverOpts": {"type": "none", "o": "bind", "device": "/"}}}]}}),
            "spec.taskDefinition.volumes",
            "ecs.hostAccess",
        ),
        case(
            "an unconfined container",
            "DaemonService",
            json!({"taskDefinition": {"containerDefinitions": [
                {"name": "agent", "image": "agent:1", "memory": 128,
                 "dockerSecurityOptions": ["seccomp:unconfined"]}]}}),
            "spec.taskDefinition.containerDefinitions.dockerSecurityOptions",
            "ecs.hostAccess",
        ),
        case(
            "another team's target group",
            "DaemonService",
            json!({"loadBalancers": [{
                "targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/other/0123456789abcdef",
                "containerName": "agent", "containerPort": 8126}]}),
            "spec.loadBalancers",
            "ecs.loadBalancers",
        ),
        case(
            "another team's task role",
            "DaemonService",
            json!({"taskDefinition": {"taskRoleArn": other_role}}),
            "spec.taskDefinition.taskRoleArn",
            "ecs.taskRoleArns",
        ),
        case(
            "another team's execution role",
            "DaemonService",
            json!({"taskDefinition": {"executionRoleArn": other_role}}),
            "spec.taskDefinition.executionRoleArn",
            "ecs.executionRoleArns",
        ),
        case(
            "another team's cluster",
            "DaemonService",
            json!({"cluster": "production"}),
            "spec.cluster",
            "ecs.clusters",
        ),
        case(
            "an administrator's instance profile",
            "ScalingGroup",
            json!({"launchTemplate": {"iamInstanceProfile": "platform-admin"}}),
            "spec.launchTemplate.iamInstanceProfile",
            "autoScaling.instanceProfiles",
        ),
        case(
            "another team's target group for the instances",
            "ScalingGroup",
            json!({"targetGroupArns": ["arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/other/0123456789abcdef"]}),
            "spec.targetGroupArns",
            "autoScaling.targetGroupArns",
        ),
        case(
            "a lifecycle hook passing another role",
            "ScalingGroup",
            json!({"lifecycleHooks": [{"name": "drain", "transition": "Terminating",
                "targetArn": "arn:aws:sqs:eu-west-1:123456789012:q", "roleArn": other_role}]}),
            "spec.lifecycleHooks.roleArn",
            "autoScaling.lifecycleHookRoleArns",
        ),
        case(
            "a group name outside the team's",
            "ScalingGroup",
            json!({"name": "platform-nat"}),
            "spec.name",
            "autoScaling.groupNames",
        ),
        case(
            "joining another team's cluster",
            "ScalingGroup",
            json!({"ecsCluster": "production"}),
            "spec.ecsCluster",
            "ecs.clusters",
        ),
    ]
}

fn manifest(name: &str, kind: &str, spec: Value) -> String {
    json!({
        "apiVersion": "ecsfleet.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    })
    .to_string()
}

fn case_manifest(index: usize, case: &Case) -> String {
    let mut spec = tenant_base(case.kind);
    merge(&mut spec, &case.spec);
    manifest(&format!("case-{index}"), case.kind, spec)
}

/// kubectl as the identity of `kubeconfig`, `input` on its standard input.
fn kubectl_as(kubeconfig: &std::path::Path, args: &[&str], input: &str) -> Output {
    let mut command = std::process::Command::new(testenv_bin("kubectl"));
    command.arg("--kubeconfig").arg(kubeconfig).args(args);
    with_input(command, input)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The tenant: edits ecsfleet's kinds and reads Secrets in team-a, nothing else.
fn tenant(plane: &ControlPlane) -> std::path::PathBuf {
    let rbac = format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: tenant, namespace: {NAMESPACE}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: ecsfleet-editor, namespace: {NAMESPACE}}}
rules:
  - apiGroups: [ecsfleet.dev]
    resources: [daemonservices, integrationroles, scalinggroups]
    verbs: [get, list, watch, create, update, patch, delete]
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: tenant, namespace: {NAMESPACE}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: ecsfleet-editor}}
subjects: [{{kind: ServiceAccount, name: tenant, namespace: {NAMESPACE}}}]
"#
    );
    let output = plane.kubectl_input(&["apply", "-f", "-"], &rbac);
    assert!(output.status.success(), "{}", stderr(&output));
    plane.service_account_kubeconfig(NAMESPACE, "tenant")
}

/// The refusal names the field (with list indexes, as the controller names it, or
/// without, as admission does) and the grant.
fn names(message: &str, case: &Case) -> bool {
    let unindexed: String = {
        let mut out = String::new();
        let mut skipping = false;
        for c in message.chars() {
            match c {
                '[' => skipping = true,
                ']' => skipping = false,
                _ if !skipping => out.push(c),
                _ => {}
            }
        }
        out
    };
    unindexed.contains(case.field)
        && message.contains("not granted to this namespace")
        && message.contains(&format!(": {})", case.grant))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_cannot_reach_past_its_grants_at_admission_or_in_the_controller() {
    let (plane, emulator, operator_kubeconfig) = prepared();
    plane.kubectl_ok(&["create", "namespace", NAMESPACE]);
    let admission = support::repo_root().join("deploy/base/admission.yaml");
    plane.kubectl_ok(&["apply", "-f", &admission.display().to_string()]);
    let tenant = tenant(&plane);

    // Without the policy object, admission fails closed.
    let permitted = manifest("vendor", "IntegrationRole", tenant_base("IntegrationRole"));
    eventually(
        "admission to refuse without a TenancyPolicy",
        Duration::from_secs(30),
        None,
        || {
            let output = kubectl_as(
                &tenant,
                &["create", "--dry-run=server", "-f", "-"],
                &permitted,
            );
            (!output.status.success()).then_some(())
        },
    )
    .await;
    // Only cluster administrators write the policy.
    let output = kubectl_as(&tenant, &["apply", "-f", "-"], &policy());
    assert!(stderr(&output).contains("forbidden"), "{}", stderr(&output));
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], &policy())
            .status
            .success()
    );

    // What the tenant may do is admitted (once the binding has read the policy).
    eventually(
        "admission to take the tenant's own role",
        Duration::from_secs(30),
        None,
        || {
            kubectl_as(&tenant, &["create", "-f", "-"], &permitted)
                .status
                .success()
                .then_some(())
        },
    )
    .await;

    // Every escalation is refused at admission, naming the field and the grant.
    let cases = cases();
    for (index, case) in cases.iter().enumerate() {
        let output = kubectl_as(&tenant, &["create", "-f", "-"], &case_manifest(index, case));
        let refusal = stderr(&output);
        assert!(
            !output.status.success() && names(&refusal, case),
            "admission, {}: {refusal}",
            case.what
        );
    }

    // With admission out of the way (an administrator writes the objects), the controller
    // refuses the same objects for the same reasons, before any AWS call.
    plane.kubectl_ok(&[
        "delete",
        "validatingadmissionpolicybinding",
        "ecsfleet-tenancy",
    ]);
    for (index, case) in cases.iter().enumerate() {
        eventually(
            "the binding's removal to take effect",
            Duration::from_secs(30),
            None,
            || {
                plane
                    .kubectl_input(&["apply", "-f", "-"], &case_manifest(index, case))
                    .status
                    .success()
                    .then_some(())
            },
        )
        .await;
    }
    let operator = Operator::start(
        ECSFLEET,
        &operator_kubeconfig,
        &emulator,
        plane.dir.path().join("operator.log"),
        &["--resync", &format!("{RESYNC_SECONDS}s")],
    );
    let resource = |kind: &str| match kind {
        "DaemonService" => "daemonservice",
        "IntegrationRole" => "integrationrole",
        _ => "scalinggroup",
    };
    for (index, case) in cases.iter().enumerate() {
        let name = format!("case-{index}");
        let object = eventually(case.what, Duration::from_secs(60), Some(&operator), || {
            let object = json(
                &plane,
                &["get", resource(case.kind), &name, "-n", NAMESPACE],
            );
            condition(&object, "Synced").is_some().then_some(object)
        })
        .await;
        let (status, reason, message) = condition(&object, "Synced").unwrap();
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("False", "InvalidSpec"),
            "{}: {message}",
            case.what
        );
        assert!(
            names(&message, case),
            "controller, {}: {message}",
            case.what
        );
        assert_eq!(
            condition(&object, "Stalled").map(|c| c.0),
            Some("True".into()),
            "{}",
            case.what
        );
    }

    // The permitted role is Ready, and carries the boundary the policy requires.
    eventually(
        "the tenant's own role to be Ready",
        Duration::from_secs(60),
        Some(&operator),
        || {
            Some(json(&plane, &["get", "irole", "vendor", "-n", NAMESPACE]))
                .filter(ready_and_current)
        },
    )
    .await;
    let iam = aws_sdk_iam::Client::new(&emulator.sdk_config().await);
    assert_eq!(
        support::permissions_boundary(&iam, "team-a-vendor")
            .await
            .as_deref(),
        Some(BOUNDARY)
    );

    // Nothing else was written: the only role is the permitted one; no group, no service.
    let roles = iam.list_roles().send().await.unwrap();
    let names: Vec<&str> = roles.roles().iter().map(|r| r.role_name()).collect();
    assert_eq!(names, ["team-a-vendor"], "roles in IAM");
    let calls = operator.aws_calls();
    for write in [
        "CreateAutoScalingGroup",
        "CreateLaunchTemplate",
        "CreateService",
        "RegisterTaskDefinition",
        "PutMetricAlarm",
    ] {
        assert_eq!(calls.get(write), None, "{write}: {calls:?}");
    }
}

/// A noisy neighbour: one namespace creates many objects at once, then another namespace
/// one. The other's object is worked on within a reconcile or two of the flood, not
/// behind all of it (kube hands objects out in the order they became due).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespaces_flood_does_not_hold_back_another_namespaces_object() {
    const FLOOD: usize = 60;
    let (plane, emulator, kubeconfig) = prepared();
    for namespace in ["flood", "quiet"] {
        plane.kubectl_ok(&["create", "namespace", namespace]);
    }
    let operator = Operator::start(
        ECSFLEET,
        &kubeconfig,
        &emulator,
        plane.dir.path().join("operator.log"),
        &["--resync", "600s", "--concurrency", "2"],
    );
    eventually(
        "the operator ready",
        Duration::from_secs(30),
        Some(&operator),
        || operator.get("/readyz").filter(|(code, _)| *code == 200),
    )
    .await;
    let role = |namespace: &str, name: &str| {
        let mut spec = base("IntegrationRole");
        merge(
            &mut spec,
            &json!({"roleName": format!("{namespace}-{name}")}),
        );
        json!({
            "apiVersion": "ecsfleet.dev/v1alpha1",
            "kind": "IntegrationRole",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        })
        .to_string()
    };
    let flood: Vec<String> = (0..FLOOD)
        .map(|i| role("flood", &format!("r{i}")))
        .collect();
    let output = plane.kubectl_input(&["apply", "-f", "-"], &flood.join("\n---\n"));
    assert!(output.status.success(), "{}", stderr(&output));
    let flood_ready = || {
        json(&plane, &["get", "irole", "-n", "flood"])["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| ready_and_current(o))
            .count()
    };
    // What the flood finished while it was being created does not count against it.
    let before = flood_ready();
    let output = plane.kubectl_input(&["apply", "-f", "-"], &role("quiet", "mine"));
    assert!(output.status.success(), "{}", stderr(&output));

    eventually(
        "the quiet namespace's role Ready",
        Duration::from_secs(120),
        Some(&operator),
        || Some(json(&plane, &["get", "irole", "mine", "-n", "quiet"])).filter(ready_and_current),
    )
    .await;
    let ahead = flood_ready().saturating_sub(before);
    assert!(
        // Without fair shares about two thirds of the flood went first; with them, two.
        ahead < FLOOD / 4,
        "the quiet namespace's object waited behind {ahead} of the flood's {FLOOD} ({before} were Ready before it was created)"
    );
    // The flood is worked off too.
    eventually(
        "the flood Ready",
        Duration::from_secs(300),
        Some(&operator),
        || (flood_ready() == FLOOD).then_some(()),
    )
    .await;
}
