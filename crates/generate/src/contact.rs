//! Who a contact is: person, company and the attributes written to `contacts.csv`.
//!
//! Companies are numbered; company `k`'s name, domain, industry, size, revenue and
//! country come from its own random stream, so every contact of a company agrees on
//! them. Contacts pick companies with a heavy skew (a few accounts have hundreds of
//! contacts, most have a handful). Names and e-mail addresses are unique by
//! construction: contact `i` gets a (first name, last name, round) triple through a
//! bijection, and the round becomes a middle initial or a number in the address.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::rng::{chance, lognormal, normal, pick_weighted};
use crate::tables::{
    ACADEMIC_TITLES, COMPETITORS, COUNTRIES, EDUCATION, FIRST_NAMES, FREE_MAIL, INDUSTRIES,
    LAST_NAMES, LEAD_SOURCES, NAME_MID, NAME_PRE, OWN_COMPANY, Role, TAILS, TITLES,
};

/// Where the contact's e-mail address lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mailbox {
    /// At the company's own domain.
    Company,
    /// At a free-mail provider (gmail.com, gmx.de, ...).
    FreeMail,
    /// At a competitor (disqualified in the model; never converts).
    Competitor,
    /// At the vendor itself (own employee; disqualified; never converts).
    Own,
}

/// A company.
#[derive(Debug, Clone)]
pub(crate) struct Company {
    /// Display name with legal form.
    pub name: String,
    /// E-mail domain (`.example` TLD, or the fixed competitor / own domains).
    pub domain: String,
    /// Index into [`INDUSTRIES`].
    pub industry: usize,
    /// Employees.
    pub size: u32,
    /// Annual revenue in EUR.
    pub revenue: u64,
    /// Index into [`COUNTRIES`].
    pub country: usize,
    /// The CRM's account id (`company_id` column): `acct-<k + 1>`, or the fixed
    /// competitor / own company's.
    pub id: String,
    /// The company's share of its contacts' hidden interest (standard normal; see
    /// [`SHARED_INTEREST`]). Above [`BUYING_GROUP_FACTOR`] a buying group is at work.
    pub factor: f64,
    /// When its buying group is most active, as a fraction of the history window: its
    /// contacts' buying episodes cluster around it.
    pub buying_at: f64,
}

/// The share of the variance of a contact's hidden interest that is its company's:
/// colleagues are interested together, while every contact's interest stays standard
/// normal (so nothing else about the data moves).
pub(crate) const SHARED_INTEREST: f64 = 0.5;
/// The company factor above which a buying group is at work (the top fifth of
/// companies): its contacts' buying episodes fall in the same days.
pub(crate) const BUYING_GROUP_FACTOR: f64 = 0.8416;

/// A contact as written to `contacts.csv` (a `None` is an empty cell), plus the hidden
/// facts the behaviour model needs.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    /// `c-<n>`, 1-based.
    pub id: String,
    /// E-mail address (unique).
    pub email: String,
    /// Index into [`FIRST_NAMES`].
    pub first: usize,
    /// Index into [`LAST_NAMES`].
    pub last: usize,
    /// `company` column.
    pub company: Option<String>,
    /// `job_title` column: index into [`TITLES`].
    pub title: Option<usize>,
    /// `industry` column: index into [`INDUSTRIES`].
    pub industry: Option<usize>,
    /// `company_size` column.
    pub company_size: Option<u32>,
    /// `annual_revenue` column (EUR).
    pub annual_revenue: Option<u64>,
    /// `country` column: index into [`COUNTRIES`].
    pub country: Option<usize>,
    /// `lead_source` column: index into [`LEAD_SOURCES`]. Pure noise.
    pub lead_source: usize,
    /// Kind of mailbox.
    pub mailbox: Mailbox,
    /// `company_id` column: the company's account id, known for 95 % of corporate
    /// mailboxes and 30 % of free-mail sign-ups (the CRM enriched them).
    pub company_id: Option<String>,
    /// The company's share of the contact's interest (hidden; `None` at competitors
    /// and the vendor itself).
    pub company_factor: Option<f64>,
    /// When the contact's company's buying group is most active (a fraction of the
    /// history window), if it has one (hidden).
    pub buying_group: Option<f64>,
}

/// `gcd(a, b)`.
fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A multiplier near `hint` coprime with `n`, so `x -> x * step mod n` is a bijection.
fn coprime_step(n: u64, hint: u64) -> u64 {
    let mut step = hint;
    while gcd(step, n) != 1 {
        step += 1;
    }
    step
}

