//! Exemplars: per histogram bucket, the trace id, span id and correlation id
//! of its latest observation, rendered in OpenMetrics 1.0
//! (`# {trace_id="…",span_id="…",correlation_id="…"} value timestamp`).
//!
//! Where the context comes from:
//!
//! * the pipeline ([`crate::init`] / [`crate::layer`]) records each Aureus
//!   event's metrics inside [`with_record`], which lends the record's trace
//!   id, OpenTelemetry span id, correlation id and timestamp to every
//!   histogram observation made meanwhile (no second lookup);
//! * any other observation — the service's own `metrics::histogram!` through
//!   the facade, a standalone [`MetricsLayer`](super::MetricsLayer) — reads
//!   the ambient context: the active OpenTelemetry span (as
//!   `tracing-opentelemetry` activates it) and
//!   [`correlation::current`](crate::correlation::current).
//!
//! An observation with neither a trace nor a correlation id leaves its
//! bucket's exemplar as it was; a `NaN` observation never becomes one (no
//! bucket range holds it). Capture copies at most 128 bytes into a slot
//! allocated once per histogram, and skips the bucket when another thread is
//! writing its exemplar at that moment: it never blocks and never allocates
//! per observation.
//!
//! OpenMetrics limits an exemplar's label names and values to 128 UTF-8
//! characters together. `trace_id` and `span_id` take 63; the correlation id
//! (up to 128 characters) goes out only when it fits whole — it is never
//! shortened, since a shortened id would name another run. Without a trace,
//! a correlation id longer than 114 characters leaves the exemplar out.

use std::cell::RefCell;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::correlation::MAX_LEN;
use crate::record::Record;

/// Whether an exemplar may show a correlation id: `false` when the
/// redaction configuration would hide it (the id then stays out of the
/// exemplar, which keeps its trace and span ids).
pub(crate) type CorrelationFilter = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Most characters the label names and values of one exemplar may hold
/// (OpenMetrics 1.0, "Exemplars").
pub(crate) const MAX_LABEL_CHARS: usize = 128;

/// Exemplar label names.
pub(crate) const TRACE_ID: &str = "trace_id";
/// Exemplar label names.
pub(crate) const SPAN_ID: &str = "span_id";
/// Exemplar label names.
pub(crate) const CORRELATION_ID: &str = "correlation_id";

/// Where an observation happened: trace, span and correlation id, and when.
#[derive(Clone, Copy)]
pub(crate) struct ExemplarContext {
    /// W3C trace id and OpenTelemetry span id.
    pub(crate) trace: Option<(u128, u64)>,
    correlation: [u8; MAX_LEN],
    correlation_len: u8,
    /// Nanoseconds since the Unix epoch.
    pub(crate) time_unix_nano: u64,
}

impl std::fmt::Debug for ExemplarContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExemplarContext")
            .field("trace", &self.trace)
            .field("correlation_id", &self.correlation_id())
            .field("time_unix_nano", &self.time_unix_nano)
            .finish()
    }
}

impl ExemplarContext {
    /// A context, `None` when it has neither a trace nor a correlation id
    /// (or the id is longer than a [`CorrelationId`](crate::CorrelationId) can be).
    pub(crate) fn new(trace: Option<(u128, u64)>, correlation_id: Option<&str>, time: SystemTime) -> Option<Self> {
        let correlation_id = correlation_id.filter(|id| !id.is_empty() && id.len() <= MAX_LEN);
        if trace.is_none() && correlation_id.is_none() {
            return None;
        }
        let mut context = ExemplarContext {
            trace,
            correlation: [0; MAX_LEN],
            correlation_len: 0,
            time_unix_nano: time
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        };
        if let Some(id) = correlation_id {
            context.correlation[..id.len()].copy_from_slice(id.as_bytes());
            context.correlation_len = id.len() as u8;
        }
        Some(context)
    }

    /// The correlation id, when there was one.
    pub(crate) fn correlation_id(&self) -> Option<&str> {
        let bytes = &self.correlation[..usize::from(self.correlation_len)];
        (!bytes.is_empty()).then(|| std::str::from_utf8(bytes).ok()).flatten()
    }

    /// The exemplar labels that fit OpenMetrics' 128-character limit, in
    /// order `trace_id`, `span_id`, `correlation_id` (when `show` lets it
    /// through); `None` when nothing fits.
    pub(crate) fn labels(&self, show: &dyn Fn(&str) -> bool) -> Option<ExemplarLabels<'_>> {
        let trace = self
            .trace
            .map(|(trace, span)| (format_trace_id(trace), format_span_id(span)));
        let mut used = match trace {
            Some(_) => TRACE_ID.len() + 32 + SPAN_ID.len() + 16,
            None => 0,
        };
        let correlation = self.correlation_id().filter(|id| show(id)).filter(|id| {
            let fits = used + CORRELATION_ID.len() + id.chars().count() <= MAX_LABEL_CHARS;
            if fits {
                used += CORRELATION_ID.len() + id.chars().count();
            }
            fits
        });
        (trace.is_some() || correlation.is_some()).then_some(ExemplarLabels { trace, correlation })
    }
}

