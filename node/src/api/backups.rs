//! `POST /v1/backups`: the operator asks the running node for a consistent, checked backup
//! of its store ([`crate::backup`]). The backup goes into the configured `backup_dir`; the
//! caller cannot choose the path.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use super::auth::Caller;
use super::problem::{ApiError, ProblemDetails};
use crate::backup::{BackupError, BackupReport};

/// A backup made.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackupView {
    /// The backup's directory name (sortable by time), e.g. `tally-20261127T171000123Z`.
    pub name: String,
    /// Where it is on the node's machine.
    pub path: String,
    /// Chains in it.
    pub chains: usize,
    /// Entries in it.
    pub entries: u64,
    /// Bytes of its files.
    pub bytes: u64,
}

impl From<BackupReport> for BackupView {
    fn from(report: BackupReport) -> Self {
        Self {
            name: report.name,
            path: report.path.display().to_string(),
            chains: report.chains,
            entries: report.entries,
            bytes: report.bytes,
        }
    }
}

/// Writes a backup of the store (a RocksDB checkpoint, consistent at one point in time) into
/// the node's backup directory, checks it as the node checks its store at start, and
/// reports it. The node keeps serving meanwhile. Needs a member token.
#[utoipa::path(
    post, path = "/v1/backups", tag = "operations",
    responses(
        (status = 201, description = "The backup is written and checked", body = BackupView),
        (status = 401, description = "No or unknown token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "A read token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "This node cannot make backups", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "A backup was made in the same millisecond", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "The backup failed; the node's log says why", body = ProblemDetails, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn post_backup(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<(StatusCode, Json<BackupView>), ApiError> {
    caller.require_member()?;
    let backups = state
        .backups()
        .cloned()
        .ok_or_else(|| ApiError::not_found("this node cannot make backups"))?;
    let made = state.blocking(move || backups.create()).await?;
    match made {
        Ok(report) => {
            tracing::info!(
                caller = %caller.name,
                backup = %report.path.display(),
                entries = report.entries,
                "backup written and checked"
            );
            Ok((StatusCode::CREATED, Json(report.into())))
        }
        Err(BackupError::Exists(path)) => Err(ApiError::conflict(format!(
            "a backup named {} exists already; try again",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ))),
        Err(error) => {
            tracing::error!(%error, "backup failed");
            Err(ApiError::internal())
        }
    }
}
