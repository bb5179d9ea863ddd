//! Leader election with a coordination.k8s.io Lease. Every write replaces the Lease with
//! the `resourceVersion` it was read at, so of two replicas racing for it exactly one
//! wins (the other gets a conflict). The decision itself is a pure function.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

use crate::Result;

/// What a replica should do with the Lease as it found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nobody holds it, the holder released it, or the holder's lease expired: take it.
    Acquire,
    /// We hold it: renew it.
    Renew,
    /// Someone else holds it and it has not expired.
    Follow { holder: String },
}

/// Decides from the Lease's spec (if the Lease exists) at time `now`. Pure.
pub fn decide(
    spec: Option<&LeaseSpec>,
    identity: &str,
    now: Timestamp,
    default_duration: Duration,
) -> Decision {
    let Some(spec) = spec else {
        return Decision::Acquire;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() {
        return Decision::Acquire;
    }
    if holder == identity {
        return Decision::Renew;
    }
    let duration = spec
        .lease_duration_seconds
        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)))
        .unwrap_or(default_duration);
    let expires = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .and_then(|t| {
            t.0.checked_add(SignedDuration::try_from(duration).ok()?)
                .ok()
        });
    match expires {
        Some(expires) if expires > now => Decision::Follow {
            holder: holder.to_string(),
        },
        _ => Decision::Acquire,
    }
}

/// The spec to write for `decision` (never called for `Follow`). Pure.
pub fn next_spec(
    current: Option<&LeaseSpec>,
    decision: &Decision,
    identity: &str,
    now: Timestamp,
    duration: Duration,
) -> LeaseSpec {
    let now = MicroTime(now);
    let seconds = i32::try_from(duration.as_secs()).unwrap_or(i32::MAX);
    match (decision, current) {
        (Decision::Renew, Some(current)) => LeaseSpec {
            renew_time: Some(now),
            lease_duration_seconds: Some(seconds),
            ..current.clone()
        },
        _ => LeaseSpec {
            holder_identity: Some(identity.to_string()),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_duration_seconds: Some(seconds),
            lease_transitions: Some(current.and_then(|c| c.lease_transitions).unwrap_or(0) + 1),
            ..LeaseSpec::default()
        },
    }
}

/// The spec that hands the Lease over at once: no holder.
pub fn released_spec(current: &LeaseSpec) -> LeaseSpec {
    LeaseSpec {
        holder_identity: None,
        acquire_time: None,
        renew_time: None,
        ..current.clone()
    }
}

/// One replica's handle on the Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    pub identity: String,
    pub duration: Duration,
}

impl LeaderElector {
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: String,
        duration: Duration,
    ) -> Self {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity,
            duration,
        }
    }

    /// Acquires or renews the Lease if this replica may; returns whether it leads now.
    /// A conflict (another replica wrote first) means not leading, not an error.
    pub async fn try_lead(&self) -> Result<bool> {
        let current = self.api.get_opt(&self.name).await?;
        self.try_lead_from(current).await
    }

    /// As [`LeaderElector::try_lead`], from the Lease as already read (`None`: it does
    /// not exist). The write carries the resourceVersion it was read at.
    pub async fn try_lead_from(&self, current: Option<Lease>) -> Result<bool> {
        let decision = decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.identity,
            Timestamp::now(),
            self.duration,
        );
        if let Decision::Follow { .. } = decision {
            return Ok(false);
        }
        let spec = next_spec(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &decision,
            &self.identity,
            Timestamp::now(),
            self.duration,
        );
        let written = match current {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        labels: Some(
                            [(
                                "app.kubernetes.io/managed-by".to_string(),
                                "ecsfleet".to_string(),
                            )]
                            .into(),
                        ),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Some(mut lease) => {
                // Carries metadata.resourceVersion: the write fails if anyone wrote since.
                lease.spec = Some(spec);
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match written {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Gives the Lease up (if held) so that a standby takes over at once.
    pub async fn release(&self) -> Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_ref() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(&self.identity) {
            return Ok(());
        }
        lease.spec = Some(released_spec(spec));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) | Err(kube::Error::Api(_)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

/// Waits until this replica leads; false if asked to shut down first.
pub async fn wait_to_lead(
    elector: &LeaderElector,
    health: &super::http::Health,
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
pub async fn keep_leading(
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

#[cfg(test)]
mod tests {
    use super::*;

    const DURATION: Duration = Duration::from_secs(15);

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn held_by(holder: &str, renewed: i64) -> LeaseSpec {
        next_spec(None, &Decision::Acquire, holder, at(renewed), DURATION)
    }

    #[test]
    fn a_missing_or_released_lease_is_acquired() {
        assert_eq!(decide(None, "a", at(0), DURATION), Decision::Acquire);
        let released = released_spec(&held_by("b", 0));
        assert_eq!(
            decide(Some(&released), "a", at(1), DURATION),
            Decision::Acquire
        );
    }

    #[test]
    fn the_holder_renews() {
        assert_eq!(
            decide(Some(&held_by("a", 0)), "a", at(5), DURATION),
            Decision::Renew
        );
        let renewed = next_spec(
            Some(&held_by("a", 0)),
            &Decision::Renew,
            "a",
            at(5),
            DURATION,
        );
        assert_eq!(renewed.renew_time, Some(MicroTime(at(5))));
        assert_eq!(
            renewed.acquire_time,
            Some(MicroTime(at(0))),
            "acquisition time is kept"
        );
        assert_eq!(renewed.lease_transitions, Some(1));
    }

    #[test]
    fn another_holder_is_followed_until_the_lease_expires() {
        let lease = held_by("b", 0);
        assert_eq!(
            decide(Some(&lease), "a", at(14), DURATION),
            Decision::Follow { holder: "b".into() }
        );
        assert_eq!(
            decide(Some(&lease), "a", at(16), DURATION),
            Decision::Acquire
        );
        let taken = next_spec(Some(&lease), &Decision::Acquire, "a", at(16), DURATION);
        assert_eq!(taken.holder_identity.as_deref(), Some("a"));
        assert_eq!(taken.lease_transitions, Some(2));
    }

    #[test]
    fn the_lease_duration_written_by_the_holder_counts() {
        let mut lease = held_by("b", 0);
        lease.lease_duration_seconds = Some(60);
        assert!(matches!(
            decide(Some(&lease), "a", at(30), DURATION),
            Decision::Follow { .. }
        ));
    }

    #[test]
    fn a_lease_without_times_is_expired() {
        let lease = LeaseSpec {
            holder_identity: Some("b".into()),
            ..LeaseSpec::default()
        };
        assert_eq!(
            decide(Some(&lease), "a", at(0), DURATION),
            Decision::Acquire
        );
    }
}
