//! Trigger edges: a trigger fires once when its condition becomes true and re-arms
//! when it becomes false.
//!
//! Which triggers *hold* at an instant is part of the result
//! ([`crate::ScoreResult::triggers_active`]); which of them *fire* is the difference
//! between two consecutive checkpoints: [`trigger_edges`] states the rule over ids, and
//! [`crate::ContactState`] applies the same rule over its own compact set at every
//! checkpoint, recording [`Fired`] edges for its caller to drain.

use leadscore_model::Millis;

/// A trigger that fired: its condition became true at the checkpoint `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The trigger's id.
    pub trigger: String,
    /// The checkpoint at which the condition was first seen to hold.
    pub at: Millis,
}

/// The triggers that fire going from the active set `previous` to `current`: those
/// active now and not before (inactive -> active), in the order of `current`. A trigger
/// that stays active does not fire again; one that became inactive is re-armed and
/// fires the next time it appears.
pub fn trigger_edges(previous: &[String], current: &[String]) -> Vec<String> {
    current
        .iter()
        .filter(|id| !previous.contains(id))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn only_upward_transitions_fire() {
        assert_eq!(trigger_edges(&[], &ids(&["a", "b"])), ids(&["a", "b"]));
        assert_eq!(trigger_edges(&ids(&["a"]), &ids(&["a", "b"])), ids(&["b"]));
        assert!(trigger_edges(&ids(&["a", "b"]), &ids(&["a"])).is_empty());
        assert!(trigger_edges(&ids(&["a"]), &[]).is_empty());
    }
}
