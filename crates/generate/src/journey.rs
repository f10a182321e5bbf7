//! What one contact does over the history window, and how its story ends.
//!
//! Two hidden traits drive behaviour: *interest* (does this contact's company need the
//! product right now?) and *activity* (how much time does the person spend online at
//! all?). Interest raises pricing-page visits, demo requests, webinar sign-ups, content
//! downloads, clicks and (a little) opens; activity raises everything, blog reading
//! included. A buying *episode* concentrates the sessions of interested contacts around
//! one point in time, so recency matters.
//!
//! The outcome does **not** look at the hidden traits: once the behaviour is generated,
//! [`Features`] are read off the contact's own events and attributes, and the chance to
//! win is exactly `logistic(intercept + Σ effect × feature)` with the effects of
//! [`crate::planted_truth`]. Everything else (blog visits, opens, lead source, ...) is
//! correlated with winning only through the hidden traits, i.e. it has no effect once the
//! planted features are known.

use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;

use crate::contact::{Mailbox, Person};
use crate::fmt::{DAY, push_json_str, push_key, push_timestamp, push_u64, weekday};
use crate::rng::{
    chance, exponential, logistic, lognormal, normal, pick_weighted, poisson, uniform_i64,
};
use crate::tables::{
    COUNTRIES, FIRST_NAMES, INDUSTRIES, LAST_NAMES, PAGES, PageKind, Role, SALES_REPS, SITE, TITLES,
};
use crate::world::{CampaignKind, KINDS, PageRef, World, kind_index, page_index};
use crate::{EFFECTS, INTERCEPT};

const HOUR: i64 = 3600;
const MINUTE: i64 = 60;

/// Who an event is attributed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    /// `userId` only.
    User,
    /// `anonymousId` only (before the visitor identified itself).
    Anon,
    /// Both (the identify call that links them, and the form submitted with it).
    Both,
}

/// A web form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// `contact-us`.
    Contact,
    /// `newsletter-signup` on a blog page (index into [`PAGES`]).
    Newsletter(u16),
    /// `demo-request`.
    Demo,
    /// `content-<slug>` gating a resource page (index into [`PAGES`]).
    Content(u16),
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// `Email Delivered` of a campaign.
    Delivered(u16),
    /// `Email Opened`; `true` when the provider flags it as a machine open
    /// (`properties.machine_open`).
    Opened(u16, bool),
    /// `Email Link Clicked` on a campaign's link.
    Clicked(u16, PageRef),
    /// `Unsubscribed` from a campaign.
    Unsubscribed(u16),
    /// A `page` call; optional campaign (UTM) and referrer code.
    Page(PageRef, Option<u16>, u8),
    /// `Form Submitted`.
    FormSubmitted(Form),
    /// `Content Downloaded` of a resource page.
    ContentDownloaded(u16),
    /// `Demo Requested`.
    DemoRequested,
    /// `Webinar Registered`.
    WebinarRegistered(u16),
    /// `Webinar Attended` with minutes watched.
    WebinarAttended(u16, u16),
    /// `Sales Accepted` by a sales rep (index into [`SALES_REPS`]).
    SalesAccepted(u8),
    /// `identify` linking the anonymous id, with the contact's traits.
    IdentifyLink,
    /// `identify` changing `job_title` (index into [`TITLES`]).
    IdentifyTitle(u16),
}

/// One event of the contact.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    /// Unix seconds.
    pub at: i64,
    /// Attribution.
    pub who: Who,
    /// Payload.
    pub kind: Kind,
}

/// The planted features of one contact (see the crate docs for their definitions).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Features {
    /// At least one `Demo Requested`.
    pub demo_requested: bool,
    /// Pricing page views, all of them (the feature uses `min(.., 3)`).
    pub pricing_page_views: u32,
    /// At least one `Webinar Attended`.
    pub webinar_attended: bool,
    /// Decision-maker title at the decision instant.
    pub decision_maker: bool,
    /// `industry` cell in the target list.
    pub target_industry: bool,
    /// `company_size` cell in `[200, 5000)`.
    pub company_size_200_to_5000: bool,
    /// Free-mail address.
    pub free_mail: bool,
    /// `country` cell present and outside DACH.
    pub outside_sales_area: bool,
}

impl Features {
    /// The values, in the order of [`EFFECTS`].
    pub(crate) fn values(&self) -> [f64; 8] {
        [
            f64::from(u8::from(self.demo_requested)),
            f64::from(self.pricing_page_views.min(3)),
            f64::from(u8::from(self.webinar_attended)),
            f64::from(u8::from(self.decision_maker)),
            f64::from(u8::from(self.target_industry)),
            f64::from(u8::from(self.company_size_200_to_5000)),
            f64::from(u8::from(self.free_mail)),
            f64::from(u8::from(self.outside_sales_area)),
        ]
    }

