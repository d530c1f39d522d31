//! `GET /api/monitoring/stream`: server-sent events of new records and alert changes.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

use crate::dashboard::Monitoring;

/// Streams `event: record` (a record's JSON) and `event: alert` (an alert's JSON).
/// A subscriber that falls behind skips what it missed (the page re-polls).
pub(crate) async fn stream(State(monitoring): State<Monitoring>) -> Response {
    let mut records = monitoring.records.subscribe();
    let mut alerts = monitoring.alerting.as_ref().map(|a| a.changes.subscribe());
    let events = async_stream(move |tx| async move {
        loop {
            let event = tokio::select! {
                record = records.recv() => match record {
                    Ok(record) => Event::default().event("record").data(record.json_line()),
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                },
                alert = async {
                    match alerts.as_mut() {
                        Some(alerts) => alerts.recv().await,
                        None => std::future::pending().await,
                    }
                } => match alert {
                    Ok(alert) => match serde_json::to_string(&alert) {
                        Ok(json) => Event::default().event("alert").data(json),
                        Err(_) => continue,
                    },
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                },
            };
            if tx.send(Ok(event)).await.is_err() {
                break;
            }
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// A stream fed by a task through a small channel (ends when the task does or the client leaves).
fn async_stream<F, Fut>(produce: F) -> impl futures_core::Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Event, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(produce(tx));
    ReceiverStream(rx)
}

/// Adapts a tokio receiver to a `Stream`.
struct ReceiverStream<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> futures_core::Stream for ReceiverStream<T> {
    type Item = T;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}
