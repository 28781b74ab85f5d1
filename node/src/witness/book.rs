//! The checkpoint book: the checkpoints a node holds — its own and its peers' — in the
//! `checkpoints` column family, with the indexes that find the checkpoint of a witness that
//! covers an entry, how far each witness has stated each chain, and which checkpoints of a
//! witness the node still lacks.
//!
//! | key | value |
//! |---|---|
//! | `c`, witness, 0, number (8) | the checkpoint with its spans, canonical encoding |
//! | `v`, author, 0, witness, 0, span's last seq (8) | span's first seq (8), checkpoint number (8) |
//! | `s`, witness, 0, author | last seq of `author`'s chain the witness has stated (8) |
//! | `p`, witness | numbers held without a gap from 0 (8), highest number held + 1 (8) |
//! | `x`, witness, 0, kind (1) | the first [`Misconduct`] of that kind found of the witness |
//!
//! Every checkpoint is verified before it is written, and one lock serialises writers so the
//! indexes move together with the records (each record and its index rows are one batch).
//!
//! A peer's checkpoint is admitted ([`Book::admit`]) only once it can be checked against the
//! chains this node holds: each span must be exactly the entries held at those places (a
//! witness that states others signed a lie, kept as evidence), and the witness must have
//! stated at least as many entries in all as its checkpoint number says it made checkpoints
//! (each honest checkpoint states at least one new entry). A checkpoint that cannot be
//! checked yet is not stored; pulls bring it again. So a witness can neither invent numbers
//! nor flood the book with checkpoints that state nothing new: what it can make nodes store is
//! bounded by the entries that exist.

use std::sync::{Arc, Mutex};

use tally_sdk::codec;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::witnessing::checkpoint::{
    ChainSpan, Checkpoint, CheckpointError, Contradiction, contradiction,
};
use tally_sdk::witnessing::witness::{counts_as_witness, witnesses_needed};

use crate::consortium::SharedConsortium;
use crate::store::keys::prefix_end;
use crate::store::tiles::ChainTiles;
use crate::store::{Batch, Cf, KeyRange, Store, StoreError, corrupted};

/// Largest stored or received checkpoint (1,024 spans fit with room to spare).
pub const MAX_CHECKPOINT_BYTES: usize = 1 << 20;

/// Most misconduct rows read (two kinds per member at most).
const MAX_MISCONDUCT_READ: usize = 2 * tally_sdk::membership::genesis::MAX_MEMBERS;

/// A checkpoint was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    /// It is invalid: not signed by its witness, or its spans are malformed.
    #[error("invalid checkpoint: {0}")]
    Invalid(#[from] CheckpointError),
    /// The witness signed another checkpoint with this number (a node restored from an old
    /// backup does that). The first one held is kept.
    #[error("{witness} signed two different checkpoints numbered {number}; the first is kept")]
    Conflict {
        /// The witness.
        witness: MemberId,
        /// The number.
        number: u64,
    },
    /// The witness cosigned two tree heads of one chain at one size with different roots (a
    /// split view); the one held is kept, the pair kept as evidence.
    #[error(
        "{witness} cosigned two different tree heads of {author}'s chain at {size} entries; the \
         first is kept"
    )]
    SplitView {
        /// The witness.
        witness: MemberId,
        /// The chain.
        author: MemberId,
        /// The size.
        size: u64,
    },
    /// A span states other entries than the chain this node holds at those places: the
    /// witness signed a lie (kept as evidence).
    #[error(
        "{witness}'s checkpoint {number} states entries of {author}'s chain this node holds otherwise"
    )]
    FalseSpan {
        /// The witness.
        witness: MemberId,
        /// The checkpoint's number.
        number: u64,
        /// The chain.
        author: MemberId,
    },
    /// A conflict proof from another node is not one: the two checkpoints are not one
    /// witness's two different checkpoints with one number.
    #[error("the two checkpoints are not one witness's two different checkpoints with one number")]
    NotAConflict,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BookError {
    /// The member whose signed checkpoint is at fault (`None`: the checkpoint proves nothing
    /// about its signer — it did not verify — or the fault is this node's).
    pub fn signer_at_fault(&self) -> Option<&MemberId> {
        match self {
            BookError::Conflict { witness, .. }
            | BookError::SplitView { witness, .. }
            | BookError::FalseSpan { witness, .. } => Some(witness),
            BookError::Invalid(_) | BookError::NotAConflict | BookError::Store(_) => None,
        }
    }
}