    /// `intercept + Σ effect × value`.
    pub(crate) fn log_odds(&self) -> f64 {
        INTERCEPT
            + EFFECTS
                .iter()
                .zip(self.values())
                .map(|((_, b), x)| b * x)
                .sum::<f64>()
    }
}

/// How the contact's story ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Never reached an opportunity.
    None,
    /// Opportunity won at this instant (Unix seconds).
    Won(i64),
    /// Opportunity lost at this instant.
    Lost(i64),
}

/// The kind of a page reference.
pub(crate) fn kind_of(page: PageRef) -> PageKind {
    match page {
        PageRef::Static(i) => PAGES[i as usize].2,
        PageRef::Webinar(_) => PageKind::Webinars,
    }
}

/// Generator state for one contact.
struct Journey<'a> {
    world: &'a World,
    rng: &'a mut ChaCha8Rng,
    events: &'a mut Vec<Event>,
    /// Hidden interest, standard normal.
    interest: f64,
    /// Hidden taste for the blog (noise).
    blog_affinity: f64,
    /// Job seeker / student: likes the careers page.
    careers_affinity: f64,
    /// Decision-maker title (initially).
    decision_maker: bool,
    /// Centre of the buying episode, if any.
    episode: Option<i64>,
    /// Demo requests so far.
    demos: u32,
}

