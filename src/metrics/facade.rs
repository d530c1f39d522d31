//! The `metrics` facade: the service's own `metrics::counter!` / `gauge!` /
//! `histogram!` reach `/metrics` and the OTLP metrics next to ours.
//!
//! [`FacadeRecorder`] is what the facade's global recorder forwards to. It
//! keeps every series behind the cardinality guard (at most
//! `metrics.cardinality_limit` label sets per metric name, later ones folded
//! into one series whose label values read `other`; at most
//! [`MAX_FACADE_METRICS`] metric names, later ones dropped), every fold and drop counted in
//! `<prefix>_telemetry_cardinality_overflow_total{metric}` (`metric="other"`
//! for dropped names). Counters and gauges go to the same recorder as ours
//! (global labels, OTLP mirroring); histograms get real buckets chosen by
//! name pattern ([`FacadeSettings`]), each bucket layout in its own
//! Prometheus recorder so that no pattern can change the buckets of another
//! metric.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use super::ExpositionRecorder;
use arc_swap::ArcSwapOption;
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Label, Metadata, Recorder, SharedString,
    Unit,
};
use metrics_util::registry::{Registry, Storage};

use super::contract::OVERFLOW_LABEL_VALUE;
use crate::error::{Error, Result};

/// Most distinct metric names the facade admits (a name built from data —
/// `format!("jobs_{id}_total")` — would otherwise grow without bound).
pub const MAX_FACADE_METRICS: usize = 10_000;

/// Prometheus client libraries' default histogram buckets (seconds).
pub const DEFAULT_HISTOGRAM_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Whether our recorder becomes the `metrics` facade's global recorder
/// (`metrics.global_recorder`, env `AUREUS_METRICS_GLOBAL_RECORDER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlobalRecorder {
    /// Install it (the default); if another global recorder is already
    /// installed, building the stack fails with [`Error::GlobalRecorderTaken`].
    #[default]
    Install,
    /// Install it if no other global recorder is installed; otherwise print
    /// a warning and run with our own metrics only.
    IfFree,
    /// Leave the facade alone: only our own metrics are recorded.
    Off,
}

/// Which histograms a bucket layout applies to: a metric name, or a name
/// with one `*` standing for any text (`kernel_*`, `*_seconds`,
/// `kernel_*_seconds`).
#[derive(Debug, Clone, PartialEq)]
enum Pattern {
    Exact(String),
    Glob { prefix: String, suffix: String },
}

impl Pattern {
    fn parse(raw: &str) -> Option<Self> {
        let valid = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || "_:.".contains(c));
        let pattern = match raw.split_once('*') {
            None => Pattern::Exact(raw.to_owned()),
            Some((prefix, suffix)) => Pattern::Glob {
                prefix: prefix.to_owned(),
                suffix: suffix.to_owned(),
            },
        };
        let ok = match &pattern {
            Pattern::Exact(name) => !name.is_empty() && valid(name),
            Pattern::Glob { prefix, suffix } => {
                !(prefix.is_empty() && suffix.is_empty()) && valid(prefix) && valid(suffix)
            }
        };
        ok.then_some(pattern)
    }

    /// How well `name` matches, `None` when it does not: an exact name
    /// beats any `*` pattern; among those, more literal text wins, then the
    /// longer prefix.
    fn score(&self, name: &str) -> Option<(u8, usize, usize)> {
        match self {
            Pattern::Exact(s) => (name == s).then_some((2, s.len(), 0)),
            Pattern::Glob { prefix, suffix } => (name.len() >= prefix.len() + suffix.len()
                && name.starts_with(prefix.as_str())
                && name.ends_with(suffix.as_str()))
            .then_some((1, prefix.len() + suffix.len(), prefix.len())),
        }
    }
}

/// Checked facade settings.
#[derive(Debug, Clone)]
pub(crate) struct FacadeSettings {
    pub(crate) policy: GlobalRecorder,
    patterns: Vec<(Pattern, Vec<f64>)>,
    default_buckets: Vec<f64>,
}

fn check_bounds(key: String, bounds: &[f64]) -> Result<Vec<f64>> {
    let increasing = bounds.windows(2).all(|w| w[0] < w[1]);
    if bounds.is_empty() || !increasing || bounds.iter().any(|b| !b.is_finite()) {
        return Err(Error::config(
            key,
            format!("{bounds:?}"),
            "need one or more finite, strictly increasing bucket bounds",
        ));
    }
    Ok(bounds.to_vec())
}

