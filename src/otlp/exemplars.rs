//! OTLP exemplars: per histogram series and bucket, the trace id, span id
//! and correlation id of its latest observation, added to the histogram data
//! points of every OTLP metric export (HTTP/protobuf, HTTP/JSON and gRPC).
//!
//! opentelemetry_sdk 0.33 exports empty exemplar lists. So each
//! [`MirrorRecorder`](super::MirrorRecorder) histogram handle keeps its own
//! exemplar per bucket ([`SeriesExemplars`], the same capture as `/metrics`:
//! the pipeline record's context, else the ambient span and correlation id),
//! registered here under its OTLP metric name and attribute set. At export,
//! [`Exemplars::attach`] adds to every histogram data point the exemplars of
//! its series taken no later than the point's time (a cumulative point: the
//! latest per bucket; a delta point: each exemplar once), as OTLP `Exemplar`s:
//! `as_double` value, `time_unix_nano`, 16-byte `trace_id`, 8-byte `span_id`
//! (both left empty without a trace), and the correlation id as the filtered
//! attribute `aureus.correlation_id` (whole: OTLP has no length limit).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry::KeyValue;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue as ProtoKeyValue};
use opentelemetry_proto::tonic::metrics::v1::{exemplar, metric, AggregationTemporality, Exemplar as ProtoExemplar};

use super::logs::CORRELATION_ATTRIBUTE;
use crate::metrics::exemplar::{current, CorrelationFilter, ExemplarSlots};

/// The explicit bucket bounds opentelemetry_sdk gives a histogram without
/// bounds of its own (the OpenTelemetry metrics SDK specification's default).
pub(crate) const SDK_DEFAULT_BOUNDS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0,
];

/// A series: OTLP metric name and its attributes, sorted by key.
type SeriesKey = (String, Vec<(String, String)>);

/// One histogram series' exemplars, one per bucket.
#[derive(Debug)]
pub(crate) struct SeriesExemplars {
    bounds: Arc<[f64]>,
    slots: ExemplarSlots,
}

impl SeriesExemplars {
    /// Keeps `value` as its bucket's exemplar when the observation has a
    /// context (see [`crate::metrics::exemplar`]); `NaN` and `±Inf`, which
    /// the SDK does not count, never become one.
    pub(crate) fn observe(&self, value: f64) {
        // The SDK's histogram ignores NaN and ±Inf (no bucket, count or sum
        // takes them): an exemplar must be a measurement its point counts.
        if !value.is_finite() {
            return;
        }
        if let Some(context) = current() {
            let bucket = self.bounds.partition_point(|bound| *bound < value);
            self.slots.offer(self.bounds.len() + 1, bucket, value, &context);
        }
    }
}

/// The exemplars of every mirrored histogram series of one OTLP pipeline.
#[derive(Default)]
pub(crate) struct Exemplars {
    series: Mutex<HashMap<SeriesKey, Arc<SeriesExemplars>>>,
    /// Which correlation ids exemplars may carry (all when unset).
    correlation_filter: std::sync::OnceLock<CorrelationFilter>,
}

impl std::fmt::Debug for Exemplars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exemplars")
            .field("filtered", &self.correlation_filter.get().is_some())
            .finish_non_exhaustive()
    }
}

fn series_key(name: &str, attributes: impl Iterator<Item = (String, String)>) -> SeriesKey {
    let mut attributes: Vec<(String, String)> = attributes.collect();
    // The SDK keeps the last value of a repeated key.
    attributes.reverse();
    attributes.sort_by(|a, b| a.0.cmp(&b.0));
    attributes.dedup_by(|a, b| a.0 == b.0);
    (name.to_owned(), attributes)
}

impl Exemplars {
    /// The exemplar slots of histogram `name` (OTLP name) with `attributes`
    /// and explicit bucket `bounds`, shared by every handle of that series.
    pub(crate) fn series(&self, name: &str, attributes: &[KeyValue], bounds: &[f64]) -> Arc<SeriesExemplars> {
        let key = series_key(
            name,
            attributes
                .iter()
                .map(|kv| (kv.key.as_str().to_owned(), kv.value.as_str().into_owned())),
        );
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(series.entry(key).or_insert_with(|| {
            Arc::new(SeriesExemplars {
                bounds: Arc::from(bounds),
                slots: ExemplarSlots::default(),
            })
        }))
    }

