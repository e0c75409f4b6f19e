//! An HTTP request whose answer is read as Server-Sent Events: the request
//! goes as any other (its connection, redirects, cookies, Digest and status
//! check are `http.rs`'s), and its body goes, as it arrives, through
//! [`SseParser`] into the call's own rows: `first:NAME` (from the call's
//! start to its first event), `msg:NAME` (each event, its time the gap from
//! the event before, the first's from the start) and `sent:NAME` (the
//! request, its time how late it left). The call itself is the request's
//! row, from its start to its end.
//!
//! A call ends after `events` events, at the event whose data is `until`,
//! after `duration`, or when the server ends the stream; the first three
//! are volley's doing and pass, the last passes only if neither `events`
//! nor `until` was waited for and no event was left half-sent.

use std::time::Instant;

use parking_lot::Mutex;

use super::{Carried, Failed, Requests, Sent, UserState};
use crate::client::answer::{BodySink, Headers};
use crate::client::check;
use crate::client::decode::Encoding;
use crate::client::http::HttpConn;
use crate::client::sse::{Event, SseLimits, SseParser};
use crate::engine::capture;
use crate::engine::http_request::FixedHttp;
use crate::scenario::{Check, HttpSpec, RequestSpec, SseSpec};
use crate::stats::{Failure, FailureKind, Recorder, Sample, StatId};

/// What an event-stream call needs besides its user.
pub(super) struct Call<'a> {
    /// Index of its HTTP target.
    pub target: usize,
    pub h: &'a HttpSpec,
    pub fixed: &'a FixedHttp,
    pub sse: &'a SseSpec,
    /// Its `sent:`, `first:` and `msg:` rows.
    pub rows: [StatId; 3],
    /// Where the call's latency counts from (the open model's intended
    /// start): `first:NAME` counts from it too.
    pub start: Instant,
    pub rec: &'a Recorder,
}

/// Why a stream ended before the server ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// `events` events came.
    Events,
    /// The `until` event came.
    Until,
}

/// The stream as it is read: the parser and what the call has seen (apart,
/// so that the events the parser hands over may change the rest).
struct State {
    parser: SseParser,
    seen: Seen,
}

/// What the call has seen of its answer.
struct Seen {
    /// A 2xx answer's head came and its body is read as events.
    opened: bool,
    /// Why the call fails, as soon as it is known (the body is then no
    /// longer read).
    failure: Option<Failure>,
    end: Option<End>,
    /// Events that were the call's messages (the `until` event is not).
    events: u64,
    last_at: Option<Instant>,
    /// When the body's first bytes came.
    first_data: Option<Instant>,
    /// The last event's data, when checks on the last event or captures
    /// read it.
    last: Option<String>,
    /// The answer's headers, when a capture reads one.
    headers: Headers,
}

/// Reads one call's body as events, as the client hands it over.
struct Sink<'a> {
    state: Mutex<State>,
    call: &'a Call<'a>,
    check: &'a Check,
    /// Checks on each event's data (else on the last one).
    check_each: bool,
    keep_last: bool,
    keep_headers: bool,
}

impl<'a> Sink<'a> {
    fn new(call: &'a Call<'a>, spec: &'a RequestSpec) -> Self {
        let check_each = call.sse.check_each;
        let needs_body = spec.check.needs_body();
        // The parser holds at most a line and an event of the answer's
        // `[http] max_body` each: the body limit, applied per event.
        let limits = SseLimits {
            max_line: call.h.max_body,
            max_event: call.h.max_body,
        };
        Sink {
            state: Mutex::new(State {
                parser: SseParser::new(limits),
                seen: Seen {
                    opened: false,
                    failure: None,
                    end: None,
                    events: 0,
                    last_at: None,
                    first_data: None,
                    last: None,
                    headers: Headers::None,
                },
            }),
            call,
            check: &spec.check,
            check_each,
            keep_last: (needs_body && !check_each) || capture::needs_body(&spec.captures),
            keep_headers: capture::needs_headers(&spec.captures),
        }
    }

