//! The outcomes half of the store: what sales closed (`won`, `lost`, `converted`),
//! per contact and instant, for reports and backtests over stored data.
//!
//! A sibling trait of [`crate::Store`], implemented for both backends by one macro
//! ([`impl_outcomes!`]) over the same SQL, and for [`crate::AnyStore`] by delegation.
//!
//! An outcome comes from the API (`source` `api`) or from a Segment `track` event
//! ([`outcome_of_event`]: `Order Completed` and `Opportunity Won` are `won`,
//! `Opportunity Lost` is `lost`; `source` `segment`). The event's are written by
//! [`crate::Store::append`] in the transaction that stores the event, so an
//! acknowledged event never lacks its outcome. The idempotency key is the message id:
//! `UNIQUE (message_id)`, `ON CONFLICT DO NOTHING`, so a repeated message (or API call
//! with the same `message_id`) counts once; outcomes without a key are all kept.

use std::future::Future;

use crate::{Millis, NewEvent, Result};

/// The outcomes a contact can have.
pub mod kind {
    /// A deal won (an order, a closed-won opportunity).
    pub const WON: &str = "won";
    /// A deal lost.
    pub const LOST: &str = "lost";
    /// Converted without a deal (a sign-up, a trial that became a customer).
    pub const CONVERTED: &str = "converted";
    /// Every outcome, for validating input.
    pub const ALL: [&str; 3] = [WON, LOST, CONVERTED];
}

/// Where an outcome came from.
pub mod source {
    /// `POST /api/v1/contacts/{id}/outcomes`.
    pub const API: &str = "api";
    /// A Segment `track` event (`Order Completed`, `Opportunity Won`, `Opportunity Lost`).
    pub const SEGMENT: &str = "segment";
}

/// An outcome to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutcome {
    /// The contact.
    pub contact_id: String,
    /// One of [`kind::ALL`].
    pub outcome: String,
    /// When it happened.
    pub at: Millis,
    /// One of [`source`].
    pub source: String,
    /// The idempotency key (a message id); `None`: every copy is kept.
    pub message_id: Option<String>,
    /// When the server recorded it.
    pub recorded_at: Millis,
}

/// A stored outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOutcome {
    /// Its id (increasing in insertion order).
    pub id: i64,
    /// The outcome as added.
    pub outcome: NewOutcome,
}

/// The outcome a Segment message records, if any: a `track` of a user (`userId`)
/// named `Order Completed` or `Opportunity Won` (`won`) or `Opportunity Lost`
/// (`lost`), at the message's timestamp, keyed by its `messageId`.
pub fn outcome_of_event(event: &NewEvent) -> Option<NewOutcome> {
    if event.kind != "track" {
        return None;
    }
    let user = event.user_id.as_ref()?;
    // Most messages are something else: skip parsing them.
    if !(event.body.contains("Opportunity") || event.body.contains("Order Completed")) {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Named {
        event: Option<String>,
    }
    let named: Named = serde_json::from_str(&event.body).ok()?;
    let outcome = match named.event?.as_str() {
        "Order Completed" | "Opportunity Won" => kind::WON,
        "Opportunity Lost" => kind::LOST,
        _ => return None,
    };
    Some(NewOutcome {
        contact_id: user.clone(),
        outcome: outcome.to_owned(),
        at: event.timestamp,
        source: source::SEGMENT.to_owned(),
        message_id: event.message_id.clone(),
        recorded_at: event.received_at,
    })
}

/// Columns of `outcomes`, in decoding order.
pub(crate) const OUTCOME_COLUMNS: &str =
    "id, contact_id, outcome, at, source, message_id, recorded_at";

/// The insert of one outcome; a repeated idempotency key changes nothing.
pub(crate) const INSERT_OUTCOME: &str = "INSERT INTO outcomes \
     (contact_id, outcome, at, source, message_id, recorded_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (message_id) DO NOTHING";

/// Outcomes: what sales closed, for reports.
pub trait Outcomes: Send + Sync + 'static {
    /// Store an outcome. Returns it with its id and `true`, or, when its
    /// `message_id` was stored before, the stored one and `false` (counted once).
    fn add_outcome(
        &self,
        outcome: &NewOutcome,
    ) -> impl Future<Output = Result<(StoredOutcome, bool)>> + Send;

    /// A contact's outcomes, in time order (`at`, then id).
    fn outcomes(&self, contact_id: &str)
    -> impl Future<Output = Result<Vec<StoredOutcome>>> + Send;

    /// Every contact's first outcome (earliest `at`, then lowest id), in contact id
    /// order: what a report scores each contact before.
    fn first_outcomes(&self) -> impl Future<Output = Result<Vec<StoredOutcome>>> + Send;
}

