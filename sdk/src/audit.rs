//! Auditing a whole ledger with the SDK alone: every chain from its first entry, every
//! checkpoint and every fork proof, as a node or a backup holds them.
//!
//! The audit runs in two phases, which the types enforce: first the checkpoints
//! ([`Auditor::checkpoint`]), so that each entry's witness status is known when its chain is
//! read; then the chains, page by page in chain order ([`ChainAuditor::entries`]), and the
//! fork proofs ([`ChainAuditor::fork`]). [`ChainAuditor::finish`] then
//! - checks every checkpoint span against the chain read: the Merkle root of the span's entry
//!   hashes and its head must be those of the entries held; a chain tail that checkpoints
//!   cover but the source does not serve fails the audit, named by chain and range (the
//!   source hides it, or has not caught up yet);
//! - derives the responsibility report of every product the entries name (its own entries:
//!   the claims of a report do not depend on its inputs') and the member scorecards
//!   ([`crate::audit::scorecard`]), with the fork proofs and the rejected entries
//!   ([`ChainAuditor::rejected`]).
//!
//! What *fails* an audit is what does not verify: a signature, a rule, a link, a checkpoint,
//! a span that disagrees with the chain, a witnessed tail left out, a fork proof, a rejected entry that is not its
//! author's doing. What members did wrong — custody rule violations, forks, rejected entries,
//! defects, late deliveries — are *findings*, reported in the summary and the scorecards.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::audit::rejection::{RejectedEntry, VerifiedRejection};
use crate::audit::scorecard::{Scorecard, Scorecards};
use crate::entry::{Payload, SignedEntry};
use crate::gs1::ProductId;
use crate::hash::{EntryHash, NetworkId};
use crate::ids::MemberId;
use crate::membership::consortium::Consortium;
use crate::placement::{PurgeTarget, purge_target_refusal};
use crate::reports::provenance::{Judging, Recorded};
use crate::reports::responsibility::report;
use crate::time::Timestamp;
use crate::verify::{ChainTip, NotAttributable, Verifier};
use crate::witnessing::checkpoint::{ChainSpan, Checkpoint, entries_tree};
use crate::witnessing::fork::ForkProof;
use crate::witnessing::witness::{counts_as_witness, witnesses_needed};

pub mod period;
pub mod rejection;
pub mod scorecard;

/// Most failures a summary lists (all are counted).
pub const MAX_FAILURES_LISTED: usize = 100;

/// Something that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What was checked (`entry 12 of factory`, `checkpoint 3 of platform`, `fork proof #0`).
    pub what: String,
    /// Why it failed.
    pub detail: String,
}

/// One chain's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSummary {
    /// Its author.
    pub member: MemberId,
    /// Entries read.
    pub entries: u64,
    /// Of which a quorum of members' checkpoints witness.
    pub witnessed: u64,
}

/// What an audit found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditSummary {
    /// The consortium audited.
    pub network: NetworkId,
    /// Each chain, ordered by member.
    pub chains: Vec<ChainSummary>,
    /// Entries read.
    pub entries: u64,
    /// Of which witnessed.
    pub witnessed: u64,
    /// Checkpoints read.
    pub checkpoints: u64,
    /// Checkpoint spans checked against the chains.
    pub spans_checked: u64,
    /// Spans stating entries beyond what the audited copy serves: each chain with such a
    /// tail is a failure (hidden, or not caught up yet).
    pub spans_beyond: u64,
    /// Products named by the entries.
    pub products: u64,
    /// Fork proofs read.
    pub forks: u64,
    /// Custody rule violations found.
    pub violations: u64,
    /// Entries refused as their authors' doing.
    pub rejected: u64,
    /// Entries a node refused that break no rule as the consortium now stands (refused
    /// before a membership change granted what they needed): not counted against anyone.
    pub rejected_dismissed: u64,
    /// Every member's scorecard.
    pub scorecards: Vec<Scorecard>,
    /// How many checks failed.
    pub failures: u64,
    /// The first [`MAX_FAILURES_LISTED`] of them.
    pub failures_listed: Vec<Failure>,
}

