//! The `[monitoring]` section: dashboard, JSON API, alerts.

use std::collections::BTreeMap;

/// Where the dashboard and the alert engine read their figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitoringSource {
    /// This process's metrics and event store.
    #[default]
    Local,
    /// A Prometheus server's HTTP API (`prometheus_url`): one dashboard for many kernels.
    Prometheus,
}

/// Overrides of one alert rule (`[monitoring.rules.<alert id>]`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleOverride {
    /// Fires past this value.
    pub threshold: Option<f64>,
    /// Escalates past this value.
    pub escalate_at: Option<f64>,
    /// The window the value is computed over, e.g. `"5m"`.
    pub window: Option<String>,
    /// How long the condition must hold before firing, e.g. `"1m"`.
    #[serde(rename = "for")]
    pub for_duration: Option<String>,
}

/// `[monitoring]`: the dashboard at `/monitoring`, `/api/monitoring/*`, and the alert engine.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Serve the dashboard and API, and evaluate alerts (default true).
    pub enabled: bool,
    /// When set, page and API require `Authorization: Bearer <token>` (or the
    /// cookie set by opening `/monitoring?token=<token>`); env `AUREUS_MONITORING_TOKEN`.
    pub token: Option<String>,
    /// `local` (default) or `prometheus`; env `AUREUS_MONITORING_SOURCE`.
    pub source: MonitoringSource,
    /// The Prometheus server for `source = "prometheus"`, e.g.
    /// `http://127.0.0.1:9090`; env `AUREUS_PROMETHEUS_URL`.
    pub prometheus_url: Option<String>,
    /// How often alerts are evaluated (default `1s`).
    pub evaluate_every: String,
    /// Per-alert overrides, keyed by alert id (`success-rate`, `crv-failures`,
    /// `policy-denials`, `rollbacks`).
    pub rules: BTreeMap<String, RuleOverride>,
    /// Link from the dashboard's run view to the tracing backend: an
    /// `http://` or `https://` URL containing `{trace_id}`, which is replaced
    /// by the run's W3C trace id (32 lowercase hex digits), e.g.
    /// `http://jaeger:16686/trace/{trace_id}`; env `AUREUS_TRACE_URL_TEMPLATE`.
    /// Anything else is [`Error::InvalidConfig`](crate::Error::InvalidConfig)
    /// naming `monitoring.trace_url_template`.
    pub trace_url_template: Option<String>,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            enabled: true,
            token: None,
            source: MonitoringSource::Local,
            prometheus_url: None,
            evaluate_every: "1s".to_owned(),
            rules: BTreeMap::new(),
            trace_url_template: None,
        }
    }
}

/// The placeholder a trace URL template must contain.
pub(crate) const TRACE_ID_PLACEHOLDER: &str = "{trace_id}";

/// Longest accepted trace URL template, in bytes.
const MAX_TRACE_URL_TEMPLATE_BYTES: usize = 2048;

