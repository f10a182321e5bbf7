//! A contact's score from what the store holds: its attributes and its whole history.
//!
//! Scoring from the full log is simple and always right, also for out-of-order and
//! duplicate events (the engine sorts and deduplicates by `messageId`). The background
//! rescorings ([`rescore_many`]) get the same full history through the history cache
//! (`history`), which reads only what was appended since a contact's last rescoring;
//! single-contact requests read the log whole.
//!
//! Anonymous activity counts once a link (an `identify` with both ids, or an `alias`)
//! at or before the instant scored exists, as in the batch CLI, so a score `as_of` a
//! past instant leaves out an anonymous visitor's events if it was identified later.

use std::collections::HashMap;
use std::sync::Arc;

use leadscore_engine::{
    Adjustment, Attributes, Engine, Event, Identify, Millis, ScoreResult, Value,
};
use leadscore_formats::{MessageKind, ResultJson, parse_message};
use leadscore_store::{
    Automation as _, Contact, ContactDelta, ContactInputs, Store as _, StoredAdjustment,
    StoredEvent, StoredScore,
};

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::history::Entry;
use crate::state::AppState;

/// The current wall-clock time in milliseconds since the epoch.
pub fn now() -> Millis {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Millis::try_from(since.as_millis()).unwrap_or(Millis::MAX)
}

/// Compute `id`'s score as of `now`; `None` when the contact is unknown (no record and
/// no history).
pub async fn compute(state: &AppState, id: &str, now: Millis) -> Result<Option<ScoreResult>> {
    let contact = state.store.contact(id).await?;
    let history = state.store.history(id).await?;
    if contact.is_none() && history.is_empty() {
        return Ok(None);
    }
    let adjustments = state.store.adjustments(id).await?;
    let inputs = ContactInputs {
        id: id.to_owned(),
        contact,
        history,
        adjustments,
    };
    score_inputs(&state.engine(), &inputs, now)
}

/// The score of one contact from what the store holds of it, as of `now`; `None` when
/// there is nothing (no record and no history). Pure: no store, no clock.
pub fn score_inputs(
    engine: &Engine,
    inputs: &ContactInputs,
    now: Millis,
) -> Result<Option<ScoreResult>> {
    let Some((attributes, events, identifies, adjustments)) = prepare(engine, inputs, now)? else {
        return Ok(None);
    };
    Ok(Some(engine.score(
        attributes,
        &events,
        &identifies,
        &adjustments,
        now,
    )))
}

/// What the engine scores a contact from: attributes, events, identify calls and
/// adjustments.
pub(crate) type Prepared = (Attributes, Vec<Event>, Vec<Identify>, Vec<Adjustment>);

/// The [`Prepared`] inputs of `inputs` as of `now`; `None` for a contact with neither a
/// record nor a history.
pub(crate) fn prepare(
    engine: &Engine,
    inputs: &ContactInputs,
    now: Millis,
) -> Result<Option<Prepared>> {
    let id = inputs.id.as_str();
    if inputs.contact.is_none() && inputs.history.is_empty() {
        return Ok(None);
    }
    let attributes = stored_attributes(id, inputs.contact.as_ref())?;
    let (events, identifies) = self::inputs(id, &inputs.history, now);
    let adjustments = adjustments(engine, &inputs.adjustments);
    Ok(Some((attributes, events, identifies, adjustments)))
}

