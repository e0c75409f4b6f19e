//! Helpers: in-process targets on ephemeral loopback ports, scenario files in
//! temporary folders, and the volley binary run as a real process.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A server running in the test; dropping it stops it.
pub struct Running {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

fn model() -> predict::SharedModel {
    predict::SharedModel::loaded(predict::Model::builtin().expect("model"))
}

pub async fn predict_rest(tls: Option<tokio_rustls::TlsAcceptor>) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(predict::rest::serve(listener, model(), tls, async {
        let _ = rx.await;
    }));
    Running { addr, _stop: tx }
}

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

/// A folder holding a scenario and its files.
pub struct Dir {
    pub dir: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Self {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs volley with `args` (blocking: call from spawn_blocking in async tests).
pub fn volley(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_volley"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("running volley")
}

pub async fn volley_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        volley(&a)
    })
    .await
    .unwrap()
}

/// Runs `volley run -f FILE --json OUT EXTRA...`; OUT lies next to FILE.
pub async fn run_with_json(file: &Path, extra: &[&str]) -> (Output, PathBuf) {
    let json = file.with_extension("result.json");
    let mut a = args(&[
        "run",
        "-f",
        file.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    a.extend(extra.iter().map(|s| s.to_string()));
    (volley_async(a).await, json)
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The repository's proto folder.
pub fn proto_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("proto")
}

pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Says that a test skipped, and why, where a person sees it: written to
/// the process's stderr itself, which the test harness does not capture
/// (it captures `eprintln!`), so the line shows beside the test's `ok`.
pub fn skipped(test: &str, why: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "\nSKIPPED {test}: {why}");
}
