//! The model as the servers share it: empty until loaded, so that readiness
//! (`/readyz`, the gRPC health service) can say when it is there.

use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

use crate::MAX_TEXT_BYTES;
use crate::model::{Model, Prediction};

/// Why a text gets no prediction. Every endpoint (REST `/predict`, its
/// streaming twins, gRPC `Predict` and `PredictStream`) refuses texts through
/// [`SharedModel::classify`] with these messages, so that they cannot drift
/// apart; each maps a refusal to its own status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the model is still loading")]
    Loading,
    #[error("text must not be empty")]
    Empty,
    #[error("text is {0} bytes; the limit is {MAX_TEXT_BYTES}")]
    TooLong(usize),
}

#[derive(Default)]
struct Inner {
    model: OnceLock<Model>,
    loaded: Notify,
}

/// A cheaply cloned handle to the model, set once.
#[derive(Clone, Default)]
pub struct SharedModel(Arc<Inner>);

impl SharedModel {
    /// A handle with no model yet.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A handle that already holds `model`.
    pub fn loaded(model: Model) -> Self {
        let s = Self::default();
        s.set(model);
        s
    }

    /// Stores the model and wakes whoever waits for it; a second call is
    /// ignored, since a running server never swaps its model.
    pub fn set(&self, model: Model) {
        let _ = self.0.model.set(model);
        self.0.loaded.notify_waiters();
    }

    /// The model, once loaded.
    pub fn get(&self) -> Option<&Model> {
        self.0.model.get()
    }

    /// The model, if `text` is one it would classify; otherwise why not: no
    /// model yet, an empty text, or one over [`MAX_TEXT_BYTES`].
    pub fn check(&self, text: &str) -> Result<&Model, Refusal> {
        let model = self.get().ok_or(Refusal::Loading)?;
        if text.is_empty() {
            return Err(Refusal::Empty);
        }
        if text.len() > MAX_TEXT_BYTES {
            return Err(Refusal::TooLong(text.len()));
        }
        Ok(model)
    }

    /// The prediction for `text`, or why there is none (see [`check`]).
    ///
    /// [`check`]: SharedModel::check
    pub fn classify(&self, text: &str) -> Result<Prediction<'_>, Refusal> {
        Ok(self.check(text)?.predict(text))
    }

    /// Waits until the model is loaded.
    pub async fn wait_loaded(&self) {
        loop {
            let notified = self.0.loaded.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.get().is_some() {
                return;
            }
            notified.await;
        }
    }
}
