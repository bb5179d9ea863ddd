//! The command line: `run`, `crds`, `plan`, `apply`, `delete`. One room each: the
//! arguments, the files, the offline verbs, the controller's wiring, the CRDs.

pub mod args;
pub mod cluster;
pub mod controller;
pub mod crds;
pub mod events;
pub mod files;
pub mod offline;

use std::process::ExitCode;

pub use args::{Cli, Command, LogFormat, Output, PlanArgs, parse_duration};
pub use crds::{crd_yaml, crds};
use offline::Verb;

use crate::Error;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    // Every TLS connection (Kubernetes and AWS) uses the same crypto provider; choose it
    // once, before any client exists.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let result = match &cli.command {
        Command::Run(args) => controller::run_controller(args).await,
        Command::Crds { out_dir } => crds::write_crds(out_dir.as_deref()),
        Command::IamPolicy { paths } => files::load(paths).map(|loaded| {
            let spec = loaded.tenancy.map(|policy| policy.spec).unwrap_or_default();
            print!(
                "{}",
                crate::tenancy::iam_policy::operator_policy_json(&spec)
            );
            ExitCode::SUCCESS
        }),
        Command::Admission => {
            print!("{}", crate::tenancy::admission::yaml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => offline::run_plan(args).await,
        Command::Apply(args) => offline::run_files(args, Verb::Apply).await,
        Command::Delete(args) => offline::run_files(args, Verb::Delete).await,
        Command::Events(args) => events::run(args).await,
    };
    result.unwrap_or_else(|error: Error| {
        eprintln!("error: {}", error.redacted());
        ExitCode::from(1)
    })
}
