//! Templates: text with `{{ ... }}` placeholders, compiled once when the
//! scenario loads, rendered per request into a reused buffer with no parsing.
//!
//! Placeholders:
//! * `{{ name }}`: the data source's default column; `{{ name.column }}` a CSV
//!   column. Within one request every placeholder of a source reads the same
//!   record.
//! * `{{ uuid() }}`: a random UUID v4.
//! * `{{ int(MIN, MAX) }}`: a random integer in MIN..=MAX.
//! * `{{ var }}`: a user variable, set by a flow step's capture.
//! * `| json` after any of them writes the value as a quoted JSON string.

use std::fmt::Write as _;

use rand::Rng;
use rand::rngs::SmallRng;

use super::data::DataSource;

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Data {
        source: usize,
        column: usize,
    },
    Uuid,
    Int {
        min: i64,
        max: i64,
    },
    /// A user variable (a capture's value).
    Var(usize),
}

/// How a value is written.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Escape {
    None,
    /// A quoted JSON string (`| json`).
    Json,
    /// JSON-escaped without quotes, for values inside a JSON string (used by
    /// `json = {...}` bodies).
    JsonInner,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Value { value: Value, escape: Escape },
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

/// A template that could not be compiled; `offset` is the byte offset in it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

/// The names a template may use: data sources and user variables.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub data: &'a [DataSource],
    pub vars: &'a [String],
    /// `vars` by name, when there are many to look up (else a scan).
    pub var_index: Option<&'a std::collections::HashMap<String, usize>>,
}

impl<'a> Scope<'a> {
    /// Data sources only (no flow has captured anything).
    pub fn data(data: &'a [DataSource]) -> Self {
        Scope {
            data,
            vars: &[],
            var_index: None,
        }
    }

    /// The index of variable `name`.
    pub fn var(&self, name: &str) -> Option<usize> {
        match self.var_index {
            Some(ix) => ix.get(name).copied(),
            None => self.vars.iter().position(|v| v == name),
        }
    }
}

/// What a render may draw from: the data sources, a random generator, the
/// records already picked for this request, the user's own records
/// (`per_user` sources) and its variables.
pub struct RenderCtx<'a> {
    pub data: &'a [DataSource],
    pub rng: &'a mut SmallRng,
    pub picked: &'a mut [Option<usize>],
    pub own: &'a [Option<usize>],
    pub vars: &'a [String],
}

impl RenderCtx<'_> {
    fn row(&mut self, source: usize) -> usize {
        if let Some(r) = self.picked[source] {
            return r;
        }
        if let Some(Some(r)) = self.own.get(source) {
            return *r;
        }
        let r = self.data[source].next_row(self.rng);
        self.picked[source] = Some(r);
        r
    }
}

impl Template {
    /// A template without placeholders.
    pub fn literal(s: &str) -> Self {
        Template {
            parts: vec![Part::Lit(s.to_owned())],
        }
    }

    /// Compiles `text`, resolving names against `scope`.
    pub fn compile(text: &str, scope: &Scope<'_>) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut base = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_owned()));
            }
            let inner_start = open + 2;
            let close = rest[inner_start..].find("}}").ok_or(TemplateError {
                offset: base + open,
                message: "unclosed {{ in template".into(),
            })?;
            let expr = &rest[inner_start..inner_start + close];
            parts.push(parse_expr(expr, scope).map_err(|message| TemplateError {
                offset: base + open,
                message,
            })?);
            let consumed = inner_start + close + 2;
            base += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// The text with each placeholder shown as `{{…}}`, for `volley check`.
    pub fn shape(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Lit(s) => s.as_str(),
                _ => "{{…}}",
            })
            .collect()
    }

    /// The text, if the template has no placeholders.
    pub fn as_static(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// The user variables this template reads.
    pub fn vars(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Value {
                value: Value::Var(v),
                ..
            } => Some(*v),
            _ => None,
        })
    }

    /// Appends the rendered text to `out`.
    pub fn render(&self, ctx: &mut RenderCtx<'_>, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Value { value, escape } => {
                    let start = out.len();
                    match value {
                        Value::Data { source, column } => {
                            let row = ctx.row(*source);
                            out.push_str(ctx.data[*source].value(row, *column));
                        }
                        Value::Uuid => {
                            let u = uuid::Builder::from_random_bytes(ctx.rng.random()).into_uuid();
                            let _ = write!(out, "{}", u.hyphenated());
                        }
                        Value::Int { min, max } => {
                            let _ = write!(out, "{}", ctx.rng.random_range(*min..=*max));
                        }
                        Value::Var(v) => {
                            out.push_str(ctx.vars.get(*v).map(String::as_str).unwrap_or(""));
                        }
                    }
                    if *escape != Escape::None && needs_json_escape(&out[start..]) {
                        let raw = out.split_off(start);
                        // Serializing a str to JSON cannot fail.
                        let quoted = serde_json::to_string(&raw).unwrap_or_default();
                        out.push_str(if *escape == Escape::Json {
                            &quoted
                        } else {
                            &quoted[1..quoted.len() - 1]
                        });
                    } else if *escape == Escape::Json {
                        out.insert(start, '"');
                        out.push('"');
                    }
                }
            }
        }
    }
}

