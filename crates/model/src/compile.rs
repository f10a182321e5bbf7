//! Compile: lower the checked model into the [`CompiledModel`] the engine evaluates.
//!
//! This is the last loading stage (`syntax` -> `validate` -> `compile`) and it cannot
//! fail: `validate` has already resolved every name and compiled every pattern. What
//! happens here is preparation for fast, unambiguous evaluation:
//!
//! * event names are lower-cased and interned into [`CompiledModel::event_names`], so the
//!   engine matches an event by comparing small integers;
//! * literals become [`Literal`]s that carry their lower-cased text, number and boolean
//!   readings, and needles of `contains`/`starts_with`/`ends_with` are lower-cased, because
//!   every string comparison except `matches` ignores case;
//! * grades and labels are sorted highest bound first (ties keep file order, so the first
//!   one written wins).

use std::collections::HashMap;

use crate::CompiledModel;
use crate::ast::{self, Cond, Lit, Op};
use crate::compiled::{
    Account, Condition, DisqualifyRule, EngagementRule, EngagementSource, EventNameId, FieldOp,
    FitRule, Group, Literal, Route, Stage, Threshold, Trigger,
};

/// Lower a checked model.
pub(crate) fn compile(model: ast::Model) -> CompiledModel {
    let mut events = EventNames::default();
    let fit = fit_rules(model.fit, &mut events);
    let engagement = model
        .engagement
        .into_iter()
        .map(|rule| EngagementRule {
            id: rule.id,
            label: rule.label,
            source: match rule.source {
                ast::Source::Event { event, when } => EngagementSource::Event {
                    event: events.intern(&event),
                    when: when.map(|when| condition(when, &mut events)),
                },
                ast::Source::Absence {
                    after,
                    expect,
                    within,
                } => EngagementSource::Absence {
                    after: events.intern(&after),
                    expect: expect.iter().map(|name| events.intern(name)).collect(),
                    within,
                },
            },
            points: rule.points,
            group: rule.group,
            limit: rule.limit,
            within: rule.within,
            decay: rule.decay,
        })
        .collect();
    let disqualify = model
        .disqualify
        .into_iter()
        .map(|rule| DisqualifyRule {
            id: rule.id,
            label: rule.label,
            when: condition(rule.when, &mut events),
        })
        .collect();
    let stages = lower_stages(model.stages, &mut events);
    let triggers = lower_triggers(model.triggers, &mut events);
    let routes = lower_routes(model.routes, &mut events);
    let account = model.account.map(|account| Account {
        key: account.key,
        exclude: account.exclude,
        fit: fit_rules(account.fit, &mut events),
        engagement: account.engagement,
        labels: highest_first(account.labels),
        stages: lower_stages(account.stages, &mut events),
        triggers: lower_triggers(account.triggers, &mut events),
        routes: lower_routes(account.routes, &mut events),
    });
    let machine = model.machine.map(|m| crate::machine::Machine {
        share: m.share,
        message_id: m.message_id,
        delivered: events.intern(&m.delivered),
        opens: m.opens.iter().map(|name| events.intern(name)).collect(),
        clicks: m.clicks.iter().map(|name| events.intern(name)).collect(),
        open_within: m.open_within,
        click_within: m.click_within,
        burst: m.burst,
        click_needs_open: m.click_needs_open,
        flags: m.flags,
        user_agents: m.user_agents,
        ip_ranges: m.ip_ranges,
    });
    CompiledModel {
        name: model.name,
        version: model.version,
        score: model.score,
        fit,
        engagement,
        groups: model
            .groups
            .into_iter()
            .map(|(name, max)| Group { name, max })
            .collect(),
        disqualify,
        grades: highest_first(model.grades),
        labels: highest_first(model.labels),
        stages,
        triggers,
        routes,
        teams: model.teams,
        event_names: events.names,
        machine,
        prediction: model.prediction,
        account,
    }
}

fn fit_rules(rules: Vec<ast::FitRule>, events: &mut EventNames) -> Vec<FitRule> {
    rules
        .into_iter()
        .map(|rule| FitRule {
            id: rule.id,
            label: rule.label,
            when: condition(rule.when, events),
            points: rule.points,
        })
        .collect()
}

fn lower_stages(stages: Vec<ast::Stage>, events: &mut EventNames) -> Vec<Stage> {
    stages
        .into_iter()
        .map(|stage| Stage {
            id: stage.id,
            label: stage.label,
            when: stage.when.map(|when| condition(when, events)),
            reset_engagement: stage.reset_engagement,
        })
        .collect()
}

fn lower_triggers(triggers: Vec<ast::Trigger>, events: &mut EventNames) -> Vec<Trigger> {
    triggers
        .into_iter()
        .map(|trigger| Trigger {
            id: trigger.id,
            label: trigger.label,
            when: condition(trigger.when, events),
            actions: trigger.actions,
        })
        .collect()
}

fn lower_routes(routes: Vec<ast::Route>, events: &mut EventNames) -> Vec<Route> {
    routes
        .into_iter()
        .map(|route| Route {
            id: route.id,
            label: route.label,
            when: condition(route.when, events),
            team: route.team,
        })
        .collect()
}

/// Sort thresholds by bound, highest first; equal bounds keep file order.
fn highest_first(mut thresholds: Vec<Threshold>) -> Vec<Threshold> {
    thresholds.sort_by(|a, b| b.min.total_cmp(&a.min));
    thresholds
}

