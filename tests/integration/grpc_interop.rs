//! volley against the grpc-go interop server (google.golang.org/grpc/interop/
//! server), a gRPC server nobody here wrote: statuses it is asked to answer
//! with (UNAVAILABLE with a transport-sounding message included), a 5 MiB
//! answer, and gzip-compressed answers. (Compressed requests are tested on
//! tonic: this server installs no decompressor, and answers UNIMPLEMENTED.)
//!
//! `.ci/third-party` installs the server with `go install` and runs this test
//! with `VOLLEY_GRPC_INTEROP` naming it. Without it the test is ignored (the
//! README's test command needs only Rust).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, Dir, ExpectExit, read_json};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The interop server on a free port, and the folder of our interop.proto.
fn start() -> (Server, u16, std::path::PathBuf) {
    let bin = std::env::var("VOLLEY_GRPC_INTEROP")
        .expect("VOLLEY_GRPC_INTEROP names the interop server (.ci/third-party sets it)");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server(
        Command::new(bin)
            .args(["-port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let end = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "the interop server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let protos = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/protos");
    (server, port, protos)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the grpc-go interop server: .ci/third-party installs it and runs this test"]
async fn grpc_go_statuses_large_and_compressed_answers() {
    let (_server, port, protos) = start();
    let dir = Dir::new();
    let text = format!(
        r#"[load]
users = 2
requests = 200
[grpc]
endpoint = "http://127.0.0.1:{port}"
proto = "{p}/interop.proto"
import_paths = ["{p}"]

[[request]]
name = "small"
grpc = "grpc.testing.TestService/UnaryCall"
message = {{ response_size = 1024 }}

[[request]]
name = "shed"
grpc = "grpc.testing.TestService/UnaryCall"
message = {{ response_status = {{ code = 14, message = "transport is closing" }} }}
[request.check]
code = "UNAVAILABLE"

[[request]]
name = "not-found"
grpc = "grpc.testing.TestService/UnaryCall"
message = {{ response_status = {{ code = 5, message = "no such thing" }} }}

[[request]]
name = "big"
grpc = "grpc.testing.TestService/UnaryCall"
message = {{ response_size = 5242880 }}

[[request]]
name = "compressed"
grpc = "grpc.testing.TestService/UnaryCall"
message = {{ response_size = 65536, response_compressed = {{ value = true }} }}
"#,
        p = protos.display()
    );
    let file = dir.write("s.toml", &text);
    let (out, json) = common::run_with_json(&file, &["--status-every", "1h"]).await;
    out.expect_exit(0);
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"], 200, "{r}");
    for n in r["names"].as_array().unwrap() {
        assert!(n["requests"].as_u64().unwrap() > 0, "{}", n["name"]);
        let want_failures = if n["name"] == "not-found" {
            n["requests"].clone()
        } else {
            serde_json::json!(0)
        };
        assert_eq!(
            n["failures"], want_failures,
            "{}: {}",
            n["name"], n["failures_by_reason"]
        );
    }
    let nf = r["names"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "not-found")
        .unwrap();
    assert_eq!(nf["failures_by_reason"][0]["kind"], "grpc");
    assert_eq!(nf["failures_by_reason"][0]["reason"], "gRPC NOT_FOUND");
    // The big answers arrived whole: 5 MiB each, and more.
    let big = r["names"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "big")
        .unwrap();
    assert!(
        big["bytes_received"].as_u64().unwrap() >= big["requests"].as_u64().unwrap() * 5_242_880
    );
    // Bytes are wire bytes: an answer counts its head, message and
    // trailers; a status the server sent counts its headers and trailers.
    let per_call = |name: &str| {
        let n = r["names"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap();
        n["bytes_received"].as_u64().unwrap() / n["requests"].as_u64().unwrap().max(1)
    };
    assert!(per_call("small") > 1024, "{r}");
    assert!(per_call("shed") > 40, "{r}");
}

fn row<'a>(r: &'a serde_json::Value, group: &str, name: &str) -> &'a serde_json::Value {
    r[group]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no {group} row {name}: {r}"))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the grpc-go interop server: .ci/third-party installs it and runs this test"]
async fn grpc_go_server_client_and_bidirectional_streams() {
    let (_server, port, protos) = start();
    let dir = Dir::new();
    // A server stream that would last 5 s, ended by volley after 300 ms.
    let long: Vec<&str> = vec!["{ size = 1, interval_us = 50000 }"; 100];
    let text = format!(
        r#"[load]
users = 2
requests = 40
[grpc]
endpoint = "http://127.0.0.1:{port}"
proto = "{p}/interop.proto"
import_paths = ["{p}"]

# Server streaming, its kind known from the .proto: no table needed.
[[request]]
name = "output"
grpc = "grpc.testing.TestService/StreamingOutputCall"
message = {{ response_parameters = [{{ size = 100, interval_us = 2000 }}, {{ size = 100 }}, {{ size = 100 }}] }}

# Client streaming: four payloads of 5 bytes ("hello"), one answer.
[[request]]
name = "input"
grpc = "grpc.testing.TestService/StreamingInputCall"
message = {{ payload = {{ body = "aGVsbG8=" }} }}
[request.stream]
messages = 4
[request.check]
json = {{ "/aggregatedPayloadSize" = 20 }}

# Bidirectional, one answer per message, each awaited.
[[request]]
name = "duplex"
grpc = "grpc.testing.TestService/FullDuplexCall"
message = {{ response_parameters = [{{ size = 10 }}] }}
[request.stream]
messages = 5
ping_pong = true

[[request]]
name = "watch"
grpc = "grpc.testing.TestService/StreamingOutputCall"
message = {{ response_parameters = [{long}] }}
[request.stream]
duration = "300ms"
"#,
        p = protos.display(),
        long = long.join(", ")
    );
    let file = dir.write("s.toml", &text);
    let (out, json) = common::run_with_json(&file, &["--status-every", "1h"]).await;
    out.expect_exit(0);
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"], 40, "{r}");
    assert_eq!(r["totals"]["failures"], 0, "{}", r["names"]);
    let calls = |n: &str| row(&r, "names", n)["requests"].as_u64().unwrap();
    let count = |n: &str| row(&r, "streams", n)["requests"].as_u64().unwrap();
    for n in ["output", "input", "duplex", "watch"] {
        assert!(calls(n) > 0, "{n}");
        assert_eq!(count(&format!("first:{n}")), calls(n), "{n}");
    }
    assert_eq!(count("msg:output"), 3 * calls("output"));
    assert_eq!(count("sent:output"), calls("output"));
    // The server waits 2 ms before its first answer.
    assert!(
        row(&r, "streams", "first:output")["min_us"]
            .as_u64()
            .unwrap()
            >= 2_000
    );
    assert_eq!(count("sent:input"), 4 * calls("input"));
    assert_eq!(count("msg:input"), calls("input"));
    assert_eq!(count("sent:duplex"), 5 * calls("duplex"));
    assert_eq!(count("msg:duplex"), 5 * calls("duplex"));
    // Ended after 300 ms, long before the server's 5 s, and passed: about
    // six answers 50 ms apart each.
    let watch = row(&r, "names", "watch");
    assert!(watch["min_us"].as_u64().unwrap() >= 300_000, "{watch}");
    assert!(watch["max_us"].as_u64().unwrap() < 2_000_000, "{watch}");
    assert!(count("msg:watch") <= 7 * calls("watch"));
    assert!(row(&r, "streams", "msg:watch")["p50_us"].as_u64().unwrap() >= 40_000);
}
