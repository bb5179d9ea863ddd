//! The one helper that sets conditions: `lastTransitionTime` moves only when `status` flips.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub const READY: &str = "Ready";
pub const SYNCED: &str = "Synced";
/// kstatus's abnormal-true conditions, which Flux, Argo CD (through its health check)
/// and `kubectl wait`/cli-utils read on custom resources: work is under way...
pub const RECONCILING: &str = "Reconciling";
/// ...or it will not get better without a change (a refused spec, a failed rollout).
pub const STALLED: &str = "Stalled";

/// Sets condition `type_` in `conditions`, keeping `lastTransitionTime` unless the status
/// changes. Returns whether anything changed.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) -> bool {
    let status = if status { "True" } else { "False" };
    let wanted = |last_transition_time: Time| Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        // The API server caps a condition message at 32768 characters.
        message: truncate(message, 32_000),
        observed_generation: generation,
        last_transition_time,
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            let time = if existing.status == status {
                existing.last_transition_time.clone()
            } else {
                now.clone()
            };
            let updated = wanted(time);
            let changed = *existing != updated;
            *existing = updated;
            changed
        }
        None => {
            conditions.push(wanted(now.clone()));
            true
        }
    }
}

/// `text` cut to at most `max` bytes (plus an ellipsis) on a character boundary.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut conditions = Vec::new();
        assert!(set_condition(
            &mut conditions,
            READY,
            false,
            "Pending",
            "wait",
            Some(1),
            &at(10)
        ));
        // Same status, new reason: changed, but the transition time stays.
        assert!(set_condition(
            &mut conditions,
            READY,
            false,
            "Scaling",
            "wait",
            Some(1),
            &at(20)
        ));
        assert_eq!(conditions[0].last_transition_time, at(10));
        // Identical: nothing changes.
        assert!(!set_condition(
            &mut conditions,
            READY,
            false,
            "Scaling",
            "wait",
            Some(1),
            &at(30)
        ));
        // Flip: the transition time moves.
        assert!(set_condition(
            &mut conditions,
            READY,
            true,
            "Ready",
            "",
            Some(1),
            &at(40)
        ));
        assert_eq!(conditions[0].last_transition_time, at(40));
        assert_eq!(conditions.len(), 1);
    }

    #[test]
    fn conditions_are_keyed_by_type() {
        let mut conditions = Vec::new();
        set_condition(&mut conditions, READY, true, "Ready", "", None, &at(1));
        set_condition(
            &mut conditions,
            SYNCED,
            true,
            "ReconcileSuccess",
            "",
            None,
            &at(1),
        );
        assert_eq!(conditions.len(), 2);
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let message = "é".repeat(20_000);
        let mut conditions = Vec::new();
        set_condition(&mut conditions, SYNCED, false, "X", &message, None, &at(1));
        assert!(conditions[0].message.len() <= 32_004);
    }
}
