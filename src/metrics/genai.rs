//! [`GenAiMetrics`]: `llm_response` events → the OpenTelemetry GenAI client
//! metrics and the cost counter.
//!
//! | `/metrics` (OTLP name) | type | labels (OTLP attributes) | from |
//! | --- | --- | --- | --- |
//! | `gen_ai_client_token_usage` (`gen_ai.client.token.usage`, unit `{token}`) | histogram | `gen_ai_operation_name`, `gen_ai_provider_name`, `gen_ai_request_model`, `gen_ai_token_type` (`input` / `output`) | `input_tokens`, `output_tokens` |
//! | `gen_ai_client_operation_duration_seconds` (`gen_ai.client.operation.duration`, unit `s`) | histogram | `gen_ai_operation_name`, `gen_ai_provider_name`, `gen_ai_request_model`, `error_type` (only on failed calls) | `duration_ms` / 1000 |
//! | `<prefix>_llm_cost_usd_total` | counter (fractional) | `model` | `cost_usd` |
//!
//! Buckets are the conventions' explicit boundaries
//! ([`semconv::metric`](crate::event::semconv::metric)). The operation is
//! `chat`; a missing provider or model reads `unknown`. Label sets past the
//! cardinality limit fold into `other` (counted), as everywhere else. The
//! fields are read by the one rule of [`usage`]: values it refuses are
//! counted in `<prefix>_telemetry_refused_values_total{field="llm_response.<field>", reason}`.

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, Label, Recorder};

use super::contract::{label, MetricNames, MISSING_LABEL_VALUE, OVERFLOW_LABEL_VALUE};
use super::family::Family;
use crate::event::semconv::{metric, operation};
use crate::event::usage::{self, Refusal};
use crate::event::{fields, EventKind};
use crate::record::Record;

static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new("aureus::gen_ai", metrics::Level::INFO, Some(module_path!()));

/// Ends the byte length that prefixes each label value inside one family
/// key (`<len>:<value>` per part): a value may hold any character, the
/// separator included, and still split back exactly.
const SEPARATOR: char = ':';

/// Handles of one (provider, model): token histograms by type, and the
/// duration of successful calls.
#[derive(Clone)]
struct CallHandles {
    /// `[input, output]`.
    tokens: [Histogram; 2],
    duration: Histogram,
}

/// The GenAI client metrics and the cost counter (see the module docs).
pub(crate) struct GenAiMetrics {
    calls: Family<CallHandles>,
    /// Durations of failed calls, keyed by provider, model and error type.
    failed: Family<Histogram>,
    cost: Family<Gauge>,
    /// `refused_values{field, reason}` for `llm_response.duration_ms`,
    /// `cost_usd`, `input_tokens` and `output_tokens`: `[nan, infinite, negative]`.
    refused_duration: [Counter; 3],
    refused_cost: [Counter; 3],
    refused_tokens: [[Counter; 3]; 2],
}

impl std::fmt::Debug for GenAiMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenAiMetrics").finish_non_exhaustive()
    }
}

/// `(provider, model[, error])` from a family key (`other` past the limit).
fn parts(key: &str) -> [&str; 3] {
    if key == OVERFLOW_LABEL_VALUE {
        return [OVERFLOW_LABEL_VALUE; 3];
    }
    let mut out = [MISSING_LABEL_VALUE; 3];
    let mut rest = key;
    for part in out.iter_mut() {
        let Some((len, tail)) = rest.split_once(SEPARATOR) else {
            break;
        };
        let Some(value) = len.parse::<usize>().ok().and_then(|len| tail.get(..len)) else {
            break;
        };
        *part = value;
        rest = &tail[value.len()..];
    }
    out
}

fn call_labels(provider: &str, model: &str) -> Vec<Label> {
    vec![
        Label::new(label::GEN_AI_OPERATION_NAME, operation::CHAT),
        Label::new(label::GEN_AI_PROVIDER_NAME, provider.to_owned()),
        Label::new(label::GEN_AI_REQUEST_MODEL, model.to_owned()),
    ]
}

