//! Values for what a request must send: a media type's or a parameter's
//! own example when the document gives one, else one synthesized from its
//! schema (objects with their required properties, one item per list,
//! placeholders by type), `$ref`s followed with a depth bound and cycles
//! cut. Every guess is noted, for the comments of the generated file.

use indexmap::IndexMap;

use super::document::{Node, resolve};
use super::error::{ImportError, Ptr};

/// The most values one synthesized example may hold: a schema whose
/// required properties fan out through references could otherwise describe
/// an example of billions.
pub const MAX_SYNTH_VALUES: usize = 100_000;
/// The deepest a synthesized example goes (properties, items and
/// references each count one); deeper parts are cut, and noted.
pub const MAX_SYNTH_DEPTH: usize = 32;
/// The longest placeholder string written for a `minLength`.
const MAX_PLACEHOLDER_LEN: u64 = 1024;

/// A value and where it came from.
pub struct Example {
    pub value: Node,
    /// Where the value came from, for the generated file's comments
    /// ("the example", "synthesized from the schema", ...).
    pub origin: String,
    /// What was guessed on the way (placeholders, cut cycles).
    pub guesses: Vec<String>,
}

/// The example of a Media Type Object (`content: {type: {...}}`) or of a
/// Parameter Object: `example`, else the first usable of `examples`, else
/// one synthesized from `schema`. `None` when it has none of them.
pub fn example_of(root: &Node, object: &Node, at: &Ptr) -> Result<Option<Example>, ImportError> {
    if let Some(value) = object.get("example") {
        return Ok(Some(Example {
            value: value.clone(),
            origin: "its example".into(),
            guesses: Vec::new(),
        }));
    }
    if let Some(examples) = object.get("examples") {
        let here = at.join("examples");
        let Some(map) = examples.as_object() else {
            return Err(ImportError::at(
                &here,
                format!(
                    "examples must be a mapping of names to Example Objects, not {}",
                    examples.kind()
                ),
            ));
        };
        for (name, example) in map {
            let (example, _) = resolve(root, example, &here.join(name))?;
            // An Example Object holds `value` or `externalValue` (a URL,
            // which is not fetched): the first with a value is used.
            if let Some(value) = example.get("value") {
                return Ok(Some(Example {
                    value: value.clone(),
                    origin: format!("its example {name:?}"),
                    guesses: Vec::new(),
                }));
            }
        }
    }
    match object.get("schema") {
        Some(schema) => {
            let mut s = Synth::new(root);
            let value = s
                .value(schema, &at.join("schema"), 0)?
                .unwrap_or(Node::Null);
            let origin = if s.guesses.is_empty() {
                "its schema's example".into()
            } else {
                "synthesized from its schema".into()
            };
            Ok(Some(Example {
                value,
                origin,
                guesses: s.guesses,
            }))
        }
        None => Ok(None),
    }
}

/// Builds an example from a schema.
struct Synth<'d> {
    root: &'d Node,
    /// Values made so far, against [`MAX_SYNTH_VALUES`].
    values: usize,
    /// The references being expanded, outermost first: one met again is a
    /// cycle.
    stack: Vec<String>,
    guesses: Vec<String>,
}

impl<'d> Synth<'d> {
    fn new(root: &'d Node) -> Self {
        Synth {
            root,
            values: 0,
            stack: Vec::new(),
            guesses: Vec::new(),
        }
    }

    fn guess(&mut self, what: String) {
        if !self.guesses.contains(&what) {
            self.guesses.push(what);
        }
    }

    /// Counts `n` more values against the bound.
    fn spend(&mut self, n: usize, at: &Ptr) -> Result<(), ImportError> {
        self.values = self.values.saturating_add(n);
        if self.values > MAX_SYNTH_VALUES {
            return Err(ImportError::at(
                at,
                format!(
                    "the example this schema describes holds more than {MAX_SYNTH_VALUES} values: give the request body an example"
                ),
            ));
        }
        Ok(())
    }

    /// A document's own value, counted whole.
    fn given(&mut self, value: &Node, at: &Ptr) -> Result<Option<Node>, ImportError> {
        self.spend(count(value), at)?;
        Ok(Some(value.clone()))
    }

