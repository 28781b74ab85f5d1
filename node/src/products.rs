//! What the node knows about one product, put together from its store for the SDK's
//! provenance and responsibility rules ([`tally_sdk::provenance`],
//! [`tally_sdk::responsibility`]): the entries about the product and, recursively, about what
//! it was made from, with their witness status; the evidence bundle that proves the report
//! offline ([`tally_sdk::bundle`]); and the custody check the node applies to its own
//! member's hand-overs before signing them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;
use tally_sdk::bundle::{BundleError, EvidenceBundle};
use tally_sdk::entry::SignedEntry;
use tally_sdk::event::{EpcisEvent, EventKind, classify};
use tally_sdk::fork::ForkProof;
use tally_sdk::genesis::Genesis;
use tally_sdk::gs1::ProductId;
use tally_sdk::hash::EntryHash;
use tally_sdk::ids::MemberId;
use tally_sdk::provenance::{MAX_INPUT_DEPTH, Provenance, Recorded, derive};
use tally_sdk::responsibility::fork_involves;
use tally_sdk::time::Timestamp;
use tally_sdk::verify::Verifier;

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
pub fn gather(
    store: &dyn Store,
    product: &ProductId,
) -> Result<Vec<(EntryHash, SignedEntry)>, ProductError> {
    let mut found = BTreeMap::new();
    let mut queued = BTreeSet::from([product.clone()]);
    let mut queue = VecDeque::from([(product.clone(), 0)]);
    while let Some((item, depth)) = queue.pop_front() {
        let mut cursor = None;
        loop {
            let page = store.history(&item, cursor.as_ref(), MAX_PAGE)?;
            for (hash, entry) in page.entries {
                if found.contains_key(&hash) {
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

/// The provenance of `product` (`None` if no entry names it), each event's witness status
/// read from the checkpoint book ([`Book::witnessed`]).
pub fn provenance(
    store: &dyn Store,
    book: &Book,
    product: &ProductId,
) -> Result<Option<Provenance>, ProductError> {
    let entries = gather(store, product)?;
    let (records, about) = records(&entries, product, |entry| {
        Ok(book.witnessed(&entry.body.author, entry.body.seq)?)
    })?;
    Ok(about.then(|| derive(product, &records)))
}

/// The evidence bundle of `product` (`None` if no entry names it): every gathered entry with
/// the checkpoints witnessing it, the fork proofs involving the product, and the report.
pub fn bundle(
    store: &dyn Store,
    book: &Book,
    genesis: &Genesis,
    product: &ProductId,
) -> Result<Option<EvidenceBundle>, ProductError> {
    let entries = gather(store, product)?;
    if !records(&entries, product, |_| Ok(false))?.1 {
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
    let forks: Vec<ForkProof> = store
        .forks(MAX_FORKS)?
        .into_iter()
        .filter(|fork| fork_involves(fork, product))
        .collect();
    let bundle = EvidenceBundle::build(
        genesis.network_id(),
        product,
        evidence,
        &|hash| witnessed.get(hash).copied().unwrap_or(false),
        forks,
    )?;
    Ok(Some(bundle))
}

/// The custody rule the node applies before signing its member's events: a hand-over of an
/// item the member does not hold (custody is recorded and someone else holds it) is refused.
/// Returns, for each refused event (its index in `events`), why. Events that are not
/// hand-overs, or that fail to parse (the pipeline reports those), pass.
pub fn hand_overs_without_custody(
    store: &dyn Store,
    member: &MemberId,
    events: &[&Value],
) -> Result<Vec<(usize, String)>, ProductError> {
    let mut refused = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let Ok(parsed) = EpcisEvent::from_value(event) else {
            continue;
        };
        let Ok(EventKind::HandOver { to }) = classify(event, &parsed) else {
            continue;
        };
        for item in &parsed.products {
            let entries = gather(store, item)?;
            let (records, _) = records(&entries, item, |_| Ok(false))?;
            if records.is_empty() {
                continue;
            }
            let provenance = derive(item, &records);
            let holder = provenance
                .custody
                .iter()
                .rev()
                .find(|c| c.from <= parsed.event_time)
                .map(|c| &c.holder);
            if let Some(holder) = holder
                && holder != member
            {
                refused.push((
                    index,
                    format!(
                        "hand_over_without_custody: {member} may not hand {item} over to {to}: {holder} holds it at {}",
                        parsed.event_time
                    ),
                ));
                break;
            }
        }
    }
    Ok(refused)
}
