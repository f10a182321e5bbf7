//! The outcome report: which scores, labels, grades, stages and rules precede a sale.
//!
//! Input is one [`Scored`] contact per row, each as the model saw it just before its
//! outcome (the caller scores it; this module only counts). From them [`report`]
//! computes:
//!
//! * conversion rate by score band (`0-10`, ..., `90-100`, `100+`; scores below 0 fall
//!   in the first band), by label, by grade and by current stage;
//! * per rule: converters and non-converters it fired for, the share of each group,
//!   lift = P(convert | fired) / P(convert), and its share of the points converters
//!   got; sorted by lift, highest first;
//! * the score distribution (contacts per band);
//! * the funnel: contacts that reached each stage (at or beyond it), then `won`
//!   (converted), with the conversion from each step to the next and the median days
//!   from entering a step to entering the next (among contacts that entered both; a
//!   stage skipped by a jump counts as entered at the jump, `won` at the outcome).

use serde::Serialize;

use crate::accounts::AccountReport;

/// Number of score bands: ten of 10 points, then `100+`.
pub const BANDS: usize = 11;

/// One rule's contribution to a contact's score.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Hit {
    /// The rule fired (its explanation line counted at least one occurrence).
    pub fired: bool,
    /// The points the rule gave (negative for penalties).
    pub points: f64,
}

/// One contact, as the model saw it just before its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The clamped score.
    pub score: f64,
    /// Whether the contact converted (won or converted).
    pub converted: bool,
    /// Label, if any.
    pub label: Option<String>,
    /// Grade, if any.
    pub grade: Option<String>,
    /// Index of the stage the contact is in (the model's stage order), if any.
    pub stage: Option<usize>,
    /// One entry per rule of [`Rules`], in the same order.
    pub hits: Vec<Hit>,
    /// When each stage reached was entered (milliseconds; index = stage), for the time
    /// between funnel steps; may be empty (then the contact counts in no timing).
    pub stage_times: Vec<i64>,
    /// When it converted (its outcome), if it did: the funnel's `won` step.
    pub converted_at: Option<i64>,
}

/// What the report needs to know about the model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rules {
    /// `(id, kind)` of every rule, in model order; `kind` is `fit`, `engagement` or
    /// `absence`.
    pub rules: Vec<(String, String)>,
    /// Label names, in model order.
    pub labels: Vec<String>,
    /// Grade names, in model order.
    pub grades: Vec<String>,
    /// Stage ids, in model order.
    pub stages: Vec<String>,
}

/// Conversion in one group of contacts (a band, label, grade or stage).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// The band, label, grade or stage (`(none)` when the contact had none).
    pub name: String,
    /// Contacts in the group.
    pub contacts: u64,
    /// Converters among them.
    pub converters: u64,
    /// `converters / contacts`; `None` for an empty group.
    pub rate: Option<f64>,
}

/// How one rule relates to conversion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleStats {
    /// Rule id.
    pub rule: String,
    /// `fit`, `engagement` or `absence`.
    pub kind: String,
    /// Converters it fired for.
    pub converters_fired: u64,
    /// Non-converters it fired for.
    pub non_converters_fired: u64,
    /// Share of converters it fired for; `None` without converters.
    pub converter_share: Option<f64>,
    /// Share of non-converters it fired for; `None` without non-converters.
    pub non_converter_share: Option<f64>,
    /// P(convert | fired) / P(convert); `None` when it never fired or nobody converted.
    pub lift: Option<f64>,
    /// This rule's points among converters divided by all rule points (absolute values)
    /// among converters; negative for penalties; `None` when converters got no points.
    pub points_share: Option<f64>,
}

