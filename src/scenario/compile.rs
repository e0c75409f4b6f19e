//! From the TOML text to a [`Scenario`]: deserialize (unknown keys are
//! errors, named with the nearest known key), then each table by the module
//! of its job: data (`compile_data.rs`), load (`compile_load.rs`), requests
//! (`compile_request.rs`), flows (`compile_flow.rs`), thresholds
//! (`compile_thresholds.rs`), all in one context (`context.rs`) that
//! carries the file for file:line:column errors.

use std::path::Path;

use super::compile_data::compile_data;
use super::compile_flow::{collect_vars, compile_flows};
use super::compile_load::compile_load;
use super::compile_replay::compile_replay;
use super::compile_request::compile_request;
use super::compile_thresholds::compile_thresholds;
use super::context::Ctx;
use super::error::ScenarioError;
use super::file;
use super::limits;
use super::template::Scope;
use super::{Scenario, Schema, Source};
use crate::stats::rows::{RequestRows, Rows};

// Public paths callers use (`scenario::compile::{Options, parse_duration, ...}`).
pub use super::limits::{DEFAULT_DURATION, DEFAULT_TIMEOUT};
pub use super::options::{DiskSources, MemorySources, Options, Sources, normalize};
pub use super::units::parse_duration;

/// Reads and compiles a scenario file from disk.
pub fn load(path: &Path, options: &Options) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read the scenario: {e}"),
        excerpt: None,
    })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    compile(path, &text, &DiskSources(dir), options)
}

/// Compiles a scenario again from what it was compiled from, with no access
/// to this machine's files or environment (how a worker gets its master's).
pub fn compile_source(source: &Source) -> Result<Scenario, ScenarioError> {
    let options = Options {
        host: source.host.clone(),
        headers: source.headers.clone(),
        vars: source
            .vars
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .collect(),
        isolated: true,
        reflected: None,
    };
    compile(
        &source.path,
        &source.text,
        &MemorySources(source.files.clone()),
        &options,
    )
}

/// Compiles the scenario text of `file`.
pub fn compile(
    file: &Path,
    text: &str,
    sources: &dyn Sources,
    options: &Options,
) -> Result<Scenario, ScenarioError> {
    let parsed: file::File = toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end();
        // Serde names the type it expected, not the key: add the key.
        let message = plain_types(&did_you_mean(message));
        let message = match e.span().and_then(|s| key_before(text, s.start)) {
            Some(key) if !message.contains(&format!("`{key}`")) => format!("{key}: {message}"),
            _ => message,
        };
        ScenarioError::at(file, text, e.span(), message)
    })?;
    let max_body = compile_max_body(file, text, &parsed.http)?;
    let cx = Ctx::new(file, text, sources, options, max_body);
    let whole = 0..0;

    let mut parsed = parsed;
    if let Some(r) = &parsed.replay {
        // A replay's load is its sources: [load] keeps the open model's
        // pool settings (connections, max_in_flight) and the bounds.
        if let Some(u) = &parsed.load.users {
            return Err(cx.err(
                u.span(),
                "[replay] sends its sources' requests at their times: users do not apply (connections sets the pool)",
            ));
        }
        if parsed.load.rate.is_none() {
            parsed.load.rate = Some(toml::Spanned::new(r.span(), 1.0));
        }
    }
    let parsed = parsed;
    let data = compile_data(&cx, &parsed.data)?;
    let load = compile_load(&cx, &parsed.load)?;
    let (vars, var_index) = collect_vars(&cx, &parsed.flows, &data)?;
    let scope = Scope {
        data: &data,
        vars: &vars,
        var_index: Some(&var_index),
    };
    let replayed = compile_replay(&cx, &parsed, file, &scope)?;
    if replayed.is_none() && parsed.requests.is_empty() && parsed.flows.is_empty() {
        return Err(cx.err(
            whole,
            "the scenario sends nothing: add a [[request]] or a [[flow]]",
        ));
    }
    let (replay, mut requests) = match replayed {
        Some((r, requests)) => (Some(r), requests),
        None => (None, Vec::new()),
    };
    let load = match &replay {
        Some(r) => replay_load(load, r, parsed.load.duration.is_some()),
        None => load,
    };
    let mut grpc_pool: Option<Schema> = None;
    for r in &parsed.requests {
        let spec = compile_request(&cx, r, &parsed, &scope, &mut grpc_pool, false)?;
        cx.add_request(&mut requests, spec, r)?;
    }
    let flows = compile_flows(&cx, &parsed, &scope, &mut grpc_pool, &mut requests)?;
    let laid: Vec<RequestRows> = requests
        .iter()
        .map(|r| RequestRows {
            name: &r.name,
            streaming: r.is_streaming(),
            http: matches!(r.kind, super::RequestKind::Http(_)),
        })
        .collect();
    let rows = Rows::lay_out(&laid, flows.iter().map(|f| f.name.as_str()))
        .map_err(|e| cx.err(0..0, e.to_string()))?;
    let thresholds = compile_thresholds(&cx, &parsed, &rows)?;
    let name = parsed.scenario.name.clone().unwrap_or_else(|| {
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into())
    });
    let source = cx.into_source();
    Ok(Scenario {
        name,
        load,
        requests,
        flows,
        vars,
        data,
        thresholds,
        allow_empty: parsed.scenario.allow_empty,
        allow_all_failed: parsed.scenario.allow_all_failed,
        source,
        rows,
        replay,
    })
}

