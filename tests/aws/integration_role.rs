//! IntegrationRole against the AWS emulator's IAM over HTTP, every call counted.

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::{Emulator, assert_in_sync, env, sync, writes};
use ecsfleet::Reason;
use ecsfleet::integration_role::IntegrationRole;
use ecsfleet::runtime::Pipeline;
use ecsfleet::runtime::secrets::Secrets;
use k8s_openapi::api::core::v1::Secret;

const EXTERNAL_ID: &str = "Vx9TqL2mR8wKp4Zc7Hn3Jd6Fs1Gb5Ye0";

const ROLE: &str = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: IntegrationRole
metadata: {name: datadog, namespace: monitoring}
spec:
  roleName: DatadogIntegrationRole
  description: read-only for Datadog
  trust:
    principals: ["464622532012"]
    externalId: {secretRef: {name: datadog-external-id, key: externalId}}
  policy:
    statements:
      - {sid: ReadOnly, actions: ["ec2:Describe*", "cloudwatch:Get*", "s3:ListAllMyBuckets"]}
  managedPolicyArns: [arn:aws:iam::aws:policy/SecurityAudit]
"#;

fn secret_yaml() -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: datadog-external-id, namespace: monitoring}}\nstringData: {{externalId: {EXTERNAL_ID}}}\n"
    )
}

fn role(yaml: &str) -> IntegrationRole {
    let mut obj: IntegrationRole = serde_yaml_ng::from_str(yaml).unwrap();
    obj.metadata.uid = Some("role-uid-1".into());
    obj.metadata.generation = Some(1);
    obj
}

async fn pipeline(emulator: &Emulator) -> Pipeline<IntegrationRole> {
    pipeline_with_external_id(emulator, EXTERNAL_ID).await
}

/// A pipeline whose Secret `monitoring/datadog-external-id` holds `value`.
async fn pipeline_with_external_id(emulator: &Emulator, value: &str) -> Pipeline<IntegrationRole> {
    let yaml = secret_yaml().replace(EXTERNAL_ID, &format!("{value:?}"));
    let secret: Secret = serde_yaml_ng::from_str(&yaml).unwrap();
    let secrets = Secrets::Files(BTreeMap::from([(
        ("monitoring".to_string(), "datadog-external-id".to_string()),
        secret,
    )]));
    Pipeline::new(env(emulator, secrets).await, ())
}

async fn iam(emulator: &Emulator) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&emulator.sdk_config().await)
}

fn decode(document: &str) -> serde_json::Value {
    ecsfleet::integration_role::document::decode(document).unwrap()
}

#[tokio::test]
async fn creates_the_role_policy_and_attachments() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let iam = iam(&emulator).await;
    let mut obj = role(ROLE);
    let actions = sync(&mut obj, &pipeline).await.unwrap();
    assert_eq!(
        actions,
        [
            "CreatePolicy",
            "CreateRole",
            "AttachRolePolicy",
            "AttachRolePolicy"
        ]
    );

    let live = iam
        .get_role()
        .role_name("DatadogIntegrationRole")
        .send()
        .await
        .unwrap();
    let live = live.role().unwrap();
    let trust = decode(live.assume_role_policy_document().unwrap());
    assert_eq!(
        trust["Statement"][0]["Principal"]["AWS"],
        serde_json::json!(["arn:aws:iam::464622532012:root"])
    );
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        EXTERNAL_ID
    );
    assert!(
        live.tags()
            .iter()
            .any(|t| t.key() == "ecsfleet.dev/owner" && t.value() == "monitoring/datadog")
    );
    let attached = iam
        .list_attached_role_policies()
        .role_name("DatadogIntegrationRole")
        .send()
        .await
        .unwrap();
    assert_eq!(attached.attached_policies().len(), 2);

    let status = obj.status.as_ref().unwrap();
    assert_eq!(
        status.account_id.as_deref(),
        Some("123456789012"),
        "the bare account ID"
    );
    assert_eq!(
        status.role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/DatadogIntegrationRole")
    );
    assert_eq!(
        status.policy_arn.as_deref(),
        Some("arn:aws:iam::123456789012:policy/DatadogIntegrationRolePolicy")
    );
    assert_eq!(status.policy_version.as_deref(), Some("v1"));
    assert_eq!(
        status.external_id_secret_name.as_deref(),
        Some("datadog-external-id")
    );
    assert!(!format!("{status:?}").contains(EXTERNAL_ID));
}

