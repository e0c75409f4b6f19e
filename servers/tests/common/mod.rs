//! Shared test helpers: in-process servers on ephemeral loopback ports, and a
//! minimal HTTP client over real connections (HTTP/1.1, h2c, TLS).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use predict::{Model, SharedModel};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A server running in this test process; dropping it stops the server.
pub struct Running {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

pub fn model() -> SharedModel {
    SharedModel::loaded(Model::builtin().expect("built-in model"))
}

pub async fn start_rest(tls: Option<tokio_rustls::TlsAcceptor>) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(predict::rest::serve(listener, model(), tls, async {
        let _ = rx.await;
    }));
    Running { addr, _stop: tx }
}

pub async fn start_grpc(tls: Option<tonic::transport::ServerTlsConfig>) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        predict::grpc::serve(listener, model(), tls, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running { addr, _stop: tx }
}

/// A self-signed certificate for "localhost", as PEM (cert, key).
pub fn self_signed() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Proto {
    Http1,
    H2c,
}

/// The answer to one request.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
    pub version: http::Version,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
}

/// Sends one request on a fresh connection over any stream.
pub async fn send_on<S>(
    io: S,
    proto: Proto,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> Answer
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let req = req.body(Full::new(body.into())).unwrap();
    let io = TokioIo::new(io);
    let resp = match proto {
        Proto::Http1 => {
            let (mut tx, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            tx.send_request(req).await.unwrap()
        }
        Proto::H2c => {
            let (mut tx, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .unwrap();
            tokio::spawn(conn);
            tx.send_request(req).await.unwrap()
        }
    };
    let status = resp.status().as_u16();
    let version = resp.version();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        content_type,
        body,
        version,
    }
}

pub async fn send(
    addr: SocketAddr,
    proto: Proto,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> Answer {
    let stream = TcpStream::connect(addr).await.unwrap();
    send_on(stream, proto, method, path, content_type, body).await
}

pub fn predict_body(text: &str) -> String {
    serde_json::json!({ "text": text }).to_string()
}

/// A TLS client that trusts `ca_pem` and offers `alpn`.
pub fn tls_connector(ca_pem: &str, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

use rustls::pki_types::pem::PemObject;
