//! Test support: one minimal, bounded HTTP/1.1 client over `std` only, shared
//! by the other support modules (`prometheus.rs`, `browser.rs`) and the tests.
//!
//! Use it from an integration test with
//!
//! ```ignore
//! #[path = "support/http.rs"]
//! mod http;
//! ```
//!
//! (a test crate that includes `support/prometheus.rs` or
//! `support/browser.rs` must declare it too: they call `crate::http::…`).
//!
//! Every exchange uses a fresh connection with `Connection: close`. Responses
//! may be framed by `Content-Length`, by `Transfer-Encoding: chunked`
//! (extensions and trailers are skipped) or by the connection closing;
//! interim `1xx` responses are skipped; `HEAD` answers and `101`/`204`/`304`
//! have no body. No function here panics, and every wait is bounded.
#![allow(dead_code)]

use std::fmt::{self, Write as _};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Upper bound for connecting (loopback: anything slower is broken); lowered
/// to the exchange's own `timeout` when that is shorter.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Upper bound for a whole [`get`] exchange, however the server trickles.
pub const GET_TIMEOUT: Duration = Duration::from_secs(30);

/// Upper bound for a response's status line and headers.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Headers that frame the request, which [`request`] alone writes.
const RESERVED_HEADERS: &[&str] = &["connection", "content-length", "transfer-encoding"];

/// One HTTP/1.1 exchange over a fresh connection to `addr`.
///
/// Sends `METHOD path_and_query HTTP/1.1` with `Host: <addr>` (unless
/// `headers` has a `Host`), `Connection: close`, `Accept-Encoding: identity`
/// and `User-Agent: aureus-test-support` (each unless `headers` has one),
/// then `headers` as given. A `body` is sent with its `Content-Length`
/// (`POST`/`PUT`/`PATCH` without one send `Content-Length: 0`); no
/// `Content-Type` is added: pass e.g. `("Content-Type", "application/json")`.
/// `Connection`, `Content-Length` and `Transfer-Encoding` in `headers`, and
/// CR/LF in any name or value, are an `Err`.
///
/// Returns the final status code and the raw body. Connecting times out
/// after at most 10 s; the whole exchange (connect, send, receive) after
/// `timeout`, which must be non-zero. Errors read
/// `METHOD http://ADDR/PATH: WHAT: DETAIL`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), String> {
    let ctx = |what: &str, e: &dyn fmt::Display| format!("{method} http://{addr}{path_and_query}: {what}: {e}");
    let deadline = Instant::now()
        .checked_add(timeout)
        .filter(|_| !timeout.is_zero())
        .ok_or_else(|| ctx("timeout", &format!("{timeout:?} is not a usable bound")))?;
    let fail = |what: &str, f: IoFailure| match f {
        IoFailure::TimedOut => ctx("timeout", &format!("no complete response within {timeout:?}")),
        IoFailure::Error(e) => ctx(what, &e),
    };
    let req = build_request(addr, method, path_and_query, headers, body).map_err(|e| ctx("request", &e))?;

    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT.min(timeout)).map_err(|e| ctx("connect", &e))?;
    let _ = stream.set_nodelay(true);

    // Send, each write bounded by what is left of the exchange.
    let mut unsent: &[u8] = &req;
    while !unsent.is_empty() {
        match bounded_io(&mut stream, deadline, Direction::Write, |s| s.write(unsent)).map_err(|f| fail("write", f))? {
            0 => return Err(ctx("write", &"connection closed while sending the request")),
            n => unsent = unsent.get(n..).unwrap_or_default(),
        }
    }

    // Receive until the response is complete (or the server closes).
    let is_head_request = method.eq_ignore_ascii_case("HEAD");
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut head: Option<Head> = None;
    let mut eof = false;
    loop {
        while head.is_none() {
            match parse_head(&buf).map_err(|e| ctx("response", &e))? {
                // An interim answer (100 Continue, 103 Early Hints, …): the
                // final response follows it.
                Some(h) if h.is_interim() => {
                    buf.drain(..h.len.min(buf.len()));
                }
                Some(h) => head = Some(h),
                None => break,
            }
        }
        match &head {
            Some(h) => {
                let rest = buf.get(h.len..).unwrap_or_default();
                if let Some(body) = complete_body(h, is_head_request, rest, eof).map_err(|e| ctx("body", &e))? {
                    return Ok((h.status, body));
                }
                if eof {
                    return Err(ctx("body", &"connection closed before the end of the body"));
                }
            }
            None if eof => return Err(ctx("response", &"connection closed before the end of the headers")),
            None => {}
        }
        match bounded_io(&mut stream, deadline, Direction::Read, |s| s.read(&mut chunk)).map_err(|f| fail("read", f))? {
            0 => eof = true,
            n => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
}

/// `GET path_and_query` with `headers` (see [`request`]): the status code and
/// the body, which must be UTF-8. The whole exchange is bounded by 30 s.
pub fn get(addr: SocketAddr, path_and_query: &str, headers: &[(&str, &str)]) -> Result<(u16, String), String> {
    let (status, body) = request(addr, "GET", path_and_query, headers, None, GET_TIMEOUT)?;
    String::from_utf8(body)
        .map(|text| (status, text))
        .map_err(|e| format!("GET http://{addr}{path_and_query}: body: HTTP {status}: body is not UTF-8: {e}"))
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for a URL
/// path segment or a query-string value.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A port that was free on 127.0.0.1 a moment ago (bind to port 0, read it,
/// close). Another process may take it before the caller uses it: callers
/// that start a server on it retry on "address in use".
pub fn free_loopback_port() -> Result<u16, String> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("binding 127.0.0.1:0: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("local_addr of 127.0.0.1:0 listener: {e}"))?
        .port();
    drop(listener);
    Ok(port)
}

// ---------------------------------------------------------------------------
// request
// ---------------------------------------------------------------------------

/// The request's bytes: request line, headers (see [`request`]), blank line,
/// body.
fn build_request(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(format!("bad method {method:?}"));
    }
    if path_and_query.is_empty() || path_and_query.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "bad request target {path_and_query:?} (empty, or with spaces or control characters)"
        ));
    }
    for (name, value) in headers {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(format!("bad header name {name:?}"));
        }
        if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(format!("header {name}: value contains CR, LF or NUL"));
        }
        if RESERVED_HEADERS.iter().any(|r| name.eq_ignore_ascii_case(r)) {
            return Err(format!("header {name} is set by the client itself"));
        }
    }
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));

    let mut req = format!("{method} {path_and_query} HTTP/1.1\r\n");
    if !has("host") {
        let _ = write!(req, "Host: {addr}\r\n");
    }
    req.push_str("Connection: close\r\n");
    if !has("accept-encoding") {
        req.push_str("Accept-Encoding: identity\r\n");
    }
    if !has("user-agent") {
        req.push_str("User-Agent: aureus-test-support\r\n");
    }
    for (name, value) in headers {
        let _ = write!(req, "{name}: {value}\r\n");
    }
    match body {
        Some(body) => {
            let _ = write!(req, "Content-Length: {}\r\n", body.len());
        }
        None if ["POST", "PUT", "PATCH"].iter().any(|m| method.eq_ignore_ascii_case(m)) => {
            req.push_str("Content-Length: 0\r\n");
        }
        None => {}
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    Ok(bytes)
}

