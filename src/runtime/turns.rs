//! The resync: every object is looked at again once per resync period, at its group's
//! turn. A group (the DaemonServices of one ECS cluster) has a turn of its own, at a
//! fixed offset within the period (a hash of the group), so that its objects come back
//! together and share their reads, and groups do not all come back at once. An object
//! without a group is its own group.
//!
//! One stream per watch emits, every tick, the objects whose turn fell since the last
//! tick. The controller then waits for a change or a turn after a successful reconcile,
//! instead of keeping a timer per object: with 10,000 objects those timers were about a
//! tenth of the process's memory. An object reconciled for another reason just before
//! its turn is looked at again at the turn; the reads it needs are still cached then.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::{Stream, StreamExt};
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{ObjectRef, Store};

use super::Managed;
use super::shards::{Shards, stable_hash};

/// Where in each period of `resync` the turn of `group` falls, in milliseconds.
pub fn phase(resync: Duration, group: &str) -> u128 {
    stable_hash(group.as_bytes()) as u128 % resync.as_millis().max(1)
}

/// How long after `since` (a time since the epoch) the next turn at `phase` of each
/// `resync` period falls: the first instant after `since`, never `since` itself. Pure.
pub fn until_next(since: Duration, resync: Duration, phase: u128) -> Duration {
    let period = resync.as_millis().max(1);
    let ahead = (phase + period - since.as_millis() % period) % period;
    let ahead = if ahead == 0 { period } else { ahead };
    Duration::from_millis(ahead as u64)
}

/// Whether a turn at `phase` of each `resync` period falls in `(since, until]` (times
/// since the epoch, whole milliseconds). Pure.
pub fn due(since: Duration, until: Duration, resync: Duration, phase: u128) -> bool {
    let (from, to) = (since.as_millis(), until.as_millis());
    to > from && until_next(since, resync, phase).as_millis() <= to - from
}

/// The group an object resyncs with: its kind's (`Managed::resync_group`), else its own.
fn group_of<K: Managed>(obj: &K) -> String {
    obj.resync_group().unwrap_or_else(|| {
        format!(
            "{}/{}/{}",
            K::kind(&()),
            obj.namespace().unwrap_or_default(),
            obj.name_any()
        )
    })
}

