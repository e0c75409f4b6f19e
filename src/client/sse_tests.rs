//! Tests of the event-stream parser: the WHATWG standard's examples, line
//! ends, the BOM, UTF-8, limits, a stream cut mid-event, and properties:
//! any split of a stream parses as the stream whole does, and as a literal
//! reading of the spec (decode everything, then split lines) does.

use super::*;
use proptest::prelude::*;

/// An event the test keeps after the callback returns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owned {
    event_type: String,
    data: String,
    id: String,
    retry: Option<u64>,
}

impl From<Event<'_>> for Owned {
    fn from(e: Event<'_>) -> Self {
        Owned {
            event_type: e.event_type.to_string(),
            data: e.data.to_string(),
            id: e.last_event_id.to_string(),
            retry: e.retry,
        }
    }
}

fn ev(event_type: &str, data: &str, id: &str) -> Owned {
    Owned {
        event_type: event_type.to_string(),
        data: data.to_string(),
        id: id.to_string(),
        retry: None,
    }
}

fn msg(data: &str) -> Owned {
    ev("message", data, "")
}

const ROOMY: SseLimits = SseLimits {
    max_line: 1 << 20,
    max_event: 1 << 20,
};

type Outcome = (Vec<Owned>, Result<Finished, SseError>);

/// Feeds `chunks` in order to one parser and finishes the stream; checks
/// on the way that no buffer's memory went past its limit, and that an
/// error, once returned, is returned again until the end.
fn parse_chunks(limits: SseLimits, chunks: &[&[u8]]) -> Outcome {
    let mut p = SseParser::new(limits);
    let mut events = Vec::new();
    let mut failed = None;
    for c in chunks {
        let r = p.feed(c, &mut |e| events.push(Owned::from(e)));
        if let Some(e) = failed {
            assert_eq!(r, Err(e), "an error sticks");
        } else if let Err(e) = r {
            failed = Some(e);
        }
        assert!(
            p.line.capacity() <= limits.max_line,
            "line buffer in bounds"
        );
        assert!(p.fields.data.capacity() <= limits.max_event.saturating_add(1));
        let short = limits.max_line.saturating_mul(3);
        assert!(p.fields.event_type.capacity() <= short);
        assert!(p.fields.id.capacity() <= short);
    }
    let finished = p.finish();
    if let Some(e) = failed {
        assert_eq!(finished, Err(e));
    }
    (events, finished)
}

/// Feeds `stream` cut at `cuts` (positions taken modulo its length + 1).
fn parse_cut(limits: SseLimits, stream: &[u8], cuts: &[usize]) -> Outcome {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.push(0);
    points.push(stream.len());
    points.sort_unstable();
    let chunks: Vec<&[u8]> = points.windows(2).map(|w| &stream[w[0]..w[1]]).collect();
    parse_chunks(limits, &chunks)
}

/// Parses a whole stream with roomy limits: its events and how it ended.
fn parse(stream: &[u8]) -> (Vec<Owned>, Finished) {
    let (events, finished) = parse_chunks(ROOMY, &[stream]);
    (events, finished.expect("roomy limits"))
}

fn events(stream: &str) -> Vec<Owned> {
    parse(stream.as_bytes()).0
}

#[test]
fn the_standards_examples() {
    // Multi-line data joins with LF.
    assert_eq!(
        events("data: YHOO\ndata: +2\ndata: 10\n\n"),
        [msg("YHOO\n+2\n10")]
    );
    // A comment block fires nothing; ids persist, and an empty id resets
    // the last event ID; only one leading space is stripped.
    assert_eq!(
        events(
            ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"
        ),
        [
            ev("message", "first event", "1"),
            ev("message", "second event", ""),
            msg(" third event"),
        ]
    );
    // `data` alone is an empty value: an event with empty data, and with
    // two of them a single LF; the last block is discarded at the end.
    let (evs, fin) = parse(b"data\n\ndata\ndata\n\ndata:");
    assert_eq!(evs, [msg(""), msg("\n")]);
    assert!(fin.cut && fin.partial_line);
    // With or without the space after the colon, the same event.
    assert_eq!(
        events("data:test\n\ndata: test\n\n"),
        [msg("test"), msg("test")]
    );
    // Event types.
    assert_eq!(
        events(
            "event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n"
        ),
        [
            ev("add", "73857293", ""),
            ev("remove", "2153", ""),
            ev("add", "113411", ""),
        ]
    );
}

