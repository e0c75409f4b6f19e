//! Keys: what each one does to the console's state and which command, if
//! any, it sends to the run. Pure, so that tests can press keys.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::model::Model;
use super::view::{UiState, row_count};
use crate::cluster::live::{Command, Phase};

/// What a key asks for beyond the console's own state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    None,
    Send(Command),
    /// Stop the run if it is still going, then leave the console.
    Quit,
    /// The selection changed: the charts follow the selected row (or the
    /// totals again).
    Select,
}

/// Applies `key` to `ui`, given the frame on screen.
pub fn handle(key: KeyEvent, ui: &mut UiState, m: &Model) -> Action {
    let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
    let running = m.phase != Phase::Done;
    if ui.confirm_quit {
        ui.confirm_quit = false;
        return match key.code {
            KeyCode::Char('y' | 'Y' | 'q') | KeyCode::Enter => Action::Quit,
            _ if ctrl_c => Action::Quit,
            _ => Action::None,
        };
    }
    if ctrl_c || key.code == KeyCode::Char('q') {
        if running {
            ui.confirm_quit = true;
            return Action::None;
        }
        return Action::Quit;
    }
    let rows = row_count(m, ui.tab);
    match key.code {
        KeyCode::Enter if m.phase == Phase::Waiting => Action::Send(Command::StartNow),
        KeyCode::Char('x') if matches!(m.phase, Phase::Ramping | Phase::Running) => {
            Action::Send(Command::Stop)
        }
        KeyCode::Char('+' | '=') if matches!(m.phase, Phase::Ramping | Phase::Running) => {
            Action::Send(Command::SetTotal(m.total + m.step))
        }
        KeyCode::Char('-' | '_') if matches!(m.phase, Phase::Ramping | Phase::Running) => {
            Action::Send(Command::SetTotal((m.total - m.step).max(0.0)))
        }
        KeyCode::Char('r') => Action::Send(Command::Reset),
        KeyCode::Char('s') => {
            ui.sort = ui.sort.next();
            Action::Select
        }
        KeyCode::Tab | KeyCode::Right => {
            ui.tab = ui.tab.next(1, m.search.is_some());
            ui.selected = 0;
            ui.follow = false;
            Action::Select
        }
        KeyCode::BackTab | KeyCode::Left => {
            ui.tab = ui.tab.next(-1, m.search.is_some());
            ui.selected = 0;
            ui.follow = false;
            Action::Select
        }
        // Moving through the rows makes the charts follow the row; the
        // first move shows the row already marked.
        KeyCode::Down | KeyCode::Char('j') | KeyCode::Up | KeyCode::Char('k')
            if !ui.follow && ui.tab == super::view::Tab::Requests =>
        {
            ui.follow = true;
            Action::Select
        }
        KeyCode::Down | KeyCode::Char('j') => {
            ui.selected = (ui.selected + 1).min(rows.saturating_sub(1));
            ui.follow = true;
            Action::Select
        }
        KeyCode::Up | KeyCode::Char('k') => {
            ui.selected = ui.selected.saturating_sub(1);
            ui.follow = true;
            Action::Select
        }
        KeyCode::PageDown => {
            ui.selected = (ui.selected + 10).min(rows.saturating_sub(1));
            ui.follow = true;
            Action::Select
        }
        KeyCode::PageUp => {
            ui.selected = ui.selected.saturating_sub(10);
            ui.follow = true;
            Action::Select
        }
        KeyCode::Home => {
            ui.selected = 0;
            ui.follow = true;
            Action::Select
        }
        // Back to the whole run's charts.
        KeyCode::Esc => {
            ui.follow = false;
            Action::Select
        }
        _ => Action::None,
    }
}
