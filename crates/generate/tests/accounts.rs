//! Accounts and buying groups: contacts share a `company_id` and a corporate domain, and
//! in some accounts several members engage together (the planted buying groups), which
//! is why such accounts convert more.

use std::collections::{HashMap, HashSet};

use crate::common::{by_contact, data, name, url};

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

/// Whether a contact shows buying interest: a demo request, or two pricing views.
fn engaged(events: &[&serde_json::Value]) -> bool {
    let pricing = events
        .iter()
        .filter(|e| name(e) == "Page Viewed" && url(e).contains("/pricing"))
        .count();
    pricing >= 2 || events.iter().any(|e| name(e) == "Demo Requested")
}

/// Over accounts of 2 to 8 contacts (in the very large ones some colleague always
/// engages), each member given as (engaged, won): the share of colleague pairs in which
/// both engaged, and the won rates of contacts in accounts where two or more engaged
/// (a buying group) and of the others.
fn together(accounts: &[Vec<(bool, bool)>]) -> (f64, usize, f64, f64) {
    let (mut both, mut pairs) = (0usize, 0usize);
    let (mut group_won, mut group_n, mut other_won, mut other_n) = (0, 0, 0, 0);
    for members in accounts.iter().filter(|m| (2..=8).contains(&m.len())) {
        let n = members.len();
        let k = members.iter().filter(|(e, _)| *e).count();
        pairs += n * (n - 1) / 2;
        both += k * k.saturating_sub(1) / 2;
        for (_, won) in members {
            if k >= 2 {
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
        rate(both, pairs),
        pairs,
        rate(group_won, group_n),
        rate(other_won, other_n),
    )
}

#[test]
fn colleagues_engage_together_and_buying_group_accounts_convert_more() {
    let d = data();
    let events = by_contact(&d.events);
    let won: HashSet<&str> = d
        .outcomes
        .iter()
        .filter(|(_, o, _)| o == "won")
        .map(|(id, _, _)| id.as_str())
        .collect();
    let mut by_id: HashMap<&str, Vec<(bool, bool)>> = HashMap::new();
    for c in &d.contacts {
        if c["company_id"].is_empty() {
            continue;
        }
        let id = c["id"].as_str();
        let e = events.get(id).is_some_and(|list| engaged(list));
        by_id
            .entry(c["company_id"].as_str())
            .or_default()
            .push((e, won.contains(id)));
    }
    let mut keys: Vec<&str> = by_id.keys().copied().collect();
    keys.sort_unstable();
    let accounts: Vec<Vec<(bool, bool)>> = keys.iter().map(|k| by_id[k].clone()).collect();
    // The same contacts dealt into accounts of the same sizes at random: what
    // independent colleagues would look like.
    let mut pool: Vec<(bool, bool)> = accounts.iter().flatten().copied().collect();
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
    let (both, pairs, group_won, other_won) = together(&accounts);
    let (both_random, _, group_won_random, other_won_random) = together(&dealt);
    eprintln!(
        "pairs both engaged {both:.3} of {pairs} (random accounts {both_random:.3}); won in buying groups {group_won:.3}, elsewhere {other_won:.3} (random accounts {group_won_random:.3}, {other_won_random:.3})"
    );
    assert!(pairs > 500, "{pairs}");
    // Colleagues engage together: both members of a pair far more often than the same
    // contacts dealt into random accounts (1.0 would be independence).
    assert!(both > 1.15 * both_random, "{both} vs {both_random}");
    // And accounts where two or more engaged win more than the others.
    assert!(group_won > 1.5 * other_won, "{group_won} vs {other_won}");
}
