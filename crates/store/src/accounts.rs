//! The accounts half of the store: account membership, materialised with the scores.
//!
//! A sibling trait of [`crate::Store`], implemented for both backends by one macro
//! ([`impl_accounts!`]) over the same SQL, and for [`crate::AnyStore`] by delegation.
//!
//! **Membership** (`account_members`, migration 0007): every current score whose result
//! names an account (`"account":{"key","attributes"}`) has one row, keyed by the contact,
//! indexed by the account key, holding what account scoring reads of the member (the
//! account attributes, engagement, disqualification). [`crate::Store::save_scores`] and
//! [`crate::Store::save_score`] replace the rows of the contacts they save **in the same
//! transaction** as the scores (a contact whose new result has no account loses its
//! row), and [`crate::Store::erase_contact`] deletes the contact's row with the rest.
//! Scores stored before migration 0007 got their rows from the stored results by the
//! migration itself, so nothing waits for a rescoring. One account's members are
//! therefore one index range ([`Accounts::account_members`]), not a pass over every
//! stored result.
//!
//! **Account automation** (migration 0009): account trigger edges
//! (`account_trigger_state`, one row per account and trigger) are recorded like a
//! contact's, by one conditional upsert per trigger, and in the same transaction the
//! edge's outbox rows (`deliveries` with `account_key` set, ids from
//! [`crate::automation::account_delivery_id`]) and the tags of every member. Account
//! owners chosen and released are audited in `account_assignments`.

use std::future::Future;

use crate::automation::{AccountOwner, FiredEdge, TriggerState, TriggerStatus};
use std::collections::BTreeMap;

use crate::{Millis, Result, StoredScore};

/// One member of an account, as its current score has it.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountMember {
    /// The contact.
    pub contact_id: String,
    /// The account key (`account.key` of the contact's result).
    pub account_key: String,
    /// The account attributes of the contact's result (`account.attributes`), a JSON
    /// object text.
    pub attributes: String,
    /// The contact's engagement points (`engagement` of its result).
    pub engagement: f64,
    /// Whether the contact is disqualified (`disqualified` of its result).
    pub disqualified: bool,
}

/// What [`Accounts::record_account_triggers`] compares and records for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTriggerCheck {
    /// The account key.
    pub account_key: String,
    /// The checkpoint's instant: edges are stamped with it.
    pub at: Millis,
    /// Every account trigger of the model (those not listed keep their stored state);
    /// `set_stage` is never set (an account trigger cannot take it).
    pub triggers: Vec<TriggerStatus>,
    /// The account's members at the checkpoint: a `tag` action tags each of them.
    pub members: Vec<String>,
    /// The account's result JSON at the checkpoint, stored with each delivery.
    pub snapshot: String,
}

/// One line of an account's owner audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAssignment {
    /// Its id (increasing).
    pub id: i64,
    /// The account key.
    pub account_key: String,
    /// The new owner; `None` when the account was released.
    pub owner: Option<String>,
    /// The team.
    pub team: String,
    /// Why (`route <id>`, `member removed`, `last member gone`, ...).
    pub reason: String,
    /// The owner before, if any.
    pub previous_owner: Option<String>,
    /// When.
    pub at: Millis,
}

/// The membership a stored result names: `None` when it names no account (or is not
/// a result).
pub(crate) fn membership(contact_id: &str, result: &str) -> Option<AccountMember> {
    #[derive(serde::Deserialize)]
    struct Named<'a> {
        #[serde(borrow, default)]
        account: Option<Account<'a>>,
        #[serde(default)]
        engagement: Option<f64>,
        #[serde(default)]
        disqualified: bool,
    }
    #[derive(serde::Deserialize)]
    struct Account<'a> {
        key: String,
        #[serde(borrow, default)]
        attributes: Option<&'a serde_json::value::RawValue>,
    }
    // Results of a model without `[account]` never name one: skip parsing them.
    if !result.contains("\"account\"") {
        return None;
    }
    let named: Named<'_> = serde_json::from_str(result).ok()?;
    let account = named.account?;
    Some(AccountMember {
        contact_id: contact_id.to_owned(),
        account_key: account.key,
        attributes: account
            .attributes
            .map_or_else(|| "{}".to_owned(), |raw| raw.get().to_owned()),
        engagement: named.engagement.filter(|e| e.is_finite()).unwrap_or(0.0),
        disqualified: named.disqualified,
    })
}

