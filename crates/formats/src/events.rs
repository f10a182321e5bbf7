//! Segment-spec messages in JSONL: one message per line, read without keeping lines.
//!
//! A batch run reads tens of millions of lines, so [`parse_message`] borrows from the
//! line: ids and names are [`Cow`]s that copy only when the JSON escapes them, and
//! `properties`, `traits` and `context` stay raw JSON (checked, not parsed) until a
//! field in them is asked for. The first question about `properties.*` flattens that
//! object once into dotted paths; later questions reuse it.
//!
//! Which message is which (`type`, case-insensitive):
//!
//! | `type` | event name | needs |
//! | --- | --- | --- |
//! | `track` | its `event` | `event` |
//! | `page` | `Page Viewed` | |
//! | `screen` | `Screen Viewed` | |
//! | `identify` | none: changes attributes (`traits`) | |
//! | `alias` | none: links `previousId` to `userId` | `previousId` |
//! | `group` | none | |
//!
//! Every message needs `userId` or `anonymousId` (a string; integers are taken as their
//! decimal text, as Segment does; an empty string counts as missing) and a time: the
//! first of `timestamp`, `originalTimestamp`, `receivedAt`, `sentAt` that is present; if
//! that one is not a valid timestamp the message is rejected, naming it (a later field
//! is not tried instead: a broken clock should be seen, not papered over).
//!
//! [`JsonlReader`] yields lines one at a time from a reused buffer, or whole-line
//! [`Chunk`]s that several threads can parse while keeping line numbers exact.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use leadscore_engine::{Event, Fields, Value, ValueRef};
use leadscore_model::Millis;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::LineError;
use crate::time::parse_timestamp;

/// The event name of a `page` message.
pub const PAGE_VIEWED: &str = "Page Viewed";
/// The event name of a `screen` message.
pub const SCREEN_VIEWED: &str = "Screen Viewed";

/// A message's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `track`: an event with a name.
    Track,
    /// `page`: the event `Page Viewed`.
    Page,
    /// `screen`: the event `Screen Viewed`.
    Screen,
    /// `identify`: sets attributes from `traits`.
    Identify,
    /// `alias`: `previousId` and `userId` are the same person.
    Alias,
    /// `group`: the user belongs to a group (account); scores nothing.
    Group,
}

impl MessageKind {
    /// The kind for a `type` value, compared case-insensitively.
    pub fn from_type(text: &str) -> Option<Self> {
        const KINDS: [(&str, MessageKind); 6] = [
            ("track", MessageKind::Track),
            ("page", MessageKind::Page),
            ("screen", MessageKind::Screen),
            ("identify", MessageKind::Identify),
            ("alias", MessageKind::Alias),
            ("group", MessageKind::Group),
        ];
        KINDS
            .iter()
            .find(|(name, _)| text.eq_ignore_ascii_case(name))
            .map(|&(_, kind)| kind)
    }

    /// The `type` as Segment spells it (`track`).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Track => "track",
            MessageKind::Page => "page",
            MessageKind::Screen => "screen",
            MessageKind::Identify => "identify",
            MessageKind::Alias => "alias",
            MessageKind::Group => "group",
        }
    }

    /// True for the kinds that are events the engine scores: track, page, screen.
    pub fn is_event(self) -> bool {
        matches!(
            self,
            MessageKind::Track | MessageKind::Page | MessageKind::Screen
        )
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a line is not a usable message. Messages name the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The line is not JSON.
    #[error("not valid JSON at column {column}: {message}")]
    Json {
        /// serde_json's description.
        message: String,
        /// 1-based column in the line.
        column: usize,
    },
    /// Valid JSON, but not an object.
    #[error("not a message: expected a JSON object `{{...}}`, found {found}")]
    NotAnObject {
        /// What was found (`an array`, ...).
        found: &'static str,
    },
    /// No `type`.
    #[error("missing `type` (track, page, screen, identify, alias or group)")]
    MissingType,
    /// A `type` this reader does not know.
    #[error("unknown `type` `{0}`: expected track, page, screen, identify, alias or group")]
    UnknownType(String),
    /// A field has the wrong JSON type.
    #[error("`{field}` must be {expected}, found {found}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it must be (`a string`).
        expected: &'static str,
        /// What it is (`a number`).
        found: &'static str,
    },
    /// A field the message's type requires is missing or empty.
    #[error("missing `{field}`: {why}")]
    MissingField {
        /// The field.
        field: &'static str,
        /// Why it is needed.
        why: &'static str,
    },
    /// Neither `userId` nor `anonymousId`.
    #[error("missing `userId` and `anonymousId`: a message needs at least one")]
    MissingIdentity,
    /// None of the time fields.
    #[error(
        "missing timestamp: none of `timestamp`, `originalTimestamp`, `receivedAt`, `sentAt` is set"
    )]
    MissingTimestamp,
    /// The time field used is not a timestamp.
    #[error("`{field}` is not an RFC 3339 timestamp: `{value}`")]
    BadTimestamp {
        /// The field (`timestamp`, ...).
        field: &'static str,
        /// Its text.
        value: String,
    },
    /// Another problem that serde_json reported (e.g. a duplicate field).
    #[error("{0}")]
    Invalid(String),
}

