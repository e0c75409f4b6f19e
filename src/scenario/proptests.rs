//! Property tests of the compiler: whatever text it is given (bytes, any
//! string, or documents built from real keys and odd values), `compile`
//! returns a scenario within the limits or an error with a position; it
//! never panics.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use proptest::sample::select;

use super::compile::{MemorySources, Options, compile};

/// Compiles `text` with two data files and no environment but `X`, and
/// checks the outcome.
fn compiles_or_says_where(text: &str) -> Result<(), TestCaseError> {
    let options = Options {
        host: None,
        headers: Vec::new(),
        vars: BTreeMap::from([("X".to_string(), "x".to_string())]),
        isolated: true,
        reflected: None,
    };
    match compile(
        Path::new("p.toml"),
        text,
        &MemorySources(BTreeMap::from([
            ("d.txt".to_string(), bytes::Bytes::from_static(b"a\nb\n")),
            (
                "d.csv".to_string(),
                bytes::Bytes::from_static(b"x,y\n1,2\n3\n"),
            ),
        ])),
        &options,
    ) {
        Ok(s) => {
            prop_assert_eq!(s.load.check(), Ok(()));
            let _ = (s.names(), s.targets());
        }
        Err(e) => {
            prop_assert!(e.line >= 1 && e.column >= 1, "{e}");
            prop_assert!(!e.message.is_empty());
            let _ = e.to_string();
        }
    }
    Ok(())
}

const LOAD_KEYS: &[&str] = &[
    "users",
    "rate",
    "spawn_rate",
    "max_in_flight",
    "duration",
    "requests",
    "timeout",
    "think_time",
    "stages",
];

const HTTP_KEYS: &[&str] = &[
    "base_url", "version", "headers", "ca", "insecure", "max_body",
];

const GRPC_KEYS: &[&str] = &[
    "endpoint",
    "proto",
    "import_paths",
    "reflection",
    "metadata",
    "connections",
    "ca",
    "insecure",
];

const SCENARIO_KEYS: &[&str] = &["name", "description"];

const DATA_KEYS: &[&str] = &["file", "format", "column", "pick"];

const FLOW_KEYS: &[&str] = &["weight", "on_start", "continue_on_failure"];

const REQUEST_KEYS: &[&str] = &[
    "name", "weight", "think", "capture", "method", "path", "url", "headers", "body", "json",
    "grpc", "message", "metadata", "version",
];

const CHECK_KEYS: &[&str] = &["status", "code", "body_contains", "json"];

/// Every key of every table, and a few that are none.
fn any_key() -> impl Strategy<Value = &'static str> {
    let mut keys: Vec<&'static str> = [
        LOAD_KEYS,
        HTTP_KEYS,
        GRPC_KEYS,
        SCENARIO_KEYS,
        DATA_KEYS,
        FLOW_KEYS,
        REQUEST_KEYS,
        CHECK_KEYS,
    ]
    .concat();
    keys.extend(["thresholds", "min", "max", "target", "a.b", "\"é\"", "\"\""]);
    select(keys)
}

