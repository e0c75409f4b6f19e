//! Streaming gRPC calls against predict-grpc's `PredictStream`
//! (bidirectional: one answer per text, in order): calls counted as
//! requests, messages sent and answers counted in the call's own rows
//! (`sent:`, `first:`, `msg:NAME`), checks on every answer, statuses ending
//! a stream, the schedule (`messages`, `interval`, `duration`,
//! `ping_pong`), and the mistakes found before a run. Server and client
//! streaming are tested against grpc-go's interop server
//! (tests/integration/grpc_interop.rs).

use crate::common::{self, Dir, ExpectExit, Volley, read_json, row, run_ok};

fn scenario(addr: std::net::SocketAddr, load: &str, rest: &str) -> String {
    let proto = common::proto_dir();
    format!(
        "[load]\n{load}\n[grpc]\nendpoint = \"http://{addr}\"\nproto = \"{p}/predict/v1/predict.proto\"\n\
         import_paths = [\"{p}\"]\n[data.texts]\nfile = \"texts.txt\"\n{rest}\n",
        p = proto.display()
    )
}

const CHAT: &str = r#"
[[request]]
name = "chat"
grpc = "predict.v1.Predictor/PredictStream"
message = { text = "{{ texts }}" }
[request.check]
json = { "/label" = "sports" }
"#;

