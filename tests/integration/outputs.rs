//! What a run leaves behind: the summary, JSON with mergeable histograms,
//! Locust-style CSV files, thresholds as the exit code, and a graceful Ctrl-C.

use base64::Engine as _;

use crate::common::{self, Dir, ExpectExit, Volley, read_json};

fn scenario(base: &str, extra: &str) -> String {
    format!(
        "thresholds = [\"p99<10s\"]\n[load]\nusers = 2\n{extra}\n[http]\nbase_url = \"{base}\"\n[[request]]\nname = \"health\"\npath = \"/healthz\"\n[[request]]\nname = \"ready\"\npath = \"/readyz\"\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn json_and_csv_have_their_shapes_and_histograms_merge() {
    let server = crate::servers::predict_rest(None).await;
    let dir = Dir::new();
    let file = dir.write(
        "s.toml",
        &scenario(&format!("http://{}", server.addr), "requests = 500"),
    );
    let json = dir.path("out.json");
    let prefix = dir.path("res");
    let out = Volley::run(&file)
        .json(&json)
        .flag("--csv", &prefix)
        .flag("--threshold", "health:p50<5s")
        .flag("--threshold", "rps>1")
        .output_async()
        .await;
    let (stdout, _) = common::text(&out);
    out.expect_exit(0);
    for col in [
        "name", "requests", "failures", "rps", "mean", "p50", "p90", "p95", "p99", "p99.9", "max",
    ] {
        assert!(stdout.lines().next().unwrap().contains(col), "{stdout}");
    }
    assert!(stdout.contains("PASS p99<10s"), "{stdout}");
    assert!(stdout.contains("PASS health:p50<5s"), "{stdout}");
    let r = read_json(&json);
    for key in [
        "volley",
        "config",
        "totals",
        "names",
        "series",
        "thresholds",
        "passed",
        "duration_s",
    ] {
        assert!(r.get(key).is_some(), "missing {key}");
    }
    assert_eq!(r["passed"], true);
    assert_eq!(r["config"]["users"], 2);
    assert_eq!(r["thresholds"].as_array().unwrap().len(), 3);
    // The encoded histograms decode, hold every request, and add up exactly
    // to the total's.
    let decode = |v: &serde_json::Value| {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        volley::stats::histogram::decode(&bytes).unwrap()
    };
    let mut merged = volley::stats::histogram::new();
    let mut count = 0;
    for n in r["names"].as_array().unwrap() {
        let h = decode(&n["histogram"]);
        assert_eq!(h.len(), n["requests"].as_u64().unwrap());
        count += h.len();
        volley::stats::histogram::add(&mut merged, &h);
    }
    assert_eq!(count, 500);
    assert_eq!(merged, decode(&r["totals"]["histogram"]));

    let stats = std::fs::read_to_string(dir.path("res_stats.csv")).unwrap();
    let header = stats.lines().next().unwrap();
    assert!(
        header.starts_with(
            "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time"
        ),
        "{header}"
    );
    assert!(header.ends_with("99%,99.9%,99.99%,100%"), "{header}");
    assert_eq!(stats.lines().count(), 4, "{stats}");
    assert!(
        stats
            .lines()
            .last()
            .unwrap()
            .starts_with(",Aggregated,500,0,"),
        "{stats}"
    );
    let history = std::fs::read_to_string(dir.path("res_stats_history.csv")).unwrap();
    assert!(
        history.starts_with("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%"),
        "{history}"
    );
    let failures = std::fs::read_to_string(dir.path("res_failures.csv")).unwrap();
    assert_eq!(
        failures.trim(),
        "Method,Name,Error,Occurrences,First Seen,Last Seen"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_threshold_exits_1_and_is_named() {
    let server = crate::servers::predict_rest(None).await;
    let dir = Dir::new();
    let file = dir.write(
        "s.toml",
        &scenario(&format!("http://{}", server.addr), "requests = 100"),
    );
    let junit = dir.path("junit.xml");
    let out = Volley::run(&file)
        .flag("--threshold", "p99<1us")
        .flag("--threshold", "requests>=100")
        .flag("--junit", &junit)
        .output_async()
        .await;
    let (stdout, stderr) = common::text(&out);
    out.expect_exit(1);
    assert!(stdout.contains("FAIL p99<1us"), "{stdout}");
    assert!(stdout.contains("PASS requests>=100"), "{stdout}");
    assert!(stderr.contains("threshold failed: p99<1us"), "{stderr}");
    // The same verdicts as JUnit XML: the file's, then the two flags'.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"tests="3" failures="1""#), "{xml}");
    assert!(
        xml.contains(r#"name="p99&lt;1us" time="0"><failure type="threshold""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"name="requests&gt;=100" time="0"><system-out>observed 100"#),
        "{xml}"
    );
    assert!(xml.contains(r#"name="p99&lt;10s""#), "{xml}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_gracefully_and_still_reports() {
    let server = crate::servers::predict_rest(None).await;
    let dir = Dir::new();
    let file = dir.write(
        "s.toml",
        &scenario(&format!("http://{}", server.addr), "duration = \"60s\""),
    );
    let json = dir.path("out.json");
    let (file_s, json_s) = (
        file.to_str().unwrap().to_owned(),
        json.to_str().unwrap().to_owned(),
    );
    let out = tokio::task::spawn_blocking(move || {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_volley"))
            .args([
                "run",
                "-f",
                &file_s,
                "--json",
                &json_s,
                "--status-every",
                "1s",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let start = std::time::Instant::now();
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let out = child.wait_with_output().unwrap();
        (out, start.elapsed())
    })
    .await
    .unwrap();
    let (o, took) = out;
    let (stdout, stderr) = common::text(&o);
    o.expect_exit(0);
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
    assert!(stderr.contains("stopping (SIGINT)"), "{stderr}");
    assert!(stderr.contains("users"), "no status line: {stderr}");
    assert!(stdout.contains("total"), "{stdout}");
    let r = read_json(&json);
    assert!(r["totals"]["requests"].as_u64().unwrap() > 0);
    assert!(r["duration_s"].as_f64().unwrap() < 30.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_dash_puts_the_result_alone_on_stdout_and_the_summary_on_stderr() {
    let server = crate::servers::predict_rest(None).await;
    let dir = Dir::new();
    let file = dir.write(
        "s.toml",
        &scenario(&format!("http://{}", server.addr), "requests = 200"),
    );
    let out = Volley::run(&file)
        .json("-")
        .flag("--threshold", "p99<1us")
        .output_async()
        .await;
    let (stdout, stderr) = common::text(&out);
    // The verdict is still the exit code (the Job's status in Kubernetes).
    out.expect_exit(1);
    // stdout is one JSON document and nothing else...
    let r: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout}"));
    assert_eq!(r["totals"]["requests"], 200, "{r}");
    assert_eq!(r["passed"], false, "{r}");
    // ... the summary and the verdicts went to stderr...
    assert!(stderr.contains("FAIL p99<1us"), "{stderr}");
    assert!(stderr.contains("PASS p99<10s"), "{stderr}");
    assert!(stderr.contains("threshold failed: p99<1us"), "{stderr}");
    // ... and no file named "-" was made in volley's working directory.
    assert!(!std::path::Path::new("-").exists());
    // Where a log merges the streams (kubectl logs), the JSON is the block
    // from a line `{` to a line `}`, as k8s/README.md extracts it with sed.
    let merged = format!("{stderr}{stdout}");
    let block: Vec<&str> = merged
        .lines()
        .skip_while(|l| *l != "{")
        .scan(false, |done, l| {
            (!*done).then(|| {
                *done = l == "}";
                l
            })
        })
        .collect();
    let extracted: serde_json::Value = serde_json::from_str(&block.join("\n")).unwrap();
    assert_eq!(extracted, r);
}
