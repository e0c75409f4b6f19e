//! volley run against predict-rest over HTTP/1.1, h2c and TLS.

use crate::common::{self, Dir, ExpectExit, Volley, read_json};

fn scenario(base: &str, version: &str, extra_http: &str) -> String {
    format!(
        r#"
[load]
users = 4
requests = 400
[http]
base_url = "{base}"
version = "{version}"
{extra_http}
[data.texts]
file = "texts.txt"
pick = "sequential"
[[request]]
name = "predict"
method = "POST"
path = "/predict"
json = {{ text = "{{{{ texts }}}}" }}
[request.check]
status = [200]
json = {{ "/label" = "sports" }}
"#
    )
}

async fn run_rest(version: &str, tls: bool) {
    let dir = Dir::new();
    // Both texts are sports according to the committed model.
    dir.write(
        "texts.txt",
        "The striker scored twice in the cup final\nGOAL\n",
    );
    let (server, base, extra) = if tls {
        let (cert_path, key_path) = common::self_signed(&dir);
        let config = predict::tls::server_config(&cert_path, &key_path).unwrap();
        let s = crate::servers::predict_rest(Some(tokio_rustls::TlsAcceptor::from(config))).await;
        let base = format!("https://localhost:{}", s.addr.port());
        (s, base, "ca = \"cert.pem\"".to_string())
    } else {
        let s = crate::servers::predict_rest(None).await;
        let base = format!("http://{}", s.addr);
        (s, base, String::new())
    };
    let file = dir.write("s.toml", &scenario(&base, version, &extra));
    let (out, json) = common::run_with_json(&file, &[]).await;
    let (stdout, _) = common::text(&out);
    out.expect_exit_in(0, format_args!("{version} tls={tls}"));
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"], 400, "{r}");
    assert_eq!(
        r["totals"]["failures"], 0,
        "{}",
        r["names"][0]["failures_by_reason"]
    );
    assert!(stdout.contains("predict"), "{stdout}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread")]
async fn http1() {
    run_rest("http1", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn h2c() {
    run_rest("h2c", false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_h2_and_http1() {
    run_rest("http2", true).await;
    run_rest("http1", true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn host_flag_overrides_the_base_url_and_env_vars_expand() {
    let server = crate::servers::predict_rest(None).await;
    let dir = Dir::new();
    dir.write("texts.txt", "GOAL\n");
    // The file points at a closed port; -H sends everything to the server.
    let file = dir.write(
        "s.toml",
        &scenario("${VOLLEY_TEST_UNSET:-http://127.0.0.1:9}", "http1", ""),
    );
    let json = dir.path("out.json");
    let host = format!("http://{}", server.addr);
    let out = Volley::run(&file)
        .flag("--host", &host)
        .flag("-n", "50")
        .json(&json)
        .output_async()
        .await;
    out.expect_exit(0);
    assert_eq!(read_json(&json)["totals"]["requests"], 50);
}
