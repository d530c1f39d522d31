//! Exemplars end to end: step durations recorded inside traced spans carry
//! their trace id, span id and correlation id to `/metrics` (OpenMetrics
//! 1.0, negotiated), a real Prometheus stores them
//! (`--enable-feature=exemplar-storage`) and returns them from
//! `/api/v1/query_exemplars`, and every one names a span that the real
//! collector (rotel) received, with the same correlation id.
//!
//! Over OTLP (gRPC and HTTP/protobuf through a real collector, rotel,
//! forwarding to a decoding receiver; HTTP/JSON straight to the receiver)
//! the histogram data points carry the same exemplars.
//!
//! Needs `prometheus` and `rotel` (`scripts/install-peers.sh`); run via the
//! README test command.

#[path = "support/http.rs"]
mod http;
#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/rotel.rs"]
mod rotel;

use std::collections::BTreeMap;
use std::time::Duration;

use aureus_observability::config::{OtlpConfig, OtlpProtocol};
use aureus_observability::metrics::{ExpositionFormat, GlobalRecorder};
use aureus_observability::{event, Config};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{exemplar, metric, Exemplar};
use prometheus::PrometheusServer;
use rotel::{AttrValue, Rotel};

const ACCEPT_OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0";

/// Durations (ms) spread over the default buckets, one step per span.
const DURATIONS_MS: [u64; 8] = [3, 40, 180, 700, 2_000, 9_000, 45_000, 400_000];

/// The service's own `metrics::histogram!` through the facade: an
/// observation inside a span with a correlation id becomes its bucket's
/// exemplar; one outside any keeps none. (No OTLP here, so no trace id.)
#[test]
fn the_services_own_histograms_get_exemplars_from_the_current_span() {
    let (dispatch, telemetry) =
        aureus_observability::build(Config::builder().no_server().no_sinks().build().unwrap()).unwrap();
    let metrics = telemetry.metrics().unwrap().clone();
    assert!(metrics.is_global_recorder());
    tracing::dispatcher::with_default(&dispatch, || {
        metrics::histogram!("kernel_job_seconds").record(3.0);
        let span = tracing::info_span!("job", correlation_id = "job-42");
        span.in_scope(|| metrics::histogram!("kernel_job_seconds").record(0.3));
    });
    let text = metrics.render_as(ExpositionFormat::OpenMetrics);
    let bucket = |le: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("kernel_job_seconds_bucket{{le=\"{le}\"}}")))
            .unwrap_or_else(|| panic!("{le}: {text}"))
            .to_owned()
    };
    let with = bucket("0.5");
    assert!(
        with.starts_with("kernel_job_seconds_bucket{le=\"0.5\"} 1 # {correlation_id=\"job-42\"} 0.3 "),
        "{with}"
    );
    assert_eq!(
        bucket("5.0"),
        "kernel_job_seconds_bucket{le=\"5.0\"} 2",
        "no context, no exemplar"
    );
    assert!(text.ends_with("# EOF\n"));
    assert!(!metrics.render().contains("job-42"), "text 0.0.4 has no exemplars");
    telemetry.shutdown(Duration::from_secs(5));
}

