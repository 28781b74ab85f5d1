//! The network shell's attestation work ([`tally_sdk::reports::attestation`]): gathering, for an
//! evidence bundle this node builds, every connected member's attestation of what it holds
//! about the product, and this node's own; and attesting for other members' nodes.
//!
//! The API asks through [`NetHandle::attestations`](super::NetHandle::attestations). The
//! shell asks every connected member's node at once (`SyncRequest::Attest`), makes its own on
//! the blocking pool, and answers with what it has when all have answered or failed, or after
//! [`ATTEST_WAIT`]. An answer in another member's name or of another product is dropped here;
//! signatures and contents are checked once, with the bundle's entries
//! ([`crate::products::bundle`]), which leaves out and logs any attestation that does not hold
//! (the bundle then shows less complete, never wrong). A node attests for others at most
//! [`MAX_ATTESTING`] at a time; past that it refuses.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::request_response::OutboundRequestId;
use tally_sdk::crypto::SigningKey;
use tally_sdk::gs1::ProductId;
use tally_sdk::ids::MemberId;
use tally_sdk::reports::attestation::Attestation;
use tally_sdk::time::Timestamp;
use tokio::sync::{mpsc, oneshot};

use super::super::codec::Inbound;
use super::super::engine::ReplyToken;
use super::super::wire::{SyncRequest, SyncResponse};
use super::{Back, Shell};
use crate::attest::{AttestError, attest};

/// How long a bundle waits for members' attestations.
pub const ATTEST_WAIT: Duration = Duration::from_secs(3);

/// Most attestations made for other nodes at once (each reads the product's entries).
const MAX_ATTESTING: usize = 8;

/// The API's request for a product's attestations.
#[derive(Debug)]
pub struct AttestAsk {
    pub(super) product: ProductId,
    pub(super) reply: oneshot::Sender<Vec<Attestation>>,
}

impl AttestAsk {
    /// A request, and where its answer comes.
    pub fn new(product: ProductId) -> (Self, oneshot::Receiver<Vec<Attestation>>) {
        let (reply, answer) = oneshot::channel();
        (Self { product, reply }, answer)
    }
}

/// One bundle's attestations being gathered.
struct Gathering {
    product: ProductId,
    reply: oneshot::Sender<Vec<Attestation>>,
    /// Answers still awaited (the node's own included).
    waiting: usize,
    got: Vec<Attestation>,
    deadline: Instant,
}

/// The shell's attestation state.
pub(super) struct Attesting {
    key: SigningKey,
    gatherings: HashMap<u64, Gathering>,
    requests: HashMap<OutboundRequestId, (u64, MemberId)>,
    next: u64,
    /// Attestations being made for other nodes.
    serving: usize,
}

/// Answers of attestation work on the blocking pool.
pub(super) enum AttestBack {
    /// The node's own, for one of its gatherings (`None` if it could not be made).
    Own {
        gathering: u64,
        attestation: Option<Attestation>,
    },
    /// One made for another node.
    Served {
        token: ReplyToken,
        response: SyncResponse,
    },
}

impl Attesting {
    pub(super) fn new(key: SigningKey) -> Self {
        Self {
            key,
            gatherings: HashMap::new(),
            requests: HashMap::new(),
            next: 0,
            serving: 0,
        }
    }

    /// The gathering and peer of an outbound request, if it is one of this module's.
    pub(super) fn take_request(&mut self, id: &OutboundRequestId) -> Option<(u64, MemberId)> {
        self.requests.remove(id)
    }
}

impl Shell {
    /// Starts gathering the attestations the API asked for.
    pub(super) fn on_attest_ask(&mut self, ask: AttestAsk) {
        self.attesting.next += 1;
        let gathering = self.attesting.next;
        let product = ask.product.as_str().to_owned();
        let mut waiting = 1;
        for member in self.connected_members() {
            let Some(peer) = self.members.get(&member).copied() else {
                continue;
            };
            let id = self.swarm.behaviour_mut().sync.send_request(
                &peer,
                Inbound::Ok(SyncRequest::Attest {
                    product: product.clone(),
                }),
            );
            self.attesting.requests.insert(id, (gathering, member));
            waiting += 1;
        }
        self.make_own(gathering, ask.product.clone());
        self.attesting.gatherings.insert(
            gathering,
            Gathering {
                product: ask.product,
                reply: ask.reply,
                waiting,
                got: Vec::new(),
                deadline: Instant::now() + ATTEST_WAIT,
            },
        );
    }

