//! Builds one exporter per signal from its settings: gRPC (tonic) or HTTP
//! (protobuf / JSON) with headers, gzip, timeout, TLS (custom CA) and retry.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use opentelemetry_otlp::{Compression, Protocol, RetryPolicy, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::metrics::Temporality;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::exemplars::Exemplars;
use super::grpc_metrics::GrpcMetricExporter;
use super::http_client::UreqClient;
use super::metric_export::{MetricExporter, WithExemplars};
use super::partial::Rejections;
use super::prepared::{PreparedBody, PreparedClient};
use crate::config::{OtlpProtocol, ValidatedRetry, ValidatedSignal};
use crate::error::{Error, Result};

/// Where exports run. gRPC channels need a tokio runtime that lives until
/// the exporters are shut down; HTTP exports are plain blocking calls.
pub(crate) struct ExportRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for ExportRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportRuntime")
            .field("tokio", &self.runtime.is_some())
            .finish()
    }
}

impl ExportRuntime {
    /// A runtime with one worker thread when any signal uses gRPC.
    pub(crate) fn for_signals<'a>(signals: impl IntoIterator<Item = &'a ValidatedSignal>) -> Result<Self> {
        let grpc = signals.into_iter().any(|s| s.protocol == OtlpProtocol::Grpc);
        let runtime = if grpc {
            Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("aureus-otlp-grpc")
                    .on_thread_start(crate::pipeline::mark_worker_thread)
                    .enable_all()
                    .build()
                    .map_err(|source| Error::Worker {
                        sink: "otlp-grpc".to_owned(),
                        source,
                    })?,
            )
        } else {
            None
        };
        Ok(ExportRuntime { runtime })
    }

    /// Runs an export to completion on the calling (non-async) thread.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.runtime {
            Some(runtime) => runtime.block_on(future),
            None => futures_executor::block_on(future),
        }
    }

    fn enter(&self) -> Option<tokio::runtime::EnterGuard<'_>> {
        self.runtime.as_ref().map(|r| r.enter())
    }

    /// Awaits `future`, on the gRPC runtime when there is one (from inside
    /// another executor's `block_on`, e.g. the SDK's metric reader thread).
    pub(crate) async fn run_nested<F: Future>(&self, future: F) -> F::Output {
        match &self.runtime {
            Some(runtime) => runtime.block_on(future),
            None => future.await,
        }
    }

    /// Ends the runtime without waiting for tasks still running.
    pub(crate) fn shutdown(self) {
        if let Some(runtime) = self.runtime {
            runtime.shutdown_background();
        }
    }
}

fn retry_policy(retry: &ValidatedRetry) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_retries(retry.max_retries)
        .with_initial_delay(retry.initial_delay)
        .with_max_delay(retry.max_delay)
        .with_max_jitter(retry.max_jitter)
}

fn key(signal: &ValidatedSignal) -> String {
    format!("otlp.{}", signal.signal.as_str())
}

fn metadata(signal: &ValidatedSignal) -> Result<MetadataMap> {
    let mut map = MetadataMap::new();
    for (name, value) in &signal.headers {
        let bad = |reason: &str| Error::config(format!("{}.headers.{name}", key(signal)), name, reason.to_owned());
        let name = MetadataKey::from_bytes(name.as_bytes()).map_err(|_| bad("not a valid gRPC metadata key"))?;
        let value = MetadataValue::try_from(value.as_str()).map_err(|_| bad("not a valid gRPC metadata value"))?;
        map.insert(name, value);
    }
    Ok(map)
}

fn tls_config(signal: &ValidatedSignal) -> Result<ClientTlsConfig> {
    let uri: http::Uri = signal
        .endpoint
        .parse()
        .map_err(|_| Error::config(key(signal), &signal.endpoint, "not a URL"))?;
    let mut tls = ClientTlsConfig::new().domain_name(uri.host().unwrap_or_default().to_owned());
    tls = match &signal.ca_pem {
        Some(pem) => tls.ca_certificate(Certificate::from_pem(pem)),
        None => tls.with_webpki_roots(),
    };
    Ok(tls)
}

fn http_protocol(protocol: OtlpProtocol) -> Protocol {
    match protocol {
        OtlpProtocol::HttpJson => Protocol::HttpJson,
        _ => Protocol::HttpBinary,
    }
}

/// Builds `$exporter` (SpanExporter, LogExporter or MetricExporter) for `$signal`.
macro_rules! build_exporter {
    ($exporter:ty, $builder:expr, $signal:expr, $retry:expr, $runtime:expr, $client:expr) => {{
        let signal: &ValidatedSignal = $signal;
        let built = match signal.protocol {
            OtlpProtocol::Grpc => {
                let mut builder = $builder
                    .with_tonic()
                    .with_endpoint(signal.endpoint.clone())
                    .with_timeout(signal.timeout)
                    .with_metadata(metadata(signal)?)
                    .with_retry_policy(retry_policy($retry));
                if signal.gzip {
                    builder = builder.with_compression(Compression::Gzip);
                }
                if signal.tls {
                    builder = builder.with_tls_config(tls_config(signal)?);
                }
                let _context = $runtime.enter();
                builder.build()
            }
            OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => {
                let client = UreqClient::new(&key(signal), signal.timeout, signal.ca_pem.as_deref())?;
                let headers: HashMap<String, String> = signal.headers.iter().cloned().collect();
                let mut builder = $builder
                    .with_http()
                    .with_protocol(http_protocol(signal.protocol))
                    .with_endpoint(signal.endpoint.clone())
                    .with_timeout(signal.timeout)
                    .with_http_client($client(client))
                    .with_headers(headers)
                    .with_retry_policy(retry_policy($retry));
                if signal.gzip {
                    builder = builder.with_compression(Compression::Gzip);
                }
                builder.build()
            }
        };
        built.map_err(|err| {
            Error::config(
                key(signal),
                &signal.endpoint,
                format!("cannot build the exporter: {err}"),
            )
        })
    }};
}