#[test]
#[ignore = "needs prometheus and rotel; run via the README test command"]
fn prometheus_stores_our_exemplars_and_they_name_spans_the_collector_received() {
    let collector = Rotel::start();
    let mut otlp = OtlpConfig {
        enabled: true,
        endpoint: Some(collector.grpc_endpoint()),
        protocol: Some(OtlpProtocol::Grpc),
        ..OtlpConfig::default()
    };
    otlp.batch.interval = "100ms".into();
    otlp.metrics.interval = Some("60s".into());
    let mut config = Config::builder()
        .service_name("aureus-exemplars")
        .listen("127.0.0.1:0")
        .no_sinks()
        .no_monitoring()
        .otlp(otlp)
        .build()
        .expect("valid config");
    config.store.enabled = false;
    // The facade stays with the other test of this binary.
    config.metrics.global_recorder = GlobalRecorder::Off;
    let (dispatch, telemetry) = aureus_observability::build(config).expect("stack builds");
    let addr = telemetry.server_addr().expect("listening");

    // One span per step, each under its own correlation id.
    tracing::dispatcher::with_default(&dispatch, || {
        for (i, duration_ms) in DURATIONS_MS.iter().enumerate() {
            let correlation_id = format!("run-ex-{i}");
            let span = tracing::info_span!("step", correlation_id = %correlation_id);
            span.in_scope(|| {
                event::StepEnd {
                    workflow_id: "wf-ex",
                    task_id: "t",
                    task_type: "action",
                    success: true,
                    duration_ms: *duration_ms,
                    error: None,
                }
                .emit();
            });
        }
    });

    // Our own OpenMetrics scrape: one exemplar per bucket that was hit.
    let (status, body) = prometheus::http_get(addr, "/metrics", &[("Accept", ACCEPT_OPENMETRICS)]).unwrap();
    assert_eq!(status, 200);
    let with_exemplar: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("aureus_task_duration_ms_bucket{") && l.contains(" # {trace_id=\""))
        .collect();
    assert_eq!(with_exemplar.len(), DURATIONS_MS.len(), "{body}");

    // A real Prometheus, exemplar storage on, scraping us (it negotiates OpenMetrics itself).
    let server = PrometheusServer::start_with(&[addr], Duration::from_secs(1), &["--enable-feature=exemplar-storage"])
        .expect("prometheus starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let exemplars = loop {
        let data = server
            .query_exemplars("aureus_task_duration_ms_bucket", Duration::from_secs(600))
            .unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
        let exemplars: Vec<serde_json::Value> = data
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
            .collect();
        if exemplars.len() >= DURATIONS_MS.len() || std::time::Instant::now() >= deadline {
            break exemplars;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        exemplars.len(),
        DURATIONS_MS.len(),
        "Prometheus returned {exemplars:#?}\n{}",
        server.logs()
    );

    // Every exemplar names a span the collector received, with its correlation id.
    let received = collector.wait_for("every step span", Duration::from_secs(20), |r| {
        r.spans.iter().filter(|s| s.name == "step").count() >= DURATIONS_MS.len()
    });
    let spans: BTreeMap<(String, String), &rotel::Span> = received
        .spans
        .iter()
        .filter(|s| s.name == "step")
        .map(|s| ((s.trace_id.clone(), s.span_id.clone()), s))
        .collect();
    let mut values: Vec<f64> = Vec::new();
    for exemplar in &exemplars {
        let labels = &exemplar["labels"];
        let trace_id = labels["trace_id"].as_str().unwrap_or_else(|| panic!("{exemplar}"));
        let span_id = labels["span_id"].as_str().unwrap_or_else(|| panic!("{exemplar}"));
        assert_eq!(trace_id.len(), 32, "{exemplar}");
        assert_eq!(span_id.len(), 16, "{exemplar}");
        let span = spans
            .get(&(trace_id.to_owned(), span_id.to_owned()))
            .unwrap_or_else(|| panic!("no span {trace_id}/{span_id} at the collector: {exemplar}"));
        assert_eq!(
            span.attributes.get("aureus.correlation_id"),
            Some(&AttrValue::Str(labels["correlation_id"].as_str().unwrap().to_owned())),
            "{exemplar}"
        );
        values.push(exemplar["value"].as_str().unwrap().parse().unwrap());
    }
    values.sort_by(f64::total_cmp);
    let expected: Vec<f64> = DURATIONS_MS.iter().map(|d| *d as f64).collect();
    assert_eq!(values, expected);
    telemetry.shutdown(Duration::from_secs(10));
}

fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

/// The exemplars of `name`'s histogram points in one metrics request.
fn histogram_exemplars(request: &ExportMetricsServiceRequest, name: &str) -> Vec<Exemplar> {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == name)
        .filter_map(|m| match &m.data {
            Some(metric::Data::Histogram(h)) => Some(h),
            _ => None,
        })
        .flat_map(|h| &h.data_points)
        .flat_map(|p| p.exemplars.iter().cloned())
        .collect()
}

/// A request body as protobuf (gRPC, HTTP/protobuf) or OTLP/JSON.
fn decode<T: prost::Message + Default + serde::de::DeserializeOwned>(request: &otlp_receiver::Received) -> T {
    let payload = request.payload();
    if request.header("content-type") == Some("application/json") {
        serde_json::from_slice(&payload).expect("an OTLP/JSON request")
    } else {
        T::decode(&payload[..]).expect("a protobuf request")
    }
}

