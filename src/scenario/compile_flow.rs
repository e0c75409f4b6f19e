//! `[[flow]]`: journeys of steps, the user variables their captures set, and
//! the check that every template reads only variables set before it runs.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::compile_load::compile_think;
use super::compile_request::compile_request;
use super::context::Ctx;
use super::data::DataSource;
use super::error::ScenarioError;
use super::file::{self, S};
use super::template::{Scope, Template};
use super::{Capture, CaptureFrom, FlowSpec, RequestKind, RequestSpec, Schema, Step};

/// Every capture's variable name, in the order first met, and each name's
/// index. Names are checked here: identifiers that no data source already
/// uses.
pub(super) fn collect_vars(
    cx: &Ctx<'_>,
    flows: &[S<file::Flow>],
    data: &[DataSource],
) -> Result<(Vec<String>, HashMap<String, usize>), ScenarioError> {
    let mut vars: Vec<String> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for step in flows.iter().flat_map(|f| &f.get_ref().steps) {
        for (name, v) in &step.get_ref().capture {
            let ident = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ident {
                return Err(cx.err(
                    v.span(),
                    format!(
                        "capture {name:?}: a variable name is letters, digits, _ and -, starting with a letter or _"
                    ),
                ));
            }
            if data.iter().any(|d| d.name == *name) {
                return Err(cx.err(
                    v.span(),
                    format!("capture {name:?}: a data source has that name already"),
                ));
            }
            if !index.contains_key(name) {
                index.insert(name.clone(), vars.len());
                vars.push(name.clone());
            }
        }
    }
    Ok((vars, index))
}

/// The templates of a request: where it may read variables.
fn templates(spec: &RequestSpec) -> Vec<&Template> {
    match &spec.kind {
        RequestKind::Http(h) => std::iter::once(&h.path)
            .chain(h.headers.iter().map(|(_, t)| t))
            .chain(&h.body)
            .collect(),
        RequestKind::WebSocket(w) => std::iter::once(&w.http.path)
            .chain(w.http.headers.iter().map(|(_, t)| t))
            .chain(&w.messages)
            .collect(),
        RequestKind::Grpc(g) => g
            .messages
            .iter()
            .flat_map(|m| m.templates.iter().map(|(_, t)| t))
            .chain(g.metadata.iter().map(|(_, t)| t))
            .collect(),
    }
}

/// Refuses a request that reads a variable not in `set`.
fn check_vars(
    cx: &Ctx<'_>,
    spec: &RequestSpec,
    set: &BTreeSet<usize>,
    vars: &[String],
    r: &S<file::Request>,
    place: &str,
) -> Result<(), ScenarioError> {
    for t in templates(spec) {
        if let Some(v) = t.vars().find(|v| !set.contains(v)) {
            return Err(cx.err(
                r.span(),
                format!(
                    "request {:?} uses {{{{ {} }}}}, but {place} captures it",
                    spec.name, vars[v]
                ),
            ));
        }
    }
    Ok(())
}

/// Compiles every flow; their request steps are appended to `requests`.
/// Top-level requests (already in `requests`) may read only what the
/// on-start flow captures.
pub(super) fn compile_flows(
    cx: &Ctx<'_>,
    parsed: &file::File,
    scope: &Scope<'_>,
    grpc_schema: &mut Option<Schema>,
    requests: &mut Vec<RequestSpec>,
) -> Result<Vec<FlowSpec>, ScenarioError> {
    let mut on_start: Option<&S<file::Flow>> = None;
    for f in &parsed.flows {
        if let Some(o) = &f.get_ref().on_start
            && *o.get_ref()
        {
            if on_start.is_some() {
                return Err(cx.err(o.span(), "only one flow can be on_start"));
            }
            on_start = Some(f);
        }
    }
    let start_vars: BTreeSet<usize> = on_start
        .into_iter()
        .flat_map(|f| &f.get_ref().steps)
        .flat_map(|s| s.get_ref().capture.keys())
        .filter_map(|k| scope.var(k))
        .collect();
    for (spec, r) in requests.iter().zip(&parsed.requests) {
        check_vars(
            cx,
            spec,
            &start_vars,
            scope.vars,
            r,
            "only flow steps before it and the on_start flow can set a variable, and no on_start flow",
        )?;
    }

    let mut flows: Vec<FlowSpec> = Vec::new();
    let mut flow_names: HashSet<String> = HashSet::new();
    for f in &parsed.flows {
        let span = f.span();
        let f = f.get_ref();
        let name = cx.env(&f.name)?;
        if name.is_empty() {
            return Err(cx.err(f.name.span(), "flow name must not be empty"));
        }
        if !flow_names.insert(name.clone()) {
            return Err(cx.err(f.name.span(), format!("flow name {name:?} is used twice")));
        }
        let is_start = f.on_start.as_ref().is_some_and(|o| *o.get_ref());
        let weight = match (&f.weight, is_start) {
            (Some(w), true) => {
                return Err(cx.err(
                    w.span(),
                    "an on_start flow runs once per user and has no weight",
                ));
            }
            (Some(w), false) if *w.get_ref() == 0 => {
                return Err(cx.err(
                    w.span(),
                    format!("flow {name:?}: weight must be at least 1"),
                ));
            }
            (Some(w), false) => *w.get_ref(),
            (None, true) => 0,
            (None, false) => 1,
        };
        // What a step may read: the on-start flow's captures (they ran
        // before any iteration), then what earlier steps captured.
        let mut set = if is_start {
            BTreeSet::new()
        } else {
            start_vars.clone()
        };
        let mut steps = Vec::new();
        for r in &f.steps {
            let step = r.get_ref();
            if let Some(t) = &step.think {
                if let Some(key) = other_key(step) {
                    return Err(cx.err(
                        r.span(),
                        format!("a think step is a pause only; {key} belongs to a request step"),
                    ));
                }
                steps.push(Step::Think(compile_think(cx, t, "think")?));
                continue;
            }
            let mut spec = compile_request(cx, r, parsed, scope, grpc_schema, true)?;
            let place = format!("no step of flow {name:?} before it, and no on_start flow,");
            check_vars(cx, &spec, &set, scope.vars, r, &place)?;
            spec.captures = compile_captures(cx, step, scope)?;
            set.extend(spec.captures.iter().map(|c| c.var));
            let idx = cx.add_request(requests, spec, r)?;
            steps.push(Step::Request(idx));
        }
        if !steps.iter().any(|s| matches!(s, Step::Request(_))) {
            return Err(cx.err(
                span,
                format!("flow {name:?} has no request step: add a [[flow.step]] with a name"),
            ));
        }
        flows.push(FlowSpec {
            name,
            weight,
            on_start: is_start,
            continue_on_failure: f.continue_on_failure,
            steps,
        });
    }
    if requests.iter().all(|r| r.weight == 0) && flows.iter().all(|f| f.weight == 0) {
        return Err(cx.err(
            0..0,
            "the scenario has only an on_start flow: add a [[request]] or another [[flow]] for the iterations",
        ));
    }
    Ok(flows)
}

