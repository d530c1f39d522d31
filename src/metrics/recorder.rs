//! [`ExpositionRecorder`]: a `metrics` recorder that keeps counters, gauges
//! and bucketed histograms and renders them as a Prometheus text exposition
//! (format 0.0.4, see [`text`](super::text)).

use std::any::Any;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, SharedString, Unit};
use metrics_util::registry::{Registry, Storage};

use super::exemplar;
use super::format::ExpositionFormat;
use super::histogram::{check_bounds, BucketHistogram, DEFAULT_BUCKETS};
use super::text;
use crate::error::{Error, Result};

/// A [`metrics::Recorder`] rendering the Prometheus text exposition format
/// 0.0.4 itself, every label value, `# HELP` text and number as the
/// specification writes them.
///
/// * Counters, gauges and histograms (with fixed buckets: per metric from
///   [`ExpositionBuilder::buckets`], else [`DEFAULT_BUCKETS`]); an
///   observation lands in its bucket as it is recorded.
/// * Global labels come first on every series, then the series' own labels
///   in the order they were first registered.
/// * One family per name: `# HELP` (when described) and `# TYPE` once,
///   before its samples; families sorted by name, series by labels.
/// * A series registered again with the same labels in another order is the
///   same series (one handle, one line).
/// * A series the format cannot express is refused — its handle does
///   nothing — and counted by reason (see [`refused_series`](Self::refused_series)):
///   `invalid_name` (metric name not `[a-zA-Z_:][a-zA-Z0-9_:]*` or starting
///   with `__`), `invalid_label` (label name not `[a-zA-Z_][a-zA-Z0-9_]*`,
///   starting with `__`, `le`, `quantile`, given twice, or also a global
///   label), `type_conflict` (a name already used by a metric of another type,
///   or by a histogram's `_bucket`/`_sum`/`_count`/`_created` lines, or —
///   for recorders rendered into one document, see the crate's facade —
///   by another recorder, which a name described to it or given histogram
///   bounds belongs to from the start).
///
/// ```
/// use aureus_observability::metrics::ExpositionRecorder;
/// use metrics::Recorder as _;
///
/// let recorder = ExpositionRecorder::builder().global_label("instance", "k-1")?.build();
/// static META: metrics::Metadata<'static> = metrics::Metadata::new("demo", metrics::Level::INFO, None);
/// let key = metrics::Key::from_parts("demo_calls_total", vec![metrics::Label::new("path", r"C:\tmp")]);
/// recorder.register_counter(&key, &META).increment(2);
/// assert_eq!(
///     recorder.render(),
///     "# TYPE demo_calls_total counter\ndemo_calls_total{instance=\"k-1\",path=\"C:\\\\tmp\"} 2\n"
/// );
/// # Ok::<(), aureus_observability::Error>(())
/// ```
#[derive(Debug)]
pub struct ExpositionRecorder {
    registry: Registry<Key, SeriesStorage>,
    help: RwLock<HashMap<String, String>>,
}

impl Default for ExpositionRecorder {
    fn default() -> Self {
        Self::new()
    }
}

/// Global labels and bucket bounds of an [`ExpositionRecorder`], set before
/// it records anything.
#[derive(Debug, Default)]
pub struct ExpositionBuilder {
    storage: SeriesStorage,
}

impl ExpositionBuilder {
    /// Adds a label to every series. `name` must be a label name
    /// (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`), not `le` or `quantile`, given once, and
    /// `value` non-empty (Prometheus reads an empty label as no label).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming `metrics.global_labels.<name>`.
    pub fn global_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Result<Self> {
        let (name, value) = (name.into(), value.into());
        check_global_label(&name, &value)?;
        if self.storage.global.iter().any(|(n, _)| *n == name) {
            return Err(Error::config(
                format!("metrics.global_labels.{name}"),
                value,
                "given twice",
            ));
        }
        self.storage.global.push((name, value));
        Ok(self)
    }

    /// Sets the bucket upper bounds of the histogram named `metric`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming `buckets.<metric>` unless the bounds
    /// are one or more finite, strictly increasing numbers.
    pub fn buckets(mut self, metric: &str, bounds: &[f64]) -> Result<Self> {
        check_bounds(&format!("buckets.{metric}"), bounds)?;
        self.storage.buckets.insert(metric.to_owned(), Arc::from(bounds));
        Ok(self)
    }

    /// Renders the gauge family `metric` as a counter (`# TYPE … counter`,
    /// fractional values kept): for monotonic totals that are not whole
    /// numbers, such as a cost in dollars. Register its series as gauges and
    /// only ever `increment` them.
    pub fn float_counter(mut self, metric: &str) -> Self {
        self.storage.float_counters.insert(metric.to_owned());
        self
    }

    /// Sets the bucket upper bounds of every histogram without bounds of its
    /// own (default [`DEFAULT_BUCKETS`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming `buckets` unless the bounds are one or
    /// more finite, strictly increasing numbers.
    pub fn default_buckets(mut self, bounds: &[f64]) -> Result<Self> {
        check_bounds("buckets", bounds)?;
        self.storage.default_buckets = Some(Arc::from(bounds));
        Ok(self)
    }

    /// Shares the names of `other`'s exposition: for a recorder whose
    /// exposition is served in the same document as `other`'s (the
    /// service's facade histograms next to ours). A name then belongs to
    /// one family of one recorder — a family split over two renderings, or
    /// two families whose sample names clash, would make the document
    /// invalid — and refusals are counted in the shared
    /// [`refused_series`](ExpositionRecorder::refused_series).
    pub(crate) fn sharing_names_with(mut self, other: &ExpositionRecorder) -> Self {
        self.storage.namespace = Arc::clone(&other.registry.storage().namespace);
        self
    }

