//! `leadscore score --accounts FILE`: account results from the same batch.
//!
//! While contacts are scored, each contact with an account key (see `[account]` in
//! `docs/model-format.md`) is kept as a small member record: its id, the few attributes
//! account scoring reads, its engagement and whether it is disqualified. Once every
//! contact is scored, each account is scored from its members by the engine's
//! [`leadscore_engine::score_account`] and written as one JSON line, highest account score
//! first (ties: by key).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use leadscore_engine::{
    AccountResult, Attributes, Fields, Member, Millis, ScoreResult, account_fields, account_key,
    score_account,
};
use leadscore_formats::format_timestamp;
use leadscore_model::CompiledModel;
use rayon::prelude::*;

/// A member as kept until its account is scored.
struct Kept {
    id: String,
    attributes: Attributes,
    engagement: f64,
    disqualified: bool,
}

/// Members collected by account key.
pub struct Accounts {
    members: HashMap<String, Vec<Kept>>,
}

/// Finds a contact's account key and the attributes account scoring needs (shared by
/// the scoring threads).
pub struct KeyReader {
    fields: Vec<String>,
}

/// One output line: the account result and the instant it is as of.
#[derive(serde::Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    result: &'a AccountResult,
    as_of: String,
}

impl Accounts {
    /// `None` when the model has no `[account]` table.
    pub fn new(model: &CompiledModel) -> Option<(Accounts, KeyReader)> {
        let account = model.account.as_ref()?;
        let accounts = Accounts {
            members: HashMap::new(),
        };
        let reader = KeyReader {
            fields: account_fields(account),
        };
        Some((accounts, reader))
    }
}

impl KeyReader {
    /// The account key of a contact and the attributes account scoring needs (runs on
    /// every core, before [`Self::add`]).
    pub fn key_of(
        &self,
        model: &CompiledModel,
        attributes: &Attributes,
    ) -> Option<(String, Attributes)> {
        let key = account_key(model.account.as_ref()?, attributes)?;
        let mut kept = Attributes::new();
        for field in &self.fields {
            if let Some(value) = attributes.get(field) {
                kept.set(field.clone(), value.clone());
            }
        }
        Some((key, kept))
    }
}

impl Accounts {
    /// Add a scored contact to its account.
    pub fn add(&mut self, id: &str, key: String, attributes: Attributes, result: &ScoreResult) {
        self.members.entry(key).or_default().push(Kept {
            id: id.to_owned(),
            attributes,
            engagement: result.engagement,
            disqualified: result.disqualified,
        });
    }

    /// Score every account and write one JSON line per account to `path`; returns how
    /// many accounts were written.
    pub fn write(self, model: &CompiledModel, path: &Path, as_of: Millis) -> Result<usize> {
        let mut results: Vec<AccountResult> = self
            .members
            .par_iter()
            .filter_map(|(key, kept)| {
                let members: Vec<Member<'_>> = kept
                    .iter()
                    .map(|k| Member {
                        id: &k.id,
                        attributes: &k.attributes as &dyn Fields,
                        engagement: k.engagement,
                        disqualified: k.disqualified,
                    })
                    .collect();
                score_account(model, key, &members)
            })
            .collect();
        leadscore_engine::rank_accounts(&mut results);
        let file = std::fs::File::create(path)
            .with_context(|| format!("{}: cannot create the accounts file", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let as_of = format_timestamp(as_of);
        for result in &results {
            let line = Line {
                result,
                as_of: as_of.clone(),
            };
            serde_json::to_writer(&mut out, &line)
                .with_context(|| format!("{}: writing accounts", path.display()))?;
            out.write_all(b"\n")
                .with_context(|| format!("{}: writing accounts", path.display()))?;
        }
        out.flush()
            .with_context(|| format!("{}: writing accounts", path.display()))?;
        Ok(results.len())
    }
}