/// What admitting a peer's checkpoint did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// It is new here and now stored.
    New,
    /// It was already held.
    Known,
    /// It cannot be checked yet (it states entries this node does not hold, or a number
    /// beyond the entries its witness has stated): not stored; pulls bring it again.
    Deferred,
    /// It states a head of `author`'s chain at `seq` other than the entry held there: the
    /// author signed two entries at one place (a fork this node has not found yet), or the
    /// witness made the head up. Only the entry can tell, so nobody is blamed: not stored;
    /// the caller asks the peer that sent it for the entry, and checks it again once a fork
    /// is recorded.
    HeadDiffers {
        /// The chain.
        author: MemberId,
        /// The place.
        seq: u64,
    },
}

/// Evidence that a witness signed what an honest node never signs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Misconduct {
    /// Two checkpoints of the witness that contradict each other
    /// ([`tally_sdk::witnessing::checkpoint::contradiction`]): two with one number, or two tree heads of
    /// one chain at one size with different roots.
    Conflict {
        /// The one held.
        held: Checkpoint,
        /// The other.
        other: Checkpoint,
    },
    /// A checkpoint whose span of `author`'s chain is not the entries held at those places.
    FalseSpan {
        /// The checkpoint.
        checkpoint: Checkpoint,
        /// The chain.
        author: MemberId,
    },
}

impl Misconduct {
    /// The witness that signed it.
    pub fn witness(&self) -> &MemberId {
        match self {
            Misconduct::Conflict { held, .. } => &held.body().witness,
            Misconduct::FalseSpan { checkpoint, .. } => &checkpoint.body().witness,
        }
    }

    fn kind(&self) -> u8 {
        match self {
            Misconduct::Conflict { .. } => b'c',
            Misconduct::FalseSpan { .. } => b's',
        }
    }
}

/// What recording a checkpoint did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// It is new here and now stored.
    New,
    /// It was already held.
    Known,
}

/// How far the node holds a witness's checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Numbers `0..contiguous` are all held: the next one to pull.
    pub contiguous: u64,
    /// One past the highest number held: the witness's next number as far as the node knows.
    pub next: u64,
}

/// The checkpoints a node holds.
pub struct Book {
    store: Arc<dyn Store>,
    consortium: SharedConsortium,
    writing: Mutex<()>,
}

impl std::fmt::Debug for Book {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Book").finish_non_exhaustive()
    }
}

fn record_key(witness: &MemberId, number: u64) -> Vec<u8> {
    let mut key = member_key(b'c', witness);
    key.extend_from_slice(&number.to_be_bytes());
    key
}

fn member_key(tag: u8, member: &MemberId) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + member.as_str().len() + 8);
    key.push(tag);
    key.extend_from_slice(member.as_str().as_bytes());
    key.push(0);
    key
}

fn coverage_prefix(author: &MemberId, witness: &MemberId) -> Vec<u8> {
    let mut key = member_key(b'v', author);
    key.extend_from_slice(witness.as_str().as_bytes());
    key.push(0);
    key
}

fn stated_key(witness: &MemberId, author: &MemberId) -> Vec<u8> {
    let mut key = member_key(b's', witness);
    key.extend_from_slice(author.as_str().as_bytes());
    key
}

fn misconduct_key(witness: &MemberId, kind: u8) -> Vec<u8> {
    let mut key = member_key(b'x', witness);
    key.push(kind);
    key
}

