//! The `messageId`s an SQLite log holds, kept in memory: how the embedded backend
//! deduplicates messages without a `UNIQUE` index on the log.
//!
//! Why not the index: `messageId`s are random (Segment's libraries send UUIDs), so
//! each new message's index entry lands on a random leaf page, and a group commit of
//! a thousand messages dirtied about a thousand pages of it: four kilobytes written
//! to the WAL (and again at the checkpoint) per message, and about a third of the
//! writer's time. The same load without the index took 1.6x the messages per second
//! (README, seventh round). The log itself is appended at its end, a few messages per
//! page.
//!
//! What instead: a set of 128-bit digests of every `messageId` in the log, built from
//! the log at the first append and brought up to date at the start of every append,
//! inside its write transaction (`BEGIN IMMEDIATE`: no other process or connection
//! writes while it runs). Catching up reads the messages after the last position the
//! set covers (`seq` is `AUTOINCREMENT`, so positions only grow), so messages that
//! another process appended to the same file are known before this one decides;
//! after the commit the new digests join the set. Nothing is added for a transaction
//! that rolled back.
//!
//! A digest is two SipHash-1-3 values under independent keys drawn at random when the
//! process starts. Two different ids share a digest with probability about 2^-128 per
//! pair (some 10^-23 across a log of a hundred million messages): far below the rate
//! of undetected hardware errors, and no client can aim for it, since the keys are
//! secret and new in every process. Equal digests therefore count as equal ids.
//!
//! Memory: about 30 bytes per message with an id (16 for the digest, the rest the
//! hash table's slack): 30 MB per million messages. Erasing a contact removes its
//! messages' digests from this process's set; another process that keeps the file
//! open still counts them as stored until it restarts (a re-sent erased message is
//! then dropped as a duplicate there), which PostgreSQL, whose unique index forgets
//! with the row, never does.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Mutex, MutexGuard};

/// 128 bits of one `messageId` (see the module documentation).
pub(crate) type Digest = u128;

/// Messages read per statement when catching up with the log.
pub(crate) const CATCH_UP_ROWS: i64 = 50_000;

/// The set behind its lock. A panic while it was held cannot leave it half-updated in
/// a way that matters (every update is one insert or removal at a time, and `through`
/// only moves after the digests it covers are in), so a poisoned lock is taken.
pub(crate) fn lock(seen: &Mutex<SeenMessages>) -> MutexGuard<'_, SeenMessages> {
    match seen.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The digests of the `messageId`s stored in the log up to position `through`.
#[derive(Default)]
pub(crate) struct SeenMessages {
    keys: [RandomState; 2],
    digests: HashSet<Digest, BuildHasherDefault<DigestHasher>>,
    /// The last log position whose message (if it had an id) is in `digests`.
    through: i64,
}

impl std::fmt::Debug for SeenMessages {
    // Not the digests: a store is printed in errors and logs, the set may hold millions.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeenMessages")
            .field("messages", &self.digests.len())
            .field("through", &self.through)
            .finish()
    }
}

impl SeenMessages {
    /// The digest of `message_id` under this process's keys.
    pub(crate) fn digest(&self, message_id: &str) -> Digest {
        let [low, high] = &self.keys;
        (u128::from(high.hash_one(message_id)) << 64) | u128::from(low.hash_one(message_id))
    }

    /// The last log position the set covers (0 before the first catch-up).
    pub(crate) fn through(&self) -> i64 {
        self.through
    }

    /// Whether a message with this digest is stored.
    pub(crate) fn contains(&self, digest: Digest) -> bool {
        self.digests.contains(&digest)
    }

    /// Take in messages read from the log after [`Self::through`], in log order.
    pub(crate) fn learn(&mut self, rows: impl IntoIterator<Item = (i64, Option<String>)>) {
        for (seq, message_id) in rows {
            if let Some(id) = message_id {
                let digest = self.digest(&id);
                self.digests.insert(digest);
            }
            self.through = self.through.max(seq);
        }
    }

    /// After a commit: its messages' digests, and the log position it ended at.
    pub(crate) fn record(&mut self, digests: impl IntoIterator<Item = Digest>, through: i64) {
        self.digests.extend(digests);
        self.through = self.through.max(through);
    }

    /// After an erasure committed: the erased messages are no longer stored.
    pub(crate) fn forget<'a>(&mut self, message_ids: impl IntoIterator<Item = &'a str>) {
        for id in message_ids {
            let digest = self.digest(id);
            self.digests.remove(&digest);
        }
    }
}

/// The hash table's hasher: a digest is already uniformly random, so its low 64 bits
/// serve as the hash (a second SipHash round would only cost time).
#[derive(Debug, Default)]
pub(crate) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used for digests; fold anything else in so that the
        // hasher stays correct (if slow) for other input.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u128(&mut self, digest: u128) {
        // Truncation intended: the low half of a uniform digest.
        self.0 = digest as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_differ_between_ids_and_agree_for_one() {
        let seen = SeenMessages::default();
        assert_eq!(seen.digest("m-1"), seen.digest("m-1"));
        assert_ne!(seen.digest("m-1"), seen.digest("m-2"));
        // The two halves come from different keys.
        let digest = seen.digest("m-1");
        assert_ne!(digest >> 64, digest & u128::from(u64::MAX));
    }

    #[test]
    fn learns_records_and_forgets() {
        let mut seen = SeenMessages::default();
        seen.learn([
            (3, Some("a".to_owned())),
            (5, None),
            (4, Some("b".to_owned())),
        ]);
        assert_eq!(seen.through(), 5);
        assert!(seen.contains(seen.digest("a")));
        assert!(seen.contains(seen.digest("b")));
        let c = seen.digest("c");
        assert!(!seen.contains(c));
        seen.record([c], 9);
        assert!(seen.contains(c));
        assert_eq!(seen.through(), 9);
        seen.forget(["a"]);
        assert!(!seen.contains(seen.digest("a")));
        assert!(seen.contains(seen.digest("b")));
    }
}
