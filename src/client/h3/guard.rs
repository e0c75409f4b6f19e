//! A bound on what an HTTP/3 server can make volley hold. The h3 crate
//! keeps a frame's bytes until the whole frame has come, whatever length
//! its header declares: a server that declares a HEADERS (or unknown) frame
//! of 2^62 bytes and keeps sending would grow the client's memory for as
//! long as the request lasts. This layer sits between h3 and quinn, reads
//! the frame headers as the bytes pass (without copying them), and closes
//! the connection when a frame other than DATA (whose payload h3 hands on
//! as it comes) declares more than [`FRAME_LIMIT`] bytes, or a stream that
//! carries no frames (QPACK's, or a type volley ignores) carries more than
//! that in all. Why is kept for the failure's reason.

use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use h3::quic::{self, ConnectionErrorIncoming, StreamErrorIncoming, StreamId, WriteBuf};

/// The most bytes a frame other than DATA may declare, and a stream without
/// frames may carry: far above a real answer's header section (volley
/// accepts 16 KiB of headers, decoded) or a control stream's SETTINGS.
pub const FRAME_LIMIT: u64 = 64 << 10;

/// The application error code volley closes a connection with when the
/// limit is passed: H3_EXCESSIVE_LOAD (RFC 9114 §8.1).
const H3_EXCESSIVE_LOAD: u32 = 0x107;

/// HTTP/3 frame type DATA, whose payload is streamed, not held.
const DATA: u64 = 0x0;

/// Unidirectional stream type of the control stream, the only one the
/// client reads frames from (RFC 9114 §6.2).
const CONTROL: u64 = 0x0;

/// Why a connection was closed by the guard, once; shared by the
/// connection's streams and the requests on it.
pub type Tripped = Arc<OnceLock<String>>;

/// Which varint of the stream is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// A unidirectional stream's type.
    StreamType,
    FrameType,
    /// The length of a frame of this type.
    Length(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a varint: the value so far and how many bytes of it are still to
    /// come (None before its first byte, which says how long it is).
    Varint {
        field: Field,
        value: u64,
        left: Option<u8>,
    },
    /// In a frame's payload: bytes left of it.
    Payload(u64),
    /// A stream without frames: bytes it may still carry.
    Unframed(u64),
}

/// Reads frame headers as a stream's bytes pass.
#[derive(Debug, Clone, Copy)]
pub struct Frames {
    state: State,
}

impl Frames {
    /// A request stream: frames from its first byte.
    pub fn request() -> Self {
        Frames {
            state: State::Varint {
                field: Field::FrameType,
                value: 0,
                left: None,
            },
        }
    }

    /// A unidirectional stream the server opened: its type first.
    pub fn unidirectional() -> Self {
        Frames {
            state: State::Varint {
                field: Field::StreamType,
                value: 0,
                left: None,
            },
        }
    }

    /// Reads `bytes`; Err with why when they pass the limit.
    pub fn read(&mut self, mut bytes: &[u8]) -> Result<(), String> {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Payload(left) => {
                    let n = (*left).min(bytes.len() as u64);
                    *left -= n;
                    // n ≤ bytes.len(), which is a usize.
                    bytes = &bytes[n as usize..];
                    if *left == 0 {
                        self.state = frame_type();
                    }
                }
                State::Unframed(left) => {
                    let n = bytes.len() as u64;
                    if n > *left {
                        return Err(format!(
                            "the server sent more than {FRAME_LIMIT} bytes on a stream volley reads no frames from"
                        ));
                    }
                    *left -= n;
                    bytes = &[];
                }
                State::Varint { field, value, left } => {
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    let rest = match left {
                        None => {
                            *value = u64::from(b & 0x3f);
                            // The two high bits: 1, 2, 4 or 8 bytes in all.
                            (1u8 << (b >> 6)) - 1
                        }
                        Some(n) => {
                            *value = (*value << 8) | u64::from(b);
                            *n - 1
                        }
                    };
                    if rest > 0 {
                        *left = Some(rest);
                        continue;
                    }
                    let (field, value) = (*field, *value);
                    self.state = match field {
                        Field::StreamType if value == CONTROL => frame_type(),
                        Field::StreamType => State::Unframed(FRAME_LIMIT),
                        Field::FrameType => State::Varint {
                            field: Field::Length(value),
                            value: 0,
                            left: None,
                        },
                        Field::Length(DATA) => payload(value),
                        Field::Length(ty) if value > FRAME_LIMIT => {
                            return Err(format!(
                                "the server declared an HTTP/3 frame (type {ty:#x}) of {value} bytes, more than the {FRAME_LIMIT} volley holds"
                            ));
                        }
                        Field::Length(_) => payload(value),
                    };
                }
            }
        }
        Ok(())
    }
}

