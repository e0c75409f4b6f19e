//! stream_loop: the simplest fast streaming client we can write on the crates
//! volley uses, standing for their throughput limit in bench/run-streams (as
//! grpc_loop does for tonic in bench/run-loadgen).
//!
//! Modes, each with `--connections` connections (or tasks) for `--duration`:
//!
//! - `ws-pingpong`: each WebSocket connection (tokio-tungstenite, to
//!   `ws://ADDR/ws`, an echo) sends `--message` and waits for its answer,
//!   in a loop.
//! - `ws-pipe`: each connection sends `--window` messages back to back (one
//!   write: fed, then flushed once; `--flush-each` writes each on its own),
//!   then reads their `--window` answers, in a loop.
//! - `sse`: each task, on an HTTP/1.1 connection of its own (hyper's client,
//!   kept alive), GETs `/sse?n=N` (`--events`) in a loop and counts the
//!   events of the answer's body by counting `\n\n` across its chunks.
//!
//! It counts the answers (WebSocket messages, events), no latencies, and
//! prints one JSON line, `{"messages": N, "seconds": S, "rate": R}`, where S
//! runs from the first message to the last answer. Any failure (a refused
//! connection, a close, an answer that is not its message's echo, a status
//! other than 200, an event stream with fewer or more events than asked
//! for) stops the run with an error: against a healthy local target there
//! should be none. Every task stops at `--duration` plus 10 s whatever the
//! target does.
//!
//! ```sh
//! cargo build --release -p volley-predict --example stream_loop --example stream_target
//! taskset -c 0 target/release/examples/stream_target --addr 127.0.0.1:8090 --threads 1 &
//! taskset -c 1 target/release/examples/stream_loop --mode ws-pingpong \
//!     --addr 127.0.0.1:8090 --connections 64 --duration 10s
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// What to do on each connection.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// One WebSocket message in flight per connection.
    WsPingpong,
    /// `--window` WebSocket messages sent, then their answers read.
    WsPipe,
    /// GET /sse?n=N in a loop, events counted.
    Sse,
}

/// A streaming client that only counts.
#[derive(Parser)]
struct Cli {
    #[arg(long, value_enum)]
    mode: Mode,
    /// stream_target's address, host:port.
    #[arg(long, default_value = "127.0.0.1:8090")]
    addr: String,
    /// Connections, each driven by its own task.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long to run: a number with a unit, ms, s or m (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// The WebSocket text message.
    #[arg(
        long,
        default_value = "The central bank held interest rates steady on Thursday, citing cooling inflation."
    )]
    message: String,
    /// ws-pipe: messages sent back to back before their answers are read.
    #[arg(long, default_value_t = 100)]
    window: usize,
    /// ws-pipe: write each message on its own (a flush each) instead of
    /// the whole window in one write.
    #[arg(long)]
    flush_each: bool,
    /// WebSocket: tungstenite's read buffer, in bytes (default: its own
    /// default, 128 KiB, which volley uses too). tungstenite zeroes the
    /// buffer's spare room, up to this size, before every read.
    #[arg(long)]
    read_buffer: Option<usize>,
    /// sse: events asked for per request (`/sse?n=N`).
    #[arg(long, default_value_t = 1000)]
    events: u64,
    /// Tokio worker threads (1: a current-thread runtime; default: the CPUs
    /// this process may run on).
    #[arg(long)]
    threads: Option<usize>,
}

/// How long past `--duration` a task may take to finish its round and close.
const GRACE: Duration = Duration::from_secs(10);

#[path = "shared/args.rs"]
mod args;
use args::parse_duration;

fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.connections == 0 || cli.window == 0 || cli.events == 0 {
        bail!("--connections, --window and --events must be at least 1");
    }
    let runtime = match cli.threads {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n.max(1))
            .enable_all()
            .build()?,
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    runtime.block_on(run(cli))
}