#[tokio::test]
async fn a_role_in_sync_makes_no_write_call() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let mut obj = role(ROLE);
    sync(&mut obj, &pipeline).await.unwrap();
    let after_create = writes(&pipeline.env);
    let reads_before = pipeline.env.metrics().aws_requests();
    for _ in 0..3 {
        assert_eq!(
            sync(&mut obj, &pipeline).await.unwrap(),
            Vec::<String>::new()
        );
    }
    assert_eq!(
        writes(&pipeline.env),
        after_create,
        "no write on a resync in sync"
    );
    let reads_after = pipeline.env.metrics().aws_requests();
    let per_resync: u64 = reads_after.values().sum::<u64>() - reads_before.values().sum::<u64>();
    assert_eq!(
        per_resync,
        3 * 4,
        "GetRole, GetPolicy, GetPolicyVersion, ListAttachedRolePolicies: {reads_after:?}"
    );
}

#[tokio::test]
async fn trust_policy_changed_by_hand_is_repaired_and_counted() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let iam = iam(&emulator).await;
    let mut obj = role(ROLE);
    sync(&mut obj, &pipeline).await.unwrap();

    let open = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}]}"#;
    iam.update_assume_role_policy()
        .role_name("DatadogIntegrationRole")
        .policy_document(open)
        .send()
        .await
        .unwrap();
    iam.detach_role_policy()
        .role_name("DatadogIntegrationRole")
        .policy_arn("arn:aws:iam::aws:policy/SecurityAudit")
        .send()
        .await
        .unwrap();

    assert_eq!(
        sync(&mut obj, &pipeline).await.unwrap(),
        ["UpdateAssumeRolePolicy", "AttachRolePolicy"]
    );
    let live = iam
        .get_role()
        .role_name("DatadogIntegrationRole")
        .send()
        .await
        .unwrap();
    let trust = decode(live.role().unwrap().assume_role_policy_document().unwrap());
    assert_eq!(
        trust["Statement"][0]["Principal"]["AWS"],
        serde_json::json!(["arn:aws:iam::464622532012:root"])
    );
    assert_eq!(obj.status.as_ref().unwrap().common.drift_repairs, Some(2));
}

