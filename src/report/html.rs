//! The HTML report: one self-contained page to hand to people who did not
//! watch the run. Inline CSS, charts as inline SVG ([`super::charts`]), no
//! script and nothing fetched, so it opens offline, in a mail attachment or
//! a CI artifact viewer alike.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use super::charts;
use super::escape_markup as esc;
use super::format_micros;
use super::run_report::RunReport;
use super::summary::QUANTILES;
use crate::stats::{NameClass, NameTotals, RunStats};

const STYLE: &str = r#"
:root { --ink:#1d2430; --muted:#5b6472; --line:#dfe3e8; --pass:#1a7f37; --fail:#c8281e; --head:#f4f6f8; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0; background: #fafbfc; }
main { max-width: 1280px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.sub { color: var(--muted); margin: 0 0 16px; }
.verdict { display: inline-block; font-weight: 600; padding: 2px 10px; border-radius: 4px; color: #fff; margin-left: 8px; font-size: 13px; vertical-align: middle; }

.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 10px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card b { display: block; font-size: 20px; font-variant-numeric: tabular-nums; }
.card span { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); font-variant-numeric: tabular-nums; }
th, td { padding: 5px 7px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: var(--head); font-weight: 600; }
td.l, th.l { text-align: left; } td.wrap { white-space: normal; text-align: left; word-break: break-word; }
tr.total td { font-weight: 600; background: var(--head); }
.scroll { overflow-x: auto; }
.pass { color: var(--pass); font-weight: 600; } .fail { color: var(--fail); font-weight: 600; }
.verdict.pass { background: var(--pass); color: #fff; } .verdict.fail { background: var(--fail); color: #fff; } .verdict.none { background: var(--muted); color: #fff; } .verdict.invalid { background: #b35c00; color: #fff; }
.invalid { border-left: 4px solid #b35c00; padding: 2px 12px; margin: 12px 0; }
figure.chart { margin: 0 0 16px; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 6px; }
figure.chart svg { display: block; width: 100%; height: auto; }
ul.notes li { margin-bottom: 4px; }
footer { color: var(--muted); margin-top: 32px; font-size: 12px; }
"#;

/// A page's start, up to its `<main>`: the title and the style every
/// volley page shares.
pub fn page_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body><main>\n",
        esc(title)
    )
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0%".into()
    } else {
        format!("{:.2}%", part as f64 * 100.0 / whole as f64)
    }
}

/// A Unix time in milliseconds as RFC 3339, to the second.
pub fn when(unix_ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(unix_ms)).to_string()
}

fn cell_latency(n: &NameTotals, f: impl Fn(&NameTotals) -> f64) -> String {
    if n.hist.is_empty() {
        "–".into()
    } else {
        format_micros(f(n))
    }
}

/// Which protocol answered a row: its label, or each protocol's count when
/// more than one did ("HTTP/2 12, HTTP/3 988").
fn protocol_cell(n: &NameTotals) -> String {
    match n.protocols.seen().collect::<Vec<_>>()[..] {
        [] => "–".into(),
        [(p, _)] => p.label().into(),
        _ => n.protocols.breakdown(),
    }
}

/// One row of a requests or flows table; `protocol`: whether it has the
/// protocol column.
fn stats_row(
    out: &mut String,
    class: &str,
    kind: &str,
    name: &str,
    protocol: bool,
    n: &NameTotals,
    run: &RunStats,
) {
    let _ = write!(
        out,
        "<tr class=\"{class}\"><td class=\"l\">{}</td><td class=\"l\">{}</td>",
        esc(kind),
        esc(name),
    );
    if protocol {
        let _ = write!(out, "<td class=\"l\">{}</td>", protocol_cell(n));
    }
    let _ = write!(
        out,
        "<td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td>",
        n.requests,
        n.failures,
        percent(n.failures, n.requests),
        run.rps(n),
        cell_latency(n, |n| n.hist.mean()),
        cell_latency(n, |n| n.hist.min() as f64),
    );
    for (_, q) in QUANTILES {
        let _ = write!(
            out,
            "<td>{}</td>",
            cell_latency(n, |n| n.hist.quantile(q) as f64)
        );
    }
    let avg = |b: u64| {
        if n.requests > 0 {
            format!("{:.0}", b as f64 / n.requests as f64)
        } else {
            "0".into()
        }
    };
    let _ = writeln!(
        out,
        "<td>{}</td><td>{}</td><td>{}</td></tr>",
        cell_latency(n, |n| n.hist.max() as f64),
        avg(n.bytes_sent),
        avg(n.bytes_received)
    );
}

