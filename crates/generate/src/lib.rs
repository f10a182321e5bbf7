//! Synthetic but realistic B2B marketing data with a planted ground truth.
//!
//! [`generate`] writes the three files `leadscore` reads (see the interfaces
//! document): `contacts.csv`, `events.jsonl` (Segment-spec `track`, `page`
//! and `identify` calls) and `outcomes.csv` (`won`/`lost` per contact that reached an
//! opportunity). The data is made for demos, benchmarks and, above all, for checking
//! that backtesting and tuning find what is really there: the chance of winning a
//! contact is a known function of known features, listed by [`planted_truth`].
//!
//! ```
//! use leadscore_generate::{Config, generate};
//!
//! let config = Config { contacts: 20, seed: 7, ..Config::default() };
//! let (mut contacts, mut events, mut outcomes) = (Vec::new(), Vec::new(), Vec::new());
//! let summary = generate(&config, &mut contacts, &mut events, &mut outcomes)?;
//! assert_eq!(summary.contacts, 20);
//! assert!(String::from_utf8_lossy(&contacts).starts_with("id,email,first_name"));
//! assert_eq!(summary.events as usize, events.iter().filter(|b| **b == b'\n').count());
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # The world
//!
//! The vendor is *Example Software* (`www.example.com`), selling a B2B product into
//! Germany, Austria and Switzerland. `examples/b2b.toml` is the scoring model its
//! marketing team runs; the lists in that model (free-mail providers, competitor and own
//! domains, sales area, target industries, decision-maker titles) match this generator,
//! which a test checks.
//!
//! * **Contacts** (`c-1`, `c-2`, ...) work at synthetic companies with `.example`
//!   domains (about four contacts per company, a few accounts much larger). About 10 %
//!   sign up with a free-mail address (gmail.com, gmx.de, yahoo.com, ...), 0.4 % work for
//!   a competitor (`rival-industries.example`, `scoreforge.example`,
//!   `funnelworks.example`), 0.3 % for the vendor itself (`example.com`). Job titles: about
//!   19 % decision makers, 11 % interns, assistants and working students, the rest staff;
//!   people at universities (industry `Education`) are students, researchers and
//!   lecturers. Countries: about 72 % DACH, the rest US, GB, FR, NL, PL, IT, ES, IN.
//!   Company sizes are log-normal (median 60 employees, a long tail into the hundred
//!   thousands). Some cells are empty, as in any CRM export.
//! * **Accounts and buying groups**: `company_id` (`acct-<n>`) names the contact's
//!   company for 95 % of corporate mailboxes and 30 % of free-mail sign-ups (what a CRM
//!   knows), so contacts of one company share a `company_id` and a corporate domain.
//!   Colleagues are interested together: half the variance of a contact's hidden
//!   interest is its company's (every contact's interest is still standard normal, so
//!   nothing else about the data moves), and in the most interested fifth of the
//!   companies a *buying group* is at work: its contacts' buying episodes fall within
//!   three days of the company's moment, so several colleagues visit pricing, ask for
//!   demos and attend webinars in the same weeks. Accounts where several contacts
//!   engage therefore win more often; the outcome itself still depends only on the
//!   planted features below.
//! * **Mailings**: about one campaign a week (newsletters, content promotions, product
//!   updates, webinar invitations). Every contact on the list gets `Email Delivered`;
//!   opens (`Email Opened`), clicks (`Email Link Clicked`) and the page views after a
//!   click follow some of them. The delivery, opens and clicks of one mail share
//!   `properties.message_id` (`<campaign>.c-<n>`) besides `properties.campaign`. A few
//!   contacts unsubscribe (`Unsubscribed`) and get no mail after that.
//! * **Machines** (what `[machine]` in `examples/b2b.toml` detects): for about 17 % of
//!   contacts a privacy proxy (Apple Mail Privacy Protection) opens every delivered mail
//!   1 to 6 seconds after delivery, half of those opens flagged `machine_open: true` by
//!   the provider; about 10 % sit behind a mail gateway that, for 60 % of their mailings,
//!   clicks every link of the mailing 1 to 2 seconds after delivery (no page view
//!   follows). People open at least 30 seconds after delivery and click after opening.
//!   Machine activity draws from a random stream of its own, so it is independent of the
//!   contact's traits, attributes, behaviour and outcome: noise that makes a model
//!   counting every open and click worse, and nothing else.
//! * **Web**: browsing sessions of `page` calls (`properties.url`, `path`, `title`,
//!   `referrer`) on the home page, blog, product, pricing, docs, resources, webinars,
//!   careers and contact pages; gated resources (`Form Submitted` + `Content
//!   Downloaded`), demo requests (`/demo`, `Form Submitted`, `Demo Requested`), contact
//!   and newsletter forms, `Webinar Registered` / `Webinar Attended`.
//! * **Identity**: some new contacts browse anonymously first (`anonymousId` only); an
//!   `identify` call carrying both ids and the contact's traits links them when they
//!   submit their first form. About 3 % announce a new `job_title` through `identify`.
//! * **Sales**: contacts that reach an opportunity get a `Sales Accepted` event and an
//!   outcome row (`won` or `lost`), both after the behaviour that led there.
//!
//! Events of one contact are written together, in time order except for a few swapped
//! neighbours (so consumers must not assume input order is time order). Every event has
//! a unique `messageId` (`m-<contact>-<n>`) and a `timestamp` inside the history window
//! `[start, end)`, to the second. Outcome times are after the contact's planted
//! behaviour and usually inside the window too.
//!
//! # The planted truth
//!
//! Two hidden per-contact traits drive behaviour: *interest* (standard normal; it raises
//! pricing visits, demo requests, webinar sign-ups, downloads, clicks and, weakly, opens)
//! and *activity* (log-normal; more sessions of every kind, blog reading included). The
//! outcome, however, depends **only on the observable features below**: a contact is
//! `won` with probability
//!
//! ```text
//! P(won) = logistic(intercept + Σ effect_i · feature_i)
//! ```
//!
//! over **all** contacts (those without an outcome row were not won). Two exceptions:
//! contacts at a competitor or at the vendor itself, and contacts without a single
//! event (well under 1 %), are never won or lost, whatever their features.
//!
//! | feature | definition | effect (log-odds) |
//! | --- | --- | --- |
//! | `intercept` | | −4.4 |
//! | `demo_requested` | at least one `Demo Requested` event | +1.6 |
//! | `pricing_page_views` | number of `page` events whose `properties.url` matches `*/pricing*` (anonymous ones linked by `identify` included), **capped at 3**; the effect is per view | +0.5 |
//! | `webinar_attended` | at least one `Webinar Attended` event | +0.8 |
//! | `decision_maker` | the `job_title` in effect at the decision instant (CSV row, then `identify` traits) matches the model's decision-maker rule | +0.9 |
//! | `target_industry` | `industry` cell is Software, Manufacturing, Financial Services or Logistics | +0.6 |
//! | `company_size_200_to_5000` | `company_size` cell is in `[200, 5000)` | +0.7 |
//! | `free_mail` | `email_domain` is a free-mail provider | −0.8 |
//! | `outside_sales_area` | `country` cell present and not DE, AT or CH | −1.2 |
//! | `blog_page_views` | `page` events under `/blog/` | 0 |
//! | `email_opens` | `Email Opened` events (machine opens included) | 0 |
//! | `email_clicks` | `Email Link Clicked` events (link scanners' clicks included) | 0 |
//! | `content_downloads` | `Content Downloaded` events | 0 |
//! | `form_submissions` | `Form Submitted` events | 0 |
//! | `webinar_registered` | `Webinar Registered` events | 0 |
//! | `unsubscribed` | an `Unsubscribed` event | 0 |
//! | `lead_source` | any value of the `lead_source` column | 0 |
//!
//! The zero-effect features are *not* independent of winning: through the hidden traits
//! they correlate with the planted ones (openers are slightly more interested, active
//! people read the blog and also visit pricing pages), so they look predictive on their
//! own, but they add nothing once the planted features are known. A tuner that learns
//! from these files should find the planted effects and put (close to) zero weight on
//! the rest. All behavioural features count events up to the *decision instant*: the
//! contact's last planted behaviour (or, for contacts without any, a uniformly random
//! moment of its history); every planted event is at or before it, and an outcome's `at`
//! is 7 to 60 days after it (earlier when the window ends first). With the default
//! configuration about 5 % of contacts are won and about 8 % lost.
//!
//! Contacts that are not won reach an opportunity and are `lost` with probability 0.3
//! if they requested a demo, attended a webinar or viewed pricing at least twice, else
//! 0.012. So `lost` rows are selected on behaviour: fit won against *everything else*, not
//! against `lost` alone, to recover the table.
//!
//! # Determinism and speed
//!
//! The same [`Config`] always produces byte-identical files on the same platform (the
//! samplers use `exp` and `ln`, whose last bit may differ between math libraries): the
//! calendar, each company and each contact draw from their own ChaCha8 stream of the
//! seed (machine activity from a second stream per contact). Output is streamed: one contact's events are held at a time, formatted by hand
//! into a reusable buffer; 100,000 contacts (about 5 million events, 1 GB) take a few
//! seconds in a release build, mostly spent writing.
//!
//! # Layout
//!
//! * `tables`: names, titles, industries, countries, pages: the static vocabulary.
//! * `world`: the shared calendar (campaigns, webinars).
//! * `contact`: companies and contacts (`contacts.csv`).
//! * `journey`: one contact's behaviour, features and outcome; the event writer.
//! * `fmt`, `rng`: formatting and sampling helpers.

