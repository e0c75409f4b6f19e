//! predict-rest's streams over real loopback connections: `POST
//! /predict/stream` (Server-Sent Events, one event per text, then [DONE])
//! and `GET /predict/ws` (WebSocket), each answer equal to `/predict`'s,
//! and every bad body, message, frame and handshake refused as documented.

mod common;

use common::{Proto, predict_body, send, start_rest};
use predict::vectors;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---- POST /predict/stream (Server-Sent Events) ----

/// What `/predict` answers for `text`, as raw bytes.
async fn predict_bytes(addr: std::net::SocketAddr, text: &str) -> bytes::Bytes {
    let a = send(
        addr,
        Proto::Http1,
        "POST",
        "/predict",
        Some("application/json"),
        predict_body(text),
    )
    .await;
    assert_eq!(a.status, 200, "{text:?}: {:?}", a.body);
    a.body
}

/// Sends one HTTP/1.1 request with `connection: close` on a raw socket and
/// returns the head and the body's chunks as they were framed on the wire.
async fn raw_chunked(addr: std::net::SocketAddr, path: &str, body: &str) -> (String, Vec<Vec<u8>>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("the answer ends")
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut rest = &raw[split + 4..];
    let mut chunks = Vec::new();
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    // One turn per chunk; ends at the zero-length chunk.
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            assert_eq!(rest, b"\r\n", "nothing after the last chunk");
            break;
        }
        chunks.push(rest[..size].to_vec());
        assert_eq!(&rest[size..size + 2], b"\r\n");
        rest = &rest[size + 2..];
    }
    (head, chunks)
}

