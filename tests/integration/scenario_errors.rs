//! Bad scenarios and flags: a clear error naming file, line and column, and
//! exit code 2, before anything is sent; the shipped scenarios validate.

use crate::common::{self, Dir, ExpectExit, Volley};

fn check(content: &str) -> (i32, String) {
    let dir = Dir::new();
    dir.write("texts.txt", "a\nb\n");
    let file = dir.write("bad.toml", content);
    let out = Volley::check(&file).output();
    let (_, stderr) = common::text(&out);
    (out.status.code().unwrap_or(-1), stderr)
}

const BASE: &str = "[http]\nbase_url = \"http://127.0.0.1:8000\"\n";

#[test]
fn errors_name_file_line_and_column() {
    let cases: Vec<(String, &str, &str)> = vec![
        (format!("{BASE}[[request]]\nname = \"a\"\nmetod = \"POST\"\n"), "bad.toml:5:1", "unknown key `metod`: did you mean `method`?"),
        (format!("[load]\nduration = \"10 parsecs\"\n{BASE}[[request]]\nname = \"a\"\n"), "bad.toml:2:12", "is not a duration"),
        (format!("{BASE}[[request]]\nname = \"a\"\nbody = \"{{{{ nope }}}}\"\n"), "bad.toml:5:8", "unknown value \"nope\""),
        ("[http]\nbase_url = \"${VOLLEY_SURELY_UNSET}\"\n[[request]]\nname = \"a\"\n".to_string(), "bad.toml:2:12", "VOLLEY_SURELY_UNSET is not set"),
        (format!("{BASE}[[request]]\nname = \"a\"\n[[request]]\nname = \"a\"\n"), "bad.toml:6:8", "used twice"),
        (format!("[load]\nusers = 5\nrate = 10\n{BASE}[[request]]\nname = \"a\"\n"), "bad.toml:3:8", "not both"),
        (format!("{BASE}[data.t]\nfile = \"missing.txt\"\n[[request]]\nname = \"a\"\n"), "bad.toml:4:8", "cannot read missing.txt"),
        (format!("{BASE}[[request]]\nname = \"a\"\n[request.check]\nstatus = [999]\n"), "bad.toml:6:10", "999 is not an HTTP status"),
        ("[grpc]\nendpoint = \"http://127.0.0.1:1\"\nreflection = true\n[[request]]\nname = \"g\"\ngrpc = \"NoPackage\"\n".to_string(), "bad.toml:6:8", "package.Service/Method"),
        ("[load]\nusers = 1\n".to_string(), "bad.toml:1:1", "sends nothing"),
        ("[load\nusers = 1\n".to_string(), "bad.toml:1:6", ""),
        (format!("thresholds = [\"p99<1s\", \"p99<fast\"]\n{BASE}[[request]]\nname = \"a\"\n"), "bad.toml:1:25", "p99<fast"),
        (format!("thresholds = [\"b:p99<1s\"]\n{BASE}[[request]]\nname = \"a\"\n"), "bad.toml:1:15", "no request, step, flow:NAME, streaming call's sent:/first:/msg:NAME or HTTP request's ttfb:NAME named \"b\""),
        // Flows: variables read before any step captures them, bad captures,
        // think steps with request keys, two on-start flows.
        (format!("{BASE}[[flow]]\nname = \"f\"\n[[flow.step]]\nname = \"a\"\npath = \"/{{{{ tok }}}}\"\n[[flow.step]]\nname = \"b\"\ncapture = {{ tok = {{ json = \"/t\" }} }}\n"), "bad.toml:5:1", "uses {{ tok }}, but no step of flow \"f\" before it"),
        (format!("{BASE}[[flow]]\nname = \"f\"\n[[flow.step]]\nname = \"a\"\ncapture = {{ tok = {{ jsn = \"/t\" }} }}\n"), "bad.toml:7:19", "expected one of"),
        (format!("{BASE}[[flow]]\nname = \"f\"\n[[flow.step]]\nname = \"a\"\ncapture = {{ tok = {{ regex = \"(\" }} }}\n"), "bad.toml:7:19", "bad regex"),
        (format!("{BASE}[[flow]]\nname = \"f\"\n[[flow.step]]\nname = \"a\"\n[[flow.step]]\nthink = \"1s\"\npath = \"/x\"\n"), "bad.toml:7:1", "path belongs to a request step"),
        (format!("{BASE}[[request]]\nname = \"r\"\n[[flow]]\nname = \"f\"\non_start = true\n[[flow.step]]\nname = \"a\"\n[[flow]]\nname = \"g\"\non_start = true\n[[flow.step]]\nname = \"b\"\n"), "bad.toml:12:12", "only one flow can be on_start"),
        (format!("{BASE}[[request]]\nname = \"r\"\ncapture = {{ t = {{ json = \"/t\" }} }}\n"), "bad.toml:5:17", "capture is for flow steps"),
        (format!("{BASE}[[flow]]\nname = \"f\"\n[[flow.step]]\nname = \"a\"\nweight = 2\n"), "bad.toml:7:10", "weight belongs to the [[flow]]"),
        ("[http]\nbase_url = \"https://example.com\"\ninsecure = true\n[[request]]\nname = \"a\"\n".to_string(), "bad.toml:3:12", "only allowed for loopback"),
        // A CR LF in a static header would fail every request at run time.
        (format!("{BASE}[[request]]\nname = \"a\"\nheaders = {{ x-a = \"a\\r\\nb\" }}\n"), "bad.toml:5:19", "is not a valid header value"),
        // A socket path no socket address can hold would fail every connect.
        (format!("{BASE}unix_socket = \"/{}\"\n[[request]]\nname = \"a\"\n", "s".repeat(200)), "bad.toml:3:15", "longer than the 107 bytes"),
        // Server-Sent Events: an HTTP key, bounded counts, one-line markers.
        ("[grpc]\nendpoint = \"http://127.0.0.1:1\"\nreflection = true\n[[request]]\nname = \"g\"\ngrpc = \"a.B/C\"\n[request.sse]\n".to_string(), "bad.toml:7:1", "[request.sse] is an HTTP key"),
        (format!("{BASE}[[request]]\nname = \"a\"\n[request.sse]\nevents = 0\n"), "bad.toml:6:10", "events must be"),
        (format!("{BASE}[[request]]\nname = \"a\"\n[request.sse]\nuntil = \"a\\nb\"\n"), "bad.toml:6:9", "cannot hold a line end"),
        (format!("{BASE}[[request]]\nname = \"a\"\n[request.sse]\ncheck = \"first\"\n"), "bad.toml:6:9", "check must be \"each\" or \"last\""),
        // HTTP/3: TLS only, through no HTTP proxy; a version is an HTTP
        // request's, and a WebSocket handshake is HTTP/1.1.
        (format!("{BASE}version = \"http3\"\n[[request]]\nname = \"a\"\n"), "bad.toml:3:11", "use an https:// URL"),
        ("[http]\nbase_url = \"https://127.0.0.1:8443\"\nversion = \"http3\"\nproxy = \"http://127.0.0.1:3128\"\n[[request]]\nname = \"a\"\n".to_string(), "bad.toml:4:9", "HTTP/3 cannot go through an HTTP proxy"),
        (format!("{BASE}[[request]]\nname = \"a\"\nversion = \"http4\"\n"), "bad.toml:5:11", "version must be http1, h2c, http2, http3 or auto"),
        ("[grpc]\nendpoint = \"http://127.0.0.1:1\"\nreflection = true\n[[request]]\nname = \"g\"\ngrpc = \"a.B/C\"\nversion = \"http3\"\n".to_string(), "bad.toml:7:11", "version is an HTTP key"),
        ("[[request]]\nname = \"w\"\nurl = \"wss://127.0.0.1:1/\"\nversion = \"http3\"\n".to_string(), "bad.toml:4:11", "its handshake is HTTP/1.1"),
    ];
    for (content, place, message) in cases {
        let (code, stderr) = check(&content);
        assert_eq!(code, 2, "{content}\n{stderr}");
        assert!(stderr.contains(place), "want {place} in:\n{stderr}");
        assert!(stderr.contains(message), "want {message:?} in:\n{stderr}");
    }
}

