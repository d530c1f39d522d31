//! Starting every part of the stack in order, from a validated configuration.

use std::sync::Arc;

use super::Emitter;
use crate::config::{self, Config, ValidatedSink};
use crate::error::Result;
use crate::event::semconv;
use crate::pipeline::{self, Directives, LogLevels, Pipeline, RecordPool, SinkHandle};
use crate::record::Record;
use crate::sinks;
use crate::telemetry::Telemetry;
use crate::{alerts, dashboard, metrics, otlp, server, store};

/// What the layer needs, and the handle that runs the rest.
pub(super) struct Started {
    pub(super) pipeline: Arc<Pipeline>,
    pub(super) levels: Arc<LogLevels>,
    pub(super) keep_aureus_events: bool,
    pub(super) tracer: Option<otlp::Tracer>,
    pub(super) emitter: Emitter,
    pub(super) telemetry: Telemetry,
}

pub(super) fn start(config: Config) -> Result<Started> {
    let validated = config.validated()?;
    let resource = otlp::ResourceSettings {
        service_name: config.service_name.clone(),
        service_version: config.service_version.clone(),
        environment: config.environment.clone(),
        attributes: config.resource_attributes.clone().into_iter().collect(),
    };
    let started = validated
        .otlp
        .as_ref()
        .map(|settings| {
            let scrub = otlp::Scrub {
                redactor: Arc::clone(&validated.redactor),
                max_field_bytes: validated.max_field_bytes,
                capture: validated.genai.capture,
            };
            otlp::Otlp::start(settings, &resource, scrub)
        })
        .transpose()?;
    let (otlp, log_sink) = match started {
        Some(started) => (Some(started.otlp), started.log_sink),
        None => (None, None),
    };
    let meter = otlp.as_ref().and_then(otlp::Otlp::meter);
    let emitter = Emitter::default();
    let levels = Arc::new(LogLevels::new(
        Directives::parse("log_level", &validated.filter)?,
        emitter.clone(),
    ));
    let metrics_state = validated
        .metrics
        .as_ref()
        .map(|settings| {
            let exemplars = otlp.as_ref().and_then(otlp::Otlp::exemplars);
            start_metrics(settings, meter.clone(), exemplars, &validated.redactor)
        })
        .transpose()?;
    let pool = Arc::new(RecordPool::new());
    let (records, _) = tokio::sync::broadcast::channel(1024);
    let mut handles = Vec::with_capacity(validated.sinks.len() + 1);
    for sink in validated.sinks {
        handles.push(Arc::new(start_sink(sink, Arc::clone(&pool))?));
    }
    let store = match &validated.store {
        Some(settings) => {
            let (store, handle) = start_store(settings, Arc::clone(&pool), records.clone())?;
            handles.push(Arc::new(handle));
            Some(store)
        }
        None => None,
    };
    let exports_logs = log_sink.is_some();
    if let Some((sink, queue)) = log_sink {
        handles.push(Arc::new(SinkHandle::spawn(
            otlp::OTLP_SINK,
            "otlp",
            sink,
            queue,
            Arc::clone(&pool),
        )?));
    }
    let pipeline = Arc::new(Pipeline::new(
        handles,
        pool,
        validated.max_field_bytes,
        metrics_state.clone(),
        Arc::clone(&levels),
        (validated.redactor, validated.sampler),
    ));
    let _ = pipeline.genai.set(validated.genai.clone());
    let tracer = otlp.as_ref().and_then(otlp::Otlp::tracer);
    // Records carry the active OpenTelemetry span's ids — ours, or those of
    // a tracing-opentelemetry layer of the service's — whenever they leave
    // over OTLP.
    pipeline.set_annotate_spans(tracer.is_some() || exports_logs);
    if let (Some(otlp), Some(state)) = (&otlp, &metrics_state) {
        let names = state.aureus.names();
        otlp.time_exports(&*state.recorder, &names.otlp_export_duration);
        state.exporter.watch_otlp(otlp.all_stats());
        if let Some(meter) = &meter {
            otlp::register_self_metrics(meter, names, Arc::downgrade(&pipeline), otlp.all_stats());
        }
    }
    let metrics_handle = metrics_state.map(|state| metrics::MetricsHandle::new(state, Arc::clone(&pipeline)));
    let prefix = validated.metrics.as_ref().map_or("aureus", |m| m.prefix.as_str());
    let monitoring = match &validated.monitoring {
        Some(settings) => Some(start_monitoring(
            settings,
            &emitter,
            &pipeline,
            metrics_handle.as_ref(),
            store.clone(),
            records,
            prefix,
        )?),
        None => None,
    };
    let alerting = monitoring.as_ref().and_then(|m| m.alerting.clone());
    let server = match (&validated.server, &metrics_handle) {
        (Some(server), Some(handle)) => Some(server::Server::start(server, handle.clone(), monitoring)?),
        _ => None,
    };
    let keep_aureus_events = validated.metrics.is_some();
    let global = metrics_handle
        .clone()
        .zip(validated.metrics.as_ref().map(|m| m.facade.policy));
    let telemetry = Telemetry::new(Arc::clone(&pipeline), metrics_handle, server, store, alerting, otlp);
    // Last: once everything else runs (a failure drops `telemetry`, which stops it all).
    if let Some((handle, policy)) = global {
        handle.install_global(policy)?;
    }
    if let Some(id) = validated.default_correlation_id {
        crate::correlation::set_default(Some(id));
    }
    Ok(Started {
        pipeline,
        levels,
        keep_aureus_events,
        tracer,
        emitter,
        telemetry,
    })
}

