//! Which contacts are being rescored right now.
//!
//! Rescoring a contact reads its history and saves a score; two rescorings of one
//! contact at once could save the older reading last. So a rescoring first *claims*
//! its contacts: a claim waits while any of them is claimed by another rescoring,
//! then takes all of them at once, and gives them back when dropped.
//!
//! The claim is per contact, not per lock stripe: a batch of 500 contacts held every
//! one of the 64 stripes the server used before, so the four batches of an
//! activation ran one after another and a single contact's rescoring waited for
//! whole batches it had nothing to do with. Taking all ids at once (or none) means
//! a claim never holds some contacts while it waits for others, so two batches
//! cannot wait for each other in a circle.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

/// The contacts claimed in this process, and a wake-up for claims waiting on them.
#[derive(Default)]
pub struct ContactClaims {
    held: Mutex<HashSet<String>>,
    released: Notify,
}

/// Contacts claimed by one rescoring; given back when dropped.
#[must_use = "the contacts are given back as soon as the claim is dropped"]
pub struct Claim<'a> {
    claims: &'a ContactClaims,
    ids: Vec<String>,
}

impl ContactClaims {
    /// Wait until none of `ids` is claimed elsewhere, then claim them all.
    pub async fn claim(&self, ids: &[String]) -> Claim<'_> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        loop {
            // Registered before the check, so a release between the check and the
            // wait still wakes this claim.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            {
                let mut held = self.lock();
                if !ids.iter().any(|id| held.contains(id)) {
                    held.extend(ids.iter().cloned());
                    return Claim { claims: self, ids };
                }
            }
            released.await;
        }
    }

    /// Claim one contact (see [`ContactClaims::claim`]).
    pub async fn claim_one(&self, id: &str) -> Claim<'_> {
        self.claim(&[id.to_owned()]).await
    }

    /// How many contacts are claimed now.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashSet<String>> {
        // The set is consistent after any panic (inserts and removes are whole).
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        {
            let mut held = self.claims.lock();
            for id in &self.ids {
                held.remove(id);
            }
        }
        self.claims.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[tokio::test]
    async fn disjoint_claims_do_not_wait_for_each_other() {
        let claims = ContactClaims::default();
        let a = claims.claim(&ids(&["c-1", "c-2"])).await;
        // Would hang if the second claim waited for the first.
        let b = tokio::time::timeout(Duration::from_secs(5), claims.claim(&ids(&["c-3"])))
            .await
            .expect("a disjoint claim is granted at once");
        assert_eq!(claims.held(), 3);
        drop((a, b));
        assert_eq!(claims.held(), 0);
    }

    #[tokio::test]
    async fn an_overlapping_claim_waits_until_the_first_is_dropped() {
        let claims = Arc::new(ContactClaims::default());
        let first = claims.claim(&ids(&["c-1", "c-2"])).await;
        let waiting = {
            let claims = Arc::clone(&claims);
            tokio::spawn(async move {
                let _claim = claims.claim(&ids(&["c-2", "c-9", "c-2"])).await;
                claims.held()
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "c-2 is claimed: the second claim waits"
        );
        // Nothing of the waiting claim is taken while it waits (all or none).
        assert_eq!(claims.held(), 2);
        drop(first);
        let held_inside = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the claim is granted once the first is dropped")
            .expect("the task ran");
        assert_eq!(held_inside, 2, "c-2 and c-9, the duplicate counted once");
        assert_eq!(claims.held(), 0);
    }

    #[tokio::test]
    async fn many_overlapping_claims_all_finish() {
        let claims = Arc::new(ContactClaims::default());
        // Who is inside a claim now: no contact may be in two at once.
        let inside = Arc::new(Mutex::new(HashSet::new()));
        let mut tasks = Vec::new();
        for t in 0..16 {
            let (claims, inside) = (Arc::clone(&claims), Arc::clone(&inside));
            tasks.push(tokio::spawn(async move {
                for round in 0..50 {
                    let batch: Vec<String> = (0..5)
                        .map(|i| format!("c-{}", (t * 3 + round + i) % 20))
                        .collect();
                    let _claim = claims.claim(&batch).await;
                    for id in &batch {
                        let fresh = inside.lock().map(|mut s| s.insert(id.clone())).ok();
                        assert_eq!(fresh, Some(true), "{id} is in two claims at once");
                    }
                    tokio::task::yield_now().await;
                    if let Ok(mut s) = inside.lock() {
                        for id in &batch {
                            s.remove(id);
                        }
                    }
                }
            }));
        }
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("no claim waits forever")
                .expect("the task ran");
        }
        assert_eq!(claims.held(), 0);
    }
}