/// `check` refuses what `run` would refuse when it starts (it once passed a
/// path run refused, and a bearer token with a line break in it).
#[test]
fn check_refuses_what_run_refuses() {
    let text =
        format!("{BASE}[[request]]\nname = \"a\"\nauth = {{ bearer = \"t\\r\\nx-evil: 1\" }}\n");
    let (code, stderr) = check(&text);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("bad.toml") && stderr.contains("request \"a\"") && stderr.contains("auth"),
        "{stderr}"
    );
    let dir = Dir::new();
    let file = dir.write("bad.toml", &text);
    let out = Volley::run(&file).args(["--headless", "-n", "1"]).output();
    out.expect_exit(2);
}

#[test]
fn bad_thresholds_and_flags_exit_2() {
    let dir = Dir::new();
    let file = dir.write(
        "s.toml",
        &format!("thresholds = [\"p99<fast\"]\n{BASE}[[request]]\nname = \"a\"\n"),
    );
    let out = Volley::run(&file).output();
    out.expect_exit(2);
    assert!(common::text(&out).1.contains("p99<fast"));
    let file = dir.write("t.toml", &format!("{BASE}[[request]]\nname = \"a\"\n"));
    let out = Volley::run(&file)
        .flag("--rate", "10")
        .flag("--think-time", "1s")
        .output();
    out.expect_exit(2);
    let out = Volley::run(&file)
        .flag("--threshold", "nope:p99<1s")
        .output();
    out.expect_exit(2);
    assert!(
        common::text(&out)
            .1
            .contains("no request, step or flow named \"nope\""),
        "{:?}",
        common::text(&out)
    );
    let out = Volley::run(&file).args(["--host", "ftp://x"]).output();
    out.expect_exit(2);
    assert!(
        common::text(&out).1.contains("--host"),
        "{:?}",
        common::text(&out)
    );
}

