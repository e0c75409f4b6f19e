//! The gRPC flavour: `predict.v1.Predictor/Predict` and its streaming twin
//! `PredictStream`, with the standard health service and server reflection so
//! that generic tools can discover and call it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::net::TcpListener;
use tokio_stream::Stream;
use tonic::codegen::BoxStream;
use tonic::transport::ServerTlsConfig;
use tonic::{Request, Response, Status, Streaming};

use crate::SharedModel;
use crate::shared::Refusal;

/// The generated messages, client and server of proto/predict/v1/predict.proto.
pub mod pb {
    tonic::include_proto!("predict.v1");

    /// The encoded descriptors of predict.proto, for reflection and for
    /// clients that build messages at run time.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/predict_descriptor.bin"));
}

use pb::predictor_server::{Predictor, PredictorServer};
use pb::{PredictRequest, PredictResponse};

/// The Predictor service over a shared model.
#[derive(Clone)]
pub struct PredictService {
    model: SharedModel,
}

impl PredictService {
    pub fn new(model: SharedModel) -> Self {
        PredictService { model }
    }
}

/// What Predict answers for one text; PredictStream answers each of its texts
/// the same way, and the REST endpoints refuse texts through the same
/// [`SharedModel::classify`], so that none of them can drift apart.
fn answer(model: &SharedModel, text: &str) -> Result<PredictResponse, Status> {
    match model.classify(text) {
        Ok(p) => Ok(PredictResponse {
            category: p.category as i32,
            label: p.label.to_owned(),
        }),
        Err(r @ Refusal::Loading) => Err(Status::unavailable(r.to_string())),
        Err(r @ (Refusal::Empty | Refusal::TooLong(_))) => {
            Err(Status::invalid_argument(r.to_string()))
        }
    }
}

#[tonic::async_trait]
impl Predictor for PredictService {
    async fn predict(
        &self,
        request: Request<PredictRequest>,
    ) -> Result<Response<PredictResponse>, Status> {
        answer(&self.model, &request.get_ref().text).map(Response::new)
    }

    async fn predict_stream(
        &self,
        request: Request<Streaming<PredictRequest>>,
    ) -> Result<Response<BoxStream<PredictResponse>>, Status> {
        Ok(Response::new(Box::pin(Answers {
            texts: request.into_inner(),
            model: self.model.clone(),
            done: false,
        })))
    }
}

/// The answers of one PredictStream call, computed as tonic's encoder polls
/// for them: each text is answered as soon as it has been read, and the
/// encoder sends what it holds whenever the client has sent nothing more, so
/// a client may wait for one answer before it sends the next text. No task
/// or channel per call or per text: the call's own task does the work.
struct Answers {
    texts: Streaming<PredictRequest>,
    model: SharedModel,
    /// Set once a status has been yielded: nothing is read after a refused
    /// text or a broken request stream, whatever the encoder does next.
    done: bool,
}

impl Stream for Answers {
    type Item = Result<PredictResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let item = match std::task::ready!(Pin::new(&mut this.texts).poll_next(cx)) {
            // The client half-closed: every text has its answer, status OK.
            None => return Poll::Ready(None),
            Some(Ok(request)) => answer(&this.model, &request.text),
            // The request stream broke (a message that does not decode, one
            // over the size limit, a reset): its status ends the call.
            Some(Err(status)) => Err(status),
        };
        this.done = item.is_err();
        Poll::Ready(Some(item))
    }
}

/// Errors building the gRPC server.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    #[error("building the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serves Predictor, health and reflection on `listener` (TLS when `tls` is
/// given) until `shutdown` completes, then drains the connections in flight.
/// Health reports SERVING once the model is loaded.
pub async fn serve(
    listener: TcpListener,
    model: SharedModel,
    tls: Option<ServerTlsConfig>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), GrpcError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_not_serving::<PredictorServer<PredictService>>()
        .await;
    {
        let model = model.clone();
        tokio::spawn(async move {
            model.wait_loaded().await;
            reporter
                .set_serving::<PredictorServer<PredictService>>()
                .await;
        });
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    builder
        .tcp_nodelay(true)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(PredictorServer::new(PredictService::new(model)))
        // TcpIncoming sets TCP_NODELAY on accepted sockets; the builder's
        // tcp_nodelay applies only to listeners that tonic binds itself.
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await?;
    Ok(())
}
