//! predict-rest over real loopback connections: every test vector over
//! HTTP/1.1, h2c and TLS, and every bad input with its status.

mod common;

use common::{Proto, predict_body, send, start_rest};
use predict::vectors;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn every_vector_over_http1_and_h2c() {
    let server = start_rest(None).await;
    let vectors = vectors::parse_jsonl("vectors.jsonl", vectors::COMMITTED).unwrap();
    assert_eq!(vectors.len(), 50);
    for proto in [Proto::Http1, Proto::H2c] {
        for v in &vectors {
            let a = send(
                server.addr,
                proto,
                "POST",
                "/predict",
                Some("application/json"),
                predict_body(&v.text),
            )
            .await;
            assert_eq!(a.status, 200, "{proto:?} {:?}: {:?}", v.text, a.body);
            assert_eq!(a.content_type, "application/json");
            let want = if proto == Proto::H2c {
                http::Version::HTTP_2
            } else {
                http::Version::HTTP_11
            };
            assert_eq!(a.version, want);
            let j = a.json();
            assert_eq!(j["category"], v.category, "{proto:?} {:?}", v.text);
            assert_eq!(j["label"], v.label.as_str());
        }
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let server = start_rest(None).await;
    for path in ["/healthz", "/readyz"] {
        let a = send(server.addr, Proto::Http1, "GET", path, None, "").await;
        assert_eq!(a.status, 200, "{path}");
    }
}

#[tokio::test]
async fn readiness_waits_for_the_model() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let model = predict::SharedModel::empty();
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(predict::rest::serve(listener, model.clone(), None, async {
        let _ = rx.await;
    }));
    let a = send(addr, Proto::Http1, "GET", "/readyz", None, "").await;
    assert_eq!(a.status, 503);
    let a = send(addr, Proto::Http1, "GET", "/healthz", None, "").await;
    assert_eq!(a.status, 200);
    let body = predict_body("hello");
    let a = send(
        addr,
        Proto::Http1,
        "POST",
        "/predict",
        Some("application/json"),
        body,
    )
    .await;
    assert_eq!(a.status, 503);
    model.set(predict::Model::builtin().unwrap());
    let a = send(addr, Proto::Http1, "GET", "/readyz", None, "").await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn bad_inputs_get_json_errors_with_their_status() {
    let server = start_rest(None).await;
    let big_text = "x".repeat(70 * 1024);
    // (what, method, path, content type, body, expected status)
    type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, String, u16);
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            "POST",
            "/predict",
            Some("application/json"),
            "{\"text\": ".into(),
            400,
        ),
        (
            "not JSON at all",
            "POST",
            "/predict",
            Some("application/json"),
            "text=hello".into(),
            400,
        ),
        (
            "trailing garbage",
            "POST",
            "/predict",
            Some("application/json"),
            "{\"text\":\"a\"} x".into(),
            400,
        ),
        (
            "text/plain",
            "POST",
            "/predict",
            Some("text/plain"),
            predict_body("hello"),
            400,
        ),
        (
            "form",
            "POST",
            "/predict",
            Some("application/x-www-form-urlencoded"),
            predict_body("hello"),
            400,
        ),
        (
            "no content type",
            "POST",
            "/predict",
            None,
            predict_body("hello"),
            400,
        ),
        (
            "missing text",
            "POST",
            "/predict",
            Some("application/json"),
            "{}".into(),
            422,
        ),
        (
            "other field only",
            "POST",
            "/predict",
            Some("application/json"),
            "{\"txt\":\"a\"}".into(),
            422,
        ),
        (
            "number text",
            "POST",
            "/predict",
            Some("application/json"),
            "{\"text\": 42}".into(),
            422,
        ),
        (
            "null text",
            "POST",
            "/predict",
            Some("application/json"),
            "{\"text\": null}".into(),
            422,
        ),
        (
            "array body",
            "POST",
            "/predict",
            Some("application/json"),
            "[\"a\"]".into(),
            422,
        ),
        (
            "empty text",
            "POST",
            "/predict",
            Some("application/json"),
            predict_body(""),
            422,
        ),
        (
            "over 64 KiB",
            "POST",
            "/predict",
            Some("application/json"),
            predict_body(&big_text),
            413,
        ),
        ("unknown path", "GET", "/nope", None, String::new(), 404),
        (
            "unknown path POST",
            "POST",
            "/predict/extra",
            Some("application/json"),
            predict_body("a"),
            404,
        ),
        ("GET predict", "GET", "/predict", None, String::new(), 405),
        (
            "PUT predict",
            "PUT",
            "/predict",
            Some("application/json"),
            predict_body("a"),
            405,
        ),
        ("POST healthz", "POST", "/healthz", None, String::new(), 405),
    ];
    for proto in [Proto::Http1, Proto::H2c] {
        for (what, method, path, ct, body, status) in &cases {
            let a = send(server.addr, proto, method, path, *ct, body.clone()).await;
            assert_eq!(a.status, *status, "{proto:?} {what}: {:?}", a.body);
            assert_eq!(a.content_type, "application/json", "{proto:?} {what}");
            let j = a.json();
            assert!(
                j["error"].as_str().is_some_and(|m| !m.is_empty()),
                "{proto:?} {what}: {j}"
            );
        }
    }
    // The charset parameter is fine, and the server still serves.
    let a = send(
        server.addr,
        Proto::Http1,
        "POST",
        "/predict",
        Some("application/json; charset=utf-8"),
        predict_body("the striker scored a late goal"),
    )
    .await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_413() {
    // No content-length: the limit must hold while reading the stream.
    let server = start_rest(None).await;
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = "POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = "y".repeat(8192);
    for _ in 0..10 {
        let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
        if s.write_all(framed.as_bytes()).await.is_err() {
            break;
        }
    }
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}

