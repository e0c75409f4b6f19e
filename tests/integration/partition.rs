//! A network partition between the master and one worker, made real: the
//! worker runs in a network namespace this test creates, joined to the
//! test's namespace by a veth pair whose link the test takes down and brings
//! back. Needs root and `ip`; elsewhere it says why and does nothing.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Dir, read_json};
use crate::procs;

const TOKEN: &str = "partition-test-token";

/// A namespace and veth pair, removed on drop.
struct Netns {
    name: String,
    host_if: String,
    host_ip: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Netns {
    fn create() -> Result<Netns, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: cannot create network namespaces".into());
        }
        let id = std::process::id();
        let net = id % 250;
        let ns = Netns {
            name: format!("vly{id}"),
            host_if: format!("vly{id}h"),
            host_ip: format!("10.231.{net}.1"),
        };
        let peer_if = format!("vly{id}w");
        let worker_ip = format!("10.231.{net}.2/30");
        ip(&["netns", "add", &ns.name])?;
        ip(&[
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer_if,
        ])?;
        ip(&["link", "set", &peer_if, "netns", &ns.name])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/30", ns.host_ip),
            "dev",
            &ns.host_if,
        ])?;
        ip(&["link", "set", &ns.host_if, "up"])?;
        let inside = |args: &[&str]| {
            let mut a = vec!["netns", "exec", &ns.name, "ip"];
            a.extend_from_slice(args);
            ip(&a)
        };
        inside(&["addr", "add", &worker_ip, "dev", &peer_if])?;
        inside(&["link", "set", &peer_if, "up"])?;
        inside(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    fn link(&self, up: bool) {
        ip(&["link", "set", &self.host_if, if up { "up" } else { "down" }]).unwrap();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.host_if]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

#[test]
fn a_partitioned_worker_is_lost_and_rejoins_when_healed() {
    let ns = match Netns::create() {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("skipped: the partition test needs network namespaces ({why})");
            return;
        }
    };
    // The target listens on the veth address: reachable from both sides,
    // and from the namespace only while the link is up.
    let target = crate::servers::request_counter_on(&ns.host_ip);
    let dir = Dir::new();
    let file = dir.write(
        "s.toml",
        &format!(
            "[load]\nusers = 4\nspawn_rate = 100\nthink_time = \"20ms\"\nduration = \"30s\"\n\
             [http]\nbase_url = \"http://{}\"\n[[request]]\nname = \"ok\"\npath = \"/ok\"\n",
            target.addr
        ),
    );
    let json = dir.path("r.json");
    let (mut master, addr, fp) = procs::master_on(
        &ns.host_ip,
        file.to_str().unwrap(),
        TOKEN,
        &["--expect-workers", "2", "--json", json.to_str().unwrap()],
    );
    let _inside = procs::worker_with(
        &["ip", "netns", "exec", &ns.name],
        &addr,
        &fp,
        TOKEN,
        "inside",
    );
    let _outside = procs::worker(&addr, &fp, TOKEN, "outside");
    master.wait_for("worker joined", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(3));
    let cut = Instant::now();
    ns.link(false);
    master.wait_for("worker inside", Duration::from_secs(8));
    assert!(
        cut.elapsed() < Duration::from_secs(6),
        "lost after {:?}",
        cut.elapsed()
    );
    std::thread::sleep(Duration::from_secs(2));
    ns.link(true);
    // Healed: the worker reconnects (with backoff) and gets a share again.
    let healed = Instant::now();
    let rejoined = loop {
        let joins = master.stderr().matches("worker inside").count();
        if joins >= 2 {
            break true;
        }
        if healed.elapsed() > Duration::from_secs(15) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(rejoined, "{}", master.stderr());
    master.signal(libc::SIGINT);
    master.succeeds();
    let r = read_json(&json);
    assert!(
        r["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("inside")),
        "{}",
        r["notes"]
    );
    assert_eq!(
        r["config"]["workers"], 3,
        "two workers and the rejoined one"
    );
}
