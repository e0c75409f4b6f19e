//! The header: the phase, the time, the load in force, the request rate,
//! failures and workers, and the first reason a run is INVALID.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::UiState;
use super::text::{fit, short};
use crate::cluster::live::Phase;
use crate::console::model::Model;

/// A duration as the header shows it: 42s, 3m05s, 1h02m03s.
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

/// The header's two lines, and a third when the run is INVALID.
pub(super) fn draw(f: &mut Frame, area: Rect, m: &Model, ui: &UiState) {
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
