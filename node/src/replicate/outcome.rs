//! How the node's answer to an ingest request of entries from peers reads for replication:
//! whose fault a refusal is, and whether to try again.

use tally_sdk::verify::VerifyError;

use super::engine::{Fault, IngestOutcome};
use crate::commit::Answer;
use crate::ingest::{IngestError, Problem};

/// Classifies the pipeline's answer to one [`super::engine::Output::Ingest`].
pub fn classify(answer: &Answer) -> IngestOutcome {
    let list = match answer {
        Ok(_) => return IngestOutcome::Stored,
        Err(IngestError::Rejected(list)) => list,
        // Too many, no key, storage failing, stopping: nothing about the entries themselves.
        Err(_) => return IngestOutcome::Failed,
    };
    let Some(first) = list.iter().min_by_key(|r| r.index) else {
        return IngestOutcome::Failed;
    };
    let fault = match &first.problem {
        Problem::Invalid(VerifyError::FromTheFuture { .. }) => Fault::NotYet,
        Problem::Invalid(VerifyError::Chain(_)) => Fault::Unlinked,
        Problem::Invalid(
            VerifyError::UnknownAuthor(_)
            | VerifyError::Removed { .. }
            | VerifyError::RetiredKey { .. },
        ) => Fault::Membership,
        Problem::Conflict { .. } | Problem::Frozen { .. } => Fault::Fork,
        // Only the node's own hand-overs are held to custody, never replicated entries; were
        // one refused for it, that depends on what this node holds, not on the sender.
        Problem::Custody(_) => Fault::Membership,
        Problem::Invalid(_)
        | Problem::Malformed { .. }
        | Problem::Event(_)
        | Problem::Private(_) => Fault::Invalid,
    };
    IngestOutcome::Refused {
        index: first.index,
        fault,
    }
}
