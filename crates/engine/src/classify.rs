//! Turning an event into what the model cares about: its [`EventClass`].
//!
//! Engagement `when` conditions read only the event's own fields, so which rules an event
//! matches is decided once, when it arrives, and never again. After classification the
//! engine needs just the event's time and class: this is what lets the batch CLI stream
//! 50 million events without keeping their JSON, and what keeps the per-contact state
//! compact.

use smallvec::SmallVec;

use leadscore_model::{CompiledModel, EngagementSource, EventNameId};

use crate::condition::eval_fields;
use crate::input::Fields;

/// What an event means to the model: its name (as an index into the model's event
/// names) and the event-fed engagement rules whose `event` and `when` it matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventClass {
    /// The event's name.
    pub name: EventNameId,
    /// Indices into `model.engagement` of the matched event rules, ascending.
    pub rules: SmallVec<[u16; 4]>,
    /// For a delivery, open or click under `[machine]`: what machine detection needs.
    pub mail: Option<MailClass>,
}

/// A delivery, open or click as `[machine]` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MailClass {
    /// Delivery, open or click.
    pub kind: MailKind,
    /// Hash of the message id property linking it to its mailing; 0 when it has none.
    pub link: u64,
    /// What the event alone says: [`Reason::Human`] or a static reason (flag, user
    /// agent, IP range).
    pub flag: Reason,
}

/// The part an e-mail event plays for `[machine]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// `machine.delivered`.
    Delivered,
    /// One of `machine.opens`.
    Open,
    /// One of `machine.clicks`.
    Click,
}

/// Why an open or click counts as a machine's ([`Reason::Human`]: it does not). When
/// several apply, the first in this order is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reason {
    /// Not a machine.
    Human = 0,
    /// A provider's flag (`properties.machine_open = true`).
    Flag = 1,
    /// A user agent in `machine.user_agents`.
    UserAgent = 2,
    /// An address in `machine.ips`.
    Ip = 3,
    /// Within `open_within` / `click_within` of its delivery.
    Delivery = 4,
    /// Part of a burst of clicks on one mailing.
    Burst = 5,
    /// A click with no human open of its mailing before it.
    NoOpen = 6,
}

impl Reason {
    /// Every machine reason, in order.
    pub const MACHINE: [Reason; 6] = [
        Reason::Flag,
        Reason::UserAgent,
        Reason::Ip,
        Reason::Delivery,
        Reason::Burst,
        Reason::NoOpen,
    ];

    /// Words for an explanation (`flagged by the provider`).
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Human => "human",
            Reason::Flag => "flagged by the provider",
            Reason::UserAgent => "known machine user agent",
            Reason::Ip => "from a listed IP range",
            Reason::Delivery => "within seconds of delivery",
            Reason::Burst => "in a burst of clicks",
            Reason::NoOpen => "click without a human open",
        }
    }
}

/// Per event name: which rules and conditions look at it.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameInfo {
    /// Event rules with this `event` name (their `when` still has to match).
    pub event_rules: Vec<u16>,
    /// The event fields those rules' `when` conditions read: an event's class depends
    /// on the values of these fields only.
    pub fields: Vec<String>,
    /// Absence rules whose `after` is this name.
    pub after_of: Vec<u16>,
    /// Absence rules that accept this name as a reaction.
    pub expect_of: Vec<u16>,
    /// How `event = NAME` conditions count it.
    pub count: CountMode,
    /// The part this name plays under `[machine]`.
    pub mail: Option<MailKind>,
}

/// How much history an event-count condition needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum CountMode {
    /// No condition counts this name.
    #[default]
    Unused,
    /// Counted without a window: a counter is enough.
    Counter,
    /// Counted inside windows up to this long: keep timestamps that recent.
    Times(leadscore_model::Millis),
}