impl GenAiMetrics {
    /// Registers the histograms and the cost counter with `recorder`.
    pub(crate) fn new(recorder: Arc<dyn Recorder + Send + Sync>, names: &MetricNames, series_limit: usize) -> Self {
        recorder.describe_histogram(
            metric::TOKEN_USAGE_PROMETHEUS.into(),
            None,
            "Number of input and output tokens used (OpenTelemetry GenAI gen_ai.client.token.usage).".into(),
        );
        recorder.describe_histogram(
            metric::OPERATION_DURATION_PROMETHEUS.into(),
            None,
            "GenAI operation duration in seconds (OpenTelemetry GenAI gen_ai.client.operation.duration).".into(),
        );
        let overflow = |metric: &str| {
            recorder.register_counter(
                &Key::from_parts(
                    names.cardinality_overflow.clone(),
                    vec![Label::new(label::METRIC, metric.to_owned())],
                ),
                &METADATA,
            )
        };
        let calls = {
            let recorder = Arc::clone(&recorder);
            Family::new(
                series_limit / 2,
                overflow(metric::TOKEN_USAGE_PROMETHEUS),
                Box::new(move |key: &str| {
                    let [provider, model, _] = parts(key);
                    let tokens = ["input", "output"].map(|kind| {
                        let mut labels = call_labels(provider, model);
                        labels.push(Label::new(label::GEN_AI_TOKEN_TYPE, kind));
                        recorder.register_histogram(&Key::from_parts(metric::TOKEN_USAGE_PROMETHEUS, labels), &METADATA)
                    });
                    let duration = recorder.register_histogram(
                        &Key::from_parts(metric::OPERATION_DURATION_PROMETHEUS, call_labels(provider, model)),
                        &METADATA,
                    );
                    CallHandles { tokens, duration }
                }),
            )
        };
        let failed = {
            let recorder = Arc::clone(&recorder);
            Family::new(
                series_limit / 2,
                overflow(metric::OPERATION_DURATION_PROMETHEUS),
                Box::new(move |key: &str| {
                    let [provider, model, error] = parts(key);
                    let mut labels = call_labels(provider, model);
                    labels.push(Label::new(label::ERROR_TYPE, error.to_owned()));
                    recorder.register_histogram(
                        &Key::from_parts(metric::OPERATION_DURATION_PROMETHEUS, labels),
                        &METADATA,
                    )
                }),
            )
        };
        let cost = {
            let (recorder, name) = (Arc::clone(&recorder), names.llm_cost.clone());
            Family::new(
                series_limit,
                overflow(&names.llm_cost),
                Box::new(move |model: &str| {
                    recorder.register_gauge(
                        &Key::from_parts(name.clone(), vec![Label::new(label::MODEL, model.to_owned())]),
                        &METADATA,
                    )
                }),
            )
        };
        let refused = |field: &'static str| {
            Refusal::REASONS.map(|reason| {
                recorder.register_counter(
                    &Key::from_parts(
                        names.refused_values.clone(),
                        vec![Label::new(label::FIELD, field), Label::new(label::REASON, reason)],
                    ),
                    &METADATA,
                )
            })
        };
        GenAiMetrics {
            calls,
            failed,
            cost,
            refused_duration: refused("llm_response.duration_ms"),
            refused_cost: refused("llm_response.cost_usd"),
            refused_tokens: [
                refused("llm_response.input_tokens"),
                refused("llm_response.output_tokens"),
            ],
        }
    }

    /// Records an `llm_response` record's tokens, duration and cost, read
    /// by the one rule of [`usage`] (refused values counted).
    pub(crate) fn observe(&self, record: &Record) {
        if record.kind != Some(EventKind::LlmResponse) {
            return;
        }
        let text = |name: &str| record.str_field(name).filter(|v| !v.is_empty());
        let provider = text(fields::PROVIDER).unwrap_or(MISSING_LABEL_VALUE);
        let model = text(fields::MODEL).unwrap_or(MISSING_LABEL_VALUE);
        let mut tokens = [None; 2];
        for (i, name) in [fields::INPUT_TOKENS, fields::OUTPUT_TOKENS].into_iter().enumerate() {
            match usage::token_count(record, name) {
                Ok(count) => tokens[i] = count,
                Err(reason) => self.refused_tokens[i][reason as usize].increment(1),
            }
        }
        let duration = match usage::amount(record, fields::DURATION_MS) {
            Ok(ms) => ms.map(|ms| ms / 1000.0),
            Err(reason) => {
                self.refused_duration[reason as usize].increment(1);
                None
            }
        };
        // Tokens a call reports count whether or not it failed (a failed
        // call can still be billed: its cost counts, so its tokens do too);
        // the duration goes to the failed series when it carries `error_type`.
        let error = usage::error_type(record);
        let success_duration = duration.filter(|_| error.is_none());
        if tokens.iter().any(Option::is_some) || success_duration.is_some() {
            with_key(&[provider, model], |key| {
                self.calls.with(key, |handles| {
                    for (histogram, count) in handles.tokens.iter().zip(tokens) {
                        if let Some(count) = count {
                            histogram.record(count as f64);
                        }
                    }
                    if let Some(seconds) = success_duration {
                        handles.duration.record(seconds);
                    }
                })
            });
        }
        if let (Some(error), Some(seconds)) = (error.as_deref(), duration) {
            with_key(&[provider, model, error], |key| {
                self.failed.with(key, |histogram| histogram.record(seconds))
            });
        }
        match usage::amount(record, fields::COST_USD) {
            Ok(Some(cost)) => self.cost.with(model, |counter| counter.increment(cost)),
            Ok(None) => {}
            Err(reason) => self.refused_cost[reason as usize].increment(1),
        }
    }
}