fn dir_with_texts() -> Dir {
    let dir = Dir::new();
    dir.write(
        "texts.txt",
        "The striker scored twice in the cup final\nGOAL\nThe keeper saved a penalty in extra time\n",
    );
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bidirectional_stream_counts_calls_and_every_message() {
    let server = crate::servers::predict_grpc().await;
    let dir = dir_with_texts();
    let file = dir.write(
        "s.toml",
        &scenario(
            server.addr,
            "users = 2\nrequests = 20",
            &format!("{CHAT}[request.stream]\nmessages = 5\n"),
        ),
    );
    let html = dir.path("r.html");
    let (out, json) = common::run_with_json(
        &file,
        &[
            "--threshold",
            "msg:chat:requests>=100",
            "--threshold",
            "first:chat:p99<10s",
            "--html",
            html.to_str().unwrap(),
        ],
    )
    .await;
    let (stdout, _) = common::text(&out);
    out.expect_exit(0);
    let r = read_json(&json);
    // The call is the request: 20 of them, each answered five times.
    assert_eq!(r["totals"]["requests"], 20, "{r}");
    assert_eq!(r["totals"]["failures"], 0, "{}", r["names"]);
    let names: Vec<&str> = r["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sent:chat", "first:chat", "msg:chat"]);
    assert_eq!(row(&r, "streams", "sent:chat")["requests"], 100);
    assert_eq!(row(&r, "streams", "first:chat")["requests"], 20);
    assert_eq!(row(&r, "streams", "msg:chat")["requests"], 100);
    // Bytes: the call's are what crossed the wire: its messages and
    // answers (uncompressed, so as framed in their rows) and, per call, a
    // request head, and an answer's head and trailers as HTTP/1.1 text.
    let call = row(&r, "names", "chat");
    let per_call = |total: &str, group: &str| {
        let all = call[total].as_u64().unwrap();
        let messages = row(&r, "streams", group)[total].as_u64().unwrap();
        assert!(all > messages, "{total}: {all} ≤ {messages}");
        (all - messages) as f64 / 20.0
    };
    let head = per_call("bytes_sent", "sent:chat");
    assert!((150.0..400.0).contains(&head), "request head: {head} B");
    let ends = per_call("bytes_received", "msg:chat");
    assert!((50.0..300.0).contains(&ends), "head and trailers: {ends} B");
    // An answer comes before its call ends.
    assert!(
        row(&r, "streams", "msg:chat")["p50_us"].as_u64().unwrap()
            <= call["p50_us"].as_u64().unwrap()
    );
    assert!(
        stdout.contains("stream") && stdout.contains("msg:chat"),
        "{stdout}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"streams\"") && page.contains("first:chat"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ping_pong_waits_for_each_answer_and_the_interval() {
    let server = crate::servers::predict_grpc().await;
    let dir = dir_with_texts();
    let file = dir.write(
        "s.toml",
        &scenario(
            server.addr,
            "users = 1\nrequests = 3",
            &format!(
                "{CHAT}[request.stream]\nmessages = 4\ninterval = \"30ms\"\nping_pong = true\n"
            ),
        ),
    );
    let r = run_ok(&file).await;
    assert_eq!(r["totals"]["requests"], 3);
    assert_eq!(r["totals"]["failures"], 0, "{}", r["names"]);
    assert_eq!(row(&r, "streams", "msg:chat")["requests"], 12);
    // Three pauses of 30 ms between four messages: no call is shorter.
    let fastest = row(&r, "names", "chat")["min_us"].as_u64().unwrap();
    assert!(fastest >= 90_000, "a call took {fastest} µs");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duration_bounds_how_long_messages_are_sent() {
    let server = crate::servers::predict_grpc().await;
    let dir = dir_with_texts();
    let file = dir.write(
        "s.toml",
        &scenario(
            server.addr,
            "users = 1\nrequests = 2",
            &format!("{CHAT}[request.stream]\nduration = \"200ms\"\ninterval = \"20ms\"\n"),
        ),
    );
    let r = run_ok(&file).await;
    assert_eq!(r["totals"]["requests"], 2);
    assert_eq!(r["totals"]["failures"], 0, "{}", r["names"]);
    // At most one message per 20 ms for 200 ms, each answered.
    let sent = row(&r, "streams", "sent:chat")["requests"]
        .as_u64()
        .unwrap();
    assert!((2..=22).contains(&sent), "{sent} messages sent");
    assert_eq!(row(&r, "streams", "msg:chat")["requests"], sent);
    assert!(row(&r, "names", "chat")["min_us"].as_u64().unwrap() >= 200_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_ends_the_stream_and_is_the_calls_failure() {
    let server = crate::servers::predict_grpc().await;
    let dir = dir_with_texts();
    dir.write("bad.txt", "GOAL\n\n");
    let rest = r#"
[[request]]
name = "refused"
grpc = "predict.v1.Predictor/PredictStream"
message = { text = "" }
[request.stream]
messages = 3

[[request]]
name = "expected"
grpc = "predict.v1.Predictor/PredictStream"
message = { text = "" }
[request.stream]
messages = 3
[request.check]
code = "INVALID_ARGUMENT"
"#;
    let file = dir.write(
        "s.toml",
        &scenario(server.addr, "users = 2\nrequests = 40", rest),
    );
    let (out, json) = common::run_with_json(&file, &[]).await;
    // The refused calls fail the run's implicit checks only through
    // thresholds: there are none, so the run passes with failures counted.
    out.expect_exit(0);
    let r = read_json(&json);
    let refused = row(&r, "names", "refused");
    assert!(refused["requests"].as_u64().unwrap() > 0);
    assert_eq!(refused["failures"], refused["requests"]);
    assert_eq!(refused["failures_by_reason"][0]["kind"], "grpc");
    assert_eq!(
        refused["failures_by_reason"][0]["reason"],
        "gRPC INVALID_ARGUMENT"
    );
    let expected = row(&r, "names", "expected");
    assert!(expected["requests"].as_u64().unwrap() > 0);
    assert_eq!(expected["failures"], 0);
    // No answer came before the status.
    assert_eq!(row(&r, "streams", "msg:refused")["requests"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_model_arrival_is_one_call() {
    let server = crate::servers::predict_grpc().await;
    let dir = dir_with_texts();
    let file = dir.write(
        "s.toml",
        &scenario(
            server.addr,
            "rate = 50\nrequests = 25\nconnections = 4",
            &format!("{CHAT}[request.stream]\nmessages = 2\n"),
        ),
    );
    let r = run_ok(&file).await;
    assert_eq!(r["totals"]["requests"], 25);
    assert_eq!(r["totals"]["failures"], 0, "{}", r["names"]);
    assert_eq!(row(&r, "streams", "msg:chat")["requests"], 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn reflection_learns_the_kind_at_the_start_and_asks_for_a_stream_table() {
    let server = crate::servers::predict_grpc().await;
    let dir = dir_with_texts();
    let text = |stream: &str| {
        format!(
            "[load]\nusers = 1\nrequests = 4\n[grpc]\nendpoint = \"http://{}\"\nreflection = true\n\
             [data.texts]\nfile = \"texts.txt\"\n{CHAT}{stream}",
            server.addr
        )
    };
    let file = dir.write("without.toml", &text(""));
    let (out, _) = common::run_with_json(&file, &[]).await;
    let (_, stderr) = common::text(&out);
    out.expect_exit(2);
    assert!(
        stderr.contains("bidirectional streaming method") && stderr.contains("[request.stream]"),
        "{stderr}"
    );
    let file = dir.write("with.toml", &text("[request.stream]\nmessages = 2\n"));
    let r = run_ok(&file).await;
    assert_eq!(row(&r, "streams", "msg:chat")["requests"], 8);
}

/// With `reflection = true`, `volley check` and the run's start ask the
/// server for its schema first: a misspelt service, method or field is an
/// error at its place in the file, before any load. `--offline` asks
/// nothing, and an endpoint that cannot be asked is said, not failed.
#[tokio::test(flavor = "multi_thread")]
async fn reflection_checks_methods_and_fields_before_the_run() {
    let server = crate::servers::predict_grpc().await;
    let dir = dir_with_texts();
    let text = |endpoint: &str, method: &str, field: &str| {
        format!(
            "[load]\nusers = 1\nrequests = 2\n[grpc]\nendpoint = \"http://{endpoint}\"\nreflection = true\n\
             [data.texts]\nfile = \"texts.txt\"\n\
             [[request]]\nname = \"p\"\ngrpc = \"predict.v1.{method}\"\nmessage = {{ {field} = \"{{{{ texts }}}}\" }}\n"
        )
    };
    let addr = server.addr.to_string();
    let check = |name: &str, content: String, extra: &[&str]| {
        let file = dir.write(name, &content);
        let mut a = vec!["check".to_string(), file.display().to_string()];
        a.extend(extra.iter().map(|s| s.to_string()));
        common::volley_async(a)
    };
    let cases = [
        (
            "field.toml",
            "Predictor/Predict",
            "txet",
            "field.toml:12:11: message: predict.v1.PredictRequest has no field \"txet\"",
        ),
        (
            "method.toml",
            "Predictor/Predcit",
            "text",
            "method.toml:11:8: predict.v1.Predictor has no method \"Predcit\" (methods: Predict, PredictStream)",
        ),
        (
            "service.toml",
            "Predictr/Predict",
            "text",
            "service.toml:11:8: service \"predict.v1.Predictr\" is not one the server's reflection lists",
        ),
    ];
    for (name, method, field, want) in cases {
        let out = check(name, text(&addr, method, field), &[]).await;
        let (_, stderr) = common::text(&out);
        out.expect_exit_in(2, format_args!("{name}"));
        assert!(
            stderr.contains(want),
            "{name}: wanted {want:?} in\n{stderr}"
        );
        // Offline, nothing is asked: the file itself is sound.
        let out = check(name, text(&addr, method, field), &["--offline"]).await;
        out.expect_exit_in(0, format_args!("{name} --offline"));
    }
    // The run's start finds it too, at the same place, before any load.
    let file = dir.write("field.toml", &text(&addr, "Predictor/Predict", "txet"));
    let (out, json) = common::run_with_json(&file, &[]).await;
    let (_, stderr) = common::text(&out);
    out.expect_exit(2);
    assert!(stderr.contains("field.toml:12:11:"), "{stderr}");
    assert!(!json.exists(), "nothing ran, nothing is written");
    // A sound file says what it was checked against.
    let out = check("good.toml", text(&addr, "Predictor/Predict", "text"), &[]).await;
    let (stdout, _) = common::text(&out);
    out.expect_exit(0);
    assert!(
        stdout.contains(&format!(
            "checked against the schema http://{addr} gave by server reflection"
        )) && stdout.contains("(schema: server reflection)"),
        "{stdout}"
    );
    // An endpoint nobody serves: said, and the check still passes.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = closed.local_addr().unwrap().to_string();
    drop(closed);
    let out = check("gone.toml", text(&gone, "Predictor/Predcit", "text"), &[]).await;
    let (stdout, _) = common::text(&out);
    out.expect_exit(0);
    assert!(
        stdout.contains("gRPC methods and messages NOT checked"),
        "{stdout}"
    );
}

#[test]
fn mistakes_in_stream_settings_are_found_by_check() {
    let dir = dir_with_texts();
    let addr: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let cases = [
        (
            "[[request]]\nname = \"p\"\ngrpc = \"predict.v1.Predictor/Predict\"\nmessage = { text = \"x\" }\n[request.stream]\nmessages = 2\n",
            "is a unary method",
        ),
        (
            &format!("{CHAT}[request.stream]\nmessages = 0\n"),
            "messages must be from 1 to 10000000, not 0",
        ),
        (
            &format!("{CHAT}[request.stream]\ninterval = \"2h\"\n"),
            "interval must be at most",
        ),
        (
            &format!("{CHAT}[request.stream]\nduration = \"soon\"\n"),
            "is not a duration",
        ),
        (
            &format!("{CHAT}[request.stream]\nmesages = 2\n"),
            "unknown field `mesages`",
        ),
        (
            "[[request]]\nname = \"p\"\ngrpc = \"predict.v1.Predictor/Predict\"\nmessage = [{ text = \"a\" }, { text = \"b\" }]\n",
            "a list of messages is for client and bidirectional streaming",
        ),
        (
            &format!("{CHAT}[request.stream]\nanswers = 0\n"),
            "answers must be from 1 to 10000000, not 0",
        ),
        (
            &format!("{CHAT}[request.stream]\ncheck = \"first\"\n"),
            "check must be \"each\" or \"last\"",
        ),
        (
            "[[request]]\nname = \"chat\"\ngrpc = \"predict.v1.Predictor/PredictStream\"\nmessage = [{ text = \"a\" }, { txt = \"b\" }]\n",
            "message 2:",
        ),
        (
            "[[request]]\nname = \"msg:x\"\npath = \"/\"\n",
            "streaming calls' statistics",
        ),
        (
            "[[request]]\nname = \"h\"\npath = \"/\"\n[request.stream]\nmessages = 2\n",
            "is for streaming gRPC methods",
        ),
    ];
    for (rest, want) in cases {
        let mut text = scenario(addr, "users = 1\nduration = \"1s\"", rest);
        text.push_str("\n[http]\nbase_url = \"http://127.0.0.1:9\"\n");
        let file = dir.write("bad.toml", &text);
        let out = Volley::check(&file).output();
        let (_, stderr) = common::text(&out);
        out.expect_exit_in(2, format_args!("{rest}"));
        assert!(stderr.contains(want), "{rest}: want {want:?} in {stderr}");
        // file:line:column
        assert!(stderr.contains("bad.toml:"), "{stderr}");
    }
    // A threshold may name a stream's rows.
    let file = dir.write(
        "ok.toml",
        &format!(
            "thresholds = [\"msg:chat:p99<1s\", \"sent:chat:requests>0\"]\n{}",
            scenario(addr, "users = 1\nduration = \"1s\"", CHAT)
        ),
    );
    let out = Volley::check(&file).output();
    out.expect_exit(0);
}
