//! The network shell's governance work: getting the governance changes other members' nodes
//! applied, and putting each new consortium in force in the network.
//!
//! Every [`PULL_EVERY`] and whenever a peer connects, the node asks each connected peer for
//! the changes after the ones it applied (`SyncRequest::Changes`). It applies what comes
//! through the writer ([`Committer::submit_change`](crate::commit::Committer::submit_change)),
//! which checks each change against the consortium in force with the SDK's rules: a change
//! counts only with the approvals of enough current founders, so a peer can delay a change
//! but never forge one. A change that follows this node's last one and still does not apply
//! could only come from a dishonest node, and counts as an offence of the peer that sent it;
//! a rival change (the founders approved two with one number) is logged, not blamed.
//!
//! While a peer says (in its own pulls) that it applied more changes than this node, and has
//! not yet answered this node's pull, an entry whose signature fails under the keys known here
//! is not blamed on anyone ([`super::super::outcome::classify`]): it may be signed with a key a
//! rotation put in force. A peer that claimed more than it hands over loses that shelter at its
//! first answer, so a liar cannot keep the node from blaming forgeries. Once a change is in force, the network follows it: a newly admitted
//! member's node is allowed, dialled and synced with, a removed member's node is dropped and
//! refused, and private fields go to the readers the new consortium names.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::request_response::OutboundRequestId;
use tally_sdk::ids::MemberId;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::governance::SignedChange;
use tokio::sync::watch;

use super::super::codec::Inbound;
use super::super::courier::CourierInput;
use super::super::engine::{Input, ReplyToken};
use super::super::identity;
use super::super::wire::{MAX_CHANGES, SyncRequest, SyncResponse};
use super::{Back, PeerStatus, Redial, Shell};
use crate::consortium::SharedConsortium;
use crate::ingest::IngestError;

/// How often connected peers are asked for changes the node lacks.
pub const PULL_EVERY: Duration = Duration::from_secs(5);

/// The governance state of the shell.
pub(super) struct GovernanceSync {
    consortium: SharedConsortium,
    /// Told of each change put in force.
    pub(super) updates: watch::Receiver<Arc<Consortium>>,
    requests: HashMap<OutboundRequestId, MemberId>,
    pulling: BTreeSet<MemberId>,
    next_pull: Instant,
    /// Peers that said (in their own pulls) that they applied more changes than this node,
    /// and how many, until they have answered a pull of this node's: an honest peer then
    /// hands over what it has, and a peer that claimed more than it has is not believed.
    claims: BTreeMap<MemberId, u64>,
}

/// Answers of governance work on the blocking pool.
pub(super) enum GovernanceBack {
    /// A peer's changes went through the writer.
    Applied {
        peer: MemberId,
        /// Changes applied.
        applied: usize,
        /// The answer was full: there may be more.
        full: bool,
        /// The peer sent a change that could only come from a dishonest node.
        offence: bool,
    },
}

impl GovernanceSync {
    /// The consortium in force.
    pub(super) fn current(&self) -> Arc<Consortium> {
        self.consortium.current()
    }

    pub(super) fn new(consortium: SharedConsortium) -> Self {
        let mut updates = consortium.subscribe();
        updates.mark_unchanged();
        Self {
            consortium,
            updates,
            requests: HashMap::new(),
            pulling: BTreeSet::new(),
            next_pull: Instant::now(),
            claims: BTreeMap::new(),
        }
    }

    /// How many changes this node has applied.
    pub(super) fn applied(&self) -> u64 {
        self.consortium.changes()
    }

    /// `peer` said it has applied `have` changes.
    pub(super) fn peer_has(&mut self, peer: &MemberId, have: u64) {
        if have > self.applied() {
            self.claims.insert(peer.clone(), have);
        }
    }

    /// `peer` answered a pull of this node's with all it had: its claim is settled.
    pub(super) fn answered(&mut self, peer: &MemberId) {
        self.claims.remove(peer);
    }

    /// Whether a peer said it applied changes this node has not (yet), and has not yet
    /// answered a pull for them.
    pub(super) fn behind(&self) -> bool {
        let applied = self.applied();
        self.claims.values().any(|&claimed| claimed > applied)
    }