    /// The recorder. The histograms given bounds with
    /// [`buckets`](Self::buckets) claim their names at once (their series
    /// come later), so that no other family can take them first.
    pub fn build(mut self) -> ExpositionRecorder {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        self.storage.id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let histograms: Vec<String> = self.storage.buckets.keys().cloned().collect();
        for name in histograms {
            let mut names = self
                .storage
                .namespace
                .names
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let _ = self.storage.claim(&mut names, &name, Kind::Histogram);
        }
        ExpositionRecorder {
            registry: Registry::new(self.storage),
            help: RwLock::new(HashMap::new()),
        }
    }
}

impl ExpositionRecorder {
    /// A recorder without global labels, histograms on [`DEFAULT_BUCKETS`].
    pub fn new() -> Self {
        ExpositionBuilder::default().build()
    }

    /// Global labels and bucket bounds first.
    pub fn builder() -> ExpositionBuilder {
        ExpositionBuilder::default()
    }

    /// Series refused so far, by reason (`invalid_name`, `invalid_label`,
    /// `type_conflict`), each distinct key counted once.
    pub fn refused_series(&self) -> [(&'static str, u64); 3] {
        let refused = &self.registry.storage().namespace.refused;
        Refusal::ALL.map(|reason| (reason.as_str(), refused[reason as usize].load(Ordering::Relaxed)))
    }

    /// The text exposition of every series (format 0.0.4, to be served as
    /// `text/plain; version=0.0.4`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(ExpositionFormat::Text, &mut out);
        out
    }

    /// The OpenMetrics 1.0.0 exposition of every series, ending with
    /// `# EOF` (to be served as `application/openmetrics-text;
    /// version=1.0.0; charset=utf-8`).
    ///
    /// Differences from [`render`](Self::render), as the specification has them:
    ///
    /// * a counter named `<name>_total` is the family `<name>` of type
    ///   `counter` (its sample keeps the name `<name>_total`); a counter
    ///   without the `_total` suffix — or whose family name `<name>` or
    ///   `<name>_created` another family of this recorder uses — is written
    ///   as type `unknown` under its own name, so that no sample changes its
    ///   name between the two formats;
    /// * `# UNIT` for families named `…_seconds` or `…_bytes`; `# HELP` text
    ///   escapes double quotes too;
    /// * histogram `le` values are canonical numbers (`1.0`, `0.005`,
    ///   `1e+06`, `+Inf`); each bucket carries its exemplar, if it has one
    ///   (see [Exemplars](crate::metrics#exemplars)); `_sum` and `_count` are left
    ///   out where the sum is not a counter (a negative bucket bound, or a
    ///   negative or NaN sum).
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        self.render_into(ExpositionFormat::OpenMetrics, &mut out);
        out.push_str("# EOF\n");
        out
    }

    /// Appends the exposition of every series in `format` to `out` (without
    /// OpenMetrics' closing `# EOF`).
    pub(crate) fn render_into(&self, format: ExpositionFormat, out: &mut String) {
        let mut entries: Vec<Entry> = Vec::new();
        self.registry
            .visit_counters(|_, slot| entries.extend(slot.primary().map(Entry::Counter)));
        let float_counters = &self.registry.storage().float_counters;
        self.registry.visit_gauges(|_, slot| {
            entries.extend(slot.primary().map(|series| {
                if float_counters.contains(&*series.family) {
                    Entry::FloatCounter(series)
                } else {
                    Entry::Gauge(series)
                }
            }))
        });
        self.registry
            .visit_histograms(|_, slot| entries.extend(slot.primary().map(Entry::Histogram)));
        entries.sort_unstable_by(|a, b| (a.family(), a.labels()).cmp(&(b.family(), b.labels())));

        let help = self.help.read().unwrap_or_else(PoisonError::into_inner);
        let filter = self.registry.storage().namespace.correlation_filter.get();
        let show = |id: &str| filter.is_none_or(|keep| keep(id));
        out.reserve(entries.len() * 64);
        let mut family: Option<&str> = None;
        for entry in &entries {
            if family != Some(entry.family()) {
                family = Some(entry.family());
                let header = match format {
                    ExpositionFormat::Text => Header::text(entry),
                    ExpositionFormat::OpenMetrics => {
                        let names = self
                            .registry
                            .storage()
                            .namespace
                            .names
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner);
                        Header::openmetrics(entry, |name| names.contains_key(name))
                    }
                };
                header.write(out, format, help.get(entry.family()));
            }
            entry.write_samples(out, format, &show);
        }
    }

    /// Leaves out of the exemplars of this recorder's document (and of those
    /// sharing its names) every correlation id `show` refuses: those the
    /// redaction configuration would hide. Set once; later calls change nothing.
    pub(crate) fn filter_exemplar_correlation_ids(&self, show: exemplar::CorrelationFilter) {
        let _ = self.registry.storage().namespace.correlation_filter.set(show);
    }

    /// `key`'s counter, `None` when its name belongs to another family or
    /// recorder (`type_conflict`): for a mirror that must not record it
    /// elsewhere either. Refused for any other reason, a handle doing nothing.
    pub(crate) fn counter_unless_conflict(&self, key: &Key) -> Option<Counter> {
        self.registry
            .get_or_create_counter(key, |slot| (!slot.conflict).then(|| slot.series.clone()))
            .map(|series| series.map_or_else(Counter::noop, Counter::from_arc))
    }

    /// Like [`counter_unless_conflict`](Self::counter_unless_conflict), for a gauge.
    pub(crate) fn gauge_unless_conflict(&self, key: &Key) -> Option<Gauge> {
        self.registry
            .get_or_create_gauge(key, |slot| (!slot.conflict).then(|| slot.series.clone()))
            .map(|series| series.map_or_else(Gauge::noop, Gauge::from_arc))
    }

    /// Like [`counter_unless_conflict`](Self::counter_unless_conflict), for a histogram.
    pub(crate) fn histogram_unless_conflict(&self, key: &Key) -> Option<Histogram> {
        self.registry
            .get_or_create_histogram(key, |slot| (!slot.conflict).then(|| slot.series.clone()))
            .map(|series| series.map_or_else(Histogram::noop, Histogram::from_arc))
    }

    fn describe(&self, name: KeyName, description: SharedString) {
        // A described name is this recorder's (whatever the type its series
        // will have): the crate describes its own metrics when the stack
        // starts, before any series, so no recorder sharing the names can
        // take one first.
        if text::is_metric_name(name.as_str()) {
            let storage = self.registry.storage();
            let mut names = storage.namespace.names.lock().unwrap_or_else(PoisonError::into_inner);
            names
                .entry(name.as_str().to_owned())
                .or_insert(Owner::Reserved { recorder: storage.id });
        }
        let mut help = self.help.write().unwrap_or_else(PoisonError::into_inner);
        help.entry(name.as_str().to_owned())
            .or_insert_with(|| description.into_owned());
    }
}

