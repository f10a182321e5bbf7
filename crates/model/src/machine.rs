//! `[machine]`: telling machine e-mail activity (privacy-proxy opens, link scanners) from
//! people, so that a machine open or click earns only a share of its rule's points.
//!
//! The engine decides per open or click, from the event itself (a provider's flag, a
//! user agent or an IP range in a named list) and from the other events of the same
//! mailing (linked by a message id property): an open or click within a few seconds of
//! its delivery, a click inside a burst of clicks on the same mailing, a click with no
//! human-looking open before it. See `docs/model-format.md` and `docs/semantics.md`.

use std::net::IpAddr;

use crate::compiled::{EventNameId, Millis};

/// The compiled `[machine]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    /// Share of its rule's points a machine open or click earns, in `[0, 1]`.
    pub share: f64,
    /// Event fields whose value links opens and clicks to their delivery (the first one
    /// present wins): `properties.message_id`, `properties.sg_message_id`.
    pub message_id: Vec<String>,
    /// The delivery event.
    pub delivered: EventNameId,
    /// Open events.
    pub opens: Vec<EventNameId>,
    /// Click events.
    pub clicks: Vec<EventNameId>,
    /// An open this soon after its delivery (inclusive) is a machine's.
    pub open_within: Option<Millis>,
    /// A click this soon after its delivery (inclusive) is a machine's.
    pub click_within: Option<Millis>,
    /// A click among `clicks` or more clicks on one mailing inside `within` is a machine's.
    pub burst: Option<Burst>,
    /// A click with no human open of the same mailing at or before it is a machine's.
    pub click_needs_open: bool,
    /// Fields that a provider sets to `true` for machine activity.
    pub flags: Vec<String>,
    /// Lower-cased user agent fragments: an event whose user agent contains one is a
    /// machine's. Read from [`USER_AGENT_FIELDS`].
    pub user_agents: Vec<String>,
    /// IP ranges: an event from inside one is a machine's. Read from [`IP_FIELDS`].
    pub ip_ranges: Vec<IpRange>,
}

/// `burst = { clicks = N, within = "2s" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    /// How many clicks on one mailing make a burst (2 or more).
    pub clicks: u32,
    /// The window they fall in, inclusive.
    pub within: Millis,
}

/// The fields a user agent is read from, first present wins.
pub const USER_AGENT_FIELDS: &[&str] = &["context.userAgent", "properties.useragent"];
/// The fields an IP address is read from, first present wins.
pub const IP_FIELDS: &[&str] = &["context.ip", "properties.ip"];
/// Default `message_id` fields.
pub const DEFAULT_MESSAGE_ID: &[&str] = &["properties.message_id", "properties.sg_message_id"];
/// Default `flags`.
pub const DEFAULT_FLAGS: &[&str] = &["properties.machine_open"];

/// An IP address range in CIDR notation (`17.58.0.0/16`, `2a01:b747::/32`) or a single
/// address. IPv4 addresses are kept as IPv4-mapped IPv6 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: u128,
    /// Prefix length on the 128-bit (mapped) address.
    prefix: u8,
}

impl IpRange {
    /// Parse `a.b.c.d/n`, `x:y::/n` or a plain address; `None` when invalid.
    pub fn parse(text: &str) -> Option<IpRange> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().ok()?;
        let (bits, offset) = match address {
            IpAddr::V4(v4) => (u128::from(v4.to_ipv6_mapped()), 96u8),
            IpAddr::V6(v6) => (u128::from(v6), 0u8),
        };
        let width = 128 - offset;
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|&p| p <= width)?
            }
            Some(_) => return None,
            None => width,
        } + offset;
        Some(IpRange {
            network: bits & mask(prefix),
            prefix,
        })
    }

    /// Whether `text` is an address inside this range.
    pub fn contains(&self, text: &str) -> bool {
        let Ok(address) = text.trim().parse::<IpAddr>() else {
            return false;
        };
        let bits = match address {
            IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => u128::from(v4.to_ipv6_mapped()),
                None => u128::from(v6),
            },
        };
        bits & mask(self.prefix) == self.network
    }
}

fn mask(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

/// Parse a `[machine]` duration: a model duration (`m`, `h`, `d`, `w`) or whole seconds
/// (`10s`), positive.
pub(crate) fn parse_duration(text: &str) -> Option<Millis> {
    if let Some(digits) = text.strip_suffix('s')
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        let count: Millis = digits.parse().ok()?;
        return (count > 0).then(|| count.checked_mul(1000)).flatten();
    }
    crate::duration::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_contain() {
        let range = IpRange::parse("17.58.0.0/16").expect("valid");
        assert!(range.contains("17.58.3.4"));
        assert!(!range.contains("17.59.0.1"));
        assert!(range.contains("::ffff:17.58.9.9"));
        let single = IpRange::parse("10.0.0.1").expect("valid");
        assert!(single.contains("10.0.0.1") && !single.contains("10.0.0.2"));
        let v6 = IpRange::parse("2a01:b747::/32").expect("valid");
        assert!(v6.contains("2a01:b747:1::5") && !v6.contains("2a02::1"));
        assert!(
            IpRange::parse("0.0.0.0/0")
                .expect("valid")
                .contains("8.8.8.8")
        );
        for bad in ["17.58.0.0/33", "nope", "1.2.3.4/", "1.2.3.4/x", "::/129"] {
            assert_eq!(IpRange::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn seconds_and_model_durations() {
        assert_eq!(parse_duration("10s"), Some(10_000));
        assert_eq!(parse_duration("2m"), Some(120_000));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("1.5s"), None);
    }
}