impl AuditSummary {
    /// Whether everything verified.
    pub fn verified(&self) -> bool {
        self.failures == 0
    }

    /// Whether members were found breaking the ledger's rules: forks, custody rule
    /// violations, rejected entries.
    pub fn has_findings(&self) -> bool {
        self.forks > 0 || self.violations > 0 || self.rejected > 0
    }

    /// The share of entries witnessed, 0 to 1 (1 for an empty ledger).
    pub fn witnessed_share(&self) -> f64 {
        if self.entries == 0 {
            1.0
        } else {
            self.witnessed as f64 / self.entries as f64
        }
    }
}

/// Failures, counted and the first ones kept.
#[derive(Debug, Default)]
struct Failures {
    count: u64,
    listed: Vec<Failure>,
}

impl Failures {
    fn push(&mut self, what: String, detail: String) {
        self.count += 1;
        if self.listed.len() < MAX_FAILURES_LISTED {
            self.listed.push(Failure { what, detail });
        }
    }
}

/// Phase one: the checkpoints.
#[derive(Debug)]
pub struct Auditor<'g> {
    genesis: &'g Consortium,
    as_of: Timestamp,
    verifier: Verifier<'g>,
    /// For each author, how far each witness stated its chain.
    stated: BTreeMap<MemberId, BTreeMap<MemberId, u64>>,
    spans: Vec<(MemberId, u64, ChainSpan)>,
    checkpoints: u64,
    failures: Failures,
}

impl<'g> Auditor<'g> {
    /// An audit of a ledger of `genesis` (with its change log applied, if any), whose reports
    /// are judged at `as_of` (promises passed by then with no delivery are overdue).
    pub fn new(genesis: &'g Consortium, as_of: Timestamp) -> Self {
        Self {
            genesis,
            as_of,
            // Audits read old data: "now" means nothing, so no entry is from the future.
            verifier: Verifier::new(genesis, Timestamp(0)).with_tolerance(u64::MAX),
            stated: BTreeMap::new(),
            spans: Vec::new(),
            checkpoints: 0,
            failures: Failures::default(),
        }
    }

    /// Reads one checkpoint: its signature and shape now, its spans against the chains at
    /// the end.
    pub fn checkpoint(&mut self, checkpoint: &Checkpoint) {
        self.checkpoints += 1;
        let witness = &checkpoint.body().witness;
        let number = checkpoint.body().number;
        if let Err(e) = checkpoint.verify(self.genesis) {
            self.failures
                .push(format!("checkpoint {number} of {witness}"), e.to_string());
            return;
        }
        for span in &checkpoint.spans {
            let author = &span.head.author;
            let stated = self
                .stated
                .entry(author.clone())
                .or_default()
                .entry(witness.clone())
                .or_insert(span.head.seq);
            *stated = (*stated).max(span.head.seq);
            self.spans.push((witness.clone(), number, span.clone()));
        }
    }

    /// Ends phase one: from now on, chains, fork proofs and rejected entries.
    pub fn chains(self) -> ChainAuditor<'g> {
        let witnessed_up_to = self
            .stated
            .iter()
            .filter_map(|(author, by_witness)| {
                let needed = witnesses_needed(self.genesis, author);
                let mut seqs: Vec<u64> = by_witness
                    .iter()
                    .filter(|(witness, _)| counts_as_witness(self.genesis, author, witness))
                    .map(|(_, seq)| *seq)
                    .collect();
                seqs.sort_unstable_by(|a, b| b.cmp(a));
                let threshold = *seqs.get(needed.checked_sub(1)?)?;
                Some((author.clone(), threshold))
            })
            .collect();
        ChainAuditor {
            genesis: self.genesis,
            as_of: self.as_of,
            verifier: self.verifier,
            witnessed_up_to,
            spans: self.spans,
            checkpoints: self.checkpoints,
            failures: self.failures,
            chains: BTreeMap::new(),
            records: Vec::new(),
            by_product: BTreeMap::new(),
            forks: Vec::new(),
            rejections: Vec::new(),
            rejections_dismissed: 0,
        }
    }
}