fn progress_key(witness: &MemberId) -> Vec<u8> {
    let mut key = vec![b'p'];
    key.extend_from_slice(witness.as_str().as_bytes());
    key
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

impl Book {
    /// The book over `store`'s `checkpoints` column family, for the consortium of `genesis`
    /// as it stands.
    pub fn new(store: Arc<dyn Store>, genesis: Arc<Consortium>) -> Self {
        Self::following(store, SharedConsortium::new(genesis))
    }

    /// The book of a node: checkpoints judged by the consortium in force.
    pub fn following(store: Arc<dyn Store>, consortium: SharedConsortium) -> Self {
        Self {
            store,
            consortium,
            writing: Mutex::new(()),
        }
    }

    /// The consortium now.
    pub fn genesis(&self) -> Arc<Consortium> {
        self.consortium.current()
    }

    /// The consortium, followed as changes are applied.
    pub fn consortium(&self) -> &SharedConsortium {
        &self.consortium
    }

    /// Verifies a checkpoint and stores it with its index rows, unless it is already held.
    pub fn record(&self, checkpoint: &Checkpoint) -> Result<Recorded, BookError> {
        checkpoint.verify(&self.genesis())?;
        self.record_verified(checkpoint)
    }

    /// [`Book::record`] for a checkpoint verified already.
    fn record_verified(&self, checkpoint: &Checkpoint) -> Result<Recorded, BookError> {
        let bytes = codec::encode("checkpoint", checkpoint).map_err(CheckpointError::from)?;
        let body = checkpoint.body();
        let witness = &body.witness;
        let key = record_key(witness, body.number);
        // A poisoned lock only means another writer panicked; the store itself is consistent.
        let _writing = self
            .writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(held) = self.store.get(Cf::Checkpoints, &key)? {
            return if held == bytes {
                Ok(Recorded::Known)
            } else {
                Err(BookError::Conflict {
                    witness: witness.clone(),
                    number: body.number,
                })
            };
        }
        let mut batch = Batch::default();
        batch.put(Cf::Checkpoints, key, bytes);
        for span in &checkpoint.spans {
            let author = &span.head.author;
            let mut coverage = coverage_prefix(author, witness);
            coverage.extend_from_slice(&span.head.seq.to_be_bytes());
            let mut value = span.first.to_be_bytes().to_vec();
            value.extend_from_slice(&body.number.to_be_bytes());
            batch.put(Cf::Checkpoints, coverage, value);
            if self
                .stated(witness, author)?
                .is_none_or(|last| span.head.seq > last)
            {
                batch.put(
                    Cf::Checkpoints,
                    stated_key(witness, author),
                    span.head.seq.to_be_bytes().to_vec(),
                );
            }
        }
        let mut progress = self.progress(witness)?;
        progress.next = progress.next.max(body.number.saturating_add(1));
        if body.number == progress.contiguous {
            progress.contiguous += 1;
            while self
                .store
                .get(Cf::Checkpoints, &record_key(witness, progress.contiguous))?
                .is_some()
            {
                progress.contiguous += 1;
            }
        }
        let mut value = progress.contiguous.to_be_bytes().to_vec();
        value.extend_from_slice(&progress.next.to_be_bytes());
        batch.put(Cf::Checkpoints, progress_key(witness), value);
        self.store.write(batch)?;
        Ok(Recorded::New)
    }

    /// Checks a peer's checkpoint against the chains this node holds and records it (see
    /// the module doc). A conflict with a held checkpoint or a false span is kept as evidence
    /// ([`Book::misconduct`]) and refused.
    pub fn admit(&self, checkpoint: &Checkpoint) -> Result<Admitted, BookError> {
        checkpoint.verify(&self.genesis())?;
        let body = checkpoint.body();
        let witness = &body.witness;
        if let Some(held) = self.checkpoint(witness, body.number)? {
            if &held == checkpoint {
                return Ok(Admitted::Known);
            }
            self.keep_misconduct(&Misconduct::Conflict {
                held,
                other: checkpoint.clone(),
            })?;
            return Err(BookError::Conflict {
                witness: witness.clone(),
                number: body.number,
            });
        }
        // A tree head contradicting one the witness cosigned before is evidence needing no
        // chain: checked first, forked chains included (that is where split views show),
        // against the witness's checkpoint held at that place and the false one kept, if any
        // (a node shown the false head first refused it; the pair is what convinces others).
        let refused = match self.kept(witness, b's')? {
            Some(Misconduct::FalseSpan { checkpoint, .. }) => Some(checkpoint),
            _ => None,
        };
        for span in checkpoint.spans.iter().filter(|s| s.tree.is_some()) {
            let author = &span.head.author;
            let held = self.covering(author, witness, span.head.seq)?;
            for held in held.into_iter().chain(refused.clone()) {
                let Some(Contradiction::SplitView { author, size }) =
                    contradiction(&held, checkpoint)
                else {
                    continue;
                };
                self.keep_misconduct(&Misconduct::Conflict {
                    held,
                    other: checkpoint.clone(),
                })?;
                return Err(BookError::SplitView {
                    witness: witness.clone(),
                    author,
                    size,
                });
            }
        }
        let forks = crate::forks::fork_points(self.store.as_ref())?;
        for span in &checkpoint.spans {
            let author = &span.head.author;
            // A forked chain's history from the fork point is in dispute: a witness may
            // honestly hold the other branch, and a span reaching into it cannot be compared
            // with the branch held (its root covers both sides of the fork point).
            if forks.is_forked(author, span.head.seq) {
                continue;
            }
            let Some(hashes) = self.store.chain_hashes(author, span.first, span.head.seq)? else {
                return Ok(Admitted::Deferred);
            };
            if hashes.last() != Some(&span.head.hash) {
                return Ok(Admitted::HeadDiffers {
                    author: author.clone(),
                    seq: span.head.seq,
                });
            }
            // The head matches, and each entry names the hash of the one before it, so the
            // head fixes every hash of the span: a root that differs is the witness's lie.
            let held = ChainSpan::new(author.clone(), span.first, &hashes)?;
            // A format-2 span's tree head must be the root of the chain held, which its head
            // fixes just as it fixes the span's entries.
            let tree_differs = match &span.tree {
                Some(tree) => {
                    let code = self
                        .store
                        .head(author)?
                        .map(|head| head.code)
                        .ok_or_else(|| corrupted(format!("{author}'s chain has no head row")))?;
                    ChainTiles::new(self.store.as_ref(), code).root(span.tree_size())? != tree.root
                }
                None => false,
            };
            if held.head != span.head
                || held.first != span.first
                || held.entries_root != span.entries_root
                || tree_differs
            {
                self.keep_misconduct(&Misconduct::FalseSpan {
                    checkpoint: checkpoint.clone(),
                    author: author.clone(),
                })?;
                return Err(BookError::FalseSpan {
                    witness: witness.clone(),
                    number: body.number,
                    author: author.clone(),
                });
            }
        }
        // Checkpoints 0..=number each stated at least one new entry.
        let mut stated_in_all: u64 = 0;
        for member in self.genesis().all_members() {
            let before = self.stated(witness, &member.id)?;
            let now = checkpoint.span(&member.id).map(|s| s.head.seq);
            if let Some(last) = before.max(now) {
                stated_in_all = stated_in_all.saturating_add(last.saturating_add(1));
            }
        }
        if body.number >= stated_in_all {
            return Ok(Admitted::Deferred);
        }
        Ok(match self.record_verified(checkpoint)? {
            Recorded::New => Admitted::New,
            Recorded::Known => Admitted::Known,
        })
    }

    /// Keeps `misconduct` unless one of its kind is kept of the witness already (one proves
    /// it; more would let a witness fill the disk).
    fn keep_misconduct(&self, misconduct: &Misconduct) -> Result<(), StoreError> {
        let key = misconduct_key(misconduct.witness(), misconduct.kind());
        let _writing = self
            .writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.store.get(Cf::Checkpoints, &key)?.is_some() {
            return Ok(());
        }
        let value = codec::encode("checkpoint misconduct", misconduct)
            .map_err(|e| corrupted(format!("misconduct evidence cannot be encoded: {e}")))?;
        let mut batch = Batch::default();
        batch.put(Cf::Checkpoints, key, value);
        self.store.write(batch)
    }

    /// Keeps a proof, received from another node, that a witness signed two checkpoints with
    /// one number: both must verify with the genesis, be the same witness's with one number,
    /// and differ. Returns the witness if the proof is new here (`None`: one is kept already).
    pub fn admit_conflict(
        &self,
        held: &Checkpoint,
        other: &Checkpoint,
    ) -> Result<Option<MemberId>, BookError> {
        held.verify(&self.genesis())?;
        other.verify(&self.genesis())?;
        let a = held.body();
        if contradiction(held, other).is_none() {
            return Err(BookError::NotAConflict);
        }
        let key = misconduct_key(&a.witness, b'c');
        if self.store.get(Cf::Checkpoints, &key)?.is_some() {
            return Ok(None);
        }
        self.keep_misconduct(&Misconduct::Conflict {
            held: held.clone(),
            other: other.clone(),
        })?;
        Ok(Some(a.witness.clone()))
    }

    /// The witnesses the node holds a conflict proof of.
    pub fn conflicted(&self) -> Result<Vec<MemberId>, StoreError> {
        Ok(self
            .misconduct()?
            .into_iter()
            .filter(|m| matches!(m, Misconduct::Conflict { .. }))
            .map(|m| m.witness().clone())
            .collect())
    }

    /// The conflict proofs the node holds but of `except`, within `max_bytes` (at least one
    /// if any).
    pub fn conflicts(
        &self,
        except: &[MemberId],
        max_bytes: usize,
    ) -> Result<Vec<(Checkpoint, Checkpoint)>, StoreError> {
        let mut found = Vec::new();
        let mut bytes = 0;
        for misconduct in self.misconduct()? {
            let Misconduct::Conflict { held, other } = misconduct else {
                continue;
            };
            if except.contains(&held.body().witness) {
                continue;
            }
            let size = codec::encoded_len("checkpoint", &held)
                .and_then(|a| codec::encoded_len("checkpoint", &other).map(|b| a + b))
                .unwrap_or(usize::MAX);
            if !found.is_empty() && bytes + size > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(size);
            found.push((held, other));
        }
        Ok(found)
    }

    /// The evidence of `kind` kept against `witness`, if any.
    fn kept(&self, witness: &MemberId, kind: u8) -> Result<Option<Misconduct>, StoreError> {
        let Some(value) = self
            .store
            .get(Cf::Checkpoints, &misconduct_key(witness, kind))?
        else {
            return Ok(None);
        };
        codec::decode(
            "checkpoint misconduct",
            &value,
            2 * MAX_CHECKPOINT_BYTES + 1024,
        )
        .map(Some)
        .map_err(|e| corrupted(format!("kept misconduct evidence is damaged: {e}")))
    }

    /// The evidence of witnesses' misconduct the node keeps, by witness.
    pub fn misconduct(&self) -> Result<Vec<Misconduct>, StoreError> {
        let range = KeyRange::prefix(b"x");
        self.store
            .scan(Cf::Checkpoints, &range, MAX_MISCONDUCT_READ)?
            .iter()
            .map(|(_, value)| {
                codec::decode(
                    "checkpoint misconduct",
                    value,
                    2 * MAX_CHECKPOINT_BYTES + 1024,
                )
                .map_err(|e| corrupted(format!("kept misconduct evidence is damaged: {e}")))
            })
            .collect()
    }

    /// How far the node holds `witness`'s checkpoints.
    pub fn progress(&self, witness: &MemberId) -> Result<Progress, StoreError> {
        let Some(value) = self.store.get(Cf::Checkpoints, &progress_key(witness))? else {
            return Ok(Progress::default());
        };
        match (u64_at(&value, 0), u64_at(&value, 8)) {
            (Some(contiguous), Some(next)) if value.len() == 16 => {
                Ok(Progress { contiguous, next })
            }
            _ => Err(corrupted(format!(
                "the checkpoint progress row of {witness} is damaged"
            ))),
        }
    }

    /// Whether checkpoints of enough members state `author`'s chain up to `seq` at least: the
    /// witness rule ([`witnesses_needed`]) read from the book's progress rows, without
    /// building the evidence. The full check, with every checkpoint's proof against the chain
    /// as held, is [`crate::witness::evidence::witnessing`]; it agrees unless a checkpoint
    /// stating the chain conflicts with it (a fork, reported apart).
    pub fn witnessed(&self, author: &MemberId, seq: u64) -> Result<bool, StoreError> {
        let needed = witnesses_needed(&self.genesis(), author);
        let mut count = 0;
        for member in self.genesis().all_members() {
            if !counts_as_witness(&self.genesis(), author, &member.id) {
                continue;
            }
            if self
                .stated(&member.id, author)?
                .is_some_and(|last| last >= seq)
            {
                count += 1;
                if count >= needed {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The last sequence number of `author`'s chain that `witness`'s checkpoints have stated.
    pub fn stated(&self, witness: &MemberId, author: &MemberId) -> Result<Option<u64>, StoreError> {
        let Some(value) = self
            .store
            .get(Cf::Checkpoints, &stated_key(witness, author))?
        else {
            return Ok(None);
        };
        match u64_at(&value, 0) {
            Some(last) if value.len() == 8 => Ok(Some(last)),
            _ => Err(corrupted(format!(
                "the row of how far {witness} stated {author}'s chain is damaged"
            ))),
        }
    }

    /// `witness`'s checkpoint `number`.
    pub fn checkpoint(
        &self,
        witness: &MemberId,
        number: u64,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let Some(bytes) = self
            .store
            .get(Cf::Checkpoints, &record_key(witness, number))?
        else {
            return Ok(None);
        };
        decode(&bytes).map(Some)
    }

    /// The checkpoint of `witness` whose span of `author`'s chain contains `seq`.
    pub fn covering(
        &self,
        author: &MemberId,
        witness: &MemberId,
        seq: u64,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let prefix = coverage_prefix(author, witness);
        let mut start = prefix.clone();
        start.extend_from_slice(&seq.to_be_bytes());
        let range = KeyRange {
            start,
            end: prefix_end(&prefix),
        };
        let Some((key, value)) = self
            .store
            .scan(Cf::Checkpoints, &range, 1)?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let damaged = || corrupted(format!("a checkpoint index row of {author} is damaged"));
        let (Some(first), Some(number)) = (u64_at(&value, 0), u64_at(&value, 8)) else {
            return Err(damaged());
        };
        if key.len() != prefix.len() + 8 || value.len() != 16 {
            return Err(damaged());
        }
        if first > seq {
            return Ok(None);
        }
        self.checkpoint(witness, number)
    }

    /// Checkpoints held of each witness from the number given, in that order, at most `limit`
    /// and `max_bytes` of them (at least one if any).
    pub fn since(
        &self,
        from: &[(MemberId, u64)],
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        let mut found = Vec::new();
        let mut bytes = 0;
        for (witness, first) in from {
            if found.len() >= limit {
                break;
            }
            let prefix = member_key(b'c', witness);
            let range = KeyRange {
                start: record_key(witness, *first),
                end: prefix_end(&prefix),
            };
            for (_, value) in self
                .store
                .scan(Cf::Checkpoints, &range, limit - found.len())?
            {
                if !found.is_empty() && bytes + value.len() > max_bytes {
                    return Ok(found);
                }
                bytes += value.len();
                found.push(decode(&value)?);
            }
        }
        Ok(found)
    }

    /// Each witness's latest checkpoint held, by witness (removed members' included: their
    /// checkpoints before the removal stay valid).
    pub fn latest(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let mut latest = Vec::new();
        for member in self.genesis().all_members() {
            let progress = self.progress(&member.id)?;
            if progress.next > 0
                && let Some(checkpoint) = self.checkpoint(&member.id, progress.next - 1)?
            {
                latest.push(checkpoint);
            }
        }
        Ok(latest)
    }
}

fn decode(bytes: &[u8]) -> Result<Checkpoint, StoreError> {
    codec::decode("checkpoint", bytes, MAX_CHECKPOINT_BYTES)
        .map_err(|e| corrupted(format!("a stored checkpoint is damaged: {e}")))
}
