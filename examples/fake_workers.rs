//! Scale harness for the master (bench/run-cluster-scale): opens M real QUIC
//! connections to a master as workers that generate no load, and sends from
//! each, once a second, a realistic statistics report (one entry per request
//! name, each a histogram of 1,000 log-normal latencies: median 20 ms, p99
//! about 80 ms, some 500 distinct buckets). It is the master's
//! merging that is measured, not load generation.
//!
//!   cargo run --release --example fake_workers -- ADDR FINGERPRINT TOKEN M [NAMES]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use volley::cluster::identity::Trust;
use volley::cluster::wire::{self, hello_reply, master_message, worker_message};
use volley::cluster::{PROTOCOL_VERSION, convert, framing};
use volley::stats::{NameSnapshot, Snapshot, StatId, histogram};

fn report_template(names: u32, seed: u64) -> Snapshot {
    let mut x = seed | 1;
    let mut next = move || {
        // xorshift: cheap, varied latencies
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let names = (0..names)
        .map(|n| {
            let mut s = NameSnapshot::empty(StatId(n));
            // Latencies as APIs have them: log-normal, median 20 ms, p99
            // near 80 ms (Box-Muller over the xorshift stream).
            for _ in 0..1000 {
                let u1 = (next() % 1_000_000 + 1) as f64 / 1_000_001.0;
                let u2 = (next() % 1_000_000) as f64 / 1_000_000.0;
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                histogram::record(&mut s.hist, (20_000.0 * (0.6 * z).exp()) as u64);
            }
            s.requests = 1000;
            s.bytes_sent = 150_000;
            s.bytes_received = 90_000;
            s
        })
        .collect();
    Snapshot {
        at_ms: 0,
        interval_ms: 1000,
        users: 10,
        late_starts: 0,
        missed_starts: 0,
        retries: 0,
        names,
        // A healthy generator: fake workers measure the master, and must
        // not make its runs INVALID.
        cpu_percent: 10.0,
        ..Snapshot::default()
    }
}

async fn fake(
    ep: quinn::Endpoint,
    master: SocketAddr,
    token: String,
    i: usize,
    names: u32,
) -> Result<(), String> {
    let conn = ep
        .connect(master, "localhost")
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    let hello = wire::Hello {
        protocol_version: PROTOCOL_VERSION,
        worker_id: format!("fake-{i}"),
        hostname: "fake".into(),
        cores: 1,
        token,
        volley_version: String::new(),
        process_key: Vec::new(),
    };
    framing::write(&mut send, &hello)
        .await
        .map_err(|e| e.to_string())?;
    let reply: wire::HelloReply = framing::read(&mut recv, 1 << 16)
        .await
        .map_err(|e| e.to_string())?;
    if !matches!(reply.reply, Some(hello_reply::Reply::Welcome(_))) {
        return Err(format!("not welcomed: {reply:?}"));
    }
    let plan = loop {
        let m: wire::MasterMessage = framing::read(&mut recv, 1 << 30)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(master_message::Msg::Plan(p)) = m.msg {
            break p;
        }
    };
    let start = Instant::now() + Duration::from_millis(plan.start_in_ms.max(0) as u64);
    let duration = Duration::from_millis(
        plan.load
            .as_ref()
            .and_then(|l| l.duration_ms)
            .unwrap_or(10_000),
    );
    // Made sparse once: the harness should spend its core on sending.
    let template = report_template(names, i as u64 + 1).to_sparse();
    let mut seq = 0u64;
    // Spread the workers' ticks over the second, as real ones drift apart.
    let phase = Duration::from_millis((i as u64 * 7919) % 1000);
    let mut tick = tokio::time::interval_at((start + phase).into(), Duration::from_secs(1));
    loop {
        tick.tick().await;
        let at = start.elapsed();
        if at > duration + phase {
            break;
        }
        seq += 1;
        let mut snap = template.clone();
        snap.at_ms = at.as_millis() as u64;
        let report = wire::StatsReport {
            run_id: plan.run_id,
            seq,
            snapshot: Some(convert::snapshot_to_wire(&snap)),
            cpu_percent: 10.0,
        };
        let mut uni = conn.open_uni().await.map_err(|e| e.to_string())?;
        framing::write(&mut uni, &report)
            .await
            .map_err(|e| e.to_string())?;
        let _ = uni.finish();
    }
    let done = wire::WorkerMessage {
        msg: Some(worker_message::Msg::Done(wire::Done {
            run_id: plan.run_id,
            snapshots: seq,
            error: String::new(),
            left: false,
        })),
    };
    framing::write(&mut send, &done)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.closed()).await;
    Ok(())
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 {
        eprintln!("usage: fake_workers ADDR FINGERPRINT TOKEN M [NAMES]");
        std::process::exit(2);
    }
    let master: SocketAddr = a[1].parse().expect("ADDR");
    let trust = Trust::fingerprint(&a[2]).expect("FINGERPRINT");
    let token = a[3].clone();
    let m: usize = a[4].parse().expect("M");
    let names: u32 = a.get(5).map_or(10, |n| n.parse().expect("NAMES"));
    let config = trust.client_config(master).expect("client config");
    // Several UDP sockets, as many machines would have.
    let endpoints: Vec<quinn::Endpoint> = (0..m.div_ceil(100))
        .map(|_| {
            let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
            ep.set_default_client_config(config.clone());
            ep
        })
        .collect();
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..m {
        let ep = endpoints[i % endpoints.len()].clone();
        let token = token.clone();
        let failures = failures.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = fake(ep, master, token, i, names).await {
                failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                eprintln!("fake worker {i}: {e}");
            }
        }));
        // Joining gradually, as a Deployment scales up.
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    let f = failures.load(std::sync::atomic::Ordering::Relaxed);
    println!("fake workers: {m}, failed: {f}");
}
