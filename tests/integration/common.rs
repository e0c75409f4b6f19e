//! Helpers: scenario files in temporary folders, and the volley binary run
//! as a real process through [`Volley`], a command builder whose runs are
//! bounded in time and whose [`ExpectExit::expect_exit`] prints both
//! streams when the exit code is not the one expected. The loopback
//! targets tests start are in `crate::servers`.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fmt::Display;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// How long a volley process may run before the harness kills it and
/// fails the test; every scenario the tests run is bounded well below it.
pub const VOLLEY_TIMEOUT: Duration = Duration::from_secs(300);

/// A volley command line to run as a real process: a subcommand, its
/// arguments and flags, its environment (`NO_COLOR=1` always), and a time
/// limit past which the process is killed and the test fails.
///
/// ```ignore
/// Volley::run(&file).json(&json).flag("--status-every", "1h").expect_exit(0);
/// let out = Volley::check(&file).offline().output();
/// out.expect_exit(2);
/// ```
#[derive(Clone, Debug)]
pub struct Volley {
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    timeout: Duration,
}

impl Volley {
    /// `volley` with no arguments yet (`--version`, `completions`, ...).
    pub fn new() -> Self {
        Volley {
            args: Vec::new(),
            envs: Vec::new(),
            timeout: VOLLEY_TIMEOUT,
        }
    }

    /// `volley SUBCOMMAND`.
    pub fn sub(name: &str) -> Self {
        Volley::new().arg(name)
    }

    /// `volley run -f FILE`: a scenario file.
    pub fn run(file: impl AsRef<OsStr>) -> Self {
        Volley::sub("run").arg("-f").arg(file)
    }

    /// `volley run TARGET`: a file or URL first, without `-f`.
    pub fn run_bare(target: impl AsRef<OsStr>) -> Self {
        Volley::sub("run").arg(target)
    }

    /// `volley check -f FILE`.
    pub fn check(file: impl AsRef<OsStr>) -> Self {
        Volley::sub("check").arg("-f").arg(file)
    }

    /// `volley check FILE`: the file first, without `-f`.
    pub fn check_bare(file: impl AsRef<OsStr>) -> Self {
        Volley::sub("check").arg(file)
    }

    /// `volley report JSON`.
    pub fn report(json: impl AsRef<OsStr>) -> Self {
        Volley::sub("report").arg(json)
    }

    /// `volley compare A B`.
    pub fn compare(a: impl AsRef<OsStr>, b: impl AsRef<OsStr>) -> Self {
        Volley::sub("compare").arg(a).arg(b)
    }

    /// `volley demo`.
    pub fn demo() -> Self {
        Volley::sub("demo")
    }

    /// One more argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }

