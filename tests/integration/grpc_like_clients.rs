//! volley's gRPC client reads answers as grpc-go and ghz do: a status the
//! server sent is a status (not a broken connection), the request's
//! timeout travels as `grpc-timeout`, large and compressed answers are
//! received, requests may be compressed, and `-bin` metadata is sent as
//! bytes. Against an in-test tonic server that counts what it saw.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use predict::grpc::pb::predictor_server::{Predictor, PredictorServer};
use predict::grpc::pb::{PredictRequest, PredictResponse};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::common::{self, Dir, ExpectExit, Volley, read_json};

#[derive(Default)]
struct Seen {
    calls: AtomicU64,
    /// PredictStream: calls, texts read and answers written, by the server.
    streams: AtomicU64,
    texts: AtomicU64,
    answers: AtomicU64,
    /// The texts of the first stream, in order.
    first_texts: Mutex<Vec<String>>,
    connections: AtomicU64,
    agents: Mutex<Vec<String>>,
    timeouts: Mutex<Vec<String>>,
    encodings: Mutex<Vec<String>>,
    binary: Mutex<Vec<Vec<u8>>>,
}

struct Svc(Arc<Seen>);

#[tonic::async_trait]
impl Predictor for Svc {
    async fn predict(
        &self,
        req: Request<PredictRequest>,
    ) -> Result<Response<PredictResponse>, Status> {
        let seen = &self.0;
        seen.calls.fetch_add(1, Ordering::SeqCst);
        let md = req.metadata();
        if let Some(a) = md.get("user-agent").and_then(|v| v.to_str().ok()) {
            seen.agents.lock().unwrap().push(a.to_owned());
        }
        if let Some(t) = md.get("grpc-timeout").and_then(|v| v.to_str().ok()) {
            seen.timeouts.lock().unwrap().push(t.to_owned());
        }
        if let Some(e) = md.get("grpc-encoding").and_then(|v| v.to_str().ok()) {
            seen.encodings.lock().unwrap().push(e.to_owned());
        }
        if let Some(b) = md.get_bin("trace-bin").and_then(|v| v.to_bytes().ok()) {
            seen.binary.lock().unwrap().push(b.to_vec());
        }
        let label = match req.get_ref().text.as_str() {
            // Load shedding, in the words servers use.
            "shed" => return Err(Status::unavailable("transport is closing")),
            "slow" => {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                "late".to_owned()
            }
            // 5 MiB: over tonic's and grpc-go's 4 MiB default.
            "big" => "x".repeat(5 << 20),
            _ => "ok".to_owned(),
        };
        Ok(Response::new(PredictResponse { category: 1, label }))
    }

