//! The auditor's view of a node's store, with the SDK's checks and rules
//! ([`tally_sdk::audit`], [`tally_sdk::audit::scorecard`], [`tally_sdk::audit::period`]):
//! - the store as a [`LedgerSource`], so `tally audit verify --data-dir` audits a data
//!   directory or a backup with the same walk as over HTTP;
//! - one member's scorecard (`GET /v1/members/{id}/scorecard`);
//! - the bundle of a period (`GET /v1/audit/period`, `tally audit export`).

use std::collections::{BTreeMap, BTreeSet};

use tally_sdk::audit::LedgerSource;
use tally_sdk::audit::period::{ChainSegment, Period, PeriodBundle};
use tally_sdk::audit::rejection::RejectedEntry;
use tally_sdk::audit::scorecard::{Scorecard, Scorecards};
use tally_sdk::entry::SignedEntry;
use tally_sdk::gs1::ProductId;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::reports::provenance::{Judging, Recorded};
use tally_sdk::reports::responsibility::report;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tally_sdk::witnessing::checkpoint::Checkpoint;
use tally_sdk::witnessing::fork::ForkProof;

use crate::store::keys::Position;
use crate::store::{MAX_PAGE, Store, StoreError};
use crate::witness::book::{Book, MAX_CHECKPOINT_BYTES};
use crate::witness::evidence::{WitnessingError, witnessing};

/// Most products one scorecard reads (beyond, `tally audit verify` scores every member).
pub const MAX_SCORECARD_PRODUCTS: usize = 10_000;

/// Most entries one period bundle holds.
pub const MAX_PERIOD_ENTRIES: usize = 10_000;

/// Most fork proofs read.
const MAX_FORKS: usize = 100_000;

/// Most rejected entries read.
pub const MAX_REJECTED: usize = 100_000;

/// Checkpoints per page of an audit.
const CHECKPOINT_PAGE: usize = 256;

/// An audit view could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored entry's witnessing could not be worked out.
    #[error(transparent)]
    Witnessing(#[from] WitnessingError),
    /// A member's chain names more products than a scorecard reads.
    #[error(
        "{member}'s entries name more than {MAX_SCORECARD_PRODUCTS} products, more than one scorecard reads; `tally audit verify` scores every member over the whole ledger"
    )]
    TooManyProducts {
        /// The member.
        member: MemberId,
    },
    /// The period holds more entries than one bundle.
    #[error(
        "the period holds more than {MAX_PERIOD_ENTRIES} entries, more than one bundle: export shorter periods"
    )]
    TooManyEntries,
    /// A stored event cannot be read.
    #[error("the event of stored entry {seq} of {author} cannot be read: {detail}")]
    Event {
        /// Its author.
        author: MemberId,
        /// Its place.
        seq: u64,
        /// Why.
        detail: String,
    },
}

/// A node's store (or a backup of one) as the source of an audit.
pub struct StoreSource<'a> {
    store: &'a dyn Store,
    book: &'a Book,
}

impl<'a> StoreSource<'a> {
    /// The source reading `store` and its checkpoint `book`.
    pub fn new(store: &'a dyn Store, book: &'a Book) -> Self {
        Self { store, book }
    }
}

impl std::fmt::Debug for StoreSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSource").finish_non_exhaustive()
    }
}

impl LedgerSource for StoreSource<'_> {
    type Error = StoreError;

    fn heads(&mut self) -> Result<Vec<(MemberId, u64)>, StoreError> {
        Ok(self
            .store
            .heads()?
            .into_iter()
            .map(|head| (head.author, head.tip.seq))
            .collect())
    }

    fn checkpoints(
        &mut self,
        witness: &MemberId,
        from: u64,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        self.book.since(
            &[(witness.clone(), from)],
            CHECKPOINT_PAGE,
            MAX_CHECKPOINT_BYTES * 4,
        )
    }

    fn chain(&mut self, author: &MemberId, from: u64) -> Result<Vec<SignedEntry>, StoreError> {
        Ok(self
            .store
            .chain_range(author, from, MAX_PAGE)?
            .into_iter()
            .map(|(_, entry)| entry)
            .collect())
    }

    fn forks(&mut self) -> Result<Vec<ForkProof>, StoreError> {
        self.store.forks(MAX_FORKS)
    }

    fn rejected(&mut self) -> Result<Vec<RejectedEntry>, StoreError> {
        self.store.rejected(None, MAX_REJECTED)
    }
}