impl FacadeSettings {
    /// Checks `metrics.histogram_buckets` (pattern → bounds; a pattern is a
    /// metric name with at most one `*`) and `metrics.default_histogram_buckets`.
    pub(crate) fn validate(
        policy: GlobalRecorder,
        histogram_buckets: &BTreeMap<String, Vec<f64>>,
        default_buckets: &[f64],
    ) -> Result<Self> {
        let mut patterns = Vec::with_capacity(histogram_buckets.len());
        for (raw, bounds) in histogram_buckets {
            let key = format!("metrics.histogram_buckets.{raw}");
            let pattern = Pattern::parse(raw).ok_or_else(|| {
                Error::config(
                    &key,
                    raw,
                    "a pattern is a metric name of [A-Za-z0-9_:.], with at most one `*` (e.g. `*_seconds`)",
                )
            })?;
            patterns.push((pattern, check_bounds(key, bounds)?));
        }
        Ok(FacadeSettings {
            policy,
            patterns,
            default_buckets: check_bounds("metrics.default_histogram_buckets".to_owned(), default_buckets)?,
        })
    }

    /// The bucket bounds of histogram `name`: the exact name's, else those
    /// of the matching `*` pattern with the most literal text (then the
    /// longer prefix), else the default.
    fn bounds_for(&self, name: &str) -> &[f64] {
        self.patterns
            .iter()
            .filter_map(|(pattern, bounds)| pattern.score(name).map(|score| (score, bounds)))
            .max_by_key(|(score, _)| *score)
            .map_or(&self.default_buckets, |(_, bounds)| bounds)
    }

    /// Every distinct bucket layout.
    fn layouts(&self) -> Vec<Vec<f64>> {
        let mut layouts: Vec<Vec<f64>> = vec![self.default_buckets.clone()];
        for (_, bounds) in &self.patterns {
            if !layouts.contains(bounds) {
                layouts.push(bounds.clone());
            }
        }
        layouts
    }
}

static METADATA: Metadata<'static> = Metadata::new("aureus::telemetry", metrics::Level::INFO, Some(module_path!()));

/// One bucket layout's Prometheus recorder.
struct Layout {
    bounds: Vec<f64>,
    recorder: Arc<ExpositionRecorder>,
}

/// Where registrations go and what the guard has admitted so far.
struct Guard {
    settings: FacadeSettings,
    /// Label sets per metric name.
    limit: usize,
    /// Metric names.
    name_limit: usize,
    /// Our recorder (Prometheus, mirrored to OTLP when that is on): counters, gauges.
    main: Arc<dyn Recorder + Send + Sync>,
    layouts: Vec<Layout>,
    /// Mirrors each layout to OTLP when metrics are exported.
    meter: Option<opentelemetry::metrics::Meter>,
    /// Where the mirrored histograms keep their OTLP exemplars.
    exemplars: Option<Arc<crate::otlp::Exemplars>>,
    global_labels: BTreeMap<String, String>,
    /// The recorder of each histogram name (its layout, mirrored).
    histograms: Mutex<HashMap<String, Arc<dyn Recorder + Send + Sync>>>,
    /// Label sets admitted per metric name.
    series: Mutex<HashMap<String, usize>>,
    overflow_name: String,
    overflow: Mutex<HashMap<String, Counter>>,
}