#[tokio::test]
async fn six_policy_changes_stay_within_five_versions() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let iam = iam(&emulator).await;
    let mut obj = role(ROLE);
    sync(&mut obj, &pipeline).await.unwrap();
    for generation in 2..=7 {
        obj.metadata.generation = Some(generation);
        obj.spec.policy.as_mut().unwrap().statements[0].actions =
            vec![format!("ec2:DescribeInstances{generation}")];
        assert_eq!(
            sync(&mut obj, &pipeline).await.unwrap(),
            ["CreatePolicyVersion"],
            "change {generation}"
        );
    }
    let arn = obj.status.as_ref().unwrap().policy_arn.clone().unwrap();
    let versions = iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 5);
    let default = versions
        .versions()
        .iter()
        .find(|v| v.is_default_version())
        .unwrap();
    let document = iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(default.version_id().unwrap())
        .send()
        .await
        .unwrap();
    let document = decode(document.policy_version().unwrap().document().unwrap());
    assert_eq!(
        document["Statement"][0]["Action"],
        serde_json::json!(["ec2:DescribeInstances7"])
    );
    assert_eq!(
        obj.status.as_ref().unwrap().policy_version.as_deref(),
        Some("v7")
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_written() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    const ACTIONS: &str = "\"ec2:Describe*\", \"cloudwatch:Get*\", \"s3:ListAllMyBuckets\"";
    const SECRET_REF: &str = "{secretRef: {name: datadog-external-id, key: externalId}}";
    let big: Vec<String> = (0..3000)
        .map(|i| format!("\"ec2:DescribeThing{i:04}\""))
        .collect();
    // (the example with one thing changed, what the error must start with)
    let cases = [
        (
            ROLE.replace(ACTIONS, "\"ec2:Describe*\", \"ec2Describe\""),
            "spec.policy.statements[0].actions[1]",
        ),
        (
            ROLE.replace(ACTIONS, "\"ec2:Describe*\", \"*\""),
            "spec.policy.statements[0]: allows every action",
        ),
        (
            ROLE.replace("\"464622532012\"", "\"datadog\""),
            "spec.trust.principals[0]",
        ),
        (
            ROLE.replace(
                "roleName: DatadogIntegrationRole",
                "roleName: \"Datadog Role!\"",
            ),
            "spec.roleName",
        ),
        (
            ROLE.replace(&format!("    externalId: {SECRET_REF}\n"), ""),
            "spec.trust.externalId",
        ),
        (
            ROLE.replace(SECRET_REF, "{generate: true}"),
            "spec.trust.externalId.generate: needs a cluster",
        ),
        (
            format!("{ROLE}  outputSecretName: handover\n"),
            "spec.outputSecretName: needs a cluster",
        ),
        (
            ROLE.replace(ACTIONS, &big.join(", ")),
            "spec.policy.statements: the permissions need 12 managed policies",
        ),
    ];
    for (yaml, expected) in &cases {
        let error = sync(&mut role(yaml), &pipeline).await.unwrap_err();
        assert_eq!(error.reason(), Reason::InvalidSpec, "{error}");
        assert!(
            error.to_string().starts_with(expected),
            "{error} should start with {expected}"
        );
    }
    let quota = cases
        .iter()
        .find(|(_, expected)| expected.contains("managed policies"))
        .unwrap();
    let error = sync(&mut role(&quota.0), &pipeline).await.unwrap_err();
    assert!(
        error.to_string().contains("over the role's quota of 10"),
        "{error}"
    );
    // A Secret that does not exist yet is waiting (it may be on its way), not a refusal.
    let error = sync(
        &mut role(&ROLE.replace("name: datadog-external-id", "name: nowhere")),
        &pipeline,
    )
    .await
    .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("spec.trust.externalId.secretRef: Secret monitoring/nowhere not found"),
        "{error}"
    );
    assert!(error.is_retryable(), "{error}");
    assert_eq!(error.reason(), Reason::ReconcileError, "{error}");
    // References that must exist are read before the first write.
    for (yaml, expected) in [
        (
            ROLE.replace(
                "managedPolicyArns: [arn:aws:iam::aws:policy/SecurityAudit]",
                "managedPolicyArns: [arn:aws:iam::aws:policy/SecurityAudit, arn:aws:iam::aws:policy/NoSuchPolicy]",
            ),
            "spec.managedPolicyArns[1]: the policy arn:aws:iam::aws:policy/NoSuchPolicy does not exist",
        ),
        (
            format!("{ROLE}  permissionsBoundaryArn: arn:aws:iam::123456789012:policy/NoBoundary\n"),
            "spec.permissionsBoundaryArn: the policy arn:aws:iam::123456789012:policy/NoBoundary does not exist",
        ),
    ] {
        let error = sync(&mut role(&yaml), &pipeline).await.unwrap_err();
        assert_eq!(error.to_string(), expected);
        assert_eq!(error.reason(), Reason::InvalidSpec);
    }
    // External IDs STS would refuse: too short, a character outside [\w+=,.@:/-].
    for value in ["Q", "has space", "semi;colon"] {
        let pipeline = pipeline_with_external_id(&emulator, value).await;
        let error = sync(&mut role(ROLE), &pipeline).await.unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("spec.trust.externalId.secretRef: the external ID ("),
            "{message}"
        );
        assert!(
            !message.contains(value),
            "the value is never quoted: {message}"
        );
        assert_eq!(writes(&pipeline.env), BTreeMap::new());
    }
    assert_eq!(
        writes(&pipeline.env),
        BTreeMap::new(),
        "bad input writes nothing"
    );
}

#[tokio::test]
async fn existing_role_needs_adoption_and_another_objects_role_is_left_alone() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let iam = iam(&emulator).await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::464622532012:root"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name("DatadogIntegrationRole")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    let before = writes(&pipeline.env);
    let mut obj = role(ROLE);
    let error = sync(&mut obj, &pipeline).await.unwrap_err();
    assert_eq!(error.reason(), Reason::AlreadyExists, "{error}");
    assert_eq!(writes(&pipeline.env), before);
    assert_eq!(pipeline.delete(&obj).await.unwrap()[0].action, "LeaveRole");
    assert!(
        iam.get_role()
            .role_name("DatadogIntegrationRole")
            .send()
            .await
            .is_ok()
    );

    obj.spec.common.adopt_existing = true;
    let actions = sync(&mut obj, &pipeline).await.unwrap();
    assert_eq!(
        actions[..3],
        ["CreatePolicy", "TagRole", "UpdateAssumeRolePolicy"]
    );
    let mut other = role(ROLE);
    other.metadata.name = Some("datadog-copy".into());
    other.spec.common.adopt_existing = true;
    let error = sync(&mut other, &pipeline).await.unwrap_err();
    assert_eq!(error.reason(), Reason::OwnedByOther);
}

