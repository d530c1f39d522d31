//! OTLP partial success: a collector that accepts an export may still
//! reject part of it, saying so in the response's `partial_success`
//! (`rejected_log_records`, `rejected_spans`, `rejected_data_points`, and
//! an `error_message`), as the OTLP specification describes
//! (<https://opentelemetry.io/docs/specs/otlp/#partial-success>). The
//! specification forbids retrying such an export; the rejected items are
//! lost, so they are counted ([`ExportStats::rejected`], the self-metric
//! `<prefix>_telemetry_otlp_rejected_total{signal}`) and the collector's
//! message is logged as a warning under the `opentelemetry_otlp` target.
//!
//! Read from every OTLP/HTTP response (protobuf or JSON, all three
//! signals) and from the gRPC metrics client's answers. Spans and log
//! records over gRPC go through opentelemetry-otlp's tonic exporters,
//! which keep the response to themselves (they only log it).

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;

use super::stats::ExportStats;

pub(crate) use crate::config::Signal;

/// The response's count field of `signal`, in OTLP/JSON (lowerCamelCase)
/// and proto names.
fn count_keys(signal: Signal) -> [&'static str; 2] {
    match signal {
        Signal::Traces => ["rejectedSpans", "rejected_spans"],
        Signal::Logs => ["rejectedLogRecords", "rejected_log_records"],
        Signal::Metrics => ["rejectedDataPoints", "rejected_data_points"],
    }
}

/// What a response's `partial_success` says: items rejected (negative
/// counts read as 0) and the collector's message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PartialSuccess {
    pub(crate) rejected: u64,
    pub(crate) message: String,
}

/// The `partial_success` of an OTLP/HTTP success response `body` of
/// `signal` (OTLP/JSON when `json`, else protobuf); `None` when the body
/// holds none or is not an OTLP response.
pub(crate) fn read(signal: Signal, json: bool, body: &[u8]) -> Option<PartialSuccess> {
    if body.is_empty() {
        return None;
    }
    if json {
        return read_json(signal, body);
    }
    let (rejected, message) = match signal {
        Signal::Traces => {
            let partial = ExportTraceServiceResponse::decode(body).ok()?.partial_success?;
            (partial.rejected_spans, partial.error_message)
        }
        Signal::Logs => {
            let partial = ExportLogsServiceResponse::decode(body).ok()?.partial_success?;
            (partial.rejected_log_records, partial.error_message)
        }
        Signal::Metrics => {
            let partial = ExportMetricsServiceResponse::decode(body).ok()?.partial_success?;
            (partial.rejected_data_points, partial.error_message)
        }
    };
    Some(PartialSuccess {
        rejected: u64::try_from(rejected).unwrap_or(0),
        message,
    })
}

/// OTLP/JSON: int64 counts may be numbers or decimal strings.
fn read_json(signal: Signal, body: &[u8]) -> Option<PartialSuccess> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let partial = value.get("partialSuccess").or_else(|| value.get("partial_success"))?;
    let rejected = count_keys(signal)
        .iter()
        .find_map(|key| partial.get(*key))
        .and_then(|count| match count {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        })
        .unwrap_or(0);
    let message = ["errorMessage", "error_message"]
        .iter()
        .find_map(|key| partial.get(*key))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some(PartialSuccess { rejected, message })
}

/// Counts the rejected items of one signal's successful exports.
#[derive(Debug, Clone)]
pub(crate) struct Rejections {
    pub(crate) signal: Signal,
    pub(crate) stats: Arc<ExportStats>,
}

impl Rejections {
    /// Counts and logs what `partial` says, when it says anything.
    pub(crate) fn record(&self, partial: &PartialSuccess) {
        if partial.rejected == 0 && partial.message.is_empty() {
            return;
        }
        self.stats.rejected(partial.rejected);
        tracing::warn!(
            target: "opentelemetry_otlp",
            signal = self.signal.as_str(),
            rejected = partial.rejected,
            error_message = partial.message.as_str(),
            "the collector accepted the export in part"
        );
    }

    /// Reads and records the `partial_success` of a success response `body`.
    pub(crate) fn observe(&self, json: bool, body: &[u8]) {
        if let Some(partial) = read(self.signal, json, body) {
            self.record(&partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;

    use super::*;

    #[test]
    fn protobuf_responses_of_each_signal() {
        let body = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "too old".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            read(Signal::Traces, false, &body),
            Some(PartialSuccess {
                rejected: 3,
                message: "too old".into()
            })
        );
        let body = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: -4,
                error_message: String::new(),
            }),
        }
        .encode_to_vec();
        assert_eq!(read(Signal::Logs, false, &body).map(|p| p.rejected), Some(0));
        assert_eq!(read(Signal::Metrics, false, &[]), None);
        assert_eq!(read(Signal::Metrics, false, &[0xff, 0xfe, 0x01]), None);
    }

    #[test]
    fn json_responses_take_numbers_or_strings() {
        let read_json = |body: &str| read(Signal::Logs, true, body.as_bytes());
        assert_eq!(
            read_json(r#"{"partialSuccess":{"rejectedLogRecords":"7","errorMessage":"quota"}}"#),
            Some(PartialSuccess {
                rejected: 7,
                message: "quota".into()
            })
        );
        assert_eq!(
            read_json(r#"{"partialSuccess":{"rejectedLogRecords":2}}"#).map(|p| p.rejected),
            Some(2)
        );
        assert_eq!(read_json("{}"), None);
        assert_eq!(read_json("not json"), None);
        assert_eq!(
            read(
                Signal::Metrics,
                true,
                br#"{"partial_success":{"rejected_data_points":5}}"#
            )
            .map(|p| p.rejected),
            Some(5)
        );
    }

    #[test]
    fn only_a_partial_success_that_says_something_is_counted() {
        let stats = Arc::new(ExportStats::default());
        let rejections = Rejections {
            signal: Signal::Traces,
            stats: Arc::clone(&stats),
        };
        rejections.record(&PartialSuccess::default());
        rejections.record(&PartialSuccess {
            rejected: 2,
            message: String::new(),
        });
        assert_eq!(stats.snapshot().rejected, 2);
    }
}
