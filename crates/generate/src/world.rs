//! The shared calendar every contact lives in: mailing campaigns and webinars.
//!
//! The marketing team sends the same campaigns to everybody on the list, so campaigns
//! and webinars are drawn once per seed, before any contact. Each contact then decides
//! (with its own random stream) which mails it opens, which links it clicks and which
//! webinars it joins.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::fmt::{DAY, civil_from_days, weekday};
use crate::tables::{PAGES, PageKind, WEBINAR_TOPICS, pages_of};

/// A page reference: one of the static [`PAGES`] or a webinar's landing page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageRef {
    /// Index into [`PAGES`].
    Static(u16),
    /// Index into [`World::webinars`]: `/webinars/<slug>`.
    Webinar(u16),
}

/// What a campaign is about; decides its links and how clickable it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CampaignKind {
    /// The regular newsletter: blog posts and a resource.
    Newsletter,
    /// Promotes one gated resource.
    ContentPromo,
    /// Product news: product and pricing pages.
    ProductUpdate,
    /// Invitation to a webinar (index into [`World::webinars`]).
    WebinarInvite(u16),
}

/// One mailing.
#[derive(Debug, Clone)]
pub(crate) struct Campaign {
    /// `properties.campaign` of its e-mail events, also the `utm_campaign` of its links.
    pub id: String,
    /// `properties.subject` of `Email Delivered`.
    pub subject: String,
    /// Send time (Unix seconds); deliveries trickle in during the following minutes.
    pub at: i64,
    /// What it is about.
    pub kind: CampaignKind,
    /// Pages its links point to (at least one).
    pub links: Vec<PageRef>,
}

/// One webinar.
#[derive(Debug, Clone)]
pub(crate) struct Webinar {
    /// Slug, `properties.webinar`.
    pub slug: &'static str,
    /// Title.
    pub title: &'static str,
    /// Start (Unix seconds).
    pub at: i64,
}

/// The calendar plus lookup tables derived from [`PAGES`].
#[derive(Debug)]
pub(crate) struct World {
    /// History window start (Unix seconds, inclusive).
    pub start: i64,
    /// History window end (Unix seconds, exclusive): no event at or after it.
    pub end: i64,
    /// Campaigns in send order.
    pub campaigns: Vec<Campaign>,
    /// Webinars in time order.
    pub webinars: Vec<Webinar>,
    /// Pages by kind, indexed by [`kind_index`].
    pub pages_by_kind: Vec<Vec<u16>>,
}

/// All page kinds, in the order used by [`World::pages_by_kind`].
pub(crate) const KINDS: [PageKind; 10] = [
    PageKind::Home,
    PageKind::Blog,
    PageKind::Product,
    PageKind::Pricing,
    PageKind::Docs,
    PageKind::Resource,
    PageKind::Webinars,
    PageKind::Careers,
    PageKind::Company,
    PageKind::Demo,
];

/// Position of a kind in [`KINDS`].
pub(crate) fn kind_index(kind: PageKind) -> usize {
    KINDS.iter().position(|k| *k == kind).unwrap_or(0)
}

