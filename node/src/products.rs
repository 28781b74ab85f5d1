//! What the node knows about one product, put together from its store for the SDK's
//! provenance and responsibility rules ([`tally_sdk::reports::provenance`],
//! [`tally_sdk::reports::responsibility`]): the entries about the product and, recursively, about what
//! it was made from, with their witness status; the evidence bundle that proves the report
//! offline ([`tally_sdk::reports::bundle`]). The custody rule for the node's own hand-overs reads the
//! same entries ([`gather`]) from the writer ([`crate::ingest`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use tally_sdk::entry::SignedEntry;
use tally_sdk::gs1::ProductId;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::reports::attestation::{self, Attestation, ChainHeld};
use tally_sdk::reports::bundle::{BundleError, EvidenceBundle};
use tally_sdk::reports::provenance::{
    Judging, MAX_INPUT_DEPTH, Provenance, Recorded, derive, mark_forked,
};
use tally_sdk::reports::responsibility::{Report, fork_involves, report};
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;
use tally_sdk::witnessing::fork::ForkProof;

use crate::forks::fork_points;
use crate::store::{MAX_PAGE, Store, StoreError};
use crate::witness::book::Book;
use crate::witness::evidence::{WitnessingError, witnessing};

/// Most entries one product's report reads (its own and its inputs').
pub const MAX_PRODUCT_ENTRIES: usize = 10_000;

/// Most fork proofs looked through for one product.
const MAX_FORKS: usize = 10_000;

/// A product's records could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The product has more entries than a report reads.
    #[error(
        "the product and its inputs have more than {MAX_PRODUCT_ENTRIES} entries, more than a report covers"
    )]
    TooMany,
    /// A stored entry's witnessing could not be worked out.
    #[error(transparent)]
    Witnessing(#[from] WitnessingError),
    /// The bundle could not be put together (a stored entry is damaged).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A stored event cannot be read.
    #[error("the event of stored entry {hash} cannot be read: {detail}")]
    Event {
        /// The entry.
        hash: EntryHash,
        /// Why.
        detail: String,
    },
}

/// The stored entries about `product` and, through the transformations that made it, about
/// its inputs (to [`MAX_INPUT_DEPTH`]), each once, in no particular order.
pub fn gather<S: Store + ?Sized>(
    store: &S,
    product: &ProductId,
) -> Result<Vec<(EntryHash, SignedEntry)>, ProductError> {
    gather_in(store, product, None)
}

/// As [`gather`], reading only entries within `view` (sorted by author: the first `size`
/// entries of each chain it names, none of a chain it does not name): what the node held when
/// it took the view, whatever arrived since. A bundle and an attestation each read within
/// their own view, so that each states exactly what it read.
pub fn gather_within<S: Store + ?Sized>(
    store: &S,
    product: &ProductId,
    view: &[ChainHeld],
) -> Result<Vec<(EntryHash, SignedEntry)>, ProductError> {
    gather_in(store, product, Some(view))
}