#[tokio::test]
async fn delete_detaches_and_removes_policy_versions_and_role() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let iam = iam(&emulator).await;
    let mut obj = role(ROLE);
    sync(&mut obj, &pipeline).await.unwrap();
    obj.metadata.generation = Some(2);
    obj.spec.policy.as_mut().unwrap().statements[0].actions = vec!["rds:Describe*".into()];
    sync(&mut obj, &pipeline).await.unwrap();

    let steps: Vec<String> = pipeline
        .delete(&obj)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.action)
        .collect();
    assert_eq!(
        steps,
        [
            "DetachRolePolicy",
            "DetachRolePolicy",
            "DeleteRole",
            "DeletePolicy"
        ]
    );
    assert!(
        iam.get_role()
            .role_name("DatadogIntegrationRole")
            .send()
            .await
            .is_err()
    );
    let policies = iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .unwrap();
    assert!(policies.policies().is_empty(), "{:?}", policies.policies());
    assert!(
        pipeline.delete(&obj).await.unwrap().is_empty(),
        "deleting again is a no-op"
    );
}

/// Runs the binary with trace logging over the example's role and its Secret, and
/// checks that the external ID appears nowhere in what it prints.
#[tokio::test]
async fn the_external_id_never_appears_in_any_output() {
    let emulator = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("role.yaml");
    std::fs::write(&file, format!("{}---{ROLE}", secret_yaml())).unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        format!(
            "{}---{}",
            secret_yaml(),
            ROLE.replace("\"ec2:Describe*\"", "\"ec2 Describe\"")
        ),
    )
    .unwrap();
    let file = file.display().to_string();
    let bad = bad.display().to_string();
    let mut printed = String::new();
    for args in [
        vec!["plan", "-f", &file],
        vec!["apply", "-f", &file],
        vec!["apply", "-f", &file, "--output", "json"],
        vec!["plan", "-f", &file, "--output", "json"],
        vec!["apply", "-f", &bad],
        vec!["delete", "-f", &file],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_ecsfleet"))
            .args(&args)
            .envs(emulator.process_env())
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        printed.push_str(&String::from_utf8_lossy(&output.stdout));
        printed.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    assert!(
        printed.contains("CreateRole") && printed.contains("DeleteRole"),
        "the runs did their work:\n{printed}"
    );
    assert!(
        printed.contains("123456789012"),
        "apply --output json shows the account ID"
    );
    assert!(
        !printed.contains(EXTERNAL_ID),
        "the external ID leaked into the output"
    );
}

/// The trust policy follows a rotated external ID in place: same role (ARN, ID, creation
/// date), one UpdateAssumeRolePolicy, not counted as drift.
#[tokio::test]
async fn a_rotated_external_id_updates_the_trust_policy_in_place() {
    let emulator = Emulator::start();
    let iam = iam(&emulator).await;
    let mut obj = role(ROLE);
    sync(&mut obj, &pipeline(&emulator).await).await.unwrap();
    let before = iam
        .get_role()
        .role_name("DatadogIntegrationRole")
        .send()
        .await
        .unwrap();
    let before = before.role().unwrap().clone();

    const ROTATED: &str = "Rotated-0123456789abcdefghij";
    let rotated = pipeline_with_external_id(&emulator, ROTATED).await;
    let changes = rotated.sync(&obj).await.unwrap();
    let described: Vec<(String, String)> = changes
        .applied
        .iter()
        .map(|c| (c.action.clone(), c.detail.clone()))
        .collect();
    assert_eq!(described.len(), 1, "{described:?}");
    assert_eq!(described[0].0, "RotateExternalId");
    assert!(described[0].1.contains("rotated"), "{described:?}");
    assert_eq!(changes.drift_repairs, 0, "a rotation is not drift");

    let after = iam
        .get_role()
        .role_name("DatadogIntegrationRole")
        .send()
        .await
        .unwrap();
    let after = after.role().unwrap();
    assert_eq!(after.arn(), before.arn());
    assert_eq!(after.role_id(), before.role_id(), "never recreated");
    assert_eq!(after.create_date(), before.create_date());
    let trust = decode(after.assume_role_policy_document().unwrap());
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        ROTATED
    );
    assert_eq!(
        sync(&mut obj, &rotated).await.unwrap(),
        Vec::<String>::new()
    );
}