fn metric_requests(received: &[otlp_receiver::Received]) -> Vec<ExportMetricsServiceRequest> {
    received
        .iter()
        .filter(|r| r.path.contains("MetricsService") || r.path.ends_with("/v1/metrics"))
        .map(decode)
        .collect()
}

#[test]
#[ignore = "needs rotel; run via the README test command"]
fn otlp_http_histogram_points_carry_exemplars_naming_spans_the_collector_received() {
    let receiver = otlp_receiver::OtlpReceiver::start();
    let collector = Rotel::start_forwarding(&receiver.endpoint());
    exemplars_arrive_naming_received_spans(&receiver, collector.http_endpoint(), OtlpProtocol::HttpProtobuf);
}

#[test]
#[ignore = "needs rotel; run via the README test command"]
fn otlp_grpc_histogram_points_carry_exemplars_naming_spans_the_collector_received() {
    let receiver = otlp_receiver::OtlpReceiver::start();
    let collector = Rotel::start_forwarding(&receiver.endpoint());
    exemplars_arrive_naming_received_spans(&receiver, collector.grpc_endpoint(), OtlpProtocol::Grpc);
}

/// OTLP/HTTP-JSON: the same exemplars (rotel drops histograms sent as JSON,
/// so the decoding receiver takes the export directly).
#[test]
fn otlp_http_json_histogram_points_carry_exemplars_too() {
    let receiver = otlp_receiver::OtlpReceiver::start();
    exemplars_arrive_naming_received_spans(&receiver, receiver.endpoint(), OtlpProtocol::HttpJson);
}

/// Step durations inside spans with correlation ids, exported to
/// `endpoint` over `protocol`: the histogram points `receiver` gets carry one
/// exemplar per bucket hit, each naming a span `receiver` got, with its
/// correlation id.
fn exemplars_arrive_naming_received_spans(
    receiver: &otlp_receiver::OtlpReceiver,
    endpoint: String,
    protocol: OtlpProtocol,
) {
    const HISTOGRAM: &str = "aureus_task_duration_ms";
    let mut otlp = OtlpConfig {
        enabled: true,
        endpoint: Some(endpoint),
        protocol: Some(protocol),
        ..OtlpConfig::default()
    };
    otlp.batch.interval = "100ms".into();
    otlp.metrics.interval = Some("500ms".into());
    let mut config = Config::builder()
        .service_name("aureus-otlp-exemplars")
        .no_server()
        .no_sinks()
        .no_monitoring()
        .otlp(otlp)
        .build()
        .expect("valid config");
    config.store.enabled = false;
    config.metrics.global_recorder = GlobalRecorder::Off;
    let (dispatch, telemetry) = aureus_observability::build(config).expect("stack builds");

    tracing::dispatcher::with_default(&dispatch, || {
        for (i, duration_ms) in DURATIONS_MS.iter().enumerate() {
            let correlation_id = format!("run-otlp-{i}");
            let span = tracing::info_span!("step", correlation_id = %correlation_id);
            span.in_scope(|| {
                event::StepEnd {
                    workflow_id: "wf-otlp-ex",
                    task_id: "t",
                    task_type: "action",
                    success: true,
                    duration_ms: *duration_ms,
                    error: None,
                }
                .emit();
            });
        }
    });

    // The collector forwards a metrics export whose histogram has them all.
    receiver.wait_for("metrics with every exemplar", Duration::from_secs(30), |received| {
        metric_requests(received)
            .iter()
            .any(|r| histogram_exemplars(r, HISTOGRAM).len() >= DURATIONS_MS.len())
    });
    telemetry.shutdown(Duration::from_secs(10));
    let requests = metric_requests(&receiver.received());
    let exemplars = requests
        .iter()
        .map(|r| histogram_exemplars(r, HISTOGRAM))
        .find(|e| e.len() >= DURATIONS_MS.len())
        .expect("waited for it");
    assert_eq!(
        exemplars.len(),
        DURATIONS_MS.len(),
        "one per bucket hit: {exemplars:#?}"
    );

    // Every exemplar names a span the collector received, with its correlation id.
    let step_spans = |received: &[otlp_receiver::Received]| -> Vec<_> {
        received
            .iter()
            .filter(|r| r.path.contains("TraceService") || r.path.ends_with("/v1/traces"))
            .flat_map(|r| decode::<ExportTraceServiceRequest>(r).resource_spans)
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .filter(|s| s.name == "step")
            .collect()
    };
    // A forwarding collector may still be passing them on.
    let received = receiver.wait_for("every step span", Duration::from_secs(30), |received| {
        step_spans(received).len() >= DURATIONS_MS.len()
    });
    let spans: BTreeMap<(Vec<u8>, Vec<u8>), String> = step_spans(&received)
        .into_iter()
        .map(|s| {
            let id = string_attribute(&s.attributes, "aureus.correlation_id")
                .expect("the span's correlation id")
                .to_owned();
            ((s.trace_id, s.span_id), id)
        })
        .collect();
    assert_eq!(spans.len(), DURATIONS_MS.len(), "every step span arrived");
    let mut values = Vec::new();
    for exemplar in &exemplars {
        assert_eq!(exemplar.trace_id.len(), 16, "{exemplar:?}");
        assert_eq!(exemplar.span_id.len(), 8, "{exemplar:?}");
        let correlation_id = spans
            .get(&(exemplar.trace_id.clone(), exemplar.span_id.clone()))
            .unwrap_or_else(|| panic!("no span for {exemplar:?} at the collector"));
        assert_eq!(
            string_attribute(&exemplar.filtered_attributes, "aureus.correlation_id"),
            Some(correlation_id.as_str()),
            "{exemplar:?}"
        );
        assert!(exemplar.time_unix_nano > 0, "{exemplar:?}");
        match exemplar.value {
            Some(exemplar::Value::AsDouble(v)) => values.push(v),
            ref other => panic!("a double value, not {other:?}"),
        }
    }
    values.sort_by(f64::total_cmp);
    let expected: Vec<f64> = DURATIONS_MS.iter().map(|d| *d as f64).collect();
    assert_eq!(values, expected);
}