fn frame_type() -> State {
    State::Varint {
        field: Field::FrameType,
        value: 0,
        left: None,
    }
}

fn payload(len: u64) -> State {
    if len == 0 {
        frame_type()
    } else {
        State::Payload(len)
    }
}

/// An h3 connection over quinn with every stream the server sends on read
/// through [`Frames`].
pub struct Connection {
    inner: h3_quinn::Connection,
    /// The streams it opens (h3 opens its own control stream and requests
    /// through the connection itself too).
    open: OpenStreams,
    quic: quinn::Connection,
    tripped: Tripped,
}

impl Connection {
    pub fn new(quic: quinn::Connection, tripped: Tripped) -> Self {
        let inner = h3_quinn::Connection::new(quic.clone());
        let open = OpenStreams {
            inner: quic::Connection::<Bytes>::opener(&inner),
            quic: quic.clone(),
            tripped: tripped.clone(),
        };
        Connection {
            inner,
            open,
            quic,
            tripped,
        }
    }
}

/// The streams a [`Connection`] opens.
pub struct OpenStreams {
    inner: h3_quinn::OpenStreams,
    quic: quinn::Connection,
    tripped: Tripped,
}

impl Clone for OpenStreams {
    fn clone(&self) -> Self {
        OpenStreams {
            inner: self.inner.clone(),
            quic: self.quic.clone(),
            tripped: self.tripped.clone(),
        }
    }
}

/// A stream's receiving side, read through [`Frames`].
pub struct RecvStream<S> {
    inner: S,
    frames: Frames,
    quic: quinn::Connection,
    tripped: Tripped,
}

impl<S> RecvStream<S> {
    fn new(inner: S, frames: Frames, quic: quinn::Connection, tripped: Tripped) -> Self {
        RecvStream {
            inner,
            frames,
            quic,
            tripped,
        }
    }
}

/// A request stream: quinn's sending side as is, the receiving side
/// guarded.
pub struct BidiStream<B: Buf> {
    send: h3_quinn::SendStream<B>,
    recv: RecvStream<h3_quinn::RecvStream>,
}

impl<B: Buf> quic::Connection<B> for Connection {
    type RecvStream = RecvStream<h3_quinn::RecvStream>;
    type OpenStreams = OpenStreams;

    fn poll_accept_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::RecvStream, ConnectionErrorIncoming>> {
        let s = std::task::ready!(quic::Connection::<B>::poll_accept_recv(&mut self.inner, cx))?;
        Poll::Ready(Ok(RecvStream::new(
            s,
            Frames::unidirectional(),
            self.quic.clone(),
            self.tripped.clone(),
        )))
    }

    fn poll_accept_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::BidiStream, ConnectionErrorIncoming>> {
        // A server opens no request streams to a client (RFC 9114 §6.1);
        // volley's transport allows it none, so this only ends with the
        // connection.
        let s = std::task::ready!(quic::Connection::<B>::poll_accept_bidi(&mut self.inner, cx))?;
        let (send, recv) = quic::BidiStream::split(s);
        Poll::Ready(Ok(BidiStream {
            send,
            recv: RecvStream::new(
                recv,
                Frames::request(),
                self.quic.clone(),
                self.tripped.clone(),
            ),
        }))
    }

