//! [`Emitter`]: emits our own events (alert changes, audit records) through
//! the subscriber our layer lives in, from threads of ours where it may not
//! be the default (the alert thread, the HTTP listener).

use std::sync::{Arc, OnceLock};

use tracing::dispatcher::{Dispatch, WeakDispatch};

/// Remembers the subscriber our layer was registered in (weakly: the
/// subscriber owns the layer, so a strong reference would be a cycle).
#[derive(Clone, Default)]
pub(crate) struct Emitter(Arc<OnceLock<WeakDispatch>>);

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("registered", &self.0.get().is_some())
            .finish()
    }
}

impl Emitter {
    /// Called when the subscriber holding our layer becomes a `Dispatch`.
    pub(crate) fn register(&self, dispatch: &Dispatch) {
        let _ = self.0.set(dispatch.downgrade());
    }

    /// Runs `emit` with our subscriber as the default (or, before the layer
    /// is registered or after its subscriber is gone, with whatever is).
    pub(crate) fn emit(&self, emit: impl FnOnce()) {
        match self.0.get().and_then(WeakDispatch::upgrade) {
            Some(dispatch) => tracing::dispatcher::with_default(&dispatch, emit),
            None => emit(),
        }
    }
}
