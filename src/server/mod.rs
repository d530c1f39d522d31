//! The HTTP listener: one address serving `/metrics`, the dashboard at
//! `/monitoring` and its JSON API under `/api/monitoring/`.
//!
//! It runs on its own thread with its own small tokio runtime, so it works
//! the same from a synchronous `main` and inside the application's runtime,
//! and never competes with the kernel's tasks. The port is bound inside
//! [`crate::init`], so "address in use" is an error there, not a panic later.

mod api;
mod auth;
mod log_level;
mod page;
pub(crate) mod params;
mod routes;
mod stream;

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::config::ValidatedServer;
use crate::dashboard::Monitoring;
use crate::error::{Error, Result};
use crate::metrics::MetricsHandle;

/// The running listener.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `config.listen` and starts serving.
    pub(crate) fn start(
        config: &ValidatedServer,
        metrics: MetricsHandle,
        monitoring: Option<Monitoring>,
    ) -> Result<Self> {
        let listener = std::net::TcpListener::bind(config.listen).map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| Error::Bind { addr, source })?;
        // Not marked as sink workers: acknowledging an alert records an event.
        // (No dependency of the server logs through `tracing`, so nothing loops.)
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Worker {
                sink: "http-server".to_owned(),
                source,
            })?;
        let app = routes::router(metrics.clone(), config.metrics_token.clone(), monitoring);
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("aureus-http".to_owned())
            .spawn(move || runtime.block_on(serve(listener, app, stopped)))
            .map_err(|source| Error::Worker {
                sink: "http-server".to_owned(),
                source,
            })?;
        Ok(Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address actually bound (useful with port 0).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets in-flight requests finish, waits until `deadline`.
    pub(crate) fn stop(&mut self, deadline: Instant) -> bool {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(thread) = self.thread.take() else { return true };
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        thread.join().is_ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop(Instant::now() + Duration::from_secs(2));
    }
}

async fn serve(listener: std::net::TcpListener, app: axum::Router, stopped: oneshot::Receiver<()>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("aureus-observability: HTTP listener failed: {err}");
            return;
        }
    };
    let shutdown = async {
        let _ = stopped.await;
    };
    if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        eprintln!("aureus-observability: HTTP listener stopped: {err}");
    }
}
