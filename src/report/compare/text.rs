//! A comparison as text: the terminal's table (a block per name: both
//! sides' figures, the change, its interval and the mark of each judged
//! figure) and Markdown to paste as a pull request's comment (a table of
//! the verdicts, every figure folded under it).

use std::io::{self, Write};

use super::{
    Comparison, ErrorRow, Figures, NameComparison, Row, SideSummary, Verdict, confidence, interval,
    signed, signed_points,
};
use crate::report::format_micros;

/// What a name's count is: requests, a flow's iterations, a stream's
/// messages, the answers whose first byte came.
fn count_word(n: &NameComparison) -> &'static str {
    match n.class {
        "flow" => "iterations",
        "stream" => "messages",
        "ttfb" => "answers",
        _ => "requests",
    }
}

fn rate(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map(f).unwrap_or_default()
}

/// A name's figures as rows of cells: label, baseline, candidate, change,
/// interval, mark (the HTML page draws the same rows).
pub(super) fn cells(n: &NameComparison) -> Vec<[String; 6]> {
    let (b, c) = (n.baseline.as_ref(), n.candidate.as_ref());
    let side = |f: Option<&Figures>, g: &dyn Fn(&Figures) -> String| f.map(g).unwrap_or_default();
    let mut rows = vec![
        [
            count_word(n).to_owned(),
            side(b, &|f| f.requests.to_string()),
            side(c, &|f| f.requests.to_string()),
            opt(n.requests_change, signed),
            String::new(),
            String::new(),
        ],
        [
            "per second".to_owned(),
            side(b, &|f| format!("{:.1}", f.rps)),
            side(c, &|f| format!("{:.1}", f.rps)),
            opt(n.rps_change, signed),
            String::new(),
            String::new(),
        ],
    ];
    if let Some(e) = &n.errors {
        rows.push(error_cells(e));
    }
    rows.extend(n.latency.iter().map(row_cells));
    if let (Some(b), Some(c)) = (b, c)
        && !n.latency.is_empty()
    {
        rows.push([
            "max".to_owned(),
            format_micros(b.max_us as f64),
            format_micros(c.max_us as f64),
            opt(n.max_change, signed),
            String::new(),
            String::new(),
        ]);
    }
    rows
}

fn error_cells(e: &ErrorRow) -> [String; 6] {
    [
        "error rate".to_owned(),
        rate(e.baseline),
        rate(e.candidate),
        signed_points(e.difference),
        format!("[{}, {}]", signed_points(e.low), signed_points(e.high)),
        e.mark.map(|m| m.label().to_owned()).unwrap_or_default(),
    ]
}

fn row_cells(r: &Row) -> [String; 6] {
    [
        r.percentile.to_owned(),
        format_micros(r.baseline_us as f64),
        format_micros(r.candidate_us as f64),
        signed(r.change),
        match (r.low, r.high) {
            (Some(l), Some(h)) => interval(l, h),
            _ => String::new(),
        },
        r.mark.map(|m| m.label().to_owned()).unwrap_or_default(),
    ]
}

