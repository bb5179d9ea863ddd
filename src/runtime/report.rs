//! The report step: the status to write after a sync (or `None` when nothing changed, so
//! a steady-state resync writes nothing to Kubernetes) and the events to publish.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::{Event, EventType};

use super::conditions::{READY, SYNCED, set_condition, truncate};
use super::{Managed, Outcome, PlannedChange};
use crate::common::CommonStatus;
use crate::error::error_chain;
use crate::{Error, Reason};

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

/// The status of an object being deleted: `Synced=False`, reason `Deleting`.
pub fn deleting_status<K: Managed>(obj: &K, now: &Time) -> Option<K::Status> {
    let current = obj.status().cloned().unwrap_or_default();
    let mut next = current.clone();
    let generation = obj.meta().generation;
    let common = K::common_status(&mut next);
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
