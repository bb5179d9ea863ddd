//! IntegrationRole end to end: generated external ID, hand-over Secret, drift repair,
//! rotation on request, secrets kept out of status, Events and logs, garbage collection.

use std::time::Duration;

use serde_json::Value;

use crate::support::control_plane::Operator;
use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integration_role_secrets_drift_and_garbage_collection() {
    let (plane, emulator, kubeconfig) = prepared();
    plane.kubectl_ok(&["create", "namespace", "vendors"]);
    let resync = format!("{RESYNC_SECONDS}s");
    let operator = Operator::start(
        ECSFLEET,
        &kubeconfig,
        &emulator,
        plane.dir.path().join("operator.log"),
        &["--resync", &resync],
    );
    let within_resync = Duration::from_secs(RESYNC_SECONDS * 4);

    let role = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: IntegrationRole
metadata: {name: acme, namespace: vendors}
spec:
  roleName: AcmeMonitoring
  trust:
    principals: ["464622532012"]
    externalId: {generate: true}
  policy:
    statements: [{actions: ["ec2:Describe*", "cloudwatch:Get*"]}]
  outputSecretName: acme-handover
"#;
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], role)
            .status
            .success()
    );
    let get = || json(&plane, &["get", "irole", "acme", "-n", "vendors"]);
    let ready = eventually(
        "the role to become Ready",
        Duration::from_secs(60),
        Some(&operator),
        || Some(get()).filter(ready_and_current),
    )
    .await;
    assert_eq!(ready["status"]["externalIdSecretName"], "acme-external-id");

    // The generated external ID: 40 random characters, in a Secret owned by the object.
    let generated = json(
        &plane,
        &["get", "secret", "acme-external-id", "-n", "vendors"],
    );
    assert_eq!(
        generated["metadata"]["ownerReferences"][0]["kind"],
        "IntegrationRole"
    );
    assert_eq!(
        generated["metadata"]["ownerReferences"][0]["uid"],
        ready["metadata"]["uid"]
    );
    let decode = |secret: &Value, key: &str| {
        let encoded = secret["data"][key].as_str().unwrap_or_default().to_string();
        let output = std::process::Command::new("base64")
            .arg("-d")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(encoded.as_bytes())?;
                child.wait_with_output()
            });
        String::from_utf8(output.unwrap().stdout).unwrap()
    };
    let external_id = decode(&generated, "externalId");
    assert_eq!(external_id.len(), 40);

    // The hand-over Secret holds the values a vendor's form asks for.
    let handover = json(&plane, &["get", "secret", "acme-handover", "-n", "vendors"]);
    assert_eq!(decode(&handover, "accountId"), "123456789012");
    assert_eq!(decode(&handover, "roleName"), "AcmeMonitoring");
    assert_eq!(
        decode(&handover, "roleArn"),
        "arn:aws:iam::123456789012:role/AcmeMonitoring"
    );
    assert_eq!(decode(&handover, "externalId"), external_id);
    assert_eq!(handover["metadata"]["ownerReferences"][0]["name"], "acme");

    // IAM requires exactly that external ID.
    let iam = aws_sdk_iam::Client::new(&emulator.sdk_config().await);
    let trust = |iam: aws_sdk_iam::Client| async move {
        let live = iam
            .get_role()
            .role_name("AcmeMonitoring")
            .send()
            .await
            .unwrap();
        ecsfleet::integration_role::document::decode(
            live.role().unwrap().assume_role_policy_document().unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        trust(iam.clone()).await["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        external_id.as_str()
    );

    // With no TenancyPolicy, the role carries the default boundary: it can write nothing.
    assert_eq!(
        support::permissions_boundary(&iam, "AcmeMonitoring")
            .await
            .as_deref(),
        Some(ecsfleet::tenancy::READ_ONLY_BOUNDARY)
    );

    // A trust policy opened by hand is closed again within the resync, and counted.
    let open = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    iam.update_assume_role_policy()
        .role_name("AcmeMonitoring")
        .policy_document(open)
        .send()
        .await
        .unwrap();
    eventually(
        "the trust policy to be repaired",
        within_resync,
        Some(&operator),
        || Some(get()).filter(|o| o["status"]["driftRepairs"] == 1),
    )
    .await;
    assert_eq!(
        trust(iam.clone()).await["Statement"][0]["Principal"]["AWS"],
        serde_json::json!(["arn:aws:iam::464622532012:root"])
    );
    let events = plane.kubectl_ok(&["get", "events", "-n", "vendors", "-o", "json"]);
    assert!(
        events.contains("UpdateAssumeRolePolicy"),
        "the repair raised an Event"
    );

    // `kubectl get irole` shows how many policies hold the permissions.
    let table = plane.kubectl_ok(&["get", "irole", "acme", "-n", "vendors"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let column = header.iter().position(|h| *h == "POLICIES").expect(&table);
    assert_eq!(row[column], "1", "{table}");

    // Rotation on request: a new external ID in the same Secret, the trust policy and the
    // hand-over Secret follow, the role is updated in place.
    let role_id = |iam: aws_sdk_iam::Client| async move {
        let live = iam
            .get_role()
            .role_name("AcmeMonitoring")
            .send()
            .await
            .unwrap();
        live.role().unwrap().role_id().to_string()
    };
    let id_before = role_id(iam.clone()).await;
    plane.kubectl_ok(&[
        "annotate",
        "irole",
        "acme",
        "-n",
        "vendors",
        "ecsfleet.dev/rotate-external-id=2026-11-23",
    ]);
    let rotated = eventually(
        "the hand-over Secret to carry a new external ID",
        Duration::from_secs(30),
        Some(&operator),
        || {
            let handover = json(&plane, &["get", "secret", "acme-handover", "-n", "vendors"]);
            let id = decode(&handover, "externalId");
            (id.len() == 40 && id != external_id).then_some(id)
        },
    )
    .await;
    let generated = json(
        &plane,
        &["get", "secret", "acme-external-id", "-n", "vendors"],
    );
    assert_eq!(decode(&generated, "externalId"), rotated);
    assert_eq!(
        trust(iam.clone()).await["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        rotated.as_str()
    );
    assert_eq!(role_id(iam.clone()).await, id_before, "never recreated");
    // Once honoured, the same request rotates nothing more.
    tokio::time::sleep(Duration::from_secs(RESYNC_SECONDS + 1)).await;
    let generated = json(
        &plane,
        &["get", "secret", "acme-external-id", "-n", "vendors"],
    );
    assert_eq!(decode(&generated, "externalId"), rotated);
    let events = plane.kubectl_ok(&["get", "events", "-n", "vendors", "-o", "json"]);
    assert!(
        events.contains("RotateExternalId"),
        "the rotation raised an Event"
    );

    // The generated Secret deleted by hand: the external ID the vendor holds is not lost.
    // The Secret is made again with the ID the role still trusts; nothing changes in IAM.
    let uid_before = generated["metadata"]["uid"].clone();
    plane.kubectl_ok(&["delete", "secret", "acme-external-id", "-n", "vendors"]);
    let remade = eventually(
        "the generated Secret to be made again",
        within_resync,
        Some(&operator),
        || {
            let secret = plane.kubectl(&[
                "get",
                "secret",
                "acme-external-id",
                "-n",
                "vendors",
                "-o",
                "json",
            ]);
            let secret: Value = serde_json::from_slice(&secret.stdout).ok()?;
            (secret["metadata"]["uid"] != uid_before).then_some(secret)
        },
    )
    .await;
    assert_eq!(
        decode(&remade, "externalId"),
        rotated,
        "the same external ID"
    );
    assert_eq!(
        trust(iam.clone()).await["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        rotated.as_str()
    );
    let handover = json(&plane, &["get", "secret", "acme-handover", "-n", "vendors"]);
    assert_eq!(decode(&handover, "externalId"), rotated);

    // A Secret it did not create is never taken over as the hand-over Secret, even by
    // an object that may adopt AWS resources: refused with a condition, its data and
    // owners untouched (a tenant who may only read Secrets would have the operator write
    // one, and the garbage collector delete it).
    let adoption = "apiVersion: ecsfleet.dev/v1alpha1\nkind: TenancyPolicy\nmetadata: {name: ecsfleet}\nspec:\n  rules: [{name: vendors, namespaces: [vendors], grants: {allowAdoption: true}}]\n";
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], adoption)
            .status
            .success()
    );
    plane.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "team-notes",
        "-n",
        "vendors",
        "--from-literal=note=keep me",
    ]);
    plane.kubectl_ok(&[
        "patch",
        "irole",
        "acme",
        "-n",
        "vendors",
        "--type=merge",
        "-p",
        r#"{"spec":{"outputSecretName":"team-notes","adoptExisting":true}}"#,
    ]);
    let refused = eventually(
        "the foreign Secret to be refused",
        Duration::from_secs(30),
        Some(&operator),
        || condition(&get(), "Synced").filter(|c| c.0 == "False" && c.1 == "OwnedByOther"),
    )
    .await;
    assert!(
        refused.2.contains("Secret vendors/team-notes"),
        "{refused:?}"
    );
    let notes = json(&plane, &["get", "secret", "team-notes", "-n", "vendors"]);
    assert_eq!(decode(&notes, "note"), "keep me");
    assert!(notes["data"].get("externalId").is_none(), "not written");
    assert!(
        notes["metadata"].get("ownerReferences").is_none(),
        "not owned"
    );
    plane.kubectl_ok(&[
        "patch",
        "irole",
        "acme",
        "-n",
        "vendors",
        "--type=merge",
        "-p",
        r#"{"spec":{"outputSecretName":"acme-handover","adoptExisting":false}}"#,
    ]);
    eventually(
        "the role to be Ready again",
        Duration::from_secs(30),
        Some(&operator),
        || Some(get()).filter(ready_and_current),
    )
    .await;

    // The external IDs (old and new) are nowhere but in their Secrets.
    let status = serde_json::to_string(&get()["status"]).unwrap();
    let logs = operator.logs();
    for (place, text) in [
        ("status", &status),
        ("events", &events),
        ("operator log", &logs),
    ] {
        for id in [&external_id, &rotated] {
            assert!(
                !text.contains(id.as_str()),
                "an external ID leaked into the {place}"
            );
        }
    }

    // kubectl delete → role and policy gone; the owned Secrets are garbage-collected.
    plane.kubectl_ok(&["delete", "irole", "acme", "-n", "vendors", "--timeout=60s"]);
    assert!(
        iam.get_role()
            .role_name("AcmeMonitoring")
            .send()
            .await
            .is_err(),
        "the role is deleted"
    );
    eventually(
        "the owned Secrets to be garbage-collected",
        Duration::from_secs(60),
        Some(&operator),
        || {
            let left = plane.kubectl(&[
                "get",
                "secret",
                "acme-external-id",
                "acme-handover",
                "-n",
                "vendors",
                "--ignore-not-found",
                "-o",
                "name",
            ]);
            String::from_utf8_lossy(&left.stdout)
                .trim()
                .is_empty()
                .then_some(())
        },
    )
    .await;
    let logs = operator.logs();
    assert!(operator.stop());
    assert!(
        !logs.contains("forbidden"),
        "the operator hit an RBAC refusal:\n{logs}"
    );
}