/// An RFC 9110 `tchar` (method and header-name characters).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Which way [`bounded_io`] moves bytes.
#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

/// Why [`bounded_io`] moved nothing.
enum IoFailure {
    /// The deadline passed (before or during the call).
    TimedOut,
    /// Any other I/O error.
    Error(io::Error),
}

/// One `read` or `write` (`op`) on `stream` with the socket's timeout set to
/// what is left until `deadline`, retried when interrupted; the number of
/// bytes it moved.
fn bounded_io(
    stream: &mut TcpStream,
    deadline: Instant,
    direction: Direction,
    mut op: impl FnMut(&mut TcpStream) -> io::Result<usize>,
) -> Result<usize, IoFailure> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(IoFailure::TimedOut);
        }
        match direction {
            Direction::Read => stream.set_read_timeout(Some(left)),
            Direction::Write => stream.set_write_timeout(Some(left)),
        }
        .map_err(IoFailure::Error)?;
        match op(stream) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(IoFailure::TimedOut)
            }
            Err(e) => return Err(IoFailure::Error(e)),
        }
    }
}

// ---------------------------------------------------------------------------
// response
// ---------------------------------------------------------------------------

/// Status line and framing of a response.
#[derive(Debug, PartialEq)]
struct Head {
    /// Bytes up to and including the blank line.
    len: usize,
    status: u16,
    framing: Framing,
}