impl MessageError {
    /// The message field at fault, when one is.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            MessageError::MissingType | MessageError::UnknownType(_) => Some("type"),
            MessageError::WrongType { field, .. }
            | MessageError::MissingField { field, .. }
            | MessageError::BadTimestamp { field, .. } => Some(field),
            MessageError::MissingIdentity => Some("userId"),
            MessageError::MissingTimestamp => Some("timestamp"),
            _ => None,
        }
    }
}

/// One parsed message, borrowing from its line.
///
/// Construct with [`parse_message`]. Read event fields through [`Fields`] (as the
/// engine's conditions do), identify traits with [`Message::traits`], or make an owned
/// [`Event`] with [`Message::to_event`].
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// The message type.
    pub kind: MessageKind,
    /// `userId`: the contact.
    pub user_id: Option<Cow<'a, str>>,
    /// `anonymousId`: a device or browser before the contact is known.
    pub anonymous_id: Option<Cow<'a, str>>,
    /// `previousId` (alias messages).
    pub previous_id: Option<Cow<'a, str>>,
    /// `groupId` (group messages).
    pub group_id: Option<Cow<'a, str>>,
    /// The event name: `event` for track, `Page Viewed`, `Screen Viewed`; `None` for
    /// identify, alias and group.
    pub event: Option<Cow<'a, str>>,
    /// `name` (the page or screen name).
    pub name: Option<Cow<'a, str>>,
    /// When it happened (see the module docs for which field).
    pub timestamp: Millis,
    /// `messageId`, the idempotency key.
    pub message_id: Option<Cow<'a, str>>,
    /// `properties`, raw; `None` when absent or null. Always an object when present.
    pub properties: Option<&'a RawValue>,
    /// `traits`, raw; `None` when absent or null. Always an object when present.
    pub traits: Option<&'a RawValue>,
    /// `context`, raw; `None` when absent or null. Always an object when present.
    pub context: Option<&'a RawValue>,
    flat_properties: OnceCell<Flat<'a>>,
    flat_context: OnceCell<Flat<'a>>,
    flat_traits: OnceCell<Flat<'a>>,
}

/// A flattened object: dotted path (relative to the object) and leaf value.
type Flat<'a> = Vec<(Cow<'a, str>, Leaf<'a>)>;

/// A scalar inside `properties`, `context` or `traits`.
#[derive(Debug, Clone, PartialEq)]
enum Leaf<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    Bool(bool),
    Null,
}

impl<'a> Leaf<'a> {
    fn as_value_ref(&self) -> Option<ValueRef<'_>> {
        match self {
            Leaf::Str(s) => Some(ValueRef::Str(s)),
            Leaf::Num(n) => Some(ValueRef::Num(*n)),
            Leaf::Bool(b) => Some(ValueRef::Bool(*b)),
            Leaf::Null => None,
        }
    }

    fn to_value(&self) -> Option<Value> {
        match self {
            Leaf::Str(s) => Some(Value::Str(s.to_string())),
            Leaf::Num(n) => Some(Value::Num(*n)),
            Leaf::Bool(b) => Some(Value::Bool(*b)),
            Leaf::Null => None,
        }
    }
}

