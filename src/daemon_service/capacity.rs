//! The cluster's capacity providers, and what they decide: which scheduling mode fits
//! the cluster when `spec.scheduling` is unset, and whether `PerInstance` would distort
//! cluster auto scaling.
//!
//! AWS documents the two rules this module guards:
//! - managed scaling keeps `CapacityProviderReservation = M / N` at the provider's
//!   `targetCapacity`, where M counts the instances that run (or are needed for) tasks
//!   other than DAEMON services' and N the instances running;
//! - managed termination protection keeps every instance that runs a task other than a
//!   DAEMON service's from being scaled in.
//!
//! A REPLICA task on every instance makes M = N (and protects every instance): the
//! group can never scale in, and with a `targetCapacity` below 100 it grows to its
//! maximum. DAEMON tasks are ignored by both; Managed Instances scale to the tasks they
//! run, so a Managed Daemon (also ignored) is their way.

use aws_sdk_ecs::types::{ManagedScalingStatus, ManagedTerminationProtection};

use super::desired::Desired;
use super::{LaunchType, Scheduling};
use crate::aws::{AccountClients, aws_error};
use crate::{Error, Result};

/// How a capacity provider gets its instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    /// An Auto Scaling group capacity provider.
    AutoScaling {
        /// `targetCapacity` when managed scaling is ENABLED.
        managed_scaling: Option<i32>,
        termination_protection: bool,
    },
    /// ECS Managed Instances: ECS launches and retires the instances itself.
    ManagedInstances,
    /// FARGATE and FARGATE_SPOT: no instances at all.
    Fargate,
}

/// One capacity provider of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    pub name: String,
    pub arn: String,
    pub kind: ProviderKind,
}

impl Provider {
    /// Why ECS would count a REPLICA task on each of this provider's instances against
    /// its scaling, if it would.
    pub fn scaled_by_ecs(&self) -> Option<String> {
        match &self.kind {
            ProviderKind::AutoScaling {
                managed_scaling,
                termination_protection,
            } => {
                let mut why = Vec::new();
                if let Some(target) = managed_scaling {
                    why.push(format!("managed scaling (targetCapacity {target})"));
                }
                if *termination_protection {
                    why.push("managed termination protection".to_string());
                }
                (!why.is_empty()).then(|| why.join(" and "))
            }
            ProviderKind::ManagedInstances => Some("ECS Managed Instances".to_string()),
            ProviderKind::Fargate => None,
        }
    }
}

/// What the cluster says of its capacity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterCapacity {
    pub cluster_arn: String,
    pub providers: Vec<Provider>,
    /// The providers of the cluster's default capacity provider strategy.
    pub default_strategy: Vec<String>,
}

impl ClusterCapacity {
    fn named(&self, name: &str) -> Option<&Provider> {
        self.providers
            .iter()
            .find(|p| p.name == name || p.arn == name)
    }

    /// The providers whose instances a task of `desired` may land on: those of its
    /// strategy; without one and without a launch type, those of the cluster's default
    /// strategy; otherwise (launch type EC2) any instance of the cluster.
    fn landing(&self, desired: &Desired) -> Vec<&Provider> {
        let names: Vec<&str> = if !desired.capacity_provider_strategy.is_empty() {
            desired
                .capacity_provider_strategy
                .iter()
                .map(|item| item.capacity_provider.as_str())
                .collect()
        } else if desired.launch_type.is_none() && !self.default_strategy.is_empty() {
            self.default_strategy.iter().map(String::as_str).collect()
        } else {
            return self
                .providers
                .iter()
                .filter(|p| p.kind != ProviderKind::Fargate)
                .collect();
        };
        names.into_iter().filter_map(|n| self.named(n)).collect()
    }

