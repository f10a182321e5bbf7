//! Group commit: one committer task between the ingestion handlers and
//! [`Store::append`], so that concurrent requests share one transaction (one fsync)
//! instead of paying one each.
//!
//! A handler [`submit`](Committer::submit)s its validated messages with a reply
//! channel and waits. The committer takes the first job waiting and everything queued
//! behind it (up to [`GROUP_MESSAGES`] messages), appends them all in one `append`
//! call, and only then answers every job of the group: `Ok` after the commit returned
//! `Ok`, or the same 500 for all when it failed (nothing of the group is acknowledged).
//! Requests that arrive while a group is being written form the next group, so the
//! group size follows the load with no timer: one request alone is written at once.
//! A `messageId` sent twice in one group is stored once (the store keeps the first).
//!
//! Rescoring runs after the acknowledgement, in a second task: the committer adds the
//! contacts whose history changed to a pending set and the rescorer recomputes each
//! pending contact from the log (so one rescoring covers every event committed before
//! it read the history; the history cache makes that read a delta of what is new).
//! The rescorer's score saves share SQLite's one writer with the appends; they are a
//! few multi-row statements per batch, so an append waits for them briefly. [`Committer::settled`] waits until every contact touched by
//! an acknowledged message has been rescored; the API's reads of stored scores call it,
//! so a read after a `200` still sees the new score.
//!
//! [`Committer::shutdown`] drains: the jobs queued before it are committed and
//! answered, the pending contacts rescored, then both tasks end.

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use leadscore_store::{NewEvent, Store as _};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::error::{Error, Result};
use crate::scoring;
use crate::state::AppState;

/// Most messages appended in one group (one transaction). Groups are as large as
/// what waits, so this only bounds one transaction's memory (some 10 MB) and time:
/// the larger the group, the more of its messages share each page of the log's
/// `user_id` index. With 128 clients sending batches of 100 (12,800 messages in
/// flight), a cap of 5,000 split every group and took 0.91x the messages per second
/// of a cap of 20,000 (README, seventh round).
pub const GROUP_MESSAGES: usize = 20_000;

/// Contacts rescored together (read in a few statements, saved in one transaction).
pub const RESCORE_BATCH: usize = 500;

/// Requests waiting for the committer; beyond this, handlers wait to enqueue.
const QUEUE: usize = 1_024;

enum Job {
    /// Append these and answer.
    Append {
        events: Vec<NewEvent>,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Finish everything queued before, drain rescoring, answer, stop.
    Stop(oneshot::Sender<()>),
}

/// Contacts waiting for rescoring, and how many groups were acknowledged.
#[derive(Default)]
struct Pending {
    contacts: BTreeSet<String>,
    /// Groups acknowledged so far; the rescorer publishes the last one it covered.
    generation: u64,
    /// Set by `shutdown`: the rescorer ends once nothing is pending.
    stopping: bool,
}

/// The group committer of one server (see the module documentation).
pub struct Committer {
    sender: OnceLock<mpsc::Sender<Job>>,
    pending: Mutex<Pending>,
    wake: Notify,
    rescored: watch::Sender<u64>,
    rescorer_done: watch::Sender<bool>,
}

impl Default for Committer {
    fn default() -> Self {
        Self {
            sender: OnceLock::new(),
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            rescored: watch::channel(0).0,
            rescorer_done: watch::channel(false).0,
        }
    }
}

fn unavailable() -> Error {
    Error::Internal("the server is shutting down; the messages were not stored".into())
}

impl Committer {
    /// Append `events` durably in the next group; `Ok` once that group committed.
    pub async fn submit(&self, state: &AppState, events: Vec<NewEvent>) -> Result<()> {
        let sender = self.sender.get_or_init(|| start(state));
        let (reply, answer) = oneshot::channel();
        sender
            .send(Job::Append { events, reply })
            .await
            .map_err(|_| unavailable())?;
        answer.await.map_err(|_| unavailable())?
    }

    /// Have `contacts` rescored in the background like those of a commit (an import
    /// appended their messages or changed their records); reads that wait for
    /// [`Committer::settled`] see their new scores.
    pub fn rescore_later(&self, state: &AppState, contacts: impl IntoIterator<Item = String>) {
        self.sender.get_or_init(|| start(state));
        {
            let mut pending = self.lock();
            pending.contacts.extend(contacts);
            pending.generation += 1;
        }
        self.wake.notify_one();
    }

    /// Wait until every contact touched by messages acknowledged so far is rescored.
    pub async fn settled(&self) {
        let target = match self.pending.lock() {
            Ok(pending) => pending.generation,
            Err(poisoned) => poisoned.into_inner().generation,
        };
        let mut rescored = self.rescored.subscribe();
        let _ = rescored.wait_for(|done| *done >= target).await;
    }