/// What a registration resolves to: the series itself, its `other` fold, or nothing.
enum Admission {
    Series,
    Folded(Key, Counter),
    Dropped(Counter),
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Guard {
    fn overflow_counter(&self, metric: &str) -> Counter {
        lock(&self.overflow)
            .entry(metric.to_owned())
            .or_insert_with(|| {
                let key = Key::from_parts(
                    self.overflow_name.clone(),
                    vec![Label::new(super::contract::label::METRIC, metric.to_owned())],
                );
                self.main.register_counter(&key, &METADATA)
            })
            .clone()
    }

    /// Admits `key` if its metric has room (or is new and names have room).
    fn admit(&self, key: &Key) -> Admission {
        let name = key.name();
        let mut series = lock(&self.series);
        let names = series.len();
        match series.get_mut(name) {
            Some(count) if *count < self.limit => *count += 1,
            Some(_) => {
                drop(series);
                let labels = key
                    .labels()
                    .map(|l| Label::new(l.key().to_owned(), OVERFLOW_LABEL_VALUE))
                    .collect::<Vec<_>>();
                return Admission::Folded(Key::from_parts(name.to_owned(), labels), self.overflow_counter(name));
            }
            None if names < self.name_limit => {
                series.insert(name.to_owned(), 1);
            }
            None => {
                drop(series);
                return Admission::Dropped(self.overflow_counter(OVERFLOW_LABEL_VALUE));
            }
        }
        Admission::Series
    }

    /// The recorder for histogram `name` (its bucket layout, mirrored to OTLP).
    fn histogram_recorder(&self, name: &str) -> Arc<dyn Recorder + Send + Sync> {
        lock(&self.histograms)
            .entry(name.to_owned())
            .or_insert_with(|| {
                let bounds = self.settings.bounds_for(name);
                let layout = self
                    .layouts
                    .iter()
                    .find(|l| l.bounds == bounds)
                    .unwrap_or(&self.layouts[0]);
                match &self.meter {
                    Some(meter) => Arc::new(
                        crate::otlp::MirrorRecorder::new(
                            Arc::clone(&layout.recorder),
                            meter.clone(),
                            &self.global_labels,
                            vec![(name.to_owned(), bounds.to_vec(), "")],
                        )
                        .with_exemplars(self.exemplars.clone()),
                    ),
                    None => Arc::clone(&layout.recorder) as Arc<dyn Recorder + Send + Sync>,
                }
            })
            .clone()
    }
}

/// A handle stored in the registry (the `metrics` handle types do not
/// implement the handle traits themselves).
#[derive(Clone)]
struct Stored<T>(T);

impl CounterFn for Stored<Counter> {
    fn increment(&self, value: u64) {
        self.0.increment(value);
    }

    fn absolute(&self, value: u64) {
        self.0.absolute(value);
    }
}

impl GaugeFn for Stored<Gauge> {
    fn increment(&self, value: f64) {
        self.0.increment(value);
    }

    fn decrement(&self, value: f64) {
        self.0.decrement(value);
    }

    fn set(&self, value: f64) {
        self.0.set(value);
    }
}

impl HistogramFn for Stored<Histogram> {
    fn record(&self, value: f64) {
        self.0.record(value);
    }
}

/// A handle of a folded or dropped series: records into `inner` and counts
/// every recorded value in the overflow counter.
struct Counted<T> {
    inner: T,
    overflow: Counter,
}

impl CounterFn for Counted<Counter> {
    fn increment(&self, value: u64) {
        self.inner.increment(value);
        self.overflow.increment(1);
    }

    fn absolute(&self, value: u64) {
        self.inner.absolute(value);
        self.overflow.increment(1);
    }
}

impl GaugeFn for Counted<Gauge> {
    fn increment(&self, value: f64) {
        self.inner.increment(value);
        self.overflow.increment(1);
    }

    fn decrement(&self, value: f64) {
        self.inner.decrement(value);
        self.overflow.increment(1);
    }

    fn set(&self, value: f64) {
        self.inner.set(value);
        self.overflow.increment(1);
    }
}

impl HistogramFn for Counted<Histogram> {
    fn record(&self, value: f64) {
        self.inner.record(value);
        self.overflow.increment(1);
    }
}

impl Storage<Key> for Guard {
    type Counter = Stored<Counter>;
    type Gauge = Stored<Gauge>;
    type Histogram = Stored<Histogram>;

    fn counter(&self, key: &Key) -> Self::Counter {
        Stored(match self.admit(key) {
            Admission::Series => self.main.register_counter(key, &METADATA),
            Admission::Folded(other, overflow) => Counter::from_arc(Arc::new(Counted {
                inner: self.main.register_counter(&other, &METADATA),
                overflow,
            })),
            Admission::Dropped(overflow) => Counter::from_arc(Arc::new(Counted {
                inner: Counter::noop(),
                overflow,
            })),
        })
    }

    fn gauge(&self, key: &Key) -> Self::Gauge {
        Stored(match self.admit(key) {
            Admission::Series => self.main.register_gauge(key, &METADATA),
            Admission::Folded(other, overflow) => Gauge::from_arc(Arc::new(Counted {
                inner: self.main.register_gauge(&other, &METADATA),
                overflow,
            })),
            Admission::Dropped(overflow) => Gauge::from_arc(Arc::new(Counted {
                inner: Gauge::noop(),
                overflow,
            })),
        })
    }

