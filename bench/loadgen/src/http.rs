//! One HTTP/1.1 client connection: `GET /`, then the response parsed (status
//! line, headers, Content-Length) and its body required to be exactly
//! `Hello, world!`. Keep-alive sends the next request on the same
//! connection; with `close` the request asks for `Connection: close`, the
//! response ends at EOF and the driver reconnects.

use crate::driver::Stats;
use std::time::Instant;

const KEEPALIVE_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
const CLOSE_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
/// The body every response must have.
pub const BODY: &[u8] = b"Hello, world!";
/// A response head longer than this is an error (the servers send ~100 bytes).
const MAX_HEAD: usize = 16 * 1024;

/// A parsed response head.
#[derive(Debug, PartialEq)]
pub struct Head {
    /// Bytes of status line and headers, with the blank line.
    pub len: usize,
    pub content_length: Option<usize>,
}

/// Parses the response head at the start of `buf`: `None` while incomplete.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err(format!("no end of the response head within {MAX_HEAD} bytes"))
        } else {
            Ok(None)
        };
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| "response head is not ASCII".to_string())?;
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let rest = status
        .strip_prefix("HTTP/1.1 ")
        .ok_or_else(|| format!("status line {status:?} does not start with \"HTTP/1.1 \""))?;
    let code = rest.split_once(' ').map_or(rest, |(code, _reason)| code);
    if code != "200" {
        return Err(format!("status {code} ({status:?}), expected 200"));
    }
    let mut content_length = None;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("malformed header line {line:?}"))?;
        if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(format!("malformed header name in {line:?}"));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<usize>()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("bad Content-Length {value:?}"))?;
            if content_length.is_some_and(|c| c != n) {
                return Err(format!(
                    "conflicting Content-Length headers ({} and {n})",
                    content_length.unwrap_or(0)
                ));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!(
                "Transfer-Encoding {value:?} where a Content-Length body was expected"
            ));
        }
    }
    if let Some(n) = content_length.filter(|&n| n != BODY.len()) {
        return Err(format!(
            "Content-Length {n}, expected {} (\"Hello, world!\")",
            BODY.len()
        ));
    }
    Ok(Some(Head {
        len: end + 4,
        content_length,
    }))
}

fn check_body(body: &[u8]) -> Result<(), String> {
    if body == BODY {
        Ok(())
    } else {
        Err(format!(
            "body {:?}, expected \"Hello, world!\"",
            String::from_utf8_lossy(&body[..body.len().min(64)])
        ))
    }
}

pub struct Http {
    close: bool,
    /// Start of the request in flight (`None` before the first one).
    start: Option<Instant>,
    /// Bytes of the request written.
    sent: usize,
    response: Vec<u8>,
    head: Option<Head>,
}

impl Http {
    pub fn new(close: bool) -> Http {
        Http {
            close,
            start: None,
            sent: 0,
            response: Vec::new(),
            head: None,
        }
    }