    /// One answer per text, labelled with the text, counted; "flood" is
    /// answered without end, one answer a millisecond.
    async fn predict_stream(
        &self,
        req: Request<tonic::Streaming<PredictRequest>>,
    ) -> Result<Response<tonic::codegen::BoxStream<PredictResponse>>, Status> {
        use futures_util::StreamExt;
        let seen = self.0.clone();
        let first = seen.streams.fetch_add(1, Ordering::SeqCst) == 0;
        let mut texts = req.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            while let Some(Ok(r)) = texts.next().await {
                seen.texts.fetch_add(1, Ordering::SeqCst);
                if first {
                    seen.first_texts.lock().unwrap().push(r.text.clone());
                }
                loop {
                    let answer = PredictResponse {
                        category: 1,
                        label: r.text.clone(),
                    };
                    if tx.send(Ok(answer)).await.is_err() {
                        return;
                    }
                    seen.answers.fetch_add(1, Ordering::SeqCst);
                    if r.text != "flood" {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

async fn start() -> (std::net::SocketAddr, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counted = seen.clone();
    let incoming = futures_util::stream::unfold(listener, move |l| {
        let counted = counted.clone();
        async move {
            let conn = l.accept().await.map(|(s, _)| s);
            counted.connections.fetch_add(1, Ordering::SeqCst);
            Some((conn, l))
        }
    });
    let svc = PredictorServer::new(Svc(seen.clone()))
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_encoding_message_size(64 << 20);
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(incoming)
            .await;
    });
    (addr, seen)
}

fn scenario(addr: std::net::SocketAddr, load: &str, grpc: &str, text: &str, check: &str) -> String {
    let proto = common::proto_dir();
    format!(
        "[load]\n{load}\n[grpc]\nendpoint = \"http://{addr}\"\nproto = \"{}/predict/v1/predict.proto\"\n\
         import_paths = [\"{}\"]\n{grpc}\n[[request]]\nname = \"p\"\ngrpc = \"predict.v1.Predictor/Predict\"\n\
         message = {{ text = \"{text}\" }}\n{check}\n",
        proto.display(),
        proto.display()
    )
}

async fn run(dir: &Dir, text: &str) -> serde_json::Value {
    let file = dir.write("s.toml", text);
    let (out, json) = common::run_with_json(&file, &["--status-every", "1h"]).await;
    let r = read_json(&json);
    // Nothing asked of the answers: the run passes unless not one call
    // succeeded.
    let all_failed = r["totals"]["failures"] == r["totals"]["requests"];
    let code = if all_failed { 1 } else { 0 };
    out.expect_exit(code);
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn a_status_from_the_server_is_a_status_and_keeps_the_connection() {
    let (addr, seen) = start().await;
    let dir = Dir::new();
    let r = run(
        &dir,
        &scenario(addr, "users = 2\nrequests = 300", "", "shed", ""),
    )
    .await;
    assert_eq!(r["totals"]["failures"], 300);
    assert_eq!(
        crate::common::failure_pairs(&r["totals"]["failures_by_reason"]),
        [("grpc".to_owned(), "gRPC UNAVAILABLE".to_owned())]
    );
    assert_eq!(seen.calls.load(Ordering::SeqCst), 300);
    assert!(
        seen.connections.load(Ordering::SeqCst) <= 2,
        "one connection per user, kept: {}",
        seen.connections.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn open_model_executors_share_connections_two_per_load_thread_unless_told() {
    // 16 executors on one load thread: their calls are streams of 2
    // connections, opened before the first arrival, kept to the end.
    let (addr, seen) = start().await;
    let dir = Dir::new();
    let open = "rate = 400\nconnections = 16\nrequests = 200";
    let file = dir.write("s.toml", &scenario(addr, open, "", "x", ""));
    let extra = ["--status-every", "1h", "--threads", "1"];
    let (out, json) = common::run_with_json(&file, &extra).await;
    out.expect_exit(0);
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"], 200);
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
    // volley names itself, as over HTTP.
    let agents = seen.agents.lock().unwrap().clone();
    assert_eq!(agents.len(), 200);
    assert!(
        agents.iter().all(|a| a.starts_with("volley/")),
        "{agents:?}"
    );

    // [grpc] connections says how many.
    let (addr, seen) = start().await;
    let file = dir.write("s.toml", &scenario(addr, open, "connections = 3", "x", ""));
    let (out, _) = common::run_with_json(&file, &extra).await;
    out.expect_exit(0);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 3);

    // The closed model's users keep a connection each.
    let (addr, seen) = start().await;
    let file = dir.write(
        "s.toml",
        &scenario(addr, "users = 4\nrequests = 200", "", "x", ""),
    );
    let (out, _) = common::run_with_json(&file, &extra).await;
    out.expect_exit(0);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timeout_is_sent_as_grpc_timeout_and_cancels_the_call_not_the_connection() {
    let (addr, seen) = start().await;
    let dir = Dir::new();
    let r = run(
        &dir,
        &scenario(
            addr,
            "users = 1\nrequests = 4\ntimeout = \"300ms\"",
            "",
            "slow",
            "",
        ),
    )
    .await;
    assert_eq!(r["totals"]["failures"], 4, "{r}");
    let timeouts = seen.timeouts.lock().unwrap().clone();
    assert_eq!(timeouts.len(), 4, "{timeouts:?}");
    for t in &timeouts {
        // grpc-timeout is digits and a unit; 300 ms, in whatever unit.
        let (n, unit) = t.split_at(t.len() - 1);
        let n: f64 = n.parse().unwrap();
        let ms = match unit {
            "H" => n * 3.6e6,
            "M" => n * 6e4,
            "S" => n * 1e3,
            "m" => n,
            "u" => n / 1e3,
            "n" => n / 1e6,
            _ => panic!("{t}"),
        };
        assert!((250.0..=300.0).contains(&ms), "{t}");
    }
    assert_eq!(
        seen.connections.load(Ordering::SeqCst),
        1,
        "the connection stayed"
    );
    assert!(
        crate::common::failure_pairs(&r["totals"]["failures_by_reason"])
            .iter()
            .all(|(k, _)| k == "timeout" || k == "grpc"),
        "{:?}",
        crate::common::failure_pairs(&r["totals"]["failures_by_reason"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn large_and_compressed_answers_are_received_and_requests_may_be_compressed() {
    let (addr, seen) = start().await;
    let dir = Dir::new();
    // 5 MiB, gzip-compressed by the server: received whole by default.
    let big = scenario(
        addr,
        "users = 1\nrequests = 3",
        "compression = \"gzip\"\nmetadata = { trace-bin = \"AAEC/w==\" }",
        "big",
        "[request.check.json]\n\"/category\" = 1",
    );
    let r = run(&dir, &big).await;
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    assert_eq!(seen.encodings.lock().unwrap().clone(), ["gzip"; 3]);
    // Counted as they crossed the wire: 5 MiB of "x" gzip-compressed, not
    // as they decode.
    let received = r["totals"]["bytes_received"].as_u64().unwrap();
    assert!(
        received / 3 < (5 << 20) / 50,
        "{received} bytes for 3 answers"
    );
    assert!(received / 3 > 100, "{received}");
    assert_eq!(
        seen.binary.lock().unwrap().clone(),
        vec![vec![0u8, 1, 2, 255]; 3]
    );
    // Over the limit the scenario sets: volley's own limit, said so.
    let small = big.replace("[grpc]\n", "[grpc]\nmax_message_size = \"1MiB\"\n");
    let r = run(&dir, &small).await;
    assert_eq!(r["totals"]["failures"], 3, "{r}");
    assert_eq!(
        crate::common::failure_pairs(&r["totals"]["failures_by_reason"]),
        [(
            "limit".to_owned(),
            "message larger than [grpc] max_message_size".to_owned()
        )]
    );
    // A -bin value that is not base64 is refused when the file is checked.
    let bad = big.replace("AAEC/w==", "not base64!");
    let file = dir.write("bad.toml", &bad);
    let out = Volley::check(&file).output();
    let (_, stderr) = common::text(&out);
    out.expect_exit(2);
    assert!(stderr.contains("must be base64"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transport_failure_is_still_a_connection_failure() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let dir = Dir::new();
    let r = run(
        &dir,
        &scenario(addr, "users = 1\nrequests = 3", "", "x", ""),
    )
    .await;
    assert_eq!(r["totals"]["failures"], 3);
    let kinds: Vec<String> = crate::common::failure_pairs(&r["totals"]["failures_by_reason"])
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(
        kinds.iter().all(|k| k == "connect"),
        "{:?}",
        crate::common::failure_pairs(&r["totals"]["failures_by_reason"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reflection_falls_back_to_v1alpha() {
    let seen = Arc::new(Seen::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Only the older protocol, as many servers still offer.
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(predict::grpc::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .unwrap();
    let svc = PredictorServer::new(Svc(seen.clone()));
    let incoming = futures_util::stream::unfold(listener, |l| async move {
        Some((l.accept().await.map(|(s, _)| s), l))
    });
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(reflection)
            .add_service(svc)
            .serve_with_incoming(incoming)
            .await;
    });
    let dir = Dir::new();
    let text = format!(
        "[load]\nusers = 1\nrequests = 5\n[grpc]\nendpoint = \"http://{addr}\"\nreflection = true\n\
         [[request]]\nname = \"p\"\ngrpc = \"predict.v1.Predictor/Predict\"\nmessage = {{ text = \"x\" }}\n\
         [request.check.json]\n\"/label\" = \"ok\"\n"
    );
    let r = run(&dir, &text).await;
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    assert_eq!(seen.calls.load(Ordering::SeqCst), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_over_tls_with_a_ca_insecure_on_loopback_and_a_server_name() {
    let dir = Dir::new();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "grpc.test".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    dir.write("ca.pem", &ca_cert.pem());
    let identity = tonic::transport::Identity::from_pem(leaf.pem(), key.serialize_pem());
    let seen = Arc::new(Seen::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let incoming = futures_util::stream::unfold(listener, |l| async move {
        Some((l.accept().await.map(|(s, _)| s), l))
    });
    let svc = PredictorServer::new(Svc(seen.clone()));
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .unwrap()
            .add_service(svc)
            .serve_with_incoming(incoming)
            .await;
    });
    let proto = common::proto_dir();
    for (endpoint, tls) in [
        (format!("https://localhost:{port}"), "ca = \"ca.pem\""),
        (format!("https://localhost:{port}"), "insecure = true"),
        (
            format!("https://127.0.0.1:{port}"),
            "ca = \"ca.pem\"\nserver_name = \"grpc.test\"",
        ),
    ] {
        let text = format!(
            "[load]\nusers = 2\nrequests = 10\n[grpc]\nendpoint = \"{endpoint}\"\n{tls}\n\
             proto = \"{p}/predict/v1/predict.proto\"\nimport_paths = [\"{p}\"]\n\
             [[request]]\nname = \"p\"\ngrpc = \"predict.v1.Predictor/Predict\"\nmessage = {{ text = \"x\" }}\n\
             [request.check.json]\n\"/label\" = \"ok\"\n",
            p = proto.display()
        );
        let r = run(&dir, &text).await;
        assert_eq!(r["totals"]["failures"], 0, "{tls}: {r}");
    }
    // Without the CA the certificate is not trusted: a TLS failure.
    let text = format!(
        "[load]\nusers = 1\nrequests = 2\n[grpc]\nendpoint = \"https://localhost:{port}\"\n\
         proto = \"{p}/predict/v1/predict.proto\"\nimport_paths = [\"{p}\"]\n\
         [[request]]\nname = \"p\"\ngrpc = \"predict.v1.Predictor/Predict\"\nmessage = {{ text = \"x\" }}\n",
        p = proto.display()
    );
    let r = run(&dir, &text).await;
    assert_eq!(r["totals"]["failures"], 2, "{r}");
    assert_eq!(
        crate::common::failure_pairs(&r["totals"]["failures_by_reason"]),
        [("tls".to_owned(), "TLS handshake failed".to_owned())]
    );
    // Why, said once (it was once said twice over).
    let detail = r["totals"]["failures_by_reason"][0]["last_detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(detail.matches("UnknownIssuer").count(), 1, "{detail:?}");
    assert_eq!(seen.calls.load(Ordering::SeqCst), 30);
}

fn stream_scenario(addr: std::net::SocketAddr, load: &str, rest: &str) -> String {
    let proto = common::proto_dir();
    format!(
        "[load]\n{load}\n[grpc]\nendpoint = \"http://{addr}\"\nproto = \"{p}/predict/v1/predict.proto\"\n\
         import_paths = [\"{p}\"]\n[[request]]\nname = \"s\"\ngrpc = \"predict.v1.Predictor/PredictStream\"\n{rest}\n",
        p = proto.display()
    )
}

fn stream_row<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no row {name}: {r}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_counts_equal_the_servers_and_a_list_is_sent_in_turn() {
    let (addr, seen) = start().await;
    let dir = Dir::new();
    let text = stream_scenario(
        addr,
        "users = 2\nrequests = 10",
        "message = [{ text = \"a\" }, { text = \"b\" }, { text = \"c\" }]\n\
         [request.stream]\nmessages = 7\n[request.check.json]\n\"/category\" = 1\n",
    );
    let r = run(&dir, &text).await;
    assert_eq!(r["totals"]["requests"], 10);
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    assert_eq!(seen.streams.load(Ordering::SeqCst), 10);
    // What volley counted is what the server read and wrote.
    assert_eq!(seen.texts.load(Ordering::SeqCst), 70);
    assert_eq!(stream_row(&r, "sent:s")["requests"], 70);
    assert_eq!(seen.answers.load(Ordering::SeqCst), 70);
    assert_eq!(stream_row(&r, "msg:s")["requests"], 70);
    assert_eq!(stream_row(&r, "first:s")["requests"], 10);
    // The list, in turn, from its start again after its end.
    assert_eq!(
        seen.first_texts.lock().unwrap().clone(),
        ["a", "b", "c", "a", "b", "c", "a"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_end_an_endless_stream_and_checks_may_read_the_last_answer() {
    let (addr, seen) = start().await;
    let dir = Dir::new();
    // The server answers "flood" without end: volley ends each call after
    // five answers, and the call passes.
    let flood = stream_scenario(
        addr,
        "users = 1\nrequests = 3\ntimeout = \"5s\"",
        "message = { text = \"flood\" }\n[request.stream]\nanswers = 5\n",
    );
    let r = run(&dir, &flood).await;
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    assert_eq!(stream_row(&r, "msg:s")["requests"], 15);
    assert!(seen.answers.load(Ordering::SeqCst) >= 15);
    // Fewer answers than asked for: the call fails as a check.
    let few = stream_scenario(
        addr,
        "users = 1\nrequests = 2",
        "message = { text = \"x\" }\n[request.stream]\nmessages = 2\nanswers = 3\n",
    );
    let r = run(&dir, &few).await;
    assert_eq!(r["totals"]["failures"], 2, "{r}");
    assert_eq!(
        crate::common::failure_pairs(&r["totals"]["failures_by_reason"]),
        [("check".to_owned(), "3 answers expected, 2 came".to_owned())]
    );
    // check = "last": only the last answer must hold the value.
    let last = stream_scenario(
        addr,
        "users = 1\nrequests = 2",
        "message = [{ text = \"x\" }, { text = \"done\" }]\n[request.stream]\ncheck = \"last\"\n\
         [request.check.json]\n\"/label\" = \"done\"\n",
    );
    let r = run(&dir, &last).await;
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    let each = last.replace("check = \"last\"\n", "");
    let r = run(&dir, &each).await;
    assert_eq!(r["totals"]["failures"], 2, "{r}");
    assert_eq!(
        crate::common::failure_pairs(&r["totals"]["failures_by_reason"])[0].0,
        "check"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_that_does_not_fit_the_proto_is_a_decode_failure() {
    let (addr, _) = start().await;
    let dir = Dir::new();
    // The scenario's idea of the answer: field 1 a string, where the server
    // writes a number.
    dir.write(
        "other.proto",
        "syntax = \"proto3\";\npackage predict.v1;\nmessage PredictRequest { string text = 1; }\n\
         message PredictResponse { string category = 1; }\n\
         service Predictor { rpc Predict(PredictRequest) returns (PredictResponse); }\n",
    );
    let text = format!(
        "[load]\nusers = 1\nrequests = 2\n[grpc]\nendpoint = \"http://{addr}\"\nproto = \"other.proto\"\n\
         [[request]]\nname = \"p\"\ngrpc = \"predict.v1.Predictor/Predict\"\nmessage = {{ text = \"x\" }}\n\
         [request.check.json]\n\"/category\" = \"1\"\n"
    );
    let r = run(&dir, &text).await;
    assert_eq!(r["totals"]["failures"], 2, "{r}");
    assert_eq!(
        crate::common::failure_pairs(&r["totals"]["failures_by_reason"]),
        [(
            "decode".to_owned(),
            "answer does not decode as predict.v1.PredictResponse".to_owned()
        )]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capture_takes_its_value_from_the_last_answer_that_has_it() {
    let (addr, _) = start().await;
    let dir = Dir::new();
    let proto = common::proto_dir();
    // Only the first of the two answers holds "tok-": the capture finds it
    // there, and the next step sends it back.
    let text = format!(
        "[load]\nusers = 1\nrequests = 6\n[grpc]\nendpoint = \"http://{addr}\"\n\
         proto = \"{p}/predict/v1/predict.proto\"\nimport_paths = [\"{p}\"]\n\
         [[flow]]\nname = \"f\"\n\
         [[flow.step]]\nname = \"open\"\ngrpc = \"predict.v1.Predictor/PredictStream\"\n\
         message = [{{ text = \"tok-7\" }}, {{ text = \"x\" }}]\n\
         capture = {{ tok = {{ regex = \"tok-[0-9]+\" }} }}\n[flow.step.stream]\n\
         [[flow.step]]\nname = \"again\"\ngrpc = \"predict.v1.Predictor/PredictStream\"\n\
         message = {{ text = \"{{{{ tok }}}}\" }}\n[flow.step.stream]\n\
         [flow.step.check.json]\n\"/label\" = \"tok-7\"\n",
        p = proto.display()
    );
    let r = run(&dir, &text).await;
    assert_eq!(r["totals"]["requests"], 6, "{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    assert_eq!(r["flows"][0]["requests"], 3);
    assert_eq!(r["flows"][0]["failures"], 0);
}
