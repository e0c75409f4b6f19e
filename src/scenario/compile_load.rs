//! The `[load]` table: closed or open model, stages, duration, count,
//! timeout, each value within the bounds of [`limits`](super::limits),
//! refused at its own line and column otherwise.

use std::time::Duration;

use super::context::Ctx;
use super::error::ScenarioError;
use super::file::{self, S};
use super::limits::{self, DEFAULT_TIMEOUT};
use super::units::parse_duration;
use super::{LoadModel, LoadSpec, Stage, Think};

/// The stages, each target checked by `target` (users or a rate), each
/// duration and their total at most [`limits::MAX_DURATION`].
fn compile_stages(
    cx: &Ctx<'_>,
    stages: &[S<file::Stage>],
    target: fn(f64) -> Result<f64, limits::BoundError>,
) -> Result<Vec<Stage>, ScenarioError> {
    let mut out: Vec<Stage> = Vec::with_capacity(stages.len());
    for s in stages {
        let st = s.get_ref();
        let dspan = st.duration.span();
        let duration = parse_duration(st.duration.get_ref())
            .map_err(|e| cx.err(dspan.clone(), format!("stage duration: {e}")))?;
        let duration = cx.bound(dspan, "stage duration", limits::duration(duration))?;
        let target = cx.bound(
            st.target.span(),
            "stage target",
            target(*st.target.get_ref()),
        )?;
        out.push(Stage { duration, target });
        // The first stage that takes the total over the bound is the one
        // to shorten.
        cx.bound(s.span(), "stages", limits::stages_total(&out))?;
    }
    Ok(out)
}

pub(super) fn compile_load(cx: &Ctx<'_>, l: &file::Load) -> Result<LoadSpec, ScenarioError> {
    let open = l.rate.is_some();
    let stages = compile_stages(
        cx,
        &l.stages,
        if open {
            limits::rate
        } else {
            limits::user_target
        },
    )?;
    let timeout = match &l.timeout {
        Some(t) => cx.bound(
            t.span(),
            "timeout",
            limits::timeout(cx.duration(t, "timeout")?),
        )?,
        None => DEFAULT_TIMEOUT,
    };
    let duration = match &l.duration {
        Some(d) => Some(cx.bound(
            d.span(),
            "duration",
            limits::duration(cx.duration(d, "duration")?),
        )?),
        None => None,
    };
    let requests = match &l.requests {
        Some(r) => Some(cx.whole(
            r,
            "requests",
            &format!("from 1 to {}", limits::MAX_REQUESTS),
            limits::requests,
        )?),
        None => None,
    };
    let model = match (&l.rate, &l.users) {
        (Some(rate), Some(_)) => {
            return Err(cx.err(
                rate.span(),
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
            let r = cx.bound(rate.span(), "rate", limits::rate(*rate.get_ref()))?;
            let max_in_flight = match &l.max_in_flight {
                Some(m) => cx.whole(
                    m,
                    "max_in_flight",
                    &format!("from 0 to {} (0 is taken as 1)", limits::MAX_IN_FLIGHT),
                    limits::max_in_flight,
                )?,
                None => limits::DEFAULT_MAX_IN_FLIGHT,
            };
            let connections = match &l.connections {
                Some(c) => cx.whole(
                    c,
                    "connections",
                    &format!("from 1 to {}", limits::MAX_CONNECTIONS),
                    limits::connections,
                )?,
                None => limits::DEFAULT_CONNECTIONS,
            };
            LoadModel::Open {
                rate: r,
                max_in_flight,
                connections,
                stages,
            }
        }
        (None, users) => {
            if let Some(m) = &l.max_in_flight {
                return Err(cx.err(m.span(), "max_in_flight belongs to the open model (rate)"));
            }
            if let Some(c) = &l.connections {
                return Err(cx.err(
                    c.span(),
                    "connections belongs to the open model (rate); in the closed model each user has its own",
                ));
            }
            let users_n = match users {
                Some(u) => cx.whole(
                    u,
                    "users",
                    &format!("from 0 to {}", limits::MAX_USERS),
                    limits::users,
                )?,
                None => 1,
            };
            let spawn_rate = match &l.spawn_rate {
                Some(s) => cx.bound(s.span(), "spawn_rate", limits::spawn_rate(*s.get_ref()))?,
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
    let load = LoadSpec {
        model,
        duration,
        requests,
        timeout,
    };
    // Every value was checked at its place above; this is the same check
    // flags and plans from the network get, kept in step with it.
    load.check()
        .map_err(|e| cx.err(0..0, format!("[load] {e}")))?;
    Ok(load)
}

/// A pause: a duration ("1s"), or { min = D, max = D } drawn uniformly;
/// at most [`limits::MAX_THINK`].
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
        let d = parse_duration(text).map_err(|e| cx.err(t.span(), format!("{what}: {e}")))?;
        cx.bound(t.span(), what, limits::think(d))
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
