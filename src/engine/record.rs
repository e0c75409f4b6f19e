//! `--record FILE`: every HTTP request an engine sends, written as it was
//! sent (method, path and query, headers, body), with its intended start,
//! its row's name, its user as the session and the status it got, one JSON
//! object a line: volley's replay format (scenario/replay/jsonl.rs), so a
//! run can be replayed exactly (`volley replay FILE --target URL`).
//!
//! Engines of one process (local workers) that record to one path share
//! one file: lines are whole, and appended as requests end (the replay
//! puts them back in time order).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};

use crate::scenario::replay::jsonl::Record;

/// A request as it went, copied when the run records (nothing is copied
/// otherwise).
#[derive(Debug, Default, Clone)]
pub struct Copied {
    pub method: Option<Method>,
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// The final answer's status, once it came.
    pub status: Option<u16>,
    pub filled: bool,
}

impl Copied {
    /// Copies an HTTP/1.1 request from its bytes as written.
    pub fn from_h1(&mut self, wire: &[u8]) {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = req.parse(wire) else {
            return;
        };
        self.method = req
            .method
            .and_then(|m| Method::from_bytes(m.as_bytes()).ok());
        self.path = req.path.unwrap_or("/").to_owned();
        self.headers = req
            .headers
            .iter()
            .filter_map(|h| {
                Some((
                    HeaderName::from_bytes(h.name.as_bytes()).ok()?,
                    HeaderValue::from_bytes(h.value).ok()?,
                ))
            })
            .collect();
        self.body = Bytes::copy_from_slice(wire.get(head..).unwrap_or_default());
        self.status = None;
        self.filled = true;
    }

    /// Copies an HTTP/2 request before it goes.
    pub fn from_h2(&mut self, req: &http::Request<http_body_util::Full<Bytes>>, body: &Bytes) {
        self.method = Some(req.method().clone());
        self.path = req
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        self.headers = req
            .headers()
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        self.body = body.clone();
        self.status = None;
        self.filled = true;
    }
}

/// Why the record file cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("--record {path}: {error}")]
pub struct RecordError {
    pub path: String,
    pub error: std::io::Error,
}

/// A record file, shared by the engines of this process that write to it.
pub struct RecordFile {
    out: Mutex<std::io::BufWriter<std::fs::File>>,
    /// The run's start: a line's `t` is its intended start since.
    t0: Instant,
}

/// The record files open in this process, by path.
fn open_files() -> &'static Mutex<HashMap<PathBuf, Weak<RecordFile>>> {
    static FILES: OnceLock<Mutex<HashMap<PathBuf, Weak<RecordFile>>>> = OnceLock::new();
    FILES.get_or_init(Mutex::default)
}

impl RecordFile {
    /// The record file at `path` (created, or emptied), or the one another
    /// engine of this process opened for it.
    pub fn open(path: &Path, t0: Instant) -> Result<Arc<RecordFile>, RecordError> {
        let err = |error| RecordError {
            path: path.display().to_string(),
            error,
        };
        let mut files = open_files().lock().unwrap_or_else(|p| p.into_inner());
        files.retain(|_, f| f.strong_count() > 0);
        if let Some(f) = files.get(path).and_then(Weak::upgrade) {
            return Ok(f);
        }
        let file = std::fs::File::create(path).map_err(err)?;
        let f = Arc::new(RecordFile {
            out: Mutex::new(std::io::BufWriter::with_capacity(256 << 10, file)),
            t0,
        });
        files.insert(path.to_path_buf(), Arc::downgrade(&f));
        Ok(f)
    }

    /// Writes one request: `name` its row, `session` its user, `start` its
    /// intended start.
    pub fn write(&self, c: &Copied, name: &str, session: &str, start: Instant) {
        let t = start.saturating_duration_since(self.t0).as_secs_f64();
        let (body, body_base64) = match std::str::from_utf8(&c.body) {
            _ if c.body.is_empty() => (None, None),
            Ok(text) => (Some(text.to_owned()), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(&c.body)),
            ),
        };
        let record = Record {
            // Microseconds, as the engine measures.
            t: (t * 1e6).round() / 1e6,
            method: c.method.as_ref().map(ToString::to_string),
            url: c.path.clone(),
            headers: c
                .headers
                .iter()
                // The framing and the host are the replay's own to set.
                .filter(|(n, _)| {
                    !matches!(n.as_str(), "host" | "content-length" | "transfer-encoding")
                })
                .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
            body,
            body_base64,
            session: Some(session.to_owned()),
            name: Some(name.to_owned()),
            status: c.status,
        };
        let Ok(mut line) = serde_json::to_vec(&record) else {
            return;
        };
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = out.write_all(&line) {
            tracing::warn!("--record: {e}");
        }
    }

    /// Writes what is buffered.
    pub fn flush(&self) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = out.flush() {
            tracing::warn!("--record: {e}");
        }
    }
}

impl Drop for RecordFile {
    fn drop(&mut self) {
        self.flush();
    }
}