/// The last entry for `key` (a repeated JSON key: the last one wins, as in JavaScript).
fn lookup<'s>(flat: &'s Flat<'_>, key: &str) -> Option<ValueRef<'s>> {
    flat.iter()
        .rev()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.as_value_ref())
}

impl<'a> Message<'a> {
    /// The event name for [`Event`]s: the event for track/page/screen, else the type
    /// (`identify`), so that a non-event never matches an event rule by accident.
    pub fn event_name(&self) -> &str {
        self.event.as_deref().unwrap_or(self.kind.as_str())
    }

    /// `userId`, else `anonymousId` (one of them is always present).
    pub fn identity(&self) -> &str {
        self.user_id
            .as_deref()
            .or(self.anonymous_id.as_deref())
            .unwrap_or_default()
    }

    fn properties_flat(&self) -> &Flat<'a> {
        self.flat_properties
            .get_or_init(|| flatten(self.properties))
    }

    fn context_flat(&self) -> &Flat<'a> {
        self.flat_context.get_or_init(|| flatten(self.context))
    }

    fn traits_flat(&self) -> &Flat<'a> {
        self.flat_traits.get_or_init(|| flatten(self.traits))
    }

    /// The `traits` as attribute changes, nested objects flattened to dotted keys
    /// (`{"company":{"name":"X"}}` is `company.name`); `None` means the trait was `null`
    /// and the attribute is removed. Arrays are skipped (attributes are scalars).
    /// Empty when the message has no traits; the caller decides which kinds count
    /// (identify, for contacts).
    pub fn traits(&self) -> Result<Vec<(String, Option<Value>)>, MessageError> {
        Ok(self
            .traits_flat()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_value()))
            .collect())
    }

    /// An owned engine [`Event`]: name, timestamp, message id, and as fields `type`,
    /// `name`, `userId`, `anonymousId`, `properties.*` and `context.*` (nulls and
    /// arrays left out). For the hot path, use the message itself as [`Fields`].
    pub fn to_event(&self) -> Event {
        let mut fields = Vec::new();
        fields.push(("type".to_owned(), Value::Str(self.kind.as_str().to_owned())));
        for (key, value) in [
            ("name", &self.name),
            ("userId", &self.user_id),
            ("anonymousId", &self.anonymous_id),
        ] {
            if let Some(value) = value {
                fields.push((key.to_owned(), Value::Str(value.to_string())));
            }
        }
        for (prefix, flat) in [
            ("properties.", self.properties_flat()),
            ("context.", self.context_flat()),
        ] {
            for (key, leaf) in flat {
                if let Some(value) = leaf.to_value() {
                    fields.push((format!("{prefix}{key}"), value));
                }
            }
        }
        Event {
            name: self.event_name().to_owned(),
            timestamp: self.timestamp,
            message_id: self.message_id.as_deref().map(str::to_owned),
            fields,
        }
    }
}

impl Fields for Message<'_> {
    /// `event` (case-insensitive, as for [`Event`]), `type`, `name`, `userId`,
    /// `anonymousId`, `previousId`, `groupId`, `messageId`, and dotted paths under
    /// `properties.`, `context.` and `traits.`. Nulls, arrays and objects are missing.
    fn field(&self, path: &str) -> Option<ValueRef<'_>> {
        if let Some(rest) = path.strip_prefix("properties.") {
            return lookup(self.properties_flat(), rest);
        }
        if let Some(rest) = path.strip_prefix("context.") {
            return lookup(self.context_flat(), rest);
        }
        if let Some(rest) = path.strip_prefix("traits.") {
            return lookup(self.traits_flat(), rest);
        }
        let text = match path {
            "type" => return Some(ValueRef::Str(self.kind.as_str())),
            "name" => &self.name,
            "userId" => &self.user_id,
            "anonymousId" => &self.anonymous_id,
            "previousId" => &self.previous_id,
            "groupId" => &self.group_id,
            "messageId" => &self.message_id,
            _ if path.eq_ignore_ascii_case("event") => &self.event,
            _ => return None,
        };
        text.as_deref().map(ValueRef::Str)
    }
}

