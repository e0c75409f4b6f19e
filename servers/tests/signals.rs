//! The server binaries as real processes: one log line at start, SIGTERM
//! drains requests in flight and exits 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Starts a server binary on an ephemeral port and returns it with the
/// address from its start line; the rest of stderr is collected.
fn start(bin: &str) -> (Child, SocketAddr, mpsc::Receiver<String>) {
    let mut child = Command::new(bin)
        .args(["--addr", "127.0.0.1:0", "--threads", "2"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("no start line");
    assert!(line.contains("listening on"), "{line}");
    assert!(line.contains("classes ["), "{line}");
    let addr = line
        .split("listening on ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    (child, addr, rx)
}

fn sigterm(child: &Child) {
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..300 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("did not exit within 15 s of SIGTERM");
}

#[test]
fn rest_sigterm_finishes_the_request_in_flight_then_exits_0() {
    let (mut child, addr, logs) = start(env!("CARGO_BIN_EXE_predict-rest"));
    let body = br#"{"text":"the keeper saved a penalty in extra time"}"#;
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // The request is in flight: half its body is sent.
    sigterm(&child);
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(&body[10..]).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"label\""), "{answer}");
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = logs.try_iter().collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after exit"
    );
}

#[test]
fn grpc_sigterm_exits_0() {
    let (mut child, addr, _logs) = start(env!("CARGO_BIN_EXE_predict-grpc"));
    assert!(TcpStream::connect(addr).is_ok());
    sigterm(&child);
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_bad_model_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.bin");
    std::fs::write(&bad, b"not a model").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_predict-rest"))
        .args(["--addr", "127.0.0.1:0", "--model"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.bin") && err.contains("VLYMODEL"), "{err}");
}
