//! predict-grpc over real loopback connections: every test vector, invalid
//! arguments, PredictStream, health, reflection, and TLS.

mod common;

use std::time::Duration;

use predict::grpc::pb::predictor_client::PredictorClient;
use predict::grpc::pb::{PredictRequest, PredictResponse};
use predict::vectors;
use tokio_stream::wrappers::ReceiverStream;
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

fn request(text: &str) -> PredictRequest {
    PredictRequest { text: text.into() }
}

/// Every answer of a PredictStream call over `texts`, then its status (OK
/// when the server ended the stream without one).
async fn stream_all(
    c: &mut PredictorClient<Channel>,
    texts: Vec<String>,
) -> (Vec<PredictResponse>, tonic::Status) {
    let requests = tokio_stream::iter(texts.into_iter().map(|text| PredictRequest { text }));
    let mut answers = c.predict_stream(requests).await.unwrap().into_inner();
    let mut got = Vec::new();
    loop {
        match answers.message().await {
            Ok(Some(a)) => got.push(a),
            Ok(None) => return (got, tonic::Status::ok("")),
            Err(status) => return (got, status),
        }
    }
}

#[tokio::test]
async fn stream_answers_every_text_in_order_like_predict() {
    let server = common::start_grpc(None).await;
    let mut c = client(server.addr).await;
    let vectors = vectors::parse_jsonl("vectors.jsonl", vectors::COMMITTED).unwrap();
    let first: Vec<_> = vectors.iter().take(20).collect();
    let (got, status) = stream_all(&mut c, first.iter().map(|v| v.text.clone()).collect()).await;
    assert_eq!(status.code(), tonic::Code::Ok, "{status:?}");
    assert_eq!(got.len(), first.len());
    for (v, a) in first.iter().zip(&got) {
        assert_eq!(a.category as usize, v.category, "{:?}", v.text);
        assert_eq!(a.label, v.label, "{:?}", v.text);
        let unary = c.predict(request(&v.text)).await.unwrap().into_inner();
        assert_eq!(*a, unary, "{:?}: PredictStream and Predict differ", v.text);
    }
    // The same text many times over, interleaved: order is the only way to
    // tell the answers apart, so a reordering shows.
    let texts: Vec<String> = (0..200)
        .map(|i| first[i % first.len()].text.clone())
        .collect();
    let (got, status) = stream_all(&mut c, texts).await;
    assert_eq!(status.code(), tonic::Code::Ok, "{status:?}");
    assert_eq!(got.len(), 200);
    for (i, a) in got.iter().enumerate() {
        assert_eq!(a.label, first[i % first.len()].label, "answer {i}");
    }
}

#[tokio::test]
async fn stream_answers_each_text_before_the_next_is_sent() {
    let server = common::start_grpc(None).await;
    let mut c = client(server.addr).await;
    let vectors = vectors::parse_jsonl("vectors.jsonl", vectors::COMMITTED).unwrap();
    // The request stream stays open until `tx` is dropped: an answer that
    // only came at half-close would time out below.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut answers = c
        .predict_stream(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    for v in vectors.iter().take(10) {
        tx.send(request(&v.text)).await.unwrap();
        let a = tokio::time::timeout(Duration::from_secs(10), answers.message())
            .await
            .unwrap_or_else(|_| panic!("no answer to {:?} while the stream is open", v.text))
            .unwrap()
            .unwrap();
        assert_eq!(a.category as usize, v.category, "{:?}", v.text);
        assert_eq!(a.label, v.label);
    }
    drop(tx);
    assert_eq!(answers.message().await.unwrap(), None);
}

#[tokio::test]
async fn a_refused_text_ends_the_stream_after_the_earlier_answers() {
    let server = common::start_grpc(None).await;
    let mut c = client(server.addr).await;
    let vectors = vectors::parse_jsonl("vectors.jsonl", vectors::COMMITTED).unwrap();
    for (what, bad) in [
        ("empty", String::new()),
        ("over 64 KiB", "z".repeat(64 * 1024 + 1)),
    ] {
        let mut texts: Vec<String> = vectors.iter().take(3).map(|v| v.text.clone()).collect();
        texts.push(bad);
        // Texts after the refused one get no answer.
        texts.extend(vectors.iter().skip(3).take(2).map(|v| v.text.clone()));
        let (got, status) = stream_all(&mut c, texts).await;
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{what}: {status:?}"
        );
        assert!(!status.message().is_empty(), "{what}");
        let want: Vec<_> = vectors.iter().take(3).map(|v| v.label.as_str()).collect();
        let got: Vec<_> = got.iter().map(|a| a.label.as_str()).collect();
        assert_eq!(got, want, "{what}");
    }
    // A refused text at the very start: no answers at all.
    let (got, status) = stream_all(&mut c, vec![String::new(), "GOAL".into()]).await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(got.is_empty(), "{got:?}");
    // The server, and the connection, still serve.
    let r = c.predict(request("GOAL")).await.unwrap();
    assert_eq!(r.get_ref().label, "sports");
}

#[tokio::test]
async fn an_empty_stream_is_ok_with_no_answers() {
    let server = common::start_grpc(None).await;
    let mut c = client(server.addr).await;
    let (got, status) = stream_all(&mut c, Vec::new()).await;
    assert_eq!(status.code(), tonic::Code::Ok, "{status:?}");
    assert!(got.is_empty(), "{got:?}");
}

#[tokio::test]
async fn stream_while_the_model_loads_is_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let model = predict::SharedModel::empty();
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(predict::grpc::serve(listener, model.clone(), None, async {
        let _ = rx.await;
    }));
    let mut c = client(addr).await;
    let (got, status) = stream_all(&mut c, vec!["GOAL".into()]).await;
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(got.is_empty(), "{got:?}");
    model.set(predict::Model::builtin().unwrap());
    let (got, status) = stream_all(&mut c, vec!["GOAL".into()]).await;
    assert_eq!(status.code(), tonic::Code::Ok, "{status:?}");
    assert_eq!(got.len(), 1);
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
    let methods: Vec<_> = fd.service[0]
        .method
        .iter()
        .map(|m| {
            (
                m.name(),
                m.client_streaming.unwrap_or(false),
                m.server_streaming.unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        methods,
        [("Predict", false, false), ("PredictStream", true, true)]
    );
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
