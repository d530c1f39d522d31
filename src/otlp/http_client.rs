//! The HTTP client of the HTTP/protobuf and HTTP/JSON exporters: `ureq`
//! (blocking, no async runtime of its own, rustls), passed to the exporter
//! explicitly so no cargo feature elsewhere can swap it for one that needs a
//! reactor.

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use opentelemetry_http::{HttpClient, HttpError};
use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig};

use crate::error::{Error, Result};

/// Most of a response body read from a collector; the rest is discarded
/// (and the connection not reused). An OTLP response is a small status
/// message: a larger body is garbage, but its HTTP status still says whether
/// the data was accepted — failing the call instead would make the exporter
/// send again what the collector already took.
const MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

/// A blocking HTTP client; each call runs on the exporting thread.
#[derive(Debug)]
pub(crate) struct UreqClient {
    agent: ureq::Agent,
}

impl UreqClient {
    /// A client whose every request ends within `timeout`, trusting the CA
    /// certificates in `ca_pem` (else the Mozilla roots) for `https://`.
    pub(crate) fn new(key: &str, timeout: Duration, ca_pem: Option<&[u8]>) -> Result<Self> {
        let mut tls = TlsConfig::builder();
        if let Some(pem) = ca_pem {
            let mut certs = Vec::new();
            for item in parse_pem(pem) {
                match item {
                    Ok(PemItem::Certificate(cert)) => certs.push(cert),
                    Ok(_) => {}
                    Err(err) => return Err(Error::config(key, "<ca file>", format!("unreadable PEM: {err}"))),
                }
            }
            tls = tls.root_certs(RootCerts::Specific(Arc::new(certs)));
        }
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .tls_config(tls.build())
            .build();
        Ok(UreqClient {
            agent: ureq::Agent::new_with_config(config),
        })
    }
}

#[async_trait::async_trait]
impl HttpClient for UreqClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> std::result::Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, &body[..]);
        let response = self.agent.run(request)?;
        let (parts, body) = response.into_parts();
        let mut bytes = Vec::new();
        body.into_reader().take(MAX_RESPONSE_BYTES).read_to_end(&mut bytes)?;
        Ok(Response::from_parts(parts, Bytes::from(bytes)))
    }
}
