//! The automation half of the store: trigger edges, the transactional outbox of
//! webhook and e-mail deliveries, stage history, owners (routing) and tags.
//!
//! A sibling trait of [`crate::Store`], implemented for both backends by one macro
//! ([`impl_automation!`]) over the same SQL, and for [`crate::AnyStore`] by delegation.
//!
//! Concurrency rests on constraints and conditional updates, never on a read followed
//! by a write:
//!
//! * **Edges**: recording that a trigger became active is one conditional upsert of
//!   `trigger_state` (it changes a row only when the stored state is inactive, and
//!   increments `fires`), and, in the same transaction, the insert of the outbox rows
//!   whose ids are derived from (contact, trigger, fire number, action index). Two
//!   servers that rescore one contact at once both run the upsert; PostgreSQL makes
//!   the second wait for the first's row lock and then re-checks the condition on the
//!   committed row, so exactly one of them sees the edge. And should the same fire
//!   number ever be enqueued twice, the ids are equal and the primary key keeps one.
//! * **Deliveries** are claimed with a lease: one conditional `UPDATE` sets
//!   `claimed_until` and a claim token on due rows whose lease has expired; a second
//!   server's `UPDATE` re-checks that condition after the first commits and skips
//!   them. Finishing is conditional on the token, so a worker whose lease ran out
//!   (and whose row another worker took) cannot overwrite the newer outcome.
//! * **Assignments** lock the team's `team_cursors` row (a no-op `UPDATE`) for the
//!   transaction, so two servers assigning into one team count loads one after the
//!   other and never exceed a member's capacity; the owner insert is `ON CONFLICT DO
//!   NOTHING`, so a contact never gets two owners.
//! * **Account owners** (`account_owners`, one row per account key) are chosen under
//!   the same team lock, and inserted `ON CONFLICT DO NOTHING`: an account never gets
//!   two owners, and the contact handed to it is assigned in the same transaction.
//! * **Stages** enter `stage_history` at most once per (contact, stage) (unique key,
//!   `ON CONFLICT DO NOTHING`): stages only move forward.

use std::future::Future;

use sha2::{Digest, Sha256};

use crate::{Millis, Result, StoreError};

/// A delivery's state.
pub mod status {
    /// Waiting for its (next) attempt.
    pub const PENDING: &str = "pending";
    /// A 2xx was received (webhook) or the SMTP server accepted it (e-mail).
    pub const DELIVERED: &str = "delivered";
    /// Given up: too many failed attempts, or refused (a private target).
    pub const DEAD: &str = "dead";
    /// Every status, for validating filters.
    pub const ALL: [&str; 3] = [PENDING, DELIVERED, DEAD];
}

/// A delivery's kind.
pub mod kind {
    /// An HTTP `POST` to a URL.
    pub const WEBHOOK: &str = "webhook";
    /// An e-mail to an address.
    pub const EMAIL: &str = "email";
}

/// The deterministic id of the delivery of action `index` of fire number `fires` of
/// `trigger` for `contact`: `dlv_` and 32 hex digits of a SHA-256 over the four parts
/// (separated by NUL, which ids cannot be confused by). The same edge always has the
/// same id, also when it is enqueued again after a crash or by another server.
pub fn delivery_id(contact: &str, trigger: &str, fires: i64, index: u32) -> String {
    let mut hash = Sha256::new();
    hash.update(contact.as_bytes());
    hash.update([0]);
    hash.update(trigger.as_bytes());
    hash.update([0]);
    hash.update(fires.to_string().as_bytes());
    hash.update([0]);
    hash.update(index.to_string().as_bytes());
    let digest = hash.finalize();
    let mut id = String::with_capacity(36);
    id.push_str("dlv_");
    for byte in &digest[..16] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// The deterministic id of the delivery of action `index` of fire number `fires` of
/// account trigger `trigger` for the account `key`: as [`delivery_id`], over five parts
/// that start with `account`, so it never equals a contact delivery's id (those hash
/// four parts) whatever the account key and the contact ids.
pub fn account_delivery_id(key: &str, trigger: &str, fires: i64, index: u32) -> String {
    let mut hash = Sha256::new();
    for part in [
        "account",
        key,
        trigger,
        &fires.to_string(),
        &index.to_string(),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hash.finalize();
    let mut id = String::with_capacity(36);
    id.push_str("dlv_");
    for byte in &digest[..16] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// One action of a trigger that leaves the building (an outbox row when it fires).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxAction {
    /// Position of the action in the trigger's `actions` (part of the delivery id).
    pub index: u32,
    /// [`kind::WEBHOOK`] or [`kind::EMAIL`].
    pub kind: String,
    /// The URL or the e-mail address.
    pub target: String,
}

/// One trigger of the model as of a checkpoint, with what to do if it fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerStatus {
    /// The trigger's id.
    pub trigger_id: String,
    /// Whether its condition holds now.
    pub active: bool,
    /// Webhook and e-mail actions: enqueued when it fires.
    pub outbox: Vec<OutboxAction>,
    /// `tag` actions: added when it fires.
    pub tags: Vec<String>,
    /// A `set_stage` action: entered (stage history, reason `trigger <id>`) when it fires.
    pub set_stage: Option<String>,
}

/// What [`Automation::record_triggers`] compares and records for one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerCheck {
    /// The contact.
    pub contact_id: String,
    /// The checkpoint's instant (the result's `as_of`): edges are stamped with it.
    pub at: Millis,
    /// Every trigger of the model (triggers not listed keep their stored state).
    pub triggers: Vec<TriggerStatus>,
    /// The contact's result JSON at the checkpoint, stored with each delivery.
    pub snapshot: String,
}

/// A trigger that fired (inactive -> active) and what was enqueued for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredEdge {
    /// The trigger.
    pub trigger_id: String,
    /// Its fire number for this contact (1, 2, ...).
    pub fires: i64,
    /// Ids of the deliveries enqueued, in action order.
    pub deliveries: Vec<String>,
}

/// A trigger's stored state for one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerState {
    /// The trigger.
    pub trigger_id: String,
    /// Whether it held at the last recorded checkpoint.
    pub active: bool,
    /// How often it fired.
    pub fires: i64,
    /// The instant of its last transition.
    pub changed_at: Millis,
}

/// A stage a contact entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageChange {
    /// The contact.
    pub contact_id: String,
    /// The stage entered.
    pub stage: String,
    /// Why: `stage <id>` (its criteria held), `trigger <id>` (a `set_stage` action),
    /// `initial`.
    pub reason: String,
    /// Who: `rules` or `trigger`.
    pub actor: String,
    /// When.
    pub at: Millis,
}

/// A contact's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRecord {
    /// The contact.
    pub contact_id: String,
    /// The member (an e-mail address from the model's team).
    pub owner: String,
    /// The team it was assigned through.
    pub team: String,
    /// The route that matched (`None` for a trigger's `assign = { team = T }`).
    pub route: Option<String>,
    /// When.
    pub assigned_at: Millis,
}

/// One line of the assignment audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentRecord {
    /// Its id (increasing).
    pub id: i64,
    /// The contact.
    pub contact_id: String,
    /// The new owner; `None` when the contact was released.
    pub owner: Option<String>,
    /// The team.
    pub team: String,
    /// Why (`route <id>`, `trigger <id>`, `member removed`).
    pub reason: String,
    /// The owner before, if any.
    pub previous_owner: Option<String>,
    /// When.
    pub at: Millis,
}