/// What an exemplar shows as labels: hex ids and the correlation id when it fits.
pub(crate) struct ExemplarLabels<'a> {
    pub(crate) trace: Option<([u8; 32], [u8; 16])>,
    pub(crate) correlation: Option<&'a str>,
}

fn hex<const N: usize>(value: u128) -> [u8; N] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0'; N];
    for (i, byte) in out.iter_mut().enumerate() {
        let shift = 4 * (N - 1 - i);
        *byte = DIGITS[((value >> shift) & 0xf) as usize];
    }
    out
}

/// 32 lowercase hex digits.
pub(crate) fn format_trace_id(id: u128) -> [u8; 32] {
    hex::<32>(id)
}

/// 16 lowercase hex digits.
pub(crate) fn format_span_id(id: u64) -> [u8; 16] {
    hex::<16>(u128::from(id))
}

/// One exemplar: the observed value and where it happened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exemplar {
    pub(crate) value: f64,
    pub(crate) context: ExemplarContext,
}

/// Per bucket, its latest exemplar; the slots are allocated on the first
/// observation that has a context.
#[derive(Debug, Default)]
pub(crate) struct ExemplarSlots {
    slots: OnceLock<Box<[Mutex<Option<Exemplar>>]>>,
}

impl ExemplarSlots {
    /// Keeps `value` as bucket `bucket`'s exemplar (of `buckets`), unless
    /// another thread is writing that slot right now.
    pub(crate) fn offer(&self, buckets: usize, bucket: usize, value: f64, context: &ExemplarContext) {
        let slots = self
            .slots
            .get_or_init(|| (0..buckets).map(|_| Mutex::new(None)).collect());
        if let Some(slot) = slots.get(bucket) {
            let guard = match slot.try_lock() {
                Ok(guard) => Some(guard),
                Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            };
            if let Some(mut guard) = guard {
                *guard = Some(Exemplar {
                    value,
                    context: *context,
                });
            }
        }
    }

    /// Bucket `bucket`'s exemplar, if it has one.
    pub(crate) fn get(&self, bucket: usize) -> Option<Exemplar> {
        let slot = self.slots.get()?.get(bucket)?;
        *slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bucket `bucket`'s exemplar when `keep` accepts it, and with `take`
    /// also empties the slot (delta exports report each exemplar once).
    pub(crate) fn get_if(&self, bucket: usize, take: bool, keep: impl FnOnce(&Exemplar) -> bool) -> Option<Exemplar> {
        let slot = self.slots.get()?.get(bucket)?;
        let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let exemplar = (*guard).filter(keep)?;
        if take {
            *guard = None;
        }
        Some(exemplar)
    }
}

/// What histogram observations on this thread take their context from.
#[derive(Clone, Copy)]
enum Scope {
    /// No pipeline record: read the ambient context.
    Ambient,
    /// Inside [`with_record`]: the record's context (or none).
    Record(Option<ExemplarContext>),
}

thread_local! {
    static SCOPE: RefCell<Scope> = const { RefCell::new(Scope::Ambient) };
}

/// Restores the previous scope when dropped (also on unwind).
struct Restore(Option<Scope>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            let _ = SCOPE.try_with(|scope| *scope.borrow_mut() = previous);
        }
    }
}

/// Runs `f` — which records `record`'s metrics — with `record`'s trace,
/// span and correlation id as the context of every histogram observation.
pub(crate) fn with_record<R>(record: &Record, f: impl FnOnce() -> R) -> R {
    let trace = record.trace_id.zip(record.otel_span_id);
    let context = ExemplarContext::new(trace, record.correlation_id(), record.timestamp);
    let previous = SCOPE
        .try_with(|scope| std::mem::replace(&mut *scope.borrow_mut(), Scope::Record(context)))
        .ok();
    let _restore = Restore(previous);
    f()
}

/// The context of an observation made now on this thread (see the module docs).
pub(crate) fn current() -> Option<ExemplarContext> {
    match SCOPE.try_with(|scope| *scope.borrow()) {
        Ok(Scope::Record(context)) => context,
        Ok(Scope::Ambient) | Err(_) => ambient(),
    }
}

fn ambient() -> Option<ExemplarContext> {
    let trace = opentelemetry::Context::map_current(|cx| {
        use opentelemetry::trace::TraceContextExt as _;
        let span = cx.span();
        let context = span.span_context();
        context.is_valid().then(|| {
            (
                u128::from_be_bytes(context.trace_id().to_bytes()),
                u64::from_be_bytes(context.span_id().to_bytes()),
            )
        })
    });
    let mut context = None;
    crate::correlation::visit_current(|id| context = ExemplarContext::new(trace, Some(id.as_str()), SystemTime::now()));
    match (context, trace) {
        (None, Some(_)) => ExemplarContext::new(trace, None, SystemTime::now()),
        (context, _) => context,
    }
}

