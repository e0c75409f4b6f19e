//! The document as read: JSON or YAML text turned into a tree of [`Node`]s
//! whose mappings keep their written order, within bounds that a hostile
//! input cannot get past (size, nesting, values after YAML aliases are
//! expanded); and local `$ref`s followed to what they point at.

use std::cell::Cell;
use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::error::{ImportError, Ptr};

/// The largest document read: the biggest public API descriptions are a
/// few tens of MiB.
pub const MAX_BYTES: usize = 64 << 20;
/// The deepest nesting of lists and mappings (below serde_json's and
/// serde_norway's own 128, so that this message is the one shown).
pub const MAX_DEPTH: usize = 100;
/// The most values the tree may hold: YAML aliases can make a small text
/// expand to billions (a "billion laughs"), which this bounds.
pub const MAX_VALUES: usize = 10_000_000;
/// The most bytes of strings and keys the tree may hold, aliases expanded.
pub const MAX_STRING_BYTES: usize = 2 * MAX_BYTES;
/// The most `$ref`s followed from one place (a chain longer than this is
/// refused, as a cycle is).
const MAX_REF_HOPS: usize = 32;

/// A JSON or YAML value, mappings in their written order.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Node>),
    Object(IndexMap<String, Node>),
}

impl Node {
    /// The value of `key`, when this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Object(m) => m.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&IndexMap<String, Node>> {
        match self {
            Node::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Node]> {
        match self {
            Node::Array(a) => Some(a),
            _ => None,
        }
    }

    /// `true` only for a boolean true (`deprecated: "yes"` is not).
    pub fn is_true(&self) -> bool {
        matches!(self, Node::Bool(true))
    }

    /// What kind of value this is, for messages ("expected a mapping, found
    /// a list").
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Number(_) => "a number",
            Node::String(_) => "a string",
            Node::Array(_) => "a list",
            Node::Object(_) => "a mapping",
        }
    }

    /// The compact JSON text of this value.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_json(self, &mut out);
        out
    }
}

/// Writes `node` as compact JSON. Written by hand rather than through
/// serde so that nothing here can fail: every node is valid JSON.
fn write_json(node: &Node, out: &mut String) {
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Number(n) => out.push_str(&n.to_string()),
        Node::String(s) => write_json_string(s, out),
        Node::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Node::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_json(v, out);
            }
            out.push('}');
        }
    }
}

