//! Charts as SVG text, drawn with plotters: a run's throughput and latency
//! over time and its latency distribution (for the HTML report), and bar
//! charts for benchmark results. SVG needs no fonts or images here; the
//! browser lays the text out.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::stats::Latency;
use crate::stats::histogram::quantile;
use crate::stats::series::Point;

pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 340;

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing the chart {chart:?}: {reason}")]
pub struct ChartError {
    chart: String,
    reason: String,
}

/// Colours that stay apart for the colour-blind (Okabe–Ito), in order.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(0, 0, 0),
];
const FAILURE: RGBColor = RGBColor(200, 30, 30);

/// One line of a chart.
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Draws into an SVG string; `draw` gets the whole area.
fn svg(
    name: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> Result<String, ChartError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        let result = root
            .fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(|e| e.to_string()));
        result.map_err(|reason| ChartError {
            chart: name.to_owned(),
            reason,
        })?;
    }
    Ok(out)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `m:ss` for seconds on a time axis.
fn clock(t: &f64) -> String {
    let s = t.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// Milliseconds with as many decimals as they need.
fn ms(v: &f64) -> String {
    if *v >= 100.0 || *v == 0.0 {
        format!("{v:.0}")
    } else if *v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn upper(lines: &[Line]) -> f64 {
    let m = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    if m > 0.0 { m * 1.1 } else { 1.0 }
}

fn time_span(points: &[Point]) -> (f64, f64) {
    let first = points
        .first()
        .map_or(0.0, |p| (p.t - p.step.min(p.t)) as f64);
    let last = points.last().map_or(1.0, |p| p.t as f64);
    (first, last.max(first + 1.0))
}

/// A legend entry's mark: a short line in the series' style.
fn swatch(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style)
}

/// Draws each line in its colour (cycling), labelled for the legend.
fn draw_lines<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    lines: &[Line],
    colors: &[RGBColor],
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (line, color) in lines.iter().zip(colors.iter().cycle()) {
        let style = color.stroke_width(2);
        chart
            .draw_series(LineSeries::new(line.points.iter().copied(), style))
            .map_err(err)?
            .label(&line.label)
            .legend(swatch(style));
    }
    Ok(())
}

/// The legend, boxed, at `position`.
fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(err)
}

