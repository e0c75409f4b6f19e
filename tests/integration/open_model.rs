//! The open model against a server that counts its connections: the pool is
//! opened before the first arrival and never grows, arrivals that find it
//! busy wait (and say so), and a generator that cannot keep the schedule
//! makes the run INVALID (exit 4) with its reason in every output.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::{Dir, ExpectExit, read_json, run_with_json, text};
use crate::servers::{ConnectionCounter, connection_counter};

fn scenario(dir: &Dir, target: &ConnectionCounter, load: &str) -> std::path::PathBuf {
    dir.write(
        "s.toml",
        &format!(
            "[load]\n{load}\n[http]\nbase_url = \"http://{}\"\n[[request]]\nname = \"get\"\npath = \"/\"\n",
            target.addr
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_is_opened_first_and_does_not_grow() {
    let target = connection_counter(Duration::ZERO).await;
    let dir = Dir::new();
    let file = scenario(
        &dir,
        &target,
        "rate = 200\nconnections = 6\nduration = \"2s\"",
    );
    let (out, json) = run_with_json(&file, &[]).await;
    out.expect_exit(0);
    // Six connections, opened before the first arrival; a fast target
    // never needs more, and the pool takes no more however the
    // dispatcher fares.
    assert_eq!(target.accepted.load(Ordering::SeqCst), 6);
    let r = read_json(&json);
    let requests = r["totals"]["requests"].as_u64().unwrap();
    assert!((350..=402).contains(&requests), "{requests}");
    assert_eq!(r["verdict"], "pass", "{r}");
    assert_eq!(r["missed_starts"], 0);
    assert_eq!(r["config"]["connections"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_that_find_the_pool_busy_wait_and_their_wait_counts() {
    // 100 ms answers on 2 connections carry 20/s; 50/s arrive. The pool
    // stays at 2, arrivals queue for it, and their latency grows with the
    // queue (from the intended start), as a real client's would.
    let target = connection_counter(Duration::from_millis(100)).await;
    let dir = Dir::new();
    let file = scenario(
        &dir,
        &target,
        "rate = 50\nconnections = 2\nduration = \"2s\"",
    );
    let (out, json) = run_with_json(&file, &[]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(target.accepted.load(Ordering::SeqCst), 2, "{stderr}");
    let r = read_json(&json);
    let waited = r["waited_starts"].as_u64().unwrap();
    assert!(waited > 10, "{r}");
    assert!(
        stdout.contains("found every connection busy and waited"),
        "{stdout}"
    );
    // The last of 2 s of arrivals waited for the 40 ahead of it: ~1 s.
    let max_ms = r["totals"]["max_us"].as_u64().unwrap() / 1000;
    assert!(max_ms >= 500, "{max_ms} ms");
    // Requests still in flight at the stop are counted, not hidden.
    assert!(r["abandoned"].as_u64().unwrap() >= 1, "{r}");
    assert!(stdout.contains("abandoned unanswered"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generator_that_cannot_keep_the_schedule_is_invalid_and_exits_4() {
    // One runtime thread asked for a million arrivals a second: it cannot,
    // the queue of waiting arrivals fills, and the run is INVALID.
    let target = connection_counter(Duration::ZERO).await;
    let dir = Dir::new();
    let file = scenario(
        &dir,
        &target,
        "rate = 1000000\nmax_in_flight = 1000\nconnections = 4\nduration = \"2s\"",
    );
    let junit = dir.path("junit.xml");
    let html = dir.path("r.html");
    let (out, json) = run_with_json(
        &file,
        &[
            "--threads",
            "1",
            "--junit",
            junit.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    out.expect_exit(4);
    let r = read_json(&json);
    assert_eq!(r["verdict"], "invalid");
    assert_eq!(r["passed"], false);
    let why = r["invalid"].to_string();
    assert!(why.contains("arrivals missed"), "{why}");
    assert!(r["totals"]["requests"].as_u64().unwrap() > 0);
    assert!(
        stdout.contains("INVALID: the generator, not the target"),
        "{stdout}"
    );
    assert!(stderr.contains("INVALID: "), "{stderr}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"name="generator""#) && xml.contains(r#"type="invalid""#),
        "{xml}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains(r#"id="invalid""#) && page.contains(">INVALID<"),
        "mismatch"
    );
    // The pool stayed the pool, however far behind the schedule was.
    assert_eq!(target.accepted.load(Ordering::SeqCst), 4);
}