    /// The peer a pull was sent to, if `id` is one.
    pub(super) fn take_request(&mut self, id: &OutboundRequestId) -> Option<MemberId> {
        let peer = self.requests.remove(id)?;
        self.pulling.remove(&peer);
        Some(peer)
    }
}

impl Shell {
    /// Pulls changes from every connected peer when due.
    pub(super) fn governance_tick(&mut self) {
        let now = Instant::now();
        if now < self.governance.next_pull {
            return;
        }
        self.governance.next_pull = now + PULL_EVERY;
        for peer in self.connected_members() {
            self.pull_changes(peer);
        }
    }

    /// Asks `peer` for the changes after this node's (one pull per peer at a time).
    pub(super) fn pull_changes(&mut self, peer: MemberId) {
        let Some(peer_id) = self
            .members
            .get(&peer)
            .copied()
            .filter(|p| self.swarm.is_connected(p))
        else {
            return;
        };
        if !self.governance.pulling.insert(peer.clone()) {
            return;
        }
        let have = self.governance.consortium.changes();
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&peer_id, Inbound::Ok(SyncRequest::Changes { have }));
        self.governance.requests.insert(id, peer);
    }

    /// Answers a peer's pull from the consortium in force.
    pub(super) fn serve_changes(&mut self, token: ReplyToken, have: u64) {
        let genesis = self.governance.consortium.current();
        let from = usize::try_from(have).unwrap_or(usize::MAX);
        let changes: Vec<SignedChange> = genesis
            .changes()
            .iter()
            .skip(from)
            .take(MAX_CHANGES)
            .cloned()
            .collect();
        self.respond(token, SyncResponse::Changes(changes));
    }

    /// Applies what a peer sent in answer to a pull.
    pub(super) fn on_changes(&mut self, peer: MemberId, response: SyncResponse) {
        let changes = match response {
            SyncResponse::Changes(changes) if !changes.is_empty() => changes,
            // Nothing new (or a node of an older version, which does not know the request).
            SyncResponse::Changes(_) | SyncResponse::Refused => {
                self.governance.answered(&peer);
                return;
            }
            _ => {
                self.governance.answered(&peer);
                self.inputs.push_back(Input::Misbehaved { peer });
                return;
            }
        };
        if changes.len() > MAX_CHANGES {
            self.governance.answered(&peer);
            self.inputs.push_back(Input::Misbehaved { peer });
            return;
        }
        let committer = self.committer.clone();
        let consortium = self.governance.consortium.clone();
        let back = self.back_tx.clone();
        tokio::task::spawn_blocking(move || {
            let full = changes.len() == MAX_CHANGES;
            let (mut applied, mut offence) = (0, false);
            for change in changes {
                let before = consortium.current();
                let number = change.body.number;
                match committer.submit_change(change.clone()) {
                    Ok(_) => applied += 1,
                    Err(IngestError::RivalChange { number }) => {
                        tracing::warn!(
                            %peer,
                            number,
                            "{peer}'s node holds another governance change {number} than this node: the founders approved two changes with one number"
                        );
                        break;
                    }
                    Err(IngestError::Governance(error)) => {
                        // Judged on the consortium it follows: only a dishonest node sends
                        // a next change the founders did not approve.
                        let follows = number == before.changes().len() as u64 + 1
                            && change.body.previous == before.last_change();
                        if follows {
                            tracing::warn!(%peer, %error, "{peer}'s node sent a governance change that does not apply");
                            offence = true;
                        } else {
                            tracing::info!(%peer, %error, "a governance change from {peer}'s node does not follow this node's");
                        }
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%peer, %error, "a governance change from {peer}'s node was not applied now");
                        break;
                    }
                }
            }
            let answer = GovernanceBack::Applied {
                peer,
                applied,
                full,
                offence,
            };
            let _ = back.blocking_send(Back::Governance(answer));
        });
    }

    /// Carries on with what the blocking pool answered.
    pub(super) fn on_governance_back(&mut self, answer: GovernanceBack) {
        match answer {
            GovernanceBack::Applied {
                peer,
                applied,
                full,
                offence,
            } => {
                if offence {
                    self.governance.answered(&peer);
                    self.inputs.push_back(Input::Misbehaved { peer });
                } else if full && applied > 0 {
                    self.pull_changes(peer);
                } else {
                    self.governance.answered(&peer);
                }
            }
        }
    }

    /// Puts a new consortium in force in the network: admits and dials newly admitted
    /// members' nodes, drops and refuses removed ones (and a replaced peer id), and follows
    /// the new membership in the engine and the courier.
    pub(super) fn on_consortium(&mut self, genesis: Arc<Consortium>) {
        let peers = if !genesis.is_active(&self.me) {
            // The node's own member was removed: it may no longer take part.
            tracing::error!(
                "a governance change removed this node's member: replication stops, and the node signs nothing more"
            );
            BTreeMap::new()
        } else {
            match identity::members(&genesis, &self.me) {
                Ok(peers) => peers,
                Err(error) => {
                    tracing::error!(%error, "the consortium in force names a node the network cannot use");
                    return;
                }
            }
        };
        let gone: Vec<PeerId> = self
            .peers
            .keys()
            .filter(|peer| !peers.contains_key(peer))
            .copied()
            .collect();
        for peer in gone {
            let member = self.peers.remove(&peer);
            tracing::info!(?member, %peer, "a governance change ended this node's admission: disconnecting it");
            let behaviour = self.swarm.behaviour_mut();
            behaviour.allow.disallow_peer(peer);
            let _ = self.swarm.disconnect_peer_id(peer);
            self.redial.remove(&peer);
            self.addresses.remove(&peer);
            let id = peer.to_base58();
            self.handle
                .update(|status| status.peers.retain(|p| p.peer_id != id));
        }
        let mut added = Vec::new();
        for (peer, member) in &peers {
            if self.peers.contains_key(peer) {
                continue;
            }
            tracing::info!(%member, %peer, "a governance change admitted {member}'s node");
            self.swarm.behaviour_mut().allow.allow_peer(*peer);
            if let Some(admitted) = genesis.member(member) {
                let known = self.addresses.entry(*peer).or_default();
                known.extend(admitted.addresses.iter().filter_map(|a| a.parse().ok()));
            }
            self.redial.insert(*peer, Redial::default());
            let status = PeerStatus {
                member: member.to_string(),
                peer_id: peer.to_base58(),
                connected: self.swarm.is_connected(peer),
                banned: false,
            };
            self.handle.update(|s| {
                s.peers.push(status);
                s.peers.sort_by(|a, b| a.member.cmp(&b.member));
            });
            added.push(member.clone());
        }
        self.members = peers
            .iter()
            .map(|(p, m)| (m.clone(), *p))
            .collect::<BTreeMap<_, _>>();
        self.peers = peers;
        for member in genesis.all_members() {
            self.engine.follow_chain(&member.id);
        }
        self.courier_input(CourierInput::Follow(genesis));
        if !added.is_empty() {
            self.dial_due();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tally_sdk::membership::template::demo_consortium;

    use super::*;

    /// A peer's claim to be ahead shelters entries from blame only until the peer has
    /// answered a pull: a peer that claims changes it cannot hand over is not believed for
    /// long, and one that hands them over settles its claim by the changes applied.
    #[test]
    fn a_claim_to_be_ahead_lasts_until_the_claimant_answers() {
        let (signed, _) = demo_consortium().unwrap();
        let consortium = SharedConsortium::new(Arc::new(signed.verify().unwrap()));
        let mut sync = GovernanceSync::new(consortium);
        let liar = MemberId::new("regulator").unwrap();
        let honest = MemberId::new("supplier").unwrap();
        assert!(!sync.behind());
        sync.peer_has(&honest, 0);
        assert!(!sync.behind(), "a peer with no more changes is not ahead");
        sync.peer_has(&liar, 1_000);
        sync.peer_has(&honest, 1);
        assert!(sync.behind());
        sync.answered(&liar);
        assert!(sync.behind(), "the honest peer has not answered yet");
        sync.answered(&honest);
        assert!(!sync.behind());
    }
}