    /// The Managed Instances providers a Managed Daemon of `desired` runs on: those its
    /// strategy names, or all of the cluster's.
    pub fn daemon_providers(&self, desired: &Desired) -> Result<Vec<String>> {
        let providers: Vec<&Provider> = if desired.capacity_provider_strategy.is_empty() {
            self.providers
                .iter()
                .filter(|p| p.kind == ProviderKind::ManagedInstances)
                .collect()
        } else {
            let mut named = Vec::new();
            for item in &desired.capacity_provider_strategy {
                match self.named(&item.capacity_provider) {
                    Some(p) if p.kind == ProviderKind::ManagedInstances => named.push(p),
                    _ => {
                        return Err(Error::invalid(
                            "spec.capacityProviderStrategy",
                            format!(
                                "{} is not a Managed Instances capacity provider of cluster {}; a ManagedDaemon runs only on those",
                                item.capacity_provider, desired.cluster
                            ),
                        ));
                    }
                }
            }
            named
        };
        if providers.is_empty() {
            return Err(Error::invalid(
                "spec.scheduling",
                format!(
                    "ManagedDaemon needs a Managed Instances capacity provider, and cluster {} has none",
                    desired.cluster
                ),
            ));
        }
        let mut arns: Vec<String> = providers.iter().map(|p| p.arn.clone()).collect();
        arns.sort();
        Ok(arns)
    }
}

/// The mode for a spec that leaves `scheduling` unset, from the spec and the cluster.
///
/// - a capacity provider strategy asks for what only a REPLICA service (PerInstance)
///   does, unless it names Managed Instances providers only (ManagedDaemon);
/// - FARGATE and EXTERNAL launch types: PerInstance (DAEMON needs EC2);
/// - a cluster whose instances come only from Managed Instances: ManagedDaemon (DAEMON
///   services are not supported there);
/// - a cluster with Auto Scaling group capacity providers: Daemon, which cluster auto
///   scaling ignores;
/// - a cluster without capacity providers: PerInstance, as ecsfleet always did (nothing
///   scales with the tasks there; Daemon fits as well).
pub fn default_mode(desired: &Desired, capacity: &ClusterCapacity) -> Scheduling {
    if !desired.capacity_provider_strategy.is_empty() {
        let landing = capacity.landing(desired);
        let all_managed = !landing.is_empty()
            && landing.len() == desired.capacity_provider_strategy.len()
            && landing
                .iter()
                .all(|p| p.kind == ProviderKind::ManagedInstances);
        return if all_managed {
            Scheduling::ManagedDaemon
        } else {
            Scheduling::PerInstance
        };
    }
    if desired
        .launch_type
        .is_some_and(|launch| launch != LaunchType::Ec2)
    {
        return Scheduling::PerInstance;
    }
    let hosts: Vec<&Provider> = capacity
        .providers
        .iter()
        .filter(|p| p.kind != ProviderKind::Fargate)
        .collect();
    if hosts.is_empty() {
        Scheduling::PerInstance
    } else if desired.launch_type.is_none()
        && hosts
            .iter()
            .all(|p| p.kind == ProviderKind::ManagedInstances)
    {
        Scheduling::ManagedDaemon
    } else {
        Scheduling::Daemon
    }
}

/// Refuses PerInstance where ECS scales or protects the instances its tasks land on:
/// there a REPLICA task on every instance keeps cluster auto scaling from ever scaling
/// in, and drives it to scale out.
pub fn guard_per_instance(desired: &Desired, capacity: &ClusterCapacity) -> Result<()> {
    for provider in capacity.landing(desired) {
        if let Some(why) = provider.scaled_by_ecs() {
            return Err(Error::invalid(
                "spec.scheduling",
                format!(
                    "PerInstance would put a REPLICA task on every instance of capacity provider {} ({why}): cluster auto scaling would count every instance as busy, never scale in, and scale out below 100 % targetCapacity; use Daemon (ignored by cluster auto scaling), a ManagedDaemon on Managed Instances, or a capacityProviderStrategy of providers without managed scaling",
                    provider.name
                ),
            ));
        }
    }
    Ok(())
}

