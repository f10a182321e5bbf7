//! The event history of a batch run, a few bytes per event.
//!
//! `leadscore score` must take 50 million events without keeping their JSON. So each
//! line is parsed (on every core, in chunks), classified against the model at once, and
//! kept as a 24-byte [`Record`]: time, message-id hash, contact and event class. Events
//! the model never looks at are counted and dropped. `identify` calls keep their traits
//! (they are few), and `identify`/`alias` calls link anonymous ids to contacts.
//!
//! Records are spread over buckets by contact while reading (in chunks, so no bucket
//! ever doubles a huge allocation), then each bucket is sorted by contact with a
//! *stable* sort: a contact's records stay in file order, which is what "the first copy
//! of a `messageId` received wins" needs.

use std::path::Path;
use std::sync::mpsc;

use anyhow::{Context, Result};
use leadscore_engine::{Engine, EventClass, Identify, Millis, message_id_hash};
use leadscore_formats::{Chunk, JsonlReader, LineError, MessageKind, parse_message};
use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet};

/// Buckets records are spread over (by contact index).
const BUCKETS: usize = 256;
/// Bytes of JSONL handed to one parsing task.
const CHUNK_BYTES: usize = 1 << 20;

/// One kept event.
#[derive(Debug, Clone, Copy)]
struct Record {
    at: Millis,
    /// `message_id_hash` of the `messageId`, 0 when there is none.
    message: u64,
    contact: u32,
    class: u32,
}

/// A contact known from events: its id, and whether that is an `anonymousId`.
#[derive(Debug)]
pub struct ContactKey {
    /// The `userId` or `anonymousId`.
    pub id: Box<str>,
    /// True for an `anonymousId`.
    pub anonymous: bool,
}

/// What reading the events file found, for the summary line.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadStats {
    /// Non-blank lines.
    pub lines: u64,
    /// Malformed lines reported and skipped.
    pub skipped: u64,
    /// Events kept for scoring.
    pub kept: u64,
    /// Valid messages that no rule or condition looks at.
    pub ignored: u64,
}

/// Every contact's events, classified, compact and grouped by contact.
pub struct History {
    keys: Vec<ContactKey>,
    users: HashMap<Box<str>, u32>,
    anonymous: HashMap<Box<str>, u32>,
    classes: Vec<EventClass>,
    class_ids: HashMap<EventClass, u32>,
    /// Records by `contact % BUCKETS`, in file order; sorted by contact in `finish`.
    buckets: Vec<Vec<Record>>,
    /// After `finish`: per contact, its range in its bucket's sorted records.
    spans: Vec<(u32, u32)>,
    identifies: HashMap<u32, Vec<Identify>>,
    /// Anonymous contact -> (link time, contact), the earliest link wins.
    links: HashMap<u32, (Millis, u32)>,
    /// Contact -> anonymous contacts linked to it (after `finish`).
    linked: HashMap<u32, Vec<u32>>,
    /// Counts for the summary.
    pub stats: ReadStats,
}

/// One parsed line. It owns its strings, so a parsed chunk can outlive the chunk's
/// text and be merged while the next chunks are parsed.
enum Parsed {
    Event {
        who: Who,
        at: Millis,
        message: u64,
        class: EventClass,
    },
    Identify {
        who: Who,
        anonymous: Option<Span>,
        at: Millis,
        message_id: Option<String>,
        traits: Vec<(String, Option<leadscore_engine::Value>)>,
    },
    Alias {
        user: Span,
        previous: Span,
        at: Millis,
    },
    Ignored,
}

/// A message's contact: `userId`, else `anonymousId`.
struct Who {
    id: Span,
    anonymous: bool,
}

