#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ecsfleet::cli::{Cli, LogFormat, run};
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, registry};

// jemalloc gives back the pages freed while objects converge, which glibc's allocator
// kept, scattered between the objects that stay (docs/performance.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts");
    let code = runtime.block_on(start());
    // Once the work is done (controllers stopped, Lease released), nothing a dependency
    // left behind may hold the process: wait a few seconds at most, then exit.
    runtime.shutdown_timeout(Duration::from_secs(5));
    code
}

async fn start() -> ExitCode {
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
