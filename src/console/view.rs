//! Drawing: a pure function of the frame's [`Model`] and the console's own
//! [`UiState`] (view, selected row, sort). Nothing here measures or waits.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, BarChart, Block, Chart, Clear, Dataset, GraphType, Paragraph, Row as TRow, Table,
    TableState, Tabs,
};

use super::model::{Model, Row, RowKind};
use crate::cluster::live::Phase;
use crate::report::format_micros;

/// The console's views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Requests,
    Workers,
    Failures,
}

impl Tab {
    pub const ALL: [Tab; 3] = [Tab::Requests, Tab::Workers, Tab::Failures];

    fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    pub fn next(self, by: isize) -> Tab {
        let n = Tab::ALL.len() as isize;
        Tab::ALL[(self.index() as isize + by).rem_euclid(n) as usize]
    }
}

/// The column the requests table sorts by (descending), or file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    File,
    Requests,
    Failures,
    Rps,
    P50,
    P95,
    P99,
    Max,
}

impl Sort {
    const ORDER: [Sort; 8] = [
        Sort::File,
        Sort::Requests,
        Sort::Failures,
        Sort::Rps,
        Sort::P50,
        Sort::P95,
        Sort::P99,
        Sort::Max,
    ];

    pub fn next(self) -> Sort {
        let i = Sort::ORDER.iter().position(|s| *s == self).unwrap_or(0);
        Sort::ORDER[(i + 1) % Sort::ORDER.len()]
    }

    pub fn label(self) -> &'static str {
        match self {
            Sort::File => "file order",
            Sort::Requests => "requests",
            Sort::Failures => "failures",
            Sort::Rps => "rps",
            Sort::P50 => "p50",
            Sort::P95 => "p95",
            Sort::P99 => "p99",
            Sort::Max => "max",
        }
    }

    fn key(self, r: &Row) -> f64 {
        match self {
            Sort::File => 0.0,
            Sort::Requests => r.requests as f64,
            Sort::Failures => r.failures as f64,
            Sort::Rps => r.rps,
            Sort::P50 => r.p50 as f64,
            Sort::P95 => r.p95 as f64,
            Sort::P99 => r.p99 as f64,
            Sort::Max => r.max as f64,
        }
    }
}

/// What the console itself remembers between frames.
#[derive(Debug, Clone, PartialEq)]
pub struct UiState {
    pub tab: Tab,
    /// Selected row of the current view.
    pub selected: usize,
    pub sort: Sort,
    /// Asking whether to stop a running test and quit.
    pub confirm_quit: bool,
    /// False with NO_COLOR: emphasis only, no colours.
    pub color: bool,
}

impl Default for UiState {
    fn default() -> Self {
        UiState {
            tab: Tab::Requests,
            selected: 0,
            sort: Sort::File,
            confirm_quit: false,
            color: true,
        }
    }
}

impl UiState {
    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }
}

/// Rows in display order: groups sorted by their first row, a flow's steps
/// kept beneath it.
pub fn sorted_rows(model: &Model, sort: Sort) -> Vec<&Row> {
    let mut groups: Vec<Vec<&Row>> = Vec::new();
    for r in &model.rows {
        match groups.last_mut() {
            Some(g) if g[0].group == r.group => g.push(r),
            _ => groups.push(vec![r]),
        }
    }
    if sort != Sort::File {
        groups.sort_by(|a, b| sort.key(b[0]).total_cmp(&sort.key(a[0])));
    }
    groups.into_iter().flatten().collect()
}

/// How many rows the current view has (for moving the selection).
pub fn row_count(model: &Model, tab: Tab) -> usize {
    match tab {
        Tab::Requests => model.rows.len() + 1,
        Tab::Workers => model.workers.len(),
        Tab::Failures => model.failures.len(),
    }
}