/// The memberships of `scores`' results by contact ([`membership`]; a contact saved
/// twice keeps its last), as the store's `save_members` writes them.
pub(crate) fn memberships(scores: &[StoredScore]) -> BTreeMap<String, Option<AccountMember>> {
    scores
        .iter()
        .map(|s| (s.contact_id.clone(), membership(&s.contact_id, &s.result)))
        .collect()
}

/// The `LIKE` pattern (with `ESCAPE '\\'`) of a JSON text naming `contact_id` as a
/// string anywhere: what erasure looks for in account deliveries' bodies (an account
/// result lists its members and the contacts of its explanation lines).
pub(crate) fn naming(contact_id: &str) -> String {
    let quoted = serde_json::to_string(contact_id).unwrap_or_default();
    let mut pattern = String::with_capacity(quoted.len() + 2);
    pattern.push('%');
    for c in quoted.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Account membership: see the module documentation.
pub trait Accounts: Send + Sync + 'static {
    /// The members of account `key`, by contact id.
    fn account_members(&self, key: &str)
    -> impl Future<Output = Result<Vec<AccountMember>>> + Send;

    /// Members of every account, ordered by account key then contact id, after
    /// `(key, contact)` (`None`: from the first), at most `limit` (a pass over all
    /// accounts pages through them).
    fn account_members_after(
        &self,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<AccountMember>>> + Send;

    /// The account key of each of `ids` that is a member of one, as `(contact, key)`,
    /// by contact id.
    fn account_keys(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<(String, String)>>> + Send;

    /// The members of each of `keys`, by account key then contact id (a rescoring
    /// batch's accounts, read with one statement per few hundred keys).
    fn members_of(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<AccountMember>>> + Send;

    /// The stored account trigger states of each of `keys`, as `(key, state)`, by key
    /// then trigger.
    fn account_trigger_states(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<(String, TriggerState)>>> + Send;

    /// The owners of those of `keys` that have one, by key.
    fn account_owners(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<AccountOwner>>> + Send;

    /// Record an account checkpoint's trigger states in one transaction, as
    /// [`crate::Automation::record_triggers`] does for a contact: a trigger active now
    /// and not before fires (`fires + 1`) and its outbox rows (contact id empty,
    /// `account_key` set, ids from [`crate::automation::account_delivery_id`]) and the
    /// tags of every member are written in the same transaction; one inactive re-arms;
    /// a transition older than the stored one is ignored. Returns the edges that fired.
    fn record_account_triggers(
        &self,
        check: &AccountTriggerCheck,
    ) -> impl Future<Output = Result<Vec<FiredEdge>>> + Send;

    /// Release the owner of account `key` (if it has one), with an audit line of the
    /// account (`reason`); its contacts keep their owners. Returns the owner released.
    fn release_account(
        &self,
        key: &str,
        reason: &str,
        at: Millis,
    ) -> impl Future<Output = Result<Option<AccountOwner>>> + Send;

    /// An account's owner audit trail (chosen, released), oldest first.
    fn account_assignments(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Vec<AccountAssignment>>> + Send;
}

/// Columns of `account_members`, in decoding order.
pub(crate) const MEMBER_COLUMNS: &str =
    "contact_id, account_key, attributes, engagement, disqualified";

/// Expands to `impl Accounts for $ty` over the pool type `$db`, and the inherent
/// `save_members` that the score saves of [`crate::backend::impl_store!`] call inside
/// their transaction.
macro_rules! impl_accounts {
    ($ty:ty, $db:ty) => {
        mod accounts_impl {
            use std::collections::BTreeMap;

            use sqlx::Row as _;

            use super::*;
            use crate::accounts::{
                AccountAssignment, AccountMember, AccountTriggerCheck, Accounts,
                MEMBER_COLUMNS,
            };
            use crate::automation::{AccountOwner, FiredEdge, TriggerState, ACCOUNT_OWNER_COLUMNS};
            use crate::backend::{row_params, values_rows, IN_CHUNK};
            use crate::{Millis, Result};
            use super::automation_impl::{insert_account_assignment, record_edges, retry, Subject};

            type DbRow = <$db as sqlx::Database>::Row;

            fn member_from_row(row: &DbRow) -> Result<AccountMember, sqlx::Error> {
                Ok(AccountMember {
                    contact_id: row.try_get(0)?,
                    account_key: row.try_get(1)?,
                    attributes: row.try_get(2)?,
                    engagement: row.try_get(3)?,
                    disqualified: row.try_get(4)?,
                })
            }

            /// Runs `sql` (one `IN` list of `n` parameters, `{}` in the text) for each
            /// chunk of `keys`, returning every row.
            async fn rows_in(
                pool: &sqlx::Pool<$db>,
                sql: &str,
                keys: &[String],
            ) -> Result<Vec<DbRow>, sqlx::Error> {
                let mut rows = Vec::new();
                for chunk in keys.chunks(IN_CHUNK) {
                    let sql = sql.replace("{}", &row_params(<$ty>::ANONYMOUS_PARAMS, 0, chunk.len()));
                    let mut query = sqlx::query(&sql);
                    for key in chunk {
                        query = query.bind(key);
                    }
                    rows.extend(query.fetch_all(pool).await?);
                }
                Ok(rows)
            }

            impl $ty {
                async fn record_account_triggers_once(
                    &self,
                    check: &AccountTriggerCheck,
                ) -> Result<Vec<FiredEdge>, sqlx::Error> {
                    let mut tx = self.begin_write().await?;
                    let subject = Subject::Account {
                        key: &check.account_key,
                        members: &check.members,
                    };
                    let fired =
                        record_edges(&mut tx, subject, check.at, &check.triggers, &check.snapshot).await?;
                    tx.commit().await?;
                    Ok(fired)
                }

                async fn release_account_once(
                    &self,
                    key: &str,
                    reason: &str,
                    at: Millis,
                ) -> Result<Option<AccountOwner>, sqlx::Error> {
                    let mut tx = self.begin_write().await?;
                    let sql = format!(
                        "DELETE FROM account_owners WHERE account_key = $1 \
                         RETURNING {ACCOUNT_OWNER_COLUMNS}"
                    );
                    let Some(row) = sqlx::query(&sql).bind(key).fetch_optional(&mut *tx).await?
                    else {
                        tx.rollback().await?;
                        return Ok(None);
                    };
                    let owner = AccountOwner {
                        account_key: row.try_get(0)?,
                        owner: row.try_get(1)?,
                        team: row.try_get(2)?,
                        route: row.try_get(3)?,
                        assigned_at: row.try_get(4)?,
                    };
                    insert_account_assignment(&mut tx, key, None, &owner.team, reason, Some(&owner.owner), at)
                        .await?;
                    tx.commit().await?;
                    Ok(Some(owner))
                }

                /// Replaces the `account_members` rows of `scores`' contacts with the
                /// membership their results name (none: the row goes), inside the
                /// score save's transaction `tx`. A contact saved twice in `scores`
                /// ends as its last save says.
                pub(crate) async fn save_members(
                    &self,
                    tx: &mut sqlx::Transaction<'static, $db>,
                    last: &BTreeMap<String, Option<AccountMember>>,
                ) -> Result<(), sqlx::Error> {
                    let anonymous = <$ty>::ANONYMOUS_PARAMS;
                    let gone: Vec<&str> = last
                        .iter()
                        .filter(|(_, m)| m.is_none())
                        .map(|(id, _)| id.as_str())
                        .collect();
                    for chunk in gone.chunks(IN_CHUNK) {
                        let sql = format!(
                            "DELETE FROM account_members WHERE contact_id IN {}",
                            row_params(anonymous, 0, chunk.len())
                        );
                        let mut query = sqlx::query(&sql);
                        for id in chunk {
                            query = query.bind(*id);
                        }
                        query.execute(&mut **tx).await?;
                    }
                    let members: Vec<&AccountMember> = last.values().flatten().collect();
                    for chunk in members.chunks(IN_CHUNK) {
                        let rows = values_rows(anonymous, chunk.len(), 5);
                        let sql = format!(
                            "INSERT INTO account_members ({MEMBER_COLUMNS}) VALUES {} \
                             ON CONFLICT (contact_id) DO UPDATE SET \
                             account_key = excluded.account_key, attributes = excluded.attributes, \
                             engagement = excluded.engagement, disqualified = excluded.disqualified",
                            rows
                        );
                        let mut query = sqlx::query(&sql);
                        for m in chunk {
                            query = query
                                .bind(&m.contact_id)
                                .bind(&m.account_key)
                                .bind(&m.attributes)
                                .bind(m.engagement)
                                .bind(m.disqualified);
                        }
                        query.execute(&mut **tx).await?;
                    }
                    Ok(())
                }
            }

            impl Accounts for $ty {
                async fn account_members(&self, key: &str) -> Result<Vec<AccountMember>> {
                    let sql = format!(
                        "SELECT {MEMBER_COLUMNS} FROM account_members WHERE account_key = $1 \
                         ORDER BY contact_id"
                    );
                    let rows = sqlx::query(&sql).bind(key).fetch_all(self.reader()).await?;
                    Ok(rows.iter().map(member_from_row).collect::<Result<_, _>>()?)
                }

                async fn account_members_after(
                    &self,
                    after: Option<(&str, &str)>,
                    limit: u32,
                ) -> Result<Vec<AccountMember>> {
                    let rows = match after {
                        None => {
                            let sql = format!(
                                "SELECT {MEMBER_COLUMNS} FROM account_members \
                                 ORDER BY account_key, contact_id LIMIT $1"
                            );
                            sqlx::query(&sql)
                                .bind(i64::from(limit))
                                .fetch_all(self.reader())
                                .await?
                        }
                        Some((key, contact)) => {
                            // `>=` first: the index range starts at the cursor's key.
                            let sql = format!(
                                "SELECT {MEMBER_COLUMNS} FROM account_members \
                                 WHERE account_key >= $1 AND (account_key > $1 OR contact_id > $2) \
                                 ORDER BY account_key, contact_id LIMIT $3"
                            );
                            sqlx::query(&sql)
                                .bind(key)
                                .bind(contact)
                                .bind(i64::from(limit))
                                .fetch_all(self.reader())
                                .await?
                        }
                    };
                    Ok(rows.iter().map(member_from_row).collect::<Result<_, _>>()?)
                }

                async fn account_keys(&self, ids: &[String]) -> Result<Vec<(String, String)>> {
                    let mut keys = Vec::new();
                    for chunk in ids.chunks(IN_CHUNK) {
                        let sql = format!(
                            "SELECT contact_id, account_key FROM account_members \
                             WHERE contact_id IN {}",
                            row_params(<$ty>::ANONYMOUS_PARAMS, 0, chunk.len())
                        );
                        let mut query = sqlx::query(&sql);
                        for id in chunk {
                            query = query.bind(id);
                        }
                        for row in query.fetch_all(self.reader()).await? {
                            keys.push((row.try_get(0)?, row.try_get(1)?));
                        }
                    }
                    keys.sort();
                    Ok(keys)
                }

                async fn members_of(&self, keys: &[String]) -> Result<Vec<AccountMember>> {
                    let sql = format!(
                        "SELECT {MEMBER_COLUMNS} FROM account_members WHERE account_key IN {{}}"
                    );
                    let rows = rows_in(self.reader(), &sql, keys).await?;
                    let mut members = rows.iter().map(member_from_row).collect::<Result<Vec<_>, _>>()?;
                    members.sort_by(|a, b| {
                        (&a.account_key, &a.contact_id).cmp(&(&b.account_key, &b.contact_id))
                    });
                    Ok(members)
                }

                async fn account_trigger_states(
                    &self,
                    keys: &[String],
                ) -> Result<Vec<(String, TriggerState)>> {
                    let sql = "SELECT account_key, trigger_id, active, fires, changed_at \
                               FROM account_trigger_state WHERE account_key IN {}";
                    let mut states = Vec::new();
                    for row in rows_in(self.reader(), sql, keys).await? {
                        states.push((
                            row.try_get(0)?,
                            TriggerState {
                                trigger_id: row.try_get(1)?,
                                active: row.try_get(2)?,
                                fires: row.try_get(3)?,
                                changed_at: row.try_get(4)?,
                            },
                        ));
                    }
                    states.sort_by(|a, b| (&a.0, &a.1.trigger_id).cmp(&(&b.0, &b.1.trigger_id)));
                    Ok(states)
                }

                async fn account_owners(&self, keys: &[String]) -> Result<Vec<AccountOwner>> {
                    let sql = format!(
                        "SELECT {ACCOUNT_OWNER_COLUMNS} FROM account_owners WHERE account_key IN {{}}"
                    );
                    let mut owners = Vec::new();
                    for row in rows_in(self.reader(), &sql, keys).await? {
                        owners.push(AccountOwner {
                            account_key: row.try_get(0)?,
                            owner: row.try_get(1)?,
                            team: row.try_get(2)?,
                            route: row.try_get(3)?,
                            assigned_at: row.try_get(4)?,
                        });
                    }
                    owners.sort_by(|a, b| a.account_key.cmp(&b.account_key));
                    Ok(owners)
                }

                async fn record_account_triggers(
                    &self,
                    check: &AccountTriggerCheck,
                ) -> Result<Vec<FiredEdge>> {
                    retry(|| self.record_account_triggers_once(check)).await
                }

                async fn release_account(
                    &self,
                    key: &str,
                    reason: &str,
                    at: Millis,
                ) -> Result<Option<AccountOwner>> {
                    retry(|| self.release_account_once(key, reason, at)).await
                }

                async fn account_assignments(&self, key: &str) -> Result<Vec<AccountAssignment>> {
                    let rows = sqlx::query(
                        "SELECT id, account_key, owner, team, reason, previous_owner, at \
                         FROM account_assignments WHERE account_key = $1 ORDER BY id",
                    )
                    .bind(key)
                    .fetch_all(self.reader())
                    .await?;
                    let mut records = Vec::with_capacity(rows.len());
                    for row in &rows {
                        records.push(AccountAssignment {
                            id: row.try_get(0)?,
                            account_key: row.try_get(1)?,
                            owner: row.try_get(2)?,
                            team: row.try_get(3)?,
                            reason: row.try_get(4)?,
                            previous_owner: row.try_get(5)?,
                            at: row.try_get(6)?,
                        });
                    }
                    Ok(records)
                }
            }
        }
    };
}

pub(crate) use impl_accounts;

/// Delegates one [`Accounts`] method of [`crate::AnyStore`] to the backend.
macro_rules! delegate_accounts {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl Accounts for crate::AnyStore {
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

delegate_accounts! {
    account_members(key: &str) -> Vec<AccountMember>;
    account_members_after(after: Option<(&str, &str)>, limit: u32) -> Vec<AccountMember>;
    account_keys(ids: &[String]) -> Vec<(String, String)>;
    members_of(keys: &[String]) -> Vec<AccountMember>;
    account_trigger_states(keys: &[String]) -> Vec<(String, TriggerState)>;
    account_owners(keys: &[String]) -> Vec<AccountOwner>;
    record_account_triggers(check: &AccountTriggerCheck) -> Vec<FiredEdge>;
    release_account(key: &str, reason: &str, at: Millis) -> Option<AccountOwner>;
    account_assignments(key: &str) -> Vec<AccountAssignment>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_matches_the_quoted_id_only() {
        assert_eq!(naming("a_1"), r#"%"a\_1"%"#);
        assert_eq!(naming("50%"), r#"%"50\%"%"#);
        assert_eq!(naming(r#"q"x"#), r#"%"q\\"x"%"#);
    }

    #[test]
    fn membership_reads_the_account_of_a_result() {
        let result = r#"{"contact_id":"c","engagement":12.5,"disqualified":true,
            "account":{"key":"acme.example","attributes":{"industry":"Software"}}}"#;
        let member = membership("c", result).expect("a member");
        assert_eq!(member.account_key, "acme.example");
        assert_eq!(member.attributes, r#"{"industry":"Software"}"#);
        assert_eq!(member.engagement, 12.5);
        assert!(member.disqualified);
        let bare = membership("c", r#"{"account":{"key":"k"}}"#).expect("a member");
        assert_eq!((bare.attributes.as_str(), bare.engagement), ("{}", 0.0));
        assert!(!bare.disqualified);
        for none in [
            r#"{"score":3}"#,
            "not json \"account\"",
            r#"{"account":null}"#,
        ] {
            assert_eq!(membership("c", none), None, "{none}");
        }
    }
}
