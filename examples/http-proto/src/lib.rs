//! The HTTP/1.1 the example servers speak (`http-server` on kwasm_net,
//! `http-std` on std alone): an incremental request parser and the
//! responses. Std only, no I/O: the servers feed it the bytes they read and
//! write the bytes it gives back.
//!
//! What it accepts (RFC 9112, strictly, and small):
//!
//! * Lines end with CRLF. Empty lines before a request line are skipped.
//! * A request line `METHOD SP target SP HTTP/1.x`, with single spaces, a
//!   token method, a target of visible ASCII, and HTTP/1.0 or HTTP/1.1.
//! * Header lines `name: value`: a token name right before the colon
//!   (no whitespace, no obs-fold), a value of visible characters, spaces
//!   and tabs. The whole header section is at most [`MAX_HEAD`] bytes.
//! * `Content-Length` (decimal digits; repeated only with the same value)
//!   says how long the body is: it is read and thrown away, so the next
//!   pipelined request starts after it, and a request is complete only
//!   when its body is. Any `Transfer-Encoding` is not implemented (501).
//! * `Connection` tokens `close` and `keep-alive` (any case) decide whether
//!   the connection stays open: HTTP/1.1 keeps it unless `close`, HTTP/1.0
//!   closes it unless `keep-alive`.
//! * `Expect: 100-continue` on an HTTP/1.1 request with a body that has
//!   not arrived is answered [`CONTINUE`] (see [`Parser::take_continue`]),
//!   so a client waiting for it (curl does, for large uploads) goes on.
//!
//! Every request is answered `200 OK` with `Hello, world!` (no body for
//! `HEAD`, as HTTP requires); an [`Error`] is answered `400` or `501`, and
//! the connection closes after it.

use std::fmt;

/// The most bytes a request line and its headers (with the blank line that
/// ends them) may take; more is `400 Bad Request`.
pub const MAX_HEAD: usize = 8 * 1024;

/// The body of every `200 OK`.
pub const BODY: &[u8] = b"Hello, world!";

/// The interim response that tells a client to send the body it announced.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The HTTP version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// A complete request (its body, if any, already read and dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub version: Version,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// The length of the body that was skipped.
    pub content_length: u64,
}

impl Request {
    /// Appends the response to `out`: `200 OK`, `Hello, world!`, and
    /// `Connection: close` if the connection closes after it (or
    /// `Connection: keep-alive` if an HTTP/1.0 client asked to keep it).
    pub fn write_response(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n");
        if !self.keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if self.version == Version::Http10 {
            // An HTTP/1.0 client keeps the connection only if told so.
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if self.method != "HEAD" {
            out.extend_from_slice(BODY);
        }
    }
}

/// Why a request cannot be served. The connection closes after the
/// response, since where the next request would start is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Malformed, or a header section over [`MAX_HEAD`]: `400 Bad Request`.
    BadRequest(&'static str),
    /// A `Transfer-Encoding` (chunked bodies): `501 Not Implemented`.
    NotImplemented(&'static str),
}

impl Error {
    /// Appends the response to `out`.
    pub fn write_response(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self {
            Error::BadRequest(_) => b"HTTP/1.1 400 Bad Request\r\n".as_slice(),
            Error::NotImplemented(_) => b"HTTP/1.1 501 Not Implemented\r\n".as_slice(),
        });
        out.extend_from_slice(b"Content-Length: 0\r\nConnection: close\r\n\r\n");
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadRequest(why) => write!(f, "bad request: {why}"),
            Error::NotImplemented(what) => write!(f, "not implemented: {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// Splits a connection's bytes into requests, however they arrive: in
/// pieces cut anywhere, or several at once (pipelining).
///
/// [`push`](Self::push) what was read, then call
/// [`next_request`](Self::next_request) until it is `Ok(None)`. It buffers
/// at most one incomplete header section (plus the last push); bodies are
/// counted off, never stored. After an error every call returns it again.
#[derive(Debug, Default)]
pub struct Parser {
    buf: Vec<u8>,
    /// Where the unparsed bytes in `buf` start.
    pos: usize,
    /// A request whose body is still arriving.
    body: Option<Body>,
    /// How many bytes of the header section at `pos` were already searched
    /// for its end, so a head arriving a byte at a time is not rescanned.
    scanned: usize,
    /// Whether its request line was complete (and valid) in those bytes.
    line_checked: bool,
    failed: Option<Error>,
}

/// The request whose body is being skipped.
#[derive(Debug)]
struct Body {
    request: Request,
    /// How many body bytes have not arrived yet.
    left: u64,
    /// Whether the client waits for [`CONTINUE`] before sending them.
    expects_continue: bool,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Adds bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        // Forget what was parsed, so the buffer never grows with it.
        self.buf.drain(..self.pos);
        self.pos = 0;
        self.buf.extend_from_slice(bytes);
    }

    /// Whether to send [`CONTINUE`] now, after the responses so far: the
    /// request whose body is arriving asked for it (`Expect: 100-continue`).
    /// True once per request, and only while its body is incomplete.
    pub fn take_continue(&mut self) -> bool {
        self.body
            .as_mut()
            .is_some_and(|b| std::mem::take(&mut b.expects_continue))
    }

    /// The next complete request, `Ok(None)` if more bytes are needed.
    pub fn next_request(&mut self) -> Result<Option<Request>, Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let next = self.advance();
        if let Err(e) = next {
            self.failed = Some(e);
        }
        next
    }

    fn advance(&mut self) -> Result<Option<Request>, Error> {
        loop {
            let input = &self.buf[self.pos..];
            if let Some(body) = &mut self.body {
                let skip = body.left.min(input.len() as u64);
                self.pos += skip as usize;
                body.left -= skip;
                return Ok(if body.left == 0 {
                    self.body.take().map(|b| b.request)
                } else {
                    None
                });
            }
            // RFC 9112 §2.2: ignore empty lines before a request line.
            // (Only a lone CR can have been scanned before: anything longer
            // was a request line already.)
            if input.starts_with(b"\r\n") {
                self.pos += 2;
                self.scanned = 0;
                continue;
            }
            let window = &input[..input.len().min(MAX_HEAD)];
            // Reject a bad request line as soon as it is complete, rather
            // than after the rest of the header section.
            if !self.line_checked {
                if let Some(lf) = window[self.scanned..].iter().position(|&b| b == b'\n') {
                    let line = window[..self.scanned + lf]
                        .strip_suffix(b"\r")
                        .ok_or(Error::BadRequest("bare LF"))?;
                    parse_request_line(line)?;
                    self.line_checked = true;
                }
            }
            // The end may straddle what was searched and what is new.
            let from = self.scanned.saturating_sub(3);
            let Some(end) = find(&window[from..], b"\r\n\r\n").map(|i| from + i) else {
                self.scanned = window.len();
                return if input.len() >= MAX_HEAD {
                    Err(Error::BadRequest("header section too large"))
                } else {
                    Ok(None)
                };
            };
            let (request, expects_continue) = parse_head(&window[..end])?;
            self.pos += end + 4;
            (self.scanned, self.line_checked) = (0, false);
            if request.content_length == 0 {
                return Ok(Some(request));
            }
            self.body = Some(Body {
                left: request.content_length,
                request,
                expects_continue,
            });
        }
    }
}

/// Where `needle` (not empty) first starts in `haystack`: a scan for its
/// first byte, then a comparison (no per-position slice comparison, which
/// costs a call each in wasm).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(i) = haystack[from..].iter().position(|&b| b == first) {
        let at = from + i;
        if haystack[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// RFC 9110 `tchar`: what a method or a header name is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// A request line's method, target and version, checked.
fn parse_request_line(line: &[u8]) -> Result<(&[u8], &[u8], Version), Error> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::BadRequest("request line is not METHOD SP target SP version"));
    };
    if !is_token(method) {
        return Err(Error::BadRequest("bad method"));
    }
    if target.is_empty() || !target.iter().all(|b| b.is_ascii_graphic()) {
        return Err(Error::BadRequest("bad request target"));
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        _ => return Err(Error::BadRequest("not HTTP/1.0 or HTTP/1.1")),
    };
    Ok((method, target, version))
}

