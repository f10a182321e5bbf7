//! The store test suite: every function in [`suite`] runs against a fresh SQLite file
//! and a fresh PostgreSQL schema (`postgres://postgres@127.0.0.1:5432/test`, or
//! `LEADSCORE_TEST_POSTGRES`), so both backends keep one contract.

use leadscore_store::{KeyRecord, NewAdjustment, NewEvent, StoredScore};

#[macro_use]
mod automation;
#[macro_use]
mod accounts;
#[macro_use]
mod outcomes;

/// A message with the fields the store looks at.
fn event(
    message_id: Option<&str>,
    kind: &str,
    user_id: Option<&str>,
    anonymous_id: Option<&str>,
    timestamp: i64,
) -> NewEvent {
    NewEvent {
        message_id: message_id.map(str::to_owned),
        kind: kind.to_owned(),
        user_id: user_id.map(str::to_owned),
        anonymous_id: anonymous_id.map(str::to_owned),
        timestamp,
        received_at: timestamp + 1,
        body: format!(r#"{{"type":"{kind}","messageId":{message_id:?},"t":{timestamp}}}"#),
    }
}

/// A `track` of a user.
fn track(id: &str, user: &str, t: i64) -> NewEvent {
    event(Some(id), "track", Some(user), None, t)
}

/// A `track` of an anonymous visitor.
fn anon(id: &str, anonymous: &str, t: i64) -> NewEvent {
    event(Some(id), "track", None, Some(anonymous), t)
}

/// An `identify` linking an anonymous id to a user.
fn identify(id: &str, user: &str, anonymous: &str, t: i64) -> NewEvent {
    event(Some(id), "identify", Some(user), Some(anonymous), t)
}

/// A score with a result text derived from its fields.
fn score(contact: &str, as_of: i64, value: f64, label: Option<&str>) -> StoredScore {
    StoredScore {
        contact_id: contact.to_owned(),
        as_of,
        score: value,
        label: label.map(str::to_owned),
        grade: Some(if value >= 50.0 { "A" } else { "B" }.to_owned()),
        stage: Some("lead".to_owned()),
        result: format!(r#"{{"contact_id":"{contact}","score":{value}}}"#),
    }
}

fn key(id: &str, hash: &str, created_at: i64) -> KeyRecord {
    KeyRecord {
        id: id.to_owned(),
        name: Some(format!("key {id}")),
        role: "read".to_owned(),
        hash: hash.to_owned(),
        created_at,
        revoked_at: None,
    }
}

mod suite {
    //! The behaviours every backend must have, one function each.

    use std::collections::HashSet;

    use leadscore_store::{ScoreQuery, Store, StoreError};

    use super::*;

    /// Message ids of a history, in order.
    async fn history_ids(store: &impl Store, contact: &str) -> Vec<String> {
        store
            .history(contact)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event.message_id.unwrap_or_default())
            .collect()
    }

    pub async fn migrating_twice_is_fine(store: &impl Store) {
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        let appended = store.append(&[track("m1", "u1", 1)]).await.unwrap();
        assert_eq!(appended.inserted, 1);
    }

    pub async fn appends_are_deduplicated(store: &impl Store) {
        let first = store
            .append(&[
                track("m1", "u1", 1),
                track("m2", "u1", 2),
                track("m1", "u1", 3),
            ])
            .await
            .unwrap();
        assert_eq!((first.inserted, first.duplicates), (2, 1));
        let second = store
            .append(&[track("m2", "u1", 4), track("m3", "u1", 5)])
            .await
            .unwrap();
        assert_eq!((second.inserted, second.duplicates), (1, 1));
        let history = store.history("u1").await.unwrap();
        let ids: Vec<_> = history.iter().map(|e| e.event.message_id.clone()).collect();
        assert_eq!(
            ids,
            [Some("m1".into()), Some("m2".into()), Some("m3".into())]
        );
        // The first copy wins, stored exactly as appended.
        assert_eq!(history[0].event, track("m1", "u1", 1));
        assert!(history.windows(2).all(|w| w[0].seq < w[1].seq));
        // Messages without an id are all kept.
        let no_id = event(None, "track", Some("u1"), None, 9);
        let third = store.append(&[no_id.clone(), no_id]).await.unwrap();
        assert_eq!((third.inserted, third.duplicates), (2, 0));
        assert_eq!(store.history("u1").await.unwrap().len(), 5);
        // Across the store's internal insert chunks, the first copy still wins.
        let mut many: Vec<_> = (0..250)
            .map(|i| track(&format!("big-{i}"), "u9", i))
            .collect();
        many[150] = track("big-10", "u9", 1000);
        many.push(track("m3", "u9", 2000));
        let big = store.append(&many).await.unwrap();
        assert_eq!((big.inserted, big.duplicates), (249, 2));
        let u9 = store.history("u9").await.unwrap();
        assert_eq!(u9.len(), 249);
        assert_eq!(u9[10].event, track("big-10", "u9", 10));
        // An empty append does nothing.
        assert_eq!(store.append(&[]).await.unwrap(), Default::default());
    }

    pub async fn appended_contacts_are_those_whose_history_changed(store: &impl Store) {
        let a = store
            .append(&[
                track("m1", "u2", 1),
                track("m2", "u1", 2),
                anon("m3", "a1", 3),
            ])
            .await
            .unwrap();
        assert_eq!(a.contacts, ["u1", "u2"]);
        // Linking brings the user in; an anonymous message of a linked id names its user.
        let b = store
            .append(&[identify("m4", "u3", "a1", 4)])
            .await
            .unwrap();
        assert_eq!(b.contacts, ["u3"]);
        let c = store
            .append(&[anon("m5", "a1", 5), anon("m6", "a9", 6)])
            .await
            .unwrap();
        assert_eq!(c.contacts, ["u3"]);
        // Duplicates change nothing.
        let d = store.append(&[track("m1", "u2", 1)]).await.unwrap();
        assert!(d.contacts.is_empty());
    }

    pub async fn history_includes_linked_anonymous_messages(store: &impl Store) {
        store
            .append(&[
                anon("a-1", "anon", 1),
                track("u-1", "u1", 2),
                anon("x-1", "other", 3),
            ])
            .await
            .unwrap();
        assert_eq!(history_ids(store, "u1").await, ["u-1"]);
        store
            .append(&[identify("id-1", "u1", "anon", 4), anon("a-2", "anon", 5)])
            .await
            .unwrap();
        assert_eq!(
            history_ids(store, "u1").await,
            ["a-1", "u-1", "id-1", "a-2"]
        );
        // `alias` links `previousId` too.
        store
            .append(&[event(Some("al-1"), "alias", Some("u1"), Some("other"), 6)])
            .await
            .unwrap();
        assert_eq!(
            history_ids(store, "u1").await,
            ["a-1", "u-1", "x-1", "id-1", "a-2", "al-1"]
        );
        // A `track` carrying both ids does not link.
        store
            .append(&[
                event(Some("t-1"), "track", Some("u2"), Some("lonely"), 7),
                anon("l-1", "lonely", 8),
            ])
            .await
            .unwrap();
        assert_eq!(history_ids(store, "u2").await, ["t-1"]);
    }

    pub async fn the_earliest_link_wins(store: &impl Store) {
        store
            .append(&[anon("a-1", "anon", 1), identify("id-1", "u1", "anon", 10)])
            .await
            .unwrap();
        // A later link of the same anonymous id is ignored.
        let later = store
            .append(&[identify("id-2", "u2", "anon", 20)])
            .await
            .unwrap();
        assert_eq!(later.contacts, ["u2"]);
        assert_eq!(history_ids(store, "u1").await, ["a-1", "id-1"]);
        assert_eq!(history_ids(store, "u2").await, ["id-2"]);
        // One that happened earlier (arriving late) takes over.
        let earlier = store
            .append(&[identify("id-3", "u3", "anon", 5)])
            .await
            .unwrap();
        assert_eq!(earlier.contacts, ["u1", "u3"]);
        assert_eq!(history_ids(store, "u1").await, ["id-1"]);
        assert_eq!(history_ids(store, "u3").await, ["a-1", "id-3"]);
    }

    pub async fn messages_create_contacts(store: &impl Store) {
        assert_eq!(store.contact("u1").await.unwrap(), None);
        store
            .append(&[
                track("m1", "u2", 100),
                anon("m2", "a1", 101),
                track("m3", "u1", 102),
            ])
            .await
            .unwrap();
        let contact = store.contact("u1").await.unwrap().unwrap();
        assert_eq!(contact.id, "u1");
        assert_eq!(contact.attributes, "{}");
        assert_eq!(store.contact_ids().await.unwrap(), ["u1", "u2"]);
    }

    pub async fn put_contact_creates_and_replaces(store: &impl Store) {
        store
            .put_contact("c1", r#"{"title":"CTO"}"#, 1000)
            .await
            .unwrap();
        let created = store.contact("c1").await.unwrap().unwrap();
        assert_eq!(created.attributes, r#"{"title":"CTO"}"#);
        assert_eq!((created.created_at, created.updated_at), (1000, 1000));
        store
            .put_contact("c1", r#"{"title":"CEO"}"#, 2000)
            .await
            .unwrap();
        let replaced = store.contact("c1").await.unwrap().unwrap();
        assert_eq!(replaced.attributes, r#"{"title":"CEO"}"#);
        assert_eq!((replaced.created_at, replaced.updated_at), (1000, 2000));
        // A message for a known contact keeps its attributes.
        store.append(&[track("m1", "c1", 3000)]).await.unwrap();
        assert_eq!(store.contact("c1").await.unwrap().unwrap(), replaced);
    }

    pub async fn imports_and_exports_page_through_contacts_and_the_log(store: &impl Store) {
        store
            .put_contact("c2", r#"{"title":"old"}"#, 500)
            .await
            .unwrap();
        let rows: Vec<(String, String)> = ["c3", "c1", "c2"]
            .iter()
            .map(|id| ((*id).to_owned(), format!(r#"{{"title":"{id}"}}"#)))
            .collect();
        store.put_contacts(&rows, 1000).await.unwrap();
        let first = store.contacts_after(None, 2).await.unwrap();
        let ids: Vec<&str> = first.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2"]);
        assert_eq!(first[1].attributes, r#"{"title":"c2"}"#);
        assert_eq!((first[1].created_at, first[1].updated_at), (500, 1000));
        let rest = store.contacts_after(Some("c2"), 2).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].id, "c3");
        assert!(
            store
                .contacts_after(Some("c3"), 2)
                .await
                .unwrap()
                .is_empty()
        );

        let events: Vec<NewEvent> = (0..5)
            .map(|i| track(&format!("m{i}"), "c1", 2000 + i))
            .collect();
        store.append(&events).await.unwrap();
        let page = store.events_after(0, 3).await.unwrap();
        assert_eq!(page.len(), 3);
        let last = page[2].seq;
        let rest = store.events_after(last, 3).await.unwrap();
        let ids: Vec<Option<&str>> = page
            .iter()
            .chain(&rest)
            .map(|e| e.event.message_id.as_deref())
            .collect();
        assert_eq!(
            ids,
            [Some("m0"), Some("m1"), Some("m2"), Some("m3"), Some("m4")]
        );
        assert!(store.events_after(rest[1].seq, 3).await.unwrap().is_empty());
    }

    pub async fn bulk_reads_and_saves_match_the_single_ones(store: &impl Store) {
        store
            .append(&[
                anon("a-1", "anon", 1),
                track("u-1", "u1", 2),
                identify("id-1", "u1", "anon", 3),
                track("u-2", "u2", 4),
                anon("a-2", "anon", 5),
            ])
            .await
            .unwrap();
        store
            .put_contact("u2", r#"{"title":"CTO"}"#, 10)
            .await
            .unwrap();
        store
            .add_adjustment(&adjustment("u1", 5.0, 20, None))
            .await
            .unwrap();
        let ids: Vec<String> = ["u2", "nobody", "u1"].map(String::from).to_vec();
        let inputs = store.inputs_of(&ids).await.unwrap();
        assert_eq!(inputs.len(), 3);
        for (input, id) in inputs.iter().zip(&ids) {
            assert_eq!(&input.id, id);
            assert_eq!(input.contact, store.contact(id).await.unwrap());
            assert_eq!(input.history, store.history(id).await.unwrap());
            assert_eq!(input.adjustments, store.adjustments(id).await.unwrap());
        }
        assert_eq!(
            inputs[2].history.len(),
            4,
            "linked anonymous messages included"
        );
        assert!(inputs[1].history.is_empty() && inputs[1].contact.is_none());

        // A batch save is the single save, for each score.
        store
            .save_scores(&[
                score("u1", 100, 40.0, None),
                score("u2", 100, 60.0, Some("hot")),
            ])
            .await
            .unwrap();
        store
            .save_scores(&[
                score("u1", 200, 40.0, None),
                score("u2", 200, 70.0, Some("hot")),
            ])
            .await
            .unwrap();
        assert_eq!(store.score_history("u1").await.unwrap().len(), 1);
        assert_eq!(store.score_history("u2").await.unwrap().len(), 2);
        assert_eq!(store.score("u1").await.unwrap().unwrap().as_of, 200);
        assert_eq!(store.score("u2").await.unwrap().unwrap().score, 70.0);
        store.save_scores(&[]).await.unwrap();
    }

    pub async fn deltas_hold_what_follows_a_position_and_what_checks_the_rest(store: &impl Store) {
        store
            .append(&[
                anon("a-1", "anon", 1),
                track("u-1", "u1", 2),
                track("u-2", "u2", 3),
            ])
            .await
            .unwrap();
        store
            .add_adjustment(&adjustment("u1", 5.0, 20, None))
            .await
            .unwrap();
        let whole = |id: &str| (id.to_owned(), 0_i64);
        let first = store
            .deltas_of(&[whole("u1"), whole("nobody"), whole("u2")])
            .await
            .unwrap();
        assert_eq!(first.len(), 3);
        for delta in &first {
            assert_eq!(delta.history, store.history(&delta.id).await.unwrap());
            assert_eq!(delta.contact, store.contact(&delta.id).await.unwrap());
            assert_eq!(
                delta.adjustments,
                store.adjustments(&delta.id).await.unwrap()
            );
            assert!(delta.before.is_none_or(|n| n == 0), "{:?}", delta.before);
        }
        assert!(first[0].links.is_empty() && first[1].contact.is_none());
        let u1_at = first[0].history.last().unwrap().seq;
        let u2_at = first[2].history.last().unwrap().seq;

        // u1 links `anon`: its older anonymous message joins the history before the
        // position (counted), the identify and a later anonymous one follow it.
        store
            .append(&[identify("id-1", "u1", "anon", 4), anon("a-2", "anon", 5)])
            .await
            .unwrap();
        store.append(&[track("u-3", "u2", 6)]).await.unwrap();
        let next = store
            .deltas_of(&[("u1".to_owned(), u1_at), ("u2".to_owned(), u2_at)])
            .await
            .unwrap();
        let ids = |delta: &leadscore_store::ContactDelta| -> Vec<String> {
            delta
                .history
                .iter()
                .filter_map(|e| e.event.message_id.clone())
                .collect()
        };
        assert_eq!(ids(&next[0]), ["id-1", "a-2"]);
        assert_eq!(next[0].links, ["anon"]);
        // Counted where the backend counts (see `ContactDelta::before`; each backend's
        // module checks whether it does).
        assert!(
            next[0].before.is_none_or(|n| n == 2),
            "u-1 and the newly linked a-1"
        );
        assert_eq!(ids(&next[1]), ["u-3"]);
        assert!(next[1].before.is_none_or(|n| n == 1));
        assert!(next[1].links.is_empty());
        // Read from its position, the whole history is what was before plus the delta.
        let full = store.history("u1").await.unwrap();
        assert_eq!(full.len(), 2 + next[0].history.len());
        assert_eq!(&full[full.len() - 2..], next[0].history.as_slice());
    }

    /// What a delta read after `u1`'s only message says of the history before it
    /// (`ContactDelta::before`): each backend's module asserts whether it counts.
    pub async fn counted_before_a_position(store: &impl Store) -> Option<u64> {
        store.append(&[track("t-1", "u1", 1)]).await.unwrap();
        let at = store.history("u1").await.unwrap()[0].seq;
        let delta = store.deltas_of(&[("u1".to_owned(), at)]).await.unwrap();
        assert!(delta[0].history.is_empty());
        delta[0].before
    }

    pub async fn save_score_records_only_changes(store: &impl Store) {
        assert_eq!(store.score("c1").await.unwrap(), None);
        let first = score("c1", 1, 10.0, Some("cold"));
        store.save_score(&first).await.unwrap();
        store.save_score(&first).await.unwrap();
        let second = score("c1", 2, 60.5, Some("warm"));
        store.save_score(&second).await.unwrap();
        // Same result, later instant: a tick that changed nothing adds nothing to the
        // history, but the current score moves on to the later instant.
        let later = StoredScore {
            as_of: 3,
            ..second.clone()
        };
        store.save_score(&later).await.unwrap();
        assert_eq!(store.score("c1").await.unwrap(), Some(later));
        assert_eq!(
            store.score_history("c1").await.unwrap(),
            [first, second.clone()]
        );
        assert!(store.score_history("c2").await.unwrap().is_empty());
    }

    /// A result as the server writes it, with the parts time alone moves.
    fn timed(as_of: i64, score: i64, raw: f64, label: &str) -> StoredScore {
        StoredScore {
            contact_id: "c1".to_owned(),
            as_of,
            score: raw,
            label: Some(label.to_owned()),
            grade: None,
            stage: None,
            result: format!(
                r#"{{"contact_id":"c1","as_of":"{as_of}","score":{score},"raw":{raw},"engagement":{raw},"label":"{label}","groups":{{"g":{raw}}},"explain":[{{"rule":"r","points":{raw}}}]}}"#
            ),
        }
    }

    pub async fn history_ignores_what_only_time_moves(store: &impl Store) {
        let first = timed(1, 50, 50.4, "warm");
        store.save_score(&first).await.unwrap();
        // Decayed points and a later instant, same reported score: no history entry,
        // but the current score is the newer one (lists sort by it).
        let decayed = timed(2, 50, 50.1, "warm");
        store.save_score(&decayed).await.unwrap();
        assert_eq!(store.score("c1").await.unwrap(), Some(decayed));
        assert_eq!(
            store.score_history("c1").await.unwrap(),
            std::slice::from_ref(&first)
        );
        // The reported score changes: a history entry.
        let lower = timed(3, 49, 49.4, "warm");
        store.save_score(&lower).await.unwrap();
        // So does the label, even at the same score.
        let cold = timed(4, 49, 49.3, "cold");
        store.save_score(&cold).await.unwrap();
        assert_eq!(
            store.score_history("c1").await.unwrap(),
            [first, lower, cold.clone()]
        );
        assert_eq!(store.score("c1").await.unwrap(), Some(cold));
    }

    pub async fn stale_scores_are_the_oldest_first(store: &impl Store) {
        for (id, as_of) in [("a", 30), ("b", 10), ("c", 20), ("d", 40)] {
            store
                .save_score(&score(id, as_of, 1.0, None))
                .await
                .unwrap();
        }
        assert_eq!(store.stale_scores(35, 10).await.unwrap(), ["b", "c", "a"]);
        assert_eq!(store.stale_scores(35, 2).await.unwrap(), ["b", "c"]);
        assert!(store.stale_scores(10, 10).await.unwrap().is_empty());
        // Saving again (even unchanged) makes it current.
        store.save_score(&score("b", 50, 1.0, None)).await.unwrap();
        assert_eq!(store.stale_scores(35, 10).await.unwrap(), ["c", "a"]);
    }

    fn adjustment(contact: &str, points: f64, at: i64, group: Option<&str>) -> NewAdjustment {
        NewAdjustment {
            contact_id: contact.to_owned(),
            points,
            reason: format!("reason {points}"),
            author: "alice".to_owned(),
            group: group.map(str::to_owned),
            at,
        }
    }

    pub async fn adjustments_are_appended_and_listed_in_time_order(store: &impl Store) {
        assert!(store.adjustments("c1").await.unwrap().is_empty());
        let a = store
            .add_adjustment(&adjustment("c1", 10.0, 5, None))
            .await
            .unwrap();
        let b = store
            .add_adjustment(&adjustment("c1", -2.5, 3, Some("product-interest")))
            .await
            .unwrap();
        store
            .add_adjustment(&adjustment("c2", 1.0, 1, None))
            .await
            .unwrap();
        assert!(b.id > a.id);
        assert_eq!(a.adjustment, adjustment("c1", 10.0, 5, None));
        assert_eq!(store.adjustments("c1").await.unwrap(), [b, a]);
        assert_eq!(store.adjustments("c2").await.unwrap().len(), 1);
    }

    pub async fn models_are_versioned_and_one_is_active(store: &impl Store) {
        assert!(store.models().await.unwrap().is_empty());
        assert_eq!(store.active_model().await.unwrap(), None);
        assert_eq!(store.add_model("m", "version = 1", 10).await.unwrap(), 1);
        assert_eq!(store.add_model("m", "version = 2", 20).await.unwrap(), 2);
        assert_eq!(store.active_model().await.unwrap(), None);
        assert!(!store.activate_model(3, 25).await.unwrap());
        assert!(store.activate_model(2, 30).await.unwrap());
        let active = store.active_model().await.unwrap().unwrap();
        assert_eq!(
            (active.version, active.activated_at, active.text.as_str()),
            (2, Some(30), "version = 2")
        );
        // A rollback is activating an older version; exactly one stays active.
        assert!(store.activate_model(1, 40).await.unwrap());
        // Activating the active one again is fine.
        assert!(store.activate_model(1, 45).await.unwrap());
        let models = store.models().await.unwrap();
        let states: Vec<_> = models
            .iter()
            .map(|m| (m.version, m.active, m.activated_at))
            .collect();
        assert_eq!(states, [(1, true, Some(45)), (2, false, Some(30))]);
        assert_eq!(store.model(2).await.unwrap().unwrap().created_at, 20);
        assert_eq!(store.model(9).await.unwrap(), None);
        // A failed activation changes nothing.
        assert!(!store.activate_model(9, 50).await.unwrap());
        assert_eq!(store.active_model().await.unwrap().unwrap().version, 1);
    }

    /// Save one score (as of 1) per `(id, score, label)`, one call each.
    async fn save_labelled(store: &impl Store, scores: &[(&str, f64, &str)]) {
        for &(id, value, label) in scores {
            store
                .save_score(&score(id, 1, value, Some(label)))
                .await
                .unwrap();
        }
    }

    pub async fn list_scores_sorts_and_filters(store: &impl Store) {
        save_labelled(
            store,
            &[
                ("b", 50.0, "warm"),
                ("a", 50.0, "warm"),
                ("c", 90.0, "hot"),
                ("d", 10.0, "cold"),
                ("e", -5.0, "cold"),
            ],
        )
        .await;
        let all = store.list_scores(&ScoreQuery::default()).await.unwrap();
        let ids: Vec<_> = all.items.iter().map(|s| s.contact_id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "b", "d", "e"]);
        assert_eq!(all.next, None);
        assert_eq!(all.items[0], score("c", 1, 90.0, Some("hot")));

        let query = ScoreQuery {
            label: Some("cold".into()),
            ..Default::default()
        };
        let cold = store.list_scores(&query).await.unwrap();
        let ids: Vec<_> = cold.items.iter().map(|s| s.contact_id.as_str()).collect();
        assert_eq!(ids, ["d", "e"]);

        let query = ScoreQuery {
            grade: Some("A".into()),
            stage: Some("lead".into()),
            ..Default::default()
        };
        let a = store.list_scores(&query).await.unwrap();
        let ids: Vec<_> = a.items.iter().map(|s| s.contact_id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "b"]);

        let query = ScoreQuery {
            stage: Some("customer".into()),
            ..Default::default()
        };
        assert!(store.list_scores(&query).await.unwrap().items.is_empty());

        let query = ScoreQuery {
            after: Some("not a cursor".into()),
            ..Default::default()
        };
        assert!(matches!(
            store.list_scores(&query).await,
            Err(StoreError::BadCursor(_))
        ));
    }

    /// A score whose result has these group points.
    fn grouped(contact: &str, value: f64, label: &str, groups: &str) -> StoredScore {
        StoredScore {
            result: format!(r#"{{"contact_id":"{contact}","score":{value},"groups":{groups}}}"#),
            ..score(contact, 1, value, Some(label))
        }
    }

    fn ids(page: &leadscore_store::ScorePage) -> Vec<&str> {
        page.items.iter().map(|s| s.contact_id.as_str()).collect()
    }

    pub async fn list_scores_filters_by_group_best_in_the_group_first(store: &impl Store) {
        store
            .save_scores(&[
                grouped("a", 90.0, "hot", r#"{"pricing":5,"docs":40}"#),
                grouped("b", 60.0, "warm", r#"{"pricing":30}"#),
                grouped("c", 50.0, "warm", r#"{"pricing":30,"docs":0}"#),
                grouped("d", 40.0, "cold", r#"{"pricing":-10}"#),
                grouped("e", 30.0, "cold", r#"{"docs":2.5}"#),
                score("f", 1, 20.0, Some("cold")),
            ])
            .await
            .unwrap();
        let group = |name: &str| ScoreQuery {
            group: Some(name.into()),
            ..Default::default()
        };
        // Ordered by the group's points (ties by id), not by score; 0 is no points.
        let pricing = store.list_scores(&group("pricing")).await.unwrap();
        assert_eq!(ids(&pricing), ["b", "c", "a", "d"]);
        assert_eq!(
            pricing.items[0],
            grouped("b", 60.0, "warm", r#"{"pricing":30}"#)
        );
        let docs = store.list_scores(&group("docs")).await.unwrap();
        assert_eq!(ids(&docs), ["a", "e"]);
        assert!(
            store
                .list_scores(&group("nope"))
                .await
                .unwrap()
                .items
                .is_empty()
        );

        // With the other filters.
        let warm = ScoreQuery {
            label: Some("warm".into()),
            ..group("pricing")
        };
        assert_eq!(ids(&store.list_scores(&warm).await.unwrap()), ["b", "c"]);

        // Paging continues in the group's order, without gaps or repeats.
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .list_scores(&ScoreQuery {
                    limit: 1,
                    after: after.take(),
                    ..group("pricing")
                })
                .await
                .unwrap();
            seen.extend(ids(&page).into_iter().map(str::to_owned));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ["b", "c", "a", "d"]);

        // A rescoring replaces the contact's groups; erasure removes them.
        store
            .save_score(&grouped("b", 61.0, "warm", r#"{"docs":1}"#))
            .await
            .unwrap();
        assert_eq!(
            ids(&store.list_scores(&group("pricing")).await.unwrap()),
            ["c", "a", "d"]
        );
        assert_eq!(
            ids(&store.list_scores(&group("docs")).await.unwrap()),
            ["a", "e", "b"]
        );
        assert!(store.erase_contact("a").await.unwrap());
        assert_eq!(
            ids(&store.list_scores(&group("docs")).await.unwrap()),
            ["e", "b"]
        );
    }

    /// A save that changes only the instant and the result's time-moved parts (same
    /// score, label, grade, stage and fingerprint; SQLite then rewrites only `as_of` and
    /// `result`) still moves every read on: the stored result, the staleness order and,
    /// when they changed, the groups.
    pub async fn saves_that_only_time_moved_keep_every_read_right(store: &impl Store) {
        let at = |as_of: i64, groups: &str| StoredScore {
            as_of,
            ..grouped("t", 55.0, "warm", groups)
        };
        store
            .save_scores(&[
                at(1, r#"{"pricing":5}"#),
                score("other", 1, 70.0, Some("hot")),
            ])
            .await
            .unwrap();
        // Same groups, later instant; then the same score with other groups.
        let second = StoredScore {
            result: r#"{"contact_id":"t","score":55,"as_of":2,"groups":{"pricing":5}}"#.into(),
            ..at(2, "")
        };
        store
            .save_scores(std::slice::from_ref(&second))
            .await
            .unwrap();
        assert_eq!(store.score("t").await.unwrap(), Some(second));
        assert_eq!(store.stale_scores(2, 10).await.unwrap(), ["other"]);
        store.save_scores(&[at(3, r#"{"docs":7}"#)]).await.unwrap();
        let group = |name: &str| ScoreQuery {
            group: Some(name.into()),
            ..Default::default()
        };
        assert!(
            store
                .list_scores(&group("pricing"))
                .await
                .unwrap()
                .items
                .is_empty()
        );
        let docs = store.list_scores(&group("docs")).await.unwrap();
        assert_eq!(ids(&docs), ["t"]);
        assert_eq!(docs.items[0].as_of, 3);
        // Only the first save entered the history (the others moved only time).
        assert_eq!(store.score_history("t").await.unwrap().len(), 1);
        // The filters and the order by score still find it where it was.
        let warm = ScoreQuery {
            label: Some("warm".into()),
            ..Default::default()
        };
        assert_eq!(ids(&store.list_scores(&warm).await.unwrap()), ["t"]);
        let all = store.list_scores(&ScoreQuery::default()).await.unwrap();
        assert_eq!(ids(&all), ["other", "t"]);
        // A save that does move the score takes the full path again.
        store
            .save_scores(&[StoredScore {
                score: 80.0,
                ..at(4, r#"{"docs":7}"#)
            }])
            .await
            .unwrap();
        let all = store.list_scores(&ScoreQuery::default()).await.unwrap();
        assert_eq!(ids(&all), ["t", "other"]);
        assert_eq!(store.score_history("t").await.unwrap().len(), 1);
    }

    pub async fn score_summary_counts_buckets_and_follows_rescoring(store: &impl Store) {
        let before = store.score_generation().await.unwrap();
        save_labelled(
            store,
            &[
                ("a", 95.0, "hot"),
                ("b", 91.0, "hot"),
                ("c", 50.0, "warm"),
                ("d", 10.0, "cold"),
                ("e", -5.0, "cold"),
            ],
        )
        .await;
        let after = store.score_generation().await.unwrap();
        assert!(after > before);
        let mut rows = store.score_summary(10.0).await.unwrap();
        rows.sort_by_key(|r| r.bucket);
        let got: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.bucket,
                    r.label.as_deref(),
                    r.grade.as_deref(),
                    r.count,
                    r.sum,
                    r.min,
                    r.max,
                )
            })
            .collect();
        // -5 is in bucket -1 (floor), not 0.
        assert_eq!(
            got,
            [
                (-1, Some("cold"), Some("B"), 1, -5.0, -5.0, -5.0),
                (1, Some("cold"), Some("B"), 1, 10.0, 10.0, 10.0),
                (5, Some("warm"), Some("A"), 1, 50.0, 50.0, 50.0),
                (9, Some("hot"), Some("A"), 2, 186.0, 91.0, 95.0),
            ]
        );
        // A rescoring moves the generation and the summary.
        store
            .save_score(&score("c", 2, 99.5, Some("hot")))
            .await
            .unwrap();
        assert!(store.score_generation().await.unwrap() > after);
        let rows = store.score_summary(10.0).await.unwrap();
        let nine: Vec<_> = rows
            .iter()
            .filter(|r| r.bucket == 9)
            .map(|r| r.count)
            .collect();
        assert_eq!(nine.iter().sum::<i64>(), 3);
        assert!(rows.iter().all(|r| r.bucket != 5));
        let wide = store.score_summary(1000.0).await.unwrap();
        assert_eq!(wide.iter().map(|r| r.count).sum::<i64>(), 5);
    }

    pub async fn list_scores_searches_ids_and_attributes(store: &impl Store) {
        for (id, value) in [
            ("Ada-1", 30.0),
            ("bob-2", 20.0),
            ("eve_3", 10.0),
            ("zed", 5.0),
        ] {
            store
                .save_score(&score(id, 1, value, Some("warm")))
                .await
                .unwrap();
        }
        store
            .put_contact(
                "bob-2",
                r#"{"email":"Bob@Acme.example","company":"Acme"}"#,
                1,
            )
            .await
            .unwrap();
        store
            .put_contact("zed", r#"{"company":"100% Widgets"}"#, 1)
            .await
            .unwrap();
        let ids = |q: &str| {
            let query = ScoreQuery {
                q: Some(q.into()),
                ..Default::default()
            };
            async move {
                let page = store.list_scores(&query).await.unwrap();
                page.items
                    .into_iter()
                    .map(|s| s.contact_id)
                    .collect::<Vec<_>>()
            }
        };
        // A substring of the id, ASCII case folded; best first as always.
        assert_eq!(ids("ADA").await, ["Ada-1"]);
        assert_eq!(ids("-").await, ["Ada-1", "bob-2"]);
        // Or of the attributes' text (e-mail, company).
        assert_eq!(ids("acme.EXAMPLE").await, ["bob-2"]);
        assert_eq!(ids("widgets").await, ["zed"]);
        // `_` and `%` are themselves, not wildcards.
        assert_eq!(ids("_").await, ["eve_3"]);
        assert_eq!(ids("0%").await, ["zed"]);
        assert!(ids("nobody").await.is_empty());
        // Empty: no filter. With another filter: both apply.
        assert_eq!(ids("").await.len(), 4);
        let query = ScoreQuery {
            q: Some("b".into()),
            label: Some("cold".into()),
            ..Default::default()
        };
        assert!(store.list_scores(&query).await.unwrap().items.is_empty());
    }

    pub async fn list_scores_pages_without_overlap_or_gaps(store: &impl Store) {
        // 250 scores with many ties, so the cursor must break them by id.
        let mut expected = Vec::new();
        for i in 0..250 {
            let value = f64::from(i % 17) * 3.3;
            let label = if i % 2 == 0 { "even" } else { "odd" };
            let s = score(&format!("c{i:03}"), 1, value, Some(label));
            store.save_score(&s).await.unwrap();
            expected.push(s);
        }
        expected.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.contact_id.cmp(&b.contact_id))
        });

        for limit in [7, 50, 249, 250] {
            let mut seen = Vec::new();
            let mut after = None;
            let mut pages = 0;
            loop {
                let page = store
                    .list_scores(&ScoreQuery {
                        limit,
                        after: after.take(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                pages += 1;
                assert!(page.items.len() <= limit as usize);
                seen.extend(page.items);
                match page.next {
                    Some(next) => {
                        assert!(leadscore_store::cursor_is_valid(&next));
                        after = Some(next);
                    }
                    None => break,
                }
            }
            assert_eq!(seen, expected, "limit {limit}");
            assert_eq!(pages, 250usize.div_ceil(limit as usize), "limit {limit}");
        }

        // 0 means 50; more than 1000 is capped (all 250 fit).
        let page = store.list_scores(&ScoreQuery::default()).await.unwrap();
        assert_eq!(page.items.len(), 50);
        let page = store
            .list_scores(&ScoreQuery {
                limit: 100_000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!((page.items.len(), page.next), (250, None));

        // Filters and cursors together.
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let query = ScoreQuery {
                label: Some("odd".into()),
                limit: 13,
                after: after.take(),
                ..Default::default()
            };
            let page = store.list_scores(&query).await.unwrap();
            seen.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let odd: Vec<_> = expected
            .into_iter()
            .filter(|s| s.label.as_deref() == Some("odd"))
            .collect();
        assert_eq!(seen, odd);
    }

    pub async fn erase_removes_everything(store: &impl Store) {
        store
            .append(&[
                anon("a-1", "anon", 1),
                identify("id-1", "u1", "anon", 2),
                track("t-1", "u1", 3),
                anon("a-2", "anon", 4),
                track("t-2", "u2", 5),
                anon("x-1", "stranger", 6),
            ])
            .await
            .unwrap();
        store
            .put_contact("u1", r#"{"email":"u1@example.com"}"#, 7)
            .await
            .unwrap();
        store.save_score(&score("u1", 8, 40.0, None)).await.unwrap();
        store.save_score(&score("u2", 8, 20.0, None)).await.unwrap();
        store
            .add_adjustment(&adjustment("u1", 5.0, 8, None))
            .await
            .unwrap();
        store
            .add_adjustment(&adjustment("u2", 5.0, 8, None))
            .await
            .unwrap();

        assert!(store.erase_contact("u1").await.unwrap());
        assert_eq!(store.contact("u1").await.unwrap(), None);
        assert_eq!(store.score("u1").await.unwrap(), None);
        assert!(store.score_history("u1").await.unwrap().is_empty());
        assert!(store.history("u1").await.unwrap().is_empty());
        assert!(store.adjustments("u1").await.unwrap().is_empty());
        assert_eq!(store.adjustments("u2").await.unwrap().len(), 1);
        assert_eq!(store.contact_ids().await.unwrap(), ["u2"]);
        let page = store.list_scores(&ScoreQuery::default()).await.unwrap();
        assert_eq!(page.items.len(), 1);

        // The anonymous messages are gone too: re-linking the id finds nothing, and
        // their message ids are free again.
        store
            .append(&[identify("id-9", "u3", "anon", 1)])
            .await
            .unwrap();
        assert_eq!(history_ids(store, "u3").await, ["id-9"]);
        let again = store
            .append(&[anon("a-1", "anon", 1), track("t-1", "u1", 3)])
            .await
            .unwrap();
        assert_eq!(again.inserted, 2);

        // Others are untouched.
        assert_eq!(history_ids(store, "u2").await, ["t-2"]);
        assert_eq!(
            store.score("u2").await.unwrap(),
            Some(score("u2", 8, 20.0, None))
        );
        assert!(!store.erase_contact("nobody").await.unwrap());
    }

    pub async fn keys_are_created_found_and_revoked(store: &impl Store) {
        store.create_key(&key("k2", "hash-2", 20)).await.unwrap();
        store.create_key(&key("k1", "hash-1", 10)).await.unwrap();
        assert_eq!(
            store.key_by_hash("hash-1").await.unwrap(),
            Some(key("k1", "hash-1", 10))
        );
        assert_eq!(store.key_by_hash("nope").await.unwrap(), None);
        // A hash is unique.
        assert!(store.create_key(&key("k3", "hash-1", 30)).await.is_err());

        assert!(store.revoke_key("k1", 50).await.unwrap());
        assert!(!store.revoke_key("k1", 60).await.unwrap());
        assert!(!store.revoke_key("missing", 60).await.unwrap());
        assert_eq!(store.key_by_hash("hash-1").await.unwrap(), None);
        let keys = store.keys().await.unwrap();
        assert_eq!(
            keys,
            [
                KeyRecord {
                    revoked_at: Some(50),
                    ..key("k1", "hash-1", 10)
                },
                key("k2", "hash-2", 20)
            ]
        );
    }

    /// Appends `events` in chunks of `size`; returns (inserted, duplicates).
    async fn feed(store: &impl Store, events: &[NewEvent], size: usize) -> (u64, u64) {
        let mut total = (0, 0);
        for chunk in events.chunks(size) {
            let appended = store.append(chunk).await.unwrap();
            total.0 += appended.inserted;
            total.1 += appended.duplicates;
        }
        total
    }

    /// `store` and `other` are two stores (two pools) on one database.
    pub async fn concurrent_appends_store_each_message_once(
        store: &impl Store,
        other: &impl Store,
    ) {
        let events: Vec<_> = (0..300)
            .map(|i| track(&format!("m{i}"), &format!("u{}", i % 7), i))
            .collect();
        let (a, b, c, d, e) = tokio::join!(
            feed(store, &events, 10),
            feed(other, &events, 9),
            feed(store, &events, 23),
            feed(other, &events, 300),
            feed(store, &events, 7),
        );
        assert_eq!(a.0 + b.0 + c.0 + d.0 + e.0, 300);
        assert_eq!(a.1 + b.1 + c.1 + d.1 + e.1, 4 * 300);
        let mut seen = HashSet::new();
        for u in 0..7 {
            for e in store.history(&format!("u{u}")).await.unwrap() {
                assert!(seen.insert(e.event.message_id.clone().unwrap()));
            }
        }
        assert_eq!(seen.len(), 300);
    }

    /// Append `events`: (stored, duplicates).
    async fn counted(store: &impl Store, events: &[NewEvent]) -> (u64, u64) {
        let appended = store.append(events).await.unwrap();
        (appended.inserted, appended.duplicates)
    }

    /// Each store has appended before (so has read the log once), then takes in the
    /// other's messages: a message the other stored is a duplicate here too, in either
    /// direction, and one sent again after its contact was erased is new again.
    pub async fn messages_stored_through_another_store_are_duplicates(
        store: &impl Store,
        other: &impl Store,
    ) {
        assert_eq!(counted(store, &[track("s-0", "u1", 1)]).await, (1, 0));
        assert_eq!(counted(other, &[track("o-0", "u2", 2)]).await, (1, 0));
        let from_store = [track("s-1", "u1", 3), track("s-2", "u2", 4)];
        assert_eq!(counted(store, &from_store).await, (2, 0));
        assert_eq!(
            counted(
                other,
                &[
                    track("s-1", "u1", 3),
                    track("s-0", "u1", 1),
                    track("o-1", "u1", 5),
                ]
            )
            .await,
            (1, 2)
        );
        assert_eq!(
            counted(store, &[track("o-1", "u1", 5), track("o-0", "u2", 2)]).await,
            (0, 2)
        );

        // Erased through `store`: `store` takes its messages again at once.
        assert!(store.erase_contact("u2").await.unwrap());
        assert_eq!(
            counted(store, &[track("s-2", "u2", 4), track("o-0", "u2", 2)]).await,
            (2, 0)
        );
        let ids: Vec<_> = store
            .history("u2")
            .await
            .unwrap()
            .into_iter()
            .filter_map(|e| e.event.message_id)
            .collect();
        assert_eq!(ids, ["s-2", "o-0"]);
    }

    /// Erasing a contact forgets its messages: sent again, they are stored again
    /// (an erasure leaves no trace, not even of which ids it held).
    pub async fn erased_messages_sent_again_are_new(store: &impl Store) {
        store
            .append(&[
                track("t-1", "u1", 1),
                anon("a-1", "anon", 2),
                identify("i-1", "u1", "anon", 3),
            ])
            .await
            .unwrap();
        assert!(store.erase_contact("u1").await.unwrap());
        assert_eq!(
            counted(
                store,
                &[
                    track("t-1", "u1", 1),
                    anon("a-1", "anon", 2),
                    identify("i-1", "u1", "anon", 3),
                ]
            )
            .await,
            (3, 0)
        );
        assert_eq!(store.history("u1").await.unwrap().len(), 3);
        assert_eq!(counted(store, &[track("t-1", "u1", 1)]).await, (0, 1));
    }

    /// Two stores append the same messages in opposite orders (a deadlock on
    /// PostgreSQL, which the store retries): both calls succeed, each message is
    /// stored once.
    pub async fn appends_in_opposite_orders_both_succeed(store: &impl Store, other: &impl Store) {
        let events: Vec<_> = (0..60)
            .map(|i| track(&format!("m{i}"), &format!("u{}", i % 5), i))
            .collect();
        let reversed: Vec<_> = events.iter().rev().cloned().collect();
        let (a, b) = tokio::join!(store.append(&events), other.append(&reversed));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.inserted + b.inserted, 60);
        assert_eq!(a.duplicates + b.duplicates, 60);
        let mut total = 0;
        for u in 0..5 {
            total += store.history(&format!("u{u}")).await.unwrap().len();
        }
        assert_eq!(total, 60);
    }
}

/// One `#[tokio::test]` per suite function for a backend module that has
/// `fresh() -> Fixture` (with `store`, `other().await` and `finish().await`).
macro_rules! suite_tests {
    (single: [$($name:ident),* $(,)?], pair: [$($pair:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture = fresh().await;
                crate::suite::$name(&fixture.store).await;
                fixture.finish().await;
            }
        )*
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $pair() {
                let fixture = fresh().await;
                let other = fixture.other().await;
                crate::suite::$pair(&fixture.store, &other).await;
                other.close().await;
                fixture.finish().await;
            }
        )*
    };
}

/// Every suite function, for [`suite_tests!`].
macro_rules! all_suite_tests {
    () => {
        suite_tests!(
            single: [
                migrating_twice_is_fine,
                appends_are_deduplicated,
                appended_contacts_are_those_whose_history_changed,
                history_includes_linked_anonymous_messages,
                the_earliest_link_wins,
                messages_create_contacts,
                put_contact_creates_and_replaces,
                imports_and_exports_page_through_contacts_and_the_log,
                bulk_reads_and_saves_match_the_single_ones,
                deltas_hold_what_follows_a_position_and_what_checks_the_rest,
                save_score_records_only_changes,
                history_ignores_what_only_time_moves,
                stale_scores_are_the_oldest_first,
                adjustments_are_appended_and_listed_in_time_order,
                models_are_versioned_and_one_is_active,
                list_scores_sorts_and_filters,
                list_scores_searches_ids_and_attributes,
                list_scores_pages_without_overlap_or_gaps,
                list_scores_filters_by_group_best_in_the_group_first,
                saves_that_only_time_moved_keep_every_read_right,
                score_summary_counts_buckets_and_follows_rescoring,
                erase_removes_everything,
                erased_messages_sent_again_are_new,
                keys_are_created_found_and_revoked,
            ],
            pair: [
                concurrent_appends_store_each_message_once,
                messages_stored_through_another_store_are_duplicates,
                appends_in_opposite_orders_both_succeed,
            ]
        );
    };
}

mod sqlite {
    //! The suite on a fresh SQLite file per test, plus what only a file can show.

    use leadscore_store::{AnyStore, SqliteStore, Store, StoreError};

    use super::*;

    pub struct Fixture {
        pub store: SqliteStore,
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn url(&self) -> String {
            format!(
                "sqlite://{}",
                self.dir.path().join("leadscore.db").display()
            )
        }

        /// A second store on the same file.
        pub async fn other(&self) -> SqliteStore {
            SqliteStore::open(&self.url()).await.unwrap()
        }

        pub async fn finish(self) {
            self.store.close().await;
        }
    }

    pub async fn fresh() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leadscore.db");
        let store = SqliteStore::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        Fixture { store, dir }
    }

    all_suite_tests!();
    automation_suite_tests!();
    accounts_suite_tests!();
    outcomes_suite_tests!();

    #[tokio::test]
    async fn deltas_do_not_count_the_history_before_their_position() {
        // Positions are committed in order: nothing can join a history before a
        // position read except through a link, which the delta's links show.
        let fixture = fresh().await;
        assert_eq!(
            crate::suite::counted_before_a_position(&fixture.store).await,
            None
        );
        fixture.finish().await;
    }

    #[tokio::test]
    async fn migration_0007_fills_account_members_from_stored_scores() {
        use sqlx::Connection as _;
        let fixture = fresh().await;
        crate::accounts::seed_before_0007(&fixture.store).await;
        let mut conn = sqlx::SqliteConnection::connect(&fixture.url())
            .await
            .unwrap();
        for sql in crate::accounts::REWIND_0007 {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
        fixture.store.migrate().await.unwrap();
        crate::accounts::assert_backfilled(&fixture.store).await;
        fixture.finish().await;
    }

    #[tokio::test]
    async fn migration_0011_keeps_the_log_its_positions_and_its_duplicates() {
        use sqlx::Connection as _;
        let fixture = fresh().await;
        let url = fixture.url();
        let Fixture { store, dir } = fixture;
        store.close().await;
        // The log as version 10 had it (`UNIQUE (message_id)`), with three messages of
        // which the last was erased (so the high-water mark is above the last row).
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for sql in [
            "DROP TABLE events",
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT UNIQUE, \
             kind TEXT NOT NULL, user_id TEXT, anonymous_id TEXT, timestamp INTEGER NOT NULL, \
             received_at INTEGER NOT NULL, body TEXT NOT NULL)",
            "CREATE INDEX events_user ON events (user_id) WHERE user_id IS NOT NULL",
            "CREATE INDEX events_anonymous_only ON events (anonymous_id) WHERE user_id IS NULL",
            "INSERT INTO events (message_id, kind, user_id, anonymous_id, timestamp, received_at, body) \
             VALUES ('m-1', 'track', 'u1', NULL, 1, 2, '{}'), (NULL, 'track', 'u1', NULL, 2, 3, '{}'), \
             ('m-3', 'track', 'u1', NULL, 3, 4, '{}')",
            "DELETE FROM events WHERE message_id = 'm-3'",
            "DELETE FROM _sqlx_migrations WHERE version = 11",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();

        let store = SqliteStore::open(&url).await.unwrap();
        store.migrate().await.unwrap();
        let history = store.history("u1").await.unwrap();
        assert_eq!(
            history.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2],
            "positions kept"
        );
        let again = store
            .append(&[track("m-1", "u1", 1), track("m-4", "u1", 5)])
            .await
            .unwrap();
        assert_eq!((again.inserted, again.duplicates), (1, 1));
        let history = store.history("u1").await.unwrap();
        assert_eq!(history.last().map(|e| e.seq), Some(4), "no position reused");
        store.close().await;
        drop(dir);
    }

    #[tokio::test]
    async fn committed_data_survives_reopening() {
        let fixture = fresh().await;
        let appended = fixture
            .store
            .append(&[anon("a-1", "anon", 1), identify("id-1", "u1", "anon", 2)])
            .await
            .unwrap();
        assert_eq!(appended.inserted, 2);
        fixture
            .store
            .save_score(&score("u1", 3, 42.0, Some("warm")))
            .await
            .unwrap();
        let url = fixture.url();
        let Fixture { store, dir } = fixture;
        drop(store);

        let reopened = SqliteStore::open(&url).await.unwrap();
        reopened.migrate().await.unwrap();
        let history = reopened.history("u1").await.unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].event, anon("a-1", "anon", 1));
        assert_eq!(
            reopened.score("u1").await.unwrap(),
            Some(score("u1", 3, 42.0, Some("warm")))
        );
        let again = reopened
            .append(&[identify("id-1", "u1", "anon", 2)])
            .await
            .unwrap();
        assert_eq!(again.duplicates, 1);
        reopened.close().await;
        drop(dir);
    }

    #[tokio::test]
    async fn any_store_opens_sqlite_urls_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        for url in [
            format!("sqlite://{}", path.display()),
            format!("sqlite:{}", path.display()),
            path.display().to_string(),
        ] {
            let store = AnyStore::open(&url).await.unwrap();
            assert!(matches!(store, AnyStore::Sqlite(_)));
            store.migrate().await.unwrap();
            store.append(&[track("m1", "u1", 1)]).await.unwrap();
            assert_eq!(store.history("u1").await.unwrap().len(), 1);
            store.close().await;
        }
        assert!(path.exists());
        let memory = AnyStore::open("sqlite::memory:").await.unwrap();
        memory.migrate().await.unwrap();
        memory.append(&[track("m1", "u1", 1)]).await.unwrap();
        assert_eq!(memory.history("u1").await.unwrap().len(), 1);
        for url in ["mysql://root@localhost/db", "", "sqlite://"] {
            assert!(
                matches!(AnyStore::open(url).await, Err(StoreError::BadUrl(_))),
                "{url}"
            );
        }
    }
}

mod postgres {
    //! The suite on a fresh schema of the test database per test, so tests run in
    //! parallel without seeing each other.

    use std::str::FromStr;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    use leadscore_store::{AnyStore, PostgresStore, Store};
    use sqlx::postgres::PgConnectOptions;
    use sqlx::{ConnectOptions, Connection};

    fn base_url() -> String {
        std::env::var("LEADSCORE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
    }

    pub struct Fixture {
        pub store: PostgresStore,
        schema: String,
    }

    fn options(schema: &str) -> PgConnectOptions {
        PgConnectOptions::from_str(&base_url())
            .unwrap()
            .options([("search_path", schema)])
    }

    impl Fixture {
        /// A second store (its own pool) on the same schema.
        pub async fn other(&self) -> PostgresStore {
            PostgresStore::connect_with(options(&self.schema), 4)
                .await
                .unwrap()
        }

        pub async fn finish(self) {
            self.store.close().await;
            // The schema is dropped by `Drop`, also when a test panics.
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let schema = self.schema.clone();
            // A runtime of its own: `drop` cannot await, and may run while panicking.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let mut conn = PgConnectOptions::from_str(&base_url())
                        .unwrap()
                        .connect()
                        .await
                        .unwrap();
                    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                    conn.close().await.unwrap();
                });
            });
            let _ = dropped.join();
        }
    }

    pub async fn fresh() -> Fixture {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let schema = format!(
            "t_{}_{}_{}",
            std::process::id(),
            nanos % 1_000_000_000_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = PgConnectOptions::from_str(&base_url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let store = PostgresStore::connect_with(options(&schema), 4)
            .await
            .unwrap();
        let fixture = Fixture { store, schema };
        fixture.store.migrate().await.unwrap();
        fixture
    }

    all_suite_tests!();
    automation_suite_tests!();
    accounts_suite_tests!();
    outcomes_suite_tests!();

    #[tokio::test]
    async fn deltas_count_the_history_before_their_position() {
        // A transaction holding a lower position can commit after a higher one was
        // read: the count is what shows it.
        let fixture = fresh().await;
        assert_eq!(
            crate::suite::counted_before_a_position(&fixture.store).await,
            Some(1)
        );
        fixture.finish().await;
    }

    #[tokio::test]
    async fn migration_0007_fills_account_members_from_stored_scores() {
        let fixture = fresh().await;
        crate::accounts::seed_before_0007(&fixture.store).await;
        let mut conn = options(&fixture.schema).connect().await.unwrap();
        for sql in crate::accounts::REWIND_0007 {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
        fixture.store.migrate().await.unwrap();
        crate::accounts::assert_backfilled(&fixture.store).await;
        fixture.finish().await;
    }

    #[tokio::test]
    async fn any_store_opens_postgres_urls() {
        let store = AnyStore::open(&base_url()).await.unwrap();
        assert!(matches!(store, AnyStore::Postgres(_)));
        store.close().await;
        let url = base_url().replacen("postgres://", "postgresql://", 1);
        let store = AnyStore::open(&url).await.unwrap();
        assert!(matches!(store, AnyStore::Postgres(_)));
        store.close().await;
    }
}
