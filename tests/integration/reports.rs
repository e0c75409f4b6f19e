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

/// Which protocol answered each name travels through saved results: drawn
/// again by `volley report` in the summary, HTML and JSON, added exactly
/// when results merge; a result without it reads as it did.
#[tokio::test(flavor = "multi_thread")]
async fn protocols_in_results_are_reported_and_merged() {
    let server = crate::servers::predict_rest(None).await;
    let base = format!("http://{}", server.addr);
    let dir = Dir::new();
    let p = |n: &str| dir.path(n).to_str().unwrap().to_owned();
    let file = dir.write("a.toml", &scenario(&base, &["health", "ready"], 200));
    let out = Volley::run(&file)
        .json(p("plain.json"))
        .output_async()
        .await;
    out.expect_exit(0);
    // The result as a run that counted protocols writes it: "health"
    // moved from HTTP/2 to HTTP/3, "ready" kept to HTTP/3.
    let mut doc = read_json(&dir.path("plain.json"));
    let requests = |doc: &serde_json::Value, name| named(doc, name)["requests"].as_u64().unwrap();
    let (health, ready) = (requests(&doc, "health"), requests(&doc, "ready"));
    assert!(health > 1 && ready > 0, "{doc}");
    // A real run counts which protocol answered: this one's HTTP/1.1.
    assert_eq!(
        named(&doc, "health")["protocols"],
        serde_json::json!({"HTTP/1.1": health})
    );
    // A result from before volley counted them: the same without the key.
    let mut old = doc.clone();
    for n in old["names"].as_array_mut().unwrap() {
        n.as_object_mut().unwrap().remove("protocols");
    }
    old["totals"].as_object_mut().unwrap().remove("protocols");
    std::fs::write(dir.path("old.json"), old.to_string()).unwrap();
    for n in doc["names"].as_array_mut().unwrap() {
        n["protocols"] = match n["name"].as_str() {
            Some("health") => serde_json::json!({"HTTP/2": 1, "HTTP/3": health - 1}),
            _ => serde_json::json!({"HTTP/3": ready}),
        };
    }
    std::fs::write(dir.path("a.json"), doc.to_string()).unwrap();

    // Drawn again.
    let out = Volley::sub("report")
        .arg(p("a.json"))
        .json(p("again.json"))
        .flag("--html", p("a.html"))
        .output_async()
        .await;
    let (stdout, _) = common::text(&out);
    out.expect_exit(0);
    let header = stdout.lines().next().unwrap();
    assert!(
        header.starts_with("name") && header.contains(" proto "),
        "{stdout}"
    );
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        (row("health"), row("ready"), row("total")),
        ("h2+h3".into(), "h3".into(), "h2+h3".into())
    );
    assert!(
        stdout.contains(&format!(
            "answered over more than one protocol:\n  health: HTTP/2 1, HTTP/3 {}\n",
            health - 1
        )),
        "{stdout}"
    );
    assert!(!stdout.contains("  ready: "), "{stdout}");
    let again = read_json(&dir.path("again.json"));
    assert_eq!(
        named(&again, "health")["protocols"],
        named(&doc, "health")["protocols"]
    );
    assert_eq!(
        again["totals"]["protocols"],
        serde_json::json!({"HTTP/2": 1, "HTTP/3": health - 1 + ready})
    );
    let html = std::fs::read_to_string(dir.path("a.html")).unwrap();
    assert!(html.contains("<th class=\"l\">protocol</th>"), "no column");
    assert!(
        html.contains(&format!(
            "<td class=\"l\">HTTP/2 1, HTTP/3 {}</td>",
            health - 1
        )),
        "no health protocols"
    );

    // Merged with itself and with a result that counted none: added exactly.
    let out = Volley::sub("report")
        .args([p("a.json"), p("a.json"), p("old.json")])
        .json(p("merged.json"))
        .output_async()
        .await;
    out.expect_exit(0);
    let m = read_json(&dir.path("merged.json"));
    assert_eq!(
        named(&m, "health")["protocols"],
        serde_json::json!({"HTTP/2": 2, "HTTP/3": 2 * (health - 1)})
    );
    assert_eq!(requests(&m, "health"), 3 * health);

    // The result without protocols: no column, no key.
    let out = Volley::sub("report")
        .arg(p("old.json"))
        .json(p("plain-again.json"))
        .output_async()
        .await;
    let (stdout, _) = common::text(&out);
    out.expect_exit(0);
    assert!(!stdout.contains("proto"), "{stdout}");
    assert!(
        named(&read_json(&dir.path("plain-again.json")), "health")
            .get("protocols")
            .is_none()
    );

    // More protocols than requests: refused, naming the field.
    let mut forged = doc.clone();
    forged["names"][0]["protocols"] = serde_json::json!({"HTTP/1.1": health, "HTTP/3": 1});
    std::fs::write(dir.path("forged.json"), forged.to_string()).unwrap();
    let out = Volley::report(dir.path("forged.json")).output_async().await;
    let (_, stderr) = common::text(&out);
    out.expect_exit(2);
    assert!(stderr.contains("protocols"), "{stderr}");
}