    /// One event: the end, a message, or a failed check.
    fn event(&self, s: &mut Seen, now: &mut Option<Instant>, e: Event<'_>) {
        if s.end.is_some() || s.failure.is_some() {
            // The rest of a read that already ended the call.
            return;
        }
        if self.call.sse.until.as_deref() == Some(e.data) {
            s.end = Some(End::Until);
            return;
        }
        let at = *now.get_or_insert_with(Instant::now);
        let [_, first_row, msg_row] = self.call.rows;
        let size = e.data.len() as u64;
        s.events += 1;
        if s.events == 1 {
            self.call.rec.record(Sample {
                first_byte: None,
                protocol: None,
                name: first_row,
                micros: micros(self.call.start, at),
                bytes_sent: 0,
                bytes_received: size,
                failure: None,
            });
        }
        let since = s.last_at.unwrap_or(self.call.start);
        self.call.rec.record(Sample {
            first_byte: None,
            protocol: None,
            name: msg_row,
            micros: micros(since, at),
            bytes_sent: 0,
            bytes_received: size,
            failure: None,
        });
        s.last_at = Some(at);
        if self.check_each
            && self.check.needs_body()
            && let Err(f) = check::body(self.check, e.data.as_bytes(), false, None)
        {
            s.failure = Some(f.with_detail(format!(
                "event {}: {}",
                s.events,
                check::excerpt(e.data.as_bytes())
            )));
            return;
        }
        if self.keep_last {
            let last = s.last.get_or_insert_with(String::new);
            last.clear();
            last.push_str(e.data);
        }
        if self.call.sse.events.is_some_and(|n| s.events >= n) {
            s.end = Some(End::Events);
        }
    }
}

/// Reads are timed once, at their first event: the events of one read
/// arrived together.
impl BodySink for Sink<'_> {
    fn open(&self, status: u16, headers: &Headers, encoding: Encoding) -> bool {
        if !(200..300).contains(&status) {
            // Not a stream: read and checked as any answer.
            return false;
        }
        let mut guard = self.state.lock();
        let st = &mut guard.seen;
        st.opened = true;
        let mut content_type = String::new();
        headers.get_into("content-type", &mut content_type);
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("text/event-stream") {
            // As EventSource fails the connection.
            st.failure = Some(
                Failure::new(FailureKind::Stream, "the answer is not an event stream")
                    .with_detail(format!("Content-Type: {content_type:?}")),
            );
        } else if encoding != Encoding::Identity {
            st.failure = Some(Failure::new(
                FailureKind::Stream,
                "the event stream came compressed (Content-Encoding); volley reads event streams as they are sent",
            ));
        }
        if self.keep_headers {
            st.headers = match headers {
                Headers::Raw(b) => Headers::Raw(b.clone()),
                Headers::Map(m) => Headers::Map(m.clone()),
                Headers::None => Headers::None,
            };
        }
        true
    }

    fn data(&self, piece: &[u8]) -> bool {
        let mut guard = self.state.lock();
        let State { parser, seen } = &mut *guard;
        if seen.failure.is_some() || seen.end.is_some() {
            return false;
        }
        if seen.first_data.is_none() && !piece.is_empty() {
            seen.first_data = Some(Instant::now());
        }
        let mut now = None;
        let fed = parser.feed(piece, &mut |e| self.event(seen, &mut now, e));
        if let Err(e) = fed
            && seen.failure.is_none()
        {
            seen.failure = Some(
                Failure::new(FailureKind::Limit, e.to_string())
                    .with_detail(format!("after {} events", seen.events)),
            );
        }
        seen.failure.is_none() && seen.end.is_none()
    }
}

fn micros(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_micros()).unwrap_or(u64::MAX)
}