#[tokio::test]
async fn stream_answers_each_text_as_its_own_event_then_done() {
    let server = start_rest(None).await;
    let vectors = vectors::parse_jsonl("vectors.jsonl", vectors::COMMITTED).unwrap();
    let mut texts: Vec<String> = vectors.iter().map(|v| v.text.clone()).collect();
    texts.push("quote \" backslash \\ newline \n tab \t café 🚀".into());
    let body = serde_json::json!({ "texts": texts }).to_string();
    let (head, chunks) = raw_chunked(server.addr, "/predict/stream", &body).await;
    let lower = head.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200"), "{head}");
    assert!(lower.contains("content-type: text/event-stream"), "{head}");
    assert!(lower.contains("cache-control: no-cache"), "{head}");
    // Each event is its own chunk: written as it was made, not gathered
    // into one buffer at the end.
    assert_eq!(chunks.len(), texts.len() + 1, "one chunk per event");
    for (i, text) in texts.iter().enumerate() {
        let mut want = format!("id: {i}\ndata: ").into_bytes();
        want.extend_from_slice(&predict_bytes(server.addr, text).await);
        want.extend_from_slice(b"\n\n");
        assert_eq!(
            chunks[i],
            want,
            "event {i} for {text:?}: {}",
            String::from_utf8_lossy(&chunks[i])
        );
    }
    assert_eq!(chunks[texts.len()], b"data: [DONE]\n\n");
    for v in vectors.iter().take(3) {
        assert!(
            String::from_utf8_lossy(&predict_bytes(server.addr, &v.text).await)
                .contains(&format!("\"label\":\"{}\"", v.label))
        );
    }

    // The same bytes over h2c, and no texts is just [DONE].
    let a = send(
        server.addr,
        Proto::H2c,
        "POST",
        "/predict/stream",
        Some("application/json"),
        body,
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type, "text/event-stream");
    assert_eq!(a.body, chunks.concat());
    let (head, chunks) = raw_chunked(server.addr, "/predict/stream", r#"{"texts":[]}"#).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(chunks, vec![b"data: [DONE]\n\n".to_vec()]);
}

#[tokio::test]
async fn stream_refuses_bad_bodies_before_it_starts() {
    let server = start_rest(None).await;
    let many = serde_json::json!({ "texts": vec!["a"; 100_000] }).to_string();
    let at_limit = serde_json::json!({ "texts": vec!["a"; 10_000] }).to_string();
    let over_limit = serde_json::json!({ "texts": vec!["a"; 10_001] }).to_string();
    let long_text = serde_json::json!({ "texts": ["a", "x".repeat(64 * 1024 + 1)] }).to_string();
    let over_mib = serde_json::json!({ "texts": vec!["y".repeat(60_000); 18] }).to_string();
    // (what, content type, body, status, part of the error)
    let cases: Vec<(&str, Option<&str>, String, u16, &str)> = vec![
        (
            "100 000 texts",
            Some("application/json"),
            many,
            422,
            "more than 10000 texts",
        ),
        (
            "10 001 texts",
            Some("application/json"),
            over_limit,
            422,
            "more than 10000",
        ),
        (
            "not JSON",
            Some("application/json"),
            "texts=a".into(),
            400,
            "malformed JSON",
        ),
        (
            "truncated",
            Some("application/json"),
            r#"{"texts":["a""#.into(),
            400,
            "malformed",
        ),
        (
            "text/plain",
            Some("text/plain"),
            r#"{"texts":["a"]}"#.into(),
            400,
            "content type",
        ),
        (
            "no content type",
            None,
            r#"{"texts":["a"]}"#.into(),
            400,
            "content type",
        ),
        (
            "array body",
            Some("application/json"),
            r#"["a"]"#.into(),
            422,
            "\"texts\" array",
        ),
        (
            "missing texts",
            Some("application/json"),
            r#"{"text":"a"}"#.into(),
            422,
            "missing field `texts`",
        ),
        (
            "texts a string",
            Some("application/json"),
            r#"{"texts":"a"}"#.into(),
            422,
            "invalid type",
        ),
        (
            "a number text",
            Some("application/json"),
            r#"{"texts":["a",5]}"#.into(),
            422,
            "invalid type",
        ),
        (
            "empty text mid-list",
            Some("application/json"),
            r#"{"texts":["a","","b"]}"#.into(),
            422,
            "texts[1]: text must not be empty",
        ),
        (
            "text over 64 KiB",
            Some("application/json"),
            long_text,
            422,
            "texts[1]: text is 65537 bytes",
        ),
        (
            "body over 1 MiB",
            Some("application/json"),
            over_mib,
            413,
            "over 1048576 bytes",
        ),
    ];
    for proto in [Proto::Http1, Proto::H2c] {
        for (what, ct, body, status, needle) in &cases {
            let a = send(
                server.addr,
                proto,
                "POST",
                "/predict/stream",
                *ct,
                body.clone(),
            )
            .await;
            assert_eq!(a.status, *status, "{proto:?} {what}: {:?}", a.body);
            assert_eq!(a.content_type, "application/json", "{proto:?} {what}");
            let message = a.json()["error"].as_str().unwrap_or_default().to_owned();
            assert!(message.contains(needle), "{proto:?} {what}: {message}");
        }
    }
    let a = send(
        server.addr,
        Proto::Http1,
        "GET",
        "/predict/stream",
        None,
        "",
    )
    .await;
    assert_eq!(a.status, 405);
    // 10 000 texts is allowed.
    let a = send(
        server.addr,
        Proto::Http1,
        "POST",
        "/predict/stream",
        Some("application/json"),
        at_limit,
    )
    .await;
    assert_eq!(a.status, 200);
    let body = String::from_utf8(a.body.to_vec()).unwrap();
    assert_eq!(body.matches("\ndata: {").count(), 10_000);
    assert!(body.starts_with("id: 0\n"), "{}", &body[..40]);
    assert!(body.contains("\n\nid: 9999\ndata: {"));
    assert!(body.ends_with("}\n\ndata: [DONE]\n\n"));
}

// ---- GET /predict/ws (WebSocket) ----

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn ws_connect(addr: std::net::SocketAddr) -> Ws {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (ws, resp) = tokio_tungstenite::client_async("ws://localhost/predict/ws", tcp)
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    ws
}

/// The next message, within a few seconds.
async fn ws_next(ws: &mut Ws) -> Option<Message> {
    tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("an answer in time")
        .map(|m| m.unwrap())
}

async fn ws_ask(ws: &mut Ws, message: &str) -> String {
    ws.send(Message::text(message)).await.unwrap();
    match ws_next(ws).await {
        Some(Message::Text(t)) => t.as_str().to_owned(),
        other => panic!("{message:?}: {other:?}"),
    }
}

#[tokio::test]
async fn ws_answers_each_message_like_predict() {
    let server = start_rest(None).await;
    let vectors = vectors::parse_jsonl("vectors.jsonl", vectors::COMMITTED).unwrap();
    let mut ws = ws_connect(server.addr).await;
    for v in &vectors {
        let got = ws_ask(&mut ws, &predict_body(&v.text)).await;
        let want = predict_bytes(server.addr, &v.text).await;
        assert_eq!(got.as_bytes(), &want[..], "{:?}", v.text);
    }
    // Bad messages get /predict's error and the session goes on.
    for (bad, needle) in [
        ("not json", "malformed JSON"),
        (r#"{"text":""}"#, "text must not be empty"),
        (r#"{"txt":"a"}"#, "missing field `text`"),
        (r#"["a"]"#, "JSON object"),
        (r#"{"text":5}"#, "invalid type"),
    ] {
        let got = ws_ask(&mut ws, bad).await;
        let j: serde_json::Value = serde_json::from_str(&got).unwrap();
        let message = j["error"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{bad}: {got}");
        assert_eq!(j.as_object().unwrap().len(), 1, "{got}");
    }
    let got = ws_ask(&mut ws, &predict_body(&vectors[0].text)).await;
    assert_eq!(
        got.as_bytes(),
        &predict_bytes(server.addr, &vectors[0].text).await[..]
    );
    // A ping gets its pong.
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    match ws_next(&mut ws).await {
        Some(Message::Pong(p)) => assert_eq!(&p[..], b"are you there"),
        other => panic!("{other:?}"),
    }
    // Several messages sent at once are answered in order.
    for v in vectors.iter().take(5) {
        ws.feed(Message::text(predict_body(&v.text))).await.unwrap();
    }
    ws.flush().await.unwrap();
    for v in vectors.iter().take(5) {
        match ws_next(&mut ws).await {
            Some(Message::Text(t)) => {
                assert_eq!(t.as_bytes(), &predict_bytes(server.addr, &v.text).await[..])
            }
            other => panic!("{other:?}"),
        }
    }
    // A close is answered with a close, then the connection ends.
    ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    })))
    .await
    .unwrap();
    match ws_next(&mut ws).await {
        Some(Message::Close(Some(f))) => assert_eq!(f.code, CloseCode::Normal),
        other => panic!("{other:?}"),
    }
    assert!(ws_next(&mut ws).await.is_none());
}

#[tokio::test]
async fn ws_binary_message_closes_with_1003() {
    let server = start_rest(None).await;
    let mut ws = ws_connect(server.addr).await;
    ws.send(Message::Binary(b"{\"text\":\"a\"}".to_vec().into()))
        .await
        .unwrap();
    expect_close(&mut ws, 1003).await;
    assert!(ws_next(&mut ws).await.is_none());
}

#[tokio::test]
async fn ws_message_over_the_limit_closes_with_1009() {
    let server = start_rest(None).await;
    let mut ws = ws_connect(server.addr).await;
    let big = predict_body(&"x".repeat(64 * 1024));
    ws.send(Message::text(big)).await.unwrap();
    expect_close(&mut ws, 1009).await;
}

/// The next message is a close with `code`.
async fn expect_close(ws: &mut Ws, code: u16) {
    match ws_next(ws).await {
        Some(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), code, "{f:?}"),
        other => panic!("{other:?}"),
    }
}

/// A WebSocket handshake by hand, for frames no client library would send.
pub async fn raw_ws(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"GET /predict/ws HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\
          sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    // Byte by byte up to the end of the head, so that nothing after it is
    // consumed; bounded by the head's size.
    while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
        let mut b = [0u8; 1];
        assert_eq!(s.read(&mut b).await.unwrap(), 1, "{head:?}");
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

/// Reads what the server sends after a hostile frame: its close code, or
/// None if it just dropped the connection.
async fn close_code_after(mut s: tokio::net::TcpStream) -> Option<u16> {
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("the server reacts in time")
        .unwrap_or(0);
    if n == 0 {
        return None;
    }
    assert_eq!(buf[0], 0x88, "a close frame: {:?}", &buf[..n]);
    assert!(n >= 4, "{:?}", &buf[..n]);
    Some(u16::from_be_bytes([buf[2], buf[3]]))
}

#[tokio::test]
async fn ws_frame_announcing_huge_lengths_is_refused() {
    let server = start_rest(None).await;
    for length in [1u64 << 63, 1 << 62, 1 << 32, 64 * 1024 + 1] {
        let mut s = raw_ws(server.addr).await;
        // FIN + text; masked, 64-bit length; a mask; no payload.
        let mut frame = vec![0x81, 0xff];
        frame.extend_from_slice(&length.to_be_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4]);
        s.write_all(&frame).await.unwrap();
        // Refused from the header alone: 1009, message too big.
        assert_eq!(close_code_after(s).await, Some(1009), "length {length}");
    }
    // An unmasked frame from a client is a protocol error.
    let mut s = raw_ws(server.addr).await;
    s.write_all(&[0x81, 0x01, b'a']).await.unwrap();
    assert!(matches!(close_code_after(s).await, None | Some(1002)));
    // The server still serves.
    let mut ws = ws_connect(server.addr).await;
    let got = ws_ask(&mut ws, &predict_body("rates and shares")).await;
    assert_eq!(
        got.as_bytes(),
        &predict_bytes(server.addr, "rates and shares").await[..]
    );
}

#[tokio::test]
async fn ws_handshake_errors_are_json() {
    let server = start_rest(None).await;
    // (what, proto, method, status)
    for (what, proto, method, status) in [
        ("plain GET", Proto::Http1, "GET", 400),
        ("POST", Proto::Http1, "POST", 405),
        ("GET over h2c", Proto::H2c, "GET", 400),
    ] {
        let a = send(server.addr, proto, method, "/predict/ws", None, "").await;
        assert_eq!(a.status, status, "{what}: {:?}", a.body);
        assert_eq!(a.content_type, "application/json", "{what}");
        assert!(a.json()["error"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // No upgrade without the version header.
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(
        b"GET /predict/ws HTTP/1.1\r\nhost: x\r\nconnection: close, Upgrade\r\nupgrade: websocket\r\n\
          sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    assert!(
        raw.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
}

#[tokio::test]
async fn streaming_routes_wait_for_the_model() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(predict::rest::serve(
        listener,
        predict::SharedModel::empty(),
        None,
        async {
            let _ = rx.await;
        },
    ));
    let a = send(
        addr,
        Proto::Http1,
        "POST",
        "/predict/stream",
        Some("application/json"),
        r#"{"texts":["a"]}"#,
    )
    .await;
    assert_eq!(a.status, 503);
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let err = tokio_tungstenite::client_async("ws://localhost/predict/ws", tcp)
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 503),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn stopping_server_closes_sessions_with_1001() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(predict::rest::serve(
        listener,
        common::model(),
        None,
        async {
            let _ = rx.await;
        },
    ));
    let mut ws = ws_connect(addr).await;
    let _ = ws_ask(&mut ws, &predict_body("goal")).await;
    drop(tx);
    match ws_next(&mut ws).await {
        Some(Message::Close(Some(f))) => assert_eq!(f.code, CloseCode::Away),
        other => panic!("{other:?}"),
    }
    // The client's automatic close answer lets the session end, and serve
    // with it.
    assert!(ws_next(&mut ws).await.is_none());
    tokio::time::timeout(std::time::Duration::from_secs(5), served)
        .await
        .expect("serve returns once its sessions are closed")
        .unwrap();
}
