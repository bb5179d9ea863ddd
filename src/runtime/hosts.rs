//! The "hosts changed" signal: a ScalingGroup whose instances change in an ECS cluster
//! tells whoever cares about that cluster (the DaemonServices running on it) to look
//! again, without the runtime knowing either kind.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::broadcast;

/// Auto Scaling group instances changed in an ECS cluster.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClusterChange {
    pub region: String,
    /// The cluster's name (or ARN, as the ScalingGroup gives it).
    pub cluster: String,
}

type Listener = Box<dyn Fn(&ClusterChange) + Send + Sync>;

/// The instances each group saw last, the listeners that drop stale views before anybody
/// looks again, and the channel the changes go out on.
pub struct HostsChanged {
    last: Mutex<HashMap<String, Vec<(String, String)>>>,
    listeners: Mutex<Vec<Listener>>,
    changes: broadcast::Sender<ClusterChange>,
    /// The changes this process's groups saw (not those announced from outside).
    noted: broadcast::Sender<ClusterChange>,
}

impl Default for HostsChanged {
    fn default() -> Self {
        HostsChanged {
            last: Mutex::default(),
            listeners: Mutex::default(),
            changes: broadcast::channel(256).0,
            noted: broadcast::channel(256).0,
        }
    }
}

impl HostsChanged {
    /// Records the instances (id, lifecycle state) that group `group` saw; when they
    /// differ from the last time, runs every listener, then announces the change.
    pub fn note(&self, group: &str, region: &str, cluster: &str, instances: Vec<(String, String)>) {
        let changed = {
            let mut last = self.last.lock().expect("hosts lock");
            let key = format!("{region}/{group}");
            last.get(&key) != Some(&instances) && {
                last.insert(key, instances);
                true
            }
        };
        if changed {
            let change = ClusterChange {
                region: region.to_string(),
                cluster: cluster.to_string(),
            };
            self.announce(change.clone());
            let _ = self.noted.send(change);
        }
    }

    /// Announces that a cluster's hosts changed (an AWS event said so): every listener
    /// runs first, then whoever subscribed looks again.
    pub fn announce(&self, change: ClusterChange) {
        for listener in self.listeners.lock().expect("hosts lock").iter() {
            listener(&change);
        }
        // Nobody subscribed (the CLI) is fine.
        let _ = self.changes.send(change);
    }

    /// Forgets what a deleted group saw, so the record does not outlive it.
    pub fn forget(&self, group: &str, region: &str) {
        self.last
            .lock()
            .expect("hosts lock")
            .remove(&format!("{region}/{group}"));
    }

    /// Runs `listener` on every change, synchronously, before the change is announced:
    /// for dropping cached views, so that whoever reacts to the announcement reads anew.
    pub fn on_change(&self, listener: impl Fn(&ClusterChange) + Send + Sync + 'static) {
        self.listeners
            .lock()
            .expect("hosts lock")
            .push(Box::new(listener));
    }

    /// The changes this process's groups see from now on (for passing them on to the
    /// other replicas; the changes they pass on are announced, not noted).
    pub fn subscribe_noted(&self) -> broadcast::Receiver<ClusterChange> {
        self.noted.subscribe()
    }

    /// The changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ClusterChange> {
        self.changes.subscribe()
    }

    #[cfg(test)]
    fn recorded_groups(&self) -> usize {
        self.last.lock().expect("hosts lock").len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_change_of_a_groups_instances_is_announced_once_after_the_listeners_ran() {
        let hosts = HostsChanged::default();
        let dropped = Arc::new(AtomicUsize::new(0));
        let counter = dropped.clone();
        hosts.on_change(move |change| {
            assert_eq!(change.cluster, "production");
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let mut changes = hosts.subscribe();
        let mut noted = hosts.subscribe_noted();
        let one = vec![("i-1".to_string(), "InService".to_string())];
        hosts.note("edge/workers", "eu-west-1", "production", one.clone());
        hosts.note("edge/workers", "eu-west-1", "production", one.clone());
        let announced = changes.try_recv().unwrap();
        assert_eq!(announced.cluster, "production");
        assert!(
            changes.try_recv().is_err(),
            "the same instances are no change"
        );
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_eq!(noted.try_recv().unwrap(), announced, "noted to pass on");
        // A change announced from outside (an event, another replica) is not noted.
        hosts.announce(announced.clone());
        assert!(noted.try_recv().is_err());
        assert!(changes.try_recv().is_ok());

        let two = vec![one[0].clone(), ("i-2".to_string(), "Pending".to_string())];
        hosts.note("edge/workers", "eu-west-1", "production", two);
        assert!(changes.try_recv().is_ok());
        assert_eq!(dropped.load(Ordering::SeqCst), 3);

        // A deleted group leaves no record behind.
        hosts.forget("edge/workers", "eu-west-1");
        assert_eq!(hosts.recorded_groups(), 0);
    }
}
