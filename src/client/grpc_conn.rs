//! Where gRPC calls go: an endpoint (its address, its TLS, the origin its
//! requests name) and the HTTP/2 connections made to it.
//!
//! A call is a stream opened straight on the connection: a [`GrpcConn`] is
//! h2's handle on one HTTP/2 connection, whose socket a task of its own
//! reads and writes, and tonic's `Grpc` client runs on it as on any
//! service. tonic's `Channel` put a buffer task between every call and its
//! connection, and hyper's client a message to the connection's task per
//! call; both kept a request body a server never read for as long as the
//! connection lived. volley opens connections itself (before the schedule
//! in the open model), opens a new one after a transport failure, sends
//! each request's body from the caller's task and resets the stream of a
//! call that ends before its body is sent, and keeps tonic's `Channel`
//! only for server reflection before the run.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint};

use super::h2conn::{Pipe, Wire, h2_failure, handshake, head_len, poll_pipe};
use super::http::connect_failure;
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

/// Why an endpoint cannot be made from a scenario's URL and TLS settings.
/// The errors beneath are in the message, so none is a `#[source]`: a
/// chain printed whole (`{:#}`) would say them twice.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("{endpoint}: {error}")]
    Url {
        endpoint: String,
        error: http::uri::InvalidUri,
    },
    #[error("{endpoint}: no host")]
    NoHost { endpoint: String },
    /// The origin requests name, made from the URL's parts.
    #[error("{endpoint}: {error}")]
    Origin {
        endpoint: String,
        error: http::Error,
    },
    /// tonic's endpoint (for server reflection) refused the address.
    #[error("{endpoint}: {error}")]
    Reflection {
        endpoint: String,
        error: tonic::transport::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("TLS server name: {0}")]
    ServerName(rustls::pki_types::InvalidDnsNameError),
}

/// An endpoint for `spec`, with TLS when it is https.
pub fn endpoint(spec: &GrpcSpec, timeout: Duration) -> Result<GrpcEndpoint, EndpointError> {
    let uri: http::Uri = spec.endpoint.parse().map_err(|error| EndpointError::Url {
        endpoint: spec.endpoint.clone(),
        error,
    })?;
    let authority = uri
        .authority()
        .ok_or_else(|| EndpointError::NoHost {
            endpoint: spec.endpoint.clone(),
        })?
        .clone();
    let https = uri.scheme_str() == Some("https");
    let host = authority.host().trim_matches(['[', ']']).to_owned();
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let origin = http::Uri::builder()
        .scheme(if https { "https" } else { "http" })
        .authority(authority.clone())
        .path_and_query("/")
        .build()
        .map_err(|error| EndpointError::Origin {
            endpoint: spec.endpoint.clone(),
            error,
        })?;
    let connect_timeout = timeout.min(Duration::from_secs(10));
    // Over https tonic is given the plain address (its connector then does
    // no TLS of its own) and the https URL as the origin its requests name.
    let connect_to = if https {
        format!("http://{authority}")
    } else {
        spec.endpoint.clone()
    };
    let mut ep = Endpoint::from_shared(connect_to)
        .map_err(|error| EndpointError::Reflection {
            endpoint: spec.endpoint.clone(),
            error,
        })?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true);
    let tls = if https {
        ep = ep.origin(uri.clone());
        let config = tls::client_config(&spec.tls, &[b"h2"])?;
        let name = spec.tls.server_name.clone().unwrap_or_else(|| host.clone());
        let name = ServerName::try_from(name).map_err(EndpointError::ServerName)?;
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
                None => grpc_conn(tcp).await,
                Some(t) => {
                    let stream = t
                        .connector
                        .connect(t.name.clone(), tcp)
                        .await
                        .map_err(|e| {
                            Failure::new(FailureKind::Tls, "TLS handshake failed")
                                .with_detail(e.to_string())
                        })?;
                    grpc_conn(stream).await
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

async fn grpc_conn<T>(io: T) -> Result<GrpcConn, Failure>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, closed) = handshake(io).await?;
    Ok(GrpcConn {
        send,
        closed,
        wire: None,
    })
}

/// One HTTP/2 connection to a gRPC endpoint; clones are handles on the same
/// connection, and calls on them are its streams, as many at once as the
/// server's `SETTINGS_MAX_CONCURRENT_STREAMS` allows.
///
/// A call is an HTTP/2 stream opened by the caller's own task (h2 shares
/// the connection's state under a lock; a task of its own only reads and
/// writes the socket): no message to another task per call, as hyper's
/// client sends. The request's body is sent while the caller polls for the
/// answer, and a call that ends, however it ends, resets what of its
/// stream is still open: a server that answers before reading the request
/// and never opens its window would otherwise keep every such request
/// body, and its stream, for as long as the connection lives.
#[derive(Clone)]
pub struct GrpcConn {
    send: h2::client::SendRequest<Bytes>,
    /// Set when the connection's task has ended.
    closed: Arc<AtomicBool>,
    /// Where this handle's calls count their bytes, if anywhere.
    wire: Option<Arc<Wire>>,
}

impl GrpcConn {
    /// This handle, its calls counting what crosses the wire into `wire`.
    pub fn counting(mut self, wire: Arc<Wire>) -> Self {
        self.wire = Some(wire);
        self
    }

