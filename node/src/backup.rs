//! Backups of the live store: a RocksDB checkpoint (table files hard-linked when the backup
//! directory is on the same filesystem, the rest copied), which is consistent at one point
//! in time and takes a fraction of a second however large the store, while the node keeps
//! serving. Before a backup is reported done it is opened and checked as the node checks its
//! store at start, so a backup that would not start is never reported as good.
//!
//! A backup is a complete data directory: to restore, stop the node and point `data_dir` at
//! it (or move it there).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tally_sdk::hash::NetworkId;
use tally_sdk::time::Timestamp;

use crate::store::rocks::RocksStore;
use crate::store::{Store, StoreError};

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The backup's directory name, e.g. `tally-20261127T171000123Z`.
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
    /// Chains in it.
    pub chains: usize,
    /// Entries in it.
    pub entries: u64,
    /// Bytes of its files.
    pub bytes: u64,
}

/// A backup could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A backup of that name exists already (two backups in one millisecond).
    #[error("backup {0} exists already")]
    Exists(PathBuf),
    /// The backup directory cannot be created.
    #[error("cannot create the backup directory {path}: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// RocksDB could not make the checkpoint.
    #[error("cannot write the backup {path}: {source}")]
    Checkpoint {
        /// The backup.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// The backup was written but does not pass the store check.
    #[error("the backup {path} was written but fails the store check: {source}")]
    Check {
        /// The backup.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
}

/// Makes backups of one store into one directory (what the HTTP API holds).
#[derive(Debug, Clone)]
pub struct Backups {
    store: Arc<RocksStore>,
    network: NetworkId,
    dir: PathBuf,
}

impl Backups {
    /// Backups of `store` (of `network`) into `dir`.
    pub fn new(store: Arc<RocksStore>, network: NetworkId, dir: PathBuf) -> Self {
        Self {
            store,
            network,
            dir,
        }
    }

    /// Makes a checked backup now.
    pub fn create(&self) -> Result<BackupReport, BackupError> {
        create(&self.store, self.network, &self.dir, Timestamp::now())
    }
}

/// The directory name of a backup made at `at`: sortable, and safe on every filesystem.
pub fn backup_name(at: Timestamp) -> String {
    let stamp: String = at
        .to_rfc3339()
        .chars()
        .filter(|c| !matches!(c, '-' | ':' | '.'))
        .collect();
    format!("tally-{stamp}")
}

/// Writes a checkpoint of `store` into `backups/<backup_name(at)>` and checks it.
pub fn create(
    store: &RocksStore,
    network: NetworkId,
    backups: &Path,
    at: Timestamp,
) -> Result<BackupReport, BackupError> {
    std::fs::create_dir_all(backups).map_err(|source| BackupError::Directory {
        path: backups.to_owned(),
        source,
    })?;
    let name = backup_name(at);
    let path = backups.join(&name);
    if path.exists() {
        return Err(BackupError::Exists(path));
    }
    store
        .checkpoint(&path)
        .map_err(|source| BackupError::Checkpoint {
            path: path.clone(),
            source,
        })?;
    let check = |source| BackupError::Check {
        path: path.clone(),
        source,
    };
    let (backup, report) = crate::upgrade::open(&path, network).map_err(check)?;
    if report.created {
        return Err(check(StoreError::Corrupted(
            "the checkpoint holds no store".into(),
        )));
    }
    // A node started from this backup has not seen what its member signed after it: it must
    // get that back from the other members' nodes before it signs anything new, or it would
    // sign a second history (a fork of its own chain).
    backup.set_restored(true).map_err(check)?;
    let bytes = backup.disk_bytes().map_err(check)?;
    drop(backup);
    Ok(BackupReport {
        name,
        chains: report.heads.len(),
        entries: report.heads.iter().map(|h| h.tip.seq + 1).sum(),
        bytes,
        path,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_hold_no_separators() {
        let a = backup_name(Timestamp(1_772_326_800_000));
        let b = backup_name(Timestamp(1_772_326_800_001));
        assert!(a < b);
        assert!(
            a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{a}"
        );
        assert!(a.starts_with("tally-2026"), "{a}");
    }
}