    /// Leaves out of the exemplars every correlation id `show` refuses:
    /// those the redaction configuration would hide. Set once.
    pub(crate) fn filter_correlation_ids(&self, show: CorrelationFilter) {
        let _ = self.correlation_filter.set(show);
    }

    /// Adds to each histogram data point of `request` the exemplars of its
    /// series taken no later than the point's time, by bucket; for `Delta`
    /// points each exemplar only once.
    pub(crate) fn attach(&self, request: &mut ExportMetricsServiceRequest) {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        if series.is_empty() {
            return;
        }
        let metrics = request
            .resource_metrics
            .iter_mut()
            .flat_map(|r| r.scope_metrics.iter_mut())
            .flat_map(|s| s.metrics.iter_mut());
        for metric in metrics {
            let Some(metric::Data::Histogram(histogram)) = &mut metric.data else {
                continue;
            };
            let delta = histogram.aggregation_temporality == AggregationTemporality::Delta as i32;
            for point in &mut histogram.data_points {
                let Some(strings) = point
                    .attributes
                    .iter()
                    .map(|kv| string_value(kv).map(|v| (kv.key.clone(), v.to_owned())))
                    .collect::<Option<Vec<_>>>()
                else {
                    continue;
                };
                let Some(found) = series.get(&series_key(&metric.name, strings.into_iter())) else {
                    continue;
                };
                for bucket in 0..=found.bounds.len() {
                    // One observed after the collection is the next point's.
                    let until = point.time_unix_nano;
                    let Some(taken) = found.slots.get_if(bucket, delta, |e| e.context.time_unix_nano <= until) else {
                        continue;
                    };
                    let (trace_id, span_id) = match taken.context.trace {
                        Some((trace, span)) => (trace.to_be_bytes().to_vec(), span.to_be_bytes().to_vec()),
                        None => (Vec::new(), Vec::new()),
                    };
                    let shown = |id: &&str| self.correlation_filter.get().is_none_or(|keep| keep(id));
                    let filtered_attributes = taken
                        .context
                        .correlation_id()
                        .filter(shown)
                        .map(|id| ProtoKeyValue {
                            key: CORRELATION_ATTRIBUTE.to_owned(),
                            key_strindex: 0,
                            value: Some(AnyValue {
                                value: Some(any_value::Value::StringValue(id.to_owned())),
                            }),
                        })
                        .into_iter()
                        .collect();
                    point.exemplars.push(ProtoExemplar {
                        filtered_attributes,
                        time_unix_nano: taken.context.time_unix_nano,
                        span_id,
                        trace_id,
                        value: Some(exemplar::Value::AsDouble(taken.value)),
                    });
                }
            }
        }
    }
}