#[tokio::test]
async fn garbage_and_stalled_clients_do_not_stop_the_server() {
    let server = start_rest(None).await;
    // Raw garbage instead of HTTP.
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"\x00\x01\x02 not http at all\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).await.unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 400"), "{text}");
    // A client that sends half a head and stalls holds only its own connection.
    let mut stalled = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stalled
        .write_all(b"POST /predict HTTP/1.1\r\nhost")
        .await
        .unwrap();
    // A broken HTTP/2 preface.
    let mut h2 = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff")
        .await
        .unwrap();
    // Meanwhile everyone else is served.
    let a = send(
        server.addr,
        Proto::H2c,
        "POST",
        "/predict",
        Some("application/json"),
        predict_body("rates and shares"),
    )
    .await;
    assert_eq!(a.status, 200);
    drop(stalled);
}

#[tokio::test]
async fn tls_with_alpn_h2_and_http1() {
    let (cert, key) = common::self_signed();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    let config = predict::tls::server_config(&cert_path, &key_path).unwrap();
    let server = start_rest(Some(tokio_rustls::TlsAcceptor::from(config))).await;
    let vectors = vectors::parse_jsonl("vectors.jsonl", vectors::COMMITTED).unwrap();
    for (alpn, proto, version) in [
        (b"h2".as_slice(), Proto::H2c, http::Version::HTTP_2),
        (b"http/1.1".as_slice(), Proto::Http1, http::Version::HTTP_11),
    ] {
        let connector = common::tls_connector(&cert, &[alpn]);
        for v in vectors.iter().take(10) {
            let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let tls = connector.connect(name, tcp).await.unwrap();
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
            let a = common::send_on(
                tls,
                proto,
                "POST",
                "/predict",
                Some("application/json"),
                predict_body(&v.text),
            )
            .await;
            assert_eq!(a.status, 200);
            assert_eq!(a.version, version);
            assert_eq!(a.json()["category"], v.category);
        }
    }
    // A cleartext client on the TLS port gets no HTTP answer, and TLS
    // clients are still served afterwards.
    let mut plain = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), plain.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert!(!buf[..n].starts_with(b"HTTP/"), "plaintext was answered");
    let connector = common::tls_connector(&cert, &[b"h2"]);
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let a = common::send_on(tls, Proto::H2c, "GET", "/healthz", None, "").await;
    assert_eq!(a.status, 200);
}

#[test]
fn bad_tls_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let err = predict::tls::server_config(&missing, &missing).unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let err = predict::tls::server_config(&empty, &empty).unwrap_err();
    assert!(err.to_string().contains("no certificate"), "{err}");
}
