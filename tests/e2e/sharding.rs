//! Sharding end to end: three replicas share the work through per-shard Leases; every
//! object is labelled with its shard and watched by its replica alone; every object is
//! reconciled by exactly one of them; a replica killed with SIGKILL has its shards taken
//! over once their Leases expire, without a duplicate AWS write; and replicas joining and
//! leaving while objects are being created lose none and write nothing twice.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ecsfleet::runtime::shards::{ShardKey, preferred, shard_of};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::support::control_plane::{ControlPlane, Operator};
use crate::*;

const SHARDS: u32 = 12;
const LEASE_SECONDS: u64 = 6;
const NAMESPACES: usize = 6;

fn role_yaml(namespace: &str, action: &str) -> String {
    format!(
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: IntegrationRole\nmetadata: {{name: vendor, namespace: {namespace}}}\nspec:\n  roleName: vendor-{namespace}\n  trust: {{principals: ['464622532012'], allowWithoutExternalId: true}}\n  policy:\n    statements: [{{actions: ['ec2:Describe*', '{action}']}}]\n"
    )
}

fn shard_of_namespace(namespace: &str) -> u32 {
    let meta = ObjectMeta {
        namespace: Some(namespace.into()),
        ..ObjectMeta::default()
    };
    shard_of(&meta, None, ShardKey::Namespace, SHARDS)
}

/// The holder of each shard Lease, as the API server has it.
fn holders(plane: &ControlPlane) -> BTreeMap<u32, String> {
    let leases = json(plane, &["get", "leases", "-n", "ecsfleet-system"]);
    let mut holders = BTreeMap::new();
    for lease in leases["items"].as_array().unwrap() {
        let name = lease["metadata"]["name"].as_str().unwrap_or_default();
        if let Some(shard) = name.strip_prefix("ecsfleet-shard-")
            && let Some(holder) = lease["spec"]["holderIdentity"].as_str()
        {
            holders.insert(shard.parse().unwrap(), holder.to_string());
        }
    }
    holders
}

/// [`prepared`], with the CRDs and `count` namespaces `<prefix>-<i>`.
fn prepared_with_namespaces(
    prefix: &str,
    count: usize,
) -> (
    ControlPlane,
    support::Emulator,
    std::path::PathBuf,
    Vec<String>,
) {
    let (plane, emulator, kubeconfig) = prepared();
    plane.kubectl_ok(&[
        "apply",
        "-f",
        &support::repo_root().join("crds").display().to_string(),
    ]);
    let namespaces: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    for namespace in &namespaces {
        plane.kubectl_ok(&["create", "namespace", namespace]);
    }
    (plane, emulator, kubeconfig, namespaces)
}

/// The replica rendezvous hashing picks for each shard among `members`.
fn preferred_holders(members: &[String]) -> BTreeMap<u32, String> {
    (0..SHARDS)
        .map(|s| (s, preferred(s, members).unwrap().to_string()))
        .collect()
}

/// Waits up to `seconds` until the shard Leases are held as `expected` says.
async fn held_as(plane: &ControlPlane, expected: &BTreeMap<u32, String>, what: &str, seconds: u64) {
    eventually(what, Duration::from_secs(seconds), None, || {
        (holders(plane) == *expected).then_some(())
    })
    .await;
}

/// Creates the membership Lease of a replica `name` last renewed `age_seconds` ago.
fn member_lease(plane: &ControlPlane, name: &str, age_seconds: u64) {
    let renewed = k8s_openapi::jiff::Timestamp::now()
        - k8s_openapi::jiff::SignedDuration::from_secs(age_seconds as i64);
    let yaml = format!(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{name: ecsfleet-member-{name}, namespace: ecsfleet-system}}\nspec: {{holderIdentity: {name}, leaseDurationSeconds: {LEASE_SECONDS}, acquireTime: '{time}', renewTime: '{time}'}}\n",
        time = renewed.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
    );
    let output = plane.kubectl_input(&["apply", "-f", "-"], &yaml);
    assert!(output.status.success(), "{output:?}");
}

