//! predict-grpc over real loopback connections: every test vector, invalid
//! arguments, health, reflection, and TLS.

mod common;

use predict::grpc::pb::PredictRequest;
use predict::grpc::pb::predictor_client::PredictorClient;
use predict::vectors;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, ServerTlsConfig};

async fn client(addr: std::net::SocketAddr) -> PredictorClient<Channel> {
    PredictorClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

#[tokio::test]
async fn every_vector() {
    let server = common::start_grpc(None).await;
    let mut c = client(server.addr).await;
    let vectors = vectors::parse_jsonl("vectors.jsonl", vectors::COMMITTED).unwrap();
    assert_eq!(vectors.len(), 50);
    for v in &vectors {
        let r = c
            .predict(PredictRequest {
                text: v.text.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.category as usize, v.category, "{:?}", v.text);
        assert_eq!(r.label, v.label);
    }
}

#[tokio::test]
async fn empty_and_oversized_texts_are_invalid_arguments() {
    let server = common::start_grpc(None).await;
    let mut c = client(server.addr).await;
    for (what, text) in [
        ("empty", String::new()),
        ("over 64 KiB", "z".repeat(64 * 1024 + 1)),
    ] {
        let status = c.predict(PredictRequest { text }).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{what}");
        assert!(!status.message().is_empty(), "{what}");
    }
    // Exactly 64 KiB is allowed, and the server still serves.
    let r = c
        .predict(PredictRequest {
            text: "word ".repeat(64 * 1024 / 5),
        })
        .await
        .unwrap();
    assert!(!r.get_ref().label.is_empty());
}

#[tokio::test]
async fn health_reports_serving() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let server = common::start_grpc(None).await;
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut h = HealthClient::new(channel);
    for service in ["", "predict.v1.Predictor"] {
        // The model is set before serving here, but the reporter task may not
        // have run yet: wait briefly for SERVING.
        let mut status = 0;
        for _ in 0..50 {
            status = h
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .unwrap()
                .into_inner()
                .status;
            if status == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(status, 1, "service {service:?} is not SERVING");
    }
    let err = h
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_and_describes_the_service() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = common::start_grpc(None).await;
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut r = ServerReflectionClient::new(channel);
    let reqs = vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "predict.v1.Predictor".into(),
            )),
        },
    ];
    let mut stream = r
        .server_reflection_info(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else {
        panic!("expected a service list: {first:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"predict.v1.Predictor"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    let second = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(files)) = second.message_response else {
        panic!("expected a file descriptor: {second:?}");
    };
    let fd: prost_types::FileDescriptorProto =
        prost::Message::decode(files.file_descriptor_proto[0].as_slice()).unwrap();
    assert_eq!(fd.package(), "predict.v1");
    assert_eq!(fd.service[0].name(), "Predictor");
}

#[tokio::test]
async fn tls_with_a_generated_certificate() {
    let (cert, key) = common::self_signed();
    let tls = ServerTlsConfig::new().identity(Identity::from_pem(&cert, &key));
    let server = common::start_grpc(Some(tls)).await;
    let channel = Channel::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&cert))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = PredictorClient::new(channel);
    let vectors = vectors::parse_jsonl("vectors.jsonl", vectors::COMMITTED).unwrap();
    for v in vectors.iter().take(10) {
        let r = c
            .predict(PredictRequest {
                text: v.text.clone(),
            })
            .await
            .unwrap();
        assert_eq!(r.get_ref().category as usize, v.category);
    }
}
