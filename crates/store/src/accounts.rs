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

use std::future::Future;

use crate::Result;

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
            use crate::accounts::{membership, AccountMember, Accounts, MEMBER_COLUMNS};
            use crate::backend::{row_params, IN_CHUNK};
            use crate::{Result, StoredScore};

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

            impl $ty {
                /// Replaces the `account_members` rows of `scores`' contacts with the
                /// membership their results name (none: the row goes), inside the
                /// score save's transaction `tx`. A contact saved twice in `scores`
                /// ends as its last save says.
                pub(crate) async fn save_members(
                    &self,
                    tx: &mut sqlx::Transaction<'static, $db>,
                    scores: &[StoredScore],
                ) -> Result<(), sqlx::Error> {
                    let anonymous = <$ty>::ANONYMOUS_PARAMS;
                    let last: BTreeMap<&str, Option<AccountMember>> = scores
                        .iter()
                        .map(|s| (s.contact_id.as_str(), membership(&s.contact_id, &s.result)))
                        .collect();
                    let gone: Vec<&str> = last
                        .iter()
                        .filter(|(_, m)| m.is_none())
                        .map(|(id, _)| *id)
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
                        let rows: Vec<String> =
                            (0..chunk.len()).map(|i| row_params(anonymous, i * 5, 5)).collect();
                        let sql = format!(
                            "INSERT INTO account_members ({MEMBER_COLUMNS}) VALUES {} \
                             ON CONFLICT (contact_id) DO UPDATE SET \
                             account_key = excluded.account_key, attributes = excluded.attributes, \
                             engagement = excluded.engagement, disqualified = excluded.disqualified",
                            rows.join(", ")
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
                            let sql = format!(
                                "SELECT {MEMBER_COLUMNS} FROM account_members \
                                 WHERE account_key > $1 OR (account_key = $1 AND contact_id > $2) \
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