/// Reads the cluster's capacity providers: `DescribeClusters`, and
/// `DescribeCapacityProviders` for those that are not Fargate's.
pub async fn describe(clients: &AccountClients, cluster: &str) -> Result<ClusterCapacity> {
    let described = clients
        .ecs
        .describe_clusters()
        .clusters(cluster)
        .send()
        .await
        .map_err(|e| aws_error("ECS", "DescribeClusters", e))?;
    let Some(found) = described
        .clusters()
        .iter()
        .find(|c| c.status() != Some("INACTIVE"))
    else {
        return Err(Error::NotReady(format!(
            "ECS cluster {cluster} (spec.cluster) does not exist"
        )));
    };
    let names: Vec<String> = found.capacity_providers().to_vec();
    let default_strategy = found
        .default_capacity_provider_strategy()
        .iter()
        .map(|item| item.capacity_provider().to_string())
        .collect();
    let mut providers = Vec::new();
    let (fargate, others): (Vec<String>, Vec<String>) = names
        .into_iter()
        .partition(|n| n == "FARGATE" || n == "FARGATE_SPOT");
    for name in fargate {
        providers.push(Provider {
            arn: name.clone(),
            name,
            kind: ProviderKind::Fargate,
        });
    }
    // DescribeCapacityProviders takes up to 100 names a call.
    for chunk in others.chunks(100) {
        let described = clients
            .ecs
            .describe_capacity_providers()
            .set_capacity_providers(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error("ECS", "DescribeCapacityProviders", e))?;
        for provider in described.capacity_providers() {
            providers.push(provider_of(provider));
        }
    }
    Ok(ClusterCapacity {
        cluster_arn: found.cluster_arn().unwrap_or_default().to_string(),
        providers,
        default_strategy,
    })
}

