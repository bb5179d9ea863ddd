//! Fair shares between namespaces. kube's controller hands out objects in the order they
//! became due, so a namespace that creates (or changes) a thousand objects at once would
//! queue every other namespace's object behind them. Here a namespace has at most as many
//! reconciles in flight as a kind has permits; an object beyond that is put back for about
//! the time the namespace's own queue takes to drain, and the slot it took goes to the next
//! object — of another namespace, as soon as one is due. With the permits handed out in
//! order (the semaphore is fair), another namespace's object then waits for at most one
//! reconcile of the flooding one, whatever the size of the flood.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// Reconciles in flight per namespace, and the objects put back.
pub struct Fairness {
    /// The most reconciles one namespace may have in flight.
    limit: usize,
    /// Never put back for longer: the object's resync turn comes anyway.
    longest: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    in_flight: HashMap<String, usize>,
    /// Objects put back, by namespace: how long the namespace's queue is.
    deferred: HashMap<String, HashSet<String>>,
    /// A moving average of how long one reconcile takes.
    typical: Option<Duration>,
}

/// A namespace's place in flight, given back when dropped.
pub struct Slot<'a> {
    fairness: &'a Fairness,
    namespace: String,
}

/// The shortest a put-back object waits: no hot loop, whatever the estimate.
const SHORTEST: Duration = Duration::from_millis(100);
/// The estimate of one reconcile's duration before any has finished.
const FIRST_GUESS: Duration = Duration::from_millis(200);

impl Fairness {
    pub fn new(limit: usize, longest: Duration) -> Self {
        Fairness {
            limit: limit.max(1),
            longest: longest.max(SHORTEST),
            state: Mutex::default(),
        }
    }

    /// A place in flight for `object` of `namespace`, or how long to wait before asking
    /// again: the namespace's queue (the objects put back before it) drained at its share.
    pub fn enter(&self, namespace: &str, object: &str) -> Result<Slot<'_>, Duration> {
        let mut state = self.state.lock().expect("fairness lock");
        if let Some(deferred) = state.deferred.get_mut(namespace) {
            deferred.remove(object);
            if deferred.is_empty() {
                state.deferred.remove(namespace);
            }
        }
        let in_flight = state.in_flight.entry(namespace.to_string()).or_default();
        if *in_flight < self.limit {
            *in_flight += 1;
            return Ok(Slot {
                fairness: self,
                namespace: namespace.to_string(),
            });
        }
        let typical = state.typical.unwrap_or(FIRST_GUESS);
        let deferred = state.deferred.entry(namespace.to_string()).or_default();
        deferred.insert(object.to_string());
        let queued = deferred.len() as u32;
        let wait = typical.saturating_mul(queued) / self.limit as u32;
        Err(wait.clamp(SHORTEST, self.longest))
    }

    /// Records how long a reconcile took, for the estimate of the queues' pace.
    pub fn took(&self, duration: Duration) {
        let mut state = self.state.lock().expect("fairness lock");
        state.typical = Some(match state.typical {
            None => duration,
            Some(typical) => (typical * 7 + duration) / 8,
        });
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut state = self.fairness.state.lock().expect("fairness lock");
        if let Some(in_flight) = state.in_flight.get_mut(&self.namespace) {
            *in_flight = in_flight.saturating_sub(1);
            if *in_flight == 0 {
                state.in_flight.remove(&self.namespace);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_gets_at_most_its_limit_in_flight_and_others_are_not_held_back() {
        let fairness = Fairness::new(2, Duration::from_secs(60));
        let a1 = fairness.enter("a", "a/1").unwrap();
        let _a2 = fairness.enter("a", "a/2").unwrap();
        assert!(fairness.enter("a", "a/3").is_err(), "over a's share");
        let _b1 = fairness.enter("b", "b/1").expect("b is not held back by a");
        drop(a1);
        let _a3 = fairness.enter("a", "a/3").expect("a's slot came back");
    }

    #[test]
    fn objects_put_back_wait_longer_the_longer_their_namespace_queue() {
        let fairness = Fairness::new(1, Duration::from_secs(60));
        fairness.took(Duration::from_secs(1));
        let _running = fairness.enter("a", "a/0").unwrap();
        let waits: Vec<Duration> = (1..=4)
            .map(|i| fairness.enter("a", &format!("a/{i}")).err().unwrap())
            .collect();
        assert_eq!(waits, [1, 2, 3, 4].map(Duration::from_secs));
        // Coming back, an object leaves the queue: asking again does not lengthen it.
        let again = fairness.enter("a", "a/4").err().unwrap();
        assert_eq!(again, Duration::from_secs(4));
    }

    #[test]
    fn the_wait_is_bounded_both_ways() {
        let fairness = Fairness::new(1, Duration::from_secs(5));
        let _running = fairness.enter("a", "a/0").unwrap();
        fairness.took(Duration::from_micros(1));
        assert_eq!(fairness.enter("a", "a/1").err(), Some(SHORTEST));
        fairness.took(Duration::from_secs(3600));
        for _ in 0..8 {
            fairness.took(Duration::from_secs(3600));
        }
        assert_eq!(
            fairness.enter("a", "a/2").err(),
            Some(Duration::from_secs(5))
        );
    }
}
