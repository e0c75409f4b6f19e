//! A streaming gRPC call (client, server or bidirectional): the user's own
//! task sends messages on the stream's schedule while it reads the answers,
//! and records every message sent and every answer in the call's own rows
//! (`sent:`, `first:` and `msg:NAME`) as they happen; the call itself is
//! the request's row, from its start to the server's status.
//!
//! One task does both sides, so nothing is shared and nothing is spawned:
//! a message is handed to tonic through a queue of [`QUEUE`] messages, and a
//! place in it is asked for only when the message is due, so a server that
//! stops reading holds the sender back (flow control fills the queue)
//! without holding back the answers.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{Carried, Failed, Requests, Sent, UserState};
use crate::client::answer::Headers;
use crate::client::check;
use crate::client::grpc::{self, GrpcCall, RawCodec, Streaming};
use crate::engine::capture;
use crate::scenario::StreamSpec;
use crate::stats::{Failure, FailureKind, Recorder, Sample, StatId};

/// What a streaming call needs besides its user.
pub(super) struct Stream<'a> {
    pub idx: usize,
    /// Index of its gRPC target.
    pub target: usize,
    pub call: &'a GrpcCall,
    pub spec: &'a StreamSpec,
    /// Its `sent:`, `first:` and `msg:` rows.
    pub rows: [StatId; 3],
    /// Where the call's latency counts from (the open model's intended
    /// start): `first:NAME` counts from it too.
    pub start: Instant,
    pub rec: &'a Recorder,
}

/// Messages queued for tonic at most. tonic writes every message queued
/// when it writes, so messages sent back to back leave in few frames and
/// writes, as grpc-go's client sends them; with a queue of one, each message
/// was a frame and a write of its own, which cost the server (predict-grpc)
/// about seven times more CPU per message and held volley to a sixth of the
/// rate. A message waits in the queue only while the transport is behind:
/// that wait is in its latency.
const QUEUE: usize = 64;

/// gRPC's framing: a flag byte and a 4-byte length before each message.
const FRAME: u64 = 5;

/// The next answer, or never when the answers have not begun.
async fn next_answer(
    answers: Option<&mut tonic::Streaming<Bytes>>,
) -> Result<Option<Bytes>, tonic::Status> {
    match answers {
        Some(a) => a.message().await,
        None => std::future::pending().await,
    }
}

