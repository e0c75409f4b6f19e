//! Drawing: a pure function of the frame's [`Model`] and the console's own
//! [`UiState`] (view, selected row, sort). Nothing here measures or waits.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Chart, Clear, Dataset, GraphType, LegendPosition, Paragraph, Row as TRow, Table,
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
    /// A capacity search's probes (only while one runs).
    Capacity,
}

impl Tab {
    pub const ALL: [Tab; 4] = [Tab::Requests, Tab::Workers, Tab::Failures, Tab::Capacity];

    /// The views shown: Capacity only in a capacity search.
    fn shown(search: bool) -> &'static [Tab] {
        if search { &Tab::ALL } else { &Tab::ALL[..3] }
    }

    fn index(self, search: bool) -> usize {
        Tab::shown(search)
            .iter()
            .position(|t| *t == self)
            .unwrap_or(0)
    }

    /// The view `by` tabs away, among those shown.
    pub fn next(self, by: isize, search: bool) -> Tab {
        let shown = Tab::shown(search);
        let n = shown.len() as isize;
        shown[(self.index(search) as isize + by).rem_euclid(n) as usize]
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
    /// The charts follow the selected row (after ↑/↓; Esc: the totals).
    pub follow: bool,
}

impl Default for UiState {
    fn default() -> Self {
        UiState {
            tab: Tab::Requests,
            selected: 0,
            sort: Sort::File,
            confirm_quit: false,
            color: true,
            follow: false,
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
/// The statistics index of the row whose charts the console shows: the
/// selected row of the requests table once the user moved to it, not the
/// total.
pub fn selected_stat(model: &Model, ui: &UiState) -> Option<usize> {
    if !ui.follow || ui.tab != Tab::Requests {
        return None;
    }
    sorted_rows(model, ui.sort)
        .get(ui.selected)
        .map(|r| r.stat)
        .filter(|s| *s != usize::MAX)
}

pub fn row_count(model: &Model, tab: Tab) -> usize {
    match tab {
        Tab::Requests => model.rows.len() + 1,
        Tab::Workers => model.workers.len(),
        Tab::Failures => model.failures.len(),
        Tab::Capacity => model
            .search
            .as_ref()
            .map_or(0, |s| s.probes.len() + usize::from(s.current.is_some())),
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
    let ended = matches!(m.phase, Phase::Stopping | Phase::Done);
    let (time, left) = match m.duration {
        // Stopped early, the planned time left means nothing.
        Some(_) if ended => (secs(m.elapsed), String::new()),
        Some(d) => (
            format!("{}/{}", secs(m.elapsed), secs(d)),
            format!(" · {} left", secs(d.saturating_sub(m.elapsed))),
        ),
        None => (secs(m.elapsed), String::new()),
    };
    // A probe's rate is the measurement: it cannot be steered.
    let load = if m.open && m.step == 0.0 {
        format!("rate {}/s", short(m.total))
    } else if m.open {
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
            Span::raw(fit(
                &format!(" {time}  {} → {}", m.scenario, m.target),
                (area.width as usize).saturating_sub(m.phase.as_str().len() + 2),
            )),
        ]),
        Line::from(vec![
            Span::raw(format!(
                " {load} · {} req/s{} · ",
                short(m.rps),
                if ended { " (mean)" } else { "" }
            )),
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

/// `text` in at most `width` characters, an ellipsis where it was cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
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
    // The selected row's own series once the user moved to one (the model
    // carries it), else the whole run's.
    let (points, of) = match &m.selected {
        Some((name, points)) if ui.follow => (points.as_slice(), format!(": {name}")),
        _ => (m.series.as_slice(), String::new()),
    };
    let (t0, t1) = match (points.first(), points.last()) {
        (Some(a), Some(b)) => (a.t, b.t.max(a.t + 1.0)),
        _ => (0.0, 1.0),
    };
    let x_axis = || {
        Axis::default()
            .bounds([t0, t1])
            .labels([format!("{t0:.0}s"), format!("{t1:.0}s")])
    };
    let pick = |g: fn(&super::model::Point) -> f64| -> Vec<(f64, f64)> {
        points.iter().map(|p| (p.t, g(p))).collect()
    };

    let rps = pick(|p| p.rps);
    let fails = pick(|p| p.failures);
    let top = rps.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let chart = Chart::new(vec![
        line("req/s", ui.fg(Color::Green), &rps),
        line("fail/s", ui.fg(Color::Red), &fails),
    ])
    .block(Block::bordered().title(format!(" throughput{of} ")))
    .x_axis(x_axis())
    .y_axis(
        Axis::default()
            .bounds([0.0, top])
            .labels(["0".to_string(), short(top)]),
    );
    f.render_widget(chart, parts[0]);

    // Latency on a log scale: p50 and p99 often differ a hundredfold, and
    // on a linear axis scaled to the max they lie flat on the bottom row.
    let series = [
        ("p50", Color::Green, pick(|p| p.p50)),
        ("p95", Color::Yellow, pick(|p| p.p95)),
        ("p99", Color::Magenta, pick(|p| p.p99)),
        ("max", Color::Red, pick(|p| p.max)),
    ];
    let (lo, hi) = decades(series.iter().flat_map(|(_, _, d)| d.iter().map(|p| p.1)));
    let logged: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|(_, _, d)| d.iter().map(|&(t, v)| (t, log_ms(v))).collect())
        .collect();
    // Without colour each series has its own marker, named in the legend.
    let names: Vec<String> = series
        .iter()
        .enumerate()
        .map(|(i, (n, _, _))| {
            if ui.color {
                (*n).to_owned()
            } else {
                format!("{n} {}", MARKS[i].1)
            }
        })
        .collect();
    let datasets: Vec<Dataset> = series
        .iter()
        .zip(&logged)
        .zip(&names)
        .enumerate()
        .map(|(i, (((_, color, _), data), name))| {
            let d = line(name, ui.fg(*color), data);
            if !ui.color {
                d.marker(MARKS[i].0).graph_type(GraphType::Scatter)
            } else if i == 3 {
                // Maxima jump about: dots read better than a line.
                d.marker(Marker::Dot).graph_type(GraphType::Scatter)
            } else {
                d
            }
        })
        .collect();
    let latency = Chart::new(datasets)
        .block(Block::bordered().title(format!(" latency{of} (log scale) ")))
        .x_axis(x_axis())
        .y_axis(
            Axis::default()
                .bounds([lo as f64, hi as f64])
                .labels((lo..=hi).map(decade_label)),
        )
        .legend_position(Some(LegendPosition::TopLeft))
        // Always show the legend: without it the lines cannot be told apart.
        .hidden_legend_constraints((Constraint::Percentage(100), Constraint::Percentage(100)));
    f.render_widget(latency, parts[1]);

    if wide {
        let inner = parts[2].inner(ratatui::layout::Margin::new(1, 1));
        let text = distribution_lines(&m.distribution, inner.width as usize);
        let dist = Paragraph::new(text.into_iter().map(Line::from).collect::<Vec<_>>())
            .style(ui.fg(Color::Cyan))
            .block(Block::bordered().title(" distribution (whole run) "));
        f.render_widget(dist, parts[2]);
    }
}

/// Markers told apart without colour (NO_COLOR), with the symbol the
/// legend shows for each.
const MARKS: [(Marker, &str); 4] = [
    (Marker::Dot, "•"),
    (Marker::Braille, "⣿"),
    (Marker::Block, "█"),
    (Marker::Bar, "▄"),
];

/// A latency in milliseconds on the chart's log axis (1 µs at least).
fn log_ms(v: f64) -> f64 {
    v.max(0.001).log10()
}

/// The whole decades (powers of ten of milliseconds) that hold `values`:
/// at least one decade, and nothing below 1 µs.
fn decades(values: impl Iterator<Item = f64>) -> (i32, i32) {
    let (mut min, mut max) = (f64::INFINITY, 0.0f64);
    for v in values.filter(|v| *v > 0.0) {
        min = min.min(v);
        max = max.max(v);
    }
    if !min.is_finite() {
        return (-1, 1);
    }
    let lo = log_ms(min).floor().max(-3.0) as i32;
    let hi = (log_ms(max).ceil() as i32).max(lo + 1);
    (lo, hi)
}

/// 10^k milliseconds, as a person writes it: 1us, 10us, 100us, 1ms ... 1s.
fn decade_label(k: i32) -> String {
    match k {
        i32::MIN..=-3 => "1us".into(),
        -2 => "10us".into(),
        -1 => "100us".into(),
        0 => "1ms".into(),
        1 => "10ms".into(),
        2 => "100ms".into(),
        3 => "1s".into(),
        4 => "10s".into(),
        5 => "100s".into(),
        _ => format!("1e{}s", k - 3),
    }
}

/// The distribution as text, one bucket a line: its label, a bar scaled to
/// the largest bucket, and its share of the whole, so that labels are never
/// cut and small buckets read as percentages.
pub fn distribution_lines(dist: &[(String, u64)], width: usize) -> Vec<String> {
    let total: u64 = dist.iter().map(|(_, n)| *n).sum();
    let most = dist.iter().map(|(_, n)| *n).max().unwrap_or(0);
    if total == 0 {
        return Vec::new();
    }
    let label_w = dist.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    // "LABEL │BAR 100.0%"
    let bar_w = width.saturating_sub(label_w + 9).max(1);
    dist.iter()
        .map(|(label, n)| {
            let share = *n as f64 / total as f64 * 100.0;
            let eighths = (*n as f64 / most.max(1) as f64 * (bar_w * 8) as f64).round() as usize;
            let mut bar = "█".repeat(eighths / 8);
            if !eighths.is_multiple_of(8) {
                bar.push([' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8]);
            }
            let pct = if share > 0.0 && share < 0.1 {
                "<0.1%".to_owned()
            } else {
                format!("{share:.1}%")
            };
            format!("{label:>label_w$} {bar:<bar_w$} {pct:>6}")
        })
        .collect()
}

fn requests_table(f: &mut Frame, area: Rect, m: &Model, ui: &UiState) {
    let wide = area.width >= 120;
    let mut head = vec!["name", "reqs", "fails", "rps"];
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

/// A capacity search: what it found so far, then each probe with its
/// verdict, and the one running.
fn capacity_table(f: &mut Frame, area: Rect, m: &Model, ui: &UiState) {
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

fn keys(m: &Model, ui: &UiState) -> Line<'static> {
    let what = if m.open { "rate" } else { "users" };
    let mut parts = vec!["q quit".to_string()];
    match m.phase {
        Phase::Waiting => parts.push("enter start now".into()),
        Phase::Ramping | Phase::Running => {
            parts.push("x stop".into());
            if m.step > 0.0 {
                parts.push(format!("+/- {what} ±{}", m.step));
            }
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
    let top_rows = if m.invalid.is_empty() { 2 } else { 3 };
    let fixed = top_rows + 1 + note_lines(m).len() as u16 + 1;
    // The charts take what the table does not need (its rows and header),
    // within a third and two thirds of the screen (8 rows at least).
    let base = if area.height >= 40 {
        area.height / 3
    } else {
        8
    };
    // The rows, their header, and the capacity view's line above them.
    let table_rows = row_count(m, ui.tab) as u16 + 1 + u16::from(ui.tab == Tab::Capacity);
    let spare = area.height.saturating_sub(fixed + table_rows);
    let chart_rows = spare.clamp(base, (area.height * 2 / 3).max(base));
    let [top, chart, tabs, body, notes, foot] = Layout::vertical([
        Constraint::Length(top_rows),
        Constraint::Length(chart_rows),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(note_lines(m).len() as u16),
        Constraint::Length(1),
    ])
    .areas(area);
    header(f, top, m, ui);
    charts(f, chart, m, ui);
    let mut titles = vec![
        "Requests".to_string(),
        format!("Workers ({})", m.workers.len()),
        format!("Failures ({})", m.failures.len()),
    ];
    if let Some(s) = &m.search {
        titles.push(format!("Capacity ({})", s.probes.len()));
    }
    f.render_widget(
        Tabs::new(titles)
            .select(ui.tab.index(m.search.is_some()))
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED)),
        tabs,
    );
    match ui.tab {
        Tab::Requests => requests_table(f, body, m, ui),
        Tab::Workers => workers_table(f, body, m, ui),
        Tab::Failures => failures_table(f, body, m),
        Tab::Capacity => capacity_table(f, body, m, ui),
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