impl Journey<'_> {
    fn push(&mut self, at: i64, who: Who, kind: Kind) {
        if at >= self.world.start && at < self.world.end {
            self.events.push(Event { at, who, kind });
        }
    }

    fn in_episode(&self, t: i64) -> bool {
        self.episode.is_some_and(|c| (t - c).abs() <= 14 * DAY)
    }

    /// A random static page of a kind (index into [`PAGES`]).
    fn page_of(&mut self, kind: PageKind) -> u16 {
        let pages = &self.world.pages_by_kind[kind_index(kind)];
        pages[self.rng.random_range(0..pages.len())]
    }

    /// The next page of a browsing session (`landing`: the first one).
    fn pick_page(&mut self, landing: bool, ep: bool) -> PageRef {
        let u = self.interest;
        let epf = if ep { 1.0 } else { 0.0 };
        let w = |k: PageKind| -> f64 {
            match (k, landing) {
                (PageKind::Home, true) => 0.20,
                (PageKind::Home, false) => 0.08,
                (PageKind::Blog, true) => 0.45 * self.blog_affinity,
                (PageKind::Blog, false) => 0.30 * self.blog_affinity,
                (PageKind::Product, true) => 0.08 * (0.5 * u + 0.6 * epf).exp(),
                (PageKind::Product, false) => 0.18 * (0.5 * u + 0.6 * epf).exp(),
                (PageKind::Pricing, true) => 0.015 * (0.9 * u + 0.9 * epf).exp(),
                (PageKind::Pricing, false) => 0.04 * (0.9 * u + 0.9 * epf).exp(),
                (PageKind::Docs, _) => 0.05,
                (PageKind::Resource, _) => 0.07 * (0.4 * u).exp(),
                (PageKind::Webinars, _) => 0.02,
                (PageKind::Careers, _) => 0.01 * self.careers_affinity,
                (PageKind::Company, _) => 0.04,
                (PageKind::Demo, _) => 0.0,
            }
        };
        let k = pick_weighted(self.rng, KINDS.iter().map(|k| w(*k)));
        PageRef::Static(self.page_of(KINDS[k]))
    }

    /// One browsing session starting at `t`.
    fn session(
        &mut self,
        mut t: i64,
        landing: Option<PageRef>,
        utm: Option<u16>,
        who: Who,
        referrer: u8,
    ) {
        let ep = self.in_episode(t);
        let identified = who != Who::Anon;
        let (mut saw_pricing, mut saw_product) = (false, false);
        let mut page = match landing {
            Some(p) => p,
            None => self.pick_page(true, ep),
        };
        let mut n = 0;
        loop {
            let first = n == 0;
            self.push(
                t,
                who,
                Kind::Page(
                    page,
                    utm.filter(|_| first),
                    if first { referrer } else { 0 },
                ),
            );
            match (kind_of(page), page) {
                (PageKind::Pricing, _) => saw_pricing = true,
                (PageKind::Product, _) => saw_product = true,
                (PageKind::Resource, PageRef::Static(p)) if identified && chance(self.rng, 0.3) => {
                    t += uniform_i64(self.rng, 30, 120);
                    self.push(t, who, Kind::FormSubmitted(Form::Content(p)));
                    t += uniform_i64(self.rng, 2, 6);
                    self.push(t, who, Kind::ContentDownloaded(p));
                }
                (PageKind::Company, PageRef::Static(p))
                    if identified
                        && PAGES[p as usize].0 == "/contact"
                        && chance(self.rng, 0.15) =>
                {
                    t += uniform_i64(self.rng, 40, 180);
                    self.push(t, who, Kind::FormSubmitted(Form::Contact));
                }
                (PageKind::Blog, PageRef::Static(p)) if identified && chance(self.rng, 0.015) => {
                    t += uniform_i64(self.rng, 20, 90);
                    self.push(t, who, Kind::FormSubmitted(Form::Newsletter(p)));
                }
                _ => {}
            }
            n += 1;
            if n >= 12 || !chance(self.rng, 0.5) {
                break;
            }
            t += uniform_i64(self.rng, 15, 240);
            page = self.pick_page(false, ep);
        }
        if identified && (saw_pricing || saw_product) {
            let x = -5.0
                + 1.0 * self.interest
                + if self.decision_maker { 0.6 } else { 0.0 }
                + if saw_pricing { 0.7 } else { 0.0 }
                + if ep { 0.8 } else { 0.0 };
            let damp = if self.demos > 0 { 0.1 } else { 1.0 };
            if chance(self.rng, logistic(x) * damp) {
                t += uniform_i64(self.rng, 20, 90);
                self.push(
                    t,
                    who,
                    Kind::Page(PageRef::Static(page_index("/demo")), None, 0),
                );
                t += uniform_i64(self.rng, 60, 180);
                self.push(t, who, Kind::FormSubmitted(Form::Demo));
                t += uniform_i64(self.rng, 1, 4);
                self.push(t, who, Kind::DemoRequested);
                self.demos += 1;
            }
        }
    }

    /// A time for a session in `[lo, hi)`: clustered around the buying episode for half
    /// of the sessions of contacts that have one, in office hours, mostly on weekdays.
    fn session_time(&mut self, lo: i64, hi: i64) -> i64 {
        let t = match self.episode {
            Some(c) if chance(self.rng, 0.5) => c + (normal(self.rng) * 7.0 * DAY as f64) as i64,
            _ => uniform_i64(self.rng, lo, hi),
        }
        .clamp(lo, hi - 1);
        let mut day = t.div_euclid(DAY);
        match weekday(t) {
            5 if chance(self.rng, 0.8) => day -= 1,
            6 if chance(self.rng, 0.8) => day += 1,
            _ => {}
        }
        let office = 6.0 + (self.rng.random::<f64>() + self.rng.random::<f64>()) * 7.0;
        let moved = day * DAY + (office * HOUR as f64) as i64;
        if moved >= lo && moved < hi { moved } else { t }
    }
}

/// Share of contacts whose mail client opens every delivered mail through a privacy
/// proxy (Apple Mail Privacy Protection).
pub(crate) const PROXY_OPENERS: f64 = 0.17;
/// Share of the proxy opens the provider flags with `machine_open: true`.
pub(crate) const PROXY_FLAGGED: f64 = 0.5;
/// Share of contacts behind a mail gateway that scans links.
pub(crate) const LINK_SCANNED: f64 = 0.10;
/// Share of the mailings a scanning gateway checks.
pub(crate) const SCANS_PER_MAILING: f64 = 0.6;

/// How machines treat a contact's mail: drawn once per contact from the machine stream.
#[derive(Debug, Clone, Copy)]
struct MachineHabits {
    /// A privacy proxy opens every delivered mail 1 to 6 seconds after delivery.
    proxy: bool,
    /// A link scanner clicks every link of some mailings 1 to 2 seconds after delivery.
    scanner: bool,
}

impl MachineHabits {
    fn draw(rng: &mut ChaCha8Rng) -> MachineHabits {
        MachineHabits {
            proxy: chance(rng, PROXY_OPENERS),
            scanner: chance(rng, LINK_SCANNED),
        }
    }

