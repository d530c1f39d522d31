//! The console sink: pretty, compact or JSON lines on stdout or stderr.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};
use std::sync::Arc;

use tracing::Level;

use super::{Sink, SinkError};
use crate::record::{Record, Value};

/// How the console sink lays out a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleFormat {
    /// Several lines per event: a header, then one field per line.
    Pretty,
    /// One line per event: `timestamp LEVEL target: message key=value …`.
    #[default]
    Compact,
    /// One JSON object per line (the same encoding as the file sink).
    Json,
}

/// Which standard stream the console sink writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    #[default]
    Stderr,
}

/// Writes records to a terminal (or any writer).
pub struct ConsoleSink {
    format: ConsoleFormat,
    ansi: bool,
    out: Box<dyn Write + Send>,
    line: String,
}

impl ConsoleSink {
    /// A sink on `stream`; with `ansi: None`, colour is used only when the
    /// stream is a terminal (and `NO_COLOR` is unset).
    pub fn new(format: ConsoleFormat, stream: ConsoleStream, ansi: Option<bool>) -> Self {
        let (out, is_tty): (Box<dyn Write + Send>, bool) = match stream {
            ConsoleStream::Stdout => (Box::new(io::stdout()), io::stdout().is_terminal()),
            ConsoleStream::Stderr => (Box::new(io::stderr()), io::stderr().is_terminal()),
        };
        let auto = is_tty && std::env::var_os("NO_COLOR").is_none();
        Self::with_writer(format, ansi.unwrap_or(auto), out)
    }

    /// A sink writing to `out` (used by tests and for custom streams).
    pub fn with_writer(format: ConsoleFormat, ansi: bool, out: Box<dyn Write + Send>) -> Self {
        ConsoleSink {
            format,
            ansi,
            out,
            line: String::with_capacity(256),
        }
    }
}

impl Sink for ConsoleSink {
    fn write(&mut self, batch: &[Arc<Record>]) -> Result<(), SinkError> {
        for record in batch {
            self.line.clear();
            match self.format {
                ConsoleFormat::Json => self.line.push_str(record.json_line()),
                ConsoleFormat::Compact => format_compact(&mut self.line, record, self.ansi),
                ConsoleFormat::Pretty => format_pretty(&mut self.line, record, self.ansi),
            }
            self.line.push('\n');
            self.out.write_all(self.line.as_bytes())?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush()?;
        Ok(())
    }
}

fn level_colour(level: Level) -> &'static str {
    match level {
        Level::ERROR => "\x1b[31m",
        Level::WARN => "\x1b[33m",
        Level::INFO => "\x1b[32m",
        Level::DEBUG => "\x1b[34m",
        Level::TRACE => "\x1b[35m",
    }
}

const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn paint(out: &mut String, ansi: bool, style: &str, text: impl std::fmt::Display) {
    if ansi {
        let _ = write!(out, "{style}{text}{RESET}");
    } else {
        let _ = write!(out, "{text}");
    }
}

