//! The accounts part of the store suite (`leadscore_store::Accounts`): account
//! membership written with the scores (single and batch saves), read by account key,
//! paged over all accounts, and erased with the contact, on both backends.
//! `accounts_suite_tests!` adds one test per function to a backend module of `tests.rs`
//! (with its `fresh()` fixture).

use leadscore_store::accounts::{AccountMember, AccountTriggerCheck};
use leadscore_store::automation::{
    DeliveryQuery, OutboxAction, TriggerStatus, account_delivery_id, kind,
};
use leadscore_store::{Accounts, Automation, Store, StoredScore};

/// A checkpoint of account `key`'s trigger `hot` (a webhook and a tag) with `members`.
fn account_check(key: &str, at: i64, active: bool, members: &[&str]) -> AccountTriggerCheck {
    AccountTriggerCheck {
        account_key: key.to_owned(),
        at,
        triggers: vec![TriggerStatus {
            trigger_id: "hot".into(),
            active,
            outbox: vec![OutboxAction {
                index: 0,
                kind: kind::WEBHOOK.into(),
                target: "https://crm.example.com/hook".into(),
            }],
            tags: vec!["hot-account".into()],
            set_stage: None,
        }],
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        snapshot: format!(r#"{{"account":"{key}","members":{members:?}}}"#),
    }
}

/// A stored score whose result names account `key` (none: no `account` member).
pub fn member_score(contact: &str, as_of: i64, key: Option<&str>, engagement: f64) -> StoredScore {
    let account = key.map_or(String::new(), |key| {
        format!(r#","account":{{"key":"{key}","attributes":{{"industry":"Software"}}}}"#)
    });
    StoredScore {
        contact_id: contact.to_owned(),
        as_of,
        score: engagement,
        label: None,
        grade: None,
        stage: None,
        result: format!(
            r#"{{"contact_id":"{contact}","engagement":{engagement},"disqualified":false{account}}}"#
        ),
    }
}

fn ids(members: &[AccountMember]) -> Vec<&str> {
    members.iter().map(|m| m.contact_id.as_str()).collect()
}

pub async fn membership_follows_the_saved_scores(store: &(impl Store + Accounts)) {
    store
        .save_scores(&[
            member_score("c2", 10, Some("acme.example"), 20.0),
            member_score("c1", 10, Some("acme.example"), 5.0),
            member_score("c3", 10, Some("other.example"), 7.0),
            member_score("c4", 10, None, 9.0),
            // Saved twice in one batch: the last save counts.
            member_score("c5", 10, Some("acme.example"), 1.0),
            member_score("c5", 11, Some("other.example"), 2.0),
        ])
        .await
        .unwrap();
    let acme = store.account_members("acme.example").await.unwrap();
    assert_eq!(ids(&acme), ["c1", "c2"]);
    assert_eq!(acme[1].engagement, 20.0);
    assert_eq!(acme[1].attributes, r#"{"industry":"Software"}"#);
    assert!(!acme[1].disqualified);
    assert_eq!(
        ids(&store.account_members("other.example").await.unwrap()),
        ["c3", "c5"]
    );
    let wanted: Vec<String> = ["c1", "c3", "c4", "nobody"].map(String::from).to_vec();
    assert_eq!(
        store.account_keys(&wanted).await.unwrap(),
        [
            ("c1".to_owned(), "acme.example".to_owned()),
            ("c3".to_owned(), "other.example".to_owned())
        ]
    );

    // A single save moves a contact to another account; a batch save takes c3 out of
    // every account and changes c2's engagement.
    store
        .save_score(&member_score("c1", 20, Some("other.example"), 6.0))
        .await
        .unwrap();
    store
        .save_scores(&[
            member_score("c3", 20, None, 0.0),
            member_score("c2", 20, Some("acme.example"), 30.0),
        ])
        .await
        .unwrap();
    let acme = store.account_members("acme.example").await.unwrap();
    assert_eq!(ids(&acme), ["c2"]);
    assert_eq!(acme[0].engagement, 30.0);
    assert_eq!(
        ids(&store.account_members("other.example").await.unwrap()),
        ["c1", "c5"]
    );

    // All accounts, paged in (key, contact) order without gaps or repeats.
    let mut seen = Vec::new();
    let mut after: Option<(String, String)> = None;
    loop {
        let page = store
            .account_members_after(after.as_ref().map(|(k, c)| (k.as_str(), c.as_str())), 2)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.account_key.clone(), last.contact_id.clone()));
        seen.extend(
            page.iter()
                .map(|m| format!("{}/{}", m.account_key, m.contact_id)),
        );
    }
    assert_eq!(
        seen,
        ["acme.example/c2", "other.example/c1", "other.example/c5"]
    );
}

pub async fn erase_removes_account_membership(store: &(impl Store + Accounts)) {
    store
        .save_scores(&[
            member_score("c1", 10, Some("acme.example"), 5.0),
            member_score("c2", 10, Some("acme.example"), 5.0),
        ])
        .await
        .unwrap();
    assert!(store.erase_contact("c1").await.unwrap());
    assert_eq!(
        ids(&store.account_members("acme.example").await.unwrap()),
        ["c2"]
    );
    assert!(
        store
            .account_keys(&["c1".to_owned()])
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn account_trigger_edges_fire_once_tag_members_and_rearm(
    store: &(impl Store + Accounts + Automation),
) {
    let fired = store
        .record_account_triggers(&account_check("acme", 10, true, &["c1", "c2"]))
        .await
        .unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].fires, 1);
    let id = account_delivery_id("acme", "hot", 1, 0);
    assert_eq!(fired[0].deliveries, std::slice::from_ref(&id));
    // Still active: no edge.
    let again = store
        .record_account_triggers(&account_check("acme", 11, true, &["c1", "c2"]))
        .await
        .unwrap();
    assert!(again.is_empty());
    let delivery = store.delivery(&id).await.unwrap().expect("the outbox row");
    assert_eq!(delivery.account_key.as_deref(), Some("acme"));
    assert_eq!(delivery.contact_id, "");
    assert_eq!(delivery.fires, 1);
    assert!(delivery.body.contains(r#""account":"acme""#));
    for member in ["c1", "c2"] {
        assert_eq!(store.tags(member).await.unwrap(), ["hot-account"]);
    }
    // Re-armed, then the second edge with its own id; a stale checkpoint changes nothing.
    store
        .record_account_triggers(&account_check("acme", 12, false, &[]))
        .await
        .unwrap();
    assert!(
        store
            .record_account_triggers(&account_check("acme", 5, true, &["c1"]))
            .await
            .unwrap()
            .is_empty()
    );
    let second = store
        .record_account_triggers(&account_check("acme", 13, true, &["c1"]))
        .await
        .unwrap();
    assert_eq!(second[0].fires, 2);
    assert_eq!(
        second[0].deliveries,
        [account_delivery_id("acme", "hot", 2, 0)]
    );
    let states = store
        .account_trigger_states(&["acme".to_owned(), "other".to_owned()])
        .await
        .unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!((states[0].1.active, states[0].1.fires), (true, 2));
    // Erasing a member removes the account deliveries that name it.
    assert!(store.erase_contact("c2").await.unwrap());
    let page = store.deliveries(&DeliveryQuery::default()).await.unwrap();
    let ids: Vec<&str> = page.items.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, [account_delivery_id("acme", "hot", 2, 0)]);
}

pub async fn concurrent_account_edges_fire_once(
    a: &(impl Store + Accounts + Automation),
    b: &(impl Store + Accounts + Automation),
) {
    let check = account_check("acme", 10, true, &["c1"]);
    let (x, y) = tokio::join!(
        a.record_account_triggers(&check),
        b.record_account_triggers(&check)
    );
    let fired = x.unwrap().len() + y.unwrap().len();
    assert_eq!(fired, 1);
    let page = a.deliveries(&DeliveryQuery::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
}

pub async fn account_owners_are_released_with_an_audit_line(
    store: &(impl Store + Accounts + Automation),
) {
    use leadscore_store::automation::{AccountAssignRequest, AssignRequest};
    let request = AccountAssignRequest {
        account_key: "acme".into(),
        contact: AssignRequest {
            contact_id: "c1".into(),
            team: "sales".into(),
            members: vec!["anna@example.com".into(), "ben@example.com".into()],
            capacity: None,
            route: Some("key-account".into()),
            reason: "account acme (route key-account)".into(),
            at: 10,
        },
    };
    store.assign_account(&request).await.unwrap();
    let owners = store.account_owners(&["acme".to_owned()]).await.unwrap();
    assert_eq!(owners[0].owner, "anna@example.com");
    let released = store
        .release_account("acme", "last member gone", 20)
        .await
        .unwrap();
    assert_eq!(
        released.map(|o| o.owner).as_deref(),
        Some("anna@example.com")
    );
    assert!(store.account_owner("acme").await.unwrap().is_none());
    assert!(
        store
            .release_account("acme", "last member gone", 21)
            .await
            .unwrap()
            .is_none()
    );
    let trail = store.account_assignments("acme").await.unwrap();
    let lines: Vec<(Option<&str>, &str, Option<&str>)> = trail
        .iter()
        .map(|a| {
            (
                a.owner.as_deref(),
                a.reason.as_str(),
                a.previous_owner.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (
                Some("anna@example.com"),
                "account acme (route key-account)",
                None
            ),
            (None, "last member gone", Some("anna@example.com")),
        ]
    );
    // A member removed from the team releases the account owner too, audited.
    let mut again = request.clone();
    again.contact.contact_id = "c2".into();
    store.assign_account(&again).await.unwrap();
    let owner = store.account_owner("acme").await.unwrap().unwrap().owner;
    let teams = [(
        "sales".to_owned(),
        vec!["anna@example.com".to_owned(), "ben@example.com".to_owned()]
            .into_iter()
            .filter(|m| *m != owner)
            .collect(),
    )];
    store
        .release_owners(&teams, "member removed", 30)
        .await
        .unwrap();
    let trail = store.account_assignments("acme").await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!(
        (
            last.owner.as_deref(),
            last.reason.as_str(),
            last.previous_owner.as_deref()
        ),
        (None, "member removed", Some(owner.as_str()))
    );
}

/// A request to assign `contact` within team `team` of `members`.
fn within(
    team: &str,
    members: &[&str],
    contact: &str,
    at: i64,
) -> leadscore_store::automation::AssignRequest {
    leadscore_store::automation::AssignRequest {
        contact_id: contact.to_owned(),
        team: team.to_owned(),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        capacity: None,
        route: Some("inbound".into()),
        reason: "route inbound".into(),
        at,
    }
}

pub async fn an_account_given_an_owner_gathers_its_buying_group(
    store: &(impl Store + Accounts + Automation),
) {
    use leadscore_store::automation::{AccountAssignRequest, Assigned};
    const SALES: [&str; 3] = ["anna", "ben", "cara"];
    let scores: Vec<StoredScore> = ["c1", "c2", "c3", "c4", "c5", "x1", "g1", "g2"]
        .iter()
        .map(|c| {
            let key = if c.starts_with('g') { "globex" } else { "acme" };
            member_score(c, 10, Some(key), 10.0)
        })
        .collect();
    store.save_scores(&scores).await.unwrap();
    // Routed one by one before the account matched a route: anna c1 and c4, ben c2,
    // cara c3; x1 is owned on another desk.
    for c in ["c1", "c2", "c3", "c4"] {
        store
            .assign_owner(&within("sales", &SALES, c, 1))
            .await
            .unwrap();
    }
    store
        .assign_owner(&within("desk", &["dave"], "x1", 1))
        .await
        .unwrap();
    let mut request = AccountAssignRequest {
        account_key: "acme".into(),
        contact: within("sales", &SALES, "c5", 2),
    };
    request.contact.route = Some("key-account".into());
    request.contact.reason = "account acme (route key-account)".into();
    let (assigned, moved) = store.assign_account(&request).await.unwrap();
    // The rep holding most of the account becomes its owner; the others' move to her.
    assert!(
        matches!(assigned, Assigned::New(ref o) if o.owner == "anna"),
        "{assigned:?}"
    );
    assert_eq!(moved, ["c2", "c3"]);
    for c in ["c1", "c2", "c3", "c4", "c5"] {
        let owner = store.automation_state(c).await.unwrap().owner.unwrap();
        assert_eq!(owner.owner, "anna", "{c}");
    }
    assert_eq!(
        store
            .automation_state("x1")
            .await
            .unwrap()
            .owner
            .unwrap()
            .owner,
        "dave"
    );
    let trail = store.assignments("c2").await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!(
        (
            last.owner.as_deref(),
            last.reason.as_str(),
            last.previous_owner.as_deref()
        ),
        (
            Some("anna"),
            "account acme: joins the account owner",
            Some("ben")
        )
    );
    assert_eq!(store.account_assignments("acme").await.unwrap().len(), 1);
    // Not a round-robin turn: the next single lead goes after c4's anna, to ben.
    let next = store
        .assign_owner(&within("sales", &SALES, "n1", 3))
        .await
        .unwrap();
    assert!(
        matches!(next, Assigned::New(ref o) if o.owner == "ben"),
        "{next:?}"
    );

    // An account whose members are all owned gets its owner without a new contact.
    store
        .assign_owner(&within("sales", &SALES, "g1", 4))
        .await
        .unwrap();
    let routed = store
        .route_account("globex", &within("sales", &SALES, "", 5))
        .await
        .unwrap()
        .expect("an owner");
    assert_eq!((routed.0.owner.as_str(), routed.1.len()), ("cara", 0));
    assert!(
        store
            .route_account("globex", &within("sales", &SALES, "", 6))
            .await
            .unwrap()
            .is_none()
    );
}

/// One `#[tokio::test]` per accounts suite function, for a backend module with
/// `fresh()`.
macro_rules! accounts_suite_tests {
    () => {
        suite_tests_in!(
            accounts,
            single: [
                membership_follows_the_saved_scores,
                erase_removes_account_membership,
                account_trigger_edges_fire_once_tag_members_and_rearm,
                account_owners_are_released_with_an_audit_line,
                an_account_given_an_owner_gathers_its_buying_group,
            ],
            pair: [concurrent_account_edges_fire_once]
        );
    };
}

/// Scores saved before migration 0007 (the test then rewinds it): two members of
/// acme.example (one disqualified), one without an account, one that is not JSON.
pub async fn seed_before_0007(store: &impl Store) {
    let mut disqualified = member_score("c2", 10, Some("acme.example"), 4.5);
    disqualified.result = disqualified
        .result
        .replace(r#""disqualified":false"#, r#""disqualified":true"#);
    let mut broken = member_score("c4", 10, None, 1.0);
    broken.result = "not a result".to_owned();
    store
        .save_scores(&[
            member_score("c1", 10, Some("acme.example"), 12.0),
            disqualified,
            member_score("c3", 10, None, 3.0),
            broken,
        ])
        .await
        .unwrap();
}

/// What migration 0007 must have filled in from [`seed_before_0007`]'s scores.
pub async fn assert_backfilled(store: &(impl Store + Accounts)) {
    let acme = store.account_members("acme.example").await.unwrap();
    assert_eq!(ids(&acme), ["c1", "c2"]);
    assert_eq!((acme[0].engagement, acme[0].disqualified), (12.0, false));
    assert_eq!((acme[1].engagement, acme[1].disqualified), (4.5, true));
    let attributes: serde_json::Value = serde_json::from_str(&acme[0].attributes).unwrap();
    assert_eq!(attributes, serde_json::json!({"industry": "Software"}));
    assert_eq!(
        store.account_members_after(None, 10).await.unwrap().len(),
        2
    );
}

/// The statements that take a database back to before migration 0007's table, so that
/// migrating again runs it (with its backfill) over the scores stored meanwhile.
pub const REWIND_0007: [&str; 2] = [
    "DROP TABLE account_members",
    "DELETE FROM _sqlx_migrations WHERE version = 7",
];