/// Rescore many contacts now and store their scores in one transaction: what the
/// background rescorings (after ingestion, an activation, the tick) use, so that a
/// thousand contacts cost a few reads and one commit instead of four statements and
/// a commit each. Histories come through the history cache (`history`): only the
/// messages appended since a contact's last rescoring are read and parsed, with the
/// result of a full re-read. Automation (stages, routing, trigger edges) runs per
/// contact as in [`rescore`]. Returns how many contacts had something to score.
pub async fn rescore_many(state: &AppState, ids: &[String]) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let _claim = state.claims.claim(ids).await;
    let now = now();
    let engine = state.engine();
    let mut entries = state.history.take(&engine, ids);
    let wanted: Vec<(String, i64)> = ids
        .iter()
        .zip(&entries)
        .map(|(id, entry)| (id.clone(), entry.position()))
        .collect();
    let mut deltas = state.store.deltas_of(&wanted).await?;
    // An entry the store's answer does not continue is read again whole.
    let stale: Vec<usize> = (0..ids.len())
        .filter(|&i| !entries[i].continues(&engine, &deltas[i]))
        .collect();
    let uncached = entries.iter().filter(|e| e.position() == 0).count();
    state.history.count(ids.len(), uncached + stale.len());
    if !stale.is_empty() {
        let again: Vec<(String, i64)> = stale.iter().map(|&i| (ids[i].clone(), 0)).collect();
        for (&i, delta) in stale.iter().zip(state.store.deltas_of(&again).await?) {
            entries[i] = Entry::new(&engine);
            deltas[i] = delta;
        }
    }
    // Parsing and scoring are CPU work: off the async workers (so requests keep being
    // served), on every core.
    let scoring_engine = Arc::clone(&engine);
    let (entries, results) =
        tokio::task::spawn_blocking(move || score_deltas(&scoring_engine, entries, &deltas, now))
            .await
            .map_err(|e| Error::Internal(format!("scoring task failed: {e}")))?;
    state.history.put(ids.iter().cloned().zip(entries));
    let results = results?;
    let scored: Vec<String> = results.iter().map(|(id, _)| id.clone()).collect();
    let automation = state.store.automation_states(&scored).await?;
    // Stage changes of the whole batch in one transaction (a first scoring enters
    // every contact's first stage), then routing and triggers contact by contact.
    let mut results = results;
    let changes: Vec<_> = results
        .iter_mut()
        .zip(&automation)
        .filter_map(|((id, result), current)| {
            crate::automation::stage_change(engine.model(), id, now, result, current)
        })
        .collect();
    state.store.record_stages(&changes).await?;
    // Accounts whose members this batch changes: automated once each, after the save.
    let accounts = crate::accounts::touched(state, &results).await?;
    let mut stored = Vec::with_capacity(results.len());
    let mut full_teams = std::collections::HashSet::new();
    for ((id, mut result), current) in results.into_iter().zip(automation) {
        let owner = crate::automation::route_and_trigger(
            state,
            &id,
            now,
            &mut result,
            current,
            &mut full_teams,
        )
        .await?;
        stored.push(crate::automation::stored_score(
            &id,
            now,
            &result,
            owner.as_deref(),
        )?);
    }
    state.store.save_scores(&stored).await?;
    crate::accounts::settle(state, &accounts, now).await?;
    Ok(stored.len())
}

/// Contacts per rayon task: below this, a batch is not split (spreading a few contacts
/// over threads costs more than it saves).
const PARALLEL_MIN: usize = 64;

/// Extend each contact's cache entry with its delta and score it as of `now`, in
/// parallel on every core (rayon's pool, shared by the batches in flight). Returns the
/// entries and, per contact with anything to score (a record or a history), its
/// result, in `deltas` order.
fn score_deltas(
    engine: &Engine,
    mut entries: Vec<Entry>,
    deltas: &[ContactDelta],
    now: Millis,
) -> (Vec<Entry>, Result<Vec<(String, ScoreResult)>>) {
    let results = entries
        .par_iter_mut()
        .zip(deltas)
        .with_min_len(PARALLEL_MIN)
        .filter_map(|(entry, delta)| {
            let id = delta.id.as_str();
            entry.extend(engine, id, delta);
            if delta.contact.is_none() && entry.is_empty() {
                return None;
            }
            let attributes = match stored_attributes(id, delta.contact.as_ref()) {
                Ok(attributes) => attributes,
                Err(error) => return Some(Err(error)),
            };
            let adjustments = adjustments(engine, &delta.adjustments);
            Some(Ok((
                id.to_owned(),
                entry.score(engine, attributes, &adjustments, now),
            )))
        })
        .collect();
    (entries, results)
}

/// The attributes of a stored contact record (none without a record).
fn stored_attributes(id: &str, contact: Option<&Contact>) -> Result<Attributes> {
    match contact {
        Some(contact) => attributes_from_json(&contact.attributes).map_err(|e| {
            Error::Internal(format!("contact `{id}`: stored attributes unreadable: {e}"))
        }),
        None => Ok(Attributes::new()),
    }
}

/// The engine's adjustments from the stored ones: a group is looked up by name in the
/// model scoring them (a group the model no longer has counts without a group).
pub(crate) fn adjustments(engine: &Engine, stored: &[StoredAdjustment]) -> Vec<Adjustment> {
    let groups = &engine.model().groups;
    stored
        .iter()
        .map(|s| Adjustment {
            at: s.adjustment.at,
            points: s.adjustment.points,
            group: s
                .adjustment
                .group
                .as_deref()
                .and_then(|name| groups.iter().position(|g| g.name == name)),
            author: s.adjustment.author.clone(),
            reason: s.adjustment.reason.clone(),
        })
        .collect()
}

