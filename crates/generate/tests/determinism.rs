//! Same seed, same bytes; another seed, other data; the summary tells the truth.

use crate::common::files;
use leadscore_generate::{Config, generate};

#[test]
fn same_seed_gives_byte_identical_files() {
    let (a, b) = (files(300, 42), files(300, 42));
    assert_eq!(a.contacts, b.contacts);
    assert_eq!(a.events, b.events);
    assert_eq!(a.outcomes, b.outcomes);
    assert_eq!(a.summary, b.summary);
}

#[test]
fn different_seeds_give_different_files() {
    let (a, b) = (files(300, 1), files(300, 2));
    assert_ne!(a.contacts, b.contacts);
    assert_ne!(a.events, b.events);
}

#[test]
fn summary_counts_what_was_written() {
    let f = files(500, 3);
    assert_eq!(f.summary.contacts, 500);
    assert_eq!(f.contacts.lines().count(), 501);
    assert_eq!(f.summary.events as usize, f.events.lines().count());
    let won = f.outcomes.lines().filter(|l| l.contains(",won,")).count();
    let lost = f.outcomes.lines().filter(|l| l.contains(",lost,")).count();
    assert_eq!(
        (
            f.summary.outcomes_won as usize,
            f.summary.outcomes_lost as usize
        ),
        (won, lost)
    );
    assert_eq!(f.outcomes.lines().count(), 1 + won + lost);
}

#[test]
fn zero_contacts_writes_only_headers() {
    let f = files(0, 1);
    assert_eq!(
        f.contacts.trim_end(),
        "id,email,first_name,last_name,company,job_title,industry,company_size,annual_revenue,country,lead_source,company_id"
    );
    assert_eq!(f.events, "");
    assert_eq!(f.outcomes.trim_end(), "id,outcome,at");
}

#[test]
fn an_empty_window_is_invalid_input() {
    let config = Config {
        start: Config::default().end,
        ..Config::default()
    };
    let err = generate(&config, Vec::new(), Vec::new(), Vec::new()).expect_err("empty window");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn events_per_contact_scales_the_volume() {
    let base = files(300, 5).summary.events as f64;
    let config = Config {
        contacts: 300,
        seed: 5,
        events_per_contact: 100,
        ..Config::default()
    };
    let summary = generate(&config, Vec::new(), Vec::new(), Vec::new()).expect("in memory");
    let ratio = summary.events as f64 / base;
    assert!((1.6..2.4).contains(&ratio), "{ratio}");
}
