//! Reading a replay's sources: files read line by line in bounded memory
//! (a 10 GB log as well as a small one; `.gz` files decompressed as they
//! are read), each line a [`Raw`] request or a [`BadLine`] with its file,
//! line number, column and reason; then [`Timeline`], which turns the
//! requests' logged times into offsets from the first.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;

use super::access_log;
use super::har;
use super::jsonl;
use super::log_format::LogFormat;

/// How a source's lines are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// nginx's and Apache's `combined` and `common` access logs.
    Combined,
    /// An nginx `log_format` string.
    Custom(LogFormat),
    /// volley's JSON lines (docs/replay.md; `volley run --record` writes it).
    Json,
    /// HAR 1.2, as browsers and proxies export it (one JSON document).
    Har,
}

/// One request as a source gives it, before names, filters and the host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Raw {
    /// Microseconds: since the Unix epoch (logs, HAR) or any origin (JSON
    /// lines' `t`).
    pub time_us: i64,
    /// Whole seconds only (`$time_local`, `$time_iso8601`): the requests of
    /// one second are spread over it.
    pub coarse: bool,
    pub method: String,
    /// A path and query, or an absolute URL (HAR, JSON lines).
    pub target: String,
    /// Request headers the source holds (names as given).
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
    /// JSON lines' `session`.
    pub session: Option<String>,
    /// JSON lines' `name`: the request's name in the run that recorded it.
    pub name: Option<String>,
    /// The client address (logs' `$remote_addr`).
    pub remote: Option<String>,
    /// Logs' `$cookie_NAME` fields.
    pub cookies: Vec<(String, String)>,
    /// The status the source's server answered.
    pub status: Option<u16>,
}

/// A line that is not a request: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}{}: {reason}", column.map(|c| format!(":{c}")).unwrap_or_default())]
pub struct BadLine {
    pub file: String,
    /// 1-based (HAR: the entry's number, from 1).
    pub line: u64,
    pub column: Option<usize>,
    pub reason: String,
}

/// A source that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{file}: {error}")]
    Io { file: String, error: std::io::Error },
    #[error("{file}: {reason}")]
    Har { file: String, reason: String },
}

/// The longest line read: a longer one is a bad line, skipped without
/// being held (a log line is a few hundred bytes; a JSON line holds its
/// body).
pub const MAX_LINE: usize = 16 << 20;

/// Reads the sources in turn, line by line.
pub struct Reader {
    files: Vec<PathBuf>,
    format: Format,
    /// The next file to open.
    next_file: usize,
    input: Option<Box<dyn BufRead + Send>>,
    /// The file being read, for messages.
    name: String,
    line: u64,
    buf: Vec<u8>,
    /// A HAR file's entries, read whole and sorted.
    har: VecDeque<har::Numbered>,
}

impl Reader {
    pub fn new(files: Vec<PathBuf>, format: Format) -> Reader {
        Reader {
            files,
            format,
            next_file: 0,
            input: None,
            name: String::new(),
            line: 0,
            buf: Vec::new(),
            har: VecDeque::new(),
        }
    }