/// The interning table behind [`CompiledModel::event_names`].
#[derive(Default)]
struct EventNames {
    names: Vec<String>,
    ids: HashMap<String, EventNameId>,
}

impl EventNames {
    /// The id of `name` (compared lower-cased), adding it on first sight.
    fn intern(&mut self, name: &str) -> EventNameId {
        let name = name.to_lowercase();
        if let Some(id) = self.ids.get(&name) {
            return *id;
        }
        // INVARIANT: `validate` rejects models naming more than 2^16 events, so the
        // saturation never happens.
        let id = EventNameId::try_from(self.names.len()).unwrap_or(EventNameId::MAX);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }
}

fn condition(cond: Cond, events: &mut EventNames) -> Condition {
    match cond {
        Cond::Field { field, ops } => Condition::Field {
            field,
            ops: ops.into_iter().map(field_op).collect(),
        },
        Cond::All(items) => {
            Condition::All(items.into_iter().map(|c| condition(c, events)).collect())
        }
        Cond::Any(items) => {
            Condition::Any(items.into_iter().map(|c| condition(c, events)).collect())
        }
        Cond::Not(inner) => Condition::Not(Box::new(condition(*inner, events))),
        Cond::Score { group, cmps } => Condition::Score { group, cmps },
        Cond::GradeIn(grades) => Condition::GradeIn(grades),
        Cond::EventCount {
            event,
            cmps,
            within,
        } => Condition::EventCount {
            event: events.intern(&event),
            cmps,
            within,
        },
        Cond::Disqualified(value) => Condition::Disqualified(value),
        Cond::Stage(stage) => Condition::Stage(stage),
    }
}

fn field_op(op: Op) -> FieldOp {
    match op {
        Op::Eq(lit) => FieldOp::Eq(literal(lit)),
        Op::Ne(lit) => FieldOp::Ne(literal(lit)),
        Op::In(lits) => FieldOp::In(lits.into_iter().map(literal).collect()),
        Op::NotIn(lits) => FieldOp::NotIn(lits.into_iter().map(literal).collect()),
        Op::InList { name, values } => FieldOp::InList { name, values },
        Op::Contains(needle) => FieldOp::Contains(needle.to_lowercase()),
        Op::StartsWith(prefix) => FieldOp::StartsWith(prefix.to_lowercase()),
        Op::EndsWith(suffix) => FieldOp::EndsWith(suffix.to_lowercase()),
        Op::Matches(regex) => FieldOp::Matches(regex),
        Op::Glob(regex) => FieldOp::Glob(regex),
        Op::Compare(cmp, bound) => FieldOp::Compare(cmp, bound),
        Op::Exists(exists) => FieldOp::Exists(exists),
    }
}

/// A literal with its text (lower-cased), number and boolean readings.
pub(crate) fn literal(lit: Lit) -> Literal {
    match lit {
        Lit::Str(text) => Literal {
            number: text.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            text: text.to_lowercase(),
            boolean: None,
        },
        Lit::Int(number) => Literal {
            text: number.to_string(),
            number: Some(number as f64),
            boolean: None,
        },
        Lit::Float(number) => Literal {
            text: number.to_string(),
            number: Some(number),
            boolean: None,
        },
        Lit::Bool(value) => Literal {
            text: value.to_string(),
            number: None,
            boolean: Some(value),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_are_lower_cased_and_read_as_numbers_when_they_are() {
        assert_eq!(
            literal(Lit::Str("DE".into())),
            Literal {
                text: "de".into(),
                number: None,
                boolean: None
            }
        );
        assert_eq!(literal(Lit::Str(" 42 ".into())).number, Some(42.0));
        assert_eq!(literal(Lit::Str("1e3".into())).number, Some(1000.0));
        assert_eq!(literal(Lit::Str("NaN".into())).number, None);
        assert_eq!(literal(Lit::Str("inf".into())).number, None);
    }

    #[test]
    fn number_and_boolean_literals_keep_their_spelling_as_text() {
        assert_eq!(
            literal(Lit::Int(500)),
            Literal {
                text: "500".into(),
                number: Some(500.0),
                boolean: None
            }
        );
        assert_eq!(literal(Lit::Float(2.5)).text, "2.5");
        assert_eq!(
            literal(Lit::Bool(true)),
            Literal {
                text: "true".into(),
                number: None,
                boolean: Some(true)
            }
        );
    }

    #[test]
    fn event_names_are_interned_case_insensitively() {
        let mut events = EventNames::default();
        let opened = events.intern("Email Opened");
        assert_eq!(events.intern("email opened"), opened);
        let clicked = events.intern("Email Link Clicked");
        assert_ne!(clicked, opened);
        assert_eq!(events.names, ["email opened", "email link clicked"]);
    }

    #[test]
    fn thresholds_sort_highest_first_and_ties_keep_file_order() {
        let sorted = highest_first(vec![
            Threshold {
                name: "C".into(),
                min: 0.0,
            },
            Threshold {
                name: "A".into(),
                min: 40.0,
            },
            Threshold {
                name: "B".into(),
                min: 20.0,
            },
            Threshold {
                name: "B2".into(),
                min: 20.0,
            },
        ]);
        let names: Vec<&str> = sorted.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["A", "B", "B2", "C"]);
    }
}
