//! Entry points for the fuzz targets in `fuzz/` (and the bad-input tests):
//! crate-private parsers and encoders, reachable from outside the crate.
//! Not a stable API.

use std::sync::Arc;

use crate::record::Record;

/// Every environment variable `Config::apply_env` reads, except those that
/// name files to read (`*_CERTIFICATE`), which a fuzzer should not pick.
pub fn env_variables() -> Vec<&'static str> {
    crate::config::env_variables()
        .filter(|name| !name.ends_with("_CERTIFICATE"))
        .collect()
}

/// Parses and checks an API request target (e.g.
/// `/api/monitoring/events?limit=5&startTime=0`) as the server does: `Err`
/// carries the message a client would get with its 400.
pub fn api_request(path_and_query: &str) -> Result<(), String> {
    crate::server::params::parse_request(path_and_query).map_err(|err| err.0)
}

/// The request bodies the `otlp` log sink sends for `batch` over
/// HTTP/protobuf (`json` false) or HTTP/JSON (`json` true).
pub fn otlp_log_bodies(batch: &[Arc<Record>], json: bool) -> Result<Vec<Vec<u8>>, String> {
    OtlpLogEncoder::new(json)?.encode(batch)
}

/// The `otlp` log sink with its real HTTP exporter, keeping each request
/// body instead of sending it (build once, encode many batches).
pub struct OtlpLogEncoder(crate::otlp::capture::CapturingLogSink);

impl OtlpLogEncoder {
    /// HTTP/protobuf when `json` is false, else HTTP/JSON.
    pub fn new(json: bool) -> Result<Self, String> {
        crate::otlp::capture::CapturingLogSink::new(json).map(OtlpLogEncoder)
    }

    /// HTTP/protobuf encoded by the SDK's own conversion (opentelemetry-proto)
    /// instead of the direct encoder: the reference the direct one is checked against.
    pub fn sdk() -> Result<Self, String> {
        crate::otlp::capture::CapturingLogSink::build(false, false).map(OtlpLogEncoder)
    }

    /// The request bodies sent for `batch`.
    pub fn encode(&mut self, batch: &[Arc<Record>]) -> Result<Vec<Vec<u8>>, String> {
        self.0.encode(batch)
    }
}

impl std::fmt::Debug for OtlpLogEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OtlpLogEncoder")
    }
}
