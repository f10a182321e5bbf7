//! Checking `[account]`: the account key, account fit and engagement aggregations, and
//! account stages, triggers and routes (see `docs/model-format.md`, "Accounts").

use super::{IdLines, Place, one_of};
use crate::ast;
use crate::compiled::{AccountEngagementRule, Action, Aggregate};
use crate::syntax::{Node, Table, Value};

/// Keys of `[account]`.
pub(crate) const ACCOUNT_KEYS: &[&str] = &[
    "key",
    "exclude_list",
    "fit",
    "engagement",
    "labels",
    "stage",
    "trigger",
    "route",
];
/// Keys of an `[[account.engagement]]` rule.
pub(crate) const ACCOUNT_ENGAGEMENT_KEYS: &[&str] = &[
    "id",
    "label",
    "points",
    "top_contacts",
    "engaged_contacts",
    "distinct_roles",
];
/// The aggregations of an account engagement rule (exactly one per rule).
const AGGREGATIONS: &[&str] = &["top_contacts", "engaged_contacts", "distinct_roles"];
/// Keys of `top_contacts`.
pub(crate) const TOP_CONTACTS_KEYS: &[&str] = &["n"];
/// Keys of `engaged_contacts`.
pub(crate) const ENGAGED_CONTACTS_KEYS: &[&str] = &["min_engagement", "max"];
/// Keys of `distinct_roles`.
pub(crate) const DISTINCT_ROLES_KEYS: &[&str] = &["field", "min_engagement", "max"];
/// Keys of an `[[account.stage]]` (no `reset_engagement`: account engagement is the
/// members', never reset).
pub(crate) const ACCOUNT_STAGE_KEYS: &[&str] = &["id", "label", "when"];
/// Actions an account trigger may take.
const ACCOUNT_ACTION_KEYS: &[&str] = &["webhook", "tag", "notify"];

impl super::Checker<'_, '_> {
    /// `[account]`, when present: `Some(None)` without it, `None` when invalid.
    pub(super) fn account(&mut self, root: &Table) -> Option<Option<ast::Account>> {
        let Some(entry) = root.get("account") else {
            return Some(None);
        };
        let node = &entry.value;
        let table = self.table("`account`", node)?;
        self.check_keys(table, ACCOUNT_KEYS, "`[account]`");

        let key = match table.get("key") {
            None => Some(vec!["company_id".to_owned(), "email_domain".to_owned()]),
            Some(entry) => self.account_key(&entry.value),
        };
        let exclude = self.optional(table, "exclude_list", |c, node| {
            let name = c.string("`exclude_list`", node)?;
            match c.list_ref(node)? {
                ast::Op::InList { values, .. } => Some((name, values)),
                _ => None,
            }
        });
        let labels = self.thresholds(table, "labels", "account label");

        let stage_nodes = self.rule_tables(table, "stage");
        self.decl.account_stages = super::stage_ids(&stage_nodes);

        let mut rule_ids = IdLines::new();
        let fit: Vec<_> = self
            .rule_tables(table, "fit")
            .into_iter()
            .map(|node| {
                self.in_rule(node, |c, t| {
                    c.fit_rule(node, t, &mut rule_ids, Place::AccountFit)
                })
            })
            .collect();
        let engagement: Vec<_> = self
            .rule_tables(table, "engagement")
            .into_iter()
            .map(|node| self.in_rule(node, |c, t| c.account_engagement(node, t, &mut rule_ids)))
            .collect();
        let mut stage_ids = IdLines::new();
        let stages: Vec<_> = stage_nodes
            .iter()
            .enumerate()
            .map(|(index, node)| {
                self.in_rule(node, |c, t| {
                    c.stage(node, t, index, &mut stage_ids, Place::AccountStage)
                })
            })
            .collect();
        let mut trigger_ids = IdLines::new();
        let triggers: Vec<_> = self
            .rule_tables(table, "trigger")
            .into_iter()
            .map(|node| {
                self.in_rule(node, |c, t| {
                    c.trigger(node, t, &mut trigger_ids, Place::AccountTrigger)
                })
            })
            .collect();
        let mut route_ids = IdLines::new();
        let routes: Vec<_> = self
            .rule_tables(table, "route")
            .into_iter()
            .map(|node| {
                self.in_rule(node, |c, t| {
                    c.route(node, t, &mut route_ids, Place::AccountRoute)
                })
            })
            .collect();

        Some(Some(ast::Account {
            key: key?,
            exclude: exclude?,
            fit: fit.into_iter().collect::<Option<_>>()?,
            engagement: engagement.into_iter().collect::<Option<_>>()?,
            labels: labels?,
            stages: stages.into_iter().collect::<Option<_>>()?,
            triggers: triggers.into_iter().collect::<Option<_>>()?,
            routes: routes.into_iter().collect::<Option<_>>()?,
        }))
    }

