//! `leadscore tune`, and the CRM-cleaning options every contacts-reading command takes.

use std::collections::HashMap;
use std::path::Path;

use crate::support::{generated, leadscore, s, stderr, stdout, write_leaky_events};

/// The rules of `examples/b2b.toml` behind the generator's planted effects
/// (`leadscore_generate::planted_truth`), and the rules for its noise features.
const PLANTED: [(&str, &str); 8] = [
    ("demo_requested", "demo-request"),
    ("pricing_page_views", "pricing-visit"),
    ("webinar_attended", "webinar-attended"),
    ("decision_maker", "decision-maker"),
    ("target_industry", "target-industry"),
    ("company_size_200_to_5000", "size-mid-market"),
    ("free_mail", "private-email"),
    ("outside_sales_area", "outside-sales-area"),
];
const NOISE: [&str; 6] = [
    "blog-visit",
    "email-opened",
    "email-clicked",
    "content-download",
    "form-submitted",
    "webinar-registered",
];

/// Run `leadscore tune` on `dir`'s files; returns stdout.
fn tune(dir: &Path, events: &str, out: &str, extra: &[&str]) -> String {
    let (contacts, events, outcomes, out) = (
        dir.join("contacts.csv"),
        dir.join(events),
        dir.join("outcomes.csv"),
        dir.join(out),
    );
    let mut args = vec![
        "tune",
        "--model",
        "examples/b2b.toml",
        "--contacts",
        s(&contacts),
        "--events",
        s(&events),
        "--outcomes",
        s(&outcomes),
        "-o",
        s(&out),
    ];
    args.extend_from_slice(extra);
    let output = leadscore(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

/// The `points` of every fit and engagement rule of a model file.
fn points(path: &Path) -> HashMap<String, f64> {
    let text = std::fs::read_to_string(path).expect("read the tuned model");
    let model = match leadscore_model::load("tuned.toml", &text) {
        Ok(checked) => checked.model,
        Err(d) => panic!("the tuned model does not load: {d:?}"),
    };
    let fit = model.fit.iter().map(|r| (r.id.clone(), r.points));
    let engagement = model.engagement.iter().map(|r| (r.id.clone(), r.points));
    fit.chain(engagement).collect()
}

/// The mean held-out AUC printed on the line starting with `label`.
fn auc(report: &str, label: &str) -> f64 {
    report
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.trim_start()[label.len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no `{label}` AUC in:\n{report}"))
}

#[test]
fn tune_recovers_the_planted_behaviours_and_beats_the_example_model() {
    let dir = generated("tune-recover", 4000, 31);
    let features = dir.join("features.csv");
    let report = tune(
        &dir,
        "events.jsonl",
        "tuned.toml",
        &["--features-out", s(&features)],
    );
    let tuned = points(&dir.join("tuned.toml"));
    // Every planted rule learns the sign of its planted effect.
    let truth: HashMap<&str, f64> = leadscore_generate::planted_truth()
        .iter()
        .copied()
        .collect();
    for (feature, rule) in PLANTED {
        let effect = truth[feature];
        assert!(
            tuned[rule] * effect > 0.0,
            "{rule} got {} points for a planted effect of {effect}\n{report}",
            tuned[rule]
        );
    }
    // The planted behaviours get the largest points, measured as what a rule adds to
    // the spread of scores: its points times the standard deviation of its feature (a
    // per-visit rule and a 0/1 rule compare fairly so). Of the six largest, at least
    // five are planted, the three planted behaviours among them, and no noise rule is
    // in the top five.
    let spread = feature_spread(&dir.join("features.csv"));
    let mut ranked: Vec<(f64, &str)> = spread
        .iter()
        .map(|(rule, sd)| (tuned[rule].abs() * sd, rule.as_str()))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let top: Vec<&str> = ranked.iter().take(6).map(|r| r.1).collect();
    let planted = |rule: &str| PLANTED.iter().any(|(_, r)| *r == rule);
    assert!(
        top.iter().filter(|r| planted(r)).count() >= 5,
        "top six {top:?}\n{report}"
    );
    for rule in ["demo-request", "webinar-attended", "pricing-visit"] {
        assert!(
            top.contains(&rule),
            "{rule} not in the top six {top:?}\n{report}"
        );
    }
    for rule in NOISE {
        assert!(
            !top[..5].contains(&rule),
            "noise {rule} in the top five {top:?}"
        );
    }
    let (base, learned) = (auc(&report, "base model"), auc(&report, "tuned model"));
    assert!(learned > base, "tuned {learned} vs base {base}\n{report}");
    assert!(report.contains("verdict: the tuned model ranks held-out contacts better"));
    // The tuned file passes `model check`.
    let out = leadscore(&["model", "check", s(&dir.join("tuned.toml"))]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}

/// Per rule column of a `--features-out` file: the population standard deviation.
fn feature_spread(path: &Path) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(path).expect("features");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split(',')
                .skip(6)
                .map(|v| v.parse().expect("a number"))
                .collect()
        })
        .collect();
    let n = rows.len() as f64;
    header[6..]
        .iter()
        .enumerate()
        .map(|(j, rule)| {
            let mean = rows.iter().map(|r| r[j]).sum::<f64>() / n;
            let var = rows.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / n;
            (rule.to_string(), var.sqrt())
        })
        .collect()
}

#[test]
fn the_tuned_file_changes_only_points() {
    let dir = generated("tune-edit", 1500, 32);
    tune(&dir, "events.jsonl", "tuned.toml", &["--no-suggestions"]);
    let base = std::fs::read_to_string("../../examples/b2b.toml")
        .or_else(|_| std::fs::read_to_string(crate::support::root().join("examples/b2b.toml")))
        .expect("base model");
    let tuned = std::fs::read_to_string(dir.join("tuned.toml")).expect("tuned model");
    let (base, tuned): (Vec<&str>, Vec<&str>) = (base.lines().collect(), tuned.lines().collect());
    // The base file's lines, then the `[prediction]` table (a blank line, two comment
    // lines, the header and its five keys).
    assert_eq!(base.len() + 9, tuned.len());
    let table = &tuned[base.len()..];
    assert_eq!(table[0], "");
    assert!(table[1].starts_with("# Written by `leadscore tune`"));
    assert_eq!(table[3], "[prediction]");
    let keys: Vec<&str> = table[4..]
        .iter()
        .map(|l| l.split(" = ").next().unwrap_or_default())
        .collect();
    assert_eq!(keys, ["intercept", "slope", "tuned_at", "auc", "contacts"]);
    for (b, t) in base.iter().zip(&tuned) {
        if b != t {
            assert!(
                b.starts_with("points = ") && t.starts_with("points = "),
                "changed a line other than points: `{b}` -> `{t}`"
            );
        }
    }
}

#[test]
fn events_after_an_outcome_never_change_tune() {
    let dir = generated("tune-leak", 1200, 33);
    let features = |name: &str| dir.join(name);
    let before = tune(
        &dir,
        "events.jsonl",
        "before.toml",
        &["--features-out", s(&features("before.csv"))],
    );
    write_leaky_events(&dir, "leaky.jsonl");
    let after = tune(
        &dir,
        "leaky.jsonl",
        "after.toml",
        &["--features-out", s(&features("after.csv"))],
    );
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("read");
    assert_eq!(read("before.toml"), read("after.toml"));
    assert_eq!(read("before.csv"), read("after.csv"));
    // The report differs only in its first line, which names the files.
    let body = |r: &str| r.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&before), body(&after));
}