/// Checks `monitoring.trace_url_template`: an absolute `http://` or
/// `https://` URL with a host, at most 2048 bytes, containing
/// [`TRACE_ID_PLACEHOLDER`], without whitespace, control characters or
/// characters that are never valid in a URL (`"`, `<`, `>`, `\`, `` ` ``,
/// `^`, `|`). Returns the trimmed template.
pub(crate) fn validate_trace_url_template(key: &str, raw: &str) -> crate::Result<String> {
    let template = raw.trim();
    let reject = |reason: &str| Err(crate::Error::config(key, raw, reason));
    if template.len() > MAX_TRACE_URL_TEMPLATE_BYTES {
        return reject("must be at most 2048 bytes");
    }
    let lower = template.to_ascii_lowercase();
    let Some(rest) = ["https://", "http://"]
        .iter()
        .find_map(|scheme| lower.starts_with(scheme).then(|| &template[scheme.len()..]))
    else {
        return reject("must be an http:// or https:// URL, e.g. http://jaeger:16686/trace/{trace_id}");
    };
    if let Some(bad) = template
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '\\' | '`' | '^' | '|'))
    {
        return reject(&format!("must not contain {bad:?}"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains(['{', '}', '@']) {
        return reject("must name a host (without user info or placeholders) after the scheme");
    }
    if !template.contains(TRACE_ID_PLACEHOLDER) {
        return reject("must contain {trace_id}, where the trace id goes");
    }
    // The dashboard links only what the browser's URL parser accepts (WHATWG
    // URL, which the `url` crate implements): a link filled with a trace id
    // must parse, or it would silently never show (a port past 65535, a bad
    // IPv6 literal, a forbidden host character).
    let filled = trace_url(template, "0af7651916cd43dd8448eb211c80319c");
    match url::Url::parse(&filled) {
        Ok(url) if url.host_str().is_some_and(|host| !host.is_empty()) => {}
        Ok(_) => return reject("must name a host after the scheme"),
        Err(err) => return reject(&format!("is not a valid URL once filled with a trace id: {err}")),
    }
    Ok(template.to_owned())
}

/// The link for `trace_id` (32 lowercase hex digits): every `{trace_id}` in
/// a template checked by [`validate_trace_url_template`] replaced by it.
pub(crate) fn trace_url(template: &str, trace_id: &str) -> String {
    template.replace(TRACE_ID_PLACEHOLDER, trace_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_url_templates_are_checked() {
        for good in [
            "http://jaeger:16686/trace/{trace_id}",
            "  https://tempo.example.com/explore?trace={trace_id}&x=1 ",
            "HTTPS://grafana:3000/a/{trace_id}/b/{trace_id}",
            "http://[::1]:16686/trace/{trace_id}",
        ] {
            let template = validate_trace_url_template("monitoring.trace_url_template", good).unwrap();
            assert_eq!(template, good.trim());
            assert!(!trace_url(&template, "0af7651916cd43dd8448eb211c80319c").contains('{'));
        }
        for bad in [
            "",
            "jaeger:16686/trace/{trace_id}",
            "javascript:alert(1)//{trace_id}",
            "ftp://jaeger/{trace_id}",
            "http://jaeger:16686/trace/",
            "http:///trace/{trace_id}",
            "http://{trace_id}/x",
            "http://user@evil/{trace_id}",
            "http://jaeger/trace/{trace_id} x",
            "http://jaeger/\"{trace_id}",
            "http://jaeger/<{trace_id}>",
            "http://jaeger/\u{7}{trace_id}",
            // Rejected by the browser's URL parser: the link would never show.
            "http://jaeger:99999/trace/{trace_id}",
            "http://jaeger:16686x/trace/{trace_id}",
            "http://[::1/trace/{trace_id}",
            "http://exa%zzmple/trace/{trace_id}",
            "http://a:b:c/trace/{trace_id}",
        ] {
            let err = validate_trace_url_template("monitoring.trace_url_template", bad).unwrap_err();
            assert!(
                matches!(&err, crate::Error::InvalidConfig { key, .. } if key == "monitoring.trace_url_template"),
                "{bad:?}: {err}"
            );
        }
        let long = format!("http://h/{}{{trace_id}}", "a".repeat(3000));
        assert!(validate_trace_url_template("k", &long).is_err());
        assert_eq!(
            trace_url("http://j/trace/{trace_id}?q={trace_id}", "ab"),
            "http://j/trace/ab?q=ab"
        );
    }

    #[test]
    fn the_template_comes_from_toml_or_the_environment_and_errors_name_the_source() {
        let config = crate::Config::from_toml_str(
            "[monitoring]\ntrace_url_template = \"http://jaeger:16686/trace/{trace_id}\"\n",
        )
        .unwrap();
        let validated = config.validated().unwrap();
        assert_eq!(
            validated.monitoring.unwrap().trace_url_template.as_deref(),
            Some("http://jaeger:16686/trace/{trace_id}")
        );
        let err = crate::Config::from_toml_str("[monitoring]\ntrace_url_template = \"http://jaeger/\"\n").unwrap_err();
        assert!(err.to_string().contains("monitoring.trace_url_template"), "{err}");

        let mut config = crate::Config::default();
        config
            .apply_env([("AUREUS_TRACE_URL_TEMPLATE", " https://tempo/t/{trace_id} ")])
            .unwrap();
        assert_eq!(
            config.monitoring.trace_url_template.as_deref(),
            Some("https://tempo/t/{trace_id}")
        );
        let mut config = crate::Config::default();
        let err = config
            .apply_env([("AUREUS_TRACE_URL_TEMPLATE", "javascript:alert(1)/{trace_id}")])
            .unwrap_err();
        assert!(
            matches!(&err, crate::Error::InvalidConfig { key, .. } if key == "AUREUS_TRACE_URL_TEMPLATE"),
            "{err}"
        );
    }
}