/// The dashboard's state and the alert engine (local or fleet source).
fn start_monitoring(
    settings: &config::ValidatedMonitoring,
    emitter: &Emitter,
    pipeline: &Arc<Pipeline>,
    metrics: Option<&metrics::MetricsHandle>,
    store: Option<store::EventStore>,
    records: tokio::sync::broadcast::Sender<Arc<Record>>,
    prefix: &str,
) -> Result<dashboard::Monitoring> {
    let fleet = settings
        .prometheus_url
        .as_deref()
        .map(|url| alerts::PrometheusApi::new(url, prefix));
    let source = match (&fleet, metrics) {
        (Some(api), _) => Some(alerts::AlertSource::Prometheus(api.clone())),
        (None, Some(metrics)) => Some(alerts::AlertSource::Local {
            metrics: metrics.clone(),
            store: store.clone(),
        }),
        (None, None) => None,
    };
    let alerting = match source {
        Some(source) => Some(Arc::new(
            alerts::Alerting::start(
                Arc::new(alerts::AlertEngine::new(settings.rules.clone())),
                source,
                settings.evaluate_every,
                emitter.clone(),
                metrics.map(metrics::MetricsHandle::recorder),
                prefix,
            )?
            .with_redactor(Arc::clone(&pipeline.redactor)),
        )),
        None => None,
    };
    Ok(dashboard::Monitoring {
        metrics: metrics.cloned(),
        store,
        alerting,
        records,
        fleet,
        token: settings.token.as_deref().map(Arc::from),
        levels: dashboard::LevelControl::new(Arc::clone(pipeline), emitter.clone()),
        trace_url_template: settings.trace_url_template.as_deref().map(Arc::from),
    })
}

/// The event store, fed by its own sink worker named `store`.
fn start_store(
    settings: &config::ValidatedStore,
    pool: Arc<RecordPool>,
    announce: tokio::sync::broadcast::Sender<Arc<Record>>,
) -> Result<(store::EventStore, SinkHandle)> {
    let store = store::EventStore::new(settings.max_records, settings.max_bytes);
    let queue = pipeline::QueueSettings::new(65536, pipeline::OverflowPolicy::Drop, settings.min_level);
    let sink = store::StoreSink {
        store: store.clone(),
        announce,
    };
    let handle = SinkHandle::spawn("store", "store", Box::new(sink), queue, pool)?;
    Ok((store, handle))
}