/// How often the turns are looked for: often enough that a turn comes within a small
/// part of the period, rarely enough that scanning the store costs nothing to speak of.
fn tick(resync: Duration) -> Duration {
    (resync / 20).clamp(Duration::from_millis(20), Duration::from_secs(1))
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// The objects of `store` at each of their turns (with `shards`, only the objects of
/// the shards this replica holds: the others are another replica's to resync). Objects
/// that do not decode wait for a change instead.
pub fn resync_turns<K: Managed>(
    store: Store<DeserializeGuard<K>>,
    resync: Duration,
    shards: Option<Arc<Shards>>,
) -> impl Stream<Item = ObjectRef<DeserializeGuard<K>>> + Send + 'static {
    let mut ticks = tokio::time::interval(tick(resync));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ours = move |guard: &DeserializeGuard<K>| {
        shards
            .as_ref()
            .is_none_or(|shards| shards.holds(shards.shard_of(guard)))
    };
    futures::stream::unfold((ticks, since_epoch()), move |(mut ticks, since)| {
        let store = store.clone();
        let ours = ours.clone();
        async move {
            ticks.tick().await;
            let until = since_epoch();
            // In no particular order: kube's scheduler picks the order they run in.
            let due: Vec<_> = store
                .state()
                .iter()
                .filter(|guard| ours(guard))
                .filter(|guard| {
                    guard
                        .0
                        .as_ref()
                        .is_ok_and(|obj| due(since, until, resync, phase(resync, &group_of(obj))))
                })
                .map(|guard| ObjectRef::from_obj(&**guard))
                .collect();
            Some((futures::stream::iter(due), (ticks, until)))
        }
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon_service::DaemonService;

    const RESYNC: Duration = Duration::from_secs(60);
    const EPOCH: u64 = 1_800_000_000_000;

    fn at(ms: u64) -> Duration {
        Duration::from_millis(EPOCH + ms)
    }

    #[test]
    fn a_turn_comes_once_per_period_whatever_the_ticks() {
        let phase = phase(RESYNC, "eu-west-1//production");
        // Ticks of uneven length over five periods: the turn falls in exactly one tick
        // of each period, never in two.
        let mut since = at(0);
        let mut turns = Vec::new();
        for step in (0..).map(|i| 300 + (i * 7_919) % 1_700).take(1_000) {
            let until = since + Duration::from_millis(step);
            if until > at(300_000) {
                break;
            }
            if due(since, until, RESYNC, phase) {
                turns.push(until.as_millis());
            }
            since = until;
        }
        assert_eq!(turns.len(), 5, "{turns:?}");
        for pair in turns.windows(2) {
            let apart = pair[1] - pair[0];
            assert!((58_000..=62_000).contains(&apart), "{turns:?}");
        }
        assert!(!due(at(10), at(10), RESYNC, phase), "an empty window");
    }

    #[test]
    fn a_window_includes_its_end_and_excludes_its_start() {
        let period = RESYNC.as_millis() as u64;
        let start = EPOCH - EPOCH % period + period;
        let phase = 1_234;
        let turn = Duration::from_millis(start + phase as u64);
        assert!(due(turn - Duration::from_millis(1), turn, RESYNC, phase));
        assert!(!due(turn, turn + Duration::from_millis(1), RESYNC, phase));
        // A window longer than a period holds a turn wherever it starts.
        assert!(due(turn, turn + RESYNC, RESYNC, phase));
    }

    #[test]
    fn the_next_turn_is_the_first_instant_after_now_at_the_phase() {
        let period = RESYNC.as_millis() as u64;
        let start = EPOCH - EPOCH % period + period;
        let turn = Duration::from_millis(start + 1_234);
        let before = turn - Duration::from_millis(500);
        assert_eq!(
            until_next(before, RESYNC, 1_234),
            Duration::from_millis(500)
        );
        // At the turn itself the next one is a whole period away.
        assert_eq!(until_next(turn, RESYNC, 1_234), RESYNC);
        assert!(due(
            before,
            before + until_next(before, RESYNC, 1_234),
            RESYNC,
            1_234
        ));
    }

    fn daemon_service(name: &str, cluster: &str) -> DeserializeGuard<DaemonService> {
        DeserializeGuard(Ok(serde_json::from_value(serde_json::json!({
            "apiVersion": "ecsfleet.dev/v1alpha1", "kind": "DaemonService",
            "metadata": {"name": name, "namespace": "turns", "uid": name},
            "spec": {"cluster": cluster, "taskDefinition": {"arn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/a:1"}},
        }))
        .unwrap()))
    }

    fn store_of(objects: &[(&str, &str)]) -> Store<DeserializeGuard<DaemonService>> {
        let (reader, mut writer) = kube::runtime::reflector::store();
        for (name, cluster) in objects {
            writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(daemon_service(
                name, cluster,
            )));
        }
        reader
    }

    /// What `resync_turns` emits in `window`, as batches of names (one per tick).
    async fn emitted(
        store: Store<DeserializeGuard<DaemonService>>,
        resync: Duration,
        shards: Option<Arc<Shards>>,
        window: Duration,
    ) -> Vec<String> {
        let turns = resync_turns(store, resync, shards);
        let mut names = Vec::new();
        let _ = tokio::time::timeout(window, async {
            futures::pin_mut!(turns);
            while let Some(object) = turns.next().await {
                names.push(object.name);
            }
        })
        .await;
        names
    }

    #[tokio::test]
    async fn every_object_comes_back_at_its_groups_turn() {
        let store = store_of(&[
            ("a1", "a"),
            ("b1", "b"),
            ("a2", "a"),
            ("b2", "b"),
            ("c1", "c"),
        ]);
        let resync = Duration::from_millis(400);
        let names = emitted(store, resync, None, Duration::from_millis(1_300)).await;
        for name in ["a1", "a2", "b1", "b2", "c1"] {
            let turns = names.iter().filter(|n| *n == name).count();
            // 1.3 s of a 0.4 s resync: three or four turns (two if the machine is so
            // busy that the last ticks come late), never one per tick.
            assert!((2..=4).contains(&turns), "{name}: {names:?}");
        }
        // The objects of a cluster come back together, next to each other.
        for (one, other) in [("a1", "a2"), ("b1", "b2")] {
            let at = |n: &str| names.iter().position(|x| x == n).unwrap();
            assert_eq!(at(one).abs_diff(at(other)), 1, "{names:?}");
        }
    }

    #[tokio::test]
    async fn the_objects_of_shards_held_elsewhere_are_not_resynced_here() {
        let store = store_of(&[("a1", "a"), ("b1", "b")]);
        let shards = Shards::new(2, crate::runtime::shards::ShardKey::Uid);
        let names = emitted(
            store,
            Duration::from_millis(200),
            Some(shards),
            Duration::from_millis(700),
        )
        .await;
        assert_eq!(names, Vec::<String>::new());
    }

    #[test]
    fn groups_have_turns_of_their_own() {
        let phases: std::collections::BTreeSet<u128> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|cluster| phase(RESYNC, &format!("eu-west-1//{cluster}")))
            .collect();
        assert!(phases.len() > 1, "{phases:?}");
        assert!(phases.iter().all(|p| *p < 60_000));
    }
}