/// Checks one global label: a valid, unreserved name and a non-empty value.
///
/// # Errors
///
/// [`Error::InvalidConfig`] naming `metrics.global_labels.<name>`.
pub(crate) fn check_global_label(name: &str, value: &str) -> Result<()> {
    let key = format!("metrics.global_labels.{name}");
    if !text::is_label_name(name) {
        return Err(Error::config(
            key,
            value,
            "not a Prometheus label name: use [a-zA-Z_][a-zA-Z0-9_]*, not starting with __",
        ));
    }
    if text::RESERVED_LABEL_NAMES.contains(&name) {
        return Err(Error::config(
            key,
            value,
            "reserved by the exposition format (le: histogram buckets, quantile: summaries)",
        ));
    }
    if value.is_empty() {
        return Err(Error::config(
            key,
            value,
            "empty: Prometheus reads an empty label as no label; remove the entry instead",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The recorder interface
// ---------------------------------------------------------------------------

impl metrics::Recorder for ExpositionRecorder {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        match self.registry.get_or_create_counter(key, |slot| slot.series.clone()) {
            Some(series) => Counter::from_arc(series),
            None => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        match self.registry.get_or_create_gauge(key, |slot| slot.series.clone()) {
            Some(series) => Gauge::from_arc(series),
            None => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        match self.registry.get_or_create_histogram(key, |slot| slot.series.clone()) {
            Some(series) => Histogram::from_arc(series),
            None => Histogram::noop(),
        }
    }
}

// ---------------------------------------------------------------------------
// Series and their storage
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Refusal {
    InvalidName,
    InvalidLabel,
    TypeConflict,
}

impl Refusal {
    const ALL: [Refusal; 3] = [Refusal::InvalidName, Refusal::InvalidLabel, Refusal::TypeConflict];

    fn as_str(self) -> &'static str {
        match self {
            Refusal::InvalidName => "invalid_name",
            Refusal::InvalidLabel => "invalid_label",
            Refusal::TypeConflict => "type_conflict",
        }
    }
}

/// One series: its family name, its labels rendered once (`a="x",b="y"`,
/// escaped, global labels first) and its value.
#[derive(Debug)]
struct Series<T> {
    family: Arc<str>,
    labels: Box<str>,
    value: T,
}

impl CounterFn for Series<AtomicU64> {
    fn increment(&self, value: u64) {
        self.value.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.value.fetch_max(value, Ordering::Relaxed);
    }
}

impl GaugeFn for Series<AtomicU64> {
    fn increment(&self, value: f64) {
        GaugeFn::increment(&self.value, value);
    }

    fn decrement(&self, value: f64) {
        GaugeFn::decrement(&self.value, value);
    }

    fn set(&self, value: f64) {
        GaugeFn::set(&self.value, value);
    }
}

impl HistogramFn for Series<BucketHistogram> {
    fn record(&self, value: f64) {
        self.value.observe(value);
    }
}

/// What the registry keeps per key: the series (none when refused), and
/// whether this key is the one that renders it (a key whose labels only
/// differ in order from an earlier one shares its series and renders nothing).
#[derive(Debug)]
struct Slot<T> {
    series: Option<Arc<Series<T>>>,
    primary: bool,
    /// Refused because another family (or recorder) has the name.
    conflict: bool,
}

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Slot {
            series: self.series.clone(),
            primary: self.primary,
            conflict: self.conflict,
        }
    }
}

impl<T> Slot<T> {
    fn primary(&self) -> Option<Arc<Series<T>>> {
        self.series.as_ref().filter(|_| self.primary).map(Arc::clone)
    }
}

// The registry wants handle types; the recorder hands out the series itself.
impl CounterFn for Slot<AtomicU64> {
    fn increment(&self, value: u64) {
        if let Some(series) = &self.series {
            CounterFn::increment(&**series, value);
        }
    }

    fn absolute(&self, value: u64) {
        if let Some(series) = &self.series {
            CounterFn::absolute(&**series, value);
        }
    }
}

impl GaugeFn for Slot<AtomicU64> {
    fn increment(&self, value: f64) {
        if let Some(series) = &self.series {
            GaugeFn::increment(&**series, value);
        }
    }

    fn decrement(&self, value: f64) {
        if let Some(series) = &self.series {
            GaugeFn::decrement(&**series, value);
        }
    }

    fn set(&self, value: f64) {
        if let Some(series) = &self.series {
            GaugeFn::set(&**series, value);
        }
    }
}

impl HistogramFn for Slot<BucketHistogram> {
    fn record(&self, value: f64) {
        if let Some(series) = &self.series {
            series.value.observe(value);
        }
    }
}

/// Who owns a name in the exposition.
#[derive(Debug)]
enum Owner {
    /// A family of this type rendered by the recorder `recorder` (its
    /// [`SeriesStorage::id`]), with its series by canonical (sorted) labels.
    Family {
        kind: Kind,
        recorder: u64,
        name: Arc<str>,
        series: HashMap<Vec<(String, String)>, Arc<dyn Any + Send + Sync>>,
    },
    /// The `_bucket`, `_sum` or `_count` lines of a histogram.
    HistogramPart,
    /// A name described to the recorder `recorder` (its
    /// [`SeriesStorage::id`]) before any series: its family once registered.
    Reserved { recorder: u64 },
}

/// Creates series for the registry: validates each new key once, renders
/// its labels once, and keeps one series per family and label set.
#[derive(Debug, Default)]
struct SeriesStorage {
    global: Vec<(String, String)>,
    buckets: HashMap<String, Arc<[f64]>>,
    default_buckets: Option<Arc<[f64]>>,
    /// Gauge families rendered as counters (monotonic totals with fractional
    /// values, such as a cost in dollars).
    float_counters: std::collections::HashSet<String>,
    /// Which recorder this is (a family belongs to one), set by `build`.
    id: u64,
    namespace: Arc<Namespace>,
}

/// The names of one exposition document and the series refused from it:
/// one recorder's own, or shared by the recorders rendered together
/// ([`ExpositionBuilder::sharing_names_with`]).
#[derive(Default)]
struct Namespace {
    names: Mutex<HashMap<String, Owner>>,
    refused: [AtomicU64; 3],
    /// Which correlation ids exemplars may show (all when unset).
    correlation_filter: std::sync::OnceLock<exemplar::CorrelationFilter>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("names", &self.names)
            .field("refused", &self.refused)
            .field("filtered", &self.correlation_filter.get().is_some())
            .finish()
    }
}

/// The sample names a histogram `h` writes or may write: `h_bucket`,
/// `h_sum`, `h_count`, and OpenMetrics' `h_created` (a name another family
/// may not take, or the OpenMetrics exposition would be ambiguous).
const HISTOGRAM_PARTS: [&str; 4] = ["_bucket", "_sum", "_count", "_created"];

impl SeriesStorage {
    /// The slot of a new key: its series (shared with an earlier key of the
    /// same labels in another order), or none when refused.
    fn admit<T: Send + Sync + 'static>(&self, key: &Key, kind: Kind, make: impl FnOnce(&str) -> T) -> Slot<T> {
        match self.try_admit(key, kind, make) {
            Ok(slot) => slot,
            Err(reason) => {
                self.namespace.refused[reason as usize].fetch_add(1, Ordering::Relaxed);
                Slot {
                    series: None,
                    primary: false,
                    conflict: matches!(reason, Refusal::TypeConflict),
                }
            }
        }
    }

    fn try_admit<T: Send + Sync + 'static>(
        &self,
        key: &Key,
        kind: Kind,
        make: impl FnOnce(&str) -> T,
    ) -> Result<Slot<T>, Refusal> {
        let name = key.name();
        if !text::is_metric_name(name) {
            return Err(Refusal::InvalidName);
        }
        let mut canonical: Vec<(String, String)> = key
            .labels()
            .map(|label| (label.key().to_owned(), label.value().to_owned()))
            .collect();
        canonical.sort_unstable();
        let label_ok = |(i, (label, _)): (usize, &(String, String))| {
            text::is_label_name(label)
                && !text::RESERVED_LABEL_NAMES.contains(&label.as_str())
                && (i == 0 || canonical[i - 1].0 != *label)
                && !self.global.iter().any(|(global, _)| global == label)
        };
        if !canonical.iter().enumerate().all(label_ok) {
            return Err(Refusal::InvalidLabel);
        }

        let mut names = self.namespace.names.lock().unwrap_or_else(PoisonError::into_inner);
        self.claim(&mut names, name, kind)?;
        let Some(Owner::Family {
            name: family, series, ..
        }) = names.get_mut(name)
        else {
            return Err(Refusal::TypeConflict);
        };
        if let Some(existing) = series.get(&canonical) {
            let existing = Arc::clone(existing).downcast::<Series<T>>();
            return existing
                .map(|series| Slot {
                    series: Some(series),
                    primary: false,
                    conflict: false,
                })
                .map_err(|_| Refusal::TypeConflict);
        }
        let mut labels = String::new();
        let key_labels = key.labels().map(|label| (label.key(), label.value()));
        let global = self.global.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        for (i, (label, value)) in global.chain(key_labels).enumerate() {
            if i > 0 {
                labels.push(',');
            }
            text::push_label(&mut labels, label, value);
        }
        let created = Arc::new(Series {
            family: Arc::clone(family),
            labels: labels.into_boxed_str(),
            value: make(name),
        });
        series.insert(canonical, Arc::clone(&created) as Arc<dyn Any + Send + Sync>);
        Ok(Slot {
            series: Some(created),
            primary: true,
            conflict: false,
        })
    }

    /// Makes `name` a family of `kind` of this recorder (with its
    /// histogram parts), unless it is one already; refused when another
    /// family or recorder has it.
    fn claim(&self, names: &mut HashMap<String, Owner>, name: &str, kind: Kind) -> Result<(), Refusal> {
        match names.get(name) {
            Some(Owner::Family {
                kind: owner, recorder, ..
            }) if *owner == kind && *recorder == self.id => Ok(()),
            Some(Owner::Reserved { recorder }) if *recorder == self.id => {
                let reserved = names.remove(name);
                let claimed = self.claim(names, name, kind);
                if let (Err(_), Some(reserved)) = (&claimed, reserved) {
                    names.insert(name.to_owned(), reserved);
                }
                claimed
            }
            Some(_) => Err(Refusal::TypeConflict),
            None => {
                let parts = HISTOGRAM_PARTS.map(|part| format!("{name}{part}"));
                if kind == Kind::Histogram {
                    if parts.iter().any(|part| names.contains_key(part)) {
                        return Err(Refusal::TypeConflict);
                    }
                    for part in parts {
                        names.insert(part, Owner::HistogramPart);
                    }
                }
                names.insert(
                    name.to_owned(),
                    Owner::Family {
                        kind,
                        recorder: self.id,
                        name: Arc::from(name),
                        series: HashMap::new(),
                    },
                );
                Ok(())
            }
        }
    }

    fn bounds(&self, metric: &str) -> Arc<[f64]> {
        self.buckets
            .get(metric)
            .or(self.default_buckets.as_ref())
            .cloned()
            .unwrap_or_else(|| Arc::from(DEFAULT_BUCKETS.as_slice()))
    }
}

