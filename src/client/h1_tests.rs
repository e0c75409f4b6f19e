//! Tests of the HTTP/1.1 client's response parsing: heads, bodies, limits
//! and the failures a malformed answer gets.

use super::*;

fn head(s: &str) -> Head {
    parse_head(s.as_bytes(), false).unwrap().unwrap()
}

#[test]
fn framing_follows_the_headers() {
    let h = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
    assert_eq!(
        (h.status, h.framing, h.close),
        (200, Framing::Length(12), false)
    );
    let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked);
    let h = head("HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!((h.framing, h.close), (Framing::UntilClose, true));
    let h = head("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(h.framing, Framing::None);
    let h = head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    assert!(h.close);
    let h = head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert!(h.close);
    let h = head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
    assert!(!h.close);
    let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true)
        .unwrap()
        .unwrap();
    assert_eq!(h.framing, Framing::None);
}

#[test]
fn partial_and_bad_heads() {
    assert!(
        parse_head(b"HTTP/1.1 200 OK\r\nContent-Le", false)
            .unwrap()
            .is_none()
    );
    let e = parse_head(b"garbage\r\n\r\n", false).err().unwrap();
    assert_eq!(e.reason, "invalid HTTP response");
    for bad in [
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 101 Switching\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
    ] {
        assert!(parse_head(bad.as_bytes(), false).is_err(), "{bad}");
    }
    // The largest length is a length like any other (never a capacity).
    let h = head("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n");
    assert_eq!(h.framing, Framing::Length(u64::MAX));
    let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n");
    assert_eq!(h.framing, Framing::Length(5));
    // Another coding last: the body runs to the close.
    let h =
        head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 3\r\n\r\n");
    assert_eq!((h.framing, h.close), (Framing::UntilClose, true));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 1000, ..Default::default() })]

    /// Arbitrary bytes, and heads built from real header names with
    /// hostile values, never panic the head parser.
    #[test]
    fn heads_never_panic(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        status in 0u16..1000,
        headers in proptest::collection::vec(
            (
                proptest::sample::select(vec!["Content-Length", "Transfer-Encoding", "Connection", "X"]),
                "[ -~]{0,30}",
            ),
            0..6,
        ),
        head_request in proptest::prelude::any::<bool>(),
    ) {
        let _ = parse_head(&bytes, head_request);
        let mut text = format!("HTTP/1.1 {status} X\r\n");
        for (k, v) in &headers {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str("\r\n");
        let _ = parse_head(text.as_bytes(), head_request);
    }
}

/// A loopback server that answers each request on a connection with the
/// next scripted answer, written in small pieces to exercise partial
/// reads, and closes the connection after its last answer (an empty
/// answer: closes it without reading another request).
async fn scripted(answers: Vec<Vec<&'static str>>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for conn_answers in answers {
            let (mut sock, _) = listener.accept().await.unwrap();
            for answer in conn_answers {
                if answer.is_empty() {
                    // Close while the client is idle.
                    break;
                }
                let mut req = Vec::new();
                let mut b = [0u8; 512];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = sock.read(&mut b).await.unwrap();
                    assert!(n > 0, "client closed early");
                    req.extend_from_slice(&b[..n]);
                }
                for piece in answer.as_bytes().chunks(7) {
                    sock.write_all(piece).await.unwrap();
                    sock.flush().await.unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        }
    });
    addr
}

async fn conn(addr: std::net::SocketAddr) -> H1Conn {
    let tcp = TcpStream::connect(addr).await.unwrap();
    H1Conn::new(tokio_util::either::Either::Left(
        tokio_util::either::Either::Left(tcp),
    ))
}