/// Expands to `impl Outcomes for $ty` over the pool type `$db` (the same backend
/// hooks as [`crate::backend::impl_store!`]).
macro_rules! impl_outcomes {
    ($ty:ty, $db:ty) => {
        mod outcomes_impl {
            use sqlx::Row as _;

            use super::*;
            use crate::outcomes::{
                INSERT_OUTCOME, NewOutcome, OUTCOME_COLUMNS, Outcomes, StoredOutcome,
            };
            use crate::Result;

            type DbRow = <$db as sqlx::Database>::Row;

            fn outcome_from_row(row: &DbRow) -> Result<StoredOutcome, sqlx::Error> {
                Ok(StoredOutcome {
                    id: row.try_get(0)?,
                    outcome: NewOutcome {
                        contact_id: row.try_get(1)?,
                        outcome: row.try_get(2)?,
                        at: row.try_get(3)?,
                        source: row.try_get(4)?,
                        message_id: row.try_get(5)?,
                        recorded_at: row.try_get(6)?,
                    },
                })
            }

            impl Outcomes for $ty {
                async fn add_outcome(&self, outcome: &NewOutcome) -> Result<(StoredOutcome, bool)> {
                    let sql = format!("{INSERT_OUTCOME} RETURNING id");
                    let id: Option<i64> = sqlx::query_scalar(&sql)
                        .bind(&outcome.contact_id)
                        .bind(&outcome.outcome)
                        .bind(outcome.at)
                        .bind(&outcome.source)
                        .bind(&outcome.message_id)
                        .bind(outcome.recorded_at)
                        .fetch_optional(self.writer())
                        .await?;
                    if let Some(id) = id {
                        return Ok((StoredOutcome { id, outcome: outcome.clone() }, true));
                    }
                    // The key was stored before: answer with what was stored then.
                    let sql = format!("SELECT {OUTCOME_COLUMNS} FROM outcomes WHERE message_id = $1");
                    let row = sqlx::query(&sql)
                        .bind(&outcome.message_id)
                        .fetch_one(self.writer())
                        .await?;
                    Ok((outcome_from_row(&row)?, false))
                }

                async fn outcomes(&self, contact_id: &str) -> Result<Vec<StoredOutcome>> {
                    let sql = format!(
                        "SELECT {OUTCOME_COLUMNS} FROM outcomes WHERE contact_id = $1 ORDER BY at, id"
                    );
                    let rows = sqlx::query(&sql).bind(contact_id).fetch_all(self.reader()).await?;
                    Ok(rows.iter().map(outcome_from_row).collect::<Result<_, _>>()?)
                }

                async fn first_outcomes(&self) -> Result<Vec<StoredOutcome>> {
                    let sql = format!(
                        "SELECT {OUTCOME_COLUMNS} FROM outcomes o WHERE NOT EXISTS \
                         (SELECT 1 FROM outcomes p WHERE p.contact_id = o.contact_id \
                          AND (p.at < o.at OR (p.at = o.at AND p.id < o.id))) \
                         ORDER BY contact_id"
                    );
                    let rows = sqlx::query(&sql).fetch_all(self.reader()).await?;
                    Ok(rows.iter().map(outcome_from_row).collect::<Result<_, _>>()?)
                }
            }
        }
    };
}

pub(crate) use impl_outcomes;

impl Outcomes for crate::AnyStore {
    async fn add_outcome(&self, outcome: &NewOutcome) -> Result<(StoredOutcome, bool)> {
        match self {
            crate::AnyStore::Sqlite(s) => s.add_outcome(outcome).await,
            crate::AnyStore::Postgres(s) => s.add_outcome(outcome).await,
        }
    }

    async fn outcomes(&self, contact_id: &str) -> Result<Vec<StoredOutcome>> {
        match self {
            crate::AnyStore::Sqlite(s) => s.outcomes(contact_id).await,
            crate::AnyStore::Postgres(s) => s.outcomes(contact_id).await,
        }
    }

    async fn first_outcomes(&self) -> Result<Vec<StoredOutcome>> {
        match self {
            crate::AnyStore::Sqlite(s) => s.first_outcomes().await,
            crate::AnyStore::Postgres(s) => s.first_outcomes().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(body: &str, user: Option<&str>) -> NewEvent {
        NewEvent {
            message_id: Some("m1".to_owned()),
            kind: "track".to_owned(),
            user_id: user.map(str::to_owned),
            anonymous_id: None,
            timestamp: 42,
            received_at: 43,
            body: body.to_owned(),
        }
    }

    #[test]
    fn won_and_lost_events_record_outcomes_at_their_timestamp() {
        let won = outcome_of_event(&track(r#"{"event":"Order Completed"}"#, Some("u1")));
        let won = won.map(|o| (o.outcome, o.at, o.message_id, o.source));
        assert_eq!(
            won,
            Some(("won".into(), 42, Some("m1".into()), "segment".into()))
        );
        let opportunity = outcome_of_event(&track(r#"{"event":"Opportunity Won"}"#, Some("u1")));
        assert_eq!(opportunity.map(|o| o.outcome), Some("won".into()));
        let lost = outcome_of_event(&track(r#"{"event":"Opportunity Lost"}"#, Some("u1")));
        assert_eq!(lost.map(|o| o.outcome), Some("lost".into()));
    }

    #[test]
    fn other_events_anonymous_ones_and_other_kinds_record_nothing() {
        for (body, user) in [
            (r#"{"event":"Opportunity Created"}"#, Some("u1")),
            (r#"{"event":"order completed"}"#, Some("u1")),
            (r#"{"event":"Order Completed"}"#, None),
            (r#"{"properties":{"x":"Opportunity Won"}}"#, Some("u1")),
        ] {
            assert_eq!(outcome_of_event(&track(body, user)), None, "{body}");
        }
        let mut page = track(r#"{"event":"Order Completed"}"#, Some("u1"));
        page.kind = "page".to_owned();
        assert_eq!(outcome_of_event(&page), None);
    }
}
