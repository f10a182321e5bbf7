//! `events.jsonl`: valid Segment messages, the documented names, identity stitching.

use std::collections::{HashMap, HashSet};

use crate::common::{by_contact, data, name, secs, url};
use leadscore_generate::Config;

/// The track event names the generator promises (and `examples/b2b.toml` uses).
const TRACK_NAMES: &[&str] = &[
    "Email Delivered",
    "Email Opened",
    "Email Link Clicked",
    "Content Downloaded",
    "Form Submitted",
    "Demo Requested",
    "Webinar Registered",
    "Webinar Attended",
    "Unsubscribed",
    "Sales Accepted",
];

#[test]
fn every_line_is_a_segment_message_with_the_required_fields() {
    let d = data();
    let config = Config::default();
    let (start, end) = (config.start / 1000, config.end / 1000);
    let mut message_ids = HashSet::new();
    for e in &d.events {
        assert!(e.is_object(), "{e}");
        let user = e["userId"].as_str();
        let anon = e["anonymousId"].as_str();
        assert!(user.is_some() || anon.is_some(), "no id: {e}");
        if let Some(u) = user {
            assert!(u.starts_with("c-"), "{e}");
        }
        let ts = e["timestamp"].as_str().expect("timestamp");
        assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");
        let t = secs(ts);
        assert!(t >= start && t < end, "{ts} outside the window");
        let id = e["messageId"].as_str().expect("messageId");
        assert!(
            message_ids.insert(id.to_string()),
            "duplicate messageId {id}"
        );
        match e["type"].as_str() {
            Some("track") => {
                let event = e["event"].as_str().expect("track has an event");
                assert!(TRACK_NAMES.contains(&event), "unexpected event {event}");
                assert!(e["properties"].is_object(), "{e}");
            }
            Some("page") => {
                assert!(e["name"].is_string(), "{e}");
                assert!(url(e).starts_with("https://www.example.com/"), "{e}");
                assert!(e["properties"]["path"].is_string(), "{e}");
            }
            Some("identify") => {
                let traits = e["traits"].as_object().expect("identify has traits");
                assert!(!traits.is_empty());
                assert!(user.is_some(), "identify names the contact: {e}");
            }
            other => panic!("unexpected type {other:?}"),
        }
    }
}

#[test]
fn every_documented_event_kind_occurs() {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for e in &data().events {
        *counts.entry(name(e)).or_default() += 1;
    }
    for n in TRACK_NAMES.iter().chain(&["Page Viewed", "identify"]) {
        assert!(
            counts.get(n).copied().unwrap_or(0) > 0,
            "no {n} in {counts:?}"
        );
    }
    // Mailings are the bulk; demo requests are rare.
    assert!(counts["Email Delivered"] > counts["Email Opened"]);
    assert!(counts["Email Opened"] > counts["Email Link Clicked"]);
    assert!(counts["Demo Requested"] * 20 < counts["Page Viewed"]);
}

#[test]
fn about_fifty_events_per_contact_on_average() {
    let d = data();
    let per = d.events.len() as f64 / d.contacts.len() as f64;
    assert!((40.0..60.0).contains(&per), "{per}");
}

#[test]
fn nearly_every_contact_receives_mailings() {
    let d = data();
    let by = by_contact(&d.events);
    let mailed = d
        .contacts
        .iter()
        .filter(|c| {
            by.get(&c["id"])
                .is_some_and(|es| es.iter().any(|e| name(e) == "Email Delivered"))
        })
        .count();
    assert!(mailed * 100 >= d.contacts.len() * 95, "{mailed}");
}

#[test]
fn opens_and_clicks_follow_a_delivery_of_the_same_campaign() {
    for (id, events) in by_contact(&data().events) {
        let mut delivered = HashSet::new();
        for e in events {
            let campaign = e["properties"]["campaign"].as_str();
            match name(e) {
                "Email Delivered" => {
                    delivered.insert(campaign.expect("campaign"));
                }
                "Email Opened" | "Email Link Clicked" => {
                    let c = campaign.expect("campaign");
                    assert!(
                        delivered.contains(c),
                        "{id}: {c} reacted to before delivery"
                    );
                }
                _ => {}
            }
        }
    }
}

#[test]
fn anonymous_page_views_are_linked_by_a_later_identify() {
    let d = data();
    let emails: HashMap<&str, &str> = d
        .contacts
        .iter()
        .map(|c| (c["id"].as_str(), c["email"].as_str()))
        .collect();
    let mut anon_last: HashMap<&str, i64> = HashMap::new();
    let mut links: HashMap<&str, (&str, i64)> = HashMap::new();
    for e in &d.events {
        let t = secs(e["timestamp"].as_str().unwrap_or(""));
        match (e["userId"].as_str(), e["anonymousId"].as_str()) {
            (None, Some(a)) => {
                assert_eq!(e["type"], "page", "only page views are anonymous");
                let last = anon_last.entry(a).or_insert(t);
                *last = (*last).max(t);
            }
            (Some(u), Some(a)) if e["type"] == "identify" => {
                assert_eq!(e["traits"]["email"].as_str(), emails.get(u).copied(), "{e}");
                links.insert(a, (u, t));
            }
            _ => {}
        }
    }
    assert!(
        anon_last.len() > 50,
        "only {} anonymous visitors",
        anon_last.len()
    );
    for (a, last) in anon_last {
        let (_, linked_at) = links
            .get(a)
            .unwrap_or_else(|| panic!("{a} never identified"));
        assert!(
            *linked_at > last,
            "{a} identified before its anonymous views"
        );
    }
}

