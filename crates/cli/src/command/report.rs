//! `leadscore report`: which scores, labels, grades, stages and rules preceded a sale.
//!
//! Contacts are scored exactly as `leadscore backtest` scores them: one millisecond
//! before their outcome when they have one (no leakage from later events), else as of
//! `--as-of` (default: the latest outcome) as not converted. A rule fired for a contact
//! when its explanation line counted at least one occurrence. The arithmetic lives in
//! `leadscore_learn::report`; this file reads the files, prints tables or JSON and, with
//! `--charts DIR`, writes four hand-written SVG bar charts (five with accounts).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::ValueEnum;
use leadscore_engine::Engine;
use leadscore_learn::accounts::{AccountReport, AccountRows, MemberRow};
use leadscore_learn::before::{Reporter, scoring_instant};
use leadscore_learn::report::{Group, Report};

use super::backtest::{as_of_or_latest, read_history, read_outcomes, score_each};
use crate::Outcome;
use crate::batch::Problems;
use crate::crm::CrmArgs;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables for people.
    Table,
    /// One JSON object.
    Json,
}

/// `leadscore report` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model.
    #[arg(long)]
    model: PathBuf,
    /// Contacts CSV.
    #[arg(long)]
    contacts: PathBuf,
    /// Events JSONL.
    #[arg(long)]
    events: PathBuf,
    /// Outcomes CSV (`id,outcome,at`).
    #[arg(long)]
    outcomes: PathBuf,
    /// Score contacts without an outcome as of this instant (default: latest outcome).
    #[arg(long, value_name = "RFC3339")]
    as_of: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write SVG charts into this directory (created if missing).
    #[arg(long, value_name = "DIR")]
    charts: Option<PathBuf>,
    /// Stop at the first malformed line or row.
    #[arg(long)]
    strict: bool,
    /// Cleaning a CRM export.
    #[command(flatten)]
    crm: CrmArgs,
}

/// Run `leadscore report`.
pub fn run(args: Args) -> Result<Outcome> {
    let mut problems = Problems {
        strict: args.strict,
        count: 0,
        print: true,
    };
    let outcomes = read_outcomes(&args.outcomes, &mut problems)?;
    let as_of = as_of_or_latest(args.as_of.as_deref(), &outcomes, &args.outcomes)?;
    let Some(model) = super::model::load(&args.model)? else {
        return Ok(Outcome::Invalid);
    };
    let engine = Engine::new(model);
    let model = engine.model();
    let reporter = Reporter::new(model);
    let cleaning = args.crm.cleaning(model);
    let contacts = (args.contacts.as_path(), &cleaning);
    let history = read_history(&engine, &args.events, &outcomes, as_of, &mut problems)?;
    let seen = score_each(
        &engine,
        contacts,
        &history,
        &mut problems,
        |id| Some(scoring_instant(&outcomes, id, as_of)),
        |id, result, stage_times, when| {
            let member = MemberRow::new(model, id, &result);
            (reporter.scored(&result, stage_times, when), member)
        },
    )?;
    let (scored, rows) = AccountRows::split(model, seen);
    let mut report = reporter.report(&scored);
    if let Some(mut rows) = rows {
        // Members of accounts with an outcome, scored again at their account's instant
        // (`leadscore_learn::accounts`); the file was reported on in the first pass.
        rows.settle(&outcomes, as_of);
        if rows.pending().next().is_some() {
            let mut quiet = Problems {
                strict: args.strict,
                count: 0,
                print: false,
            };
            let again = score_each(
                &engine,
                contacts,
                &history,
                &mut quiet,
                |id| rows.rescore_at(id),
                |id, result, _, _| (id.to_owned(), result),
            )?;
            for (id, result) in again {
                rows.replace(model, &id, &result);
            }
        }
        report.accounts = rows.report(model);
    }

    if let Some(dir) = &args.charts {
        write_charts(dir, &report)?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string(&report)?)?,
        Format::Table => print_tables(&mut out, &report)?,
    }
    if problems.count > 0 {
        eprintln!("leadscore: {} malformed lines/rows skipped", problems.count);
    }
    Ok(Outcome::Success)
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |x| format!("{:.1}%", x * 100.0))
}

fn print_groups(out: &mut impl Write, title: &str, groups: &[Group]) -> Result<()> {
    print_counted(
        out,
        &format!("conversion by {title}"),
        title,
        "contacts",
        groups,
    )
}

/// Conversion per group under `heading`; `unit` names what is counted (contacts or
/// accounts).
fn print_counted(
    out: &mut impl Write,
    heading: &str,
    column: &str,
    unit: &str,
    groups: &[Group],
) -> Result<()> {
    writeln!(out, "\n{heading}")?;
    writeln!(
        out,
        "{:<16} {:>10} {:>10} {:>8}",
        column, unit, "converted", "rate"
    )?;
    for g in groups {
        writeln!(
            out,
            "{:<16} {:>10} {:>10} {:>8}",
            g.name,
            g.contacts,
            g.converters,
            percent(g.rate)
        )?;
    }
    Ok(())
}

