//! The OTLP resource: who is sending.

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;

use crate::pipeline::Redactor;

/// What the resource is built from (all from [`crate::Config`]).
#[derive(Debug, Clone)]
pub(crate) struct ResourceSettings {
    pub(crate) service_name: String,
    pub(crate) service_version: Option<String>,
    pub(crate) environment: Option<String>,
    pub(crate) attributes: Vec<(String, String)>,
}

/// `service.name`, `service.version` (default: this crate's version),
/// `deployment.environment` (when set), `host.name`, `process.pid`, the
/// configured and `OTEL_RESOURCE_ATTRIBUTES` attributes, and the SDK's
/// `telemetry.sdk.*`. Explicit settings win over the extra attributes.
///
/// The configured attributes pass through `redactor` like every other text
/// that leaves the process (a sensitive key's value becomes `[REDACTED]`).
pub(crate) fn build(settings: &ResourceSettings, redactor: &Redactor) -> Resource {
    let mut attributes: Vec<KeyValue> = settings
        .attributes
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    let version = settings
        .service_version
        .clone()
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned());
    attributes.push(KeyValue::new("service.version", version));
    if let Some(environment) = &settings.environment {
        attributes.push(KeyValue::new("deployment.environment", environment.clone()));
        attributes.push(KeyValue::new("deployment.environment.name", environment.clone()));
    }
    attributes.push(KeyValue::new(
        "host.name",
        gethostname::gethostname().to_string_lossy().into_owned(),
    ));
    attributes.push(KeyValue::new("process.pid", i64::from(std::process::id())));
    super::redact::redact_attributes(redactor, usize::MAX, &mut attributes);
    Resource::builder_empty()
        .with_attributes(attributes)
        .with_service_name(redactor.redact_text(&settings.service_name).into_owned())
        .with_detector(Box::new(opentelemetry_sdk::resource::TelemetryResourceDetector))
        .build()
}
