//! Panics in the load path. A panic while a request is sent (a bug in
//! volley, most likely met on an answer nobody foresaw) becomes that
//! request's failure, kind `internal`, with the panic's message: counted,
//! never silent, and the user goes on. A panic anywhere else in the engine
//! fails the engine, and so the run. Every caught panic is counted here, so
//! that the command line can tell caught ones from the rest at the end.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt as _;

use crate::stats::{Failure, FailureKind};

/// Panics caught and turned into failures, in this process.
static CAUGHT: AtomicU64 = AtomicU64::new(0);

/// How many panics the load path caught and counted as failures.
pub fn caught() -> u64 {
    CAUGHT.load(Ordering::Relaxed)
}

/// A panic payload as text.
pub fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Runs `f`, turning a panic inside it into `Err(message)` (counted as
/// caught).
pub async fn catch<F: Future>(f: F) -> Result<F::Output, String> {
    AssertUnwindSafe(f).catch_unwind().await.map_err(|payload| {
        CAUGHT.fetch_add(1, Ordering::Relaxed);
        message(&*payload)
    })
}

/// [`catch`] for code on a thread of its own.
pub fn catch_sync<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        CAUGHT.fetch_add(1, Ordering::Relaxed);
        message(&*payload)
    })
}

/// The failure a caught panic becomes.
pub fn failure(message: String) -> Failure {
    Failure::new(
        FailureKind::Internal,
        "volley failed while sending the request (a bug in volley)",
    )
    .with_detail(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_its_message_and_is_counted() {
        let before = caught();
        let r = catch(async {
            let v: Vec<u8> = Vec::new();
            // An index out of range, as hostile input could provoke.
            v[usize::from(v.is_empty()) * 3]
        })
        .await;
        let msg = r.unwrap_err();
        assert!(msg.contains("index out of bounds"), "{msg}");
        assert!(caught() > before);
        assert_eq!(catch(async { 7 }).await, Ok(7));
        assert_eq!(failure(msg).kind, FailureKind::Internal);
    }
}