const VALUES: &[&str] = &[
    "1",
    "0",
    "-1",
    "1000000",
    "1000001",
    "9223372036854775807",
    "-9223372036854775808",
    "1e15",
    "1e308",
    "-1e308",
    "1e-320",
    "nan",
    "+inf",
    "-inf",
    "-0.0",
    "0.5",
    "true",
    "1979-05-27T07:32:00Z",
    "\"\"",
    "\"1s\"",
    "\"0s\"",
    "\"1ns\"",
    "\"365d\"",
    "\"366d\"",
    "\"9999999999999999h\"",
    "\"18446744073709551615s\"",
    "\"4MiB\"",
    "\"2GiB\"",
    "\"1.5 kb\"",
    "\"http://127.0.0.1:1\"",
    "\"https://[::1]:65535/\"",
    "\"/{{ d }}\"",
    "\"/{{ t }}\"",
    "\"{{\"",
    "\"{{ int(-9223372036854775808, 9223372036854775807) }}\"",
    "\"{{ uuid() | json }}\"",
    "\"${X}\"",
    "\"${Y}\"",
    "\"${X:-y}\"",
    "\"$${\"",
    "\"é→🙂\"",
    "\"\\u0000\"",
    "\"a.B/C\"",
    "\"p99<1ms\"",
    "\"x:error_rate<1%\"",
    "\"csv\"",
    "\"d.txt\"",
    "\"d.csv\"",
    "\"../d.csv\"",
    "\"per_user\"",
    "\"h2c\"",
    "[]",
    "[999, 200]",
    "[\"p99<1s\"]",
    "{}",
    "{ duration = \"1s\", target = 1e308 }",
    "[{ duration = \"365d\", target = 1 }, { duration = \"1d\", target = 1 }]",
    "[{ duration = \"1s\", target = nan }]",
    "[{ duration = \"1s\", target = 10 }]",
    "{ min = \"1s\", max = \"0s\" }",
    "{ min = \"0s\", max = \"2h\" }",
    "{ t = { json = \"/a\" } }",
    "{ t = { regex = \"(\" } }",
    "{ d = { header = \"x\" } }",
    "{ \"/a\" = 1 }",
];

/// A value: one of the odd ones, any string or number, or arrays and
/// inline tables of them.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        6 => select(VALUES).prop_map(str::to_owned),
        1 => any::<String>().prop_map(|s| toml::Value::String(s).to_string()),
        1 => any::<i64>().prop_map(|i| i.to_string()),
        1 => any::<f64>().prop_map(|f| toml::Value::Float(f).to_string()),
    ];
    let nested = leaf.clone().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((any_key(), inner), 0..4).prop_map(|kv| {
                let kv: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", kv.join(", "))
            }),
        ]
    });
    prop_oneof![6 => leaf, 1 => nested]
}

const INTS: &[&str] = &[
    "0",
    "1",
    "2",
    "-1",
    "200",
    "999",
    "1000000",
    "1000001",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "1.5",
];

const FLOATS: &[&str] = &[
    "0",
    "0.0005",
    "0.001",
    "1",
    "2.5",
    "1e7",
    "1.0000001e7",
    "1e15",
    "1e308",
    "1e-320",
    "-1",
    "-0.0",
    "nan",
    "+inf",
    "-inf",
];

const DURATIONS: &[&str] = &[
    "\"0s\"",
    "\"1ns\"",
    "\"500us\"",
    "\"1ms\"",
    "\"1s\"",
    "\"1h\"",
    "\"2h\"",
    "\"365d\"",
    "\"366d\"",
    "\"9999999999999999h\"",
    "\"18446744073709551615s\"",
    "\"1 parsec\"",
    "\"${X}\"",
    "\"\"",
];

const URLS: &[&str] = &[
    "\"http://127.0.0.1:1\"",
    "\"https://[::1]:65535/\"",
    "\"https://example.com\"",
    "\"ftp://x\"",
    "\"http://\"",
    "\"http://h/{{ d }}\"",
    "\"${X:-http://h}\"",
    "\"é\"",
];

const STRINGS: &[&str] = &[
    "\"\"",
    "\"GET\"",
    "\"post\"",
    "\"BAD METHOD\"",
    "\"h2c\"",
    "\"http2\"",
    "\"auto\"",
    "\"/\"",
    "\"/{{ d }}\"",
    "\"/{{ d.y }}\"",
    "\"/{{ d.z }}\"",
    "\"/{{ t }}\"",
    "\"/{{ int(5, 1) }}\"",
    "\"{{ uuid() | json }}\"",
    "\"{{\"",
    "\"p.S/M\"",
    "\"d.txt\"",
    "\"d.csv\"",
    "\"csv\"",
    "\"lines\"",
    "\"x\"",
    "\"y\"",
    "\"per_user\"",
    "\"sequential\"",
    "\"OK\"",
    "\"NOT_FOUND\"",
    "\"é→🙂\"",
    "\"$${\"",
];

