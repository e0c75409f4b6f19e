//! Journeys against the in-test shop: an on-start login per user with its own
//! account, captured tokens and ids used by later steps, per-step and
//! per-flow statistics and thresholds; a capture that finds nothing; two
//! workers splitting the accounts file without using one twice. The shop
//! speaks HTTP/1.1 and h2c: the journeys and captures run once per version
//! (`common::VERSIONS`).

use crate::common::{self, Dir, ExpectExit, Volley, per_version, read_json, with_version};
use crate::{procs, shop};

fn journey(addr: std::net::SocketAddr, load: &str) -> String {
    format!(
        r#"
thresholds = ["flow:shop:error_rate<1%", "confirm:p99<5s"]

[load]
{load}

[http]
base_url = "http://{addr}"

[data.accounts]
file = "accounts.csv"
format = "csv"
pick = "per_user"

[[request]]
name = "health"
path = "/health"

[[flow]]
name = "login"
on_start = true

  [[flow.step]]
  name = "login"
  method = "POST"
  path = "/login"
  json = {{ user = "{{{{ accounts.user }}}}", password = "{{{{ accounts.password }}}}" }}
  capture = {{ token = {{ json = "/token" }} }}

[[flow]]
name = "shop"
weight = 3

  [[flow.step]]
  name = "list"
  path = "/items"
  headers = {{ authorization = "Bearer {{{{ token }}}}" }}
  capture = {{ item = {{ json = "/items/0/id" }} }}

  [[flow.step]]
  think = {{ min = "1ms", max = "3ms" }}

  [[flow.step]]
  name = "view"
  path = "/items/{{{{ item }}}}"
  headers = {{ authorization = "Bearer {{{{ token }}}}" }}

  [[flow.step]]
  name = "order"
  method = "POST"
  path = "/orders"
  headers = {{ authorization = "Bearer {{{{ token }}}}" }}
  json = {{ item = "{{{{ item }}}}" }}
  capture = {{ location = {{ header = "location" }}, order = {{ regex = '"id":(\d+)' }} }}
  [flow.step.check]
  status = [201]

  [[flow.step]]
  name = "confirm"
  path = "/orders/{{{{ order }}}}"
  headers = {{ authorization = "Bearer {{{{ token }}}}", x-order-location = "{{{{ location }}}}" }}
"#
    )
}

fn stat<'a>(r: &'a serde_json::Value, section: &str, name: &str) -> &'a serde_json::Value {
    r[section]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {section}: {}", r[section]))
}