const VENDOR: &str = include_str!("../../examples/vendor-full-permissions.yaml");

/// The example's Secret and IntegrationRole, and a pipeline that reads that Secret.
async fn vendor(emulator: &Emulator) -> (IntegrationRole, Pipeline<IntegrationRole>) {
    let mut documents = VENDOR.split("\n---\n");
    let secret: Secret = serde_yaml_ng::from_str(documents.next().unwrap()).unwrap();
    let obj = role(documents.next().unwrap());
    let secrets = Secrets::Files(BTreeMap::from([(
        ("monitoring".to_string(), "vendor-external-id".to_string()),
        secret,
    )]));
    (obj, Pipeline::new(env(emulator, secrets).await, ()))
}

/// Every action the spec lists.
fn spec_actions(obj: &IntegrationRole) -> Vec<String> {
    let mut actions: Vec<String> = obj
        .spec
        .policy
        .as_ref()
        .unwrap()
        .statements
        .iter()
        .flat_map(|s| s.actions.iter().cloned())
        .collect();
    actions.sort();
    actions
}

/// Every action granted by the role's attached customer-managed policies (repeated if
/// granted twice), and each policy's counted size.
async fn granted(iam: &aws_sdk_iam::Client, role: &str) -> (Vec<String>, Vec<usize>) {
    let attached = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap();
    let mut actions = Vec::new();
    let mut sizes = Vec::new();
    for policy in attached.attached_policies() {
        let arn = policy.policy_arn().unwrap();
        if arn.contains(":aws:policy/") {
            continue;
        }
        let live = iam.get_policy().policy_arn(arn).send().await.unwrap();
        let version = live.policy().unwrap().default_version_id().unwrap();
        let document = iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .unwrap();
        let document = decode(document.policy_version().unwrap().document().unwrap());
        sizes.push(ecsfleet::integration_role::document::counted_size(
            &document,
        ));
        for statement in document["Statement"].as_array().unwrap() {
            for action in statement["Action"].as_array().unwrap() {
                actions.push(action.as_str().unwrap().to_string());
            }
        }
    }
    actions.sort();
    (actions, sizes)
}

fn count(actions: &[String], name: &str) -> usize {
    actions.iter().filter(|a| *a == name).count()
}

#[tokio::test]
async fn a_vendor_size_permission_set_is_split_across_policies() {
    let emulator = Emulator::start();
    let iam = iam(&emulator).await;
    let (mut obj, pipeline) = vendor(&emulator).await;
    let role_name = "VendorMonitoring";
    sync(&mut obj, &pipeline).await.unwrap();

    let (actions, sizes) = granted(&iam, role_name).await;
    assert_eq!(
        actions,
        spec_actions(&obj),
        "every action granted exactly once"
    );
    assert!(sizes.len() >= 3, "split across {} policies", sizes.len());
    assert!(sizes.iter().all(|s| *s <= 6144), "{sizes:?}");
    let status = obj.status.clone().unwrap();
    assert_eq!(status.policy_count, Some(sizes.len() as u32));
    assert_eq!(status.policies.len(), sizes.len());
    assert!(status.policies.iter().all(|p| p.version == "v1"));
    let parts = sizes.len();

    // A resync of the unchanged spec writes nothing.
    assert_in_sync(&mut obj, &pipeline).await;

    // One action more rewrites one policy.
    obj.metadata.generation = Some(2);
    let statements = &mut obj.spec.policy.as_mut().unwrap().statements;
    statements[2]
        .actions
        .push("ecs:DescribeSomethingNew".into());
    let changes = pipeline.sync(&obj).await.unwrap();
    let actions: Vec<&str> = changes.applied.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(actions, ["CreatePolicyVersion"]);
    sync(&mut obj, &pipeline).await.unwrap();
    let (actions, _) = granted(&iam, role_name).await;
    assert_eq!(count(&actions, "ecs:DescribeSomethingNew"), 1);
    assert_eq!(actions, spec_actions(&obj));

    // Keeping only the Auto Scaling statement: the policies it does not need are
    // deleted.
    obj.metadata.generation = Some(3);
    let statements = &mut obj.spec.policy.as_mut().unwrap().statements;
    *statements = vec![statements[1].clone()];
    let changes = pipeline.sync(&obj).await.unwrap();
    let deleted = changes
        .applied
        .iter()
        .filter(|c| c.action == "DeletePolicy")
        .count();
    assert_eq!(deleted, parts - 1, "{:?}", changes.applied);
    sync(&mut obj, &pipeline).await.unwrap();
    let (actions, sizes) = granted(&iam, role_name).await;
    assert_eq!(actions, spec_actions(&obj));
    assert_eq!(sizes.len(), 1);
    let local = iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .unwrap();
    assert_eq!(
        local.policies().len(),
        1,
        "the others are deleted, not only detached"
    );

    // Back to the whole set, then delete: nothing is left.
    obj.metadata.generation = Some(4);
    let (whole, _) = vendor(&emulator).await;
    obj.spec = whole.spec;
    sync(&mut obj, &pipeline).await.unwrap();
    assert_eq!(granted(&iam, role_name).await.0, spec_actions(&obj));
    pipeline.delete(&obj).await.unwrap();
    let local = iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .unwrap();
    assert!(local.policies().is_empty(), "{:?}", local.policies());
    assert!(iam.get_role().role_name(role_name).send().await.is_err());
}

