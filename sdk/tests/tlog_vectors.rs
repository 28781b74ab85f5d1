//! Outside vectors for the verifiable logs (`tally_sdk::tlog`), read from `../shared/data/tlog/`
//! next to the repository.
//!
//! * RFC 6962 / RFC 9162 inclusion and consistency proof vectors, `testdata/inclusion` and
//!   `testdata/consistency` of github.com/transparency-dev/merkle at commit
//!   417fb0c314750d94e53942e9f92e79b6d35915db (Apache-2.0, LICENSE beside them): every valid
//!   vector must verify, every `wantErr` vector must be refused, and the builder must reproduce
//!   every happy-path proof and root from the vectors' reference tree. (The `subtree*`
//!   directories there are for C2SP tlog-proof subtree proofs, which Tally does not implement.)
//! * The examples of the C2SP specifications signed-note, tlog-checkpoint and tlog-cosignature
//!   (github.com/C2SP/C2SP at commit 5ba5ee830903e91240fc6f9f3a7a9293d49e69c9, CC BY 4.0),
//!   read from the specification files at test time, not copied.
//! * One example copied here: the `PeterNeumann` note, signer key and verifier key from the
//!   documentation of Go's golang.org/x/mod/sumdb/note package (BSD-3-Clause, The Go Authors),
//!   which every signed-note implementation checks: its Ed25519 signature is deterministic, so
//!   signing the text with its key must give the very same note.
//!
//! The vectors are Go's, whose verifier takes hashes as byte strings of any length; a
//! [`LogHash`] is 32 bytes. A vector value of another length (`""`, or placeholders such as
//! base64 `"don't care 1"`) is refused when it is turned into a `LogHash`, which counts as
//! refusing a `wantErr` vector. One valid vector (`sizes-are-equal-one-and-proof-is-empty`)
//! checks only that two equal placeholder roots of equal sizes verify; there each placeholder
//! is replaced by its SHA-256, which keeps equal values equal and different ones different.
//! With that mapping the verifier itself also refuses every `wantErr` vector but two, whose
//! only fault is an empty (wrong-length) leaf hash.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tally_sdk::crypto::SigningKey;
use tally_sdk::tlog::checkpoint::Checkpoint;
use tally_sdk::tlog::hash::LogHash;
use tally_sdk::tlog::note::{Note, NoteSigner, NoteVerifier};
use tally_sdk::tlog::proof::{
    consistency_proof, inclusion_proof, tree_root, verify_consistency, verify_inclusion,
};
use tally_sdk::tlog::tile::{MemoryTiles, RightEdge, TileHashReader};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/tlog");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InclusionVector {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyVector {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    #[serde(rename = "wantErr")]
    want_err: bool,
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(json_files(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// A vector's hash: `Err` when it is not 32 bytes, unless placeholders are mapped.
fn hash(text: &str, map_placeholders: bool) -> Result<LogHash, String> {
    let bytes = STANDARD.decode(text).unwrap();
    match LogHash::try_from(bytes.as_slice()) {
        Ok(hash) => Ok(hash),
        Err(_) if map_placeholders => Ok(LogHash::from_bytes(Sha256::digest(&bytes).into())),
        Err(e) => Err(e.to_string()),
    }
}

fn hashes(texts: &Option<Vec<String>>, map: bool) -> Result<Vec<LogHash>, String> {
    texts.iter().flatten().map(|t| hash(t, map)).collect()
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Verified,
    RefusedByVerifier,
    RefusedAsHash,
}

fn run_inclusion(v: &InclusionVector, map: bool) -> Outcome {
    let parsed = (|| {
        Ok::<_, String>((
            hash(&v.leaf_hash, map)?,
            hash(&v.root, map)?,
            hashes(&v.proof, map)?,
        ))
    })();
    match parsed {
        Err(_) => Outcome::RefusedAsHash,
        Ok((leaf, root, proof)) => {
            match verify_inclusion(&leaf, v.leaf_idx, v.tree_size, &proof, &root) {
                Ok(()) => Outcome::Verified,
                Err(_) => Outcome::RefusedByVerifier,
            }
        }
    }
}

fn run_consistency(v: &ConsistencyVector, map: bool) -> Outcome {
    let parsed = (|| {
        Ok::<_, String>((
            hash(&v.root1, map)?,
            hash(&v.root2, map)?,
            hashes(&v.proof, map)?,
        ))
    })();
    match parsed {
        Err(_) => Outcome::RefusedAsHash,
        Ok((root1, root2, proof)) => {
            match verify_consistency(v.size1, v.size2, &proof, &root1, &root2) {
                Ok(()) => Outcome::Verified,
                Err(_) => Outcome::RefusedByVerifier,
            }
        }
    }
}

#[derive(Default, Debug)]
struct Tally {
    verified: usize,
    verified_with_placeholders: usize,
    refused_by_verifier: usize,
    refused_as_hash: usize,
    /// Invalid vectors the verifier would accept with placeholders mapped: those whose only
    /// fault is a hash of the wrong length.
    only_refused_as_hash: Vec<String>,
}

fn judge(
    name: &str,
    want_err: bool,
    strict: Outcome,
    mapped: impl Fn() -> Outcome,
    tally: &mut Tally,
) {
    match (want_err, strict) {
        (false, Outcome::Verified) => tally.verified += 1,
        (false, Outcome::RefusedAsHash) => {
            assert_eq!(mapped(), Outcome::Verified, "{name}: valid vector refused");
            tally.verified_with_placeholders += 1;
        }
        (false, Outcome::RefusedByVerifier) => panic!("{name}: valid vector refused"),
        (true, Outcome::Verified) => panic!("{name}: invalid vector verified"),
        (true, Outcome::RefusedByVerifier) => tally.refused_by_verifier += 1,
        (true, Outcome::RefusedAsHash) => {
            tally.refused_as_hash += 1;
            if mapped() == Outcome::Verified {
                tally.only_refused_as_hash.push(name.to_owned());
            }
        }
    }
}

/// The reference tree of transparency-dev/merkle's vectors (its `proof/verify_test.go`):
/// eight leaves, as tiles.
fn reference_tiles() -> MemoryTiles {
    let leaves: [&[u8]; 8] = [
        b"",
        &[0x00],
        &[0x10],
        &[0x20, 0x21],
        &[0x30, 0x31],
        &[0x40, 0x41, 0x42, 0x43],
        &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        &[
            0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
            0x6e, 0x6f,
        ],
    ];
    let leaves: Vec<LogHash> = leaves.iter().map(|l| LogHash::leaf(l)).collect();
    let mut edge = RightEdge::new();
    let mut tiles = MemoryTiles::new();
    tiles.write(edge.append(&leaves).unwrap());
    tiles
}

#[test]
fn transparency_dev_inclusion_vectors() {
    let tiles = reference_tiles();
    let files = json_files(&Path::new(DATA).join("transparency-dev-merkle/testdata/inclusion"));
    let mut tally = Tally::default();
    let mut rebuilt = 0;
    for file in &files {
        let name = file.display().to_string();
        let v: InclusionVector = serde_json::from_slice(&fs::read(file).unwrap()).unwrap();
        let strict = run_inclusion(&v, false);
        judge(
            &name,
            v.want_err,
            strict,
            || run_inclusion(&v, true),
            &mut tally,
        );
        if v.desc == "happy path" {
            // The builder gives the same proof and root from the reference tree.
            assert!(v.tree_size <= 8, "{name}");
            let reader = TileHashReader::new(v.tree_size, &tiles);
            let proof = inclusion_proof(v.leaf_idx, v.tree_size, &reader).unwrap();
            assert_eq!(Ok(proof), hashes(&v.proof, false), "{name}");
            assert_eq!(
                Ok(tree_root(v.tree_size, &reader).unwrap()),
                hash(&v.root, false)
            );
            rebuilt += 1;
        }
    }
    println!(
        "inclusion: {} vectors: {} valid verified, {} valid verified with placeholders mapped, \
         {} invalid refused by the verifier, {} invalid refused as hashes; {} happy-path proofs \
         rebuilt",
        files.len(),
        tally.verified,
        tally.verified_with_placeholders,
        tally.refused_by_verifier,
        tally.refused_as_hash,
        rebuilt
    );
    assert_eq!(files.len(), 98);
    assert_eq!(tally.verified, 6);
    assert_eq!(rebuilt, 5);
    // Both have an empty leaf hash, whose SHA-256 is the empty tree's root, which is also their
    // root: mapped, they verify; as the vectors mean them, only the length is wrong.
    assert_eq!(
        tally.only_refused_as_hash.len(),
        2,
        "{:?}",
        tally.only_refused_as_hash
    );
    assert!(
        tally
            .only_refused_as_hash
            .iter()
            .all(|n| n.ends_with("additional/1/empty-root.json")
                || n.ends_with("single-entry/empty-root-and-leaf.json"))
    );
}

#[test]
fn transparency_dev_consistency_vectors() {
    let tiles = reference_tiles();
    let files = json_files(&Path::new(DATA).join("transparency-dev-merkle/testdata/consistency"));
    let mut tally = Tally::default();
    let mut rebuilt = 0;
    for file in &files {
        let name = file.display().to_string();
        let v: ConsistencyVector = serde_json::from_slice(&fs::read(file).unwrap()).unwrap();
        let strict = run_consistency(&v, false);
        judge(
            &name,
            v.want_err,
            strict,
            || run_consistency(&v, true),
            &mut tally,
        );
        if v.desc == "happy path" {
            assert!(v.size2 <= 8, "{name}");
            let reader = TileHashReader::new(v.size2, &tiles);
            let proof = consistency_proof(v.size1, v.size2, &reader).unwrap();
            assert_eq!(Ok(proof), hashes(&v.proof, false), "{name}");
            assert_eq!(
                Ok(tree_root(v.size1, &reader).unwrap()),
                hash(&v.root1, false)
            );
            assert_eq!(
                Ok(tree_root(v.size2, &reader).unwrap()),
                hash(&v.root2, false)
            );
            rebuilt += 1;
        }
    }
    println!(
        "consistency: {} vectors: {} valid verified, {} valid verified with placeholders mapped, \
         {} invalid refused by the verifier, {} invalid refused as hashes; {} happy-path proofs \
         rebuilt",
        files.len(),
        tally.verified,
        tally.verified_with_placeholders,
        tally.refused_by_verifier,
        tally.refused_as_hash,
        rebuilt
    );
    assert_eq!(files.len(), 98);
    assert_eq!(tally.verified + tally.verified_with_placeholders, 6);
    assert_eq!(tally.verified_with_placeholders, 1);
    assert_eq!(rebuilt, 5);
    assert!(
        tally.only_refused_as_hash.is_empty(),
        "{:?}",
        tally.only_refused_as_hash
    );
}

/// The fenced code blocks of a Markdown file, each with its final newline.
fn fenced_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        if line.starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(String::new()),
            }
        } else if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
}