/// The message as it is on the wire; everything optional, checked afterwards so that
/// each problem gets a message naming its field. `S` is how string fields are read:
/// [`Text`] (strings only: the fast path) or [`Loose`] (anything: to explain errors and
/// to accept integer ids).
#[derive(Deserialize)]
struct Wire<'a, S> {
    #[serde(rename = "type")]
    kind: Option<S>,
    #[serde(rename = "userId")]
    user_id: Option<S>,
    #[serde(rename = "anonymousId")]
    anonymous_id: Option<S>,
    #[serde(rename = "previousId")]
    previous_id: Option<S>,
    #[serde(rename = "groupId")]
    group_id: Option<S>,
    event: Option<S>,
    name: Option<S>,
    timestamp: Option<S>,
    #[serde(rename = "originalTimestamp")]
    original_timestamp: Option<S>,
    #[serde(rename = "receivedAt")]
    received_at: Option<S>,
    #[serde(rename = "sentAt")]
    sent_at: Option<S>,
    #[serde(rename = "messageId")]
    message_id: Option<S>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    #[serde(borrow)]
    traits: Option<&'a RawValue>,
    #[serde(borrow)]
    context: Option<&'a RawValue>,
}

/// A JSON string, borrowed unless escaped; anything else fails the fast path.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(TextVisitor)
    }
}

impl<'a> From<Text<'a>> for Loose<'a> {
    fn from(text: Text<'a>) -> Self {
        Loose::Str(text.0)
    }
}

/// Any JSON value in a field that should be a string: strings are borrowed when they
/// can be, integers kept as text (ids), everything else only named for the error.
enum Loose<'a> {
    Str(Cow<'a, str>),
    /// An integer, kept small so the wire struct stays small (it is moved per line).
    Int(i64),
    Other(&'static str),
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Loose::Other("a number"), Loose::Int))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::Int(v))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Loose::Other("a number"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Loose::Other("a boolean"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Other("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Other("an object"))
    }
}

/// A field that must be a string (or absent / null).
fn string<'a>(
    field: &'static str,
    value: Option<impl Into<Loose<'a>>>,
) -> Result<Option<Cow<'a, str>>, MessageError> {
    match value.map(Into::into) {
        None => Ok(None),
        Some(Loose::Str(s)) => Ok(Some(s)),
        Some(Loose::Int(_)) => Err(wrong_type(field, "a string", "a number")),
        Some(Loose::Other(found)) => Err(wrong_type(field, "a string", found)),
    }
}

/// An id: a string or an integer; empty or blank counts as absent.
fn id<'a>(
    field: &'static str,
    value: Option<impl Into<Loose<'a>>>,
) -> Result<Option<Cow<'a, str>>, MessageError> {
    let id = match value.map(Into::into) {
        None => None,
        Some(Loose::Str(s)) => Some(s),
        Some(Loose::Int(n)) => Some(Cow::Owned(n.to_string())),
        Some(Loose::Other(found)) => return Err(wrong_type(field, "a string", found)),
    };
    Ok(id.filter(|s| !is_blank(s.as_bytes())))
}

fn wrong_type(field: &'static str, expected: &'static str, found: &'static str) -> MessageError {
    MessageError::WrongType {
        field,
        expected,
        found,
    }
}

/// `properties`, `traits`, `context` must be objects when present.
fn object<'a>(
    field: &'static str,
    raw: Option<&'a RawValue>,
) -> Result<Option<&'a RawValue>, MessageError> {
    match raw {
        Some(raw) if !raw.get().starts_with('{') => {
            Err(wrong_type(field, "an object", json_kind(raw.get())))
        }
        raw => Ok(raw),
    }
}

/// What a JSON text is, for messages, from its first character.
fn json_kind(text: &str) -> &'static str {
    match text.trim_start().bytes().next() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// Parse one line into a [`Message`], checking everything the module docs list.
///
/// Unknown fields (`integrations`, `version`, ...) are skipped without being parsed
/// into values. The line must not contain a raw newline (JSON strings escape them).
pub fn parse_message(line: &str) -> Result<Message<'_>, MessageError> {
    match serde_json::from_str::<Wire<'_, Text<'_>>>(line) {
        Ok(wire) => build(wire),
        Err(_) => parse_loose(line),
    }
}