    /// The machine opens and clicks of one delivered mailing. Never touches the
    /// contact's own stream, plants no page view and no later behaviour.
    fn react(self, j: &mut Journey<'_>, rng: &mut ChaCha8Rng, ci: u16, delivered: i64) {
        if self.proxy {
            let at = delivered + uniform_i64(rng, 1, 7);
            let flagged = chance(rng, PROXY_FLAGGED);
            j.push(at, Who::User, Kind::Opened(ci, flagged));
        }
        if self.scanner && chance(rng, SCANS_PER_MAILING) {
            let world = j.world;
            for &link in &world.campaigns[ci as usize].links {
                let at = delivered + uniform_i64(rng, 1, 3);
                j.push(at, Who::User, Kind::Clicked(ci, link));
            }
        }
    }
}

/// Referrer codes of a session's landing page.
const REFERRERS: [&str; 4] = [
    "",
    "https://www.google.com/",
    "https://www.linkedin.com/",
    "https://www.bing.com/",
];

/// A referrer code for an organic session.
fn referrer(rng: &mut ChaCha8Rng) -> u8 {
    pick_weighted(rng, [45.0, 40.0, 10.0, 5.0].into_iter()) as u8
}

/// Generates the contact's events into `events` (cleared first, left sorted by time
/// except for a few adjacent swaps) and decides its outcome.
///
/// `scale` is the requested events per contact relative to the calibrated 50.
pub(crate) fn run(
    world: &World,
    person: &Person,
    rng: &mut ChaCha8Rng,
    machine_rng: &mut ChaCha8Rng,
    events: &mut Vec<Event>,
    scale: f64,
    anon_id: &mut [u8; 16],
) -> (Outcome, Features) {
    events.clear();
    let (start, end) = (world.start, world.end);
    let role = Person::role_of(person.title);
    let mut interest = normal(rng);
    if let Some(factor) = person.company_factor {
        // Colleagues share part of their interest: a company that needs the product
        // shows it through several people (still standard normal for each one).
        let shared = crate::contact::SHARED_INTEREST;
        interest = (1.0 - shared).sqrt() * interest + shared.sqrt() * factor;
    }
    if person.mailbox == Mailbox::Competitor {
        interest += 1.0; // competitors snoop on pricing pages
    }
    if matches!(role, Some(Role::Junior | Role::Academic)) {
        interest -= 0.5;
    }
    let activity = lognormal(rng, (-0.32f64).exp(), 0.8);
    let open_habit = 0.8 * normal(rng);
    // Machine activity draws from its own stream, so it is independent of every trait,
    // attribute and behaviour of the contact (and of its outcome).
    let machine = MachineHabits::draw(machine_rng);
    let is_new = chance(rng, 0.4);
    let t0 = if is_new {
        uniform_i64(rng, start + 2 * DAY, end - 14 * DAY)
    } else {
        start
    };
    let anon_flow = is_new && chance(rng, 0.45);
    let episode = chance(rng, logistic(-1.2 + interest)).then(|| uniform_i64(rng, t0, end));
    // A buying group's members have their episodes together: within three days of the
    // group's moment (the contact's own draw only spreads them).
    let episode = match (episode, person.buying_group) {
        (Some(own), Some(at)) => {
            let centre = start + (at * (end - start) as f64) as i64;
            let jitter = own.rem_euclid(6 * DAY) - 3 * DAY;
            Some((centre + jitter).clamp(t0, end - 1))
        }
        (episode, _) => episode,
    };
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bits = rng.next_u64();
    for b in anon_id.iter_mut() {
        *b = HEX[(bits & 0xf) as usize];
        bits >>= 4;
    }

    let blog_affinity = (0.7 * normal(rng)).exp();
    let careers_affinity = match role {
        Some(Role::Junior | Role::Academic) => 8.0,
        _ => 1.0,
    };
    let mut j = Journey {
        world,
        rng,
        events,
        interest,
        blog_affinity,
        careers_affinity,
        decision_maker: role == Some(Role::DecisionMaker),
        episode,
        demos: 0,
    };

    // Anonymous browsing, then the form that identifies the visitor.
    if anon_flow {
        let sessions = 1 + poisson(j.rng, 1.0);
        for _ in 0..sessions {
            // Sessions last under an hour, so all of them end before the identify.
            let t = uniform_i64(j.rng, (t0 - 30 * DAY).max(start), t0 - HOUR);
            let r = referrer(j.rng);
            j.session(t, None, None, Who::Anon, r);
        }
        let roll: f64 = j.rng.random();
        let (page, form) = if roll < 0.6 {
            let p = j.page_of(PageKind::Resource);
            (p, Form::Content(p))
        } else if roll < 0.85 {
            (page_index("/contact"), Form::Contact)
        } else {
            let p = j.page_of(PageKind::Blog);
            (p, Form::Newsletter(p))
        };
        let before = uniform_i64(j.rng, 30, 120);
        j.push(
            t0 - before,
            Who::Anon,
            Kind::Page(PageRef::Static(page), None, 0),
        );
        j.push(t0, Who::Both, Kind::IdentifyLink);
        j.push(t0 + 1, Who::Both, Kind::FormSubmitted(form));
        if let Form::Content(p) = form {
            j.push(t0 + 3, Who::User, Kind::ContentDownloaded(p));
        }
    }

    // Mailings.
    let mut invited = 0u32;
    let mut invite_clicks = [None::<i64>; 32];
    let p_open = logistic(-1.1 + 0.35 * interest + open_habit);
    let p_unsub = 0.0025
        * (-0.7 * interest).exp()
        * if matches!(role, Some(Role::Junior | Role::Academic)) {
            2.0
        } else {
            1.0
        };
    for (ci, c) in world.campaigns.iter().enumerate() {
        if c.at < t0 || !chance(j.rng, 0.92) {
            continue;
        }
        let ci = ci as u16;
        let delivered = c.at + uniform_i64(j.rng, 0, 45 * MINUTE);
        if delivered >= end {
            continue;
        }
        j.push(delivered, Who::User, Kind::Delivered(ci));
        if let CampaignKind::WebinarInvite(w) = c.kind {
            invited |= 1 << w;
        }
        machine.react(&mut j, machine_rng, ci, delivered);
        let mut reacted = delivered;
        if chance(j.rng, p_open) {
            let delay = if chance(j.rng, 0.85) {
                exponential(j.rng, 4.0 * HOUR as f64) as i64
            } else {
                uniform_i64(j.rng, DAY, 12 * DAY)
            };
            let opened = delivered + 30 + delay;
            j.push(opened, Who::User, Kind::Opened(ci, false));
            reacted = opened;
            if chance(j.rng, 0.2) {
                let again = opened + uniform_i64(j.rng, 10 * MINUTE, 2 * DAY);
                j.push(again, Who::User, Kind::Opened(ci, false));
            }
            let bonus = match c.kind {
                CampaignKind::WebinarInvite(_) => 0.3,
                CampaignKind::ContentPromo => 0.2,
                CampaignKind::ProductUpdate => 0.4 * interest,
                CampaignKind::Newsletter => 0.0,
            };
            if chance(j.rng, logistic(-1.5 + 0.5 * interest + bonus)) && opened < end {
                let clicked = opened + uniform_i64(j.rng, 5, 90);
                let link = c.links[j.rng.random_range(0..c.links.len())];
                j.push(clicked, Who::User, Kind::Clicked(ci, link));
                if let PageRef::Webinar(w) = link {
                    invite_clicks[w as usize % 32] = Some(clicked);
                }
                if clicked < end {
                    let t = clicked + uniform_i64(j.rng, 1, 6);
                    j.session(t, Some(link), Some(ci), Who::User, 0);
                }
            }
        }
        if chance(j.rng, p_unsub) {
            let at = reacted + uniform_i64(j.rng, 30, DAY);
            j.push(at, Who::User, Kind::Unsubscribed(ci));
            break;
        }
    }

    // Webinars.
    for (w, web) in world.webinars.iter().enumerate() {
        if web.at <= t0 + HOUR || web.at >= end {
            continue;
        }
        let was_invited = invited & (1 << w) != 0;
        let clicked = invite_clicks[w % 32];
        let x = -4.9
            + interest
            + if was_invited { 0.7 } else { 0.0 }
            + if clicked.is_some() { 2.2 } else { 0.0 };
        if !chance(j.rng, logistic(x)) {
            continue;
        }
        let registered = match clicked {
            Some(c) if c + 300 < web.at => c + uniform_i64(j.rng, 30, 300),
            _ => {
                let at = uniform_i64(j.rng, (web.at - 14 * DAY).max(t0), web.at - HOUR);
                j.push(
                    at - 40,
                    Who::User,
                    Kind::Page(PageRef::Webinar(w as u16), None, 0),
                );
                at
            }
        };
        j.push(registered, Who::User, Kind::WebinarRegistered(w as u16));
        if chance(j.rng, (0.45 + 0.15 * interest).clamp(0.1, 0.9)) {
            let at = web.at + uniform_i64(j.rng, 0, 10 * MINUTE);
            let minutes = uniform_i64(j.rng, 10, 61) as u16;
            j.push(at, Who::User, Kind::WebinarAttended(w as u16, minutes));
        }
    }

    // Organic browsing.
    let active = (end - t0) as f64 / (end - start).max(1) as f64;
    let sessions = poisson(j.rng, 9.5 * scale * activity * active);
    for _ in 0..sessions {
        let t = j.session_time(t0, end);
        let r = referrer(j.rng);
        j.session(t, None, None, Who::User, r);
    }

    // A job change announced through `identify` (promotions mostly).
    if chance(j.rng, 0.03) && role != Some(Role::Academic) {
        let new_title = if chance(j.rng, 0.6) {
            pick_weighted(
                j.rng,
                TITLES
                    .iter()
                    .map(|t| if t.1 == Role::DecisionMaker { t.2 } else { 0.0 }),
            )
        } else {
            pick_weighted(
                j.rng,
                TITLES
                    .iter()
                    .map(|t| if t.1 == Role::Staff { t.2 } else { 0.0 }),
            )
        };
        let at = uniform_i64(j.rng, t0, end);
        j.push(at, Who::User, Kind::IdentifyTitle(new_title as u16));
    }

    let Journey { rng, events, .. } = j;
    events.sort_by_key(|e| e.at);

    // Planted features and the outcome.
    let (outcome, features, t_d) = decide(person, rng, events, end);
    if let Outcome::Won(at) | Outcome::Lost(at) = outcome {
        let accepted = t_d + ((at - t_d) as f64 * (0.05 + 0.25 * rng.random::<f64>())) as i64;
        if accepted < end && accepted > t_d {
            let rep = rng.random_range(0..SALES_REPS.len()) as u8;
            let pos = events.partition_point(|e| e.at <= accepted);
            events.insert(
                pos,
                Event {
                    at: accepted,
                    who: Who::User,
                    kind: Kind::SalesAccepted(rep),
                },
            );
        }
    }

    // Input order is not always time order: swap a few neighbours.
    for i in 1..events.len() {
        if chance(rng, 0.02) {
            events.swap(i - 1, i);
        }
    }
    (outcome, features)
}