/// Lines of cells, columns aligned: the first and the last two to the
/// left, numbers to the right.
fn aligned<const N: usize>(rows: &[[String; N]], left: [bool; N]) -> Vec<String> {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, cell)| {
                    if left[i] {
                        format!("{cell:<w$}", w = widths[i])
                    } else {
                        format!("{cell:>w$}", w = widths[i])
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect()
}

fn files(s: &SideSummary) -> String {
    format!(
        "{} ({:.1} s, {} requests)",
        s.files.join(" + "),
        s.seconds,
        s.requests
    )
}

/// A name with its class and kind: "predict (request, HTTP)".
pub(super) fn title(n: &NameComparison) -> String {
    if n.kind.is_empty() || n.kind == n.class {
        format!("{} ({})", n.name, n.class)
    } else {
        format!("{} ({}, {})", n.name, n.class, n.kind)
    }
}

/// The terminal's comparison: the sides, a block per name, the summary and
/// the rule.
pub fn write_table(out: &mut impl Write, c: &Comparison) -> io::Result<()> {
    writeln!(out, "baseline:  {}", files(&c.baseline))?;
    writeln!(out, "candidate: {}", files(&c.candidate))?;
    let head = [
        String::new(),
        "baseline".to_owned(),
        "candidate".to_owned(),
        "change".to_owned(),
        format!("{} interval", confidence(c.settings.alpha)),
        String::new(),
    ];
    for n in &c.names {
        writeln!(out)?;
        match n.verdict {
            Verdict::Added | Verdict::Removed => {
                let (side, f) = if n.verdict == Verdict::Added {
                    ("candidate", n.candidate.as_ref())
                } else {
                    ("baseline", n.baseline.as_ref())
                };
                let count = f.map_or(0, |f| f.requests);
                writeln!(
                    out,
                    "{}: {} (only in the {side}: {count} {})",
                    title(n),
                    n.verdict.label(),
                    count_word(n)
                )?;
                continue;
            }
            _ => writeln!(out, "{}: {}", title(n), n.verdict.label())?,
        }
        for r in &n.reasons {
            writeln!(out, "  {r}")?;
        }
        let mut rows = vec![head.clone()];
        rows.extend(cells(n));
        for line in aligned(&rows, [true, false, false, false, true, true]) {
            writeln!(out, "  {line}")?;
        }
        if let Some(p) = n.p_slower {
            writeln!(
                out,
                "  P(a candidate request is slower) = {p:.3} (0.5: no shift)"
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "{}", c.headline())?;
    writeln!(out, "{}", c.rule())?;
    for note in &c.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

/// Text safe in a Markdown table cell: no pipes, no HTML, one line.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '|' => out.push_str("\\|"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' | '*' | '_' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn md_verdict(v: Verdict) -> String {
    match v {
        Verdict::Regression => "**REGRESSION**".into(),
        Verdict::Improved => "**improved**".into(),
        v => v.label().into(),
    }
}

/// "5.32ms → 6.37ms (+19.8%)", the change in bold when it decided.
fn md_percentile(r: &Row) -> String {
    let change = signed(r.change);
    let change = match r.mark {
        Some(super::Mark::Worse | super::Mark::Better) => format!("**{change}**"),
        _ => change,
    };
    format!(
        "{} → {} ({change})",
        format_micros(r.baseline_us as f64),
        format_micros(r.candidate_us as f64)
    )
}

/// Markdown for a pull request's comment: the verdicts in a table, every
/// figure folded under it.
pub fn write_markdown(out: &mut impl Write, c: &Comparison) -> io::Result<()> {
    let verdict = if c.regressed() {
        "regression"
    } else {
        "no regression"
    };
    writeln!(out, "### volley compare: {verdict}\n")?;
    writeln!(out, "{}\n", md(&c.headline()))?;
    let judged: Vec<&str> = c.settings.judged().iter().map(|j| j.label()).collect();
    write!(out, "| name | verdict | requests | error rate |")?;
    for j in &judged {
        write!(out, " {j} |")?;
    }
    write!(out, "\n|---|---|--:|--:|")?;
    for _ in &judged {
        write!(out, "--:|")?;
    }
    writeln!(out)?;
    for n in &c.names {
        let (b, cand) = (n.baseline.as_ref(), n.candidate.as_ref());
        let both = |f: &dyn Fn(&Figures) -> String| match (b, cand) {
            (Some(b), Some(c)) => format!("{} → {}", f(b), f(c)),
            (Some(b), None) => f(b),
            (None, Some(c)) => f(c),
            (None, None) => String::new(),
        };
        write!(
            out,
            "| {} | {} | {} | {} |",
            md(&n.name),
            md_verdict(n.verdict),
            both(&|f| f.requests.to_string()),
            both(&|f| rate(f.error_rate)),
        )?;
        for j in &judged {
            let cell = n
                .latency
                .iter()
                .find(|r| r.percentile == *j)
                .map(md_percentile)
                .unwrap_or_default();
            write!(out, " {cell} |")?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "\nBaseline: {}. Candidate: {}.",
        md(&files(&c.baseline)),
        md(&files(&c.candidate))
    )?;
    writeln!(out, "Rule: {}.", md(&c.rule()))?;
    for note in &c.notes {
        writeln!(out, "\n> note: {}", md(note))?;
    }
    writeln!(
        out,
        "\n<details><summary>Every figure, with {} intervals</summary>\n",
        confidence(c.settings.alpha)
    )?;
    for n in c
        .names
        .iter()
        .filter(|n| !matches!(n.verdict, Verdict::Added | Verdict::Removed))
    {
        writeln!(out, "#### {}: {}\n", md(&title(n)), md_verdict(n.verdict))?;
        for r in &n.reasons {
            writeln!(out, "- {}", md(r))?;
        }
        if !n.reasons.is_empty() {
            writeln!(out)?;
        }
        writeln!(out, "| | baseline | candidate | change | interval | |")?;
        writeln!(out, "|---|--:|--:|--:|--:|---|")?;
        for cells in cells(n) {
            let cells: Vec<String> = cells.iter().map(|c| md(c)).collect();
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
        if let Some(p) = n.p_slower {
            writeln!(
                out,
                "\nP(a candidate request is slower) = {p:.3} (0.5: no shift)"
            )?;
        }
        writeln!(out)?;
    }
    writeln!(out, "</details>")?;
    Ok(())
}
