//! The engine's peers: forgetting what a peer that went away was asked, and scoring offences
//! towards a ban.

use super::*;

impl Engine {
    pub(super) fn peer_down(&mut self, member: &MemberId) {
        if let Some(peer) = self.peers.get_mut(member) {
            peer.connected = false;
            peer.heads.clear();
            peer.compared.clear();
            peer.answered = false;
            peer.discredited = false;
        }
        let lost: Vec<RequestId> = self
            .sent
            .iter()
            .filter(|(_, s)| &s.to == member)
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            if let Some(sent) = self.sent.remove(&id) {
                self.forget(&sent);
            }
        }
    }

    /// A request is over without a useful answer: free its peer slot and its chain's want.
    pub(super) fn forget(&mut self, sent: &Sent) {
        if let Some(peer) = self.peers.get_mut(&sent.to) {
            peer.in_flight = peer.in_flight.saturating_sub(1);
        }
        if let Pending::Range { author, .. } = &sent.what
            && let Some(chain) = self.chains.get_mut(author)
        {
            chain.wanted = None;
        }
    }

    pub(super) fn offence(&mut self, member: &MemberId, weight: u32, out: &mut Vec<Output>) {
        let now = self.now;
        let (threshold, ban_ms) = (self.config.ban_threshold, self.config.ban_ms);
        let Some(peer) = self.peers.get_mut(member) else {
            return;
        };
        peer.score = peer.score.saturating_add(weight);
        if peer.score >= threshold && peer.banned_until.is_none() {
            let until = now + ban_ms;
            peer.banned_until = Some(until);
            out.push(Output::Ban {
                peer: member.clone(),
                until,
            });
            self.peer_down(member);
        }
    }
}