/// Reads the planted features off the contact and draws its outcome.
fn decide(
    person: &Person,
    rng: &mut ChaCha8Rng,
    events: &[Event],
    end: i64,
) -> (Outcome, Features, i64) {
    let mut f = Features::default();
    let mut last_causal = None;
    for e in events {
        match e.kind {
            Kind::DemoRequested => f.demo_requested = true,
            Kind::WebinarAttended(..) => f.webinar_attended = true,
            Kind::Page(p, ..) if kind_of(p) == PageKind::Pricing => f.pricing_page_views += 1,
            _ => continue,
        }
        last_causal = Some(e.at);
    }
    let Some(first) = events.first().map(|e| e.at) else {
        return (Outcome::None, f, end);
    };
    // The decision instant: after the last planted behaviour, or (without any) a random
    // moment of the contact's history.
    let t_d = match last_causal {
        Some(t) => t,
        None => uniform_i64(rng, first, end),
    };
    let mut title = person.title;
    for e in events.iter().take_while(|e| e.at <= t_d) {
        if let Kind::IdentifyTitle(t) = e.kind {
            title = Some(t as usize);
        }
    }
    f.decision_maker = Person::role_of(title) == Some(Role::DecisionMaker);
    f.target_industry = person.industry.is_some_and(|i| INDUSTRIES[i].target);
    f.company_size_200_to_5000 = person
        .company_size
        .is_some_and(|s| (200..5000).contains(&s));
    f.free_mail = person.mailbox == Mailbox::FreeMail;
    f.outside_sales_area = person.country.is_some_and(|c| !COUNTRIES[c].sales_area);

    let disqualified = matches!(person.mailbox, Mailbox::Competitor | Mailbox::Own);
    let won = !disqualified && chance(rng, logistic(f.log_odds()));
    let engaged = f.demo_requested || f.pricing_page_views >= 2 || f.webinar_attended;
    let lost = !won && !disqualified && chance(rng, if engaged { 0.3 } else { 0.012 });
    if !won && !lost {
        return (Outcome::None, f, t_d);
    }
    // A sales cycle of 7 to 60 days, compressed when the window ends first.
    let mut delay = uniform_i64(rng, 7 * DAY, 60 * DAY);
    if t_d + delay >= end {
        delay = ((end - t_d) as f64 * (0.5 + 0.5 * rng.random::<f64>())) as i64;
    }
    let at = t_d + delay.max(2 * MINUTE);
    (
        if won {
            Outcome::Won(at)
        } else {
            Outcome::Lost(at)
        },
        f,
        t_d,
    )
}