#![deny(missing_docs)]

mod contact;
mod fmt;
mod journey;
mod rng;
mod tables;
mod world;

use std::io::{self, BufWriter, Write};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::fmt::{DAY, days_from_civil, timestamp_string};
use crate::journey::Outcome;
use crate::tables::{COUNTRIES, INDUSTRIES, LEAD_SOURCES, TITLES};

/// Milliseconds: instants since the Unix epoch (UTC), as in `leadscore_model::Millis`.
pub type Millis = i64;

/// The default end of the history window: 2026-11-01T00:00:00Z.
pub const DEFAULT_END: Millis = days_from_civil(2026, 11, 1) * DAY * 1000;

/// The planted truth: (feature, effect in log-odds), the intercept first, then the
/// features that matter, then the noise features (effect 0). See the crate docs for the
/// exact definition of each feature.
const TRUTH: [(&str, f64); 17] = [
    ("intercept", -4.4),
    ("demo_requested", 1.6),
    ("pricing_page_views", 0.5),
    ("webinar_attended", 0.8),
    ("decision_maker", 0.9),
    ("target_industry", 0.6),
    ("company_size_200_to_5000", 0.7),
    ("free_mail", -0.8),
    ("outside_sales_area", -1.2),
    ("blog_page_views", 0.0),
    ("email_opens", 0.0),
    ("email_clicks", 0.0),
    ("content_downloads", 0.0),
    ("form_submissions", 0.0),
    ("webinar_registered", 0.0),
    ("unsubscribed", 0.0),
    ("lead_source", 0.0),
];