/// Build the per-name tables of a model.
pub(crate) fn name_table(model: &CompiledModel) -> Vec<NameInfo> {
    let mut names = vec![NameInfo::default(); model.event_names.len()];
    for (index, rule) in model.engagement.iter().enumerate() {
        let index = index as u16;
        match &rule.source {
            EngagementSource::Event { event, when } => {
                let info = &mut names[*event as usize];
                info.event_rules.push(index);
                if let Some(when) = when {
                    fields_read(when, &mut info.fields);
                }
            }
            EngagementSource::Absence { after, expect, .. } => {
                names[*after as usize].after_of.push(index);
                for name in expect {
                    let list = &mut names[*name as usize].expect_of;
                    if !list.contains(&index) {
                        list.push(index);
                    }
                }
            }
        }
    }
    if let Some(machine) = &model.machine {
        names[machine.delivered as usize].mail = Some(MailKind::Delivered);
        for &open in &machine.opens {
            names[open as usize].mail = Some(MailKind::Open);
        }
        for &click in &machine.clicks {
            names[click as usize].mail = Some(MailKind::Click);
        }
    }
    let mut visit = |event: EventNameId, within: Option<leadscore_model::Millis>| {
        let mode = &mut names[event as usize].count;
        *mode = match (*mode, within) {
            (CountMode::Counter, _) | (_, None) => CountMode::Counter,
            (CountMode::Times(a), Some(b)) => CountMode::Times(a.max(b)),
            (CountMode::Unused, Some(b)) => CountMode::Times(b),
        };
    };
    let conditions = model
        .stages
        .iter()
        .filter_map(|s| s.when.as_ref())
        .chain(model.triggers.iter().map(|t| &t.when))
        .chain(model.routes.iter().map(|r| &r.when));
    for cond in conditions {
        visit_event_counts(cond, &mut visit);
    }
    names
}

/// Add the fields `cond` reads to `fields` (without duplicates).
pub(crate) fn fields_read(cond: &leadscore_model::Condition, fields: &mut Vec<String>) {
    use leadscore_model::Condition;
    match cond {
        Condition::Field { field, .. } if !fields.contains(field) => fields.push(field.clone()),
        Condition::All(items) | Condition::Any(items) => {
            items.iter().for_each(|c| fields_read(c, fields))
        }
        Condition::Not(inner) => fields_read(inner, fields),
        _ => {}
    }
}

fn visit_event_counts(
    cond: &leadscore_model::Condition,
    visit: &mut impl FnMut(EventNameId, Option<leadscore_model::Millis>),
) {
    use leadscore_model::Condition;
    match cond {
        Condition::EventCount { event, within, .. } => visit(*event, *within),
        Condition::All(items) | Condition::Any(items) => {
            items.iter().for_each(|c| visit_event_counts(c, visit))
        }
        Condition::Not(inner) => visit_event_counts(inner, visit),
        _ => {}
    }
}

/// Find an event name in the model, case-insensitively.
pub(crate) fn lookup_name(model: &CompiledModel, name: &str) -> Option<EventNameId> {
    let name = name.trim();
    if let Some(i) = model
        .event_names
        .iter()
        .position(|known| known.len() == name.len() && known.eq_ignore_ascii_case(name))
    {
        return Some(i as EventNameId);
    }
    if name.is_ascii() {
        return None;
    }
    let lower = name.to_lowercase();
    model
        .event_names
        .iter()
        .position(|known| *known == lower)
        .map(|i| i as EventNameId)
}

/// Classify an event: `None` when its name is not one the model mentions (such an
/// event can never change a score and need not be kept).
pub(crate) fn classify(
    model: &CompiledModel,
    names: &[NameInfo],
    name: &str,
    fields: &(impl Fields + ?Sized),
) -> Option<EventClass> {
    let id = lookup_name(model, name)?;
    let mut rules = SmallVec::new();
    for &rule in &names[id as usize].event_rules {
        if let EngagementSource::Event { when, .. } = &model.engagement[rule as usize].source
            && when.as_ref().is_none_or(|c| eval_fields(c, fields))
        {
            rules.push(rule);
        }
    }
    let mail = names[id as usize]
        .mail
        .zip(model.machine.as_ref())
        .map(|(kind, machine)| mail_class(machine, kind, fields));
    Some(EventClass {
        name: id,
        rules,
        mail,
    })
}