fn stats_table(out: &mut String, report: &RunReport, class: NameClass) {
    let run = &report.stats;
    let (count, failed, rate, one) = match class {
        NameClass::Flow => ("iterations", "failed", "per s", "iteration"),
        NameClass::Stream => ("messages", "failed", "per s", "message"),
        NameClass::Ttfb => ("answers", "failed", "per s", "answer"),
        NameClass::Request => ("requests", "failures", "req/s", "request"),
    };
    // Requests only (other rows count no connection), and only where some
    // counted one: a result from before volley counted them reads as it did.
    let total = (class == NameClass::Request).then(|| run.total());
    let protocol = total.as_ref().is_some_and(|t| !t.protocols.is_empty());
    let _ = write!(
        out,
        "<div class=\"scroll\"><table class=\"stats\"><thead><tr><th class=\"l\">type</th><th class=\"l\">name</th>{}<th>{count}</th><th>{failed}</th><th>failed %</th><th>{rate}</th><th>mean</th><th>min</th>",
        if protocol {
            "<th class=\"l\">protocol</th>"
        } else {
            ""
        }
    );
    for (label, _) in QUANTILES {
        let _ = write!(out, "<th>{label}</th>");
    }
    // The byte columns are means: say of what.
    let _ = writeln!(
        out,
        "<th>max</th><th>bytes out per {one}</th><th>bytes in per {one}</th></tr></thead><tbody>"
    );
    let range = match class {
        NameClass::Flow => run.flow_names(),
        NameClass::Stream => run.stream_names(),
        NameClass::Ttfb => run.ttfb_names(),
        NameClass::Request => 0..run.request_names(),
    };
    for i in range {
        let name = &run.names[i];
        stats_row(out, "", report.kind(i), name, protocol, &run.totals[i], run);
    }
    if let Some(total) = &total {
        stats_row(out, "total", "", "total", protocol, total, run);
    }
    out.push_str("</tbody></table></div>\n");
}

fn chart(out: &mut String, id: &str, svg: Result<String, charts::ChartError>) {
    match svg {
        Ok(svg) => {
            let _ = writeln!(out, "<figure class=\"chart\" id=\"{id}\">{svg}</figure>");
        }
        Err(e) => {
            let _ = writeln!(out, "<p class=\"fail\">{}</p>", esc(&e.to_string()));
        }
    }
}

fn card(out: &mut String, value: &str, label: &str) {
    let _ = write!(
        out,
        "<div class=\"card\"><b>{}</b><span>{}</span></div>",
        esc(value),
        esc(label)
    );
}

/// The latency distributions drawn: the total and the busiest names.
const DISTRIBUTIONS: usize = 6;

