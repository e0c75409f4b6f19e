//! A gRPC call's messages at run time: each request message compiled once
//! from the scenario's JSON into a base message (prost-reflect, fitted to
//! its type by [`crate::scenario::grpc_message`], the same code that checked
//! it when the scenario compiled), then per request only its templated
//! fields rendered and set before it is encoded; answers decoded to JSON
//! only when a check reads them.

use std::str::FromStr;

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};

use crate::scenario::grpc_message::{MessageError, base_message, field_along};
use crate::scenario::template::RenderCtx;
use crate::scenario::{MessageSpec, PathSeg, Template};
use crate::stats::{Failure, FailureKind};

/// Why a rendered template is no value of its field (a request's failure's
/// detail).
#[derive(Debug, Clone, thiserror::Error)]
enum FieldValueError {
    /// The text, and the field's type as prost-reflect names it.
    #[error("{text:?} is not a valid {kind:?}")]
    Invalid { text: String, kind: Kind },
    #[error("a template cannot fill a whole message")]
    WholeMessage,
}

/// Converts a rendered template into a field value.
fn field_value(kind: &Kind, text: &str) -> Result<Value, FieldValueError> {
    let bad = || FieldValueError::Invalid {
        text: text.to_owned(),
        kind: kind.clone(),
    };
    Ok(match kind {
        Kind::String => Value::String(text.to_owned()),
        Kind::Bytes => Value::Bytes(Bytes::copy_from_slice(text.as_bytes())),
        Kind::Bool => Value::Bool(bool::from_str(text.trim()).map_err(|_| bad())?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(text.trim().parse().map_err(|_| bad())?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64(text.trim().parse().map_err(|_| bad())?)
        }
        Kind::Uint32 | Kind::Fixed32 => Value::U32(text.trim().parse().map_err(|_| bad())?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(text.trim().parse().map_err(|_| bad())?),
        Kind::Float => Value::F32(text.trim().parse().map_err(|_| bad())?),
        Kind::Double => Value::F64(text.trim().parse().map_err(|_| bad())?),
        Kind::Enum(e) => {
            let t = text.trim();
            let n = e
                .get_value_by_name(t)
                .map(|v| v.number())
                .or_else(|| t.parse().ok())
                .ok_or_else(bad)?;
            Value::EnumNumber(n)
        }
        Kind::Message(_) => return Err(FieldValueError::WholeMessage),
    })
}

/// A templated field of a message: where its value goes.
struct Slot {
    /// Message fields to walk down, then the target field.
    parents: Vec<FieldDescriptor>,
    field: FieldDescriptor,
    /// For a repeated target field, the element index.
    index: Option<usize>,
    template: Template,
}

/// One request message, compiled.
pub(super) struct Part {
    base: DynamicMessage,
    /// Encoded base, when nothing is templated.
    fixed: Option<Bytes>,
    slots: Vec<Slot>,
}

impl Part {
    pub(super) fn new(input: &MessageDescriptor, m: &MessageSpec) -> Result<Self, MessageError> {
        let base = base_message(input, &m.json, &m.templates)?;
        let mut slots = Vec::new();
        for (path, template) in &m.templates {
            let (parents, field) = field_along(input, path)?;
            let index = match path.last() {
                Some(PathSeg::Index(i)) => Some(*i),
                _ => None,
            };
            slots.push(Slot {
                parents,
                field,
                index,
                template: template.clone(),
            });
        }
        let fixed = slots.is_empty().then(|| Bytes::from(base.encode_to_vec()));
        Ok(Part { base, fixed, slots })
    }

    /// This message's bytes, its templated fields rendered for this
    /// request (the base message encoded once when nothing is templated).
    pub(super) fn encode(
        &self,
        ctx: &mut RenderCtx<'_>,
        scratch: &mut String,
    ) -> Result<Bytes, Failure> {
        if let Some(b) = &self.fixed {
            return Ok(b.clone());
        }
        let mut msg = self.base.clone();
        for slot in &self.slots {
            scratch.clear();
            slot.template.render(ctx, scratch);
            let value = field_value(&slot.field.kind(), scratch).map_err(|e| {
                Failure::new(FailureKind::Request, "cannot build the message")
                    .with_detail(e.to_string())
            })?;
            let mut cur = &mut msg;
            for parent in &slot.parents {
                let v = cur.get_field_mut(parent);
                cur = match v {
                    Value::Message(m) => m,
                    _ => {
                        return Err(Failure::new(
                            FailureKind::Request,
                            "cannot build the message",
                        ));
                    }
                };
            }
            match slot.index {
                None => cur.set_field(&slot.field, value),
                Some(i) => {
                    if let Value::List(items) = cur.get_field_mut(&slot.field)
                        && i < items.len()
                    {
                        items[i] = value;
                    }
                }
            }
        }
        Ok(Bytes::from(msg.encode_to_vec()))
    }
}

/// An answer's bytes as JSON of type `output`, for checks.
pub(super) fn decode_json(
    output: &MessageDescriptor,
    bytes: &[u8],
) -> Result<serde_json::Value, Failure> {
    let msg = DynamicMessage::decode(output.clone(), bytes).map_err(|e| {
        Failure::new(
            FailureKind::Decode,
            format!("answer does not decode as {}", output.full_name()),
        )
        .with_detail(e.to_string())
    })?;
    // Fields at their default value are written too, so that checks on
    // them (a category of 0) find them.
    let options = prost_reflect::SerializeOptions::new().skip_default_fields(false);
    msg.serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| {
            Failure::new(FailureKind::Decode, "answer does not convert to JSON")
                .with_detail(e.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request's failure's detail, word for word.
    #[test]
    fn a_field_that_does_not_read_says_its_type() {
        let say = |kind: Kind, text: &str| match field_value(&kind, text) {
            Ok(v) => panic!("{v:?}"),
            Err(e) => e.to_string(),
        };
        assert_eq!(say(Kind::Int32, "x"), "\"x\" is not a valid int32");
        assert_eq!(say(Kind::Bool, "yes"), "\"yes\" is not a valid bool");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
        let fds = protox::compile(["predict/v1/predict.proto"], [root]).unwrap();
        let pool = prost_reflect::DescriptorPool::from_file_descriptor_set(fds).unwrap();
        let message = pool
            .get_message_by_name("predict.v1.PredictRequest")
            .unwrap();
        assert_eq!(
            say(Kind::Message(message), "{}"),
            "a template cannot fill a whole message"
        );
    }
}