/// Appends ` # {labels} value timestamp` for `exemplar` (nothing when none of
/// its labels fits); its correlation id only when `show` lets it through.
pub(crate) fn push_exemplar(out: &mut String, exemplar: &Exemplar, show: &dyn Fn(&str) -> bool) {
    let Some(labels) = exemplar.context.labels(show) else {
        return;
    };
    out.push_str(" # {");
    if let Some((trace, span)) = &labels.trace {
        out.push_str(TRACE_ID);
        out.push_str("=\"");
        out.push_str(std::str::from_utf8(trace).unwrap_or_default());
        out.push_str("\",");
        out.push_str(SPAN_ID);
        out.push_str("=\"");
        out.push_str(std::str::from_utf8(span).unwrap_or_default());
        out.push('"');
    }
    if let Some(id) = labels.correlation {
        if labels.trace.is_some() {
            out.push(',');
        }
        super::text::push_label(out, CORRELATION_ID, id);
    }
    out.push_str("} ");
    super::text::push_float(out, exemplar.value);
    out.push(' ');
    let nanos = exemplar.context.time_unix_nano;
    let _ = std::fmt::Write::write_fmt(
        out,
        format_args!("{}.{:03}", nanos / 1_000_000_000, (nanos % 1_000_000_000) / 1_000_000),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_millis(secs * 1000 + millis)
    }

    fn rendered(trace: Option<(u128, u64)>, correlation: Option<&str>, value: f64) -> String {
        let mut out = String::new();
        if let Some(context) = ExemplarContext::new(trace, correlation, at(1_700_000_000, 42)) {
            push_exemplar(&mut out, &Exemplar { value, context }, &|_| true);
        }
        out
    }

    const TRACE: (u128, u64) = (0x4bf92f3577b34da6a3ce929d0e0e4736, 0x00f067aa0ba902b7);

    #[test]
    fn ids_are_lowercase_hex_of_fixed_width() {
        assert_eq!(&format_trace_id(1), b"00000000000000000000000000000001");
        assert_eq!(&format_span_id(u64::MAX), b"ffffffffffffffff");
        assert_eq!(&format_trace_id(TRACE.0), b"4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn all_three_labels_when_they_fit() {
        assert_eq!(
            rendered(Some(TRACE), Some("run-7"), 0.25),
            " # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\",\
             correlation_id=\"run-7\"} 0.25 1700000000.042"
        );
    }

    #[test]
    fn a_correlation_id_that_does_not_fit_is_left_out_never_shortened() {
        // 63 characters for the ids, 14 for the name: 51 left for the value.
        let fits = "a".repeat(51);
        let too_long = "a".repeat(52);
        assert!(rendered(Some(TRACE), Some(&fits), 1.0).contains(&format!("correlation_id=\"{fits}\"")));
        let out = rendered(Some(TRACE), Some(&too_long), 1.0);
        assert!(!out.contains("correlation_id"), "{out}");
        assert!(out.contains("trace_id"), "{out}");
        // Alone: 114 characters fit, 115 do not (and then there is no exemplar).
        assert!(rendered(None, Some(&"b".repeat(114)), 1.0).starts_with(" # {correlation_id=\""));
        assert_eq!(rendered(None, Some(&"b".repeat(115)), 1.0), "");
    }

    #[test]
    fn nothing_to_show_is_no_context() {
        assert!(ExemplarContext::new(None, None, SystemTime::now()).is_none());
        assert!(ExemplarContext::new(None, Some(""), SystemTime::now()).is_none());
        assert!(ExemplarContext::new(None, Some(&"x".repeat(MAX_LEN + 1)), SystemTime::now()).is_none());
    }

    #[test]
    fn a_record_scope_lends_its_context_and_restores_the_ambient_one() {
        let mut record = Record::new(tracing::Level::INFO, "aureus");
        record.trace_id = Some(TRACE.0);
        record.otel_span_id = Some(TRACE.1);
        record.set_correlation_id(&crate::CorrelationId::new("wf-1").unwrap());
        let inner = with_record(&record, current).expect("the record's context");
        assert_eq!(inner.trace, Some(TRACE));
        assert_eq!(inner.correlation_id(), Some("wf-1"));
        // A record without ids: no exemplar, and no ambient lookup either.
        let bare = Record::new(tracing::Level::INFO, "aureus");
        assert!(with_record(&bare, current).is_none());
        assert!(matches!(SCOPE.with(|s| *s.borrow()), Scope::Ambient));
    }

    #[test]
    fn slots_keep_the_latest_per_bucket() {
        let slots = ExemplarSlots::default();
        assert!(slots.get(0).is_none());
        let context = ExemplarContext::new(Some(TRACE), None, at(1, 0)).unwrap();
        slots.offer(3, 1, 0.5, &context);
        slots.offer(3, 1, 0.7, &context);
        slots.offer(3, 9, 0.7, &context);
        assert_eq!(slots.get(1).map(|e| e.value), Some(0.7));
        assert!(slots.get(0).is_none() && slots.get(2).is_none());
    }
}
