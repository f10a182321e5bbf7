//! What the engine scores: a contact's attributes, its events and manual adjustments.
//!
//! These are plain values with no I/O attached; `leadscore-formats` reads them from files
//! and the server from its store.

use std::collections::BTreeMap;

use leadscore_model::Millis;

/// An attribute or event field value. Missing values are absent, never a variant.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string (a string that parses as a number still compares as one).
    Str(String),
}

/// A borrowed [`Value`], so conditions can read fields without cloning them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string.
    Str(&'a str),
}

impl Value {
    /// Borrow as a [`ValueRef`].
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Num(n) => ValueRef::Num(*n),
            Value::Str(s) => ValueRef::Str(s),
        }
    }
}

/// Anything a field condition can read: contact attributes, an event's fields.
///
/// Paths are as written in the model: `job_title`, `properties.url`, `context.ip`.
pub trait Fields {
    /// The value at `path`, or `None` when it is missing.
    fn field(&self, path: &str) -> Option<ValueRef<'_>>;
}

/// A contact's attributes. `email_domain` is derived from `email` on every read and
/// cannot be set directly: it always agrees with the e-mail address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    values: BTreeMap<String, Value>,
}

impl Attributes {
    /// No attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `key` (a later set wins). Setting `email_domain` is ignored: it is derived.
    pub fn set(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        if key != "email_domain" {
            self.values.insert(key, value);
        }
    }

    /// Remove `key`.
    pub fn remove(&mut self, key: &str) {
        self.values.remove(key);
    }

    /// The stored value of `key` (not derived ones).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// Stored attributes in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of stored attributes.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl Fields for Attributes {
    fn field(&self, path: &str) -> Option<ValueRef<'_>> {
        if path == "email_domain" {
            return match self.values.get("email") {
                Some(Value::Str(email)) => email_domain(email).map(ValueRef::Str),
                _ => None,
            };
        }
        self.values.get(path).map(Value::as_ref)
    }
}

/// The part after the last `@`, when there is a non-empty one. Not lower-cased here:
/// every string comparison is case-insensitive already.
pub fn email_domain(email: &str) -> Option<&str> {
    let (_, domain) = email.trim().rsplit_once('@')?;
    (!domain.is_empty()).then_some(domain)
}

/// A tracked event (`track`, or `page` as `Page Viewed`), ready to classify.
///
/// `fields` holds the message's fields flattened to dotted paths (`properties.url`,
/// `name`, `type`, `context.ip`); `event` is `name` below and `timestamp` is not repeated.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Event name as sent (`Email Opened`); matched case-insensitively.
    pub name: String,
    /// When it happened.
    pub timestamp: Millis,
    /// Idempotency key; `None`: every copy counts.
    pub message_id: Option<String>,
    /// Flattened fields.
    pub fields: Vec<(String, Value)>,
}

impl Fields for Event {
    fn field(&self, path: &str) -> Option<ValueRef<'_>> {
        if path.eq_ignore_ascii_case("event") {
            return Some(ValueRef::Str(&self.name));
        }
        self.fields
            .iter()
            .find(|(k, _)| k == path)
            .map(|(_, v)| v.as_ref())
    }
}

/// A manual adjustment by a person: points with author, reason and time.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjustment {
    /// When it was made; it counts from then on.
    pub at: Millis,
    /// Points (may be negative).
    pub points: f64,
    /// The score group it belongs to, if any (an index into the model's groups).
    pub group: Option<leadscore_model::GroupId>,
    /// Who made it.
    pub author: String,
    /// Why (required by the API; kept here for the explanation).
    pub reason: String,
}