/// The intercept of the planted model.
pub(crate) const INTERCEPT: f64 = TRUTH[0].1;

/// The features with an effect, in the order of `journey::Features::values`.
pub(crate) const EFFECTS: &[(&str, f64)] = TRUTH.split_at(9).0.split_at(1).1;

/// The planted ground truth: each feature with its true effect on the log-odds of a
/// contact being won, `("intercept", ..)` first. Features with effect `0.0` are noise:
/// correlated with the outcome only through hidden traits. The crate docs define every
/// feature precisely.
pub fn planted_truth() -> &'static [(&'static str, f64)] {
    &TRUTH
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Number of contacts (`c-1` .. `c-N`).
    pub contacts: u64,
    /// Random seed; the same seed gives the same files.
    pub seed: u64,
    /// Start of the history window (inclusive).
    pub start: Millis,
    /// End of the history window (exclusive): no event at or after it.
    pub end: Millis,
    /// Target average number of events per contact. Scales the mailing cadence and the
    /// browsing rate; the planted truth is calibrated for the default of 50.
    pub events_per_contact: u32,
}

impl Default for Config {
    /// 1,000 contacts, seed 0, the 180 days ending 2026-11-01T00:00:00Z, 50 events per
    /// contact.
    fn default() -> Config {
        Config {
            contacts: 1000,
            seed: 0,
            start: DEFAULT_END - 180 * DAY * 1000,
            end: DEFAULT_END,
            events_per_contact: 50,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Rows in `contacts.csv`.
    pub contacts: u64,
    /// Lines in `events.jsonl`.
    pub events: u64,
    /// `won` rows in `outcomes.csv`.
    pub outcomes_won: u64,
    /// `lost` rows in `outcomes.csv`.
    pub outcomes_lost: u64,
}

/// Stream number of company `k` (contacts use `0..contacts`, the calendar `u64::MAX`).
const COMPANY_STREAM: u64 = 1 << 62;
/// Stream number of contact `i`'s machine activity (privacy proxies, link scanners).
const MACHINE_STREAM: u64 = 1 << 61;

/// Turns a `csv` error into the I/O error it wraps (the writers only fail on I/O).
fn csv_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// Writes `contacts.csv`, `events.jsonl` and `outcomes.csv` for `config`.
///
/// The writers are buffered internally; pass files or sockets directly. Fails only when
/// a writer fails, or with [`io::ErrorKind::InvalidInput`] when `end <= start`.
pub fn generate(
    config: &Config,
    contacts: impl Write,
    events: impl Write,
    outcomes: impl Write,
) -> io::Result<Summary> {
    let start = config.start.div_euclid(1000);
    let end = config.end.div_euclid(1000);
    if end <= start {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the history window is empty: `end` must be after `start`",
        ));
    }
    let scale = f64::from(config.events_per_contact) / 50.0;
    let key = ChaCha8Rng::seed_from_u64(config.seed).get_seed();
    let stream = |n: u64| {
        let mut rng = ChaCha8Rng::from_seed(key);
        rng.set_stream(n);
        rng
    };
    let world = world::World::new(&mut stream(u64::MAX), start, end, scale);