    fn make_own(&self, gathering: u64, product: ProductId) {
        self.spawn_attest(product, move |attestation| {
            Back::Attest(AttestBack::Own {
                gathering,
                attestation: attestation
                    .inspect_err(|error| tracing::warn!(%error, "cannot attest a product"))
                    .ok(),
            })
        });
    }

    /// Makes this node's attestation of `product` on the blocking pool, and sends what
    /// `back` makes of it to the shell.
    fn spawn_attest(
        &self,
        product: ProductId,
        back: impl FnOnce(Result<Attestation, AttestError>) -> Back + Send + 'static,
    ) {
        let store = self.store.clone();
        let genesis = self.governance.current();
        let me = self.me.clone();
        let key = self.attesting.key.clone();
        let sender = self.back_tx.clone();
        tokio::task::spawn_blocking(move || {
            let made = attest(
                store.as_ref(),
                &genesis,
                &me,
                &key,
                &product,
                Timestamp::now(),
            );
            let _ = sender.blocking_send(back(made));
        });
    }

    /// A member's answer to an attestation request (`None`: the request failed).
    pub(super) fn on_attestation(
        &mut self,
        gathering: u64,
        from: MemberId,
        response: Option<SyncResponse>,
    ) {
        let Some(found) = self.attesting.gatherings.get_mut(&gathering) else {
            return;
        };
        found.waiting = found.waiting.saturating_sub(1);
        match response {
            Some(SyncResponse::Attestation(attestation)) => {
                if attestation.body.attester == from
                    && attestation.body.product == found.product.as_str()
                {
                    found.got.push(*attestation);
                } else {
                    tracing::warn!(%from, "an attestation in another's name or of another product, dropped");
                }
            }
            Some(SyncResponse::Refused) | None => {
                tracing::debug!(%from, "no attestation from {from}");
            }
            Some(_) => tracing::warn!(%from, "an answer to an attestation request that is not one"),
        }
        self.attest_due(Instant::now());
    }

    /// Work done on the blocking pool.
    pub(super) fn on_attest_back(&mut self, back: AttestBack) {
        match back {
            AttestBack::Own {
                gathering,
                attestation,
            } => {
                if let Some(found) = self.attesting.gatherings.get_mut(&gathering) {
                    found.waiting = found.waiting.saturating_sub(1);
                    found.got.extend(attestation);
                }
                self.attest_due(Instant::now());
            }
            AttestBack::Served { token, response } => {
                self.attesting.serving = self.attesting.serving.saturating_sub(1);
                self.respond(token, response);
            }
        }
    }

    /// Answers the gatherings that are complete or past their time.
    pub(super) fn attest_due(&mut self, now: Instant) {
        let done: Vec<u64> = self
            .attesting
            .gatherings
            .iter()
            .filter(|(_, g)| g.waiting == 0 || g.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            if let Some(gathering) = self.attesting.gatherings.remove(&id) {
                let _ = gathering.reply.send(gathering.got);
            }
        }
    }

    /// Attests `product` for another member's node.
    pub(super) fn serve_attestation(&mut self, token: ReplyToken, product: String) {
        let Ok(product) = ProductId::parse(&product) else {
            self.respond(token, SyncResponse::Refused);
            return;
        };
        if self.attesting.serving >= MAX_ATTESTING {
            self.respond(token, SyncResponse::Refused);
            return;
        }
        self.attesting.serving += 1;
        self.spawn_attest(product, move |attestation| {
            let response = match attestation {
                Ok(attestation) => SyncResponse::Attestation(Box::new(attestation)),
                Err(error) => {
                    tracing::warn!(%error, "cannot attest a product for a peer");
                    SyncResponse::Refused
                }
            };
            Back::Attest(AttestBack::Served { token, response })
        });
    }
}

/// Where the API's requests go, once the network runs.
pub type AttestAsks = mpsc::Sender<AttestAsk>;
