//! IntegrationRole against the AWS emulator's IAM over HTTP, every call counted.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use ecsfleet::Reason;
use ecsfleet::integration_role::IntegrationRole;
use ecsfleet::runtime::Pipeline;
use ecsfleet::runtime::secrets::Secrets;
use k8s_openapi::api::core::v1::Secret;
use support::{Emulator, env, sync, writes};

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
    let secret: Secret = serde_yaml_ng::from_str(&secret_yaml()).unwrap();
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
    let big: Vec<String> = (0..700)
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
            ROLE.replace("name: datadog-external-id", "name: nowhere"),
            "spec.trust.externalId.secretRef: Secret monitoring/nowhere not found",
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
            "spec.policy.statements: the rendered policy has",
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
    let error = sync(&mut role(&cases[8].0), &pipeline).await.unwrap_err();
    assert!(error.to_string().contains("IAM allows 6144"), "{error}");
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