/// A part created before a crash (or by a write whose answer was lost) and never
/// attached is found and reused: one policy per part, never a duplicate.
#[tokio::test]
async fn a_part_created_but_never_attached_is_reused() {
    let emulator = Emulator::start();
    let iam = iam(&emulator).await;
    let (mut obj, pipeline) = vendor(&emulator).await;
    sync(&mut obj, &pipeline).await.unwrap();
    let parts = obj.status.as_ref().unwrap().policies.clone();
    // Detach the last part, as if the apply had stopped before attaching it.
    let last = parts.last().unwrap().arn.clone();
    iam.detach_role_policy()
        .role_name("VendorMonitoring")
        .policy_arn(&last)
        .send()
        .await
        .unwrap();
    let actions = sync(&mut obj, &pipeline).await.unwrap();
    assert_eq!(actions, ["AttachRolePolicy"]);
    assert_eq!(obj.status.as_ref().unwrap().policies, parts);
    let local = iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .unwrap();
    assert_eq!(local.policies().len(), parts.len());
}

/// With `assumeRoleArn`, the calls made for an object act in a role session named after
/// its namespace, so that CloudTrail (which records the session) shows which namespace
/// acted; objects of two namespaces never share a session.
#[tokio::test]
async fn an_assumed_role_session_names_the_objects_namespace() {
    let emulator = Emulator::start();
    let env = env(&emulator, Secrets::Files(BTreeMap::new())).await;
    let target = |namespace: &str| ecsfleet::aws::AwsTarget {
        region: Some("eu-west-1".into()),
        assume_role_arn: Some("arn:aws:iam::123456789012:role/team-deployer".into()),
        assume_role_external_id: None,
        namespace: Some(namespace.into()),
    };
    for namespace in ["team-a", "team-b"] {
        let clients = env.aws.clients(&target(namespace)).await.unwrap();
        let identity = clients.sts.get_caller_identity().send().await.unwrap();
        let arn = identity.arn().unwrap();
        assert!(
            arn.ends_with(&format!("assumed-role/team-deployer/ecsfleet@{namespace}")),
            "{arn}"
        );
    }
}