    fn histogram(&self, key: &Key) -> Self::Histogram {
        Stored(match self.admit(key) {
            Admission::Series => self.histogram_recorder(key.name()).register_histogram(key, &METADATA),
            Admission::Folded(other, overflow) => Histogram::from_arc(Arc::new(Counted {
                inner: self
                    .histogram_recorder(key.name())
                    .register_histogram(&other, &METADATA),
                overflow,
            })),
            Admission::Dropped(overflow) => Histogram::from_arc(Arc::new(Counted {
                inner: Histogram::noop(),
                overflow,
            })),
        })
    }
}

/// The recorder behind the `metrics` facade's global recorder while our
/// stack runs.
pub(crate) struct FacadeRecorder {
    registry: Registry<Key, Guard>,
    /// Applied to label values before a series is registered: a value under
    /// a sensitive label name, or matching a pattern, never reaches
    /// `/metrics` or OTLP.
    redactor: Option<Arc<crate::pipeline::Redactor>>,
}

impl FacadeRecorder {
    /// A recorder admitting at most `limits.0` label sets per metric and
    /// `limits.1` metric names, counting into `overflow_name`. Its histogram
    /// layouts share the names of `exposition` (the recorder behind `main`,
    /// rendered in the same `/metrics` document), so that no facade
    /// histogram takes a name of ours or clashes with one.
    pub(crate) fn new(
        settings: FacadeSettings,
        limits: (usize, usize),
        main: Arc<dyn Recorder + Send + Sync>,
        exposition: Option<&ExpositionRecorder>,
        meter: Option<(opentelemetry::metrics::Meter, Option<Arc<crate::otlp::Exemplars>>)>,
        global_labels: &BTreeMap<String, String>,
        overflow_name: String,
    ) -> Result<Self> {
        let (meter, exemplars) = match meter {
            Some((meter, exemplars)) => (Some(meter), exemplars),
            None => (None, None),
        };
        let mut layouts = Vec::new();
        for bounds in settings.layouts() {
            let mut builder = ExpositionRecorder::builder()
                .default_buckets(&bounds)
                .map_err(|err| Error::config("metrics.histogram_buckets", format!("{bounds:?}"), err.to_string()))?;
            for (key, value) in global_labels {
                builder = builder.global_label(key, value)?;
            }
            if let Some(exposition) = exposition {
                builder = builder.sharing_names_with(exposition);
            }
            let recorder = Arc::new(builder.build());
            layouts.push(Layout { bounds, recorder });
        }
        Ok(FacadeRecorder {
            registry: Registry::new(Guard {
                settings,
                limit: limits.0.max(1),
                name_limit: limits.1.max(1),
                main,
                layouts,
                meter,
                exemplars,
                global_labels: global_labels.clone(),
                histograms: Mutex::new(HashMap::new()),
                series: Mutex::new(HashMap::new()),
                overflow_name,
                overflow: Mutex::new(HashMap::new()),
            }),
            redactor: None,
        })
    }

    /// Redacts label values with `redactor` (`redaction.fields` names the
    /// label, or a `redaction.patterns` entry matches its value).
    pub(crate) fn with_redactor(mut self, redactor: Arc<crate::pipeline::Redactor>) -> Self {
        self.redactor = (!redactor.is_noop()).then_some(redactor);
        self
    }

    /// `key` with its label values redacted, or `key` itself when nothing
    /// needed it (the common case: no allocation).
    fn redacted<'k>(&self, key: &'k Key) -> std::borrow::Cow<'k, Key> {
        use std::borrow::Cow;
        let Some(redactor) = &self.redactor else {
            return Cow::Borrowed(key);
        };
        let redact = |label: &Label| -> Option<String> {
            if redactor.is_sensitive(label.key()) {
                return (label.value() != crate::pipeline::REDACTED).then(|| crate::pipeline::REDACTED.to_owned());
            }
            match redactor.redact_text(label.value()) {
                Cow::Owned(text) => Some(text),
                Cow::Borrowed(_) => None,
            }
        };
        if key.labels().all(|label| redact(label).is_none()) {
            return Cow::Borrowed(key);
        }
        let labels = key
            .labels()
            .map(|label| match redact(label) {
                Some(value) => Label::new(label.key().to_owned(), value),
                None => label.clone(),
            })
            .collect::<Vec<_>>();
        Cow::Owned(Key::from_parts(key.name().to_owned(), labels))
    }

    fn guard(&self) -> &Guard {
        self.registry.storage()
    }

    /// Appends the exposition of the facade's histograms in `format` to `text`.
    pub(crate) fn render_into(&self, format: super::ExpositionFormat, text: &mut String) {
        for layout in &self.guard().layouts {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            layout.recorder.render_into(format, text);
        }
    }
}

