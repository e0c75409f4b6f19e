//! A comparison as one self-contained HTML page, like the run's report:
//! inline CSS, no script, nothing fetched. Per name, its figures side by
//! side and the two latency distributions overlaid (the run report's
//! percentile-spectrum chart, [`crate::report::charts::distribution`]).

use std::fmt::Write as _;

use super::text::{cells, title};
use super::{Comparison, Side, Verdict, confidence};
use crate::report::charts;
use crate::report::escape_markup as esc;

const STYLE: &str = r#"
:root { --ink:#1d2430; --muted:#5b6472; --line:#dfe3e8; --pass:#1a7f37; --fail:#c8281e; --head:#f4f6f8; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0; background: #fafbfc; }
main { max-width: 1280px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.sub { color: var(--muted); margin: 0 0 16px; }
.verdict { display: inline-block; font-weight: 600; padding: 2px 10px; border-radius: 4px; color: #fff; margin-left: 8px; font-size: 13px; vertical-align: middle; background: var(--muted); }
.verdict.fail { background: var(--fail); color: #fff; } .verdict.pass { background: var(--pass); color: #fff; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); font-variant-numeric: tabular-nums; }
th, td { padding: 5px 7px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: var(--head); font-weight: 600; }
td.l, th.l { text-align: left; }
.scroll { overflow-x: auto; }
.fail { color: var(--fail); font-weight: 600; } .pass { color: var(--pass); font-weight: 600; }
figure.chart { margin: 12px 0 16px; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 6px; }
figure.chart svg { display: block; width: 100%; height: auto; }
p.note { border-left: 4px solid #b35c00; padding: 2px 12px; }
footer { color: var(--muted); margin-top: 32px; font-size: 12px; }
"#;

/// Charts drawn at most (each is an SVG of some 30 KB); names past it
/// keep their tables.
const MAX_CHARTS: usize = 50;

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Regression => "fail",
        Verdict::Improved | Verdict::Unchanged => "pass",
        _ => "",
    }
}

/// Renders the page; the sides give the histograms drawn.
pub fn render(c: &Comparison, base: &Side, cand: &Side) -> String {
    let mut out = String::with_capacity(128 * 1024);
    let (class, word) = if c.regressed() {
        ("fail", "REGRESSION")
    } else {
        ("pass", "no regression")
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>volley compare</title><style>{STYLE}</style></head><body><main>\n"
    );
    let _ = writeln!(
        out,
        "<h1>volley compare<span class=\"verdict {class}\" id=\"verdict\">{word}</span></h1>"
    );
    let side = |s: &super::SideSummary| {
        format!(
            "{} ({:.1} s, {} requests)",
            esc(&s.files.join(" + ")),
            s.seconds,
            s.requests
        )
    };
    let _ = writeln!(
        out,
        "<p class=\"sub\">baseline: {} · candidate: {}</p><p>{}</p>",
        side(&c.baseline),
        side(&c.candidate),
        esc(&c.headline())
    );
    let judged: Vec<&str> = c.settings.judged().iter().map(|j| j.label()).collect();
    out.push_str("<h2 id=\"verdicts\">Verdicts</h2><div class=\"scroll\"><table><thead><tr><th class=\"l\">name</th><th class=\"l\">class</th><th class=\"l\">verdict</th><th>requests</th><th>error rate</th>");
    for j in &judged {
        let _ = write!(out, "<th>{j}</th>");
    }
    out.push_str("</tr></thead><tbody>\n");
    for (i, n) in c.names.iter().enumerate() {
        let (b, cd) = (n.baseline.as_ref(), n.candidate.as_ref());
        let both = |f: &dyn Fn(&super::Figures) -> String| match (b, cd) {
            (Some(b), Some(c)) => format!("{} → {}", f(b), f(c)),
            (Some(x), None) | (None, Some(x)) => f(x),
            (None, None) => String::new(),
        };
        let _ = write!(
            out,
            "<tr><td class=\"l\"><a href=\"#name-{i}\">{}</a></td><td class=\"l\">{}</td><td class=\"l {}\">{}</td><td>{}</td><td>{}</td>",
            esc(&n.name),
            esc(n.class),
            verdict_class(n.verdict),
            esc(n.verdict.label()),
            both(&|f| f.requests.to_string()),
            both(&|f| format!("{:.2}%", f.error_rate * 100.0)),
        );
        for j in &judged {
            let cell = n
                .latency
                .iter()
                .find(|r| r.percentile == *j)
                .map(|r| super::signed(r.change))
                .unwrap_or_default();
            let _ = write!(out, "<td>{}</td>", esc(&cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
    let _ = writeln!(out, "<p class=\"sub\">Rule: {}.</p>", esc(&c.rule()));
    for note in &c.notes {
        let _ = writeln!(out, "<p class=\"note\">note: {}</p>", esc(note));
    }
    let mut charts_drawn = 0;
    for (i, n) in c.names.iter().enumerate() {
        let _ = writeln!(
            out,
            "<h2 id=\"name-{i}\">{}<span class=\"verdict {}\">{}</span></h2>",
            esc(&title(n)),
            verdict_class(n.verdict),
            esc(n.verdict.label())
        );
        if !n.reasons.is_empty() {
            out.push_str("<ul>");
            for r in &n.reasons {
                let _ = write!(out, "<li>{}</li>", esc(r));
            }
            out.push_str("</ul>\n");
        }
        if matches!(n.verdict, Verdict::Added | Verdict::Removed) {
            continue;
        }
        let _ = write!(
            out,
            "<div class=\"scroll\"><table><thead><tr><th class=\"l\"></th><th>baseline</th><th>candidate</th><th>change</th><th>{} interval</th><th class=\"l\"></th></tr></thead><tbody>",
            confidence(c.settings.alpha)
        );
        for row in cells(n) {
            let _ = write!(
                out,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"l{}\">{}</td></tr>",
                esc(&row[0]),
                esc(&row[1]),
                esc(&row[2]),
                esc(&row[3]),
                esc(&row[4]),
                if row[5] == "WORSE" { " fail" } else { "" },
                esc(&row[5])
            );
        }
        out.push_str("</tbody></table></div>\n");
        if let Some(p) = n.p_slower {
            let _ = writeln!(
                out,
                "<p class=\"sub\">P(a candidate request is slower) = {p:.3} (0.5: no shift)</p>"
            );
        }
        let hists = (
            n.at.0.and_then(|k| base.histogram(k)),
            n.at.1.and_then(|k| cand.histogram(k)),
        );
        if let (Some(hb), Some(hc)) = hists {
            if charts_drawn >= MAX_CHARTS {
                continue;
            }
            charts_drawn += 1;
            let (hb, hc) = (hb.dense(), hc.dense());
            match charts::distribution(&[("baseline", &hb), ("candidate", &hc)]) {
                Ok(svg) => {
                    let _ = writeln!(
                        out,
                        "<figure class=\"chart\" id=\"chart-{i}\">{svg}</figure>"
                    );
                }
                Err(e) => {
                    let _ = writeln!(out, "<p class=\"fail\">{}</p>", esc(&e.to_string()));
                }
            }
        }
    }
    let drawn_all = c
        .names
        .iter()
        .filter(|n| n.at.0.is_some() && n.at.1.is_some())
        .count()
        <= MAX_CHARTS;
    let _ = writeln!(
        out,
        "<footer>volley {} · percentiles from exact HDR histograms (3 significant digits){}</footer></main></body></html>",
        env!("CARGO_PKG_VERSION"),
        if drawn_all {
            String::new()
        } else {
            format!("; distributions drawn for the first {MAX_CHARTS} names")
        }
    );
    out
}