/// What [`Automation::assign_owner`] is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignRequest {
    /// The contact.
    pub contact_id: String,
    /// The team.
    pub team: String,
    /// Its members, in round-robin order.
    pub members: Vec<String>,
    /// Open leads (owned contacts) per member; `None`: unlimited.
    pub capacity: Option<u32>,
    /// The matching route, if it came from one.
    pub route: Option<String>,
    /// The audit reason.
    pub reason: String,
    /// When.
    pub at: Millis,
}

/// What [`Automation::assign_owner`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assigned {
    /// Assigned now.
    New(OwnerRecord),
    /// The contact already had this owner; nothing changed.
    Existing(OwnerRecord),
    /// Every member of the team is at capacity; the contact stays unassigned.
    Full,
}

/// An account's owner: chosen once, when an `[[account.route]]` matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountOwner {
    /// The account key.
    pub account_key: String,
    /// The member (an e-mail address from the model's team).
    pub owner: String,
    /// The team of the account route.
    pub team: String,
    /// The account route that matched.
    pub route: Option<String>,
    /// When.
    pub assigned_at: Millis,
}

/// What [`Automation::assign_account`] is asked to do: hand `contact` (its team, members
/// and capacity those of the account route) to the owner of `account_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAssignRequest {
    /// The account key.
    pub account_key: String,
    /// The contact and the account route's team; `route` is the account route.
    pub contact: AssignRequest,
}

/// A contact's automation state, read in one call before deciding whether to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactAutomation {
    /// Stored trigger states.
    pub triggers: Vec<TriggerState>,
    /// Stages entered, in order.
    pub stages: Vec<StageChange>,
    /// The owner, if assigned.
    pub owner: Option<OwnerRecord>,
}

/// A delivery of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The idempotency key ([`delivery_id`]).
    pub id: String,
    /// The contact; empty for an account trigger's delivery.
    pub contact_id: String,
    /// The account, for an account trigger's delivery (`[[account.trigger]]`).
    pub account_key: Option<String>,
    /// The trigger that fired.
    pub trigger_id: String,
    /// Its fire number.
    pub fires: i64,
    /// [`kind::WEBHOOK`] or [`kind::EMAIL`].
    pub kind: String,
    /// URL or e-mail address.
    pub target: String,
    /// The contact's (account's) result JSON when it fired.
    pub body: String,
    /// When the edge was seen.
    pub fired_at: Millis,
    /// [`status::PENDING`], [`status::DELIVERED`] or [`status::DEAD`].
    pub status: String,
    /// Attempts finished so far.
    pub attempts: i64,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Millis,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: Millis,
    /// When it was delivered.
    pub delivered_at: Option<Millis>,
    /// The claim token of the worker holding it, if any.
    pub claim: Option<String>,
}

/// How an attempt ended, for [`Automation::finish_delivery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Delivered at this instant.
    Delivered {
        /// When.
        at: Millis,
    },
    /// Failed; retried at `retry_at`, or dead when `None`.
    Failed {
        /// What went wrong.
        error: String,
        /// When to try again; `None`: give up (dead letter).
        retry_at: Option<Millis>,
    },
}

/// Filter and paging of [`Automation::deliveries`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// Only this status.
    pub status: Option<String>,
    /// At most this many (0: 50; at most 1000).
    pub limit: u32,
    /// Continue after this cursor (a previous page's `next`).
    pub after: Option<String>,
}

/// A page of deliveries, oldest first (by `created_at`, then id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryPage {
    /// The deliveries.
    pub items: Vec<Delivery>,
    /// Cursor of the next page; `None` on the last.
    pub next: Option<String>,
}

/// A delivery-list cursor: `<created_at>.<id>`.
pub(crate) fn decode_delivery_cursor(cursor: &str) -> Result<(Millis, String)> {
    let bad = || StoreError::BadCursor(cursor.to_owned());
    let (at, id) = cursor.split_once('.').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_owned()))
}

/// Whether a text is a cursor [`Automation::deliveries`] accepts.
pub fn delivery_cursor_is_valid(cursor: &str) -> bool {
    decode_delivery_cursor(cursor).is_ok()
}

