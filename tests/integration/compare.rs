//! `volley compare` on real runs against an in-test target whose latency
//! the test sets: 5 ms, then 6 ms, then 5 ms again. 5 → 6 ms is a
//! regression (exit 1), 5 → 5 is not (exit 0), 6 → 5 is an improvement
//! (exit 0); every output file is written and parses; bad input exits 2.

use std::sync::atomic::Ordering;

use crate::common::{self, Dir, ExpectExit, Volley, args, volley_async};

fn scenario(addr: std::net::SocketAddr, name: &str, load: &str) -> String {
    format!(
        "[load]\n{load}\n[http]\nbase_url = \"http://{addr}\"\n[[request]]\nname = \"{name}\"\npath = \"/work\"\n"
    )
}

/// Runs `file` and writes its result to `json`; the run must pass.
async fn run(file: &std::path::Path, json: &std::path::Path) {
    let out = Volley::run(file).json(json).headless().output_async().await;
    out.expect_exit(0);
}

/// The verdict of `name` in a comparison's JSON.
fn verdict(doc: &serde_json::Value, name: &str) -> String {
    doc["names"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {doc}"))["verdict"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `volley compare ARGS --json -`: the exit code, the document, stderr.
async fn compare_json(files: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let mut a = args(&["compare"]);
    a.extend(files.iter().map(|f| f.to_string()));
    a.extend(args(&["--json", "-"]));
    let out = volley_async(a).await;
    let (stdout, stderr) = common::text(&out);
    let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (out.status.code(), doc, stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn compare_flags_a_slower_target_and_passes_a_repeat_and_an_improvement() {
    let target = crate::servers::Delayed::start(5);
    let dir = Dir::new();
    let p = |n: &str| dir.path(n).to_str().unwrap().to_owned();
    let file = dir.write(
        "work.toml",
        &scenario(target.addr, "work", "users = 2\nduration = \"3s\""),
    );
    // 5 ms, 6 ms, 5 ms. What must never happen is checked on every round:
    // a repeat (5 → 5) or an improvement (6 → 5) flagged as a regression,
    // a slowdown (5 → 6) called an improvement. A detection may be
    // inconclusive instead when a second of a 3 s run was disturbed (this
    // machine is shared, and a wide interval is then the right answer):
    // the runs are measured again, once.
    for round in 1..=2 {
        target.delay_ms.store(5, Ordering::Relaxed);
        run(&file, &dir.path("a.json")).await;
        target.delay_ms.store(6, Ordering::Relaxed);
        run(&file, &dir.path("b.json")).await;
        target.delay_ms.store(5, Ordering::Relaxed);
        run(&file, &dir.path("c.json")).await;
        let (code, same, stderr) = compare_json(&[&p("a.json"), &p("c.json")]).await;
        assert_eq!(code, Some(0), "5 → 5 ms: {same}\n{stderr}");
        assert_eq!(same["verdict"], "no_regression");
        assert_ne!(verdict(&same, "work"), "regression");
        // The JSON alone on stdout; the table on stderr.
        assert!(stderr.contains("work (request, HTTP)"), "{stderr}");
        let (code, faster, stderr) = compare_json(&[&p("b.json"), &p("c.json")]).await;
        assert_eq!(code, Some(0), "6 → 5 ms: {faster}\n{stderr}");
        let (code, slower, stderr) = compare_json(&[&p("a.json"), &p("b.json")]).await;
        assert_ne!(verdict(&slower, "work"), "improved", "5 → 6 ms: {slower}");
        let detected = code == Some(1) && verdict(&faster, "work") == "improved";
        if detected {
            assert_eq!(verdict(&slower, "work"), "regression");
            assert!(stderr.contains("regression: work: "), "{stderr}");
            break;
        }
        // Either direction may come out inconclusive on a noisy machine
        // (never the wrong way, checked above and here): measured again.
        assert!(
            round < 2 && verdict(&faster, "work") != "regression",
            "5 → 6 ms: {slower}\n6 → 5 ms: {faster}"
        );
    }

    // 5 → 6 ms: a regression, and every file says so.
    let out = Volley::sub("compare")
        .arg(p("a.json"))
        .arg(p("b.json"))
        .flag("--markdown", p("cmp.md"))
        .json(p("cmp.json"))
        .flag("--junit", p("cmp.xml"))
        .flag("--html", p("cmp.html"))
        .output_async()
        .await;
    let (stdout, _) = common::text(&out);
    out.expect_exit(1);
    assert!(
        stdout.contains("work (request, HTTP): REGRESSION"),
        "{stdout}"
    );
    assert!(stdout.contains("95% interval"), "{stdout}");
    let doc = common::read_json(&dir.path("cmp.json"));
    assert_eq!(doc["verdict"], "regression");
    assert_eq!(verdict(&doc, "work"), "regression");
    let p50 = &doc["names"][0]["latency"][0];
    assert_eq!(p50["percentile"], "p50");
    assert!(p50["change"].as_f64().unwrap() > 0.05, "{p50}");
    let md = std::fs::read_to_string(dir.path("cmp.md")).unwrap();
    assert!(md.starts_with("### volley compare: regression"), "{md}");
    assert!(md.contains("| work | **REGRESSION** |"), "{md}");
    let xml = std::fs::read_to_string(dir.path("cmp.xml")).unwrap();
    assert!(xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?>"#));
    // The request and its time to first byte (the delay is before the
    // answer's head: both slowed).
    assert!(xml.contains(r#"tests="2" failures="2""#), "{xml}");
    assert!(
        xml.contains(r#"<testcase classname="volley.compare.ttfb" name="ttfb:work""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"<testcase classname="volley.compare.request" name="work" time="0"><failure type="regression" message="p"#),
        "{xml}"
    );
    assert_eq!(
        xml.matches("<testcase").count(),
        xml.matches("</testcase>").count()
    );
    let html = std::fs::read_to_string(dir.path("cmp.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("id=\"verdict\">REGRESSION<"), "verdict");
    assert!(
        html.contains("id=\"chart-0\"><svg"),
        "the distributions overlaid"
    );
    assert!(
        html.contains(">baseline<") && html.contains(">candidate<"),
        "legend"
    );
    for outside in ["<script", "src=", "@import", "url("] {
        assert!(
            !html.contains(outside),
            "the page refers outside: {outside}"
        );
    }

    // Two runs merged against one, JUnit on stdout: the plumbing (how
    // merged sides are judged is tested beside the statistics).
    let out = Volley::sub("compare")
        .arg(p("a.json"))
        .arg(p("c.json"))
        .flag("--vs", p("b.json"))
        .arg("--junit")
        .arg("-")
        .output_async()
        .await;
    let (stdout, stderr) = common::text(&out);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.starts_with("<?xml") && stdout.contains(r#"tests="2""#),
        "{stdout}"
    );
    assert!(
        stderr.contains("a.json + ") && stderr.contains("c.json ("),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn compare_refuses_bad_input_with_exit_2() {
    let target = crate::servers::Delayed::start(0);
    let dir = Dir::new();
    let p = |n: &str| dir.path(n).to_str().unwrap().to_owned();
    for name in ["one", "other"] {
        let file = dir.write(
            &format!("{name}.toml"),
            &scenario(target.addr, name, "users = 1\nrequests = 20"),
        );
        run(&file, &dir.path(&format!("{name}.json"))).await;
    }
    let not_a_result = dir.write("notes.json", "{\"hello\": 1}\n");
    let cases: [(Vec<String>, &str); 5] = [
        (
            args(&["compare", &p("one.json"), not_a_result.to_str().unwrap()]),
            "not a volley result",
        ),
        (
            args(&["compare", &p("one.json"), &p("missing.json")]),
            "missing.json",
        ),
        (
            args(&["compare", &p("one.json"), &p("other.json")]),
            "in common",
        ),
        (
            args(&["compare", &p("one.json"), &p("one.json"), &p("one.json")]),
            "--vs",
        ),
        (
            args(&[
                "compare",
                &p("one.json"),
                &p("one.json"),
                "--json",
                "-",
                "--html",
                "-",
            ]),
            "only one",
        ),
    ];
    for (a, says) in cases {
        let out = volley_async(a.clone()).await;
        let (_, stderr) = common::text(&out);
        out.expect_exit_in(2, format_args!("{a:?}"));
        assert!(stderr.contains(says), "{a:?}: {stderr}");
    }
    // A run too short to judge: shown, not judged, and not a failure.
    let out = Volley::compare(p("one.json"), p("one.json"))
        .output_async()
        .await;
    let (stdout, _) = common::text(&out);
    out.expect_exit(0);
    assert!(
        stdout.contains("one (request, HTTP): not enough data"),
        "{stdout}"
    );
}