    /// The value `schema` (at `at`) describes; `None` where a cycle or the
    /// depth bound cut it (the caller writes null, or an empty list).
    fn value(
        &mut self,
        schema: &Node,
        at: &Ptr,
        depth: usize,
    ) -> Result<Option<Node>, ImportError> {
        self.spend(1, at)?;
        if depth > MAX_SYNTH_DEPTH {
            self.guess(format!("{at}: deeper than {MAX_SYNTH_DEPTH} levels, cut"));
            return Ok(None);
        }
        if let Some(reference) = schema.get("$ref").and_then(Node::as_str) {
            if self.stack.iter().any(|r| r == reference) {
                self.guess(format!("{reference} contains itself: the cycle is cut"));
                return Ok(None);
            }
            let (target, target_at) = resolve(self.root, schema, at)?;
            self.stack.push(reference.to_owned());
            let v = self.value(target, &target_at, depth.saturating_add(1));
            self.stack.pop();
            return v;
        }
        let Some(map) = schema.as_object() else {
            // `true` (anything) in OpenAPI 3.1, or not a schema at all.
            self.guess(format!("{at}: no schema, null"));
            return Ok(Some(Node::Null));
        };
        if let Some(v) = map.get("example") {
            return self.given(v, at);
        }
        if let Some(v) = map
            .get("examples")
            .and_then(Node::as_array)
            .and_then(<[_]>::first)
        {
            return self.given(v, at);
        }
        for key in ["default", "const"] {
            if let Some(v) = map.get(key) {
                return self.given(v, at);
            }
        }
        if let Some(v) = map
            .get("enum")
            .and_then(Node::as_array)
            .and_then(<[_]>::first)
        {
            return self.given(v, at);
        }
        if let Some(parts) = map.get("allOf").and_then(Node::as_array) {
            return self.all_of(map, parts, at, depth);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(first) = map.get(key).and_then(Node::as_array).and_then(<[_]>::first) {
                self.guess(format!("{at}: the first of {key}"));
                return self.value(first, &at.join(key).join(0), depth.saturating_add(1));
            }
        }
        self.by_type(map, at, depth)
    }

    /// `allOf`: the parts' objects merged (with the schema's own
    /// properties); a part that is not an object stands for the whole.
    fn all_of(
        &mut self,
        map: &IndexMap<String, Node>,
        parts: &[Node],
        at: &Ptr,
        depth: usize,
    ) -> Result<Option<Node>, ImportError> {
        let mut merged: Option<Node> = None;
        let own = (map.contains_key("properties") || map.contains_key("required"))
            .then(|| self.object(map, at, depth))
            .transpose()?;
        let parts_at = at.join("allOf");
        let mut values = Vec::with_capacity(parts.len().saturating_add(1));
        for (i, part) in parts.iter().enumerate() {
            values.push(self.value(part, &parts_at.join(i), depth.saturating_add(1))?);
        }
        values.push(own);
        for v in values.into_iter().flatten() {
            merged = Some(match (merged, v) {
                (Some(Node::Object(mut a)), Node::Object(b)) => {
                    a.extend(b);
                    Node::Object(a)
                }
                (None, v) | (Some(Node::Null), v) => v,
                (Some(a), _) => a,
            });
        }
        Ok(merged)
    }

    /// A value for the schema's `type` (the first that is not "null" when
    /// it is a list, as OpenAPI 3.1 allows); without one, the type its
    /// keywords imply.
    fn by_type(
        &mut self,
        map: &IndexMap<String, Node>,
        at: &Ptr,
        depth: usize,
    ) -> Result<Option<Node>, ImportError> {
        let ty = match map.get("type") {
            Some(Node::String(t)) => Some(t.as_str()),
            Some(Node::Array(ts)) => ts
                .iter()
                .filter_map(Node::as_str)
                .find(|t| *t != "null")
                .or_else(|| ts.iter().find_map(Node::as_str)),
            _ => None,
        };
        let ty = ty.unwrap_or(
            if map.contains_key("properties") || map.contains_key("required") {
                "object"
            } else if map.contains_key("items") {
                "array"
            } else {
                ""
            },
        );
        Ok(Some(match ty {
            "object" => self.object(map, at, depth)?,
            "array" => match map.get("items") {
                Some(items) => {
                    match self.value(items, &at.join("items"), depth.saturating_add(1))? {
                        Some(item) => Node::Array(vec![item]),
                        None => Node::Array(Vec::new()),
                    }
                }
                None => Node::Array(Vec::new()),
            },
            "string" => {
                self.guess(format!("{at}: a placeholder string"));
                Node::String(placeholder_string(map))
            }
            "integer" => {
                self.guess(format!("{at}: a placeholder integer"));
                Node::Number(placeholder_integer(map).into())
            }
            "number" => {
                self.guess(format!("{at}: a placeholder number"));
                serde_json::Number::from_f64(placeholder_number(map))
                    .map_or(Node::Null, Node::Number)
            }
            "boolean" => {
                self.guess(format!("{at}: a placeholder boolean"));
                Node::Bool(true)
            }
            "null" => Node::Null,
            _ => {
                // No type: anything is valid; an empty object is the
                // likeliest to be accepted as a body.
                self.guess(format!("{at}: no type, an empty object"));
                Node::Object(IndexMap::new())
            }
        }))
    }