/// Appends one event as a Segment-spec JSON line.
pub(crate) fn write_event(
    buf: &mut Vec<u8>,
    world: &World,
    person: &Person,
    number: u64,
    anon_id: &[u8; 16],
    seq: u64,
    e: &Event,
) {
    let (ty, name): (&str, &str) = match e.kind {
        Kind::Delivered(_) => ("track", "Email Delivered"),
        Kind::Opened(..) => ("track", "Email Opened"),
        Kind::Clicked(..) => ("track", "Email Link Clicked"),
        Kind::Unsubscribed(_) => ("track", "Unsubscribed"),
        Kind::FormSubmitted(_) => ("track", "Form Submitted"),
        Kind::ContentDownloaded(_) => ("track", "Content Downloaded"),
        Kind::DemoRequested => ("track", "Demo Requested"),
        Kind::WebinarRegistered(_) => ("track", "Webinar Registered"),
        Kind::WebinarAttended(..) => ("track", "Webinar Attended"),
        Kind::SalesAccepted(_) => ("track", "Sales Accepted"),
        Kind::Page(..) => ("page", ""),
        Kind::IdentifyLink | Kind::IdentifyTitle(_) => ("identify", ""),
    };
    buf.extend_from_slice(b"{\"type\":\"");
    buf.extend_from_slice(ty.as_bytes());
    buf.extend_from_slice(b"\",");
    match e.kind {
        Kind::Page(p, ..) => {
            push_key(buf, "name");
            push_page_title(buf, world, p);
            buf.push(b',');
        }
        Kind::IdentifyLink | Kind::IdentifyTitle(_) => {}
        _ => {
            push_key(buf, "event");
            push_json_str(buf, name);
            buf.push(b',');
        }
    }
    if e.who != Who::Anon {
        buf.extend_from_slice(b"\"userId\":\"c-");
        push_u64(buf, number);
        buf.extend_from_slice(b"\",");
    }
    if e.who != Who::User {
        buf.extend_from_slice(b"\"anonymousId\":\"anon-");
        buf.extend_from_slice(anon_id);
        buf.extend_from_slice(b"\",");
    }
    buf.extend_from_slice(b"\"timestamp\":\"");
    push_timestamp(buf, e.at);
    buf.extend_from_slice(b"\",\"messageId\":\"m-");
    push_u64(buf, number);
    buf.push(b'-');
    push_u64(buf, seq);
    buf.extend_from_slice(b"\",");
    match e.kind {
        Kind::IdentifyLink => {
            buf.extend_from_slice(b"\"traits\":{");
            push_key(buf, "email");
            push_json_str(buf, &person.email);
            buf.push(b',');
            push_key(buf, "first_name");
            push_json_str(buf, FIRST_NAMES[person.first].0);
            buf.push(b',');
            push_key(buf, "last_name");
            push_json_str(buf, LAST_NAMES[person.last].0);
            if let Some(company) = &person.company {
                buf.push(b',');
                push_key(buf, "company");
                push_json_str(buf, company);
            }
        }
        Kind::IdentifyTitle(t) => {
            buf.extend_from_slice(b"\"traits\":{");
            push_key(buf, "job_title");
            push_json_str(buf, TITLES[t as usize].0);
        }
        _ => {
            buf.extend_from_slice(b"\"properties\":{");
            push_properties(buf, world, number, e);
        }
    }
    buf.extend_from_slice(b"}}\n");
}

