//! `volley demo` without a terminal: embedded servers, the mixed scenario,
//! a summary and exit 0.

use crate::common::{self, Dir, ExpectExit, Volley, read_json};

#[tokio::test(flavor = "multi_thread")]
async fn demo_runs_both_protocols_against_embedded_servers() {
    let dir = Dir::new();
    let json = dir.path("demo.json");
    let out = Volley::demo()
        .flag("-t", "2s")
        .json(&json)
        .output_async()
        .await;
    let (stdout, stderr) = common::text(&out);
    out.expect_exit(0);
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