/// The second try, when a field is not a string or the line is not JSON: read every
/// field as anything, so integer ids are accepted and errors can name the field.
#[cold]
#[inline(never)]
fn parse_loose(line: &str) -> Result<Message<'_>, MessageError> {
    let wire: Wire<'_, Loose<'_>> = serde_json::from_str(line).map_err(|e| json_error(line, &e))?;
    build(wire)
}

/// Check a wire message and make it a [`Message`].
fn build<'a, S: Into<Loose<'a>>>(wire: Wire<'a, S>) -> Result<Message<'a>, MessageError> {
    let kind = match string("type", wire.kind)? {
        None => return Err(MessageError::MissingType),
        Some(text) => {
            MessageKind::from_type(&text).ok_or_else(|| MessageError::UnknownType(text.into()))?
        }
    };
    let user_id = id("userId", wire.user_id)?;
    let anonymous_id = id("anonymousId", wire.anonymous_id)?;
    let previous_id = id("previousId", wire.previous_id)?;
    let group_id = id("groupId", wire.group_id)?;
    let message_id = id("messageId", wire.message_id)?;
    let name = string("name", wire.name)?;
    let event_field = string("event", wire.event)?;
    let event = match kind {
        MessageKind::Track => match event_field {
            Some(event) if !is_blank(event.as_bytes()) => Some(event),
            _ => {
                return Err(MessageError::MissingField {
                    field: "event",
                    why: "a track message names its event",
                });
            }
        },
        MessageKind::Page => Some(Cow::Borrowed(PAGE_VIEWED)),
        MessageKind::Screen => Some(Cow::Borrowed(SCREEN_VIEWED)),
        MessageKind::Identify | MessageKind::Alias | MessageKind::Group => None,
    };
    if user_id.is_none() && anonymous_id.is_none() {
        return Err(MessageError::MissingIdentity);
    }
    if kind == MessageKind::Alias && previous_id.is_none() {
        return Err(MessageError::MissingField {
            field: "previousId",
            why: "an alias message names the id it links",
        });
    }

    let mut timestamp = None;
    for (field, value) in [
        ("timestamp", wire.timestamp),
        ("originalTimestamp", wire.original_timestamp),
        ("receivedAt", wire.received_at),
        ("sentAt", wire.sent_at),
    ] {
        if let Some(text) = string(field, value)? {
            timestamp = Some(
                parse_timestamp(&text).ok_or_else(|| MessageError::BadTimestamp {
                    field,
                    value: text.into_owned(),
                })?,
            );
            break;
        }
    }
    let timestamp = timestamp.ok_or(MessageError::MissingTimestamp)?;

    Ok(Message {
        kind,
        user_id,
        anonymous_id,
        previous_id,
        group_id,
        event,
        name,
        timestamp,
        message_id,
        properties: object("properties", wire.properties)?,
        traits: object("traits", wire.traits)?,
        context: object("context", wire.context)?,
        flat_properties: OnceCell::new(),
        flat_context: OnceCell::new(),
        flat_traits: OnceCell::new(),
    })
}

/// A serde_json failure as a [`MessageError`], without serde's "line 1" (the caller
/// knows the real line).
#[cold]
fn json_error(line: &str, error: &serde_json::Error) -> MessageError {
    if error.is_data() && !line.trim_start().starts_with('{') {
        return MessageError::NotAnObject {
            found: json_kind(line),
        };
    }
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
    if error.is_data() {
        MessageError::Invalid(message)
    } else {
        MessageError::Json {
            message,
            column: error.column(),
        }
    }
}

/// Flatten a raw object into dotted paths. The JSON was checked when the message was
/// parsed, so this cannot fail; if it somehow did, what was read so far is kept.
fn flatten(raw: Option<&RawValue>) -> Flat<'_> {
    let mut out = Vec::new();
    if let Some(raw) = raw {
        let mut de = serde_json::Deserializer::from_str(raw.get());
        let _ = ObjectSeed {
            out: &mut out,
            prefix: None,
        }
        .deserialize(&mut de);
    }
    out
}

/// Reads an object, pushing its leaves with keys under `prefix`.
struct ObjectSeed<'v, 'a> {
    out: &'v mut Flat<'a>,
    prefix: Option<&'v str>,
}

