//! A comparison as files for machines: JSON (every figure, both intervals
//! and the settings) and JUnit XML (one test case per name, a regression
//! a failure), for CI systems that show test reports.

use std::io::{self, Write};

use super::{Comparison, Verdict};
use crate::report::escape_markup as esc;

/// The comparison as one JSON document.
pub fn write_json(out: &mut impl Write, c: &Comparison) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, c)?;
    writeln!(out)
}

/// The comparison as JUnit XML: one test case per name, in a suite per
/// class (`volley.compare.request`, `.flow`, `.stream`, `.ttfb`); a regression is a
/// failure, too little data a skipped case, the rest pass with their
/// verdict in `system-out`.
pub fn write_junit(out: &mut impl Write, c: &Comparison) -> io::Result<()> {
    let tests = c.names.len();
    let failures = c.count(Verdict::Regression);
    let skipped = c.count(Verdict::NotEnoughData);
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="volley compare" tests="{tests}" failures="{failures}" errors="0" skipped="{skipped}" time="0">"#
    )?;
    writeln!(
        out,
        r#"  <testsuite name="volley compare" tests="{tests}" failures="{failures}" errors="0" skipped="{skipped}" time="0">"#
    )?;
    let rule = esc(&c.rule());
    writeln!(
        out,
        r#"    <properties><property name="baseline" value="{}"/><property name="candidate" value="{}"/><property name="rule" value="{rule}"/></properties>"#,
        esc(&c.baseline.files.join(" + ")),
        esc(&c.candidate.files.join(" + "))
    )?;
    for n in &c.names {
        let class = esc(n.class);
        let name = esc(&n.name);
        let why = esc(&n.reasons.join("; "));
        let open =
            format!(r#"    <testcase classname="volley.compare.{class}" name="{name}" time="0">"#);
        match n.verdict {
            Verdict::Regression => writeln!(
                out,
                r#"{open}<failure type="regression" message="{why}">{name}: regression: {why}</failure></testcase>"#
            )?,
            Verdict::NotEnoughData => writeln!(
                out,
                r#"{open}<skipped message="not enough data: {why}"/></testcase>"#
            )?,
            v => {
                let label = esc(v.label());
                let text = if why.is_empty() {
                    label
                } else {
                    format!("{label}: {why}")
                };
                writeln!(out, "{open}<system-out>{text}</system-out></testcase>")?
            }
        }
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")?;
    Ok(())
}