fn string_value(kv: &ProtoKeyValue) -> Option<&str> {
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_proto::tonic::metrics::v1::Metric;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::metrics::data::ResourceMetrics;
    use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
    use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
    use prost::Message as _;

    use super::*;
    use crate::record::Record;

    /// Per export: our body, and the exporter's own (the SDK's encoding);
    /// then the same as OTLP/HTTP-JSON.
    type Bodies = Arc<Mutex<Vec<[Vec<u8>; 4]>>>;

    /// Keeps the bodies of every export.
    #[derive(Debug, Clone, Default)]
    struct Capture {
        exemplars: Arc<Exemplars>,
        bodies: Bodies,
    }

    impl PushMetricExporter for Capture {
        async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
            let ours = super::super::metric_export::encode(metrics, &self.exemplars);
            let sdk = ExportMetricsServiceRequest::from(metrics).encode_to_vec();
            let ours_json = super::super::metric_export::encode_json(metrics, &self.exemplars).unwrap();
            let sdk_json = serde_json::to_string_pretty(&ExportMetricsServiceRequest::from(metrics)).unwrap();
            self.bodies
                .lock()
                .unwrap()
                .push([ours, sdk, ours_json, sdk_json.into_bytes()]);
            Ok(())
        }
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
            Ok(())
        }
        fn temporality(&self) -> Temporality {
            Temporality::Cumulative
        }
    }

    const TRACE: (u128, u64) = (0x4bf92f3577b34da6a3ce929d0e0e4736, 0x00f067aa0ba902b7);

    fn metric<'a>(request: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
        request.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no {name} in {request:?}"))
    }

    #[test]
    fn histogram_points_carry_their_series_exemplars_and_nothing_else_changes() {
        let capture = Capture::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(capture.clone()).build())
            .build();
        let mut global = std::collections::BTreeMap::new();
        global.insert("deployment".to_owned(), "test".to_owned());
        let mirror = super::super::MirrorRecorder::new(
            Arc::new(crate::metrics::ExpositionRecorder::new()),
            provider.meter("test"),
            &global,
            vec![("op_seconds".to_owned(), vec![0.1, 1.0], "s")],
        )
        .with_exemplars(Some(Arc::clone(&capture.exemplars)));

        let mut record = Record::new(tracing::Level::INFO, "aureus");
        record.trace_id = Some(TRACE.0);
        record.otel_span_id = Some(TRACE.1);
        record.set_correlation_id(&crate::CorrelationId::new("run-7").unwrap());
        record.timestamp = SystemTime::now();
        metrics::with_local_recorder(&mirror, || {
            crate::metrics::exemplar::with_record(&record, || {
                metrics::histogram!("op_seconds", "task" => "a").record(0.5);
            });
            crate::correlation::scope(crate::CorrelationId::new("only-correlation").unwrap(), || {
                metrics::histogram!("op_seconds", "task" => "a").record(7.0);
            });
            metrics::histogram!("op_seconds", "task" => "a").record(0.05);
            // Another series (no context) and a histogram on the SDK's default bounds.
            metrics::histogram!("op_seconds", "task" => "b").record(0.5);
            crate::correlation::scope(crate::CorrelationId::new("run-8").unwrap(), || {
                metrics::histogram!("other_ms").record(30.0);
            });
            metrics::counter!("jobs_total").increment(3);
        });
        provider.force_flush().unwrap();

        let bodies = capture.bodies.lock().unwrap().clone();
        let [ours, sdk, ours_json, sdk_json] = bodies.last().expect("an export");
        let ours = ExportMetricsServiceRequest::decode(&ours[..]).unwrap();
        let sdk = ExportMetricsServiceRequest::decode(&sdk[..]).unwrap();
        // JSON: the same request, hex ids as OTLP/JSON has them.
        let from_json: ExportMetricsServiceRequest = serde_json::from_slice(ours_json).unwrap();
        assert_eq!(from_json, ours);
        let text = std::str::from_utf8(ours_json).unwrap();
        assert!(
            text.contains("\"traceId\": \"4bf92f3577b34da6a3ce929d0e0e4736\""),
            "{text}"
        );
        assert!(text.contains("\"spanId\": \"00f067aa0ba902b7\""), "{text}");

        // Without the exemplars, exactly the SDK's own encoding.
        let mut stripped = ours.clone();
        for resource in &mut stripped.resource_metrics {
            for scope in &mut resource.scope_metrics {
                for metric in &mut scope.metrics {
                    if let Some(metric::Data::Histogram(h)) = &mut metric.data {
                        for point in &mut h.data_points {
                            point.exemplars.clear();
                        }
                    }
                }
            }
        }
        assert_eq!(stripped, sdk);
        let stripped_json = serde_json::to_string_pretty(&stripped).unwrap();
        assert_eq!(
            stripped_json.as_bytes(),
            &sdk_json[..],
            "JSON: the SDK's text minus exemplars"
        );

        let Some(metric::Data::Histogram(op)) = &metric(&ours, "op_seconds").data else {
            panic!("op_seconds is a histogram");
        };
        let task = |value: &str| {
            op.data_points
                .iter()
                .find(|p| p.attributes.iter().any(|kv| string_value(kv) == Some(value)))
                .unwrap()
        };
        let a = task("a");
        assert_eq!(a.attributes.len(), 2, "label and global label: {a:?}");
        assert_eq!(a.exemplars.len(), 2, "le=1 and +Inf; 0.05 had no context: {a:?}");
        let first = &a.exemplars[0];
        assert_eq!(first.value, Some(exemplar::Value::AsDouble(0.5)));
        assert_eq!(first.trace_id, TRACE.0.to_be_bytes().to_vec());
        assert_eq!(first.span_id, TRACE.1.to_be_bytes().to_vec());
        assert_eq!(first.filtered_attributes[0].key, CORRELATION_ATTRIBUTE);
        assert_eq!(string_value(&first.filtered_attributes[0]), Some("run-7"));
        let nanos = record
            .timestamp
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        assert_eq!(u128::from(first.time_unix_nano), nanos);
        let second = &a.exemplars[1];
        assert_eq!(second.value, Some(exemplar::Value::AsDouble(7.0)));
        assert!(second.trace_id.is_empty() && second.span_id.is_empty());
        assert_eq!(string_value(&second.filtered_attributes[0]), Some("only-correlation"));
        assert!(task("b").exemplars.is_empty());

        let Some(metric::Data::Histogram(other)) = &metric(&ours, "other_ms").data else {
            panic!("other_ms is a histogram");
        };
        assert_eq!(other.data_points[0].explicit_bounds, SDK_DEFAULT_BOUNDS);
        let exemplars = &other.data_points[0].exemplars;
        assert_eq!(exemplars.len(), 1);
        assert_eq!(string_value(&exemplars[0].filtered_attributes[0]), Some("run-8"));
    }

    #[test]
    fn measurements_the_sdk_does_not_count_are_never_exemplars() {
        let capture = Capture::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(capture.clone()).build())
            .build();
        let mirror = super::super::MirrorRecorder::new(
            Arc::new(crate::metrics::ExpositionRecorder::new()),
            provider.meter("test"),
            &std::collections::BTreeMap::new(),
            vec![("op_seconds".to_owned(), vec![0.1, 1.0], "s")],
        )
        .with_exemplars(Some(Arc::clone(&capture.exemplars)));
        metrics::with_local_recorder(&mirror, || {
            crate::correlation::scope(crate::CorrelationId::new("run-inf").unwrap(), || {
                metrics::histogram!("op_seconds").record(0.5);
                for value in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
                    metrics::histogram!("op_seconds").record(value);
                }
            });
        });
        provider.force_flush().unwrap();
        let bodies = capture.bodies.lock().unwrap().clone();
        let [ours, _, ours_json, _] = bodies.last().expect("an export");
        let ours = ExportMetricsServiceRequest::decode(&ours[..]).unwrap();
        let Some(metric::Data::Histogram(op)) = &metric(&ours, "op_seconds").data else {
            panic!("op_seconds is a histogram");
        };
        let point = &op.data_points[0];
        assert_eq!(
            (point.count, &point.bucket_counts[..]),
            (1, &[0, 1, 0][..]),
            "{point:?}"
        );
        assert_eq!(point.exemplars.len(), 1, "only the counted 0.5: {point:?}");
        assert_eq!(point.exemplars[0].value, Some(exemplar::Value::AsDouble(0.5)));
        let from_json: ExportMetricsServiceRequest = serde_json::from_slice(ours_json).unwrap();
        assert_eq!(from_json, ours);
    }

    #[test]
    fn exemplars_after_a_points_time_wait_and_delta_points_take_each_once() {
        let exemplars = Exemplars::default();
        let series = exemplars.series("d", &[KeyValue::new("k", "v")], &[1.0]);
        let mut record = Record::new(tracing::Level::INFO, "aureus");
        record.trace_id = Some(TRACE.0);
        record.otel_span_id = Some(TRACE.1);
        record.timestamp = std::time::UNIX_EPOCH + Duration::from_secs(100);
        crate::metrics::exemplar::with_record(&record, || series.observe(0.5));
        let point = |time: u64, temporality: AggregationTemporality| {
            use opentelemetry_proto::tonic::metrics::v1::*;
            ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    scope_metrics: vec![ScopeMetrics {
                        metrics: vec![Metric {
                            name: "d".to_owned(),
                            data: Some(metric::Data::Histogram(Histogram {
                                data_points: vec![HistogramDataPoint {
                                    attributes: vec![ProtoKeyValue {
                                        key: "k".to_owned(),
                                        value: Some(AnyValue {
                                            value: Some(any_value::Value::StringValue("v".to_owned())),
                                        }),
                                        key_strindex: 0,
                                    }],
                                    start_time_unix_nano: time - 1_000_000_000,
                                    time_unix_nano: time,
                                    explicit_bounds: vec![1.0],
                                    ..Default::default()
                                }],
                                aggregation_temporality: temporality as i32,
                            })),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
        };
        let at = 100 * 1_000_000_000;
        let (cumulative, delta) = (AggregationTemporality::Cumulative, AggregationTemporality::Delta);
        for (time, temporality, expected) in [
            (at - 1, cumulative, 0),
            (at, cumulative, 1),
            (at + 1, cumulative, 1),
            (at - 1, delta, 0),
            (at, delta, 1),
            (at + 1, delta, 0),
        ] {
            let mut request = point(time, temporality);
            exemplars.attach(&mut request);
            let Some(metric::Data::Histogram(h)) = &request.resource_metrics[0].scope_metrics[0].metrics[0].data else {
                unreachable!()
            };
            assert_eq!(h.data_points[0].exemplars.len(), expected, "{time} {temporality:?}");
        }
    }
}
