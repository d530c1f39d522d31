//! Which exposition format `/metrics` serves: chosen from the scraper's
//! `Accept` header (HTTP content negotiation, RFC 9110 §12.5.1).

/// An exposition format the crate renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpositionFormat {
    /// The Prometheus text format 0.0.4 (`text/plain; version=0.0.4`), the
    /// default. No exemplars.
    #[default]
    Text,
    /// OpenMetrics 1.0.0 text (`application/openmetrics-text;
    /// version=1.0.0`): histogram buckets carry exemplars, counters' families
    /// are named without `_total`, and the exposition ends with `# EOF`.
    OpenMetrics,
}

/// The `Content-Type` of an OpenMetrics 1.0.0 exposition.
pub(crate) const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl ExpositionFormat {
    /// The `Content-Type` to serve this format with.
    pub fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::Text => super::text::CONTENT_TYPE,
            ExpositionFormat::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    /// The format an `Accept` header asks for.
    ///
    /// Each media range's quality (`q`, default 1) applies to the formats it
    /// matches: `application/openmetrics-text` (without `version`, or
    /// `version` `1.0.0` or `0.0.1`, which 1.0.0 serves) and `application/*`
    /// match OpenMetrics; `text/plain` (without `version`, or `0.0.4`) and
    /// `text/*` match the text format; `*/*` matches both. For each format
    /// the most specific matching range decides its quality. The format with
    /// the higher quality wins; on a tie OpenMetrics only when a more
    /// specific range than the text format's named it exactly. Without a
    /// usable preference (no header, nothing acceptable, malformed ranges
    /// skipped) the text format 0.0.4 is served.
    ///
    /// ```
    /// use aureus_observability::metrics::ExpositionFormat;
    ///
    /// // What Prometheus 2.x sends.
    /// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
    ///                   text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(ExpositionFormat::from_accept(Some(prometheus)), ExpositionFormat::OpenMetrics);
    /// assert_eq!(ExpositionFormat::from_accept(Some("text/plain")), ExpositionFormat::Text);
    /// assert_eq!(ExpositionFormat::from_accept(None), ExpositionFormat::Text);
    /// ```
    pub fn from_accept(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return ExpositionFormat::Text;
        };
        // Per format: (quality, specificity) of the most specific matching range.
        let mut openmetrics: Option<(f64, u8)> = None;
        let mut text: Option<(f64, u8)> = None;
        for range in accept.split(',') {
            let Some(range) = MediaRange::parse(range) else {
                continue;
            };
            for (slot, specificity) in [(&mut openmetrics, range.openmetrics()), (&mut text, range.text())] {
                if let Some(specificity) = specificity {
                    if slot.is_none_or(|(_, best)| specificity > best) {
                        *slot = Some((range.quality, specificity));
                    }
                }
            }
        }
        let (q_om, s_om) = openmetrics.unwrap_or((0.0, 0));
        let (q_text, s_text) = text.unwrap_or((0.0, 0));
        let openmetrics_wins = q_om > 0.0 && (q_om > q_text || (q_om == q_text && s_om > s_text && s_om >= EXACT));
        if openmetrics_wins {
            ExpositionFormat::OpenMetrics
        } else {
            ExpositionFormat::Text
        }
    }
}

/// `type/subtype` named exactly.
const EXACT: u8 = 2;

/// One parsed media range of an `Accept` header.
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    version: Option<&'a str>,
    quality: f64,
}

impl<'a> MediaRange<'a> {
    fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.split(';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        let (kind, subtype) = (kind.trim(), subtype.trim());
        if kind.is_empty() || subtype.is_empty() || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut range = MediaRange {
            kind,
            subtype,
            version: None,
            quality: 1.0,
        };
        for parameter in parts {
            let (name, value) = parameter.split_once('=')?;
            let value = value.trim().trim_matches('"');
            match name.trim() {
                name if name.eq_ignore_ascii_case("q") => {
                    let quality: f64 = value.parse().ok()?;
                    if !(0.0..=1.0).contains(&quality) {
                        return None;
                    }
                    range.quality = quality;
                }
                name if name.eq_ignore_ascii_case("version") => range.version = Some(value),
                _ => {}
            }
        }
        Some(range)
    }

