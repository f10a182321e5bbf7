//! `leadscore backtest`.

use crate::support::{generated, leadscore, s, stderr, stdout, write_leaky_events};

const NOTHING: &str = "version = 1\nname = \"nothing\"\n[[fit]]\nid = \"anyone\"\nwhen = { field = \"email\", exists = true }\npoints = 0\n";

fn backtest(dir: &std::path::Path, events: &str, extra: &[&str]) -> serde_json::Value {
    let baseline = dir.join("nothing.toml");
    std::fs::write(&baseline, NOTHING).expect("write");
    let (contacts, events, outcomes) = (
        dir.join("contacts.csv"),
        dir.join(events),
        dir.join("outcomes.csv"),
    );
    let mut args = vec![
        "backtest",
        "--model",
        "examples/b2b.toml",
        "--baseline",
        s(&baseline),
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

#[test]
fn example_model_ranks_converters_better_than_a_model_without_points() {
    let dir = generated("backtest-auc", 2000, 21);
    let report = backtest(&dir, "events.jsonl", &["--threshold", "60"]);
    let auc = |i: usize| {
        report["models"][i]["evaluation"]["auc"]
            .as_f64()
            .expect("auc")
    };
    assert!(auc(0) > 0.65, "example model AUC {}", auc(0));
    assert_eq!(auc(1), 0.5);
    let e = &report["models"][0]["evaluation"];
    assert!(e["converters"].as_u64() > Some(0));
    // Deciles, except that tied scores share a band (docs/learning.md): at most ten
    // bands, every contact in exactly one, each band's scores above the last one's.
    let bands = e["calibration"].as_array().expect("calibration");
    assert!((5..=10).contains(&bands.len()), "{} bands", bands.len());
    let counted: u64 = bands
        .iter()
        .map(|b| b["contacts"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(Some(counted), e["contacts"].as_u64());
    for pair in bands.windows(2) {
        assert!(
            pair[0]["to"].as_f64() < pair[1]["from"].as_f64(),
            "{pair:?}"
        );
    }
}

#[test]
fn events_after_an_outcome_never_change_the_backtest() {
    let dir = generated("backtest-leak", 800, 22);
    let before = backtest(&dir, "events.jsonl", &[]);
    // After each outcome, the contact requests a demo and visits pricing: a model that
    // looked at them would suddenly predict every outcome perfectly.
    write_leaky_events(&dir, "leaky.jsonl");
    let after = backtest(&dir, "leaky.jsonl", &[]);
    assert_eq!(before, after);
}
