//! volley run against predict-grpc, with the schema from .proto files and
//! from server reflection.

use crate::common::{self, Dir, ExpectExit, read_json};

async fn run(schema: &str) {
    let server = crate::servers::predict_grpc().await;
    let dir = Dir::new();
    dir.write(
        "texts.txt",
        "The striker scored twice in the cup final\nGOAL\n",
    );
    let file = dir.write(
        "s.toml",
        &format!(
            r#"
[load]
users = 3
requests = 300
[grpc]
endpoint = "http://{addr}"
{schema}
[data.texts]
file = "texts.txt"
[[request]]
name = "predict-grpc"
grpc = "predict.v1.Predictor/Predict"
message = {{ text = "{{{{ texts }}}}" }}
[request.check]
json = {{ "/label" = "sports", "/category" = 3 }}
[[request]]
name = "empty-text"
grpc = "predict.v1.Predictor/Predict"
message = '{{"text": ""}}'
[request.check]
code = "INVALID_ARGUMENT"
"#,
            addr = server.addr
        ),
    );
    let (out, json) = common::run_with_json(&file, &[]).await;
    out.expect_exit_in(0, format_args!("{schema}"));
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"], 300);
    assert_eq!(r["totals"]["failures"], 0, "{}", r["names"]);
    let names: Vec<&str> = r["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["predict-grpc", "empty-text"]);
    assert!(r["names"][1]["requests"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_from_proto_files() {
    let proto = common::proto_dir();
    run(&format!(
        "proto = \"{}/predict/v1/predict.proto\"\nimport_paths = [\"{}\"]",
        proto.display(),
        proto.display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_from_server_reflection() {
    run("reflection = true").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_check_is_a_failure_with_its_reason() {
    let server = crate::servers::predict_grpc().await;
    let dir = Dir::new();
    let proto = common::proto_dir();
    let file = dir.write(
        "s.toml",
        &format!(
            r#"
[load]
users = 1
requests = 20
[grpc]
endpoint = "http://{addr}"
proto = "{p}/predict/v1/predict.proto"
import_paths = ["{p}"]
[[request]]
name = "wrong-label"
grpc = "predict.v1.Predictor/Predict"
message = {{ text = "GOAL" }}
[request.check]
json = {{ "/label" = "business" }}
"#,
            addr = server.addr,
            p = proto.display()
        ),
    );
    let (out, json) = common::run_with_json(&file, &["--threshold", "error_rate<1%"]).await;
    out.expect_exit(1);
    let r = read_json(&json);
    assert_eq!(r["totals"]["failures"], 20);
    let reason = &r["names"][0]["failures_by_reason"][0];
    assert_eq!(reason["kind"], "check");
    assert_eq!(reason["reason"], "/label is not \"business\"");
    assert_eq!(r["passed"], false);
}
