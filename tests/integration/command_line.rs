//! The command line as users of oha, hey, Locust and k6 type it: a URL
//! instead of a file (one-line runs), the file given first, `-H` as a
//! header, bare seconds, k6's and Locust's spellings, `VOLLEY_*` variables,
//! completions, the man page, the version, and misspelt keys answered with
//! the key meant. Against predict-rest on loopback.

use crate::common::{self, Dir, ExpectExit, Volley, read_json};

fn names(r: &serde_json::Value) -> Vec<String> {
    r["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_is_a_one_line_run_with_method_body_and_headers() {
    let server = crate::servers::predict_rest(None).await;
    let dir = Dir::new();
    let json = dir.path("r.json");
    let url = format!("http://{}/predict", server.addr);
    let out = Volley::run_bare(&url)
        .flag("-d", r#"{"text": "The striker scored twice"}"#)
        .flag("-H", "content-type: application/json")
        .flag("-n", "30")
        .flag("-u", "3")
        .json(&json)
        .output_async()
        .await;
    out.expect_exit(0);
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"], 30);
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    // A body makes it a POST, named as oha and hey show it.
    assert_eq!(names(&r), ["POST /predict"]);
    // Without the header the server refuses the body: -H was what it sent.
    let out = Volley::run_bare(&url)
        .flag("-d", r#"{"text": "x"}"#)
        .flag("-n", "5")
        .json(&json)
        .output_async()
        .await;
    // Not one request succeeded: the run fails though it has no threshold
    // (a CI step that meets a broken service must not pass).
    let (stdout, stderr) = common::text(&out);
    out.expect_exit(1);
    assert!(stdout.contains("FAIL successes>0"), "{stdout}");
    assert!(stderr.contains("all 5 requests failed"), "{stderr}");
    assert_eq!(read_json(&json)["totals"]["failures"], 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_line_run_without_counts_sends_200_requests_from_50_users() {
    let server = crate::servers::predict_rest(None).await;
    let dir = Dir::new();
    let json = dir.path("r.json");
    let out = Volley::run_bare(format!("http://{}/healthz", server.addr))
        .json(&json)
        .output_async()
        .await;
    out.expect_exit(0);
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"], 200);
    assert_eq!(r["config"]["users"], 50);
    assert_eq!(names(&r), ["GET /healthz"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_file_first_bare_seconds_aliases_and_variables() {
    let server = crate::servers::predict_rest(None).await;
    let dir = Dir::new();
    let file = dir.write(
        "s.toml",
        &format!(
            "[http]\nbase_url = \"http://{}\"\n[[request]]\nname = \"health\"\npath = \"/healthz\"\n",
            server.addr
        ),
    );
    let json = dir.path("r.json");
    // The file first (as `k6 run script.js`), -t 1 is a second, --vus is -u.
    let out = Volley::run_bare(&file)
        .flag("-t", "1")
        .flag("--vus", "2")
        .json(&json)
        .output_async()
        .await;
    out.expect_exit(0);
    let r = read_json(&json);
    assert_eq!(r["config"]["duration_s"], 1.0);
    assert_eq!(r["config"]["users"], 2);
    // A VOLLEY_* variable sets a flag; a flag given wins over it.
    let run = |extra: &[&str]| {
        Volley::run_bare(&file)
            .json(&json)
            .args(extra)
            .env("VOLLEY_REQUESTS", "17")
            .env("VOLLEY_USERS", "1")
            .output()
    };
    let out = run(&[]);
    out.expect_exit(0);
    assert_eq!(read_json(&json)["totals"]["requests"], 17);
    let out = run(&["-n", "9"]);
    out.expect_exit(0);
    assert_eq!(read_json(&json)["totals"]["requests"], 9);
    // `volley check` takes the file first too, and says what it understood.
    let out = Volley::check_bare(&file).output();
    let (stdout, _) = common::text(&out);
    out.expect_exit(0);
    for want in [
        format!("HTTP GET http://{}/healthz", server.addr),
        "stops after 1m (the default)".into(),
        "timeout 30s per request".into(),
    ] {
        assert!(stdout.contains(&want), "no {want:?} in {stdout}");
    }
}

#[test]
fn h_is_a_header_and_a_url_there_is_refused_saying_so() {
    let dir = Dir::new();
    let file = dir.write(
        "s.toml",
        "[http]\nbase_url = \"http://127.0.0.1:9\"\n[[request]]\nname = \"a\"\n",
    );
    let out = Volley::run_bare(&file)
        .flag("-H", "http://127.0.0.1:9")
        .output();
    let (_, stderr) = common::text(&out);
    out.expect_exit(2);
    assert!(stderr.contains("the host is --host"), "{stderr}");
    let out = Volley::sub("run").output();
    let (_, stderr) = common::text(&out);
    out.expect_exit(2);
    assert!(stderr.contains("give a scenario file"), "{stderr}");
}

#[test]
fn completions_man_page_and_version() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Volley::sub("completions").arg(shell).output();
        let (stdout, _) = common::text(&out);
        out.expect_exit_in(0, format_args!("{shell}"));
        assert!(
            stdout.contains("volley") && stdout.contains("users"),
            "{shell}"
        );
    }
    let out = Volley::sub("man").output();
    let (stdout, _) = common::text(&out);
    out.expect_exit(0);
    assert!(
        stdout.starts_with(".ie") || stdout.contains(".TH volley"),
        "{stdout}"
    );
    let out = Volley::new().arg("--version").output();
    let (stdout, _) = common::text(&out);
    // "volley 0.1.0 (commit)": the commit built, or "unknown" without git.
    assert!(
        stdout.starts_with(&format!("volley {} (", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
    let out = Volley::sub("run").arg("--help").output();
    let (stdout, _) = common::text(&out);
    assert!(!stdout.contains("[default: 0]"), "{stdout}");
}

#[test]
fn a_misspelt_key_is_answered_with_the_key_meant() {
    let dir = Dir::new();
    let file = dir.write(
        "s.toml",
        "[load]\nspawn_rat = 5\n[http]\nbase_url = \"http://127.0.0.1:9\"\n[[request]]\nname = \"a\"\n",
    );
    let out = Volley::check_bare(&file).output();
    let (_, stderr) = common::text(&out);
    out.expect_exit(2);
    assert!(stderr.contains("did you mean `spawn_rate`?"), "{stderr}");
    assert!(stderr.contains("s.toml:2:1"), "{stderr}");
    // A threshold's mistake is said once.
    let file = dir.write(
        "t.toml",
        "thresholds = [\"p99<250\"]\n[http]\nbase_url = \"http://127.0.0.1:9\"\n[[request]]\nname = \"a\"\n",
    );
    let out = Volley::check_bare(&file).output();
    let (_, stderr) = common::text(&out);
    out.expect_exit(2);
    assert_eq!(
        stderr.matches("threshold \"p99<250\"").count(),
        1,
        "{stderr}"
    );
}