/// The title of a page.
fn push_page_title(buf: &mut Vec<u8>, world: &World, p: PageRef) {
    match p {
        PageRef::Static(i) => push_json_str(buf, PAGES[i as usize].1),
        PageRef::Webinar(w) => {
            let mut title = String::from("Webinar: ");
            title.push_str(world.webinars[w as usize].title);
            push_json_str(buf, &title);
        }
    }
}

/// Appends `"url":"…"` (with UTM parameters when a campaign is given).
fn push_url(buf: &mut Vec<u8>, world: &World, p: PageRef, utm: Option<u16>) {
    push_key(buf, "url");
    buf.push(b'"');
    buf.extend_from_slice(SITE.as_bytes());
    push_path(buf, world, p);
    if let Some(c) = utm {
        buf.extend_from_slice(b"?utm_source=newsletter&utm_medium=email&utm_campaign=");
        buf.extend_from_slice(world.campaigns[c as usize].id.as_bytes());
    }
    buf.push(b'"');
}

/// Appends a page's path (trusted ASCII, no escaping needed).
fn push_path(buf: &mut Vec<u8>, world: &World, p: PageRef) {
    match p {
        PageRef::Static(i) => buf.extend_from_slice(PAGES[i as usize].0.as_bytes()),
        PageRef::Webinar(w) => {
            buf.extend_from_slice(b"/webinars/");
            buf.extend_from_slice(world.webinars[w as usize].slug.as_bytes());
        }
    }
}

