//! Test support: the samples of a Prometheus text exposition.
//!
//! ```ignore
//! #[path = "support/exposition.rs"]
//! mod exposition;
//! ```
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

/// A series: metric name and labels.
pub type Series = (String, BTreeMap<String, String>);

/// `name{labels} value` lines of a Prometheus exposition.
pub fn series(text: &str) -> HashMap<Series, f64> {
    let mut series = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (head, value) = line.rsplit_once(' ').expect("sample line");
        let (name, labels) = match head.split_once('{') {
            Some((name, rest)) => {
                let body = rest.trim_end_matches('}');
                let labels = body
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once("=\"").expect("label");
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
            None => (head.to_owned(), BTreeMap::new()),
        };
        series.insert((name, labels), value.parse().expect("sample value"));
    }
    series
}