async fn connect(addr: &str) -> Result<TcpStream> {
    let tcp = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

async fn run(cli: Cli) -> Result<()> {
    let url = format!("ws://{}/ws", cli.addr);
    let limit = Instant::now() + cli.duration + GRACE;
    // Every connection first, so that the count starts with all of them.
    let mut wss = Vec::new();
    let mut h1s = Vec::new();
    for _ in 0..cli.connections {
        let tcp = tokio::time::timeout_at(limit.into(), connect(&cli.addr))
            .await
            .context("connecting: timed out")??;
        if cli.mode == Mode::Sse {
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .context("HTTP/1.1 handshake")?;
            tokio::spawn(conn);
            h1s.push(sender);
        } else {
            let mut config = WebSocketConfig::default();
            if let Some(size) = cli.read_buffer {
                config = config.read_buffer_size(size.max(1));
            }
            let (ws, _) = tokio::time::timeout_at(
                limit.into(),
                tokio_tungstenite::client_async_with_config(url.as_str(), tcp, Some(config)),
            )
            .await
            .context("WebSocket handshake: timed out")?
            .with_context(|| format!("WebSocket handshake with {url}"))?;
            wss.push(ws);
        }
    }

    let start = Instant::now();
    let deadline = start + cli.duration;
    let limit = deadline + GRACE;
    let mut tasks = tokio::task::JoinSet::new();
    for ws in wss {
        let message = cli.message.clone();
        let (mode, window, flush_each) = (cli.mode, cli.window, cli.flush_each);
        tasks.spawn(async move {
            let work = async {
                match mode {
                    Mode::WsPingpong => ping_pong(ws, &message, deadline).await,
                    _ => pipelined(ws, &message, window, flush_each, deadline).await,
                }
            };
            tokio::time::timeout_at(limit.into(), work)
                .await
                .context("timed out")?
        });
    }
    for sender in h1s {
        let (addr, events) = (cli.addr.clone(), cli.events);
        tasks.spawn(async move {
            tokio::time::timeout_at(limit.into(), sse(sender, &addr, events, deadline))
                .await
                .context("timed out")?
        });
    }
    let mut messages: u64 = 0;
    let mut last = start;
    while let Some(joined) = tasks.join_next().await {
        let (n, at) = joined??;
        messages += n;
        last = last.max(at);
    }
    let seconds = (last - start).as_secs_f64();
    // Written by hand to keep the keys in this order.
    println!(
        "{{\"messages\": {messages}, \"seconds\": {}, \"rate\": {}}}",
        serde_json::json!(seconds),
        serde_json::json!(messages as f64 / seconds),
    );
    Ok(())
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// The next data message, which must be `message`'s echo.
async fn answer(ws: &mut Ws, message: &str) -> Result<()> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str() == message => return Ok(()),
            Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                bail!("an answer that is not the echo")
            }
            Some(Ok(Message::Close(c))) => bail!("closed by the target: {c:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e).context("reading an answer"),
            None => bail!("the connection ended"),
        }
    }
}

/// The close handshake; the answers are all in, so anything but the
/// close's answer is an error.
async fn close(mut ws: Ws) -> Result<Instant> {
    let at = Instant::now();
    ws.close(None).await.context("closing")?;
    while let Some(m) = ws.next().await {
        match m {
            Ok(Message::Close(_)) => {}
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(_) => bail!("a message after the last answer"),
            Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed) => break,
            Err(e) => return Err(e).context("closing"),
        }
    }
    Ok(at)
}

async fn ping_pong(mut ws: Ws, message: &str, deadline: Instant) -> Result<(u64, Instant)> {
    let mut n = 0u64;
    while Instant::now() < deadline {
        ws.send(Message::text(message))
            .await
            .context("sending a message")?;
        answer(&mut ws, message).await?;
        n += 1;
    }
    Ok((n, close(ws).await?))
}

async fn pipelined(
    mut ws: Ws,
    message: &str,
    window: usize,
    flush_each: bool,
    deadline: Instant,
) -> Result<(u64, Instant)> {
    let mut n = 0u64;
    while Instant::now() < deadline {
        for _ in 0..window {
            if flush_each {
                ws.send(Message::text(message)).await
            } else {
                ws.feed(Message::text(message)).await
            }
            .context("sending a message")?;
        }
        ws.flush().await.context("sending a message")?;
        for _ in 0..window {
            answer(&mut ws, message).await?;
        }
        n += window as u64;
    }
    Ok((n, close(ws).await?))
}

async fn sse(
    mut sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    addr: &str,
    events: u64,
    deadline: Instant,
) -> Result<(u64, Instant)> {
    let path = format!("/sse?n={events}");
    let mut n = 0u64;
    let mut at = Instant::now();
    while Instant::now() < deadline {
        let request = hyper::Request::get(path.as_str())
            .header(hyper::header::HOST, addr)
            .header(hyper::header::ACCEPT, "text/event-stream")
            .body(Empty::new())?;
        sender.ready().await.context("the connection closed")?;
        let response = sender.send_request(request).await.context("GET /sse")?;
        if response.status() != hyper::StatusCode::OK {
            bail!("GET {path}: status {}", response.status());
        }
        let mut body = response.into_body();
        // Events end with an empty line: "\n\n", which may straddle chunks.
        let (mut seen, mut newline) = (0u64, false);
        while let Some(frame) = body.frame().await {
            let frame = frame.context("reading the event stream")?;
            if let Some(data) = frame.data_ref() {
                for &b in data.iter() {
                    if b == b'\n' {
                        if newline {
                            seen += 1;
                        }
                        newline = !newline;
                    } else {
                        newline = false;
                    }
                }
            }
        }
        if seen != events {
            bail!("GET {path}: {seen} events, not {events}");
        }
        n += seen;
        at = Instant::now();
    }
    Ok((n, at))
}
