//! `[replay]`: its settings checked, its sources read once
//! ([`ReplaySpec::index`]), and a request per name found, each compiled
//! as an HTTP request to `[http] base_url` (or `--host`) with the file's
//! `[http]` settings, so TLS, headers, cookies and limits apply as in any
//! run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use toml::Spanned;

use super::compile_request::compile_request;
use super::context::Ctx;
use super::error::ScenarioError;
use super::file::{self, S};
use super::replay::{Bodies, Filter, Format, LogFormat, NameRule, Replay, ReplaySpec, SessionKey};
use super::template::Scope;
use super::{RequestKind, RequestSpec};

/// A replay and its requests, one per name.
pub(super) type Compiled = (Arc<Replay>, Vec<RequestSpec>);

/// The replay and its requests (one per name), or None without `[replay]`.
pub(super) fn compile_replay(
    cx: &Ctx<'_>,
    parsed: &file::File,
    file_path: &Path,
    scope: &Scope<'_>,
) -> Result<Option<Compiled>, ScenarioError> {
    let Some(r) = &parsed.replay else {
        return Ok(None);
    };
    let span = r.span();
    if !parsed.requests.is_empty() || !parsed.flows.is_empty() {
        return Err(cx.err(
            span,
            "[replay] sends the sources' requests: a scenario with it has no [[request]] or [[flow]]",
        ));
    }
    let spec = replay_spec(cx, r.get_ref(), file_path)?;
    let replay = spec
        .index()
        .map_err(|e| cx.err(span.clone(), e.to_string()))?;
    if replay.index.requests == 0 {
        let why = match replay.index.first_bad.first() {
            Some(b) => format!(
                " ({} lines are not requests; the first: {b})",
                replay.index.bad
            ),
            None => String::new(),
        };
        return Err(cx.err(
            span,
            format!("the replay's sources hold no request to send{why}"),
        ));
    }
    let mut requests = Vec::with_capacity(replay.index.names.len());
    for (name, method) in replay.index.names.iter().zip(&replay.index.methods) {
        if name.is_empty()
            || name.starts_with(super::FLOW_PREFIX)
            || name.starts_with(super::TTFB_PREFIX)
            || super::STREAM_PREFIXES.iter().any(|p| name.starts_with(p))
        {
            return Err(cx.err(
                span.clone(),
                format!("the replay names a request {name:?}: names may not be empty or start with flow:, ttfb:, sent:, first: or msg:"),
            ));
        }
        let one = file::Request {
            name: Some(Spanned::new(span.clone(), "replay".to_owned())),
            method: Some(Spanned::new(span.clone(), method.to_string())),
            path: Some(Spanned::new(span.clone(), "/".to_owned())),
            ..file::Request::default()
        };
        let mut spec = compile_request(
            cx,
            &Spanned::new(span.clone(), one),
            parsed,
            scope,
            &mut None,
            false,
        )?;
        spec.name = name.clone();
        // Any answer passes the request's own check: the replay sets each
        // answer's status against the source's (engine/replay.rs).
        spec.check.status = (100..=599).collect();
        if !matches!(spec.kind, RequestKind::Http(_)) {
            return Err(cx.err(span, "a replay sends HTTP requests"));
        }
        requests.push(spec);
    }
    Ok(Some((Arc::new(replay), requests)))
}

