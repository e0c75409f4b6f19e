//! `volley demo` without a terminal: embedded servers, the mixed scenario,
//! a summary and exit 0.

use crate::common::{self, Dir, args, read_json, volley_async};

#[tokio::test(flavor = "multi_thread")]
async fn demo_runs_both_protocols_against_embedded_servers() {
    let dir = Dir::new();
    let json = dir.path("demo.json");
    let out = volley_async(args(&[
        "demo",
        "-t",
        "2s",
        "--json",
        json.to_str().unwrap(),
    ]))
    .await;
    let (stdout, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("predict-rest on http://127.0.0.1:"),
        "{stderr}"
    );
    let r = read_json(&json);
    for (i, name) in ["predict-rest", "predict-grpc"].iter().enumerate() {
        assert_eq!(r["names"][i]["name"], *name);
        assert!(
            r["names"][i]["requests"].as_u64().unwrap() > 100,
            "{}",
            r["names"][i]
        );
        assert_eq!(r["names"][i]["failures"], 0, "{}", r["names"][i]);
    }
    assert!(stdout.contains("PASS error_rate<1%"), "{stdout}");
}