    /// More arguments, in order.
    pub fn args<I, S>(mut self, list: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(list.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// A flag and its value: `--name value`.
    pub fn flag(self, name: &str, value: impl AsRef<OsStr>) -> Self {
        self.arg(name).arg(value)
    }

    /// `--json PATH`.
    pub fn json(self, path: impl AsRef<OsStr>) -> Self {
        self.flag("--json", path)
    }

    /// `--headless`.
    pub fn headless(self) -> Self {
        self.arg("--headless")
    }

    /// `--offline` (for `check`).
    pub fn offline(self) -> Self {
        self.arg("--offline")
    }

    /// `--status-every 1h`: no periodic status lines in the output.
    pub fn quiet_status(self) -> Self {
        self.flag("--status-every", "1h")
    }

    /// An environment variable for the process.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Another time limit than [`VOLLEY_TIMEOUT`].
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    /// The arguments, as a test's failure message shows them.
    pub fn shown(&self) -> String {
        self.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs the command and waits for it (blocking: from async tests call
    /// [`Volley::output_async`]). Panics, printing what the process wrote,
    /// when it outlives its time limit.
    pub fn output(self) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_volley"))
            .args(&self.args)
            .env("NO_COLOR", "1")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running volley");
        let drain = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                buf
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for volley") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                let out = String::from_utf8_lossy(&stdout.join().unwrap()).into_owned();
                let err = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
                panic!(
                    "`volley {}` still ran after {:?}: killed\n--- stdout\n{out}\n--- stderr\n{err}",
                    self.shown(),
                    self.timeout
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Output {
            status,
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        }
    }

    /// [`Volley::output`] on a blocking thread, for async tests.
    pub async fn output_async(self) -> Output {
        tokio::task::spawn_blocking(move || self.output())
            .await
            .unwrap()
    }

    /// Runs the command and checks its exit code (see [`ExpectExit`]).
    pub fn expect_exit(self, code: i32) -> Output {
        let shown = self.shown();
        let out = self.output();
        out.expect_exit_in(code, format_args!("volley {shown}"));
        out
    }

    /// [`Volley::expect_exit`] for async tests.
    pub async fn expect_exit_async(self, code: i32) -> Output {
        let shown = self.shown();
        let out = self.output_async().await;
        out.expect_exit_in(code, format_args!("volley {shown}"));
        out
    }
}

impl Default for Volley {
    fn default() -> Self {
        Volley::new()
    }
}

/// Checks a finished process's exit code; when it is not the one expected,
/// panics with both codes and everything the process wrote on stdout and
/// stderr.
pub trait ExpectExit {
    /// Panics, printing stdout and stderr, unless the process exited `code`.
    fn expect_exit(&self, code: i32) -> &Self {
        self.expect_exit_in(code, "")
    }

    /// The same, with `context` (which case of a table, which version)
    /// first in the failure message.
    fn expect_exit_in(&self, code: i32, context: impl Display) -> &Self;
}

impl ExpectExit for Output {
    fn expect_exit_in(&self, code: i32, context: impl Display) -> &Self {
        if self.status.code() != Some(code) {
            let (stdout, stderr) = text(self);
            panic!(
                "{context}{}expected exit {code}, got {:?} ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
                if context.to_string().is_empty() {
                    ""
                } else {
                    ": "
                },
                self.status.code(),
                self.status
            );
        }
        self
    }
}

/// Runs volley with `args` (blocking: call from spawn_blocking in async
/// tests), bounded by [`VOLLEY_TIMEOUT`].
pub fn volley(args: &[&str]) -> Output {
    Volley::new().args(args).output()
}

pub async fn volley_async(args: Vec<String>) -> Output {
    Volley::new().args(args).output_async().await
}

/// Runs `volley run -f FILE --json OUT EXTRA...`; OUT lies next to FILE.
pub async fn run_with_json(file: &Path, extra: &[&str]) -> (Output, PathBuf) {
    let json = file.with_extension("result.json");
    let out = Volley::run(file)
        .json(&json)
        .args(extra)
        .output_async()
        .await;
    (out, json)
}

/// The HTTP versions the protocol-independent tests run under, as the
/// scenario's `[http] version` spells them: tests that use them must load a
/// server that speaks every one (HTTP/1.1 and h2c by prior knowledge). A new version (HTTP/3) joins
/// here and inherits every test that runs [`per_version`].
pub const VERSIONS: &[&str] = &["http1", "h2c"];

/// `text` with `[http] version = VERSION` (the section added when the
/// scenario has none).
pub fn with_version(text: &str, version: &str) -> String {
    let line = format!("[http]\nversion = \"{version}\"\n");
    if text.contains("[http]\n") {
        text.replacen("[http]\n", &line, 1)
    } else {
        format!("{line}{text}")
    }
}

/// Runs `body` once per HTTP version in [`VERSIONS`], each on a task of its
/// own; a failure says which version failed, after the assertion's own
/// message.
pub async fn per_version<F, Fut>(body: F)
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    for &version in VERSIONS {
        if let Err(e) = tokio::spawn(body(version)).await {
            let why = e.into_panic();
            let said = why
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| why.downcast_ref::<&str>().copied())
                .unwrap_or("(a panic without a message)");
            panic!("under [http] version = {version:?}: {said}");
        }
    }
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

/// A self-signed certificate for `localhost` and its key, written to the
/// dir as cert.pem and key.pem (a scenario's `ca = "cert.pem"` trusts it).
pub fn self_signed(dir: &Dir) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (
        dir.write("cert.pem", &cert.pem()),
        dir.write("key.pem", &key.serialize_pem()),
    )
}

/// The row named `name` in `group` (`names`, `streams`, `flows`, `ttfb`)
/// of a JSON result.
pub fn row<'a>(r: &'a serde_json::Value, group: &str, name: &str) -> &'a serde_json::Value {
    r[group]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no {group} row {name}: {r}"))
}

/// Runs `file`, which must exit 0; its JSON result.
pub async fn run_ok(file: &Path) -> serde_json::Value {
    let (out, json) = run_with_json(file, &[]).await;
    out.expect_exit(0);
    read_json(&json)
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

/// The failures of request `name` in a JSON result as (kind, reason)
/// pairs, in the result's order.
pub fn reasons(r: &serde_json::Value, name: &str) -> Vec<(String, String)> {
    failure_pairs(&row(r, "names", name)["failures_by_reason"])
}

/// A `failures_by_reason` list as (kind, reason) pairs.
pub fn failure_pairs(list: &serde_json::Value) -> Vec<(String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
