//! The command line: `run`, `crds`, `plan`, `apply`, `delete`.

pub mod files;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kube::CustomResourceExt;
use serde::Serialize;

use crate::aws::{AwsFactory, AwsSettings};
use crate::common::DeletionPolicy;
use crate::daemon_service::DaemonService;
use crate::integration_role::IntegrationRole;
use crate::runtime::controller::{Context, Controllers, Settings};
use crate::runtime::http::{self, Health};
use crate::runtime::lease::LeaderElector;
use crate::runtime::metrics::Metrics;
use crate::runtime::secrets::Secrets;
use crate::runtime::{Directory, Env, Managed, PlannedChange};
use crate::scaling_group::ScalingGroup;
use crate::{Error, Result};

#[derive(Debug, Parser)]
#[command(
    name = "ecsfleet",
    version,
    about = "Keeps AWS infrastructure in the shape declared by Kubernetes custom resources"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "ECSFLEET_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the in-cluster controller.
    Run(RunArgs),
    /// Print the CustomResourceDefinitions as YAML (what crds/ holds).
    Crds {
        /// Write one file per CRD into this folder instead of printing.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Show what apply would change; writes nothing. Exit 0 in sync, 2 changes pending, 1 error.
    Plan(FileArgs),
    /// Reconcile each object in the files once; no cluster needed.
    Apply(FileArgs),
    /// Clean up as the finalizer would (honours deletionPolicy).
    Delete(FileArgs),
}

#[derive(Debug, Args)]
pub struct AwsArgs {
    /// Default AWS region of objects without spec.region.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Send every AWS call to this endpoint (an emulator).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
}

impl AwsArgs {
    fn settings(&self) -> AwsSettings {
        AwsSettings {
            region: self.region.clone(),
            endpoint_url: self.aws_endpoint_url.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Watch only this namespace (repeatable); all namespaces when absent.
    #[arg(long = "namespace")]
    pub namespaces: Vec<String>,
    /// How often every object is reconciled even without a change, e.g. 60s, 5m.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub resync: Duration,
    /// Reconciles of one kind at a time.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Where /livez, /readyz and /metrics are served.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: std::net::SocketAddr,
    /// Run as one of several replicas: only the holder of a Lease reconciles.
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the Lease (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "ecsfleet-system")]
    pub leader_elect_namespace: String,
    /// How long a Lease stays valid without renewal; a standby takes over after it.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub leader_elect_lease_duration: Duration,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct FileArgs {
    /// Files or folders of multi-document YAML.
    #[arg(short = 'f', long = "filename", required = true)]
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// `30s`, `5m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map(|at| text.split_at(at))
        .unwrap_or((text, "s"));
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 60s"))?;
    let seconds = match unit {
        "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        _ => return Err(format!("{text:?}: use s, m or h")),
    };
    if seconds == 0 {
        return Err("must be more than zero".into());
    }
    Ok(Duration::from_secs(seconds))
}

/// An object of one of our kinds, read from a file.
#[derive(Clone, Debug)]
pub enum Object {
    DaemonService(DaemonService),
    IntegrationRole(IntegrationRole),
    ScalingGroup(Box<ScalingGroup>),
}

impl Object {
    fn kind(&self) -> &'static str {
        match self {
            Object::DaemonService(_) => "DaemonService",
            Object::IntegrationRole(_) => "IntegrationRole",
            Object::ScalingGroup(_) => "ScalingGroup",
        }
    }

    fn meta(&self) -> &kube::api::ObjectMeta {
        match self {
            Object::DaemonService(o) => &o.metadata,
            Object::IntegrationRole(o) => &o.metadata,
            Object::ScalingGroup(o) => &o.metadata,
        }
    }

    fn namespace(&self) -> String {
        self.meta().namespace.clone().unwrap_or_default()
    }

    fn name(&self) -> String {
        self.meta().name.clone().unwrap_or_default()
    }
}

/// The CRDs, in the order of `crds/`.
pub fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    vec![
        DaemonService::crd(),
        IntegrationRole::crd(),
        ScalingGroup::crd(),
    ]
}

