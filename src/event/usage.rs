//! How every path reads the GenAI fields of an `llm_response`
//! (`input_tokens`, `output_tokens`, `duration_ms`, `cost_usd`, `error_type`): one rule,
//! so the `gen_ai.client.*` histograms, the cost from the price table, the
//! cost counter, the summary figures and the run view agree on what a
//! hand-written field means, and a value one of them refuses is refused by
//! all of them (and counted in `refused_values{field, reason}`).

use crate::record::{Record, Value};

/// Why a numeric field was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not a number: NaN, or a value that is not numeric at all (text that
    /// does not parse, a boolean).
    Nan = 0,
    /// Positive or negative infinity.
    Infinite = 1,
    /// Below zero.
    Negative = 2,
}

impl Refusal {
    /// The `reason` label values, indexed by `Refusal as usize`.
    pub(crate) const REASONS: [&'static str; 3] = ["nan", "infinite", "negative"];
}

/// A non-negative finite amount (a duration or a cost): `Ok(None)` when the
/// field is absent.
pub(crate) fn amount(record: &Record, name: &str) -> Result<Option<f64>, Refusal> {
    let Some(value) = record.field(name) else {
        return Ok(None);
    };
    let number = value.as_f64().ok_or(Refusal::Nan)?;
    check(number).map(Some)
}

/// A token count: `Ok(None)` when the field is absent. Integers count as
/// they are; a float or numeric text that is finite and not negative counts
/// rounded to the nearest whole token (saturating at `u64::MAX`).
pub(crate) fn token_count(record: &Record, name: &str) -> Result<Option<u64>, Refusal> {
    let Some(value) = record.field(name) else {
        return Ok(None);
    };
    match value {
        Value::U64(v) => Ok(Some(v)),
        Value::I64(v) => u64::try_from(v).map(Some).map_err(|_| Refusal::Negative),
        Value::Str(text) if text.trim().parse::<u64>().is_ok() => Ok(text.trim().parse().ok()),
        other => {
            let number = other.as_f64().ok_or(Refusal::Nan)?;
            // `as` saturates: beyond u64::MAX reads u64::MAX.
            check(number).map(|n| Some(n.round() as u64))
        }
    }
}

/// The class of error a failed call ended with (`error_type`, the
/// conventions' `error.type`): non-empty text, or a number as its decimal
/// text (`error_type = 500` — an HTTP status, one of the conventions' own
/// examples — is a failure of type `500`). `None` for a call that did not
/// fail (absent, empty, or a boolean).
pub(crate) fn error_type(record: &Record) -> Option<std::borrow::Cow<'_, str>> {
    match record.field(super::fields::ERROR_TYPE)? {
        Value::Str(text) => Some(text).filter(|t| !t.is_empty()).map(std::borrow::Cow::Borrowed),
        Value::Bool(_) => None,
        number => Some(std::borrow::Cow::Owned(number.to_string())),
    }
}

fn check(number: f64) -> Result<f64, Refusal> {
    if number.is_nan() {
        Err(Refusal::Nan)
    } else if number.is_infinite() {
        Err(Refusal::Infinite)
    } else if number < 0.0 {
        Err(Refusal::Negative)
    } else {
        Ok(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: Value<'_>) -> Record {
        let mut record = Record::new(tracing::Level::INFO, "aureus");
        record.push_field("n", value);
        record
    }

    #[test]
    fn token_counts_follow_one_rule() {
        for (value, expected) in [
            (Value::U64(u64::MAX), Ok(Some(u64::MAX))),
            (Value::I64(7), Ok(Some(7))),
            (Value::I64(-5), Err(Refusal::Negative)),
            (Value::F64(1.5), Ok(Some(2))),
            (Value::F64(1e300), Ok(Some(u64::MAX))),
            (Value::F64(-0.0), Ok(Some(0))),
            (Value::F64(-0.5), Err(Refusal::Negative)),
            (Value::F64(f64::NAN), Err(Refusal::Nan)),
            (Value::F64(f64::NEG_INFINITY), Err(Refusal::Infinite)),
            (Value::Str(" 18446744073709551615 "), Ok(Some(u64::MAX))),
            (Value::Str("12.4"), Ok(Some(12))),
            (Value::Str("abc"), Err(Refusal::Nan)),
            (Value::Str("inf"), Err(Refusal::Infinite)),
            (Value::Bool(true), Err(Refusal::Nan)),
        ] {
            assert_eq!(token_count(&record(value), "n"), expected, "{value:?}");
        }
        assert_eq!(token_count(&record(Value::U64(1)), "absent"), Ok(None));
    }

    #[test]
    fn error_types_are_text_or_numbers() {
        let error = |value: Value<'_>| {
            let mut record = Record::new(tracing::Level::INFO, "aureus");
            record.push_field("error_type", value);
            error_type(&record).map(|e| e.into_owned())
        };
        assert_eq!(error(Value::Str("timeout")).as_deref(), Some("timeout"));
        assert_eq!(error(Value::U64(500)).as_deref(), Some("500"));
        assert_eq!(error(Value::I64(-1)).as_deref(), Some("-1"));
        assert_eq!(error(Value::Str("")), None);
        assert_eq!(error(Value::Bool(false)), None);
        assert_eq!(error_type(&Record::new(tracing::Level::INFO, "aureus")), None);
    }

    #[test]
    fn amounts_are_finite_and_not_negative() {
        for (value, expected) in [
            (Value::F64(0.25), Ok(Some(0.25))),
            (Value::U64(3), Ok(Some(3.0))),
            (Value::Str("1e-3"), Ok(Some(0.001))),
            (Value::F64(-1.0), Err(Refusal::Negative)),
            (Value::I64(-1), Err(Refusal::Negative)),
            (Value::F64(f64::INFINITY), Err(Refusal::Infinite)),
            (Value::Str("NaN"), Err(Refusal::Nan)),
            (Value::Str("twelve"), Err(Refusal::Nan)),
        ] {
            assert_eq!(amount(&record(value), "n"), expected, "{value:?}");
        }
        assert_eq!(amount(&record(Value::U64(1)), "absent"), Ok(None));
    }
}
