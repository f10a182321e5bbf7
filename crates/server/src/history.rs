//! The rescoring's history cache: each contact's log, parsed and classified once, kept
//! between rescorings, so that a rescoring after a commit reads and parses only the
//! messages appended since the last one (a delta) instead of the whole history.
//!
//! **What is cached.** Per contact: its history messages as the engine needs them
//! (each event's [`EventClass`] under the model in use, identify traits, the anonymous
//! ids its own `identify`/`alias` messages link), the last log position read, how many
//! messages were read, the anonymous ids the store links to it and when its record
//! was created. Attributes and adjustments are small and read fresh every time.
//!
//! **Why not the engine's incremental `ContactState`.** A state fed only the new
//! events is path-dependent: it re-checks stages and triggers at its watermark, so
//! an out-of-order event (one older than the last rescoring, common with SDK
//! retries and offline devices) would be checked at a different instant than the
//! batch CLI checks it, and a stage can differ. Re-running the engine's batch path
//! over the cached classified messages gives exactly the result of a full re-read
//! (the same function on the same inputs) and costs microseconds per contact; what
//! the full re-read paid for was reading the rows and parsing their JSON, and that is
//! what the cache saves.
//!
//! **When an entry is used.** The store answers for each contact with its messages
//! after the entry's position plus what checks the part before it
//! ([`leadscore_store::ContactDelta`]); the entry is extended only when
//!
//! * it was classified by the engine in use (a model activation invalidates it),
//! * the contact record was created at the same instant (an erased and re-created
//!   contact is another contact),
//! * the store links the same anonymous ids to the contact (a new link brings older
//!   anonymous messages into the history, a link moved to another contact takes
//!   some away, on this server or another), and
//! * the history still holds exactly as many messages at or before the position
//!   (on PostgreSQL, a transaction holding a lower position can commit after a
//!   higher one was read; it is then counted and the entry re-read). SQLite commits
//!   positions in order, so it does not count (the count grew with the history):
//!   there only a link or an erasure changes the part before, and both are checked
//!   above; an erasure through this server also forgets the entry.
//!
//! Otherwise the whole history is read again and the entry rebuilt. So the cache is
//! only a shortcut: a result never depends on whether an entry was there.
//!
//! **Bounded memory.** Entries cost one unit each plus one per cached message; the
//! cache holds at most [`BUDGET`] units in two generations (entries used recently in
//! the current one, older ones in the previous; when the current one is full the
//! previous is dropped), a cheap approximation of least-recently-used.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use leadscore_engine::{Attributes, Engine, EventClass, Identify, Millis, ScoreResult};
use leadscore_formats::{MessageKind, parse_message};
use leadscore_store::{ContactDelta, StoredEvent};

/// Most units (entries plus cached messages) the cache holds: about 100 MB at
/// worst.
pub const BUDGET: usize = 1_000_000;

/// One message of a cached history.
#[derive(Debug, Clone)]
struct Message {
    /// Whether the contact's own message (not an anonymous id's).
    own: bool,
    timestamp: Millis,
    /// Own `identify`/`alias`: the anonymous id it links to the contact.
    links: Option<Box<str>>,
    /// The message's `anonymousId` (another id's messages count once linked).
    anonymous_id: Option<Box<str>>,
    payload: Payload,
}

#[derive(Debug, Clone)]
enum Payload {
    /// An event the model looks at.
    Event(EventClass),
    /// An identify call's traits.
    Traits(
        Option<String>,
        Vec<(String, Option<leadscore_engine::Value>)>,
    ),
    /// Nothing for the engine (an event the model ignores, an alias, a group call).
    None,
}

/// A contact's cached history (see the module documentation).
#[derive(Debug, Clone)]
pub struct Entry {
    engine: Weak<Engine>,
    created_at: Option<Millis>,
    /// Last log position read (0: none).
    position: i64,
    /// Messages read (the history's length up to `position`).
    read: u64,
    /// Anonymous ids the store linked to the contact when last read.
    links: Vec<String>,
    messages: Vec<Message>,
}