impl Storage<Key> for SeriesStorage {
    type Counter = Slot<AtomicU64>;
    type Gauge = Slot<AtomicU64>;
    type Histogram = Slot<BucketHistogram>;

    fn counter(&self, key: &Key) -> Self::Counter {
        self.admit(key, Kind::Counter, |_| AtomicU64::new(0))
    }

    fn gauge(&self, key: &Key) -> Self::Gauge {
        self.admit(key, Kind::Gauge, |_| AtomicU64::new(0.0f64.to_bits()))
    }

    fn histogram(&self, key: &Key) -> Self::Histogram {
        self.admit(key, Kind::Histogram, |name| BucketHistogram::new(self.bounds(name)))
    }
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

/// One series to render.
enum Entry {
    Counter(Arc<Series<AtomicU64>>),
    Gauge(Arc<Series<AtomicU64>>),
    /// A gauge family rendered as a counter ([`ExpositionBuilder::float_counter`]).
    FloatCounter(Arc<Series<AtomicU64>>),
    Histogram(Arc<Series<BucketHistogram>>),
}

impl Entry {
    fn family(&self) -> &str {
        match self {
            Entry::Counter(s) | Entry::Gauge(s) | Entry::FloatCounter(s) => &s.family,
            Entry::Histogram(s) => &s.family,
        }
    }

