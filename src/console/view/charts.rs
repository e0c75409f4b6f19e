//! The charts over time: throughput, latency percentiles on a log axis in
//! whole decades, and on a wide terminal the whole run's distribution.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, LegendPosition, Paragraph};

use super::UiState;
use super::text::short;
use crate::console::model::{Model, Point};

/// One series of a chart, drawn as a braille line.
fn line<'a>(name: &'a str, style: Style, data: &'a [(f64, f64)]) -> Dataset<'a> {
    Dataset::default()
        .name(name)
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(style)
        .data(data)
}

/// Throughput and latency side by side, and the distribution as a third
/// chart when the terminal is wide (120 columns or more).
pub(super) fn draw(f: &mut Frame, area: Rect, m: &Model, ui: &UiState) {
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
    let pick =
        |g: fn(&Point) -> f64| -> Vec<(f64, f64)> { points.iter().map(|p| (p.t, g(p))).collect() };

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
