//! Checking `[machine]` (see `crate::machine`).

use super::{Checker, suggest};
use crate::ast;
use crate::compiled::Millis;
use crate::machine::{self, Burst, DEFAULT_FLAGS, DEFAULT_MESSAGE_ID, IpRange};
use crate::syntax::{Node, Table, Value};

/// Keys of `[machine]`.
pub(crate) const MACHINE_KEYS: &[&str] = &[
    "share",
    "message_id",
    "delivered",
    "opens",
    "clicks",
    "open_within",
    "click_within",
    "burst",
    "click_needs_open",
    "flags",
    "user_agents",
    "ips",
];
/// Keys of `burst`.
pub(crate) const BURST_KEYS: &[&str] = &["clicks", "within"];

const MACHINE_DURATION_HELP: &str =
    "write a positive integer followed by `s` (seconds), `m`, `h`, `d` or `w`, like `10s`";

impl Checker<'_, '_> {
    /// `[machine]`, when present: `Some(None)` without it, `None` when invalid.
    pub(super) fn machine(&mut self, root: &Table) -> Option<Option<ast::Machine>> {
        let Some(entry) = root.get("machine") else {
            return Some(None);
        };
        let node = &entry.value;
        let table = self.table("`machine`", node)?;
        self.check_keys(table, MACHINE_KEYS, "`[machine]`");
        let share = self.optional(table, "share", |c, node| {
            let share = c.number("`machine.share`", node)?;
            if !(0.0..=1.0).contains(&share) {
                c.error_help(
                    node.span.clone(),
                    format!("`machine.share` must be between 0 and 1, found `{share}`"),
                    "the share of its points a machine open or click earns: 0 (nothing) to 1 (all)"
                        .to_owned(),
                );
                return None;
            }
            Some(share)
        });
        let message_id = self.optional(table, "message_id", |c, node| {
            c.fields("`machine.message_id`", node)
        });
        let delivered = self.optional(table, "delivered", |c, node| {
            c.event_name("`machine.delivered`", node)
        });
        let opens = self.optional(table, "opens", |c, node| {
            c.event_names("`machine.opens`", node)
        });
        let clicks = self.optional(table, "clicks", |c, node| {
            c.event_names("`machine.clicks`", node)
        });
        let open_within = self.optional(table, "open_within", |c, node| {
            c.machine_duration("`machine.open_within`", node)
        });
        let click_within = self.optional(table, "click_within", |c, node| {
            c.machine_duration("`machine.click_within`", node)
        });
        let burst = self.optional(table, "burst", |c, node| c.burst(node));
        let click_needs_open = self.optional(table, "click_needs_open", |c, node| {
            c.boolean("`machine.click_needs_open`", node)
        });
        let flags = self.optional(table, "flags", |c, node| c.fields("`machine.flags`", node));
        let user_agents = self.optional(table, "user_agents", |c, node| {
            let values = c.machine_list("`machine.user_agents`", node)?;
            let mut fragments: Vec<String> = values
                .iter()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect();
            fragments.sort();
            Some(fragments)
        });
        let ips = self.optional(table, "ips", |c, node| {
            let values = c.machine_list("`machine.ips`", node)?;
            let mut values: Vec<&String> = values.iter().collect();
            values.sort();
            let mut ranges = Vec::new();
            let mut valid = true;
            for value in values {
                match IpRange::parse(value) {
                    Some(range) => ranges.push(range),
                    None => {
                        c.error_help(
                            node.span.clone(),
                            format!("`{value}` in the list named by `machine.ips` is not an IP address or range"),
                            "write an address (`17.58.0.1`) or a CIDR range (`17.58.0.0/16`, `2a01:b747::/32`)".to_owned(),
                        );
                        valid = false;
                    }
                }
            }
            valid.then_some(ranges)
        });

        let delivered = delivered?.unwrap_or_else(|| "Email Delivered".to_owned());
        let opens = opens?.unwrap_or_else(|| vec!["Email Opened".to_owned()]);
        let clicks = clicks?.unwrap_or_else(|| vec!["Email Link Clicked".to_owned()]);
        for default in [&delivered].into_iter().chain(&opens).chain(&clicks) {
            self.events.insert(default.to_lowercase());
        }
        // One event name plays one part.
        let mut seen: Vec<(String, &str)> = Vec::new();
        let mut valid = true;
        let parts = [(&delivered, "delivered")]
            .into_iter()
            .chain(opens.iter().map(|n| (n, "opens")))
            .chain(clicks.iter().map(|n| (n, "clicks")));
        for (name, part) in parts {
            let lower = name.to_lowercase();
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == lower) {
                let at = table
                    .get(part)
                    .map_or(node.span.clone(), |e| e.value.span.clone());
                self.error_help(
                    at,
                    format!(
                        "event `{name}` is named twice in `[machine]` (`{first}` and `{part}`)"
                    ),
                    "a delivery, an open and a click are different events".to_owned(),
                );
                valid = false;
            } else {
                seen.push((lower, part));
            }
        }
        let machine = ast::Machine {
            share: share?.unwrap_or(0.0),
            message_id: message_id?
                .unwrap_or_else(|| DEFAULT_MESSAGE_ID.iter().map(|f| (*f).to_owned()).collect()),
            delivered,
            opens,
            clicks,
            open_within: open_within?,
            click_within: click_within?,
            burst: burst?,
            click_needs_open: click_needs_open?.unwrap_or(false),
            flags: flags?
                .unwrap_or_else(|| DEFAULT_FLAGS.iter().map(|f| (*f).to_owned()).collect()),
            user_agents: user_agents?.unwrap_or_default(),
            ip_ranges: ips?.unwrap_or_default(),
        };
        valid.then_some(Some(machine))
    }

    /// A field path or an array of them, each non-empty.
    fn fields(&mut self, what: &str, node: &Node) -> Option<Vec<String>> {
        match &node.value {
            Value::String(_) => self.non_empty_string(what, node).map(|f| vec![f]),
            Value::Array(items) => {
                let item_what = format!("each item of {what}");
                let fields: Vec<_> = items
                    .iter()
                    .map(|item| self.non_empty_string(&item_what, item))
                    .collect();
                fields.into_iter().collect()
            }
            _ => {
                self.type_error(what, "a field path or an array of them", node);
                None
            }
        }
    }

    /// An event name or a non-empty array of them.
    fn event_names(&mut self, what: &str, node: &Node) -> Option<Vec<String>> {
        match &node.value {
            Value::String(_) => self.event_name(what, node).map(|n| vec![n]),
            Value::Array(items) if items.is_empty() => {
                self.error(
                    node.span.clone(),
                    format!("{what} must name at least one event"),
                );
                None
            }
            Value::Array(items) => {
                let item_what = format!("each item of {what}");
                let names: Vec<_> = items
                    .iter()
                    .map(|item| self.event_name(&item_what, item))
                    .collect();
                names.into_iter().collect()
            }
            _ => {
                self.type_error(what, "an event name or an array of event names", node);
                None
            }
        }
    }

    fn machine_duration(&mut self, what: &str, node: &Node) -> Option<Millis> {
        match &node.value {
            Value::String(text) => {
                let parsed = machine::parse_duration(text);
                if parsed.is_none() {
                    self.error_help(
                        node.span.clone(),
                        format!("invalid duration `{text}` for {what}"),
                        MACHINE_DURATION_HELP.to_owned(),
                    );
                }
                parsed
            }
            _ => {
                self.error_help(
                    node.span.clone(),
                    format!(
                        "{what} must be a duration string, found {}",
                        node.value.kind()
                    ),
                    MACHINE_DURATION_HELP.to_owned(),
                );
                None
            }
        }
    }

    fn burst(&mut self, node: &Node) -> Option<Burst> {
        let table = self.table("`machine.burst`", node)?;
        self.check_keys(table, BURST_KEYS, "`machine.burst`");
        let clicks = self
            .required(table, node, "clicks", "`machine.burst`")
            .and_then(|clicks| {
                let n = self.positive_integer("`machine.burst.clicks`", clicks)?;
                if n < 2 {
                    self.error_help(
                        clicks.span.clone(),
                        format!("`machine.burst.clicks` must be at least 2, found `{n}`"),
                        "a burst is several clicks on one mailing".to_owned(),
                    );
                    return None;
                }
                Some(n)
            });
        let within = self
            .required(table, node, "within", "`machine.burst`")
            .and_then(|within| self.machine_duration("`machine.burst.within`", within));
        Some(Burst {
            clicks: clicks?,
            within: within?,
        })
    }

    /// The values of the `[lists]` list named by `node`.
    fn machine_list(&mut self, what: &str, node: &Node) -> Option<Vec<String>> {
        let name = self.string(what, node)?;
        let found = self
            .decl
            .lists
            .iter()
            .find(|(known, _, _)| *known == name)
            .map(|(_, _, values)| values.iter().cloned().collect());
        match found {
            Some(values) => {
                self.used_lists.insert(name);
                Some(values)
            }
            None => {
                let help = match suggest(&name, self.decl.lists.iter().map(|(n, _, _)| n.as_str()))
                {
                    Some(known) => format!("did you mean `{known}`?"),
                    None => format!("declare it under `[lists]`: `{name} = [..]`"),
                };
                self.error_help(node.span.clone(), format!("unknown list `{name}`"), help);
                None
            }
        }
    }
}