impl Recorder for FacadeRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.guard().main.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.guard().main.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.guard()
            .histogram_recorder(key.as_str())
            .describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.registry
            .get_or_create_counter(&self.redacted(key), |c| c.0.clone())
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.registry.get_or_create_gauge(&self.redacted(key), |g| g.0.clone())
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.registry
            .get_or_create_histogram(&self.redacted(key), |h| h.0.clone())
    }
}

/// The facade's global recorder: forwards to the running stack's
/// [`FacadeRecorder`], or records nothing between stacks. Installed once per
/// process; a later stack takes the place of an earlier one.
struct GlobalFacade {
    current: ArcSwapOption<FacadeRecorder>,
}

static GLOBAL: OnceLock<&'static GlobalFacade> = OnceLock::new();
static INSTALLING: Mutex<()> = Mutex::new(());

impl Recorder for GlobalFacade {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(current) = &*self.current.load() {
            current.describe_counter(key, unit, description);
        }
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(current) = &*self.current.load() {
            current.describe_gauge(key, unit, description);
        }
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if let Some(current) = &*self.current.load() {
            current.describe_histogram(key, unit, description);
        }
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        match &*self.current.load() {
            Some(current) => current.register_counter(key, metadata),
            None => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        match &*self.current.load() {
            Some(current) => current.register_gauge(key, metadata),
            None => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        match &*self.current.load() {
            Some(current) => current.register_histogram(key, metadata),
            None => Histogram::noop(),
        }
    }
}

/// Makes `facade` what the `metrics` macros record into, per `policy`.
/// Returns whether it is now in place.
pub(crate) fn install(facade: &Arc<FacadeRecorder>, policy: GlobalRecorder) -> Result<bool> {
    if policy == GlobalRecorder::Off {
        return Ok(false);
    }
    let _one_at_a_time = lock(&INSTALLING);
    if let Some(global) = GLOBAL.get() {
        global.current.store(Some(Arc::clone(facade)));
        return Ok(true);
    }
    let global: &'static GlobalFacade = Box::leak(Box::new(GlobalFacade {
        current: ArcSwapOption::from(Some(Arc::clone(facade))),
    }));
    match metrics::set_global_recorder(global) {
        Ok(()) => {
            let _ = GLOBAL.set(global);
            Ok(true)
        }
        Err(_) => {
            global.current.store(None);
            match policy {
                GlobalRecorder::IfFree => {
                    eprintln!(
                        "aureus-observability: another `metrics` global recorder is already installed; \
                         metrics recorded through the `metrics` macros go to it, not to /metrics or OTLP \
                         (metrics.global_recorder = \"if_free\")"
                    );
                    Ok(false)
                }
                _ => Err(Error::GlobalRecorderTaken),
            }
        }
    }
}