    /// How specifically this range names `kind/subtype` (with an acceptable
    /// version), `None` when it does not match it.
    fn matches(&self, kind: &str, subtype: &str, versions: &[&str]) -> Option<u8> {
        if self.kind == "*" {
            return Some(0);
        }
        if !self.kind.eq_ignore_ascii_case(kind) {
            return None;
        }
        if self.subtype == "*" {
            return Some(1);
        }
        if !self.subtype.eq_ignore_ascii_case(subtype) {
            return None;
        }
        match self.version {
            None => Some(EXACT),
            Some(version) if versions.contains(&version) => Some(EXACT + 1),
            Some(_) => None,
        }
    }

    fn openmetrics(&self) -> Option<u8> {
        self.matches("application", "openmetrics-text", &["1.0.0", "0.0.1"])
    }

    fn text(&self) -> Option<u8> {
        self.matches("text", "plain", &["0.0.4"])
    }
}

#[cfg(test)]
mod tests {
    use super::ExpositionFormat::{self, OpenMetrics, Text};

    fn negotiate(accept: &str) -> ExpositionFormat {
        ExpositionFormat::from_accept(Some(accept))
    }

    #[test]
    fn what_scrapers_send() {
        // Prometheus 2.x (scrape/scrape.go acceptHeader).
        assert_eq!(
            negotiate(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                 text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            ),
            OpenMetrics
        );
        // Prometheus 3 with its escaping parameter, and a text-only scraper.
        assert_eq!(
            negotiate(
                "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.3"
            ),
            OpenMetrics
        );
        assert_eq!(negotiate("text/plain;version=0.0.4;q=1,*/*;q=0.1"), Text);
        assert_eq!(
            negotiate("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            OpenMetrics
        );
        assert_eq!(negotiate("application/openmetrics-text"), OpenMetrics);
        assert_eq!(negotiate("APPLICATION/OpenMetrics-Text;Version=\"1.0.0\""), OpenMetrics);
    }

    #[test]
    fn qualities_decide_and_text_is_the_fallback() {
        assert_eq!(negotiate("application/openmetrics-text;q=0.4, text/plain;q=0.5"), Text);
        assert_eq!(
            negotiate("text/plain;q=0.4, application/openmetrics-text;q=0.5"),
            OpenMetrics
        );
        assert_eq!(negotiate("application/openmetrics-text;q=0"), Text);
        assert_eq!(negotiate("application/openmetrics-text;version=2.0.0"), Text);
        assert_eq!(negotiate("application/json"), Text);
        assert_eq!(negotiate("*/*"), Text);
        assert_eq!(negotiate(""), Text);
        assert_eq!(negotiate("garbage, ;;;, /, */x"), Text);
        assert_eq!(
            negotiate("application/openmetrics-text;q=2"),
            Text,
            "a malformed q skips the range"
        );
        // The more specific range decides a format's quality.
        assert_eq!(negotiate("*/*;q=0.9, application/openmetrics-text;q=0"), Text);
        assert_eq!(negotiate("*/*;q=0.1, application/openmetrics-text"), OpenMetrics);
        // Ties: the exactly named format, and between two exact names the text format.
        assert_eq!(negotiate("application/openmetrics-text, */*"), OpenMetrics);
        assert_eq!(negotiate("application/*, text/*"), Text);
        assert_eq!(negotiate("application/openmetrics-text, text/plain"), Text);
        assert_eq!(
            negotiate("application/openmetrics-text;version=1.0.0, text/plain"),
            OpenMetrics
        );
    }
}