/// The first request key of a think step, which may hold nothing else.
fn other_key(s: &file::Request) -> Option<&'static str> {
    let c = &s.check;
    [
        ("name", s.name.is_some()),
        ("weight", s.weight.is_some()),
        ("method", s.method.is_some()),
        ("path", s.path.is_some()),
        ("url", s.url.is_some()),
        ("headers", !s.headers.is_empty()),
        ("body", s.body.is_some()),
        ("json", s.json.is_some()),
        ("grpc", s.grpc.is_some()),
        ("message", s.message.is_some()),
        ("metadata", !s.metadata.is_empty()),
        ("capture", !s.capture.is_empty()),
        (
            "check",
            c.status.is_some()
                || c.code.is_some()
                || c.body_contains.is_some()
                || !c.json.is_empty(),
        ),
    ]
    .into_iter()
    .find(|(_, set)| *set)
    .map(|(k, _)| k)
}

/// `capture = { VAR = { json = "/ptr" } | { header = "name" } | { regex = "re" } }`.
fn compile_captures(
    cx: &Ctx<'_>,
    step: &file::Request,
    scope: &Scope<'_>,
) -> Result<Vec<Capture>, ScenarioError> {
    let mut out = Vec::new();
    for (name, v) in &step.capture {
        let span = v.span();
        let expected = || {
            cx.err(
                span.clone(),
                format!(
                    "capture {name:?}: expected one of {{ json = \"/pointer\" }}, {{ header = \"name\" }}, {{ regex = \"...\" }}"
                ),
            )
        };
        let toml::Value::Table(t) = v.get_ref() else {
            return Err(expected());
        };
        let mut entries = t.iter();
        let (Some((kind, toml::Value::String(arg))), None) = (entries.next(), entries.next())
        else {
            return Err(expected());
        };
        let from =
            match kind.as_str() {
                "json" => {
                    if !(arg.is_empty() || arg.starts_with('/')) {
                        return Err(cx.err(
                            span,
                            format!(
                                "capture {name:?}: {arg:?} is not a JSON pointer (it starts with /)"
                            ),
                        ));
                    }
                    CaptureFrom::Json(arg.clone())
                }
                "header" => {
                    let h = http::HeaderName::from_bytes(arg.as_bytes()).map_err(|_| {
                        cx.err(
                            span.clone(),
                            format!("capture {name:?}: {arg:?} is not a header name"),
                        )
                    })?;
                    CaptureFrom::Header(h.as_str().to_owned())
                }
                "cookie" => {
                    if arg.is_empty() || arg.contains([';', '=', ' ']) {
                        return Err(cx.err(
                            span,
                            format!("capture {name:?}: {arg:?} is not a cookie name"),
                        ));
                    }
                    CaptureFrom::Cookie(arg.clone())
                }
                "regex" => CaptureFrom::Regex(regex::Regex::new(arg).map_err(|e| {
                    cx.err(span.clone(), format!("capture {name:?}: bad regex: {e}"))
                })?),
                _ => return Err(expected()),
            };
        let var = scope
            .var(name)
            .ok_or_else(|| cx.err(span.clone(), format!("capture {name:?}: unknown variable")))?;
        out.push(Capture { var, from });
    }
    Ok(out)
}
