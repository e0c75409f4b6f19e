//! A capacity search as people read it: the probes in the order they ran
//! and what was found, as a terminal table, Markdown (for a PR comment) and
//! a self-contained HTML page with the latency-by-rate curve. The JSON is
//! [`CapacityReport`] itself.

use std::fmt::Write as _;
use std::io;

use super::escape_markup as esc;
use super::format_micros;
use super::{charts, html};
use crate::stats::capacity::{CapacityReport, Kind, Limit, Probe, format_rate};
use crate::stats::threshold::{Metric, Threshold};

/// The columns of every probe table.
const HEAD: [&str; 10] = [
    "#",
    "rate/s",
    "verdict",
    "answered/s",
    "p50",
    "p90",
    "p99",
    "max",
    "errors",
    "why",
];

fn cells(n: usize, p: &Probe) -> [String; 10] {
    let lat = |us: u64| {
        if p.requests == 0 {
            "-".to_owned()
        } else {
            format_micros(us as f64)
        }
    };
    [
        n.to_string(),
        format_rate(p.rate),
        p.kind.as_str().to_owned(),
        format!("{:.1}", p.achieved_rps),
        lat(p.p50_us),
        lat(p.p90_us),
        lat(p.p99_us),
        lat(p.max_us),
        format!("{:.2}%", p.error_rate * 100.0),
        p.why.first().cloned().unwrap_or_default(),
    ]
}

/// The verdict word of the whole search.
pub fn verdict(r: &CapacityReport) -> &'static str {
    match (&r.found.rate, &r.found.limit) {
        (_, Limit::Invalid { .. }) => "INVALID",
        (Some(_), Limit::Stopped) => "STOPPED",
        (Some(_), _) => "FOUND",
        (None, _) => "NONE",
    }
}

/// The terminal summary: the SLOs, one row per probe, the answer.
pub fn write_summary(out: &mut impl io::Write, r: &CapacityReport) -> io::Result<()> {
    writeln!(
        out,
        "\ncapacity search: {} · SLOs {} · workers {} · connections {} · probes of {:.0} s",
        r.scenario,
        r.slos.join(", "),
        r.workers,
        r.connections,
        r.settings.probe.as_secs_f64()
    )?;
    let rows: Vec<[String; 10]> = r
        .probes
        .iter()
        .enumerate()
        .map(|(i, p)| cells(i + 1, p))
        .collect();
    let mut widths = HEAD.map(str::len);
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut dyn io::Write, row: &[String]| -> io::Result<()> {
        let mut s = String::new();
        for (i, (c, w)) in row.iter().zip(widths.iter()).enumerate() {
            // Numbers right, words left; the last column as it is.
            if i == 9 {
                s.push_str(c);
            } else if i == 2 {
                let _ = write!(s, "{c:<w$}  ");
            } else {
                let _ = write!(s, "{c:>w$}  ");
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, &HEAD.map(str::to_owned))?;
    for row in &rows {
        line(out, row)?;
    }
    writeln!(out, "\n{}: {}", verdict(r), r.found.line())?;
    if let Some(best) = best(r) {
        writeln!(
            out,
            "at {}/s: p50 {} · p99 {} · errors {:.2}% · answered {:.1}/s",
            format_rate(best.rate),
            format_micros(best.p50_us as f64),
            format_micros(best.p99_us as f64),
            best.error_rate * 100.0,
            best.achieved_rps
        )?;
    }
    Ok(())
}

/// The probe at the rate found.
fn best(r: &CapacityReport) -> Option<&Probe> {
    let rate = r.found.rate?;
    r.probes
        .iter()
        .find(|p| p.rate == rate && p.kind == Kind::Kept)
}

/// A Markdown table, ready to paste as a PR comment.
pub fn markdown(r: &CapacityReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### volley capacity: {} ({})\n\n**{}**\n\nSLOs: {} · workers {} · connections {} · probes of {:.0} s\n",
        r.scenario,
        verdict(r),
        r.found.line(),
        r.slos
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", "),
        r.workers,
        r.connections,
        r.settings.probe.as_secs_f64()
    );
    let _ = writeln!(s, "| {} |", HEAD.join(" | "));
    let _ = writeln!(
        s,
        "|{}",
        HEAD.iter()
            .enumerate()
            .map(|(i, _)| if i == 2 || i == 9 { "---|" } else { "--:|" })
            .collect::<String>()
    );
    for (i, p) in r.probes.iter().enumerate() {
        let c = cells(i + 1, p).map(|c| c.replace('|', "\\|"));
        let _ = writeln!(s, "| {} |", c.join(" | "));
    }
    for n in &r.notes {
        let _ = writeln!(s, "\n> {}", n.replace('\n', " "));
    }
    s
}

