//! The model as the servers share it: empty until loaded, so that readiness
//! (`/readyz`, the gRPC health service) can say when it is there.

use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

use crate::model::Model;

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
