//! The report step: the status to write after a sync (or `None` when nothing changed, so
//! a steady-state resync writes nothing to Kubernetes) and the events to publish.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::{Event, EventType};

use super::conditions::{READY, RECONCILING, STALLED, SYNCED, set_condition, truncate};
use super::{Managed, Outcome, PlannedChange};
use crate::common::CommonStatus;
use crate::error::error_chain;
use crate::{Error, Reason};

/// Whether `status` has `Ready=True`.
pub fn is_ready<K: Managed>(status: Option<&K::Status>) -> bool {
    let mut status = status.cloned().unwrap_or_default();
    K::common_status(&mut status)
        .conditions
        .iter()
        .any(|c| c.type_ == READY && c.status == "True")
}

/// The status after a sync of `obj` that ended in `result`, or `None` if it would equal
/// the current one. `lastSyncTime` moves only together with another change.
pub fn next_status<K: Managed>(
    obj: &K,
    result: &Result<Outcome<K::Status>, Error>,
    now: &Time,
) -> Option<K::Status> {
    let current = obj.status().cloned().unwrap_or_default();
    let generation = obj.meta().generation;
    let mut previous_common = current.clone();
    let previous_common = K::common_status(&mut previous_common).clone();
    let previous_generation = previous_common.observed_generation;
    let was_ready = previous_common
        .conditions
        .iter()
        .any(|c| c.type_ == READY && c.status == "True");
    let mut next = match result {
        Ok(outcome) => {
            let mut status = outcome.status.clone();
            let common = K::common_status(&mut status);
            *common = previous_common;
            if outcome.drift_repairs > 0 {
                let total = common.drift_repairs.unwrap_or(0) + outcome.drift_repairs as i64;
                common.drift_repairs = Some(total);
            }
            status
        }
        Err(_) => current.clone(),
    };
    let common = K::common_status(&mut next);
    common.observed_generation = generation;
    let progress = match result {
        Ok(outcome) if outcome.readiness.ready => Progress::Done,
        Ok(outcome) => {
            let readiness = &outcome.readiness;
            let verdict = (readiness.reason.clone(), readiness.message.clone());
            match readiness.stalled {
                true => Progress::Stalled(verdict),
                false => Progress::Reconciling(verdict),
            }
        }
        Err(error) => {
            let verdict = (error.reason().as_str().to_string(), error.redacted());
            match error.is_retryable() {
                false => Progress::Stalled(verdict),
                // A passing failure of an object that serves, whose spec did not move,
                // changes nothing that tools should wait for.
                true if was_ready && previous_generation == generation => Progress::Unchanged,
                true => Progress::Reconciling(verdict),
            }
        }
    };
    set_progress(&mut common.conditions, &progress, generation, now);
    match result {
        Ok(outcome) => {
            let readiness = &outcome.readiness;
            set_condition(
                &mut common.conditions,
                READY,
                readiness.ready,
                &readiness.reason,
                &readiness.message,
                generation,
                now,
            );
            set_condition(
                &mut common.conditions,
                SYNCED,
                true,
                Reason::ReconcileSuccess.as_str(),
                "the AWS resources match the spec",
                generation,
                now,
            );
        }
        Err(error) => {
            let reason = error.reason();
            // A passing failure (throttling, a timeout) says nothing about whether what
            // already exists still serves: keep Ready unless the spec moved on.
            let spec_moved = previous_generation != generation;
            if !error.is_retryable() || spec_moved {
                set_condition(
                    &mut common.conditions,
                    READY,
                    false,
                    reason.as_str(),
                    &error.redacted(),
                    generation,
                    now,
                );
            }
            set_condition(
                &mut common.conditions,
                SYNCED,
                false,
                reason.as_str(),
                &error.redacted(),
                generation,
                now,
            );
        }
    }
    if_changed::<K>(&current, next, now)
}