    fn labels(&self) -> &str {
        match self {
            Entry::Counter(s) | Entry::Gauge(s) | Entry::FloatCounter(s) => &s.labels,
            Entry::Histogram(s) => &s.labels,
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Entry::Counter(_) | Entry::FloatCounter(_) => Kind::Counter,
            Entry::Gauge(_) => Kind::Gauge,
            Entry::Histogram(_) => Kind::Histogram,
        }
    }

    fn write_samples(&self, out: &mut String, format: ExpositionFormat, show: &dyn Fn(&str) -> bool) {
        let openmetrics = format == ExpositionFormat::OpenMetrics;
        match self {
            Entry::Counter(s) => {
                write_sample_head(out, &s.family, "", &s.labels, None);
                let _ = writeln!(out, "{}", s.value.load(Ordering::Relaxed));
            }
            Entry::Gauge(s) | Entry::FloatCounter(s) => {
                write_sample_head(out, &s.family, "", &s.labels, None);
                text::push_float(out, f64::from_bits(s.value.load(Ordering::Relaxed)));
                out.push('\n');
            }
            Entry::Histogram(s) => {
                let snapshot = s.value.snapshot();
                let bounds = s.value.bounds();
                let mut bound = String::new();
                for (i, (le, count)) in bounds.iter().zip(&snapshot.cumulative).enumerate() {
                    bound.clear();
                    if openmetrics {
                        text::push_canonical_float(&mut bound, *le);
                    } else {
                        text::push_float(&mut bound, *le);
                    }
                    write_sample_head(out, &s.family, "_bucket", &s.labels, Some(&bound));
                    let _ = write!(out, "{count}");
                    if openmetrics {
                        if let Some(exemplar) = s.value.exemplar(i) {
                            exemplar::push_exemplar(out, &exemplar, show);
                        }
                    }
                    out.push('\n');
                }
                write_sample_head(out, &s.family, "_bucket", &s.labels, Some("+Inf"));
                let _ = write!(out, "{}", snapshot.count);
                if openmetrics {
                    if let Some(exemplar) = s.value.exemplar(bounds.len()) {
                        exemplar::push_exemplar(out, &exemplar, show);
                    }
                }
                out.push('\n');
                // OpenMetrics: sum and buckets are counters; no sum (and so
                // no count) where that cannot hold.
                let sum_is_a_counter = snapshot.sum >= 0.0 && bounds.first().is_none_or(|b| *b >= 0.0);
                if !openmetrics || sum_is_a_counter {
                    write_sample_head(out, &s.family, "_sum", &s.labels, None);
                    text::push_float(out, snapshot.sum);
                    out.push('\n');
                    write_sample_head(out, &s.family, "_count", &s.labels, None);
                    let _ = writeln!(out, "{}", snapshot.count);
                }
            }
        }
    }
}

/// How a family is headed: its name in the `# TYPE` line, its type, its unit.
#[derive(Debug)]
struct Header {
    name: String,
    kind: &'static str,
    unit: Option<&'static str>,
}

/// Units OpenMetrics names as base units, written as `# UNIT` when a
/// family's name ends in `_<unit>`.
const BASE_UNITS: [&str; 2] = ["seconds", "bytes"];

impl Header {
    fn text(entry: &Entry) -> Self {
        Header {
            name: entry.family().to_owned(),
            kind: entry.kind().as_str(),
            unit: None,
        }
    }

