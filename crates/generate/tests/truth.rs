//! The planted truth: its table, the example model's agreement with the data, and
//! (ignored by default, slow) a logistic regression on the files that recovers it.

use std::collections::HashSet;

use crate::common::{by_contact, csv_rows, data, files, name, url};
use leadscore_generate::planted_truth;

/// `examples/b2b.toml`, parsed.
fn model() -> toml::Table {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/b2b.toml");
    let text = std::fs::read_to_string(path).expect("examples/b2b.toml");
    text.parse().expect("valid TOML")
}

/// A `[lists]` entry of the model, lower-cased.
fn list(model: &toml::Table, name: &str) -> HashSet<String> {
    model["lists"][name]
        .as_array()
        .unwrap_or_else(|| panic!("list {name}"))
        .iter()
        .map(|v| v.as_str().expect("string").to_lowercase())
        .collect()
}

/// The `when` regex of a fit rule.
fn fit_regex(model: &toml::Table, id: &str) -> regex::Regex {
    let rule = model["fit"]
        .as_array()
        .expect("fit rules")
        .iter()
        .find(|r| r["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("fit rule {id}"));
    regex::Regex::new(rule["when"]["matches"].as_str().expect("matches")).expect("regex")
}

#[test]
fn planted_truth_lists_the_intercept_first_and_each_feature_once() {
    let truth = planted_truth();
    assert_eq!(truth[0].0, "intercept");
    let names: HashSet<&str> = truth.iter().map(|t| t.0).collect();
    assert_eq!(names.len(), truth.len());
    let effect = |n: &str| truth.iter().find(|t| t.0 == n).map(|t| t.1).expect(n);
    for signal in [
        "demo_requested",
        "pricing_page_views",
        "webinar_attended",
        "decision_maker",
        "target_industry",
        "company_size_200_to_5000",
    ] {
        assert!(effect(signal) > 0.0, "{signal}");
    }
    for penalty in ["free_mail", "outside_sales_area"] {
        assert!(effect(penalty) < 0.0, "{penalty}");
    }
    for noise in ["blog_page_views", "email_opens", "lead_source"] {
        assert_eq!(effect(noise), 0.0, "{noise}");
    }
}

#[test]
fn the_example_model_describes_the_generated_data() {
    let m = model();
    let d = data();
    let free_mail = list(&m, "free_mail");
    let competitors = list(&m, "competitors");
    let own = list(&m, "own_domains");
    let sales_area = list(&m, "sales_area");
    let targets = list(&m, "target_industries");
    let mut seen_competitor = false;
    for c in &d.contacts {
        let domain = c["email"].rsplit('@').next().unwrap_or("").to_lowercase();
        let known =
            domain.ends_with(".example") || free_mail.contains(&domain) || own.contains(&domain);
        assert!(known, "domain {domain} is in no list");
        seen_competitor |= competitors.contains(&domain);
    }
    assert!(seen_competitor);
    let countries: HashSet<String> = d
        .contacts
        .iter()
        .map(|c| c["country"].to_lowercase())
        .collect();
    assert!(sales_area.iter().all(|c| countries.contains(c)));
    let industries: HashSet<String> = d
        .contacts
        .iter()
        .map(|c| c["industry"].to_lowercase())
        .collect();
    assert!(
        targets.iter().all(|i| industries.contains(i)),
        "{targets:?}"
    );

    // The title rules split the generated titles as the generator means them.
    let dm = fit_regex(&m, "decision-maker");
    let junior = fit_regex(&m, "non-decision-maker");
    for c in &d.contacts {
        let t = &c["job_title"];
        assert!(!(dm.is_match(t) && junior.is_match(t)), "{t} is both");
    }
    for t in [
        "CEO",
        "Head of Marketing",
        "Geschäftsführerin",
        "VP Sales",
        "Director of Operations",
    ] {
        assert!(dm.is_match(t), "{t}");
    }
    for t in [
        "Marketing Manager",
        "Software Engineer",
        "Product Manager",
        "Intern",
        "Student",
    ] {
        assert!(!dm.is_match(t), "{t}");
    }
    for t in [
        "Intern",
        "Working Student",
        "Werkstudent",
        "Sales Assistant",
        "Trainee",
    ] {
        assert!(junior.is_match(t), "{t}");
    }

    // Page globs classify every generated URL the way the generator does.
    let by_kind = |prefix: &str| {
        let needle = format!("example.com{prefix}");
        d.events
            .iter()
            .filter(|e| name(e) == "Page Viewed" && url(e).contains(&needle))
            .count()
    };
    assert!(by_kind("/pricing") > 0 && by_kind("/product") > 0 && by_kind("/blog/") > 0);
    for e in d.events.iter().filter(|e| name(e) == "Page Viewed") {
        let path = e["properties"]["path"].as_str().expect("path");
        assert_eq!(
            url(e).contains("/pricing"),
            path.starts_with("/pricing"),
            "{}",
            url(e)
        );
        assert_eq!(
            url(e).contains("/product"),
            path.starts_with("/product"),
            "{}",
            url(e)
        );
    }
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for i in 0..n {
        let p = (i..n)
            .max_by(|x, y| a[*x][i].abs().total_cmp(&a[*y][i].abs()))
            .unwrap_or(i);
        a.swap(i, p);
        b.swap(i, p);
        let pivot = a[i].clone();
        for r in i + 1..n {
            let f = a[r][i] / pivot[i];
            for (cell, p) in a[r][i..].iter_mut().zip(&pivot[i..]) {
                *cell -= f * p;
            }
            b[r] -= f * b[i];
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|c| a[i][c] * x[c]).sum();
        x[i] = (b[i] - s) / a[i][i];
    }
    x
}

/// Fits a logistic regression on features read off the files, noise features included,
/// and checks that the planted effects come back and the noise gets about zero.
/// The log-likelihood of a logistic model with coefficients `beta`.
fn log_likelihood(xs: &[Vec<f64>], ys: &[f64], beta: &[f64]) -> f64 {
    xs.iter()
        .zip(ys)
        .map(|(x, y)| {
            let z: f64 = x.iter().zip(beta).map(|(a, b)| a * b).sum();
            // log p = -log(1 + e^-z), log(1 - p) = -log(1 + e^z), computed stably.
            let softplus = |t: f64| if t > 30.0 { t } else { t.exp().ln_1p() };
            if *y > 0.0 {
                -softplus(-z)
            } else {
                -softplus(z)
            }
        })
        .sum()
}

/// Slow in debug builds: `cargo test -p leadscore-generate --release -- --ignored`.
#[test]
#[ignore = "slow: generates and parses 40,000 contacts"]
fn logistic_regression_on_the_files_recovers_the_planted_effects() {
    let f = files(40_000, 11);
    let contacts = csv_rows(&f.contacts);
    let events: Vec<serde_json::Value> = f
        .events
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let by = by_contact(&events);
    let won: HashSet<String> = csv_rows(&f.outcomes)
        .into_iter()
        .filter(|r| r["outcome"] == "won")
        .map(|r| r["id"].clone())
        .collect();
    let m = model();
    let dm = fit_regex(&m, "decision-maker");
    let free_mail = list(&m, "free_mail");
    let knocked_out: HashSet<String> = list(&m, "competitors")
        .union(&list(&m, "own_domains"))
        .cloned()
        .collect();
    let names = [
        "intercept",
        "demo_requested",
        "pricing_page_views",
        "webinar_attended",
        "decision_maker",
        "target_industry",
        "company_size_200_to_5000",
        "free_mail",
        "outside_sales_area",
        "blog_page_views",
        "email_opens",
        "email_clicks",
        "content_downloads",
    ];
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for c in &contacts {
        let domain = c["email"].rsplit('@').next().unwrap_or("").to_lowercase();
        if knocked_out.contains(&domain) {
            continue;
        }
        let empty = Vec::new();
        let es = by.get(&c["id"]).unwrap_or(&empty);
        let count =
            |p: &dyn Fn(&serde_json::Value) -> bool| es.iter().filter(|e| p(e)).count() as f64;
        let mut title = c["job_title"].clone();
        for e in es {
            if let Some(t) = e["traits"]["job_title"].as_str() {
                title = t.to_string();
            }
        }
        let size: Option<u64> = c["company_size"].parse().ok();
        let x = vec![
            1.0,
            f64::from(count(&|e| name(e) == "Demo Requested") > 0.0),
            // `page` events only, as documented: clicks on pricing links (some of them a
            // link scanner's) are not pricing views.
            count(&|e| name(e) == "Page Viewed" && url(e).contains("/pricing")).min(3.0),
            f64::from(count(&|e| name(e) == "Webinar Attended") > 0.0),
            f64::from(dm.is_match(&title)),
            f64::from(
                [
                    "Software",
                    "Manufacturing",
                    "Financial Services",
                    "Logistics",
                ]
                .contains(&c["industry"].as_str()),
            ),
            f64::from(size.is_some_and(|s| (200..5000).contains(&s))),
            f64::from(free_mail.contains(&domain)),
            f64::from(
                !c["country"].is_empty() && !["DE", "AT", "CH"].contains(&c["country"].as_str()),
            ),
            count(&|e| url(e).contains("/blog/")).min(10.0) / 3.0,
            count(&|e| name(e) == "Email Opened").min(20.0) / 6.0,
            count(&|e| name(e) == "Email Link Clicked").min(5.0) / 2.0,
            count(&|e| name(e) == "Content Downloaded").min(3.0),
        ];
        xs.push(x);
        ys.push(f64::from(won.contains(&c["id"])));
    }
    let k = names.len();
    let mut beta = vec![0.0; k];
    beta[0] = -3.0;
    for _ in 0..12 {
        let mut grad = vec![0.0; k];
        let mut hess = vec![vec![0.0; k]; k];
        for (x, y) in xs.iter().zip(&ys) {
            let z: f64 = x.iter().zip(&beta).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            for i in 0..k {
                grad[i] += (y - p) * x[i];
                for j in 0..k {
                    hess[i][j] += p * (1.0 - p) * x[i] * x[j];
                }
            }
        }
        let step = solve(hess, grad);
        // Damped Newton: halve a step that does not raise the likelihood (a full step
        // can overshoot from the starting point and diverge).
        let mut scale = 1.0;
        let before = log_likelihood(&xs, &ys, &beta);
        loop {
            let trial: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b + scale * s).collect();
            let after = log_likelihood(&xs, &ys, &trial);
            if after >= before || scale < 1e-3 {
                beta = trial;
                break;
            }
            scale /= 2.0;
        }
    }
    let truth = planted_truth();
    for (n, b) in names.iter().zip(&beta) {
        let expected = truth
            .iter()
            .find(|t| t.0 == *n)
            .map(|t| t.1)
            .expect("in the truth");
        eprintln!("{n:28} fitted {b:7.3}  planted {expected:5.2}");
        let tolerance = if *n == "intercept" { 0.4 } else { 0.3 };
        assert!(
            (b - expected).abs() < tolerance,
            "{n}: fitted {b:.3}, planted {expected}"
        );
    }
}