/// One step of the funnel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Stage id, or `won`.
    pub step: String,
    /// Contacts at or beyond this step.
    pub contacts: u64,
    /// `next step / this step`; `None` for the last step or an empty step.
    pub to_next: Option<f64>,
    /// Median days from entering this step to entering the next, among contacts that
    /// entered both (the mean of the middle two for an even count); `None` for the
    /// last step or when no contact entered both.
    pub median_days_to_next: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Contacts.
    pub contacts: u64,
    /// Converters.
    pub converters: u64,
    /// `converters / contacts`; `None` without contacts.
    pub rate: Option<f64>,
    /// Conversion by score band, lowest first (always [`BANDS`] entries).
    pub by_band: Vec<Group>,
    /// Conversion by label, model order, then others, then `(none)`.
    pub by_label: Vec<Group>,
    /// Conversion by grade, model order, then others, then `(none)`.
    pub by_grade: Vec<Group>,
    /// Conversion by current stage, model order, then `(none)`.
    pub by_stage: Vec<Group>,
    /// Rules by lift, highest first (rules that never fired last).
    pub rules: Vec<RuleStats>,
    /// Contacts per score band, lowest first (always [`BANDS`] entries).
    pub distribution: Vec<Group>,
    /// The funnel: every stage, then `won`.
    pub funnel: Vec<Step>,
    /// The account report ([`crate::accounts`]), for a model with `[account]`; absent
    /// otherwise (the JSON of a model without accounts is unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<AccountReport>,
}

/// The band of a score: 0 for below 10 (negatives included), ..., 10 for 100 and up.
pub fn band(score: f64) -> usize {
    band_of(score, 10)
}

/// The name of band `i`: `0-10`, ..., `90-100`, `100+`.
pub fn band_name(i: usize) -> String {
    band_name_of(i, 10)
}

/// The band of a score in [`BANDS`] bands of `width` points: 0 for below `width`
/// (negatives included), ..., `BANDS - 1` for `10 * width` and up.
pub fn band_of(score: f64, width: u32) -> usize {
    let width = f64::from(width.max(1));
    if score.is_nan() || score < width {
        0
    } else {
        ((score / width).floor() as usize).min(BANDS - 1)
    }
}

/// The name of band `i` of `width` points: `0-W`, ..., `9W-10W`, `10W+`.
pub fn band_name_of(i: usize, width: u32) -> String {
    let width = width.max(1) as usize;
    if i + 1 >= BANDS {
        format!("{}+", (BANDS - 1) * width)
    } else {
        format!("{}-{}", i * width, i * width + width)
    }
}

/// Conversion in each of the [`BANDS`] bands of `width` points, lowest first, from
/// `(score, converted)` pairs.
pub(crate) fn by_band(seen: impl Iterator<Item = (f64, bool)>, width: u32) -> Vec<Group> {
    let mut bands = [(0u64, 0u64); BANDS];
    for (score, converted) in seen {
        let b = &mut bands[band_of(score, width)];
        b.0 += 1;
        b.1 += u64::from(converted);
    }
    bands
        .iter()
        .enumerate()
        .map(|(i, &(n, c))| group(band_name_of(i, width), n, c))
        .collect()
}

pub(crate) fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn group(name: String, contacts: u64, converters: u64) -> Group {
    Group {
        name,
        contacts,
        converters,
        rate: ratio(converters, contacts),
    }
}

/// Conversion per value: `order` first (even when empty), then other values in
/// alphabetical order, then `(none)` when some contacts had no value.
pub(crate) fn by_value<'a>(
    values: impl Iterator<Item = (Option<&'a str>, bool)>,
    order: &[String],
) -> Vec<Group> {
    let mut groups: Vec<Group> = order.iter().map(|n| group(n.clone(), 0, 0)).collect();
    let mut others: Vec<Group> = Vec::new();
    let mut none = group("(none)".to_owned(), 0, 0);
    for (value, converted) in values {
        let slot = match value {
            None => &mut none,
            Some(v) => match groups.iter().position(|g| g.name == v) {
                Some(i) => &mut groups[i],
                None => match others.iter().position(|g| g.name == v) {
                    Some(i) => &mut others[i],
                    None => {
                        others.push(group(v.to_owned(), 0, 0));
                        let last = others.len() - 1;
                        &mut others[last]
                    }
                },
            },
        };
        slot.contacts += 1;
        slot.converters += u64::from(converted);
    }
    others.sort_by(|a, b| a.name.cmp(&b.name));
    groups.extend(others);
    if none.contacts > 0 {
        groups.push(none);
    }
    for g in &mut groups {
        g.rate = ratio(g.converters, g.contacts);
    }
    groups
}