fn spec(name: &str) -> String {
    fs::read_to_string(Path::new(DATA).join("c2sp").join(name)).unwrap()
}

#[test]
fn c2sp_signed_note_example_verifies() {
    let text = spec("signed-note.md");
    let example = text
        .split("### Example")
        .nth(1)
        .expect("an Example section");
    let vkey = example
        .lines()
        .find(|l| l.starts_with("    ") && l.contains('+'))
        .expect("an indented verifier key")
        .trim();
    let note = fenced_blocks(example).pop().expect("the example note");
    let verifier = NoteVerifier::from_vkey(vkey).unwrap();
    assert_eq!(verifier.name(), "example.com/foo");
    let parsed = Note::parse(note.as_bytes()).unwrap();
    let verified = parsed.verify(std::slice::from_ref(&verifier)).unwrap();
    assert_eq!(verified.text(), "This is an example message.\n");
    assert_eq!(parsed.to_string(), note, "formatting gives the note back");
    // One changed byte of text, and the known key's signature fails.
    let altered = note.replacen("example message", "example massage", 1);
    assert!(
        Note::parse(altered.as_bytes())
            .unwrap()
            .verify(&[verifier])
            .is_err()
    );

    // The first example (its key is not given): a well-formed note with non-ASCII text.
    let quasimodo = fenced_blocks(&text).remove(0);
    let parsed = Note::parse(quasimodo.as_bytes()).unwrap();
    assert!(parsed.unverified_text().contains("ed è subito sera.\n"));
    assert_eq!(parsed.signatures()[0].name, "quasimodo.example/salvatore");
    assert_eq!(parsed.to_string(), quasimodo);
}