/// Rounds to three significant digits (CRM revenue figures are estimates).
fn round3(v: f64) -> u64 {
    if v < 1000.0 {
        return v.round().max(0.0) as u64;
    }
    let mag = 10f64.powi(v.log10().floor() as i32 - 2);
    ((v / mag).round() * mag) as u64
}

/// Company `k` from its own random stream.
pub(crate) fn company(k: u64, rng: &mut ChaCha8Rng) -> Company {
    let n = (NAME_PRE.len() * NAME_MID.len() * TAILS.len()) as u64;
    let j = (k % n * coprime_step(n, 7919) + 1234) % n;
    let round = k / n;
    let pre = (j % NAME_PRE.len() as u64) as usize;
    let mid = (j / NAME_PRE.len() as u64 % NAME_MID.len() as u64) as usize;
    let tail = (j / (NAME_PRE.len() * NAME_MID.len()) as u64) as usize;
    let (tail_word, tail_industry) = TAILS[tail];

    let industry = match tail_industry {
        Some(i) if chance(rng, 0.9) => i,
        _ => pick_weighted(rng, INDUSTRIES.iter().map(|i| i.weight)),
    };
    let country = pick_weighted(rng, COUNTRIES.iter().map(|c| c.weight));
    let base = format!("{}{}", NAME_PRE[pre].0, NAME_MID[mid]);
    let name = if industry == EDUCATION {
        format!("{base} {tail_word}")
    } else {
        let legal = COUNTRIES[country].legal;
        format!(
            "{base} {tail_word} {}",
            legal[rng.random_range(0..legal.len())]
        )
    };
    let mut domain = format!(
        "{}{}-{}",
        NAME_PRE[pre].1,
        NAME_MID[mid],
        tail_word.to_lowercase()
    );
    if round > 0 {
        domain.push('-');
        domain.push_str(&(round + 1).to_string());
    }
    domain.push_str(".example");

    // Heavy-tailed headcount: median ~60, a long tail into the hundred thousands.
    let median = if industry == EDUCATION { 600.0 } else { 60.0 };
    let size = lognormal(rng, median, 1.7).clamp(1.0, 250_000.0).round() as u32;
    let per_head = lognormal(rng, 160_000.0, 0.5);
    let revenue = round3(f64::from(size) * per_head);
    // Drawn last, so every other attribute of the company is what it was before
    // buying groups existed.
    let factor = normal(rng);
    let buying_at: f64 = rng.random();
    Company {
        name,
        domain,
        industry,
        size,
        revenue,
        country,
        id: format!("acct-{}", k + 1),
        factor,
        buying_at,
    }
}

/// The fixed company of a competitor or of the vendor itself.
fn special_company(name: &str, domain: &str, size: u32, rng: &mut ChaCha8Rng) -> Company {
    Company {
        name: name.to_string(),
        domain: domain.to_string(),
        industry: 0,
        size,
        revenue: round3(f64::from(size) * lognormal(rng, 180_000.0, 0.2)),
        country: 0,
        id: format!("acct-{}", domain.trim_end_matches(".example")),
        factor: 0.0,
        buying_at: 0.0,
    }
}

/// The mailbox local part for a (first, last, round) triple: `anna.mueller`,
/// `anna.k.mueller`, `anna.mueller7`. Distinct triples give distinct local parts.
fn local_part(first: usize, last: usize, round: u64) -> String {
    let (f, l) = (FIRST_NAMES[first].1, LAST_NAMES[last].1);
    match round {
        0 => format!("{f}.{l}"),
        1..=26 => format!("{f}.{}.{l}", (b'a' + (round - 1) as u8) as char),
        _ => format!("{f}.{l}{}", round - 26),
    }
}