fn secs(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// 1234567 → "1.23M"; small numbers as they are.
fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn header(f: &mut Frame, area: Rect, m: &Model, ui: &UiState) {
    let phase_style = ui
        .fg(match m.phase {
            Phase::Running | Phase::Ramping => Color::Green,
            Phase::Waiting | Phase::Stopping => Color::Yellow,
            Phase::Done => Color::Cyan,
        })
        .add_modifier(Modifier::BOLD);
    let (time, left) = match m.duration {
        Some(d) => (
            format!("{}/{}", secs(m.elapsed), secs(d)),
            format!(" · {} left", secs(d.saturating_sub(m.elapsed))),
        ),
        None => (secs(m.elapsed), String::new()),
    };
    let load = if m.open {
        format!("rate {}/s ±{}", short(m.total), short(m.step))
    } else {
        format!("users {}/{} ±{}", m.users, m.total.round(), m.step)
    };
    let connected = m.workers.iter().filter(|w| w.state != "lost").count();
    let failing = if m.failure_percent > 0.0 {
        ui.fg(Color::Red)
    } else {
        Style::new()
    };
    // The figures users watch come first: a narrow terminal cuts the ends.
    let lines = vec![
        Line::from(vec![
            Span::styled(
                format!(" {} ", m.phase.as_str().to_uppercase()),
                phase_style.add_modifier(Modifier::REVERSED),
            ),
            Span::raw(format!(" {time}  {} → {}", m.scenario, m.target)),
        ]),
        Line::from(vec![
            Span::raw(format!(" {load} · {} req/s · ", short(m.rps))),
            Span::styled(format!("failures {:.2}%", m.failure_percent), failing),
            Span::raw(format!(
                " · workers {connected}/{}{left}",
                m.expected_workers
            )),
        ]),
    ];
    let mut lines = lines;
    // The generator limits the measurement: said where the eye is, with
    // the first reason (the summary and files give them all).
    if let Some(why) = m.invalid.first() {
        lines.push(Line::from(vec![
            Span::styled(
                " INVALID ",
                ui.fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            ),
            Span::styled(format!(" {why}"), ui.fg(Color::Yellow)),
        ]));
    }
    f.render_widget(Paragraph::new(lines), area);
}

/// One series of a chart, drawn as a braille line.
fn line<'a>(name: &'a str, style: Style, data: &'a [(f64, f64)]) -> Dataset<'a> {
    Dataset::default()
        .name(name)
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(style)
        .data(data)
}

fn charts(f: &mut Frame, area: Rect, m: &Model, ui: &UiState) {
    let wide = area.width >= 120;
    let parts = if wide {
        Layout::horizontal([
            Constraint::Ratio(1, 3),
            Constraint::Ratio(1, 3),
            Constraint::Ratio(1, 3),
        ])
        .split(area)
    } else {
        Layout::horizontal([Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)]).split(area)
    };
    let (t0, t1) = match (m.series.first(), m.series.last()) {
        (Some(a), Some(b)) => (a.t, b.t.max(a.t + 1.0)),
        _ => (0.0, 1.0),
    };
    let x_axis = || {
        Axis::default()
            .bounds([t0, t1])
            .labels([format!("{t0:.0}s"), format!("{t1:.0}s")])
    };
    let pick = |g: fn(&super::model::Point) -> f64| -> Vec<(f64, f64)> {
        m.series.iter().map(|p| (p.t, g(p))).collect()
    };

    let rps = pick(|p| p.rps);
    let fails = pick(|p| p.failures);
    let top = rps.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let chart = Chart::new(vec![
        line("req/s", ui.fg(Color::Green), &rps),
        line("fail/s", ui.fg(Color::Red), &fails),
    ])
    .block(Block::bordered().title(" throughput "))
    .x_axis(x_axis())
    .y_axis(
        Axis::default()
            .bounds([0.0, top])
            .labels(["0".to_string(), short(top)]),
    );
    f.render_widget(chart, parts[0]);

    let p50 = pick(|p| p.p50);
    let p95 = pick(|p| p.p95);
    let p99 = pick(|p| p.p99);
    let max = pick(|p| p.max);
    let top = max.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let latency = Chart::new(vec![
        line("p50", ui.fg(Color::Green), &p50),
        line("p95", ui.fg(Color::Yellow), &p95),
        line("p99", ui.fg(Color::Magenta), &p99),
        // Maxima jump about: dots read better than a line.
        line("max", ui.fg(Color::Red), &max)
            .marker(Marker::Dot)
            .graph_type(GraphType::Scatter),
    ])
    .block(Block::bordered().title(" latency (ms) "))
    .x_axis(x_axis())
    .y_axis(
        Axis::default()
            .bounds([0.0, top])
            .labels(["0".to_string(), format!("{top:.1}")]),
    );
    f.render_widget(latency, parts[1]);

    if wide {
        let bars: Vec<(&str, u64)> = m
            .distribution
            .iter()
            .map(|(l, n)| (l.as_str(), *n))
            .collect();
        let width = ((parts[2].width.saturating_sub(2)) / bars.len().max(1) as u16)
            .saturating_sub(1)
            .clamp(1, 7);
        let dist = BarChart::default()
            .block(Block::bordered().title(" distribution (whole run) "))
            .bar_width(width)
            .bar_gap(1)
            .bar_style(ui.fg(Color::Cyan))
            .data(bars.as_slice());
        f.render_widget(dist, parts[2]);
    }
}