#[test]
fn unknown_grpc_service_in_the_proto_is_named() {
    let dir = Dir::new();
    let proto = common::proto_dir();
    let file = dir.write(
        "s.toml",
        &format!(
            "[grpc]\nendpoint = \"http://127.0.0.1:1\"\nproto = \"{p}/predict/v1/predict.proto\"\nimport_paths = [\"{p}\"]\n[[request]]\nname = \"g\"\ngrpc = \"predict.v1.Nope/Predict\"\n",
            p = proto.display()
        ),
    );
    let out = Volley::check(&file).output();
    let (_, stderr) = common::text(&out);
    out.expect_exit(2);
    assert!(stderr.contains("s.toml:7:8"), "{stderr}");
    assert!(
        stderr.contains("services: predict.v1.Predictor"),
        "{stderr}"
    );
}

#[test]
fn shipped_scenarios_validate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(root.join("scenarios")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let out = Volley::check(&p).output();
            out.expect_exit_in(0, p.display());
            n += 1;
        }
    }
    assert!(n >= 3);
}

/// Settings beyond volley's limits (scenario::limits): each refused by
/// `volley check` at its key's line and column, with the bound.
#[test]
fn absurd_settings_are_refused_with_their_bound() {
    let req = format!("{BASE}[[request]]\nname = \"a\"\n");
    let load = |lines: &str| format!("[load]\n{lines}\n{req}");
    let cases: Vec<(String, &str, &str)> = vec![
        (load("users = 9223372036854775807"), "bad.toml:2:9", "users must be at most 1000000 users"),
        (load("users = 1000001"), "bad.toml:2:9", "users must be at most 1000000 users"),
        (load("users = -5"), "bad.toml:2:9", "users must be a whole number from 0 to 1000000, not -5"),
        (load("users = 2.5"), "bad.toml:2:9", "users must be a whole number from 0 to 1000000, not 2.5"),
        (load("stages = [{ duration = \"1m\", target = 2e6 }]"), "bad.toml:2:39", "stage target must be a number of users from 0 to 1000000"),
        (load("rate = 1e15"), "bad.toml:2:8", "rate must be 0 or a number of requests per second from 0.001 to 10000000"),
        (load("rate = nan"), "bad.toml:2:8", "to 10000000, not NaN"),
        (load("rate = inf"), "bad.toml:2:8", "to 10000000, not inf"),
        (load("rate = 1e-30"), "bad.toml:2:8", "from 0.001 to 10000000"),
        (load("rate = 10\nstages = [{ duration = \"1m\", target = 1e9 }]"), "bad.toml:3:39", "stage target must be 0 or a number of requests per second from 0.001 to 10000000"),
        (load("rate = 10\nmax_in_flight = 1000000000"), "bad.toml:3:17", "max_in_flight must be at most 1000000"),
        (load("rate = 10\nmax_in_flight = 9223372036854775807"), "bad.toml:3:17", "max_in_flight must be at most 1000000"),
        (load("rate = 10\nmax_in_flight = -1"), "bad.toml:3:17", "max_in_flight must be a whole number"),
        (load("rate = 10\nconnections = 0"), "bad.toml:3:15", "connections must be from 1 to 100000, not 0"),
        (load("rate = 10\nconnections = 100001"), "bad.toml:3:15", "connections must be from 1 to 100000"),
        (load("users = 2\nconnections = 4"), "bad.toml:3:15", "connections belongs to the open model (rate)"),
        (load("spawn_rate = inf"), "bad.toml:2:14", "spawn_rate must be a number of users per second above 0 and at most 1000000"),
        (load("spawn_rate = 0"), "bad.toml:2:14", "leave it out to start all users at once"),
        (load("spawn_rate = nan"), "bad.toml:2:14", "spawn_rate must be"),
        (load("duration = \"1000000h\""), "bad.toml:2:12", "duration must be at most 365d"),
        (load("stages = [{ duration = \"400d\", target = 1 }]"), "bad.toml:2:24", "stage duration must be at most 365d"),
        (load("stages = [\n  { duration = \"200d\", target = 1 },\n  { duration = \"200d\", target = 1 },\n]"), "bad.toml:4:3", "stages must be at most 365d in all, not 400d"),
        (load("timeout = \"2h\""), "bad.toml:2:11", "timeout must be from 1ms to 1h"),
        (load("timeout = \"0s\""), "bad.toml:2:11", "timeout must be from 1ms to 1h"),
        (load("think_time = \"2h\""), "bad.toml:2:14", "think_time must be at most 1h"),
        (load("think_time = { min = \"1s\", max = \"5h\" }"), "bad.toml:2:14", "think_time.max must be at most 1h"),
        (load("requests = 0"), "bad.toml:2:12", "requests must be from 1 to 1000000000000000"),
        (load("requests = 2.0"), "bad.toml:2:12", "requests must be a whole number from 1 to 1000000000000000"),
        (format!("{BASE}[[flow]]\nname = \"f\"\n[[flow.step]]\nname = \"a\"\n[[flow.step]]\nthink = \"2h\"\n"), "bad.toml:8:9", "think must be at most 1h"),
        (format!("{BASE}max_body = \"2GiB\"\n[[request]]\nname = \"a\"\n"), "bad.toml:3:12", "max_body must be from 1KiB to 1GiB"),
        (format!("{BASE}max_body = 100\n[[request]]\nname = \"a\"\n"), "bad.toml:3:12", "max_body must be from 1KiB to 1GiB"),
        (format!("{BASE}max_body = \"lots\"\n[[request]]\nname = \"a\"\n"), "bad.toml:3:12", "is not a size"),
        ("[grpc]\nendpoint = \"http://127.0.0.1:1\"\nreflection = true\nconnections = 1000000000\n[[request]]\nname = \"g\"\ngrpc = \"p.S/M\"\n".to_string(), "bad.toml:4:15", "connections must be from 1 to 10000"),
        // Serde's own messages name the key too.
        (format!("{BASE}[[request]]\nname = \"a\"\nweight = -1\n"), "bad.toml:5:10", "weight: invalid value"),
    ];
    for (content, place, message) in cases {
        let (code, stderr) = check(&content);
        assert_eq!(code, 2, "{content}\n{stderr}");
        assert!(stderr.contains(place), "want {place} in:\n{stderr}");
        assert!(stderr.contains(message), "want {message:?} in:\n{stderr}");
    }
}

