//! Witnessed checkpoints on the node: the book of checkpoints held ([`book`]), the node's own
//! checkpoints ([`own`]), and an entry's witnessing with its evidence ([`evidence`]).
//!
//! The replication shell makes the node's checkpoints, gossips them and pulls the ones it
//! lacks from peers; the API shows what they witness. The checkpoint format and the witness
//! rule are the SDK's ([`tally_sdk::witnessing::checkpoint`], [`tally_sdk::witnessing::witness`]).

pub mod book;
pub mod evidence;
pub mod own;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use tally_sdk::entry::{SignedEntry, UnsignedEntry};
    use tally_sdk::hash::EntryHash;
    use tally_sdk::ids::MemberId;
    use tally_sdk::membership::consortium::Consortium;
    use tally_sdk::membership::keyfile::MemberKeys;
    use tally_sdk::membership::template::demo_consortium;
    use tally_sdk::time::Timestamp;
    use tally_sdk::verify::Verifier;
    use tally_sdk::witnessing::checkpoint::{ChainSpan, Checkpoint};

    use super::book::{Admitted, Book, BookError, Misconduct, Progress, Recorded};
    use super::evidence::witnessing;
    use super::own::make_checkpoint;
    use crate::ingest::{Ledger, Pipeline};
    use crate::store::memory::MemoryStore;
    use crate::store::tiles::ChainTiles;
    use crate::store::{Batch, Cf, KeyRange, Store};
    use tally_sdk::tlog::hash::LogHash;

    const NOW: Timestamp = Timestamp(10_000_000);

    struct Fixture {
        genesis: Arc<Consortium>,
        keys: Vec<MemberKeys>,
        store: Arc<MemoryStore>,
        book: Book,
        ledger: Ledger,
        pipeline: Pipeline,
    }

    fn member(id: &str) -> MemberId {
        MemberId::new(id).unwrap()
    }

    impl Fixture {
        fn new() -> Self {
            let (signed, keys) = demo_consortium().unwrap();
            let genesis = Arc::new(signed.verify().unwrap());
            let store = Arc::new(MemoryStore::new());
            let book = Book::new(store.clone(), genesis.clone());
            let ledger = Ledger::load(genesis.clone(), store.as_ref()).unwrap();
            let pipeline = Pipeline::new(genesis.clone(), 1_000);
            Self {
                genesis,
                keys,
                store,
                book,
                ledger,
                pipeline,
            }
        }

        fn keys(&self, id: &str) -> &MemberKeys {
            self.keys.iter().find(|k| k.member.as_str() == id).unwrap()
        }

        /// Appends `count` entries to `author`'s chain, stored as the node stores them.
        fn append(&mut self, author: &str, count: u64) -> Vec<SignedEntry> {
            self.append_step(author, count, "assembling")
        }

        /// As [`Fixture::append`], the events' business step `step` (another step, another
        /// history of the chain).
        fn append_step(&mut self, author: &str, count: u64, step: &str) -> Vec<SignedEntry> {
            let keys = self.keys(author).clone();
            let tip = self.ledger.tip(&keys.member);
            let (mut seq, mut prev) = tip.map_or((0, None), |t| (t.seq + 1, Some(t.hash)));
            let mut entries = Vec::new();
            for _ in 0..count {
                let event = json!({
                    "type": "ObjectEvent", "action": "OBSERVE", "bizStep": step,
                    "eventTime": "2026-03-01T09:00:00Z", "eventTimeZoneOffset": "+00:00",
                    "epcList": [format!("https://id.gs1.org/01/09506000134352/21/{author}-{seq}")],
                });
                let entry = UnsignedEntry::event(
                    self.genesis.network_id(),
                    keys.member.clone(),
                    seq,
                    prev,
                    Timestamp(1_000 + seq),
                    vec![],
                    &event,
                    None,
                )
                .unwrap()
                .sign(&keys.signing)
                .unwrap();
                prev = Some(entry.hash().unwrap());
                seq += 1;
                entries.push(entry);
            }
            let checked = self.pipeline.check(entries.clone(), NOW).unwrap();
            let placement = self.ledger.place(self.store.as_ref(), checked);
            placement.result.unwrap();
            self.store.write(placement.writes).unwrap();
            self.ledger.committed();
            entries
        }

        fn checkpoint_of(&self, witness: &str) -> Option<Checkpoint> {
            make_checkpoint(
                &self.book,
                self.store.as_ref(),
                &member(witness),
                &self.keys(witness).signing,
                NOW,
            )
            .unwrap()
        }
    }

    #[test]
    fn own_checkpoints_state_each_new_entry_once_and_are_found_again() {
        let mut f = Fixture::new();
        f.append("manufacturer", 5);
        f.append("supplier", 2);
        let first = f.checkpoint_of("platform").unwrap();
        assert_eq!(first.body().number, 0);
        let spans: Vec<_> = first
            .spans
            .iter()
            .map(|s| (s.head.author.to_string(), s.first, s.head.seq))
            .collect();
        assert_eq!(
            spans,
            [("manufacturer".into(), 0, 4), ("supplier".into(), 0, 1)]
        );
        assert!(f.checkpoint_of("platform").is_none(), "nothing new");
        f.append("manufacturer", 3);
        let second = f.checkpoint_of("platform").unwrap();
        assert_eq!(second.body().number, 1);
        assert_eq!(second.spans.len(), 1);
        assert_eq!((second.spans[0].first, second.spans[0].head.seq), (5, 7));
        let platform = member("platform");
        let manufacturer = member("manufacturer");
        assert_eq!(
            f.book.progress(&platform).unwrap(),
            Progress {
                contiguous: 2,
                next: 2
            }
        );
        assert_eq!(f.book.stated(&platform, &manufacturer).unwrap(), Some(7));
        for (seq, number) in [(0, 0), (4, 0), (5, 1), (7, 1)] {
            let found = f.book.covering(&manufacturer, &platform, seq).unwrap();
            assert_eq!(found.map(|c| c.body().number), Some(number), "seq {seq}");
        }
        assert!(
            f.book
                .covering(&manufacturer, &platform, 8)
                .unwrap()
                .is_none()
        );
        assert!(
            f.book
                .covering(&manufacturer, &member("logistics"), 0)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            f.book
                .since(&[(platform.clone(), 0)], 10, 1 << 20)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            f.book.since(&[(platform.clone(), 1)], 10, 1 << 20).unwrap(),
            vec![second.clone()]
        );
        assert_eq!(f.book.since(&[(platform, 0)], 1, 1 << 20).unwrap().len(), 1);
        assert_eq!(f.book.latest().unwrap(), vec![second]);
    }

    /// Issue 22: a witness cosigns a chain's tree head only after a consistency proof from the
    /// last head of it that it cosigned. Its store is swapped for one holding another history
    /// of the chain (as when a node is restored from another node's backup past a fork): it
    /// will not cosign that chain again, and still cosigns the others.
    #[test]
    fn a_witness_never_cosigns_a_history_that_rewrites_one_it_cosigned() {
        let mut f = Fixture::new();
        f.append("manufacturer", 3);
        let first = f.checkpoint_of("platform").unwrap();
        let span = first.span(&member("manufacturer")).unwrap();
        assert!(span.tree.is_some(), "format 2 states the tree head");
        first.verify(&f.genesis).unwrap();

        let mut rewritten = Fixture::new();
        rewritten.append_step("manufacturer", 5, "packing");
        let rows = f
            .store
            .scan(Cf::Checkpoints, &KeyRange::prefix(&[]), usize::MAX)
            .unwrap();
        let mut batch = Batch::default();
        for (key, value) in rows {
            batch.put(Cf::Checkpoints, key, value);
        }
        rewritten.store.write(batch).unwrap();
        assert_eq!(
            rewritten.checkpoint_of("platform"),
            None,
            "cosigned a history that rewrites the one it cosigned"
        );
        rewritten.append("supplier", 1);
        let next = rewritten.checkpoint_of("platform").unwrap();
        assert!(next.span(&member("manufacturer")).is_none());
        assert!(next.span(&member("supplier")).is_some());

        // The same witness extending the history it cosigned cosigns again.
        f.append("manufacturer", 2);
        let extended = f.checkpoint_of("platform").unwrap();
        let head = extended.span(&member("manufacturer")).unwrap();
        assert_eq!((head.first, head.tree_size()), (3, 5));
    }

    /// Issue 22: a witness cosigning two tree heads of one chain at one size with different
    /// roots (a split view) is caught when the second arrives, and the pair alone convinces a
    /// node that holds neither the checkpoints nor the chain: it is spread like a conflict.
    #[test]
    fn a_witness_cosigning_two_heads_of_one_chain_at_one_size_is_caught_and_the_pair_spreads() {
        let mut f = Fixture::new();
        let entries = f.append("manufacturer", 4);
        let hashes: Vec<EntryHash> = entries.iter().map(|e| e.hash().unwrap()).collect();
        let (manufacturer, regulator) = (member("manufacturer"), member("regulator"));
        let network = f.genesis.network_id();
        let key = f.keys("regulator").signing.clone();
        let code = f.store.head(&manufacturer).unwrap().unwrap().code;
        let root = ChainTiles::new(f.store.as_ref(), code).root(4).unwrap();
        let cosigned = |number: u64, root: LogHash| {
            let span = ChainSpan::new(manufacturer.clone(), 0, &hashes)
                .unwrap()
                .cosigned(&network, &regulator, root, &key)
                .unwrap();
            Checkpoint::sign(network, regulator.clone(), number, NOW, vec![span], &key).unwrap()
        };
        let honest = cosigned(0, root);
        assert_eq!(f.book.admit(&honest).unwrap(), Admitted::New);
        let split = cosigned(1, LogHash::leaf(b"another history"));
        assert!(matches!(
            f.book.admit(&split),
            Err(BookError::SplitView { size: 4, .. })
        ));
        assert_eq!(f.book.conflicted().unwrap(), vec![regulator.clone()]);

        let other = Book::new(Arc::new(MemoryStore::new()), f.genesis.clone());
        assert_eq!(
            other.admit_conflict(&honest, &split).unwrap(),
            Some(regulator.clone())
        );
        assert_eq!(other.conflicts(&[], 1 << 20).unwrap().len(), 1);
        assert!(
            other
                .conflicts(std::slice::from_ref(&regulator), 1 << 20)
                .unwrap()
                .is_empty()
        );
        // Shown the false head first, a node holding the chain refuses it as a false span;
        // the true one then makes the pair, kept as a conflict, which spreads.
        let mut g = Fixture::new();
        g.append("manufacturer", 4);
        assert!(matches!(
            g.book.admit(&split),
            Err(BookError::FalseSpan { .. })
        ));
        assert!(g.book.conflicted().unwrap().is_empty());
        assert!(matches!(
            g.book.admit(&honest),
            Err(BookError::SplitView { size: 4, .. })
        ));
        assert_eq!(g.book.conflicted().unwrap(), vec![regulator.clone()]);
        // Two heads that agree prove nothing.
        let again = cosigned(1, root);
        assert!(matches!(
            Book::new(Arc::new(MemoryStore::new()), f.genesis.clone())
                .admit_conflict(&honest, &again),
            Err(BookError::NotAConflict)
        ));
    }

    #[test]
    fn recorded_checkpoints_are_checked_kept_once_and_fill_gaps() {
        let mut f = Fixture::new();
        f.append("manufacturer", 3);
        let zero = f.checkpoint_of("logistics").unwrap();
        f.append("manufacturer", 1);
        let one = f.checkpoint_of("logistics").unwrap();
        f.append("manufacturer", 1);
        let two = f.checkpoint_of("logistics").unwrap();

        // Another node receives them out of order.
        let other = Book::new(Arc::new(MemoryStore::new()), f.genesis.clone());
        let logistics = member("logistics");
        assert_eq!(other.record(&two).unwrap(), Recorded::New);
        assert_eq!(
            other.progress(&logistics).unwrap(),
            Progress {
                contiguous: 0,
                next: 3
            }
        );
        other.record(&zero).unwrap();
        assert_eq!(other.progress(&logistics).unwrap().contiguous, 1);
        other.record(&one).unwrap();
        assert_eq!(other.progress(&logistics).unwrap().contiguous, 3);
        assert_eq!(other.record(&one).unwrap(), Recorded::Known);

        // A second, different checkpoint numbered 1 is refused; the first stays.
        let mut spans = one.spans.clone();
        spans[0] =
            ChainSpan::new(spans[0].head.author.clone(), 3, &[EntryHash::digest(b"x")]).unwrap();
        let rival = Checkpoint::sign(
            f.genesis.network_id(),
            logistics.clone(),
            1,
            NOW,
            spans,
            &f.keys("logistics").signing,
        )
        .unwrap();
        assert!(matches!(
            other.record(&rival),
            Err(BookError::Conflict { number: 1, .. })
        ));
        assert_eq!(other.checkpoint(&logistics, 1).unwrap(), Some(one.clone()));

        // Altered spans, or another member's key, are invalid and not stored.
        let mut altered = zero.clone();
        altered.spans[0].head.seq += 1;
        assert!(matches!(other.record(&altered), Err(BookError::Invalid(_))));
        let forged = Checkpoint::sign(
            f.genesis.network_id(),
            member("regulator"),
            0,
            NOW,
            zero.spans.clone(),
            &f.keys("logistics").signing,
        )
        .unwrap();
        assert!(matches!(other.record(&forged), Err(BookError::Invalid(_))));
        assert_eq!(
            other.progress(&member("regulator")).unwrap(),
            Progress::default()
        );
    }

    /// Issue 20, item 4: a witness inventing checkpoint numbers, re-signing one number, or
    /// stating entries that are not the chain's.
    #[test]
    fn a_peers_checkpoint_is_admitted_only_as_far_as_the_chains_held_bear_it_out() {
        let mut f = Fixture::new();
        let entries = f.append("manufacturer", 3);
        let hashes: Vec<EntryHash> = entries.iter().map(|e| e.hash().unwrap()).collect();
        let regulator = member("regulator");
        let signed = |number: u64, spans: Vec<ChainSpan>| {
            Checkpoint::sign(
                f.genesis.network_id(),
                regulator.clone(),
                number,
                NOW,
                spans,
                &f.keys("regulator").signing,
            )
            .unwrap()
        };
        let span = |first: u64, hashes: &[EntryHash]| {
            ChainSpan::new(member("manufacturer"), first, hashes).unwrap()
        };
        let true_span = span(0, &hashes);
        assert_eq!(
            f.book.admit(&signed(0, vec![true_span.clone()])).unwrap(),
            Admitted::New
        );
        assert_eq!(
            f.book.admit(&signed(0, vec![true_span.clone()])).unwrap(),
            Admitted::Known
        );
        // A number far beyond the entries the witness stated: not stored.
        assert_eq!(
            f.book
                .admit(&signed(1_000_000, vec![true_span.clone()]))
                .unwrap(),
            Admitted::Deferred
        );
        // Restating the same entries: at most as many checkpoints as entries stated.
        for number in 1..3 {
            assert_eq!(
                f.book
                    .admit(&signed(number, vec![true_span.clone()]))
                    .unwrap(),
                Admitted::New
            );
        }
        assert_eq!(
            f.book.admit(&signed(3, vec![true_span.clone()])).unwrap(),
            Admitted::Deferred
        );
        assert_eq!(f.book.progress(&regulator).unwrap().next, 3);
        // Entries this node does not hold yet: checkable later.
        let ahead: Vec<EntryHash> = (0..5).map(|i| EntryHash::digest(&[i])).collect();
        assert_eq!(
            f.book.admit(&signed(3, vec![span(0, &ahead)])).unwrap(),
            Admitted::Deferred
        );
        // Another checkpoint 0, and a span that is not the chain: refused, blamed on the
        // witness, kept as evidence once per kind.
        let other_zero = signed(0, vec![span(0, &hashes[..2])]);
        let conflict = f.book.admit(&other_zero).unwrap_err();
        assert!(matches!(conflict, BookError::Conflict { number: 0, .. }));
        assert_eq!(conflict.signer_at_fault(), Some(&regulator));
        // A head other than the entry held there: a fork not found yet or a lie, which only
        // the entry can tell; nobody is blamed.
        assert_eq!(
            f.book
                .admit(&signed(3, vec![span(0, &ahead[..3])]))
                .unwrap(),
            Admitted::HeadDiffers {
                author: member("manufacturer"),
                seq: 2
            }
        );
        // The head held, with a root that is not of the entries it links back to: a lie.
        let mut false_root = true_span.clone();
        false_root.entries_root = span(0, &ahead[..hashes.len()]).entries_root;
        let lie = signed(3, vec![false_root]);
        let false_span = f.book.admit(&lie).unwrap_err();
        assert!(matches!(false_span, BookError::FalseSpan { number: 3, .. }));
        assert!(
            f.book
                .admit(&signed(1, vec![span(0, &hashes[..1])]))
                .is_err()
        );
        let kept = f.book.misconduct().unwrap();
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert!(kept.contains(&Misconduct::FalseSpan {
            checkpoint: lie,
            author: member("manufacturer"),
        }));
        assert!(kept.iter().all(|m| m.witness() == &regulator));
        // Nothing of the refused ones was recorded.
        assert_eq!(f.book.progress(&regulator).unwrap().next, 3);
        assert_eq!(
            f.book.stated(&regulator, &member("manufacturer")).unwrap(),
            Some(2)
        );
        // A signature that does not verify proves nothing about the witness.
        let mut forged = signed(4, vec![true_span.clone()]);
        forged.spans[0].head.seq += 1;
        assert_eq!(f.book.admit(&forged).unwrap_err().signer_at_fault(), None);

        // The conflict proof travels: another node admits it once, and only a real one.
        let other = Book::new(Arc::new(MemoryStore::new()), f.genesis.clone());
        let zero = signed(0, vec![true_span.clone()]);
        assert!(matches!(
            other.admit_conflict(&zero, &zero),
            Err(BookError::NotAConflict)
        ));
        assert!(matches!(
            other.admit_conflict(&zero, &signed(1, vec![span(0, &hashes[..2])])),
            Err(BookError::NotAConflict)
        ));
        assert_eq!(
            other.admit_conflict(&zero, &other_zero).unwrap(),
            Some(regulator.clone())
        );
        assert_eq!(other.admit_conflict(&other_zero, &zero).unwrap(), None);
        assert_eq!(other.conflicted().unwrap(), vec![regulator.clone()]);
        assert_eq!(other.conflicts(&[], 1 << 20).unwrap().len(), 1);
        assert!(
            other
                .conflicts(std::slice::from_ref(&regulator), 1 << 20)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn an_entry_is_witnessed_once_a_quorum_of_other_members_checkpoints_cover_it() {
        let mut f = Fixture::new();
        let entries = f.append("manufacturer", 4);
        let hash = entries[2].hash().unwrap();
        let genesis = f.genesis.clone();
        let verifier = Verifier::new(&genesis, NOW);
        let status = |f: &Fixture| {
            witnessing(&f.book, f.store.as_ref(), &verifier, &hash)
                .unwrap()
                .unwrap()
        };
        let none = status(&f);
        assert!(!none.witnessed);
        assert_eq!(none.needed, 3);
        assert_eq!(none.pending.len(), 4, "every member but the author");

        // The author's own checkpoint does not count.
        f.checkpoint_of("manufacturer").unwrap();
        assert!(status(&f).witnesses.is_empty());
        f.checkpoint_of("platform").unwrap();
        f.checkpoint_of("logistics").unwrap();
        let two = status(&f);
        assert!(!two.witnessed);
        assert_eq!(two.witnesses, [member("logistics"), member("platform")]);
        f.checkpoint_of("supplier").unwrap();
        let three = status(&f);
        assert!(three.witnessed);
        assert_eq!(three.pending, [member("regulator")]);
        // The evidence stands alone: the SDK checks it from the genesis.
        let checked = three.evidence.verify(&verifier).unwrap();
        assert!(checked.witnessed);
        assert_eq!(checked.witnesses.len(), 3);

        // A checkpoint that states other entries at that place is shown as disputed.
        let fake: Vec<EntryHash> = (0..4).map(|i| EntryHash::digest(&[i])).collect();
        let span = ChainSpan::new(member("manufacturer"), 0, &fake).unwrap();
        let lie = Checkpoint::sign(
            genesis.network_id(),
            member("regulator"),
            0,
            NOW,
            vec![span],
            &f.keys("regulator").signing,
        )
        .unwrap();
        f.book.record(&lie).unwrap();
        let disputed = status(&f);
        assert_eq!(disputed.disputed.len(), 1);
        assert_eq!(disputed.disputed[0].witness, member("regulator"));
        assert_eq!(disputed.witnesses.len(), 3);
        assert!(disputed.pending.is_empty());

        assert!(
            witnessing(
                &f.book,
                f.store.as_ref(),
                &verifier,
                &EntryHash::digest(b"no")
            )
            .unwrap()
            .is_none()
        );
    }
}