/// Where the work on an object stands, as kstatus reads it.
enum Progress {
    /// Ready: neither reconciling nor stalled.
    Done,
    /// Work under way (reason, message).
    Reconciling((String, String)),
    /// Will not get better without a change (reason, message).
    Stalled((String, String)),
    /// Leave both conditions as they are.
    Unchanged,
}

/// Sets `Reconciling` and `Stalled`: each present, True, only in its state, and removed
/// otherwise (as Flux does with these abnormal-true conditions; kstatus and the Argo CD
/// health check read an absent one as False). Two False conditions on every object in
/// sync would be a fifth of what the controller keeps per object.
fn set_progress(
    conditions: &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    progress: &Progress,
    generation: Option<i64>,
    now: &Time,
) {
    let (reconciling, stalled) = match progress {
        Progress::Unchanged => return,
        Progress::Done => (None, None),
        Progress::Reconciling(verdict) => (Some(verdict), None),
        Progress::Stalled(verdict) => (None, Some(verdict)),
    };
    for (type_, verdict) in [(RECONCILING, reconciling), (STALLED, stalled)] {
        match verdict {
            Some((reason, message)) => {
                set_condition(conditions, type_, true, reason, message, generation, now);
            }
            None => conditions.retain(|c| c.type_ != type_),
        }
    }
}

/// The status of an object being deleted: `Synced=False`, reason `Deleting`.
pub fn deleting_status<K: Managed>(obj: &K, now: &Time) -> Option<K::Status> {
    let current = obj.status().cloned().unwrap_or_default();
    let mut next = current.clone();
    let generation = obj.meta().generation;
    let common = K::common_status(&mut next);
    set_progress(
        &mut common.conditions,
        &Progress::Reconciling((
            Reason::Deleting.as_str().to_string(),
            "deleting the AWS resources".to_string(),
        )),
        generation,
        now,
    );
    set_condition(
        &mut common.conditions,
        SYNCED,
        false,
        Reason::Deleting.as_str(),
        "deleting the AWS resources",
        generation,
        now,
    );
    if_changed::<K>(&current, next, now)
}

/// `next`, stamped with `lastSyncTime`, if it differs from `current`.
fn if_changed<K: Managed>(
    current: &K::Status,
    mut next: K::Status,
    now: &Time,
) -> Option<K::Status> {
    if next == *current {
        return None;
    }
    K::common_status(&mut next).last_sync_time = Some(now.clone());
    Some(next)
}

/// Event notes are limited to 1 kB.
const EVENT_NOTE_MAX: usize = 1000;

/// The common status of an object whose spec does not even decode: `Ready` and `Synced`
/// False with reason `InvalidSpec`, naming the decoding error.
pub fn undecodable_status(message: &str, generation: Option<i64>, now: &Time) -> CommonStatus {
    let mut status = CommonStatus {
        observed_generation: generation,
        ..CommonStatus::default()
    };
    for type_ in [READY, SYNCED] {
        set_condition(
            &mut status.conditions,
            type_,
            false,
            Reason::InvalidSpec.as_str(),
            message,
            generation,
            now,
        );
    }
    set_progress(
        &mut status.conditions,
        &Progress::Stalled((
            Reason::InvalidSpec.as_str().to_string(),
            message.to_string(),
        )),
        generation,
        now,
    );
    status
}

/// A Normal event for an applied change.
pub fn change_event(change: &PlannedChange) -> Event {
    Event {
        type_: EventType::Normal,
        reason: change.action.clone(),
        note: Some(truncate(
            &format!("{}: {}", change.target, change.detail),
            EVENT_NOTE_MAX,
        )),
        action: change.action.clone(),
        secondary: None,
    }
}