impl<'de, 'v> DeserializeSeed<'de> for ObjectSeed<'v, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, 'v> Visitor<'de> for ObjectSeed<'v, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let key = match self.prefix {
                None => key,
                Some(prefix) => Cow::Owned(format!("{prefix}.{key}")),
            };
            map.next_value_seed(LeafSeed { out: self.out, key })?;
        }
        Ok(())
    }
}

/// An object key, borrowed unless escaped.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Loose::deserialize(deserializer)? {
            Loose::Str(s) => Ok(Key(s)),
            Loose::Int(n) => Ok(Key(Cow::Owned(n.to_string()))),
            Loose::Other(found) => Err(de::Error::custom(format!("key is {found}"))),
        }
    }
}

/// Reads one value: a scalar is pushed under `key`, an object recursed into, an array
/// skipped.
struct LeafSeed<'v, 'a> {
    out: &'v mut Flat<'a>,
    key: Cow<'a, str>,
}

impl<'de, 'v> DeserializeSeed<'de> for LeafSeed<'v, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, 'v> LeafSeed<'v, 'de> {
    fn push(self, leaf: Leaf<'de>) {
        self.out.push((self.key, leaf));
    }
}

impl<'de, 'v> Visitor<'de> for LeafSeed<'v, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.push(Leaf::Str(Cow::Borrowed(v)));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.push(Leaf::Str(Cow::Owned(v.to_owned())));
        Ok(())
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.push(Leaf::Str(Cow::Owned(v)));
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.push(Leaf::Bool(v));
        Ok(())
    }

    #[expect(clippy::cast_precision_loss, reason = "numbers are f64 in the engine")]
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.push(Leaf::Num(v as f64));
        Ok(())
    }

    #[expect(clippy::cast_precision_loss, reason = "numbers are f64 in the engine")]
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.push(Leaf::Num(v as f64));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.push(Leaf::Num(v));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.push(Leaf::Null);
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.push(Leaf::Null);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        ObjectSeed {
            out: self.out,
            prefix: Some(&self.key),
        }
        .visit_map(map)
    }
}

/// One line from [`JsonlReader::next_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number.
    pub number: u64,
    /// The text, without the line terminator.
    pub text: &'a str,
    /// The file it is from, for errors.
    pub path: &'a Path,
}

impl Line<'_> {
    /// An invalid-line error for this line, e.g. from a [`MessageError`].
    pub fn error(&self, message: impl fmt::Display) -> LineError {
        LineError::invalid(self.path, self.number, message)
    }
}

/// A run of whole lines from a [`JsonlReader`], to parse on another thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunk {
    /// The line number of the first line in `text`.
    pub first_line: u64,
    /// Whole lines, `\n`-separated. A line that was not valid UTF-8 is left empty here
    /// (so numbering stays exact) and reported in `errors`.
    pub text: String,
    /// Lines that could not be taken (invalid UTF-8), to report.
    pub errors: Vec<LineError>,
}

