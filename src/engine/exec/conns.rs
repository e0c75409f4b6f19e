//! The targets requests go to and the connections users keep to them: a
//! user's own connection per target, or a handle on one of the few that
//! all users share (`[http] connections` over HTTP/2 or HTTP/3, `[grpc] connections`
//! or the open model's default over gRPC). A connection is opened when a
//! user has none or its own closed, and a shared one by the first user
//! that needs it, again by the first after it closed.

use std::sync::Arc;

use super::{Failed, Requests, UserState};
use crate::client::grpc::{GrpcConn, GrpcEndpoint};
use crate::client::http::{HttpConn, HttpTarget};
use crate::scenario::HttpSpec;
use crate::stats::{Failure, FailureKind};

/// Connections all users share, each behind its own lock; empty: each user
/// has its own.
pub(super) type Shared<C> = Vec<tokio::sync::Mutex<Option<C>>>;

/// A target requests go to, with the connections its users share.
pub(super) enum Target {
    Http {
        /// Boxed, as the endpoint: each holds its addresses and TLS
        /// settings, and only references to them are ever taken.
        target: Box<HttpTarget>,
        /// HTTP/2 or HTTP/3 connections (never HTTP/1.1: one of those is
        /// a user's own).
        shared: Shared<HttpConn>,
    },
    Grpc {
        endpoint: Box<GrpcEndpoint>,
        shared: Shared<GrpcConn>,
    },
}

/// A user's connection to one target.
pub enum Conn {
    Http(HttpConn),
    Grpc(GrpcConn),
}

pub(super) fn shared<C>(n: usize) -> Shared<C> {
    (0..n).map(|_| tokio::sync::Mutex::new(None)).collect()
}

/// The failure of a target index that names no target of its protocol:
/// prepare() makes every index it hands out, so this is a bug.
fn no_target() -> Failure {
    Failure::new(FailureKind::Internal, "no target for the request")
}

impl Requests {
    /// HTTP target `i` and the connections its users share.
    pub(super) fn http_target(
        &self,
        i: usize,
    ) -> Result<(&HttpTarget, &Shared<HttpConn>), Failure> {
        match self.targets.get(i) {
            Some(Target::Http { target, shared }) => Ok((target, shared)),
            _ => Err(no_target()),
        }
    }

    /// Opens `user`'s connections to every target before its first request
    /// (the open model's pool). A target that cannot be reached is left: the
    /// first request to it fails with the reason, as it would have anyway.
    pub async fn connect(&self, user: &mut UserState) {
        for (i, t) in self.targets.iter().enumerate() {
            match t {
                Target::Http { .. } => {
                    if user.conns[i].is_none()
                        && let Ok(Ok(c)) = tokio::time::timeout(
                            self.timeout,
                            Box::pin(self.http_connect(i, user.id)),
                        )
                        .await
                    {
                        user.conns[i] = Some(Conn::Http(c));
                    }
                }
                Target::Grpc { .. } => {
                    let _ = tokio::time::timeout(self.timeout, self.grpc_conn(i, user)).await;
                }
            }
        }
    }

    /// `user`'s HTTP connection to target `i` (its own, or its handle on a
    /// shared one): the one it keeps if still usable, else a new one.
    /// Takes the user's connections alone, so that the rest of the user
    /// stays free to render the request.
    pub(super) async fn http_conn<'c>(
        &self,
        i: usize,
        id: u64,
        conns: &'c mut [Option<Conn>],
    ) -> Result<&'c mut HttpConn, Failed> {
        let slot = conns.get_mut(i).ok_or_else(|| Failed::bare(no_target()))?;
        let usable = match slot {
            // A TCP connection to a target that now offers HTTP/3 (Alt-Svc)
            // is replaced by an HTTP/3 one.
            Some(Conn::Http(c)) => c.is_usable() && (c.is_h3() || !self.prefers_h3(i)),
            _ => false,
        };
        if !usable {
            *slot = None;
            // Boxed: a connect is rare, and its state need not live in
            // every idle user.
            let c = Box::pin(self.http_connect(i, id))
                .await
                .map_err(Failed::bare)?;
            *slot = Some(Conn::Http(c));
        }
        match slot {
            Some(Conn::Http(c)) => Ok(c),
            _ => Err(Failed::bare(no_target())),
        }
    }

    /// A connection to HTTP target `i` for user `id`: its own, or a handle
    /// on one of the shared HTTP/2 or HTTP/3 connections. A server that
    /// answers HTTP/1.1 (ALPN) gets a connection per user after all.
    async fn http_connect(&self, i: usize, id: u64) -> Result<HttpConn, Failure> {
        let (t, pool) = self.http_target(i)?;
        if pool.is_empty() {
            return t.connect().await;
        }
        let slot = &pool[(id as usize) % pool.len()];
        let mut shared = slot.lock().await;
        if let Some(c) = shared.as_ref()
            && !c.is_closed()
            && (c.is_h3() || !t.prefers_h3())
            && let Some(mine) = c.share()
        {
            return Ok(mine);
        }
        let c = t.connect().await?;
        match c.share() {
            Some(mine) => {
                *shared = Some(c);
                Ok(mine)
            }
            None => Ok(c),
        }
    }

    /// Whether HTTP target `i` now wants its connections over HTTP/3.
    fn prefers_h3(&self, i: usize) -> bool {
        self.http_target(i).is_ok_and(|(t, _)| t.prefers_h3())
    }

    /// The target for an origin no request names (a redirect led there),
    /// made once.
    pub(super) fn other_target(&self, h: &HttpSpec, base: &str) -> Result<Arc<HttpTarget>, Failed> {
        if let Some(t) = self.others.lock().get(base) {
            return Ok(t.clone());
        }
        let t = HttpTarget::with_base(h, base)
            .map(|t| t.timed(self.timeout))
            .map_err(|e| {
                Failed::bare(
                    Failure::new(FailureKind::Redirect, "cannot follow the redirect")
                        .with_detail(e.to_string()),
                )
            })?;
        let t = Arc::new(t);
        self.others.lock().insert(base.to_owned(), t.clone());
        Ok(t)
    }

    /// The connection `user` calls gRPC target `i` on: its handle on a
    /// shared one, or its own; opened (again) when it has none or it
    /// closed.
    pub(super) async fn grpc_conn(
        &self,
        i: usize,
        user: &mut UserState,
    ) -> Result<GrpcConn, Failure> {
        let Some(Target::Grpc { endpoint, shared }) = self.targets.get(i) else {
            return Err(no_target());
        };
        let slot = &mut user.conns[i];
        if let Some(Conn::Grpc(c)) = slot.as_ref()
            && !c.is_closed()
        {
            return Ok(c.clone());
        }
        *slot = None;
        let conn = if shared.is_empty() {
            // Boxed: a connect is rare, and its state need not live in
            // every idle user's call.
            Box::pin(endpoint.open()).await?
        } else {
            let mut pooled = shared[(user.id as usize) % shared.len()].lock().await;
            match pooled.as_ref() {
                Some(c) if !c.is_closed() => c.clone(),
                _ => {
                    let c = Box::pin(endpoint.open()).await?;
                    *pooled = Some(c.clone());
                    c
                }
            }
        };
        user.conns[i] = Some(Conn::Grpc(conn.clone()));
        Ok(conn)
    }

    /// gRPC target `i`'s endpoint.
    pub(super) fn grpc_endpoint(&self, i: usize) -> Result<&GrpcEndpoint, Failure> {
        match self.targets.get(i) {
            Some(Target::Grpc { endpoint, .. }) => Ok(endpoint),
            _ => Err(no_target()),
        }
    }
}
