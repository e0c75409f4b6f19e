//! The tables under the charts, one per view: requests (sorted, a flow's
//! steps beneath it, the total last), workers, failures and a capacity
//! search's probes.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Paragraph, Row as TRow, Table, TableState};

use super::text::{fit, short};
use super::{UiState, sorted_rows};
use crate::console::model::{Model, Row, RowKind};
use crate::report::format_micros;

/// Requests, steps and flows in the chosen order, the total last; a
/// narrow terminal drops the columns read least.
pub(super) fn requests(f: &mut Frame, area: Rect, m: &Model, ui: &UiState) {
    let wide = area.width >= 120;
    // Times to first byte where there is room and an HTTP request has one.
    let ttfb = area.width >= 140 && m.rows.iter().any(|r| r.ttfb.is_some());
    // Which protocol answered, where some request counted one (the short
    // form: "h2", "h2+h3" for a name that moved).
    let proto = m.rows.iter().any(|r| !r.protocols.is_empty());
    let mut head = vec!["name"];
    if proto {
        head.push("proto");
    }
    head.extend(["reqs", "fails", "rps"]);
    // The summary's order; a narrow terminal keeps p50, p95, p99 and max.
    if wide {
        head.extend(["mean", "p50", "p90", "p95", "p99", "p99.9"]);
    } else {
        head.extend(["p50", "p95", "p99"]);
    }
    head.push("max");
    if wide {
        head.push("size");
    }
    if ttfb {
        head.extend(["ttfb p50", "ttfb p99"]);
    }
    let cells = |r: &Row| -> Vec<String> {
        let name = match r.kind {
            RowKind::Step => format!("  └ {}", r.name),
            _ => r.name.clone(),
        };
        let mut c = vec![name];
        if proto {
            // Blank where none was counted: flows, streams' messages.
            c.push(if r.protocols.is_empty() {
                String::new()
            } else {
                r.protocols.short()
            });
        }
        c.extend([r.requests.to_string(), r.failures.to_string(), short(r.rps)]);
        if wide {
            c.push(format_micros(r.mean));
            for v in [r.p50, r.p90, r.p95, r.p99, r.p999] {
                c.push(format_micros(v as f64));
            }
        } else {
            for v in [r.p50, r.p95, r.p99] {
                c.push(format_micros(v as f64));
            }
        }
        c.push(format_micros(r.max as f64));
        if wide {
            c.push(format!("{:.0}B", r.size));
        }
        if ttfb {
            match r.ttfb {
                Some((p50, p99)) => {
                    c.push(format_micros(p50 as f64));
                    c.push(format_micros(p99 as f64));
                }
                None => c.extend([String::new(), String::new()]),
            }
        }
        c
    };
    let mut rows: Vec<TRow> = sorted_rows(m, ui.sort)
        .into_iter()
        .map(|r| {
            let style = match r.kind {
                RowKind::Flow => Style::new().add_modifier(Modifier::BOLD),
                _ if r.failures > 0 => ui.fg(Color::Red),
                _ => Style::new(),
            };
            TRow::new(cells(r)).style(style)
        })
        .collect();
    rows.push(TRow::new(cells(&m.total_row)).style(Style::new().add_modifier(Modifier::BOLD)));
    let mut widths = vec![Constraint::Min(12)];
    if proto {
        // As wide as its header or its widest cell ("h1+h2+h3" at most),
        // not the numbers' 8: an 80-column terminal has little to spare.
        let widest = std::iter::once(&m.total_row)
            .chain(&m.rows)
            .map(|r| r.protocols.short().len())
            .fold("proto".len(), usize::max);
        widths.push(Constraint::Length(widest as u16));
    }
    widths.extend((widths.len()..head.len()).map(|_| Constraint::Length(8)));
    let table = Table::new(rows, widths)
        .header(TRow::new(head).style(Style::new().add_modifier(Modifier::UNDERLINED)))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(Some(ui.selected));
    f.render_stateful_widget(table, area, &mut state);
}