/// `member`'s scorecard from the entries this node holds: the report of every product its
/// chain names (read from each product's own entries; a finding against a member always
/// rests on an entry of its own: its first event, receipt, hand-over or delivery), the fork
/// proofs of its chain, and the entries of its that this node refused as its doing.
pub fn scorecard(
    store: &dyn Store,
    genesis: &Consortium,
    member: &MemberId,
) -> Result<Scorecard, AuditError> {
    let mut products = BTreeSet::new();
    let mut from = 0;
    loop {
        let page = store.chain_range(member, from, MAX_PAGE)?;
        let Some((_, last)) = page.last() else { break };
        let next = last.body.seq + 1;
        for (hash, entry) in &page {
            let Some(record) = read(*hash, entry)? else {
                continue;
            };
            products.extend(record.event.products);
            if products.len() > MAX_SCORECARD_PRODUCTS {
                return Err(AuditError::TooManyProducts {
                    member: member.clone(),
                });
            }
        }
        from = next;
    }
    let mut cards = Scorecards::new(genesis);
    let judging = Judging::of(genesis);
    let now = Timestamp::now();
    for product in &products {
        let records = product_records(store, product)?;
        cards.add_report(&report(product, &records, &[], &judging, now));
    }
    for fork in store.forks(MAX_FORKS)? {
        if &fork.first.body.author == member {
            cards.add_fork(&fork);
        }
    }
    // Checked when kept; checked again, as the audit does, so the two agree.
    let verifier = Verifier::new(genesis, Timestamp::now());
    for rejected in store.rejected(Some(member), MAX_REJECTED)? {
        if let Ok(verified) = rejected.verify(&verifier) {
            cards.add_rejection(&verified);
        }
    }
    Ok(cards.finish_one(member))
}

/// The records of the entries naming `product` (its own, not its inputs').
fn product_records(store: &dyn Store, product: &ProductId) -> Result<Vec<Recorded>, AuditError> {
    let mut records = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.history(product, cursor.as_ref(), MAX_PAGE)?;
        for (hash, entry) in &page.entries {
            records.extend(read(*hash, entry)?);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(records),
        }
    }
}

fn read(
    hash: tally_sdk::hash::EntryHash,
    entry: &SignedEntry,
) -> Result<Option<Recorded>, AuditError> {
    Recorded::read(hash, entry, false).map_err(|e| AuditError::Event {
        author: entry.body.author.clone(),
        seq: entry.body.seq,
        detail: e.to_string(),
    })
}

/// The bundle of `period`: for every chain held, the entries recorded in the period with
/// their witness evidence, and the entries just before and after it.
pub fn period_bundle(
    store: &dyn Store,
    book: &Book,
    genesis: &Consortium,
    period: Period,
) -> Result<PeriodBundle, AuditError> {
    let verifier = Verifier::new(genesis, Timestamp::now());
    let mut witnessed = BTreeMap::new();
    let mut total = 0;
    let mut chains = Vec::new();
    for head in store.heads()? {
        let at = |seq| {
            store
                .entry_at(Position {
                    member: head.code,
                    seq,
                })
                .and_then(|found| {
                    found.map(|(_, entry)| entry).ok_or_else(|| {
                        crate::store::corrupted(format!(
                            "entry {seq} of {} is below its chain head but missing",
                            head.author
                        ))
                    })
                })
        };
        // Timestamps never go back along a chain: the period's first entry is found by
        // bisection.
        let (mut low, mut high) = (0, head.tip.seq + 1);
        while low < high {
            let middle = low + (high - low) / 2;
            if at(middle)?.body.timestamp < period.from {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        let before = match low {
            0 => None,
            n => Some(at(n - 1)?),
        };
        let mut entries = Vec::new();
        let mut after = None;
        let mut next = low;
        'chain: while next <= head.tip.seq {
            let page = store.chain_range(&head.author, next, MAX_PAGE)?;
            let Some((_, last)) = page.last() else { break };
            next = last.body.seq + 1;
            for (hash, entry) in page {
                if entry.body.timestamp >= period.to {
                    after = Some(entry);
                    break 'chain;
                }
                total += 1;
                if total > MAX_PERIOD_ENTRIES {
                    return Err(AuditError::TooManyEntries);
                }
                let found = witnessing(book, store, &verifier, &hash)?.ok_or_else(|| {
                    crate::store::corrupted(format!("entry {hash} is in a chain but not stored"))
                })?;
                witnessed.insert(hash, found.witnessed);
                entries.push(found.evidence);
            }
        }
        chains.push(ChainSegment {
            member: head.author,
            before,
            entries,
            after,
        });
    }
    let members: BTreeSet<&MemberId> = chains.iter().map(|c| &c.member).collect();
    let forks: Vec<ForkProof> = store
        .forks(MAX_FORKS)?
        .into_iter()
        .filter(|fork| members.contains(&fork.first.body.author))
        .collect();
    Ok(PeriodBundle::build(
        genesis.network_id(),
        period,
        chains,
        forks,
        &|evidence| {
            evidence
                .entry
                .hash()
                .ok()
                .and_then(|hash| witnessed.get(&hash).copied())
                .unwrap_or(false)
        },
    ))
}
