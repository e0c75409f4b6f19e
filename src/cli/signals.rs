//! SIGINT, SIGTERM and SIGHUP. The first one stops the run as `x` in the
//! console does: workers stop, their last reports are merged, and the
//! summary, every file and the exit code come as for a run that ended on
//! time (Kubernetes and CI runners cancel with SIGTERM, a closed terminal
//! or ssh session hangs up; what was measured must not be lost). A second
//! signal exits at once, without a report, with 128 + its number.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::cluster::live::Interrupt;

/// Listens for SIGINT, SIGTERM and SIGHUP (on the current runtime); the first one
/// triggers the returned interrupt.
pub fn interrupt() -> Interrupt {
    let interrupt = Interrupt::default();
    let on_first = interrupt.clone();
    listen(move |name| on_first.trigger(name));
    interrupt
}

/// For a worker: a token cancelled by the first SIGINT, SIGTERM or SIGHUP.
pub fn stop_token() -> CancellationToken {
    let token = CancellationToken::new();
    let on_first = token.clone();
    listen(move |_| on_first.cancel());
    token
}

fn listen(first: impl FnOnce(&'static str) + Send + 'static) {
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::warn!(
                "cannot listen for SIGINT, SIGTERM and SIGHUP: they will end volley at once"
            );
            return;
        };
        let mut next = async || {
            tokio::select! {
                _ = int.recv() => ("SIGINT", libc::SIGINT),
                _ = term.recv() => ("SIGTERM", libc::SIGTERM),
                _ = hup.recv() => {
                    leave_hung_up_terminal();
                    ("SIGHUP", libc::SIGHUP)
                }
            }
        };
        let (name, _) = next().await;
        first(name);
        let (name, number) = next().await;
        crate::console::restore_terminal();
        eprintln!("volley: a second signal ({name}): exiting at once, without a report");
        std::process::exit(128 + number);
    });
}

/// After a hang-up, standard output and error that are the terminal that
/// went away read and write /dev/null instead: writing to it would fail
/// (EIO), and the summary printed at the end would end volley before it
/// wrote its files. Output redirected to a file or a pipe is kept, so the
/// summary still reaches it.
fn leave_hung_up_terminal() {
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return;
    };
    for fd in [libc::STDIN_FILENO, libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: isatty and dup2 on the process's own standard
        // descriptors and a descriptor this function owns; dup2 replaces
        // the descriptor atomically, so a concurrent write goes to one or
        // the other.
        unsafe {
            if libc::isatty(fd) == 1 {
                libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd);
            }
        }
    }
}