fn requests_table(f: &mut Frame, area: Rect, m: &Model, ui: &UiState) {
    let wide = area.width >= 120;
    let mut head = vec!["name", "reqs", "fails", "rps"];
    if wide {
        head.push("mean");
    }
    head.extend(["p50", "p95", "p99"]);
    if wide {
        head.extend(["p90", "p99.9"]);
    }
    head.push("max");
    if wide {
        head.push("size");
    }
    let cells = |r: &Row| -> Vec<String> {
        let name = match r.kind {
            RowKind::Step => format!("  └ {}", r.name),
            _ => r.name.clone(),
        };
        let mut c = vec![
            name,
            r.requests.to_string(),
            r.failures.to_string(),
            short(r.rps),
        ];
        if wide {
            c.push(format_micros(r.mean));
        }
        for v in [r.p50, r.p95, r.p99] {
            c.push(format_micros(v as f64));
        }
        if wide {
            c.push(format_micros(r.p90 as f64));
            c.push(format_micros(r.p999 as f64));
        }
        c.push(format_micros(r.max as f64));
        if wide {
            c.push(format!("{:.0}B", r.size));
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
    widths.extend((1..head.len()).map(|_| Constraint::Length(8)));
    let table = Table::new(rows, widths)
        .header(TRow::new(head).style(Style::new().add_modifier(Modifier::UNDERLINED)))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(Some(ui.selected));
    f.render_stateful_widget(table, area, &mut state);
}

fn workers_table(f: &mut Frame, area: Rect, m: &Model, ui: &UiState) {
    let rows: Vec<TRow> = m
        .workers
        .iter()
        .map(|w| {
            let busy = w.cpu_percent > crate::cluster::coordinator::BUSY_CPU_PERCENT;
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

fn failures_table(f: &mut Frame, area: Rect, m: &Model) {
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

fn keys(m: &Model, ui: &UiState) -> Line<'static> {
    let what = if m.open { "rate" } else { "users" };
    let mut parts = vec!["q quit".to_string()];
    match m.phase {
        Phase::Waiting => parts.push("enter start now".into()),
        Phase::Ramping | Phase::Running => {
            parts.push("x stop".into());
            parts.push(format!("+/- {what} ±{}", m.step));
        }
        _ => {}
    }
    parts.push("r reset".into());
    parts.push("tab view".into());
    parts.push("↑↓ row".into());
    parts.push(format!("s sort: {}", ui.sort.label()));
    Line::from(Span::styled(
        format!(" {}", parts.join("  ")),
        Style::new().add_modifier(Modifier::DIM),
    ))
}

/// The lines under the table: where to join while waiting, then the
/// newest notes (lost or busy workers).
fn note_lines(m: &Model) -> Vec<String> {
    let mut out = Vec::new();
    if m.phase == Phase::Waiting && !m.info.is_empty() {
        out.push(format!(" {}", m.info));
    }
    out.extend(m.notes.iter().rev().take(2).map(|n| format!(" ! {n}")));
    out.truncate(2);
    out
}

/// Draws one frame.
pub fn draw(f: &mut Frame, m: &Model, ui: &UiState) {
    let area = f.area();
    let chart_rows = if area.height >= 40 {
        area.height / 3
    } else {
        8
    };
    let [top, chart, tabs, body, notes, foot] = Layout::vertical([
        Constraint::Length(if m.invalid.is_empty() { 2 } else { 3 }),
        Constraint::Length(chart_rows),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(note_lines(m).len() as u16),
        Constraint::Length(1),
    ])
    .areas(area);
    header(f, top, m, ui);
    charts(f, chart, m, ui);
    let titles = [
        "Requests".to_string(),
        format!("Workers ({})", m.workers.len()),
        format!("Failures ({})", m.failures.len()),
    ];
    f.render_widget(
        Tabs::new(titles)
            .select(ui.tab.index())
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
        tabs,
    );
    match ui.tab {
        Tab::Requests => requests_table(f, body, m, ui),
        Tab::Workers => workers_table(f, body, m, ui),
        Tab::Failures => failures_table(f, body, m),
    }
    let lines: Vec<Line> = note_lines(m)
        .into_iter()
        .map(|n| Line::from(Span::styled(n, ui.fg(Color::Yellow))))
        .collect();
    f.render_widget(Paragraph::new(lines), notes);
    f.render_widget(Paragraph::new(keys(m, ui)), foot);
    if ui.confirm_quit {
        let w = area.width.min(60);
        let popup = Rect {
            x: area.x + (area.width - w) / 2,
            y: area.y + (area.height / 2).saturating_sub(2),
            width: w,
            height: 4,
        };
        f.render_widget(Clear, popup);
        f.render_widget(
            Paragraph::new(vec![
                Line::from(" The test is running."),
                Line::from(" Stop the workers and quit? (y/n)"),
            ])
            .block(Block::bordered().title(" quit ")),
            popup,
        );
    }
}