/// A slot for the next message; None when tonic no longer takes messages
/// (the call ended) or there is no sender.
async fn slot(tx: Option<&mpsc::Sender<Bytes>>) -> Option<mpsc::Permit<'_, Bytes>> {
    match tx {
        Some(tx) => tx.reserve().await.ok(),
        None => std::future::pending().await,
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Requests {
    /// One streaming call: its bytes sent and received, or why it failed.
    /// The call's bytes are what crossed the wire (its head, its messages
    /// as sent and as they arrived, compressed or not, and its trailers),
    /// counted as they cross so that a call cut by its timeout counts what
    /// it had; a message's row counts the message as framed (5 bytes and
    /// the message, before compression).
    pub(super) async fn send_grpc_stream(&self, s: Stream<'_>, user: &mut UserState) -> Sent {
        let spec = &self.scenario.requests[s.idx];
        let kind = s.call.streaming;
        let [sent_row, first_row, msg_row] = s.rows;
        let conn = self.grpc_conn(s.target, user).await.map_err(Failed::bare)?;
        user.wire.reset();
        let wire = user.wire.clone();
        let counted = || wire.get();
        let conn = conn.counting(wire.clone());
        let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
        let req = {
            let (mut ctx, scratch) = user.render_parts(&self.scenario.data);
            s.call
                .request(ReceiverStream::new(rx), self.timeout, &mut ctx, scratch)
                .map_err(Failed::bare)?
        };
        let origin = self.grpc_endpoint(s.target).map_err(Failed::bare)?.origin();
        let mut client = s.call.client(conn, origin);
        // A connection that cannot take the call: its failure as h2 saw it.
        client.ready().await.map_err(|grpc::CallError(f)| {
            let (s, r) = counted();
            Failed::new(s, r, f)
        })?;
        let opened = Instant::now();
        // A server stream takes one message; the others as many as the
        // count or the duration allow.
        let limit = if kind.client_streams() {
            s.spec.messages
        } else {
            Some(1)
        };
        let until = s.spec.duration.map(|d| opened + d);
        // Far enough never to fire, near enough not to overflow.
        let never = opened + Duration::from_secs(365 * 24 * 3600);
        let mut tx = Some(tx);
        let mut due = opened;
        // Ping-pong: a message is out and its answer is not in yet.
        let mut awaiting = false;
        // When each message not answered yet was sent: the next answer is
        // taken as the oldest one's.
        let mut unanswered: VecDeque<Instant> = VecDeque::new();
        let mut closed_at: Option<Instant> = None;
        let mut last_answer: Option<Instant> = None;
        let (mut sent_n, mut answers_n) = (0u64, 0u64);
        let wants_json = spec.check.needs_body() || !spec.captures.is_empty();
        // The last answer, for checks on the last one only.
        let mut last: Option<(Bytes, Option<serde_json::Value>)> = None;
        let mut captured = vec![false; spec.captures.len()];
        let regex_capture = spec
            .captures
            .iter()
            .any(|c| matches!(c.from, crate::scenario::CaptureFrom::Regex(_)));
        let mut headers = Headers::None;
        let mut ended_by_volley = false;
        let mut answers: Option<tonic::Streaming<Bytes>> = None;
        let call = client.streaming(req, s.call.path.clone(), RawCodec);
        tokio::pin!(call);
        let mut refused = false;
        loop {
            let now = Instant::now();
            if tx.is_some()
                && (refused
                    || limit.is_some_and(|l| sent_n >= l)
                    || until.is_some_and(|u| now >= u))
            {
                // Closing the sending side ends the request stream (the
                // client's half-close).
                tx = None;
                closed_at = Some(now);
            }
            let may_send = tx.is_some() && !awaiting;
            let is_due = now >= due;
            // A server stream is ended by volley once its duration is over.
            let end_at = until.filter(|_| !kind.client_streams());
            tokio::select! {
                biased;
                r = &mut call, if answers.is_none() => match r {
                    Ok(resp) => {
                        let (m, stream, _) = resp.into_parts();
                        if capture::needs_headers(&spec.captures) {
                            headers = Headers::Map(m.into_headers());
                        }
                        answers = Some(stream);
                    }
                    Err(status) => return stream_status(&status, spec, counted()),
                },
                m = next_answer(answers.as_mut()), if answers.is_some() => match m {
                    Ok(Some(bytes)) => {
                        let at = Instant::now();
                        let size = (bytes.len() as u64).saturating_add(FRAME);
                        answers_n += 1;
                        if answers_n == 1 {
                            s.rec.record(Sample {
                                first_byte: None,
                                protocol: None,
                                name: first_row,
                                micros: micros(at.saturating_duration_since(s.start)),
                                bytes_sent: 0,
                                bytes_received: size,
                                failure: None,
                            });
                        }
                        // A client stream's one answer comes after the
                        // sending side closed; others answer messages in
                        // order, or (past the messages sent) follow the
                        // previous answer.
                        let since = if kind == Streaming::Client {
                            closed_at.unwrap_or(opened)
                        } else {
                            unanswered
                                .pop_front()
                                .or(last_answer)
                                .unwrap_or(opened)
                        };
                        s.rec.record(Sample {
                            first_byte: None,
                            protocol: None,
                            name: msg_row,
                            micros: micros(at.saturating_duration_since(since)),
                            bytes_sent: 0,
                            bytes_received: size,
                            failure: None,
                        });
                        last_answer = Some(at);
                        if awaiting {
                            awaiting = false;
                            due = at + s.spec.interval;
                        }
                        let json = wants_json
                            .then(|| s.call.decode_json(&bytes))
                            .transpose()
                            .map_err(|f| with_counts(counted(), f))?;
                        if spec.check.needs_body() && s.spec.check_each {
                            check::body(&spec.check, &bytes, false, json.as_ref())
                                .map_err(|f| with_counts(counted(), f))?;
                        }
                        if let Some(j) = &json
                            && !spec.captures.is_empty()
                        {
                            // Each capture takes its value from the last
                            // answer that has it. Only a regex reads the
                            // answer as text: written out only for one.
                            let text = if regex_capture { j.to_string() } else { String::new() };
                            let seen = capture::Answer {
                                body: text.as_bytes(),
                                json: Some(j),
                                truncated: false,
                                headers: &headers,
                                cookies: None,
                            };
                            for (c, got) in spec.captures.iter().zip(captured.iter_mut()) {
                                if capture::apply(
                                    std::slice::from_ref(c),
                                    &self.scenario.vars,
                                    &seen,
                                    &mut user.vars,
                                )
                                .is_ok()
                                {
                                    *got = true;
                                }
                            }
                        }
                        if spec.check.needs_body() && !s.spec.check_each {
                            last = Some((bytes, json));
                        }
                        if s.spec.answers.is_some_and(|n| answers_n >= n) {
                            // As many answers as asked for: volley ends the
                            // call (its stream is reset), and it passes.
                            ended_by_volley = true;
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(status) => return stream_status(&status, spec, counted()),
                },
                permit = slot(tx.as_ref()), if may_send && is_due => {
                    let Some(permit) = permit else {
                        // tonic took no more: the call is over on its side,
                        // and its status comes with the answers.
                        refused = true;
                        continue;
                    };
                    let at = Instant::now();
                    if sent_n > 0 {
                        // Each message picks its own data rows.
                        for p in user.picked.iter_mut() {
                            *p = None;
                        }
                    }
                    let body = {
                        let (mut ctx, scratch) = user.render_parts(&self.scenario.data);
                        s.call
                            .encode_nth(sent_n, &mut ctx, scratch)
                            .map_err(|f| with_counts(counted(), f))?
                    };
                    let size = (body.len() as u64).saturating_add(FRAME);
                    permit.send(body);
                    sent_n += 1;
                    s.rec.record(Sample {
                        first_byte: None,
                        protocol: None,
                        name: sent_row,
                        // How long the message waited for a place in the
                        // queue past its time.
                        micros: micros(at.saturating_duration_since(due)),
                        bytes_sent: size,
                        bytes_received: 0,
                        failure: None,
                    });
                    unanswered.push_back(at);
                    if s.spec.ping_pong {
                        awaiting = true;
                    } else {
                        due = at + s.spec.interval;
                    }
                },
                // Woken for the next message, or for the end of sending
                // if that comes first.
                () = tokio::time::sleep_until(until.map_or(due, |u| u.min(due)).into()),
                    if may_send && !is_due => {},
                () = tokio::time::sleep_until(until.unwrap_or(never).into()),
                    if until.is_some() && tx.is_some() && !may_send => {},
                () = tokio::time::sleep_until(end_at.unwrap_or(never).into()), if end_at.is_some() => {
                    // The duration is over: volley ends the server stream
                    // (its stream is reset), and the call passes.
                    ended_by_volley = true;
                    break;
                },
            }
        }
        let failed = |f| Err(with_counts(counted(), f));
        if let Some(n) = s.spec.answers
            && !ended_by_volley
            && answers_n < n
        {
            return failed(Failure::new(
                FailureKind::Check,
                format!("{n} answers expected, {answers_n} came"),
            ));
        }
        if spec.check.code != 0 {
            return failed(Failure::new(
                FailureKind::Grpc,
                format!("gRPC OK, expected {}", grpc::code_name(spec.check.code)),
            ));
        }
        if spec.check.needs_body() && !s.spec.check_each {
            let Some((bytes, json)) = &last else {
                return failed(Failure::new(FailureKind::Check, "no answer to check"));
            };
            if let Err(f) = check::body(&spec.check, bytes, false, json.as_ref()) {
                return failed(f);
            }
        }
        if let Some(i) = captured.iter().position(|got| !got) {
            // Found in no answer: the capture's own reason, from an empty one.
            let seen = capture::Answer {
                body: b"",
                json: Some(&serde_json::Value::Null),
                truncated: false,
                headers: &headers,
                cookies: None,
            };
            let c = &spec.captures[i..=i];
            if let Err(f) = capture::apply(c, &self.scenario.vars, &seen, &mut user.vars) {
                return failed(f);
            }
        }
        let (sent, received) = counted();
        Ok(Carried::new(sent, received))
    }
}

fn with_counts((sent, received): (u64, u64), f: Failure) -> Failed {
    Failed::new(sent, received, f)
}

/// The call's end when it ended with a status: a pass when it is the
/// expected one. Its bytes are what had crossed (the status's trailers
/// among them).
fn stream_status(
    status: &tonic::Status,
    spec: &crate::scenario::RequestSpec,
    counted: (u64, u64),
) -> Sent {
    match grpc::status_failure(status, spec.check.code) {
        None => Ok(Carried::new(counted.0, counted.1)),
        Some(f) => Err(with_counts(counted, f)),
    }
}
