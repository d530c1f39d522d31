//! Request bodies encoded by us, sent through opentelemetry-otlp's HTTP
//! exporter.
//!
//! The exporter owns the transport — endpoint, headers, timeout, gzip,
//! retries with backoff and `Retry-After`, partial-success handling — but
//! builds its protobuf body from SDK records, which costs more than the rest
//! of the pipeline together. The `otlp` log sink therefore encodes the body
//! itself straight from the records ([`super::proto`]), puts it into a
//! [`PreparedBody`], and has the exporter export a one-record placeholder
//! batch: [`PreparedClient`], the exporter's HTTP client, sends the prepared
//! body in place of the placeholder's (gzip-compressed when the exporter's
//! request says `Content-Encoding: gzip`) on every attempt of that export.
//! The span sink does the same; the metric exporter's wrapper prepares the
//! SDK's own encoding plus histogram exemplars, as protobuf or as JSON
//! ([`PreparedBody::set_as`]), replacing only bodies of that content type.

use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{Request, Response};
use opentelemetry_http::{HttpClient, HttpError};

use super::partial::Rejections;

/// The protobuf content type the HTTP exporter sends.
const PROTOBUF: &str = "application/x-protobuf";
/// The JSON content type the HTTP exporter sends.
pub(crate) const JSON: &str = "application/json";

#[derive(Debug, Default)]
struct Slot {
    raw: Option<Bytes>,
    gzipped: Option<Bytes>,
    /// The content type of the requests `raw` replaces the body of (protobuf when `None`).
    content_type: Option<&'static str>,
}

/// The body of the export in progress, shared by a sink and its exporter's client.
#[derive(Debug, Clone, Default)]
pub(crate) struct PreparedBody(Arc<Mutex<Slot>>);

impl PreparedBody {
    /// Makes `body` the payload of the next export's requests.
    pub(crate) fn set(&self, body: Vec<u8>) {
        self.set_as(body, PROTOBUF);
    }

    /// Makes `body` the payload of the next export's requests of `content_type`.
    pub(crate) fn set_as(&self, body: Vec<u8>, content_type: &'static str) {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slot.raw = Some(Bytes::from(body));
        slot.gzipped = None;
        slot.content_type = Some(content_type);
    }

    /// Ends the export: later requests carry their own bodies again.
    pub(crate) fn clear(&self) {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slot.raw = None;
        slot.gzipped = None;
    }

    /// The prepared body for a request of `content_type`, gzip-compressed
    /// when `gzip` (compressed once per export).
    fn body(&self, content_type: &str, gzip: bool) -> Option<std::io::Result<Bytes>> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.content_type.unwrap_or(PROTOBUF) != content_type {
            return None;
        }
        let raw = slot.raw.clone()?;
        if !gzip {
            return Some(Ok(raw));
        }
        if let Some(done) = &slot.gzipped {
            return Some(Ok(done.clone()));
        }
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let compressed = encoder.write_all(&raw).and_then(|()| encoder.finish()).map(Bytes::from);
        if let Ok(done) = &compressed {
            slot.gzipped = Some(done.clone());
        }
        Some(compressed)
    }
}

/// An HTTP client that sends the [`PreparedBody`], when one is set, in place
/// of the body of a request of its content type (protobuf unless set as JSON).
#[derive(Debug)]
pub(crate) struct PreparedClient<C> {
    inner: C,
    body: PreparedBody,
    /// Where a success response's partial success is counted.
    rejections: Option<Rejections>,
}

impl<C> PreparedClient<C> {
    pub(crate) fn new(inner: C, body: PreparedBody) -> Self {
        PreparedClient {
            inner,
            body,
            rejections: None,
        }
    }

    /// Counts the items each success response reports rejected
    /// ([`super::partial`]).
    pub(crate) fn counting_rejections(mut self, rejections: Rejections) -> Self {
        self.rejections = Some(rejections);
        self
    }
}

#[async_trait::async_trait]
impl<C: HttpClient> HttpClient for PreparedClient<C> {
    async fn send_bytes(&self, mut request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let header = |name: http::header::HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase)
        };
        let content_type = header(http::header::CONTENT_TYPE);
        if let Some(content_type) = &content_type {
            let gzip = header(http::header::CONTENT_ENCODING).as_deref() == Some("gzip");
            if let Some(body) = self.body.body(content_type, gzip) {
                *request.body_mut() = body?;
            }
        }
        let response = self.inner.send_bytes(request).await?;
        if let Some(rejections) = &self.rejections {
            if response.status().is_success() {
                let json = content_type.is_some_and(|t| t.starts_with(JSON));
                rejections.observe(json, response.body());
            }
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    /// Keeps the bodies it is asked to send.
    #[derive(Debug, Clone, Default)]
    struct Keep(Arc<Mutex<Vec<Bytes>>>);

    #[async_trait::async_trait]
    impl HttpClient for Keep {
        async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
            self.0.lock().unwrap().push(request.into_body());
            Ok(Response::builder().status(200).body(Bytes::new())?)
        }
    }

    fn request(content_type: &str, gzip: bool) -> Request<Bytes> {
        let mut builder = Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:9/v1/logs")
            .header("Content-Type", content_type);
        if gzip {
            builder = builder.header("Content-Encoding", "gzip");
        }
        builder.body(Bytes::from_static(b"placeholder")).unwrap()
    }

    fn send(client: &PreparedClient<Keep>, request: Request<Bytes>) -> Bytes {
        futures_executor::block_on(client.send_bytes(request)).unwrap();
        client.inner.0.lock().unwrap().pop().unwrap()
    }

    #[test]
    fn the_prepared_body_replaces_protobuf_bodies_until_cleared() {
        let body = PreparedBody::default();
        let client = PreparedClient::new(Keep::default(), body.clone());
        assert_eq!(
            &send(&client, request(PROTOBUF, false))[..],
            b"placeholder",
            "nothing prepared"
        );

        body.set(b"encoded records".to_vec());
        assert_eq!(&send(&client, request(PROTOBUF, false))[..], b"encoded records");
        // Gzip when the exporter's request says so, on every attempt.
        for _ in 0..2 {
            let sent = send(&client, request(PROTOBUF, true));
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&sent[..]).read_to_end(&mut plain).unwrap();
            assert_eq!(plain, b"encoded records");
        }
        // Other content types are left alone.
        assert_eq!(&send(&client, request("application/json", false))[..], b"placeholder");
        // A JSON body replaces JSON requests only.
        body.set_as(b"{}".to_vec(), JSON);
        assert_eq!(&send(&client, request("application/json", false))[..], b"{}");
        assert_eq!(&send(&client, request(PROTOBUF, false))[..], b"placeholder");

        body.clear();
        assert_eq!(&send(&client, request(PROTOBUF, false))[..], b"placeholder");
    }
}
