//! [`LevelControl`]: reading and changing log levels from the monitoring API,
//! each change recorded as an audit event naming who made it.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use tracing::level_filters::LevelFilter;

use crate::error::{Error, Result};
use crate::pipeline::{Directives, Pipeline, AUDIT_TARGET};
use crate::sinks::SinkManager;
use crate::stack::Emitter;

/// The levels in force: our layer's filter and each sink's level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct LevelsView {
    /// `EnvFilter` directives, e.g. `info,aureus::planner=debug`.
    pub(crate) filter: String,
    /// Sink name → least severe level delivered (`off` … `trace`).
    pub(crate) sinks: BTreeMap<String, String>,
}

/// A requested change; unset parts stay as they are.
#[derive(Debug, Default)]
pub(crate) struct LevelChange {
    pub(crate) by: String,
    pub(crate) filter: Option<String>,
    pub(crate) sinks: BTreeMap<String, String>,
}

/// Reads and changes the levels of one running stack.
#[derive(Clone)]
pub(crate) struct LevelControl {
    pipeline: Arc<Pipeline>,
    emitter: Emitter,
}

impl LevelControl {
    pub(crate) fn new(pipeline: Arc<Pipeline>, emitter: Emitter) -> Self {
        LevelControl { pipeline, emitter }
    }

    fn sinks(&self) -> SinkManager {
        SinkManager::new(Arc::clone(&self.pipeline))
    }

    /// The levels in force.
    pub(crate) fn view(&self) -> LevelsView {
        let sinks = self.sinks();
        LevelsView {
            filter: self.pipeline.levels.text(),
            sinks: sinks
                .list()
                .into_iter()
                .filter_map(|h| {
                    let level = sinks.level(&h.name).ok().flatten()?;
                    Some((h.name, level.to_string().to_ascii_lowercase()))
                })
                .collect(),
        }
    }

    /// Checks every part of `change` first, then applies it all: a bad
    /// part is an error naming it, and nothing changes. Each change is
    /// recorded as an audit event (`target: aureus::audit`).
    pub(crate) fn change(&self, change: &LevelChange) -> Result<LevelsView> {
        if change.filter.is_none() && change.sinks.is_empty() {
            return Err(Error::config("log-level", "{}", "give `filter`, `sinks`, or both"));
        }
        if let Some(filter) = &change.filter {
            Directives::parse("filter", filter)?;
        }
        let sinks = self.sinks();
        let mut levels = Vec::with_capacity(change.sinks.len());
        for (name, raw) in &change.sinks {
            let key = format!("sinks.{name}");
            let level = LevelFilter::from_str(raw.trim())
                .map_err(|_| Error::config(&key, raw, "expected one of: off, error, warn, info, debug, trace"))?;
            match sinks.level(name)? {
                Some(previous) => levels.push((name.as_str(), previous, level)),
                None => {
                    return Err(Error::BuiltInSink {
                        name: name.clone(),
                        reason: "the metrics count every Aureus event and have no level",
                    })
                }
            }
        }
        if let Some(filter) = &change.filter {
            let previous = self.pipeline.levels.set(filter)?;
            self.audit(&change.by, "log_level", &previous, filter);
        }
        for (name, previous, level) in levels {
            sinks.set_level(name, level)?;
            let (previous, level) = (previous.to_string(), level.to_string());
            self.audit(
                &change.by,
                &format!("sinks.{name}.level"),
                &previous.to_ascii_lowercase(),
                &level.to_ascii_lowercase(),
            );
        }
        Ok(self.view())
    }

    fn audit(&self, by: &str, setting: &str, previous: &str, level: &str) {
        self.emitter.emit(|| {
            tracing::info!(target: AUDIT_TARGET, event_type = "custom", name = "log_level_changed",
                by, setting, from = previous, to = level, "{by} changed {setting} from {previous:?} to {level:?}");
        });
    }
}
