//! `thresholds`: each rule parsed by the statistics' own parser, its name
//! checked against the scenario's rows (requests, steps, flows, streaming
//! calls' rows, times to first byte), and `abort` and `delay` read for the
//! rules that stop a run.

use std::time::Duration;

use super::ThresholdSpec;
use super::context::Ctx;
use super::error::ScenarioError;
use super::file::{self, S};
use super::limits;
use super::units::parse_duration;
use crate::stats::Rows;
use crate::stats::threshold::Threshold;

/// Every threshold of the file, each naming one of `rows` if it names one.
pub(super) fn compile_thresholds(
    cx: &Ctx<'_>,
    parsed: &file::File,
    rows: &Rows,
) -> Result<Vec<ThresholdSpec>, ScenarioError> {
    let mut thresholds = Vec::new();
    for tv in &parsed.thresholds {
        let (t, abort) = compile_threshold(cx, tv)?;
        let text = cx.env(&t)?;
        let parsed_t = Threshold::parse(&text)
            .map_err(|e| cx.err(t.span(), format!("threshold {text:?}: {e}")))?;
        if let Some(n) = &parsed_t.name
            && !rows.names().contains(n)
        {
            return Err(cx.err(
                t.span(),
                format!("threshold {text:?}: there is no request, step, flow:NAME, streaming call's sent:/first:/msg:NAME or HTTP request's ttfb:NAME named {n:?}"),
            ));
        }
        thresholds.push(ThresholdSpec { rule: text, abort });
    }
    Ok(thresholds)
}

/// A `thresholds` entry: a rule, or `{ rule, abort, delay }`. The rule
/// keeps its place for the errors about it.
fn compile_threshold(
    cx: &Ctx<'_>,
    v: &S<toml::Value>,
) -> Result<(S<String>, Option<Duration>), ScenarioError> {
    let expected = || {
        cx.err(
            v.span(),
            "a threshold is a rule such as \"p99<250ms\" or a table { rule = \"p99<250ms\", abort = true, delay = \"10s\" }",
        )
    };
    match v.get_ref() {
        toml::Value::String(s) => Ok((S::new(v.span(), s.clone()), None)),
        toml::Value::Table(t) => {
            if let Some(k) = t
                .keys()
                .find(|k| !["rule", "abort", "delay"].contains(&k.as_str()))
            {
                return Err(cx.err(
                    v.span(),
                    format!("threshold: unknown key {k:?}, expected rule, abort and delay"),
                ));
            }
            let Some(toml::Value::String(rule)) = t.get("rule") else {
                return Err(expected());
            };
            let abort = match t.get("abort") {
                None => false,
                Some(toml::Value::Boolean(b)) => *b,
                Some(other) => {
                    return Err(cx.err(
                        v.span(),
                        format!("threshold: abort must be true or false, not {other}"),
                    ));
                }
            };
            let delay = match t.get("delay") {
                None => Duration::ZERO,
                Some(toml::Value::String(d)) if abort => {
                    let d = parse_duration(d)
                        .map_err(|e| cx.err(v.span(), format!("threshold delay: {e}")))?;
                    cx.bound(v.span(), "delay", limits::duration(d))?
                }
                Some(toml::Value::String(_)) => {
                    return Err(cx.err(
                        v.span(),
                        "threshold: delay is for a threshold with abort = true",
                    ));
                }
                Some(other) => {
                    return Err(cx.err(
                        v.span(),
                        format!("threshold delay: expected a duration string such as \"10s\", not {other}"),
                    ));
                }
            };
            Ok((S::new(v.span(), rule.clone()), abort.then_some(delay)))
        }
        _ => Err(expected()),
    }
}