/// A replay's load: its requests at their times (the open model's
/// executors and waiting bound from `[load]`), for as long as the timeline
/// lasts at its speed, and every pass, unless `[load] duration` cuts it.
fn replay_load(
    load: super::LoadSpec,
    r: &super::replay::Replay,
    duration_given: bool,
) -> super::LoadSpec {
    let (connections, max_in_flight) = match load.model {
        super::LoadModel::Open {
            connections,
            max_in_flight,
            ..
        } => (connections, max_in_flight),
        super::LoadModel::Closed { .. } => {
            (limits::DEFAULT_CONNECTIONS, limits::DEFAULT_MAX_IN_FLIGHT)
        }
    };
    let n = r.index.requests as f64;
    let pass = match r.spec.rate {
        Some(rate) => std::time::Duration::from_secs_f64(n / rate),
        None => r.index.span.div_f64(r.spec.speed),
    };
    let rate = if pass.is_zero() {
        n
    } else {
        n / pass.as_secs_f64()
    };
    let all = pass.saturating_mul(r.spec.loops);
    // The run ends when the last request is answered; the duration only
    // bounds it (every request's timeout after the last is sent).
    let bound = all
        .saturating_add(load.timeout)
        .saturating_add(std::time::Duration::from_secs(5));
    super::LoadSpec {
        model: super::LoadModel::Open {
            rate,
            max_in_flight,
            connections,
            stages: Vec::new(),
        },
        duration: if duration_given {
            load.duration
        } else {
            Some(bound)
        },
        requests: None,
        timeout: load.timeout,
    }
}

/// serde's "unknown field `spawn_rat`, expected one of `users`, ..." with
/// the closest known key named first: "did you mean `spawn_rate`?".
fn did_you_mean(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_owned();
    };
    let Some((unknown, known)) = rest.split_once('`') else {
        return message.to_owned();
    };
    // A key that begins with what was written (think → think_time) first,
    // then the nearest by edits, if near enough.
    let keys = || known.split('`').skip(1).step_by(2);
    let best = keys()
        .filter(|k| unknown.len() >= 3 && k.starts_with(unknown))
        .map(|k| (0, k))
        .next()
        .or_else(|| {
            keys()
                .map(|k| (strsim::damerau_levenshtein(unknown, k), k))
                .filter(|(d, k)| *d <= (k.len() / 3).max(1) + 1)
                .min_by_key(|(d, _)| *d)
        });
    match best {
        Some((_, k)) => format!("unknown key `{unknown}`: did you mean `{k}`? ({message})"),
        None => message.to_owned(),
    }
}

/// serde names Rust types; a scenario's author knows TOML's.
fn plain_types(message: &str) -> String {
    message
        .replace("expected u64", "expected a whole number")
        .replace("expected u32", "expected a whole number")
        .replace("expected u16", "expected a whole number")
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("expected a boolean", "expected true or false")
}

/// The key whose value starts at byte `offset` of `text` (`users` in
/// `users = -5`), if a key and `=` come right before it.
fn key_before(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?.trim_end_matches([' ', '\t']);
    let before = before.strip_suffix('=')?.trim_end_matches([' ', '\t']);
    if let Some(b) = before.strip_suffix('"') {
        let start = b.rfind('"')?;
        return Some(b[start + 1..].to_owned());
    }
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let key = &before[start..];
    (!key.is_empty()).then(|| key.to_owned())
}

/// `[http] max_body`: a size string or an integer of bytes, within bounds.
fn compile_max_body(file: &Path, text: &str, http: &file::Http) -> Result<usize, ScenarioError> {
    let Some(v) = &http.max_body else {
        return Ok(limits::DEFAULT_MAX_BODY);
    };
    let err = |m: String| ScenarioError::at(file, text, Some(v.span()), m);
    let bytes = match v.get_ref() {
        toml::Value::Integer(i) if *i >= 0 => *i as u64,
        toml::Value::String(s) => {
            limits::parse_size(s).map_err(|e| err(format!("max_body: {e}")))?
        }
        other => {
            return Err(err(format!(
                "max_body must be a size such as \"4MiB\" or a whole number of bytes, not {other}"
            )));
        }
    };
    limits::max_body(bytes).map_err(|e| err(format!("max_body {e}")))
}