    /// The next request or bad line; None after the last file.
    pub fn next_raw(&mut self) -> Result<Option<Result<Raw, BadLine>>, SourceError> {
        loop {
            if let Some((n, r)) = self.har.pop_front() {
                return Ok(Some(r.map_err(|reason| BadLine {
                    file: self.name.clone(),
                    line: n,
                    column: None,
                    reason,
                })));
            }
            if self.input.is_none() && !self.open_next()? {
                return Ok(None);
            }
            let Some(input) = self.input.as_mut() else {
                continue;
            };
            self.buf.clear();
            let read = read_line(input.as_mut(), &mut self.buf, MAX_LINE).map_err(|error| {
                SourceError::Io {
                    file: self.name.clone(),
                    error,
                }
            })?;
            match read {
                Line::End => {
                    self.input = None;
                    continue;
                }
                Line::TooLong => {
                    self.line += 1;
                    return Ok(Some(Err(
                        self.bad(None, format!("a line longer than {} MiB", MAX_LINE >> 20))
                    )));
                }
                Line::Read => self.line += 1,
            }
            let mut bytes = self.buf.as_slice();
            while let [rest @ .., b'\n' | b'\r'] = bytes {
                bytes = rest;
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Ok(text) = std::str::from_utf8(bytes) else {
                return Ok(Some(Err(self.bad(None, "a line that is not UTF-8".into()))));
            };
            let parsed = match &self.format {
                Format::Combined => access_log::parse_line(text)
                    .map(Raw::from_log)
                    .map_err(|e| (Some(e.column), e.reason.to_owned())),
                Format::Custom(f) => f
                    .read(text)
                    .map_err(|e| (Some(e.column), e.reason.to_owned())),
                Format::Json => jsonl::read(text).map_err(|e| (e.column, e.reason)),
                Format::Har => Err((None, "a HAR file is not read by lines".into())),
            };
            return Ok(Some(parsed.map_err(|(c, r)| self.bad(c, r))));
        }
    }

    fn bad(&self, column: Option<usize>, reason: String) -> BadLine {
        BadLine {
            file: self.name.clone(),
            line: self.line,
            column,
            reason,
        }
    }

    /// Opens the next file; false when none is left.
    fn open_next(&mut self) -> Result<bool, SourceError> {
        let Some(path) = self.files.get(self.next_file) else {
            return Ok(false);
        };
        self.next_file += 1;
        self.name = path.display().to_string();
        self.line = 0;
        let io = |error| SourceError::Io {
            file: path.display().to_string(),
            error,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let raw: Box<dyn Read + Send> = if path.extension().is_some_and(|e| e == "gz") {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        if self.format == Format::Har {
            let entries = har::read(raw, har::MAX_HAR).map_err(|reason| SourceError::Har {
                file: self.name.clone(),
                reason,
            })?;
            self.har = entries.into();
            return Ok(true);
        }
        self.input = Some(Box::new(BufReader::with_capacity(256 << 10, raw)));
        Ok(true)
    }
}

impl Raw {
    fn from_log(l: access_log::LogLine<'_>) -> Raw {
        let mut headers = Vec::new();
        for (name, v) in [("referer", l.referer), ("user-agent", l.user_agent)] {
            if let Some(v) = v.filter(|v| *v != "-" && !v.is_empty()) {
                headers.push((name.to_owned(), v.to_owned()));
            }
        }
        Raw {
            time_us: l.time_us,
            coarse: true,
            method: l.method.to_owned(),
            target: l.target.to_owned(),
            headers,
            remote: Some(l.remote.to_owned()),
            status: Some(l.status),
            ..Raw::default()
        }
    }
}

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    Read,
    /// Longer than the bound: the rest of it was passed, not kept.
    TooLong,
    End,
}

/// Reads one line (with its `\n`) into `buf`, keeping at most `max` bytes:
/// a longer line is read to its end and dropped.
fn read_line(input: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Line> {
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => Line::End,
                (true, true) => Line::TooLong,
                (true, false) => Line::Read,
            });
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > max.saturating_add(1) {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        input.consume(take);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Read });
        }
    }
}

/// A request with its offset from the first, or a line that is not one.
pub type Timed = Result<(Duration, Raw), BadLine>;

/// The most requests of one logged second held to spread them over it:
/// past this many, the ones held are spread and the rest of the second
/// starts again (a million requests in one second of one log).
const MAX_GROUP: usize = 1 << 20;

/// The requests of the sources with their offsets from the first, in
/// order. A source with whole-second times spreads each second's requests
/// evenly over it, in log order; times that go back (logs are written as
/// requests end) are kept at the latest offset so far: the order of the
/// log is the order sent.
pub struct Timeline {
    reader: Reader,
    origin: Option<i64>,
    last: Duration,
    /// Requests of the second being read (coarse times).
    group: Vec<Raw>,
    group_second: i64,
    ready: VecDeque<Timed>,
    done: bool,
    /// Requests with fine times held to be put in time order, in time
    /// order: a log is nearly in order, so a request goes in at or near
    /// the back, and leaves from the front, without a heap's moves.
    held: VecDeque<Held>,
    held_seq: u64,
    /// The latest time read so far.
    newest: Option<i64>,
}

/// A request held in the reorder window: ordered by time, then by the
/// order read.
struct Held {
    time_us: i64,
    seq: u64,
    raw: Raw,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        (self.time_us, self.seq) == (other.time_us, other.seq)
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time_us, self.seq).cmp(&(other.time_us, other.seq))
    }
}

/// How far out of order (in the sources' time) requests with fine times
/// are put back in order: a request that took longer than this and was
/// logged when it ended is sent at the latest time so far instead (two
/// seconds: longer requests are rare, and each held request costs memory).
pub const REORDER_WINDOW_US: i64 = 2_000_000;

/// The most requests held for the window: past this, the earliest go (a
/// held request costs about 550 bytes: 8,192 of them about 4.5 MB; at
/// 5,000 requests/s they are 1.6 s of the log, at 100,000/s 80 ms).
const MAX_HELD: usize = 1 << 13;