fn gather_in<S: Store + ?Sized>(
    store: &S,
    product: &ProductId,
    view: Option<&[ChainHeld]>,
) -> Result<Vec<(EntryHash, SignedEntry)>, ProductError> {
    let within = |entry: &SignedEntry| {
        view.is_none_or(|view| {
            view.binary_search_by(|c| c.author.cmp(&entry.body.author))
                .ok()
                .and_then(|i| view.get(i))
                .is_some_and(|c| entry.body.seq < c.size)
        })
    };
    let mut found = BTreeMap::new();
    let mut queued = BTreeSet::from([product.clone()]);
    let mut queue = VecDeque::from([(product.clone(), 0)]);
    while let Some((item, depth)) = queue.pop_front() {
        let mut cursor = None;
        loop {
            let page = store.history(&item, cursor.as_ref(), MAX_PAGE)?;
            for (hash, entry) in page.entries {
                if found.contains_key(&hash) || !within(&entry) {
                    continue;
                }
                if found.len() == MAX_PRODUCT_ENTRIES {
                    return Err(ProductError::TooMany);
                }
                if depth + 1 < MAX_INPUT_DEPTH
                    && let Some(record) = read(hash, &entry, false)?
                    && record.event.outputs.contains(&item)
                {
                    for input in &record.event.inputs {
                        if queued.insert(input.clone()) {
                            queue.push_back((input.clone(), depth + 1));
                        }
                    }
                }
                found.insert(hash, entry);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(found.into_iter().collect())
}

fn read(
    hash: EntryHash,
    entry: &SignedEntry,
    witnessed: bool,
) -> Result<Option<Recorded>, ProductError> {
    Recorded::read(hash, entry, witnessed).map_err(|e| ProductError::Event {
        hash,
        detail: e.to_string(),
    })
}

/// The event records of `entries`, each with its witness status from `witnessed`, and
/// whether any of them is about `product`.
fn records(
    entries: &[(EntryHash, SignedEntry)],
    product: &ProductId,
    mut witnessed: impl FnMut(&SignedEntry) -> Result<bool, ProductError>,
) -> Result<(Vec<Recorded>, bool), ProductError> {
    let mut records = Vec::with_capacity(entries.len());
    for (hash, entry) in entries {
        records.extend(read(*hash, entry, witnessed(entry)?)?);
    }
    let about = records.iter().any(|r| r.is_about(product));
    Ok((records, about))
}

/// The records of the entries about `product` and its inputs, each event's witness status
/// read from the checkpoint book ([`Book::witnessed`]); `None` if no entry names it.
fn witnessed_records(
    store: &dyn Store,
    book: &Book,
    product: &ProductId,
) -> Result<Option<Vec<Recorded>>, ProductError> {
    let entries = gather(store, product)?;
    let (records, about) = records(&entries, product, |entry| {
        Ok(book.witnessed(&entry.body.author, entry.body.seq)?)
    })?;
    Ok(about.then_some(records))
}

/// The provenance of `product` (`None` if no entry names it), judged by `genesis`'s rules,
/// each event's witness status read from the checkpoint book.
pub fn provenance(
    store: &dyn Store,
    book: &Book,
    genesis: &Consortium,
    product: &ProductId,
) -> Result<Option<Provenance>, ProductError> {
    let Some(records) = witnessed_records(store, book, product)? else {
        return Ok(None);
    };
    let mut provenance = derive(product, &records, &Judging::of(genesis));
    mark_forked(&mut provenance, &fork_points(store)?);
    Ok(Some(provenance))
}

/// The responsibility report of `product` as of now (`None` if no entry names it). Witness
/// status comes from the checkpoint book, as the provenance's does: the proofs are the
/// evidence bundle's job ([`bundle`]), and building them costs a span read per entry and
/// witness. The report equals the bundle's.
pub fn responsibility(
    store: &dyn Store,
    book: &Book,
    genesis: &Consortium,
    product: &ProductId,
    as_of: Timestamp,
) -> Result<Option<Report>, ProductError> {
    let Some(records) = witnessed_records(store, book, product)? else {
        return Ok(None);
    };
    let forks = forks_about(store, product, &records)?;
    Ok(Some(report(
        product,
        &records,
        &forks,
        &Judging::of(genesis),
        as_of,
    )))
}

/// The fork proofs a report of `product` reads: those that involve it (each a fork claim)
/// and those of the chains its records are in (their steps from the fork point on are
/// marked forked).
fn forks_about(
    store: &dyn Store,
    product: &ProductId,
    records: &[Recorded],
) -> Result<Vec<ForkProof>, ProductError> {
    let authors: BTreeSet<&MemberId> = records.iter().map(|r| &r.author).collect();
    Ok(store
        .forks(MAX_FORKS)?
        .into_iter()
        .filter(|fork| authors.contains(&fork.first.body.author) || fork_involves(fork, product))
        .collect())
}

/// The evidence bundle of `product` (`None` if no entry names it): every entry gathered
/// within `view` (the node's, taken before it asked for `attestations`; sorted by author) with
/// the checkpoints witnessing it, the fork proofs involving the product, the report as of
/// `as_of`, and the attestations that hold against it (one the node's own entries contradict,
/// which an attester ahead of this node or a dishonest one may send, is left out and logged:
/// the bundle then shows less complete, never invalid).
pub fn bundle(
    store: &dyn Store,
    book: &Book,
    genesis: &Consortium,
    product: &ProductId,
    as_of: Timestamp,
    view: Vec<ChainHeld>,
    attestations: Vec<Attestation>,
) -> Result<Option<EvidenceBundle>, ProductError> {
    let entries = gather_within(store, product, &view)?;
    let (unwitnessed, about) = records(&entries, product, |_| Ok(false))?;
    if !about {
        return Ok(None);
    }
    let verifier = Verifier::new(genesis, Timestamp::now());
    let mut evidence = Vec::with_capacity(entries.len());
    let mut witnessed = BTreeMap::new();
    for (hash, _) in &entries {
        let Some(found) = witnessing(book, store, &verifier, hash)? else {
            continue;
        };
        witnessed.insert(*hash, found.witnessed);
        evidence.push(found.evidence);
    }
    let forks = forks_about(store, product, &unwitnessed)?;
    let bundle = EvidenceBundle::build(
        genesis,
        product,
        evidence,
        &|hash| witnessed.get(hash).copied().unwrap_or(false),
        forks,
        as_of,
    )?;
    let held = bundle.held()?;
    let as_of = bundle.report.as_of;
    let attestations = attestations
        .into_iter()
        .filter(|a| {
            let one = std::slice::from_ref(a);
            match attestation::check(genesis, product, as_of, one, &held) {
                Ok(_) => true,
                Err(error) => {
                    tracing::warn!(attester = %a.body.attester, %error, "an attestation left out of a bundle");
                    false
                }
            }
        })
        .collect();
    Ok(Some(bundle.attested(attestations)))
}