/// Milliseconds in a day.
const DAY_MS: f64 = 86_400_000.0;

/// The median; the mean of the middle two for an even count; `None` when empty.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// Compute the report.
pub fn report(rules: &Rules, seen: &[Scored]) -> Report {
    let contacts = seen.len() as u64;
    let converters = seen.iter().filter(|s| s.converted).count() as u64;
    let base = ratio(converters, contacts);

    let by_band = by_band(seen.iter().map(|s| (s.score, s.converted)), 10);
    let distribution = by_band.clone();

    let by_label = by_value(
        seen.iter().map(|s| (s.label.as_deref(), s.converted)),
        &rules.labels,
    );
    let by_grade = by_value(
        seen.iter().map(|s| (s.grade.as_deref(), s.converted)),
        &rules.grades,
    );
    let by_stage = by_value(
        seen.iter().map(|s| {
            let name = s
                .stage
                .and_then(|i| rules.stages.get(i))
                .map(String::as_str);
            (name, s.converted)
        }),
        &rules.stages,
    );

    let non_converters = contacts - converters;
    let total_points: f64 = seen
        .iter()
        .filter(|s| s.converted)
        .flat_map(|s| s.hits.iter())
        .map(|h| h.points.abs())
        .sum();
    let mut rule_stats: Vec<RuleStats> = rules
        .rules
        .iter()
        .enumerate()
        .map(|(i, (id, kind))| {
            let (mut cf, mut nf, mut points) = (0u64, 0u64, 0.0);
            for s in seen {
                let Some(hit) = s.hits.get(i) else { continue };
                if hit.fired {
                    if s.converted {
                        cf += 1;
                    } else {
                        nf += 1;
                    }
                }
                if s.converted {
                    points += hit.points;
                }
            }
            let lift = match (ratio(cf, cf + nf), base) {
                (Some(p), Some(b)) if b > 0.0 => Some(p / b),
                _ => None,
            };
            RuleStats {
                rule: id.clone(),
                kind: kind.clone(),
                converters_fired: cf,
                non_converters_fired: nf,
                converter_share: ratio(cf, converters),
                non_converter_share: ratio(nf, non_converters),
                lift,
                points_share: (total_points > 0.0).then(|| points / total_points),
            }
        })
        .collect();
    // Highest lift first; rules without a lift last; ties in model order (stable sort).
    rule_stats.sort_by(|a, b| match (a.lift, b.lift) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });

    let mut reached: Vec<u64> = rules
        .stages
        .iter()
        .enumerate()
        .map(|(i, _)| {
            seen.iter()
                .filter(|s| s.stage.is_some_and(|r| r >= i))
                .count() as u64
        })
        .collect();
    reached.push(converters);
    let names = rules.stages.iter().cloned().chain(["won".to_owned()]);
    // When each contact entered step i: its stage times, then its conversion.
    let entered = |s: &Scored, i: usize| {
        if i < rules.stages.len() {
            s.stage_times.get(i).copied()
        } else {
            s.converted_at.filter(|_| s.converted)
        }
    };
    let funnel = names
        .enumerate()
        .map(|(i, step)| {
            let last = i + 1 >= reached.len();
            let days: Vec<f64> = if last {
                Vec::new()
            } else {
                seen.iter()
                    .filter_map(|s| Some((entered(s, i)?, entered(s, i + 1)?)))
                    .map(|(from, to)| (to - from).max(0) as f64 / DAY_MS)
                    .collect()
            };
            Step {
                step,
                contacts: reached[i],
                to_next: reached.get(i + 1).and_then(|&next| ratio(next, reached[i])),
                median_days_to_next: median(days),
            }
        })
        .collect();

    Report {
        contacts,
        converters,
        rate: base,
        by_band,
        by_label,
        by_grade,
        by_stage,
        rules: rule_stats,
        distribution,
        funnel,
        accounts: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(score: f64, converted: bool, stage: usize, hits: [(bool, f64); 2]) -> Scored {
        Scored {
            score,
            converted,
            label: (score >= 50.0).then(|| "warm".to_owned()),
            grade: Some(if score >= 50.0 { "A" } else { "B" }.to_owned()),
            stage: Some(stage),
            hits: hits
                .iter()
                .map(|&(fired, points)| Hit { fired, points })
                .collect(),
            stage_times: Vec::new(),
            converted_at: None,
        }
    }

    fn model() -> Rules {
        Rules {
            rules: vec![
                ("demo".to_owned(), "engagement".to_owned()),
                ("blog".to_owned(), "engagement".to_owned()),
            ],
            labels: vec!["hot".to_owned(), "warm".to_owned()],
            grades: vec!["A".to_owned(), "B".to_owned()],
            stages: vec!["lead".to_owned(), "mql".to_owned(), "sql".to_owned()],
        }
    }

    /// Four contacts, two converters:
    /// * 95, converted, sql, demo (+30) and blog (+5)
    /// * 72, converted, mql, demo (+30)
    /// * 40, not converted, mql, blog (+5)
    /// * 5, not converted, lead, nothing
    fn four() -> Vec<Scored> {
        vec![
            contact(95.0, true, 2, [(true, 30.0), (true, 5.0)]),
            contact(72.0, true, 1, [(true, 30.0), (false, 0.0)]),
            contact(40.0, false, 1, [(false, 0.0), (true, 5.0)]),
            contact(5.0, false, 0, [(false, 0.0), (false, 0.0)]),
        ]
    }

    #[test]
    fn bands_are_ten_points_wide_then_100_plus() {
        assert_eq!(band(-3.0), 0);
        assert_eq!(band(9.99), 0);
        assert_eq!(band(10.0), 1);
        assert_eq!(band(99.5), 9);
        assert_eq!(band(100.0), 10);
        assert_eq!(band(250.0), 10);
        assert_eq!(band_name(0), "0-10");
        assert_eq!(band_name(9), "90-100");
        assert_eq!(band_name(10), "100+");
    }

    #[test]
    fn conversion_by_band_label_grade_and_stage() {
        let r = report(&model(), &four());
        assert_eq!((r.contacts, r.converters, r.rate), (4, 2, Some(0.5)));
        assert_eq!(r.by_band.len(), BANDS);
        assert_eq!(r.by_band[0].contacts, 1); // 5
        assert_eq!(r.by_band[0].rate, Some(0.0));
        assert_eq!(r.by_band[9].converters, 1); // 95
        assert_eq!(r.by_band[9].rate, Some(1.0));
        assert_eq!(r.by_band[5].rate, None); // nobody between 50 and 60
        assert_eq!(r.distribution[4].contacts, 1); // 40
        // Labels: hot (empty), warm (95, 72), then (none) (40, 5).
        let labels: Vec<(&str, u64, u64)> = r
            .by_label
            .iter()
            .map(|g| (g.name.as_str(), g.contacts, g.converters))
            .collect();
        assert_eq!(labels, [("hot", 0, 0), ("warm", 2, 2), ("(none)", 2, 0)]);
        assert_eq!(r.by_grade[0].rate, Some(1.0));
        assert_eq!(r.by_grade[1].rate, Some(0.0));
        // Stages: lead 1 (0 conv), mql 2 (1 conv), sql 1 (1 conv).
        let stages: Vec<(u64, u64)> = r
            .by_stage
            .iter()
            .map(|g| (g.contacts, g.converters))
            .collect();
        assert_eq!(stages, [(1, 0), (2, 1), (1, 1)]);
    }

    #[test]
    fn rule_lift_shares_and_points_by_hand() {
        let r = report(&model(), &four());
        // demo: fired for 2 converters, 0 others: P(conv|fired) = 1, base 0.5, lift 2.
        // Points among converters: demo 60, blog 5, total 65.
        let demo = &r.rules[0];
        assert_eq!(demo.rule, "demo");
        assert_eq!((demo.converters_fired, demo.non_converters_fired), (2, 0));
        assert_eq!(demo.converter_share, Some(1.0));
        assert_eq!(demo.non_converter_share, Some(0.0));
        assert_eq!(demo.lift, Some(2.0));
        assert_eq!(demo.points_share, Some(60.0 / 65.0));
        // blog: 1 converter, 1 other: P = 0.5, lift 1.
        let blog = &r.rules[1];
        assert_eq!(blog.rule, "blog");
        assert_eq!((blog.converters_fired, blog.non_converters_fired), (1, 1));
        assert_eq!(blog.lift, Some(1.0));
        assert_eq!(blog.converter_share, Some(0.5));
        assert_eq!(blog.points_share, Some(5.0 / 65.0));
    }

    #[test]
    fn rules_that_never_fired_come_last_without_lift() {
        let mut seen = four();
        for s in &mut seen {
            s.hits[0] = Hit::default();
        }
        let r = report(&model(), &seen);
        assert_eq!(r.rules[0].rule, "blog");
        assert_eq!(r.rules[1].rule, "demo");
        assert_eq!(r.rules[1].lift, None);
    }

    #[test]
    fn funnel_counts_contacts_at_or_beyond_each_stage() {
        let r = report(&model(), &four());
        let steps: Vec<(&str, u64, Option<f64>)> = r
            .funnel
            .iter()
            .map(|s| (s.step.as_str(), s.contacts, s.to_next))
            .collect();
        // lead 4 -> mql 3 (0.75) -> sql 1 (1/3) -> won 2 (2.0: won needs no stage).
        assert_eq!(
            steps,
            [
                ("lead", 4, Some(0.75)),
                ("mql", 3, Some(1.0 / 3.0)),
                ("sql", 1, Some(2.0)),
                ("won", 2, None),
            ]
        );
    }

    #[test]
    fn funnel_timing_is_the_median_days_between_consecutive_steps() {
        const DAY: i64 = 86_400_000;
        let mut seen = four();
        // 95 (sql, won): lead day 0, mql day 2, sql day 5, won day 9.
        seen[0].stage_times = vec![0, 2 * DAY, 5 * DAY];
        seen[0].converted_at = Some(9 * DAY);
        // 72 (mql, won): lead day 1, mql day 5, won day 6 (never in sql: no sql->won).
        seen[1].stage_times = vec![DAY, 5 * DAY];
        seen[1].converted_at = Some(6 * DAY);
        // 40 (mql): lead day 0, mql day 12.
        seen[2].stage_times = vec![0, 12 * DAY];
        // 5 (lead): no times at all.
        let r = report(&model(), &seen);
        let days: Vec<Option<f64>> = r.funnel.iter().map(|s| s.median_days_to_next).collect();
        // lead->mql: 2, 4, 12 -> 4; mql->sql: 3 (one contact); sql->won: 4; won: none.
        assert_eq!(days, [Some(4.0), Some(3.0), Some(4.0), None]);
        assert_eq!(median(vec![3.0, 1.0]), Some(2.0));
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn empty_input_gives_empty_groups_and_no_rates() {
        let r = report(&model(), &[]);
        assert_eq!(r.rate, None);
        assert!(r.by_band.iter().all(|g| g.rate.is_none()));
        assert!(r.rules.iter().all(|s| s.lift.is_none()));
        assert_eq!(r.funnel.len(), 4);
    }
}
