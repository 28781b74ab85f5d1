//! # tally-node — a member's node
//!
//! The parts, each one job:
//! * [`config`] — the configuration in two layers (what the operator wrote, what the node
//!   uses), validated at start.
//! * [`store`] — the ledger's storage: a small key-value trait with a RocksDB and an in-memory
//!   implementation, the key layouts, typed reads, and the checks a store passes at open.
//! * [`ingest`] — the ingestion pipeline as logic without IO: verification with the SDK's
//!   rules, placement in the chains, duplicates and conflicts, the write plan.
//! * [`commit`] — group commit: one writer thread, one synced write for many requests, each
//!   acknowledged only once durable.
//! * [`api`] — the HTTP API (axum) over the store and the writer.
//! * [`audit`] — the auditor's view of the store: the whole-ledger audit's source, a member's
//!   scorecard, the bundle of a period.
//! * [`backup`] — consistent backups of the live store (RocksDB checkpoints), checked before
//!   they are reported done.
//! * [`replicate`] — replication: the wire messages, the engine without IO (heads, pulls,
//!   gossip batching, offences), simulated deterministically in `node/tests/replication.rs`,
//!   and the libp2p shell that runs it between members' nodes.
//! * [`witness`] — witnessed checkpoints: the checkpoints held, the node's own, and the
//!   evidence that an entry is witnessed.
//! * [`demo`] — the demo consortium: five local nodes of the demo genesis, a C2M story
//!   recorded on them (`tally demo`).
//! * [`run`] — the node as a process: logs, signals, serving, shutdown (`tally-node` and
//!   `tally node run`).
//!
//! [`Node`] puts them together for the `tally-node` binary.

pub mod api;
pub mod attest;
pub mod audit;
pub mod backup;
pub mod commit;
pub mod config;
pub mod consortium;
pub mod demo;
pub mod epcis;
pub mod forks;
pub mod ingest;
pub mod private;
pub mod products;
pub mod replicate;
pub mod run;
pub mod store;
pub mod upgrade;
pub mod witness;

use std::path::PathBuf;
use std::sync::Arc;

use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::genesis::GenesisError;
use tally_sdk::membership::governance::{ChangeLog, GovernanceError, SignedChange};
use tally_sdk::membership::keyfile::{KeyFileError, MemberKeys};

use crate::api::ApiState;
use crate::backup::Backups;
use crate::commit::{CommitOptions, Committed, Committer, Writer};
use crate::config::{Config, TokenScope};
use crate::consortium::SharedConsortium;
use crate::ingest::{Ledger, Pipeline};
use crate::replicate::net::{NetConfig, NetError, NetHandle, NetParts, Network};
use crate::store::check::CheckReport;
use crate::store::rocks::RocksStore;
use crate::store::{Batch, Store, StoreError};
use crate::witness::book::Book;

/// The node cannot start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A file cannot be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// Which file.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The genesis is not a valid signed genesis.
    #[error("the genesis file {path} is not a valid signed genesis: {source}")]
    Genesis {
        /// Where.
        path: PathBuf,
        /// Why.
        source: GenesisError,
    },
    /// The change log is unreadable or does not apply to the genesis.
    #[error("the change log {path} does not apply to the genesis: {source}")]
    Changes {
        /// Where.
        path: PathBuf,
        /// Why.
        source: GovernanceError,
    },
    /// The key file's member was removed from the consortium.
    #[error(
        "the key file {path} is for {member}, which the consortium's change log removed: its node may no longer run"
    )]
    Removed {
        /// Where.
        path: PathBuf,
        /// The member.
        member: String,
    },
    /// The key file is malformed.
    #[error("the key file {path} is invalid: {source}")]
    KeyFile {
        /// Where.
        path: PathBuf,
        /// Why.
        source: KeyFileError,
    },
    /// The key file does not belong to a member of the consortium.
    #[error(
        "the key file {path} is for {member}, which is not a member of the consortium in the genesis"
    )]
    NotAMember {
        /// Where.
        path: PathBuf,
        /// The member it names.
        member: String,
    },
    /// The key file's signing key is not the one the genesis lists.
    #[error(
        "the key file {path} holds a signing key for {member} that is not the key the genesis lists for {member} (with the change log applied, if any)"
    )]
    WrongKey {
        /// Where.
        path: PathBuf,
        /// The member.
        member: String,
    },
    /// A read token names a role the genesis does not have.
    #[error("config key `{key}`: {role:?} is not a role of the consortium's genesis")]
    UnknownRole {
        /// The token's key.
        key: String,
        /// The role.
        role: String,
    },
    /// The data directory cannot be created.
    #[error("the governance changes the store holds do not apply to the genesis: {source}")]
    StoredChanges { source: GovernanceError },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The store cannot be opened or is damaged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer thread cannot start.
    #[error("cannot start the writer thread: {0}")]
    Writer(std::io::Error),
    /// Replication cannot start.
    #[error(transparent)]
    Network(#[from] NetError),
}