fn print_tables(out: &mut impl Write, r: &Report) -> Result<()> {
    writeln!(
        out,
        "{} contacts, {} converted ({})",
        r.contacts,
        r.converters,
        percent(r.rate)
    )?;
    print_groups(out, "score band", &r.by_band)?;
    print_groups(out, "label", &r.by_label)?;
    print_groups(out, "grade", &r.by_grade)?;
    print_groups(out, "stage", &r.by_stage)?;

    writeln!(
        out,
        "\nrules by lift (fired = explanation line counted > 0)"
    )?;
    writeln!(
        out,
        "{:<24} {:<10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>8}",
        "rule", "kind", "conv", "% conv", "non-conv", "% non", "lift", "% points"
    )?;
    for s in &r.rules {
        writeln!(
            out,
            "{:<24} {:<10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>8}",
            s.rule,
            s.kind,
            s.converters_fired,
            percent(s.converter_share),
            s.non_converters_fired,
            percent(s.non_converter_share),
            s.lift.map_or_else(|| "-".to_owned(), |l| format!("{l:.2}")),
            percent(s.points_share)
        )?;
    }

    writeln!(out, "\nscore distribution")?;
    let most = r.distribution.iter().map(|g| g.contacts).max().unwrap_or(0);
    for g in &r.distribution {
        let width = if most > 0 {
            (g.contacts * 40).div_ceil(most) as usize
        } else {
            0
        };
        writeln!(out, "{:<8} {:>8} {}", g.name, g.contacts, "#".repeat(width))?;
    }

    writeln!(out, "\nfunnel")?;
    writeln!(
        out,
        "{:<16} {:>10} {:>10} {:>14}",
        "step", "contacts", "to next", "median days"
    )?;
    for s in &r.funnel {
        writeln!(
            out,
            "{:<16} {:>10} {:>10} {:>14}",
            s.step,
            s.contacts,
            percent(s.to_next),
            s.median_days_to_next
                .map_or_else(|| "-".to_owned(), |d| format!("{d:.1}"))
        )?;
    }
    if let Some(accounts) = &r.accounts {
        print_accounts(out, accounts)?;
    }
    Ok(())
}

/// The account report: conversion by account score band, label and stage, then the
/// account score beside the best member's contact score as predictors.
fn print_accounts(out: &mut impl Write, a: &AccountReport) -> Result<()> {
    writeln!(
        out,
        "\naccounts: {} accounts of {} contacts, {} converted ({}); each scored just before \
         its first member outcome",
        a.accounts,
        a.members,
        a.converters,
        percent(a.rate)
    )?;
    print_counted(
        out,
        &format!("conversion by account score band ({} points)", a.band_width),
        "account band",
        "accounts",
        &a.by_band,
    )?;
    for (title, groups) in [
        ("account label", &a.by_label),
        ("account stage", &a.by_stage),
    ] {
        print_counted(
            out,
            &format!("conversion by {title}"),
            title,
            "accounts",
            groups,
        )?;
    }
    writeln!(
        out,
        "\naccount score vs the best member's contact score, as predictors of the account's \
         conversion\n(qualified: the account's second stage or later / some member at the MQL \
         stage or later)\n"
    )?;
    let auc = |e: &leadscore_learn::Evaluation| e.auc;
    if let (Some(account), Some(best)) = (auc(&a.account_score), auc(&a.best_member_score)) {
        writeln!(
            out,
            "ROC AUC {account:.3} (account score) vs {best:.3} (best member score): {:+.3}\n",
            account - best
        )?;
    }
    super::backtest::print_tables(
        out,
        &[
            ("account score".to_owned(), a.account_score.clone()),
            ("best member score".to_owned(), a.best_member_score.clone()),
        ],
        None,
    )
}