#[test]
fn some_identify_calls_change_the_job_title() {
    let changes = data()
        .events
        .iter()
        .filter(|e| e["type"] == "identify" && e["traits"]["job_title"].is_string())
        .count();
    assert!(changes >= 20, "{changes}");
}

#[test]
fn contacts_are_contiguous_but_not_always_in_time_order() {
    let d = data();
    let mut links = HashMap::new();
    for e in &d.events {
        if let (Some(a), Some(u)) = (e["anonymousId"].as_str(), e["userId"].as_str()) {
            links.insert(a, u);
        }
    }
    let mut finished = HashSet::new();
    let mut current = "";
    let mut last_t = i64::MIN;
    let mut inversions = 0;
    for e in &d.events {
        let id = e["userId"]
            .as_str()
            .or_else(|| {
                e["anonymousId"]
                    .as_str()
                    .and_then(|a| links.get(a).copied())
            })
            .expect("linked");
        let t = secs(e["timestamp"].as_str().unwrap_or(""));
        if id != current {
            assert!(finished.insert(current), "{current} continues later");
            current = id;
        } else if t < last_t {
            inversions += 1;
        }
        last_t = t;
    }
    assert!(inversions > 100, "{inversions}");
    assert!(inversions * 20 < d.events.len(), "{inversions}");
}

#[test]
fn machines_open_and_click_within_seconds_of_delivery_independently_of_winning() {
    let d = data();
    let won: HashSet<&str> = d
        .outcomes
        .iter()
        .filter(|o| o.1 == "won")
        .map(|o| o.0.as_str())
        .collect();
    let (mut mailed, mut proxied, mut scanned) = (0usize, 0usize, 0usize);
    let (mut won_proxied, mut won_other) = (0usize, 0usize);
    let (mut flagged, mut unflagged) = (0usize, 0usize);
    for (id, events) in by_contact(&d.events) {
        let mut delivered: HashMap<&str, i64> = HashMap::new();
        let (mut fast_opens, mut fast_clicks) = (0usize, 0usize);
        for e in &events {
            let t = secs(e["timestamp"].as_str().unwrap_or(""));
            let mail = || e["properties"]["message_id"].as_str().expect("message_id");
            match name(e) {
                "Email Delivered" => {
                    delivered.insert(mail(), t);
                }
                "Email Opened" | "Email Link Clicked" => {
                    let at = *delivered
                        .get(mail())
                        .unwrap_or_else(|| panic!("{id}: {e} before its delivery"));
                    let campaign = e["properties"]["campaign"].as_str().expect("campaign");
                    assert!(mail().starts_with(campaign), "{e}");
                    let machine_flag = e["properties"]["machine_open"] == true;
                    match (name(e), t - at) {
                        ("Email Opened", 1..=6) => {
                            fast_opens += 1;
                            if machine_flag {
                                flagged += 1;
                            } else {
                                unflagged += 1;
                            }
                        }
                        ("Email Opened", gap) => {
                            assert!(gap >= 30 && !machine_flag, "{id}: human open {e}");
                        }
                        (_, 1..=2) => fast_clicks += 1,
                        (_, gap) => assert!(gap >= 35, "{id}: human click {gap}s: {e}"),
                    }
                }
                _ => {}
            }
        }
        if delivered.is_empty() {
            continue;
        }
        mailed += 1;
        if fast_opens > 0 {
            proxied += 1;
            // A proxy opens every mail (but those delivered in the window's last seconds).
            assert!(
                fast_opens + 1 >= delivered.len(),
                "{id}: {fast_opens} proxy opens"
            );
            won_proxied += usize::from(won.contains(id.as_str()));
        } else {
            won_other += usize::from(won.contains(id.as_str()));
        }
        scanned += usize::from(fast_clicks > 0);
    }
    let share = |n: usize| n as f64 / mailed as f64;
    assert!((0.13..0.21).contains(&share(proxied)), "{proxied}/{mailed}");
    assert!((0.06..0.14).contains(&share(scanned)), "{scanned}/{mailed}");
    assert!(
        flagged > 0 && unflagged > 0,
        "{flagged} flagged, {unflagged} not"
    );
    // Machines are not a sign of buying: proxied contacts win about as often as others.
    let rate_proxied = won_proxied as f64 / proxied as f64;
    let rate_other = won_other as f64 / (mailed - proxied) as f64;
    assert!(
        (0.5..2.0).contains(&(rate_proxied / rate_other)),
        "won {rate_proxied:.3} with a proxy, {rate_other:.3} without"
    );
}