/// The latency bounds drawn on the chart: SLOs on a latency of all requests.
fn latency_bounds(slos: &[String]) -> Vec<(String, f64)> {
    slos.iter()
        .filter_map(|t| Threshold::parse(t).ok())
        .filter(|t| {
            t.name.is_none() && matches!(t.metric, Metric::Quantile(_) | Metric::Mean | Metric::Max)
        })
        .map(|t| (t.text.clone(), t.value / 1000.0))
        .collect()
}

/// The HTML page: the answer, the curve, every probe with its reasons.
pub fn render(r: &CapacityReport) -> String {
    let mut out = html::page_head(&format!("volley capacity: {}", r.scenario));
    let class = match verdict(r) {
        "FOUND" => "pass",
        "INVALID" => "invalid",
        "NONE" => "fail",
        _ => "none",
    };
    let _ = writeln!(
        out,
        "<h1>volley capacity: {}<span class=\"verdict {class}\" id=\"verdict\">{}</span></h1>",
        esc(&r.scenario),
        verdict(r)
    );
    let _ = writeln!(
        out,
        "<p class=\"sub\">started {} · SLOs {} · workers {} · connections {} · probes of {:.0} s, {:.0} s apart</p>",
        html::when(r.started_unix_ms),
        esc(&r.slos.join(", ")),
        r.workers,
        r.connections,
        r.settings.probe.as_secs_f64(),
        r.settings.drain.as_secs_f64()
    );
    let _ = writeln!(out, "<p id=\"found\"><b>{}</b></p>", esc(&r.found.line()));
    match charts::capacity(&r.probes, &latency_bounds(&r.slos), r.found.rate) {
        Ok(svg) => {
            let _ = writeln!(out, "<figure class=\"chart\" id=\"curve\">{svg}</figure>");
        }
        Err(e) => {
            let _ = writeln!(out, "<p class=\"invalid\">{}</p>", esc(&e.to_string()));
        }
    }
    out.push_str("<h2>Probes</h2><div class=\"scroll\"><table id=\"probes\"><tr>");
    for (i, h) in HEAD.iter().enumerate() {
        let l = if i == 2 || i == 9 { " class=\"l\"" } else { "" };
        let _ = write!(out, "<th{l}>{}</th>", esc(h));
    }
    out.push_str("</tr>\n");
    for (i, p) in r.probes.iter().enumerate() {
        let c = cells(i + 1, p);
        let kind = match p.kind {
            Kind::Kept => "pass",
            Kind::Broken => "fail",
            Kind::Invalid => "invalid",
        };
        out.push_str("<tr>");
        for (j, v) in c.iter().enumerate() {
            match j {
                2 => {
                    let _ = write!(out, "<td class=\"l {kind}\">{}</td>", esc(v));
                }
                9 => {
                    let _ = write!(out, "<td class=\"wrap\">{}</td>", esc(&p.why.join("; ")));
                }
                _ => {
                    let _ = write!(out, "<td>{}</td>", esc(v));
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
    if !r.notes.is_empty() {
        out.push_str("<h2>Notes</h2><ul class=\"notes\">");
        for n in &r.notes {
            let _ = write!(out, "<li>{}</li>", esc(n));
        }
        out.push_str("</ul>\n");
    }
    let _ = writeln!(
        out,
        "<footer>volley {} · a probe is kept when every SLO held over it, no arrival was missed and at least {:.0}% of the rate was answered; INVALID when the generator limited it</footer></main></body></html>",
        env!("CARGO_PKG_VERSION"),
        crate::stats::capacity::KEEP_UP * 100.0
    );
    out
}