/// A Warning event with the whole error chain.
pub fn failure_event(error: &Error, action: &str) -> Event {
    Event {
        type_: EventType::Warning,
        reason: error.reason().as_str().to_string(),
        note: Some(truncate(&error_chain(error), EVENT_NOTE_MAX)),
        action: action.to_string(),
        secondary: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration_role::{IntegrationRole, IntegrationRoleStatus};
    use crate::runtime::Readiness;

    fn at(second: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(second).unwrap())
    }

    fn object(generation: i64, status: Option<IntegrationRoleStatus>) -> IntegrationRole {
        let mut obj: IntegrationRole = serde_json::from_value(serde_json::json!({
            "apiVersion": "ecsfleet.dev/v1alpha1", "kind": "IntegrationRole",
            "metadata": {"name": "r", "namespace": "n", "generation": generation},
            "spec": {"trust": {"principals": ["123456789012"], "allowWithoutExternalId": true}}
        }))
        .unwrap();
        obj.status = status;
        obj
    }

    fn outcome(ready: bool, stalled: bool) -> Result<Outcome<IntegrationRoleStatus>, Error> {
        Ok(Outcome::new(
            Vec::new(),
            IntegrationRoleStatus::default(),
            Readiness {
                ready,
                stalled,
                reason: if ready { "Ready" } else { "RollingOut" }.into(),
                message: "m".into(),
            },
        ))
    }

    /// (status, reason) of each of Ready, Reconciling, Stalled.
    fn verdict(status: &IntegrationRoleStatus) -> [(String, String); 3] {
        [READY, RECONCILING, STALLED].map(|type_| {
            status
                .common
                .conditions
                .iter()
                .find(|c| c.type_ == type_)
                .map(|c| (c.status.clone(), c.reason.clone()))
                .unwrap_or_default()
        })
    }

    fn pair(status: &str, reason: &str) -> (String, String) {
        (status.to_string(), reason.to_string())
    }

    /// A condition not there.
    fn absent() -> (String, String) {
        (String::new(), String::new())
    }

    #[test]
    fn work_under_way_is_reconciling_and_ready_is_neither() {
        let next = next_status(&object(1, None), &outcome(false, false), &at(1)).unwrap();
        assert_eq!(
            verdict(&next),
            [
                pair("False", "RollingOut"),
                pair("True", "RollingOut"),
                absent()
            ]
        );
        let next = next_status(&object(1, Some(next)), &outcome(true, false), &at(2)).unwrap();
        assert_eq!(verdict(&next), [pair("True", "Ready"), absent(), absent()]);
        // Only Ready and Synced are kept on an object in sync.
        assert_eq!(
            next.common.conditions.len(),
            2,
            "{:?}",
            next.common.conditions
        );
    }

    #[test]
    fn a_failed_rollout_and_a_refused_spec_are_stalled() {
        let next = next_status(&object(1, None), &outcome(false, true), &at(1)).unwrap();
        assert_eq!(verdict(&next)[1..], [absent(), pair("True", "RollingOut")]);
        let refused: Result<Outcome<IntegrationRoleStatus>, Error> =
            Err(Error::invalid("spec.x", "bad"));
        let next = next_status(&object(1, None), &refused, &at(1)).unwrap();
        assert_eq!(verdict(&next)[2], pair("True", "InvalidSpec"));
        let undecodable = undecodable_status("spec.x: bad", Some(1), &at(1));
        let stalled = undecodable
            .conditions
            .iter()
            .find(|c| c.type_ == STALLED)
            .unwrap();
        assert_eq!(stalled.status, "True");
    }

    #[test]
    fn a_passing_failure_of_a_serving_object_changes_no_verdict() {
        let ready = next_status(&object(1, None), &outcome(true, false), &at(1)).unwrap();
        let throttled: Result<Outcome<IntegrationRoleStatus>, Error> =
            Err(Error::NotReady("throttled".into()));
        let next = next_status(&object(1, Some(ready.clone())), &throttled, &at(2)).unwrap();
        assert_eq!(
            verdict(&next),
            verdict(&ready),
            "still Ready, not Reconciling"
        );
        // After a spec change the same failure is work under way.
        let next = next_status(&object(2, Some(ready)), &throttled, &at(3)).unwrap();
        assert_eq!(verdict(&next)[1], pair("True", "ReconcileError"));
    }
}