/// Stops the facade from recording into `facade` (when it still does).
pub(crate) fn uninstall(facade: &Arc<FacadeRecorder>) {
    if let Some(global) = GLOBAL.get() {
        let current = global.current.load();
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, facade)) {
            global.current.compare_and_swap(&*current, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ExpositionFormat;

    fn settings(patterns: &[(&str, &[f64])]) -> FacadeSettings {
        let map = patterns.iter().map(|(p, b)| (p.to_string(), b.to_vec())).collect();
        FacadeSettings::validate(GlobalRecorder::Off, &map, &DEFAULT_HISTOGRAM_BUCKETS).unwrap()
    }

    #[test]
    fn the_most_specific_pattern_wins() {
        let s = settings(&[
            ("kernel_*", &[1.0]),
            ("kernel_job_*", &[2.0]),
            ("*_seconds", &[3.0]),
            ("kernel_job_wait_seconds", &[4.0]),
            ("kernel_*_seconds", &[5.0]),
            ("ab*ba", &[6.0]),
        ]);
        assert_eq!(s.bounds_for("kernel_job_wait_seconds"), [4.0]);
        assert_eq!(s.bounds_for("kernel_job_run_seconds"), [5.0]);
        assert_eq!(s.bounds_for("kernel_job_run_bytes"), [2.0]);
        assert_eq!(s.bounds_for("kernel_queue_bytes"), [1.0]);
        assert_eq!(s.bounds_for("db_query_seconds"), [3.0]);
        assert_eq!(s.bounds_for("db_rows"), DEFAULT_HISTOGRAM_BUCKETS);
        assert_eq!(
            s.bounds_for("aba"),
            DEFAULT_HISTOGRAM_BUCKETS,
            "prefix and suffix may not overlap"
        );
        assert_eq!(s.bounds_for("abba"), [6.0]);
    }

    #[test]
    fn bad_patterns_and_bounds_name_the_key() {
        let check = |pattern: &str, bounds: &[f64], key: &str| {
            let map = BTreeMap::from([(pattern.to_owned(), bounds.to_vec())]);
            let err = FacadeSettings::validate(GlobalRecorder::Off, &map, &[1.0]).unwrap_err();
            assert!(matches!(&err, Error::InvalidConfig { key: k, .. } if k == key), "{err}");
        };
        check("*a*", &[1.0], "metrics.histogram_buckets.*a*");
        check("a**", &[1.0], "metrics.histogram_buckets.a**");
        check("a b", &[1.0], "metrics.histogram_buckets.a b");
        check("*", &[1.0], "metrics.histogram_buckets.*");
        check("x", &[], "metrics.histogram_buckets.x");
        check("x", &[2.0, 1.0], "metrics.histogram_buckets.x");
        check("x", &[f64::NAN], "metrics.histogram_buckets.x");
        let err = FacadeSettings::validate(GlobalRecorder::Off, &BTreeMap::new(), &[1.0, 1.0]).unwrap_err();
        assert!(err.to_string().contains("metrics.default_histogram_buckets"), "{err}");
    }

    #[test]
    fn folds_label_sets_past_the_limit_and_drops_names_past_it() {
        let prometheus = Arc::new(ExpositionRecorder::new());
        let facade = FacadeRecorder::new(
            settings(&[]),
            (2, 2),
            Arc::clone(&prometheus) as Arc<dyn Recorder + Send + Sync>,
            Some(&prometheus),
            None,
            &BTreeMap::new(),
            "aureus_telemetry_cardinality_overflow_total".to_owned(),
        )
        .unwrap();
        metrics::with_local_recorder(&facade, || {
            for queue in ["a", "b", "c", "d"] {
                metrics::counter!("jobs_total", "queue" => queue).increment(1);
            }
            metrics::counter!("other_total").increment(1);
            metrics::counter!("third_total").increment(5);
        });
        let text = prometheus.render();
        assert!(text.contains("jobs_total{queue=\"a\"} 1"), "{text}");
        assert!(text.contains("jobs_total{queue=\"b\"} 1"), "{text}");
        assert!(text.contains("jobs_total{queue=\"other\"} 2"), "{text}");
        assert!(!text.contains("third_total"), "{text}");
        assert!(
            text.contains("aureus_telemetry_cardinality_overflow_total{metric=\"jobs_total\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("aureus_telemetry_cardinality_overflow_total{metric=\"other\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_redacted_before_registration() {
        let prometheus = Arc::new(ExpositionRecorder::new());
        let redactor = crate::pipeline::Redactor::new(&["token".to_owned()], &["sk-[a-z0-9]+".to_owned()]).unwrap();
        let facade = FacadeRecorder::new(
            settings(&[]),
            (100, 100),
            Arc::clone(&prometheus) as Arc<dyn Recorder + Send + Sync>,
            Some(&prometheus),
            None,
            &BTreeMap::new(),
            "aureus_telemetry_cardinality_overflow_total".to_owned(),
        )
        .unwrap()
        .with_redactor(Arc::new(redactor));
        metrics::with_local_recorder(&facade, || {
            metrics::counter!("logins_total", "Token" => "hunter2", "user" => "ann").increment(1);
            metrics::counter!("logins_total", "token" => "other-secret", "user" => "ann").increment(1);
            metrics::gauge!("keys", "key" => "sk-abc123").set(1.0);
            metrics::histogram!("call_seconds", "auth" => "Bearer sk-zz9").record(0.5);
        });
        let mut text = prometheus.render();
        facade.render_into(crate::metrics::ExpositionFormat::Text, &mut text);
        for secret in ["hunter2", "other-secret", "sk-abc123", "sk-zz9"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(
            text.contains("logins_total{Token=\"[REDACTED]\",user=\"ann\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("logins_total{token=\"[REDACTED]\",user=\"ann\"} 1"),
            "{text}"
        );
        assert!(text.contains("keys{key=\"[REDACTED]\"} 1"), "{text}");
        assert!(
            text.contains("call_seconds_count{auth=\"Bearer [REDACTED]\"} 1"),
            "{text}"
        );
    }

    /// The facade's histograms are rendered by recorders of their own, into
    /// the same document as ours: a name is one family of one recorder, and
    /// no family's sample names clash with another's, in either format.
    #[test]
    fn facade_histograms_share_the_names_of_the_document() {
        let prometheus = Arc::new(
            ExpositionRecorder::builder()
                .buckets("aureus_task_duration_ms", &[10.0, 100.0])
                .unwrap()
                .build(),
        );
        let facade = FacadeRecorder::new(
            settings(&[("*_bucket", &[1.0])]),
            (100, 100),
            Arc::clone(&prometheus) as Arc<dyn Recorder + Send + Sync>,
            Some(&prometheus),
            None,
            &BTreeMap::new(),
            "aureus_telemetry_cardinality_overflow_total".to_owned(),
        )
        .unwrap();
        // The crate describes its metrics when the stack starts, and
        // registers their series later.
        prometheus.describe_counter("aureus_tasks_total".into(), None, "Tasks.".into());
        metrics::with_local_recorder(&facade, || {
            metrics::histogram!("aureus_tasks_total").record(1.0);
            metrics::counter!("dup").increment(1);
            metrics::histogram!("dup").record(1.0);
            metrics::counter!("lat_total").increment(1);
            metrics::histogram!("lat").record(1.0);
            metrics::gauge!("hh_created").set(1.0);
            metrics::histogram!("hh").record(1.0);
            metrics::histogram!("aureus_task_duration_ms").record(1.0);
            metrics::histogram!("q").record(1.0);
            metrics::histogram!("q_bucket").record(1.0);
        });
        // Ours, registered later, keeps its name.
        prometheus
            .register_histogram(
                &metrics::Key::from_parts(
                    "aureus_task_duration_ms",
                    vec![Label::new(super::super::contract::label::TASK_TYPE, "plan")],
                ),
                &METADATA,
            )
            .record(5.0);
        prometheus
            .register_counter(&metrics::Key::from_name("aureus_tasks_total"), &METADATA)
            .increment(2);
        let refused: Vec<_> = prometheus
            .refused_series()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        assert_eq!(
            refused,
            [("type_conflict", 5)],
            "aureus_tasks_total, dup, hh, aureus_task_duration_ms, q_bucket"
        );
        for format in [ExpositionFormat::Text, ExpositionFormat::OpenMetrics] {
            let mut text = String::new();
            prometheus.render_into(format, &mut text);
            facade.render_into(format, &mut text);
            let families: Vec<&str> = text
                .lines()
                .filter_map(|line| line.strip_prefix("# TYPE "))
                .map(|line| line.split(' ').next().unwrap_or_default())
                .collect();
            let mut unique = families.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), families.len(), "{format:?}: a family twice in\n{text}");
            assert!(
                text.contains("aureus_task_duration_ms_bucket{task_type=\"plan\","),
                "{text}"
            );
            assert!(!text.contains("aureus_task_duration_ms_bucket{le="), "{text}");
            assert!(!text.contains("q_bucket_bucket"), "{text}");
            assert!(text.contains("\naureus_tasks_total 2\n"), "ours kept: {text}");
            if format == ExpositionFormat::OpenMetrics {
                assert!(text.contains("# TYPE lat_total unknown\nlat_total 1\n"), "{text}");
                assert!(text.contains("# TYPE lat histogram\n"), "{text}");
            }
        }
    }
}