/// Contact `i` (0-based) of `total`.
pub(crate) fn person(
    i: u64,
    total: u64,
    rng: &mut ChaCha8Rng,
    company_of: impl FnOnce(u64) -> Company,
) -> Person {
    // Unique name triple.
    let names = (FIRST_NAMES.len() * LAST_NAMES.len()) as u64;
    let round = i / names;
    let j = (i % names * coprime_step(names, 2503) + round * 31) % names;
    let first = (j % FIRST_NAMES.len() as u64) as usize;
    let last = (j / FIRST_NAMES.len() as u64) as usize;

    let roll: f64 = rng.random();
    let (mailbox, company) = if roll < 0.004 {
        let (name, domain, size) = COMPETITORS[rng.random_range(0..COMPETITORS.len())];
        (
            Mailbox::Competitor,
            special_company(name, domain, size, rng),
        )
    } else if roll < 0.007 {
        let (name, domain, size) = OWN_COMPANY;
        (Mailbox::Own, special_company(name, domain, size, rng))
    } else {
        // About four contacts per company, skewed towards low company numbers.
        let companies = total.div_ceil(4).max(1);
        let u: f64 = rng.random();
        let k = ((companies as f64 * u.powf(1.6)) as u64).min(companies - 1);
        let mailbox = if chance(rng, 0.10) {
            Mailbox::FreeMail
        } else {
            Mailbox::Company
        };
        (mailbox, company_of(k))
    };

    let domain = match mailbox {
        Mailbox::FreeMail => FREE_MAIL[pick_weighted(rng, FREE_MAIL.iter().map(|f| f.1))].0,
        _ => company.domain.as_str(),
    };
    let email = format!("{}@{domain}", local_part(first, last, round));

    let title = if company.industry == EDUCATION {
        let a = pick_weighted(rng, ACADEMIC_TITLES.iter().map(|t| t.1));
        TITLES.iter().position(|t| t.0 == ACADEMIC_TITLES[a].0)
    } else {
        Some(pick_weighted(rng, TITLES.iter().map(|t| t.2)))
    };
    // Data quality: some cells are empty, more often for free-mail sign-ups.
    let sparse = if mailbox == Mailbox::FreeMail {
        2.0
    } else {
        1.0
    };
    let company_missing = if mailbox == Mailbox::FreeMail {
        0.35
    } else {
        0.02
    };
    let company_cell = (!chance(rng, company_missing)).then(|| company.name.clone());
    let title = title.filter(|_| !chance(rng, 0.06 * sparse));
    let industry = (!chance(rng, 0.05 * sparse)).then_some(company.industry);
    let company_size = (!chance(rng, 0.10 * sparse)).then_some(company.size);
    let annual_revenue = (!chance(rng, 0.20 * sparse)).then_some(company.revenue);
    let country = (!chance(rng, 0.03)).then_some(company.country);
    let lead_source = pick_weighted(rng, LEAD_SOURCES.iter().map(|l| l.1));
    // From a hash of the contact number, not the contact's stream: every other draw
    // stays where it was.
    let known = match mailbox {
        Mailbox::FreeMail => 30,
        _ => 95,
    };
    let company_id = (spread(i) % 100 < known).then(|| company.id.clone());
    let colleague = matches!(mailbox, Mailbox::Company | Mailbox::FreeMail);
    let company_factor = colleague.then_some(company.factor);
    let buying_group =
        (colleague && company.factor > BUYING_GROUP_FACTOR).then_some(company.buying_at);

    Person {
        id: format!("c-{}", i + 1),
        email,
        first,
        last,
        company: company_cell,
        title,
        industry,
        company_size,
        annual_revenue,
        country,
        lead_source,
        mailbox,
        company_id,
        company_factor,
        buying_group,
    }
}

/// A well-mixed 64-bit hash of `i` (splitmix64's finaliser).
fn spread(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Person {
    /// The role behind a title index.
    pub(crate) fn role_of(title: Option<usize>) -> Option<Role> {
        title.map(|t| TITLES[t].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;

    #[test]
    fn emails_are_unique_across_many_rounds() {
        let names = (FIRST_NAMES.len() * LAST_NAMES.len()) as u64;
        let mut seen = HashSet::new();
        for i in (0..names * 30).step_by(7) {
            let round = i / names;
            let step = coprime_step(names, 2503);
            let j = (i % names * step + round * 31) % names;
            let lp = local_part(
                (j % FIRST_NAMES.len() as u64) as usize,
                (j / FIRST_NAMES.len() as u64) as usize,
                round,
            );
            assert!(seen.insert(lp.clone()), "duplicate {lp}");
        }
    }

    #[test]
    fn company_domains_are_unique() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut seen = HashSet::new();
        for k in 0..100_000 {
            let c = company(k, &mut rng);
            assert!(c.domain.ends_with(".example"));
            assert!(c.domain.is_ascii(), "{}", c.domain);
            assert!(seen.insert(c.domain.clone()), "duplicate {}", c.domain);
        }
    }

    #[test]
    fn revenue_has_three_significant_digits() {
        assert_eq!(round3(12_345_678.0), 12_300_000);
        assert_eq!(round3(999.4), 999);
    }
}