    fn request(&self) -> &'static [u8] {
        if self.close {
            CLOSE_REQUEST
        } else {
            KEEPALIVE_REQUEST
        }
    }

    /// Starts a request (with `close`, at connect: the op includes it).
    pub fn begin(&mut self, now: Instant) {
        self.start = Some(now);
        self.sent = 0;
        self.response.clear();
        self.head = None;
    }

    pub fn has_output(&self) -> bool {
        self.start.is_some() && self.sent < self.request().len()
    }

    pub fn output(&self) -> &'static [u8] {
        &self.request()[self.sent..]
    }

    pub fn wrote(&mut self, n: usize) {
        self.sent += n;
    }

    /// Response bytes arrived.
    pub fn input(&mut self, data: &[u8], now: Instant, stats: &mut Stats) -> Result<(), String> {
        if self.sent < self.request().len() {
            return Err(format!("{} response bytes before the request was sent", data.len()));
        }
        self.response.extend_from_slice(data);
        if self.head.is_none() {
            self.head = parse_head(&self.response)?;
        }
        let Some(head) = &self.head else { return Ok(()) };
        let Some(len) = head.content_length else {
            if !self.close {
                return Err("response without Content-Length on a keep-alive connection".into());
            }
            // The body ends at EOF; it can still be checked not to run long.
            if self.response.len() > head.len + BODY.len() {
                return Err(format!("body longer than {} bytes", BODY.len()));
            }
            return Ok(());
        };
        let total = head.len + len;
        if self.response.len() < total {
            return Ok(());
        }
        if self.response.len() > total {
            return Err(format!("{} bytes after the response", self.response.len() - total));
        }
        check_body(&self.response[head.len..])?;
        if !self.close {
            let start = self.start.expect("a request is in flight");
            stats.complete(start, now, total as u64);
            self.begin(now);
        }
        Ok(())
    }

    /// The server closed the connection: the end of the response with
    /// `close` (the op completes; the driver reconnects), an error otherwise.
    pub fn eof(&mut self, now: Instant, stats: &mut Stats) -> Result<(), String> {
        let got = self.response.len();
        let incomplete = || format!("closed by the server after {got} bytes of the response");
        if !self.close {
            return Err(incomplete());
        }
        let head = self.head.as_ref().ok_or_else(incomplete)?;
        match head.content_length {
            Some(len) if got < head.len + len => return Err(incomplete()),
            Some(_) => {}
            None => check_body(&self.response[head.len..])?,
        }
        let start = self.start.expect("a request is in flight");
        stats.complete(start, now, got as u64);
        Ok(())
    }

    pub fn oldest(&self) -> Option<Instant> {
        self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 13\r\n\r\nHello, world!";

    fn stats() -> Stats {
        let now = Instant::now() - Duration::from_secs(1);
        Stats::new(now, now + Duration::from_secs(100))
    }

    #[test]
    fn heads() {
        assert_eq!(parse_head(&OK[..20]), Ok(None));
        assert_eq!(
            parse_head(OK),
            Ok(Some(Head {
                len: OK.len() - 13,
                content_length: Some(13)
            }))
        );
        let err = |r: &[u8]| parse_head(r).unwrap_err();
        assert!(err(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").contains("status 400"));
        assert!(err(b"HTTP/1.0 200 OK\r\n\r\n").contains("does not start with"));
        assert!(err(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n").contains("Content-Length 12"));
        assert!(err(b"HTTP/1.1 200 OK\r\nContent-Length: +13\r\n\r\n").contains("bad Content-Length"));
        assert!(err(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Length: 14\r\n\r\n").contains("conflicting"));
        assert!(err(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").contains("Transfer-Encoding"));
        assert!(err(b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n").contains("malformed"));
        assert!(err(&[b'x'; MAX_HEAD + 1]).contains("no end"));
        assert_eq!(
            parse_head(b"HTTP/1.1 200\r\n\r\n"),
            Ok(Some(Head {
                len: 16,
                content_length: None
            }))
        );
    }

    #[test]
    fn keepalive_in_pieces_then_next_request() {
        let (mut h, mut s) = (Http::new(false), stats());
        h.begin(Instant::now());
        assert_eq!(h.output(), KEEPALIVE_REQUEST);
        h.wrote(KEEPALIVE_REQUEST.len());
        for b in OK {
            h.input(&[*b], Instant::now(), &mut s).unwrap();
        }
        assert_eq!((s.ops, s.bytes), (1, OK.len() as u64));
        assert!(h.has_output(), "the next request is due");
        h.wrote(KEEPALIVE_REQUEST.len());
        let mut two = OK.to_vec();
        two.extend(OK);
        assert!(h
            .input(&two, Instant::now(), &mut s)
            .unwrap_err()
            .contains("after the response"));
    }

    #[test]
    fn wrong_body_and_early_close() {
        let mut h = Http::new(false);
        h.begin(Instant::now());
        h.wrote(KEEPALIVE_REQUEST.len());
        let bad = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";
        assert!(h.input(bad, Instant::now(), &mut stats()).unwrap_err().contains("body"));

        let mut h = Http::new(true);
        h.begin(Instant::now());
        h.wrote(CLOSE_REQUEST.len());
        h.input(&OK[..30], Instant::now(), &mut stats()).unwrap();
        assert!(h
            .eof(Instant::now(), &mut stats())
            .unwrap_err()
            .contains("after 30 bytes"));
    }

    #[test]
    fn close_delimited_body() {
        let (mut h, mut s) = (Http::new(true), stats());
        h.begin(Instant::now());
        h.wrote(CLOSE_REQUEST.len());
        h.input(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHello, world!",
            Instant::now(),
            &mut s,
        )
        .unwrap();
        h.eof(Instant::now(), &mut s).unwrap();
        assert_eq!(s.ops, 1);
    }
}