/// A string in its chunk's `ids` arena: one allocation per chunk instead of one per
/// event (49 million small allocations made on one thread and freed on another cost
/// both time and, in the allocator, memory).
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn push(ids: &mut String, text: &str) -> Span {
        let start = ids.len() as u32;
        ids.push_str(text);
        Span {
            start,
            end: ids.len() as u32,
        }
    }

    fn get(self, ids: &str) -> &str {
        ids.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

struct ParsedChunk {
    items: Vec<Parsed>,
    errors: Vec<LineError>,
    /// The contact ids of `items`.
    ids: String,
}

impl History {
    fn new() -> Self {
        History {
            keys: Vec::new(),
            users: HashMap::default(),
            anonymous: HashMap::default(),
            classes: Vec::new(),
            class_ids: HashMap::default(),
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            spans: Vec::new(),
            identifies: HashMap::default(),
            links: HashMap::default(),
            linked: HashMap::default(),
            stats: ReadStats::default(),
        }
    }

    /// Read, classify and group the events of `path`. `on_error` gets every malformed
    /// line and decides whether to go on (`Ok`) or stop (`Err`, under `--strict`);
    /// `on_progress` gets bytes read.
    pub fn read(
        path: &Path,
        engine: &Engine,
        as_of: Millis,
        mut on_error: impl FnMut(&LineError) -> Result<()> + Send,
        mut on_progress: impl FnMut(u64),
    ) -> Result<History> {
        let mut reader = JsonlReader::open(path)?;
        let file_size = file_size(path)?;
        let mut sized = false;
        let mut history = History::new();
        let batch = rayon::current_num_threads().max(1) * 4;
        // Three stages overlap: a thread reads chunks of whole lines; each batch of
        // chunks is parsed on every core while the previous batch is merged (in file
        // order, so the first copy of a message stays first).
        std::thread::scope(|scope| -> Result<()> {
            let (sender, receiver) = mpsc::sync_channel::<Result<Chunk, LineError>>(batch * 2);
            scope.spawn(move || {
                loop {
                    let next = match reader.read_chunk(CHUNK_BYTES) {
                        Ok(Some(chunk)) => Ok(chunk),
                        Ok(None) => break,
                        Err(e) => Err(e),
                    };
                    let failed = next.is_err();
                    if sender.send(next).is_err() || failed {
                        break;
                    }
                }
            });
            let mut previous: Vec<(Chunk, ParsedChunk)> = Vec::new();
            loop {
                let mut chunks: Vec<Chunk> = Vec::with_capacity(batch);
                for next in receiver.iter() {
                    let chunk = next?;
                    on_progress(chunk.text.len() as u64 + 1);
                    if !sized {
                        // Reserve each bucket's share of the events the file will
                        // hold, judged by the first chunk: growing by doubling would
                        // copy, and a copy briefly needs twice the memory.
                        sized = true;
                        let lines = chunk.text.bytes().filter(|&b| b == b'\n').count().max(1);
                        let per_line = (chunk.text.len() / lines).max(1) as u64;
                        let expected = (file_size / per_line) as usize * 21 / 20;
                        for bucket in &mut history.buckets {
                            bucket.reserve(expected / BUCKETS);
                        }
                    }
                    chunks.push(chunk);
                    if chunks.len() == batch {
                        break;
                    }
                }
                let last = chunks.is_empty();
                let (parsed, merged) = rayon::join(
                    || -> Vec<ParsedChunk> {
                        chunks
                            .par_iter()
                            .map(|chunk| parse_chunk(chunk, path, engine))
                            .collect()
                    },
                    || history.merge(std::mem::take(&mut previous), as_of, &mut on_error),
                );
                merged?;
                if last {
                    break;
                }
                previous = chunks.into_iter().zip(parsed).collect();
            }
            Ok(())
        })?;
        history.finish();
        Ok(history)
    }

    /// Merge parsed chunks, in file order.
    fn merge(
        &mut self,
        parsed: Vec<(Chunk, ParsedChunk)>,
        as_of: Millis,
        on_error: &mut (impl FnMut(&LineError) -> Result<()> + Send),
    ) -> Result<()> {
        for (chunk, parsed) in parsed {
            for error in chunk.errors.iter().chain(&parsed.errors) {
                self.stats.skipped += 1;
                on_error(error)?;
            }
            self.stats.lines +=
                (chunk.errors.len() + parsed.errors.len() + parsed.items.len()) as u64;
            for item in parsed.items {
                self.add(item, &parsed.ids, as_of);
            }
        }
        Ok(())
    }

    fn intern(&mut self, id: &str, anonymous: bool) -> u32 {
        let map = if anonymous {
            &mut self.anonymous
        } else {
            &mut self.users
        };
        if let Some(&index) = map.get(id) {
            return index;
        }
        let index = self.keys.len() as u32;
        map.insert(id.into(), index);
        self.keys.push(ContactKey {
            id: id.into(),
            anonymous,
        });
        index
    }

    fn link(&mut self, anonymous_id: &str, contact: u32, at: Millis, as_of: Millis) {
        if at > as_of {
            return; // a link made after `now` does not exist for this result
        }
        let anon = self.intern(anonymous_id, true);
        let entry = self.links.entry(anon).or_insert((at, contact));
        if at < entry.0 {
            *entry = (at, contact);
        }
    }

    fn add(&mut self, item: Parsed, ids: &str, as_of: Millis) {
        match item {
            Parsed::Event {
                who,
                at,
                message,
                class,
            } => {
                let contact = self.intern(who.id.get(ids), who.anonymous);
                let next = self.classes.len() as u32;
                let class = *self.class_ids.entry(class).or_insert_with_key(|c| {
                    self.classes.push(c.clone());
                    next
                });
                self.buckets[contact as usize % BUCKETS].push(Record {
                    at,
                    message,
                    contact,
                    class,
                });
                self.stats.kept += 1;
            }
            Parsed::Identify {
                who,
                anonymous,
                at,
                message_id,
                traits,
            } => {
                let contact = self.intern(who.id.get(ids), who.anonymous);
                if let Some(anon) = anonymous.filter(|_| !who.anonymous) {
                    self.link(anon.get(ids), contact, at, as_of);
                }
                self.identifies
                    .entry(contact)
                    .or_default()
                    .push((at, message_id, traits));
            }
            Parsed::Alias { user, previous, at } => {
                let contact = self.intern(user.get(ids), false);
                self.link(previous.get(ids), contact, at, as_of);
            }
            Parsed::Ignored => self.stats.ignored += 1,
        }
    }

    /// Sort each bucket by contact (stably) and index every contact's span.
    fn finish(&mut self) {
        self.spans = vec![(0, 0); self.keys.len()];
        for records in &mut self.buckets {
            // Stable: a contact's records stay in file order.
            records.sort_by_key(|r: &Record| r.contact);
            let mut start = 0;
            while start < records.len() {
                let contact = records[start].contact;
                let end = start + records[start..].partition_point(|r| r.contact == contact);
                self.spans[contact as usize] = (start as u32, (end - start) as u32);
                start = end;
            }
        }
        for (&anon, &(_, contact)) in &self.links {
            self.linked.entry(contact).or_default().push(anon);
        }
        for anons in self.linked.values_mut() {
            anons.sort_unstable();
        }
    }

    /// Every contact known from events, by index.
    pub fn keys(&self) -> &[ContactKey] {
        &self.keys
    }

    /// The index of a `userId`.
    pub fn contact(&self, id: &str) -> Option<u32> {
        self.users.get(id).copied()
    }

    /// Whether an anonymous contact was linked to a known contact.
    pub fn is_linked(&self, anonymous: u32) -> bool {
        self.links.contains_key(&anonymous)
    }

    fn records(&self, contact: u32) -> &[Record] {
        let (start, len) = self.spans[contact as usize];
        self.buckets[contact as usize % BUCKETS]
            .get(start as usize..(start + len) as usize)
            .unwrap_or(&[])
    }

    /// A contact's events (its own, then those of anonymous ids linked to it), each
    /// `messageId` once, first copy wins; and its identify calls.
    pub fn contact_history(
        &self,
        contact: Option<u32>,
    ) -> (Vec<(Millis, &EventClass)>, Vec<Identify>) {
        let Some(contact) = contact else {
            return (Vec::new(), Vec::new());
        };
        let mut members = vec![contact];
        if let Some(anons) = self.linked.get(&contact) {
            members.extend(anons);
        }
        let mut seen = FxHashSet::default();
        let mut events = Vec::new();
        let mut identifies = Vec::new();
        for member in members {
            for r in self.records(member) {
                if r.message == 0 || seen.insert(r.message) {
                    events.push((r.at, &self.classes[r.class as usize]));
                }
            }
            if let Some(calls) = self.identifies.get(&member) {
                identifies.extend(calls.iter().cloned());
            }
        }
        (events, identifies)
    }
}

thread_local! {
    /// Each parsing thread's memo of event classifications.
    static CLASSES: std::cell::RefCell<leadscore_engine::ClassCache> =
        std::cell::RefCell::new(leadscore_engine::ClassCache::new());
}

fn parse_chunk(chunk: &Chunk, path: &Path, engine: &Engine) -> ParsedChunk {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let mut ids = String::new();
    for (number, line) in chunk.lines() {
        match parse_line(line, engine, &mut ids) {
            Ok(item) => items.push(item),
            Err(message) => errors.push(LineError::invalid(path, number, message)),
        }
    }
    ParsedChunk { items, errors, ids }
}

fn parse_line(line: &str, engine: &Engine, ids: &mut String) -> Result<Parsed, String> {
    let message = parse_message(line).map_err(|e| e.to_string())?;
    let who = match (&message.user_id, &message.anonymous_id) {
        (Some(user), _) => Who {
            id: Span::push(ids, user),
            anonymous: false,
        },
        (None, Some(anon)) => Who {
            id: Span::push(ids, anon),
            anonymous: true,
        },
        (None, None) => return Ok(Parsed::Ignored),
    };
    Ok(match message.kind {
        MessageKind::Identify => Parsed::Identify {
            anonymous: message.anonymous_id.as_deref().map(|a| Span::push(ids, a)),
            at: message.timestamp,
            message_id: message.message_id.as_deref().map(str::to_owned),
            // Only traits the model reads can change a result; the rest (names,
            // phone numbers, ...) would only take memory.
            traits: {
                let mut traits = message.traits().map_err(|e| e.to_string())?;
                traits.retain(|(key, _)| engine.reads_attribute(key));
                traits
            },
            who,
        },
        MessageKind::Alias => match (&message.user_id, &message.previous_id) {
            (Some(user), Some(previous)) => Parsed::Alias {
                user: Span::push(ids, user),
                previous: Span::push(ids, previous),
                at: message.timestamp,
            },
            _ => Parsed::Ignored,
        },
        kind if kind.is_event() => match CLASSES
            .with_borrow_mut(|cache| engine.classify_cached(cache, message.event_name(), &message))
        {
            Some(class) => Parsed::Event {
                who,
                at: message.timestamp,
                message: message
                    .message_id
                    .as_deref()
                    .map_or(0, |id| message_id_hash(id).max(1)),
                class,
            },
            None => Parsed::Ignored,
        },
        _ => Parsed::Ignored,
    })
}

/// Open-ended context for a file that could not be read at all.
pub fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("{}: cannot read", path.display()))?
        .len())
}