impl Chunk {
    /// The non-blank lines with their line numbers, without the line terminator.
    pub fn lines(&self) -> impl Iterator<Item = (u64, &str)> {
        self.text
            .split('\n')
            .zip(self.first_line..)
            .filter_map(|(line, number)| {
                let line = line.strip_suffix('\r').unwrap_or(line);
                (!is_blank(line.as_bytes())).then_some((number, line))
            })
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// The UTF-8 byte order mark, which some editors put at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads a JSONL file line by line (a reused buffer: no allocation per line) or in
/// chunks of whole lines. Blank lines are skipped; line numbers count every line.
#[derive(Debug)]
pub struct JsonlReader<R> {
    inner: R,
    path: PathBuf,
    /// Lines read so far (the number of the last line returned or chunked).
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl JsonlReader<BufReader<File>> {
    /// Open a file for reading, with a large buffer.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, crate::FileError> {
        let path = path.as_ref();
        let file = File::open(path)
            .map_err(|e| crate::FileError::new(path, format!("cannot open: {e}")))?;
        Ok(Self::new(BufReader::with_capacity(1 << 18, file), path))
    }
}

impl<R: BufRead> JsonlReader<R> {
    /// Read from `inner`; `path` names it in errors (`<stdin>` for standard input).
    pub fn new(inner: R, path: impl Into<PathBuf>) -> Self {
        Self {
            inner,
            path: path.into(),
            line: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    /// The path given for errors.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    /// An invalid-line error at `line` of this file, e.g. for a [`MessageError`].
    pub fn error(&self, line: u64, message: impl fmt::Display) -> LineError {
        LineError::invalid(&self.path, line, message)
    }

    /// The next non-blank line, without its terminator; `None` at the end. The line
    /// borrows the reader's buffer until the next call. An invalid-UTF-8 line is an
    /// [`Invalid`](crate::LineErrorKind::Invalid) error (reading goes on); a read
    /// failure is a fatal one, after which this returns `None`.
    pub fn next_line(&mut self) -> Option<Result<Line<'_>, LineError>> {
        loop {
            if self.done {
                return None;
            }
            self.buf.clear();
            match self.inner.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(LineError::io(&self.path, self.line + 1, &e)));
                }
            }
            self.line += 1;
            let start = if self.line == 1 && self.buf.starts_with(BOM) {
                BOM.len()
            } else {
                0
            };
            let end = start + trim_terminator(&self.buf[start..]).len();
            if is_blank(&self.buf[start..end]) {
                continue;
            }
            let number = self.line;
            return Some(match std::str::from_utf8(&self.buf[start..end]) {
                Ok(text) => Ok(Line {
                    number,
                    text,
                    path: &self.path,
                }),
                Err(e) => Err(utf8_error(&self.path, number, e)),
            });
        }
    }

    /// About `max_bytes` of whole lines (more when one line is longer), or `None` at
    /// the end. A read failure is returned as a fatal [`LineError`].
    pub fn read_chunk(&mut self, max_bytes: usize) -> Result<Option<Chunk>, LineError> {
        if self.done {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(max_bytes.saturating_add(1024).min(1 << 26));
        loop {
            if !bytes.is_empty() && bytes.len() >= max_bytes && bytes.last() == Some(&b'\n') {
                break;
            }
            let available = match self.inner.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done = true;
                    let line = self.line + count_lines(&bytes) + 1;
                    return Err(LineError::io(&self.path, line, &e));
                }
            };
            if available.is_empty() {
                self.done = true;
                break;
            }
            let room = max_bytes.saturating_sub(bytes.len());
            if available.len() <= room {
                let n = available.len();
                bytes.extend_from_slice(available);
                self.inner.consume(n);
                continue;
            }
            // Take up to the room, then finish the line it ends in.
            let take = match memchr::memrchr(b'\n', &available[..room]) {
                Some(newline) => newline + 1,
                None => match memchr::memchr(b'\n', &available[room..]) {
                    Some(newline) => room + newline + 1,
                    None => available.len(),
                },
            };
            bytes.extend_from_slice(&available[..take]);
            self.inner.consume(take);
            if bytes.last() == Some(&b'\n') {
                break;
            }
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        let first_line = self.line + 1;
        self.line += count_lines(&bytes);
        if first_line == 1 && bytes.starts_with(BOM) {
            bytes.drain(..BOM.len());
        }
        let (text, errors) = match String::from_utf8(bytes) {
            Ok(text) => (text, Vec::new()),
            Err(e) => blank_invalid_lines(&self.path, first_line, e.into_bytes()),
        };
        Ok(Some(Chunk {
            first_line,
            text,
            errors,
        }))
    }
}

/// Lines in `bytes`: its newlines, plus one for a last line without one.
fn count_lines(bytes: &[u8]) -> u64 {
    let newlines = memchr::memchr_iter(b'\n', bytes).count() as u64;
    newlines + u64::from(!bytes.is_empty() && bytes.last() != Some(&b'\n'))
}