/// One bar: its category, its length, the text printed at its end.
struct Bar {
    name: String,
    value: f64,
    text: String,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar chart: categories down the left, values along the bottom, each
/// value printed at the end of its bar; `reference` draws a dashed line (lift = 1).
fn bar_chart(
    title: &str,
    category_axis: &str,
    value_axis: &str,
    bars: &[Bar],
    reference: Option<f64>,
) -> String {
    const LEFT: f64 = 190.0;
    const PLOT: f64 = 460.0;
    const ROW: f64 = 26.0;
    const TOP: f64 = 60.0;
    let height = TOP + ROW * bars.len().max(1) as f64 + 70.0;
    let width = LEFT + PLOT + 110.0;
    let max = bars
        .iter()
        .map(|b| b.value)
        .chain(reference)
        .fold(0.0_f64, f64::max);
    let scale = if max > 0.0 { PLOT / max } else { 0.0 };
    let bottom = TOP + ROW * bars.len().max(1) as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
        width / 2.0,
        escape(title)
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let w = (bar.value.max(0.0) * scale).max(0.0);
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n\
             <rect x=\"{LEFT}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" fill=\"#4878a8\"/>\n\
             <text x=\"{:.1}\" y=\"{}\">{}</text>\n",
            LEFT - 8.0,
            y + ROW * 0.65,
            escape(&bar.name),
            y + 4.0,
            ROW - 8.0,
            LEFT + w + 5.0,
            y + ROW * 0.65,
            escape(&bar.text)
        ));
    }
    if let Some(r) = reference.filter(|_| scale > 0.0) {
        let x = LEFT + r * scale;
        svg.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\" stroke=\"#c03030\" \
             stroke-dasharray=\"4 3\"/>\n"
        ));
    }
    // Axes, the maximum on the value axis, and the axis labels.
    svg.push_str(&format!(
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{bottom}\" stroke=\"black\"/>\n\
         <line x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\" stroke=\"black\"/>\n\
         <text x=\"{LEFT}\" y=\"{}\" text-anchor=\"middle\">0</text>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"16\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {})\">{}</text>\n\
         </svg>\n",
        LEFT + PLOT,
        bottom + 16.0,
        LEFT + PLOT,
        bottom + 16.0,
        escape(&format_number(max)),
        LEFT + PLOT / 2.0,
        bottom + 44.0,
        escape(value_axis),
        (TOP + bottom) / 2.0,
        (TOP + bottom) / 2.0,
        escape(category_axis)
    ));
    svg
}

fn format_number(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// Write the four charts into `dir`.
fn write_charts(dir: &Path, r: &Report) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let rates = |groups: &[Group], unit: &str| -> Vec<Bar> {
        groups
            .iter()
            .map(|g| Bar {
                name: g.name.clone(),
                value: g.rate.unwrap_or(0.0) * 100.0,
                text: match g.rate {
                    Some(rate) => format!("{:.1}% of {}", rate * 100.0, g.contacts),
                    None => format!("no {unit}"),
                },
            })
            .collect()
    };
    let conversion = rates(&r.by_band, "contacts");
    let lift: Vec<Bar> = r
        .rules
        .iter()
        .filter_map(|s| {
            s.lift.map(|l| Bar {
                name: s.rule.clone(),
                value: l,
                text: format!("{l:.2}"),
            })
        })
        .collect();
    let distribution: Vec<Bar> = r
        .distribution
        .iter()
        .map(|g| Bar {
            name: g.name.clone(),
            value: g.contacts as f64,
            text: g.contacts.to_string(),
        })
        .collect();
    let funnel: Vec<Bar> = r
        .funnel
        .iter()
        .map(|s| Bar {
            name: s.step.clone(),
            value: s.contacts as f64,
            text: match s.to_next {
                Some(rate) => format!("{} ({:.1}% to next)", s.contacts, rate * 100.0),
                None => s.contacts.to_string(),
            },
        })
        .collect();
    let mut charts = vec![
        (
            "conversion-by-band.svg",
            bar_chart(
                "Conversion rate by score band",
                "score band",
                "conversion rate (%)",
                &conversion,
                None,
            ),
        ),
        (
            "rule-lift.svg",
            bar_chart(
                "Rule lift: P(convert | fired) / P(convert)",
                "rule",
                "lift (dashed line: 1 = no better than average)",
                &lift,
                Some(1.0),
            ),
        ),
        (
            "score-distribution.svg",
            bar_chart(
                "Score distribution",
                "score band",
                "contacts",
                &distribution,
                None,
            ),
        ),
        (
            "funnel.svg",
            bar_chart(
                "Funnel: contacts at or beyond each stage",
                "step",
                "contacts",
                &funnel,
                None,
            ),
        ),
    ];
    if let Some(a) = &r.accounts {
        charts.push((
            "account-conversion-by-band.svg",
            bar_chart(
                &format!(
                    "Account conversion by account score band (AUC {} vs {} for the best member)",
                    a.account_score
                        .auc
                        .map_or_else(|| "-".to_owned(), |x| format!("{x:.3}")),
                    a.best_member_score
                        .auc
                        .map_or_else(|| "-".to_owned(), |x| format!("{x:.3}"))
                ),
                "account score band",
                "conversion rate (%)",
                &rates(&a.by_band, "accounts"),
                None,
            ),
        ));
    }
    for (name, svg) in charts {
        let path = dir.join(name);
        std::fs::write(&path, svg).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_escapes_text_and_scales_to_the_longest_bar() {
        let bars = [
            Bar {
                name: "a<b".to_owned(),
                value: 2.0,
                text: "2".to_owned(),
            },
            Bar {
                name: "c".to_owned(),
                value: 1.0,
                text: "1".to_owned(),
            },
        ];
        let svg = bar_chart("T & U", "x", "y", &bars, Some(1.0));
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a&lt;b") && svg.contains("T &amp; U"));
        assert!(svg.contains("width=\"460.0\"") && svg.contains("width=\"230.0\""));
    }
}
