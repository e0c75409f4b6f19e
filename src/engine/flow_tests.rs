//! Tests of a user's turn against a real HTTP/1.1 server on loopback: a
//! flow's steps in order, each recorded under its own row and the iteration
//! under `flow:NAME`; a failed step ending the iteration (or not, with
//! `continue_on_failure`); the on-start flow run once, again after it
//! failed; the request count cutting an iteration short, which is then not
//! recorded as a flow; a prepaid claim given back; the stop abandoning the
//! request in flight.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::engine::exec::Requests;
use crate::engine::health::Threads;
use crate::engine::records::Records;
use crate::engine::share::Share;
use crate::scenario::compile;
use crate::scenario::compile::{MemorySources, Options};
use crate::stats::FailureKind;
use crate::stats::snapshot::NameSnapshot;

/// The paths a [`server`] was asked for, in order.
type Seen = Arc<parking_lot::Mutex<Vec<String>>>;

/// An HTTP/1.1 server on loopback that keeps connections alive: `/fail`
/// answers 500, `/slow` answers after 10 s, any other path 200. Bodiless
/// requests only (the tests send GETs). Its base URL and what it was asked.
async fn server() -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Seen::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 4);
                    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                    log.lock().push(path.clone());
                    let status = match path.as_str() {
                        "/fail" => "500 Internal Server Error",
                        "/slow" => {
                            tokio::time::sleep(Duration::from_secs(10)).await;
                            "200 OK"
                        }
                        _ => "200 OK",
                    };
                    let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\nok");
                    if sock.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, seen)
}

