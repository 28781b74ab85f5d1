//! Request rates per client: how many requests one client address may make of the public
//! page, and one API token of the `/v1` and `/epcis` routes, per minute (`[limits]`, both off
//! unless set). Beyond its rate a client gets `429` with `Retry-After`; other clients are not
//! slowed.
//!
//! Each client has a bucket of one minute's requests that refills evenly (GCRA: one instant
//! per client, the time its bucket is full again). The table of clients is bounded: when it
//! is full, clients whose bucket is full again are forgotten first, then the one closest to
//! it, so a flood of addresses costs memory up to the bound and no more. Hand-written rather
//! than `governor`'s keyed limiter, whose table grows until it is pruned by hand.
//!
//! IPv6 clients are counted by their /64 prefix, the block one subscriber is given, so a
//! client cannot get a fresh bucket per address.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Clients remembered at most per limiter (about 64 bytes each).
pub const MAX_CLIENTS: usize = 65_536;

/// A request rate per client.
#[derive(Debug)]
pub struct RateLimiter<K> {
    /// Time between two requests at the steady rate.
    interval: Duration,
    /// How far ahead of now a client's bucket may be drawn: one minute.
    burst: Duration,
    capacity: usize,
    /// When each client's bucket is full again.
    full_at: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `per_minute` requests per minute per client (at least 1), at most `capacity` clients
    /// remembered.
    pub fn new(per_minute: u32, capacity: usize) -> Self {
        let burst = Duration::from_secs(60);
        Self {
            interval: burst / per_minute.max(1),
            burst,
            capacity: capacity.max(1),
            full_at: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request of `client`'s rate at `now`; or, over the rate, how long until it
    /// may send again.
    pub fn check(&self, client: &K, now: Instant) -> Result<(), Duration> {
        let mut full_at = self.full_at.lock().unwrap_or_else(PoisonError::into_inner);
        let start = full_at.get(client).map_or(now, |&at| at.max(now));
        let next = start + self.interval;
        let ahead = next - now;
        if ahead > self.burst {
            return Err(ahead - self.burst);
        }
        if !full_at.contains_key(client) && full_at.len() >= self.capacity {
            make_room(&mut full_at, self.capacity, now);
        }
        full_at.insert(client.clone(), next);
        Ok(())
    }

    /// Clients remembered now.
    pub fn clients(&self) -> usize {
        self.full_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Forgets every client whose bucket is full again; if none is, the one closest to it.
fn make_room<K: Hash + Eq + Clone>(
    full_at: &mut HashMap<K, Instant>,
    capacity: usize,
    now: Instant,
) {
    full_at.retain(|_, at| *at > now);
    if full_at.len() < capacity {
        return;
    }
    // Every bucket is in use: the sweep freed nothing, so it is not repeated for long.
    let closest = full_at
        .iter()
        .min_by_key(|(_, at)| **at)
        .map(|(client, _)| client.clone());
    if let Some(client) = closest {
        full_at.remove(&client);
    }
}

/// The client an address counts as: an IPv4 address, or an IPv6 /64 (an IPv4-mapped IPv6
/// address is its IPv4 address).
pub fn client_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn a_client_gets_its_minute_at_once_then_one_request_per_interval() {
        let limiter = RateLimiter::new(6, 10);
        let start = Instant::now();
        for _ in 0..6 {
            assert_eq!(limiter.check(&"a", start), Ok(()));
        }
        assert_eq!(limiter.check(&"a", start), Err(Duration::from_secs(10)));
        assert_eq!(
            limiter.check(&"a", start + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        assert_eq!(limiter.check(&"a", start + Duration::from_secs(10)), Ok(()));
        assert!(
            limiter
                .check(&"a", start + Duration::from_secs(10))
                .is_err()
        );
        // Another client is not slowed.
        assert_eq!(limiter.check(&"b", start), Ok(()));
        // A client idle for a minute has its whole minute again.
        let later = start + Duration::from_secs(80);
        for _ in 0..6 {
            assert_eq!(limiter.check(&"a", later), Ok(()));
        }
        assert!(limiter.check(&"a", later).is_err());
    }

    #[test]
    fn the_table_of_clients_stays_within_its_bound() {
        let limiter = RateLimiter::new(60, 100);
        let start = Instant::now();
        for client in 0..10_000u32 {
            assert_eq!(limiter.check(&client, start), Ok(()));
            assert!(limiter.clients() <= 100);
        }
        // A client still drawing on its bucket is forgotten only when every one is.
        let limiter = RateLimiter::new(1, 2);
        assert_eq!(limiter.check(&1, start), Ok(()));
        let soon = start + Duration::from_secs(1);
        assert_eq!(limiter.check(&2, soon), Ok(()));
        let idle = start + Duration::from_millis(60_500);
        // Client 1 is full again at 60 s: forgotten first; client 2 (at 61 s) is kept.
        assert_eq!(limiter.check(&3, idle), Ok(()));
        assert!(limiter.check(&2, idle).is_err());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix() {
        let one: Ipv6Addr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(Ipv6Addr::LOCALHOST);
        let same: Ipv6Addr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or(Ipv6Addr::LOCALHOST);
        let other: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        assert_eq!(client_of(one.into()), client_of(same.into()));
        assert_ne!(client_of(one.into()), client_of(other.into()));
        let mapped = Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped();
        assert_eq!(
            client_of(mapped.into()),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))
        );
    }
}
