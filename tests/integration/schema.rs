//! The scenario format's JSON Schema (docs/scenario.schema.json): the
//! checked-in file is what `volley schema` generates from the parser's own
//! types, every shipped scenario validates against it (as an editor's TOML
//! language server would check it), and the mistakes it can see are seen.
//! `VOLLEY_WRITE_SCHEMA=1` writes the file again.

use std::path::{Path, PathBuf};

use crate::common;
use crate::common::ExpectExit;
use crate::common::Volley;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn checked_in() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("docs/scenario.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_checked_in_schema_is_the_generated_one() {
    let out = Volley::sub("schema").output();
    out.expect_exit(0);
    let path = root().join("docs/scenario.schema.json");
    if std::env::var_os("VOLLEY_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &out.stdout).unwrap();
    }
    let (generated, _) = common::text(&out);
    assert_eq!(
        generated,
        std::fs::read_to_string(&path).unwrap(),
        "docs/scenario.schema.json is stale: VOLLEY_WRITE_SCHEMA=1 cargo test --test integration schema::"
    );
}

fn scenarios(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

fn as_json(text: &str) -> serde_json::Value {
    toml::from_str::<serde_json::Value>(text).unwrap()
}

#[test]
fn shipped_scenarios_validate_and_mistakes_do_not() {
    let validator = jsonschema::validator_for(&checked_in()).unwrap();
    let files: Vec<PathBuf> = scenarios(&root().join("scenarios"))
        .into_iter()
        .chain(scenarios(&root().join("bench/scenarios")))
        .collect();
    assert!(files.len() >= 7, "{files:?}");
    for f in files {
        let doc = as_json(&std::fs::read_to_string(&f).unwrap());
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", f.display());
    }
    for (bad, why) in [
        ("[load]\nspawn_rat = 5\n", "an unknown key"),
        (
            "[[request]]\nname = \"a\"\nweight = \"heavy\"\n",
            "a string for a number",
        ),
        ("[http]\ncookies = \"yes\"\n", "a string for a bool"),
        (
            "[[request]]\nname = \"a\"\n[request.stream]\nmesages = 2\n",
            "an unknown stream key",
        ),
    ] {
        assert!(!validator.is_valid(&as_json(bad)), "{why} passed: {bad}");
    }
}