/// A spec refused as it stands is not worked out again at every resync (a large one
/// costs CPU that other namespaces' objects wait for): only a new revision of the object
/// is. Nothing is written either way.
#[tokio::test]
async fn a_refused_spec_is_worked_out_again_only_once_it_changes() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let mut obj = role(&ROLE.replace(
        "roleName: DatadogIntegrationRole",
        "roleName: \"Bad Name!\"",
    ));
    assert!(!pipeline.refused_unchanged(&obj), "never seen");
    let error = pipeline.sync(&obj).await.unwrap_err();
    assert_eq!(error.reason(), Reason::InvalidSpec, "{error}");
    assert!(
        pipeline.refused_unchanged(&obj),
        "the same revision: known refused"
    );
    // ecsfleet's own annotations are read by `desired` too.
    obj.metadata.annotations = Some(BTreeMap::from([(
        "ecsfleet.dev/rotate-external-id".to_string(),
        "1".to_string(),
    )]));
    assert!(
        !pipeline.refused_unchanged(&obj),
        "an annotation of ours moved"
    );
    assert!(
        writes(&pipeline.env).is_empty(),
        "{:?}",
        writes(&pipeline.env)
    );
    // The spec fixed: a new generation, worked out and applied.
    let mut fixed = role(ROLE);
    fixed.metadata.generation = Some(2);
    assert!(!pipeline.refused_unchanged(&fixed));
    pipeline.sync(&fixed).await.unwrap();
    assert!(
        !pipeline.refused_unchanged(&obj),
        "forgotten once it synced"
    );
}

/// An object that assumes a role with an external ID can be deleted after its Secret is
/// gone (a namespace's deletion removes both at once): the process acts with the target
/// it last used; a process that never used it leaves the resources and says so, instead
/// of keeping the object (and its namespace) from ever going away.
#[tokio::test]
async fn cleanup_does_not_depend_on_the_external_id_secret_still_existing() {
    let emulator = Emulator::start();
    let assumed = format!(
        "{ROLE}  assumeRoleArn: arn:aws:iam::123456789012:role/team-deployer\n  assumeRoleExternalId: {{name: datadog-external-id, key: externalId}}\n"
    );
    let obj = role(&assumed);
    let pipeline = pipeline(&emulator).await;
    pipeline.sync(&obj).await.unwrap();
    let iam = iam(&emulator).await;
    assert!(
        iam.get_role()
            .role_name("DatadogIntegrationRole")
            .send()
            .await
            .is_ok()
    );

    // A process that never reconciled the object, the Secret gone: nothing to act with.
    let stranger =
        Pipeline::<IntegrationRole>::new(env(&emulator, Secrets::Files(BTreeMap::new())).await, ());
    let left = stranger.delete(&obj).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].action, "LeaveResources");
    assert!(
        iam.get_role()
            .role_name("DatadogIntegrationRole")
            .send()
            .await
            .is_ok()
    );

    // The process that did, the Secret gone: deletes with the target it used.
    let mut gone = pipeline.env.clone();
    gone.secrets = Secrets::Files(BTreeMap::new());
    let deleted = Pipeline::<IntegrationRole>::new(gone, ())
        .delete(&obj)
        .await
        .unwrap();
    assert!(
        deleted.iter().any(|c| c.action == "DeleteRole"),
        "{deleted:?}"
    );
    assert!(
        iam.get_role()
            .role_name("DatadogIntegrationRole")
            .send()
            .await
            .is_err()
    );
}

/// A policy document pasted as its publisher wrote it (`NotAction`, `NotResource`, a
/// set-qualified condition, single values for lists) is what IAM gets, next to the
/// structured statements; a resync writes nothing, and a hand edit is put back.
#[tokio::test]
async fn a_published_policy_document_is_granted_as_written() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let iam = iam(&emulator).await;
    let published = r#"{"Version": "2012-10-17", "Statement": [
          {"Sid": "DenyOutsideLogs", "Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::vendor-logs", "arn:aws:s3:::vendor-logs/*"]},
          {"Sid": "NotIam", "Effect": "Deny", "NotAction": ["ec2:Describe*", "cloudwatch:Get*", "s3:*"], "Resource": "*",
           "Condition": {"ForAnyValue:StringNotEqualsIfExists": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}}}]}"#;
    let yaml = ROLE.replace(
        "  managedPolicyArns:",
        &format!("    document: {published}\n  managedPolicyArns:"),
    );
    let mut obj = role(&yaml);
    sync(&mut obj, &pipeline).await.unwrap();

    let arn = obj.status.as_ref().unwrap().policy_arn.clone().unwrap();
    let current = |iam: aws_sdk_iam::Client, arn: String| async move {
        let policy = iam.get_policy().policy_arn(&arn).send().await.unwrap();
        let version = policy
            .policy()
            .unwrap()
            .default_version_id()
            .unwrap()
            .to_string();
        let document = iam
            .get_policy_version()
            .policy_arn(&arn)
            .version_id(version)
            .send()
            .await
            .unwrap();
        decode(document.policy_version().unwrap().document().unwrap())
    };
    let granted = current(iam.clone(), arn.clone()).await;
    let expected = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadOnly", "Effect": "Allow", "Resource": ["*"],
         "Action": ["ec2:Describe*", "cloudwatch:Get*", "s3:ListAllMyBuckets"]},
        {"Sid": "DenyOutsideLogs", "Effect": "Deny", "Action": ["s3:*"],
         "NotResource": ["arn:aws:s3:::vendor-logs", "arn:aws:s3:::vendor-logs/*"]},
        {"Sid": "NotIam", "Effect": "Deny", "NotAction": ["ec2:Describe*", "cloudwatch:Get*", "s3:*"],
         "Resource": ["*"], "Condition": {"ForAnyValue:StringNotEqualsIfExists":
            {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}}}]});
    assert!(
        ecsfleet::integration_role::document::equivalent(&granted, &expected),
        "{granted:#}"
    );

    assert_in_sync(&mut obj, &pipeline).await;

    // By hand, the NotAction statement loses its condition: the next sync puts it back.
    let mut edited = granted.clone();
    for statement in edited["Statement"].as_array_mut().unwrap() {
        statement.as_object_mut().unwrap().remove("Condition");
    }
    iam.create_policy_version()
        .policy_arn(&arn)
        .policy_document(edited.to_string())
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    obj.metadata.generation = Some(1);
    let repaired = sync(&mut obj, &pipeline).await.unwrap();
    assert!(!repaired.is_empty(), "the edit is repaired");
    let granted = current(iam.clone(), arn.clone()).await;
    assert!(
        ecsfleet::integration_role::document::equivalent(&granted, &expected),
        "{granted:#}"
    );
}

