//! Bad scenarios and flags: a clear error naming file, line and column, and
//! exit code 2, before anything is sent; the shipped scenarios validate.

use crate::common::{self, Dir};

fn check(content: &str) -> (i32, String) {
    let dir = Dir::new();
    dir.write("texts.txt", "a\nb\n");
    let file = dir.write("bad.toml", content);
    let out = common::volley(&["check", "-f", file.to_str().unwrap()]);
    let (_, stderr) = common::text(&out);
    (out.status.code().unwrap_or(-1), stderr)
}

const BASE: &str = "[http]\nbase_url = \"http://127.0.0.1:8000\"\n";

#[test]
fn errors_name_file_line_and_column() {
    let cases: Vec<(String, &str, &str)> = vec![
        (format!("{BASE}[[request]]\nname = \"a\"\nmetod = \"POST\"\n"), "bad.toml:5:1", "unknown field `metod`"),
        (format!("[load]\nduration = \"10 parsecs\"\n{BASE}[[request]]\nname = \"a\"\n"), "bad.toml:2:12", "is not a duration"),
        (format!("{BASE}[[request]]\nname = \"a\"\nbody = \"{{{{ nope }}}}\"\n"), "bad.toml:5:8", "unknown value \"nope\""),
        ("[http]\nbase_url = \"${VOLLEY_SURELY_UNSET}\"\n[[request]]\nname = \"a\"\n".to_string(), "bad.toml:2:12", "VOLLEY_SURELY_UNSET is not set"),
        (format!("{BASE}[[request]]\nname = \"a\"\n[[request]]\nname = \"a\"\n"), "bad.toml:6:8", "used twice"),
        (format!("[load]\nusers = 5\nrate = 10\n{BASE}[[request]]\nname = \"a\"\n"), "bad.toml:3:8", "not both"),
        (format!("{BASE}[data.t]\nfile = \"missing.txt\"\n[[request]]\nname = \"a\"\n"), "bad.toml:4:8", "cannot read missing.txt"),
        (format!("{BASE}[[request]]\nname = \"a\"\n[request.check]\nstatus = [999]\n"), "bad.toml:6:10", "999 is not an HTTP status"),
        ("[grpc]\nendpoint = \"http://127.0.0.1:1\"\nreflection = true\n[[request]]\nname = \"g\"\ngrpc = \"NoPackage\"\n".to_string(), "bad.toml:6:8", "package.Service/Method"),
        ("[load]\nusers = 1\n".to_string(), "bad.toml:1:1", "sends nothing"),
        ("[load\nusers = 1\n".to_string(), "bad.toml:1:6", ""),
        (format!("thresholds = [\"p99<1s\", \"p99<fast\"]\n{BASE}[[request]]\nname = \"a\"\n"), "bad.toml:1:25", "p99<fast"),
        (format!("thresholds = [\"b:p99<1s\"]\n{BASE}[[request]]\nname = \"a\"\n"), "bad.toml:1:15", "no request, step or flow:NAME named \"b\""),
        // Flows: variables read before any step captures them, bad captures,
        // think steps with request keys, two on-start flows.
        (format!("{BASE}[[flow]]\nname = \"f\"\n[[flow.step]]\nname = \"a\"\npath = \"/{{{{ tok }}}}\"\n[[flow.step]]\nname = \"b\"\ncapture = {{ tok = {{ json = \"/t\" }} }}\n"), "bad.toml:5:1", "uses {{ tok }}, but no step of flow \"f\" before it"),
        (format!("{BASE}[[flow]]\nname = \"f\"\n[[flow.step]]\nname = \"a\"\ncapture = {{ tok = {{ jsn = \"/t\" }} }}\n"), "bad.toml:7:19", "expected one of"),
        (format!("{BASE}[[flow]]\nname = \"f\"\n[[flow.step]]\nname = \"a\"\ncapture = {{ tok = {{ regex = \"(\" }} }}\n"), "bad.toml:7:19", "bad regex"),
        (format!("{BASE}[[flow]]\nname = \"f\"\n[[flow.step]]\nname = \"a\"\n[[flow.step]]\nthink = \"1s\"\npath = \"/x\"\n"), "bad.toml:7:1", "path belongs to a request step"),
        (format!("{BASE}[[request]]\nname = \"r\"\n[[flow]]\nname = \"f\"\non_start = true\n[[flow.step]]\nname = \"a\"\n[[flow]]\nname = \"g\"\non_start = true\n[[flow.step]]\nname = \"b\"\n"), "bad.toml:12:12", "only one flow can be on_start"),
        (format!("{BASE}[[request]]\nname = \"r\"\ncapture = {{ t = {{ json = \"/t\" }} }}\n"), "bad.toml:5:17", "capture is for flow steps"),
        (format!("{BASE}[[flow]]\nname = \"f\"\n[[flow.step]]\nname = \"a\"\nweight = 2\n"), "bad.toml:7:10", "weight belongs to the [[flow]]"),
        ("[http]\nbase_url = \"https://example.com\"\ninsecure = true\n[[request]]\nname = \"a\"\n".to_string(), "bad.toml:3:12", "only allowed for loopback"),
    ];
    for (content, place, message) in cases {
        let (code, stderr) = check(&content);
        assert_eq!(code, 2, "{content}\n{stderr}");
        assert!(stderr.contains(place), "want {place} in:\n{stderr}");
        assert!(stderr.contains(message), "want {message:?} in:\n{stderr}");
    }
}

#[test]
fn bad_thresholds_and_flags_exit_2() {
    let dir = Dir::new();
    let file = dir.write(
        "s.toml",
        &format!("thresholds = [\"p99<fast\"]\n{BASE}[[request]]\nname = \"a\"\n"),
    );
    let out = common::volley(&["run", "-f", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::text(&out).1.contains("p99<fast"));
    let file = dir.write("t.toml", &format!("{BASE}[[request]]\nname = \"a\"\n"));
    let out = common::volley(&[
        "run",
        "-f",
        file.to_str().unwrap(),
        "--rate",
        "10",
        "--think-time",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(2), "{:?}", common::text(&out));
    let out = common::volley(&[
        "run",
        "-f",
        file.to_str().unwrap(),
        "--threshold",
        "nope:p99<1s",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::text(&out)
            .1
            .contains("no request, step or flow named \"nope\""),
        "{:?}",
        common::text(&out)
    );
    let out = common::volley(&["run", "-f", file.to_str().unwrap(), "-H", "ftp://x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::text(&out).1.contains("--host"),
        "{:?}",
        common::text(&out)
    );
}

#[test]
fn unknown_grpc_service_in_the_proto_is_named() {
    let dir = Dir::new();
    let proto = common::proto_dir();
    let file = dir.write(
        "s.toml",
        &format!(
            "[grpc]\nendpoint = \"http://127.0.0.1:1\"\nproto = \"{p}/predict/v1/predict.proto\"\nimport_paths = [\"{p}\"]\n[[request]]\nname = \"g\"\ngrpc = \"predict.v1.Nope/Predict\"\n",
            p = proto.display()
        ),
    );
    let out = common::volley(&["check", "-f", file.to_str().unwrap()]);
    let (_, stderr) = common::text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("s.toml:7:8"), "{stderr}");
    assert!(
        stderr.contains("services: predict.v1.Predictor"),
        "{stderr}"
    );
}

#[test]
fn shipped_scenarios_validate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(root.join("scenarios")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let out = common::volley(&["check", "-f", p.to_str().unwrap()]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}: {:?}",
                p.display(),
                common::text(&out)
            );
            n += 1;
        }
    }
    assert!(n >= 3);
}