fn provider_of(provider: &aws_sdk_ecs::types::CapacityProvider) -> Provider {
    let kind = if provider.managed_instances_provider().is_some()
        || provider.r#type().map(|t| t.as_str()) == Some("MANAGED_INSTANCES")
    {
        ProviderKind::ManagedInstances
    } else if let Some(group) = provider.auto_scaling_group_provider() {
        let scaling = group.managed_scaling();
        ProviderKind::AutoScaling {
            managed_scaling: scaling
                .filter(|s| s.status() == Some(&ManagedScalingStatus::Enabled))
                .map(|s| s.target_capacity().unwrap_or(100)),
            termination_protection: group.managed_termination_protection()
                == Some(&ManagedTerminationProtection::Enabled),
        }
    } else {
        ProviderKind::Fargate
    };
    Provider {
        name: provider.name().unwrap_or_default().to_string(),
        arn: provider
            .capacity_provider_arn()
            .unwrap_or_default()
            .to_string(),
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon_service::{CapacityProviderStrategyItem, DaemonService};

    fn desired(extra: &str) -> Desired {
        let obj: DaemonService = serde_yaml_ng::from_str(&format!(
            r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {{name: agent, namespace: ops, uid: u1}}
spec:
  cluster: fleet
  taskDefinition: {{arn: "agent:1"}}
{extra}"#
        ))
        .unwrap();
        Desired::from_spec(&obj).unwrap()
    }

    fn asg(name: &str, target: Option<i32>, protection: bool) -> Provider {
        Provider {
            name: name.into(),
            arn: format!("arn:aws:ecs:eu-west-1:1:capacity-provider/{name}"),
            kind: ProviderKind::AutoScaling {
                managed_scaling: target,
                termination_protection: protection,
            },
        }
    }

    fn managed(name: &str) -> Provider {
        Provider {
            kind: ProviderKind::ManagedInstances,
            ..asg(name, None, false)
        }
    }

    fn cluster(providers: Vec<Provider>, default_strategy: &[&str]) -> ClusterCapacity {
        ClusterCapacity {
            cluster_arn: "arn:aws:ecs:eu-west-1:1:cluster/fleet".into(),
            providers,
            default_strategy: default_strategy.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_default_mode_follows_the_cluster() {
        let plain = cluster(vec![], &[]);
        let scaled = cluster(vec![asg("asg", Some(80), true)], &["asg"]);
        let unscaled = cluster(vec![asg("asg", None, false)], &[]);
        let instances = cluster(vec![managed("mi")], &["mi"]);
        let mixed = cluster(vec![managed("mi"), asg("asg", Some(100), false)], &[]);
        let spec = desired("");
        assert_eq!(default_mode(&spec, &plain), Scheduling::PerInstance);
        assert_eq!(default_mode(&spec, &scaled), Scheduling::Daemon);
        assert_eq!(default_mode(&spec, &unscaled), Scheduling::Daemon);
        assert_eq!(default_mode(&spec, &instances), Scheduling::ManagedDaemon);
        assert_eq!(default_mode(&spec, &mixed), Scheduling::Daemon);
        let fargate = desired("  launchType: FARGATE\n");
        assert_eq!(default_mode(&fargate, &scaled), Scheduling::PerInstance);
        let ec2 = desired("  launchType: EC2\n");
        assert_eq!(default_mode(&ec2, &instances), Scheduling::Daemon);
    }

    #[test]
    fn a_strategy_picks_per_instance_unless_it_names_managed_instances_only() {
        let capacity = cluster(vec![managed("mi"), asg("asg", None, false)], &[]);
        let on_asg = desired("  capacityProviderStrategy: [{capacityProvider: asg, weight: 1}]\n");
        assert_eq!(default_mode(&on_asg, &capacity), Scheduling::PerInstance);
        let on_mi = desired("  capacityProviderStrategy: [{capacityProvider: mi, weight: 1}]\n");
        assert_eq!(default_mode(&on_mi, &capacity), Scheduling::ManagedDaemon);
        let unknown = desired("  capacityProviderStrategy: [{capacityProvider: gone}]\n");
        assert_eq!(default_mode(&unknown, &capacity), Scheduling::PerInstance);
    }

    #[test]
    fn per_instance_is_refused_where_ecs_scales_the_instances() {
        let spec = desired("");
        for provider in [
            asg("asg", Some(80), false),
            asg("asg", Some(100), false),
            asg("asg", None, true),
            managed("asg"),
        ] {
            let error = guard_per_instance(&spec, &cluster(vec![provider.clone()], &[]))
                .expect_err("refused");
            let text = error.to_string();
            assert!(text.starts_with("spec.scheduling: PerInstance"), "{text}");
            assert!(text.contains("capacity provider asg"), "{text}");
        }
        // Nothing scales with the tasks: allowed.
        guard_per_instance(&spec, &cluster(vec![asg("asg", None, false)], &[])).unwrap();
        guard_per_instance(&spec, &cluster(vec![], &[])).unwrap();
        // A strategy of unscaled providers keeps the tasks off the scaled group.
        let mut strategy = desired("");
        strategy.capacity_provider_strategy = vec![CapacityProviderStrategyItem {
            capacity_provider: "plain".into(),
            weight: 1,
            base: 0,
        }];
        let both = cluster(
            vec![asg("plain", None, false), asg("scaled", Some(80), true)],
            &["scaled"],
        );
        guard_per_instance(&strategy, &both).unwrap();
        // Without one, the default strategy decides; with launch type EC2, every instance.
        assert!(guard_per_instance(&spec, &both).is_err());
        let plain_default = cluster(
            vec![asg("plain", None, false), asg("scaled", Some(80), true)],
            &["plain"],
        );
        guard_per_instance(&spec, &plain_default).unwrap();
        let ec2 = desired("  launchType: EC2\n");
        assert!(guard_per_instance(&ec2, &plain_default).is_err());
    }

    #[test]
    fn a_managed_daemon_runs_on_managed_instances_providers_only() {
        let capacity = cluster(
            vec![managed("b"), managed("a"), asg("asg", None, false)],
            &[],
        );
        let arns = capacity.daemon_providers(&desired("")).unwrap();
        assert_eq!(arns.len(), 2);
        assert!(
            arns[0].ends_with("/a") && arns[1].ends_with("/b"),
            "{arns:?}"
        );
        let on_asg = desired("  capacityProviderStrategy: [{capacityProvider: asg}]\n");
        let error = capacity.daemon_providers(&on_asg).unwrap_err().to_string();
        assert!(
            error.starts_with("spec.capacityProviderStrategy: asg is not a Managed Instances"),
            "{error}"
        );
        let none = cluster(vec![asg("asg", None, false)], &[]);
        let error = none.daemon_providers(&desired("")).unwrap_err().to_string();
        assert!(
            error.starts_with("spec.scheduling: ManagedDaemon needs"),
            "{error}"
        );
    }
}
