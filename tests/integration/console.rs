//! The console end to end: `volley demo` in a real terminal (tmux), steered
//! with keys, checked on screen, quit cleanly. Skips (saying so) where tmux
//! is missing; .ci/run installs it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{self, Dir, read_json};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("running tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        self.cmd(&["send-keys", "-t", "t", keys]);
    }

    /// Waits until the screen shows `what`; returns the screen.
    fn wait_for(&self, what: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if s.contains(what) {
                return s;
            }
            assert!(Instant::now() < end, "no {what:?} on screen:\n{s}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn has_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_demo_console_steers_and_quits_cleanly() {
    if !has_tmux() {
        common::skipped(
            "console::the_demo_console_steers_and_quits_cleanly",
            "tmux is not installed (.ci/run installs it)",
        );
        return;
    }
    let dir = Dir::new();
    let json = dir.path("demo.json");
    let status = dir.path("status");
    let bin = env!("CARGO_BIN_EXE_volley");
    let script = format!(
        // The pane stays after volley exits, to be read.
        "{bin} demo -t 60s --json {} ; echo $? > {} ; sleep 60",
        json.display(),
        status.display()
    );
    let t = Tmux {
        socket: format!("volley-test-{}", std::process::id()),
    };
    let out = t.cmd(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "100",
        "-y",
        "30",
        "-e",
        "NO_COLOR=1",
        &script,
    ]);
    assert!(out.status.success(), "{out:?}");
    let screen = t.wait_for("RUNNING", Duration::from_secs(30));
    assert!(screen.contains("users 16/16 ±2"), "{screen}");
    assert!(screen.contains("predict-rest"), "{screen}");
    // + adds a step of users, and the workers pick it up.
    t.keys("+");
    t.wait_for("users 18/18 ±2", Duration::from_secs(10));
    // tab: the workers view lists both local workers.
    t.keys("Tab");
    let screen = t.wait_for("local-2", Duration::from_secs(5));
    assert!(screen.contains("local-1"), "{screen}");
    assert!(screen.contains("Workers (2)"), "{screen}");
    // q asks first, y stops the workers and leaves.
    t.keys("q");
    t.wait_for("Stop the workers and quit?", Duration::from_secs(5));
    t.keys("y");
    let end = Instant::now() + Duration::from_secs(30);
    while !Path::new(&status).exists() {
        assert!(Instant::now() < end, "volley did not exit:\n{}", t.screen());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "0");
    // The terminal is back: off the alternate screen, the summary printed.
    let screen = t.screen();
    assert!(screen.contains("thresholds:"), "{screen}");
    assert!(!screen.contains("throughput"), "{screen}");
    let alt = t.cmd(&["display-message", "-p", "-t", "t", "#{alternate_on}"]);
    assert_eq!(String::from_utf8_lossy(&alt.stdout).trim(), "0");
    let r = read_json(&json);
    assert_eq!(r["config"]["workers"], 2);
    assert!(r["totals"]["requests"].as_u64().unwrap() > 0);
    assert!(
        r["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap_or("")
            .contains("stopped from the console")),
        "{}",
        r["notes"]
    );
}