fn replay_spec(
    cx: &Ctx<'_>,
    r: &file::Replay,
    file_path: &Path,
) -> Result<ReplaySpec, ScenarioError> {
    let dir = file_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if r.sources.get_ref().is_empty() {
        return Err(cx.err(r.sources.span(), "sources: give at least one file"));
    }
    let sources: Vec<PathBuf> = r
        .sources
        .get_ref()
        .iter()
        .map(|s| {
            let p = PathBuf::from(s);
            if p.is_absolute() { p } else { dir.join(p) }
        })
        .collect();
    let format = match &r.format {
        Some(f) => match f.get_ref().as_str() {
            "combined" | "common" => Format::Combined,
            "json" | "jsonl" => Format::Json,
            "har" => Format::Har,
            s if s.contains('$') => Format::Custom(
                LogFormat::parse(s).map_err(|e| cx.err(f.span(), format!("format: {e}")))?,
            ),
            other => {
                return Err(cx.err(
                    f.span(),
                    format!("format {other:?}: give combined, json, har, or an nginx log_format string with $variables"),
                ));
            }
        },
        None => by_extension(&sources[0]),
    };
    let speed = match &r.speed {
        Some(s) if !(s.get_ref().is_finite() && *s.get_ref() > 0.0 && *s.get_ref() <= 1e6) => {
            return Err(cx.err(s.span(), "speed must be a number above 0, at most 1000000"));
        }
        Some(s) => *s.get_ref(),
        None => 1.0,
    };
    let rate = match &r.rate {
        Some(s) if !(s.get_ref().is_finite() && *s.get_ref() > 0.0 && *s.get_ref() <= 1e8) => {
            return Err(cx.err(
                s.span(),
                "rate must be requests per second above 0, at most 1e8",
            ));
        }
        Some(s) => Some(*s.get_ref()),
        None => None,
    };
    if let (Some(s), Some(_)) = (&r.speed, &rate) {
        return Err(cx.err(s.span(), "give speed (the timeline, faster or slower) or rate (a fixed rate, in order), not both"));
    }
    let loops = match &r.loops {
        Some(l) if *l.get_ref() == 0 || *l.get_ref() > 1_000_000 => {
            return Err(cx.err(l.span(), "loops must be from 1 to 1000000"));
        }
        Some(l) => *l.get_ref(),
        None => 1,
    };
    let session = match &r.session {
        None if format == Format::Json => SessionKey::Field,
        None => SessionKey::None,
        Some(s) => parse_session(s.get_ref()).map_err(|e| cx.err(s.span(), e))?,
    };
    let filters = |list: &[S<String>], key: &str| -> Result<Vec<Filter>, ScenarioError> {
        list.iter()
            .map(|f| {
                Filter::parse(f.get_ref()).map_err(|e| cx.err(f.span(), format!("{key}: {e}")))
            })
            .collect()
    };
    let keep_headers = r
        .keep_headers
        .iter()
        .map(|h| h.get_ref().trim().to_ascii_lowercase())
        .collect();
    let rules = r
        .names
        .iter()
        .map(|n| NameRule::parse(n.get_ref()).map_err(|e| cx.err(n.span(), format!("names: {e}"))))
        .collect::<Result<_, _>>()?;
    let body = match (&r.body, &r.body_file) {
        (Some(b), Some(_)) => return Err(cx.err(b.span(), "give body or body_file, not both")),
        (Some(b), None) => Some(Bytes::from(cx.env(b)?)),
        (None, Some(f)) => Some(cx.read_file(f.get_ref(), f.span())?),
        (None, None) => None,
    };
    let bodies = match &r.bodies {
        None => None,
        Some(b) => {
            let p = PathBuf::from(cx.env(b)?);
            let p = if p.is_absolute() { p } else { dir.join(p) };
            if !p.is_dir() {
                return Err(cx.err(b.span(), format!("bodies: {} is not a folder", p.display())));
            }
            Some(Bodies::new(p))
        }
    };
    let compare_status = match r
        .statuses
        .as_ref()
        .map(|s| (s.get_ref().as_str(), s.span()))
    {
        None | Some(("log", _)) => true,
        Some(("any", _)) => false,
        Some((other, span)) => {
            return Err(cx.err(span, format!("statuses {other:?}: give \"log\" or \"any\"")));
        }
    };
    Ok(ReplaySpec {
        sources,
        format,
        speed,
        rate,
        loops,
        session,
        include: filters(&r.include, "include")?,
        exclude: filters(&r.exclude, "exclude")?,
        keep_headers,
        rules,
        body,
        bodies,
        compare_status,
    })
}

/// A source's format by its file name: `.har`, `.jsonl`/`.json`/`.ndjson`
/// (before any `.gz`), else an access log.
fn by_extension(path: &Path) -> Format {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".har") {
        Format::Har
    } else if [".jsonl", ".json", ".ndjson"]
        .iter()
        .any(|e| name.ends_with(e))
    {
        Format::Json
    } else {
        Format::Combined
    }
}

/// `none`, `client`, `session`, `cookie:NAME`, `header:NAME`.
pub fn parse_session(s: &str) -> Result<SessionKey, String> {
    let bad = || format!("session {s:?}: give none, client, session, cookie:NAME or header:NAME");
    Ok(match s.trim() {
        "none" => SessionKey::None,
        "client" => SessionKey::Client,
        "session" => SessionKey::Field,
        other => match other.split_once(':') {
            Some(("cookie", n)) if !n.trim().is_empty() => SessionKey::Cookie(n.trim().to_owned()),
            Some(("header", n)) if !n.trim().is_empty() => {
                SessionKey::Header(n.trim().to_ascii_lowercase())
            }
            _ => return Err(bad()),
        },
    })
}
