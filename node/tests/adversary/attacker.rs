//! The adversary harness: a dishonest member's peer, built from the node's own libp2p
//! behaviours and wire types (`tally_node::replicate::net::build_swarm`), that connects to a
//! real `tally-node` with a member's key and sends whatever the test scripts — gossip no honest
//! node would publish, answers no honest node would give. It runs its swarm on a thread of its
//! own, so the test talks to nodes over HTTP meanwhile.
//!
//! Sync requests the node sends it are answered like an empty node would (no heads, `Refused`
//! to anything else), unless the test gives other answers ([`Attacker::connect_answering`]).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};
use tally_node::private::delivery::{Delivery, DeliveryAnswer};
use tally_node::replicate::codec::{DeliveryInbound, Inbound};
use tally_node::replicate::identity;
use tally_node::replicate::net::{self, BehaviourEvent};
use tally_node::replicate::wire::{self, GossipBatch, SyncRequest, SyncResponse};
use tally_sdk::entry::SignedEntry;
use tally_sdk::membership::consortium::Consortium;
use tally_sdk::membership::keyfile::MemberKeys;
use tokio::sync::{mpsc, oneshot};

use tally_testkit::consortium::wait_for;

/// What the test has the attacker do.
enum Command {
    /// Publish one gossip message on a topic; answer once gossipsub took it.
    Publish {
        topic: IdentTopic,
        data: Vec<u8>,
        done: oneshot::Sender<()>,
    },
    /// Send a sync request to the node; answer with the node's response.
    Ask {
        request: SyncRequest,
        done: oneshot::Sender<Option<SyncResponse>>,
    },
    /// Send private-field deliveries to the node; answer with its answers.
    Deliver {
        deliveries: Vec<Delivery>,
        done: oneshot::Sender<Option<Vec<DeliveryAnswer>>>,
    },
}

/// What the attacker saw, for the test to wait on.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The node's connection is up.
    pub connected: bool,
    /// Times the connection closed (a ban closes it).
    pub closed: u32,
    /// Sync requests the node sent it.
    pub asked: Vec<SyncRequest>,
}

/// A dishonest member's peer connected to one node.
pub struct Attacker {
    commands: mpsc::UnboundedSender<Command>,
    seen: Arc<Mutex<Seen>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    genesis: Consortium,
}

impl Attacker {
    /// Connects to the node at `address` (ending with `/p2p/<peer id>`) as `keys`' member and
    /// waits until the connection is up and the node listens to both gossip topics.
    pub fn connect(genesis: &Consortium, keys: &MemberKeys, address: &str) -> Self {
        Self::connect_answering(genesis, keys, address, |request| match request {
            SyncRequest::Heads => SyncResponse::Heads {
                heads: Vec::new(),
                forks: Vec::new(),
            },
            _ => SyncResponse::Refused,
        })
    }

