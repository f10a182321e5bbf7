//! `contacts.csv` looks like a B2B database: the columns, the mix, the skew.

use std::collections::{HashMap, HashSet};

use crate::common::{by_contact, data, secs};
use leadscore_generate::Config;

#[test]
fn contacts_have_the_documented_columns_and_unique_ids_and_emails() {
    let d = data();
    let header = d.files.contacts.lines().next().expect("header");
    assert_eq!(
        header,
        "id,email,first_name,last_name,company,job_title,industry,company_size,annual_revenue,country,lead_source,company_id"
    );
    let mut emails = HashSet::new();
    for (i, c) in d.contacts.iter().enumerate() {
        assert_eq!(c["id"], format!("c-{}", i + 1));
        assert!(
            c["email"].contains('@') && c["email"].is_ascii(),
            "{}",
            c["email"]
        );
        assert!(
            emails.insert(c["email"].to_lowercase()),
            "duplicate {}",
            c["email"]
        );
        assert!(!c["first_name"].is_empty() && !c["last_name"].is_empty());
        assert!(!c["lead_source"].is_empty());
        for numeric in ["company_size", "annual_revenue"] {
            let v = &c[numeric];
            assert!(v.is_empty() || v.parse::<u64>().is_ok(), "{numeric} = {v}");
        }
    }
}

#[test]
fn email_domains_mix_companies_free_mail_competitors_and_own() {
    let d = data();
    let n = d.contacts.len() as f64;
    let domain =
        |c: &HashMap<String, String>| c["email"].rsplit('@').next().unwrap_or("").to_string();
    let company = d
        .contacts
        .iter()
        .filter(|c| domain(c).ends_with(".example"))
        .count() as f64;
    let free = [
        "gmail.com",
        "gmx.de",
        "web.de",
        "yahoo.com",
        "outlook.com",
        "t-online.de",
        "hotmail.com",
        "icloud.com",
        "bluewin.ch",
        "gmx.at",
    ];
    let free_mail = d
        .contacts
        .iter()
        .filter(|c| free.contains(&domain(c).as_str()))
        .count() as f64;
    let own = d
        .contacts
        .iter()
        .filter(|c| domain(c) == "example.com")
        .count();
    assert!(company / n > 0.8, "{company}");
    assert!((0.05..0.15).contains(&(free_mail / n)), "{free_mail}");
    assert!(own > 0);
    assert!(company + free_mail + own as f64 == n, "unexpected domains");
}

#[test]
fn most_contacts_are_in_the_sales_area_some_outside() {
    let d = data();
    let n = d.contacts.len() as f64;
    let dach = d
        .contacts
        .iter()
        .filter(|c| ["DE", "AT", "CH"].contains(&c["country"].as_str()))
        .count() as f64;
    let outside = d
        .contacts
        .iter()
        .filter(|c| {
            !c["country"].is_empty() && !["DE", "AT", "CH"].contains(&c["country"].as_str())
        })
        .count() as f64;
    assert!((0.6..0.8).contains(&(dach / n)), "{dach}");
    assert!((0.15..0.35).contains(&(outside / n)), "{outside}");
}

#[test]
fn decision_makers_are_a_minority_and_juniors_exist() {
    let d = data();
    let n = d.contacts.len() as f64;
    let dm = regex::Regex::new(r"(?i)\b(ceo|cto|cfo|coo|cmo|chief|owner|founder|managing director|geschäftsführer(in)?|head of|director|vp)\b").expect("regex");
    let junior = regex::Regex::new(r"(?i)\b(intern|assistant|student|werkstudent|trainee)\b")
        .expect("regex");
    let dms = d
        .contacts
        .iter()
        .filter(|c| dm.is_match(&c["job_title"]))
        .count() as f64;
    let juniors = d
        .contacts
        .iter()
        .filter(|c| junior.is_match(&c["job_title"]))
        .count() as f64;
    assert!((0.10..0.30).contains(&(dms / n)), "{dms}");
    assert!((0.05..0.25).contains(&(juniors / n)), "{juniors}");
    let missing = d
        .contacts
        .iter()
        .filter(|c| c["job_title"].is_empty())
        .count();
    assert!(missing > 0, "some titles are unknown");
}

#[test]
fn company_sizes_are_heavy_tailed() {
    let d = data();
    let mut sizes: Vec<u64> = d
        .contacts
        .iter()
        .filter_map(|c| c["company_size"].parse().ok())
        .collect();
    sizes.sort_unstable();
    let median = sizes[sizes.len() / 2];
    assert!((20..200).contains(&median), "{median}");
    assert!(
        sizes[sizes.len() - 1] > 10_000,
        "{}",
        sizes[sizes.len() - 1]
    );
    let band =
        sizes.iter().filter(|s| (200..5000).contains(*s)).count() as f64 / sizes.len() as f64;
    assert!((0.1..0.4).contains(&band), "{band}");
}

#[test]
fn contacts_of_one_company_agree_on_its_attributes() {
    let d = data();
    let mut seen: HashMap<String, (String, String)> = HashMap::new();
    let mut shared = 0;
    for c in &d.contacts {
        let domain = c["email"].rsplit('@').next().unwrap_or("").to_string();
        if !domain.ends_with(".example") || c["industry"].is_empty() || c["country"].is_empty() {
            continue;
        }
        let facts = (c["industry"].clone(), c["country"].clone());
        match seen.get(&domain) {
            Some(prev) => {
                shared += 1;
                assert_eq!(prev, &facts, "{domain}");
            }
            None => {
                seen.insert(domain, facts);
            }
        }
    }
    assert!(shared > 100, "companies have several contacts: {shared}");
}

#[test]
fn behaviour_spans_the_whole_window() {
    let d = data();
    let config = Config::default();
    let (start, end) = (config.start / 1000, config.end / 1000);
    let month = 30 * 86_400;
    let times: Vec<i64> = d
        .events
        .iter()
        .map(|e| secs(e["timestamp"].as_str().unwrap_or("")))
        .collect();
    assert!(times.iter().any(|t| *t < start + month));
    assert!(times.iter().any(|t| *t >= end - month));
    assert!(by_contact(&d.events).len() > d.contacts.len() * 9 / 10);
}