    fn opener(&self) -> Self::OpenStreams {
        self.open.clone()
    }
}

impl<B: Buf> quic::OpenStreams<B> for Connection {
    type BidiStream = BidiStream<B>;
    type SendStream = h3_quinn::SendStream<B>;

    fn poll_open_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::BidiStream, StreamErrorIncoming>> {
        quic::OpenStreams::<B>::poll_open_bidi(&mut self.open, cx)
    }

    fn poll_open_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::SendStream, StreamErrorIncoming>> {
        quic::OpenStreams::<B>::poll_open_send(&mut self.open, cx)
    }

    fn close(&mut self, code: h3::error::Code, reason: &[u8]) {
        quic::OpenStreams::<B>::close(&mut self.open, code, reason);
    }
}

impl<B: Buf> quic::OpenStreams<B> for OpenStreams {
    type BidiStream = BidiStream<B>;
    type SendStream = h3_quinn::SendStream<B>;

    fn poll_open_bidi(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::BidiStream, StreamErrorIncoming>> {
        let s = std::task::ready!(quic::OpenStreams::<B>::poll_open_bidi(&mut self.inner, cx))?;
        Poll::Ready(Ok(guarded_bidi(s, &self.quic, &self.tripped)))
    }

    fn poll_open_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::SendStream, StreamErrorIncoming>> {
        quic::OpenStreams::<B>::poll_open_send(&mut self.inner, cx)
    }

    fn close(&mut self, code: h3::error::Code, reason: &[u8]) {
        quic::OpenStreams::<B>::close(&mut self.inner, code, reason);
    }
}

fn guarded_bidi<B: Buf>(
    s: h3_quinn::BidiStream<B>,
    quic: &quinn::Connection,
    tripped: &Tripped,
) -> BidiStream<B> {
    let (send, recv) = quic::BidiStream::split(s);
    BidiStream {
        send,
        recv: RecvStream::new(recv, Frames::request(), quic.clone(), tripped.clone()),
    }
}

impl<S: quic::RecvStream<Buf = Bytes>> quic::RecvStream for RecvStream<S> {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        let data = std::task::ready!(self.inner.poll_data(cx))?;
        if let Some(d) = &data
            && let Err(why) = self.frames.read(d.chunk())
        {
            tracing::debug!("closing an HTTP/3 connection: {why}");
            let _ = self.tripped.set(why.clone());
            self.quic.close(
                quinn::VarInt::from_u32(H3_EXCESSIVE_LOAD),
                b"frame too large",
            );
            return Poll::Ready(Err(StreamErrorIncoming::ConnectionErrorIncoming {
                connection_error: ConnectionErrorIncoming::InternalError(why),
            }));
        }
        Poll::Ready(Ok(data))
    }

    fn stop_sending(&mut self, error_code: u64) {
        self.inner.stop_sending(error_code);
    }

    fn recv_id(&self) -> StreamId {
        self.inner.recv_id()
    }
}

impl<B: Buf> quic::RecvStream for BidiStream<B> {
    type Buf = Bytes;

    fn poll_data(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, StreamErrorIncoming>> {
        self.recv.poll_data(cx)
    }

    fn stop_sending(&mut self, error_code: u64) {
        quic::RecvStream::stop_sending(&mut self.recv, error_code);
    }

    fn recv_id(&self) -> StreamId {
        quic::RecvStream::recv_id(&self.recv)
    }
}

impl<B: Buf> quic::SendStream<B> for BidiStream<B> {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.send.poll_ready(cx)
    }

    fn send_data<T: Into<WriteBuf<B>>>(&mut self, data: T) -> Result<(), StreamErrorIncoming> {
        self.send.send_data(data)
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamErrorIncoming>> {
        self.send.poll_finish(cx)
    }

    fn reset(&mut self, reset_code: u64) {
        self.send.reset(reset_code);
    }

    fn send_id(&self) -> StreamId {
        self.send.send_id()
    }
}

impl<B: Buf> quic::BidiStream<B> for BidiStream<B> {
    type SendStream = h3_quinn::SendStream<B>;
    type RecvStream = RecvStream<h3_quinn::RecvStream>;

