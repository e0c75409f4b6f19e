//! A method's schema from server reflection (v1, then v1alpha), asked
//! before a run, and methods found in a descriptor pool (from .proto files
//! or reflection).

use std::time::Duration;

use prost::Message as _;
use prost_reflect::{DescriptorPool, MethodDescriptor};
use tonic::transport::Channel;

use super::GrpcSetupError;
use super::endpoint;
use super::status::error_chain;
use crate::scenario::GrpcSpec;
use crate::scenario::grpc_codes::code_name;

/// A method that is not in the schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MethodError {
    #[error("{0:?} is not package.Service/Method")]
    NotAMethodName(String),
    #[error("service {0:?} is not known to the server or the .proto files")]
    NoService(String),
    #[error("{service} has no method {method:?}")]
    NoMethod { service: String, method: String },
}

/// Finds a method in a descriptor pool.
pub fn find_method(pool: &DescriptorPool, full: &str) -> Result<MethodDescriptor, MethodError> {
    let (service, rpc) = full
        .split_once('/')
        .ok_or_else(|| MethodError::NotAMethodName(full.to_owned()))?;
    let svc = pool
        .get_service_by_name(service)
        .ok_or_else(|| MethodError::NoService(service.to_owned()))?;
    svc.methods()
        .find(|m| m.name() == rpc)
        .ok_or_else(|| MethodError::NoMethod {
            service: service.to_owned(),
            method: rpc.to_owned(),
        })
}

/// Why server reflection gave no schema. The errors beneath are in the
/// message, so none is a `#[source]` (a chain printed whole would say them
/// twice).
#[derive(Debug, thiserror::Error)]
pub enum ReflectError {
    #[error("server reflection: {0}")]
    Failed(Refusal),
    /// The server does not implement v1, and v1alpha failed too.
    #[error("server reflection (v1alpha; v1 is not implemented): {0}")]
    AlphaFailed(Refusal),
    /// A file the server sent does not decode.
    #[error("server reflection: {0}")]
    Decode(prost::DecodeError),
    /// The files the server sent do not make a schema.
    #[error("server reflection: {0}")]
    Descriptors(prost_reflect::DescriptorError),
    /// Before a run ([`reflect_endpoint`]): the error and its causes, as
    /// tonic's own message says little ("transport error").
    #[error("connecting to {endpoint}: {}", error_chain(.error))]
    Connect {
        endpoint: String,
        error: tonic::transport::Error,
    },
    /// When a run starts, on the endpoint the run's calls go to.
    #[error("connecting to {endpoint} for reflection: {error}")]
    ConnectForRun {
        endpoint: String,
        error: tonic::transport::Error,
    },
    #[error("server reflection at {endpoint} timed out after {timeout:?}")]
    TimedOut { endpoint: String, timeout: Duration },
    #[error("server reflection timed out")]
    TimedOutForRun,
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
                .map_err(Refusal::Status)?
                .into_inner();
            let mut raw = Vec::new();
            for _ in 0..n {
                let resp = stream
                    .message()
                    .await
                    .map_err(Refusal::Status)?
                    .ok_or(Refusal::EndedEarly)?;
                match resp.message_response {
                    Some(MessageResponse::FileDescriptorResponse(f)) => {
                        raw.extend(f.file_descriptor_proto)
                    }
                    Some(MessageResponse::ErrorResponse(e)) => {
                        return Err(Refusal::Error(e.error_message));
                    }
                    other => {
                        return Err(Refusal::Unexpected(format!("{other:?}")));
                    }
                }
            }
            Ok::<Vec<Vec<u8>>, Refusal>(raw)
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
                .map_err(Refusal::Status)?
                .into_inner();
            let resp = stream
                .message()
                .await
                .map_err(Refusal::Status)?
                .ok_or(Refusal::EndedEarly)?;
            match resp.message_response {
                Some(MessageResponse::ListServicesResponse(l)) => {
                    Ok::<Vec<String>, Refusal>(l.service.into_iter().map(|s| s.name).collect())
                }
                Some(MessageResponse::ErrorResponse(e)) => Err(Refusal::Error(e.error_message)),
                other => Err(Refusal::Unexpected(format!("{other:?}"))),
            }
        }
    }};
}

/// Why one version of server reflection gave no files or services.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The call's status: its code's name and its message.
    #[error("{} {}", code_name(.0.code() as i32), .0.message())]
    Status(tonic::Status),
    #[error("the stream ended early")]
    EndedEarly,
    /// The server's own error answer.
    #[error("{0}")]
    Error(String),
    /// An answer of another kind than asked, as it was received.
    #[error("unexpected answer {0}")]
    Unexpected(String),
}

/// Asks the server for the files that define `services`, by server reflection
/// (v1, then v1alpha when the server does not implement v1, as older
/// servers and ghz do), and builds a descriptor pool from them.
pub async fn reflect(
    channel: Channel,
    services: &[String],
) -> Result<DescriptorPool, ReflectError> {
    let raw = match reflected_files!(v1, channel.clone(), services).await {
        Ok(raw) => raw,
        Err(Refusal::Status(s)) if s.code() == tonic::Code::Unimplemented => {
            let raw = reflected_files!(v1alpha, channel, services)
                .await
                .map_err(ReflectError::AlphaFailed)?;
            tracing::info!("server reflection: v1 is not implemented; used v1alpha");
            raw
        }
        Err(e) => return Err(ReflectError::Failed(e)),
    };
    let mut files: Vec<prost_types::FileDescriptorProto> = Vec::new();
    for bytes in raw {
        let fd = prost_types::FileDescriptorProto::decode(bytes.as_slice())
            .map_err(ReflectError::Decode)?;
        if !files.iter().any(|o| o.name == fd.name) {
            files.push(fd);
        }
    }
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(files)
        .map_err(ReflectError::Descriptors)?;
    Ok(pool)
}

/// Asks `spec`'s endpoint for the schema of every service it lists by server
/// reflection (its own reflection services left out), all within `timeout`:
/// what a scenario's requests are checked against before a run, so that a
/// misspelt service is told apart from one the server does not have.
pub async fn reflect_endpoint(
    spec: &GrpcSpec,
    timeout: Duration,
) -> Result<DescriptorPool, GrpcSetupError> {
    let ep = endpoint(spec, timeout)?;
    let asked = async {
        let channel = ep.connect().await.map_err(|error| ReflectError::Connect {
            endpoint: spec.endpoint.clone(),
            error,
        })?;
        let services = match listed_services!(v1, channel.clone()).await {
            Ok(s) => s,
            Err(Refusal::Status(s)) if s.code() == tonic::Code::Unimplemented => {
                listed_services!(v1alpha, channel.clone())
                    .await
                    .map_err(ReflectError::AlphaFailed)?
            }
            Err(e) => return Err(ReflectError::Failed(e)),
        };
        let services: Vec<String> = services
            .into_iter()
            .filter(|s| !s.starts_with("grpc.reflection."))
            .collect();
        reflect(channel, &services).await
    };
    let pool =
        tokio::time::timeout(timeout, asked)
            .await
            .map_err(|_| ReflectError::TimedOut {
                endpoint: spec.endpoint.clone(),
                timeout,
            })??;
    Ok(pool)
}