    let mut contacts_out = csv::WriterBuilder::new()
        .buffer_capacity(1 << 16)
        .from_writer(contacts);
    let mut outcomes_out = csv::WriterBuilder::new()
        .buffer_capacity(1 << 14)
        .from_writer(outcomes);
    let mut events_out = BufWriter::with_capacity(1 << 20, events);
    contacts_out
        .write_record([
            "id",
            "email",
            "first_name",
            "last_name",
            "company",
            "job_title",
            "industry",
            "company_size",
            "annual_revenue",
            "country",
            "lead_source",
            "company_id",
        ])
        .map_err(csv_error)?;
    outcomes_out
        .write_record(["id", "outcome", "at"])
        .map_err(csv_error)?;

    let mut summary = Summary::default();
    let mut evs = Vec::new();
    let mut buf = Vec::with_capacity(1 << 16);
    let mut anon_id = [0u8; 16];
    for i in 0..config.contacts {
        let mut rng = stream(i);
        let person = contact::person(i, config.contacts, &mut rng, |k| {
            contact::company(k, &mut stream(COMPANY_STREAM | k))
        });
        write_contact(&mut contacts_out, &person).map_err(csv_error)?;

        let mut machine_rng = stream(MACHINE_STREAM | i);
        let (outcome, _) = journey::run(
            &world,
            &person,
            &mut rng,
            &mut machine_rng,
            &mut evs,
            scale,
            &mut anon_id,
        );
        buf.clear();
        for (seq, e) in evs.iter().enumerate() {
            journey::write_event(&mut buf, &world, &person, i + 1, &anon_id, seq as u64, e);
        }
        events_out.write_all(&buf)?;
        summary.events += evs.len() as u64;
        summary.contacts += 1;

        let (label, at) = match outcome {
            Outcome::None => continue,
            Outcome::Won(at) => {
                summary.outcomes_won += 1;
                ("won", at)
            }
            Outcome::Lost(at) => {
                summary.outcomes_lost += 1;
                ("lost", at)
            }
        };
        outcomes_out
            .write_record([person.id.as_str(), label, &timestamp_string(at)])
            .map_err(csv_error)?;
    }
    contacts_out.flush()?;
    outcomes_out.flush()?;
    events_out.flush()?;
    Ok(summary)
}

/// One `contacts.csv` row.
fn write_contact<W: Write>(out: &mut csv::Writer<W>, p: &contact::Person) -> csv::Result<()> {
    let num = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    out.write_field(&p.id)?;
    out.write_field(&p.email)?;
    out.write_field(tables::FIRST_NAMES[p.first].0)?;
    out.write_field(tables::LAST_NAMES[p.last].0)?;
    out.write_field(p.company.as_deref().unwrap_or(""))?;
    out.write_field(p.title.map_or("", |t| TITLES[t].0))?;
    out.write_field(p.industry.map_or("", |i| INDUSTRIES[i].name))?;
    out.write_field(num(p.company_size.map(u64::from)))?;
    out.write_field(num(p.annual_revenue))?;
    out.write_field(p.country.map_or("", |c| COUNTRIES[c].code))?;
    out.write_field(LEAD_SOURCES[p.lead_source].0)?;
    out.write_field(p.company_id.as_deref().unwrap_or(""))?;
    out.write_record(None::<&[u8]>)
}