    /// An object with its required properties (read-only ones left out:
    /// they are the server's to send).
    fn object(
        &mut self,
        map: &IndexMap<String, Node>,
        at: &Ptr,
        depth: usize,
    ) -> Result<Node, ImportError> {
        let mut out = IndexMap::new();
        let Some(required) = map.get("required").and_then(Node::as_array) else {
            return Ok(Node::Object(out));
        };
        let props = map.get("properties");
        for name in required.iter().filter_map(Node::as_str) {
            if out.contains_key(name) {
                continue;
            }
            let prop_at = at.join("properties").join(name);
            let value = match props.and_then(|p| p.get(name)) {
                Some(prop) => {
                    let (target, _) = resolve(self.root, prop, &prop_at)?;
                    if prop.get("readOnly").is_some_and(Node::is_true)
                        || target.get("readOnly").is_some_and(Node::is_true)
                    {
                        continue;
                    }
                    self.value(prop, &prop_at, depth.saturating_add(1))?
                }
                None => match map.get("additionalProperties") {
                    Some(extra @ Node::Object(_)) => {
                        let extra_at = at.join("additionalProperties");
                        self.value(extra, &extra_at, depth.saturating_add(1))?
                    }
                    _ => {
                        self.guess(format!(
                            "{at}: required property {name:?} has no schema, a placeholder string"
                        ));
                        Some(Node::String("x".into()))
                    }
                },
            };
            out.insert(name.to_owned(), value.unwrap_or(Node::Null));
        }
        Ok(Node::Object(out))
    }
}

/// How many values `node` holds (itself included).
fn count(node: &Node) -> usize {
    match node {
        Node::Array(items) => items.iter().map(count).fold(1, usize::saturating_add),
        Node::Object(map) => map.values().map(count).fold(1, usize::saturating_add),
        _ => 1,
    }
}

fn number(map: &IndexMap<String, Node>, key: &str) -> Option<f64> {
    match map.get(key) {
        Some(Node::Number(n)) => n.as_f64().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// 1, moved into `minimum`..`maximum` when they exclude it. Float
/// arithmetic on the document's bounds cannot trap; a result that is not
/// finite falls back to 1.
fn placeholder_number(map: &IndexMap<String, Node>) -> f64 {
    let mut v = 1.0_f64;
    if let Some(min) = number(map, "minimum") {
        if v < min {
            v = min;
        }
        if map.get("exclusiveMinimum").is_some_and(Node::is_true) && v <= min {
            v = min + 1.0;
        }
    }
    // OpenAPI 3.1: exclusiveMinimum is itself the bound.
    if let Some(min) = number(map, "exclusiveMinimum").filter(|m| v <= *m) {
        v = min + 1.0;
    }
    if let Some(max) = number(map, "maximum").filter(|m| v > *m) {
        v = max;
    }
    if let Some(max) = number(map, "exclusiveMaximum").filter(|m| v >= *m) {
        v = max - 1.0;
    }
    if v.is_finite() { v } else { 1.0 }
}

/// [`placeholder_number`], a whole number (1 when the bounds give none
/// that fits in 64 bits).
fn placeholder_integer(map: &IndexMap<String, Node>) -> i64 {
    let v = placeholder_number(map);
    let whole = if v.fract() == 0.0 {
        v
    } else if number(map, "maximum").is_some_and(|m| v >= m) {
        v.floor()
    } else {
        v.ceil()
    };
    // Beyond ±2^53 a float no longer holds every whole number; no
    // placeholder needs that range.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if whole.is_finite() && whole.abs() <= EXACT {
        whole as i64
    } else {
        1
    }
}

/// A string that fits the usual formats, else `"x"` (as long as
/// `minLength` asks, within [`MAX_PLACEHOLDER_LEN`], and no longer than
/// `maxLength`).
fn placeholder_string(map: &IndexMap<String, Node>) -> String {
    let by_format = match map.get("format").and_then(Node::as_str) {
        Some("date-time") => Some("2024-01-01T00:00:00Z"),
        Some("date") => Some("2024-01-01"),
        Some("time") => Some("00:00:00Z"),
        Some("uuid") => Some("00000000-0000-4000-8000-000000000000"),
        Some("email") => Some("user@example.com"),
        Some("ipv4") => Some("127.0.0.1"),
        Some("ipv6") => Some("::1"),
        Some("byte") => Some("eA=="),
        Some("uri" | "url") => Some("http://127.0.0.1/"),
        _ => None,
    };
    if let Some(s) = by_format {
        return s.to_owned();
    }
    let len = |key: &str| match map.get(key) {
        Some(Node::Number(n)) => n.as_u64(),
        _ => None,
    };
    let mut n = len("minLength").unwrap_or(1).clamp(1, MAX_PLACEHOLDER_LEN);
    if let Some(max) = len("maxLength") {
        n = n.min(max);
    }
    // n is at most MAX_PLACEHOLDER_LEN: the conversion cannot fail.
    "x".repeat(usize::try_from(n).unwrap_or(1))
}