/// The names of the membership Leases, space-separated.
fn member_leases(plane: &ControlPlane) -> String {
    plane.kubectl_ok(&[
        "get",
        "leases",
        "-n",
        "ecsfleet-system",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ])
}

/// Waits until the IntegrationRole of `namespace` is Ready for its current generation.
async fn role_ready(plane: &ControlPlane, namespace: &str, what: &str) {
    eventually(
        &format!("{namespace}/vendor {what}"),
        Duration::from_secs(60),
        None,
        || {
            Some(json(
                plane,
                &["get", "integrationrole", "vendor", "-n", namespace],
            ))
            .filter(ready_and_current)
        },
    )
    .await;
}

/// Waits until each of `replicas` watches exactly the objects of `namespaces` in the
/// shards `holders` gives it.
async fn watched_as_held(
    replicas: &BTreeMap<&str, Operator>,
    namespaces: &[String],
    holders: &BTreeMap<u32, String>,
) {
    for (name, replica) in replicas {
        let held = namespaces
            .iter()
            .filter(|ns| holders[&shard_of_namespace(ns)] == *name)
            .count() as u64;
        eventually(
            &format!("{name} to watch its {held} objects and no other"),
            Duration::from_secs(20),
            Some(replica),
            || {
                let watched = replica.metric(r#"ecsfleet_watched_objects{kind="IntegrationRole"}"#);
                (watched == held).then_some(())
            },
        )
        .await;
    }
}

/// The CreateRole calls the replicas made, together.
fn created_roles<'a>(replicas: impl Iterator<Item = &'a Operator>) -> u64 {
    replicas
        .map(|r| r.aws_calls().get("CreateRole").copied().unwrap_or(0))
        .sum()
}

