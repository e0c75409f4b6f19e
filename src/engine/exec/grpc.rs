//! A unary gRPC call: one message out, one answer back, checked and
//! captured from as protobuf's JSON mapping, its bytes counted as they
//! cross the wire.

use super::{Carried, Failed, Requests, Sent, UserState};
use crate::client::answer::Headers;
use crate::client::check;
use crate::client::grpc::{self, GrpcCall, RawCodec};
use crate::engine::capture;
use crate::stats::{Failure, FailureKind};

impl Requests {
    pub(super) async fn send_grpc(
        &self,
        idx: usize,
        target: usize,
        call: &GrpcCall,
        user: &mut UserState,
    ) -> Sent {
        let spec = &self.scenario.requests[idx];
        let conn = self.grpc_conn(target, user).await.map_err(Failed::bare)?;
        let (mut ctx, scratch) = user.render_parts(&self.scenario.data);
        let body = call.encode(&mut ctx, scratch).map_err(Failed::bare)?;
        let req = call
            .request(body, self.timeout, &mut ctx, scratch)
            .map_err(Failed::bare)?;
        // The call counts what crosses the wire as it goes (its messages
        // as sent, compressed or not; headers and trailers as HTTP/1.1
        // text), so that a call cut by its timeout counts what it had.
        user.wire.reset();
        let counted = || user.wire.get();
        let conn = conn.counting(user.wire.clone());
        let origin = self.grpc_endpoint(target).map_err(Failed::bare)?.origin();
        let mut client = call.client(conn, origin);
        // A connection that cannot take the call: its failure as h2 saw it.
        client.ready().await.map_err(|grpc::CallError(f)| {
            let (s, r) = counted();
            Failed::new(s, r, f)
        })?;
        let keep_headers = capture::needs_headers(&spec.captures);
        let headers = |m: tonic::metadata::MetadataMap| {
            if keep_headers {
                Headers::Map(m.into_headers())
            } else {
                Headers::None
            }
        };
        match client.unary(req, call.path.clone(), RawCodec).await {
            Ok(resp) => {
                let (meta, bytes, _) = resp.into_parts();
                let (sent, r) = counted();
                let failed = |f| Failed::new(sent, r, f);
                if spec.check.code != 0 {
                    let f = Failure::new(
                        FailureKind::Grpc,
                        format!("gRPC OK, expected {}", grpc::code_name(spec.check.code)),
                    );
                    return Err(failed(f));
                }
                let wants_json = spec.check.needs_body() || capture::needs_body(&spec.captures);
                let json = if wants_json {
                    Some(call.decode_json(&bytes).map_err(failed)?)
                } else {
                    None
                };
                if spec.check.needs_body() {
                    check::body(&spec.check, &bytes, false, json.as_ref()).map_err(failed)?;
                }
                if !spec.captures.is_empty() {
                    // Regexes read the response as its JSON text.
                    let text = json.as_ref().map(|j| j.to_string()).unwrap_or_default();
                    let seen = capture::Answer {
                        body: text.as_bytes(),
                        json: json.as_ref(),
                        truncated: false,
                        headers: &headers(meta),
                        cookies: None,
                    };
                    capture::apply(&spec.captures, &self.scenario.vars, &seen, &mut user.vars)
                        .map_err(failed)?;
                }
                Ok(Carried::new(sent, r))
            }
            Err(status) => match grpc::status_failure(&status, spec.check.code) {
                None => {
                    let (sent, r) = counted();
                    if !spec.captures.is_empty() {
                        // An expected non-OK status: its message and metadata.
                        let seen = capture::Answer {
                            body: status.message().as_bytes(),
                            json: None,
                            truncated: false,
                            headers: &headers(status.metadata().clone()),
                            cookies: None,
                        };
                        capture::apply(&spec.captures, &self.scenario.vars, &seen, &mut user.vars)
                            .map_err(|f| Failed::new(sent, r, f))?;
                    }
                    Ok(Carried::new(sent, r))
                }
                Some(f) => {
                    let (sent, r) = counted();
                    Err(Failed::new(sent, r, f))
                }
            },
        }
    }
}
