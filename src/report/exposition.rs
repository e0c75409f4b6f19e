//! Prometheus' text exposition format (0.0.4), as a writer: families with
//! their HELP and TYPE lines, samples with escaped labels, summaries from an
//! HDR histogram. What is exposed is [`super::prometheus`]'s business.

use std::fmt::Write as _;

use crate::stats::Latencies;

/// A sample's value.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    Int(u64),
    Float(f64),
}

/// The text being written. Writing into a String cannot fail, so the
/// results of `write!` are dropped.
pub struct Exposition(String);

impl Exposition {
    pub fn with_capacity(bytes: usize) -> Self {
        Exposition(String::with_capacity(bytes))
    }

    pub fn finish(self) -> String {
        self.0
    }

    /// A family of one sample.
    pub fn one(&mut self, name: &str, kind: &str, help: &str, labels: &[(&str, &str)], value: Num) {
        self.family(name, kind, help);
        self.sample(name, "", labels, value);
    }

    /// The HELP and TYPE lines of a family, written once before its samples.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let out = &mut self.0;
        out.push_str("# HELP ");
        out.push_str(name);
        out.push(' ');
        // HELP text escapes only backslash and newline.
        for c in help.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push_str("\n# TYPE ");
        out.push_str(name);
        out.push(' ');
        out.push_str(kind);
        out.push('\n');
    }

    /// One sample line: `name` + `suffix` (`_sum`, `_count` of a summary),
    /// its labels, its value.
    pub fn sample(&mut self, name: &str, suffix: &str, labels: &[(&str, &str)], value: Num) {
        let out = &mut self.0;
        out.push_str(name);
        out.push_str(suffix);
        if !labels.is_empty() {
            out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(label);
                out.push_str("=\"");
                push_label_value(out, value);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        match value {
            Num::Int(n) => {
                let _ = write!(out, "{n}");
            }
            // Rust writes f64 in plain decimal, shortest round trip, which
            // Prometheus parses exactly. NaN and infinities (a worker's
            // odd CPU reading) would be valid too, but break sums and
            // alerts; 0 keeps every value finite.
            Num::Float(x) if x.is_finite() => {
                let _ = write!(out, "{x}");
            }
            Num::Float(_) => out.push('0'),
        }
        out.push('\n');
    }

    /// A summary's lines for one series: `quantiles` (only with samples),
    /// `_sum` and `_count`, in seconds.
    pub fn summary(
        &mut self,
        family: &str,
        label: (&str, &str),
        hist: &Latencies,
        quantiles: &[(f64, &str)],
    ) {
        let count = hist.len();
        if count > 0 {
            for &(q, q_label) in quantiles {
                let micros = hist.quantile(q);
                self.sample(
                    family,
                    "",
                    &[label, ("quantile", q_label)],
                    Num::Float(seconds(micros as f64)),
                );
            }
        }
        let sum = if count > 0 {
            seconds(hist.mean() * count as f64)
        } else {
            0.0
        };
        self.sample(family, "_sum", &[label], Num::Float(sum));
        self.sample(family, "_count", &[label], Num::Int(count));
    }
}

fn seconds(micros: f64) -> f64 {
    micros / 1_000_000.0
}

/// A label value, escaped as the format asks: backslash, double quote and
/// newline.
fn push_label_value(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut out = String::new();
        push_label_value(&mut out, "plain");
        push_label_value(&mut out, "a\\b\"c\nd");
        assert_eq!(out, r#"plaina\\b\"c\nd"#);
        let mut e = Exposition::with_capacity(64);
        e.one(
            "x_total",
            "counter",
            "a \\ b\nc",
            &[("k", "v")],
            Num::Int(3),
        );
        e.one("y", "gauge", "y", &[], Num::Float(f64::NAN));
        assert_eq!(
            e.finish(),
            "# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\nx_total{k=\"v\"} 3\n# HELP y y\n# TYPE y gauge\ny 0\n"
        );
    }
}