/// Lines over a time axis, with an optional second axis of its own.
fn time_chart(
    name: &str,
    y_desc: &str,
    (t0, t1): (f64, f64),
    lines: &[Line],
    colors: &[RGBColor],
    second: Option<(&str, Line)>,
    y_fmt: &dyn Fn(&f64) -> String,
) -> Result<String, ChartError> {
    svg(name, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(name, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .right_y_label_area_size(if second.is_some() { 56 } else { 12 })
            .build_cartesian_2d(t0..t1, 0.0..upper(lines))
            .map_err(err)?
            .set_secondary_coord(
                t0..t1,
                0.0..second
                    .as_ref()
                    .map_or(1.0, |(_, l)| upper(std::slice::from_ref(l))),
            );
        chart
            .configure_mesh()
            .x_desc("elapsed (m:ss)")
            .y_desc(y_desc)
            .x_label_formatter(&clock)
            .y_label_formatter(y_fmt)
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(err)?;
        draw_lines(&mut chart, lines, colors)?;
        if let Some((desc, line)) = second {
            chart
                .configure_secondary_axes()
                .y_desc(desc)
                .label_style(("sans-serif", 12))
                .draw()
                .map_err(err)?;
            let style = RGBColor(150, 150, 150).stroke_width(1);
            chart
                .draw_secondary_series(LineSeries::new(line.points.iter().copied(), style))
                .map_err(err)?
                .label(line.label)
                .legend(swatch(style));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// Requests and failures per second over the run, with users (or requests
/// in flight) on a second axis.
pub fn throughput(points: &[Point], users_label: &str) -> Result<String, ChartError> {
    let at = |p: &Point, v: f64| (p.t as f64, v);
    let lines = [
        Line {
            label: "requests/s".into(),
            points: points.iter().map(|p| at(p, p.rps())).collect(),
        },
        Line {
            label: "failures/s".into(),
            points: points.iter().map(|p| at(p, p.fps())).collect(),
        },
    ];
    let users = Line {
        label: users_label.into(),
        points: points.iter().map(|p| at(p, p.users as f64)).collect(),
    };
    time_chart(
        "Throughput",
        "per second",
        time_span(points),
        &lines,
        &[PALETTE[0], FAILURE],
        Some((users_label, users)),
        &|v| format!("{v:.0}"),
    )
}

/// p50, p95, p99 and the maximum of each second, in milliseconds on a log
/// scale, as the console and the capacity page draw them: a linear axis up
/// to a 7 ms maximum flattened a 0.1-0.3 ms p50-p99 onto its floor.
pub fn latency_over_time(points: &[Point]) -> Result<String, ChartError> {
    let line = |label: &str, f: fn(&Point) -> u64| Line {
        label: label.into(),
        points: points
            .iter()
            .filter(|p| p.requests > 0)
            .map(|p| (p.t as f64, (f(p) as f64 / 1000.0).max(LOG_FLOOR_MS)))
            .collect(),
    };
    let lines = [
        line("p50", |p| p.latency.p50),
        line("p95", |p| p.latency.p95),
        line("p99", |p| p.latency.p99),
        line("max", |p| p.latency.max),
    ];
    let (lo, hi) = log_range(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)));
    let (t0, t1) = time_span(points);
    svg("Latency per second", |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Latency per second", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .right_y_label_area_size(12)
            .build_cartesian_2d(t0..t1, (lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("elapsed (m:ss)")
            .y_desc("milliseconds (log)")
            .x_label_formatter(&clock)
            .y_label_formatter(&ms)
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(err)?;
        draw_lines(&mut chart, &lines, &PALETTE[..4])?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// The least latency a log axis shows (a microsecond): a zero has no place
/// on it.
const LOG_FLOOR_MS: f64 = 0.001;

/// A log axis around `values` (milliseconds): half the least to twice the
/// most, or 0.01 to 1,000 ms when there is nothing to show.
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo.is_finite() && hi > 0.0 {
        ((lo / 2.0).max(LOG_FLOOR_MS / 2.0), hi * 2.0)
    } else {
        (0.01, 1000.0)
    }
}

/// Where the percentile axis ends: 99.999%.
const NINES: f64 = 5.0;

/// The latency at every percentile (HdrHistogram's percentile spectrum): the
/// x axis is 1/(1-q) on a log scale, so 90%, 99%, 99.9% are equally apart.
pub fn distribution(lines: &[(&str, &Latency)]) -> Result<String, ChartError> {
    const STEPS: u32 = 120;
    let curves: Vec<Line> = lines
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(label, h)| Line {
            label: (*label).to_owned(),
            points: (0..=STEPS)
                .map(|k| {
                    let x = 10f64.powf(NINES * f64::from(k) / f64::from(STEPS));
                    let q = 1.0 - 1.0 / x;
                    (x, quantile(h, q) as f64 / 1000.0)
                })
                .collect(),
        })
        .collect();
    let top = upper(&curves);
    svg("Latency distribution", |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Latency distribution", ("sans-serif", 18))
            .margin(12)
            // Room for the last percentile's label.
            .margin_right(36)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d((1.0..10f64.powf(NINES)).log_scale(), 0.0..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("milliseconds")
            .x_labels(6)
            .x_label_formatter(&|x| {
                let p = 100.0 * (1.0 - 1.0 / x);
                let digits = (x.log10().round() as i32 - 2).max(0) as usize;
                format!("{p:.digits$}%")
            })
            .y_label_formatter(&ms)
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(err)?;
        draw_lines(&mut chart, &curves, &PALETTE)?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// A capacity search's probes: rate offered (x) against p50, p90 and p99
/// in milliseconds on a log scale (an overloaded probe's seconds and a kept
/// one's milliseconds on one chart), each probe marked by its verdict on
/// the p99 line (kept: a dot, broken: a cross, INVALID: a triangle), the
/// latency SLOs as dashed lines and the rate found as a vertical one.
pub fn capacity(
    probes: &[crate::stats::capacity::Probe],
    bounds: &[(String, f64)],
    found: Option<f64>,
) -> Result<String, ChartError> {
    use crate::stats::capacity::Kind;
    let mut sorted: Vec<_> = probes.iter().collect();
    sorted.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let ms_of = |us: u64| (us as f64 / 1000.0).max(0.001);
    let line = |label: &str, f: fn(&crate::stats::capacity::Probe) -> u64| Line {
        label: label.into(),
        points: sorted
            .iter()
            .filter(|p| p.requests > 0)
            .map(|p| (p.rate, ms_of(f(p))))
            .collect(),
    };
    let lines = [
        line("p50", |p| p.p50_us),
        line("p90", |p| p.p90_us),
        line("p99", |p| p.p99_us),
    ];
    let (lo, hi) = log_range(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .chain(bounds.iter().map(|b| b.1)),
    );
    let x1 = sorted.last().map_or(1.0, |p| p.rate) * 1.08;
    svg("Latency by rate", |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Latency by rate offered", ("sans-serif", 18))
            .margin(12)
            .margin_right(24)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..x1, (lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("requests per second offered")
            .y_desc("milliseconds (log)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&ms)
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(err)?;
        for (line, color) in lines.iter().zip(PALETTE.iter()) {
            let style = color.stroke_width(2);
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), style))
                .map_err(err)?
                .label(&line.label)
                .legend(swatch(style));
        }
        for (label, v) in bounds {
            let style = FAILURE.stroke_width(1);
            chart
                .draw_series(DashedLineSeries::new([(0.0, *v), (x1, *v)], 6, 4, style))
                .map_err(err)?
                .label(format!("SLO {label}"))
                .legend(swatch(style));
        }
        if let Some(r) = found {
            let style = PALETTE[2].stroke_width(2);
            chart
                .draw_series(LineSeries::new([(r, lo), (r, hi)], style))
                .map_err(err)?
                .label(format!(
                    "found {}/s",
                    crate::stats::capacity::format_rate(r)
                ))
                .legend(swatch(style));
        }
        let at = |p: &&crate::stats::capacity::Probe| (p.rate, ms_of(p.p99_us));
        chart
            .draw_series(
                sorted
                    .iter()
                    .filter(|p| p.kind == Kind::Kept)
                    .map(|p| Circle::new(at(p), 5, PALETTE[2].filled())),
            )
            .map_err(err)?;
        chart
            .draw_series(
                sorted
                    .iter()
                    .filter(|p| p.kind == Kind::Broken)
                    .map(|p| Cross::new(at(p), 6, FAILURE.stroke_width(2))),
            )
            .map_err(err)?;
        chart
            .draw_series(
                sorted
                    .iter()
                    .filter(|p| p.kind == Kind::Invalid)
                    .map(|p| TriangleMarker::new(at(p), 7, PALETTE[4].filled())),
            )
            .map_err(err)?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// One group of bars: a label under it, one value per series.
pub struct BarGroup {
    pub label: String,
    pub values: Vec<f64>,
}

/// Grouped bars: one group per label, one bar per series in each.
pub fn bars(
    name: &str,
    y_desc: &str,
    series: &[&str],
    groups: &[BarGroup],
) -> Result<String, ChartError> {
    let top = groups
        .iter()
        .flat_map(|g| g.values.iter().copied())
        .fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let n = groups.len().max(1) as f64;
    let per = series.len().max(1) as f64;
    svg(name, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(name, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..n, 0.0..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(groups.len() * 2 + 1)
            .x_label_formatter(&|x| {
                // Labels sit at the middle of each group.
                let i = x.floor();
                if (x - i - 0.5).abs() < 1e-6 {
                    groups
                        .get(i as usize)
                        .map(|g| g.label.clone())
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(y_desc)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(err)?;
        for (s, (label, color)) in series.iter().zip(PALETTE.iter().cycle()).enumerate() {
            let width = 0.8 / per;
            let bars = groups.iter().enumerate().filter_map(|(g, group)| {
                let v = *group.values.get(s)?;
                let x0 = g as f64 + 0.1 + width * s as f64;
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + width * 0.92, v)],
                    color.filled(),
                ))
            });
            let style = color.filled();
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(*label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], style));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::histogram::{new, record};
    use crate::stats::series::Percentiles;

    fn points() -> Vec<Point> {
        (1..=30)
            .map(|t| Point {
                t,
                step: 1,
                requests: 1000 + t,
                failures: t % 3,
                users: 10,
                latency: Percentiles {
                    p50: 1000,
                    p90: 2000,
                    p95: 3000,
                    p99: 9000,
                    max: 20_000 + t,
                },
                names: vec![],
                cumulative: None,
            })
            .collect()
    }

    /// Counts the polyline/path elements that carry the data.
    fn lines(svg: &str) -> usize {
        svg.matches("<polyline").count() + svg.matches("<path").count()
    }

    #[test]
    fn time_charts_draw_their_lines_and_labels() {
        let t = throughput(&points(), "users").unwrap();
        assert!(t.starts_with("<svg") && t.trim_end().ends_with("</svg>"));
        assert!(t.contains("Throughput") && t.contains("requests/s") && t.contains("users"));
        // The time axis reads m:ss.
        assert!(t.contains("0:10") || t.contains("0:15"), "{t}");
        assert!(lines(&t) >= 3);
        let l = latency_over_time(&points()).unwrap();
        for s in ["p50", "p95", "p99", "max", "milliseconds"] {
            assert!(l.contains(s), "{s}");
        }
        // An empty run still draws (axes only).
        assert!(throughput(&[], "users").unwrap().contains("<svg"));
    }

    #[test]
    fn distribution_marks_the_nines() {
        let mut h = new();
        for v in 1..=10_000u64 {
            record(&mut h, v * 10);
        }
        let s = distribution(&[("total", &h), ("empty", &new())]).unwrap();
        assert!(s.contains("total") && !s.contains(">empty<"));
        assert!(s.contains("99%") && s.contains("99.9%"), "{s}");
    }

    #[test]
    fn bars_label_groups_and_series() {
        let s = bars(
            "Throughput",
            "requests/s",
            &["REST", "gRPC"],
            &[
                BarGroup {
                    label: "Rust".into(),
                    values: vec![100.0, 80.0],
                },
                BarGroup {
                    label: "Go".into(),
                    values: vec![60.0, 70.0],
                },
            ],
        )
        .unwrap();
        for w in ["Rust", "Go", "REST", "gRPC", "requests/s"] {
            assert!(s.contains(w), "{w}");
        }
        assert!(s.matches("<rect").count() >= 5);
    }
}
