//! The cluster over real QUIC between real processes: a master and workers
//! started as children of the test, killed with real signals, against a
//! loopback target that counts what it receives.

use std::time::{Duration, Instant};

use crate::common::{Dir, read_json};
use crate::procs;

const TOKEN: &str = "cluster-test-token";

fn scenario(dir: &Dir, target: std::net::SocketAddr, duration: &str) -> String {
    let file = dir.write(
        "s.toml",
        &format!(
            "[load]\nusers = 4\nspawn_rate = 100\nthink_time = \"20ms\"\nduration = \"{duration}\"\n\
             [http]\nbase_url = \"http://{target}\"\n[[request]]\nname = \"ok\"\npath = \"/ok\"\n"
        ),
    );
    file.to_str().unwrap().to_owned()
}

/// The series point of second `t`.
fn point(r: &serde_json::Value, t: u64) -> serde_json::Value {
    r["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["t"] == t)
        .unwrap_or_else(|| panic!("no point at {t} s: {}", r["series"]))
        .clone()
}

#[test]
fn a_master_and_two_workers_run_and_merge_exactly() {
    let target = crate::servers::request_counter();
    let dir = Dir::new();
    let file = scenario(&dir, target.addr, "3s");
    let json = dir.path("r.json");
    let (mut master, addr, fp) = procs::master(
        &file,
        TOKEN,
        &["--expect-workers", "2", "--json", json.to_str().unwrap()],
    );
    let mut w1 = procs::worker(&addr, &fp, TOKEN, "w1");
    let mut w2 = procs::worker(&addr, &fp, TOKEN, "w2");
    master.succeeds();
    let r = read_json(&json);
    assert_eq!(r["config"]["workers"], 2);
    let recorded = r["totals"]["requests"].as_u64().unwrap();
    // Requests in flight when the duration ends are abandoned, not recorded.
    let received = target.count();
    assert!(recorded > 100, "{recorded}");
    assert!(
        received >= recorded && received - recorded <= 4,
        "{received} vs {recorded}"
    );
    assert!(master.stdout().contains("total"), "{}", master.stdout());
    // Workers outlive the run and wait for the next master.
    std::thread::sleep(Duration::from_millis(500));
    assert!(w1.is_running() && w2.is_running());
    w1.wait_for("retrying", Duration::from_secs(5));
}

#[test]
fn a_wrong_token_is_refused_on_both_sides() {
    let target = crate::servers::request_counter();
    let dir = Dir::new();
    let file = scenario(&dir, target.addr, "2s");
    let (mut master, addr, fp) = procs::master(
        &file,
        TOKEN,
        &["--expect-workers", "1", "--join-timeout", "3s"],
    );
    let mut w = procs::worker(&addr, &fp, "not-the-token", "intruder");
    assert_eq!(w.wait(Duration::from_secs(10)), Some(2));
    assert!(w.stderr().contains("join token is wrong"), "{}", w.stderr());
    assert!(
        !w.stderr().contains("not-the-token"),
        "the token is never printed"
    );
    assert_eq!(master.wait(Duration::from_secs(10)), Some(2));
    assert!(
        master.stderr().contains("0 of 1 workers joined"),
        "{}",
        master.stderr()
    );
    assert!(!master.stderr().contains(TOKEN));
    assert_eq!(target.count(), 0, "no plan, no load");
}

#[test]
fn a_killed_worker_is_lost_its_share_moves_and_the_run_completes() {
    let target = crate::servers::request_counter();
    let dir = Dir::new();
    let file = scenario(&dir, target.addr, "10s");
    let json = dir.path("r.json");
    let (mut master, addr, fp) = procs::master(
        &file,
        TOKEN,
        &["--expect-workers", "2", "--json", json.to_str().unwrap()],
    );
    let _w1 = procs::worker(&addr, &fp, TOKEN, "w1");
    let w2 = procs::worker(&addr, &fp, TOKEN, "w2");
    w2.wait_for("joined master", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    let killed = Instant::now();
    w2.signal(libc::SIGKILL);
    master.wait_for("was lost", Duration::from_secs(8));
    assert!(
        killed.elapsed() < Duration::from_secs(6),
        "lost after {:?}",
        killed.elapsed()
    );
    master.succeeds();
    assert!(
        master.stdout().contains("note: worker w2"),
        "{}",
        master.stdout()
    );
    let r = read_json(&json);
    assert!(r["notes"][0].as_str().unwrap().contains("was lost"));
    // The survivor took the lost worker's users: load went on to the end.
    let p = point(&r, 9);
    assert!(p["requests"].as_u64().unwrap() > 50, "{p}");
    assert_eq!(p["users"], 4, "{p}");
}

#[test]
fn a_killed_master_stops_every_worker_and_none_resumes_alone() {
    let target = crate::servers::request_counter();
    let dir = Dir::new();
    let file = scenario(&dir, target.addr, "60s");
    let (master, addr, fp) = procs::master(&file, TOKEN, &["--expect-workers", "1"]);
    let mut w = procs::worker(&addr, &fp, TOKEN, "w1");
    w.wait_for("joined master", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    assert!(target.count() > 50, "load flows");
    master.signal(libc::SIGKILL);
    // QUIC's idle timeout (4 s) tells the worker; then its load stops.
    std::thread::sleep(Duration::from_secs(5));
    let after = target.count();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(target.count(), after, "load went on without a master");
    assert!(w.is_running(), "the worker waits for a master");
    w.wait_for("retrying", Duration::from_secs(5));
}

#[test]
fn a_worker_joining_mid_run_gets_a_share() {
    let target = crate::servers::request_counter();
    let dir = Dir::new();
    let file = scenario(&dir, target.addr, "6s");
    let json = dir.path("r.json");
    let (mut master, addr, fp) = procs::master(
        &file,
        TOKEN,
        &["--expect-workers", "1", "--json", json.to_str().unwrap()],
    );
    let w1 = procs::worker(&addr, &fp, TOKEN, "w1");
    w1.wait_for("joined master", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    let w2 = procs::worker(&addr, &fp, TOKEN, "w2");
    master.wait_for("worker w2", Duration::from_secs(10));
    master.succeeds();
    let r = read_json(&json);
    assert_eq!(r["config"]["workers"], 2);
    let names_total: u64 = r["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(names_total, r["totals"]["requests"].as_u64().unwrap());
    // Users were split, not added: the total stayed at 4.
    for t in [1, 5] {
        assert_eq!(point(&r, t)["users"], 4, "{}", point(&r, t));
    }
    drop(w2);
}

#[test]
fn bad_peers_never_stop_the_master() {
    let target = crate::servers::request_counter();
    let dir = Dir::new();
    let file = scenario(&dir, target.addr, "2s");
    let json = dir.path("r.json");
    let (mut master, addr, fp) = procs::master(
        &file,
        TOKEN,
        &["--expect-workers", "1", "--json", json.to_str().unwrap()],
    );
    let master_addr: std::net::SocketAddr = addr.parse().unwrap();
    // Datagrams that are not QUIC.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..50u8 {
        udp.send_to(&[i; 1200], master_addr).unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(crate::peers::misbehave(master_addr));
    // After all that, a real worker joins and the run happens.
    let _w = procs::worker(&addr, &fp, TOKEN, "good");
    master.succeeds();
    assert!(read_json(&json)["totals"]["requests"].as_u64().unwrap() > 0);
}

/// A CA and a master certificate it signed, as PEM files in `dir`.
fn ca_and_master_cert(dir: &Dir) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let path = |name: &str, pem: String| dir.write(name, &pem).to_str().unwrap().to_owned();
    (
        path("ca.pem", ca_cert.pem()),
        path("master.pem", leaf.pem()),
        path("master.key", key.serialize_pem()),
    )
}

#[test]
fn workers_check_the_master_by_ca_and_refuse_a_wrong_fingerprint() {
    let target = crate::servers::request_counter();
    let dir = Dir::new();
    let file = scenario(&dir, target.addr, "2s");
    let (ca, cert, key) = ca_and_master_cert(&dir);
    let json = dir.path("r.json");
    let (mut master, addr, fp) = procs::master(
        &file,
        TOKEN,
        &[
            "--expect-workers",
            "1",
            "--cert",
            &cert,
            "--key",
            &key,
            "--json",
            json.to_str().unwrap(),
        ],
    );
    let wrong = "00".repeat(32);
    assert_ne!(fp, wrong);
    let impostor_check = procs::worker(&addr, &wrong, TOKEN, "pinned-wrong");
    impostor_check.wait_for("fingerprint is", Duration::from_secs(10));
    let _good = procs::Proc::start(
        &[
            "worker",
            "--master",
            &addr,
            "--master-ca",
            &ca,
            "--id",
            "by-ca",
            "--threads",
            "1",
        ],
        &[("VOLLEY_TOKEN", TOKEN)],
    );
    master.succeeds();
    let r = read_json(&json);
    assert_eq!(
        r["config"]["workers"], 1,
        "only the worker that trusts the CA joined"
    );
    assert!(r["totals"]["requests"].as_u64().unwrap() > 0);
}
