//! `[genai]`: how the OpenTelemetry GenAI semantic conventions are applied —
//! where message content goes, and the price table behind `cost_usd`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Where the content of LLM calls goes: the prompt of `llm_prompt`, the
/// response of `llm_response`, and the GenAI span attributes the
/// conventions mark *Opt-In* (`gen_ai.input.messages`,
/// `gen_ai.output.messages`, `gen_ai.system_instructions`,
/// `gen_ai.tool.definitions`, `gen_ai.tool.call.arguments`,
/// `gen_ai.tool.call.result`). Redaction applies to whatever is kept.
///
/// TOML `genai.capture_content`, env `AUREUS_GENAI_CAPTURE_CONTENT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentCapture {
    /// Content is recorded nowhere: the fields are left out of every record
    /// (lengths such as `prompt_length` stay).
    None,
    /// The default: content stays in the process's own records — console,
    /// files (the local audit trail), custom sinks, the event store and its
    /// API — and is left out of everything sent over OTLP (log records, span
    /// events, span attributes), as the conventions ask of telemetry by default.
    #[default]
    Local,
    /// Content everywhere, OTLP included (the conventions' opt-in).
    All,
}

impl ContentCapture {
    /// The TOML / environment spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentCapture::None => "none",
            ContentCapture::Local => "local",
            ContentCapture::All => "all",
        }
    }

    /// Whether content goes out over OTLP.
    pub fn exports(self) -> bool {
        self == ContentCapture::All
    }

    /// Whether content is kept in local records.
    pub fn keeps_locally(self) -> bool {
        self != ContentCapture::None
    }
}

impl std::str::FromStr for ContentCapture {
    type Err = Error;
    fn from_str(raw: &str) -> Result<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(ContentCapture::None),
            "local" => Ok(ContentCapture::Local),
            "all" => Ok(ContentCapture::All),
            _ => Err(Error::config(
                "genai.capture_content",
                raw,
                "expected one of: none, local, all",
            )),
        }
    }
}

/// The price of one model, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Dollars per million input (prompt) tokens.
    pub input_per_million: f64,
    /// Dollars per million output (completion) tokens.
    pub output_per_million: f64,
}

/// `[genai]`.
///
/// ```
/// let config = aureus_observability::Config::from_toml_str(r#"
///     [genai]
///     capture_content = "none"
///     [genai.prices."gpt-4o"]
///     input_per_million = 2.5
///     output_per_million = 10.0
/// "#)?;
/// assert_eq!(config.genai.prices["gpt-4o"].output_per_million, 10.0);
///
/// let bad = aureus_observability::Config::from_toml_str(r#"
///     [genai.prices."gpt-4o"]
///     input_per_million = -1.0
///     output_per_million = 10.0
/// "#);
/// assert!(bad.unwrap_err().to_string().contains("genai.prices.gpt-4o.input_per_million"));
/// # Ok::<(), aureus_observability::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenAiConfig {
    /// Where message content goes (default [`ContentCapture::Local`]).
    pub capture_content: ContentCapture,
    /// Prices per model name (matched exactly against `llm_response.model`).
    /// A match adds `cost_usd` to the record and counts it in
    /// `<prefix>_llm_cost_usd_total{model}`.
    pub prices: BTreeMap<String, ModelPrice>,
    /// The values of `OTEL_SEMCONV_STABILITY_OPT_IN` (a comma-separated list;
    /// read from the environment only). This crate emits GenAI conventions
    /// v1.41.0 whether or not `gen_ai_latest_experimental` is listed: it never
    /// emitted an older version to keep by default (see the README).
    #[serde(skip)]
    pub semconv_stability_opt_in: Vec<String>,
}

/// The highest accepted price, in US dollars per million tokens (a dollar
/// per token): far above any real price, and low enough that no token count
/// makes a cost overflow to infinity.
pub const MAX_PRICE_PER_MILLION: f64 = 1_000_000.0;

/// The checked price table: model name → price.
#[derive(Debug, Default)]
pub(crate) struct PriceTable {
    prices: std::collections::HashMap<String, ModelPrice>,
}