/// A JSON string. A `{` that follows a `{` is written `\u007b`: the same
/// JSON, but never a `{{` that volley would read as a template placeholder
/// (templates have no escape for it; JSON does). Outside strings compact
/// JSON never holds `{{`.
fn write_json_string(s: &str, out: &mut String) {
    use std::fmt::Write as _;
    out.push('"');
    let mut after_brace = false;
    for c in s.chars() {
        let brace = c == '{' && !after_brace;
        match c {
            '{' if after_brace => out.push_str("\\u007b"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
        after_brace = brace;
    }
    out.push('"');
}

/// Reads `text` as JSON (when it starts with `{` or `[`) or YAML.
pub fn parse(text: &str) -> Result<Node, ImportError> {
    parse_within(text, MAX_VALUES, MAX_STRING_BYTES)
}

/// [`parse`], with the tree bounded to `max_values` values and
/// `max_string_bytes` bytes of strings (tests use small bounds).
pub fn parse_within(
    text: &str,
    max_values: usize,
    max_string_bytes: usize,
) -> Result<Node, ImportError> {
    if text.len() > MAX_BYTES {
        return Err(ImportError::TooLarge {
            size: text.len(),
            max: MAX_BYTES,
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let budget = || Budget {
        values: Cell::new(0),
        string_bytes: Cell::new(0),
        max_values,
        max_string_bytes,
    };
    if !text.trim_start().starts_with(['{', '[']) {
        return from_yaml(text, &budget());
    }
    match from_json(text, &budget()) {
        Ok(node) => Ok(node),
        // YAML's flow style starts so too (`{openapi: 3.0.0, ...}`); when
        // it is not that either, JSON's message is the one that helps.
        Err(json) => from_yaml(text, &budget()).map_err(|_| json),
    }
}

fn from_json(text: &str, budget: &Budget) -> Result<Node, ImportError> {
    let syntax = |e: serde_json::Error| ImportError::Syntax {
        format: "JSON",
        message: e.to_string(),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let node = Seed { budget, depth: 0 }
        .deserialize(&mut de)
        .map_err(syntax)?;
    de.end().map_err(syntax)?;
    Ok(node)
}

fn from_yaml(text: &str, budget: &Budget) -> Result<Node, ImportError> {
    Seed { budget, depth: 0 }
        .deserialize(serde_norway::Deserializer::from_str(text))
        .map_err(|e| {
            let mut message = e.to_string();
            // serde_norway's own bound on alias jumps says only this.
            if message.contains("repetition limit exceeded") {
                message.push_str(" (YAML aliases that expand too far)");
            }
            ImportError::Syntax {
                format: "YAML",
                message,
            }
        })
}

/// What the tree built so far holds, shared by every level of one parse,
/// and its bounds.
struct Budget {
    values: Cell<usize>,
    string_bytes: Cell<usize>,
    max_values: usize,
    max_string_bytes: usize,
}

impl Budget {
    fn value<E: de::Error>(&self) -> Result<(), E> {
        let n = self.values.get().saturating_add(1);
        if n > self.max_values {
            return Err(E::custom(format_args!(
                "the document holds more than {} values (YAML aliases expanded)",
                self.max_values
            )));
        }
        self.values.set(n);
        Ok(())
    }

    fn string<E: de::Error>(&self, len: usize) -> Result<(), E> {
        self.value()?;
        let n = self.string_bytes.get().saturating_add(len);
        if n > self.max_string_bytes {
            return Err(E::custom(format_args!(
                "the document holds more than {} bytes of strings (YAML aliases expanded)",
                self.max_string_bytes
            )));
        }
        self.string_bytes.set(n);
        Ok(())
    }
}

/// Builds one [`Node`] (and those inside it), counting against the budget.
#[derive(Clone, Copy)]
struct Seed<'a> {
    budget: &'a Budget,
    depth: usize,
}

impl Seed<'_> {
    fn deeper<E: de::Error>(self) -> Result<Self, E> {
        let depth = self.depth.saturating_add(1);
        if depth > MAX_DEPTH {
            return Err(E::custom(format_args!(
                "nested deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(Seed { depth, ..self })
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON or YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        self.budget.value()?;
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        self.budget.value()?;
        Ok(Node::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        self.budget.value()?;
        Ok(Node::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        self.budget.value()?;
        // YAML's .inf and .nan have no JSON form.
        Ok(serde_json::Number::from_f64(v).map_or(Node::Null, Node::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        self.budget.string(v.len())?;
        Ok(Node::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        self.budget.string(v.len())?;
        Ok(Node::String(v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        self.budget.value()?;
        Ok(Node::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        self.budget.value()?;
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }

    /// serde_norway gives a custom tag (`!Name value`) as an enum.
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<Node, A::Error> {
        Err(de::Error::custom(
            "a YAML tag (!name): OpenAPI documents hold plain values",
        ))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        self.budget.value()?;
        let inner = self.deeper()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        self.budget.value()?;
        let inner = self.deeper()?;
        let mut out = IndexMap::new();
        while let Some(key) = map.next_key_seed(Key(self.budget))? {
            let value = map.next_value_seed(inner)?;
            // A repeated key keeps its last value, as JSON parsers do.
            out.insert(key, value);
        }
        Ok(Node::Object(out))
    }
}

/// A mapping's key, as written (YAML's `200:` is the key "200").
struct Key<'a>(&'a Budget);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key that is a string or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.0.string(v.len())?;
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        self.0.string(v.len())?;
        Ok(v)
    }
}

/// A local `$ref` (`#/components/schemas/Pet`): the pointer inside the
/// document it names.
fn ref_target(reference: &str, at: &Ptr) -> Result<Vec<String>, ImportError> {
    let Some(fragment) = reference.strip_prefix('#') else {
        return Err(ImportError::at(
            at,
            format!(
                "$ref {reference:?} points outside this document: only local references (#/...) are followed; bundle the document into one first"
            ),
        ));
    };
    // A fragment is percent-encoded (RFC 3986), then a JSON Pointer.
    let decoded = percent_encoding::percent_decode_str(fragment)
        .decode_utf8()
        .map_err(|_| {
            ImportError::at(
                at,
                format!("$ref {reference:?}: its percent-escapes are not UTF-8"),
            )
        })?;
    if decoded.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = decoded.strip_prefix('/') else {
        return Err(ImportError::at(
            at,
            format!("$ref {reference:?} is not a JSON Pointer (#/...)"),
        ));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// The node at `tokens` from `root`, if there is one.
fn walk<'d>(root: &'d Node, tokens: &[String]) -> Option<&'d Node> {
    let mut node = root;
    for t in tokens {
        node = match node {
            Node::Object(m) => m.get(t.as_str())?,
            Node::Array(a) => a.get(t.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// `node` itself, or what its `$ref` points at (followed through chains of
/// references); with the pointer of where the result lies. `at` is where
/// `node` lies.
pub fn resolve<'d>(
    root: &'d Node,
    node: &'d Node,
    at: &Ptr,
) -> Result<(&'d Node, Ptr), ImportError> {
    let mut node = node;
    let mut at = at.clone();
    let mut seen: Vec<String> = Vec::new();
    while let Some(reference) = node.get("$ref") {
        let here = at.join("$ref");
        let Some(reference) = reference.as_str() else {
            return Err(ImportError::at(
                &here,
                format!("$ref must be a string, not {}", reference.kind()),
            ));
        };
        if seen.iter().any(|r| r == reference) {
            return Err(ImportError::at(
                &here,
                format!(
                    "$ref {reference:?} leads back to itself ({} → {reference})",
                    seen.join(" → ")
                ),
            ));
        }
        if seen.len() >= MAX_REF_HOPS {
            return Err(ImportError::at(
                &here,
                format!("$ref {reference:?}: more than {MAX_REF_HOPS} references in a chain"),
            ));
        }
        let tokens = ref_target(reference, &here)?;
        let Some(target) = walk(root, &tokens) else {
            return Err(ImportError::at(
                &here,
                format!("$ref {reference:?} points nowhere: the document has nothing there"),
            ));
        };
        seen.push(reference.to_owned());
        at = tokens.iter().fold(Ptr::root(), |p, t| p.join(t));
        node = target;
    }
    Ok((node, at))
}
