//! Server-Sent Events (`text/event-stream`) parsed without I/O, as the
//! WHATWG HTML standard's "event stream interpretation" says: the HTTP
//! client feeds body bytes as they arrive, in any split, and
//! [`SseParser`] hands each dispatched [`Event`] to a callback.
//!
//! Why volley's own parser: the crates looked at (`eventsource-stream`,
//! `sse-stream`) are adapters over a `Stream` of bytes or an `http_body`
//! body rather than state machines fed bytes, allocate owned strings for
//! every event, and hold an unfinished line without any bound, so a server
//! that never sends a line end grows the client's memory until it dies.
//! A load tester reads hostile or broken servers under load, so here every
//! buffer has a limit ([`SseLimits`]) and an event borrows the parser's
//! buffers, which are reused from one event to the next (no allocation per
//! event once they have grown to the stream's sizes).
//!
//! How the spec maps onto bytes:
//! - Line ends (CRLF, LF, a lone CR) are found with `memchr2`. A CR that
//!   ends one feed leaves a note, so an LF opening the next feed is the
//!   same line end, not an empty line that would dispatch twice.
//! - A line wholly inside one feed is parsed where it lies; only a line
//!   that spans feeds is copied, into a buffer of at most
//!   [`SseLimits::max_line`] bytes.
//! - The spec decodes the whole stream as UTF-8 (dropping a leading BOM,
//!   replacing invalid sequences by U+FFFD) before it splits lines. CR, LF,
//!   `:` and space are ASCII, and the decoder never folds an ASCII byte into
//!   an invalid sequence, so splitting bytes first and decoding each value
//!   gives the same text. Values are checked with `str::from_utf8` (fast on
//!   valid text) and converted lossily only when that fails, into the
//!   reused buffer, with no temporary string.
//! - The BOM (EF BB BF) is skipped once, at the very start of the stream,
//!   even split across feeds; a partial BOM followed by anything else is
//!   text of the first line.
//!
//! Memory is bounded by `max_line` (the unfinished line; an event type or
//! an id, at most three times that once invalid bytes become U+FFFD) plus
//! `max_event` (the event's data). A longer line or a larger event is an
//! [`SseError`], and the parser refuses further bytes until [`finish`].
//!
//! [`finish`]: SseParser::finish

use memchr::{memchr, memchr2};

/// The UTF-8 byte order mark the stream may open with.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// What one U+FFFD takes in UTF-8.
const REPLACEMENT_LEN: usize = '\u{FFFD}'.len_utf8();

/// Bounds on what a stream may make the parser hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseLimits {
    /// The longest line, in bytes, its line end excluded.
    pub max_line: usize,
    /// The most bytes of data one event may carry (its data lines joined
    /// by LF, after UTF-8 decoding).
    pub max_event: usize,
}

/// Why a stream was refused: a limit it went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("event stream line longer than {limit} bytes without a line end")]
    LineTooLong { limit: usize },
    #[error("event stream event with more than {limit} bytes of data")]
    EventTooLarge { limit: usize },
}

/// One dispatched event; it borrows the parser's buffers, so it lives
/// only as long as the callback that receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `event` field's value, or `message` when it was not set.
    pub event_type: &'a str,
    /// The `data` lines joined by LF (the spec's last LF removed).
    pub data: &'a str,
    /// The last event ID string: the last `id` field seen on the stream
    /// (in this event or an earlier one), empty when none was.
    pub last_event_id: &'a str,
    /// The reconnection time, in milliseconds, that a `retry` field among
    /// this event's lines set; `None` when none did.
    pub retry: Option<u64>,
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// The stream ended inside an event: after a field line, or inside a
    /// line, and before the empty line that dispatches. The spec discards
    /// what was pending; volley counts such a stream as broken mid-event.
    pub cut: bool,
    /// The stream's last bytes were a line without its line end.
    pub partial_line: bool,
    /// Events dispatched on the stream.
    pub events: u64,
    /// Comment lines (starting with `:`) on the stream.
    pub comments: u64,
}

/// Where the stream is in its optional BOM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bom {
    /// This many of the BOM's bytes have arrived, and nothing else yet.
    Matched(usize),
    /// Past the start of the stream.
    Done,
}

