//! "Look again" signals from outside Kubernetes (AWS events): what changed in AWS, named
//! as AWS names it, and the stream of objects each kind reconciles for them. A trigger
//! never carries state to apply; it only makes the objects it concerns reconcile now
//! instead of at their next resync, so duplicates and reordering are harmless.

use futures::{Stream, StreamExt};
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::Managed;

/// Something in AWS changed that an object may own.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Trigger {
    /// An ECS service (its deployment, or a write to it).
    Service {
        region: String,
        cluster: String,
        service: String,
    },
    /// An Auto Scaling group (instances launched or terminated, a refresh, a write to the
    /// group, its policies, hooks or notifications).
    Group { region: String, group: String },
    /// An IAM role (its trust policy, attachments, settings). IAM is global.
    Role { role: String },
    /// A customer-managed IAM policy, by ARN.
    Policy { arn: String },
    /// CloudWatch alarms, by name.
    Alarms { region: String, names: Vec<String> },
}

/// Which objects of a kind a trigger concerns.
pub trait Concerns {
    /// Whether `trigger` names something this object owns. `default_region` is the
    /// region of objects without `spec.region`.
    fn concerns(&self, trigger: &Trigger, default_region: Option<&str>) -> bool;
}

/// The triggers, as a stream that skips what a slow receiver missed (the next ones still
/// name what matters, and the resync is the safety net).
pub fn received<T: Clone + Send + 'static>(
    receiver: broadcast::Receiver<T>,
) -> impl Stream<Item = T> + Send + 'static {
    futures::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(item) => return Some((item, receiver)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

/// The objects in `store` that `concerned` picks for each item of `items`.
pub fn reconciles_for<K, T>(
    store: Store<DeserializeGuard<K>>,
    items: impl Stream<Item = T> + Send + 'static,
    concerned: impl Fn(&K, &T) -> bool + Send + 'static,
) -> impl Stream<Item = ObjectRef<DeserializeGuard<K>>> + Send + 'static
where
    K: Managed,
    T: Send + 'static,
{
    items.flat_map(move |item| {
        let refs: Vec<_> = store
            .state()
            .iter()
            .filter(|guard| guard.0.as_ref().is_ok_and(|obj| concerned(obj, &item)))
            .map(|guard| ObjectRef::from_obj(&**guard))
            .collect();
        futures::stream::iter(refs)
    })
}

/// The objects of kind `K` the triggers of `receiver` concern.
pub fn reconciles_for_triggers<K: Managed + Concerns>(
    store: Store<DeserializeGuard<K>>,
    receiver: broadcast::Receiver<Trigger>,
    default_region: Option<String>,
) -> impl Stream<Item = ObjectRef<DeserializeGuard<K>>> + Send + 'static {
    reconciles_for(store, received(receiver), move |obj: &K, trigger| {
        obj.concerns(trigger, default_region.as_deref())
    })
}

/// Whether an object of region `object` (None: the default region) is in `region`.
pub fn same_region(object: Option<&String>, default: Option<&str>, region: &str) -> bool {
    object.map(String::as_str).or(default) == Some(region)
}