/// Runs `f` with the family key of `parts` (each as `<byte length>:<value>`,
/// see [`SEPARATOR`]), built on the stack when short.
fn with_key<R>(parts: &[&str], f: impl FnOnce(&str) -> R) -> R {
    use std::io::Write as _;
    const ROOM: usize = 256;
    let mut buffer = [0u8; ROOM];
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    let fits = parts
        .iter()
        .all(|part| write!(cursor, "{}{SEPARATOR}{part}", part.len()).is_ok());
    if fits {
        let at = cursor.position() as usize;
        // Valid UTF-8: whole `&str`s and ASCII digits and separators.
        if let Ok(key) = std::str::from_utf8(&buffer[..at]) {
            return f(key);
        }
    }
    let mut key = String::new();
    for part in parts {
        key.push_str(&format!("{}{SEPARATOR}{part}", part.len()));
    }
    f(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_back_into_their_parts() {
        with_key(&["openai", "gpt-4o"], |key| {
            assert_eq!(parts(key), ["openai", "gpt-4o", "unknown"])
        });
        with_key(&["a", "b", "timeout"], |key| {
            assert_eq!(parts(key), ["a", "b", "timeout"])
        });
        let long = "m".repeat(300);
        with_key(&["p", &long], |key| assert_eq!(parts(key)[1], long));
        assert_eq!(parts("other"), ["other"; 3]);
        // Any character in a value, the separators of old and new included,
        // splits back exactly (a model named `a\u{1f}b` was label `a`).
        for hostile in ["a\u{1f}b", "1:x", "3:abc:", ":", "", "é\n\"q\u{2028}"] {
            with_key(&["p", hostile, "e"], |key| {
                assert_eq!(parts(key), ["p", hostile, "e"], "{key:?}")
            });
            with_key(&[hostile, "m"], |key| {
                assert_eq!(parts(key), [hostile, "m", "unknown"], "{key:?}")
            });
        }
        let wide = "ü".repeat(200);
        with_key(&[&wide, "m"], |key| assert_eq!(parts(key)[0], wide));
    }
}