#[test]
fn fields_as_the_spec_reads_them() {
    // Unknown fields and differently-cased names are ignored; a value
    // keeps its colons; a field without a colon has an empty value.
    assert_eq!(
        events("foo: bar\nData: no\ndata: a:b: c\nDATA\n\n"),
        [msg("a:b: c")]
    );
    // A block without data dispatches nothing, but its event type goes.
    let (evs, fin) = parse(b"event: lost\n\ndata: x\n\nevent: e\nid: 7\n\n");
    assert_eq!(evs, [msg("x")]);
    assert_eq!(fin.events, 1);
    // An id with NUL is ignored; the id in force is the last one set.
    assert_eq!(
        events("id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\ndata: c\nid: 3\n\n"),
        [
            ev("message", "a", "1"),
            ev("message", "b", "1"),
            ev("message", "c", "3")
        ]
    );
    // The source's last event ID moves at the empty line, data or not.
    let mut p = SseParser::new(ROOMY);
    p.feed(b"id: 9\n", &mut |_| {}).unwrap();
    assert_eq!(p.last_event_id(), "");
    p.feed(b"\n", &mut |_| {}).unwrap();
    assert_eq!(p.last_event_id(), "9");
    // Comments are counted and neither end nor start an event.
    let (evs, fin) = parse(b": hi\ndata: a\n:\n: x\ndata: b\n\n:tail\n");
    assert_eq!(evs, [msg("a\nb")]);
    assert_eq!((fin.comments, fin.cut), (4, false));
}

