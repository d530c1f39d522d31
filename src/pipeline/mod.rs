//! The pipeline: build each event's [`Record`](crate::Record) once, then fan
//! it out to every sink's bounded queue.
//!
//! ```text
//! event ─► AureusFilter ─► CorrelationLayer ─► PipelineLayer ─► Arc<Record> ─┬─► queue ─► worker ─► console
//!                                                                            ├─► queue ─► worker ─► file
//!                                                                            └─► …
//! ```
//!
//! Each sink has its own queue, [`OverflowPolicy`] and worker thread, so a
//! slow or failing sink never holds up another, and with
//! [`OverflowPolicy::Drop`] never holds up the instrumented code either.
//! What sink workers themselves log is never fed back into the pipeline.

mod filter;
mod genai;
mod layer;
mod pool;
mod queue;
mod redact;
mod sampling;
mod stats;
mod worker;
pub(crate) mod worker_thread;

pub use filter::{AureusFilter, AUDIT_TARGET};
pub use layer::PipelineLayer;
pub use queue::{OverflowPolicy, DEFAULT_QUEUE_MAX_BYTES};
pub use redact::{DEFAULT_SENSITIVE_FIELDS, REDACTED};

pub(crate) use filter::{Directives, LogLevels};
pub(crate) use layer::Pipeline;
pub(crate) use pool::RecordPool;
pub(crate) use queue::{QueueSettings, SinkHandle};
pub(crate) use redact::Redactor;
pub(crate) use sampling::Sampler;
pub(crate) use worker_thread::is_current as is_worker_thread;
pub(crate) use worker_thread::mark_current as mark_worker_thread;
pub(crate) use worker_thread::watch_otel_suppression;
