//! Drawing: a pure function of the frame's [`Model`] and the console's own
//! [`UiState`] (view, selected row, sort). Nothing here measures or waits.
//! This module holds that state and lays out a frame; each part draws
//! itself: `header`, `charts`, `tables` (one per view) and `footer` (notes
//! and keys), with `text` fitting figures to their cells.

mod charts;
mod footer;
mod header;
mod tables;
mod text;

use crate::stats::StatId;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Tabs};

use super::model::{Model, Row};

pub use charts::distribution_lines;

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

/// The statistics index of the row whose charts the console shows: the
/// selected row of the requests table once the user moved to it, not the
/// total.
pub fn selected_stat(model: &Model, ui: &UiState) -> Option<StatId> {
    if !ui.follow || ui.tab != Tab::Requests {
        return None;
    }
    sorted_rows(model, ui.sort)
        .get(ui.selected)
        .map(|r| r.stat)
        .filter(|s| *s != StatId::TOTAL)
}

/// How many rows the current view has (for moving the selection).
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

/// Draws one frame.
pub fn draw(f: &mut Frame, m: &Model, ui: &UiState) {
    let area = f.area();
    let top_rows = if m.invalid.is_empty() { 2 } else { 3 };
    let fixed = top_rows + 1 + footer::note_lines(m).len() as u16 + 1;
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
        Constraint::Length(footer::note_lines(m).len() as u16),
        Constraint::Length(1),
    ])
    .areas(area);
    header::draw(f, top, m, ui);
    charts::draw(f, chart, m, ui);
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
        Tab::Requests => tables::requests(f, body, m, ui),
        Tab::Workers => tables::workers(f, body, m, ui),
        Tab::Failures => tables::failures(f, body, m),
        Tab::Capacity => tables::capacity(f, body, m, ui),
    }
    let lines: Vec<Line> = footer::note_lines(m)
        .into_iter()
        .map(|n| Line::from(Span::styled(n, ui.fg(Color::Yellow))))
        .collect();
    f.render_widget(Paragraph::new(lines), notes);
    f.render_widget(Paragraph::new(footer::keys(m, ui)), foot);
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
