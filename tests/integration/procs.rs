//! Real processes for the cluster tests: volley masters and workers started
//! as children, their stderr collected line by line as it comes, killed
//! with real signals. The loopback targets they load are in `crate::servers`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A volley process.
pub struct Proc {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
    /// Its peak resident memory so far (VmHWM), in KiB.
    peak_rss: Arc<AtomicU64>,
}

/// Follows a process's peak resident set (VmHWM, itself a high-water mark)
/// until it exits.
fn watch_rss(pid: u32) -> Arc<AtomicU64> {
    let peak = Arc::new(AtomicU64::new(0));
    let p = peak.clone();
    std::thread::spawn(move || {
        let path = format!("/proc/{pid}/status");
        while let Ok(status) = std::fs::read_to_string(&path) {
            let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            else {
                // A zombie has no memory left to read.
                break;
            };
            p.fetch_max(kib, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    peak
}

fn collect(r: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            l.lock().unwrap().push(line);
        }
    });
    lines
}

impl Proc {
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Proc {
        Proc::start_with(&[], args, env)
    }

    /// Runs volley under a wrapper (e.g. `ip netns exec NS`).
    pub fn start_with(wrapper: &[&str], args: &[&str], env: &[(&str, &str)]) -> Proc {
        let bin = env!("CARGO_BIN_EXE_volley");
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(args)
            .env("NO_COLOR", "1")
            .env("VOLLEY_LOG", "info")
            .env_remove("VOLLEY_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("starting volley");
        let stderr = collect(child.stderr.take().unwrap());
        let stdout = collect(child.stdout.take().unwrap());
        let peak_rss = watch_rss(child.id());
        Proc {
            child,
            stderr,
            stdout,
            peak_rss,
        }
    }

    /// Its peak resident memory, in MiB (read every 20 ms while it runs).
    pub fn peak_rss_mib(&self) -> u64 {
        self.peak_rss.load(Ordering::Relaxed) / 1024
    }

    /// Waits for a stderr line containing `needle`; returns it.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        self.wait_for_any(&[needle], timeout)
    }

    /// Waits for a stderr line containing any of `needles`; returns it.
    pub fn wait_for_any(&self, needles: &[&str], timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| needles.iter().any(|n| l.contains(n)))
            {
                return l.clone();
            }
            assert!(
                start.elapsed() < timeout,
                "none of {needles:?} on stderr within {timeout:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the exit code (None: killed by a signal).
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return status.code();
            }
            assert!(
                start.elapsed() < timeout,
                "still running after {timeout:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for a clean exit (code 0), failing with its stderr otherwise.
    pub fn succeeds(&mut self) {
        let code = self.wait(Duration::from_secs(30));
        assert_eq!(code, Some(0), "{}", self.stderr());
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free UDP port on loopback (for a master's --bind).
pub fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

/// Starts a master on loopback; returns it with its address and fingerprint.
pub fn master(scenario: &str, token: &str, extra: &[&str]) -> (Proc, String, String) {
    master_on("127.0.0.1", scenario, token, extra)
}

/// Starts a master on `ip`; returns it with its address and fingerprint.
pub fn master_on(ip: &str, scenario: &str, token: &str, extra: &[&str]) -> (Proc, String, String) {
    // A free port can be taken by a parallel test between finding it and
    // the master binding it: then another port.
    for _ in 0..5 {
        let addr = format!("{ip}:{}", free_udp_port());
        let mut args = vec!["master", "-f", scenario, "--bind", &addr];
        args.extend_from_slice(extra);
        let p = Proc::start(&args, &[("VOLLEY_TOKEN", token)]);
        let line = p.wait_for_any(
            &["fingerprint:", "Address already in use"],
            Duration::from_secs(20),
        );
        if line.contains("fingerprint:") {
            let fp = line.rsplit(' ').next().unwrap().to_owned();
            return (p, addr, fp);
        }
    }
    panic!("no free UDP port for a master on {ip} in 5 tries");
}

/// Starts a worker that pins the master's certificate.
pub fn worker(master: &str, fingerprint: &str, token: &str, id: &str) -> Proc {
    worker_with(&[], master, fingerprint, token, id)
}

/// The same, under a wrapper command.
pub fn worker_with(
    wrapper: &[&str],
    master: &str,
    fingerprint: &str,
    token: &str,
    id: &str,
) -> Proc {
    Proc::start_with(
        wrapper,
        &[
            "worker",
            "--master",
            master,
            "--master-fingerprint",
            fingerprint,
            "--id",
            id,
            "--threads",
            "1",
        ],
        &[("VOLLEY_TOKEN", token)],
    )
}