impl Entry {
    /// An empty entry for `engine`: extending it with a delta read from position 0
    /// reads the whole history.
    pub fn new(engine: &Arc<Engine>) -> Self {
        Self {
            engine: Arc::downgrade(engine),
            created_at: None,
            position: 0,
            read: 0,
            links: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// The log position to read the next delta after.
    pub fn position(&self) -> i64 {
        self.position
    }

    /// Whether `delta` (read after [`Entry::position`]) continues this entry under
    /// `engine` (see the module documentation). A fresh entry accepts any delta.
    pub fn continues(&self, engine: &Arc<Engine>, delta: &ContactDelta) -> bool {
        if self.position == 0 {
            return Weak::ptr_eq(&self.engine, &Arc::downgrade(engine));
        }
        Weak::ptr_eq(&self.engine, &Arc::downgrade(engine))
            && delta.contact.as_ref().map(|c| c.created_at) == self.created_at
            && delta.links == self.links
            && delta.before.is_none_or(|before| before == self.read)
    }

    /// Add `delta`'s messages (parsed and classified with `engine`).
    pub fn extend(&mut self, engine: &Engine, id: &str, delta: &ContactDelta) {
        self.created_at = delta.contact.as_ref().map(|c| c.created_at);
        self.links.clone_from(&delta.links);
        self.read += u64::try_from(delta.history.len()).unwrap_or(u64::MAX);
        for stored in &delta.history {
            self.position = self.position.max(stored.seq);
            if let Some(message) = classify(engine, id, stored) {
                self.messages.push(message);
            }
        }
    }

    /// Whether the contact has no history at all.
    pub fn is_empty(&self) -> bool {
        self.read == 0
    }

    /// Units of the budget this entry takes.
    fn cost(&self) -> usize {
        1 + self.messages.len()
    }

    /// The contact's score as of `now` from the cached history, `attributes` and
    /// `adjustments`: what [`crate::scoring::score_inputs`] computes from a full read.
    /// Anonymous activity counts once its link exists at `now`, as there.
    pub fn score(
        &self,
        engine: &Engine,
        attributes: Attributes,
        adjustments: &[leadscore_engine::Adjustment],
        now: Millis,
    ) -> ScoreResult {
        // When each anonymous id was first linked to this contact.
        let mut linked: HashMap<&str, Millis> = HashMap::new();
        for message in &self.messages {
            if let Some(anonymous) = &message.links {
                let at = linked.entry(anonymous).or_insert(message.timestamp);
                *at = (*at).min(message.timestamp);
            }
        }
        // Another id's message counts once its link exists (one linked without a
        // message in this history is trusted).
        let counts = |message: &&Message| {
            message.own
                || message
                    .anonymous_id
                    .as_deref()
                    .and_then(|a| linked.get(a))
                    .is_none_or(|&at| at <= now)
        };
        let events = self
            .messages
            .iter()
            .filter(counts)
            .filter_map(|m| match &m.payload {
                Payload::Event(class) => Some((m.timestamp, class)),
                _ => None,
            });
        let identifies: Vec<Identify> = self
            .messages
            .iter()
            .filter(counts)
            .filter_map(|m| match &m.payload {
                Payload::Traits(message_id, traits) => {
                    Some((m.timestamp, message_id.clone(), traits.clone()))
                }
                _ => None,
            })
            .collect();
        engine.score_classified(attributes, events, identifies, adjustments, now)
    }
}

/// One stored message of `id`'s history as the cache keeps it; `None` when it is
/// unreadable (validated before it was stored, so damage: logged, and the rest scored).
fn classify(engine: &Engine, id: &str, stored: &StoredEvent) -> Option<Message> {
    let message = match parse_message(&stored.event.body) {
        Ok(message) => message,
        Err(error) => {
            tracing::error!(contact = id, seq = stored.seq, %error, "stored message unreadable; skipped");
            return None;
        }
    };
    let own = message.user_id.as_deref() == Some(id);
    let links = match message.kind {
        MessageKind::Identify if own => message.anonymous_id.as_deref(),
        MessageKind::Alias if own => message.previous_id.as_deref(),
        _ => None,
    }
    .map(Box::from);
    let payload = match message.kind {
        kind if kind.is_event() => match engine.classify(message.event_name(), &message) {
            Some(class) => Payload::Event(class),
            None => Payload::None,
        },
        MessageKind::Identify => match message.traits() {
            Ok(traits) => Payload::Traits(message.message_id.as_deref().map(str::to_owned), traits),
            Err(error) => {
                tracing::error!(contact = id, %error, "stored traits unreadable");
                Payload::None
            }
        },
        _ => Payload::None,
    };
    if matches!(payload, Payload::None) && links.is_none() {
        return None;
    }
    Some(Message {
        own,
        timestamp: message.timestamp,
        links,
        anonymous_id: message.anonymous_id.as_deref().map(Box::from),
        payload,
    })
}

/// The cache of one server (see the module documentation).
#[derive(Debug, Default)]
pub struct HistoryCache {
    inner: Mutex<Generations>,
    /// Contacts rescored from a cached history and a delta.
    deltas: AtomicU64,
    /// Contacts whose whole history was read (not cached, or the entry did not hold).
    full: AtomicU64,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<String, Entry>,
    current_cost: usize,
    previous: HashMap<String, Entry>,
}

impl HistoryCache {
    /// Take the entries of `ids` out (a rescoring owns them until it puts them back;
    /// rescorings of one contact are serialized by its rescoring lock), a fresh one
    /// for each contact not cached.
    pub fn take(&self, engine: &Arc<Engine>, ids: &[String]) -> Vec<Entry> {
        let mut inner = self.lock();
        ids.iter()
            .map(|id| {
                let older = inner.previous.remove(id);
                let entry = match inner.current.remove(id) {
                    Some(entry) => {
                        inner.current_cost -= entry.cost();
                        Some(entry)
                    }
                    None => older,
                };
                entry
                    .filter(|e| Weak::ptr_eq(&e.engine, &Arc::downgrade(engine)))
                    .unwrap_or_else(|| Entry::new(engine))
            })
            .collect()
    }

    /// Put entries back after a rescoring used them.
    pub fn put(&self, entries: impl IntoIterator<Item = (String, Entry)>) {
        let mut inner = self.lock();
        for (id, entry) in entries {
            let cost = entry.cost();
            if cost > BUDGET / 2 {
                continue;
            }
            if inner.current_cost + cost > BUDGET / 2 {
                inner.previous = std::mem::take(&mut inner.current);
                inner.current_cost = 0;
            }
            inner.current_cost += cost;
            if let Some(old) = inner.current.insert(id, entry) {
                inner.current_cost -= old.cost();
            }
        }
    }

    /// Count a rescoring batch: `full` of its `total` contacts had their whole history
    /// read.
    pub fn count(&self, total: usize, full: usize) {
        let to = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        self.full.fetch_add(to(full), Ordering::Relaxed);
        self.deltas
            .fetch_add(to(total.saturating_sub(full)), Ordering::Relaxed);
    }

    /// The counters for `/metrics`: `leadscore_history_reads_total{read="delta"|"full"}`
    /// (contacts rescored from a cached history plus the messages after it, or from a
    /// whole history) and `leadscore_history_cached` (entries held).
    pub fn render(&self) -> String {
        let entries = {
            let inner = self.lock();
            inner.current.len() + inner.previous.len()
        };
        format!(
            "# HELP leadscore_history_reads_total Contacts rescored from a cached history plus a delta, or from a whole history.\n\
             # TYPE leadscore_history_reads_total counter\n\
             leadscore_history_reads_total{{read=\"delta\"}} {}\n\
             leadscore_history_reads_total{{read=\"full\"}} {}\n\
             # HELP leadscore_history_cached Contacts whose parsed history is cached.\n\
             # TYPE leadscore_history_cached gauge\n\
             leadscore_history_cached {entries}\n",
            self.deltas.load(Ordering::Relaxed),
            self.full.load(Ordering::Relaxed),
        )
    }

    /// Forget the entry of `id` (the contact was erased: a contact made later under the
    /// same id starts from nothing).
    pub fn forget(&self, id: &str) {
        let mut inner = self.lock();
        inner.previous.remove(id);
        if let Some(entry) = inner.current.remove(id) {
            inner.current_cost -= entry.cost();
        }
    }

    /// Forget every entry (a model activation: they were classified for the old one).
    pub fn clear(&self) {
        let mut inner = self.lock();
        *inner = Generations::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}
