//! `POST /predict/stream`: many texts in one request, their predictions as
//! Server-Sent Events.
//!
//! The body is `{"texts": ["...", ...]}` (application/json, at most
//! [`MAX_STREAM_BODY_BYTES`] and [`MAX_STREAM_TEXTS`] texts). Every text is
//! checked before the stream starts: a bad one (empty, over
//! [`MAX_TEXT_BYTES`](crate::MAX_TEXT_BYTES)) is a 422 naming its index, like
//! every other bad body, so that a `200` always carries every answer. The
//! answer is `200`, `content-type: text/event-stream`, `cache-control:
//! no-cache`, then one event per text, in order, each written out as soon as
//! its text is classified:
//!
//! ```text
//! id: 0
//! data: {"category":3,"label":"sports"}
//!
//! ```
//!
//! (`data` is byte for byte what `/predict` answers for that text), and last
//! `data: [DONE]`, as language-model servers end their streams. No texts is
//! just `data: [DONE]`.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use hyper::body::Frame;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::{AppState, answer, error, error_json, parse_object, read_json_body};
use crate::SharedModel;

/// The largest `/predict/stream` body: 1 MiB, room for the most texts at
/// about 100 bytes each (one text may still be up to 64 KiB).
pub const MAX_STREAM_BODY_BYTES: usize = 1024 * 1024;

/// The most texts one `/predict/stream` request may carry.
pub const MAX_STREAM_TEXTS: usize = 10_000;

/// The event that ends every complete stream.
const DONE: &[u8] = b"data: [DONE]\n\n";

#[derive(Deserialize)]
struct StreamBody {
    #[serde(deserialize_with = "bounded_texts")]
    texts: Vec<String>,
}

/// Reads the texts array, refusing (422) the first text past
/// [`MAX_STREAM_TEXTS`] rather than growing with whatever a client sends.
fn bounded_texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Texts;
    impl<'de> Visitor<'de> for Texts {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "an array of at most {MAX_STREAM_TEXTS} strings")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            // Grown as texts arrive, not sized from the peer's hint.
            let mut texts = Vec::new();
            // Ends at the array's end or an error; the body's size bounds it.
            while let Some(text) = seq.next_element::<String>()? {
                if texts.len() >= MAX_STREAM_TEXTS {
                    return Err(de::Error::custom(format!(
                        "more than {MAX_STREAM_TEXTS} texts"
                    )));
                }
                texts.push(text);
            }
            Ok(texts)
        }
    }
    d.deserialize_seq(Texts)
}

pub(super) async fn predict_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if state.model.get().is_none() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model is still loading",
        );
    }
    let bytes = match read_json_body(&headers, body, MAX_STREAM_BODY_BYTES).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let req: StreamBody =
        match parse_object(&bytes, "body must be a JSON object with a \"texts\" array") {
            Ok(r) => r,
            Err((status, message)) => return error(status, message),
        };
    // Checked up front, so that a stream once started is complete.
    for (i, text) in req.texts.iter().enumerate() {
        if let Err(r) = state.model.check(text) {
            return error(super::refusal_status(r), format!("texts[{i}]: {r}"));
        }
    }
    let mut response = Response::new(Body::new(Events {
        model: state.model,
        texts: req.texts.into_iter(),
        next_id: 0,
        yielded: false,
        done: false,
    }));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The events of one stream, each computed when hyper polls for it: no task
/// or channel per request.
struct Events {
    model: SharedModel,
    texts: std::vec::IntoIter<String>,
    next_id: usize,
    /// Set once an event has been handed over. hyper queues every frame that
    /// is ready into one write; returning Pending once (and waking at once)
    /// makes it write out each event before the next is classified.
    yielded: bool,
    done: bool,
}

impl Events {
    fn event(&mut self, text: &str) -> Bytes {
        match answer(&self.model, text) {
            Ok(json) => {
                let mut out = format!("id: {}\ndata: ", self.next_id).into_bytes();
                out.extend_from_slice(&json);
                out.extend_from_slice(b"\n\n");
                // At most MAX_STREAM_TEXTS events: cannot overflow.
                self.next_id = self.next_id.saturating_add(1);
                Bytes::from(out)
            }
            // Every text was checked before the stream started, so this is
            // not reached; were it, the stream would end on an error event
            // and without [DONE].
            Err((_, message)) => {
                self.done = true;
                Bytes::from(format!("event: error\ndata: {}\n\n", error_json(&message)))
            }
        }
    }
}

impl hyper::body::Body for Events {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if this.yielded {
            this.yielded = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let chunk = match this.texts.next() {
            Some(text) => this.event(&text),
            None => {
                this.done = true;
                Bytes::from_static(DONE)
            }
        };
        this.yielded = true;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}
