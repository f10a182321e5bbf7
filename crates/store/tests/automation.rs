//! The automation part of the store suite (`leadscore_store::Automation`): trigger
//! edges and the outbox, delivery claims, stages, owners and tags, on both backends.
//! `automation_suite_tests!` adds one test per function to a backend module of
//! `tests.rs` (with its `fresh()` fixture).

use std::collections::HashSet;

use leadscore_store::automation::{
    AccountAssignRequest, AssignRequest, Assigned, DeliveryOutcome, DeliveryQuery, OutboxAction,
    StageChange, TriggerCheck, TriggerStatus, delivery_id, kind, status,
};
use leadscore_store::{Automation, ScoreQuery, Store};

/// A check of one trigger `hot` with a webhook, an e-mail, a tag and a stage.
fn check(contact: &str, at: i64, active: bool) -> TriggerCheck {
    TriggerCheck {
        contact_id: contact.to_owned(),
        at,
        triggers: vec![TriggerStatus {
            trigger_id: "hot".into(),
            active,
            outbox: vec![
                OutboxAction {
                    index: 0,
                    kind: kind::WEBHOOK.into(),
                    target: "https://crm.example.com/hook".into(),
                },
                OutboxAction {
                    index: 2,
                    kind: kind::EMAIL.into(),
                    target: "lead@example.com".into(),
                },
            ],
            tags: vec!["hot".into()],
            set_stage: Some("sql".into()),
        }],
        snapshot: format!(r#"{{"contact_id":"{contact}","score":90}}"#),
    }
}

fn assign(contact: &str, capacity: Option<u32>) -> AssignRequest {
    AssignRequest {
        contact_id: contact.to_owned(),
        team: "sales".into(),
        members: vec!["anna".into(), "ben".into()],
        capacity,
        route: Some("inbound".into()),
        reason: "route inbound".into(),
        at: 1,
    }
}

pub async fn trigger_edges_fire_once_and_rearm(store: &(impl Store + Automation)) {
    let first = store.record_triggers(&check("c1", 10, true)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].fires, 1);
    assert_eq!(
        first[0].deliveries,
        [
            delivery_id("c1", "hot", 1, 0),
            delivery_id("c1", "hot", 1, 2)
        ]
    );
    // Still active: nothing fires.
    assert!(
        store
            .record_triggers(&check("c1", 11, true))
            .await
            .unwrap()
            .is_empty()
    );
    // Re-armed, then active again: the second edge, with new ids.
    assert!(
        store
            .record_triggers(&check("c1", 12, false))
            .await
            .unwrap()
            .is_empty()
    );
    let second = store.record_triggers(&check("c1", 13, true)).await.unwrap();
    assert_eq!(second[0].fires, 2);
    assert_eq!(second[0].deliveries[0], delivery_id("c1", "hot", 2, 0));
    let all = store.deliveries(&DeliveryQuery::default()).await.unwrap();
    assert_eq!(all.items.len(), 4);
    assert!(all.items.iter().all(|d| d.status == status::PENDING));
    let d = store
        .delivery(&first[0].deliveries[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!((d.kind.as_str(), d.fired_at, d.fires), ("webhook", 10, 1));
    assert_eq!(d.body, r#"{"contact_id":"c1","score":90}"#);
    assert_eq!(store.tags("c1").await.unwrap(), ["hot"]);
    let stages = store.stage_history("c1").await.unwrap();
    assert_eq!(stages.len(), 1);
    assert_eq!(
        (stages[0].stage.as_str(), stages[0].reason.as_str()),
        ("sql", "trigger hot")
    );
    let state = store.automation_state("c1").await.unwrap();
    assert_eq!(state.triggers.len(), 1);
    assert!(state.triggers[0].active);
    assert_eq!(state.triggers[0].fires, 2);
}

pub async fn stale_transitions_are_ignored(store: &(impl Store + Automation)) {
    store.record_triggers(&check("c1", 10, true)).await.unwrap();
    // A computation as of an earlier instant cannot re-arm a newer state.
    store.record_triggers(&check("c1", 5, false)).await.unwrap();
    assert!(
        store
            .record_triggers(&check("c1", 11, true))
            .await
            .unwrap()
            .is_empty()
    );
    store
        .record_triggers(&check("c1", 20, false))
        .await
        .unwrap();
    assert!(
        store
            .record_triggers(&check("c1", 15, true))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.record_triggers(&check("c1", 21, true)).await.unwrap()[0].fires,
        2
    );
}

pub async fn stages_are_entered_once(store: &(impl Store + Automation)) {
    let change = |stage: &str, at| StageChange {
        contact_id: "c1".into(),
        stage: stage.into(),
        reason: format!("stage {stage}"),
        actor: "rules".into(),
        at,
    };
    assert!(store.record_stage(&change("lead", 1)).await.unwrap());
    assert!(store.record_stage(&change("mql", 2)).await.unwrap());
    assert!(!store.record_stage(&change("mql", 3)).await.unwrap());
    let stages = store.stage_history("c1").await.unwrap();
    assert_eq!(stages, [change("lead", 1), change("mql", 2)]);
}

pub async fn deliveries_are_claimed_finished_and_replayed(store: &(impl Store + Automation)) {
    let edge = store.record_triggers(&check("c1", 10, true)).await.unwrap();
    let (hook, mail) = (&edge[0].deliveries[0], &edge[0].deliveries[1]);
    let claimed = store.claim_deliveries(100, 60_000, 10, "w1").await.unwrap();
    assert_eq!(claimed.len(), 2);
    // Leased: nobody else gets them until the lease expires.
    assert!(
        store
            .claim_deliveries(200, 60_000, 10, "w2")
            .await
            .unwrap()
            .is_empty()
    );
    let failed = DeliveryOutcome::Failed {
        error: "HTTP 500".into(),
        retry_at: Some(1_000),
    };
    // Only the claim holder can finish.
    assert!(!store.finish_delivery(hook, "w2", &failed).await.unwrap());
    assert!(store.finish_delivery(hook, "w1", &failed).await.unwrap());
    assert!(
        store
            .finish_delivery(mail, "w1", &DeliveryOutcome::Delivered { at: 150 })
            .await
            .unwrap()
    );
    let d = store.delivery(hook).await.unwrap().unwrap();
    assert_eq!(
        (d.status.as_str(), d.attempts, d.next_attempt_at),
        ("pending", 1, 1_000)
    );
    assert_eq!(d.last_error.as_deref(), Some("HTTP 500"));
    // Not due before its retry time.
    assert!(
        store
            .claim_deliveries(999, 60_000, 10, "w3")
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .claim_deliveries(1_000, 60_000, 10, "w3")
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    let dead = DeliveryOutcome::Failed {
        error: "HTTP 500 again".into(),
        retry_at: None,
    };
    assert!(store.finish_delivery(hook, "w3", &dead).await.unwrap());
    let page = store
        .deliveries(&DeliveryQuery {
            status: Some(status::DEAD.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        (page.items[0].id.as_str(), page.items[0].attempts),
        (hook.as_str(), 2)
    );
    let delivered = store
        .deliveries(&DeliveryQuery {
            status: Some(status::DELIVERED.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(delivered.items[0].delivered_at, Some(150));
    // Replay: pending again, same id, due now.
    let replayed = store.replay_delivery(hook, 5_000).await.unwrap().unwrap();
    assert_eq!(
        (replayed.status.as_str(), replayed.attempts),
        ("pending", 0)
    );
    assert_eq!(
        store
            .claim_deliveries(5_000, 1, 10, "w4")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .replay_delivery("dlv_none", 1)
            .await
            .unwrap()
            .is_none()
    );
    // Paging: one at a time, no gaps or repeats.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .deliveries(&DeliveryQuery {
                limit: 1,
                after: after.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(page.items.into_iter().map(|d| d.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 2);
    assert_ne!(seen[0], seen[1]);
}

/// A model version without ben in `sales` is activated: returns the contacts released.
async fn ben_leaves(store: &(impl Store + Automation)) -> Vec<String> {
    store
        .release_owners(
            &[("sales".into(), vec!["anna".into()])],
            "member removed",
            9,
        )
        .await
        .unwrap()
}

pub async fn round_robin_respects_capacity_and_audits(store: &(impl Store + Automation)) {
    let mut owners = Vec::new();
    for c in ["c1", "c2", "c3", "c4"] {
        match store.assign_owner(&assign(c, Some(2))).await.unwrap() {
            Assigned::New(owner) => owners.push(owner.owner),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(owners, ["anna", "ben", "anna", "ben"]);
    assert_eq!(
        store.assign_owner(&assign("c5", Some(2))).await.unwrap(),
        Assigned::Full
    );
    assert!(matches!(
        store.assign_owner(&assign("c1", Some(2))).await.unwrap(),
        Assigned::Existing(o) if o.owner == "anna"
    ));
    assert_eq!(
        store.owner_loads().await.unwrap(),
        [("anna".to_owned(), 2), ("ben".to_owned(), 2)]
    );
    // Ben leaves the team: his contacts are released (and audited).
    let released = ben_leaves(store).await;
    assert_eq!(released, ["c2", "c4"]);
    let trail = store.assignments("c2").await.unwrap();
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[0].owner.as_deref(), Some("ben"));
    assert_eq!(trail[1].owner, None);
    assert_eq!(trail[1].previous_owner.as_deref(), Some("ben"));
    assert_eq!(trail[1].reason, "member removed");
    assert!(store.automation_state("c2").await.unwrap().owner.is_none());
}

pub async fn list_scores_filters_by_owner(store: &(impl Store + Automation)) {
    for (c, score) in [("c1", 10.0), ("c2", 20.0), ("c3", 30.0)] {
        store
            .save_score(&crate::score(c, 1, score, None))
            .await
            .unwrap();
        store.assign_owner(&assign(c, None)).await.unwrap();
    }
    let page = store
        .list_scores(&ScoreQuery {
            owner: Some("anna".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<_> = page.items.iter().map(|s| s.contact_id.as_str()).collect();
    assert_eq!(ids, ["c3", "c1"]);
}

pub async fn bulk_states_match_the_single_ones(store: &(impl Store + Automation)) {
    store.record_triggers(&check("c1", 10, true)).await.unwrap();
    store.record_triggers(&check("c2", 10, true)).await.unwrap();
    store
        .record_triggers(&check("c2", 20, false))
        .await
        .unwrap();
    store.assign_owner(&assign("c2", None)).await.unwrap();
    store.assign_owner(&assign("c3", None)).await.unwrap();
    let changes: Vec<StageChange> = [("lead", 1), ("mql", 2), ("lead", 3)]
        .iter()
        .map(|(stage, at)| StageChange {
            contact_id: "c2".into(),
            stage: (*stage).into(),
            reason: format!("stage {stage}"),
            actor: "rules".into(),
            at: *at,
        })
        .collect();
    store.record_stages(&changes).await.unwrap();
    let ids: Vec<String> = ["c3", "none", "c2", "c1"].map(String::from).to_vec();
    let states = store.automation_states(&ids).await.unwrap();
    assert_eq!(states.len(), 4);
    for (state, id) in states.iter().zip(&ids) {
        assert_eq!(state, &store.automation_state(id).await.unwrap(), "{id}");
    }
    assert!(states[2].owner.is_some() && !states[2].triggers.is_empty());
    assert!(states[2].stages.len() >= 2, "both stages entered");
    assert_eq!(states[1], Default::default());
}

pub async fn erase_removes_automation_state(store: &(impl Store + Automation)) {
    store.record_triggers(&check("c1", 10, true)).await.unwrap();
    store.record_triggers(&check("c2", 10, true)).await.unwrap();
    store.assign_owner(&assign("c1", None)).await.unwrap();
    assert!(store.erase_contact("c1").await.unwrap());
    let state = store.automation_state("c1").await.unwrap();
    assert!(state.triggers.is_empty() && state.stages.is_empty() && state.owner.is_none());
    assert!(store.tags("c1").await.unwrap().is_empty());
    assert!(store.assignments("c1").await.unwrap().is_empty());
    let left = store.deliveries(&DeliveryQuery::default()).await.unwrap();
    assert!(left.items.iter().all(|d| d.contact_id == "c2"));
    assert_eq!(left.items.len(), 2);
}

/// Two stores record the same edges at once: each fires exactly once, so each edge
/// is enqueued under one set of ids.
pub async fn concurrent_edges_fire_once(
    store: &(impl Store + Automation),
    other: &(impl Store + Automation),
) {
    let checks: Vec<_> = (0..40_i64)
        .map(|i| check(&format!("c{}", i % 10), 10 + i / 10, true))
        .collect();
    let (a, b) = tokio::join!(
        async {
            let mut fired = 0;
            for c in &checks {
                fired += store.record_triggers(c).await.unwrap().len();
            }
            fired
        },
        async {
            let mut fired = 0;
            for c in checks.iter().rev() {
                fired += other.record_triggers(c).await.unwrap().len();
            }
            fired
        }
    );
    assert_eq!(a + b, 10);
    let all = store
        .deliveries(&DeliveryQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 20);
    assert!(all.items.iter().all(|d| d.fires == 1));
}

/// Two workers claim at once: no delivery is claimed twice.
pub async fn concurrent_claims_are_exclusive(
    store: &(impl Store + Automation),
    other: &(impl Store + Automation),
) {
    for i in 0..30 {
        store
            .record_triggers(&check(&format!("c{i}"), 10, true))
            .await
            .unwrap();
    }
    let (a, b) = tokio::join!(
        async {
            let mut ids = Vec::new();
            loop {
                let got = store.claim_deliveries(100, 60_000, 7, "a").await.unwrap();
                if got.is_empty() {
                    break ids;
                }
                ids.extend(got.into_iter().map(|d| d.id));
            }
        },
        async {
            let mut ids = Vec::new();
            loop {
                let got = other.claim_deliveries(100, 60_000, 5, "b").await.unwrap();
                if got.is_empty() {
                    break ids;
                }
                ids.extend(got.into_iter().map(|d| d.id));
            }
        }
    );
    let mut seen = HashSet::new();
    for id in a.iter().chain(&b) {
        assert!(seen.insert(id.clone()), "{id} claimed twice");
    }
    assert_eq!(seen.len(), 60);
}

/// Two stores assign into one team at once: capacity is never exceeded.
pub async fn concurrent_assignments_respect_capacity(
    store: &(impl Store + Automation),
    other: &(impl Store + Automation),
) {
    let (a, b) = tokio::join!(
        async {
            let mut n = 0;
            for i in 0..30 {
                if let Assigned::New(_) = store
                    .assign_owner(&assign(&format!("a{i}"), Some(10)))
                    .await
                    .unwrap()
                {
                    n += 1;
                }
            }
            n
        },
        async {
            let mut n = 0;
            for i in 0..30 {
                if let Assigned::New(_) = other
                    .assign_owner(&assign(&format!("b{i}"), Some(10)))
                    .await
                    .unwrap()
                {
                    n += 1;
                }
            }
            n
        }
    );
    assert_eq!(a + b, 20);
    assert_eq!(
        store.owner_loads().await.unwrap(),
        [("anna".to_owned(), 10), ("ben".to_owned(), 10)]
    );
}

fn assign_account(account: &str, contact: &str, capacity: Option<u32>) -> AccountAssignRequest {
    AccountAssignRequest {
        account_key: account.to_owned(),
        contact: AssignRequest {
            route: Some("key-account".into()),
            reason: format!("account {account} (route key-account)"),
            ..assign(contact, capacity)
        },
    }
}

/// An account's contacts all go to its one owner, chosen round-robin, also beyond the
/// owner's capacity; contacts without an account keep the round robin; an owner who
/// leaves the team releases the account too.
pub async fn an_account_keeps_one_owner(store: &(impl Store + Automation)) {
    let owner_of = |assigned: Assigned| match assigned {
        Assigned::New(owner) => owner.owner,
        other => panic!("{other:?}"),
    };
    // anna takes c0; the account's first contact goes round-robin to ben.
    assert_eq!(
        owner_of(store.assign_owner(&assign("c0", Some(2))).await.unwrap()),
        "anna"
    );
    let mut account = Vec::new();
    for c in ["a1", "a2", "a3"] {
        account.push(owner_of(
            store
                .assign_account(&assign_account("acme", c, Some(2)))
                .await
                .unwrap()
                .0,
        ));
    }
    // Three contacts for ben, whose capacity is 2: the buying group stays together.
    assert_eq!(account, ["ben", "ben", "ben"]);
    let stored = store.account_owner("acme").await.unwrap().unwrap();
    assert_eq!(
        (stored.owner.as_str(), stored.team.as_str()),
        ("ben", "sales")
    );
    assert_eq!(stored.route.as_deref(), Some("key-account"));
    assert_eq!(store.account_owner("other").await.unwrap(), None);
    let trail = store.assignments("a2").await.unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].reason, "account acme (route key-account)");
    // The round robin goes on after ben (the account's choice), skipping him: full.
    assert_eq!(
        owner_of(store.assign_owner(&assign("c1", Some(2))).await.unwrap()),
        "anna"
    );
    assert_eq!(
        store.assign_owner(&assign("c2", Some(2))).await.unwrap(),
        Assigned::Full
    );
    // A new account finds everyone at capacity.
    assert_eq!(
        store
            .assign_account(&assign_account("globex", "g1", Some(2)))
            .await
            .unwrap()
            .0,
        Assigned::Full
    );
    assert_eq!(store.account_owner("globex").await.unwrap(), None);
    // An assigned contact keeps its owner.
    assert!(matches!(
        store.assign_account(&assign_account("acme", "c0", Some(2))).await.unwrap().0,
        Assigned::Existing(o) if o.owner == "anna"
    ));
    // Ben leaves: his contacts and the account are released.
    let released = ben_leaves(store).await;
    assert_eq!(released, ["a1", "a2", "a3"]);
    assert_eq!(store.account_owner("acme").await.unwrap(), None);
}

/// Hands 15 contacts of account `acme` over; returns the owners they got.
async fn hand_over(store: &(impl Store + Automation), side: &str) -> HashSet<String> {
    let mut owners = HashSet::new();
    for i in 0..15 {
        if let (Assigned::New(o), _) = store
            .assign_account(&assign_account("acme", &format!("{side}{i}"), None))
            .await
            .unwrap()
        {
            owners.insert(o.owner);
        }
    }
    owners
}

/// Two stores hand contacts of one account over at once: one owner for all of them.
pub async fn concurrent_account_assignments_pick_one_owner(
    store: &(impl Store + Automation),
    other: &(impl Store + Automation),
) {
    let (a, b) = tokio::join!(hand_over(store, "a"), hand_over(other, "b"));
    let all: HashSet<String> = a.union(&b).cloned().collect();
    assert_eq!(all.len(), 1, "{all:?}");
    let owner = store.account_owner("acme").await.unwrap().unwrap().owner;
    assert!(all.contains(&owner));
    assert_eq!(store.owner_loads().await.unwrap(), [(owner, 30)]);
}

/// [`suite_tests!`](crate) for the functions of module `$module`.
macro_rules! suite_tests_in {
    ($module:ident, single: [$($name:ident),* $(,)?], pair: [$($pair:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture = fresh().await;
                crate::$module::$name(&fixture.store).await;
                fixture.finish().await;
            }
        )*
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $pair() {
                let fixture = fresh().await;
                let other = fixture.other().await;
                crate::$module::$pair(&fixture.store, &other).await;
                other.close().await;
                fixture.finish().await;
            }
        )*
    };
}

/// One `#[tokio::test]` per automation suite function, for a backend module with
/// `fresh()`.
macro_rules! automation_suite_tests {
    () => {
        suite_tests_in!(
            automation,
            single: [
                trigger_edges_fire_once_and_rearm,
                stale_transitions_are_ignored,
                stages_are_entered_once,
                deliveries_are_claimed_finished_and_replayed,
                round_robin_respects_capacity_and_audits,
                list_scores_filters_by_owner,
                erase_removes_automation_state,
                bulk_states_match_the_single_ones,
                an_account_keeps_one_owner,
            ],
            pair: [
                concurrent_edges_fire_once,
                concurrent_claims_are_exclusive,
                concurrent_assignments_respect_capacity,
                concurrent_account_assignments_pick_one_owner,
            ]
        );
    };
}