const SIZES: &[&str] = &[
    "0",
    "1023",
    "1024",
    "1073741824",
    "1073741825",
    "-1",
    "\"4MiB\"",
    "\"1.5 kb\"",
    "\"2GiB\"",
    "\"lots\"",
    "\"99999999999999999999GiB\"",
];

/// A value for `key`, mostly of its type, now and then any value.
fn typed(key: &'static str) -> BoxedStrategy<String> {
    let pick = |xs: &'static [&'static str]| select(xs).prop_map(str::to_owned);
    let list = |s: BoxedStrategy<String>| {
        prop::collection::vec(s, 0..4).prop_map(|v| format!("[{}]", v.join(", ")))
    };
    let inline = |k: BoxedStrategy<String>, v: BoxedStrategy<String>| {
        prop::collection::vec((k, v), 0..3).prop_map(|kv| {
            let kv: Vec<String> = kv.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            format!("{{ {} }}", kv.join(", "))
        })
    };
    let typed: BoxedStrategy<String> = match key {
        "users" | "max_in_flight" | "requests" | "weight" | "connections" => prop_oneof![
            3 => pick(INTS),
            1 => any::<i64>().prop_map(|i| i.to_string()),
        ]
        .boxed(),
        "rate" | "spawn_rate" => prop_oneof![
            3 => pick(FLOATS),
            1 => any::<f64>().prop_map(|f| toml::Value::Float(f).to_string()),
        ]
        .boxed(),
        "duration" | "timeout" => pick(DURATIONS).boxed(),
        "think_time" | "think" => prop_oneof![
            pick(DURATIONS),
            (pick(DURATIONS), pick(DURATIONS))
                .prop_map(|(a, b)| format!("{{ min = {a}, max = {b} }}")),
        ]
        .boxed(),
        "stages" => list(
            (pick(DURATIONS), pick(FLOATS))
                .prop_map(|(d, t)| format!("{{ duration = {d}, target = {t} }}"))
                .boxed(),
        )
        .boxed(),
        "base_url" | "endpoint" | "url" => pick(URLS).boxed(),
        "insecure" | "reflection" | "on_start" | "continue_on_failure" => {
            pick(&["true", "false"]).boxed()
        }
        "headers" | "metadata" => inline(
            pick(&["a", "content-type", "\"bad name\"", "\"é\""]).boxed(),
            pick(STRINGS).boxed(),
        )
        .boxed(),
        "json" | "message" => {
            inline(any_key().prop_map(str::to_owned).boxed(), value().boxed()).boxed()
        }
        "capture" => pick(&[
            "{ t = { json = \"/a\" } }",
            "{ t = { header = \"x\" } }",
            "{ u = { regex = \"a(b)\" } }",
            "{ t = { regex = \"(\" } }",
            "{ d = { json = \"/a\" } }",
            "{ \"bad var\" = { json = \"/a\" } }",
            "{ t = { jsn = \"/a\" } }",
        ])
        .boxed(),
        "status" => list(pick(INTS).boxed()).boxed(),
        "thresholds" => list(
            pick(&[
                "\"p99<1s\"",
                "\"a:p95<100ms\"",
                "\"flow:x:error_rate<1%\"",
                "\"nope:p99<1s\"",
                "\"p99<fast\"",
            ])
            .boxed(),
        )
        .boxed(),
        "proto" | "import_paths" => {
            pick(&["\"x.proto\"", "[\"x.proto\"]", "[]", "\"d.txt\""]).boxed()
        }
        "max_body" => pick(SIZES).boxed(),
        "json_check" => inline(pick(&["\"/a\"", "\"a\""]).boxed(), value().boxed()).boxed(),
        _ => pick(STRINGS).boxed(),
    };
    prop_oneof![9 => typed, 1 => value()].boxed()
}

/// Lines `KEY = VALUE` for up to `most` distinct keys of `keys`, and now
/// and then any key at all.
fn table(keys: &'static [&'static str], most: usize) -> impl Strategy<Value = String> {
    (
        prop::sample::subsequence(keys, 0..=most.min(keys.len())).prop_flat_map(|ks| {
            ks.into_iter()
                .map(|k| typed(k).prop_map(move |v| format!("{k} = {v}\n")))
                .collect::<Vec<_>>()
        }),
        prop::option::weighted(0.1, (any_key(), value())),
    )
        .prop_map(|(lines, extra)| {
            let mut out = lines.concat();
            if let Some((k, v)) = extra {
                out.push_str(&format!("{k} = {v}\n"));
            }
            out
        })
}