/// The spec's buffers and the stream's counters: what lines change.
#[derive(Debug, Default)]
struct Fields {
    /// The data buffer: each data line's value followed by LF.
    data: String,
    /// The event type buffer.
    event_type: String,
    /// The last event ID buffer (set by `id` lines).
    id: String,
    /// The event source's last event ID string: the buffer as it was at
    /// the last empty line.
    last_id: String,
    /// Whether an `id` line came since the last empty line (so `last_id`
    /// must be copied from `id` there).
    id_changed: bool,
    /// The reconnection time a `retry` line of the current event set.
    retry: Option<u64>,
    /// The stream's reconnection time, as the last `retry` line set it.
    reconnection: Option<u64>,
    /// A field line came since the last empty line.
    in_event: bool,
    events: u64,
    comments: u64,
}

/// Parses one event stream at a time; [`SseParser::finish`] ends a stream
/// and readies the parser (its buffers kept) for the next.
#[derive(Debug)]
pub struct SseParser {
    limits: SseLimits,
    bom: Bom,
    /// The last feed ended with CR: an LF opening the next one ends no line.
    after_cr: bool,
    /// The start of a line that has not ended yet (at most `max_line`).
    line: Vec<u8>,
    fields: Fields,
    /// The limit the stream went past; it refuses every byte after.
    failed: Option<SseError>,
}

impl SseParser {
    pub fn new(limits: SseLimits) -> Self {
        SseParser {
            limits,
            bom: Bom::Matched(0),
            after_cr: false,
            line: Vec::new(),
            fields: Fields::default(),
            failed: None,
        }
    }

    /// Parses the next bytes of the stream, calling `on_event` for each
    /// event they complete. After an error the stream is refused: every
    /// later call returns the same error until [`SseParser::finish`].
    pub fn feed(
        &mut self,
        bytes: &[u8],
        on_event: &mut impl FnMut(Event<'_>),
    ) -> Result<(), SseError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let result = self.lines(bytes, on_event);
        if let Err(e) = result {
            self.failed = Some(e);
        }
        result
    }

    /// The stream ended: what was pending is discarded (as the spec says),
    /// and the parser is ready for a new stream. An error is the limit the
    /// stream went past, if it did.
    pub fn finish(&mut self) -> Result<Finished, SseError> {
        let partial_line = !self.line.is_empty() || matches!(self.bom, Bom::Matched(n) if n > 0);
        let finished = Finished {
            cut: self.fields.in_event || partial_line,
            partial_line,
            events: self.fields.events,
            comments: self.fields.comments,
        };
        let failed = self.failed.take();
        self.bom = Bom::Matched(0);
        self.after_cr = false;
        self.line.clear();
        let f = &mut self.fields;
        for s in [&mut f.data, &mut f.event_type, &mut f.id, &mut f.last_id] {
            s.clear();
        }
        f.id_changed = false;
        f.retry = None;
        f.reconnection = None;
        f.in_event = false;
        f.events = 0;
        f.comments = 0;
        match failed {
            Some(e) => Err(e),
            None => Ok(finished),
        }
    }

    /// Events dispatched on this stream so far.
    pub fn events(&self) -> u64 {
        self.fields.events
    }

    /// Comment lines on this stream so far.
    pub fn comments(&self) -> u64 {
        self.fields.comments
    }

    /// The last event ID string (what a reconnection would send as
    /// `Last-Event-ID`): the `id` in force at the last empty line.
    pub fn last_event_id(&self) -> &str {
        &self.fields.last_id
    }

    /// The reconnection time the last `retry` field set, in milliseconds.
    pub fn reconnection_time(&self) -> Option<u64> {
        self.fields.reconnection
    }

