//! The loopback targets integration tests load, reusable by any module:
//! the predict servers (REST and gRPC, from the `servers/` crate), plain
//! HTTP/1.1 targets that count what they receive or turn slow, and the
//! plumbing to serve a listener on a thread and runtime of its own (so that
//! a test may block while the target answers). Every one listens on an
//! ephemeral port of 127.0.0.1 (or the address given). Hostile servers
//! made for one test stay in that test's module.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A server running in the test; dropping it stops it.
pub struct Running {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

fn model() -> predict::SharedModel {
    predict::SharedModel::loaded(predict::Model::builtin().expect("model"))
}

/// The predict REST server (HTTP/1.1 and h2c; with `tls`, HTTP/1.1 and h2
/// by ALPN) on the test's runtime.
pub async fn predict_rest(tls: Option<tokio_rustls::TlsAcceptor>) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(predict::rest::serve(listener, model(), tls, async {
        let _ = rx.await;
    }));
    Running { addr, _stop: tx }
}

/// The predict gRPC server (h2c, with reflection) on the test's runtime.
pub async fn predict_grpc() -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = predict::grpc::serve(listener, model(), None, async {
            let _ = rx.await;
        })
        .await;
    });
    Running { addr, _stop: tx }
}

/// Serves `listener` (non-blocking) with `serve` on a thread and runtime of
/// its own, so that tests can block while it answers.
pub fn serve_on_own_thread<F, Fut>(listener: std::net::TcpListener, serve: F)
where
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            serve(TcpListener::from_std(listener).unwrap()).await;
        });
    });
}

/// A loopback listener whose every connection `conn` serves, on a task of
/// its own, on a thread and runtime of their own; its address.
pub fn serve_connections<F, Fut>(conn: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    serve_on_own_thread(listener, move |listener| async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(conn(sock));
        }
    });
    addr
}

/// Serves HTTP/1.1 keep-alive connections, answering each request `200 ok`
/// once `before(arrival)` is done (a test's hook: count it, delay it).
pub async fn answer_ok<F, Fut>(listener: TcpListener, before: F)
where
    F: Fn(Instant) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    while let Ok((mut s, _)) = listener.accept().await {
        let before = before.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                while let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    buf.drain(..i + 4);
                    before(Instant::now()).await;
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if s.write_all(ok).await.is_err() {
                        return;
                    }
                }
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        });
    }
}

/// An HTTP/1.1 target that answers 200 to everything and counts the
/// requests it received; it runs on a thread of its own (tests may block).
pub struct RequestCounter {
    pub addr: SocketAddr,
    pub received: Arc<AtomicU64>,
}

impl RequestCounter {
    /// The requests received so far.
    pub fn count(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }
}

/// A [`RequestCounter`] on 127.0.0.1.
pub fn request_counter() -> RequestCounter {
    request_counter_on("127.0.0.1")
}

/// A [`RequestCounter`] listening on `ip`.
pub fn request_counter_on(ip: &str) -> RequestCounter {
    let std_listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let r = received.clone();
    serve_on_own_thread(std_listener, move |listener| async move {
        answer_ok(listener, move |_| {
            r.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .await;
    });
    RequestCounter { addr, received }
}

/// An HTTP/1.1 target that answers every request `200 ok` after a delay,
/// counting the connections (not the requests) it accepted.
pub struct ConnectionCounter {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicU64>,
}

/// A [`ConnectionCounter`] answering after `delay`, on the test's runtime.
pub async fn connection_counter(delay: Duration) -> ConnectionCounter {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(answer_after(s, delay));
        }
    });
    ConnectionCounter { addr, accepted }
}

/// Answers each request head (GETs: no bodies) in turn, `delay` late.
async fn answer_after(mut s: TcpStream, delay: Duration) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await?;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// An HTTP/1.1 target that answers at once until `fast_for` after its first
/// request, then `slow` late; it counts requests and keeps when the last
/// one arrived. On a thread of its own.
pub struct Slowing {
    pub addr: SocketAddr,
    pub received: Arc<AtomicU64>,
    pub last: Arc<Mutex<Option<Instant>>>,
}

/// A [`Slowing`] target.
pub fn slowing(fast_for: Duration, slow: Duration) -> Slowing {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let last = Arc::new(Mutex::new(None));
    let first: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let (r, l) = (received.clone(), last.clone());
    serve_on_own_thread(listener, move |listener: TcpListener| {
        answer_ok(listener, move |now| {
            r.fetch_add(1, Ordering::SeqCst);
            *l.lock().unwrap() = Some(now);
            let started = *first.lock().unwrap().get_or_insert(now);
            let wait = (now.duration_since(started) > fast_for).then_some(slow);
            async move {
                if let Some(d) = wait {
                    tokio::time::sleep(d).await;
                }
            }
        })
    });
    Slowing {
        addr,
        received,
        last,
    }
}

/// An HTTP target (axum: HTTP/1.1 and h2c) whose `GET /work` answers
/// `done` after `delay_ms`, which the test may change while it runs; on a
/// thread of its own, stopped when dropped.
pub struct Delayed {
    pub addr: SocketAddr,
    pub delay_ms: Arc<AtomicU64>,
    _stop: oneshot::Sender<()>,
}

impl Delayed {
    pub fn start(delay_ms: u64) -> Delayed {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let delay = Arc::new(AtomicU64::new(delay_ms));
        let (tx, rx) = oneshot::channel::<()>();
        let d = delay.clone();
        let app = axum::Router::new().route(
            "/work",
            axum::routing::get(move || {
                let d = d.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(d.load(Ordering::Relaxed))).await;
                    "done"
                }
            }),
        );
        serve_on_own_thread(listener, move |listener| async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Delayed {
            addr,
            delay_ms: delay,
            _stop: tx,
        }
    }
}
