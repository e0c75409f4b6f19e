//! A method's schema from server reflection (v1, then v1alpha), asked
//! before a run, and methods found in a descriptor pool (from .proto files
//! or reflection).

use std::time::Duration;

use prost::Message as _;
use prost_reflect::{DescriptorPool, MethodDescriptor};
use tonic::transport::Channel;

use super::endpoint;
use super::status::error_chain;
use crate::scenario::GrpcSpec;
use crate::scenario::grpc_codes::code_name;

/// Finds a method in a descriptor pool.
pub fn find_method(pool: &DescriptorPool, full: &str) -> Result<MethodDescriptor, String> {
    let (service, rpc) = full
        .split_once('/')
        .ok_or_else(|| format!("{full:?} is not package.Service/Method"))?;
    let svc = pool.get_service_by_name(service).ok_or_else(|| {
        format!("service {service:?} is not known to the server or the .proto files")
    })?;
    svc.methods()
        .find(|m| m.name() == rpc)
        .ok_or_else(|| format!("{service} has no method {rpc:?}"))
}

/// Asks a server for the encoded files that define `services` over one
/// version of the reflection protocol (`v1` or `v1alpha`: the same
/// messages in two packages). An error is the call's status, or what was
/// wrong with the answers.
macro_rules! reflected_files {
    ($ver:ident, $channel:expr, $services:expr) => {{
        use tonic_reflection::pb::$ver::ServerReflectionRequest;
        use tonic_reflection::pb::$ver::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$ver::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$ver::server_reflection_response::MessageResponse;
        async {
            let mut client = ServerReflectionClient::new($channel);
            let reqs: Vec<ServerReflectionRequest> = $services
                .iter()
                .map(|s: &String| ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(MessageRequest::FileContainingSymbol(s.clone())),
                })
                .collect();
            let n = reqs.len();
            let mut stream = client
                .server_reflection_info(tokio_stream::iter(reqs))
                .await
                .map_err(Reflection::Status)?
                .into_inner();
            let mut raw = Vec::new();
            for _ in 0..n {
                let resp = stream
                    .message()
                    .await
                    .map_err(Reflection::Status)?
                    .ok_or_else(|| Reflection::Answer("the stream ended early".into()))?;
                match resp.message_response {
                    Some(MessageResponse::FileDescriptorResponse(f)) => {
                        raw.extend(f.file_descriptor_proto)
                    }
                    Some(MessageResponse::ErrorResponse(e)) => {
                        return Err(Reflection::Answer(e.error_message));
                    }
                    other => {
                        return Err(Reflection::Answer(format!("unexpected answer {other:?}")));
                    }
                }
            }
            Ok::<Vec<Vec<u8>>, Reflection>(raw)
        }
    }};
}

/// Asks a server for the names of its services over one version of the
/// reflection protocol.
macro_rules! listed_services {
    ($ver:ident, $channel:expr) => {{
        use tonic_reflection::pb::$ver::ServerReflectionRequest;
        use tonic_reflection::pb::$ver::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$ver::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$ver::server_reflection_response::MessageResponse;
        async {
            let mut client = ServerReflectionClient::new($channel);
            let req = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut stream = client
                .server_reflection_info(tokio_stream::iter([req]))
                .await
                .map_err(Reflection::Status)?
                .into_inner();
            let resp = stream
                .message()
                .await
                .map_err(Reflection::Status)?
                .ok_or_else(|| Reflection::Answer("the stream ended early".into()))?;
            match resp.message_response {
                Some(MessageResponse::ListServicesResponse(l)) => {
                    Ok::<Vec<String>, Reflection>(l.service.into_iter().map(|s| s.name).collect())
                }
                Some(MessageResponse::ErrorResponse(e)) => Err(Reflection::Answer(e.error_message)),
                other => Err(Reflection::Answer(format!("unexpected answer {other:?}"))),
            }
        }
    }};
}

/// Why one version of server reflection gave no files.
enum Reflection {
    Status(tonic::Status),
    Answer(String),
}

impl std::fmt::Display for Reflection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reflection::Status(s) => write!(f, "{} {}", code_name(s.code() as i32), s.message()),
            Reflection::Answer(m) => f.write_str(m),
        }
    }
}

/// Asks the server for the files that define `services`, by server reflection
/// (v1, then v1alpha when the server does not implement v1, as older
/// servers and ghz do), and builds a descriptor pool from them.
pub async fn reflect(channel: Channel, services: &[String]) -> Result<DescriptorPool, String> {
    let raw = match reflected_files!(v1, channel.clone(), services).await {
        Ok(raw) => raw,
        Err(Reflection::Status(s)) if s.code() == tonic::Code::Unimplemented => {
            let raw = reflected_files!(v1alpha, channel, services)
                .await
                .map_err(|e| format!("server reflection (v1alpha; v1 is not implemented): {e}"))?;
            tracing::info!("server reflection: v1 is not implemented; used v1alpha");
            raw
        }
        Err(e) => return Err(format!("server reflection: {e}")),
    };
    let mut files: Vec<prost_types::FileDescriptorProto> = Vec::new();
    for bytes in raw {
        let fd = prost_types::FileDescriptorProto::decode(bytes.as_slice())
            .map_err(|e| format!("server reflection: {e}"))?;
        if !files.iter().any(|o| o.name == fd.name) {
            files.push(fd);
        }
    }
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(files)
        .map_err(|e| format!("server reflection: {e}"))?;
    Ok(pool)
}

/// Asks `spec`'s endpoint for the schema of every service it lists by server
/// reflection (its own reflection services left out), all within `timeout`:
/// what a scenario's requests are checked against before a run, so that a
/// misspelt service is told apart from one the server does not have.
pub async fn reflect_endpoint(
    spec: &GrpcSpec,
    timeout: Duration,
) -> Result<DescriptorPool, String> {
    let ep = endpoint(spec, timeout)?;
    let asked = async {
        let channel = ep
            .connect()
            .await
            .map_err(|e| format!("connecting to {}: {}", spec.endpoint, error_chain(&e)))?;
        let services = match listed_services!(v1, channel.clone()).await {
            Ok(s) => s,
            Err(Reflection::Status(s)) if s.code() == tonic::Code::Unimplemented => {
                listed_services!(v1alpha, channel.clone())
                    .await
                    .map_err(|e| {
                        format!("server reflection (v1alpha; v1 is not implemented): {e}")
                    })?
            }
            Err(e) => return Err(format!("server reflection: {e}")),
        };
        let services: Vec<String> = services
            .into_iter()
            .filter(|s| !s.starts_with("grpc.reflection."))
            .collect();
        reflect(channel, &services).await
    };
    tokio::time::timeout(timeout, asked).await.map_err(|_| {
        format!(
            "server reflection at {} timed out after {timeout:?}",
            spec.endpoint
        )
    })?
}
