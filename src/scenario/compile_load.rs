//! The `[load]` table: closed or open model, stages, duration, count, timeout.

use std::time::Duration;

use super::compile::{Ctx, DEFAULT_TIMEOUT, parse_duration};
use super::error::ScenarioError;
use super::file::{self, S};
use super::{LoadModel, LoadSpec, Stage, Think};

pub(super) fn compile_stages(
    cx: &Ctx<'_>,
    stages: &[S<file::Stage>],
) -> Result<Vec<Stage>, ScenarioError> {
    stages
        .iter()
        .map(|s| {
            let st = s.get_ref();
            let duration = parse_duration(&st.duration)
                .map_err(|e| cx.err(s.span(), format!("stage duration: {e}")))?;
            if !(st.target.is_finite() && st.target >= 0.0) {
                return Err(cx.err(s.span(), "stage target must be a number >= 0"));
            }
            Ok(Stage {
                duration,
                target: st.target,
            })
        })
        .collect()
}

pub(super) fn compile_load(cx: &Ctx<'_>, l: &file::Load) -> Result<LoadSpec, ScenarioError> {
    let stages = compile_stages(cx, &l.stages)?;
    let timeout = match &l.timeout {
        Some(t) => cx.duration(t, "timeout")?,
        None => DEFAULT_TIMEOUT,
    };
    if timeout.is_zero() {
        let span = l.timeout.as_ref().map(|t| t.span()).unwrap_or(0..0);
        return Err(cx.err(span, "timeout must be above zero"));
    }
    let duration = match &l.duration {
        Some(d) => Some(cx.duration(d, "duration")?),
        None => None,
    };
    let requests = l.requests.as_ref().map(|r| *r.get_ref());
    if let (Some(r), Some(0)) = (&l.requests, requests) {
        return Err(cx.err(r.span(), "requests must be at least 1"));
    }
    let model = match (&l.rate, &l.users) {
        (Some(rate), Some(users)) => {
            let (a, b) = (rate.span(), users.span());
            let _ = b;
            return Err(cx.err(
                a,
                "give either users (closed model) or rate (open model), not both",
            ));
        }
        (Some(rate), None) => {
            for (key, span) in [
                ("spawn_rate", l.spawn_rate.as_ref().map(|s| s.span())),
                ("think_time", l.think_time.as_ref().map(|s| s.span())),
            ] {
                if let Some(span) = span {
                    return Err(cx.err(
                        span,
                        format!(
                            "{key} belongs to the closed model (users); the open model has rate"
                        ),
                    ));
                }
            }
            let r = *rate.get_ref();
            if !(r.is_finite() && r >= 0.0) {
                return Err(cx.err(
                    rate.span(),
                    "rate must be a number of requests per second >= 0",
                ));
            }
            LoadModel::Open {
                rate: r,
                max_in_flight: l
                    .max_in_flight
                    .as_ref()
                    .map(|m| *m.get_ref())
                    .unwrap_or(10_000)
                    .max(1),
                stages,
            }
        }
        (None, users) => {
            if let Some(m) = &l.max_in_flight {
                return Err(cx.err(m.span(), "max_in_flight belongs to the open model (rate)"));
            }
            let users_n = users.as_ref().map(|u| *u.get_ref()).unwrap_or(1);
            let spawn_rate = match &l.spawn_rate {
                Some(s) if !(s.get_ref().is_finite() && *s.get_ref() > 0.0) => {
                    return Err(cx.err(
                        s.span(),
                        "spawn_rate must be a number of users per second > 0",
                    ));
                }
                Some(s) => *s.get_ref(),
                // Start everyone at once (or as fast as the stages say)
                // unless told otherwise.
                None => f64::INFINITY,
            };
            let think = match &l.think_time {
                None => Think::None,
                Some(t) => compile_think(cx, t, "think_time")?,
            };
            LoadModel::Closed {
                users: users_n,
                spawn_rate,
                think,
                stages,
            }
        }
    };
    Ok(LoadSpec {
        model,
        duration,
        requests,
        timeout,
    })
}

/// A pause: a duration ("1s"), or { min = D, max = D } drawn uniformly.
pub(super) fn compile_think(
    cx: &Ctx<'_>,
    t: &S<toml::Value>,
    key: &str,
) -> Result<Think, ScenarioError> {
    let dur = |v: Option<&toml::Value>, what: &str| -> Result<Duration, ScenarioError> {
        let text = v.and_then(|v| v.as_str()).ok_or_else(|| {
            cx.err(
                t.span(),
                format!("{what}: expected a duration string such as \"1s\""),
            )
        })?;
        parse_duration(text).map_err(|e| cx.err(t.span(), format!("{what}: {e}")))
    };
    Ok(match t.get_ref() {
        toml::Value::Table(tbl) => {
            if let Some(k) = tbl.keys().find(|k| *k != "min" && *k != "max") {
                return Err(cx.err(
                    t.span(),
                    format!("{key}: unknown key {k:?}, expected min and max"),
                ));
            }
            let lo = dur(tbl.get("min"), &format!("{key}.min"))?;
            let hi = dur(tbl.get("max"), &format!("{key}.max"))?;
            if lo > hi {
                return Err(cx.err(t.span(), format!("{key}: min is above max")));
            }
            Think::Uniform(lo, hi)
        }
        v => {
            let d = dur(Some(v), key)?;
            if d.is_zero() {
                Think::None
            } else {
                Think::Fixed(d)
            }
        }
    })
}
