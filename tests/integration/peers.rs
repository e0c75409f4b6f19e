//! Peers that speak QUIC to a master but are not sound workers: another
//! protocol version, a frame over the size cap, garbage, silence. Each one
//! loses its own connection, with the reason; the master goes on.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use volley::cluster::framing;
use volley::cluster::identity::Trust;
use volley::cluster::wire::{self, hello_reply};

async fn connect(master: SocketAddr) -> (quinn::Endpoint, quinn::Connection) {
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(Trust::Insecure.client_config(master).unwrap());
    let conn = ep.connect(master, "localhost").unwrap().await.unwrap();
    (ep, conn)
}

fn app_close_code(e: &quinn::ConnectionError) -> Option<u64> {
    match e {
        quinn::ConnectionError::ApplicationClosed(c) => Some(c.error_code.into_inner()),
        _ => None,
    }
}

/// Another protocol version: refused with both versions named.
async fn other_version(master: SocketAddr) {
    let (_ep, conn) = connect(master).await;
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let hello = wire::Hello {
        protocol_version: 99,
        worker_id: "future".into(),
        token: "whatever".into(),
        ..Default::default()
    };
    framing::write(&mut send, &hello).await.unwrap();
    let reply: wire::HelloReply = framing::read(&mut recv, 1 << 16).await.unwrap();
    let Some(hello_reply::Reply::Reject(r)) = reply.reply else {
        panic!("not rejected: {reply:?}")
    };
    let ours = format!("protocol {}", volley::cluster::PROTOCOL_VERSION);
    assert!(r.reason.contains(&ours), "{}", r.reason);
    assert!(r.reason.contains("protocol 99"), "{}", r.reason);
}

/// A length prefix of 4 GiB: the master closes instead of allocating.
async fn oversized(master: SocketAddr) {
    let (_ep, conn) = connect(master).await;
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    send.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), conn.closed())
        .await
        .unwrap();
    assert_eq!(app_close_code(&e), Some(2), "{e}");
}

/// Bytes that are no Hello.
async fn garbage(master: SocketAddr) {
    let (_ep, conn) = connect(master).await;
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    send.write_all(&[0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), conn.closed())
        .await
        .unwrap();
    assert_eq!(app_close_code(&e), Some(2), "{e}");
}

/// Connects and says nothing: dropped after the handshake timeout.
async fn silent(master: SocketAddr) {
    let (_ep, conn) = connect(master).await;
    let start = Instant::now();
    let e = tokio::time::timeout(Duration::from_secs(10), conn.closed())
        .await
        .unwrap();
    assert_eq!(app_close_code(&e), Some(2), "{e}");
    assert!(
        start.elapsed() >= Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

/// All of the above at once against one master.
pub async fn misbehave(master: SocketAddr) {
    tokio::join!(
        other_version(master),
        oversized(master),
        garbage(master),
        silent(master)
    );
}
