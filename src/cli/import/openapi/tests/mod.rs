//! The converter on small documents: what it maps (`mapping.rs`: names,
//! parameters, references, cycles, examples, statuses) and what it refuses
//! (`hostile.rs`: bad and hostile documents, each error with its JSON
//! Pointer). Every scenario it writes is compiled as `volley check`
//! compiles one. The helpers both use are here.

mod hostile;
mod mapping;

use std::path::Path;

use super::{ImportError, Options, convert};

fn options() -> Options<'static> {
    Options {
        source: "t.yaml",
        base_url: None,
    }
}

/// The scenario written for `doc`, checked to compile.
fn scenario(doc: &str) -> String {
    let text = convert(doc, &options())
        .unwrap_or_else(|e| panic!("{e}\n{doc}"))
        .toml;
    compiles(&text);
    text
}

fn compiles(text: &str) {
    use crate::scenario::compile::{MemorySources, Options};
    crate::scenario::compile::compile(
        Path::new("t.toml"),
        text,
        &MemorySources(Default::default()),
        &Options::default(),
    )
    .unwrap_or_else(|e| panic!("{e}\n{text}"));
}

/// The `[[request]]` tables of the scenario written for `doc`.
fn requests(doc: &str) -> Vec<toml::Table> {
    let table: toml::Table = toml::from_str(&scenario(doc)).unwrap();
    table["request"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_table().unwrap().clone())
        .collect()
}

fn one(doc: &str) -> toml::Table {
    let mut r = requests(doc);
    assert_eq!(r.len(), 1, "{r:?}");
    r.remove(0)
}

fn err(doc: &str) -> ImportError {
    match convert(doc, &options()) {
        Ok(i) => panic!("converted:\n{}", i.toml),
        Err(e) => e,
    }
}

/// The error's pointer, and its message contains `words`.
fn err_at(doc: &str, pointer: &str, words: &str) {
    let e = err(doc);
    assert_eq!(e.pointer(), Some(pointer), "{e}");
    assert!(e.to_string().contains(words), "{e}");
    assert!(e.to_string().starts_with(pointer), "{e}");
}

/// A 3.0 document with `paths` (YAML, indented under `paths:`).
fn doc(paths: &str) -> String {
    doc_with(paths, "")
}

fn doc_with(paths: &str, components: &str) -> String {
    format!(
        "openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\nservers: [{{url: 'http://127.0.0.1:8080/api'}}]\npaths:\n{paths}\ncomponents:\n{components}\n"
    )
}

fn s(r: &toml::Table, key: &str) -> String {
    r[key].as_str().unwrap().to_owned()
}

fn statuses(r: &toml::Table) -> Option<Vec<i64>> {
    r.get("check").map(|c| {
        c["status"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_integer().unwrap())
            .collect()
    })
}

/// A document that uses most of what the importer reads.
const RICH: &str = r##"{
  "openapi": "3.0.3",
  "info": {"title": "rich", "version": "2"},
  "servers": [{"url": "http://127.0.0.1:{port}/v1", "variables": {"port": {"default": "8080"}}}],
  "paths": {
    "/pets/{petId}": {
      "parameters": [{"$ref": "#/components/parameters/PetId"}],
      "get": {
        "operationId": "showPet",
        "parameters": [
          {"name": "fields", "in": "query", "required": true, "schema": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}},
          {"name": "X-Trace", "in": "header", "required": true, "schema": {"type": "string", "format": "uuid"}},
          {"name": "sid", "in": "cookie", "required": true, "example": "s1"}
        ],
        "responses": {"200": {"$ref": "#/components/responses/Pet"}, "3XX": {"description": "moved"}, "default": {"description": "error"}}
      },
      "put": {
        "deprecated": true,
        "requestBody": {"$ref": "#/components/requestBodies/Pet"},
        "responses": {"204": {"description": "done"}}
      },
      "post": {
        "requestBody": {"content": {"text/plain": {"examples": {"one": {"value": "hello"}}}}},
        "responses": {"2XX": {"description": "ok"}}
      }
    }
  },
  "components": {
    "parameters": {"PetId": {"name": "petId", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 5}}},
    "schemas": {
      "Pet": {"type": "object", "required": ["name", "tags", "owner"], "properties": {
        "name": {"type": "string", "minLength": 2},
        "tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}},
        "owner": {"allOf": [{"$ref": "#/components/schemas/Person"}, {"type": "object", "required": ["since"], "properties": {"since": {"type": "string", "format": "date"}}}]}
      }},
      "Tag": {"oneOf": [{"type": "string", "example": "cute"}, {"type": "integer"}]},
      "Person": {"type": "object", "required": ["name", "friend"], "properties": {"name": {"type": "string"}, "friend": {"$ref": "#/components/schemas/Person"}}}
    },
    "requestBodies": {"Pet": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}},
    "responses": {"Pet": {"description": "a pet"}}
  }
}"##;
