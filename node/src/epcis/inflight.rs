//! Captures side by side: the Event Hash IDs that EPCIS captures in flight are recording.
//!
//! A capture recognises an event recorded already by looking in the store
//! ([`super::capture::plan`]); an event that another capture is recording at that moment is
//! not there yet. So a capture first waits for its turn: until no capture in flight records
//! any of its events' hash IDs. It then plans and claims the events it will record, and the
//! claim goes with its entries to the writer, which drops it once it has answered (the
//! entries durable, or refused and not written). Turns are taken one at a time and a turn
//! ends with the claim, so of two captures of one event the later always finds the earlier:
//! in flight (it waits) or in the store (a duplicate). Captures of different events run side
//! by side, and the writer covers them with one synced write.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{MutexGuard, Notify};

/// What a capture claims of an event: a fingerprint of its Event Hash ID. Two hash IDs with
/// one fingerprint make one capture wait for the other, never miss it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey(u64);

impl EventKey {
    /// The key of the event with this Event Hash ID.
    pub fn of(hash_id: &str) -> Self {
        let mut hasher = DefaultHasher::new();
        hash_id.hash(&mut hasher);
        Self(hasher.finish())
    }
}

/// The hash IDs claimed by captures in flight.
#[derive(Debug, Default)]
pub struct InFlight {
    /// Held from a turn's start until its claim: one capture plans at a time.
    planning: tokio::sync::Mutex<()>,
    /// Each claimed event, with how many claims hold it (a claim holds it once).
    claimed: Mutex<HashMap<EventKey, usize>>,
    /// Told whenever a claim is released.
    released: Notify,
}

/// A capture's turn to plan: no capture in flight records any of its hash IDs, and no other
/// capture plans until [`Turn::claim`].
#[derive(Debug)]
pub struct Turn<'a> {
    owner: &'a Arc<InFlight>,
    _planning: MutexGuard<'a, ()>,
}

/// The events a capture is recording; released when dropped.
#[derive(Debug)]
pub struct Claim {
    owner: Arc<InFlight>,
    keys: Vec<EventKey>,
}

impl InFlight {
    /// No capture in flight.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Waits until no capture in flight records any of these events and no other capture plans.
    pub async fn turn<'a>(self: &'a Arc<Self>, keys: &[EventKey]) -> Turn<'a> {
        loop {
            let planning = self.planning.lock().await;
            // Registered before the look, so a release between the look and the wait is heard.
            let released = self.released.notified();
            if !self.any_claimed(keys) {
                return Turn {
                    owner: self,
                    _planning: planning,
                };
            }
            drop(planning);
            released.await;
        }
    }

    /// How many distinct events are claimed now.
    pub fn claimed(&self) -> usize {
        self.lock().len()
    }

    fn any_claimed(&self, keys: &[EventKey]) -> bool {
        let claimed = self.lock();
        keys.iter().any(|key| claimed.contains_key(key))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EventKey, usize>> {
        // The map is whole after every operation on it; a panic elsewhere leaves it usable.
        self.claimed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Turn<'_> {
    /// Claims the events the capture will record, and ends the turn.
    pub fn claim(self, keys: impl IntoIterator<Item = EventKey>) -> Claim {
        let mut keys: Vec<EventKey> = keys.into_iter().collect();
        keys.sort_unstable();
        keys.dedup();
        let mut claimed = self.owner.lock();
        for key in &keys {
            *claimed.entry(*key).or_default() += 1;
        }
        drop(claimed);
        Claim {
            owner: self.owner.clone(),
            keys,
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let mut claimed = self.owner.lock();
        for key in &self.keys {
            if let Some(count) = claimed.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    claimed.remove(key);
                }
            }
        }
        drop(claimed);
        self.owner.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    fn ids(names: &[&str]) -> Vec<EventKey> {
        names.iter().map(|name| EventKey::of(name)).collect()
    }

    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[tokio::test]
    async fn a_capture_of_other_events_plans_while_a_claim_is_held() {
        let inflight = InFlight::new();
        let first = inflight
            .turn(&ids(&["a", "b"]))
            .await
            .claim(ids(&["a", "b"]));
        let second = inflight.turn(&ids(&["c"])).await.claim(ids(&["c"]));
        assert_eq!(inflight.claimed(), 3);
        drop((first, second));
        assert_eq!(inflight.claimed(), 0);
    }

    #[tokio::test]
    async fn a_capture_of_a_claimed_event_waits_for_the_claim_to_go() {
        let inflight = InFlight::new();
        let first = inflight.turn(&ids(&["a"])).await.claim(ids(&["a"]));
        let wanted = ids(&["b", "a"]);
        let mut second = pin!(inflight.turn(&wanted));
        assert!(poll_once(second.as_mut()).is_pending());
        assert!(poll_once(second.as_mut()).is_pending());
        drop(first);
        let Poll::Ready(turn) = poll_once(second.as_mut()) else {
            panic!("the turn was not given once the claim went");
        };
        drop(turn.claim(wanted.clone()));
        assert_eq!(inflight.claimed(), 0);
    }

    #[tokio::test]
    async fn captures_plan_one_at_a_time() {
        let inflight = InFlight::new();
        let planning = inflight.turn(&ids(&["a"])).await;
        let wanted = ids(&["b"]);
        let mut other = pin!(inflight.turn(&wanted));
        assert!(poll_once(other.as_mut()).is_pending());
        let claim = planning.claim(ids(&["a"]));
        assert!(poll_once(other.as_mut()).is_ready());
        drop(claim);
    }

    #[tokio::test]
    async fn an_event_claimed_twice_stays_claimed_until_both_claims_go() {
        let inflight = InFlight::new();
        // Two claims of one hash ID arise only from a turn taken with other ids; the count
        // keeps the map right whatever the callers do.
        let first = inflight.turn(&[]).await.claim(ids(&["a", "a"]));
        let second = inflight.turn(&[]).await.claim(ids(&["a"]));
        drop(first);
        assert_eq!(inflight.claimed(), 1);
        let wanted = ids(&["a"]);
        let mut waiting = pin!(inflight.turn(&wanted));
        assert!(poll_once(waiting.as_mut()).is_pending());
        drop(second);
        assert!(poll_once(waiting.as_mut()).is_ready());
    }
}