#[tokio::test(flavor = "multi_thread")]
async fn users_log_in_once_with_their_own_account_and_shop_with_captured_values() {
    per_version(|v| async move {
        let shop = shop::start(4);
        let dir = Dir::new();
        dir.write("accounts.csv", &shop::accounts_csv(4));
        let file = dir.write(
            "journey.toml",
            &with_version(&journey(shop.addr, "users = 4\nrequests = 300"), v),
        );
        let (out, json) = common::run_with_json(&file, &[]).await;
        let (stdout, _) = common::text(&out);
        out.expect_exit(0);
        let r = read_json(&json);
        // Every request of the count was sent and passed; flows are not requests.
        assert_eq!(r["totals"]["requests"], 300, "{}", r["totals"]);
        assert_eq!(r["totals"]["failures"], 0, "{stdout}");
        // One login per user, each with an account of its own.
        let login = stat(&r, "flows", "flow:login");
        assert_eq!(
            (login["requests"].as_u64(), login["failures"].as_u64()),
            (Some(4), Some(0))
        );
        shop.seen(|s| {
            assert_eq!(s.logins.len(), 4, "{:?}", s.logins);
            assert!(s.logins.values().all(|n| *n == 1), "{:?}", s.logins);
            assert_eq!((s.conflicts, s.unauthorized), (0, 0));
        });
        // Every step has its own row; the flow counts iterations of the journey.
        for step in ["health", "login", "list", "view", "order", "confirm"] {
            assert!(
                stat(&r, "names", step)["requests"].as_u64().unwrap() > 0,
                "{step}"
            );
        }
        let flow = stat(&r, "flows", "flow:shop");
        let iterations = flow["requests"].as_u64().unwrap();
        assert!(iterations > 10, "{flow}");
        assert_eq!(flow["failures"], 0);
        // An iteration spans its think step and its four requests.
        assert!(flow["min_us"].as_u64().unwrap() >= 1000, "{flow}");
        let confirm = stat(&r, "names", "confirm")["requests"].as_u64().unwrap();
        assert!(
            iterations == confirm || iterations + 4 >= confirm,
            "{iterations} iterations, {confirm} confirms"
        );
        assert!(r["passed"].as_bool().unwrap(), "{}", r["thresholds"]);
        // The summary shows the flows in a table of their own.
        assert!(stdout.contains("iterations"), "{stdout}");
        assert!(stdout.contains("flow:shop"), "{stdout}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capture_that_finds_nothing_ends_the_iteration_unless_the_flow_goes_on() {
    per_version(|v| async move {
    let shop = shop::start(0);
    let dir = Dir::new();
    let flow = |name: &str, go_on: bool| {
        format!(
            "[[flow]]\nname = \"{name}\"\ncontinue_on_failure = {go_on}\n\
             [[flow.step]]\nname = \"{name}-a\"\npath = \"/health\"\ncapture = {{ x = {{ json = \"/x\" }} }}\n\
             [[flow.step]]\nname = \"{name}-b\"\npath = \"/health?x={{{{ x }}}}\"\n"
        )
    };
    let file = dir.write(
        "s.toml",
        &with_version(
            &format!(
                "[load]\nusers = 2\nrequests = 100\n[http]\nbase_url = \"http://{}\"\n{}{}",
                shop.addr,
                flow("strict", false),
                flow("lenient", true)
            ),
            v,
        ),
    );
    let (out, json) =
        common::run_with_json(&file, &["--threshold", "flow:strict:error_rate<1%"]).await;
    let (stdout, _) = common::text(&out);
    out.expect_exit(1);
    let r = read_json(&json);
    assert_eq!(stat(&r, "names", "strict-b")["requests"], 0);
    assert!(stat(&r, "names", "lenient-b")["requests"].as_u64().unwrap() > 0);
    let a = stat(&r, "names", "strict-a");
    assert_eq!(a["failures"], a["requests"]);
    let reason = &a["failures_by_reason"][0];
    assert_eq!(reason["kind"], "capture");
    assert_eq!(reason["reason"], "capture x: the answer is not JSON");
    let strict = stat(&r, "flows", "flow:strict");
    assert_eq!(strict["failures"], strict["requests"]);
    assert_eq!(
        strict["failures_by_reason"][0]["reason"],
        "step \"strict-a\" failed (capture)"
    );
    assert_eq!(r["thresholds"][0]["passed"], false);
    assert!(
        stdout.contains("FAIL flow:strict:error_rate<1%"),
        "{stdout}"
    );
    })
    .await;
}

#[test]
fn per_user_data_needs_a_record_for_every_user() {
    let dir = Dir::new();
    dir.write("accounts.csv", &shop::accounts_csv(3));
    let file = dir.write(
        "journey.toml",
        &journey(
            "127.0.0.1:9".parse().unwrap(),
            "users = 4\nduration = \"1s\"",
        ),
    );
    let out = Volley::run(&file).output();
    let (_, stderr) = common::text(&out);
    out.expect_exit(2);
    assert!(
        stderr.contains("data \"accounts\" has 3 records for 4 users"),
        "{stderr}"
    );
}

const TOKEN: &str = "flows-test-token";

#[test]
fn two_workers_split_the_accounts_and_never_share_one() {
    let shop = shop::start(6);
    let dir = Dir::new();
    dir.write("accounts.csv", &shop::accounts_csv(6));
    let file = dir.write(
        "journey.toml",
        &journey(shop.addr, "users = 6\nduration = \"3s\""),
    );
    let json = dir.path("r.json");
    let (mut master, addr, fp) = procs::master(
        file.to_str().unwrap(),
        TOKEN,
        &["--expect-workers", "2", "--json", json.to_str().unwrap()],
    );
    let _w1 = procs::worker(&addr, &fp, TOKEN, "w1");
    let _w2 = procs::worker(&addr, &fp, TOKEN, "w2");
    master.succeeds();
    let r = read_json(&json);
    assert_eq!(r["config"]["workers"], 2);
    // Six users on two workers, each logged in once with its own account:
    // the shop refuses an account already in use, and refused none.
    shop.seen(|s| {
        assert_eq!(s.logins.len(), 6, "{:?}", s.logins);
        assert!(s.logins.values().all(|n| *n == 1), "{:?}", s.logins);
        assert_eq!((s.conflicts, s.unauthorized), (0, 0));
    });
    assert_eq!(stat(&r, "flows", "flow:login")["requests"], 6);
    assert_eq!(r["totals"]["failures"], 0, "{}", master.stdout());
    assert!(stat(&r, "flows", "flow:shop")["requests"].as_u64().unwrap() > 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn in_the_open_model_executors_log_in_once_and_hold_their_accounts() {
    let shop = shop::start(3);
    let dir = Dir::new();
    dir.write("accounts.csv", &shop::accounts_csv(3));
    // More room in flight than accounts: executors are capped at three.
    let file = dir.write(
        "journey.toml",
        &journey(
            shop.addr,
            "rate = 60\nmax_in_flight = 20\nduration = \"2s\"",
        ),
    );
    let (out, json) = common::run_with_json(&file, &[]).await;
    let (stdout, _) = common::text(&out);
    out.expect_exit(0);
    let r = read_json(&json);
    assert_eq!(r["totals"]["failures"], 0, "{stdout}");
    shop.seen(|s| {
        assert!(
            !s.logins.is_empty() && s.logins.len() <= 3,
            "{:?}",
            s.logins
        );
        assert!(s.logins.values().all(|n| *n == 1), "{:?}", s.logins);
        assert_eq!((s.conflicts, s.unauthorized), (0, 0));
    });
    assert!(stat(&r, "flows", "flow:shop")["requests"].as_u64().unwrap() > 10);
}
