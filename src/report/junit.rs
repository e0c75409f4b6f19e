//! Thresholds as JUnit XML, for CI systems that show test reports: one test
//! case per threshold, failed when the threshold failed, with what was
//! observed. A run without thresholds is one passing case, `run`. An
//! INVALID run (the generator limited it) adds a failed case, `generator`.

use std::io::{self, Write};

use super::escape_markup as esc;
use crate::stats::threshold::Verdict;

/// Writes the report of scenario `name`, which ran `secs` seconds.
pub fn write(
    out: &mut impl Write,
    name: &str,
    secs: f64,
    verdicts: &[Verdict],
    invalid: &[String],
) -> io::Result<()> {
    let judged = usize::from(!invalid.is_empty());
    let failures = verdicts.iter().filter(|v| !v.passed).count() + judged;
    let tests = verdicts.len().max(1) + judged;
    let name = esc(name);
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="volley" tests="{tests}" failures="{failures}" errors="0" time="{secs:.3}">"#
    )?;
    writeln!(
        out,
        r#"  <testsuite name="{name}" tests="{tests}" failures="{failures}" errors="0" skipped="0" time="{secs:.3}">"#
    )?;
    if verdicts.is_empty() {
        writeln!(
            out,
            r#"    <testcase classname="volley.{name}" name="run" time="{secs:.3}"/>"#
        )?;
    }
    for v in verdicts {
        let t = esc(&v.threshold);
        let observed = esc(&v.observed);
        if v.passed {
            writeln!(
                out,
                r#"    <testcase classname="volley.{name}" name="{t}" time="0"><system-out>observed {observed}</system-out></testcase>"#
            )?;
        } else {
            writeln!(
                out,
                r#"    <testcase classname="volley.{name}" name="{t}" time="0"><failure type="threshold" message="observed {observed}">{t}: observed {observed}</failure></testcase>"#
            )?;
        }
    }
    if !invalid.is_empty() {
        let why = esc(&invalid.join("; "));
        writeln!(
            out,
            r#"    <testcase classname="volley.{name}" name="generator" time="0"><failure type="invalid" message="INVALID: {why}">the generator, not the target, limited the measurement: {why}</failure></testcase>"#
        )?;
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(t: &str, passed: bool, observed: &str) -> Verdict {
        Verdict {
            threshold: t.into(),
            passed,
            observed: observed.into(),
            implicit: false,
        }
    }

    #[test]
    fn each_threshold_is_a_case_and_text_is_escaped() {
        let mut out = Vec::new();
        let v = [
            verdict("p99<250ms", false, "300ms"),
            verdict("flow:a&b:error_rate<1%", true, "0.000%"),
        ];
        write(&mut out, "shop \"x\"", 12.5, &v, &[]).unwrap();
        let xml = String::from_utf8(out).unwrap();
        assert!(
            xml.contains(r#"<testsuite name="shop &quot;x&quot;" tests="2" failures="1""#),
            "{xml}"
        );
        assert!(xml.contains(r#"name="p99&lt;250ms""#), "{xml}");
        assert!(
            xml.contains(r#"<failure type="threshold" message="observed 300ms">"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"name="flow:a&amp;b:error_rate&lt;1%""#),
            "{xml}"
        );
        assert_eq!(xml.matches("<testcase").count(), 2);
        let mut out = Vec::new();
        write(&mut out, "s", 1.0, &[], &[]).unwrap();
        let xml = String::from_utf8(out).unwrap();
        assert!(
            xml.contains(r#"name="run""#) && xml.contains(r#"failures="0""#),
            "{xml}"
        );
        // An INVALID run fails its own case, whatever the thresholds say.
        let mut out = Vec::new();
        let why = ["generator CPU averaged 97% <of 1 core>".to_owned()];
        write(&mut out, "s", 1.0, &[verdict("p99<1s", true, "2ms")], &why).unwrap();
        let xml = String::from_utf8(out).unwrap();
        assert!(xml.contains(r#"tests="2" failures="1""#), "{xml}");
        assert!(
            xml.contains(r#"name="generator""#)
                && xml.contains(r#"<failure type="invalid" message="INVALID: generator CPU averaged 97% &lt;of 1 core&gt;">"#),
            "{xml}"
        );
        assert_eq!(esc("a\u{1}b"), "a?b");
    }
}