/// The YAML of one CRD, as committed under `crds/`.
pub fn crd_yaml(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> String {
    serde_yaml_ng::to_string(crd).expect("a CRD serializes")
}

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
enum Verb {
    Plan,
    Apply,
    Delete,
}

/// Runs `plan`, `apply` or `delete` over the objects in the files. Returns the exit code.
async fn run_files(args: &FileArgs, verb: Verb) -> Result<ExitCode> {
    let loaded = files::load(&args.paths)?;
    let aws = AwsFactory::load(&args.aws.settings(), Metrics::default()).await;
    let mut env = Env::new(
        aws,
        Secrets::Files(loaded.secrets),
        Duration::from_secs(300),
    );
    env.daemon_services = Directory::Fixed(Arc::new(
        loaded
            .objects
            .iter()
            .filter_map(|object| match object {
                Object::DaemonService(o) => Some(o.clone()),
                _ => None,
            })
            .collect(),
    ));
    let mut reports = Vec::new();
    for object in &loaded.objects {
        let result = match object {
            Object::DaemonService(obj) => run_one(obj, &env, verb).await,
            Object::IntegrationRole(obj) => run_one(obj, &env, verb).await,
            Object::ScalingGroup(obj) => run_one(obj.as_ref(), &env, verb).await,
        };
        let (changes, status, error) = match result {
            Ok((changes, status)) => (changes, status, None),
            Err(error) => (
                Vec::new(),
                None,
                Some(ErrorReport {
                    reason: error.reason().to_string(),
                    message: error.to_string(),
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
    print_reports(&reports, args.output, verb);
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
    env: &Env,
    verb: Verb,
) -> Result<(Vec<PlannedChange>, Option<serde_json::Value>)> {
    match verb {
        Verb::Plan => Ok((obj.plan(env).await?, None)),
        Verb::Apply => {
            let outcome = obj.sync(env).await?;
            let status = serde_json::to_value(&outcome.status).ok();
            Ok((outcome.applied, status))
        }
        Verb::Delete => {
            if obj.common_spec().deletion_policy == DeletionPolicy::Orphan {
                return Ok((Vec::new(), None));
            }
            Ok((obj.cleanup(env).await?, None))
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

async fn run_controller(args: &RunArgs) -> Result<ExitCode> {
    let client = kube::Client::try_default().await?;
    let metrics = Metrics::default();
    let health = Health::default();
    http::serve(args.metrics_addr, health.clone(), metrics.clone())
        .await
        .map_err(|e| Error::Config(format!("--metrics-addr {}: {e}", args.metrics_addr)))?;

    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let on_signal = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing reconciles in flight");
        let _ = on_signal.send(true);
    });

    let elector = match args.leader_elect {
        false => None,
        true => {
            let elector = LeaderElector::new(
                client.clone(),
                &args.leader_elect_namespace,
                "ecsfleet",
                identity(),
                args.leader_elect_lease_duration,
            );
            if !wait_to_lead(&elector, &health, shutdown.clone()).await {
                return Ok(ExitCode::SUCCESS);
            }
            Some(Arc::new(elector))
        }
    };
    let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(elector) = &elector {
        tokio::spawn(keep_leading(
            elector.clone(),
            stop.clone(),
            shutdown.clone(),
            lost.clone(),
        ));
    }

    let aws = AwsFactory::load(&args.aws.settings(), metrics).await;
    // Observations serve other objects of the same cluster for a short while only, so a
    // resync always sees the cluster as it is.
    let freshness = (args.resync / 4).clamp(Duration::from_secs(1), Duration::from_secs(15));
    let mut env = Env::new(aws, Secrets::Cluster(client.clone()), freshness);
    let settings = Settings {
        namespaces: args.namespaces.clone(),
        resync: args.resync,
        concurrency: args.concurrency,
    };
    // A ScalingGroup whose instances change makes the DaemonServices of its ECS cluster
    // look again, without waiting for their resync.
    let default_region = env.aws.default_region();
    let daemon_services =
        Controllers::<DaemonService>::new(&client, &settings).reconcile_on(|store| {
            crate::daemon_service::reconciles_for_cluster_changes(
                store,
                env.cluster_changes(),
                default_region.clone(),
            )
        });
    let integration_roles = Controllers::<IntegrationRole>::new(&client, &settings);
    let scaling_groups = Controllers::<ScalingGroup>::new(&client, &settings);
    env.daemon_services = Directory::Stores(daemon_services.stores());
    let (service_stores, role_stores, group_stores) = (
        daemon_services.stores(),
        integration_roles.stores(),
        scaling_groups.stores(),
    );
    let synced = health.clone();
    tokio::spawn(async move {
        for store in &service_stores {
            let _ = store.wait_until_ready().await;
        }
        for store in &role_stores {
            let _ = store.wait_until_ready().await;
        }
        for store in &group_stores {
            let _ = store.wait_until_ready().await;
        }
        synced.set_watches_synced();
    });
    let context = Arc::new(Context::new(client, env, settings));
    tracing::info!(namespaces = ?args.namespaces, resync = ?args.resync, "ecsfleet controller starting");
    // Each kind has its own watch and its own bound on concurrent reconciles.
    tokio::join!(
        daemon_services.run(context.clone(), shutdown.clone()),
        integration_roles.run(Arc::new(context.for_another_kind()), shutdown.clone()),
        scaling_groups.run(Arc::new(context.for_another_kind()), shutdown),
    );
    if lost.load(std::sync::atomic::Ordering::SeqCst) {
        tracing::error!("stopped: the leader Lease was lost");
        return Ok(ExitCode::from(1));
    }
    if let Some(elector) = elector {
        // In-flight reconciles are done: hand over at once instead of after expiry.
        if let Err(error) = elector.release().await {
            tracing::warn!(%error, "could not release the Lease");
        }
        tracing::info!("released the leader Lease");
    }
    tracing::info!("ecsfleet controller stopped");
    Ok(ExitCode::SUCCESS)
}

/// This replica's name in the Lease: the pod's name, or host and process.
fn identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
}

/// Waits until this replica leads; false if asked to shut down first.
async fn wait_to_lead(
    elector: &LeaderElector,
    health: &Health,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> bool {
    let retry = elector.duration / 5;
    loop {
        match elector.try_lead().await {
            Ok(true) => {
                tracing::info!(identity = %elector.identity, "became the leader");
                return true;
            }
            Ok(false) => health.set_healthy_standby(true),
            Err(error) => {
                health.set_healthy_standby(false);
                tracing::warn!(%error, "cannot reach the leader Lease");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(retry) => {}
            _ = shutdown.wait_for(|stop| *stop) => return false,
        }
    }
}

/// Renews the Lease every third of its duration. If it is lost (taken by another, or
/// not renewed for two thirds of its duration), stops the controllers at once.
async fn keep_leading(
    elector: Arc<LeaderElector>,
    stop: tokio::sync::watch::Sender<bool>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    lost: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut renewed = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(elector.duration / 3) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let holding = match elector.try_lead().await {
            Ok(true) => {
                renewed = std::time::Instant::now();
                true
            }
            Ok(false) => false,
            Err(error) => {
                tracing::warn!(%error, "could not renew the leader Lease");
                renewed.elapsed() < elector.duration * 2 / 3
            }
        };
        if !holding {
            lost.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = stop.send(true);
            return;
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    // Every TLS connection (Kubernetes and AWS) uses the same crypto provider; choose it
    // once, before any client exists.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let result = match &cli.command {
        Command::Run(args) => run_controller(args).await,
        Command::Crds { out_dir } => write_crds(out_dir.as_deref()),
        Command::Plan(args) => run_files(args, Verb::Plan).await,
        Command::Apply(args) => run_files(args, Verb::Apply).await,
        Command::Delete(args) => run_files(args, Verb::Delete).await,
    };
    result.unwrap_or_else(|error: Error| {
        eprintln!("error: {error}");
        ExitCode::from(1)
    })
}

fn write_crds(out_dir: Option<&std::path::Path>) -> Result<ExitCode> {
    let crds = crds();
    match out_dir {
        None => {
            let documents: Vec<String> = crds.iter().map(crd_yaml).collect();
            print!("{}", documents.join("---\n"));
        }
        Some(dir) => {
            for crd in &crds {
                let path = dir.join(format!(
                    "{}.yaml",
                    crd.metadata.name.as_deref().unwrap_or("crd")
                ));
                std::fs::write(&path, crd_yaml(crd)).map_err(|e| Error::Input {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