/// The log lines of `operator` that report an AWS write for objects in `namespace`.
fn writes_for(operator: &Operator, namespace: &str) -> usize {
    let object = format!("object={namespace}/vendor");
    operator
        .logs()
        .lines()
        .filter(|l| l.contains(&object) && l.contains(" applied"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_the_objects_and_take_over_a_killed_one() {
    let (plane, emulator, kubeconfig, namespaces) = prepared_with_namespaces("team", NAMESPACES);
    // Membership Leases of replicas gone before this run: one expired a moment ago (not a
    // member any more, but kept), one gone for an hour (past ten lease durations: deleted).
    let lately = Instant::now();
    member_lease(&plane, "gone-lately", LEASE_SECONDS + 1);
    member_lease(&plane, "gone-long-ago", 3600);
    let names = ["replica-a", "replica-b", "replica-c"];
    let members: Vec<String> = names.map(String::from).to_vec();
    let start = |name: &str| {
        replica(
            &plane,
            &emulator,
            &kubeconfig,
            name,
            &["--resync", "5s", "--shards", "12"],
        )
    };
    let mut replicas: BTreeMap<&str, Operator> = names.iter().map(|n| (*n, start(n))).collect();

    // Every shard ends with the live replica rendezvous hashing prefers for it.
    let expected = preferred_holders(&members);
    // Each replica has a share (rendezvous hashing spreads the shards over them).
    for member in &members {
        assert!(
            expected.values().any(|m| m == member),
            "{member} holds none of {expected:?}"
        );
    }
    held_as(
        &plane,
        &expected,
        "every shard held by its preferred replica",
        60,
    )
    .await;
    // The replica gone lately held no shard above (it is no member); only the one gone
    // for an hour is cleaned up.
    eventually(
        "the Lease of a replica gone for an hour deleted",
        Duration::from_secs(20),
        replicas.get("replica-a"),
        || (!member_leases(&plane).contains("gone-long-ago")).then_some(()),
    )
    .await;
    if lately.elapsed() < Duration::from_secs(9 * LEASE_SECONDS) {
        assert!(member_leases(&plane).contains("gone-lately"));
    }
    all_ready(replicas.values()).await;

    for namespace in &namespaces {
        let output = plane.kubectl_input(
            &["apply", "-f", "-"],
            &role_yaml(namespace, "cloudwatch:Get*"),
        );
        assert!(output.status.success());
    }
    for namespace in &namespaces {
        role_ready(&plane, namespace, "to become Ready").await;
    }
    // Each object's writes were made by the replica holding its shard, and by no other.
    for namespace in &namespaces {
        let owner = &expected[&shard_of_namespace(namespace)];
        for (name, replica) in &replicas {
            let writes = writes_for(replica, namespace);
            if name == owner {
                assert!(writes > 0, "{name} owns {namespace} and wrote nothing");
            } else {
                assert_eq!(writes, 0, "{name} wrote for {namespace}, owned by {owner}");
            }
        }
    }
    let created = created_roles(replicas.values());
    assert_eq!(created, NAMESPACES as u64, "one CreateRole per object");
    // Each object carries its shard; each replica lists and keeps only its shards'.
    for namespace in &namespaces {
        let role = json(
            &plane,
            &["get", "integrationrole", "vendor", "-n", namespace],
        );
        let labels = &role["metadata"]["labels"];
        assert_eq!(
            labels["ecsfleet.dev/shard"],
            shard_of_namespace(namespace).to_string()
        );
        assert_eq!(labels["ecsfleet.dev/shards"], SHARDS.to_string());
    }
    watched_as_held(&replicas, &namespaces, &expected).await;

    // SIGKILL the replica that owns the most objects; its shards go to the others once
    // their Leases expire, and a change to one of its objects is applied by the new owner.
    let victim = *names
        .iter()
        .max_by_key(|name| {
            namespaces
                .iter()
                .filter(|ns| expected[&shard_of_namespace(ns)] == **name)
                .count()
        })
        .unwrap();
    let orphaned: Vec<&String> = namespaces
        .iter()
        .filter(|ns| expected[&shard_of_namespace(ns)] == victim)
        .collect();
    assert!(!orphaned.is_empty());
    let before_kill = replicas[victim].aws_calls();
    replicas.remove(victim).unwrap().kill();
    let killed = Instant::now();
    let survivors: Vec<String> = members.iter().filter(|m| *m != victim).cloned().collect();
    let after = preferred_holders(&survivors);
    held_as(&plane, &after, "the killed replica's shards taken over", 30).await;
    let taken_after = killed.elapsed();
    // Its Leases expire LEASE_SECONDS after its last renewal at the latest; survivors look
    // every fifth of that. Allow one look and the test's own polling.
    assert!(
        taken_after < Duration::from_secs(LEASE_SECONDS + LEASE_SECONDS / 5 + 2),
        "took {taken_after:?}"
    );

    // The new owners reconcile the objects of the shards they took at once (not at a
    // watch event or a resync they never scheduled): each reports them Ready.
    for namespace in &orphaned {
        let owner = &replicas[after[&shard_of_namespace(namespace)].as_str()];
        let series = format!(
            "ecsfleet_object_ready{{kind=\"IntegrationRole\",namespace=\"{namespace}\",name=\"vendor\"}} 1"
        );
        eventually(
            &format!("{namespace}/vendor reconciled by its new owner"),
            Duration::from_secs(10),
            Some(owner),
            || {
                owner
                    .get("/metrics")
                    .filter(|(_, text)| text.contains(&series))
            },
        )
        .await;
    }

    watched_as_held(&replicas, &namespaces, &after).await;

    let changed = orphaned[0];
    let output = plane.kubectl_input(&["apply", "-f", "-"], &role_yaml(changed, "logs:Describe*"));
    assert!(output.status.success());
    let new_owner = &after[&shard_of_namespace(changed)];
    role_ready(&plane, changed, "with the change applied by the new owner").await;
    assert!(writes_for(&replicas[new_owner.as_str()], changed) > 0);

    // Exactly one of everything: no role made twice, one policy version per change.
    let created =
        before_kill.get("CreateRole").copied().unwrap_or(0) + created_roles(replicas.values());
    assert_eq!(created, NAMESPACES as u64, "no duplicate CreateRole");
    let iam = aws_sdk_iam::Client::new(&emulator.sdk_config().await);
    let roles = iam.list_roles().send().await.unwrap();
    assert_eq!(
        roles
            .roles()
            .iter()
            .filter(|r| r.role_name().starts_with("vendor-team-"))
            .count(),
        NAMESPACES
    );
    let policies = iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .unwrap();
    for policy in policies.policies() {
        let versions = iam
            .list_policy_versions()
            .policy_arn(policy.arn().unwrap())
            .send()
            .await
            .unwrap();
        let expected_versions = if policy
            .policy_name()
            .unwrap_or_default()
            .contains(changed.as_str())
        {
            2
        } else {
            1
        };
        assert_eq!(
            versions.versions().len(),
            expected_versions,
            "{:?}",
            policy.policy_name()
        );
    }

    // A graceful stop hands its shards over at once, not after expiry.
    let (leaving, leaving_op) = replicas.pop_first().unwrap();
    let stopped = Instant::now();
    assert!(leaving_op.stop(), "{leaving} exits 0 on SIGTERM");
    let last: Vec<String> = survivors
        .iter()
        .filter(|m| *m != leaving)
        .cloned()
        .collect();
    eventually(
        "every shard held by the last replica",
        Duration::from_secs(30),
        None,
        || {
            let holders = holders(&plane);
            (holders.len() == SHARDS as usize && holders.values().all(|h| *h == last[0]))
                .then_some(())
        },
    )
    .await;
    assert!(
        stopped.elapsed() < Duration::from_secs(LEASE_SECONDS),
        "handed over in {:?}",
        stopped.elapsed()
    );
}

/// An IntegrationRole `vendor-{index}` of `namespace`, for the load below.
fn loaded_role_yaml(namespace: &str, index: usize) -> String {
    format!(
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: IntegrationRole\nmetadata: {{name: vendor-{index}, namespace: {namespace}}}\nspec:\n  roleName: load-{namespace}-{index}\n  trust: {{principals: ['464622532012'], allowWithoutExternalId: true}}\n  policy:\n    statements: [{{actions: ['ec2:Describe*']}}]\n"
    )
}

/// The AWS writes of every replica's log, by (object, action).
fn writes_by_object(logs: &[String]) -> BTreeMap<(String, String), usize> {
    let field = |line: &str, name: &str| {
        line.split(&format!("{name}="))
            .nth(1)
            .and_then(|rest| rest.split([' ', '}', ':']).next())
            .map(str::to_string)
    };
    let mut writes = BTreeMap::new();
    for line in logs.iter().flat_map(|log| log.lines()) {
        if !line.contains(" applied ") {
            continue;
        }
        if let (Some(object), Some(action)) = (field(line, "object"), field(line, "action")) {
            *writes.entry((object, action)).or_default() += 1;
        }
    }
    writes
}

/// The longest time any shard had no holder, from samples of the shard Leases.
fn longest_unheld(samples: &[(Instant, BTreeMap<u32, String>)]) -> Duration {
    let mut since: BTreeMap<u32, Instant> = BTreeMap::new();
    let mut longest = Duration::ZERO;
    for (at, holders) in samples {
        for shard in 0..SHARDS {
            if holders.contains_key(&shard) {
                if let Some(start) = since.remove(&shard) {
                    longest = longest.max(*at - start);
                }
            } else {
                since.entry(shard).or_insert(*at);
            }
        }
    }
    if let Some((at, _)) = samples.last() {
        for start in since.values() {
            longest = longest.max(*at - *start);
        }
    }
    longest
}

/// Replicas join and leave while 40 objects are being created: every object ends Ready,
/// made by exactly one write of each kind, no shard stays without a holder for as long
/// as a Lease lasts, and each replica ends watching its own shards' objects alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_join_and_leave_under_load_without_loss_or_double_writes() {
    const TEAMS: usize = 20;
    const PER_TEAM: usize = 2;
    let (plane, emulator, kubeconfig, namespaces) = prepared_with_namespaces("load", TEAMS);
    let start = |name: &str| {
        replica(
            &plane,
            &emulator,
            &kubeconfig,
            name,
            &["--resync", "5s", "--shards", &SHARDS.to_string()],
        )
    };
    let mut replicas: BTreeMap<&str, Operator> = ["replica-a", "replica-b"]
        .into_iter()
        .map(|name| (name, start(name)))
        .collect();
    all_ready(replicas.values()).await;
    eventually("every shard held", Duration::from_secs(30), None, || {
        (holders(&plane).len() == SHARDS as usize).then_some(())
    })
    .await;

    let manifests: Vec<String> = namespaces
        .iter()
        .flat_map(|ns| (0..PER_TEAM).map(move |i| loaded_role_yaml(ns, i)))
        .collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    let sample = async {
        let mut samples = Vec::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            samples.push((Instant::now(), holders(&plane)));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        samples
    };
    let mut logs = Vec::new();
    let churn = async {
        let output = plane.kubectl_input(&["apply", "-f", "-"], &manifests.join("---\n"));
        assert!(output.status.success(), "{output:?}");
        // A third replica joins while the objects are reconciled: shards move to it.
        replicas.insert("replica-c", start("replica-c"));
        tokio::time::sleep(Duration::from_secs(3)).await;
        // The first leaves while the work goes on: it hands its shards over.
        let leaving = replicas.remove("replica-a").unwrap();
        assert!(leaving.stop(), "replica-a exits 0 on SIGTERM");
        logs.push(std::fs::read_to_string(plane.dir.path().join("replica-a.log")).unwrap());
        for namespace in &namespaces {
            for index in 0..PER_TEAM {
                let name = format!("vendor-{index}");
                eventually(
                    &format!("{namespace}/{name} Ready"),
                    Duration::from_secs(90),
                    replicas.get("replica-b"),
                    || {
                        Some(json(
                            &plane,
                            &["get", "integrationrole", &name, "-n", namespace],
                        ))
                        .filter(ready_and_current)
                    },
                )
                .await;
            }
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let (samples, ()) = tokio::join!(sample, churn);
    let left = logs.pop().unwrap();
    let mut all_logs: Vec<String> = replicas.values().map(Operator::logs).collect();
    all_logs.push(left);

    // Exactly one of every write, whichever replica made it.
    let writes = writes_by_object(&all_logs);
    let created = writes
        .iter()
        .filter(|((_, action), _)| action == "CreateRole")
        .count();
    assert_eq!(created, TEAMS * PER_TEAM, "{writes:#?}");
    let twice: Vec<_> = writes.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "written twice: {twice:#?}");

    let unheld = longest_unheld(&samples);
    assert!(
        unheld < Duration::from_secs(LEASE_SECONDS),
        "a shard had no holder for {unheld:?}"
    );

    // The two replicas left hold every shard and watch exactly their objects.
    let members: Vec<String> = ["replica-b", "replica-c"].map(String::from).to_vec();
    let last = preferred_holders(&members);
    held_as(&plane, &last, "every shard with b or c", 30).await;
    let objects: Vec<String> = namespaces
        .iter()
        .flat_map(|ns| std::iter::repeat_n(ns.clone(), PER_TEAM))
        .collect();
    watched_as_held(&replicas, &objects, &last).await;
}