/// Compute `id`'s score now and store it (current score and history).
pub async fn rescore(state: &AppState, id: &str) -> Result<Option<StoredScore>> {
    let _claim = state.claims.claim_one(id).await;
    let now = now();
    let Some(mut result) = compute(state, id, now).await? else {
        return Ok(None);
    };
    // Stage history, trigger edges and routing; sets the reported stage.
    let owner = crate::automation::apply(state, id, now, &mut result).await?;
    let stored = crate::automation::stored_score(id, now, &result, owner.as_deref())?;
    let accounts = crate::accounts::touched(state, &[(id.to_owned(), result)]).await?;
    state.store.save_score(&stored).await?;
    crate::accounts::settle(state, &accounts, now).await?;
    Ok(Some(stored))
}

/// The documented result JSON (with `explain`) of `result`.
pub fn result_json(id: &str, as_of: Millis, result: &ScoreResult) -> Result<String> {
    serde_json::to_string(&ResultJson::new(id, as_of, result).with_explain(true))
        .map_err(|e| Error::Internal(format!("cannot serialize a result: {e}")))
}

/// Events and identify calls of `id`'s history that exist as of `now`.
pub(crate) fn inputs(
    id: &str,
    history: &[StoredEvent],
    now: Millis,
) -> (Vec<Event>, Vec<Identify>) {
    let mut parsed = Vec::with_capacity(history.len());
    for stored in history {
        match parse_message(&stored.event.body) {
            Ok(message) => parsed.push(message),
            // Validated before it was stored, so this is damage, not input: say so
            // loudly, and score the rest rather than nothing.
            Err(error) => tracing::error!(
                contact = id,
                seq = stored.seq,
                %error,
                "stored message unreadable; skipped"
            ),
        }
    }
    // When each anonymous id was first linked to this contact.
    let mut linked: HashMap<&str, Millis> = HashMap::new();
    for message in &parsed {
        if message.user_id.as_deref() != Some(id) {
            continue;
        }
        let anonymous = match message.kind {
            MessageKind::Identify => message.anonymous_id.as_deref(),
            MessageKind::Alias => message.previous_id.as_deref(),
            _ => None,
        };
        if let Some(anonymous) = anonymous {
            let at = linked.entry(anonymous).or_insert(message.timestamp);
            *at = (*at).min(message.timestamp);
        }
    }
    let mut events = Vec::new();
    let mut identifies = Vec::new();
    for message in &parsed {
        let own = message.user_id.as_deref() == Some(id);
        if !own {
            // Another id's message: counts once its link exists. One the store linked
            // without a message in this history (none today) is trusted.
            let link = message
                .anonymous_id
                .as_deref()
                .and_then(|a| linked.get(a).copied());
            if link.is_some_and(|at| at > now) {
                continue;
            }
        }
        match message.kind {
            kind if kind.is_event() => events.push(message.to_event()),
            MessageKind::Identify => match message.traits() {
                Ok(traits) => identifies.push((
                    message.timestamp,
                    message.message_id.as_deref().map(str::to_owned),
                    traits,
                )),
                Err(error) => tracing::error!(contact = id, %error, "stored traits unreadable"),
            },
            _ => {}
        }
    }
    (events, identifies)
}

/// Attributes from a JSON object text: strings, numbers and booleans; `null` is
/// missing; nested objects become dotted keys (as identify traits do); arrays are
/// skipped (attributes are scalars).
pub fn attributes_from_json(text: &str) -> Result<Attributes, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(map) = value else {
        return Err("not a JSON object".into());
    };
    let mut attributes = Attributes::new();
    flatten_into(&mut attributes, "", &map);
    Ok(attributes)
}

fn flatten_into(
    attributes: &mut Attributes,
    prefix: &str,
    map: &serde_json::Map<String, serde_json::Value>,
) {
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            serde_json::Value::String(s) => attributes.set(path, Value::Str(s.clone())),
            serde_json::Value::Number(n) => {
                if let Some(n) = n.as_f64() {
                    attributes.set(path, Value::Num(n));
                }
            }
            serde_json::Value::Bool(b) => attributes.set(path, Value::Bool(*b)),
            serde_json::Value::Object(inner) => flatten_into(attributes, &path, inner),
            serde_json::Value::Null | serde_json::Value::Array(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_flatten_nested_objects_and_skip_nulls() {
        let attributes =
            attributes_from_json(r#"{"a":"x","n":3,"b":true,"z":null,"company":{"size":50}}"#)
                .unwrap();
        assert_eq!(attributes.get("a"), Some(&Value::Str("x".into())));
        assert_eq!(attributes.get("n"), Some(&Value::Num(3.0)));
        assert_eq!(attributes.get("b"), Some(&Value::Bool(true)));
        assert_eq!(attributes.get("z"), None);
        assert_eq!(attributes.get("company.size"), Some(&Value::Num(50.0)));
    }

    #[test]
    fn attributes_must_be_an_object() {
        assert!(attributes_from_json("[1]").is_err());
    }
}