/// Services, an OIDC provider (IRSA-style), conditions and extra trust actions reach IAM
/// as one trust policy with the external ID kept on the principals' statement; a resync
/// writes nothing.
#[tokio::test]
async fn every_trust_form_reaches_iam_and_stays_in_sync() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let iam = iam(&emulator).await;
    let yaml = ROLE.replace(
        "    externalId: {secretRef: {name: datadog-external-id, key: externalId}}\n",
        r#"    externalId: {secretRef: {name: datadog-external-id, key: externalId}}
    services: [ec2.amazonaws.com]
    federated:
      - providerArn: arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC
        subjects: ["system:serviceaccount:monitoring:agent"]
    conditions:
      StringEquals: {"aws:PrincipalOrgID": [o-a1b2c3d4]}
      IpAddress: {"aws:SourceIp": [203.0.113.0/24]}
    actions: [sts:TagSession, sts:SetSourceIdentity]
"#,
    );
    let mut obj = role(&yaml);
    sync(&mut obj, &pipeline).await.unwrap();
    let live = iam
        .get_role()
        .role_name("DatadogIntegrationRole")
        .send()
        .await
        .unwrap();
    let trust = decode(live.role().unwrap().assume_role_policy_document().unwrap());
    let expected = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::464622532012:root"},
         "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
         "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4", "sts:ExternalId": EXTERNAL_ID},
                       "IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}},
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
         "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]},
        {"Effect": "Allow",
         "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"},
         "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"],
         "Condition": {"StringEquals": {
            "oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:monitoring:agent",
            "oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com"}}}]});
    assert!(
        ecsfleet::integration_role::document::equivalent(&trust, &expected),
        "{trust:#}"
    );
    assert_in_sync(&mut obj, &pipeline).await;
}

/// A role whose name is generated from a prefix is created under that name, which the
/// hand-over values and status show, and the next sync finds it again.
#[tokio::test]
async fn a_generated_role_name_is_created_and_kept() {
    let emulator = Emulator::start();
    let pipeline = pipeline(&emulator).await;
    let iam = iam(&emulator).await;
    let mut obj = role(&ROLE.replace(
        "  roleName: DatadogIntegrationRole\n",
        "  roleNamePrefix: datadog-\n",
    ));
    sync(&mut obj, &pipeline).await.unwrap();
    let arn = obj.status.as_ref().unwrap().role_arn.clone().unwrap();
    let name = arn.rsplit('/').next().unwrap().to_string();
    assert!(name.starts_with("datadog-") && name.len() == 34, "{name}");
    assert_eq!(name, obj.role_name());
    iam.get_role().role_name(&name).send().await.unwrap();
    assert_in_sync(&mut obj, &pipeline).await;
}
