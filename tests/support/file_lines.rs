//! Reading back what a file sink left on disk: rotated files (plain and
//! gzipped) oldest first, then the active file, as parsed JSON lines.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Rotated files of the active file `active` (`<stem>.<timestamp>-<seq><ext>[.gz]`),
/// oldest first (their names sort that way). Other files beside it are ignored.
pub fn rotated_files(active: &Path) -> Vec<PathBuf> {
    let dir = active.parent().unwrap();
    let stem = active.file_stem().unwrap().to_str().unwrap();
    let ext = active
        .extension()
        .map(|e| format!(".{}", e.to_str().unwrap()))
        .unwrap_or_default();
    let is_rotated = |name: &str| {
        let Some(rest) = name.strip_prefix(&format!("{stem}.")) else {
            return false;
        };
        let rest = rest.strip_suffix(".gz").unwrap_or(rest);
        let Some(rest) = rest.strip_suffix(ext.as_str()) else {
            return false;
        };
        let Some((ts, seq)) = rest.split_once('-') else {
            return false;
        };
        ts.len() == 23 && ts.ends_with('Z') && !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit())
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut rotated: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| is_rotated(p.file_name().unwrap().to_str().unwrap()))
        .collect();
    rotated.sort();
    rotated
}

/// The text of `path`, gunzipped if it ends in `.gz`; empty if it does not exist.
pub fn read_text(path: &Path) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    if path.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text
    } else {
        String::from_utf8(bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// Every line the sink kept: rotated files oldest first, then the active file.
pub fn retained_lines(active: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for path in rotated_files(active)
        .iter()
        .chain(std::iter::once(&active.to_path_buf()))
    {
        for line in read_text(path).lines() {
            let value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: not a JSON line ({e}): {line:?}", path.display()));
            out.push(value);
        }
    }
    out
}

/// `(thread, seq)` of each line that has both fields.
pub fn sequence(lines: &[serde_json::Value]) -> Vec<(u64, u64)> {
    lines
        .iter()
        .filter_map(|v| Some((v["thread"].as_u64()?, v["seq"].as_u64()?)))
        .collect()
}

/// Asserts that, for every thread, the kept sequence numbers are consecutive
/// and end at `per_thread - 1`, or that none are kept (a thread that finished
/// early may lie entirely in deleted files): a contiguous suffix of what it
/// wrote, nothing missing in the middle or at the end. Returns how many lines
/// of each thread were kept.
pub fn assert_contiguous_suffix(seqs: &[(u64, u64)], threads: u64, per_thread: u64, context: &str) -> Vec<u64> {
    let mut last: HashMap<u64, u64> = HashMap::new();
    let mut kept: HashMap<u64, u64> = HashMap::new();
    for &(thread, seq) in seqs {
        if let Some(prev) = last.get(&thread) {
            assert_eq!(
                seq,
                prev + 1,
                "{context}: thread {thread} jumps from {prev} to {seq}: lines missing in the middle"
            );
        }
        last.insert(thread, seq);
        *kept.entry(thread).or_default() += 1;
    }
    assert!(!seqs.is_empty(), "{context}: nothing kept");
    (0..threads)
        .map(|t| {
            if let Some(&end) = last.get(&t) {
                assert_eq!(end, per_thread - 1, "{context}: thread {t} lost its newest lines");
            }
            kept.get(&t).copied().unwrap_or(0)
        })
        .collect()
}

/// Each kept file with the runs of `seq` it holds, for failure messages.
pub fn describe(active: &Path) -> String {
    let mut out = String::new();
    for path in rotated_files(active)
        .iter()
        .chain(std::iter::once(&active.to_path_buf()))
    {
        let seqs: Vec<u64> = read_text(path)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["seq"].as_u64())
            .collect();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for s in seqs {
            match runs.last_mut() {
                Some((_, end)) if *end + 1 == s => *end = s,
                _ => runs.push((s, s)),
            }
        }
        let name = path.file_name().unwrap().to_string_lossy();
        out.push_str(&format!("\n  {name}: {runs:?}"));
    }
    out
}