/// The lines of a header section without its final CRLF CRLF. A stray CR
/// or LF stays in its line, where no check lets it pass.
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(head);
    std::iter::from_fn(move || {
        let r = rest?;
        Some(match find(r, b"\r\n") {
            Some(i) => {
                rest = Some(&r[i + 2..]);
                &r[..i]
            }
            None => {
                rest = None;
                r
            }
        })
    })
}

/// A header section without its final CRLF CRLF: the request, and whether
/// it expects `100 Continue` before its body.
fn parse_head(head: &[u8]) -> Result<(Request, bool), Error> {
    let mut lines = lines(head);
    let (method, target, version) = parse_request_line(lines.next().unwrap_or_default())?;
    // Both are ASCII (checked), so these cannot fail.
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (method, target) = (text(method), text(target));
    let (mut close, mut keep_alive, mut transfer_encoding, mut expect) = (false, false, false, false);
    let mut content_length: Option<u64> = None;
    for line in lines {
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(Error::BadRequest("header line without a colon"))?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if !is_token(name) {
            return Err(Error::BadRequest("bad header name"));
        }
        if !value
            .iter()
            .all(|&b| b == b'\t' || b == b' ' || b.is_ascii_graphic() || b >= 0x80)
        {
            return Err(Error::BadRequest("control character in header value"));
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_length(value)?;
            if content_length.is_some_and(|m| m != n) {
                return Err(Error::BadRequest("conflicting Content-Length"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"expect") {
            expect |= value.eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in value.split(|&b| b == b',').map(trim) {
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    if transfer_encoding {
        return Err(Error::NotImplemented("Transfer-Encoding"));
    }
    let request = Request {
        method,
        target,
        version,
        keep_alive: !close && (version == Version::Http11 || keep_alive),
        content_length: content_length.unwrap_or(0),
    };
    // An HTTP/1.0 client does not know 1xx responses (RFC 9110 §15.2).
    Ok((request, expect && version == Version::Http11))
}

/// Without leading and trailing spaces and tabs (RFC 9110 OWS).
fn trim(s: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = s.iter().position(|b| !is_ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

fn parse_length(value: &[u8]) -> Result<u64, Error> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(Error::BadRequest("Content-Length is not a number"));
    }
    value.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(Error::BadRequest("Content-Length too large"))
    })
}

#[cfg(test)]
mod tests;
