//! `plan`, `apply` and `delete` over objects read from files: the same pipeline as the
//! controller, with no cluster.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;

use kube::ResourceExt;
use serde::Serialize;

use super::args::{AwsArgs, FileArgs, Output, PlanArgs};
use super::cluster;
use super::files::{self, Object};
use crate::Result;
use crate::aws::AwsFactory;
use crate::common::{DeletionPolicy, namespace_of};
use crate::daemon_service::cache::EcsObserver;
use crate::daemon_service::{self, DaemonService};
use crate::integration_role::IntegrationRole;
use crate::metrics::Metrics;
use crate::runtime::secrets::Secrets;
use crate::runtime::{Directory, Env, Managed, Pipeline, PlannedChange};
use crate::scaling_group::ScalingGroup;
use crate::tenancy::{POLICY_NAME, Tenancy, TenancyPolicy};

/// One object's result, as `--output json` prints it.
#[derive(Debug, Serialize)]
struct Report {
    kind: &'static str,
    namespace: String,
    name: String,
    changes: Vec<PlannedChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorReport>,
}

#[derive(Debug, Serialize)]
struct ErrorReport {
    reason: String,
    message: String,
}

#[derive(Clone, Copy)]
pub enum Verb {
    Plan,
    Apply,
    Delete,
}

/// One pipeline per kind, sharing one environment.
struct Pipelines {
    daemon_services: Pipeline<DaemonService>,
    integration_roles: Pipeline<IntegrationRole>,
    scaling_groups: Pipeline<ScalingGroup>,
}

/// Runs `plan`, `apply` or `delete` over the objects in the files. Returns the exit code.
pub async fn run_files(args: &FileArgs, verb: Verb) -> Result<ExitCode> {
    let loaded = files::load(&args.paths)?;
    let peers = daemon_services(&loaded.objects);
    let tenancy = loaded.tenancy();
    let secrets = Secrets::Files(loaded.secrets);
    let context = RunContext {
        secrets,
        tenancy,
        peers,
    };
    run_objects(&loaded.objects, context, &args.aws, args.output, verb).await
}

/// `plan`, from files, or with `--from-cluster` as the running controller would see it.
pub async fn run_plan(args: &PlanArgs) -> Result<ExitCode> {
    if !args.from_cluster {
        let loaded = files::load(&args.paths)?;
        let peers = daemon_services(&loaded.objects);
        let tenancy = loaded.tenancy();
        let secrets = Secrets::Files(loaded.secrets);
        let context = RunContext {
            secrets,
            tenancy,
            peers,
        };
        return run_objects(&loaded.objects, context, &args.aws, args.output, Verb::Plan).await;
    }
    let client = cluster::client(args.context.as_deref()).await?;
    let live = cluster::live_objects(&client, args.namespace.as_deref()).await?;
    let objects = if args.paths.is_empty() {
        live.clone()
    } else {
        cluster::with_live_identity(files::load(&args.paths)?.objects, &live)
    };
    // The controller sees every DaemonService of the cluster; those of the files in place
    // of their live versions.
    let planned: BTreeSet<(String, String)> =
        objects.iter().map(|o| (o.namespace(), o.name())).collect();
    let mut peers = daemon_services(&objects);
    peers.extend(
        daemon_services(&live)
            .into_iter()
            .filter(|o| !planned.contains(&(namespace_of(&o.metadata), o.name_any()))),
    );
    // The cluster's policy, as its controller judges the objects (none: the defaults).
    let policy = kube::Api::<TenancyPolicy>::all(client.clone())
        .get_opt(POLICY_NAME)
        .await?;
    let context = RunContext {
        secrets: Secrets::Cluster(client),
        tenancy: Tenancy::Fixed(policy.map(Arc::new)),
        peers,
    };
    run_objects(&objects, context, &args.aws, args.output, Verb::Plan).await
}