#[test]
fn c2sp_checkpoint_and_cosignature_examples_parse() {
    for (file, signatures) in [("tlog-checkpoint.md", 1), ("tlog-cosignature.md", 2)] {
        let note = fenced_blocks(&spec(file)).remove(0);
        let parsed = Note::parse(note.as_bytes()).unwrap();
        assert_eq!(parsed.signatures().len(), signatures, "{file}");
        assert_eq!(parsed.to_string(), note, "{file}");
        let checkpoint = Checkpoint::parse(parsed.unverified_text()).unwrap();
        assert_eq!(checkpoint.origin(), "example.com/behind-the-sofa");
        assert_eq!(checkpoint.size(), 20_852_163);
        assert_eq!(checkpoint.to_string(), parsed.unverified_text());
    }
}

#[test]
fn go_sumdb_note_example_signs_and_verifies_byte_for_byte() {
    // golang.org/x/mod/sumdb/note package documentation (BSD-3-Clause, The Go Authors).
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const NOTE: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n\
                        \n\
                        \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    let verifier = NoteVerifier::from_vkey(VKEY).unwrap();
    let note = Note::parse(NOTE.as_bytes()).unwrap();
    let verified = note.verify(std::slice::from_ref(&verifier)).unwrap();
    assert!(verified.text().starts_with("If you think cryptography"));

    // The signer key is base64(0x01 || Ed25519 seed) after name and ID.
    let encoded = SKEY.splitn(5, '+').nth(4).unwrap(); // its base64 contains a '+'
    let bytes = STANDARD.decode(encoded).unwrap();
    assert_eq!(bytes[0], 0x01);
    let seed: [u8; 32] = bytes[1..].try_into().unwrap();
    let signer = NoteSigner::new("PeterNeumann", &SigningKey::from_seed(&seed)).unwrap();
    assert_eq!(signer.verifier(), verifier);
    let mut ours = Note::new(verified.text()).unwrap();
    ours.sign(&signer).unwrap();
    assert_eq!(ours.to_string(), NOTE);
}
