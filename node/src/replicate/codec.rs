//! The framing of the two request-response protocols, sync ([`SyncCodec`]) and private-field
//! delivery ([`DeliveryCodec`]): one frame each way, a 4-byte big-endian length then the
//! message ([`super::wire`]), with a cap checked before any body byte is read.
//!
//! A request that does not decode is not an IO error: request-response would drop it without
//! telling anyone, and the engine could not hold it against its sender. It is read as
//! [`Inbound::Invalid`] instead, which the engine answers with `Refused` and counts as an
//! offence.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;

use super::wire::{self, SyncRequest, SyncResponse};
use crate::private::delivery::{Delivery, DeliveryAnswer};

/// The protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/tally/sync/2");

/// The private-field delivery protocol's name.
pub const DELIVERY_PROTOCOL: StreamProtocol = StreamProtocol::new("/tally/private/3");

/// Largest delivery frame: a signed entry and its sealed private fields (the SDK caps the
/// sealed plaintext at 1 MiB).
pub const MAX_DELIVERY_BYTES: usize = 4 << 20;

/// Largest request frame. Requests are small; the largest is a checkpoint pull naming every
/// member of the largest consortium twice (1,024 ids of up to 64 bytes, each with a number,
/// and the witnesses whose conflict proofs the asker holds).
pub const MAX_REQUEST_BYTES: usize = 160 << 10;

/// A request as read: decoded, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A well-formed request.
    Ok(SyncRequest),
    /// A frame that was too large or did not decode.
    Invalid(&'static str),
}

/// The codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    max: usize,
) -> io::Result<Result<Vec<u8>, &'static str>> {
    let mut length = [0u8; 4];
    io.read_exact(&mut length).await?;
    let length = u64::from(u32::from_be_bytes(length));
    if length > max as u64 {
        return Ok(Err("a frame over the size cap"));
    }
    let mut bytes = Vec::new();
    io.take(length).read_to_end(&mut bytes).await?;
    if bytes.len() as u64 != length {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Ok(bytes))
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    let length = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&length.to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.flush().await
}

/// Reads a frame of at most `max` bytes that must decode as `what`: for a response, which
/// fails the request if it does not.
async fn read_message<T, M>(io: &mut T, max: usize, what: &'static str) -> io::Result<M>
where
    T: AsyncRead + Unpin + Send,
    M: serde::de::DeserializeOwned + serde::Serialize,
{
    let bytes = read_frame(io, max)
        .await?
        .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, why))?;
    wire::decode(what, &bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Writes `message`, encoded as `what`, as one frame.
async fn write_message<T, M>(io: &mut T, what: &'static str, message: &M) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
    M: serde::Serialize,
{
    let bytes = wire::encode(what, message).map_err(io::Error::other)?;
    write_frame(io, &bytes).await
}

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Inbound;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Inbound>
    where
        T: AsyncRead + Unpin + Send,
    {
        Ok(match read_frame(io, MAX_REQUEST_BYTES).await? {
            Err(why) => Inbound::Invalid(why),
            Ok(bytes) => match wire::decode("sync request", &bytes) {
                Ok(request) => Inbound::Ok(request),
                Err(_) => Inbound::Invalid("a request that does not decode"),
            },
        })
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io, wire::MAX_MESSAGE_BYTES, "sync response").await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Inbound,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let Inbound::Ok(request) = request else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an invalid request is never sent",
            ));
        };
        write_message(io, "sync request", &request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: SyncResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, "sync response", &response).await
    }
}

/// A delivery request as read: its deliveries, or why it is not well formed (answered with an
/// empty answer, not dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryInbound {
    /// Well-formed deliveries, one per entry.
    Ok(Vec<Delivery>),
    /// A frame that was too large or did not decode.
    Invalid(&'static str),
}

/// The delivery protocol's codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryCodec;

impl request_response::Codec for DeliveryCodec {
    type Protocol = StreamProtocol;
    type Request = DeliveryInbound;
    /// One answer per delivery, in order.
    type Response = Vec<DeliveryAnswer>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Self::Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        Ok(match read_frame(io, MAX_DELIVERY_BYTES).await? {
            Err(why) => DeliveryInbound::Invalid(why),
            Ok(bytes) => match wire::decode::<Vec<Delivery>>("deliveries", &bytes) {
                Ok(deliveries) => DeliveryInbound::Ok(deliveries),
                Err(_) => DeliveryInbound::Invalid("deliveries that do not decode"),
            },
        })
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<DeliveryAnswer>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io, MAX_REQUEST_BYTES, "delivery answers").await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: DeliveryInbound,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let DeliveryInbound::Ok(deliveries) = request else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an invalid delivery is never sent",
            ));
        };
        write_message(io, "deliveries", &deliveries).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        answers: Vec<DeliveryAnswer>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, "delivery answers", &answers).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use futures::executor::block_on;
    use futures::io::Cursor;
    use libp2p::request_response::Codec as _;
    use tally_sdk::hash::EntryHash;
    use tally_sdk::ids::MemberId;

    use super::*;
    use crate::replicate::wire::HeadInfo;

    fn frame(bytes: &[u8]) -> Vec<u8> {
        let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn requests_and_responses_round_trip_through_frames() {
        let request = SyncRequest::Range {
            author: MemberId::new("supplier").unwrap(),
            from: 3,
            limit: 100,
        };
        let mut written = Vec::new();
        block_on(SyncCodec.write_request(
            &PROTOCOL,
            &mut Cursor::new(&mut written),
            Inbound::Ok(request.clone()),
        ))
        .unwrap();
        let read = block_on(SyncCodec.read_request(&PROTOCOL, &mut Cursor::new(written))).unwrap();
        assert_eq!(read, Inbound::Ok(request));

        let response = SyncResponse::Heads {
            heads: vec![HeadInfo {
                author: MemberId::new("platform").unwrap(),
                seq: 9,
                hash: EntryHash::digest(b"h"),
            }],
            forks: Vec::new(),
        };
        let mut written = Vec::new();
        block_on(SyncCodec.write_response(
            &PROTOCOL,
            &mut Cursor::new(&mut written),
            response.clone(),
        ))
        .unwrap();
        let read = block_on(SyncCodec.read_response(&PROTOCOL, &mut Cursor::new(written))).unwrap();
        assert_eq!(read, response);
    }

    #[test]
    fn bad_requests_are_read_as_invalid_not_dropped() {
        let garbage = frame(&[0xff, 0xff, 0xff]);
        let read = block_on(SyncCodec.read_request(&PROTOCOL, &mut Cursor::new(garbage))).unwrap();
        assert!(matches!(read, Inbound::Invalid(_)));
        // Over the cap: refused from the length alone.
        let mut huge = ((MAX_REQUEST_BYTES + 1) as u32).to_be_bytes().to_vec();
        huge.extend_from_slice(&[0; 16]);
        let read = block_on(SyncCodec.read_request(&PROTOCOL, &mut Cursor::new(huge))).unwrap();
        assert_eq!(read, Inbound::Invalid("a frame over the size cap"));
        // A frame cut short is an IO error (the stream ended).
        let mut short = frame(&[1, 2, 3, 4]);
        short.truncate(6);
        assert!(block_on(SyncCodec.read_request(&PROTOCOL, &mut Cursor::new(short))).is_err());
        // A bad response is an error, which request-response reports as an outbound failure.
        let bad = frame(&[7, 7]);
        assert!(block_on(SyncCodec.read_response(&PROTOCOL, &mut Cursor::new(bad))).is_err());
    }
}