/// Whether `s` holds a character that JSON strings must escape.
fn needs_json_escape(s: &str) -> bool {
    s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)
}

fn parse_expr(expr: &str, scope: &Scope<'_>) -> Result<Part, String> {
    let data = scope.data;
    let (expr, escape) = match expr.split_once('|') {
        Some((e, filter)) => match filter.trim() {
            "json" => (e.trim(), Escape::Json),
            "jsoninner" => (e.trim(), Escape::JsonInner),
            other => return Err(format!("unknown filter {other:?} (known: json)")),
        },
        None => (expr.trim(), Escape::None),
    };
    let value = if expr == "uuid()" {
        Value::Uuid
    } else if let Some(args) = expr.strip_prefix("int(").and_then(|a| a.strip_suffix(')')) {
        let nums: Vec<i64> = args
            .split(',')
            .map(|a| a.trim().parse::<i64>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("int(MIN, MAX) takes two integers, found int({args})"))?;
        match nums.as_slice() {
            [min, max] if min <= max => Value::Int {
                min: *min,
                max: *max,
            },
            _ => return Err(format!("int(MIN, MAX) needs MIN <= MAX, found int({args})")),
        }
    } else if let Some(v) = scope.var(expr) {
        Value::Var(v)
    } else {
        let (name, column) = match expr.split_once('.') {
            Some((n, c)) => (n, Some(c)),
            None => (expr, None),
        };
        let source = data.iter().position(|d| d.name == name).ok_or_else(|| {
            let known: Vec<&str> = data.iter().map(|d| d.name.as_str()).collect();
            if expr.is_empty() {
                "empty placeholder {{ }}".to_string()
            } else {
                format!(
                    "unknown value {expr:?}: not a data source ([data.NAME]: {}), a captured variable ({}), nor uuid() or int(MIN, MAX)",
                    if known.is_empty() { "none defined".to_string() } else { known.join(", ") },
                    if scope.vars.is_empty() { "none defined".to_string() } else { scope.vars.join(", ") }
                )
            }
        })?;
        let column = match column {
            None => data[source].default_column,
            Some(c) => data[source].column(c).ok_or_else(|| {
                format!(
                    "data source {name:?} has no column {c:?} (columns: {})",
                    data[source].columns.join(", ")
                )
            })?,
        };
        Value::Data { source, column }
    };
    Ok(Part::Value { value, escape })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::data::Pick;
    use rand::SeedableRng;

    fn data() -> Vec<DataSource> {
        vec![
            DataSource::from_lines("texts", "t.txt", "say \"hi\"\nsecond\n", Pick::Sequential)
                .unwrap(),
            DataSource::from_csv(
                "users",
                "u.csv",
                "name,pass\nann,p1\nbob,p2\n",
                None,
                Pick::Sequential,
            )
            .unwrap(),
        ]
    }

    fn render(t: &Template, data: &[DataSource], rng: &mut SmallRng) -> String {
        render_with(t, data, rng, &[], &[])
    }

    fn render_with(
        t: &Template,
        data: &[DataSource],
        rng: &mut SmallRng,
        own: &[Option<usize>],
        vars: &[String],
    ) -> String {
        let mut picked = vec![None; data.len()];
        let mut out = String::new();
        t.render(
            &mut RenderCtx {
                data,
                rng,
                picked: &mut picked,
                own,
                vars,
            },
            &mut out,
        );
        out
    }

    #[test]
    fn variables_and_own_records() {
        let mut d = data();
        d.push(
            DataSource::from_csv("acct", "a.csv", "user\nann\nbob\n", None, Pick::PerUser).unwrap(),
        );
        let vars = ["token".to_string(), "id".to_string()];
        let scope = Scope {
            data: &d,
            vars: &vars,
            var_index: None,
        };
        let t = Template::compile("/items/{{ id }}?u={{ acct }}&t={{token|json}}", &scope).unwrap();
        assert_eq!(t.vars().collect::<Vec<_>>(), [1, 0]);
        let mut rng = SmallRng::seed_from_u64(1);
        let values = ["a\"b".to_string(), "17".to_string()];
        let own = [None, None, Some(1)];
        // A per-user source always reads the user's own record.
        for _ in 0..3 {
            assert_eq!(
                render_with(&t, &d, &mut rng, &own, &values),
                r#"/items/17?u=bob&t="a\"b""#
            );
        }
        // A variable not captured yet renders empty.
        assert_eq!(
            render_with(&t, &d, &mut rng, &own, &[]),
            "/items/?u=bob&t=\"\""
        );
        let e = Template::compile("{{ tok }}", &scope).unwrap_err();
        assert!(
            e.message.contains("captured variable (token, id)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn renders_data_generators_and_json() {
        let d = data();
        let mut rng = SmallRng::seed_from_u64(7);
        let t = Template::compile(
            r#"{"text": {{ texts | json }}, "n": {{int(3,3)}}}"#,
            &Scope::data(&d),
        )
        .unwrap();
        assert_eq!(
            render(&t, &d, &mut rng),
            r#"{"text": "say \"hi\"", "n": 3}"#
        );
        assert_eq!(render(&t, &d, &mut rng), r#"{"text": "second", "n": 3}"#);
        let t = Template::compile("/u/{{users}}/{{ users.pass }}", &Scope::data(&d)).unwrap();
        // One record per request for every placeholder of a source.
        assert_eq!(render(&t, &d, &mut rng), "/u/ann/p1");
        assert_eq!(render(&t, &d, &mut rng), "/u/bob/p2");
        let t = Template::compile("{{ uuid() }}", &Scope::data(&d)).unwrap();
        let u = render(&t, &d, &mut rng);
        assert_eq!(u.len(), 36);
        assert!(uuid::Uuid::parse_str(&u).is_ok());
        assert_eq!(
            Template::compile("plain", &Scope::data(&d))
                .unwrap()
                .as_static(),
            Some("plain")
        );
        assert_eq!(t.as_static(), None);
    }

    #[test]
    fn errors_say_what_and_where() {
        let d = data();
        let e = Template::compile("ab {{ nope }}", &Scope::data(&d)).unwrap_err();
        assert_eq!(e.offset, 3);
        assert!(
            e.message.contains("unknown value \"nope\""),
            "{}",
            e.message
        );
        assert!(e.message.contains("texts, users"), "{}", e.message);
        let e = Template::compile("x {{ texts", &Scope::data(&d)).unwrap_err();
        assert_eq!(e.message, "unclosed {{ in template");
        let e = Template::compile("{{ users.age }}", &Scope::data(&d)).unwrap_err();
        assert!(e.message.contains("no column \"age\""), "{}", e.message);
        let e = Template::compile("{{ int(5, 1) }}", &Scope::data(&d)).unwrap_err();
        assert!(e.message.contains("MIN <= MAX"), "{}", e.message);
        let e = Template::compile("{{ texts | upper }}", &Scope::data(&d)).unwrap_err();
        assert!(e.message.contains("unknown filter"), "{}", e.message);
    }
}
