//! The terminal: raw mode and the alternate screen while the console runs
//! (restored on exit and on a panic, by ratatui's init/restore), a frame
//! every 250 ms and only then (a key's or a resize's effect shows at the
//! next one), and keys read in between.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::widgets::Paragraph;
use tokio::sync::{mpsc, watch};

use super::ACTIVE;
use super::keys::{self, Action};
use super::model::Model;
use super::view::{self, UiState};
use crate::cluster::live::{Command, Phase};

/// How often a frame is drawn.
const FRAME: Duration = Duration::from_millis(250);

pub(super) fn run(
    models: watch::Receiver<Option<Arc<Model>>>,
    commands: mpsc::UnboundedSender<Command>,
    close: Arc<AtomicBool>,
    selected: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    ACTIVE.store(true, Ordering::Relaxed);
    let result = frames(&mut terminal, models, commands, &close, &selected);
    ACTIVE.store(false, Ordering::Relaxed);
    ratatui::restore();
    result
}

fn frames(
    terminal: &mut ratatui::DefaultTerminal,
    models: watch::Receiver<Option<Arc<Model>>>,
    commands: mpsc::UnboundedSender<Command>,
    close: &AtomicBool,
    selected: &AtomicUsize,
) -> std::io::Result<()> {
    let mut ui = UiState {
        color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        ..UiState::default()
    };
    let mut quitting = false;
    let mut next = Instant::now();
    loop {
        if close.load(Ordering::Relaxed) {
            return Ok(());
        }
        let model = models.borrow().clone();
        let done = model.as_ref().is_some_and(|m| m.phase == Phase::Done);
        if quitting && done {
            return Ok(());
        }
        if Instant::now() >= next {
            terminal.draw(|f| match &model {
                Some(m) => view::draw(f, m, &ui),
                None => f.render_widget(Paragraph::new(" volley: starting…"), f.area()),
            })?;
            next = Instant::now() + FRAME;
        }
        let wait = next.saturating_duration_since(Instant::now());
        if !event::poll(wait)? {
            continue;
        }
        match event::read()? {
            Event::Key(k) if k.kind == KeyEventKind::Press => {
                let Some(m) = &model else { continue };
                match keys::handle(k, &mut ui, m) {
                    Action::None => {}
                    Action::Send(c) => {
                        let _ = commands.send(c);
                    }
                    Action::Quit if done => return Ok(()),
                    Action::Select => {
                        // The charts follow the selected row (not the total).
                        let stat = view::selected_stat(m, &ui).map_or(0, |s| s.index() + 1);
                        selected.store(stat, Ordering::Relaxed);
                    }
                    Action::Quit => {
                        // Stop the workers cleanly; leave once the run is done.
                        quitting = true;
                        let _ = commands.send(Command::Stop);
                    }
                }
            }
            _ => {}
        }
    }
}
