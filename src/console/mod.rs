//! The master's live console: a view over the state the run publishes (its
//! statistics and [`Board`](crate::cluster::live::Board)), drawn with
//! ratatui on crossterm about four times a second, and the keys that steer
//! the run. [`model`] turns the run's state into one frame's numbers,
//! [`view`] draws them (a pure function, tested on ratatui's TestBackend),
//! [`keys`] maps keys to commands, and `terminal` owns the terminal.
//! Without a terminal, or with --headless, there is no console.

pub mod keys;
pub mod model;
mod terminal;
pub mod view;

#[cfg(test)]
mod tests;

use crate::stats::StatId;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use crate::cluster::live::Watcher;
use model::{Layout, Model};

/// Whether a console can run here: stdin and stdout are terminals.
pub fn wanted(headless: bool) -> bool {
    !headless && std::io::stdout().is_terminal() && std::io::stdin().is_terminal()
}

/// True while the console owns the terminal: log lines are held until it
/// lets go instead of being written over the screen.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Log output held while the console was active (bounded).
static HELD: Mutex<Vec<u8>> = Mutex::new(Vec::new());
const HELD_MAX: usize = 64 * 1024;

/// Where logs go: stderr, or held while the console draws.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if ACTIVE.load(Ordering::Relaxed) {
            let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
            if held.len() + buf.len() <= HELD_MAX {
                held.extend_from_slice(buf);
            }
            Ok(buf.len())
        } else {
            std::io::stderr().write(buf)
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Gives the terminal back now if the console holds it (before an exit
/// that skips the console's own clean-up).
pub fn restore_terminal() {
    if ACTIVE.swap(false, Ordering::Relaxed) {
        ratatui::restore();
    }
}

/// A console running on a thread of its own.
pub struct Console {
    thread: std::thread::JoinHandle<std::io::Result<()>>,
    close: Arc<AtomicBool>,
}

/// Starts the console for a run laid out as `layout`; returns it and the
/// watcher to hand to the run.
pub fn start(layout: Layout) -> std::io::Result<(Console, Watcher)> {
    let (models_tx, models_rx) = watch::channel::<Option<Arc<Model>>>(None);
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let close = Arc::new(AtomicBool::new(false));
    let closing = close.clone();
    // The row the console selected (its statistics index + 1; 0: none), so
    // that the next frame's numbers carry its own series.
    let selected = Arc::new(AtomicUsize::new(0));
    let selecting = selected.clone();
    let thread = std::thread::Builder::new()
        .name("volley-console".into())
        .spawn(move || terminal::run(models_rx, commands_tx, closing, selecting))?;
    let watcher = Watcher {
        publish: Box::new(move |stats, board| {
            let row = selected
                .load(Ordering::Relaxed)
                .checked_sub(1)
                .and_then(StatId::at);
            let _ = models_tx.send(Some(Arc::new(Model::build(stats, board, &layout, row))));
        }),
        commands: commands_rx,
        on_terminal: true,
    };
    Ok((Console { thread, close }, watcher))
}

impl Console {
    /// Waits until the user leaves the console (after the run is done);
    /// with `abandon`, closes it at once (the run could not start).
    pub fn finish(self, abandon: bool) -> std::io::Result<()> {
        if abandon {
            self.close.store(true, Ordering::Relaxed);
        }
        let result = match self.thread.join() {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::other("the console panicked")),
        };
        let held = std::mem::take(&mut *HELD.lock().unwrap_or_else(|p| p.into_inner()));
        let _ = std::io::stderr().write_all(&held);
        result
    }
}
