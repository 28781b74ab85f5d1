//! How the node's answer to an ingest request of entries from peers reads for replication:
//! whose fault a refusal is, and whether to try again.

use tally_sdk::verify::VerifyError;

use super::engine::{Fault, IngestOutcome};
use crate::commit::Answer;
use crate::ingest::{IngestError, Problem};

/// Classifies the pipeline's answer to one [`super::engine::Output::Ingest`]. `behind`: a
/// peer has applied governance changes this node has not yet, so an entry whose signature does
/// not check under the keys known here may be signed with a key a rotation put in force.
pub fn classify(answer: &Answer, behind: bool) -> IngestOutcome {
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
        Problem::Invalid(VerifyError::Signature { .. }) if behind => Fault::Membership,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tally_sdk::crypto::CryptoError;
    use tally_sdk::ids::MemberId;

    use super::*;
    use crate::ingest::Rejection;

    fn refused(problem: Problem) -> Answer {
        Err(IngestError::Rejected(vec![Rejection { index: 0, problem }]))
    }

    /// Issue 20: a node that has not applied a key rotation yet takes the member's new-key
    /// entries for forgeries. While a peer has applied changes this node has not, nobody is
    /// blamed for them; otherwise a bad signature is the sender's fault.
    #[test]
    fn a_bad_signature_is_blamed_only_when_no_peer_is_ahead_in_governance() {
        let answer = refused(Problem::Invalid(VerifyError::Signature {
            author: MemberId::new("supplier").unwrap(),
            seq: 7,
            source: CryptoError::BadSignature,
        }));
        assert_eq!(
            classify(&answer, false),
            IngestOutcome::Refused {
                index: 0,
                fault: Fault::Invalid
            }
        );
        assert_eq!(
            classify(&answer, true),
            IngestOutcome::Refused {
                index: 0,
                fault: Fault::Membership
            }
        );
        // Other faults do not depend on governance.
        let malformed = refused(Problem::Private("not committed".into()));
        assert_eq!(
            classify(&malformed, true),
            IngestOutcome::Refused {
                index: 0,
                fault: Fault::Invalid
            }
        );
    }
}
