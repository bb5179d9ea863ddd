//! `ecsfleet run`: the in-cluster controller's wiring — metrics and health endpoints,
//! leader election, one controller per kind, graceful shutdown.

use std::process::ExitCode;
use std::sync::Arc;

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
use crate::runtime::lease::{LeaderElector, keep_leading, wait_to_lead};
use crate::runtime::secrets::Secrets;
use crate::runtime::shards::{
    ShardLeases, Shards, forward_to_owners, keep_shards, reconciles_for_shard_changes,
};
use crate::runtime::triggers::{Trigger, reconciles_for_triggers};
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
    let daemon_services = Controllers::<DaemonService>::new(&client, &settings)
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
    let daemon_services = with_shards(daemon_services, shards.as_ref());
    let integration_roles = with_shards(
        Controllers::<IntegrationRole>::new(&client, &settings).reconcile_on(|store| {
            reconciles_for_triggers(store, triggers.subscribe(), default_region.clone())
        }),
        shards.as_ref(),
    );
    let scaling_groups = with_shards(
        Controllers::<ScalingGroup>::new(&client, &settings).reconcile_on(|store| {
            reconciles_for_triggers(store, triggers.subscribe(), default_region.clone())
        }),
        shards.as_ref(),
    );
    if let Some(shards) = &shards {
        // What concerns another replica's objects is passed on to it.
        for store in daemon_services.stores() {
            tokio::spawn(forward_to_owners(
                client.clone(),
                store.clone(),
                daemon_service::reconciles_for_cluster_changes(
                    store,
                    env.hosts.subscribe(),
                    default_region.clone(),
                ),
                shards.clone(),
                metrics.clone(),
            ));
        }
        let forward = Forward {
            client: &client,
            triggers: &triggers,
            default_region: &default_region,
            shards,
            metrics: &metrics,
        };
        forward.triggers(daemon_services.stores());
        forward.triggers(integration_roles.stores());
        forward.triggers(scaling_groups.stores());
    }
    let dispatch = Dispatch {
        hosts: env.hosts.clone(),
        triggers,
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
    use futures::StreamExt;
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

/// Also reconciles, with sharding, the objects of each shard taken or given up here.
/// What passes AWS events on to the replicas that hold the objects they concern.
struct Forward<'a> {
    client: &'a kube::Client,
    triggers: &'a tokio::sync::broadcast::Sender<Trigger>,
    default_region: &'a Option<String>,
    shards: &'a Arc<Shards>,
    metrics: &'a crate::metrics::Metrics,
}

impl Forward<'_> {
    /// One task per watch of kind `K`: the objects of other replicas' shards that an
    /// event concerns are told to look again.
    fn triggers<K: Managed + crate::runtime::triggers::Concerns>(
        &self,
        stores: Vec<kube::runtime::reflector::Store<kube::core::DeserializeGuard<K>>>,
    ) {
        for store in stores {
            tokio::spawn(forward_to_owners(
                self.client.clone(),
                store.clone(),
                reconciles_for_triggers(
                    store,
                    self.triggers.subscribe(),
                    self.default_region.clone(),
                ),
                self.shards.clone(),
                self.metrics.clone(),
            ));
        }
    }
}

fn with_shards<K: Managed>(
    controllers: Controllers<K>,
    shards: Option<&Arc<Shards>>,
) -> Controllers<K> {
    match shards {
        Some(shards) => {
            controllers.reconcile_on(|store| reconciles_for_shard_changes(store, shards.clone()))
        }
        None => controllers,
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