    /// The OpenMetrics header of `entry`'s family; `in_use` tells whether a
    /// name belongs to a family (or histogram part) of this recorder.
    fn openmetrics(entry: &Entry, in_use: impl Fn(&str) -> bool) -> Self {
        let family = entry.family();
        let (name, kind) = match entry.kind() {
            Kind::Counter => match family.strip_suffix("_total") {
                Some(base) if !base.is_empty() && !counter_family_clashes(base, &in_use) => (base, "counter"),
                _ => (family, "unknown"),
            },
            kind => (family, kind.as_str()),
        };
        let unit = BASE_UNITS.into_iter().find(|unit| {
            name.strip_suffix(unit)
                .is_some_and(|rest| rest.ends_with('_') && rest.len() > 1)
        });
        Header {
            name: name.to_owned(),
            kind,
            unit,
        }
    }

    fn write(&self, out: &mut String, format: ExpositionFormat, help: Option<&String>) {
        match format {
            ExpositionFormat::Text => {
                if let Some(help) = help {
                    out.push_str("# HELP ");
                    out.push_str(&self.name);
                    out.push(' ');
                    text::push_help(out, help);
                    out.push('\n');
                }
                self.write_type(out);
            }
            ExpositionFormat::OpenMetrics => {
                self.write_type(out);
                if let Some(unit) = self.unit {
                    out.push_str("# UNIT ");
                    out.push_str(&self.name);
                    out.push(' ');
                    out.push_str(unit);
                    out.push('\n');
                }
                if let Some(help) = help.filter(|help| !help.is_empty()) {
                    out.push_str("# HELP ");
                    out.push_str(&self.name);
                    out.push(' ');
                    text::push_openmetrics_help(out, help);
                    out.push('\n');
                }
            }
        }
    }