impl Timeline {
    pub fn new(reader: Reader) -> Timeline {
        Timeline {
            reader,
            origin: None,
            last: Duration::ZERO,
            group: Vec::new(),
            group_second: 0,
            ready: VecDeque::new(),
            done: false,
            held: VecDeque::new(),
            held_seq: 0,
            newest: None,
        }
    }

    /// The next request with its offset, or a bad line; None at the end.
    pub fn next_entry(&mut self) -> Result<Option<Timed>, SourceError> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Ok(Some(r));
            }
            if self.done {
                return Ok(None);
            }
            match self.reader.next_raw()? {
                None => {
                    self.done = true;
                    self.release(true);
                    self.flush_group();
                }
                Some(Err(bad)) => return Ok(Some(Err(bad))),
                Some(Ok(raw)) => self.add(raw),
            }
        }
    }

    fn add(&mut self, raw: Raw) {
        if !raw.coarse {
            self.flush_group();
            // Put back in time order within the window: a log written as
            // requests end, its times their starts, is out of order by the
            // requests' durations.
            self.newest = Some(self.newest.map_or(raw.time_us, |n| n.max(raw.time_us)));
            let seq = self.held_seq;
            self.held_seq += 1;
            let h = Held {
                time_us: raw.time_us,
                seq,
                raw,
            };
            // From the back: where a nearly sorted log's request goes.
            let mut at = self.held.len();
            while at > 0 && self.held.get(at - 1).is_some_and(|p| *p > h) {
                at -= 1;
            }
            self.held.insert(at, h);
            self.release(false);
            return;
        }
        self.release(true);
        self.origin.get_or_insert(raw.time_us);
        let second = raw.time_us.div_euclid(1_000_000);
        if !self.group.is_empty() && (second != self.group_second || self.group.len() >= MAX_GROUP)
        {
            self.flush_group();
        }
        if self.group.is_empty() {
            self.group_second = second;
        }
        self.group.push(raw);
    }

    /// Moves the held requests that the window no longer waits for (all of
    /// them with `all`) to the ready ones, earliest first.
    fn release(&mut self, all: bool) {
        let newest = self.newest.unwrap_or(i64::MIN);
        while let Some(h) = self.held.front() {
            let due = all
                || self.held.len() > MAX_HELD
                || h.time_us <= newest.saturating_sub(REORDER_WINDOW_US);
            if !due {
                break;
            }
            let Some(h) = self.held.pop_front() else {
                break;
            };
            let origin = *self.origin.get_or_insert(h.time_us);
            let at = offset(h.time_us, origin).max(self.last);
            self.last = at;
            self.ready.push_back(Ok((at, h.raw)));
        }
    }

    /// Spreads the requests of the held second evenly over it.
    fn flush_group(&mut self) {
        if self.group.is_empty() {
            return;
        }
        let origin = self.origin.unwrap_or(0);
        let start = offset(self.group_second.saturating_mul(1_000_000), origin);
        let n = self.group.len() as u64;
        for (k, raw) in self.group.drain(..).enumerate() {
            let within = Duration::from_micros(1_000_000 * k as u64 / n);
            let at = start.saturating_add(within).max(self.last);
            self.last = at;
            self.ready.push_back(Ok((at, raw)));
        }
    }
}