/// An engine's shared state for `scenario` (its `BASE` replaced by the
/// server's URL), with a request count of `limit`.
async fn shared(base: &str, scenario: &str, limit: Option<u64>) -> Shared {
    let text = scenario.replace("BASE", base);
    let sources = MemorySources(BTreeMap::new());
    let scenario = compile(Path::new("t.toml"), &text, &sources, &Options::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let scenario = Arc::new(scenario);
    let requests = Requests::prepare(scenario.clone(), Duration::from_secs(5), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let records = Records::new(&scenario.data, Share::WHOLE);
    let stop = CancellationToken::new();
    Shared::new(
        requests,
        records,
        limit,
        stop,
        Instant::now(),
        Threads::default(),
    )
}

/// What was recorded, by row name.
fn recorded(shared: &Shared) -> BTreeMap<String, NameSnapshot> {
    let names = shared.requests.scenario.names();
    shared
        .recorder
        .drain()
        .into_iter()
        .map(|n| (names[n.name.index()].clone(), n))
        .collect()
}

/// The only failure reason recorded in `n`, with its kind.
fn reason(n: &NameSnapshot) -> (FailureKind, String) {
    assert_eq!(n.failure_counts.len(), 1, "{:?}", n.failure_counts);
    let f = &n.failure_counts[0];
    (f.kind, f.reason.to_string())
}

const JOURNEY: &str = r#"
[http]
base_url = "BASE"

[[flow]]
name = "journey"

  [[flow.step]]
  name = "first"
  path = "/first"

  [[flow.step]]
  name = "broken"
  path = "/fail"

  [[flow.step]]
  name = "last"
  path = "/last"
"#;

#[tokio::test]
async fn a_failed_step_ends_the_iteration_which_fails_as_a_flow() {
    let (base, seen) = server().await;
    let shared = shared(&base, JOURNEY, None).await;
    let mut user = shared.requests.new_user(1);
    let (mut started, stop, mut claims) = (false, CancellationToken::new(), Claims::default());
    let turn = turn(&shared, &mut user, &mut started, None, &stop, &mut claims).await;
    assert_eq!(turn, Turn::Done);
    assert_eq!(
        *seen.lock(),
        ["/first", "/fail"],
        "the last step is not sent"
    );
    let rows = recorded(&shared);
    assert_eq!(rows["first"].requests, 1);
    assert_eq!(rows["first"].failures, 0);
    assert_eq!(rows["broken"].failures, 1);
    assert!(!rows.contains_key("last"), "{:?}", rows.keys());
    let flow = &rows["flow:journey"];
    assert_eq!((flow.requests, flow.failures), (1, 1));
    assert_eq!(
        reason(flow),
        (
            FailureKind::Status,
            "step \"broken\" failed (status)".into()
        )
    );
    // The flow carried what its steps carried.
    let steps_sent = rows["first"].bytes_sent + rows["broken"].bytes_sent;
    assert_eq!(flow.bytes_sent, steps_sent);
    assert!(flow.bytes_received > 0);
}

#[tokio::test]
async fn continue_on_failure_runs_every_step_and_names_the_first_failure() {
    let (base, seen) = server().await;
    let scenario = JOURNEY
        .replace(
            "name = \"journey\"",
            "name = \"journey\"\ncontinue_on_failure = true",
        )
        .replace("/last", "/fail");
    let shared = shared(&base, &scenario, None).await;
    let mut user = shared.requests.new_user(1);
    let (mut started, stop, mut claims) = (false, CancellationToken::new(), Claims::default());
    turn(&shared, &mut user, &mut started, None, &stop, &mut claims).await;
    assert_eq!(*seen.lock(), ["/first", "/fail", "/fail"]);
    let rows = recorded(&shared);
    assert_eq!(rows["last"].failures, 1);
    assert_eq!(
        reason(&rows["flow:journey"]),
        (
            FailureKind::Status,
            "step \"broken\" failed (status)".into()
        )
    );
}

const LOGIN: &str = r#"
[http]
base_url = "BASE"

[[flow]]
name = "login"
on_start = true

  [[flow.step]]
  name = "login"
  path = "LOGIN"

[[request]]
name = "work"
path = "/work"
"#;

#[tokio::test]
async fn the_on_start_flow_runs_once_before_the_first_action() {
    let (base, seen) = server().await;
    let shared = shared(&base, &LOGIN.replace("LOGIN", "/login"), None).await;
    let mut user = shared.requests.new_user(1);
    let (mut started, stop, mut claims) = (false, CancellationToken::new(), Claims::default());
    for _ in 0..3 {
        let t = turn(&shared, &mut user, &mut started, None, &stop, &mut claims).await;
        assert_eq!(t, Turn::Done);
    }
    assert!(started);
    assert_eq!(*seen.lock(), ["/login", "/work", "/work", "/work"]);
    let rows = recorded(&shared);
    assert_eq!(rows["flow:login"].requests, 1);
    assert_eq!(rows["work"].requests, 3);
}

#[tokio::test]
async fn a_failed_on_start_flow_ends_the_turn_and_is_tried_again() {
    let (base, seen) = server().await;
    let shared = shared(&base, &LOGIN.replace("LOGIN", "/fail"), None).await;
    let mut user = shared.requests.new_user(1);
    let (mut started, stop, mut claims) = (false, CancellationToken::new(), Claims::default());
    for _ in 0..2 {
        let t = turn(&shared, &mut user, &mut started, None, &stop, &mut claims).await;
        assert_eq!(t, Turn::Done);
        assert!(!started, "not logged in");
    }
    // No action is taken by a user that is not logged in.
    assert_eq!(*seen.lock(), ["/fail", "/fail"]);
    let rows = recorded(&shared);
    assert_eq!(rows["flow:login"].failures, 2);
    assert!(!rows.contains_key("work"));
}

#[tokio::test]
async fn the_request_count_cuts_an_iteration_which_is_not_a_flow() {
    let (base, seen) = server().await;
    let scenario = JOURNEY.replace("/fail", "/second");
    // Two requests in all: the third step finds the count used up.
    let shared = shared(&base, &scenario, Some(2)).await;
    let mut user = shared.requests.new_user(1);
    let (mut started, stop, mut claims) = (false, CancellationToken::new(), Claims::default());
    let t = turn(&shared, &mut user, &mut started, None, &stop, &mut claims).await;
    assert_eq!(t, Turn::Stop);
    assert_eq!(*seen.lock(), ["/first", "/second"]);
    let rows = recorded(&shared);
    assert_eq!(rows["first"].requests, 1);
    assert_eq!(rows["broken"].requests, 1);
    assert!(!rows.contains_key("flow:journey"), "{:?}", rows.keys());
}

#[tokio::test]
async fn a_prepaid_claim_counts_once_and_an_unused_one_is_given_back() {
    let (base, _) = server().await;
    let scenario = "[http]\nbase_url = \"BASE\"\n[[request]]\nname = \"one\"\npath = \"/\"\n";
    let shared = shared(&base, scenario, Some(1)).await;
    let mut user = shared.requests.new_user(1);
    let (mut started, stop) = (false, CancellationToken::new());
    // The open model claimed the arrival's request before the turn.
    assert!(shared.claim());
    let mut claims = Claims::prepaid();
    let t = turn(&shared, &mut user, &mut started, None, &stop, &mut claims).await;
    assert_eq!(t, Turn::Done);
    assert!(shared.exhausted());
    // A prepaid claim the turn never used goes back to the count.
    let shared = self::shared(&base, scenario, Some(1)).await;
    assert!(shared.claim());
    Claims::prepaid().refund(&shared);
    assert!(!shared.exhausted());
    assert!(shared.claim());
}

#[tokio::test]
async fn the_stop_abandons_the_request_in_flight() {
    let (base, seen) = server().await;
    let scenario = "[http]\nbase_url = \"BASE\"\n[[request]]\nname = \"slow\"\npath = \"/slow\"\n";
    let shared = shared(&base, scenario, None).await;
    let mut user = shared.requests.new_user(1);
    let (mut started, stop, mut claims) = (false, CancellationToken::new(), Claims::default());
    let stopper = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stopper.cancel();
    });
    let t = turn(&shared, &mut user, &mut started, None, &stop, &mut claims).await;
    assert_eq!(t, Turn::Stop);
    assert_eq!(*seen.lock(), ["/slow"]);
    assert_eq!(shared.abandoned.load(Ordering::Relaxed), 1);
    assert!(
        recorded(&shared).is_empty(),
        "an abandoned request is not a sample"
    );
}