#[derive(Debug, Default)]
struct ChainState {
    tip: Option<ChainTip>,
    /// Entry hashes by sequence number.
    hashes: Vec<EntryHash>,
    witnessed: u64,
    /// Every entry as a purge may name it.
    targets: BTreeMap<EntryHash, PurgeTarget>,
}

/// Phase two: the chains, the fork proofs and the rejected entries.
#[derive(Debug)]
pub struct ChainAuditor<'g> {
    genesis: &'g Consortium,
    as_of: Timestamp,
    verifier: Verifier<'g>,
    /// For each author, the last sequence number a quorum of witnesses stated.
    witnessed_up_to: BTreeMap<MemberId, u64>,
    spans: Vec<(MemberId, u64, ChainSpan)>,
    checkpoints: u64,
    failures: Failures,
    chains: BTreeMap<MemberId, ChainState>,
    records: Vec<Recorded>,
    by_product: BTreeMap<ProductId, Vec<usize>>,
    forks: Vec<ForkProof>,
    rejections: Vec<VerifiedRejection>,
    rejections_dismissed: u64,
}

impl ChainAuditor<'_> {
    /// Reads the next entries of `author`'s chain, in order (the first page from entry 0).
    /// Each is verified with every rule, including its link to the entry before it; one
    /// that fails is reported and the chain is read on from it, so one bad entry is one
    /// failure, not a cascade.
    pub fn entries(&mut self, author: &MemberId, entries: Vec<SignedEntry>) {
        let mut rest = entries;
        while !rest.is_empty() {
            let tip = self.chains.get(author).and_then(|c| c.tip);
            let results = self.verifier.verify_batch(rest.clone(), |_| tip);
            let mut failed_at = None;
            for (index, result) in results.into_iter().enumerate() {
                let Some(entry) = rest.get(index) else { break };
                let what = format!("entry {} of {}", entry.body.seq, entry.body.author);
                let outcome = if &entry.body.author != author {
                    Err(format!("it is in the chain of {author}"))
                } else {
                    result.map_err(|e| e.to_string())
                };
                match outcome {
                    Ok(verified) => {
                        let hash = verified.hash();
                        self.accept(author, hash, verified.signed(), ChainTip::of(&verified));
                    }
                    Err(detail) => {
                        self.failures.push(what, detail);
                        // Read on from the bad entry as it stands, so the entries after it
                        // are checked against it rather than all failing their link.
                        if let Ok(hash) = entry.hash() {
                            let state = self.chains.entry(author.clone()).or_default();
                            state.tip = Some(ChainTip {
                                seq: entry.body.seq,
                                hash,
                                timestamp: entry.body.timestamp,
                            });
                            state.hashes.push(hash);
                        }
                        failed_at = Some(index);
                        break;
                    }
                }
            }
            match failed_at {
                Some(index) => {
                    rest.drain(..=index);
                }
                None => break,
            }
        }
    }

    fn accept(&mut self, author: &MemberId, hash: EntryHash, entry: &SignedEntry, tip: ChainTip) {
        let witnessed = self
            .witnessed_up_to
            .get(author)
            .is_some_and(|up_to| tip.seq <= *up_to);
        let state = self.chains.entry(author.clone()).or_default();
        state.tip = Some(tip);
        state.hashes.push(hash);
        if witnessed {
            state.witnessed += 1;
        }
        if let Payload::Purge {
            entry: target,
            fields,
        } = &entry.body.payload
        {
            // Only this chain's earlier entries can be a valid target, and they are all read.
            let found = state.targets.get(target);
            if let Some(why) = purge_target_refusal(author, tip.seq, target, fields, found) {
                self.failures.push(
                    format!("entry {} of {author}", tip.seq),
                    format!("purge: {why}"),
                );
            }
        }
        let fields = entry.body.private.as_ref().map(|p| p.fields.clone());
        state.targets.insert(
            hash,
            PurgeTarget {
                author: author.clone(),
                seq: tip.seq,
                fields: fields.unwrap_or_default(),
            },
        );
        match Recorded::read(hash, entry, witnessed) {
            Ok(Some(record)) => {
                let index = self.records.len();
                for product in &record.event.products {
                    self.by_product
                        .entry(product.clone())
                        .or_default()
                        .push(index);
                }
                self.records.push(record);
            }
            Ok(None) => {}
            Err(e) => self.failures.push(
                format!("entry {} of {author}", tip.seq),
                format!("its event cannot be read: {e}"),
            ),
        }
    }

    /// Reads one fork proof.
    pub fn fork(&mut self, proof: ForkProof) {
        match proof.verify(&self.verifier) {
            Ok(_) => self.forks.push(proof),
            Err(e) => self.failures.push(
                format!(
                    "fork proof of {} at {}",
                    proof.first.body.author, proof.first.body.seq
                ),
                e.to_string(),
            ),
        }
    }

    /// Reads one rejected entry. One that breaks no rule as the consortium now stands (a node
    /// refused it before a change granted the role) is dismissed, not counted; one that is not
    /// its author's doing fails.
    pub fn rejected(&mut self, rejected: &RejectedEntry) {
        match rejected.verify(&self.verifier) {
            Ok(verified) => self.rejections.push(verified),
            Err(NotAttributable::BreaksNoRule) => self.rejections_dismissed += 1,
            Err(e) => self.failures.push(
                format!(
                    "rejected entry {} of {}",
                    rejected.entry.body.seq, rejected.entry.body.author
                ),
                e.to_string(),
            ),
        }
    }

    /// Entries read so far.
    pub fn entries_read(&self) -> u64 {
        self.chains.values().map(|c| c.hashes.len() as u64).sum()
    }

    /// Checks the spans against the chains, derives the reports and the scorecards.
    pub fn finish(mut self) -> AuditSummary {
        let mut spans_checked = 0;
        let mut spans_beyond = 0;
        // Per author, the furthest entry a checkpoint covers that the source did not serve,
        // and the witnesses that cover it.
        let mut unserved: BTreeMap<MemberId, (u64, BTreeSet<MemberId>)> = BTreeMap::new();
        for (witness, number, span) in std::mem::take(&mut self.spans) {
            let author = &span.head.author;
            let held = self.chains.get(author).map_or(&[][..], |c| &c.hashes[..]);
            let range = usize::try_from(span.first)
                .ok()
                .zip(usize::try_from(span.head.seq).ok())
                .and_then(|(first, head)| Some((first, head, held.get(first..=head)?)));
            let Some((first, head, hashes)) = range else {
                spans_beyond += 1;
                let (furthest, witnesses) = unserved.entry(author.clone()).or_default();
                *furthest = (*furthest).max(span.head.seq);
                witnesses.insert(witness);
                continue;
            };
            spans_checked += 1;
            if entries_tree(hashes).root() != span.entries_root
                || hashes.last() != Some(&span.head.hash)
            {
                self.failures.push(
                    format!("checkpoint {number} of {witness}"),
                    format!(
                        "it states entries {first}..={head} of {author}'s chain with other hashes \
                         than the chain read: the chain was altered, or {author} showed {witness} \
                         another history"
                    ),
                );
            }
        }
        for (author, (furthest, witnesses)) in &unserved {
            let served = self.chains.get(author).map_or(0, |c| c.hashes.len() as u64);
            let names: Vec<&str> = witnesses.iter().map(MemberId::as_str).collect();
            self.failures.push(
                format!("the chain of {author}"),
                format!(
                    "checkpoints of {} cover entries {served}..={furthest}, which the source does \
                     not serve (it holds {served} entries): it hides them, or has not caught up \
                     yet; audit again once it has",
                    names.join(", ")
                ),
            );
        }
        let mut scorecards = Scorecards::new(self.genesis);
        let judging = Judging::of(self.genesis);
        for (product, indexes) in &self.by_product {
            let records: Vec<Recorded> = indexes
                .iter()
                .filter_map(|i| self.records.get(*i).cloned())
                .collect();
            scorecards.add_report(&report(product, &records, &[], &judging, self.as_of));
        }
        for fork in &self.forks {
            scorecards.add_fork(fork);
        }
        for rejection in &self.rejections {
            scorecards.add_rejection(rejection);
        }
        let scorecards = scorecards.finish();
        let chains: Vec<ChainSummary> = self
            .chains
            .iter()
            .map(|(member, state)| ChainSummary {
                member: member.clone(),
                entries: state.hashes.len() as u64,
                witnessed: state.witnessed,
            })
            .collect();
        AuditSummary {
            network: self.genesis.network_id(),
            entries: chains.iter().map(|c| c.entries).sum(),
            witnessed: chains.iter().map(|c| c.witnessed).sum(),
            chains,
            checkpoints: self.checkpoints,
            spans_checked,
            spans_beyond,
            products: self.by_product.len() as u64,
            forks: self.forks.len() as u64,
            violations: scorecards.iter().map(|c| c.rule_violations).sum(),
            rejected: scorecards.iter().map(|c| c.rejected_entries).sum(),
            rejected_dismissed: self.rejections_dismissed,
            scorecards,
            failures: self.failures.count,
            failures_listed: self.failures.listed,
        }
    }
}

