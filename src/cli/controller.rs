//! `ecsfleet run`: the in-cluster controller's wiring — metrics and health endpoints,
//! leader election, one controller per kind, graceful shutdown.

use std::process::ExitCode;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::reflector::Store;

use super::args::RunArgs;
use crate::aws::AwsFactory;
use crate::daemon_service::cache::EcsObserver;
use crate::daemon_service::{self, DaemonService};
use crate::integration_role::IntegrationRole;
use crate::metrics::Metrics;
use crate::runtime::controller::{Context, Controllers, Settings, wait_until_synced};
use crate::runtime::events::{self, Dispatch, Queue};
use crate::runtime::http::{self, Health};
use crate::runtime::inbox::{self, Outbox, Signal};
use crate::runtime::lease::{LeaderElector, keep_leading, wait_to_lead};
use crate::runtime::secrets::Secrets;
use crate::runtime::shards::{ShardKey, ShardLeases, Shards, keep_shards};
use crate::runtime::triggers::{Trigger, received, reconciles_for_triggers};
use crate::runtime::{Directory, Env, Managed, Pipeline};
use crate::scaling_group::ScalingGroup;
use crate::tenancy::{POLICY_NAME, Tenancy, TenancyPolicy};
use crate::{Error, Result};

pub async fn run_controller(args: &RunArgs) -> Result<ExitCode> {
    let client = kube::Client::try_default().await?;
    let metrics = Metrics::default();
    let health = Health::default();
    http::serve(args.metrics_addr, health.clone(), metrics.clone())
        .await
        .map_err(|e| Error::Config(format!("--metrics-addr {}: {e}", args.metrics_addr)))?;

    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let on_signal = stop.clone();
    let shutdown_timeout = args.shutdown_timeout;
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing reconciles in flight");
        let _ = on_signal.send(true);
        // Whatever hangs (an API server that is gone never answers), the process ends.
        tokio::time::sleep(shutdown_timeout).await;
        tracing::error!(
            timeout = ?shutdown_timeout,
            "the shutdown did not finish in time (is the API server reachable?); exiting"
        );
        std::process::exit(1);
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
    let sharding = (args.shards > 1).then(|| {
        let leases = ShardLeases::new(
            client.clone(),
            &args.leader_elect_namespace,
            "ecsfleet",
            identity(),
            args.leader_elect_lease_duration,
        );
        (Arc::new(leases), Shards::new(args.shards, args.shard_key))
    });
    if let Some((leases, shards)) = &sharding {
        tracing::info!(shards = args.shards, key = ?args.shard_key, identity = %leases.identity, "sharding on");
        // Ready only while the shard Leases answer: without them no shard is held.
        health.needs_shard_leases();
        tokio::spawn(keep_shards(
            leases.clone(),
            shards.clone(),
            health.clone(),
            shutdown.clone(),
        ));
    }
    let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(elector) = &elector {
        tokio::spawn(keep_leading(
            elector.clone(),
            stop.clone(),
            shutdown.clone(),
            lost.clone(),
        ));
    }

    let aws = AwsFactory::load(&args.aws.settings(), metrics.clone()).await;
    if let (Some(budgets), Some((_, shards))) = (aws.budgets(), &sharding) {
        // A replica's share of the call budget follows the shards it holds.
        let (budgets, shards) = (budgets.clone(), shards.clone());
        budgets.set_share(0, shards.count());
        let mut changes = shards.subscribe();
        tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        budgets.set_share(shards.held().len() as u32, shards.count());
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
    let queues = args
        .events_queue_urls
        .iter()
        .map(|text| Queue::parse(text, aws.default_region().as_deref()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Config(format!("--events-queue-url {e}")))?;
    let tenancy = watch_tenancy_policy(&client);
    let env = Env::new(aws, Secrets::Cluster(client.clone()))
        .with_tenancy(Tenancy::Watched(tenancy.clone()));
    let settings = Settings {
        namespaces: args.namespaces.clone(),
        resync: args.resync,
        concurrency: args.concurrency,
    };
    // A ScalingGroup whose instances change makes the DaemonServices of its ECS cluster
    // look again, without waiting for their resync.
    let default_region = env.aws.default_region();
    // AWS events (when queues are given) make the objects they concern look again.
    let (triggers, _) = tokio::sync::broadcast::channel::<Trigger>(1024);
    let shards = sharding.as_ref().map(|(_, shards)| shards.clone());
    let clusters = Arc::new(EcsObserver::for_resync(args.resync));
    let controllers = Wiring {
        client: &client,
        settings: &settings,
        shards: shards.as_ref(),
        metrics: &metrics,
    };
    let daemon_services = controllers
        .of::<DaemonService>()
        .reconcile_on(|store| {
            daemon_service::reconciles_for_cluster_changes(
                store,
                env.hosts.subscribe(),
                default_region.clone(),
            )
        })
        .reconcile_on(|store| {
            daemon_service::reconciles_for_events(
                store,
                triggers.subscribe(),
                default_region.clone(),
                clusters.clone(),
            )
        });
    let integration_roles = controllers.of::<IntegrationRole>().reconcile_on(|store| {
        reconciles_for_triggers(store, triggers.subscribe(), default_region.clone())
    });
    let scaling_groups = controllers.of::<ScalingGroup>().reconcile_on(|store| {
        reconciles_for_triggers(store, triggers.subscribe(), default_region.clone())
    });
    // With sharding, each replica's store holds only its shards' objects: what an event
    // (or a group's host change) concerns is passed on to the other replicas' inboxes.
    let mut pass_on = None;
    if let Some((leases, shards)) = &sharding {
        let (outbox, signals) = Outbox::new();
        tokio::spawn(inbox::pass_on(leases.clone(), signals, metrics.clone()));
        tokio::spawn(inbox::receive(
            leases.clone(),
            inbox::Delivery {
                hosts: env.hosts.clone(),
                triggers: triggers.clone(),
            },
            metrics.clone(),
        ));
        // Under `--shard-key cluster` a group and its cluster's DaemonServices share a
        // shard: its host changes stay here.
        if shards.key() != ShardKey::Cluster {
            let noted = received(env.hosts.subscribe_noted());
            let outbox = outbox.clone();
            tokio::spawn(noted.for_each(move |change| {
                outbox.send(Signal::Hosts(change));
                futures::future::ready(())
            }));
        }
        pass_on = Some(outbox);
    }
    let dispatch = Dispatch {
        hosts: env.hosts.clone(),
        triggers,
        pass_on,
    };
    for queue in queues {
        tokio::spawn(events::consume(
            env.aws.sqs(&queue.region),
            queue,
            dispatch.clone(),
            metrics.clone(),
            shutdown.clone(),
        ));
    }
    let shared = daemon_service::Shared::with_clusters(
        clusters,
        Directory::Stores(daemon_services.stores()),
        &env.hosts,
    );
    let (service_stores, role_stores, group_stores) = (
        daemon_services.stores(),
        integration_roles.stores(),
        scaling_groups.stores(),
    );
    let synced = health.clone();
    tokio::spawn(async move {
        wait_until_synced(&service_stores).await;
        wait_until_synced(&role_stores).await;
        wait_until_synced(&group_stores).await;
        synced.set_watches_synced();
    });
    // Each kind has its own context: its own bound on concurrent reconciles and backoff.
    let service_context = context(
        &client,
        Pipeline::new(env.clone(), shared),
        &settings,
        &shards,
    );
    let role_context = context(&client, Pipeline::new(env.clone(), ()), &settings, &shards);
    let group_context = context(&client, Pipeline::new(env, ()), &settings, &shards);
    tracing::info!(namespaces = ?args.namespaces, resync = ?args.resync, "ecsfleet controller starting");
    // No object is judged before the tenancy policy has arrived.
    let mut stopping = shutdown.clone();
    tokio::select! {
        _ = tenancy.wait_until_ready() => {}
        _ = stopping.wait_for(|stop| *stop) => return Ok(ExitCode::SUCCESS),
    }
    tokio::join!(
        daemon_services.run(service_context, shutdown.clone()),
        integration_roles.run(role_context, shutdown.clone()),
        scaling_groups.run(group_context, shutdown),
    );
    if let Some((leases, shards)) = &sharding {
        // In-flight reconciles are done: hand the shards over at once.
        if tokio::time::timeout(RELEASE_TIMEOUT, leases.release_all(shards))
            .await
            .is_err()
        {
            tracing::warn!("could not release the shard Leases in time; they expire by themselves");
        }
    }
    if lost.load(std::sync::atomic::Ordering::SeqCst) {
        tracing::error!("stopped: the leader Lease was lost");
        return Ok(ExitCode::from(1));
    }
    if let Some(elector) = elector {
        // In-flight reconciles are done: hand over at once instead of after expiry.
        match tokio::time::timeout(RELEASE_TIMEOUT, elector.release()).await {
            Ok(Ok(())) => tracing::info!("released the leader Lease"),
            Ok(Err(error)) => tracing::warn!(%error, "could not release the Lease"),
            Err(_) => tracing::warn!("could not release the Lease in time; it expires by itself"),
        }
    }
    tracing::info!("ecsfleet controller stopped");
    Ok(ExitCode::SUCCESS)
}

/// The tenancy policy object, watched by name (cluster-scoped; its absence means the
/// built-in defaults). Reconciles start once its first listing has arrived, so that no
/// object is judged by the defaults while the policy is on its way.
fn watch_tenancy_policy(client: &kube::Client) -> Store<TenancyPolicy> {
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (store, writer) = reflector::store();
    let config = watcher::Config::default().fields(&format!("metadata.name={POLICY_NAME}"));
    let stream = watcher(kube::Api::<TenancyPolicy>::all(client.clone()), config)
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            if let Err(error) = event {
                tracing::warn!(%error, "watching the TenancyPolicy {POLICY_NAME}");
            }
        }
    });
    store
}

/// A kind's context: its own bound on concurrent reconciles and backoff, and the shards.
fn context<K: Managed>(
    client: &kube::Client,
    pipeline: Pipeline<K>,
    settings: &Settings,
    shards: &Option<Arc<Shards>>,
) -> Arc<Context<K>> {
    let context = Context::new(client.clone(), pipeline, settings.clone());
    Arc::new(match shards {
        Some(shards) => context.sharded(shards.clone()),
        None => context,
    })
}

/// What builds a kind's controllers: every object watched, or with sharding only the
/// held shards'.
struct Wiring<'a> {
    client: &'a kube::Client,
    settings: &'a Settings,
    shards: Option<&'a Arc<Shards>>,
    metrics: &'a Metrics,
}

impl Wiring<'_> {
    fn of<K: Managed>(&self) -> Controllers<K> {
        match self.shards {
            Some(shards) => Controllers::sharded(self.client, self.settings, shards, self.metrics),
            None => Controllers::new(self.client, self.settings),
        }
    }
}

/// How long releasing the Lease may take at shutdown: past it, the Lease expires by
/// itself and a standby takes over then.
const RELEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// This replica's name in the Lease: the pod's name, or host and process.
fn identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
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
