//! Prints the Prometheus alert rules generated from the crate's default alert
//! rules — the source of `deploy/prometheus/aureus-alerts.yml`:
//!
//! ```text
//! cargo run --example print_alert_rules > deploy/prometheus/aureus-alerts.yml
//! cargo run --example print_alert_rules -- kernel   # another metric prefix
//! ```

use aureus_observability::alerts::{promql, AlertRule};

fn main() -> std::process::ExitCode {
    let prefix = std::env::args().nth(1).unwrap_or_else(|| "aureus".to_owned());
    match promql::try_rules_yaml(&AlertRule::defaults(), &prefix) {
        Ok(yaml) => {
            print!("{yaml}");
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("print_alert_rules: {err}");
            std::process::ExitCode::from(2)
        }
    }
}
