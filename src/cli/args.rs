//! The command line's arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::aws::AwsSettings;
use crate::runtime::shards::ShardKey;

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
    /// Print the ValidatingAdmissionPolicy and binding that enforce the TenancyPolicy at
    /// admission (what deploy/base/admission.yaml holds).
    Admission,
    /// Print the operator's least-privilege IAM policy for the TenancyPolicy among the
    /// files (none: the shipped defaults), as deploy/iam-policy.json holds it.
    IamPolicy {
        /// Files or folders of YAML holding the TenancyPolicy `ecsfleet`.
        #[arg(short = 'f', long = "filename")]
        paths: Vec<PathBuf>,
    },
    /// Show what apply would change; writes nothing. Exit 0 in sync, 2 changes pending, 1 error.
    Plan(PlanArgs),
    /// Reconcile each object in the files once; no cluster needed.
    Apply(FileArgs),
    /// Clean up as the finalizer would (honours deletionPolicy).
    Delete(FileArgs),
    /// The SQS queue and EventBridge rules that feed `run --events-queue-url`.
    Events(EventsArgs),
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: EventsCommand,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Create (or bring up to date) the queue, its access policy and the rules, in
    /// --region; run once per region with objects (IAM's events arrive in us-east-1).
    Install(QueueArgs),
    /// Delete the rules and the queue `install` made.
    Uninstall(QueueArgs),
    /// Print the rules' event patterns (for teams that manage AWS elsewhere).
    Rules,
}

#[derive(Debug, Args)]
pub struct QueueArgs {
    /// The queue's name; the rules are named `<queue>-ecs`, `<queue>-autoscaling` and
    /// `<queue>-cloudtrail`.
    #[arg(long, default_value = "ecsfleet-events")]
    pub queue: String,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct AwsArgs {
    /// Default AWS region of objects without spec.region.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Send every AWS call to this endpoint (an emulator).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    /// The AWS call budget: requests a second ecsfleet sends at most to each service in
    /// each account and Region (a client-side token bucket, lowered while AWS throttles;
    /// with --shards, each replica takes its share). Unset: no budget.
    #[arg(long, value_parser = positive_rate)]
    pub aws_rate: Option<f64>,
    /// Requests the budget lets through at once after a quiet spell (default: twice
    /// --aws-rate).
    #[arg(long, requires = "aws_rate", value_parser = positive_rate)]
    pub aws_burst: Option<f64>,
}

fn positive_rate(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 100_000.0 => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a rate above 0 (requests a second)"
        )),
    }
}

impl AwsArgs {
    pub fn settings(&self) -> AwsSettings {
        AwsSettings {
            region: self.region.clone(),
            endpoint_url: self.aws_endpoint_url.clone(),
            budget: self
                .aws_rate
                .map(|rate| crate::aws::budget::BudgetSettings {
                    rate,
                    burst: self.aws_burst.unwrap_or(rate * 2.0).max(1.0),
                }),
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
    #[arg(long, conflicts_with = "shards")]
    pub leader_elect: bool,
    /// Spread the work over the replicas: every object belongs to one of this many
    /// shards, each owned by one replica through a Lease of its own (`ecsfleet-shard-N`).
    /// Every replica must be given the same number. 1: no sharding.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub shards: u32,
    /// What places an object in a shard (with --shards).
    #[arg(long, value_enum, default_value_t = ShardKey::Namespace)]
    pub shard_key: ShardKey,
    /// Namespace of the Leases (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "ecsfleet-system")]
    pub leader_elect_namespace: String,
    /// How long a Lease stays valid without renewal; a standby (or, with --shards,
    /// another replica) takes over after it.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub leader_elect_lease_duration: Duration,
    /// Longest a shutdown (SIGTERM) may take: reconciles in flight finish and the Lease is
    /// released; past it the process exits (status 1) anyway, e.g. when the API server is
    /// unreachable. Keep it below the pod's termination grace period.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// An SQS queue of AWS events (EventBridge → SQS, see `ecsfleet events install`) to
    /// react to within a second instead of at the next resync; repeatable (one per
    /// region). `[REGION=]URL`: the region defaults to the URL's `sqs.<region>.` host, then
    /// to --region.
    #[arg(long = "events-queue-url")]
    pub events_queue_urls: Vec<String>,
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

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Files or folders of multi-document YAML (optional with --from-cluster: then every
    /// object in the cluster is planned as it is).
    #[arg(
        short = 'f',
        long = "filename",
        required_unless_present = "from_cluster"
    )]
    pub paths: Vec<PathBuf>,
    /// Preview what the running controller would do: identity, generation and status of
    /// each object, and the Secrets it references, read from the Kubernetes API (read
    /// only). With -f, the files' specs are planned in place of the live ones.
    #[arg(long)]
    pub from_cluster: bool,
    /// The kubeconfig context to read from (its current context by default).
    #[arg(long, requires = "from_cluster")]
    pub context: Option<String>,
    /// Without -f: only the objects of this namespace (all namespaces by default).
    #[arg(short = 'n', long, requires = "from_cluster", conflicts_with = "paths")]
    pub namespace: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_call_budget_is_off_unless_a_rate_is_given() {
        let run = |args: &[&str]| Cli::try_parse_from([&["ecsfleet", "run"], args].concat());
        let budget = |cli: Cli| match cli.command {
            Command::Run(run) => run.aws.settings().budget,
            _ => unreachable!(),
        };
        assert_eq!(budget(run(&[]).unwrap()), None);
        assert_eq!(
            budget(run(&["--aws-rate", "10"]).unwrap()),
            Some(crate::aws::budget::BudgetSettings {
                rate: 10.0,
                burst: 20.0
            })
        );
        assert_eq!(
            budget(run(&["--aws-rate", "10", "--aws-burst", "5"]).unwrap()),
            Some(crate::aws::budget::BudgetSettings {
                rate: 10.0,
                burst: 5.0
            })
        );
        for refused in [
            &["--aws-rate", "0"][..],
            &["--aws-rate", "-3"],
            &["--aws-rate", "NaN"],
            &["--aws-burst", "5"],
        ] {
            assert!(run(refused).is_err(), "{refused:?}");
        }
    }
}