impl Requests {
    /// One event-stream call: its request sent and its events read until
    /// the call ends, then its verdict.
    pub(super) async fn send_sse(
        &self,
        spec: &RequestSpec,
        call: Call<'_>,
        user: &mut UserState,
    ) -> Sent {
        let sink = Sink::new(&call, spec);
        let [sent_row, ..] = call.rows;
        // How late the request left: the open model's wait for a free
        // executor, or nothing.
        call.rec.record(Sample {
            first_byte: None,
            protocol: None,
            name: sent_row,
            micros: micros(call.start, Instant::now()),
            bytes_sent: 0,
            bytes_received: 0,
            failure: None,
        });
        let exchange = self.send_http(
            spec,
            call.target,
            call.fixed,
            call.h,
            user,
            super::http::With {
                sink: Some(&sink),
                given: None,
            },
        );
        let carried = match call.sse.duration {
            None => exchange.await?,
            Some(d) => match tokio::time::timeout(d, exchange).await {
                Ok(r) => r?,
                Err(_) => {
                    // The duration is over: the exchange was dropped in the
                    // middle of the answer. An HTTP/1.1 connection cannot
                    // carry another request; an HTTP/2 stream was reset
                    // and its connection goes on.
                    let arrived = match user.http_conn(call.target) {
                        Some(c @ HttpConn::H1(_)) => {
                            let a = c.arrived();
                            user.conns[call.target] = None;
                            a
                        }
                        Some(c) => c.arrived(),
                        None => 0,
                    };
                    let (first_data, opened) = {
                        let st = &sink.state.lock().seen;
                        (st.first_data, st.opened)
                    };
                    if user.first_byte.is_none() {
                        user.first_byte = first_data;
                    }
                    let carried = Carried::new(user.sent_now, arrived);
                    if !opened {
                        // No answer came within the duration.
                        let f = Failure::new(
                            FailureKind::Stream,
                            format!("no event stream within the duration ({d:?})"),
                        );
                        return Err(Failed {
                            carried,
                            failure: f,
                        });
                    }
                    return self.verdict(spec, &call, sink, carried, true, user);
                }
            },
        };
        self.verdict(spec, &call, sink, carried, false, user)
    }

    /// Whether the call passed once its exchange ended (`by_duration`:
    /// volley ended it after its duration).
    fn verdict(
        &self,
        spec: &RequestSpec,
        call: &Call<'_>,
        sink: Sink<'_>,
        carried: Carried,
        by_duration: bool,
        user: &mut UserState,
    ) -> Sent {
        let fail = |failure: Failure| Err(Failed { carried, failure });
        let State {
            mut parser,
            seen:
                Seen {
                    opened,
                    failure,
                    end,
                    events,
                    last,
                    headers,
                    ..
                },
        } = sink.state.into_inner();
        if let Some(f) = failure {
            return fail(f);
        }
        let finished = parser.finish();
        if end.is_none() && !by_duration && opened {
            // The server ended the stream.
            let sse = call.sse;
            if finished.is_ok_and(|f| f.cut) {
                return fail(
                    Failure::new(FailureKind::Stream, "the event stream ended mid-event")
                        .with_detail(format!("after {events} events")),
                );
            }
            if let Some(u) = &sse.until {
                return fail(
                    Failure::new(
                        FailureKind::Stream,
                        format!("the event stream ended before {u:?}"),
                    )
                    .with_detail(format!("after {events} events")),
                );
            }
            if let Some(n) = sse.events
                && events < n
            {
                return fail(Failure::new(
                    FailureKind::Stream,
                    format!("{n} events expected, the stream ended after {events}"),
                ));
            }
        }
        if !opened && (call.sse.events.is_some() || call.sse.until.is_some()) {
            // An accepted status without a stream (a 204) sent no events.
            return fail(Failure::new(
                FailureKind::Stream,
                "the answer was not an event stream",
            ));
        }
        if spec.check.needs_body() && !call.sse.check_each {
            let Some(data) = &last else {
                return fail(Failure::new(FailureKind::Check, "no event to check"));
            };
            if let Err(f) = check::body(&spec.check, data.as_bytes(), false, None) {
                return fail(f);
            }
        }
        if !spec.captures.is_empty() {
            // Captures read the last event's data and the answer's headers;
            // cookies as the request's own URL would send them.
            let url = match capture::needs_cookies(&spec.captures) {
                true => self.http_target(call.target).ok().and_then(|(t, _)| {
                    let authority = call.fixed.host().unwrap_or(t.authority.as_str());
                    let path = call.fixed.static_path().unwrap_or(&user.path);
                    url::Url::parse(&format!("{}://{authority}{path}", t.scheme)).ok()
                }),
                false => None,
            };
            let body = last.unwrap_or_default();
            let seen = capture::Answer {
                body: body.as_bytes(),
                json: None,
                truncated: false,
                headers: &headers,
                cookies: user.jar.as_deref().zip(url.as_ref()),
            };
            if let Err(f) =
                capture::apply(&spec.captures, &self.scenario.vars, &seen, &mut user.vars)
            {
                return fail(f);
            }
        }
        Ok(carried)
    }
}