/// Each worker's state and load; lost ones red, busy or INVALID ones
/// yellow.
pub(super) fn workers(f: &mut Frame, area: Rect, m: &Model, ui: &UiState) {
    let rows: Vec<TRow> = m
        .workers
        .iter()
        .map(|w| {
            let busy = w.cpu_percent > crate::stats::health::BUSY_CPU_PERCENT;
            let cpu = format!("{:.0}%{}", w.cpu_percent, if busy { " !" } else { "" });
            let age = w
                .last_report
                .map_or("-".into(), |a| format!("{:.1}s", a.as_secs_f64()));
            let invalid = !w.invalid.is_empty();
            let style = match w.state {
                "lost" => ui.fg(Color::Red),
                _ if busy || invalid => ui.fg(Color::Yellow),
                _ => Style::new(),
            };
            let state = match w.state {
                "running" | "done" | "rejoined" if invalid => "INVALID",
                s => s,
            };
            TRow::new(vec![
                w.id.clone(),
                w.host.clone(),
                state.to_string(),
                w.users.to_string(),
                short(w.rps),
                cpu,
                age,
            ])
            .style(style)
        })
        .collect();
    let widths = [
        Constraint::Min(10),
        Constraint::Min(10),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(8),
    ];
    let table = Table::new(rows, widths)
        .header(
            TRow::new(["worker", "host", "state", "users", "rps", "cpu", "report"])
                .style(Style::new().add_modifier(Modifier::UNDERLINED)),
        )
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(Some(ui.selected));
    f.render_stateful_widget(table, area, &mut state);
}

/// Failures grouped by name and reason, with the last message of each.
pub(super) fn failures(f: &mut Frame, area: Rect, m: &Model) {
    let rows: Vec<TRow> = m
        .failures
        .iter()
        .map(|x| {
            TRow::new(vec![
                x.count.to_string(),
                x.name.clone(),
                x.reason.clone(),
                x.last.clone(),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(8),
        Constraint::Length(16),
        Constraint::Min(20),
        Constraint::Min(10),
    ];
    let table = Table::new(rows, widths).header(
        TRow::new(["count", "name", "reason", "last message"])
            .style(Style::new().add_modifier(Modifier::UNDERLINED)),
    );
    f.render_widget(table, area);
}

/// A capacity search: what it found so far, then each probe with its
/// verdict, and the one running.
pub(super) fn capacity(f: &mut Frame, area: Rect, m: &Model, ui: &UiState) {
    use crate::stats::capacity::{Kind, format_rate};
    let Some(s) = &m.search else {
        f.render_widget(Paragraph::new(" no capacity search in this run"), area);
        return;
    };
    let [top, table] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let line = format!(" SLOs {} · {}", s.slos.join(", "), s.found);
    f.render_widget(
        Paragraph::new(fit(&line, area.width as usize))
            .style(Style::new().add_modifier(Modifier::BOLD)),
        top,
    );
    let mut rows: Vec<TRow> = s
        .probes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let style = match p.kind {
                Kind::Kept => ui.fg(Color::Green),
                Kind::Broken => ui.fg(Color::Red),
                Kind::Invalid => ui.fg(Color::Yellow),
            };
            TRow::new(vec![
                (i + 1).to_string(),
                format_rate(p.rate),
                p.kind.as_str().to_owned(),
                short(p.achieved_rps),
                format_micros(p.p50_us as f64),
                format_micros(p.p99_us as f64),
                format!("{:.2}%", p.error_rate * 100.0),
                p.why.first().cloned().unwrap_or_default(),
            ])
            .style(style)
        })
        .collect();
    if let Some(running) = s.current {
        rows.push(
            TRow::new(vec![
                running.number.to_string(),
                format_rate(running.rate),
                "running".into(),
                short(m.rps),
                format_micros(m.total_row.p50 as f64),
                format_micros(m.total_row.p99 as f64),
                format!("{:.2}%", m.failure_percent),
                String::new(),
            ])
            .style(Style::new().add_modifier(Modifier::BOLD)),
        );
    }
    let widths = [
        Constraint::Length(3),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Min(10),
    ];
    let head = [
        "#", "rate/s", "verdict", "answered", "p50", "p99", "errors", "why",
    ];
    let t = Table::new(rows, widths)
        .header(TRow::new(head).style(Style::new().add_modifier(Modifier::UNDERLINED)))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(Some(ui.selected));
    f.render_stateful_widget(t, table, &mut state);
}
