//! What the shell does with the swarm's events: connections made and lost (the machines
//! told), gossip and requests from peers, answers to its own requests.

use super::*;

impl Shell {
    pub(super) fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address
                    .clone()
                    .with(Protocol::P2p(*self.swarm.local_peer_id()));
                tracing::info!(address = %full, "p2p listening on {full}");
                self.handle
                    .update(|status| status.listen.push(full.to_string()));
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                let full = address
                    .with(Protocol::P2p(*self.swarm.local_peer_id()))
                    .to_string();
                self.handle
                    .update(|status| status.listen.retain(|a| a != &full));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                let Some(member) = self.peers.get(&peer_id).cloned() else {
                    return;
                };
                if endpoint.is_dialer() {
                    let address = endpoint.get_remote_address().clone();
                    let known = self.addresses.entry(peer_id).or_default();
                    if !known.contains(&address) {
                        known.push(address);
                    }
                }
                if let Some(redial) = self.redial.get_mut(&peer_id) {
                    redial.connected_at = Some(Instant::now());
                }
                if num_established.get() == 1 {
                    tracing::info!(%member, peer = %peer_id, "connected to {member}'s node");
                    self.handle.metrics.connected.inc();
                    self.set_peer(&peer_id, |p| p.connected = true);
                    self.checkpoint_input(CheckpointInput::PeerUp {
                        peer: member.clone(),
                    });
                    self.pull_changes(member.clone());
                    self.courier_input(CourierInput::PeerUp {
                        peer: member.clone(),
                    });
                    self.inputs.push_back(Input::PeerUp { peer: member });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                if num_established > 0 {
                    return;
                }
                if let Some(redial) = self.redial.get_mut(&peer_id)
                    && redial
                        .connected_at
                        .take()
                        .is_some_and(|at| at.elapsed() >= STABLE_CONNECTION)
                {
                    *redial = Redial::default();
                }
                let Some(member) = self.peers.get(&peer_id).cloned() else {
                    return;
                };
                match cause {
                    Some(cause) => {
                        tracing::info!(%member, %cause, "disconnected from {member}'s node")
                    }
                    None => tracing::info!(%member, "disconnected from {member}'s node"),
                }
                self.handle.metrics.connected.dec();
                self.set_peer(&peer_id, |p| p.connected = false);
                self.checkpoint_input(CheckpointInput::PeerDown {
                    peer: member.clone(),
                });
                self.courier_input(CourierInput::PeerDown {
                    peer: member.clone(),
                });
                self.inputs.push_back(Input::PeerDown { peer: member });
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error: ListenError::Denied { cause },
                peer_id,
                ..
            } => {
                if cause
                    .downcast_ref::<allow_block_list::NotAllowed>()
                    .is_some()
                {
                    self.handle.metrics.refused.inc();
                    match peer_id.and_then(|p| self.peers.get(&p)) {
                        Some(member) => tracing::info!(
                            %member, address = %send_back_addr,
                            "refused a connection from {member}'s node: it is banned"
                        ),
                        None => tracing::warn!(
                            peer = ?peer_id, address = %send_back_addr,
                            "refused a connection from a peer that is not a member of the genesis"
                        ),
                    }
                } else {
                    tracing::debug!(%cause, address = %send_back_addr, "refused a connection");
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, %error, "dial failed");
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour(event),
            _ => {}
        }
    }

    pub(super) fn on_behaviour(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                self.handle.metrics.received.inc();
                let Some(from) = self.peers.get(&propagation_source).cloned() else {
                    self.report(&message_id, &propagation_source, MessageAcceptance::Reject);
                    return;
                };
                if message.topic == self.checkpoints.topic.hash() {
                    self.on_checkpoint_gossip(from, message_id, propagation_source, &message.data);
                    return;
                }
                if self.verdicts.len() >= MAX_OPEN_VERDICTS {
                    self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
                    return;
                }
                let batch = wire::decode::<GossipBatch>("gossip batch", &message.data).ok();
                tracing::debug!(
                    %from,
                    entries = batch.as_ref().map(|b| b.entries.len()),
                    "gossip message"
                );
                // The publisher, whose signature gossipsub checked (strict validation),
                // answers for the entries; the relay only passed them on.
                let origin = message
                    .source
                    .and_then(|source| self.peers.get(&source).cloned())
                    .unwrap_or_else(|| from.clone());
                let token = self.token();
                self.verdicts
                    .insert(token, (message_id, propagation_source));
                self.inputs.push_back(Input::Gossip {
                    from,
                    origin,
                    token,
                    batch,
                });
            }
            BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => {
                        let from = self.peers.get(&peer).cloned();
                        let Some(from) = from.filter(|_| self.replies.len() < MAX_OPEN_REPLIES)
                        else {
                            // Not a member (cannot happen past the allow list), or too many
                            // requests waiting: refused at once.
                            let _ = self
                                .swarm
                                .behaviour_mut()
                                .sync
                                .send_response(channel, SyncResponse::Refused);
                            return;
                        };
                        let token = self.token();
                        self.replies.insert(token, channel);
                        let request = match request {
                            Inbound::Ok(SyncRequest::Checkpoints {
                                from,
                                limit,
                                conflicts_held,
                            }) => {
                                self.checkpoint_input(CheckpointInput::Request {
                                    token,
                                    from,
                                    limit,
                                    conflicts_held,
                                });
                                return;
                            }
                            Inbound::Ok(SyncRequest::Attest { product }) => {
                                self.serve_attestation(token, product);
                                return;
                            }
                            Inbound::Ok(SyncRequest::Changes { have }) => {
                                self.governance.peer_has(&from, have);
                                if have > self.governance.applied() {
                                    self.pull_changes(from);
                                }
                                self.serve_changes(token, have);
                                return;
                            }
                            Inbound::Ok(request) => Some(request),
                            Inbound::Invalid(why) => {
                                tracing::info!(%from, why, "an invalid sync request from {from}");
                                None
                            }
                        };
                        self.inputs.push_back(Input::Request {
                            from,
                            token,
                            request,
                        });
                    }
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if let Some(peer) = self.checkpoints.take_request(&request_id) {
                            self.checkpoint_input(CheckpointInput::Answer {
                                peer,
                                response: Some(response),
                            });
                        } else if let Some(from) = self.governance.take_request(&request_id) {
                            self.on_changes(from, response);
                        } else if let Some((gathering, from)) =
                            self.attesting.take_request(&request_id)
                        {
                            self.on_attestation(gathering, from, Some(response));
                        } else if let Some((id, from)) = self.requests.remove(&request_id) {
                            self.inputs.push_back(Input::Response {
                                from,
                                id,
                                response: Some(response),
                            });
                        }
                    }
                }
            }
            BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                request_id,
                error,
                ..
            }) => {
                if let Some(peer) = self.checkpoints.take_request(&request_id) {
                    tracing::debug!(%peer, %error, "a checkpoint pull failed");
                    self.checkpoint_input(CheckpointInput::Answer {
                        peer,
                        response: None,
                    });
                } else if let Some(to) = self.governance.take_request(&request_id) {
                    tracing::debug!(%to, %error, "a governance pull failed");
                } else if let Some((gathering, from)) = self.attesting.take_request(&request_id) {
                    tracing::debug!(%from, %error, "an attestation request failed");
                    self.on_attestation(gathering, from, None);
                } else if let Some((id, to)) = self.requests.remove(&request_id) {
                    tracing::debug!(%to, %error, "a sync request failed");
                    self.inputs.push_back(Input::RequestFailed { to, id });
                }
            }
            BehaviourEvent::Private(event) => self.on_delivery(event),
            BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Err(error),
            }) => {
                tracing::debug!(%peer, %error, "ping failed: closing the connection");
                self.swarm.close_connection(connection);
            }
            _ => {}
        }
    }
}