/// Writes text with control characters escaped, so a field can never forge
/// a log line or a terminal escape sequence.
fn push_escaped(out: &mut String, text: &str, quote_if_spaced: bool) {
    let needs_quotes = quote_if_spaced && (text.is_empty() || text.contains([' ', '"', '=']));
    if needs_quotes {
        out.push('"');
    }
    for c in text.chars() {
        match c {
            '"' if needs_quotes => out.push_str("\\\""),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    if needs_quotes {
        out.push('"');
    }
}

fn push_value(out: &mut String, value: &Value<'_>, quote_if_spaced: bool) {
    match value {
        Value::Str(text) => push_escaped(out, text, quote_if_spaced),
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

fn header(out: &mut String, record: &Record, ansi: bool) {
    paint(out, ansi, DIM, crate::record::rfc3339_micros(record.timestamp));
    out.push(' ');
    paint(
        out,
        ansi,
        level_colour(record.level),
        format_args!("{:>5}", record.level.as_str()),
    );
    out.push(' ');
    paint(out, ansi, DIM, format_args!("{}:", record.target));
    if let Some(kind) = record.event_type() {
        // Free text from the event, like the message: escaped.
        out.push(' ');
        if ansi {
            out.push_str(BOLD);
        }
        push_escaped(out, kind, false);
        if ansi {
            out.push_str(RESET);
        }
    }
    if let Some(message) = record.message() {
        out.push(' ');
        push_escaped(out, message, false);
    }
}

fn format_compact(out: &mut String, record: &Record, ansi: bool) {
    header(out, record, ansi);
    for (name, value) in record.fields() {
        out.push(' ');
        paint(out, ansi, DIM, format_args!("{name}="));
        push_value(out, &value, true);
    }
    if let Some(id) = record.correlation_id() {
        out.push(' ');
        paint(out, ansi, DIM, "correlation_id=");
        out.push_str(id);
    }
}

fn format_pretty(out: &mut String, record: &Record, ansi: bool) {
    header(out, record, ansi);
    if let Some(id) = record.correlation_id() {
        out.push_str("\n    ");
        paint(out, ansi, DIM, "correlation_id: ");
        out.push_str(id);
    }
    for (name, value) in record.fields() {
        out.push_str("\n    ");
        paint(out, ansi, DIM, format_args!("{name}: "));
        push_value(out, &value, false);
    }
    if let Some(span) = record.span_name {
        out.push_str("\n    ");
        paint(out, ansi, DIM, format_args!("in span {span}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn render(format: ConsoleFormat, ansi: bool) -> String {
        let out = Shared::default();
        let mut sink = ConsoleSink::with_writer(format, ansi, Box::new(out.clone()));
        let mut record = Record::new(Level::WARN, "aureus");
        record.set_event_type("crv_result");
        record.set_message(
            "gate
INJECTED 1970 ERROR fake",
        );
        record.push_field("gate_name", Value::Str("schema check"));
        record.push_field("passed", Value::Bool(false));
        record.set_correlation_id(&crate::CorrelationId::new("wf-1").unwrap());
        sink.write(&[Arc::new(record)]).unwrap();
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn records_stamped_before_1970_or_after_9999_are_written() {
        use std::time::{Duration, UNIX_EPOCH};
        for format in [ConsoleFormat::Compact, ConsoleFormat::Pretty, ConsoleFormat::Json] {
            for (at, shown) in [
                (UNIX_EPOCH - Duration::from_secs(86_400), "1970-01-01T00:00:00.000000Z"),
                (
                    UNIX_EPOCH + Duration::from_secs(300_000_000_000),
                    "9999-12-31T23:59:59.999999Z",
                ),
            ] {
                let out = Shared::default();
                let mut sink = ConsoleSink::with_writer(format, false, Box::new(out.clone()));
                let mut record = Record::new(Level::INFO, "aureus");
                record.timestamp = at;
                record.set_message("clock");
                sink.write(&[Arc::new(record)]).unwrap();
                let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
                assert!(text.contains(shown) && text.contains("clock"), "{format:?}: {text}");
            }
        }
    }

    #[test]
    fn compact_is_one_escaped_line() {
        let text = render(ConsoleFormat::Compact, false);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(" WARN aureus: crv_result gate\\nINJECTED"), "{text}");
        assert!(
            text.contains("gate_name=\"schema check\" passed=false correlation_id=wf-1"),
            "{text}"
        );
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn pretty_puts_fields_on_their_own_lines() {
        let text = render(ConsoleFormat::Pretty, false);
        assert!(
            text.contains("\n    correlation_id: wf-1\n    gate_name: schema check\n    passed: false"),
            "{text}"
        );
    }

    #[test]
    fn json_is_the_shared_encoding_and_colour_is_optional() {
        let text = render(ConsoleFormat::Json, false);
        let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(v["gate_name"], "schema check");
        assert!(render(ConsoleFormat::Compact, true).contains("\x1b[33m"));
    }
}