impl Head {
    /// A `1xx` other than `101 Switching Protocols`: another head follows.
    fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// How the end of a response body is found (RFC 9112 §6.3).
#[derive(Debug, PartialEq)]
enum Framing {
    /// `Transfer-Encoding` ending in `chunked` (wins over `Content-Length`).
    Chunked,
    /// `Content-Length`.
    Length(usize),
    /// Neither, or a `Transfer-Encoding` not ending in `chunked`: the body
    /// ends when the connection closes.
    Close,
}

/// Parses the status line and headers at the start of `buf`; `Ok(None)`
/// while the header block (ending in a blank line) is incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let window = buf.get(..buf.len().min(MAX_HEAD_BYTES)).unwrap_or_default();
    let Some(end) = find(window, b"\r\n\r\n") else {
        return if buf.len() >= MAX_HEAD_BYTES {
            Err(format!("no end of the headers within {MAX_HEAD_BYTES} bytes"))
        } else {
            Ok(None)
        };
    };
    // Only ASCII names and values matter here; anything else is kept lossily.
    let text = String::from_utf8_lossy(window.get(..end).unwrap_or_default());
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1.x status line: {status_line:?}"));
    }
    let status = Some(code)
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|s| *s >= 100)
        .ok_or_else(|| format!("bad status code in {status_line:?}"))?;

    let mut content_length: Option<usize> = None;
    let mut transfer_chunked: Option<bool> = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            // `5` or a list of equal values (`5, 5`, or repeated headers).
            for item in value.split(',') {
                let item = item.trim();
                let len: usize = Some(item)
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("bad Content-Length {value:?}"))?;
                if content_length.is_some_and(|l| l != len) {
                    return Err(format!("conflicting Content-Length values ({value:?})"));
                }
                content_length = Some(len);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Codings of repeated headers concatenate: the last one counts.
            if let Some(last) = value.rsplit(',').map(str::trim).find(|c| !c.is_empty()) {
                transfer_chunked = Some(last.eq_ignore_ascii_case("chunked"));
            }
        }
    }
    let framing = match (transfer_chunked, content_length) {
        (Some(true), _) => Framing::Chunked,
        (Some(false), _) => Framing::Close,
        (None, Some(len)) => Framing::Length(len),
        (None, None) => Framing::Close,
    };
    Ok(Some(Head {
        len: end + 4,
        status,
        framing,
    }))
}

/// The decoded body once `rest` (everything after the head) holds all of it;
/// `Ok(None)` while more bytes are needed. `eof` marks that no more will come
/// (which completes a close-delimited body).
fn complete_body(head: &Head, is_head_request: bool, rest: &[u8], eof: bool) -> Result<Option<Vec<u8>>, String> {
    if is_head_request || matches!(head.status, 100..=199 | 204 | 304) {
        return Ok(Some(Vec::new()));
    }
    match head.framing {
        Framing::Chunked => {
            // A chunked message ends with CRLF CRLF (last chunk, trailers,
            // blank line): only then is a full decode worth trying, which
            // keeps large bodies (screenshots) linear rather than quadratic.
            if !eof && !rest.ends_with(b"\r\n\r\n") {
                return Ok(None);
            }
            decode_chunked(rest)
        }
        Framing::Length(len) => Ok(rest.get(..len).map(<[u8]>::to_vec)),
        Framing::Close => Ok(eof.then(|| rest.to_vec())),
    }
}

/// Decodes a chunked body; `Ok(None)` if it is not complete yet. Chunk
/// extensions (`5;name=value`) and trailers are skipped.
fn decode_chunked(mut rest: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    loop {
        let Some(eol) = find(rest, b"\r\n") else {
            return Ok(None);
        };
        let size_line = String::from_utf8_lossy(rest.get(..eol).unwrap_or_default()).into_owned();
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = Some(size_hex)
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("bad chunk size line {size_line:?}"))?;
        rest = rest.get(eol + 2..).unwrap_or_default();
        if size == 0 {
            // Trailer section: header lines, then an empty line.
            loop {
                let Some(eol) = find(rest, b"\r\n") else {
                    return Ok(None);
                };
                if eol == 0 {
                    return Ok(Some(body));
                }
                rest = rest.get(eol + 2..).unwrap_or_default();
            }
        }
        let Some(data_end) = size.checked_add(2) else {
            return Err(format!("chunk size {size_hex:?} is too large"));
        };
        let Some(data) = rest.get(..data_end) else {
            return Ok(None);
        };
        if !data.ends_with(b"\r\n") {
            return Err("chunk data not followed by CRLF".to_string());
        }
        body.extend_from_slice(data.get(..size).unwrap_or_default());
        rest = rest.get(data_end..).unwrap_or_default();
    }
}