/// Appends a campaign id property.
fn push_campaign(buf: &mut Vec<u8>, world: &World, c: u16) {
    push_key(buf, "campaign");
    push_json_str(buf, &world.campaigns[c as usize].id);
}

/// Appends the campaign id and the mail's own id, `message_id`: `<campaign>.c-<n>`,
/// shared by the delivery, opens and clicks of one mail (what `[machine]` links by).
fn push_mail(buf: &mut Vec<u8>, world: &World, number: u64, c: u16) {
    push_campaign(buf, world, c);
    buf.extend_from_slice(b",\"message_id\":\"");
    buf.extend_from_slice(world.campaigns[c as usize].id.as_bytes());
    buf.extend_from_slice(b".c-");
    push_u64(buf, number);
    buf.push(b'"');
}

/// The properties of a track or page event (without the braces' opening).
fn push_properties(buf: &mut Vec<u8>, world: &World, number: u64, e: &Event) {
    match e.kind {
        Kind::Delivered(c) => {
            push_mail(buf, world, number, c);
            buf.push(b',');
            push_key(buf, "subject");
            push_json_str(buf, &world.campaigns[c as usize].subject);
        }
        Kind::Opened(c, machine) => {
            push_mail(buf, world, number, c);
            if machine {
                buf.extend_from_slice(b",\"machine_open\":true");
            }
        }
        Kind::Clicked(c, link) => {
            push_mail(buf, world, number, c);
            buf.push(b',');
            push_url(buf, world, link, Some(c));
        }
        Kind::Unsubscribed(c) => push_campaign(buf, world, c),
        Kind::Page(p, utm, referrer) => {
            push_url(buf, world, p, utm);
            buf.push(b',');
            push_key(buf, "path");
            buf.push(b'"');
            push_path(buf, world, p);
            buf.extend_from_slice(b"\",");
            push_key(buf, "title");
            push_page_title(buf, world, p);
            if referrer != 0 {
                buf.push(b',');
                push_key(buf, "referrer");
                push_json_str(buf, REFERRERS[referrer as usize]);
            }
        }
        Kind::FormSubmitted(form) => {
            push_key(buf, "form");
            let page = match form {
                Form::Contact => {
                    buf.extend_from_slice(b"\"contact-us\"");
                    page_index("/contact")
                }
                Form::Newsletter(p) => {
                    buf.extend_from_slice(b"\"newsletter-signup\"");
                    p
                }
                Form::Demo => {
                    buf.extend_from_slice(b"\"demo-request\"");
                    page_index("/demo")
                }
                Form::Content(p) => {
                    buf.extend_from_slice(b"\"content-");
                    buf.extend_from_slice(asset_slug(p).as_bytes());
                    buf.push(b'"');
                    p
                }
            };
            buf.push(b',');
            push_url(buf, world, PageRef::Static(page), None);
        }
        Kind::ContentDownloaded(p) => {
            push_key(buf, "asset");
            push_json_str(buf, asset_slug(p));
            buf.push(b',');
            push_key(buf, "title");
            push_json_str(buf, PAGES[p as usize].1);
            buf.push(b',');
            push_url(buf, world, PageRef::Static(p), None);
        }
        Kind::DemoRequested => push_url(buf, world, PageRef::Static(page_index("/demo")), None),
        Kind::WebinarRegistered(w) => {
            push_key(buf, "webinar");
            push_json_str(buf, world.webinars[w as usize].slug);
            buf.push(b',');
            push_key(buf, "title");
            push_json_str(buf, world.webinars[w as usize].title);
        }
        Kind::WebinarAttended(w, minutes) => {
            push_key(buf, "webinar");
            push_json_str(buf, world.webinars[w as usize].slug);
            buf.extend_from_slice(b",\"duration_minutes\":");
            push_u64(buf, u64::from(minutes));
        }
        Kind::SalesAccepted(rep) => {
            push_key(buf, "owner");
            push_json_str(buf, SALES_REPS[rep as usize]);
        }
        Kind::IdentifyLink | Kind::IdentifyTitle(_) => {}
    }
}

/// The slug of a resource page (`lead-scoring-playbook`).
fn asset_slug(p: u16) -> &'static str {
    PAGES[p as usize].0.trim_start_matches("/resources/")
}