fn trim_terminator(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn utf8_error(path: &Path, line: u64, e: std::str::Utf8Error) -> LineError {
    LineError::invalid(
        path,
        line,
        format!("not valid UTF-8 (byte {})", e.valid_up_to() + 1),
    )
}

/// The slow path of [`JsonlReader::read_chunk`]: empty the lines that are not UTF-8.
#[cold]
fn blank_invalid_lines(path: &Path, first_line: u64, bytes: Vec<u8>) -> (String, Vec<LineError>) {
    let mut text = String::with_capacity(bytes.len());
    let mut errors = Vec::new();
    for (line, number) in bytes.split_inclusive(|&b| b == b'\n').zip(first_line..) {
        match std::str::from_utf8(line) {
            Ok(line) => text.push_str(line),
            Err(e) => {
                errors.push(utf8_error(path, number, e));
                if line.ends_with(b"\n") {
                    text.push('\n');
                }
            }
        }
    }
    (text, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACK: &str = r#"{"type":"track","event":"Email Opened","userId":"c-17","timestamp":"2026-05-01T09:30:00Z","messageId":"m-1","properties":{"subject":"Hi","campaign":{"id":7,"name":"Spring"},"tags":["a"],"empty":null,"opened":true}}"#;

    #[test]
    fn track_borrows_from_the_line() {
        let m = parse_message(TRACK).expect("valid");
        assert_eq!(m.kind, MessageKind::Track);
        assert!(matches!(m.user_id, Some(Cow::Borrowed("c-17"))));
        assert!(matches!(m.event, Some(Cow::Borrowed("Email Opened"))));
        assert_eq!(m.message_id.as_deref(), Some("m-1"));
        assert_eq!(m.timestamp, 1_777_627_800_000);
    }

    #[test]
    fn properties_flatten_lazily_by_dotted_path() {
        let m = parse_message(TRACK).expect("valid");
        assert!(m.flat_properties.get().is_none());
        assert_eq!(m.field("properties.subject"), Some(ValueRef::Str("Hi")));
        assert_eq!(m.field("properties.campaign.id"), Some(ValueRef::Num(7.0)));
        assert_eq!(
            m.field("properties.campaign.name"),
            Some(ValueRef::Str("Spring"))
        );
        assert_eq!(m.field("properties.opened"), Some(ValueRef::Bool(true)));
        assert_eq!(m.field("properties.tags"), None);
        assert_eq!(m.field("properties.empty"), None);
        assert_eq!(m.field("properties.campaign"), None);
        assert_eq!(m.field("context.ip"), None);
        assert!(matches!(
            &m.properties_flat()[0].0,
            Cow::Borrowed("subject")
        ));
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let line = r#"{"type":"track","event":"Caf\u00e9 \"Visit\"","userId":"c\n1","timestamp":"2026-05-01T09:30:00Z","properties":{"k\u0065y":"v\\w"}}"#;
        let m = parse_message(line).expect("valid");
        assert_eq!(m.event.as_deref(), Some("Café \"Visit\""));
        assert_eq!(m.user_id.as_deref(), Some("c\n1"));
        assert_eq!(m.field("properties.key"), Some(ValueRef::Str("v\\w")));
    }

    #[test]
    fn repeated_property_keys_keep_the_last() {
        let line = r#"{"type":"track","event":"E","userId":"u","timestamp":"2026-05-01T09:30:00Z","properties":{"a":1,"a":2}}"#;
        let m = parse_message(line).expect("valid");
        assert_eq!(m.field("properties.a"), Some(ValueRef::Num(2.0)));
    }

    #[test]
    fn numeric_ids_are_their_text() {
        let line = r#"{"type":"identify","userId":42,"timestamp":"2026-05-01T09:30:00Z"}"#;
        let m = parse_message(line).expect("valid");
        assert_eq!(m.user_id.as_deref(), Some("42"));
    }

    #[test]
    fn event_field_is_case_insensitive_like_event() {
        let m = parse_message(TRACK).expect("valid");
        assert_eq!(m.field("Event"), Some(ValueRef::Str("Email Opened")));
        assert_eq!(m.field("type"), Some(ValueRef::Str("track")));
        assert_eq!(m.field("userId"), Some(ValueRef::Str("c-17")));
    }

    #[test]
    fn json_errors_do_not_mention_line_one() {
        let err = parse_message(r#"{"type":"track","#).expect_err("truncated");
        assert!(matches!(err, MessageError::Json { .. }), "{err:?}");
        assert!(!err.to_string().contains("line 1"), "{err}");
    }
}
