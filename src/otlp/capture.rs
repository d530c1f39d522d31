//! OTLP log payloads encoded in memory: the real `otlp` log sink and HTTP
//! exporter, with an HTTP client that keeps each request body instead of
//! sending it. Used by the encoder fuzz target (`fuzz/`) and tests.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{Request, Response};
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};

use super::logs::OtlpLogSink;
use super::prepared::{PreparedBody, PreparedClient};
use super::stats::ExportStats;
use super::transport::ExportRuntime;
use crate::record::Record;
use crate::sinks::Sink;

/// Keeps the bodies it is asked to send; answers 200 with an empty body.
#[derive(Debug, Clone, Default)]
struct Capture(Arc<Mutex<Vec<Vec<u8>>>>);

#[async_trait::async_trait]
impl HttpClient for Capture {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request.into_body().to_vec());
        Ok(Response::builder().status(200).body(Bytes::new())?)
    }
}

/// The `otlp` log sink on an exporter whose requests are kept, not sent.
pub(crate) struct CapturingLogSink {
    sink: OtlpLogSink<opentelemetry_otlp::LogExporter>,
    capture: Capture,
}

impl CapturingLogSink {
    /// HTTP/protobuf when `json` is false (encoded directly from the
    /// records, as the `otlp` sink does), else HTTP/JSON.
    pub(crate) fn new(json: bool) -> Result<Self, String> {
        Self::build(json, !json)
    }

    /// Like [`new`](Self::new); `direct` chooses our own protobuf encoding
    /// over the SDK's (protobuf only).
    pub(crate) fn build(json: bool, direct: bool) -> Result<Self, String> {
        let capture = Capture::default();
        let body = PreparedBody::default();
        let exporter = opentelemetry_otlp::LogExporter::builder()
            .with_http()
            .with_protocol(if json { Protocol::HttpJson } else { Protocol::HttpBinary })
            .with_endpoint("http://127.0.0.1:9/v1/logs")
            .with_http_client(PreparedClient::new(capture.clone(), body.clone()))
            .build()
            .map_err(|err| err.to_string())?;
        let runtime = Arc::new(ExportRuntime::for_signals([]).map_err(|err| err.to_string())?);
        let resource = opentelemetry_sdk::Resource::builder_empty()
            .with_service_name("aureus-fuzz")
            .build();
        let mut sink = OtlpLogSink::new(
            exporter,
            &resource,
            runtime,
            Arc::new(ExportStats::default()),
            crate::config::ContentCapture::All,
        );
        if direct && !json {
            sink = sink.encoding_directly(body, &resource);
        }
        Ok(CapturingLogSink { sink, capture })
    }

    /// The request bodies the sink sends for `batch`. Errors are the sink's own.
    pub(crate) fn encode(&mut self, batch: &[Arc<Record>]) -> Result<Vec<Vec<u8>>, String> {
        self.sink.write(batch).map_err(|err| err.to_string())?;
        Ok(std::mem::take(
            &mut *self.capture.0.lock().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}
