//! What answers a connection's requests: a [`Front`] first, if there is
//! one, then the gateway's router.
//!
//! A front end that answers requests of its own (web applications on their
//! own host names) sees them before the gateway's routing and its layers:
//! a proxied request pays for no route lookup, no clone of a matched
//! route's boxed service and no `ConnectInfo` in its extensions (the
//! client's address is passed along instead). bench/README.md has the
//! allocations and CPU this saved per proxied request.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use tower_service::Service;

/// A response on its way.
pub type Answer = Pin<Box<dyn Future<Output = Response> + Send>>;

/// A front end answering some requests itself, before the gateway's routing.
pub trait Front: Send + Sync + 'static {
    /// Answers `req`, sent from `peer`, or gives it back for the gateway.
    #[allow(clippy::result_large_err)] // the request is given back whole, as it came
    fn answer(&self, req: Request, peer: SocketAddr) -> Result<Answer, Request>;
}

/// One connection's service: its requests go to the front end, or to the
/// router with the client's address as `ConnectInfo<SocketAddr>`.
#[derive(Clone)]
pub(crate) struct Connection {
    pub(crate) peer: SocketAddr,
    pub(crate) app: Router,
    pub(crate) front: Option<Arc<dyn Front>>,
    /// `Strict-Transport-Security` for the front end's answers (the router
    /// adds its own): set when serving TLS.
    pub(crate) hsts: Option<HeaderValue>,
}

impl Service<Request> for Connection {
    type Response = Response;
    type Error = Infallible;
    type Future = Answering;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Answering {
        let mut req = match &self.front {
            Some(front) => match front.answer(req, self.peer) {
                Ok(answer) => {
                    return Answering::Front {
                        answer,
                        hsts: self.hsts.clone(),
                    };
                }
                Err(req) => req,
            },
            None => req,
        };
        req.extensions_mut().insert(ConnectInfo(self.peer));
        // A router is always ready.
        Answering::Gateway(Box::pin(self.app.call(req)))
    }
}

/// The answer to one request: the front end's, or the gateway's.
pub(crate) enum Answering {
    Front {
        answer: Answer,
        hsts: Option<HeaderValue>,
    },
    Gateway(Pin<Box<axum::routing::future::RouteFuture<Infallible>>>),
}

impl Future for Answering {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Answering::Front { answer, hsts } => {
                let mut response = std::task::ready!(answer.as_mut().poll(cx));
                if let Some(hsts) = hsts.take() {
                    response
                        .headers_mut()
                        .insert(header::STRICT_TRANSPORT_SECURITY, hsts);
                }
                Poll::Ready(Ok(response))
            }
            Answering::Gateway(routed) => routed.as_mut().poll(cx),
        }
    }
}

/// Makes a [`Connection`] for each connection `axum::serve` accepts.
#[derive(Clone)]
pub(crate) struct Connections {
    pub(crate) app: Router,
    pub(crate) front: Option<Arc<dyn Front>>,
}

impl<L> Service<axum::serve::IncomingStream<'_, L>> for Connections
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    type Response = Connection;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Connection, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: axum::serve::IncomingStream<'_, L>) -> Self::Future {
        std::future::ready(Ok(Connection {
            peer: *stream.remote_addr(),
            app: self.app.clone(),
            front: self.front.clone(),
            hsts: None,
        }))
    }
}