    /// As [`Attacker::connect`], answering the node's sync requests with `answer`.
    pub fn connect_answering(
        genesis: &Consortium,
        keys: &MemberKeys,
        address: &str,
        answer: impl Fn(&SyncRequest) -> SyncResponse + Send + 'static,
    ) -> Self {
        let address: Multiaddr = address.parse().unwrap();
        let keypair = identity::keypair(keys, genesis).unwrap();
        let peers = identity::members(genesis, &keys.member).unwrap();
        let topics = [net::entries_topic(genesis), net::checkpoints_topic(genesis)];
        let (commands, mut inbox) = mpsc::unbounded_channel::<Command>();
        let (stop, mut stopped) = oneshot::channel::<()>();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let subscribed = Arc::new(Mutex::new(0usize));
        let (seen_by_swarm, subscribed_by_swarm) = (seen.clone(), subscribed.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut swarm = net::build_swarm(keypair, &peers).unwrap();
                for topic in &topics {
                    swarm.behaviour_mut().gossip.subscribe(topic).unwrap();
                }
                swarm.dial(address).unwrap();
                let mut asked: std::collections::HashMap<
                    request_response::OutboundRequestId,
                    oneshot::Sender<Option<SyncResponse>>,
                > = std::collections::HashMap::new();
                let mut delivering: std::collections::HashMap<
                    request_response::OutboundRequestId,
                    oneshot::Sender<Option<Vec<DeliveryAnswer>>>,
                > = std::collections::HashMap::new();
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        Some(command) = inbox.recv() => match command {
                            Command::Publish { topic, data, done } => {
                                // gossipsub refuses while no peer is known on the topic;
                                // `connect` waited for that, so this takes it.
                                swarm.behaviour_mut().gossip.publish(topic, data).unwrap();
                                let _ = done.send(());
                            }
                            Command::Ask { request, done } => {
                                let Some(peer) = swarm.connected_peers().next().copied() else {
                                    let _ = done.send(None);
                                    continue;
                                };
                                let id = swarm
                                    .behaviour_mut()
                                    .sync
                                    .send_request(&peer, Inbound::Ok(request));
                                asked.insert(id, done);
                            }
                            Command::Deliver { deliveries, done } => {
                                let Some(peer) = swarm.connected_peers().next().copied() else {
                                    let _ = done.send(None);
                                    continue;
                                };
                                let id = swarm
                                    .behaviour_mut()
                                    .private
                                    .send_request(&peer, DeliveryInbound::Ok(deliveries));
                                delivering.insert(id, done);
                            }
                        },
                        event = swarm.select_next_some() => match event {
                            SwarmEvent::ConnectionEstablished { .. } => {
                                seen_by_swarm.lock().unwrap().connected = true;
                            }
                            SwarmEvent::ConnectionClosed { num_established: 0, .. } => {
                                let mut seen = seen_by_swarm.lock().unwrap();
                                seen.connected = false;
                                seen.closed += 1;
                            }
                            SwarmEvent::Behaviour(BehaviourEvent::Gossip(
                                gossipsub::Event::Subscribed { .. },
                            )) => *subscribed_by_swarm.lock().unwrap() += 1,
                            SwarmEvent::Behaviour(BehaviourEvent::Gossip(
                                gossipsub::Event::Message { propagation_source, message_id, .. },
                            )) => {
                                swarm.behaviour_mut().gossip.report_message_validation_result(
                                    &message_id,
                                    &propagation_source,
                                    MessageAcceptance::Ignore,
                                );
                            }
                            SwarmEvent::Behaviour(BehaviourEvent::Sync(
                                request_response::Event::Message { message, .. },
                            )) => match message {
                                request_response::Message::Request { request, channel, .. } => {
                                    let reply = match &request {
                                        Inbound::Ok(request) => answer(request),
                                        Inbound::Invalid(_) => SyncResponse::Refused,
                                    };
                                    if let Inbound::Ok(request) = request {
                                        seen_by_swarm.lock().unwrap().asked.push(request);
                                    }
                                    let _ = swarm.behaviour_mut().sync.send_response(channel, reply);
                                }
                                request_response::Message::Response { request_id, response } => {
                                    if let Some(done) = asked.remove(&request_id) {
                                        let _ = done.send(Some(response));
                                    }
                                }
                            },
                            SwarmEvent::Behaviour(BehaviourEvent::Sync(
                                request_response::Event::OutboundFailure { request_id, .. },
                            )) => {
                                if let Some(done) = asked.remove(&request_id) {
                                    let _ = done.send(None);
                                }
                            }
                            SwarmEvent::Behaviour(BehaviourEvent::Private(
                                request_response::Event::Message {
                                    message: request_response::Message::Response { request_id, response },
                                    ..
                                },
                            )) => {
                                if let Some(done) = delivering.remove(&request_id) {
                                    let _ = done.send(Some(response));
                                }
                            }
                            SwarmEvent::Behaviour(BehaviourEvent::Private(
                                request_response::Event::OutboundFailure { request_id, .. },
                            )) => {
                                if let Some(done) = delivering.remove(&request_id) {
                                    let _ = done.send(None);
                                }
                            }
                            _ => {}
                        },
                    }
                }
            });
        });
        let attacker = Self {
            commands,
            seen,
            stop: Some(stop),
            thread: Some(thread),
            genesis: genesis.clone(),
        };
        wait_for(
            "the attacker's connection and the node's subscriptions",
            || {
                let seen = attacker.seen();
                let topics = *subscribed.lock().unwrap();
                if seen.connected && topics >= 2 {
                    Ok(())
                } else {
                    Err(format!("{seen:?}, {topics} topics"))
                }
            },
        );
        attacker
    }

    /// What the attacker saw so far.
    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    /// The node's peer id the attacker is connected to.
    pub fn peer_of(address: &str) -> PeerId {
        let address: Multiaddr = address.parse().unwrap();
        match address.iter().last() {
            Some(libp2p::multiaddr::Protocol::P2p(peer)) => peer,
            _ => panic!("{address} names no peer"),
        }
    }

    /// Gossips `entries` as the node's own software would publish them: batches of at most
    /// [`net::GOSSIP_BYTES`] of entries, one message each. After each message, `paced` is
    /// called with the number sent so far, to wait until the node has taken it: gossipsub
    /// drops a message that waits too long in its send queue, so a test that sends more than
    /// the node takes at once must pace them to know they all arrived. Returns the number of
    /// messages.
    pub fn gossip_entries(&self, entries: &[SignedEntry], mut paced: impl FnMut(usize)) -> usize {
        let mut messages = 0;
        let mut batch = Vec::new();
        let mut bytes = 0;
        for entry in entries {
            let size = tally_sdk::codec::encoded_len("entry", entry).unwrap();
            if !batch.is_empty() && bytes + size > net::GOSSIP_BYTES {
                self.publish_batch(std::mem::take(&mut batch));
                messages += 1;
                paced(messages);
                bytes = 0;
            }
            bytes += size;
            batch.push(entry.clone());
        }
        if !batch.is_empty() {
            self.publish_batch(batch);
            messages += 1;
            paced(messages);
        }
        messages
    }

    fn publish_batch(&self, entries: Vec<SignedEntry>) {
        let data = wire::encode("gossip batch", &GossipBatch { entries }).unwrap();
        self.publish(net::entries_topic(&self.genesis), data);
    }

    /// Publishes raw bytes on a topic (what a dishonest node may put there).
    pub fn publish(&self, topic: IdentTopic, data: Vec<u8>) {
        let (done, taken) = oneshot::channel();
        self.commands
            .send(Command::Publish { topic, data, done })
            .unwrap();
        taken.blocking_recv().unwrap();
    }

    /// Sends the node private-field deliveries; its answers (`None`: the request failed, as
    /// it does once the node has banned the attacker).
    pub fn deliver(&self, deliveries: Vec<Delivery>) -> Option<Vec<DeliveryAnswer>> {
        let (done, answer) = oneshot::channel();
        self.commands
            .send(Command::Deliver { deliveries, done })
            .ok()?;
        answer.blocking_recv().ok().flatten()
    }

    /// Sends the node a sync request; its answer (`None`: the request failed, as it does once
    /// the node has banned the attacker).
    pub fn ask(&self, request: SyncRequest) -> Option<SyncResponse> {
        let (done, answer) = oneshot::channel();
        self.commands.send(Command::Ask { request, done }).ok()?;
        answer.blocking_recv().ok().flatten()
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
