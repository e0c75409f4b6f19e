//! Panics are never silent and never pass. The hook installed here counts
//! every panic and writes it (through the log writer, so the console does
//! not garble it); the load path catches its own and counts them as
//! failures (`engine::guard`). At the end of a run, a panic that no one
//! caught (in the master, the merging, a connection task) breaks the run:
//! it is named in the report's errors and the exit code is 3.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::guard;

static PANICS: AtomicU64 = AtomicU64::new(0);
static FIRST: Mutex<Option<String>> = Mutex::new(None);
/// Panics written out in full; past this, only counted (a bug met on every
/// request must not flood the terminal).
const WRITTEN: u64 = 10;

/// Installs the hook (once, at start).
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        let n = PANICS.fetch_add(1, Ordering::Relaxed) + 1;
        let what = format!(
            "volley panicked{}: {} (a bug in volley; please report it)",
            info.location()
                .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default(),
            guard::message(info.payload()),
        );
        FIRST
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| what.clone());
        if n <= WRITTEN {
            let _ = writeln!(crate::console::LogWriter, "error: {what}");
            // RUST_BACKTRACE=1 asks for one, as with Rust's own hook.
            let trace = std::backtrace::Backtrace::capture();
            if trace.status() == std::backtrace::BacktraceStatus::Captured {
                let _ = writeln!(crate::console::LogWriter, "{trace}");
            }
        } else if n == WRITTEN + 1 {
            let _ = writeln!(
                crate::console::LogWriter,
                "error: more panics; only counted from now on"
            );
        }
    }));
}

/// A panic that was not caught and counted as a request's failure, if
/// there was one: the first panic's text, and how many there were.
pub fn uncaught() -> Option<String> {
    let all = PANICS.load(Ordering::Relaxed);
    if all <= guard::caught() {
        return None;
    }
    let first = FIRST.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Some(format!(
        "{} ({all} panic(s) in all, {} caught while sending requests)",
        first.unwrap_or_else(|| "volley panicked".into()),
        guard::caught()
    ))
}