/// `otlp.metrics.temporality = "delta"` (or its variable) applies to every
/// protocol alike, our gRPC client included: histogram points are Delta,
/// and each exemplar goes out once — in the export after its observation,
/// not again in the next one.
#[test]
fn delta_temporality_is_asked_for_on_every_protocol_and_exemplars_go_out_once() {
    use aureus_observability::config::MetricTemporality;
    use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
    const HISTOGRAM: &str = "aureus_task_duration_ms";
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf, OtlpProtocol::HttpJson] {
        let receiver = otlp_receiver::OtlpReceiver::start();
        let endpoint = match protocol {
            OtlpProtocol::Grpc => receiver.endpoint(),
            _ => format!("{}/v1/metrics", receiver.endpoint()),
        };
        let mut otlp = OtlpConfig {
            enabled: true,
            endpoint: Some(receiver.endpoint()),
            protocol: Some(protocol),
            ..OtlpConfig::default()
        };
        otlp.traces.enabled = false;
        otlp.logs.enabled = false;
        otlp.metrics.endpoint = Some(endpoint);
        otlp.metrics.interval = Some("60s".into());
        otlp.metrics.temporality = Some(MetricTemporality::Delta);
        let mut config = Config::builder()
            .service_name("aureus-delta")
            .no_server()
            .no_sinks()
            .no_monitoring()
            .otlp(otlp)
            .build()
            .expect("valid config");
        config.metrics.global_recorder = GlobalRecorder::Off;
        let (dispatch, telemetry) = aureus_observability::build(config).expect("stack builds");
        tracing::dispatcher::with_default(&dispatch, || {
            aureus_observability::correlation::scope(
                aureus_observability::CorrelationId::new("run-delta").unwrap(),
                || {
                    event::StepEnd {
                        workflow_id: "wf-delta",
                        task_id: "t",
                        task_type: "action",
                        success: true,
                        duration_ms: 40,
                        error: None,
                    }
                    .emit();
                },
            );
        });
        assert!(telemetry.flush(Duration::from_secs(10)), "{protocol:?}");
        assert!(telemetry.flush(Duration::from_secs(10)), "{protocol:?}");
        let requests = metric_requests(&receiver.received());
        assert_eq!(requests.len(), 2, "{protocol:?}: two exports");
        let histogram = |request: &ExportMetricsServiceRequest| {
            request
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .find(|m| m.name == HISTOGRAM)
                .and_then(|m| match &m.data {
                    Some(metric::Data::Histogram(h)) => Some(h.clone()),
                    _ => None,
                })
        };
        let first = histogram(&requests[0]).expect("the histogram in the first export");
        assert_eq!(
            first.aggregation_temporality,
            AggregationTemporality::Delta as i32,
            "{protocol:?}"
        );
        assert_eq!(histogram_exemplars(&requests[0], HISTOGRAM).len(), 1, "{protocol:?}");
        // Nothing observed since: no point (delta), and no exemplar again.
        assert!(
            histogram_exemplars(&requests[1], HISTOGRAM).is_empty(),
            "{protocol:?}: {:?}",
            histogram(&requests[1])
        );
        drop(dispatch);
        telemetry.shutdown(Duration::from_secs(5));
    }
}