/// Automation state: see the module documentation for how races are decided.
pub trait Automation: Send + Sync + 'static {
    /// A contact's stored trigger states, stage history and owner.
    fn automation_state(
        &self,
        contact_id: &str,
    ) -> impl Future<Output = Result<ContactAutomation>> + Send;

    /// [`Automation::automation_state`] of each of `ids`, in the order given, read with
    /// three statements per few hundred contacts (a rescoring batch).
    fn automation_states(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<ContactAutomation>>> + Send;

    /// Record a checkpoint's trigger states in one transaction: a trigger that is
    /// active and was not (or never was) fires (`fires + 1`), and its outbox rows,
    /// tags and `set_stage` are written in the same transaction; one that is inactive
    /// re-arms. A transition older than the stored one (`changed_at`) is ignored, so a
    /// stale computation cannot flip a newer state. Returns the edges that fired.
    fn record_triggers(
        &self,
        check: &TriggerCheck,
    ) -> impl Future<Output = Result<Vec<FiredEdge>>> + Send;

    /// Record that a contact entered `stage`; `false` when it had entered it before.
    fn record_stage(&self, change: &StageChange) -> impl Future<Output = Result<bool>> + Send;

    /// [`Automation::record_stage`] for many changes, in one transaction (a rescoring
    /// batch); a stage entered before is skipped as there.
    fn record_stages(&self, changes: &[StageChange]) -> impl Future<Output = Result<()>> + Send;

    /// A contact's stages, in the order entered.
    fn stage_history(
        &self,
        contact_id: &str,
    ) -> impl Future<Output = Result<Vec<StageChange>>> + Send;

    /// Assign the contact round-robin within the team (after the member the team's
    /// last assignment went to), skipping members whose owned contacts reach the
    /// capacity; audited. A contact that has an owner keeps it.
    fn assign_owner(
        &self,
        request: &AssignRequest,
    ) -> impl Future<Output = Result<Assigned>> + Send;

    /// Assign the contact to the owner of its account: the stored account owner, or,
    /// when the account has none, a member chosen round-robin within the team as
    /// [`Automation::assign_owner`] chooses (skipping members at capacity), who becomes
    /// the account's owner. The account's owner receives the contact even at capacity
    /// (a buying group stays together). One transaction; audited with the request's
    /// reason. A contact that has an owner keeps it; [`Assigned::Full`]: the account
    /// has no owner and every member is at capacity.
    ///
    /// An account given its owner now gathers its buying group: the owner is the member
    /// of the team who already owns most of the account's members (else the round
    /// robin), and the account's members owned by other members of that team move to
    /// it (audited per contact, `account <key>: joins the account owner`). Returns the
    /// contacts moved besides the one assigned (their stored results name the old
    /// owner until rescored).
    fn assign_account(
        &self,
        request: &AccountAssignRequest,
    ) -> impl Future<Output = Result<(Assigned, Vec<String>)>> + Send;

    /// Give account `key`, which has no owner, one within `request`'s team (its
    /// `contact_id` is not used) as [`Automation::assign_account`] chooses one, and
    /// gather its members owned within that team; no contact is assigned. Returns the
    /// owner and the contacts moved; `None` when the account had an owner already or
    /// every member is at capacity.
    fn route_account(
        &self,
        key: &str,
        request: &AssignRequest,
    ) -> impl Future<Output = Result<Option<(AccountOwner, Vec<String>)>>> + Send;

    /// An account's owner, if it has one.
    fn account_owner(
        &self,
        account_key: &str,
    ) -> impl Future<Output = Result<Option<AccountOwner>>> + Send;

    /// Release every owner that is no longer a member of its team (`teams`: the
    /// model's teams with their members); audited with `reason`. Returns the
    /// contacts released (to be routed again). Account owners no longer in their
    /// team are released too (their accounts get an owner again at the next routing).
    fn release_owners(
        &self,
        teams: &[(String, Vec<String>)],
        reason: &str,
        at: Millis,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Contacts owned per member, by member.
    fn owner_loads(&self) -> impl Future<Output = Result<Vec<(String, i64)>>> + Send;

    /// A contact's assignment audit trail, oldest first.
    fn assignments(
        &self,
        contact_id: &str,
    ) -> impl Future<Output = Result<Vec<AssignmentRecord>>> + Send;

    /// A contact's tags, sorted.
    fn tags(&self, contact_id: &str) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Claim up to `limit` due pending deliveries for `lease` milliseconds under the
    /// token `claim`: no other claim gets them until the lease expires.
    fn claim_deliveries(
        &self,
        now: Millis,
        lease: Millis,
        limit: u32,
        claim: &str,
    ) -> impl Future<Output = Result<Vec<Delivery>>> + Send;

    /// Record an attempt's outcome; `false` when the claim was lost (the lease ran
    /// out and another worker took the delivery, or it was replayed).
    fn finish_delivery(
        &self,
        id: &str,
        claim: &str,
        outcome: &DeliveryOutcome,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// One delivery.
    fn delivery(&self, id: &str) -> impl Future<Output = Result<Option<Delivery>>> + Send;

    /// Deliveries, oldest first, filtered and paged.
    fn deliveries(
        &self,
        query: &DeliveryQuery,
    ) -> impl Future<Output = Result<DeliveryPage>> + Send;

    /// Send a dead (or delivered) delivery again: pending, attempts 0, due at `now`,
    /// same id. A pending one is left as it is. `None` when there is no such delivery.
    fn replay_delivery(
        &self,
        id: &str,
        now: Millis,
    ) -> impl Future<Output = Result<Option<Delivery>>> + Send;
}

/// Columns of `deliveries`, in the order [`impl_automation!`] decodes them.
pub(crate) const DELIVERY_COLUMNS: &str = "id, contact_id, trigger_id, fires, kind, target, body, \
     fired_at, status, attempts, next_attempt_at, last_error, created_at, delivered_at, claim, \
     account_key";

/// Columns of `stage_history`, in decoding order.
pub(crate) const STAGE_COLUMNS: &str = "contact_id, stage, reason, actor, at";

/// Columns of `owners`, in decoding order.
pub(crate) const OWNER_COLUMNS: &str = "contact_id, owner, team, route, assigned_at";

/// Columns of `account_owners`, in decoding order.
pub(crate) const ACCOUNT_OWNER_COLUMNS: &str = "account_key, owner, team, route, assigned_at";

/// The member to assign next: round-robin after `last` (from the first when `last`
/// is not a member any more), skipping members whose load reached `capacity`.
pub(crate) fn pick_member<'m>(
    members: &'m [String],
    last: Option<&str>,
    load: impl Fn(&str) -> i64,
    capacity: Option<u32>,
) -> Option<&'m String> {
    let start = last
        .and_then(|last| members.iter().position(|m| m == last))
        .map_or(0, |i| i + 1);
    (0..members.len())
        .map(|k| &members[(start + k) % members.len()])
        .find(|m| capacity.is_none_or(|cap| load(m) < i64::from(cap)))
}

