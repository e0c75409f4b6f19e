//! The lines under the table: notes (where to join, lost or busy
//! workers) and the keys that work in the current phase.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::UiState;
use crate::cluster::live::Phase;
use crate::console::model::Model;

/// The keys that work now, dimmed: stop and +/- only while load runs.
pub(super) fn keys(m: &Model, ui: &UiState) -> Line<'static> {
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
pub(super) fn note_lines(m: &Model) -> Vec<String> {
    let mut out = Vec::new();
    if m.phase == Phase::Waiting && !m.info.is_empty() {
        out.push(format!(" {}", m.info));
    }
    out.extend(m.notes.iter().rev().take(2).map(|n| format!(" ! {n}")));
    out.truncate(2);
    out
}