/// Offset of the first `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    /// Serves one connection on a loopback port: reads the request head (and
    /// a `Content-Length` body), writes `parts` with a short pause between
    /// them, then waits (≤ 5 s) for the client to close. The thread returns
    /// the request it read.
    fn serve(parts: Vec<Vec<u8>>) -> (SocketAddr, thread::JoinHandle<Vec<u8>>) {
        serve_then(parts, true)
    }

    /// [`serve`], but the server closes the connection right after `parts`.
    fn serve_and_hang_up(parts: Vec<Vec<u8>>) -> (SocketAddr, thread::JoinHandle<Vec<u8>>) {
        serve_then(parts, false)
    }

    fn serve_then(parts: Vec<Vec<u8>>, wait_for_client: bool) -> (SocketAddr, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut req = Vec::new();
            let mut byte = [0u8; 1];
            while !req.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
                req.push(byte[0]);
            }
            let text = String::from_utf8_lossy(&req).to_ascii_lowercase();
            let len: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            let mut body = vec![0u8; len];
            s.read_exact(&mut body).unwrap();
            req.extend_from_slice(&body);
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    thread::sleep(Duration::from_millis(20));
                }
                s.write_all(part).unwrap();
            }
            if wait_for_client {
                let _ = s.read(&mut byte); // until the client closes, or 5 s
            }
            req
        });
        (addr, handle)
    }

    fn parts(parts: &[&[u8]]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.to_vec()).collect()
    }

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn content_length_and_default_headers() {
        let (addr, server) = serve(parts(&[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"]));
        assert_eq!(
            get(addr, "/a?b=c", &[("X-Test", "1")]).unwrap(),
            (200, "hello".to_string())
        );
        let req = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(req.starts_with("GET /a?b=c HTTP/1.1\r\n"), "{req}");
        for line in [
            &format!("Host: {addr}"),
            "Connection: close",
            "Accept-Encoding: identity",
            "X-Test: 1",
        ] {
            assert!(req.contains(&format!("{line}\r\n")), "{line} in {req}");
        }
        assert!(!req.to_ascii_lowercase().contains("content-type"), "{req}");
        assert!(!req.to_ascii_lowercase().contains("content-length"), "{req}");
    }

    #[test]
    fn body_content_type_only_when_given_and_caller_headers_win() {
        let ok = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
        let (addr, server) = serve(parts(&[ok]));
        let headers = [("Content-Type", "application/json"), ("Accept-Encoding", "gzip")];
        let (status, body) = request(addr, "POST", "/p", &headers, Some(b"{\"a\":1}"), T).unwrap();
        assert_eq!((status, body.as_slice()), (201, &b""[..]));
        let req = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(req.contains("Content-Length: 7\r\n"), "{req}");
        assert!(req.contains("Content-Type: application/json\r\n"), "{req}");
        assert!(req.contains("Accept-Encoding: gzip\r\n"), "{req}");
        assert!(!req.contains("identity"), "{req}");
        assert!(req.ends_with("\r\n\r\n{\"a\":1}"), "{req}");

        let (addr, server) = serve(parts(&[ok]));
        request(addr, "POST", "/p", &[], None, T).unwrap();
        let req = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(req.contains("Content-Length: 0\r\n"), "{req}");
        assert!(!req.to_ascii_lowercase().contains("content-type"), "{req}");
    }

    #[test]
    fn chunked_with_extensions_and_trailers_across_writes() {
        let (addr, _server) = serve(parts(&[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5;na",
            b"me=val\r\nhel",
            b"lo\r\n6 ; x=\"y\"\r\n world\r\n0;end\r\nX-Trailer: 1\r\n",
            b"\r\n",
        ]));
        assert_eq!(get(addr, "/", &[]).unwrap(), (200, "hello world".to_string()));
    }

    #[test]
    fn close_delimited_body_ends_at_eof() {
        let (addr, server) = serve_and_hang_up(parts(&[
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nuntil ",
            b"close",
        ]));
        assert_eq!(get(addr, "/", &[]).unwrap(), (200, "until close".to_string()));
        server.join().unwrap();
    }

    #[test]
    fn no_body_for_204_304_and_head_without_waiting_for_eof() {
        for (method, response) in [
            ("GET", &b"HTTP/1.1 204 No Content\r\n\r\n"[..]),
            ("GET", &b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"[..]),
            ("HEAD", &b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n"[..]),
        ] {
            let (addr, server) = serve(parts(&[response]));
            let start = Instant::now();
            let (status, body) = request(addr, method, "/", &[], None, T).unwrap();
            assert!(body.is_empty(), "{status}: {body:?}");
            assert!(start.elapsed() < Duration::from_secs(2), "waited for EOF on {status}");
            server.join().unwrap();
        }
    }

    #[test]
    fn interim_1xx_responses_are_skipped() {
        let (addr, _server) = serve(parts(&[
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ]));
        assert_eq!(get(addr, "/", &[]).unwrap(), (200, "ok".to_string()));
    }

    #[test]
    fn truncated_and_malformed_responses_are_errors() {
        let cases: [(&[u8], &str); 6] = [
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
                "before the end of the body",
            ),
            (b"HTTP/1.1 200 OK\r\nContent-Le", "before the end of the headers"),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
                "bad chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n\r\n",
                "bad chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n\r\n",
                "too large",
            ),
            (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
        ];
        for (response, expected) in cases {
            let (addr, server) = serve_and_hang_up(parts(&[response]));
            let err = get(addr, "/x", &[]).unwrap_err();
            assert!(err.starts_with(&format!("GET http://{addr}/x: ")), "{err}");
            assert!(err.contains(expected), "{expected:?} in {err}");
            server.join().unwrap();
        }
    }

    #[test]
    fn a_trickling_server_hits_the_timeout() {
        let (addr, _server) = serve(parts(&[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"]));
        let start = Instant::now();
        let err = request(addr, "GET", "/", &[], None, Duration::from_millis(300)).unwrap_err();
        assert!(err.contains("timeout"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    }

    #[test]
    fn get_wants_utf8() {
        let (addr, _server) = serve(parts(&[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n\xff\xfe"]));
        assert!(get(addr, "/", &[]).unwrap_err().contains("not UTF-8"));
    }

    #[test]
    fn bad_requests_are_refused_before_connecting() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 9));
        for (method, path, headers) in [
            ("GET", "/a b", &[][..]),
            ("G T", "/", &[][..]),
            ("GET", "/", &[("X-Evil", "1\r\nInjected: 2")][..]),
            ("GET", "/", &[("Content-Length", "3")][..]),
            ("GET", "/", &[("Connection", "keep-alive")][..]),
        ] {
            let err = request(addr, method, path, headers, None, T).unwrap_err();
            assert!(err.contains(": request: "), "{err}");
        }
        assert!(request(addr, "GET", "/", &[], None, Duration::ZERO)
            .unwrap_err()
            .contains("timeout"));
        assert!(request(addr, "GET", "/", &[], None, Duration::MAX)
            .unwrap_err()
            .contains("timeout"));
    }

    #[test]
    fn head_parsing_edge_cases() {
        let head = |s: &str| parse_head(s.as_bytes());
        assert_eq!(head("HTTP/1.1 200 OK\r\n"), Ok(None));
        let listed = "HTTP/1.1 200\r\ncontent-length: 3, 3\r\n\r\n";
        assert_eq!(
            parse_head(format!("{listed}abc").as_bytes()),
            Ok(Some(Head {
                len: listed.len(),
                status: 200,
                framing: Framing::Length(3)
            }))
        );
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n").is_err());
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").is_err());
        assert!(head("HTTP/1.1 20 OK\r\n\r\n").is_err());
        let framing = |s: &str| head(s).unwrap().unwrap().framing;
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"),
            Framing::Chunked
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Framing::Close
        );
        assert!(parse_head(&vec![b'a'; MAX_HEAD_BYTES]).is_err());
        assert_eq!(decode_chunked(b"3\r\nabc\r\n0\r\n"), Ok(None));
        assert_eq!(decode_chunked(b"3\r\nabc\r\n0\r\n\r\n"), Ok(Some(b"abc".to_vec())));
        assert!(decode_chunked(b"3\r\nabcd\r\n0\r\n\r\n").is_err());
    }

    #[test]
    fn percent_encoding_and_free_port() {
        assert_eq!(percent_encode("a b/ü~-._"), "a%20b%2F%C3%BC~-._");
        assert_eq!(percent_encode("sum(rate(x[1m]))"), "sum%28rate%28x%5B1m%5D%29%29");
        assert_ne!(free_loopback_port().unwrap(), 0);
    }
}