    fn write_type(&self, out: &mut String) {
        out.push_str("# TYPE ");
        out.push_str(&self.name);
        out.push(' ');
        out.push_str(self.kind);
        out.push('\n');
    }
}

/// Whether the OpenMetrics counter family `base` (of the counter
/// `<base>_total`, whose samples are `<base>_total` and `<base>_created`)
/// would clash with another family's names: `base` or `<base>_created`
/// taken, another counter `<base>_created_total` (family `<base>_created`),
/// or — when `base` is `<other>_created` — a counter `<other>_total`, whose
/// `_created` sample `base` would be.
fn counter_family_clashes(base: &str, in_use: impl Fn(&str) -> bool) -> bool {
    in_use(base)
        || in_use(&format!("{base}_created"))
        || in_use(&format!("{base}_created_total"))
        || base
            .strip_suffix("_created")
            .is_some_and(|other| in_use(&format!("{other}_total")))
}

/// `name<suffix>{labels[,le="…"]} ` — up to the value.
fn write_sample_head(out: &mut String, family: &str, suffix: &str, labels: &str, le: Option<&str>) {
    out.push_str(family);
    out.push_str(suffix);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        out.push_str(labels);
        if let Some(le) = le {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str("le=\"");
            out.push_str(le);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;
    use metrics::{Label, Recorder as _};

    static META: Metadata<'static> = Metadata::new("test", metrics::Level::INFO, None);

    fn key(name: &str, labels: &[(&str, &str)]) -> Key {
        let labels = labels
            .iter()
            .map(|(k, v)| Label::new(k.to_string(), v.to_string()))
            .collect::<Vec<_>>();
        Key::from_parts(name.to_owned(), labels)
    }

    fn refused(recorder: &ExpositionRecorder) -> Vec<(&'static str, u64)> {
        recorder.refused_series().into_iter().filter(|(_, n)| *n > 0).collect()
    }

    #[test]
    fn series_the_format_cannot_express_are_refused_and_counted() {
        let recorder = ExpositionRecorder::builder()
            .global_label("instance", "a")
            .unwrap()
            .build();
        for name in ["9lives", "a-b", "__internal", "", "é"] {
            recorder.register_counter(&key(name, &[]), &META).increment(1);
        }
        for labels in [
            &[("le", "1")][..],
            &[("quantile", "0.5")],
            &[("__name__", "x")],
            &[("a-b", "x")],
            &[("a", "1"), ("a", "2")],
            &[("instance", "b")],
        ] {
            recorder.register_counter(&key("ok_total", labels), &META).increment(1);
        }
        // Registering a refused key again counts it once.
        recorder.register_counter(&key("a-b", &[]), &META).increment(1);
        assert_eq!(refused(&recorder), [("invalid_name", 5), ("invalid_label", 6)]);
        assert_eq!(recorder.render(), "", "nothing refused is rendered");
    }

    #[test]
    fn one_name_is_one_type_and_histogram_lines_keep_their_names() {
        let recorder = ExpositionRecorder::new();
        recorder.register_counter(&key("x", &[]), &META).increment(1);
        recorder.register_gauge(&key("x", &[("a", "1")]), &META).set(1.0);
        recorder.register_histogram(&key("h", &[]), &META).record(1.0);
        recorder.register_counter(&key("h_count", &[]), &META).increment(1);
        recorder.register_gauge(&key("h_bucket", &[]), &META).set(1.0);
        recorder.register_counter(&key("c_sum", &[]), &META).increment(1);
        recorder.register_histogram(&key("c", &[]), &META).record(1.0);
        assert_eq!(refused(&recorder), [("type_conflict", 4)]);
        let text = recorder.render();
        assert_eq!(text.matches("# TYPE").count(), 3, "{text}");
        assert!(text.contains("# TYPE x counter\nx 1\n"), "{text}");
        assert!(text.contains("# TYPE c_sum counter\nc_sum 1\n"), "{text}");
    }

    #[test]
    fn the_same_labels_in_another_order_are_the_same_series() {
        let recorder = ExpositionRecorder::new();
        let first = recorder.register_counter(&key("calls_total", &[("a", "1"), ("b", "2")]), &META);
        let second = recorder.register_counter(&key("calls_total", &[("b", "2"), ("a", "1")]), &META);
        first.increment(1);
        second.increment(2);
        let hist = [
            recorder.register_histogram(&key("h", &[("x", "1"), ("y", "2")]), &META),
            recorder.register_histogram(&key("h", &[("y", "2"), ("x", "1")]), &META),
        ];
        hist[0].record(0.1);
        hist[1].record(0.2);
        let text = recorder.render();
        assert_eq!(text.matches("calls_total{").count(), 1, "{text}");
        assert!(text.contains("calls_total{a=\"1\",b=\"2\"} 3\n"), "{text}");
        assert!(text.contains("h_count{x=\"1\",y=\"2\"} 2\n"), "{text}");
        assert_eq!(text.matches("h_count").count(), 1, "{text}");
        assert_eq!(refused(&recorder), []);
    }

    #[test]
    fn families_are_whole_sorted_and_headed_once() {
        let recorder = ExpositionRecorder::new();
        recorder.describe_counter("b_total".into(), None, "Bees.\nBackslash \\ and \"quotes\".".into());
        recorder.describe_counter("b_total".into(), None, "A second description is ignored.".into());
        recorder.describe_gauge("never_registered".into(), None, "No series, no lines.".into());
        for v in ["z", "a", "m"] {
            recorder
                .register_counter(&key("b_total", &[("v", v)]), &META)
                .increment(1);
            recorder.register_gauge(&key("a", &[("v", v)]), &META).set(2.5);
        }
        assert_eq!(
            recorder.render(),
            "# TYPE a gauge\n\
             a{v=\"a\"} 2.5\na{v=\"m\"} 2.5\na{v=\"z\"} 2.5\n\
             # HELP b_total Bees.\\nBackslash \\\\ and \"quotes\".\n\
             # TYPE b_total counter\n\
             b_total{v=\"a\"} 1\nb_total{v=\"m\"} 1\nb_total{v=\"z\"} 1\n"
        );
    }

    #[test]
    fn histograms_are_cumulative_with_inf_equal_to_count() {
        let recorder = ExpositionRecorder::builder()
            .buckets("d_seconds", &[0.1, 1.0])
            .unwrap()
            .global_label("g", "1")
            .unwrap()
            .build();
        let h = recorder.register_histogram(&key("d_seconds", &[("op", "x")]), &META);
        for v in [0.05, 0.1, 0.5, 3.0] {
            h.record(v);
        }
        recorder.register_histogram(&key("plain", &[]), &META).record(0.007);
        let text = recorder.render();
        assert!(
            text.contains(
                "# TYPE d_seconds histogram\n\
                 d_seconds_bucket{g=\"1\",op=\"x\",le=\"0.1\"} 2\n\
                 d_seconds_bucket{g=\"1\",op=\"x\",le=\"1\"} 3\n\
                 d_seconds_bucket{g=\"1\",op=\"x\",le=\"+Inf\"} 4\n\
                 d_seconds_sum{g=\"1\",op=\"x\"} 3.65\n\
                 d_seconds_count{g=\"1\",op=\"x\"} 4\n"
            ),
            "{text}"
        );
        // Default buckets; a series without labels of its own still has the global one.
        assert!(
            text.contains("plain_bucket{g=\"1\",le=\"0.005\"} 0\nplain_bucket{g=\"1\",le=\"0.01\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("plain_bucket{g=\"1\",le=\"+Inf\"} 1\n"), "{text}");
    }

    #[test]
    fn openmetrics_names_counter_families_without_total_and_keeps_sample_names() {
        let recorder = ExpositionRecorder::new();
        recorder.describe_counter("jobs_total".into(), None, "Jobs \"done\".\nSecond line.".into());
        recorder
            .register_counter(&key("jobs_total", &[("k", "a")]), &META)
            .increment(3);
        recorder.register_counter(&key("plain", &[]), &META).increment(1);
        recorder.register_gauge(&key("queue_total", &[]), &META).set(2.5);
        // `clash_total` would be family `clash`, which a gauge already is.
        recorder.register_counter(&key("clash_total", &[]), &META).increment(1);
        recorder.register_gauge(&key("clash", &[]), &META).set(1.0);
        // ... and `made_total` would claim `made_created`.
        recorder.register_counter(&key("made_total", &[]), &META).increment(1);
        recorder.register_gauge(&key("made_created", &[]), &META).set(1.0);
        recorder
            .register_counter(&key("sent_bytes_total", &[]), &META)
            .increment(7);
        // Two counters: family `f` would write `f_created`, the name of
        // family `f_created` (of `f_created_total`). Neither is a family then.
        recorder.register_counter(&key("f_total", &[]), &META).increment(1);
        recorder
            .register_counter(&key("f_created_total", &[]), &META)
            .increment(2);
        assert_eq!(
            recorder.render_openmetrics(),
            "# TYPE clash gauge\nclash 1\n\
             # TYPE clash_total unknown\nclash_total 1\n\
             # TYPE f_created_total unknown\nf_created_total 2\n\
             # TYPE f_total unknown\nf_total 1\n\
             # TYPE jobs counter\n# HELP jobs Jobs \\\"done\\\".\\nSecond line.\njobs_total{k=\"a\"} 3\n\
             # TYPE made_created gauge\nmade_created 1\n\
             # TYPE made_total unknown\nmade_total 1\n\
             # TYPE plain unknown\nplain 1\n\
             # TYPE queue_total gauge\nqueue_total 2.5\n\
             # TYPE sent_bytes counter\n# UNIT sent_bytes bytes\nsent_bytes_total 7\n\
             # EOF\n"
        );
    }

    #[test]
    fn openmetrics_histograms_have_canonical_bounds_exemplars_and_a_sum_only_when_it_counts() {
        let recorder = ExpositionRecorder::builder()
            .buckets("d_seconds", &[0.1, 1.0])
            .unwrap()
            .buckets("delta", &[-1.0, 1.0])
            .unwrap()
            .build();
        let h = recorder.register_histogram(&key("d_seconds", &[("op", "x")]), &META);
        h.record(0.05);
        let mut record = Record::new(tracing::Level::INFO, "aureus");
        record.trace_id = Some(0x4bf92f3577b34da6a3ce929d0e0e4736);
        record.otel_span_id = Some(0x00f067aa0ba902b7);
        record.set_correlation_id(&crate::CorrelationId::new("run-1").unwrap());
        record.timestamp = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_250);
        exemplar::with_record(&record, || {
            h.record(0.5);
            h.record(7.0);
        });
        recorder.register_histogram(&key("delta", &[]), &META).record(0.5);
        recorder.register_histogram(&key("neg", &[]), &META).record(-2.0);
        let ids = "trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\",correlation_id=\"run-1\"";
        assert_eq!(
            recorder.render_openmetrics(),
            format!(
                "# TYPE d_seconds histogram\n# UNIT d_seconds seconds\n\
                 d_seconds_bucket{{op=\"x\",le=\"0.1\"}} 1\n\
                 d_seconds_bucket{{op=\"x\",le=\"1.0\"}} 2 # {{{ids}}} 0.5 1700000000.250\n\
                 d_seconds_bucket{{op=\"x\",le=\"+Inf\"}} 3 # {{{ids}}} 7 1700000000.250\n\
                 d_seconds_sum{{op=\"x\"}} 7.55\nd_seconds_count{{op=\"x\"}} 3\n\
                 # TYPE delta histogram\n\
                 delta_bucket{{le=\"-1.0\"}} 0\ndelta_bucket{{le=\"1.0\"}} 1\ndelta_bucket{{le=\"+Inf\"}} 1\n\
                 # TYPE neg histogram\n\
                 neg_bucket{{le=\"0.005\"}} 1\nneg_bucket{{le=\"0.01\"}} 1\nneg_bucket{{le=\"0.025\"}} 1\n\
                 neg_bucket{{le=\"0.05\"}} 1\nneg_bucket{{le=\"0.1\"}} 1\nneg_bucket{{le=\"0.25\"}} 1\n\
                 neg_bucket{{le=\"0.5\"}} 1\nneg_bucket{{le=\"1.0\"}} 1\nneg_bucket{{le=\"2.5\"}} 1\n\
                 neg_bucket{{le=\"5.0\"}} 1\nneg_bucket{{le=\"10.0\"}} 1\nneg_bucket{{le=\"+Inf\"}} 1\n\
                 # EOF\n"
            )
        );
        // The text format 0.0.4 has no exemplars and keeps its own numbers.
        let text = recorder.render();
        assert!(!text.contains('#') || !text.contains("trace_id"), "{text}");
        assert!(text.contains("d_seconds_bucket{op=\"x\",le=\"1\"} 2\n"), "{text}");
        assert!(text.contains("neg_sum -2\n"), "{text}");
    }

    #[test]
    fn histograms_claim_their_created_name() {
        let recorder = ExpositionRecorder::new();
        recorder.register_histogram(&key("h", &[]), &META).record(1.0);
        recorder.register_gauge(&key("h_created", &[]), &META).set(1.0);
        assert_eq!(refused(&recorder), [("type_conflict", 1)]);
    }

    #[test]
    fn gauges_write_the_special_values_as_the_format_does() {
        let recorder = ExpositionRecorder::new();
        for (v, value) in [("pos", f64::INFINITY), ("neg", f64::NEG_INFINITY), ("nan", f64::NAN)] {
            recorder.register_gauge(&key("g", &[("v", v)]), &META).set(value);
        }
        assert_eq!(
            recorder.render(),
            "# TYPE g gauge\ng{v=\"nan\"} NaN\ng{v=\"neg\"} -Inf\ng{v=\"pos\"} +Inf\n"
        );
    }

    #[test]
    fn counters_take_absolute_values_without_going_back() {
        let recorder = ExpositionRecorder::new();
        let c = recorder.register_counter(&key("c_total", &[]), &META);
        c.absolute(10);
        c.absolute(7);
        c.increment(1);
        assert_eq!(recorder.render(), "# TYPE c_total counter\nc_total 11\n");
    }

    #[test]
    fn global_labels_are_checked() {
        for (name, value) in [
            ("le", "x"),
            ("quantile", "x"),
            ("__x", "x"),
            ("a-b", "x"),
            ("9", "x"),
            ("ok", ""),
        ] {
            let err = ExpositionRecorder::builder().global_label(name, value).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidConfig { key, .. } if *key == format!("metrics.global_labels.{name}")),
                "{err}"
            );
        }
        let twice = ExpositionRecorder::builder()
            .global_label("a", "1")
            .unwrap()
            .global_label("a", "2");
        assert!(twice.is_err());
        assert!(ExpositionRecorder::builder().buckets("h", &[2.0, 1.0]).is_err());
    }
}