/// The span exporter, and for HTTP/protobuf the [`PreparedBody`] its client
/// sends in place of the exporter's own (see [`super::prepared`]).
pub(crate) fn span_exporter(
    signal: &ValidatedSignal,
    retry: &ValidatedRetry,
    runtime: &ExportRuntime,
    rejections: Rejections,
) -> Result<(opentelemetry_otlp::SpanExporter, Option<PreparedBody>)> {
    let prepared = (signal.protocol == OtlpProtocol::HttpProtobuf).then(PreparedBody::default);
    let body = prepared.clone().unwrap_or_default();
    let exporter = build_exporter!(
        opentelemetry_otlp::SpanExporter,
        opentelemetry_otlp::SpanExporter::builder(),
        signal,
        retry,
        runtime,
        |client| PreparedClient::new(client, body).counting_rejections(rejections)
    )?;
    Ok((exporter, prepared))
}

/// The log exporter, and for HTTP/protobuf the [`PreparedBody`] its client
/// sends in place of the exporter's own (see [`super::prepared`]).
pub(crate) fn log_exporter(
    signal: &ValidatedSignal,
    retry: &ValidatedRetry,
    runtime: &ExportRuntime,
    rejections: Rejections,
) -> Result<(opentelemetry_otlp::LogExporter, Option<PreparedBody>)> {
    let prepared = (signal.protocol == OtlpProtocol::HttpProtobuf).then(PreparedBody::default);
    let body = prepared.clone().unwrap_or_default();
    let exporter = build_exporter!(
        opentelemetry_otlp::LogExporter,
        opentelemetry_otlp::LogExporter::builder(),
        signal,
        retry,
        runtime,
        |client| PreparedClient::new(client, body).counting_rejections(rejections)
    )?;
    Ok((exporter, prepared))
}

/// The metric exporter, carrying the histogram exemplars kept in
/// `exemplars`: over HTTP (protobuf or JSON) opentelemetry-otlp's, with the
/// [`PreparedBody`] its client sends in place of its own (the same data
/// with exemplars, see [`super::exemplars`]); over gRPC our own
/// ([`GrpcMetricExporter`]) on a channel built like the other signals'.
pub(crate) fn metric_exporter(
    signal: &ValidatedSignal,
    retry: &ValidatedRetry,
    runtime: &ExportRuntime,
    exemplars: Arc<Exemplars>,
    temporality: Temporality,
    rejections: Rejections,
) -> Result<MetricExporter> {
    if signal.protocol == OtlpProtocol::Grpc {
        let channel = grpc_channel(signal, runtime)?;
        return Ok(MetricExporter::Grpc(GrpcMetricExporter::new(
            channel,
            metadata(signal)?,
            signal.gzip,
            signal.timeout,
            *retry,
            exemplars,
            temporality,
            rejections,
        )));
    }
    let body = PreparedBody::default();
    let prepared = body.clone();
    // Set explicitly: the exporter would otherwise read the process
    // environment itself, and only over HTTP.
    let exporter = build_exporter!(
        opentelemetry_otlp::MetricExporter,
        opentelemetry_otlp::MetricExporter::builder().with_temporality(temporality),
        signal,
        retry,
        runtime,
        |client| PreparedClient::new(client, prepared).counting_rejections(rejections)
    )?;
    Ok(MetricExporter::Http {
        exporter,
        with: WithExemplars {
            body,
            exemplars,
            json: signal.protocol == OtlpProtocol::HttpJson,
        },
    })
}

/// A lazily connecting tonic channel to `signal`'s endpoint, with its TLS
/// settings and per-call timeout (as opentelemetry-otlp builds its own).
pub(crate) fn grpc_channel(signal: &ValidatedSignal, runtime: &ExportRuntime) -> Result<Channel> {
    let bad = |err: &dyn std::fmt::Display| {
        Error::config(
            key(signal),
            &signal.endpoint,
            format!("cannot build the exporter: {err}"),
        )
    };
    let mut endpoint = Endpoint::from_shared(signal.endpoint.clone()).map_err(|err| bad(&err))?;
    if signal.tls {
        endpoint = endpoint.tls_config(tls_config(signal)?).map_err(|err| bad(&err))?;
    }
    let _context = runtime.enter();
    Ok(endpoint.timeout(signal.timeout).connect_lazy())
}
