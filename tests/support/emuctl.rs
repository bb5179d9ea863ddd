//! `cargo run --example emuctl -- <command>`: drives an ECS cluster in the AWS emulator
//! for `scripts/demo`, the way EC2 hosts running the ECS agent would.
//!
//! Commands (the emulator's endpoint comes from AWS_ENDPOINT_URL):
//!   create-cluster NAME
//!   add-instances NAME COUNT         prints one container instance ARN per line
//!   drain NAME ARN
//!   describe NAME SERVICE            prints desiredCount, runningCount, taskDefinition

#[path = "mod.rs"]
mod support;

use support::{Cluster, Emulator};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL names the emulator");
    let emulator = Emulator::attach(&endpoint);
    let arg = |i: usize| args.get(i).cloned().unwrap_or_else(|| usage());
    let cluster = Cluster::attach(&emulator, &arg(1)).await;
    match arg(0).as_str() {
        "create-cluster" => {
            Cluster::create(&emulator, &arg(1)).await;
        }
        "add-instances" => {
            for _ in 0..arg(2).parse::<u32>().unwrap_or_else(|_| usage()) {
                println!("{}", cluster.add_instance(&emulator).await);
            }
        }
        "drain" => cluster.drain(&arg(2)).await,
        "describe" => match cluster.service(&arg(2)).await {
            Some(service) => println!(
                "desiredCount={} runningCount={} taskDefinition={}",
                service.desired_count(),
                service.running_count(),
                service
                    .task_definition()
                    .unwrap_or("-")
                    .rsplit('/')
                    .next()
                    .unwrap_or("-")
            ),
            None => println!("no service {}", arg(2)),
        },
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: emuctl create-cluster NAME | add-instances NAME COUNT | drain NAME ARN | describe NAME SERVICE"
    );
    std::process::exit(2)
}
