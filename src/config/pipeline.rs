//! The `[redaction]`, `[sampling]` and `[store]` sections.

use std::collections::BTreeMap;

use crate::pipeline::DEFAULT_SENSITIVE_FIELDS;

/// `[redaction]`: what becomes `[REDACTED]` before any sink sees a record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionConfig {
    /// Field names redacted whole, case-insensitively — also as keys inside
    /// JSON values such as a tool call's `args`. Default: `password`,
    /// `secret`, `token`, `api_key`, `authorization`.
    pub fields: Vec<String>,
    /// Regular expressions; every match in any text value or message is redacted.
    pub patterns: Vec<String>,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            fields: DEFAULT_SENSITIVE_FIELDS.iter().map(|s| s.to_string()).collect(),
            patterns: Vec::new(),
        }
    }
}

/// `[sampling]`: keep only a share of high-volume records (sinks and store
/// only; metrics count everything). Never applied to errors, rollbacks,
/// failed steps, failed or blocking CRV checks and denied policy checks.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingConfig {
    /// Share kept per event kind, e.g. `{ tool_call = 0.1, llm_prompt = 0.5 }`.
    pub kinds: BTreeMap<String, f64>,
    /// Share kept per level for records without a configured kind, e.g. `{ debug = 0.1 }`.
    pub levels: BTreeMap<String, f64>,
}

/// `[store]`: the in-memory ring of recent records behind the events API.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Keep a store at all (default true).
    pub enabled: bool,
    /// Most records kept (default 10,000).
    pub max_records: usize,
    /// Most (estimated) bytes kept, e.g. `"16MB"` (default).
    pub max_bytes: String,
    /// Least severe level stored (default: all that pass `log_level`).
    pub level: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            enabled: true,
            max_records: 10_000,
            max_bytes: "16MB".to_owned(),
            level: None,
        }
    }
}