    /// `key`: one attribute name or a non-empty array of them, without repeats.
    fn account_key(&mut self, node: &Node) -> Option<Vec<String>> {
        let names = match &node.value {
            Value::String(_) => vec![self.non_empty_string("`account.key`", node)?],
            Value::Array(items) => {
                if items.is_empty() {
                    self.error_help(
                        node.span.clone(),
                        "`account.key` must name at least one attribute".to_owned(),
                        "write `key = [\"company_id\", \"email_domain\"]`".to_owned(),
                    );
                    return None;
                }
                let names: Vec<_> = items
                    .iter()
                    .map(|item| self.non_empty_string("each item of `account.key`", item))
                    .collect();
                let names: Vec<String> = names.into_iter().collect::<Option<_>>()?;
                for (index, name) in names.iter().enumerate() {
                    if names[..index].contains(name) {
                        self.error_help(
                            items[index].span.clone(),
                            format!("`{name}` appears twice in `account.key`"),
                            "the first present attribute wins; name each one once".to_owned(),
                        );
                        return None;
                    }
                }
                names
            }
            _ => {
                self.type_error(
                    "`account.key`",
                    "an attribute name or an array of attribute names",
                    node,
                );
                return None;
            }
        };
        Some(names.into_iter().map(|n| n.trim().to_owned()).collect())
    }

    fn account_engagement(
        &mut self,
        node: &Node,
        table: &Table,
        ids: &mut IdLines,
    ) -> Option<AccountEngagementRule> {
        const WHAT: &str = "an `[[account.engagement]]` rule";
        self.check_keys(table, ACCOUNT_ENGAGEMENT_KEYS, WHAT);
        let id = self.rule_id(node, table, "account.engagement", ids);
        let label = self.label(table);
        let present: Vec<_> = table
            .entries
            .iter()
            .filter(|entry| AGGREGATIONS.contains(&entry.key.as_str()))
            .collect();
        let aggregate = match present.as_slice() {
            [] => {
                self.error_help(
                    node.span.clone(),
                    "missing aggregation".to_owned(),
                    format!("an account engagement rule takes {}", one_of(AGGREGATIONS)),
                );
                None
            }
            [one] => self.aggregate(&one.key, &one.value),
            [first, second, ..] => {
                self.error_help(
                    second.key_span.clone(),
                    format!("`{}` cannot be combined with `{}`", second.key, first.key),
                    "one aggregation per rule; split it into two rules".to_owned(),
                );
                None
            }
        };
        let top = matches!(aggregate, Some(Aggregate::TopContacts { .. }));
        let points = match table.get("points") {
            Some(entry) => self.number("`points`", &entry.value),
            // `top_contacts` sums engagement points as they are unless told otherwise.
            None if top => Some(1.0),
            None if aggregate.is_some() => {
                self.error_help(
                    node.span.clone(),
                    "missing `points`".to_owned(),
                    "`engaged_contacts` and `distinct_roles` give `points` per contact or role"
                        .to_owned(),
                );
                None
            }
            None => None,
        };
        Some(AccountEngagementRule {
            id: id?,
            label: label?,
            points: points?,
            aggregate: aggregate?,
        })
    }

    fn aggregate(&mut self, key: &str, node: &Node) -> Option<Aggregate> {
        let what = format!("`{key}`");
        let table = self.table(&what, node)?;
        let min_engagement = |c: &mut Self, table: &Table| {
            c.required(table, node, "min_engagement", &what)
                .and_then(|n| c.number("`min_engagement`", n))
        };
        let max = |c: &mut Self, table: &Table| {
            c.optional(table, "max", |c, n| c.positive_integer("`max`", n))
        };
        match key {
            "top_contacts" => {
                self.check_keys(table, TOP_CONTACTS_KEYS, &what);
                let n = self.required(table, node, "n", &what)?;
                let n = self.positive_integer("`top_contacts.n`", n)?;
                Some(Aggregate::TopContacts { n })
            }
            "engaged_contacts" => {
                self.check_keys(table, ENGAGED_CONTACTS_KEYS, &what);
                let min_engagement = min_engagement(self, table);
                let max = max(self, table);
                Some(Aggregate::EngagedContacts {
                    min_engagement: min_engagement?,
                    max: max?,
                })
            }
            _ => {
                self.check_keys(table, DISTINCT_ROLES_KEYS, &what);
                let field = self
                    .required(table, node, "field", &what)
                    .and_then(|f| self.non_empty_string("`distinct_roles.field`", f));
                let min_engagement = min_engagement(self, table);
                let max = max(self, table);
                Some(Aggregate::DistinctRoles {
                    field: field?,
                    min_engagement: min_engagement?,
                    max: max?,
                })
            }
        }
    }

    /// An account trigger's action: `webhook`, `tag` or `notify` (an account has no
    /// contact stage to set, and its routes already assign it).
    pub(super) fn account_action(&mut self, node: &Node) -> Option<Action> {
        if let Value::Table(table) = &node.value {
            for entry in &table.entries {
                if matches!(entry.key.as_str(), "set_stage" | "assign") {
                    self.error_help(
                        entry.key_span.clone(),
                        format!("`{}` cannot be used in an account trigger", entry.key),
                        format!(
                            "an account trigger takes {}; `[[account.route]]` assigns accounts",
                            one_of(ACCOUNT_ACTION_KEYS)
                        ),
                    );
                    return None;
                }
            }
        }
        self.action(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::suggest;

    #[test]
    fn every_aggregation_is_a_rule_key() {
        for key in AGGREGATIONS {
            assert!(ACCOUNT_ENGAGEMENT_KEYS.contains(key), "{key}");
        }
        assert!(suggest("top_contact", AGGREGATIONS.iter().copied()).is_some());
    }
}