    fn lines(
        &mut self,
        mut bytes: &[u8],
        on_event: &mut impl FnMut(Event<'_>),
    ) -> Result<(), SseError> {
        if let Bom::Matched(seen) = self.bom {
            bytes = self.skip_bom(seen, bytes)?;
        }
        if self.after_cr {
            match bytes.first() {
                // An empty feed says nothing about what follows the CR.
                None => return Ok(()),
                Some(b'\n') => bytes = &bytes[1..],
                Some(_) => {}
            }
            self.after_cr = false;
        }
        let max = self.limits.max_line;
        loop {
            let Some(at) = memchr2(b'\n', b'\r', bytes) else {
                // The line goes on in a later feed: keep it, within bounds,
                // so a stream that never ends a line is refused as soon as
                // it is too long rather than held.
                let need = self.line.len().saturating_add(bytes.len());
                if need > max {
                    return Err(SseError::LineTooLong { limit: max });
                }
                reserve_bytes(&mut self.line, need, max);
                self.line.extend_from_slice(bytes);
                return Ok(());
            };
            let mut next = at + 1;
            if bytes[at] == b'\r' {
                match bytes.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            if self.line.is_empty() {
                if at > max {
                    return Err(SseError::LineTooLong { limit: max });
                }
                self.fields.line(&bytes[..at], &self.limits, on_event)?;
            } else {
                let need = self.line.len().saturating_add(at);
                if need > max {
                    return Err(SseError::LineTooLong { limit: max });
                }
                reserve_bytes(&mut self.line, need, max);
                self.line.extend_from_slice(&bytes[..at]);
                let result = self.fields.line(&self.line, &self.limits, on_event);
                self.line.clear();
                result?;
            }
            bytes = &bytes[next..];
        }
    }

    /// Skips what `bytes` holds of the BOM, `seen` of its bytes having come
    /// before; returns the rest.
    fn skip_bom<'b>(&mut self, mut seen: usize, mut bytes: &'b [u8]) -> Result<&'b [u8], SseError> {
        while let Some((&b, rest)) = bytes.split_first() {
            if BOM.get(seen) != Some(&b) {
                // Not a BOM after all: the bytes matched so far are the
                // start of the first line.
                self.bom = Bom::Done;
                let max = self.limits.max_line;
                if seen > max {
                    return Err(SseError::LineTooLong { limit: max });
                }
                reserve_bytes(&mut self.line, seen, max);
                self.line.extend_from_slice(&BOM[..seen]);
                return Ok(bytes);
            }
            // seen < 3 here: BOM[seen] matched.
            seen += 1;
            bytes = rest;
            if seen == BOM.len() {
                self.bom = Bom::Done;
                return Ok(bytes);
            }
        }
        self.bom = Bom::Matched(seen);
        Ok(bytes)
    }
}