/// A correlation id the redaction configuration would hide — one a
/// `redaction.patterns` entry matches, as on spans, or any when
/// `correlation_id` is a sensitive field — stays out of the exemplars, on
/// `/metrics` and over OTLP; the exemplar keeps its trace and span ids.
#[test]
fn exemplars_never_show_a_correlation_id_the_redaction_would_hide() {
    use aureus_observability::config::RedactionConfig;
    const HISTOGRAM: &str = "aureus_task_duration_ms";
    for (fields, shown) in [(vec![], true), (vec!["correlation_id".to_owned()], false)] {
        let receiver = otlp_receiver::OtlpReceiver::start();
        let mut otlp = OtlpConfig {
            enabled: true,
            endpoint: Some(receiver.endpoint()),
            protocol: Some(OtlpProtocol::Grpc),
            ..OtlpConfig::default()
        };
        otlp.logs.enabled = false;
        otlp.metrics.interval = Some("60s".into());
        let mut config = Config::builder()
            .service_name("aureus-exemplar-redaction")
            .no_server()
            .no_sinks()
            .no_monitoring()
            .otlp(otlp)
            .build()
            .expect("valid config");
        config.metrics.global_recorder = GlobalRecorder::Off;
        config.redaction = RedactionConfig {
            fields,
            patterns: vec![r"wf-secret-[0-9]+".into()],
        };
        let (dispatch, telemetry) = aureus_observability::build(config).expect("stack builds");
        tracing::dispatcher::with_default(&dispatch, || {
            for (correlation_id, duration_ms) in [("wf-secret-42", 3), ("run-public-1", 700)] {
                let span = tracing::info_span!("step", correlation_id = correlation_id);
                span.in_scope(|| {
                    event::StepEnd {
                        workflow_id: "wf",
                        task_id: "t",
                        task_type: "action",
                        success: true,
                        duration_ms,
                        error: None,
                    }
                    .emit();
                });
            }
        });
        let text = telemetry
            .metrics()
            .expect("metrics on")
            .render_as(ExpositionFormat::OpenMetrics);
        let exemplar_lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(HISTOGRAM) && l.contains(" # {"))
            .collect();
        assert_eq!(exemplar_lines.len(), 2, "both keep trace and span: {text}");
        assert!(exemplar_lines.iter().all(|l| l.contains("trace_id=\"")), "{text}");
        assert!(!text.contains("wf-secret-42"), "{text}");
        assert_eq!(text.contains("correlation_id=\"run-public-1\""), shown, "{text}");

        assert!(telemetry.flush(Duration::from_secs(10)));
        let requests = metric_requests(&receiver.received());
        let exemplars = requests
            .iter()
            .map(|r| histogram_exemplars(r, HISTOGRAM))
            .find(|e| !e.is_empty())
            .expect("exemplars over OTLP");
        assert_eq!(exemplars.len(), 2, "{exemplars:#?}");
        assert!(exemplars.iter().all(|e| e.trace_id.len() == 16), "{exemplars:#?}");
        let ids: Vec<&str> = exemplars
            .iter()
            .filter_map(|e| string_attribute(&e.filtered_attributes, "aureus.correlation_id"))
            .collect();
        assert_eq!(ids, if shown { vec!["run-public-1"] } else { vec![] }, "{exemplars:#?}");
        drop(dispatch);
        telemetry.shutdown(Duration::from_secs(5));
    }
}
