//! Finding the correlation id in force: spans, scopes and the default.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;

use tracing::span;
use tracing_subscriber::registry::{LookupSpan, Registry, SpanRef};

use super::id::CorrelationId;

/// The id stored in a span's extensions (explicit or inherited).
#[derive(Clone, Debug)]
pub(crate) struct SpanCorrelation(pub(crate) CorrelationId);

/// A correlation scope entered on this thread (by [`scope`] or a polled
/// [`WithCorrelation`](super::WithCorrelation)).
struct Frame {
    id: CorrelationId,
    /// The span that was current when the scope was entered: it and its
    /// ancestors are *outside* the scope.
    anchor: Option<span::Id>,
}

thread_local! {
    static SCOPE: RefCell<Option<Frame>> = const { RefCell::new(None) };
}

static DEFAULT: RwLock<Option<CorrelationId>> = RwLock::new(None);
/// Whether `DEFAULT` holds an id: lets a lookup without one skip the lock
/// (every histogram observation outside a correlated span asks).
static HAS_DEFAULT: AtomicBool = AtomicBool::new(false);
static INVALID: AtomicU64 = AtomicU64::new(0);

/// Sets (or with `None` clears) the process-wide default correlation id, used
/// where no span or scope provides one.
pub fn set_default(id: Option<CorrelationId>) {
    let mut guard = DEFAULT.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    HAS_DEFAULT.store(id.is_some(), Ordering::Release);
    *guard = id;
}

/// The process-wide default correlation id, if set.
pub fn default() -> Option<CorrelationId> {
    match DEFAULT.read() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// How many invalid correlation ids (on spans or events) were rejected so far.
pub fn invalid_ids_rejected() -> u64 {
    INVALID.load(Ordering::Relaxed)
}

pub(crate) fn count_invalid() {
    INVALID.fetch_add(1, Ordering::Relaxed);
}

/// Restores the previous frame when a scope ends.
pub(crate) struct ScopeGuard {
    previous: Option<Frame>,
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = SCOPE.try_with(|scope| *scope.borrow_mut() = previous);
    }
}

/// Enters a correlation scope on this thread until the guard drops.
pub(crate) fn enter(id: &CorrelationId) -> ScopeGuard {
    let anchor = tracing::dispatcher::get_default(anchor_of);
    let frame = Frame { id: id.clone(), anchor };
    let previous = SCOPE.try_with(|scope| scope.borrow_mut().replace(frame)).ok().flatten();
    ScopeGuard { previous }
}

/// The span that bounds a scope entered now: the innermost current span
/// that carries a correlation id. Spans without one cannot decide anything,
/// and the current span itself may be one our layer's filter hides (in a
/// composed subscriber the current span is whatever any layer enabled), so
/// the walk in [`visit_resolved`] would never meet it.
fn anchor_of(dispatch: &tracing::Dispatch) -> Option<span::Id> {
    let current = dispatch.current_span();
    let id = current.id()?;
    let Some(registry) = dispatch.downcast_ref::<Registry>() else {
        return Some(id.clone());
    };
    let leaf = registry.span(id)?;
    let anchor = leaf
        .scope()
        .find(|span| span.extensions().get::<SpanCorrelation>().is_some())
        .map(|span| span.id());
    anchor
}

/// Runs `f` with `id` as the correlation id of everything it records
/// (unless a span inside sets another).
pub fn scope<R>(id: CorrelationId, f: impl FnOnce() -> R) -> R {
    let _guard = enter(&id);
    f()
}

/// Resolves the id for something whose innermost enclosing span is `leaf`.
/// With `with_default`, falls back to the process-wide default.
pub(crate) fn resolve_for<'a, R: LookupSpan<'a>>(
    leaf: Option<SpanRef<'a, R>>,
    with_default: bool,
) -> Option<CorrelationId> {
    let mut found = None;
    visit_resolved(leaf, with_default, |id| found = Some(id.clone()));
    found
}

/// Like [`resolve_for`], but lends the id to `visit` instead of cloning it
/// (the hot path copies the text and never touches the shared reference count).
pub(crate) fn visit_resolved<'a, R: LookupSpan<'a>>(
    leaf: Option<SpanRef<'a, R>>,
    with_default: bool,
    visit: impl FnOnce(&CorrelationId),
) {
    let mut visit = Some(visit);
    let mut call = |id: &CorrelationId| {
        if let Some(visit) = visit.take() {
            visit(id);
        }
    };
    let found = SCOPE
        .try_with(|scope| {
            let scope = scope.borrow();
            if let Some(leaf) = leaf {
                for span in leaf.scope() {
                    if let Some(frame) = scope.as_ref() {
                        if frame.anchor.as_ref() == Some(&span.id()) {
                            call(&frame.id);
                            return true;
                        }
                    }
                    if let Some(found) = span.extensions().get::<SpanCorrelation>() {
                        call(&found.0);
                        return true;
                    }
                }
            }
            match scope.as_ref() {
                Some(frame) => {
                    call(&frame.id);
                    true
                }
                None => false,
            }
        })
        .unwrap_or(false);
    if !found && with_default && HAS_DEFAULT.load(Ordering::Acquire) {
        let guard = DEFAULT.read().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = guard.as_ref() {
            call(id);
        }
    }
}

/// The correlation id in force here and now: from the current span, an
/// entered scope, or the process-wide default.
///
/// Reads spans through the global (or thread-default) subscriber when it is
/// built on `tracing_subscriber`'s [`Registry`] (as [`crate::init`]'s is).
pub fn current() -> Option<CorrelationId> {
    let mut found = None;
    visit_current(|id| found = Some(id.clone()));
    found
}

/// Like [`current`], but lends the id to `visit` instead of cloning it (no
/// shared reference count touched: the metrics' exemplar capture).
pub(crate) fn visit_current(visit: impl FnOnce(&CorrelationId)) {
    // `get_default` takes an `FnMut`: the visitor is taken out once.
    let mut visit = Some(visit);
    tracing::dispatcher::get_default(|dispatch| {
        let Some(visit) = visit.take() else {
            return;
        };
        let current = dispatch.current_span();
        match (dispatch.downcast_ref::<Registry>(), current.id()) {
            (Some(registry), Some(id)) => visit_resolved(registry.span(id), true, visit),
            _ => visit_resolved::<Registry>(None, true, visit),
        }
    })
}
