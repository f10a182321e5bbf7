//! The outcomes part of the store suite (`leadscore_store::Outcomes`): outcomes from
//! the API and from Segment events, counted once per idempotency key, on both
//! backends. `outcomes_suite_tests!` adds one test per function to a backend module of
//! `tests.rs` (with its `fresh()` fixture).

use leadscore_store::outcomes::{NewOutcome, Outcomes};
use leadscore_store::{NewEvent, Store};

/// An outcome from the API.
fn outcome(contact: &str, kind: &str, at: i64, key: Option<&str>) -> NewOutcome {
    NewOutcome {
        contact_id: contact.to_owned(),
        outcome: kind.to_owned(),
        at,
        source: "api".to_owned(),
        message_id: key.map(str::to_owned),
        recorded_at: at + 5,
    }
}

/// A named `track` of a user, as ingestion stores it.
fn named(id: &str, user: &str, name: &str, t: i64) -> NewEvent {
    NewEvent {
        message_id: Some(id.to_owned()),
        kind: "track".to_owned(),
        user_id: Some(user.to_owned()),
        anonymous_id: None,
        timestamp: t,
        received_at: t + 1,
        body: format!(
            r#"{{"type":"track","event":"{name}","userId":"{user}","messageId":"{id}"}}"#
        ),
    }
}

fn kinds(outcomes: &[leadscore_store::outcomes::StoredOutcome]) -> Vec<(String, i64)> {
    outcomes
        .iter()
        .map(|o| (o.outcome.outcome.clone(), o.outcome.at))
        .collect()
}

pub async fn outcomes_are_kept_in_time_order_and_keys_count_once(store: &(impl Store + Outcomes)) {
    let (first, created) = store
        .add_outcome(&outcome("c1", "lost", 200, Some("k1")))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(first.outcome, outcome("c1", "lost", 200, Some("k1")));
    // The same key again: the stored row, not a second one (even with other values).
    let (again, created) = store
        .add_outcome(&outcome("c1", "won", 300, Some("k1")))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again, first);
    // Without a key, every copy counts.
    for _ in 0..2 {
        store
            .add_outcome(&outcome("c1", "won", 100, None))
            .await
            .unwrap();
    }
    let listed = store.outcomes("c1").await.unwrap();
    assert_eq!(
        kinds(&listed),
        [
            ("won".into(), 100),
            ("won".into(), 100),
            ("lost".into(), 200)
        ]
    );
    assert!(listed[0].id < listed[1].id);
    assert!(store.outcomes("nobody").await.unwrap().is_empty());
}

pub async fn first_outcomes_are_the_earliest_per_contact(store: &(impl Store + Outcomes)) {
    store
        .add_outcome(&outcome("b", "won", 50, None))
        .await
        .unwrap();
    store
        .add_outcome(&outcome("a", "lost", 30, None))
        .await
        .unwrap();
    store
        .add_outcome(&outcome("a", "won", 10, None))
        .await
        .unwrap();
    // A tie in time: the one stored first.
    store
        .add_outcome(&outcome("b", "lost", 50, None))
        .await
        .unwrap();
    let first = store.first_outcomes().await.unwrap();
    let seen: Vec<_> = first
        .iter()
        .map(|o| {
            (
                o.outcome.contact_id.as_str(),
                o.outcome.outcome.as_str(),
                o.outcome.at,
            )
        })
        .collect();
    assert_eq!(seen, [("a", "won", 10), ("b", "won", 50)]);
}

pub async fn appended_outcome_events_record_outcomes_once(store: &(impl Store + Outcomes)) {
    let appended = store
        .append(&[
            named("e1", "u1", "Demo Requested", 10),
            named("e2", "u1", "Opportunity Won", 20),
            named("e3", "u2", "Opportunity Lost", 30),
            named("e4", "u2", "Order Completed", 40),
        ])
        .await
        .unwrap();
    assert_eq!(appended.inserted, 4);
    // The same messages again (a Segment retry): stored once, counted once.
    let again = store
        .append(&[named("e2", "u1", "Opportunity Won", 20)])
        .await
        .unwrap();
    assert_eq!(again.duplicates, 1);
    let u1 = store.outcomes("u1").await.unwrap();
    assert_eq!(kinds(&u1), [("won".into(), 20)]);
    assert_eq!(u1[0].outcome.source, "segment");
    assert_eq!(u1[0].outcome.message_id.as_deref(), Some("e2"));
    assert_eq!(u1[0].outcome.recorded_at, 21);
    let u2 = store.outcomes("u2").await.unwrap();
    assert_eq!(kinds(&u2), [("lost".into(), 30), ("won".into(), 40)]);
    // An API call with the event's message id as its key is the same outcome.
    let (_, created) = store
        .add_outcome(&outcome("u1", "won", 20, Some("e2")))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(store.outcomes("u1").await.unwrap().len(), 1);
}

pub async fn erase_removes_outcomes(store: &(impl Store + Outcomes)) {
    store
        .add_outcome(&outcome("c1", "won", 1, Some("k1")))
        .await
        .unwrap();
    store
        .add_outcome(&outcome("c2", "won", 1, Some("k2")))
        .await
        .unwrap();
    assert!(store.erase_contact("c1").await.unwrap());
    assert!(store.outcomes("c1").await.unwrap().is_empty());
    assert_eq!(store.outcomes("c2").await.unwrap().len(), 1);
    let first = store.first_outcomes().await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].outcome.contact_id, "c2");
}

/// One `#[tokio::test]` per outcomes suite function, for a backend module with
/// `fresh()`.
macro_rules! outcomes_suite_tests {
    () => {
        suite_tests_in!(
            outcomes,
            single: [
                outcomes_are_kept_in_time_order_and_keys_count_once,
                first_outcomes_are_the_earliest_per_contact,
                appended_outcome_events_record_outcomes_once,
                erase_removes_outcomes,
            ],
            pair: []
        );
    };
}