/// `name = ...` (a name now and then used twice, empty or reserved), or
/// nothing.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        9 => select(&["\"a\"", "\"b\"", "\"c\"", "\"\"", "\"flow:x\"", "\"${X}\""][..])
            .prop_map(|n| format!("name = {n}\n")),
        1 => Just(String::new()),
    ]
}

/// A request or a flow step, with a check now and then.
fn request(header: &'static str, check: &'static str) -> impl Strategy<Value = String> {
    (
        name(),
        table(&REQUEST_KEYS[1..], 4),
        prop::option::weighted(0.3, table(CHECK_KEYS, 2)),
    )
        .prop_map(move |(n, keys, c)| {
            let c = c.map(|c| format!("{check}\n{c}")).unwrap_or_default();
            format!("{header}\n{n}{keys}{c}")
        })
}

/// A document: each table at most once (arrays of tables several times),
/// real keys with odd values.
fn document() -> impl Strategy<Value = String> {
    let single = |keys| prop::option::weighted(0.6, table(keys, 4));
    let flow = (
        name(),
        table(FLOW_KEYS, 2),
        prop::collection::vec(request("[[flow.step]]", "[flow.step.check]"), 0..3),
    )
        .prop_map(|(n, keys, steps)| format!("[[flow]]\n{n}{keys}{}", steps.concat()));
    (
        prop::option::weighted(0.3, value()),
        (
            single(LOAD_KEYS),
            single(HTTP_KEYS),
            single(GRPC_KEYS),
            single(SCENARIO_KEYS),
            single(DATA_KEYS),
        ),
        prop::collection::vec(request("[[request]]", "[request.check]"), 0..3),
        prop::collection::vec(flow, 0..3),
    )
        .prop_map(
            |(thresholds, (load, http, grpc, scenario, data), requests, flows)| {
                let mut out = String::new();
                if let Some(t) = thresholds {
                    out.push_str(&format!("thresholds = {t}\n"));
                }
                for (header, t) in [
                    ("[load]", load),
                    ("[http]", http),
                    ("[grpc]", grpc),
                    ("[scenario]", scenario),
                    ("[data.d]", data),
                ] {
                    if let Some(t) = t {
                        out.push_str(&format!("{header}\n{t}"));
                    }
                }
                out + &requests.concat() + &flows.concat()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        compiles_or_says_where(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        compiles_or_says_where(&text)?;
    }

    #[test]
    fn documents_of_real_keys_and_odd_values_never_panic(text in document()) {
        compiles_or_says_where(&text)?;
    }

    /// Arrays and tables nested far deeper than any file needs.
    #[test]
    fn deep_nesting_never_panics(n in 0usize..5000, inline_table in any::<bool>()) {
        let value = if inline_table {
            format!("{}1{}", "{ a = ".repeat(n), " }".repeat(n))
        } else {
            format!("{}{}", "[".repeat(n), "]".repeat(n))
        };
        compiles_or_says_where(&format!(
            "[http]\nbase_url = \"http://127.0.0.1:1\"\n[[request]]\nname = \"a\"\njson = {{ v = {value} }}\n"
        ))?;
    }

    /// A well-formed request after odd `[load]`, `[http]` lines: the
    /// compiler gets past the parse and into the checks.
    #[test]
    fn odd_load_values_never_panic(
        load in table(LOAD_KEYS, 4),
        http in table(HTTP_KEYS, 2),
        request in table(&REQUEST_KEYS[1..], 2),
    ) {
        let text = format!(
            "[load]\n{load}[http]\nbase_url = \"http://127.0.0.1:1\"\n{http}[[request]]\nname = \"a\"\n{request}"
        );
        compiles_or_says_where(&text)?;
    }
}