impl PriceTable {
    /// The cost in US dollars of a call to `model` with these token counts,
    /// if `model` has a price and at least one count is known. Always finite:
    /// prices are at most [`MAX_PRICE_PER_MILLION`], so even `u64::MAX`
    /// tokens of each kind cost less than 4 × 10^19 dollars.
    pub(crate) fn cost(&self, model: &str, input_tokens: Option<u64>, output_tokens: Option<u64>) -> Option<f64> {
        if input_tokens.is_none() && output_tokens.is_none() {
            return None;
        }
        let price = self.prices.get(model)?;
        let part = |tokens: Option<u64>, per_million: f64| tokens.map_or(0.0, |t| t as f64 * per_million / 1e6);
        Some(part(input_tokens, price.input_per_million) + part(output_tokens, price.output_per_million))
            .filter(|cost| cost.is_finite())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }
}

/// Checked `[genai]`.
#[derive(Debug, Clone)]
pub(crate) struct ValidatedGenAi {
    pub(crate) capture: ContentCapture,
    pub(crate) prices: Arc<PriceTable>,
}

pub(crate) fn validate_genai(config: &GenAiConfig) -> Result<ValidatedGenAi> {
    let mut prices = std::collections::HashMap::new();
    for (model, price) in &config.prices {
        if model.trim().is_empty() {
            return Err(Error::config("genai.prices", model, "a model name must not be empty"));
        }
        for (field, value) in [
            ("input_per_million", price.input_per_million),
            ("output_per_million", price.output_per_million),
        ] {
            if !(0.0..=MAX_PRICE_PER_MILLION).contains(&value) {
                return Err(Error::config(
                    format!("genai.prices.{model}.{field}"),
                    value.to_string(),
                    "must be a number of US dollars per million tokens from 0 to 1000000",
                ));
            }
        }
        prices.insert(model.clone(), *price);
    }
    Ok(ValidatedGenAi {
        capture: config.capture_content,
        prices: Arc::new(PriceTable { prices }),
    })
}

/// Parses `OTEL_SEMCONV_STABILITY_OPT_IN`: a comma-separated list of
/// category values (whitespace around each ignored, empty members skipped).
pub(crate) fn parse_opt_in(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(input: f64, output: f64) -> ModelPrice {
        ModelPrice {
            input_per_million: input,
            output_per_million: output,
        }
    }

    #[test]
    fn costs_per_million_tokens() {
        let mut config = GenAiConfig::default();
        config.prices.insert("m".into(), price(2.5, 10.0));
        let table = validate_genai(&config).unwrap().prices;
        assert_eq!(table.cost("m", Some(1_000_000), Some(500_000)), Some(7.5));
        assert_eq!(table.cost("m", Some(400), None), Some(0.001));
        assert_eq!(table.cost("m", None, None), None);
        assert_eq!(table.cost("other", Some(1), Some(1)), None);
    }

    #[test]
    fn the_highest_price_and_the_most_tokens_cost_a_finite_amount() {
        let mut config = GenAiConfig::default();
        config
            .prices
            .insert("m".into(), price(MAX_PRICE_PER_MILLION, MAX_PRICE_PER_MILLION));
        let table = validate_genai(&config).unwrap().prices;
        let cost = table.cost("m", Some(u64::MAX), Some(u64::MAX)).unwrap();
        assert!(cost.is_finite() && cost > 3e19 && cost < 4e19, "{cost}");
    }

    #[test]
    fn refuses_bad_prices_and_names() {
        for (model, p, key) in [
            ("m", price(-1.0, 1.0), "genai.prices.m.input_per_million"),
            ("m", price(1.0, f64::NAN), "genai.prices.m.output_per_million"),
            ("m", price(f64::INFINITY, 1.0), "genai.prices.m.input_per_million"),
            // Finite, but a cost from it could overflow to infinity.
            ("m", price(1.0, 1e300), "genai.prices.m.output_per_million"),
            ("m", price(1_000_000.5, 1.0), "genai.prices.m.input_per_million"),
            (" ", price(1.0, 1.0), "genai.prices"),
        ] {
            let mut config = GenAiConfig::default();
            config.prices.insert(model.into(), p);
            match validate_genai(&config) {
                Err(Error::InvalidConfig { key: got, .. }) => assert_eq!(got, key),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn opt_in_is_a_comma_separated_list() {
        assert_eq!(
            parse_opt_in(" http, gen_ai_latest_experimental ,,database"),
            ["http", "gen_ai_latest_experimental", "database"]
        );
    }
}