#[test]
fn retry_sets_the_reconnection_time_with_digits_only() {
    let mut p = SseParser::new(ROOMY);
    let mut got = Vec::new();
    p.feed(
        b"retry: 1500\ndata: a\n\ndata: b\n\nretry: 1x\nretry:  7\nretry:\nretry: -1\ndata: c\n\nretry: 300\n\n",
        &mut |e| got.push(Owned::from(e)),
    )
    .unwrap();
    let retries: Vec<Option<u64>> = got.iter().map(|e| e.retry).collect();
    assert_eq!(retries, [Some(1500), None, None]);
    // The retry-only block set the time without dispatching.
    assert_eq!(p.reconnection_time(), Some(300));
    // A number past 64 bits saturates.
    p.feed(b"retry: 99999999999999999999999\n", &mut |_| {})
        .unwrap();
    assert_eq!(p.reconnection_time(), Some(u64::MAX));
    assert_eq!(retry_ms(b"0"), Some(0));
    assert_eq!(retry_ms(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(
        retry_ms(b"\xEF\xBC\x91"),
        None,
        "a fullwidth digit is not ASCII"
    );
}

#[test]
fn every_line_end_and_a_cr_split_from_its_lf() {
    let lf = events("event: e\ndata: a\ndata: b\n\ndata: c\n\n");
    assert_eq!(lf.len(), 2);
    for stream in [
        "event: e\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n",
        "event: e\rdata: a\rdata: b\r\rdata: c\r\r",
        "event: e\r\ndata: a\rdata: b\n\r\ndata: c\r\r\n",
    ] {
        assert_eq!(events(stream), lf, "{stream:?}");
    }
    // CR at the end of one feed, LF at the start of the next: one line end,
    // also across an empty feed between them.
    let one = [msg("a")];
    for chunks in [
        &[&b"data: a\r"[..], b"\n", b"\r\n"][..],
        &[b"data: a\r", b"", b"\n", b"", b"\n"],
        &[b"data: a\r", b"\n\r", b"\n"],
    ] {
        let (evs, _) = parse_chunks(ROOMY, chunks);
        assert_eq!(evs, one, "{chunks:?}");
    }
    // CR then CR is two line ends (the second dispatches).
    let (evs, _) = parse_chunks(ROOMY, &[b"data: a\r", b"\r"]);
    assert_eq!(evs, one);
    // LF then CR is two line ends too.
    assert_eq!(events("data: a\n\r"), one);
}

#[test]
fn a_bom_is_skipped_once_and_only_at_the_start() {
    let bom = "\u{FEFF}";
    assert_eq!(events(&format!("{bom}data: a\n\n")), [msg("a")]);
    for cut in 0..=4 {
        let s = format!("{bom}data: a\n\n");
        let (evs, _) = parse_chunks(ROOMY, &[&s.as_bytes()[..cut], &s.as_bytes()[cut..]]);
        assert_eq!(evs, [msg("a")], "cut at {cut}");
    }
    let s = format!("{bom}data: a\n\n");
    assert_eq!(parse_cut(ROOMY, s.as_bytes(), &[1, 2, 3]).0, [msg("a")]);
    // A second BOM is text: the field is "\u{FEFF}data", unknown.
    assert!(events(&format!("{bom}{bom}data: a\n\n")).is_empty());
    // A BOM later in the stream is text too.
    assert_eq!(
        events(&format!("data: a\n\n{bom}data: b\n\ndata: {bom}c\n\n")),
        [msg("a"), msg("\u{FEFF}c")]
    );
    // Half a BOM is the start of the first line (an invalid sequence).
    let (evs, fin) = parse(b"\xEF\xBB\ndata: a\n\n");
    assert_eq!((evs, fin.cut), (vec![msg("a")], false));
    let (evs, _) = parse_chunks(ROOMY, &[b"\xEF", b"\xBBdata: a\n\ndata: b\n\n"]);
    assert_eq!(evs, [msg("b")]);
    // A stream that is half a BOM was cut inside its first line.
    let (_, fin) = parse_chunks(ROOMY, &[b"\xEF", b"\xBB"]);
    assert!(fin.unwrap().partial_line);
}

#[test]
fn invalid_utf8_becomes_replacement_characters() {
    let (evs, _) =
        parse(b"event: \xFFx\ndata: a\xC3\ndata: \xE2\x82\xACb\xF0\x9F\x98\nid: \x80\n\n");
    assert_eq!(
        evs,
        [ev("\u{FFFD}x", "a\u{FFFD}\n\u{20AC}b\u{FFFD}", "\u{FFFD}")]
    );
    // A name with an invalid byte is no field at all.
    assert!(parse(b"dat\xE1: a\n\n").0.is_empty());
}

#[test]
fn an_event_cut_at_the_end_is_discarded_and_reported() {
    let cases: &[(&[u8], bool, bool)] = &[
        (b"", false, false),
        (b"data: a\n\n", false, false),
        (b": keep-alive\n", false, false),
        (b"data: a\n\r", false, false),
        (b"data: a\n", true, false),
        (b"data: a\n\ndata: b\n", true, false),
        (b"retry: 5\n", true, false),
        (b"data: a\n\ndata: b", true, true),
        (b"data: a\n\n: keep", true, true),
        (b"data: a\r\n\r", false, false),
    ];
    for &(stream, cut, partial_line) in cases {
        let (evs, fin) = parse(stream);
        assert_eq!(
            (fin.cut, fin.partial_line),
            (cut, partial_line),
            "{stream:?}"
        );
        assert_eq!(fin.events, evs.len() as u64);
    }
}

#[test]
fn finish_readies_the_parser_for_a_new_stream() {
    let mut p = SseParser::new(ROOMY);
    let mut got = Vec::new();
    p.feed(
        b"\xEF\xBB\xBFid: 1\nretry: 5\n: c\ndata: a\n\ndata: cut",
        &mut |e| got.push(Owned::from(e)),
    )
    .unwrap();
    let fin = p.finish().unwrap();
    assert_eq!(
        fin,
        Finished {
            cut: true,
            partial_line: true,
            events: 1,
            comments: 1
        }
    );
    assert_eq!((p.last_event_id(), p.reconnection_time()), ("", None));
    // The next stream's BOM is skipped, nothing of the last one is left.
    p.feed(b"\xEF\xBB\xBFdata: b\n\n", &mut |e| {
        got.push(Owned::from(e))
    })
    .unwrap();
    let a = Owned {
        retry: Some(5),
        ..ev("message", "a", "1")
    };
    assert_eq!(got, [a, msg("b")]);
    assert!(!p.finish().unwrap().cut);
}

#[test]
fn a_line_too_long_is_refused_without_being_held() {
    let limits = SseLimits {
        max_line: 16,
        max_event: 1024,
    };
    // Exactly the limit is a line, in one feed or in pieces.
    let line = b"data: 0123456789\n\n";
    assert_eq!(line.len() - 2, 16);
    assert_eq!(parse_chunks(limits, &[line]).0, [msg("0123456789")]);
    assert_eq!(parse_cut(limits, line, &[3, 9, 16]).0, [msg("0123456789")]);
    // One byte more is refused, whether its line end came or not.
    let refused = Err(SseError::LineTooLong { limit: 16 });
    assert_eq!(parse_chunks(limits, &[b"data: 0123456789A\n\n"]).1, refused);
    assert_eq!(parse_chunks(limits, &[b"data: 0123456789A"]).1, refused);
    assert_eq!(
        parse_cut(limits, b"data: 0123456789A\n\n", &[4, 17]).1,
        refused
    );
    // A stream that never ends a line: refused once past the limit, and
    // the parser never held more than the limit (parse_chunks checks).
    let limits = SseLimits {
        max_line: 64 * 1024,
        max_event: 64 * 1024,
    };
    let chunk = [b'x'; 4096];
    let mut p = SseParser::new(limits);
    let mut fed = 0;
    let err = loop {
        match p.feed(&chunk, &mut |_| {}) {
            Ok(()) => fed += chunk.len(),
            Err(e) => break e,
        }
        assert!(fed <= limits.max_line);
        assert!(p.line.capacity() <= limits.max_line);
    };
    assert_eq!(err, SseError::LineTooLong { limit: 64 * 1024 });
    assert_eq!(
        err.to_string(),
        "event stream line longer than 65536 bytes without a line end"
    );
    assert_eq!(
        p.feed(b"\n\n", &mut |_| {}),
        Err(err),
        "refused until the end"
    );
    assert_eq!(p.finish(), Err(err));
    // And afterwards it reads a new stream.
    let mut n = 0;
    p.feed(b"data: ok\n\n", &mut |_| n += 1).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn an_event_too_large_is_refused() {
    let limits = SseLimits {
        max_line: 64,
        max_event: 9,
    };
    // "aaaa\nbbbb" is 9 bytes: fits; one more line does not.
    assert_eq!(
        parse_chunks(limits, &[b"data: aaaa\ndata: bbbb\n\n"]).0,
        [msg("aaaa\nbbbb")]
    );
    let refused = Err(SseError::EventTooLarge { limit: 9 });
    assert_eq!(
        parse_chunks(limits, &[b"data: aaaa\ndata: bbbbb\n\n"]).1,
        refused
    );
    assert_eq!(
        parse_chunks(limits, &[b"data: aaaa\ndata\ndata: bbbb\n\n"]).1,
        refused
    );
    // The limit is on decoded text: 4 invalid bytes are 12 bytes of U+FFFD.
    assert_eq!(
        parse_chunks(limits, &[b"data: \xFF\xFF\xFF\xFF\n\n"]).1,
        refused
    );
    // Events one after another do not add up.
    let (evs, fin) = parse_chunks(limits, &[&b"data: 123456789\n\n".repeat(50)]);
    assert_eq!((evs.len(), fin.map(|f| f.events)), (50, Ok(50)));
    // A server sending an endless event of short lines is refused at the
    // limit, the data buffer never past it (parse_chunks checks).
    let limits = SseLimits {
        max_line: 1024,
        max_event: 1 << 20,
    };
    let lines = b"data: 0123456789abcdef0123456789abcdef\n".repeat(100);
    let chunks: Vec<&[u8]> = std::iter::repeat_n(&lines[..], 400).collect();
    let (evs, end) = parse_chunks(limits, &chunks);
    assert!(evs.is_empty());
    assert_eq!(end, Err(SseError::EventTooLarge { limit: 1 << 20 }));
}

#[test]
fn buffers_are_reused_from_event_to_event() {
    let mut p = SseParser::new(ROOMY);
    let one = b"event: tick\nid: 42\ndata: {\"n\": 1234567}\ndata: second line\n\n";
    let mut n = 0;
    p.feed(one, &mut |_| n += 1).unwrap();
    let before = (
        p.fields.data.as_ptr(),
        p.fields.data.capacity(),
        p.fields.event_type.as_ptr(),
        p.fields.id.as_ptr(),
        p.fields.last_id.as_ptr(),
    );
    // Events whole in one feed, and events cut across feeds.
    let many = one.repeat(1000);
    p.feed(&many, &mut |_| n += 1).unwrap();
    for piece in many.chunks(7) {
        p.feed(piece, &mut |_| n += 1).unwrap();
    }
    let after = (
        p.fields.data.as_ptr(),
        p.fields.data.capacity(),
        p.fields.event_type.as_ptr(),
        p.fields.id.as_ptr(),
        p.fields.last_id.as_ptr(),
    );
    assert_eq!(n, 2001);
    assert_eq!(before, after, "no buffer was allocated again");
}

/// The spec read literally: the whole stream decoded (a leading BOM
/// dropped, invalid sequences replaced), split into lines, each line
/// processed; what follows the last line end is discarded. Returns the
/// events, the comments, and whether an event was cut.
fn reference(stream: &[u8]) -> (Vec<Owned>, u64, bool) {
    let bytes = stream.strip_prefix(&BOM[..]).unwrap_or(stream);
    let text = String::from_utf8_lossy(bytes);
    let mut rest: &str = &text;
    let mut lines = Vec::new();
    while let Some(i) = rest.find(['\r', '\n']) {
        lines.push(&rest[..i]);
        let end = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[i + end..];
    }
    let (mut events, mut comments, mut in_event) = (Vec::new(), 0, false);
    let (mut data, mut event_type, mut id) = (String::new(), String::new(), String::new());
    let mut retry = None;
    for line in lines {
        if line.is_empty() {
            in_event = false;
            let retry = retry.take();
            if data.is_empty() {
                event_type.clear();
                continue;
            }
            data.pop();
            events.push(Owned {
                event_type: if event_type.is_empty() {
                    "message".to_string()
                } else {
                    event_type.clone()
                },
                data: std::mem::take(&mut data),
                // The source's last event ID, just set from the buffer.
                id: id.clone(),
                retry,
            });
            event_type.clear();
            continue;
        }
        if line.starts_with(':') {
            comments += 1;
            continue;
        }
        in_event = true;
        let (name, value) = match line.split_once(':') {
            Some((n, v)) => (n, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match name {
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "event" => event_type = value.to_string(),
            "id" if !value.contains('\0') => id = value.to_string(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                retry = Some(value.parse().unwrap_or(u64::MAX));
            }
            _ => {}
        }
    }
    (events, comments, in_event || !rest.is_empty())
}

/// Bits of a field's value: text in several widths, digits (some past
/// 64 bits), colons and spaces, NUL, BOMs, broken UTF-8, arbitrary bytes.
fn value_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => "[a-z0-9 ]{1,6}".prop_map(String::into_bytes),
        2 => "[0-9]{1,22}".prop_map(String::into_bytes),
        2 => prop::sample::select(vec![
            &b":"[..], b" ", b"\0", b"\xEF\xBB\xBF", b"\xEF", b"\xEF\xBB",
            "\u{e9}\u{20ac}\u{1f600}".as_bytes(), b"\xF0\x9F", b"\xC3", b"\xFF",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 1..4),
    ]
}

/// One line of a stream (or some noise): a field name, what separates it
/// from its value, the value, and a line end.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(vec![
        &b"data"[..],
        b"data",
        b"data",
        b"event",
        b"id",
        b"retry",
        b"",
        b"Data",
        b"foo",
        b"dat\xE1",
    ]);
    let sep = prop::sample::select(vec![&b": "[..], b":", b":  ", b""]);
    let end = prop::sample::select(vec![&b"\n"[..], b"\r", b"\r\n"]);
    prop_oneof![
        6 => (name, sep, proptest::collection::vec(value_piece(), 0..4), end).prop_map(
            |(name, sep, value, end)| [name, sep, &value.concat(), end].concat()
        ),
        3 => prop::sample::select(vec![&b"\n"[..], b"\r", b"\r\n"]).prop_map(<[u8]>::to_vec),
        1 => "[0-9]{0,22}".prop_map(|ms| format!("retry: {ms}\n").into_bytes()),
        1 => value_piece(),
    ]
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), proptest::collection::vec(line(), 0..24)).prop_map(|(bom, lines)| {
        let mut s = if bom { BOM.to_vec() } else { Vec::new() };
        s.extend(lines.concat());
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A stream parses as the spec read literally says, and the same fed
    /// in two pieces cut at every position, or a byte at a time.
    #[test]
    fn every_split_parses_as_the_whole_and_the_spec(stream in stream()) {
        let (events, finished) = parse(&stream);
        let (want, comments, cut) = reference(&stream);
        prop_assert_eq!(&events, &want);
        prop_assert_eq!((finished.comments, finished.cut), (comments, cut));
        let whole = (events, Ok(finished));
        for at in 0..=stream.len() {
            let split = parse_chunks(ROOMY, &[&stream[..at], &stream[at..]]);
            prop_assert_eq!(&split, &whole, "cut at {}", at);
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        prop_assert_eq!(&parse_chunks(ROOMY, &bytes), &whole);
    }

    /// Cut at several points, under any limits, a stream gives the same
    /// events and the same end (or the same error) as whole; parse_chunks
    /// checks every buffer stays within its limit.
    #[test]
    fn many_splits_any_limits_parse_alike(
        stream in stream(),
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
        max_line in 0usize..48,
        max_event in 0usize..64,
    ) {
        for limits in [ROOMY, SseLimits { max_line, max_event }] {
            let whole = parse_chunks(limits, &[&stream]);
            let split = parse_cut(limits, &stream, &cuts);
            prop_assert_eq!(split, whole);
        }
    }
}
