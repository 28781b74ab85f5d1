//! The network shell's side of the private-field courier ([`Courier`], which decides): it
//! feeds the courier the swarm's events and the time, runs the work it asks for on the
//! blocking pool with the node's [`CourierWorker`], and carries rounds and their answers over
//! the delivery protocol ([`DELIVERY_PROTOCOL`](super::super::codec::DELIVERY_PROTOCOL)).

use std::collections::HashMap;

use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use tally_sdk::ids::MemberId;

use super::super::codec::DeliveryInbound;
use super::super::courier::{
    Courier, CourierCount, CourierInput, CourierOutput, CourierWorker, DeliveryToken,
};
use super::super::engine::Input;
use super::{Back, Shell};
use crate::private::delivery::DeliveryAnswer;

/// The courier in the shell.
pub(super) struct Delivering {
    courier: Courier,
    worker: CourierWorker,
    /// Rounds in flight, by request.
    requests: HashMap<OutboundRequestId, MemberId>,
    /// Peers' requests waiting for this node's answers.
    replies: HashMap<DeliveryToken, ResponseChannel<Vec<DeliveryAnswer>>>,
}

impl Delivering {
    pub(super) fn new(courier: Courier, worker: CourierWorker) -> Self {
        Self {
            courier,
            worker,
            requests: HashMap::new(),
            replies: HashMap::new(),
        }
    }
}

impl Shell {
    /// Gives the courier an input and carries out what it answers.
    pub(super) fn courier_input(&mut self, input: CourierInput) {
        let mut pending = vec![input];
        while let Some(input) = pending.pop() {
            let mut out = Vec::new();
            self.courier.courier.handle(input, &mut out);
            for output in out {
                pending.extend(self.courier_output(output));
            }
        }
    }

    /// Carries out one output; an input it makes at once (a round for a peer gone) is
    /// returned.
    fn courier_output(&mut self, output: CourierOutput) -> Option<CourierInput> {
        match output {
            CourierOutput::Work(work) => {
                let worker = self.courier.worker.clone();
                let back = self.back_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let _ = back.blocking_send(Back::Courier(worker.run(work)));
                });
            }
            CourierOutput::Send { reader, deliveries } => {
                let connected = self
                    .members
                    .get(&reader)
                    .copied()
                    .filter(|p| self.swarm.is_connected(p));
                let Some(peer) = connected else {
                    return Some(CourierInput::Answers {
                        reader,
                        answers: None,
                    });
                };
                let id = self
                    .swarm
                    .behaviour_mut()
                    .private
                    .send_request(&peer, DeliveryInbound::Ok(deliveries));
                self.courier.requests.insert(id, reader);
            }
            CourierOutput::Reply { token, answers } => {
                if let Some(channel) = self.courier.replies.remove(&token) {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .private
                        .send_response(channel, answers);
                }
            }
            CourierOutput::Misbehaved { peer } => {
                self.inputs.push_back(Input::Misbehaved { peer });
            }
            CourierOutput::Count(count) => {
                let metrics = &self.handle.metrics;
                match count {
                    CourierCount::Sent(n) => {
                        metrics.private_sent.inc_by(n);
                    }
                    CourierCount::Received(n) => {
                        metrics.private_received.inc_by(n);
                    }
                    CourierCount::Refused(n) => {
                        metrics.private_refused.inc_by(n);
                    }
                    CourierCount::Failed => {
                        metrics.private_failed.inc();
                    }
                    CourierCount::NotHeld(n) => {
                        metrics.private_not_held.inc_by(n);
                    }
                    CourierCount::Later(n) => {
                        metrics.private_later.inc_by(n);
                    }
                }
            }
        }
        None
    }

    /// Handles the delivery protocol's events.
    pub(super) fn on_delivery(
        &mut self,
        event: request_response::Event<DeliveryInbound, Vec<DeliveryAnswer>>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let token = self.token();
                    self.courier.replies.insert(token, channel);
                    let deliveries = match request {
                        DeliveryInbound::Ok(deliveries) => Some(deliveries),
                        DeliveryInbound::Invalid(_) => None,
                    };
                    self.courier_input(CourierInput::Deliveries {
                        token,
                        sender: self.peers.get(&peer).cloned(),
                        deliveries,
                    });
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reader) = self.courier.requests.remove(&request_id) {
                        self.courier_input(CourierInput::Answers {
                            reader,
                            answers: Some(response),
                        });
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reader) = self.courier.requests.remove(&request_id) {
                    tracing::debug!(%reader, %error, "a delivery of private fields to {reader}'s node failed");
                    self.courier_input(CourierInput::Answers {
                        reader,
                        answers: None,
                    });
                }
            }
            _ => {}
        }
    }
}