fn daemon_services(objects: &[Object]) -> Vec<DaemonService> {
    objects
        .iter()
        .filter_map(|object| match object {
            Object::DaemonService(o) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

/// Where a CLI run reads Secrets and the tenancy policy from, and the DaemonServices it
/// sees.
struct RunContext {
    secrets: Secrets,
    tenancy: Tenancy,
    peers: Vec<DaemonService>,
}

async fn run_objects(
    objects: &[Object],
    context: RunContext,
    aws: &AwsArgs,
    output: Output,
    verb: Verb,
) -> Result<ExitCode> {
    let aws = AwsFactory::load(&aws.settings(), Metrics::default()).await;
    let env = Env::new(aws, context.secrets).with_tenancy(context.tenancy);
    let peers = Directory::Fixed(Arc::new(context.peers));
    let pipelines = Pipelines {
        daemon_services: Pipeline::new(
            env.clone(),
            daemon_service::Shared::new(EcsObserver::ONE_SHOT, peers, &env.hosts),
        ),
        integration_roles: Pipeline::new(env.clone(), ()),
        scaling_groups: Pipeline::new(env, ()),
    };
    let mut reports = Vec::new();
    for object in objects {
        let result = match object {
            Object::DaemonService(obj) => run_one(obj, &pipelines.daemon_services, verb).await,
            Object::IntegrationRole(obj) => run_one(obj, &pipelines.integration_roles, verb).await,
            Object::ScalingGroup(obj) => {
                run_one(obj.as_ref(), &pipelines.scaling_groups, verb).await
            }
        };
        let (changes, status, error) = match result {
            Ok((changes, status)) => (changes, status, None),
            Err(error) => (
                Vec::new(),
                None,
                Some(ErrorReport {
                    reason: error.reason().to_string(),
                    message: error.redacted(),
                }),
            ),
        };
        reports.push(Report {
            kind: object.kind(),
            namespace: object.namespace(),
            name: object.name(),
            changes,
            status,
            error,
        });
    }
    print_reports(&reports, output, verb);
    let failed = reports.iter().any(|r| r.error.is_some());
    let pending = reports.iter().any(|r| !r.changes.is_empty());
    Ok(match (failed, verb, pending) {
        (true, _, _) => ExitCode::from(1),
        (false, Verb::Plan, true) => ExitCode::from(2),
        _ => ExitCode::SUCCESS,
    })
}

async fn run_one<K: Managed>(
    obj: &K,
    pipeline: &Pipeline<K>,
    verb: Verb,
) -> Result<(Vec<PlannedChange>, Option<serde_json::Value>)> {
    match verb {
        Verb::Plan => Ok((pipeline.plan(obj).await?, None)),
        Verb::Apply => {
            let outcome = pipeline.sync(obj).await?;
            let status = serde_json::to_value(&outcome.status).ok();
            Ok((outcome.applied, status))
        }
        Verb::Delete => {
            if obj.common_spec().deletion_policy == DeletionPolicy::Orphan {
                return Ok((Vec::new(), None));
            }
            Ok((pipeline.delete(obj).await?, None))
        }
    }
}

fn print_reports(reports: &[Report], output: Output, verb: Verb) {
    if output == Output::Json {
        let document = serde_json::json!({ "resources": reports });
        println!(
            "{}",
            serde_json::to_string_pretty(&document).expect("reports serialize")
        );
        return;
    }
    for report in reports {
        let id = format!("{} {}/{}", report.kind, report.namespace, report.name);
        if let Some(error) = &report.error {
            eprintln!("error: {id}: {} ({})", error.message, error.reason);
            continue;
        }
        let verdict = match (verb, report.changes.len()) {
            (Verb::Plan, 0) => "in sync".to_string(),
            (Verb::Plan, n) => format!("{n} change(s) pending"),
            (Verb::Apply, 0) => "in sync, nothing to do".to_string(),
            (Verb::Apply, n) => format!("applied {n} change(s)"),
            (Verb::Delete, 0) => "nothing to delete".to_string(),
            (Verb::Delete, n) => format!("{n} clean-up step(s) done"),
        };
        println!("{id}: {verdict}");
        for change in &report.changes {
            println!("  {change}");
        }
        if let Some(status) = &report.status {
            println!("  status: {}", summarize(status));
        }
    }
}

/// `key=value` pairs of the status's short scalar fields (`--output json` has them all).
fn summarize(status: &serde_json::Value) -> String {
    status
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .filter(|(_, v)| {
                    v.is_number() || v.as_str().is_some_and(|s| !s.starts_with("arn:"))
                })
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
