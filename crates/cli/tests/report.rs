//! `leadscore report`: planted rules ranked high, no leakage, charts written.

use crate::support::{generated, leadscore, s, scratch, stderr, stdout, write_leaky_events};

fn report(dir: &std::path::Path, events: &str, extra: &[&str]) -> serde_json::Value {
    let (contacts, events, outcomes) = (
        dir.join("contacts.csv"),
        dir.join(events),
        dir.join("outcomes.csv"),
    );
    let mut args = vec![
        "report",
        "--model",
        "examples/b2b.toml",
        "--contacts",
        s(&contacts),
        "--events",
        s(&events),
        "--outcomes",
        s(&outcomes),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = leadscore(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("JSON")
}

fn lift(report: &serde_json::Value, rule: &str) -> (usize, f64) {
    let rules = report["rules"].as_array().expect("rules");
    let (rank, found) = rules
        .iter()
        .enumerate()
        .find(|(_, r)| r["rule"] == rule)
        .unwrap_or_else(|| panic!("rule {rule} missing"));
    (rank, found["lift"].as_f64().unwrap_or(0.0))
}

#[test]
fn planted_rules_rank_high_and_high_scores_convert_more() {
    let dir = generated("report-rank", 3000, 31);
    let r = report(&dir, "events.jsonl", &[]);
    let (rank, demo) = lift(&r, "demo-request");
    assert!(demo > 2.0, "demo-request lift {demo}");
    assert!(rank < 3, "demo-request ranked {rank}: {}", r["rules"]);
    let (_, blog) = lift(&r, "blog-visit");
    assert!(blog < demo, "blog lift {blog} >= demo lift {demo}");
    // Conversion in the highest non-empty band exceeds the lowest non-empty band.
    let bands = r["by_band"].as_array().expect("bands");
    assert_eq!(bands.len(), 11);
    let rates: Vec<f64> = bands.iter().filter_map(|b| b["rate"].as_f64()).collect();
    assert!(rates.len() >= 2, "{bands:?}");
    assert!(rates[rates.len() - 1] > rates[0], "{rates:?}");
    // The funnel starts with every contact and ends with the converters.
    let funnel = r["funnel"].as_array().expect("funnel");
    assert_eq!(funnel[0]["contacts"], r["contacts"]);
    assert_eq!(funnel[funnel.len() - 1]["step"], "won");
    assert_eq!(funnel[funnel.len() - 1]["contacts"], r["converters"]);
}

#[test]
fn events_after_an_outcome_never_change_the_report() {
    let dir = generated("report-leak", 800, 32);
    let before = report(&dir, "events.jsonl", &[]);
    write_leaky_events(&dir, "leaky.jsonl");
    let after = report(&dir, "leaky.jsonl", &[]);
    assert_eq!(before, after);
}

#[test]
fn charts_are_written_as_svg_and_tables_print() {
    let dir = generated("report-charts", 300, 33);
    let charts = scratch("report-charts-out").join("charts");
    report(&dir, "events.jsonl", &["--charts", s(&charts)]);
    for name in [
        "conversion-by-band.svg",
        "rule-lift.svg",
        "score-distribution.svg",
        "funnel.svg",
    ] {
        let svg = std::fs::read_to_string(charts.join(name)).expect(name);
        assert!(svg.starts_with("<svg"), "{name}");
        assert!(svg.contains("</svg>"), "{name}");
        assert!(svg.contains("<rect") && svg.contains("<text"), "{name}");
    }
    let out = leadscore(&[
        "report",
        "--model",
        "examples/b2b.toml",
        "--contacts",
        s(&dir.join("contacts.csv")),
        "--events",
        s(&dir.join("events.jsonl")),
        "--outcomes",
        s(&dir.join("outcomes.csv")),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for section in [
        "conversion by score band",
        "rules by lift",
        "score distribution",
        "funnel",
    ] {
        assert!(text.contains(section), "{section} missing:\n{text}");
    }
}

/// An account is scored one millisecond before its first member outcome: a `Demo
/// Requested` by every colleague (same `company_id`) at the instant of each outcome
/// changes the contact report (colleagues without an outcome are scored later) but
/// never the account report.
#[test]
fn colleagues_events_at_a_member_outcome_never_change_the_account_report() {
    let dir = generated("report-account-leak", 800, 34);
    let contacts = std::fs::read_to_string(dir.join("contacts.csv")).expect("contacts");
    let mut header = contacts.lines().next().expect("a header").split(',');
    assert_eq!(header.next_back(), Some("company_id"), "the last column");
    let mut company: std::collections::HashMap<&str, &str> = Default::default();
    let mut members: std::collections::HashMap<&str, Vec<&str>> = Default::default();
    for row in contacts.lines().skip(1) {
        let (Some(id), Some(key)) = (row.split(',').next(), row.rsplit(',').next()) else {
            continue;
        };
        if !key.is_empty() {
            company.insert(id, key);
            members.entry(key).or_default().push(id);
        }
    }
    let outcomes = std::fs::read_to_string(dir.join("outcomes.csv")).expect("outcomes");
    let mut events = std::fs::read_to_string(dir.join("events.jsonl")).expect("events");
    let mut added = 0;
    for (i, row) in outcomes.lines().skip(1).enumerate() {
        let cells: Vec<&str> = row.split(',').collect();
        let (id, at) = (cells[0], cells[2]);
        let Some(key) = company.get(id) else { continue };
        for colleague in members[key].iter().filter(|c| **c != id) {
            events.push_str(&format!(
                "{{\"type\":\"track\",\"event\":\"Demo Requested\",\"userId\":\"{colleague}\",\"messageId\":\"colleague-{i}-{colleague}\",\"timestamp\":\"{at}\"}}\n"
            ));
            added += 1;
        }
    }
    assert!(
        added > 20,
        "the generated accounts have colleagues of outcome holders"
    );
    std::fs::write(dir.join("colleagues.jsonl"), events).expect("write events");
    let before = report(&dir, "events.jsonl", &[]);
    let after = report(&dir, "colleagues.jsonl", &[]);
    assert!(
        before["accounts"]["accounts"].as_u64() > Some(50),
        "{}",
        before["accounts"]
    );
    assert_ne!(
        before["rules"], after["rules"],
        "the events were read and count for contacts"
    );
    assert_eq!(before["accounts"], after["accounts"]);
}