/// Where an audit reads a ledger from: a node's store, a backup, or a node's HTTP API. The
/// source is not trusted: whatever it gives is verified, and entries it leaves out of a
/// chain below the head it states are failures.
pub trait LedgerSource {
    /// Why reading failed.
    type Error;
    /// Every chain the source holds: its author and head sequence number.
    fn heads(&mut self) -> Result<Vec<(MemberId, u64)>, Self::Error>;
    /// `witness`'s checkpoints from number `from`, in order: one page (empty at the end).
    fn checkpoints(
        &mut self,
        witness: &MemberId,
        from: u64,
    ) -> Result<Vec<Checkpoint>, Self::Error>;
    /// `author`'s entries from sequence number `from`, in order: one page (empty at the end).
    fn chain(&mut self, author: &MemberId, from: u64) -> Result<Vec<SignedEntry>, Self::Error>;
    /// The fork proofs the source holds.
    fn forks(&mut self) -> Result<Vec<ForkProof>, Self::Error>;
    /// The entries the source refused as their authors' doing.
    fn rejected(&mut self) -> Result<Vec<RejectedEntry>, Self::Error>;
}

/// How far an audit is: entries read of those the heads announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Entries read.
    pub done: u64,
    /// Entries the source's heads announce.
    pub total: u64,
}