async fn get(c: &mut H1Conn) -> Result<HttpAnswer, Failure> {
    c.request_buf()
        .extend_from_slice(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    c.round_trip(
        false,
        Keep {
            headers: true,
            body: 1 << 20,
            sink: None,
        },
    )
    .await
}

#[tokio::test]
async fn bodies_by_length_chunks_and_close() {
    let addr = scripted(vec![
        vec![
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nTrailer: 1\r\n\r\n",
            "HTTP/1.1 503 Busy\r\n\r\nuntil the end",
        ],
    ])
    .await;
    let mut c = conn(addr).await;
    let a = get(&mut c).await.unwrap();
    assert_eq!((a.status, &a.body.kept[..]), (200, &b"hello"[..]));
    assert!(c.is_usable());
    let a = get(&mut c).await.unwrap();
    assert_eq!((a.status, &a.body.kept[..]), (200, &b"abcdefg"[..]));
    // The head is kept for captures, and read case-insensitively.
    assert_eq!(
        a.headers.get("transfer-encoding").as_deref(),
        Some("chunked")
    );
    assert_eq!(a.headers.get("location"), None);
    let wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nTrailer: 1\r\n\r\n";
    assert_eq!(a.received, wire.len() as u64);
    assert!(c.is_usable());
    let a = get(&mut c).await.unwrap();
    assert_eq!((a.status, &a.body.kept[..]), (503, &b"until the end"[..]));
    assert!(
        !c.is_usable(),
        "a close-delimited answer ends the connection"
    );
}

#[tokio::test]
async fn a_server_that_closes_an_idle_connection_is_noticed() {
    let addr = scripted(vec![vec![
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "",
    ]])
    .await;
    let mut c = conn(addr).await;
    get(&mut c).await.unwrap();
    // The server's FIN arrives while the user thinks; the next request
    // must go on a new connection instead of failing on this one.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!c.is_usable());
}

#[tokio::test]
async fn a_cut_body_and_a_bad_chunk_are_failures() {
    let addr = scripted(vec![
        vec!["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"],
        vec!["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
    ])
    .await;
    let mut c = conn(addr).await;
    let e = get(&mut c).await.err().unwrap();
    assert_eq!(
        (e.kind, &e.reason[..]),
        (FailureKind::Reset, "connection closed mid-answer")
    );
    assert!(!c.failed_stale(true), "a first exchange is never stale");
    let mut c = conn(addr).await;
    let e = get(&mut c).await.err().unwrap();
    assert_eq!(
        (e.kind, &e.reason[..]),
        (FailureKind::Protocol, "invalid chunk size")
    );
}

#[tokio::test]
async fn a_body_is_read_through_but_kept_up_to_the_limit() {
    let addr = scripted(vec![vec![
        "HTTP/1.1 200 OK\r\nContent-Length: 26\r\n\r\nabcdefghijklmnopqrstuvwxyz",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ]])
    .await;
    let mut c = conn(addr).await;
    let send = async |c: &mut H1Conn| {
        c.request_buf()
            .extend_from_slice(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        c.round_trip(
            false,
            Keep {
                headers: false,
                body: 4,
                sink: None,
            },
        )
        .await
        .unwrap()
    };
    let a = send(&mut c).await;
    assert_eq!((&a.body.kept[..], a.body.len), (&b"abcd"[..], 26));
    assert!(a.body.truncated());
    let a = send(&mut c).await;
    assert_eq!((&a.body.kept[..], a.body.len), (&b"hell"[..], 11));
    // The connection is still in step: the next answer is read whole.
    let a = send(&mut c).await;
    assert_eq!((&a.body.kept[..], a.body.truncated()), (&b"ok"[..], false));
}

#[tokio::test]
async fn a_close_racing_the_next_request_is_stale_not_lost() {
    // The server answers, then closes without saying so; the client's
    // probe runs before the close arrives, and its request meets a
    // closed connection: no byte of an answer, so it may be sent again.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (answered_tx, answered_rx) = tokio::sync::oneshot::channel::<()>();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut b = [0u8; 512];
        let _ = sock.read(&mut b).await.unwrap();
        sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await
            .unwrap();
        let _ = answered_tx.send(());
        let _ = go_rx.await;
        drop(sock);
    });
    let mut c = conn(addr).await;
    get(&mut c).await.unwrap();
    answered_rx.await.unwrap();
    assert!(c.is_usable(), "the close has not happened yet");
    let _ = go_tx.send(());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let e = get(&mut c).await.err().unwrap();
    assert_eq!(e.kind, FailureKind::Reset, "{e:?}");
    assert!(c.failed_stale(false), "the server's close came first");
}
