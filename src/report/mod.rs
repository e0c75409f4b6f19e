//! Reports read a run's statistics and never change them: the summary table
//! ([`summary`]), the status line, the JSON result ([`json`]), Locust-style
//! CSV files ([`csv`]), the verdicts of CI thresholds
//! ([`crate::stats::threshold`]) as JUnit XML ([`junit`]), a self-contained HTML page with charts ([`html`],
//! [`charts`]); all drawn from one [`run_report::RunReport`], which saved
//! results can be read back into and merged ([`merge`]). Live, the run's
//! statistics in Prometheus' text format ([`prometheus`]), served for
//! scraping by [`metrics_endpoint`].

pub mod auto_version;
pub mod capacity;
pub mod charts;
pub mod compare;
pub mod csv;
pub mod exposition;
pub mod html;
pub mod json;
pub mod junit;
pub mod merge;
pub mod metrics_endpoint;
pub mod prometheus;
pub mod replay;
pub mod run_report;
pub mod summary;

/// Escapes text for XML and HTML, in text and in quoted attributes.
pub fn escape_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 has no way to write other control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

pub use crate::stats::format_micros;

#[cfg(test)]
mod tests {
    #[test]
    fn micros_format() {
        assert_eq!(super::format_micros(850.0), "850us");
        assert_eq!(super::format_micros(1_234.0), "1.23ms");
        assert_eq!(super::format_micros(12_345.0), "12.3ms");
        assert_eq!(super::format_micros(250_000.0), "250ms");
        assert_eq!(super::format_micros(1_250_000.0), "1.25s");
    }
}