/// How many writer notices may wait for replication before they are merged.
const FEED_CAPACITY: usize = 64;

fn read(what: &'static str, path: &std::path::Path) -> Result<String, NodeError> {
    std::fs::read_to_string(path).map_err(|source| NodeError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// A running node: its configuration, consortium, keys, store and writer.
#[derive(Debug)]
pub struct Node {
    config: Arc<Config>,
    /// The consortium in force (the genesis, and the changes applied so far).
    consortium: SharedConsortium,
    keys: MemberKeys,
    store: Arc<RocksStore>,
    committer: Committer,
    writer: Writer,
    report: CheckReport,
    feed: Option<tokio::sync::mpsc::Receiver<Committed>>,
    network: NetHandle,
    book: Arc<Book>,
}

impl Node {
    /// Loads the genesis, applies the change log (if configured) and loads the member's keys,
    /// checks they belong together and to the configuration, opens and checks the store, and
    /// starts the writer.
    pub fn open(config: Config) -> Result<Self, NodeError> {
        let genesis = Consortium::from_toml(&read("the genesis file", &config.genesis)?).map_err(
            |source| NodeError::Genesis {
                path: config.genesis.clone(),
                source,
            },
        )?;
        let root = genesis.clone();
        let genesis = match &config.changes {
            None => genesis,
            Some(path) => std::fs::read(path)
                .map_err(|source| NodeError::Read {
                    what: "the change log",
                    path: path.clone(),
                    source,
                })
                .and_then(|bytes| {
                    ChangeLog::from_json(&bytes)
                        .and_then(|log| log.apply_to(&genesis))
                        .map_err(|source| NodeError::Changes {
                            path: path.clone(),
                            source,
                        })
                })?,
        };
        let keys =
            MemberKeys::from_toml(&read("the key file", &config.key_file)?).map_err(|source| {
                NodeError::KeyFile {
                    path: config.key_file.clone(),
                    source,
                }
            })?;
        check_member(&genesis, &keys, &config)?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| NodeError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let (store, report) = crate::upgrade::open(&config.data_dir, genesis.network_id())?;
        let store = Arc::new(store);
        let finished = private::purge::finish(store.as_ref())?;
        if finished > 0 {
            tracing::info!(
                purges = finished,
                "finished purges the node stored before it stopped"
            );
        }
        let genesis = Arc::new(with_stored_changes(
            &root,
            genesis.changes(),
            store.as_ref(),
            &config,
        )?);
        check_member(&genesis, &keys, &config)?;
        let consortium = SharedConsortium::new(genesis.clone());
        let ledger = Ledger::load(genesis.clone(), store.as_ref())?;
        let pipeline = Pipeline::following(consortium.clone(), config.limits.max_batch);
        let options = CommitOptions {
            queue: config.commit.queue,
            max_entries: config.commit.max_entries,
            max_delay: config.commit.max_delay,
        };
        let (feed_tx, feed) = tokio::sync::mpsc::channel(FEED_CAPACITY);
        let (committer, writer) = Committer::start(
            store.clone(),
            ledger,
            pipeline,
            Some(keys.clone()),
            options,
            Some(feed_tx),
        )
        .map_err(NodeError::Writer)?;
        if store.restored()? {
            tracing::warn!(
                "this store is a backup: the node signs no new event until it has got back from other members' nodes what it signed after the backup"
            );
            committer.hold_signing();
        }
        let book = Arc::new(Book::following(store.clone(), consortium.clone()));
        Ok(Self {
            config: Arc::new(config),
            book,
            consortium,
            keys,
            store,
            committer,
            writer,
            report,
            feed: Some(feed),
            network: NetHandle::default(),
        })
    }

    /// Starts replication with the other members' nodes, on the current tokio runtime (once;
    /// later calls are refused).
    pub fn start_network(&mut self) -> Result<Network, NodeError> {
        let feed = self.feed.take().ok_or_else(|| {
            NodeError::Network(NetError::Setup("replication is running already".into()))
        })?;
        let keypair =
            replicate::identity::keypair(&self.keys, &self.genesis()).map_err(NetError::from)?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let parts = NetParts {
            consortium: self.consortium.clone(),
            me: self.keys.member.clone(),
            keypair,
            store: self.store.clone(),
            committer: self.committer.clone(),
            book: self.book.clone(),
            signing: self.keys.signing.clone(),
            x25519: self.keys.x25519.clone(),
            feed,
            seed,
        };
        Ok(Network::start(
            parts,
            NetConfig::of(&self.config),
            self.network.clone(),
        )?)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The consortium.
    pub fn genesis(&self) -> Arc<Consortium> {
        self.consortium.current()
    }

    /// The member this node writes as.
    pub fn keys(&self) -> &MemberKeys {
        &self.keys
    }

    /// The store, for reads.
    pub fn store(&self) -> &Arc<RocksStore> {
        &self.store
    }

    /// The checkpoints the node holds.
    pub fn book(&self) -> &Arc<Book> {
        &self.book
    }

    /// The writer, for ingestion.
    pub fn committer(&self) -> &Committer {
        &self.committer
    }

    /// The state the HTTP API serves from.
    pub fn api_state(&self) -> ApiState {
        ApiState::new(
            self.config.clone(),
            self.keys.member.clone(),
            self.store.clone(),
            self.committer.clone(),
            Some(self.backups()),
            Some(self.network.clone()),
            self.book.clone(),
        )
    }

    /// Backups of this node's store into its backup directory.
    pub fn backups(&self) -> Backups {
        Backups::new(
            self.store.clone(),
            self.genesis().network_id(),
            self.config.backup_dir.clone(),
        )
    }

    /// What the store's check found at open.
    pub fn report(&self) -> &CheckReport {
        &self.report
    }

    /// Stops accepting writes, waits until everything queued is written, and closes. Clones
    /// of the committer handed out (and [`ApiState`]s) must have been dropped, or this waits
    /// for them.
    pub fn shutdown(self) {
        let Self {
            committer, writer, ..
        } = self;
        drop(committer);
        writer.join();
    }
}

/// The checks of the node's own member against the consortium: a current member, whose key
/// the key file holds, and the roles of the read tokens exist.
fn check_member(genesis: &Consortium, keys: &MemberKeys, config: &Config) -> Result<(), NodeError> {
    let member = genesis
        .member(&keys.member)
        .ok_or_else(|| NodeError::NotAMember {
            path: config.key_file.clone(),
            member: keys.member.to_string(),
        })?;
    if !genesis.is_active(&keys.member) {
        return Err(NodeError::Removed {
            path: config.key_file.clone(),
            member: keys.member.to_string(),
        });
    }
    if member.signing_key != keys.signing.public_key() {
        return Err(NodeError::WrongKey {
            path: config.key_file.clone(),
            member: keys.member.to_string(),
        });
    }
    for token in &config.tokens {
        if let TokenScope::Read { role } = &token.scope
            && !genesis
                .document()
                .roles
                .iter()
                .any(|r| r.name.as_str() == role.as_str())
        {
            return Err(NodeError::UnknownRole {
                key: format!("{}.role", token.source),
                role: role.clone(),
            });
        }
    }
    Ok(())
}

/// The consortium of the genesis with the changes the store holds (applied while the node
/// ran, or from other members' nodes) and those of the configured change log, which must
/// agree with the stored ones where both have a change; changes only in the file are stored.
fn with_stored_changes(
    root: &Consortium,
    file_changes: &[SignedChange],
    store: &RocksStore,
    config: &Config,
) -> Result<Consortium, NodeError> {
    let stored = consortium::stored_changes(store)?;
    let mut consortium = root
        .with_changes(stored.iter())
        .map_err(|source| NodeError::StoredChanges { source })?;
    let held = consortium.changes().len();
    let mut batch = Batch::default();
    for change in file_changes {
        let number = change.body.number as usize;
        if number <= held {
            if consortium.changes()[number - 1].body != change.body {
                return Err(NodeError::Changes {
                    path: config.changes.clone().unwrap_or_default(),
                    source: GovernanceError::Invalid(format!(
                        "its change {number} is not the change {number} this node applied (the node's is in GET /v1/governance): the change log file is of another history"
                    )),
                });
            }
            continue;
        }
        consortium = consortium
            .apply(change)
            .map_err(|source| NodeError::Changes {
                path: config.changes.clone().unwrap_or_default(),
                source,
            })?;
        consortium::put_change(&mut batch, change)?;
    }
    if !batch.is_empty() {
        store.write(batch)?;
    }
    Ok(consortium)
}