#[test]
fn features_out_has_one_row_per_contact_with_folds_and_rule_columns() {
    let dir = generated("tune-features", 600, 34);
    let csv = dir.join("features.csv");
    tune(
        &dir,
        "events.jsonl",
        "tuned.toml",
        &[
            "--features-out",
            s(&csv),
            "--folds",
            "3",
            "--no-suggestions",
        ],
    );
    let text = std::fs::read_to_string(&csv).expect("features");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    assert_eq!(
        header[..7],
        [
            "id",
            "fold",
            "c",
            "converted",
            "base_score",
            "ours_log_odds",
            "decision-maker"
        ]
    );
    assert!(header.contains(&"no-reaction") && header.contains(&"demo-request"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 600);
    for row in &rows {
        assert_eq!(row.len(), header.len());
        assert!(["0", "1", "2"].contains(&row[1]), "fold {}", row[1]);
        assert!(["0", "1"].contains(&row[3]));
        // Fit features are 0/1.
        assert!(["0", "1"].contains(&row[6]));
    }
}

/// A CRM export with renamed columns, placeholders, formatted numbers and Yes/No.
const MESSY: &str = "\
Contact ID,E-Mail,Lead Source,Employees,Opted In,country
c-1,a@x.example,Webinar,\"1,200\",Yes,DE
c-2,b@x.example,Select,$3.5k,no,N/A
c-3,c@x.example,webinar,150,Y,
c-4,d@x.example,N/A,about 50,n/a,unknown
c-5,e@x.example,Webinar,45 min,TRUE,NO
";

const MESSY_MODEL: &str = r#"
version = 1
name = "messy"
[[fit]]
id = "mid-market"
when = { field = "company_size", gte = 200, lt = 5000 }
points = 10
[[fit]]
id = "webinar-lead"
when = { field = "lead_source", eq = "Webinar" }
points = 5
[[fit]]
id = "opted-in"
when = { field = "opted_in", eq = true }
points = 3
[[fit]]
id = "has-country"
when = { field = "country", exists = true }
points = 1
"#;

#[test]
fn messy_crm_options_parse_as_documented() {
    let dir = crate::support::scratch("tune-messy");
    std::fs::write(dir.join("contacts.csv"), MESSY).expect("write");
    std::fs::write(dir.join("m.toml"), MESSY_MODEL).expect("write");
    std::fs::write(dir.join("events.jsonl"), "").expect("write");
    let out = leadscore(&[
        "score",
        "--model",
        s(&dir.join("m.toml")),
        "--contacts",
        s(&dir.join("contacts.csv")),
        "--events",
        s(&dir.join("events.jsonl")),
        "--as-of",
        "2026-11-01T00:00:00Z",
        "--map",
        "Contact ID=id",
        "--map",
        "e-mail=email",
        "--map",
        "Lead Source=lead_source",
        "--map",
        "Employees=company_size",
        "--map",
        "Opted In=opted_in",
        "--missing",
        "Select,N/A",
        "--missing",
        "unknown",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let scores: Vec<(String, i64)> = crate::support::jsonl(&stdout(&out))
        .iter()
        .map(|r| {
            (
                r["contact_id"].as_str().unwrap_or_default().to_owned(),
                r["score"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let want = [
        // 1,200 in the band; Webinar; Yes; DE.
        ("c-1", 10 + 5 + 3 + 1),
        // $3.5k = 3500 in the band; Select is missing; no; N/A is missing.
        ("c-2", 10),
        // 150 below the band; "webinar" (case-insensitive); Y; empty.
        ("c-3", 5 + 3),
        // "about 50" is no number; N/A missing; "n/a" missing (any case); unknown missing.
        ("c-4", 0),
        // "45 min" is 45; TRUE; the country NO (Norway) stays a country.
        ("c-5", 5 + 3 + 1),
    ];
    let want: Vec<(String, i64)> = want.iter().map(|(i, s)| (i.to_string(), *s)).collect();
    assert_eq!(scores, want);

    // A mapped column that is not there names the file and the column.
    let out = leadscore(&[
        "score",
        "--model",
        s(&dir.join("m.toml")),
        "--contacts",
        s(&dir.join("contacts.csv")),
        "--events",
        s(&dir.join("events.jsonl")),
        "--map",
        "Lead Status=lead_status",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let message = stderr(&out);
    assert!(
        message.contains("contacts.csv")
            && message.contains(
                "--map `Lead Status=lead_status`: the header has no column `Lead Status`"
            ),
        "{message}"
    );
    // A malformed --map is a usage error.
    let out = leadscore(&[
        "score",
        "--model",
        "x",
        "--contacts",
        "y",
        "--events",
        "z",
        "--map",
        "nothing",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn tune_learns_the_same_from_a_messy_export_of_the_same_contacts() {
    let dir = generated("tune-messy-same", 1500, 35);
    tune(&dir, "events.jsonl", "clean.toml", &["--no-suggestions"]);
    // Rename the size column and write sizes with thousands separators and a unit.
    let clean = std::fs::read_to_string(dir.join("contacts.csv")).expect("contacts");
    let mut messy = String::new();
    for (i, line) in clean.lines().enumerate() {
        let mut cells: Vec<String> = line.split(',').map(str::to_owned).collect();
        if i == 0 {
            assert_eq!(cells[7], "company_size");
            cells[7] = "Company Size".into();
        } else if let Ok(n) = cells[7].parse::<u64>() {
            cells[7] = if n >= 1000 {
                format!("\"{},{:03} employees\"", n / 1000, n % 1000)
            } else {
                format!("{n} employees")
            };
        } else if cells[7].is_empty() {
            cells[7] = "Select".into();
        }
        messy.push_str(&cells.join(","));
        messy.push('\n');
    }
    assert!(messy.contains(" employees\""), "some sizes above 1,000");
    std::fs::write(dir.join("messy.csv"), messy).expect("write");
    let out = leadscore(&[
        "tune",
        "--model",
        "examples/b2b.toml",
        "--contacts",
        s(&dir.join("messy.csv")),
        "--events",
        s(&dir.join("events.jsonl")),
        "--outcomes",
        s(&dir.join("outcomes.csv")),
        "-o",
        s(&dir.join("messy.toml")),
        "--map",
        "Company Size=company_size",
        "--missing",
        "Select",
        "--no-suggestions",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("read");
    assert_eq!(read("clean.toml"), read("messy.toml"));
    // The numeric band rule is a feature that tune learned from.
    assert!(points(&dir.join("messy.toml"))["size-mid-market"] > 0.0);
}

/// `[prediction]` of a model file: (intercept, slope, tuned_at, auc, contacts).
fn prediction(path: &Path) -> (f64, f64, String, f64, u64) {
    let text = std::fs::read_to_string(path).expect("read the tuned model");
    let model = match leadscore_model::load("tuned.toml", &text) {
        Ok(checked) => checked.model,
        Err(d) => panic!("the tuned model does not load: {d:?}"),
    };
    let p = model.prediction.expect("a [prediction] table");
    (p.intercept, p.slope, p.tuned_at, p.auc, p.contacts)
}

#[test]
fn the_predicted_probability_is_calibrated_on_unseen_contacts_and_rises_with_score() {
    let train = generated("tune-predict-train", 3000, 34);
    let report = tune(&train, "events.jsonl", "tuned.toml", &["--no-suggestions"]);
    let tuned = train.join("tuned.toml");
    let (a, b, tuned_at, auc_written, contacts) = prediction(&tuned);
    assert_eq!(contacts, 3000);
    assert!(b > 0.0, "slope {b}");
    assert_eq!(tuned_at.len(), 10, "{tuned_at}");
    let printed = auc(&report, "tuned model");
    assert!(
        (auc_written - printed).abs() < 0.0006,
        "{auc_written} vs {printed}"
    );
    assert!(
        report.contains("prediction: p = 1 / (1 + exp(-("),
        "{report}"
    );

    // Unseen contacts from the same generator, scored by the tuned model just before
    // their outcomes (`tune --features-out` exports those scores as `base_score`).
    let unseen = generated("tune-predict-unseen", 3000, 35);
    let features = unseen.join("features.csv");
    let output = leadscore(&[
        "tune",
        "--model",
        s(&tuned),
        "--contacts",
        s(&unseen.join("contacts.csv")),
        "--events",
        s(&unseen.join("events.jsonl")),
        "--outcomes",
        s(&unseen.join("outcomes.csv")),
        "-o",
        s(&unseen.join("retuned.toml")),
        "--no-suggestions",
        "--features-out",
        s(&features),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(&features).expect("features");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (score, converted) = (column("base_score"), column("converted"));
    let mut rows: Vec<(f64, bool)> = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (
                cells[score].parse().expect("a score"),
                cells[converted] == "1",
            )
        })
        .collect();
    let p = |s: f64| 1.0 / (1.0 + (-(a + b * s)).exp());
    let n = rows.len() as f64;
    let predicted = rows.iter().map(|r| p(r.0)).sum::<f64>() / n;
    let observed = rows.iter().filter(|r| r.1).count() as f64 / n;
    assert!(
        (predicted - observed).abs() < 0.02,
        "mean predicted {predicted:.4} vs observed {observed:.4}"
    );
    // Higher scores: higher probabilities, and more conversions in fact.
    rows.sort_by(|x, y| x.0.total_cmp(&y.0));
    let half = rows.len() / 2;
    let rate =
        |part: &[(f64, bool)]| part.iter().filter(|r| r.1).count() as f64 / part.len() as f64;
    let (low, high) = rows.split_at(half);
    assert!(rate(high) > rate(low));
    assert!(p(high[0].0) >= p(low[half - 1].0));

    // Every result of `leadscore score` carries it; a model without the table none.
    let scored = leadscore(&[
        "score",
        "--model",
        s(&tuned),
        "--contacts",
        s(&unseen.join("contacts.csv")),
        "--events",
        s(&unseen.join("events.jsonl")),
    ]);
    assert!(scored.status.success(), "{}", stderr(&scored));
    for line in stdout(&scored).lines().take(50) {
        let result: serde_json::Value = serde_json::from_str(line).expect("JSON");
        let prediction = &result["prediction"];
        let probability = prediction["probability"].as_f64().expect("probability");
        assert!((0.0..=1.0).contains(&probability), "{line}");
        assert_eq!(prediction["tuned_at"], tuned_at.as_str());
        assert_eq!(prediction["auc"].as_f64(), Some(auc_written));
        let keys: Vec<&String> = result.as_object().expect("object").keys().collect();
        assert!(keys.contains(&&"route".to_owned()), "{line}");
    }
    let csv = leadscore(&[
        "score",
        "--model",
        s(&tuned),
        "--contacts",
        s(&unseen.join("contacts.csv")),
        "--events",
        s(&unseen.join("events.jsonl")),
        "--format",
        "csv",
    ]);
    let csv = stdout(&csv);
    assert!(
        csv.lines()
            .next()
            .expect("header")
            .ends_with(",probability"),
        "{csv:.300}"
    );
    let plain = leadscore(&[
        "score",
        "--model",
        "examples/b2b.toml",
        "--contacts",
        s(&unseen.join("contacts.csv")),
        "--events",
        s(&unseen.join("events.jsonl")),
    ]);
    assert!(!stdout(&plain).contains("prediction"));
}