/// Audits everything `source` holds against `genesis`: each member's checkpoints, each chain
/// from entry 0 to its head, the fork proofs. `progress` hears after each page of entries.
pub fn audit<S: LedgerSource>(
    source: &mut S,
    genesis: &Consortium,
    as_of: Timestamp,
    progress: &mut dyn FnMut(Progress),
) -> Result<AuditSummary, S::Error> {
    let mut auditor = Auditor::new(genesis, as_of);
    for member in genesis.all_members() {
        let mut from = 0;
        loop {
            let page = source.checkpoints(&member.id, from)?;
            let Some(last) = page.last().map(|c| c.body().number) else {
                break;
            };
            for checkpoint in &page {
                auditor.checkpoint(checkpoint);
            }
            if last < from {
                auditor.failures.push(
                    format!("the checkpoints of {}", member.id),
                    format!("asked from number {from}, the source answered up to {last}"),
                );
                break;
            }
            from = last.saturating_add(1);
        }
    }
    let heads = source.heads()?;
    let total = heads.iter().map(|(_, seq)| seq.saturating_add(1)).sum();
    let mut chains = auditor.chains();
    for (author, head) in &heads {
        let mut next = 0u64;
        while next <= *head {
            let page = source.chain(author, next)?;
            let Some(last) = page.last().map(|e| e.body.seq) else {
                chains.failures.push(
                    format!("the chain of {author}"),
                    format!(
                        "the source states its head is entry {head} but gives no entry from {next}"
                    ),
                );
                break;
            };
            chains.entries(author, page);
            progress(Progress {
                done: chains.entries_read(),
                total,
            });
            if last < next {
                break;
            }
            next = last.saturating_add(1);
        }
    }
    for fork in source.forks()? {
        chains.fork(fork);
    }
    for rejected in source.rejected()? {
        chains.rejected(&rejected);
    }
    Ok(chains.finish())
}
