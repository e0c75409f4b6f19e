//! Where gRPC calls go: an endpoint (its address, its TLS, the origin its
//! requests name) and the HTTP/2 connections made to it.
//!
//! A call is a stream sent straight to the connection: a [`GrpcConn`] is
//! hyper's handle on one HTTP/2 connection, which hyper drives on a task of
//! its own, and tonic's `Grpc` client runs on it as on any service. tonic's
//! `Channel` put a buffer task between every call and its connection (a
//! message passed and a task woken per call, both ways) and reconnected on
//! its own; volley opens connections itself (before the schedule in the
//! open model), opens a new one after a transport failure, and keeps
//! tonic's `Channel` only for server reflection before the run.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint};

use super::http::{connect_failure, hyper_failure};
use super::tls;
use crate::scenario::GrpcSpec;
use crate::stats::{Failure, FailureKind};

/// An endpoint, with TLS when it is https, made with the same rustls
/// settings as HTTP (CA files, client certificates, `server_name`,
/// `insecure` on loopback).
pub struct GrpcEndpoint {
    /// tonic's endpoint, for server reflection.
    ep: Endpoint,
    tls: Option<Arc<TlsTarget>>,
    host: String,
    port: u16,
    /// The scheme and authority requests name (`:scheme`, `:authority`).
    origin: http::Uri,
    connect_timeout: Duration,
}

struct TlsTarget {
    connector: TlsConnector,
    name: ServerName<'static>,
}

/// An endpoint for `spec`, with TLS when it is https.
pub fn endpoint(spec: &GrpcSpec, timeout: Duration) -> Result<GrpcEndpoint, String> {
    let uri: http::Uri = spec
        .endpoint
        .parse()
        .map_err(|e| format!("{}: {e}", spec.endpoint))?;
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{}: no host", spec.endpoint))?
        .clone();
    let https = uri.scheme_str() == Some("https");
    let host = authority.host().trim_matches(['[', ']']).to_owned();
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let origin = http::Uri::builder()
        .scheme(if https { "https" } else { "http" })
        .authority(authority.clone())
        .path_and_query("/")
        .build()
        .map_err(|e| format!("{}: {e}", spec.endpoint))?;
    let connect_timeout = timeout.min(Duration::from_secs(10));
    // Over https tonic is given the plain address (its connector then does
    // no TLS of its own) and the https URL as the origin its requests name.
    let connect_to = if https {
        format!("http://{authority}")
    } else {
        spec.endpoint.clone()
    };
    let mut ep = Endpoint::from_shared(connect_to)
        .map_err(|e| format!("{}: {e}", spec.endpoint))?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true);
    let tls = if https {
        ep = ep.origin(uri.clone());
        let config = tls::client_config(&spec.tls, &[b"h2"]).map_err(|e| e.to_string())?;
        let name = spec.tls.server_name.clone().unwrap_or_else(|| host.clone());
        let name = ServerName::try_from(name).map_err(|e| format!("TLS server name: {e}"))?;
        Some(Arc::new(TlsTarget {
            connector: TlsConnector::from(config),
            name,
        }))
    } else {
        None
    };
    Ok(GrpcEndpoint {
        ep,
        tls,
        host,
        port,
        origin,
        connect_timeout,
    })
}

impl GrpcEndpoint {
    /// The scheme and authority requests name.
    pub fn origin(&self) -> &http::Uri {
        &self.origin
    }

    /// Opens an HTTP/2 connection (TCP, TLS offering h2 when https, the
    /// HTTP/2 handshake), within the connect timeout.
    pub async fn open(&self) -> Result<GrpcConn, Failure> {
        let open = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(connect_failure)?;
            let _ = tcp.set_nodelay(true);
            match &self.tls {
                None => handshake(TokioIo::new(tcp)).await,
                Some(t) => {
                    let stream = t
                        .connector
                        .connect(t.name.clone(), tcp)
                        .await
                        .map_err(|e| {
                            Failure::new(FailureKind::Tls, "TLS handshake failed")
                                .with_detail(e.to_string())
                        })?;
                    handshake(TokioIo::new(stream)).await
                }
            }
        };
        tokio::time::timeout(self.connect_timeout, open)
            .await
            .map_err(|_| {
                Failure::new(FailureKind::Connect, "connect timed out").with_detail(format!(
                    "no HTTP/2 connection to {}:{} within {:?}",
                    self.host, self.port, self.connect_timeout
                ))
            })?
    }

    /// A tonic channel connected now (for server reflection before the run).
    pub async fn connect(&self) -> Result<Channel, tonic::transport::Error> {
        match &self.tls {
            None => self.ep.connect().await,
            Some(t) => {
                self.ep
                    .connect_with_connector(tls_connector(t.clone()))
                    .await
            }
        }
    }
}

async fn handshake<T>(io: TokioIo<T>) -> Result<GrpcConn, Failure>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = http2::handshake(TokioExecutor::new(), io)
        .await
        .map_err(hyper_failure)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(GrpcConn { send })
}

/// One HTTP/2 connection to a gRPC endpoint; clones are handles on the same
/// connection, and calls on them are its streams, as many at once as the
/// server's `SETTINGS_MAX_CONCURRENT_STREAMS` allows.
#[derive(Clone)]
pub struct GrpcConn {
    send: http2::SendRequest<tonic::body::Body>,
}

impl GrpcConn {
    /// Whether the connection has closed (a new one is needed).
    pub fn is_closed(&self) -> bool {
        self.send.is_closed()
    }
}

/// A call's answer, as hyper gives it.
type Answer = http::Response<hyper::body::Incoming>;

impl tower::Service<http::Request<tonic::body::Body>> for GrpcConn {
    type Response = Answer;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, hyper::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.send.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<tonic::body::Body>) -> Self::Future {
        // tonic keeps user-agent out of metadata (it is reserved); volley
        // names itself as over HTTP.
        req.headers_mut()
            .entry(http::header::USER_AGENT)
            .or_insert(http::HeaderValue::from_static(super::USER_AGENT));
        Box::pin(self.send.send_request(req))
    }
}

/// TCP, then TLS offering h2, to the address tonic asks for.
fn tls_connector(
    t: Arc<TlsTarget>,
) -> impl tower::Service<
    http::Uri,
    Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>,
    Error = std::io::Error,
    Future = impl Future<
        Output = Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>, std::io::Error>,
    > + Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |uri: http::Uri| {
        let t = t.clone();
        async move {
            let host = uri.host().unwrap_or("").trim_matches(['[', ']']).to_owned();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            let stream = t.connector.connect(t.name.clone(), tcp).await?;
            Ok(TokioIo::new(stream))
        }
    })
}
