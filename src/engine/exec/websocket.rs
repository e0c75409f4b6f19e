//! A WebSocket call (RFC 6455, on tokio-tungstenite): a connection of its
//! own (TCP, the proxy's tunnel or the unix socket, TLS for `wss://`), the
//! upgrade handshake, then the call's messages sent on its schedule while
//! the answers are read, each recorded in the call's rows as it happens
//! (`sent:`, `first:` and `msg:NAME`, as a gRPC stream's), then the close
//! handshake. The call is the request's row, from its start to the close.
//!
//! One task does both sides: a message is handed to the socket only when
//! the socket takes one (`poll_ready`, then `start_send`, which never
//! loses it) and flushed on its own, so a server that stops reading holds
//! the sender back without holding back the answers. Pings are answered by
//! tungstenite (the reply goes with the next write or flush; one pending
//! reply at most, whatever the flood). Frames and messages over `[http]
//! max_body` are refused before anything is allocated for them.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::{Sink, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

use super::{Carried, Failed, Requests, Sent, UserState};
use crate::client::answer::Headers;
use crate::client::check;
use crate::client::h2conn::Wire;
use crate::client::http::HttpTarget;
use crate::engine::capture;
use crate::engine::http_request;
use crate::scenario::{Auth, RequestSpec, WsSpec};
use crate::stats::{Failure, FailureKind, Recorder, Sample, StatId};

/// The reason of a connection that ended without a close frame.
const ABRUPT: &str = "closed with 1006: the connection ended without a close frame";

/// The socket's read buffer.
const READ_BUFFER: usize = 16 * 1024;

/// Messages written back to back before a flush.
const FLUSH_EVERY: usize = 64;

/// How long a call waits for the server's answer to its close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What a WebSocket call needs besides its user.
pub(super) struct Call<'a> {
    pub target: &'a HttpTarget,
    pub ws: &'a WsSpec,
    /// Its `sent:`, `first:` and `msg:` rows.
    pub rows: [StatId; 3],
    /// Where the call's latency counts from (the open model's intended
    /// start): `first:NAME` counts from it too.
    pub start: Instant,
    pub rec: &'a Recorder,
}

/// A byte stream whose bytes are counted as they cross, so that a call cut
/// anywhere counts what it carried.
struct Counted<S> {
    io: S,
    wire: Arc<Wire>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        self.wire.add_received(n as u64);
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.wire.add_sent(n as u64);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

fn micros(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_micros()).unwrap_or(u64::MAX)
}

/// A tungstenite error as a failure: a limit met, the peer's protocol
/// broken, or the transport gone.
fn ws_failure(e: tungstenite::Error) -> Failure {
    use tungstenite::Error as E;
    match e {
        E::Capacity(c) => {
            Failure::new(FailureKind::Limit, "WebSocket message over [http] max_body")
                .with_detail(c.to_string())
        }
        E::Io(io) => crate::client::h1::io_failure(io),
        E::ConnectionClosed | E::AlreadyClosed => {
            Failure::new(FailureKind::Reset, "WebSocket connection closed")
        }
        // RFC 6455's 1006: the connection ended with no close frame.
        E::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => {
            Failure::new(FailureKind::Close, ABRUPT)
        }
        E::Protocol(p) => Failure::new(FailureKind::Protocol, "WebSocket protocol error")
            .with_detail(p.to_string()),
        E::Utf8(d) => {
            Failure::new(FailureKind::Protocol, "WebSocket text that is not UTF-8").with_detail(d)
        }
        E::Http(resp) => {
            let status = resp.status().as_u16();
            let body = resp.body().as_deref().unwrap_or(&[]);
            Failure::new(
                FailureKind::Status,
                format!("HTTP {status}: the WebSocket upgrade was refused"),
            )
            .with_detail(check::excerpt(body))
        }
        other => {
            Failure::new(FailureKind::Protocol, "WebSocket error").with_detail(other.to_string())
        }
    }
}