/// Renders the report as one HTML page.
pub fn render(report: &RunReport) -> String {
    let run = &report.stats;
    let c = &report.config;
    let total = run.total();
    let mut out = String::with_capacity(256 * 1024);
    let title = format!("volley: {}", c.scenario);
    use super::run_report::Outcome;
    let outcome = report.outcome();
    let (verdict_class, verdict) = match outcome {
        Outcome::Passed if report.verdicts.is_empty() => ("none", "no thresholds"),
        Outcome::Passed => ("pass", outcome.label()),
        Outcome::Failed | Outcome::Broken => ("fail", outcome.label()),
        Outcome::Invalid => ("invalid", outcome.label()),
    };
    out.push_str(&page_head(&title));
    let _ = writeln!(
        out,
        "<h1>{}<span class=\"verdict {verdict_class}\" id=\"verdict\">{verdict}</span></h1>",
        esc(&title)
    );
    let reset = if run.reset_at_ms > 0 {
        format!(
            " (statistics since a reset at {:.1} s)",
            run.reset_at_ms as f64 / 1000.0
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "<p class=\"sub\">started {} · ran {:.1} s{reset} · {} → {}</p>",
        when(report.started_unix_ms),
        run.elapsed_secs(),
        esc(&c.model),
        esc(&c.targets.join(", "))
    );

    out.push_str("<section class=\"cards\">");
    card(&mut out, &total.requests.to_string(), "requests");
    card(
        &mut out,
        &percent(total.failures, total.requests),
        &format!("failed ({})", total.failures),
    );
    card(&mut out, &format!("{:.1}", run.rps(&total)), "requests/s");
    for (label, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
        card(
            &mut out,
            &cell_latency(&total, |n| n.hist.quantile(q) as f64),
            label,
        );
    }
    card(
        &mut out,
        &cell_latency(&total, |n| n.hist.max() as f64),
        "max",
    );
    match (c.users, c.rate) {
        (Some(u), _) => card(&mut out, &u.to_string(), "users"),
        (None, Some(r)) => card(&mut out, &format!("{r}/s"), "arrival rate"),
        _ => {}
    }
    out.push_str("</section>\n");

    if !report.verdicts.is_empty() {
        out.push_str("<h2 id=\"thresholds\">Thresholds</h2><table><thead><tr><th class=\"l\">threshold</th><th>observed</th><th>verdict</th></tr></thead><tbody>\n");
        for v in &report.verdicts {
            let (class, word) = if v.passed {
                ("pass", "pass")
            } else {
                ("fail", "FAIL")
            };
            let _ = writeln!(
                out,
                "<tr><td class=\"l\">{}</td><td>{}</td><td class=\"{class}\">{word}</td></tr>",
                esc(&v.threshold),
                esc(&v.observed)
            );
        }
        out.push_str("</tbody></table>\n");
    }

    out.push_str("<h2 id=\"requests\">Requests</h2>\n");
    stats_table(&mut out, report, NameClass::Request);
    if run.tail.flows > 0 {
        out.push_str("<h2 id=\"flows\">Flows</h2><p class=\"sub\">Iterations of each journey; latency is the whole journey, think time included.</p>\n");
        stats_table(&mut out, report, NameClass::Flow);
    }
    if run.tail.streams > 0 {
        out.push_str("<h2 id=\"streams\">Streams</h2><p class=\"sub\">Messages of each streaming call: <code>sent:</code> each message sent (latency: its wait for a place in the send queue), <code>first:</code> each call's first answer (from the call's start), <code>msg:</code> each answer (from the message it answers, or the answer before).</p>\n");
        stats_table(&mut out, report, NameClass::Stream);
    }
    if run.tail.ttfb > 0 {
        out.push_str("<h2 id=\"ttfb\">Time to first byte</h2><p class=\"sub\">From each HTTP request's start (its intended start, open model) to the first byte of its answer's body (the end of the head when it has none); the whole answer's time is in Requests.</p>\n");
        stats_table(&mut out, report, NameClass::Ttfb);
    }
    if !report.invalid.is_empty() {
        let _ = writeln!(
            out,
            "<div class=\"invalid\" id=\"invalid\"><p><strong>INVALID</strong>: the generator, not the target, limited this measurement.</p><ul>{}</ul></div>",
            report
                .invalid
                .iter()
                .map(|w| format!("<li>{}</li>", esc(w)))
                .collect::<String>()
        );
    }
    if run.waited_starts > 0 || run.abandoned > 0 {
        let _ = writeln!(
            out,
            "<p>{} arrivals waited for a busy connection (their wait is in their latency); {} requests were abandoned in flight at the stop.</p>",
            run.waited_starts, run.abandoned
        );
    }
    if run.late_starts > 0 || run.missed_starts > 0 {
        let _ = writeln!(
            out,
            "<p class=\"fail\">The arrival rate was not kept: {} starts were late, {} missed (every slot busy). Latencies count from the intended start.</p>",
            run.late_starts, run.missed_starts
        );
    }
    if run.retries > 0 {
        let _ = writeln!(
            out,
            "<p class=\"sub\">{} requests were sent again on a new connection: the server had closed the kept-alive one before answering (not failures).</p>",
            run.retries
        );
    }

    if run.cookies_dropped > 0 {
        let _ = writeln!(
            out,
            "<p class=\"sub\">{} cookies were dropped from the users' jars: longer than 4 KiB, or the least recently set over 50 for one domain or 3,000 for one user (as browsers bound them).</p>",
            run.cookies_dropped
        );
    }

    out.push_str("<h2 id=\"charts\">Over time</h2>\n");
    let users = if c.model == "open" {
        "in flight"
    } else {
        "users"
    };
    chart(
        &mut out,
        "chart-throughput",
        charts::throughput(&run.series.points, users),
    );
    chart(
        &mut out,
        "chart-latency",
        charts::latency_over_time(&run.series.points),
    );
    let mut busiest: Vec<usize> = (0..run.request_names()).collect();
    busiest.sort_by_key(|&i| std::cmp::Reverse(run.totals[i].requests));
    let mut dense = vec![("total", total.hist.dense())];
    if run.request_names() > 1 {
        dense.extend(
            busiest
                .iter()
                .take(DISTRIBUTIONS)
                .map(|&i| (run.names[i].as_str(), run.totals[i].hist.dense())),
        );
    }
    let lines: Vec<(&str, &crate::stats::Latency)> =
        dense.iter().map(|(n, h)| (*n, &**h)).collect();
    chart(&mut out, "chart-distribution", charts::distribution(&lines));

    let failures: Vec<_> = run
        .names
        .iter()
        .zip(&run.totals)
        .flat_map(|(name, n)| n.failure_counts.iter().map(move |f| (name, f)))
        .collect();
    out.push_str("<h2 id=\"failures\">Failures</h2>\n");
    if failures.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        let mut failures = failures;
        failures.sort_by_key(|(_, f)| std::cmp::Reverse(f.count));
        out.push_str("<div class=\"scroll\"><table><thead><tr><th>count</th><th class=\"l\">name</th><th class=\"l\">kind</th><th class=\"l\">reason</th><th class=\"l\">last detail</th></tr></thead><tbody>\n");
        for (name, f) in failures {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"wrap\">{}</td><td class=\"wrap\">{}</td></tr>",
                f.count,
                esc(name),
                f.kind.as_str(),
                esc(&f.reason),
                esc(f.last_detail.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</tbody></table></div>\n");
    }

    if !report.workers.is_empty() {
        out.push_str("<h2 id=\"workers\">Workers</h2><table><thead><tr><th class=\"l\">id</th><th class=\"l\">host</th><th class=\"l\">state</th><th>requests</th><th>peak users</th><th>mean CPU</th><th>peak CPU</th></tr></thead><tbody>\n");
        for w in &report.workers {
            let busy = if w.peak_cpu_percent > crate::stats::health::BUSY_CPU_PERCENT {
                " class=\"fail\""
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{:.0}%</td><td{busy}>{:.0}%</td></tr>",
                esc(&w.id),
                esc(&w.host),
                if w.invalid.is_empty() {
                    esc(&w.state)
                } else {
                    format!(
                        "{} <span class=\"fail\" title=\"{}\">INVALID</span>",
                        esc(&w.state),
                        esc(&w.invalid.join("; "))
                    )
                },
                w.requests,
                w.peak_users,
                w.mean_cpu_percent,
                w.peak_cpu_percent
            );
        }
        out.push_str("</tbody></table>\n");
    }

    if !report.notes.is_empty() {
        out.push_str("<h2 id=\"notes\">Notes</h2><ul class=\"notes\">\n");
        for n in &report.notes {
            let _ = writeln!(out, "<li>{}</li>", esc(n));
        }
        out.push_str("</ul>\n");
    }

    out.push_str("<h2 id=\"configuration\">Configuration</h2><table><tbody>\n");
    let opt = |v: Option<String>| v.unwrap_or_else(|| "–".into());
    let rows: Vec<(&str, String)> = vec![
        ("scenario", c.scenario.clone()),
        ("targets", c.targets.join(", ")),
        ("load model", c.model.clone()),
        ("users", opt(c.users.map(|u| u.to_string()))),
        ("spawn rate", opt(c.spawn_rate.map(|r| format!("{r}/s")))),
        ("arrival rate", opt(c.rate.map(|r| format!("{r}/s")))),
        ("connections", opt(c.connections.map(|n| n.to_string()))),
        ("duration", opt(c.duration_s.map(|d| format!("{d} s")))),
        ("requests", opt(c.requests.map(|r| r.to_string()))),
        ("timeout", format!("{} s", c.timeout_s)),
        ("workers", c.workers.to_string()),
        ("started", when(report.started_unix_ms)),
    ];
    for (k, v) in rows {
        let _ = writeln!(
            out,
            "<tr><th class=\"l\">{k}</th><td class=\"wrap\">{}</td></tr>",
            esc(&v)
        );
    }
    if !report.merged_from.is_empty() {
        let _ = writeln!(
            out,
            "<tr><th class=\"l\">merged from</th><td class=\"wrap\">{}</td></tr>",
            esc(&report.merged_from.join(", "))
        );
    }
    out.push_str("</tbody></table>\n");
    let _ = writeln!(
        out,
        "<footer>volley {} · percentiles from HDR histograms (3 significant digits){}</footer></main></body></html>",
        env!("CARGO_PKG_VERSION"),
        if report.merged_from.is_empty() {
            ""
        } else {
            "; merged totals are exact, per-second percentiles are the highest of the merged runs'"
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::run_report::RunConfig;
    use crate::stats::{Protocol, Rows, Snapshot, StatId, Tail};

    /// A run of two requests and a flow, 10 requests each: "moved" answered
    /// over HTTP/2 then HTTP/3, "kept" over HTTP/1.1 (none when not
    /// `protocols`, as a result from before volley counted them).
    fn report(protocols: bool) -> RunReport {
        let rows = Rows::from_parts(
            vec!["moved".into(), "kept".into(), "flow:f".into()],
            Tail {
                flows: 1,
                ..Tail::default()
            },
        );
        let mut stats = RunStats::new(rows);
        let mut snap = Snapshot {
            at_ms: 1000,
            interval_ms: 1000,
            ..Snapshot::default()
        };
        let counts: [&[(Protocol, u64)]; 3] = [
            &[(Protocol::Http2, 2), (Protocol::Http3, 8)],
            &[(Protocol::Http1, 10)],
            &[],
        ];
        for (i, counts) in counts.into_iter().enumerate() {
            let mut n =
                crate::stats::NameSnapshot::<crate::stats::Latency>::empty(StatId(i as u32));
            for v in 1..=10 {
                crate::stats::histogram::record(&mut n.hist, 100 * v);
            }
            n.requests = 10;
            for &(p, c) in counts.iter().filter(|_| protocols) {
                n.protocols.set(p, c);
            }
            snap.names.push(n);
        }
        stats.apply(0, &snap);
        stats.finish();
        RunReport {
            config: RunConfig {
                scenario: "s".into(),
                targets: vec!["https://127.0.0.1:1".into()],
                model: "closed".into(),
                users: Some(1),
                spawn_rate: None,
                rate: None,
                duration_s: Some(1.0),
                requests: None,
                timeout_s: 5.0,
                workers: 1,
                allow_empty: false,
                allow_all_failed: false,
                connections: None,
            },
            kinds: vec!["HTTP".into(), "HTTP".into(), "flow".into()],
            methods: vec!["GET".into(), "GET".into(), "flow".into()],
            stats,
            started_unix_ms: 0,
            thresholds: Vec::new(),
            verdicts: Vec::new(),
            notes: Vec::new(),
            errors: Vec::new(),
            invalid: Vec::new(),
            generator_cpu_percent: None,
            report_lag_ms: None,
            workers: Vec::new(),
            merged_from: Vec::new(),
            aborted: None,
        }
    }

    #[test]
    fn the_requests_table_says_which_protocol_answered() {
        let page = render(&report(true));
        assert!(page.contains("<th class=\"l\">name</th><th class=\"l\">protocol</th>"));
        assert!(page.contains(
            "<td class=\"l\">moved</td><td class=\"l\">HTTP/2 2, HTTP/3 8</td><td>10</td>"
        ));
        assert!(page.contains("<td class=\"l\">kept</td><td class=\"l\">HTTP/1.1</td><td>10</td>"));
        assert!(page.contains(
            "<td class=\"l\">total</td><td class=\"l\">HTTP/1.1 10, HTTP/2 2, HTTP/3 8</td>"
        ));
        // Flows count no connection: no column there.
        assert!(page.contains("<td class=\"l\">flow:f</td><td>10</td>"));
        assert_eq!(page.matches(">protocol</th>").count(), 1);
        // A result from before volley counted them: no column at all.
        let old = render(&report(false));
        assert!(!old.contains(">protocol</th>"));
        assert!(old.contains("<td class=\"l\">moved</td><td>10</td>"));
    }
}
