//! `outcomes.csv`: won or lost, after the behaviour that led there, at a plausible rate.

use std::collections::{HashMap, HashSet};

use crate::common::{by_contact, data, name, secs, url};

#[test]
fn outcomes_are_won_or_lost_for_known_contacts() {
    let d = data();
    assert!(d.files.outcomes.starts_with("id,outcome,at\n"));
    let ids: HashSet<&str> = d.contacts.iter().map(|c| c["id"].as_str()).collect();
    let mut seen = HashSet::new();
    for (id, outcome, _) in &d.outcomes {
        assert!(ids.contains(id.as_str()), "unknown contact {id}");
        assert!(outcome == "won" || outcome == "lost", "{outcome}");
        assert!(seen.insert(id), "{id} has two outcomes");
    }
}

#[test]
fn outcomes_come_after_the_behaviour_that_led_to_them() {
    let d = data();
    let by = by_contact(&d.events);
    let mut accepted_before = 0;
    for (id, _, at) in &d.outcomes {
        let events = &by[id];
        let first = secs(events[0]["timestamp"].as_str().unwrap_or(""));
        assert!(*at > first, "{id}: outcome before its first event");
        for e in events {
            let t = secs(e["timestamp"].as_str().unwrap_or(""));
            // Planted pricing views are `page` events; a link scanner may click a
            // pricing link in a mailing at any time, and that is no behaviour.
            let planted = matches!(name(e), "Demo Requested" | "Webinar Attended")
                || (name(e) == "Page Viewed" && url(e).contains("/pricing"));
            assert!(!planted || t < *at, "{id}: {} after the outcome", name(e));
            if name(e) == "Sales Accepted" {
                assert!(t < *at, "{id}: accepted after the outcome");
                accepted_before += 1;
            }
        }
    }
    assert!(
        accepted_before * 10 >= d.outcomes.len() * 9,
        "{accepted_before} of {}",
        d.outcomes.len()
    );
}

#[test]
fn conversion_rate_is_between_three_and_eight_percent() {
    let d = data();
    let won = d.outcomes.iter().filter(|o| o.1 == "won").count() as f64 / d.contacts.len() as f64;
    assert!((0.03..=0.08).contains(&won), "{won}");
    let lost = d.outcomes.iter().filter(|o| o.1 == "lost").count();
    assert!(lost > 0);
}

#[test]
fn converters_request_demos_far_more_often() {
    let d = data();
    let by = by_contact(&d.events);
    let won: HashSet<&str> = d
        .outcomes
        .iter()
        .filter(|o| o.1 == "won")
        .map(|o| o.0.as_str())
        .collect();
    let demo = |id: &str| {
        by.get(id)
            .is_some_and(|es| es.iter().any(|e| name(e) == "Demo Requested"))
    };
    let (mut w, mut w_demo, mut n, mut n_demo) = (0, 0, 0, 0);
    for c in &d.contacts {
        let id = c["id"].as_str();
        if won.contains(id) {
            w += 1;
            w_demo += usize::from(demo(id));
        } else {
            n += 1;
            n_demo += usize::from(demo(id));
        }
    }
    let (pw, pn) = (w_demo as f64 / w as f64, n_demo as f64 / n as f64);
    // Planted: about 25 % of winners requested a demo, about 6 % of the rest.
    assert!(pw > 2.0 * pn, "won {pw:.3} vs not won {pn:.3}");
    assert!(pw > 0.12, "{pw}");
}

#[test]
fn competitors_and_own_employees_never_convert() {
    let d = data();
    let outcome: HashMap<&str, &str> = d
        .outcomes
        .iter()
        .map(|o| (o.0.as_str(), o.1.as_str()))
        .collect();
    let mut knocked_out = 0;
    for c in &d.contacts {
        let domain = c["email"].rsplit('@').next().unwrap_or("");
        if domain == "example.com"
            || [
                "rival-industries.example",
                "scoreforge.example",
                "funnelworks.example",
            ]
            .contains(&domain)
        {
            knocked_out += 1;
            assert_eq!(outcome.get(c["id"].as_str()), None, "{}", c["id"]);
        }
    }
    assert!(knocked_out > 0);
}
