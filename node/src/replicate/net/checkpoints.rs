//! The network shell's side of the checkpoint exchange ([`CheckpointSync`], which decides):
//! it feeds the exchange the swarm's events and the time, runs the work it asks for on the
//! blocking pool with the node's [`CheckpointWorker`], and carries out the rest over
//! gossipsub (the node's own checkpoints, verdicts on peers') and request-response (pulls and
//! their answers).

use std::collections::HashMap;
use std::time::Duration;

use libp2p::PeerId;
use libp2p::gossipsub::{IdentTopic, MessageId};
use libp2p::request_response::OutboundRequestId;
use tally_sdk::ids::MemberId;
use tally_sdk::time::Timestamp;
use tally_sdk::witnessing::checkpoint::Checkpoint;

use super::super::checkpoint_sync::{
    CheckpointCount, CheckpointInput, CheckpointOutput, CheckpointSync, CheckpointWorker,
};
use super::super::codec::Inbound;
use super::super::engine::Input;
use super::super::wire;
use super::{Back, Shell};

/// The checkpoint exchange in the shell.
pub(super) struct Checkpoints {
    pub(super) topic: IdentTopic,
    sync: CheckpointSync,
    worker: CheckpointWorker,
    /// Pulls in flight, by request.
    requests: HashMap<OutboundRequestId, MemberId>,
}

impl Checkpoints {
    /// The exchange gossiping on `topic`, making the node's checkpoints with `worker` at most
    /// every `interval`; `alone`: the consortium has no other member.
    pub(super) fn new(
        topic: IdentTopic,
        worker: CheckpointWorker,
        interval: Duration,
        alone: bool,
    ) -> Self {
        let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        Self {
            topic,
            sync: CheckpointSync::new(interval_ms, alone),
            worker,
            requests: HashMap::new(),
        }
    }

    /// Takes the peer a pull's answer or failure comes from, if it was a pull.
    pub(super) fn take_request(&mut self, id: &OutboundRequestId) -> Option<MemberId> {
        self.requests.remove(id)
    }
}

impl Shell {
    /// Gives the exchange an input and carries out what it answers.
    pub(super) fn checkpoint_input(&mut self, input: CheckpointInput) {
        let mut pending = vec![input];
        while let Some(input) = pending.pop() {
            let mut out = Vec::new();
            self.checkpoints.sync.handle(input, &mut out);
            for output in out {
                pending.extend(self.checkpoint_output(output));
            }
        }
    }

    /// Carries out one output; an input it makes at once (a pull to a peer gone) is returned.
    fn checkpoint_output(&mut self, output: CheckpointOutput) -> Option<CheckpointInput> {
        match output {
            CheckpointOutput::Work(work) => {
                let worker = self.checkpoints.worker.clone();
                let back = self.back_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let done = worker.run(work, Timestamp::now());
                    let _ = back.blocking_send(Back::Checkpoint(done));
                });
            }
            CheckpointOutput::Publish(checkpoint) => self.publish_checkpoint(&checkpoint),
            CheckpointOutput::Pull { peer, request } => {
                let connected = self
                    .members
                    .get(&peer)
                    .copied()
                    .filter(|p| self.swarm.is_connected(p));
                let Some(peer_id) = connected else {
                    return Some(CheckpointInput::Answer {
                        peer,
                        response: None,
                    });
                };
                let id = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_request(&peer_id, Inbound::Ok(request));
                self.checkpoints.requests.insert(id, peer);
            }
            CheckpointOutput::Reply { token, response } => self.respond(token, response),
            CheckpointOutput::Verdict { token, acceptance } => self.verdict(token, acceptance),
            CheckpointOutput::HeadDiffers { peer, author, seq } => {
                self.inputs
                    .push_back(Input::HeadDiffers { peer, author, seq });
            }
            CheckpointOutput::Misbehaved { peer } => {
                self.inputs.push_back(Input::Misbehaved { peer });
            }
            CheckpointOutput::Count(count) => {
                let metrics = &self.handle.metrics;
                match count {
                    CheckpointCount::Made => {
                        metrics.checkpoints_made.inc();
                    }
                    CheckpointCount::Received(new) => {
                        metrics.checkpoints_received.inc_by(new);
                    }
                    CheckpointCount::Refused => {
                        metrics.checkpoints_refused.inc();
                    }
                }
            }
        }
        None
    }

    /// A checkpoint gossiped by `from`'s node: to the exchange, with a token for its verdict.
    pub(super) fn on_checkpoint_gossip(
        &mut self,
        from: MemberId,
        message: MessageId,
        source: PeerId,
        data: &[u8],
    ) {
        let token = self.token();
        self.verdicts.insert(token, (message, source));
        let checkpoint = wire::decode::<Checkpoint>("checkpoint", data)
            .ok()
            .map(Box::new);
        self.checkpoint_input(CheckpointInput::Gossip {
            from,
            token,
            checkpoint,
        });
    }

    fn publish_checkpoint(&mut self, checkpoint: &Checkpoint) {
        let message = match wire::encode("checkpoint", checkpoint) {
            Ok(message) => message,
            Err(error) => {
                tracing::error!(%error, "cannot encode a checkpoint");
                return;
            }
        };
        let topic = self.checkpoints.topic.clone();
        if let Err(error) = self.swarm.behaviour_mut().gossip.publish(topic, message) {
            // No peer yet: peers pull it.
            tracing::debug!(%error, "checkpoint not gossiped");
        }
    }
}