fn start_metrics(
    config: &config::ValidatedMetrics,
    meter: Option<opentelemetry::metrics::Meter>,
    exemplars: Option<Arc<otlp::Exemplars>>,
    redactor: &Arc<pipeline::Redactor>,
) -> Result<Arc<metrics::MetricsState>> {
    let unit = config.duration_unit;
    let names = metrics::MetricNames::new(&config.prefix, unit);
    let buckets: Vec<f64> = config
        .duration_buckets_ms
        .iter()
        .map(|b| b * unit.per_millisecond())
        .collect();
    let mirrored = [
        (names.task_duration.clone(), buckets.clone(), unit.otlp_unit()),
        (
            names.otlp_export_duration.clone(),
            metrics::EXPORT_DURATION_BUCKETS_S.to_vec(),
            "s",
        ),
        (
            semconv::metric::TOKEN_USAGE_PROMETHEUS.to_owned(),
            semconv::metric::TOKEN_USAGE_BUCKETS.to_vec(),
            "{token}",
        ),
        (
            semconv::metric::OPERATION_DURATION_PROMETHEUS.to_owned(),
            semconv::metric::OPERATION_DURATION_BUCKETS.to_vec(),
            "s",
        ),
    ];
    let llm_cost = names.llm_cost.clone();
    let exporter = metrics::PrometheusExporter::new(names, &buckets, &config.global_labels)?;
    // Exemplars never show a correlation id the redaction would hide (a
    // sensitive name for it, or a pattern matching it, as on spans).
    if !redactor.is_noop() {
        let redactor = Arc::clone(redactor);
        let show: metrics::exemplar::CorrelationFilter = Arc::new(move |id: &str| {
            !redactor.is_sensitive("correlation_id")
                && !redactor.is_sensitive(otlp::CORRELATION_ATTRIBUTE)
                && matches!(redactor.redact_text(id), std::borrow::Cow::Borrowed(_))
        });
        exporter.exposition().filter_exemplar_correlation_ids(Arc::clone(&show));
        if let Some(exemplars) = &exemplars {
            exemplars.filter_correlation_ids(show);
        }
    }
    let recorder = match &meter {
        Some(meter) => Arc::new(
            otlp::MirrorRecorder::new(
                Arc::clone(exporter.exposition()),
                meter.clone(),
                &config.global_labels,
                mirrored.to_vec(),
            )
            .float_counter(&llm_cost)
            .with_exemplars(exemplars.clone()),
        ) as Arc<dyn ::metrics::Recorder + Send + Sync>,
        None => exporter.recorder(),
    };
    let aureus = Arc::new(metrics::AureusMetrics::with_duration_unit(
        Arc::clone(&recorder),
        &config.prefix,
        config.cardinality_limit,
        unit,
    ));
    let facade = match config.facade.policy {
        metrics::GlobalRecorder::Off => None,
        _ => Some(
            metrics::FacadeRecorder::new(
                config.facade.clone(),
                (config.cardinality_limit, metrics::MAX_FACADE_METRICS),
                Arc::clone(&recorder),
                Some(exporter.exposition()),
                meter.map(|meter| (meter, exemplars)),
                &config.global_labels,
                aureus.names().cardinality_overflow.clone(),
            )?
            .with_redactor(Arc::clone(redactor)),
        ),
    };
    let summary = metrics::SummaryWindow::new(config.summary_retention, config.summary_bucket);
    let genai = metrics::GenAiMetrics::new(Arc::clone(&recorder), aureus.names(), config.cardinality_limit);
    let state = Arc::new(metrics::MetricsState::new(aureus, exporter, summary, recorder));
    let _ = state.genai.set(genai);
    if let Some(facade) = facade {
        let _ = state.facade.set(Arc::new(facade));
    }
    Ok(state)
}

fn start_sink(sink: ValidatedSink, pool: Arc<RecordPool>) -> Result<SinkHandle> {
    use config::validate_kinds::SinkKind;
    match sink.kind {
        SinkKind::Console { format, stream, ansi } => {
            let console = sinks::console::ConsoleSink::new(format, stream, ansi);
            SinkHandle::spawn(&sink.name, "console", Box::new(console), sink.queue, pool)
        }
        SinkKind::File {
            path,
            rotation,
            retention,
            compress,
        } => {
            let file = sinks::file::FileSink::open(path, rotation, retention, compress)?;
            let stats = file.stats();
            // The file sink recovers by itself at every write: what it cannot
            // write is counted as failed, not shed by a circuit breaker.
            let queue = pipeline::QueueSettings {
                circuit_breaker: false,
                ..sink.queue
            };
            Ok(SinkHandle::spawn(&sink.name, "file", Box::new(file), queue, pool)?.with_file_stats(stats))
        }
    }
}
