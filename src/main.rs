#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use ecsfleet::cli::{Cli, LogFormat, run};
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, registry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let requested = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // The AWS SDK and the HTTP stack log whole request and response bodies at TRACE, and
    // an IAM trust policy holds the external ID: no RUST_LOG setting turns those on.
    let no_bodies =
        filter_fn(|meta| *meta.level() < Level::TRACE || meta.target().starts_with("ecsfleet"));
    let filter = requested.and(no_bodies);
    let logs = tracing_subscriber::fmt::layer()
        // Colours only for a person at a terminal, not in log files and collectors.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => registry().with(logs.json().with_filter(filter)).init(),
        LogFormat::Text => registry().with(logs.with_filter(filter)).init(),
    }
    run(cli).await
}