impl Fields {
    /// Processes one line (its line end removed).
    fn line(
        &mut self,
        line: &[u8],
        limits: &SseLimits,
        on_event: &mut impl FnMut(Event<'_>),
    ) -> Result<(), SseError> {
        let (name, value) = match line {
            [] => {
                self.dispatch(on_event);
                return Ok(());
            }
            [b':', ..] => {
                self.comments = self.comments.saturating_add(1);
                return Ok(());
            }
            _ => match memchr(b':', line) {
                Some(colon) => {
                    let value = &line[colon + 1..];
                    (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
                }
                None => (line, &[][..]),
            },
        };
        self.in_event = true;
        // Field names compare literally, bytes with bytes: a name with an
        // invalid sequence decodes to U+FFFD and matches none of these.
        // An event type or an id is one line's value: at most `max_line`
        // bytes, three times that once decoded.
        let short = limits.max_line.saturating_mul(REPLACEMENT_LEN);
        match name {
            b"data" => {
                let value = Text::of(value);
                // The data buffer already ends with LF when it holds data,
                // and that LF stays (it joins this line to the last one);
                // the LF this line adds is removed at dispatch.
                let len = self.data.len().saturating_add(value.len());
                if len > limits.max_event {
                    return Err(SseError::EventTooLarge {
                        limit: limits.max_event,
                    });
                }
                // With its LF the buffer holds at most max_event + 1 bytes.
                reserve_text(
                    &mut self.data,
                    len.saturating_add(1),
                    limits.max_event.saturating_add(1),
                );
                value.push_onto(&mut self.data);
                self.data.push('\n');
            }
            b"event" => {
                let value = Text::of(value);
                self.event_type.clear();
                reserve_text(&mut self.event_type, value.len(), short);
                value.push_onto(&mut self.event_type);
            }
            // An id with NUL is ignored; NUL is only ever the byte 0 in
            // UTF-8, decoded or not.
            b"id" if memchr(0, value).is_none() => {
                let value = Text::of(value);
                self.id.clear();
                reserve_text(&mut self.id, value.len(), short);
                value.push_onto(&mut self.id);
                self.id_changed = true;
            }
            b"retry" => {
                if let Some(ms) = retry_ms(value) {
                    self.retry = Some(ms);
                    self.reconnection = Some(ms);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// An empty line: the spec's "dispatch the event".
    fn dispatch(&mut self, on_event: &mut impl FnMut(Event<'_>)) {
        self.in_event = false;
        // The source's last event ID is set even when nothing dispatches.
        if self.id_changed {
            self.last_id.clone_from(&self.id);
            self.id_changed = false;
        }
        let retry = self.retry.take();
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        // Every data line ends with the LF it added; the spec removes the
        // last one.
        self.data.pop();
        on_event(Event {
            event_type: if self.event_type.is_empty() {
                "message"
            } else {
                &self.event_type
            },
            data: &self.data,
            last_event_id: &self.last_id,
            retry,
        });
        self.events = self.events.saturating_add(1);
        self.data.clear();
        self.event_type.clear();
    }
}

/// A `retry` value: only ASCII digits, read in base ten. The spec says
/// nothing of a value past 64 bits; it saturates (a time longer than any
/// run). An empty value is ignored (it is not a number).
fn retry_ms(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |ms, d| {
        // d is an ASCII digit, so d - b'0' is 0 to 9.
        ms.checked_mul(10)
            .and_then(|ms| ms.checked_add(u64::from(d - b'0')))
            .unwrap_or(u64::MAX)
    }))
}

/// A field's value as UTF-8 text: checked once (fast on valid text), and
/// converted lossily only when invalid.
enum Text<'a> {
    Valid(&'a str),
    /// Bytes with invalid sequences, and their length once each maximal
    /// invalid subpart (as the WHATWG decoder reads them) is a U+FFFD.
    Invalid(&'a [u8], usize),
}

impl<'a> Text<'a> {
    fn of(bytes: &'a [u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Text::Valid(text),
            Err(_) => {
                let len = bytes.utf8_chunks().fold(0usize, |len, chunk| {
                    let bad = if chunk.invalid().is_empty() {
                        0
                    } else {
                        REPLACEMENT_LEN
                    };
                    len.saturating_add(chunk.valid().len()).saturating_add(bad)
                });
                Text::Invalid(bytes, len)
            }
        }
    }

    /// Bytes the text takes decoded.
    fn len(&self) -> usize {
        match self {
            Text::Valid(text) => text.len(),
            Text::Invalid(_, len) => *len,
        }
    }

    /// Appends the decoded text, straight from the bytes (no temporary).
    fn push_onto(&self, into: &mut String) {
        match self {
            Text::Valid(text) => into.push_str(text),
            Text::Invalid(bytes, _) => {
                for chunk in bytes.utf8_chunks() {
                    into.push_str(chunk.valid());
                    if !chunk.invalid().is_empty() {
                        into.push('\u{FFFD}');
                    }
                }
            }
        }
    }
}

/// The capacity to grow a buffer of `capacity` to so it holds `need`
/// bytes: doubling, as a Vec does, so appends stay amortised, but never
/// past `bound` (the buffer's limit), so its memory stays within it too.
fn grown(capacity: usize, need: usize, bound: usize) -> Option<usize> {
    (need > capacity).then(|| capacity.saturating_mul(2).min(bound).max(need))
}

/// Makes room in `buf` for `need` bytes in all, within `bound`.
fn reserve_bytes(buf: &mut Vec<u8>, need: usize, bound: usize) {
    if let Some(cap) = grown(buf.capacity(), need, bound) {
        // cap >= need >= len.
        buf.reserve_exact(cap - buf.len());
    }
}

/// Makes room in `buf` for `need` bytes in all, within `bound`.
fn reserve_text(buf: &mut String, need: usize, bound: usize) {
    if let Some(cap) = grown(buf.capacity(), need, bound) {
        // cap >= need >= len.
        buf.reserve_exact(cap - buf.len());
    }
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
