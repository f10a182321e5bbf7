//! Accounts and buying groups: contacts share a `company_id` and a corporate domain, and
//! in some accounts several members engage together (the planted buying groups), which
//! is why such accounts convert more.

use std::collections::{HashMap, HashSet};

use crate::common::{by_contact, data, name, secs, url};

/// Free-mail providers of the generator (the model's `free_mail` list holds them all).
fn is_free_mail(domain: &str) -> bool {
    !domain.ends_with(".example") && domain != "example.com"
}

#[test]
fn contacts_sharing_a_company_id_share_one_corporate_domain() {
    let d = data();
    let mut domains: HashMap<&str, HashSet<&str>> = HashMap::new();
    let (mut corporate, mut corporate_with_id, mut free, mut free_with_id) = (0, 0, 0, 0);
    for c in &d.contacts {
        let domain = c["email"].rsplit('@').next().unwrap_or("");
        let id = c["company_id"].as_str();
        if is_free_mail(domain) {
            free += 1;
            free_with_id += usize::from(!id.is_empty());
            continue;
        }
        corporate += 1;
        if !id.is_empty() {
            corporate_with_id += 1;
            assert!(id.starts_with("acct-"), "{id}");
            domains.entry(id).or_default().insert(domain);
        }
    }
    for (id, set) in &domains {
        assert_eq!(set.len(), 1, "{id} spans {set:?}");
    }
    // One domain per id and one id per domain.
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for (id, set) in &domains {
        for domain in set {
            assert_eq!(*owner.entry(domain).or_insert(id), *id, "{domain}");
        }
    }
    let share = corporate_with_id as f64 / corporate as f64;
    assert!((0.9..0.99).contains(&share), "{share}");
    let share = free_with_id as f64 / free as f64;
    assert!((0.15..0.45).contains(&share), "{share}");
    // Accounts of several contacts are the rule, not the exception.
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    for c in &d.contacts {
        if !c["company_id"].is_empty() {
            *sizes.entry(c["company_id"].as_str()).or_default() += 1;
        }
    }
    let in_groups = sizes.values().filter(|n| **n >= 3).sum::<usize>();
    assert!(
        in_groups as f64 / corporate_with_id as f64 > 0.5,
        "{in_groups}"
    );
}

/// When a contact's buying interest (pricing views and demo requests) centres: the
/// median time of those events, in Unix seconds; `None` without any.
fn interest_centre(events: &[&serde_json::Value]) -> Option<i64> {
    let times: Vec<i64> = events
        .iter()
        .filter(|e| {
            let n = name(e);
            n == "Demo Requested" || (n == "Page Viewed" && url(e).contains("/pricing"))
        })
        .map(|e| secs(e["timestamp"].as_str().unwrap_or("")))
        .collect();
    // `by_contact` sorts each contact's events by time.
    times.get(times.len() / 2).copied()
}

/// Statistics of accounts of 2 to 8 contacts (in the very large ones coincidences are
/// everywhere), each member given as its interest centre and whether it was won: the
/// share of pairs of interested colleagues whose interest centres are within 3 weeks,
/// and the won rates of contacts in accounts with such a pair and of the others.
fn together(accounts: &[Vec<(Option<i64>, bool)>]) -> (f64, usize, f64, f64) {
    const WEEKS_3: i64 = 21 * 86_400;
    let (mut close, mut pairs) = (0usize, 0usize);
    let (mut group_won, mut group_n, mut other_won, mut other_n) = (0, 0, 0, 0);
    for members in accounts.iter().filter(|m| (2..=8).contains(&m.len())) {
        let times: Vec<i64> = members.iter().filter_map(|(t, _)| *t).collect();
        let mut together = false;
        for (i, a) in times.iter().enumerate() {
            for b in &times[i + 1..] {
                pairs += 1;
                if (a - b).abs() <= WEEKS_3 {
                    close += 1;
                    together = true;
                }
            }
        }
        for (_, won) in members {
            if together {
                group_n += 1;
                group_won += usize::from(*won);
            } else {
                other_n += 1;
                other_won += usize::from(*won);
            }
        }
    }
    let rate = |k: usize, n: usize| k as f64 / n.max(1) as f64;
    (
        rate(close, pairs),
        pairs,
        rate(group_won, group_n),
        rate(other_won, other_n),
    )
}

#[test]
fn buying_groups_engage_together_and_their_accounts_convert_more() {
    let d = data();
    let events = by_contact(&d.events);
    let won: HashSet<&str> = d
        .outcomes
        .iter()
        .filter(|(_, o, _)| o == "won")
        .map(|(id, _, _)| id.as_str())
        .collect();
    let mut by_id: HashMap<&str, Vec<(Option<i64>, bool)>> = HashMap::new();
    for c in &d.contacts {
        if c["company_id"].is_empty() {
            continue;
        }
        let id = c["id"].as_str();
        let centre = events.get(id).and_then(|list| interest_centre(list));
        by_id
            .entry(c["company_id"].as_str())
            .or_default()
            .push((centre, won.contains(id)));
    }
    let mut keys: Vec<&str> = by_id.keys().copied().collect();
    keys.sort_unstable();
    let accounts: Vec<Vec<(Option<i64>, bool)>> = keys.iter().map(|k| by_id[k].clone()).collect();
    // The same contacts dealt into accounts of the same sizes at random: what
    // independent colleagues would look like.
    let mut pool: Vec<(Option<i64>, bool)> = accounts.iter().flatten().copied().collect();
    let mut seed = 7u64;
    for i in (1..pool.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        pool.swap(i, (seed >> 33) as usize % (i + 1));
    }
    let mut dealt = Vec::new();
    let mut rest = pool.as_slice();
    for account in &accounts {
        let (head, tail) = rest.split_at(account.len());
        dealt.push(head.to_vec());
        rest = tail;
    }
    let (close, pairs, group_won, other_won) = together(&accounts);
    let (close_random, _, group_won_random, other_won_random) = together(&dealt);
    eprintln!(
        "pairs within 3 weeks {close:.3} of {pairs} (random accounts {close_random:.3}); won in accounts with such a pair {group_won:.3}, elsewhere {other_won:.3} (random accounts {group_won_random:.3}, {other_won_random:.3})"
    );
    assert!(pairs > 200, "{pairs}");
    assert!(close > close_random + 0.05, "{close} vs {close_random}");
    assert!(group_won / other_won > group_won_random / other_won_random);
}