    fn split(self) -> (Self::SendStream, Self::RecvStream) {
        (self.send, self.recv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A QUIC varint of `v` in the shortest form.
    fn varint(v: u64) -> Vec<u8> {
        match v {
            0..=0x3f => vec![v as u8],
            0x40..=0x3fff => ((v as u16) | 0x4000).to_be_bytes().to_vec(),
            0x4000..=0x3fff_ffff => ((v as u32) | 0x8000_0000).to_be_bytes().to_vec(),
            _ => (v | 0xc000_0000_0000_0000).to_be_bytes().to_vec(),
        }
    }

    fn frame(ty: u64, payload: &[u8]) -> Vec<u8> {
        let mut f = varint(ty);
        f.extend(varint(payload.len() as u64));
        f.extend_from_slice(payload);
        f
    }

    /// Feeds `bytes` in pieces of `size`.
    fn feed(frames: &mut Frames, bytes: &[u8], size: usize) -> Result<(), String> {
        bytes.chunks(size).try_for_each(|c| frames.read(c))
    }

    #[test]
    fn an_answer_of_headers_data_and_trailers_passes_in_any_pieces() {
        let mut answer = frame(0x1, &[7; 300]);
        answer.extend(frame(DATA, &[1; 100_000]));
        answer.extend(frame(0x21, b"grease"));
        answer.extend(frame(DATA, &[]));
        answer.extend(frame(0x1, &[9; 40]));
        for size in [1, 2, 3, 7, 1000, answer.len()] {
            let mut f = Frames::request();
            assert_eq!(feed(&mut f, &answer, size), Ok(()), "pieces of {size}");
            assert_eq!(f.state, frame_type(), "ends between frames");
        }
    }

    #[test]
    fn a_frame_declaring_two_to_the_62_bytes_is_refused_at_its_header() {
        for ty in [0x1, 0x21, 0x7] {
            let mut f = Frames::request();
            let mut bytes = varint(ty);
            bytes.extend(varint((1 << 62) - 1));
            let why = feed(&mut f, &bytes, 1).unwrap_err();
            assert!(why.contains("4611686018427387903 bytes"), "{why}");
        }
        // DATA streams on, however long.
        let mut f = Frames::request();
        let mut bytes = varint(DATA);
        bytes.extend(varint((1 << 62) - 1));
        bytes.extend([0; 1 << 16]);
        assert_eq!(f.read(&bytes), Ok(()));
    }

    #[test]
    fn a_header_section_at_the_limit_passes_and_one_past_it_does_not() {
        let mut at = Frames::request();
        assert_eq!(at.read(&frame(0x1, &vec![0; FRAME_LIMIT as usize])), Ok(()));
        let mut past = Frames::request();
        assert!(
            past.read(&frame(0x1, &vec![0; FRAME_LIMIT as usize + 1]))
                .is_err()
        );
    }

    #[test]
    fn control_streams_are_framed_and_others_bounded_in_all() {
        let mut control = varint(CONTROL);
        control.extend(frame(0x4, &[1, 2, 3, 4]));
        let mut f = Frames::unidirectional();
        assert_eq!(feed(&mut f, &control, 1), Ok(()));
        let mut bad = varint(CONTROL);
        bad.extend(varint(0x4));
        bad.extend(varint(1 << 40));
        assert!(Frames::unidirectional().read(&bad).is_err());
        // A QPACK encoder stream (type 2): bytes without frames, bounded.
        let mut qpack = Frames::unidirectional();
        assert_eq!(qpack.read(&varint(0x2)), Ok(()));
        assert_eq!(qpack.read(&vec![0x3f; FRAME_LIMIT as usize]), Ok(()));
        assert!(qpack.read(&[0]).is_err());
    }
}