/// What `[machine]` needs to know of one e-mail event.
fn mail_class(
    machine: &leadscore_model::Machine,
    kind: MailKind,
    fields: &(impl Fields + ?Sized),
) -> MailClass {
    use crate::ValueRef;
    let text = |path: &str| -> Option<String> {
        match fields.field(path)? {
            ValueRef::Str(s) if !s.trim().is_empty() => Some(s.to_owned()),
            ValueRef::Num(n) => Some(n.to_string()),
            ValueRef::Bool(b) => Some(b.to_string()),
            ValueRef::Str(_) => None,
        }
    };
    let link = machine
        .message_id
        .iter()
        .find_map(|f| text(f))
        .map_or(0, |id| crate::message_id_hash(&id).max(1));
    let flagged = machine.flags.iter().any(|f| match fields.field(f) {
        Some(ValueRef::Bool(b)) => b,
        Some(ValueRef::Str(s)) => s.trim().eq_ignore_ascii_case("true"),
        Some(ValueRef::Num(n)) => n == 1.0,
        None => false,
    });
    let first = |paths: &[&str]| paths.iter().find_map(|f| text(f));
    let flag = if kind == MailKind::Delivered {
        Reason::Human
    } else if flagged {
        Reason::Flag
    } else if !machine.user_agents.is_empty()
        && first(leadscore_model::machine::USER_AGENT_FIELDS).is_some_and(|agent| {
            let agent = agent.to_lowercase();
            machine
                .user_agents
                .iter()
                .any(|a| agent.contains(a.as_str()))
        })
    {
        Reason::UserAgent
    } else if !machine.ip_ranges.is_empty()
        && first(leadscore_model::machine::IP_FIELDS)
            .is_some_and(|ip| machine.ip_ranges.iter().any(|r| r.contains(&ip)))
    {
        Reason::Ip
    } else {
        Reason::Human
    };
    MailClass { kind, link, flag }
}

/// A memo of classifications for one thread: events whose name and rule-relevant field
/// values were seen before get their class without evaluating any condition again.
/// Web sites have a few hundred pages, so a batch of millions of page views runs each
/// glob a few hundred times. Bounded: it starts afresh past [`ClassCache::CAPACITY`].
#[derive(Debug, Default)]
pub struct ClassCache {
    map: std::collections::HashMap<(EventNameId, Vec<Option<String>>), EventClass>,
}

impl ClassCache {
    /// Entries kept before the cache is cleared.
    pub const CAPACITY: usize = 1 << 16;

    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Classify through `cache` (see [`ClassCache`]).
pub(crate) fn classify_cached(
    model: &CompiledModel,
    names: &[NameInfo],
    cache: &mut ClassCache,
    name: &str,
    fields: &(impl Fields + ?Sized),
) -> Option<EventClass> {
    let id = lookup_name(model, name)?;
    let info = &names[id as usize];
    // An e-mail event's link is unique to its mailing: memoising it would only churn.
    if info.fields.is_empty() || info.mail.is_some() {
        return classify(model, names, name, fields);
    }
    let values: Vec<Option<String>> = info
        .fields
        .iter()
        .map(|f| fields.field(f).map(key_text))
        .collect();
    let key = (id, values);
    if let Some(class) = cache.map.get(&key) {
        return Some(class.clone());
    }
    let class = classify(model, names, name, fields)?;
    if cache.map.len() >= ClassCache::CAPACITY {
        cache.map.clear();
    }
    cache.map.insert(key, class.clone());
    Some(class)
}

/// A value as a cache key: its kind and its text, so `5` and `"5"` stay apart.
fn key_text(value: crate::ValueRef<'_>) -> String {
    match value {
        crate::ValueRef::Str(s) => format!("s{s}"),
        crate::ValueRef::Num(n) => format!("n{}", n.to_bits()),
        crate::ValueRef::Bool(b) => format!("b{b}"),
    }
}