/// Index of a static page by path.
pub(crate) fn page_index(path: &str) -> u16 {
    PAGES.iter().position(|p| p.0 == path).unwrap_or(0) as u16
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `YYYY-MM-DD` of a Unix time.
fn date(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Moves a time to the nearest of the given weekdays (0 = Monday), keeping the time of
/// day, never outside `[lo, hi)` when avoidable.
fn to_weekday(secs: i64, allowed: &[i64], lo: i64, hi: i64) -> i64 {
    let mut best = secs;
    let mut best_dist = i64::MAX;
    for shift in -3..=3 {
        let t = secs + shift * DAY;
        if allowed.contains(&weekday(t)) && t >= lo && t < hi && shift.abs() < best_dist {
            best = t;
            best_dist = shift.abs();
        }
    }
    best
}

impl World {
    /// Draws the calendar for a window. `scale` is the requested events per contact
    /// relative to the calibrated 50 (it scales how many mailings go out).
    pub(crate) fn new(rng: &mut ChaCha8Rng, start: i64, end: i64, scale: f64) -> World {
        let span = (end - start).max(1);
        let days = span as f64 / DAY as f64;
        let pages_by_kind = KINDS.iter().map(|k| pages_of(*k)).collect();
        let blog = pages_of(PageKind::Blog);
        let resources = pages_of(PageKind::Resource);
        let products = pages_of(PageKind::Product);

        // Webinars: about one a month, Tuesday to Thursday at 15:00 UTC.
        let n_webinars = ((days / 30.0).round() as usize).clamp(1, WEBINAR_TOPICS.len());
        let topic_offset = rng.random_range(0..WEBINAR_TOPICS.len());
        let mut webinars = Vec::with_capacity(n_webinars);
        for j in 0..n_webinars {
            let raw = start + ((j as f64 + 0.6) * span as f64 / n_webinars as f64) as i64;
            let day_start = raw.div_euclid(DAY) * DAY + 15 * 3600;
            let at = to_weekday(day_start, &[1, 2, 3], start, end);
            let (slug, title) = WEBINAR_TOPICS[(topic_offset + j) % WEBINAR_TOPICS.len()];
            webinars.push(Webinar { slug, title, at });
        }

        let mut campaigns = Vec::new();
        // One invitation ten days before each webinar (if inside the window).
        for (j, w) in webinars.iter().enumerate() {
            let raw = w.at - 10 * DAY - 7 * 3600 + rng.random_range(0..3600);
            let at = to_weekday(raw, &[1, 2, 3], start, end);
            if at >= start {
                campaigns.push(Campaign {
                    id: format!("invite-{}", w.slug),
                    subject: format!("Webinar invitation: {}", w.title),
                    at,
                    kind: CampaignKind::WebinarInvite(j as u16),
                    links: vec![PageRef::Webinar(j as u16)],
                });
            }
        }

        // Regular mailings: about one a week at the calibrated volume, Tuesday or
        // Thursday morning (07:00-09:00 UTC).
        let total = (26.0 * scale * days / 180.0).round() as usize;
        let regular = total
            .saturating_sub(campaigns.len())
            .max(usize::from(scale > 0.0));
        for j in 0..regular {
            let raw = start + ((j as f64 + 0.5) * span as f64 / regular as f64) as i64;
            let morning = raw.div_euclid(DAY) * DAY + 7 * 3600 + rng.random_range(0..7200);
            let at = to_weekday(morning, &[1, 3], start, end);
            let d = date(at);
            let (_, month, _) = civil_from_days(at.div_euclid(DAY));
            let kind = match j % 4 {
                0 | 2 => CampaignKind::Newsletter,
                1 => CampaignKind::ContentPromo,
                _ => CampaignKind::ProductUpdate,
            };
            let campaign = match kind {
                CampaignKind::Newsletter => {
                    let ia = rng.random_range(0..blog.len());
                    let mut ib = rng.random_range(0..blog.len());
                    if ib == ia {
                        ib = (ia + 1) % blog.len();
                    }
                    let (a, b) = (blog[ia], blog[ib]);
                    let r = resources[rng.random_range(0..resources.len())];
                    Campaign {
                        id: format!("nl-{d}"),
                        subject: format!("Newsletter: {}", PAGES[a as usize].1),
                        at,
                        kind,
                        links: vec![PageRef::Static(a), PageRef::Static(b), PageRef::Static(r)],
                    }
                }
                CampaignKind::ContentPromo => {
                    let r = resources[rng.random_range(0..resources.len())];
                    let slug = PAGES[r as usize].0.trim_start_matches("/resources/");
                    Campaign {
                        id: format!("promo-{slug}-{d}"),
                        subject: format!("New for you: {}", PAGES[r as usize].1),
                        at,
                        kind,
                        links: vec![PageRef::Static(r)],
                    }
                }
                _ => {
                    let p = products[rng.random_range(0..products.len())];
                    Campaign {
                        id: format!("update-{d}"),
                        subject: format!(
                            "What's new in Example Software, {}",
                            MONTHS[(month - 1) as usize]
                        ),
                        at,
                        kind,
                        links: vec![PageRef::Static(p), PageRef::Static(page_index("/pricing"))],
                    }
                }
            };
            campaigns.push(campaign);
        }
        campaigns.retain(|c| c.at >= start && c.at < end);
        campaigns.sort_by_key(|c| c.at);
        World {
            start,
            end,
            campaigns,
            webinars,
            pages_by_kind,
        }
    }

    /// A world drawn from a seed alone (used by tests).
    #[cfg(test)]
    pub(crate) fn from_seed(seed: u64, start: i64, end: i64) -> World {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        World::new(&mut rng, start, end, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmt::days_from_civil;

    #[test]
    fn calendar_is_inside_the_window_and_on_weekdays() {
        let end = days_from_civil(2026, 11, 1) * DAY;
        let start = end - 180 * DAY;
        let world = World::from_seed(7, start, end);
        assert!(world.campaigns.len() >= 24, "{}", world.campaigns.len());
        assert!(world.webinars.len() == 6);
        for c in &world.campaigns {
            assert!(c.at >= start && c.at < end);
            assert!(weekday(c.at) < 5, "{} on a weekend", c.id);
            assert!(!c.links.is_empty());
        }
        for w in &world.webinars {
            assert!(w.at >= start && w.at < end);
        }
    }
}