/// `t - origin` as a duration (0 when earlier).
fn offset(t: i64, origin: i64) -> Duration {
    Duration::from_micros(u64::try_from(t.saturating_sub(origin)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(lines: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(lines.as_bytes()).unwrap();
        f
    }

    fn all(files: Vec<PathBuf>, format: Format) -> Vec<Result<(Duration, Raw), BadLine>> {
        let mut t = Timeline::new(Reader::new(files, format));
        let mut out = Vec::new();
        while let Some(r) = t.next_entry().unwrap() {
            out.push(r);
        }
        out
    }

    fn line(second: u32, path: &str) -> String {
        format!(
            "10.0.0.1 - - [10/Oct/2000:13:55:{second:02} +0000] \"GET {path} HTTP/1.1\" 200 5 \"-\" \"ua\"\n"
        )
    }

    #[test]
    fn a_second_of_requests_is_spread_over_it_in_log_order() {
        let text = [
            line(1, "/a"),
            line(1, "/b"),
            line(1, "/c"),
            line(1, "/d"),
            line(3, "/e"),
        ]
        .concat();
        let f = write(&text);
        let got = all(vec![f.path().into()], Format::Combined);
        let at: Vec<(u64, String)> = got
            .iter()
            .map(|r| {
                let (d, raw) = r.as_ref().unwrap();
                (d.as_micros() as u64, raw.target.clone())
            })
            .collect();
        assert_eq!(
            at,
            [
                (0, "/a".to_owned()),
                (250_000, "/b".to_owned()),
                (500_000, "/c".to_owned()),
                (750_000, "/d".to_owned()),
                (2_000_000, "/e".to_owned())
            ]
        );
        let raw = got[0].as_ref().unwrap().1.clone();
        assert_eq!(raw.headers, [("user-agent".to_owned(), "ua".to_owned())]);
        assert_eq!(raw.status, Some(200));
    }

    #[test]
    fn bad_lines_have_their_file_and_line_and_the_rest_goes_on() {
        let text = format!(
            "{}garbage here\n\n{}\u{0}\u{ff}\n",
            line(1, "/a"),
            line(2, "/b")
        );
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(b"\xff\xfe\n");
        bytes.extend_from_slice(line(4, "/c").as_bytes());
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&bytes).unwrap();
        let got = all(vec![f.path().into()], Format::Combined);
        let bad: Vec<(u64, Option<usize>)> = got
            .iter()
            .filter_map(|r| r.as_ref().err().map(|b| (b.line, b.column)))
            .collect();
        // Line 3 is empty and skipped; a bad line comes out as read, before
        // the held second it follows.
        assert_eq!(bad, [(2, Some(13)), (5, Some(4)), (6, None)]);
        assert_eq!(got.iter().filter(|r| r.is_ok()).count(), 3);
        let e = got.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(e.to_string().ends_with(":2:13: no user field"), "{e}");
    }

    #[test]
    fn fine_times_out_of_order_are_put_back_in_order_within_the_window() {
        // Logged as they ended: starts out of order by their durations.
        let text = [
            r#"{"t":100.0,"url":"/a"}"#,
            r#"{"t":100.3,"url":"/c"}"#,
            r#"{"t":100.1,"url":"/b"}"#,
            r#"{"t":100.05,"url":"/a2"}"#,
            // Further back than the window: kept at the latest time so far.
            r#"{"t":200.0,"url":"/d"}"#,
            r#"{"t":99.0,"url":"/late"}"#,
        ]
        .join("\n");
        let f = write(&text);
        let got: Vec<(u64, String)> = all(vec![f.path().into()], Format::Json)
            .into_iter()
            .map(|r| {
                let (d, raw) = r.unwrap();
                (d.as_millis() as u64, raw.target)
            })
            .collect();
        assert_eq!(
            got,
            [
                (0, "/a".to_owned()),
                (50, "/a2".to_owned()),
                (100, "/b".to_owned()),
                (300, "/c".to_owned()),
                (300, "/late".to_owned()),
                (100_000, "/d".to_owned()),
            ]
        );
    }

    #[test]
    fn an_endless_line_is_skipped_without_being_held() {
        let mut input = std::io::Cursor::new({
            let mut v = vec![b'x'; 3 * 1024];
            v.extend_from_slice(b"\nshort\nlast");
            v
        });
        let mut reader = BufReader::with_capacity(64, &mut input);
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut buf, 1024).unwrap(),
            Line::TooLong
        );
        assert!(buf.capacity() <= 2048, "{}", buf.capacity());
        buf.clear();
        assert_eq!(read_line(&mut reader, &mut buf, 1024).unwrap(), Line::Read);
        assert_eq!(buf, b"short\n");
        buf.clear();
        assert_eq!(read_line(&mut reader, &mut buf, 1024).unwrap(), Line::Read);
        assert_eq!(buf, b"last");
        buf.clear();
        assert_eq!(read_line(&mut reader, &mut buf, 1024).unwrap(), Line::End);
    }

    #[test]
    fn files_follow_each_other_and_gzip_is_read() {
        let a = write(&line(1, "/a"));
        let mut gz = tempfile::Builder::new().suffix(".gz").tempfile().unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(line(5, "/b").as_bytes()).unwrap();
        gz.write_all(&enc.finish().unwrap()).unwrap();
        let got = all(vec![a.path().into(), gz.path().into()], Format::Combined);
        let at: Vec<u64> = got
            .iter()
            .map(|r| r.as_ref().unwrap().0.as_secs())
            .collect();
        assert_eq!(at, [0, 4]);
        // A time that goes back stays at the latest offset.
        let back = write(&[line(5, "/a"), line(2, "/b")].concat());
        let got = all(vec![back.path().into()], Format::Combined);
        assert_eq!(got[1].as_ref().unwrap().0, Duration::ZERO);
        let missing = Reader::new(vec!["/nonexistent/volley.log".into()], Format::Combined)
            .next_raw()
            .unwrap_err();
        assert!(missing.to_string().starts_with("/nonexistent/volley.log: "));
    }
}