    /// Commit and answer what is queued, rescore what is pending, stop both tasks.
    /// Later submissions fail with a 500 and store nothing.
    pub async fn shutdown(&self) {
        let Some(sender) = self.sender.get() else {
            // Never started: mark it so a late submission cannot start it.
            let _ = self.sender.set(mpsc::channel(1).0);
            return;
        };
        let (done, stopped) = oneshot::channel();
        if sender.send(Job::Stop(done)).await.is_ok() {
            let _ = stopped.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        match self.pending.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Spawn the committer and the rescorer of `state`.
fn start(state: &AppState) -> mpsc::Sender<Job> {
    let (sender, receiver) = mpsc::channel(QUEUE);
    tokio::spawn(rescorer(state.clone()));
    tokio::spawn(committer(state.clone(), receiver));
    sender
}

async fn committer(state: AppState, mut receiver: mpsc::Receiver<Job>) {
    let mut stop = None;
    while stop.is_none() {
        let Some(first) = receiver.recv().await else {
            break;
        };
        let mut events = Vec::new();
        let mut replies = Vec::new();
        let mut job = Some(first);
        while let Some(next) = job.take() {
            match next {
                Job::Append {
                    events: mut more,
                    reply,
                } => {
                    events.append(&mut more);
                    replies.push(reply);
                }
                Job::Stop(done) => {
                    stop = Some(done);
                    break;
                }
            }
            if events.len() >= GROUP_MESSAGES {
                break;
            }
            job = receiver.try_recv().ok();
        }
        if !replies.is_empty() {
            commit(&state, &events, replies).await;
        }
    }
    receiver.close();
    // Jobs sent before the channel closed are still answered.
    while let Ok(job) = receiver.try_recv() {
        match job {
            Job::Append { events, reply } => commit(&state, &events, vec![reply]).await,
            Job::Stop(done) => {
                let _ = done.send(());
            }
        }
    }
    let committer = &state.committer;
    committer.lock().stopping = true;
    committer.wake.notify_one();
    let mut finished = committer.rescorer_done.subscribe();
    let _ = finished.wait_for(|done| *done).await;
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

/// Append one group and answer each of its requests.
async fn commit(state: &AppState, events: &[NewEvent], replies: Vec<oneshot::Sender<Result<()>>>) {
    match state.store.append(events).await {
        Ok(appended) => {
            state
                .metrics
                .ingested(appended.inserted, appended.duplicates);
            state.metrics.group_committed();
            {
                let mut pending = state.committer.lock();
                pending.contacts.extend(appended.contacts);
                pending.generation += 1;
            }
            state.committer.wake.notify_one();
            for reply in replies {
                let _ = reply.send(Ok(()));
            }
        }
        Err(error) => {
            tracing::error!(%error, messages = events.len(), requests = replies.len(),
                "group commit failed; no message of the group is acknowledged");
            for reply in replies {
                let _ = reply.send(Err(Error::Internal(format!(
                    "the messages could not be stored: {error}"
                ))));
            }
        }
    }
}

async fn rescorer(state: AppState) {
    let committer = &state.committer;
    loop {
        let (contacts, generation, stopping) = {
            let mut pending = committer.lock();
            (
                std::mem::take(&mut pending.contacts),
                pending.generation,
                pending.stopping,
            )
        };
        if contacts.is_empty() {
            committer.rescored.send_replace(generation);
            if stopping {
                break;
            }
            committer.wake.notified().await;
            continue;
        }
        let contacts: Vec<String> = contacts.into_iter().collect();
        let mut failed = Vec::new();
        for batch in contacts.chunks(RESCORE_BATCH) {
            let Err(error) = scoring::rescore_many(&state, batch).await else {
                state.metrics.rescored(batch.len() as u64);
                continue;
            };
            // One contact can spoil a batch (say, unreadable stored attributes): rescore
            // this one contact by contact, so the others are not held up.
            tracing::warn!(%error, contacts = batch.len(), "batch rescoring failed; one by one");
            for id in batch {
                match scoring::rescore(&state, id).await {
                    Ok(_) => state.metrics.rescored(1),
                    Err(error) => {
                        tracing::error!(contact = %id, %error, "rescoring failed; will retry");
                        failed.push(id.clone());
                    }
                }
            }
        }
        committer.rescored.send_replace(generation);
        if !failed.is_empty() {
            committer.lock().contacts.extend(failed);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    committer.rescorer_done.send_replace(true);
}
