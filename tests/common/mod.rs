//! Shared test helpers: a sink that collects records.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use aureus_observability::{Record, Sink, SinkError};

/// Collects every record it receives.
#[derive(Clone, Default)]
pub struct Collect(pub Arc<Mutex<Vec<Arc<Record>>>>);

impl Collect {
    pub fn records(&self) -> Vec<Arc<Record>> {
        self.0.lock().unwrap().clone()
    }
}

impl Sink for Collect {
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        self.0.lock().unwrap().extend(batch.iter().cloned());
        Ok(())
    }
}

/// A lossless option set for test sinks.
pub fn lossless() -> aureus_observability::SinkOptions {
    aureus_observability::SinkOptions {
        queue_capacity: 1 << 16,
        overflow: aureus_observability::pipeline::OverflowPolicy::Block,
        ..Default::default()
    }
}

/// A stack with only a collecting sink, not installed globally.
pub fn collecting(level: &str) -> (tracing::Dispatch, aureus_observability::Telemetry, Collect) {
    let config = aureus_observability::Config::builder()
        .no_monitoring()
        .no_server()
        .log_level(level)
        .no_sinks()
        .build()
        .unwrap();
    let (dispatch, telemetry) = aureus_observability::build(config).unwrap();
    let collect = Collect::default();
    telemetry.sinks().add("collect", collect.clone(), lossless()).unwrap();
    (dispatch, telemetry, collect)
}

/// This process's resident memory, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