/// A close code other than normal (1000) or going away (1001): a failure
/// of kind `close`, its code the reason.
fn close_failure(frame: Option<&CloseFrame>) -> Option<Failure> {
    let frame = frame?;
    match frame.code {
        CloseCode::Normal | CloseCode::Away => None,
        code => Some(
            Failure::new(
                FailureKind::Close,
                format!("closed with {}", u16::from(code)),
            )
            .with_detail(frame.reason.to_string()),
        ),
    }
}

impl Requests {
    /// One WebSocket call: connect, upgrade, exchange, close.
    pub(super) async fn send_ws(
        &self,
        spec: &RequestSpec,
        call: Call<'_>,
        user: &mut UserState,
    ) -> Sent {
        let ws = call.ws;
        let st = &ws.stream;
        let [sent_row, first_row, msg_row] = call.rows;
        user.wire.reset();
        let wire = user.wire.clone();
        let counted = || {
            let (s, r) = wire.get();
            Carried::new(s, r)
        };
        let fail = |failure: Failure| {
            Err(Failed {
                carried: counted(),
                failure,
            })
        };
        // The handshake: the URL's path (rendered) and the scenario's
        // headers, volley's User-Agent unless they name one.
        let request = {
            let mut ctx = user.render_ctx(&self.scenario.data);
            let mut path = String::new();
            http_request::render_path(&ws.http, &mut ctx, &mut path)?;
            let scheme = if call.target.scheme == http::uri::Scheme::HTTPS {
                "wss"
            } else {
                "ws"
            };
            let uri = format!("{scheme}://{}{path}", call.target.authority);
            let mut req = match uri.into_client_request() {
                Ok(r) => r,
                Err(e) => {
                    return fail(
                        Failure::new(FailureKind::Request, "cannot build the WebSocket handshake")
                            .with_detail(e.to_string()),
                    );
                }
            };
            let mut value = String::new();
            for (name, tpl) in &ws.http.headers {
                value.clear();
                tpl.render(&mut ctx, &mut value);
                match http::HeaderValue::from_str(&value) {
                    Ok(v) => {
                        req.headers_mut().insert(name.clone(), v);
                    }
                    Err(e) => {
                        return fail(
                            Failure::new(FailureKind::Request, "cannot build the request")
                                .with_detail(format!("header {name}: {e}")),
                        );
                    }
                }
            }
            // `[http] auth` or the URL's credentials, as an HTTP request
            // sends them (Basic, Bearer; Digest answers a challenge, which
            // an upgrade does not get).
            if !req.headers().contains_key(http::header::AUTHORIZATION)
                && matches!(ws.http.auth, Some(Auth::Basic { .. } | Auth::Bearer(_)))
            {
                value.clear();
                http_request::render_auth(&ws.http, &mut ctx, &mut value)?;
                match http::HeaderValue::from_str(&value) {
                    Ok(v) => {
                        req.headers_mut().insert(http::header::AUTHORIZATION, v);
                    }
                    Err(e) => {
                        return fail(
                            Failure::new(FailureKind::Request, "cannot build the request")
                                .with_detail(format!("authorization: {e}")),
                        );
                    }
                }
            }
            if !req.headers().contains_key(http::header::USER_AGENT) {
                req.headers_mut().insert(
                    http::header::USER_AGENT,
                    http::HeaderValue::from_static(crate::client::USER_AGENT),
                );
            }
            req
        };
        let io = call.target.open_tunnel().await.map_err(Failed::bare)?;
        let io = Counted {
            io,
            wire: wire.clone(),
        };
        let limit = ws.http.max_body;
        // tungstenite zeroes its read buffer's spare room before each read:
        // its 128 KiB default cost more than the rest of a ping-pong's
        // message (bench/run-streams). Messages larger than this still
        // arrive whole, over several reads.
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit));
        let (socket, response) =
            match tokio_tungstenite::client_async_with_config(request, io, Some(config)).await {
                Ok(x) => x,
                Err(e) => return fail(ws_failure(e)),
            };
        if let Err(f) = check::http_status(&spec.check, response.status().as_u16(), b"")
            && !spec.check.status.is_empty()
        {
            return fail(f);
        }
        let headers = if capture::needs_headers(&spec.captures) {
            Headers::Map(response.headers().clone())
        } else {
            Headers::None
        };
        let (mut tx, mut rx) = socket.split();
        let opened = Instant::now();
        let sends = !ws.messages.is_empty();
        let limit = if sends { st.messages } else { Some(0) };
        let until = st.duration.map(|d| opened + d);
        let never = opened + Duration::from_secs(365 * 24 * 3600);
        let mut due = opened;
        let mut sending = true;
        let mut awaiting = false;
        let mut unanswered: VecDeque<Instant> = VecDeque::new();
        // The messages without placeholders, made once: sending one is a
        // reference count, not a render.
        let fixed: Vec<Option<Message>> = ws
            .messages
            .iter()
            .map(|t| {
                t.as_static().map(|s| {
                    if ws.binary {
                        Message::Binary(bytes::Bytes::copy_from_slice(s.as_bytes()))
                    } else {
                        Message::Text(s.to_owned().into())
                    }
                })
            })
            .collect();
        let mut last_answer: Option<Instant> = None;
        let (mut sent_n, mut answers_n) = (0u64, 0u64);
        // Messages written to the socket's buffer and not flushed yet.
        let mut unflushed = 0usize;
        let mut last: Option<Vec<u8>> = None;
        let keep_last =
            (spec.check.needs_body() && !st.check_each) || capture::needs_body(&spec.captures);
        // How the exchange ended: None while it goes on.
        let mut closed_by_server: Option<Option<CloseFrame>> = None;
        'exchange: loop {
            let now = Instant::now();
            if sending && (limit.is_some_and(|l| sent_n >= l) || until.is_some_and(|u| now >= u)) {
                sending = false;
            }
            // The call is over when as many answers as asked for came;
            // else, once sending is over, when every message has its answer
            // (a call that sends nothing listens for its duration).
            let over = until.is_some_and(|u| now >= u);
            let done = match st.answers {
                Some(n) => answers_n >= n || (over && !sends),
                None if sends => !sending && answers_n >= sent_n && unflushed == 0,
                None => over,
            };
            if done {
                break;
            }
            let may_send = sending && !awaiting;
            let is_due = now >= due;
            // Messages due back to back go out in one write (as the gRPC
            // stream's queue of 64 does); a flush follows once none is due
            // now, or after FLUSH_EVERY of them, so none waits on the next.
            let send_now = may_send && is_due && unflushed < FLUSH_EVERY;
            let flush = unflushed > 0 && !send_now;
            tokio::select! {
                biased;
                m = rx.next() => {
                    // The answers already read with this one arrived with it:
                    // taken in turn, on one clock reading, with no turn of
                    // the loop between.
                    let at = Instant::now();
                    let mut m = m;
                    loop {
                        let payload = match &m {
                            Some(Ok(Message::Text(t))) => Some(t.as_bytes()),
                            Some(Ok(Message::Binary(b))) => Some(&b[..]),
                            // Answered by tungstenite; nothing to count.
                            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => None,
                            Some(Ok(Message::Close(frame))) => {
                                closed_by_server = Some(frame.clone());
                                break 'exchange;
                            }
                            Some(Err(_)) | None => {
                                let f = match m {
                                    Some(Err(e)) => ws_failure(e),
                                    _ => Failure::new(FailureKind::Close, ABRUPT),
                                };
                                return fail(f);
                            }
                        };
                        if let Some(p) = payload {
                            let mut a = Answers {
                                n: &mut answers_n,
                                unanswered: &mut unanswered,
                                last_answer: &mut last_answer,
                                first_row,
                                msg_row,
                                opened,
                            };
                            if let Err(f) = self.answer(spec, &call, p, at, &mut a) {
                                return fail(f);
                            }
                            if keep_last {
                                last = Some(p.to_vec());
                            }
                            if awaiting {
                                awaiting = false;
                                due = at + st.interval;
                            }
                            if st.answers.is_some_and(|n| answers_n >= n) {
                                break;
                            }
                        }
                        match std::future::poll_fn(|cx| Poll::Ready(rx.poll_next_unpin(cx))).await {
                            Poll::Ready(next) => m = next,
                            Poll::Pending => break,
                        }
                    }
                },
                r = std::future::poll_fn(|cx| {
                    if send_now {
                        Pin::new(&mut tx).poll_ready(cx).map(Writer::Ready)
                    } else {
                        Pin::new(&mut tx).poll_flush(cx).map(Writer::Flushed)
                    }
                }), if flush || send_now => match r {
                    Writer::Flushed(r) => {
                        if let Err(e) = r {
                            return fail(ws_failure(e));
                        }
                        unflushed = 0;
                    }
                    Writer::Ready(Err(e)) => return fail(ws_failure(e)),
                    Writer::Ready(Ok(())) => {
                        // A burst: every message due now goes while the
                        // socket takes it without waiting, up to
                        // FLUSH_EVERY, timed by one clock read and with no
                        // turn of the loop (and no read attempt) between.
                        let at = Instant::now();
                        loop {
                            let k = usize::try_from(sent_n).unwrap_or(0) % ws.messages.len().max(1);
                            let msg = match fixed.get(k) {
                                Some(Some(m)) => m.clone(),
                                _ => {
                                    if sent_n > 0 {
                                        // Each message picks its own data rows.
                                        for p in user.picked.iter_mut() {
                                            *p = None;
                                        }
                                    }
                                    let mut text = String::new();
                                    if let Some(t) = ws.messages.get(k) {
                                        let mut ctx = user.render_ctx(&self.scenario.data);
                                        t.render(&mut ctx, &mut text);
                                    }
                                    if ws.binary { Message::Binary(text.into_bytes().into()) } else { Message::Text(text.into()) }
                                }
                            };
                            let size = msg.len() as u64;
                            if let Err(e) = Pin::new(&mut tx).start_send(msg) {
                                return fail(ws_failure(e));
                            }
                            unflushed += 1;
                            sent_n += 1;
                            call.rec.record(Sample {
                                first_byte: None,
                                protocol: None,
                                name: sent_row,
                                micros: micros(due, at),
                                bytes_sent: size,
                                bytes_received: 0,
                                failure: None,
                            });
                            unanswered.push_back(at);
                            if st.ping_pong {
                                awaiting = true;
                                break;
                            }
                            due = at + st.interval;
                            let more = at >= due
                                && unflushed < FLUSH_EVERY
                                && limit.is_none_or(|l| sent_n < l)
                                && until.is_none_or(|u| at < u);
                            if !more {
                                break;
                            }
                            let ready = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut tx).poll_ready(cx))).await;
                            match ready {
                                Poll::Ready(Ok(())) => {}
                                Poll::Ready(Err(e)) => return fail(ws_failure(e)),
                                Poll::Pending => break,
                            }
                        }
                    }
                },
                () = tokio::time::sleep_until(until.map_or(due, |u| u.min(due)).into()), if may_send && !is_due => {},
                // Woken at the end of the duration, once.
                () = tokio::time::sleep_until(until.unwrap_or(never).into()), if !over && until.is_some() => {},
            }
        }
        // The close handshake: volley's close answered, or the server's
        // close answered (tungstenite queues the reply; flushing sends it).
        match closed_by_server {
            Some(frame) => {
                let _ = std::future::poll_fn(|cx| Pin::new(&mut tx).poll_flush(cx)).await;
                if let Some(f) = close_failure(frame.as_ref()) {
                    return fail(f);
                }
                if let Some(n) = st.answers
                    && answers_n < n
                {
                    return fail(Failure::new(
                        FailureKind::Stream,
                        format!("{n} answers expected, the server closed after {answers_n}"),
                    ));
                }
                if st.answers.is_none() && answers_n < sent_n {
                    return fail(Failure::new(
                        FailureKind::Stream,
                        format!(
                            "{sent_n} messages sent, the server closed after {answers_n} answers"
                        ),
                    ));
                }
            }
            None => {
                let close = Message::Close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                }));
                let closing = async {
                    futures_util::SinkExt::send(&mut tx, close)
                        .await
                        .map_err(ws_failure)?;
                    // Answers still in flight are read past; the close's
                    // answer ends the call.
                    loop {
                        match rx.next().await {
                            Some(Ok(Message::Close(_))) | None => return Ok(()),
                            Some(Ok(_)) => {}
                            Some(Err(tungstenite::Error::ConnectionClosed)) => return Ok(()),
                            Some(Err(e)) => return Err(ws_failure(e)),
                        }
                    }
                };
                match tokio::time::timeout(CLOSE_WAIT, closing).await {
                    Ok(Ok(())) => {}
                    Ok(Err(f)) => return fail(f),
                    Err(_) => {
                        return fail(Failure::new(
                            FailureKind::Close,
                            format!("the server did not answer the close within {CLOSE_WAIT:?}"),
                        ));
                    }
                }
            }
        }
        if spec.check.needs_body() && !st.check_each {
            let Some(body) = &last else {
                return fail(Failure::new(FailureKind::Check, "no answer to check"));
            };
            if let Err(f) = check::body(&spec.check, body, false, None) {
                return fail(f);
            }
        }
        if !spec.captures.is_empty() {
            let body = last.unwrap_or_default();
            let seen = capture::Answer {
                body: &body,
                json: None,
                truncated: false,
                headers: &headers,
                cookies: None,
            };
            if let Err(f) =
                capture::apply(&spec.captures, &self.scenario.vars, &seen, &mut user.vars)
            {
                return fail(f);
            }
        }
        Ok(counted())
    }

    /// One answer: its rows, and its checks when each answer is checked.
    fn answer(
        &self,
        spec: &RequestSpec,
        call: &Call<'_>,
        payload: &[u8],
        at: Instant,
        a: &mut Answers<'_>,
    ) -> Result<(), Failure> {
        let size = payload.len() as u64;
        *a.n += 1;
        if *a.n == 1 {
            call.rec.record(Sample {
                first_byte: None,
                protocol: None,
                name: a.first_row,
                micros: micros(call.start, at),
                bytes_sent: 0,
                bytes_received: size,
                failure: None,
            });
        }
        // The k-th answer answers the k-th message; past the messages
        // sent, it follows the answer before it.
        let since = a
            .unanswered
            .pop_front()
            .or(*a.last_answer)
            .unwrap_or(a.opened);
        call.rec.record(Sample {
            first_byte: None,
            protocol: None,
            name: a.msg_row,
            micros: micros(since, at),
            bytes_sent: 0,
            bytes_received: size,
            failure: None,
        });
        *a.last_answer = Some(at);
        if spec.check.needs_body() && call.ws.stream.check_each {
            check::body(&spec.check, payload, false, None)?;
        }
        Ok(())
    }
}

/// What the socket's writing side became ready for.
enum Writer {
    Flushed(Result<(), tungstenite::Error>),
    Ready(Result<(), tungstenite::Error>),
}

/// What counting an answer changes.
struct Answers<'a> {
    n: &'a mut u64,
    unanswered: &'a mut VecDeque<Instant>,
    last_answer: &'a mut Option<Instant>,
    first_row: StatId,
    msg_row: StatId,
    opened: Instant,
}
