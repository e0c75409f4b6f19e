//! A gRPC request message as the scenario writes it (JSON, some values
//! templated) fitted to its protobuf type with prost-reflect: the compiler
//! checks it against the .proto files (or the server's reflection), and the
//! gRPC client builds its base message the same way at the run's start, so
//! both agree on what fits. Also binary metadata values (`-bin` keys,
//! base64), which the compiler checks and the client decodes.

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};

use super::{PathSeg, Template};

/// Why a message does not fit its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("templates inside lists must be inside a repeated field")]
    ListWithoutField,
    #[error("{message} has no field {field:?}")]
    NoField { message: String, field: String },
    #[error("templates inside map field {0:?} are not supported")]
    InMap(String),
    #[error("{0:?} is a repeated field: give a list")]
    NotAList(String),
    #[error("{0:?} is not a message field")]
    NotAMessage(String),
    #[error("empty path")]
    EmptyPath,
    #[error("message does not fit {message}: {why}")]
    DoesNotFit { message: String, why: String },
}

/// The field of `desc` along `path`, for a templated value: the message
/// fields walked down to reach it, and the field itself.
pub fn field_along(
    desc: &MessageDescriptor,
    path: &[PathSeg],
) -> Result<(Vec<FieldDescriptor>, FieldDescriptor), MessageError> {
    let mut msg = desc.clone();
    let mut fields = Vec::new();
    let mut iter = path.iter().peekable();
    while let Some(seg) = iter.next() {
        let PathSeg::Key(key) = seg else {
            return Err(MessageError::ListWithoutField);
        };
        let field = msg
            .get_field_by_json_name(key)
            .or_else(|| msg.get_field_by_name(key))
            .ok_or_else(|| MessageError::NoField {
                message: msg.full_name().to_owned(),
                field: key.clone(),
            })?;
        if field.is_map() {
            return Err(MessageError::InMap(key.clone()));
        }
        if field.is_list() {
            if let Some(PathSeg::Index(_)) = iter.peek() {
                iter.next();
            } else {
                return Err(MessageError::NotAList(key.clone()));
            }
        }
        if iter.peek().is_none() {
            return Ok((fields, field));
        }
        match field.kind() {
            Kind::Message(m) => {
                fields.push(field.clone());
                msg = m;
            }
            _ => return Err(MessageError::NotAMessage(key.clone())),
        }
    }
    Err(MessageError::EmptyPath)
}

/// A placeholder value for type checking at compile time.
fn blank(kind: &Kind) -> serde_json::Value {
    match kind {
        Kind::String | Kind::Bytes => serde_json::Value::String(String::new()),
        Kind::Bool => serde_json::Value::Bool(false),
        Kind::Enum(e) => serde_json::Value::from(e.default_value().number()),
        Kind::Message(_) => serde_json::json!({}),
        _ => serde_json::Value::from(0),
    }
}

fn set_path(v: &mut serde_json::Value, path: &[PathSeg], new: serde_json::Value) {
    let mut cur = v;
    for seg in path {
        cur = match seg {
            PathSeg::Key(k) => &mut cur[k.as_str()],
            PathSeg::Index(i) => &mut cur[*i],
        };
    }
    *cur = new;
}

/// Builds the base message: the JSON with every templated value blanked.
pub fn base_message(
    desc: &MessageDescriptor,
    json: &serde_json::Value,
    templates: &[(Vec<PathSeg>, Template)],
) -> Result<DynamicMessage, MessageError> {
    let mut blanked = json.clone();
    for (path, _) in templates {
        let (_, field) = field_along(desc, path)?;
        set_path(&mut blanked, path, blank(&field.kind()));
    }
    DynamicMessage::deserialize(desc.clone(), blanked).map_err(|e| MessageError::DoesNotFit {
        message: desc.full_name().to_owned(),
        why: e.to_string(),
    })
}

/// Checks a scenario's message against its type (when it compiles, and so
/// in `volley check`).
pub fn check_message(
    desc: &MessageDescriptor,
    json: &serde_json::Value,
    templates: &[(Vec<PathSeg>, Template)],
) -> Result<(), MessageError> {
    base_message(desc, json, templates).map(|_| ())
}

/// The bytes of a binary metadata value written as base64 (padded or not,
/// standard or URL-safe alphabet).
pub fn binary_value(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let t = text.trim().trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(t)
        .or_else(|_| URL_SAFE_NO_PAD.decode(t))
}
