//! Correlation ids: validated ids that follow a unit of work through spans,
//! events, `.await`s, spawned tasks and threads.
//!
//! Where an event's id comes from, innermost first:
//! 1. a `correlation_id` field on the event itself;
//! 2. the nearest enclosing span that has one (set as span field
//!    `correlation_id`, or inherited from its parent at creation);
//! 3. a [`scope`] / [`WithCorrelation`] entered inside that span (the
//!    innermost of 2 and 3 wins);
//! 4. the process-wide default ([`set_default`]).
//!
//! ```
//! use aureus_observability::correlation::{self, CorrelationId};
//!
//! let id = CorrelationId::new("wf-7")?;
//! correlation::scope(id.clone(), || {
//!     assert_eq!(correlation::current(), Some(id.clone()));
//! });
//! # Ok::<(), aureus_observability::Error>(())
//! ```

mod future;
mod id;
mod layer;
mod resolve;
mod spawn;

pub use future::{CorrelationExt, WithCorrelation};
pub use id::{CorrelationId, MAX_LEN};
pub use layer::CorrelationLayer;
pub use resolve::{current, default, invalid_ids_rejected, scope, set_default};
pub use spawn::{spawn, spawn_blocking, spawn_thread};

pub(crate) use layer::{clear_span_hint, enable_span_hints, span_hint};
pub(crate) use resolve::{count_invalid, visit_current, visit_resolved};