/// The bounds are inclusive: a file at every one of them is valid.
#[test]
fn settings_at_their_bounds_are_accepted() {
    for content in [
        format!(
            "[load]\nusers = 1000000\nspawn_rate = 1000000\nthink_time = {{ min = \"0s\", max = \"1h\" }}\nduration = \"365d\"\nrequests = 1000000000000000\ntimeout = \"1h\"\n{BASE}max_body = \"1GiB\"\n[[request]]\nname = \"a\"\n"
        ),
        format!(
            "[load]\nrate = 10000000\nmax_in_flight = 1000000\nstages = [{{ duration = \"300d\", target = 10000000 }}, {{ duration = \"65d\", target = 0.001 }}]\ntimeout = \"1ms\"\n{BASE}max_body = 1024\n[[request]]\nname = \"a\"\n"
        ),
    ] {
        let (code, stderr) = check(&content);
        assert_eq!(code, 0, "{content}\n{stderr}");
    }
}

/// The same values as flags: clap refuses them (exit 2) with the bound,
/// before anything is compiled or started.
#[test]
fn absurd_flags_exit_2_with_their_bound() {
    let dir = Dir::new();
    let file = dir.write("s.toml", &format!("{BASE}[[request]]\nname = \"a\"\n"));
    let f = file.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "-f", f, "-u", "9223372036854775807"],
            "must be at most 1000000 users",
        ),
        (vec!["run", "-f", f, "--users=-5"], "is not a whole number"),
        (
            vec!["run", "-f", f, "--rate", "1e9"],
            "from 0.001 to 10000000",
        ),
        (
            vec!["run", "-f", f, "--rate", "1e15"],
            "from 0.001 to 10000000",
        ),
        (
            vec!["run", "-f", f, "--rate", "NaN"],
            "from 0.001 to 10000000",
        ),
        (
            vec!["run", "-f", f, "--spawn-rate", "inf"],
            "at most 1000000",
        ),
        (vec!["run", "-f", f, "-r", "0"], "above 0"),
        (vec!["run", "-f", f, "-t", "1000000h"], "at most 365d"),
        (vec!["run", "-f", f, "--timeout", "2h"], "from 1ms to 1h"),
        (vec!["run", "-f", f, "--timeout", "0s"], "from 1ms to 1h"),
        (vec!["run", "-f", f, "--think-time", "2h"], "at most 1h"),
        (
            vec!["run", "-f", f, "-n", "0"],
            "from 1 to 1000000000000000",
        ),
        (vec!["run", "-f", f, "--threads", "100000"], "at most 1024"),
        (
            vec!["run", "-f", f, "--local-workers", "65"],
            "from 1 to 64",
        ),
        (vec!["run", "-f", f, "--local-workers", "0"], "from 1 to 64"),
        (
            vec!["master", "-f", f, "--expect-workers", "100000"],
            "from 1 to 1000",
        ),
        (vec!["master", "-f", f, "--threads", "5000"], "at most 1024"),
        (
            vec!["master", "-f", f, "--rate", "1e15"],
            "from 0.001 to 10000000",
        ),
        (
            vec![
                "worker",
                "--master",
                "127.0.0.1:1",
                "--insecure",
                "--threads",
                "100000",
            ],
            "at most 1024",
        ),
    ];
    for (args, message) in cases {
        let out = common::volley(&args);
        let (_, stderr) = common::text(&out);
        out.expect_exit_in(2, format_args!("{args:?}"));
        assert!(
            stderr.contains(message),
            "{args:?}: want {message:?} in:\n{stderr}"
        );
    }
}

/// `volley check` is linear in the file: 50,000 requests with one name used
/// twice at the very end are checked, and the second use is named by line
/// and column. No timing is asserted; the kill timeout only stops a hang.
#[test]
fn a_large_scenario_names_its_duplicate() {
    let n = 50_000;
    let mut text = String::with_capacity(n * 40);
    text.push_str(BASE);
    for i in 0..n {
        text.push_str(&format!(
            "[[request]]\nname = \"r{i}\"\npath = \"/i/{i}\"\n"
        ));
    }
    text.push_str("[[request]]\nname = \"r0\"\n");
    let dir = Dir::new();
    let file = dir.write("big.toml", &text);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_volley"))
        .args(["check", "-f", file.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(600) {
            let _ = child.kill();
            panic!("volley check of {n} requests ran for 10 minutes");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    // Two lines of [http], three per request, then the duplicate's name.
    let line = 2 + 3 * n + 2;
    assert!(
        stderr.contains(&format!(
            "big.toml:{line}:8: request name \"r0\" is used twice"
        )),
        "{stderr}"
    );
}
