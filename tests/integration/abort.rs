//! Thresholds that stop a run (`abort = true`, `--abort-on`): judged live on
//! everything the master merged, against a real target that turns slow
//! mid-run; a master and two worker processes over QUIC stop within a
//! second or two, and the reports say why.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::common::{self, Dir, ExpectExit, Volley, read_json};
use crate::procs;

const TOKEN: &str = "abort-test-token";

fn scenario(dir: &Dir, target: std::net::SocketAddr, thresholds: &str) -> String {
    let file = dir.write(
        "s.toml",
        &format!(
            "thresholds = {thresholds}\n[load]\nusers = 4\nspawn_rate = 100\nthink_time = \"20ms\"\nduration = \"60s\"\n\
             [http]\nbase_url = \"http://{target}\"\n[[request]]\nname = \"ok\"\npath = \"/ok\"\n"
        ),
    );
    file.to_str().unwrap().to_owned()
}

/// The target turns slow 1.5 s in; `p99<50ms` with `abort` stops a 60 s
/// run of a master and two workers: every worker stops within 2 s of the
/// master's decision, the exit code is 1, and every report says why.
#[test]
fn a_broken_abort_threshold_stops_every_worker_of_a_cluster() {
    let target = crate::servers::slowing(Duration::from_millis(1500), Duration::from_millis(100));
    let dir = Dir::new();
    let file = scenario(
        &dir,
        target.addr,
        r#"["error_rate<50%", { rule = "p99<50ms", abort = true, delay = "1s" }]"#,
    );
    let json = dir.path("r.json");
    let junit = dir.path("r.xml");
    let began = Instant::now();
    let (mut master, addr, fp) = procs::master(
        &file,
        TOKEN,
        &[
            "--expect-workers",
            "2",
            "--json",
            json.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    let _w1 = procs::worker(&addr, &fp, TOKEN, "w1");
    let _w2 = procs::worker(&addr, &fp, TOKEN, "w2");
    let line = master.wait_for("stopping: aborted", Duration::from_secs(30));
    let decided = Instant::now();
    assert!(line.contains("threshold p99<50ms broke"), "{line}");
    assert_eq!(
        master.wait(Duration::from_secs(15)),
        Some(1),
        "{}",
        master.stderr()
    );
    assert!(began.elapsed() < Duration::from_secs(40), "the run went on");
    // No request reached the target later than 2 s after the decision.
    std::thread::sleep(Duration::from_millis(2500));
    let last = target.last.lock().unwrap().unwrap();
    assert!(
        last <= decided + Duration::from_secs(2),
        "the target got a request {:?} after the master stopped the run",
        last.duration_since(decided)
    );
    let r = read_json(&json);
    assert_eq!(r["verdict"], "fail");
    assert_eq!(r["aborted"]["threshold"], "p99<50ms");
    let at = r["aborted"]["at_s"].as_f64().unwrap();
    assert!((1.0..30.0).contains(&at), "{at}");
    let v = r["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["threshold"] == "p99<50ms")
        .unwrap();
    assert_eq!(v["passed"], false);
    assert!(
        v["observed"].as_str().unwrap().contains("stopped the run"),
        "{v}"
    );
    assert!(
        r["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("aborted at")),
        "{}",
        r["notes"]
    );
    assert!(r["totals"]["requests"].as_u64().unwrap() <= target.received.load(Ordering::SeqCst));
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("stopped the run")
    );
    assert!(
        master.stdout().contains("aborted at"),
        "{}",
        master.stdout()
    );
    // Drawn again from the JSON, the verdict stays.
    let again = Volley::report(&json).output();
    again.expect_exit(1);
}

/// `--abort-on` on the command line, in one process; a rule that holds
/// does not stop anything.
#[test]
fn abort_on_stops_a_one_process_run_and_a_holding_rule_does_not() {
    let target = crate::servers::slowing(Duration::from_millis(1000), Duration::from_millis(100));
    let dir = Dir::new();
    let file = scenario(&dir, target.addr, "[]");
    let json = dir.path("r.json");
    let began = Instant::now();
    let out = Volley::run_bare(&file)
        .headless()
        .flag("--abort-on", "ok:p99<50ms")
        .flag("--abort-delay", "500ms")
        .json(&json)
        .output();
    let (_, stderr) = common::text(&out);
    out.expect_exit(1);
    assert!(began.elapsed() < Duration::from_secs(30));
    assert!(stderr.contains("stopping: aborted"), "{stderr}");
    assert_eq!(read_json(&json)["aborted"]["threshold"], "ok:p99<50ms");

    // A fast target and a loose rule: the run goes to its end.
    let fast = crate::servers::request_counter();
    let file = dir.write(
        "fast.toml",
        &format!(
            "[load]\nusers = 2\nthink_time = \"20ms\"\nduration = \"2s\"\n[http]\nbase_url = \"http://{}\"\n\
             [[request]]\nname = \"ok\"\npath = \"/\"\n",
            fast.addr
        ),
    );
    let out = Volley::run_bare(&file)
        .headless()
        .flag("--abort-on", "error_rate<1%")
        .json(&json)
        .output();
    out.expect_exit(0);
    let r = read_json(&json);
    assert!(r.get("aborted").is_none(), "{r}");
    assert!(r["duration_s"].as_f64().unwrap() >= 1.9);
}

/// The table form is checked where it is written.
#[test]
fn abort_tables_are_checked_by_check() {
    let dir = Dir::new();
    let target: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let ok = scenario(
        &dir,
        target,
        r#"[{ rule = "p99<50ms", abort = true, delay = "10s" }, "rps>1"]"#,
    );
    let out = Volley::check_bare(&ok).output();
    let (stdout, _) = common::text(&out);
    out.expect_exit(0);
    assert!(
        stdout.contains("threshold p99<50ms (stops the run when broken, judged from 10s on)")
            && stdout.contains("threshold rps>1\n"),
        "{stdout}"
    );
    for (thresholds, want) in [
        (
            r#"[{ rule = "p99<50ms", abrot = true }]"#,
            "unknown key \"abrot\"",
        ),
        (
            r#"[{ rule = "p99<50ms", delay = "1s" }]"#,
            "delay is for a threshold with abort = true",
        ),
        (r#"[{ abort = true }]"#, "a threshold is a rule such as"),
        (
            r#"[{ rule = "p99<50ms", abort = "yes" }]"#,
            "abort must be true or false",
        ),
        (
            r#"[{ rule = "p99<5zz", abort = true }]"#,
            "threshold \"p99<5zz\"",
        ),
        (
            r#"[{ rule = "nope:p99<5ms", abort = true }]"#,
            "no request, step",
        ),
    ] {
        let file = scenario(&dir, target, thresholds);
        let out = Volley::check_bare(&file).output();
        let (_, stderr) = common::text(&out);
        out.expect_exit_in(2, format_args!("{thresholds}"));
        assert!(
            stderr.contains(want) && stderr.contains("s.toml:1:"),
            "{thresholds}: {stderr}"
        );
    }
}
