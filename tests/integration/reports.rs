//! Reports drawn from saved results: `volley report` draws a run's result
//! again exactly and merges several exactly; the HTML report is one
//! self-contained page.

use base64::Engine as _;

use crate::common::{self, Dir, ExpectExit, Volley, read_json};

fn scenario(base: &str, names: &[&str], requests: u64) -> String {
    let mut s = format!(
        "thresholds = [\"p99<10s\"]\n[load]\nusers = 2\nrequests = {requests}\n[http]\nbase_url = \"{base}\"\n"
    );
    for n in names {
        s.push_str(&format!(
            "[[request]]\nname = \"{n}\"\npath = \"/healthz\"\n"
        ));
    }
    s
}

fn decode(v: &serde_json::Value) -> volley::stats::Latency {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap();
    volley::stats::histogram::decode(&bytes).unwrap()
}

fn named<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["names"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {doc}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn report_draws_a_result_again_and_merges_results_exactly() {
    let server = crate::servers::predict_rest(None).await;
    let base = format!("http://{}", server.addr);
    let dir = Dir::new();
    let p = |n: &str| dir.path(n).to_str().unwrap().to_owned();
    let a = dir.write("a.toml", &scenario(&base, &["health", "ready"], 300));
    let b = dir.write("b.toml", &scenario(&base, &["ready", "other"], 200));
    for (file, json) in [(&a, "a.json"), (&b, "b.json")] {
        let out = Volley::run(file).json(p(json)).output_async().await;
        out.expect_exit(0);
    }

    // One result drawn again: the same document, and every other report.
    let out = Volley::sub("report")
        .arg(p("a.json"))
        .json(p("again.json"))
        .flag("--html", p("a.html"))
        .flag("--csv", p("a"))
        .flag("--junit", p("a.xml"))
        .output_async()
        .await;
    let (stdout, _) = common::text(&out);
    out.expect_exit(0);
    assert!(stdout.contains("PASS p99<10s"), "{stdout}");
    assert_eq!(
        read_json(&dir.path("again.json")),
        read_json(&dir.path("a.json"))
    );
    let stats = std::fs::read_to_string(dir.path("a_stats.csv")).unwrap();
    assert!(stats.contains("GET,health,"), "{stats}");
    assert!(
        stats
            .lines()
            .last()
            .unwrap()
            .starts_with(",Aggregated,300,0,"),
        "{stats}"
    );
    let xml = std::fs::read_to_string(dir.path("a.xml")).unwrap();
    assert!(xml.contains(r#"tests="1" failures="0""#), "{xml}");

    // The HTML is one page with everything inline: charts as SVG, no script,
    // nothing to fetch.
    let html = std::fs::read_to_string(dir.path("a.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for id in ["chart-throughput", "chart-latency", "chart-distribution"] {
        assert!(html.contains(&format!("id=\"{id}\"><svg")), "{id}");
    }
    for section in [
        "Thresholds",
        "Requests",
        "Failures",
        "Workers",
        "Configuration",
    ] {
        assert!(html.contains(&format!(">{section}</h2>")), "{section}");
    }
    assert!(html.contains("id=\"verdict\">PASSED<"));
    assert!(html.contains("<td class=\"l\">health</td>"));
    for outside in ["<script", "src=", "href=", "@import", "url("] {
        assert!(
            !html.contains(outside),
            "the page refers outside: {outside}"
        );
    }

    // Two results merged: names once each, histograms added, the thresholds
    // of both evaluated again on the sums, plus one given here.
    let out = Volley::sub("report")
        .arg(p("a.json"))
        .arg(p("b.json"))
        .json(p("merged.json"))
        .flag("--threshold", "requests>=500")
        .flag("--threshold", "ready:requests>=1")
        .output_async()
        .await;
    out.expect_exit(0);
    let (ra, rb, m) = (
        read_json(&dir.path("a.json")),
        read_json(&dir.path("b.json")),
        read_json(&dir.path("merged.json")),
    );
    let names: Vec<&str> = m["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["health", "ready", "other"]);
    assert_eq!(m["totals"]["requests"], 500);
    let mut ready = decode(&named(&ra, "ready")["histogram"]);
    volley::stats::histogram::add(&mut ready, &decode(&named(&rb, "ready")["histogram"]));
    let merged_ready = named(&m, "ready");
    assert_eq!(decode(&merged_ready["histogram"]), ready);
    assert_eq!(
        merged_ready["p99_us"].as_u64().unwrap(),
        ready.value_at_quantile(0.99)
    );
    assert_eq!(
        merged_ready["requests"].as_u64().unwrap(),
        named(&ra, "ready")["requests"].as_u64().unwrap()
            + named(&rb, "ready")["requests"].as_u64().unwrap()
    );
    let mut total = decode(&ra["totals"]["histogram"]);
    volley::stats::histogram::add(&mut total, &decode(&rb["totals"]["histogram"]));
    assert_eq!(decode(&m["totals"]["histogram"]), total);
    assert_eq!(m["thresholds"].as_array().unwrap().len(), 3);
    assert_eq!(m["merged_from"].as_array().unwrap().len(), 2);
    assert_eq!(m["config"]["users"], 4);

    // A threshold the merged run misses fails the command, as a run would.
    let out = Volley::sub("report")
        .arg(p("a.json"))
        .arg(p("b.json"))
        .flag("--threshold", "requests>=501")
        .output_async()
        .await;
    let (stdout, _) = common::text(&out);
    out.expect_exit(1);
    assert!(stdout.contains("FAIL requests>=501"), "{stdout}");

    // Bad input: what and where, exit 2.
    let bad = dir.write(
        "bad.json",
        "{\n  \"volley\": \"0.1.0\",\n  \"config\": 7\n}\n",
    );
    let out = Volley::report(&bad).output_async().await;
    let (_, stderr) = common::text(&out);
    out.expect_exit(2);
    assert!(
        stderr.contains("bad.json") && stderr.contains("line 3"),
        "{stderr}"
    );
    let out = Volley::sub("report")
        .arg(p("a.json"))
        .flag("--threshold", "nope:p99<1s")
        .output_async()
        .await;
    let (_, stderr) = common::text(&out);
    out.expect_exit(2);
    assert!(stderr.contains("\"nope\""), "{stderr}");
}
