//! SIGINT and SIGTERM. The first one stops the run as `x` in the console
//! does: workers stop, their last reports are merged, and the summary, every
//! file and the exit code come as for a run that ended on time (Kubernetes
//! and CI runners cancel with SIGTERM; what was measured must not be lost).
//! A second signal exits at once, without a report, with 128 + its number.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::cluster::live::Interrupt;

/// Listens for SIGINT and SIGTERM (on the current runtime); the first one
/// triggers the returned interrupt.
pub fn interrupt() -> Interrupt {
    let interrupt = Interrupt::default();
    let on_first = interrupt.clone();
    listen(move |name| on_first.trigger(name));
    interrupt
}

/// For a worker: a token cancelled by the first SIGINT or SIGTERM.
pub fn stop_token() -> CancellationToken {
    let token = CancellationToken::new();
    let on_first = token.clone();
    listen(move |_| on_first.cancel());
    token
}

fn listen(first: impl FnOnce(&'static str) + Send + 'static) {
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::warn!("cannot listen for SIGINT and SIGTERM: they will end volley at once");
            return;
        };
        let next = async |int: &mut tokio::signal::unix::Signal,
                          term: &mut tokio::signal::unix::Signal| {
            tokio::select! {
                _ = int.recv() => ("SIGINT", libc::SIGINT),
                _ = term.recv() => ("SIGTERM", libc::SIGTERM),
            }
        };
        let (name, _) = next(&mut int, &mut term).await;
        first(name);
        let (name, number) = next(&mut int, &mut term).await;
        crate::console::restore_terminal();
        eprintln!("volley: a second signal ({name}): exiting at once, without a report");
        std::process::exit(128 + number);
    });
}