/// Expands to `impl Automation for $ty` over the pool type `$db` (the same backend
/// hooks as [`crate::backend::impl_store!`]: `writer`, `reader`, `begin_write`,
/// `retryable`).
macro_rules! impl_automation {
    ($ty:ty, $db:ty) => {
        mod automation_impl {
            use sqlx::Row as _;

            use super::*;
            use crate::automation::{
                decode_delivery_cursor, delivery_id, pick_member, status, AccountAssignRequest,
                AccountOwner, AssignRequest, Assigned, AssignmentRecord, Automation,
                ContactAutomation, Delivery, DeliveryOutcome, DeliveryPage, DeliveryQuery,
                FiredEdge, OwnerRecord, StageChange, TriggerCheck, TriggerState,
                ACCOUNT_OWNER_COLUMNS, DELIVERY_COLUMNS, OWNER_COLUMNS, STAGE_COLUMNS,
            };
            use crate::backend::{backoff, page_limit, placeholders, IN_CHUNK, MAX_ATTEMPTS};
            use crate::{Millis, Result};

            type DbRow = <$db as sqlx::Database>::Row;
            type Tx = sqlx::Transaction<'static, $db>;

            fn delivery_from_row(row: &DbRow) -> Result<Delivery, sqlx::Error> {
                Ok(Delivery {
                    id: row.try_get(0)?,
                    contact_id: row.try_get(1)?,
                    trigger_id: row.try_get(2)?,
                    fires: row.try_get(3)?,
                    kind: row.try_get(4)?,
                    target: row.try_get(5)?,
                    body: row.try_get(6)?,
                    fired_at: row.try_get(7)?,
                    status: row.try_get(8)?,
                    attempts: row.try_get(9)?,
                    next_attempt_at: row.try_get(10)?,
                    last_error: row.try_get(11)?,
                    created_at: row.try_get(12)?,
                    delivered_at: row.try_get(13)?,
                    claim: row.try_get(14)?,
                    account_key: row.try_get(15)?,
                })
            }

            fn stage_from_row(row: &DbRow) -> Result<StageChange, sqlx::Error> {
                Ok(StageChange {
                    contact_id: row.try_get(0)?,
                    stage: row.try_get(1)?,
                    reason: row.try_get(2)?,
                    actor: row.try_get(3)?,
                    at: row.try_get(4)?,
                })
            }

            fn owner_from_row(row: &DbRow) -> Result<OwnerRecord, sqlx::Error> {
                Ok(OwnerRecord {
                    contact_id: row.try_get(0)?,
                    owner: row.try_get(1)?,
                    team: row.try_get(2)?,
                    route: row.try_get(3)?,
                    assigned_at: row.try_get(4)?,
                })
            }

            fn account_owner_from_row(row: &DbRow) -> Result<AccountOwner, sqlx::Error> {
                Ok(AccountOwner {
                    account_key: row.try_get(0)?,
                    owner: row.try_get(1)?,
                    team: row.try_get(2)?,
                    route: row.try_get(3)?,
                    assigned_at: row.try_get(4)?,
                })
            }

            /// Locks `team`'s round-robin cursor until commit (so loads are counted one
            /// assignment after the other, and capacity holds across servers) and
            /// returns the member the team's last assignment went to.
            async fn lock_team(tx: &mut Tx, team: &str) -> Result<Option<String>, sqlx::Error> {
                sqlx::query(
                    "INSERT INTO team_cursors (team, last_member) VALUES ($1, NULL) \
                     ON CONFLICT (team) DO NOTHING",
                )
                .bind(team)
                .execute(&mut **tx)
                .await?;
                sqlx::query_scalar(
                    "UPDATE team_cursors SET last_member = last_member WHERE team = $1 \
                     RETURNING last_member",
                )
                .bind(team)
                .fetch_one(&mut **tx)
                .await
            }

            /// The member to assign next within `request`'s team (round-robin, skipping
            /// members at capacity); `None`: every member is at capacity.
            async fn next_member<'r>(
                tx: &mut Tx,
                request: &'r AssignRequest,
                last: Option<&str>,
            ) -> Result<Option<&'r String>, sqlx::Error> {
                let mut loads = std::collections::HashMap::new();
                if request.capacity.is_some() && !request.members.is_empty() {
                    let placeholders: Vec<String> =
                        (1..=request.members.len()).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "SELECT owner, COUNT(*) FROM owners WHERE owner IN ({}) GROUP BY owner",
                        placeholders.join(", ")
                    );
                    let mut query = sqlx::query(&sql);
                    for member in &request.members {
                        query = query.bind(member);
                    }
                    for row in query.fetch_all(&mut **tx).await? {
                        let owner: String = row.try_get(0)?;
                        let count: i64 = row.try_get(1)?;
                        loads.insert(owner, count);
                    }
                }
                Ok(pick_member(
                    &request.members,
                    last,
                    |m| loads.get(m).copied().unwrap_or(0),
                    request.capacity,
                ))
            }

            /// Inserts `owner` (unless the contact has one) with its audit line;
            /// `false` when the contact had an owner.
            async fn insert_owner(
                tx: &mut Tx,
                owner: &OwnerRecord,
                reason: &str,
            ) -> Result<bool, sqlx::Error> {
                let inserted = sqlx::query(
                    "INSERT INTO owners (contact_id, owner, team, route, assigned_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (contact_id) DO NOTHING",
                )
                .bind(&owner.contact_id)
                .bind(&owner.owner)
                .bind(&owner.team)
                .bind(&owner.route)
                .bind(owner.assigned_at)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO assignments (contact_id, owner, team, reason, previous_owner, at) \
                     VALUES ($1, $2, $3, $4, NULL, $5)",
                )
                .bind(&owner.contact_id)
                .bind(&owner.owner)
                .bind(&owner.team)
                .bind(reason)
                .bind(owner.assigned_at)
                .execute(&mut **tx)
                .await?;
                Ok(true)
            }

            /// Runs a transaction again while it fails with a retryable error (as the
            /// store's own methods do); the accounts half uses it too.
            pub(super) async fn retry<T, F, Fut>(mut transaction: F) -> Result<T>
            where
                F: FnMut() -> Fut,
                Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
            {
                let mut attempt = 1;
                loop {
                    match transaction().await {
                        Ok(done) => return Ok(done),
                        Err(e) if attempt < MAX_ATTEMPTS && <$ty>::retryable(&e) => {
                            tokio::time::sleep(backoff(attempt)).await;
                            attempt += 1;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }

            /// Appends a line to an account's owner audit trail (`account_assignments`).
            pub(super) async fn insert_account_assignment(
                tx: &mut Tx,
                key: &str,
                owner: Option<&str>,
                team: &str,
                reason: &str,
                previous_owner: Option<&str>,
                at: Millis,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO account_assignments \
                     (account_key, owner, team, reason, previous_owner, at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(key)
                .bind(owner)
                .bind(team)
                .bind(reason)
                .bind(previous_owner)
                .bind(at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Whose trigger edges [`record_edges`] records.
            pub(super) enum Subject<'a> {
                /// A contact (`trigger_state`; its own tags and stage).
                Contact(&'a str),
                /// An account (`account_trigger_state`); `tag` actions tag `members`.
                Account {
                    /// The account key.
                    key: &'a str,
                    /// Its members at the checkpoint.
                    members: &'a [String],
                },
            }

            /// Records a checkpoint's trigger states of `subject` inside `tx`: per
            /// trigger, a re-arm (inactive) or an edge (one conditional upsert that
            /// returns the new fire number only when the stored state was inactive and
            /// not newer), and with each edge its outbox rows (ids from
            /// [`delivery_id`] / [`crate::automation::account_delivery_id`]), tags and
            /// (contacts) `set_stage`. Returns the edges that fired.
            pub(super) async fn record_edges(
                tx: &mut Tx,
                subject: Subject<'_>,
                at: Millis,
                triggers: &[crate::automation::TriggerStatus],
                snapshot: &str,
            ) -> Result<Vec<FiredEdge>, sqlx::Error> {
                // Table names are fixed strings: nothing of the input enters the SQL.
                let (table, column, key) = match &subject {
                    Subject::Contact(id) => ("trigger_state", "contact_id", *id),
                    Subject::Account { key, .. } => ("account_trigger_state", "account_key", *key),
                };
                let mut fired = Vec::new();
                for trigger in triggers {
                    if !trigger.active {
                        // Re-arm: only a state that is active and not newer.
                        sqlx::query(&format!(
                            "UPDATE {table} SET active = FALSE, changed_at = $3 \
                             WHERE {column} = $1 AND trigger_id = $2 AND active = TRUE \
                             AND changed_at <= $3"
                        ))
                        .bind(key)
                        .bind(&trigger.trigger_id)
                        .bind(at)
                        .execute(&mut **tx)
                        .await?;
                        continue;
                    }
                    // The edge: a new row, or an inactive one turned active. Changes
                    // nothing (returns no row) when it is already active.
                    let fires: Option<i64> = sqlx::query_scalar(&format!(
                        "INSERT INTO {table} ({column}, trigger_id, active, fires, changed_at) \
                         VALUES ($1, $2, TRUE, 1, $3) \
                         ON CONFLICT ({column}, trigger_id) DO UPDATE \
                         SET active = TRUE, fires = {table}.fires + 1, \
                         changed_at = excluded.changed_at \
                         WHERE {table}.active = FALSE \
                         AND {table}.changed_at <= excluded.changed_at \
                         RETURNING fires"
                    ))
                    .bind(key)
                    .bind(&trigger.trigger_id)
                    .bind(at)
                    .fetch_optional(&mut **tx)
                    .await?;
                    let Some(fires) = fires else { continue };
                    let mut ids = Vec::with_capacity(trigger.outbox.len());
                    for action in &trigger.outbox {
                        // An account's delivery names no contact (empty) but its account.
                        let (id, contact, account) = match &subject {
                            Subject::Contact(id) => (
                                delivery_id(id, &trigger.trigger_id, fires, action.index),
                                *id,
                                None,
                            ),
                            Subject::Account { key, .. } => (
                                crate::automation::account_delivery_id(
                                    key,
                                    &trigger.trigger_id,
                                    fires,
                                    action.index,
                                ),
                                "",
                                Some(*key),
                            ),
                        };
                        sqlx::query(
                            "INSERT INTO deliveries (id, contact_id, account_key, trigger_id, \
                             fires, kind, target, body, fired_at, status, attempts, \
                             next_attempt_at, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $9, $9) \
                             ON CONFLICT (id) DO NOTHING",
                        )
                        .bind(&id)
                        .bind(contact)
                        .bind(account)
                        .bind(&trigger.trigger_id)
                        .bind(fires)
                        .bind(&action.kind)
                        .bind(&action.target)
                        .bind(snapshot)
                        .bind(at)
                        .bind(status::PENDING)
                        .execute(&mut **tx)
                        .await?;
                        ids.push(id);
                    }
                    // A contact tags itself; an account, every member.
                    let tagged: Vec<&str> = match &subject {
                        Subject::Contact(id) => vec![*id],
                        Subject::Account { members, .. } => {
                            members.iter().map(String::as_str).collect()
                        }
                    };
                    for tag in &trigger.tags {
                        for contact in &tagged {
                            insert_tag(tx, contact, tag, &trigger.trigger_id, at).await?;
                        }
                    }
                    if let (Subject::Contact(id), Some(stage)) = (&subject, &trigger.set_stage) {
                        insert_stage(
                            tx,
                            &StageChange {
                                contact_id: (*id).to_owned(),
                                stage: stage.clone(),
                                reason: format!("trigger {}", trigger.trigger_id),
                                actor: "trigger".into(),
                                at,
                            },
                        )
                        .await?;
                    }
                    fired.push(FiredEdge {
                        trigger_id: trigger.trigger_id.clone(),
                        fires,
                        deliveries: ids,
                    });
                }
                Ok(fired)
            }

            /// The stored owner of account `key`, if any (inside `tx`).
            async fn stored_account_owner(
                tx: &mut Tx,
                key: &str,
            ) -> Result<Option<AccountOwner>, sqlx::Error> {
                let sql = format!(
                    "SELECT {ACCOUNT_OWNER_COLUMNS} FROM account_owners WHERE account_key = $1"
                );
                let row = sqlx::query(&sql).bind(key).fetch_optional(&mut **tx).await?;
                row.as_ref().map(account_owner_from_row).transpose()
            }

            /// Gives account `key` (which has no owner; the team of `request` is locked)
            /// its owner: the member of the team who already owns most of the account's
            /// members (ties: the first in `members` order; not a round-robin turn, and
            /// capacity does not apply: they already work the account), else the next
            /// member round-robin, skipping members at capacity. Audited in
            /// `account_assignments` with `request.reason`; then the account's members
            /// owned by other members of the same team move to the account owner, each
            /// with an audit line. Returns the owner and the contacts moved; `None`: every
            /// member is at capacity and none holds a member of the account.
            async fn choose_account_owner(
                tx: &mut Tx,
                key: &str,
                request: &AssignRequest,
                last: Option<&str>,
            ) -> Result<Option<(AccountOwner, Vec<String>)>, sqlx::Error> {
                let rows = sqlx::query(
                    "SELECT o.owner, COUNT(*) FROM owners o \
                     JOIN account_members m ON m.contact_id = o.contact_id \
                     WHERE m.account_key = $1 AND o.team = $2 GROUP BY o.owner",
                )
                .bind(key)
                .bind(&request.team)
                .fetch_all(&mut **tx)
                .await?;
                let mut held = std::collections::HashMap::new();
                for row in rows {
                    let owner: String = row.try_get(0)?;
                    let count: i64 = row.try_get(1)?;
                    held.insert(owner, count);
                }
                let holder = request
                    .members
                    .iter()
                    .filter_map(|m| held.get(m).map(|count| (m, *count)))
                    // The first member (in `members` order) with the most.
                    .fold(None::<(&String, i64)>, |best, (m, count)| match best {
                        Some((_, c)) if c >= count => best,
                        _ => Some((m, count)),
                    })
                    .map(|(m, _)| m);
                let (member, by_turn) = match holder {
                    Some(member) => (member, false),
                    None => match next_member(tx, request, last).await? {
                        Some(member) => (member, true),
                        None => return Ok(None),
                    },
                };
                let inserted = sqlx::query(
                    "INSERT INTO account_owners (account_key, owner, team, route, assigned_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_key) DO NOTHING",
                )
                .bind(key)
                .bind(member)
                .bind(&request.team)
                .bind(&request.route)
                .bind(request.at)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    // Given an owner meanwhile through another team (its transaction
                    // committed first): that one stands, and it gathered the members.
                    return Ok(stored_account_owner(tx, key).await?.map(|o| (o, Vec::new())));
                }
                if by_turn {
                    sqlx::query("UPDATE team_cursors SET last_member = $2 WHERE team = $1")
                        .bind(&request.team)
                        .bind(member)
                        .execute(&mut **tx)
                        .await?;
                }
                insert_account_assignment(
                    tx, key, Some(member), &request.team, &request.reason, None, request.at,
                )
                .await?;
                // No split buying group: the account's members that other reps of this
                // team own join the account owner.
                let rows = sqlx::query(
                    "SELECT o.contact_id, o.owner FROM owners o \
                     JOIN account_members m ON m.contact_id = o.contact_id \
                     WHERE m.account_key = $1 AND o.team = $2 AND o.owner <> $3 \
                     ORDER BY o.contact_id",
                )
                .bind(key)
                .bind(&request.team)
                .bind(member)
                .fetch_all(&mut **tx)
                .await?;
                let reason = format!("account {key}: joins the account owner");
                let mut moved = Vec::with_capacity(rows.len());
                for row in rows {
                    let contact: String = row.try_get(0)?;
                    let previous: String = row.try_get(1)?;
                    let changed = sqlx::query(
                        "UPDATE owners SET owner = $2, route = $3, assigned_at = $4 \
                         WHERE contact_id = $1 AND owner = $5",
                    )
                    .bind(&contact)
                    .bind(member)
                    .bind(&request.route)
                    .bind(request.at)
                    .bind(&previous)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                    if changed == 0 {
                        continue;
                    }
                    sqlx::query(
                        "INSERT INTO assignments (contact_id, owner, team, reason, previous_owner, at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&contact)
                    .bind(member)
                    .bind(&request.team)
                    .bind(&reason)
                    .bind(&previous)
                    .bind(request.at)
                    .execute(&mut **tx)
                    .await?;
                    moved.push(contact);
                }
                let owner = AccountOwner {
                    account_key: key.to_owned(),
                    owner: member.clone(),
                    team: request.team.clone(),
                    route: request.route.clone(),
                    assigned_at: request.at,
                };
                Ok(Some((owner, moved)))
            }

            async fn insert_tag(
                tx: &mut Tx,
                contact_id: &str,
                tag: &str,
                trigger_id: &str,
                at: Millis,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO tags (contact_id, tag, trigger_id, at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (contact_id, tag) DO NOTHING",
                )
                .bind(contact_id)
                .bind(tag)
                .bind(trigger_id)
                .bind(at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn insert_stage(tx: &mut Tx, change: &StageChange) -> Result<bool, sqlx::Error> {
                let inserted = sqlx::query(
                    "INSERT INTO stage_history (contact_id, stage, reason, actor, at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (contact_id, stage) DO NOTHING",
                )
                .bind(&change.contact_id)
                .bind(&change.stage)
                .bind(&change.reason)
                .bind(&change.actor)
                .bind(change.at)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                Ok(inserted > 0)
            }

            impl $ty {
                async fn record_triggers_once(
                    &self,
                    check: &TriggerCheck,
                ) -> Result<Vec<FiredEdge>, sqlx::Error> {
                    let mut tx = self.begin_write().await?;
                    let fired = record_edges(
                        &mut tx,
                        Subject::Contact(&check.contact_id),
                        check.at,
                        &check.triggers,
                        &check.snapshot,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(fired)
                }

                async fn record_stages_once(&self, changes: &[StageChange]) -> Result<(), sqlx::Error> {
                    let mut tx = self.begin_write().await?;
                    for change in changes {
                        insert_stage(&mut tx, change).await?;
                    }
                    tx.commit().await
                }

                async fn record_stage_once(&self, change: &StageChange) -> Result<bool, sqlx::Error> {
                    let mut tx = self.begin_write().await?;
                    let inserted = insert_stage(&mut tx, change).await?;
                    tx.commit().await?;
                    Ok(inserted)
                }

                async fn assign_owner_once(
                    &self,
                    request: &AssignRequest,
                ) -> Result<Assigned, sqlx::Error> {
                    let mut tx = self.begin_write().await?;
                    let last = lock_team(&mut tx, &request.team).await?;
                    if let Some(existing) = self.owner_in(&mut tx, &request.contact_id).await? {
                        tx.rollback().await?;
                        return Ok(Assigned::Existing(existing));
                    }
                    let Some(member) = next_member(&mut tx, request, last.as_deref()).await? else {
                        tx.rollback().await?;
                        return Ok(Assigned::Full);
                    };
                    let owner = OwnerRecord {
                        contact_id: request.contact_id.clone(),
                        owner: member.clone(),
                        team: request.team.clone(),
                        route: request.route.clone(),
                        assigned_at: request.at,
                    };
                    if !insert_owner(&mut tx, &owner, &request.reason).await? {
                        // Assigned meanwhile through another team: that one stands.
                        tx.rollback().await?;
                        return self.existing_owner(&request.contact_id).await;
                    }
                    sqlx::query("UPDATE team_cursors SET last_member = $2 WHERE team = $1")
                        .bind(&request.team)
                        .bind(member)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(Assigned::New(owner))
                }

                async fn owner_in(
                    &self,
                    tx: &mut Tx,
                    contact_id: &str,
                ) -> Result<Option<OwnerRecord>, sqlx::Error> {
                    let row = sqlx::query(&sql_owner())
                        .bind(contact_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    row.as_ref().map(owner_from_row).transpose()
                }

                async fn existing_owner(&self, contact_id: &str) -> Result<Assigned, sqlx::Error> {
                    let row = sqlx::query(&sql_owner())
                        .bind(contact_id)
                        .fetch_one(self.writer())
                        .await?;
                    Ok(Assigned::Existing(owner_from_row(&row)?))
                }

                async fn assign_account_once(
                    &self,
                    request: &AccountAssignRequest,
                ) -> Result<(Assigned, Vec<String>), sqlx::Error> {
                    let contact = &request.contact;
                    let mut tx = self.begin_write().await?;
                    let last = lock_team(&mut tx, &contact.team).await?;
                    if let Some(existing) = self.owner_in(&mut tx, &contact.contact_id).await? {
                        tx.rollback().await?;
                        return Ok((Assigned::Existing(existing), Vec::new()));
                    }
                    let (account, moved) = match stored_account_owner(&mut tx, &request.account_key).await? {
                        Some(account) => (account, Vec::new()),
                        None => {
                            match choose_account_owner(&mut tx, &request.account_key, contact, last.as_deref())
                                .await?
                            {
                                Some(chosen) => chosen,
                                None => {
                                    tx.rollback().await?;
                                    return Ok((Assigned::Full, Vec::new()));
                                }
                            }
                        }
                    };
                    let owner = OwnerRecord {
                        contact_id: contact.contact_id.clone(),
                        owner: account.owner,
                        team: account.team,
                        route: account.route,
                        assigned_at: contact.at,
                    };
                    if !insert_owner(&mut tx, &owner, &contact.reason).await? {
                        tx.rollback().await?;
                        return Ok((self.existing_owner(&contact.contact_id).await?, Vec::new()));
                    }
                    tx.commit().await?;
                    Ok((Assigned::New(owner), moved))
                }

                async fn route_account_once(
                    &self,
                    key: &str,
                    request: &AssignRequest,
                ) -> Result<Option<(AccountOwner, Vec<String>)>, sqlx::Error> {
                    let mut tx = self.begin_write().await?;
                    let last = lock_team(&mut tx, &request.team).await?;
                    if stored_account_owner(&mut tx, key).await?.is_some() {
                        tx.rollback().await?;
                        return Ok(None);
                    }
                    let chosen = choose_account_owner(&mut tx, key, request, last.as_deref()).await?;
                    tx.commit().await?;
                    Ok(chosen)
                }

                async fn release_owners_once(
                    &self,
                    teams: &[(String, Vec<String>)],
                    reason: &str,
                    at: Millis,
                ) -> Result<Vec<String>, sqlx::Error> {
                    let mut tx = self.begin_write().await?;
                    let rows = sqlx::query("SELECT contact_id, owner, team FROM owners ORDER BY contact_id")
                        .fetch_all(&mut *tx)
                        .await?;
                    let mut released = Vec::new();
                    for row in rows {
                        let contact: String = row.try_get(0)?;
                        let owner: String = row.try_get(1)?;
                        let team: String = row.try_get(2)?;
                        let member = teams
                            .iter()
                            .any(|(t, members)| *t == team && members.contains(&owner));
                        if member {
                            continue;
                        }
                        let deleted = sqlx::query(
                            "DELETE FROM owners WHERE contact_id = $1 AND owner = $2 AND team = $3",
                        )
                        .bind(&contact)
                        .bind(&owner)
                        .bind(&team)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        if deleted == 0 {
                            continue;
                        }
                        sqlx::query(
                            "INSERT INTO assignments (contact_id, owner, team, reason, previous_owner, at) \
                             VALUES ($1, NULL, $2, $3, $4, $5)",
                        )
                        .bind(&contact)
                        .bind(&team)
                        .bind(reason)
                        .bind(&owner)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                        released.push(contact);
                    }
                    let rows = sqlx::query("SELECT account_key, owner, team FROM account_owners")
                        .fetch_all(&mut *tx)
                        .await?;
                    for row in rows {
                        let key: String = row.try_get(0)?;
                        let owner: String = row.try_get(1)?;
                        let team: String = row.try_get(2)?;
                        if !teams
                            .iter()
                            .any(|(t, members)| *t == team && members.contains(&owner))
                        {
                            let deleted = sqlx::query(
                                "DELETE FROM account_owners WHERE account_key = $1 AND owner = $2",
                            )
                            .bind(&key)
                            .bind(&owner)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                            if deleted > 0 {
                                insert_account_assignment(
                                    &mut tx, &key, None, &team, reason, Some(&owner), at,
                                )
                                .await?;
                            }
                        }
                    }
                    tx.commit().await?;
                    Ok(released)
                }
            }

            fn sql_owner() -> String {
                format!("SELECT {OWNER_COLUMNS} FROM owners WHERE contact_id = $1")
            }

            fn sql_delivery() -> String {
                format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1")
            }

            impl Automation for $ty {
                async fn automation_state(&self, contact_id: &str) -> Result<ContactAutomation> {
                    let rows = sqlx::query(
                        "SELECT trigger_id, active, fires, changed_at FROM trigger_state \
                         WHERE contact_id = $1 ORDER BY trigger_id",
                    )
                    .bind(contact_id)
                    .fetch_all(self.reader())
                    .await?;
                    let mut triggers = Vec::with_capacity(rows.len());
                    for row in &rows {
                        triggers.push(TriggerState {
                            trigger_id: row.try_get(0)?,
                            active: row.try_get(1)?,
                            fires: row.try_get(2)?,
                            changed_at: row.try_get(3)?,
                        });
                    }
                    let stages = self.stage_history(contact_id).await?;
                    let owner = sqlx::query(&sql_owner())
                        .bind(contact_id)
                        .fetch_optional(self.reader())
                        .await?;
                    Ok(ContactAutomation {
                        triggers,
                        stages,
                        owner: owner.as_ref().map(owner_from_row).transpose()?,
                    })
                }

                async fn automation_states(&self, ids: &[String]) -> Result<Vec<ContactAutomation>> {
                    let mut all: Vec<ContactAutomation> =
                        ids.iter().map(|_| ContactAutomation::default()).collect();
                    let position: std::collections::HashMap<&str, usize> =
                        ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
                    for chunk in ids.chunks(IN_CHUNK) {
                        let list = placeholders(chunk.len());
                        let sql = format!(
                            "SELECT contact_id, trigger_id, active, fires, changed_at FROM trigger_state \
                             WHERE contact_id IN ({list}) ORDER BY contact_id, trigger_id"
                        );
                        let mut query = sqlx::query(&sql);
                        for id in chunk {
                            query = query.bind(id);
                        }
                        for row in query.fetch_all(self.reader()).await? {
                            let contact: String = row.try_get(0)?;
                            if let Some(&i) = position.get(contact.as_str()) {
                                all[i].triggers.push(TriggerState {
                                    trigger_id: row.try_get(1)?,
                                    active: row.try_get(2)?,
                                    fires: row.try_get(3)?,
                                    changed_at: row.try_get(4)?,
                                });
                            }
                        }
                        let sql = format!(
                            "SELECT {STAGE_COLUMNS} FROM stage_history WHERE contact_id IN ({list}) ORDER BY id"
                        );
                        let mut query = sqlx::query(&sql);
                        for id in chunk {
                            query = query.bind(id);
                        }
                        for row in query.fetch_all(self.reader()).await? {
                            let stage = stage_from_row(&row)?;
                            if let Some(&i) = position.get(stage.contact_id.as_str()) {
                                all[i].stages.push(stage);
                            }
                        }
                        let sql = format!(
                            "SELECT {OWNER_COLUMNS} FROM owners WHERE contact_id IN ({list})"
                        );
                        let mut query = sqlx::query(&sql);
                        for id in chunk {
                            query = query.bind(id);
                        }
                        for row in query.fetch_all(self.reader()).await? {
                            let owner = owner_from_row(&row)?;
                            if let Some(&i) = position.get(owner.contact_id.as_str()) {
                                all[i].owner = Some(owner);
                            }
                        }
                    }
                    Ok(all)
                }

                async fn record_triggers(&self, check: &TriggerCheck) -> Result<Vec<FiredEdge>> {
                    retry(|| self.record_triggers_once(check)).await
                }

                async fn record_stage(&self, change: &StageChange) -> Result<bool> {
                    retry(|| self.record_stage_once(change)).await
                }

                async fn record_stages(&self, changes: &[StageChange]) -> Result<()> {
                    if changes.is_empty() {
                        return Ok(());
                    }
                    retry(|| self.record_stages_once(changes)).await
                }

                async fn stage_history(&self, contact_id: &str) -> Result<Vec<StageChange>> {
                    let sql = format!(
                        "SELECT {STAGE_COLUMNS} FROM stage_history WHERE contact_id = $1 ORDER BY id"
                    );
                    let rows = sqlx::query(&sql).bind(contact_id).fetch_all(self.reader()).await?;
                    Ok(rows.iter().map(stage_from_row).collect::<Result<_, _>>()?)
                }

                async fn assign_owner(&self, request: &AssignRequest) -> Result<Assigned> {
                    retry(|| self.assign_owner_once(request)).await
                }

                async fn release_owners(
                    &self,
                    teams: &[(String, Vec<String>)],
                    reason: &str,
                    at: Millis,
                ) -> Result<Vec<String>> {
                    retry(|| self.release_owners_once(teams, reason, at)).await
                }

                async fn assign_account(
                    &self,
                    request: &AccountAssignRequest,
                ) -> Result<(Assigned, Vec<String>)> {
                    retry(|| self.assign_account_once(request)).await
                }

                async fn route_account(
                    &self,
                    key: &str,
                    request: &AssignRequest,
                ) -> Result<Option<(AccountOwner, Vec<String>)>> {
                    retry(|| self.route_account_once(key, request)).await
                }

                async fn account_owner(&self, account_key: &str) -> Result<Option<AccountOwner>> {
                    let sql = format!(
                        "SELECT {ACCOUNT_OWNER_COLUMNS} FROM account_owners WHERE account_key = $1"
                    );
                    let row = sqlx::query(&sql)
                        .bind(account_key)
                        .fetch_optional(self.reader())
                        .await?;
                    Ok(row.as_ref().map(account_owner_from_row).transpose()?)
                }

                async fn owner_loads(&self) -> Result<Vec<(String, i64)>> {
                    let rows = sqlx::query(
                        "SELECT owner, COUNT(*) FROM owners GROUP BY owner ORDER BY owner",
                    )
                    .fetch_all(self.reader())
                    .await?;
                    let mut loads = Vec::with_capacity(rows.len());
                    for row in &rows {
                        loads.push((row.try_get(0)?, row.try_get(1)?));
                    }
                    Ok(loads)
                }

                async fn assignments(&self, contact_id: &str) -> Result<Vec<AssignmentRecord>> {
                    let rows = sqlx::query(
                        "SELECT id, contact_id, owner, team, reason, previous_owner, at \
                         FROM assignments WHERE contact_id = $1 ORDER BY id",
                    )
                    .bind(contact_id)
                    .fetch_all(self.reader())
                    .await?;
                    let mut records = Vec::with_capacity(rows.len());
                    for row in &rows {
                        records.push(AssignmentRecord {
                            id: row.try_get(0)?,
                            contact_id: row.try_get(1)?,
                            owner: row.try_get(2)?,
                            team: row.try_get(3)?,
                            reason: row.try_get(4)?,
                            previous_owner: row.try_get(5)?,
                            at: row.try_get(6)?,
                        });
                    }
                    Ok(records)
                }

                async fn tags(&self, contact_id: &str) -> Result<Vec<String>> {
                    Ok(sqlx::query_scalar(
                        "SELECT tag FROM tags WHERE contact_id = $1 ORDER BY tag",
                    )
                    .bind(contact_id)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn claim_deliveries(
                    &self,
                    now: Millis,
                    lease: Millis,
                    limit: u32,
                    claim: &str,
                ) -> Result<Vec<Delivery>> {
                    // One statement: the outer condition is re-checked on rows another
                    // claim changed meanwhile (PostgreSQL), so no row is claimed twice.
                    let sql = format!(
                        "UPDATE deliveries SET claimed_until = $2, claim = $3 \
                         WHERE id IN (SELECT id FROM deliveries WHERE status = $5 \
                         AND next_attempt_at <= $1 \
                         AND (claimed_until IS NULL OR claimed_until <= $1) \
                         ORDER BY next_attempt_at, id LIMIT $4) \
                         AND status = $5 AND (claimed_until IS NULL OR claimed_until <= $1) \
                         RETURNING {DELIVERY_COLUMNS}"
                    );
                    let rows = sqlx::query(&sql)
                        .bind(now)
                        .bind(now.saturating_add(lease))
                        .bind(claim)
                        .bind(i64::from(limit))
                        .bind(status::PENDING)
                        .fetch_all(self.writer())
                        .await?;
                    Ok(rows.iter().map(delivery_from_row).collect::<Result<_, _>>()?)
                }

                async fn finish_delivery(
                    &self,
                    id: &str,
                    claim: &str,
                    outcome: &DeliveryOutcome,
                ) -> Result<bool> {
                    let done = match outcome {
                        DeliveryOutcome::Delivered { at } => sqlx::query(
                            "UPDATE deliveries SET status = $3, attempts = attempts + 1, \
                             delivered_at = $4, last_error = NULL, claimed_until = NULL, claim = NULL \
                             WHERE id = $1 AND claim = $2",
                        )
                        .bind(id)
                        .bind(claim)
                        .bind(status::DELIVERED)
                        .bind(*at)
                        .execute(self.writer())
                        .await?,
                        DeliveryOutcome::Failed { error, retry_at } => sqlx::query(
                            "UPDATE deliveries SET status = $3, attempts = attempts + 1, \
                             last_error = $4, next_attempt_at = COALESCE($5, next_attempt_at), \
                             claimed_until = NULL, claim = NULL \
                             WHERE id = $1 AND claim = $2",
                        )
                        .bind(id)
                        .bind(claim)
                        .bind(if retry_at.is_some() { status::PENDING } else { status::DEAD })
                        .bind(error)
                        .bind(*retry_at)
                        .execute(self.writer())
                        .await?,
                    };
                    Ok(done.rows_affected() > 0)
                }

                async fn delivery(&self, id: &str) -> Result<Option<Delivery>> {
                    let row = sqlx::query(&sql_delivery())
                        .bind(id)
                        .fetch_optional(self.reader())
                        .await?;
                    Ok(row.as_ref().map(delivery_from_row).transpose()?)
                }

                async fn deliveries(&self, query: &DeliveryQuery) -> Result<DeliveryPage> {
                    let limit = page_limit(query.limit);
                    let after = query.after.as_deref().map(decode_delivery_cursor).transpose()?;
                    let mut sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE TRUE");
                    let mut n = 0;
                    if query.status.is_some() {
                        n += 1;
                        sql.push_str(&format!(" AND status = ${n}"));
                    }
                    if after.is_some() {
                        sql.push_str(&format!(
                            " AND (created_at > ${a} OR (created_at = ${a} AND id > ${b}))",
                            a = n + 1,
                            b = n + 2
                        ));
                        n += 2;
                    }
                    sql.push_str(&format!(" ORDER BY created_at, id LIMIT ${}", n + 1));
                    let mut q = sqlx::query(&sql);
                    if let Some(status) = &query.status {
                        q = q.bind(status);
                    }
                    if let Some((at, id)) = &after {
                        q = q.bind(*at).bind(id.as_str());
                    }
                    q = q.bind(i64::from(limit) + 1);
                    let rows = q.fetch_all(self.reader()).await?;
                    let mut items =
                        rows.iter().map(delivery_from_row).collect::<Result<Vec<_>, _>>()?;
                    let next = if items.len() > limit as usize {
                        items.truncate(limit as usize);
                        items.last().map(|d| format!("{}.{}", d.created_at, d.id))
                    } else {
                        None
                    };
                    Ok(DeliveryPage { items, next })
                }

                async fn replay_delivery(&self, id: &str, now: Millis) -> Result<Option<Delivery>> {
                    let sql = format!(
                        "UPDATE deliveries SET status = $3, attempts = 0, next_attempt_at = $2, \
                         claimed_until = NULL, claim = NULL, last_error = NULL, delivered_at = NULL \
                         WHERE id = $1 AND status <> $3 RETURNING {DELIVERY_COLUMNS}"
                    );
                    let row = sqlx::query(&sql)
                        .bind(id)
                        .bind(now)
                        .bind(status::PENDING)
                        .fetch_optional(self.writer())
                        .await?;
                    if let Some(row) = row {
                        return Ok(Some(delivery_from_row(&row)?));
                    }
                    let row = sqlx::query(&sql_delivery())
                        .bind(id)
                        .fetch_optional(self.writer())
                        .await?;
                    Ok(row.as_ref().map(delivery_from_row).transpose()?)
                }
            }
        }
    };
}

pub(crate) use impl_automation;

/// Delegates one [`Automation`] method of [`crate::AnyStore`] to the backend.
macro_rules! delegate_automation {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl Automation for crate::AnyStore {
            $(
                async fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                    match self {
                        crate::AnyStore::Sqlite(s) => s.$name($($arg),*).await,
                        crate::AnyStore::Postgres(s) => s.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

delegate_automation! {
    automation_state(contact_id: &str) -> ContactAutomation;
    automation_states(ids: &[String]) -> Vec<ContactAutomation>;
    record_triggers(check: &TriggerCheck) -> Vec<FiredEdge>;
    record_stage(change: &StageChange) -> bool;
    record_stages(changes: &[StageChange]) -> ();
    stage_history(contact_id: &str) -> Vec<StageChange>;
    assign_owner(request: &AssignRequest) -> Assigned;
    assign_account(request: &AccountAssignRequest) -> (Assigned, Vec<String>);
    route_account(key: &str, request: &AssignRequest) -> Option<(AccountOwner, Vec<String>)>;
    account_owner(account_key: &str) -> Option<AccountOwner>;
    release_owners(teams: &[(String, Vec<String>)], reason: &str, at: Millis) -> Vec<String>;
    owner_loads() -> Vec<(String, i64)>;
    assignments(contact_id: &str) -> Vec<AssignmentRecord>;
    tags(contact_id: &str) -> Vec<String>;
    claim_deliveries(now: Millis, lease: Millis, limit: u32, claim: &str) -> Vec<Delivery>;
    finish_delivery(id: &str, claim: &str, outcome: &DeliveryOutcome) -> bool;
    delivery(id: &str) -> Option<Delivery>;
    deliveries(query: &DeliveryQuery) -> DeliveryPage;
    replay_delivery(id: &str, now: Millis) -> Option<Delivery>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_are_deterministic_and_distinct() {
        let a = delivery_id("c", "t", 1, 0);
        assert_eq!(a, delivery_id("c", "t", 1, 0));
        assert_eq!(a.len(), 36);
        assert!(a.starts_with("dlv_"));
        for other in [
            delivery_id("c", "t", 2, 0),
            delivery_id("c", "t", 1, 1),
            delivery_id("ct", "", 1, 0),
        ] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn round_robin_skips_full_members() {
        let members: Vec<String> = ["a", "b", "c"].iter().map(|s| (*s).to_owned()).collect();
        let none = |_: &str| 0;
        assert_eq!(
            pick_member(&members, None, none, Some(1)).map(String::as_str),
            Some("a")
        );
        assert_eq!(
            pick_member(&members, Some("a"), none, None).map(String::as_str),
            Some("b")
        );
        assert_eq!(
            pick_member(&members, Some("c"), none, None).map(String::as_str),
            Some("a")
        );
        assert_eq!(
            pick_member(&members, Some("gone"), none, None).map(String::as_str),
            Some("a")
        );
        let b_full = |m: &str| if m == "b" { 2 } else { 0 };
        assert_eq!(
            pick_member(&members, Some("a"), b_full, Some(2)).map(String::as_str),
            Some("c")
        );
        let all_full = |_: &str| 2;
        assert_eq!(pick_member(&members, None, all_full, Some(2)), None);
    }
}