    /// Whether the connection has closed (a new one is needed).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Why a call on a [`GrpcConn`] failed, as the failure volley counts.
/// tonic wraps it in a `Status` (its source), where
/// [`super::grpc::status_failure`] finds it.
#[derive(Debug)]
pub struct CallError(pub Failure);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.detail {
            Some(d) => write!(f, "{} ({d})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::error::Error for CallError {}

fn call_error(e: &h2::Error) -> CallError {
    CallError(h2_failure(e))
}

impl tower::Service<http::Request<tonic::body::Body>> for GrpcConn {
    type Response = http::Response<Answer>;
    type Error = CallError;
    type Future = Call;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), CallError>> {
        self.send.poll_ready(cx).map_err(|e| call_error(&e))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Call {
        let (mut parts, body) = req.into_parts();
        // tonic keeps user-agent out of metadata (it is reserved); volley
        // names itself as over HTTP.
        parts
            .headers
            .entry(http::header::USER_AGENT)
            .or_insert(http::HeaderValue::from_static(super::USER_AGENT));
        let end = hyper::body::Body::is_end_stream(&body);
        if let Some(w) = &self.wire {
            // "POST PATH HTTP/1.1", "host: AUTHORITY" and the headers, as
            // HTTP/2 requests are counted.
            let path = parts.uri.path_and_query().map_or(1, |p| p.as_str().len());
            let authority = parts.uri.authority().map_or(0, |a| a.as_str().len());
            let line = parts.method.as_str().len() + path + 12 + authority + 8;
            w.add_sent((line as u64).saturating_add(head_len(&parts.headers)));
        }
        match self
            .send
            .send_request(http::Request::from_parts(parts, ()), end)
        {
            Ok((answer, tx)) => Call::Sending {
                answer,
                pipe: (!end).then(|| Pipe::new(body, tx).counting(self.wire.clone())),
                wire: self.wire.clone(),
            },
            Err(e) => Call::Refused(Some(call_error(&e))),
        }
    }
}

/// A call until its answer's headers: sends the request's body meanwhile.
pub enum Call {
    Sending {
        answer: h2::client::ResponseFuture,
        pipe: Option<Pipe<tonic::body::Body>>,
        wire: Option<Arc<Wire>>,
    },
    Refused(Option<CallError>),
    Done,
}

impl Future for Call {
    type Output = Result<http::Response<Answer>, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this {
            Call::Sending { answer, pipe, wire } => {
                poll_pipe(pipe, cx);
                let res = match Pin::new(answer).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(r) => r,
                };
                let pipe = pipe.take();
                let wire = wire.take();
                *this = Call::Done;
                Poll::Ready(match res {
                    Ok(res) => {
                        if let Some(w) = &wire {
                            // "HTTP/1.1 200 OK" and the headers.
                            w.add_received(17u64.saturating_add(head_len(res.headers())));
                        }
                        Ok(res.map(|recv| Answer {
                            recv,
                            pipe,
                            data_done: false,
                            wire,
                        }))
                    }
                    // Dropping the pipe resets the stream.
                    Err(e) => Err(call_error(&e)),
                })
            }
            Call::Refused(e) => {
                let e = e.take();
                *this = Call::Done;
                Poll::Ready(Err(e.unwrap_or_else(polled_after_end)))
            }
            Call::Done => Poll::Ready(Err(polled_after_end())),
        }
    }
}

fn polled_after_end() -> CallError {
    CallError(Failure::new(
        FailureKind::Internal,
        "call polled after its end",
    ))
}

/// A call's answer: its DATA, then its trailers. While the request's body
/// is still being sent (a stream the server answers as it reads), reading
/// the answer sends it on.
pub struct Answer {
    recv: h2::RecvStream,
    pipe: Option<Pipe<tonic::body::Body>>,
    data_done: bool,
    wire: Option<Arc<Wire>>,
}

impl Answer {
    /// The answer is complete: what of the request is unsent will never be
    /// needed, and the stream is reset rather than left half open.
    fn finish(&mut self) {
        self.pipe = None;
    }
}

impl hyper::body::Body for Answer {
    type Data = Bytes;
    type Error = CallError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, CallError>>> {
        let this = self.get_mut();
        poll_pipe(&mut this.pipe, cx);
        if !this.data_done {
            match this.recv.poll_data(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(data))) => {
                    // The window is given back as soon as data is read:
                    // tonic holds at most one message, bounded by
                    // max_message_size.
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    if let Some(w) = &this.wire {
                        w.add_received(data.len() as u64);
                    }
                    return Poll::Ready(Some(Ok(hyper::body::Frame::data(data))));
                }
                Poll::Ready(Some(Err(e))) => {
                    this.finish();
                    return Poll::Ready(Some(Err(call_error(&e))));
                }
                Poll::Ready(None) => this.data_done = true,
            }
        }
        let r = match this.recv.poll_trailers(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        this.finish();
        Poll::Ready(match r {
            Ok(Some(trailers)) => {
                if let Some(w) = &this.wire {
                    w.add_received(head_len(&trailers));
                }
                Some(Ok(hyper::body::Frame::trailers(trailers)))
            }
            Ok(None) => None,
            Err(e) => Some(Err(call_error(&e))),
        })
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
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
