//! The parser against whole requests, requests cut at every byte,
//! pipelines, bodies, the keep-alive rules, malformed input and the limit.

use super::*;

/// Everything a parser makes of `chunks` pushed one after the other: the
/// requests, then the error that ended them, if any.
fn parse_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Request>, Option<Error>) {
    let mut p = Parser::new();
    let mut requests = Vec::new();
    for chunk in chunks {
        p.push(chunk);
        loop {
            match p.next_request() {
                Ok(Some(r)) => requests.push(r),
                Ok(None) => break,
                Err(e) => return (requests, Some(e)),
            }
        }
    }
    (requests, None)
}

fn parse(input: &[u8]) -> (Vec<Request>, Option<Error>) {
    parse_chunks([input])
}

/// The one request `input` holds.
fn one(input: &[u8]) -> Request {
    let (mut requests, err) = parse(input);
    assert_eq!(err, None, "{}", String::from_utf8_lossy(input));
    assert_eq!(requests.len(), 1, "{}", String::from_utf8_lossy(input));
    requests.remove(0)
}

/// The error `input` ends with, after any requests before it.
fn error(input: &[u8]) -> Error {
    parse(input)
        .1
        .unwrap_or_else(|| panic!("accepted: {:?}", String::from_utf8_lossy(input)))
}

fn bad(input: &[u8]) {
    assert!(
        matches!(error(input), Error::BadRequest(_)),
        "{:?}: {:?}",
        String::from_utf8_lossy(input),
        error(input)
    );
}

/// The same outcome whether `input` comes at once, a byte at a time, or
/// cut in two anywhere.
fn same_at_every_split(input: &[u8]) {
    same_at_splits(input, 0..=input.len());
}

/// The same outcome whether `input` comes at once, a byte at a time, or
/// cut in two at each of `cuts`.
fn same_at_splits(input: &[u8], cuts: impl IntoIterator<Item = usize>) {
    let whole = parse(input);
    assert_eq!(
        parse_chunks(input.chunks(1)),
        whole,
        "byte by byte: {:?}",
        String::from_utf8_lossy(input)
    );
    for cut in cuts {
        let (a, b) = input.split_at(cut);
        assert_eq!(
            parse_chunks([a, b]),
            whole,
            "cut at {cut}: {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

fn get(target: &str, version: Version, keep_alive: bool) -> Request {
    Request {
        method: "GET".into(),
        target: target.into(),
        version,
        keep_alive,
        content_length: 0,
    }
}

#[test]
fn a_simple_get() {
    assert_eq!(
        one(b"GET /hello?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"),
        get("/hello?x=1", Version::Http11, true)
    );
}

#[test]
fn any_method_and_target() {
    for (method, target) in [
        ("POST", "/"),
        ("OPTIONS", "*"),
        ("CONNECT", "example.com:443"),
        ("X-MY.METHOD", "/a/b"),
    ] {
        let r = one(format!("{method} {target} HTTP/1.1\r\n\r\n").as_bytes());
        assert_eq!((r.method.as_str(), r.target.as_str()), (method, target));
    }
    let r = one(b"GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(r.target, "http://example.com/x");
}

#[test]
fn incomplete_until_the_blank_line() {
    let mut p = Parser::new();
    p.push(b"GET / HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(p.next_request(), Ok(None));
    p.push(b"\r");
    assert_eq!(p.next_request(), Ok(None));
    p.push(b"\n");
    assert_eq!(p.next_request(), Ok(Some(get("/", Version::Http11, true))));
    assert_eq!(p.next_request(), Ok(None));
    // An empty push changes nothing.
    p.push(b"");
    assert_eq!(p.next_request(), Ok(None));
}

#[test]
fn pipelined_requests_come_out_in_order() {
    let input = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\n\r\nGET /d HT";
    let mut p = Parser::new();
    p.push(input);
    for target in ["/a", "/b", "/c"] {
        assert_eq!(p.next_request().unwrap().unwrap().target, target);
    }
    assert_eq!(p.next_request(), Ok(None));
    p.push(b"TP/1.1\r\n\r\n");
    assert_eq!(p.next_request().unwrap().unwrap().target, "/d");
    assert_eq!(p.next_request(), Ok(None));
}

#[test]
fn bodies_are_skipped() {
    let input = b"POST /form HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello worldGET /next HTTP/1.1\r\n\r\n";
    let (requests, err) = parse(input);
    assert_eq!(err, None);
    assert_eq!(requests.len(), 2);
    assert_eq!((requests[0].method.as_str(), requests[0].content_length), ("POST", 11));
    assert_eq!(requests[1], get("/next", Version::Http11, true));
    // A body that looks like a request is still a body.
    let input = b"PUT / HTTP/1.1\r\nContent-Length: 20\r\n\r\nGET /no HTTP/1.1\r\n\r\n";
    let (requests, err) = parse(input);
    assert_eq!((requests.len(), err), (1, None));
}

#[test]
fn a_request_is_complete_with_its_body() {
    let mut p = Parser::new();
    p.push(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhell");
    assert_eq!(p.next_request(), Ok(None));
    p.push(b"o");
    let r = p.next_request().unwrap().unwrap();
    assert_eq!(r.content_length, 5);
    assert_eq!(p.next_request(), Ok(None));
}

#[test]
fn large_bodies_are_not_buffered() {
    let len = 10 << 20;
    let mut p = Parser::new();
    p.push(format!("POST /upload HTTP/1.1\r\nContent-Length: {len}\r\n\r\n").as_bytes());
    let chunk = [b'x'; 16 * 1024];
    let mut sent = 0;
    while sent < len {
        let n = chunk.len().min(len - sent);
        assert_eq!(p.next_request(), Ok(None));
        p.push(&chunk[..n]);
        sent += n;
        assert!(p.buf.len() <= chunk.len() + 64, "buffered {} bytes", p.buf.len());
    }
    assert_eq!(p.next_request().unwrap().unwrap().content_length, len as u64);
}

#[test]
fn keep_alive_rules() {
    let cases: &[(&[u8], bool)] = &[
        (b"GET / HTTP/1.1\r\n\r\n", true),
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false),
        (b"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true),
        (b"GET / HTTP/1.1\r\nconnection: Upgrade, CLOSE\r\n\r\n", false),
        (b"GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", true),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
            false,
        ),
        (b"GET / HTTP/1.0\r\nConnection:\t keep-alive \t\r\n\r\n", true),
        (b"GET / HTTP/1.0\r\nX-Connection: keep-alive\r\n\r\n", false),
    ];
    for (input, keep_alive) in cases {
        assert_eq!(one(input).keep_alive, *keep_alive, "{}", String::from_utf8_lossy(input));
    }
}

#[test]
fn transfer_encoding_is_not_implemented() {
    for input in [
        &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        assert!(
            matches!(error(input), Error::NotImplemented(_)),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
    // After the requests before it.
    let (requests, err) = parse(b"GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(requests.len(), 1);
    assert!(matches!(err, Some(Error::NotImplemented(_))));
}

#[test]
fn malformed_request_lines() {
    for input in [
        &b"GET /\r\n\r\n"[..],
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1 \r\n\r\n",
        b" GET / HTTP/1.1\r\n\r\n",
        b"GET\t/ HTTP/1.1\r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",
        b"GET /a\x01b HTTP/1.1\r\n\r\n",
        b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
        b"GET / http/1.1\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / HTTP/1.12\r\n\r\n",
        b"GET / HTTP/1\r\n\r\n",
        b"\r\n\r\n\r\nnonsense\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n",
    ] {
        bad(input);
    }
}

#[test]
fn a_bad_request_line_is_rejected_before_the_headers_end() {
    let mut p = Parser::new();
    p.push(b"GET / HTTP/9.9\r\n");
    assert!(matches!(p.next_request(), Err(Error::BadRequest(_))));
    let mut p = Parser::new();
    p.push(b"hello\n");
    assert!(matches!(p.next_request(), Err(Error::BadRequest(_))));
}

#[test]
fn malformed_headers() {
    for input in [
        &b"GET / HTTP/1.1\r\nHost\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET / HTTP/1.1\r\n: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n continued\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\tcontinued\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\nb\r\n\r\n",
        b"GET / HTTP/1.1\nHost: x\n\n",
        b"GET / HTTP/1.1\r\nHost: x\nY: z\r\n\r\n",
        b"\nGET / HTTP/1.1\r\n\r\n",
    ] {
        bad(input);
    }
}

#[test]
fn header_values_may_hold_tabs_spaces_and_obs_text() {
    let r = one(b"GET / HTTP/1.1\r\nX-Thing: a\tb c \xff\xfe\r\nEmpty:\r\nSpaces:    \r\n\r\n");
    assert!(r.keep_alive);
}

#[test]
fn content_length_rules() {
    assert_eq!(
        one(b"POST / HTTP/1.1\r\nContent-Length:   3  \r\n\r\nabc").content_length,
        3
    );
    assert_eq!(one(b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n").content_length, 0);
    assert_eq!(
        one(b"POST / HTTP/1.1\r\nContent-Length: 007\r\n\r\n1234567").content_length,
        7
    );
    assert_eq!(
        one(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab").content_length,
        2
    );
    for value in [
        "",
        "abc",
        "-1",
        "+5",
        "1 2",
        "5,5",
        "0x10",
        "1.0",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        bad(format!("POST / HTTP/1.1\r\nContent-Length: {value}\r\n\r\n").as_bytes());
    }
    bad(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc");
    // The largest length is accepted (and its body would be skipped).
    let r = parse(b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\nabc");
    assert_eq!(r, (vec![], None));
}

#[test]
fn empty_lines_before_a_request_are_skipped() {
    let (requests, err) = parse(b"\r\n\r\nGET /a HTTP/1.1\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    assert_eq!(err, None);
    let targets: Vec<_> = requests.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(targets, ["/a", "/b"]);
}

/// A request whose header section (request line to blank line) is `len` bytes.
fn request_of_head_len(len: usize) -> Vec<u8> {
    let fixed = b"GET / HTTP/1.1\r\nX: \r\n\r\n".len();
    let mut r = b"GET / HTTP/1.1\r\nX: ".to_vec();
    r.resize(len - 4, b'x');
    r.extend_from_slice(b"\r\n\r\n");
    assert!(len >= fixed && r.len() == len);
    r
}

#[test]
fn the_header_section_limit() {
    // Exactly the limit is fine, also followed by another request.
    let mut input = request_of_head_len(MAX_HEAD);
    assert_eq!(one(&input).target, "/");
    input.extend_from_slice(b"GET /2 HTTP/1.1\r\n\r\n");
    assert_eq!(parse(&input).0.len(), 2);
    // One byte more is not, at once or in pieces.
    let input = request_of_head_len(MAX_HEAD + 1);
    assert_eq!(error(&input), Error::BadRequest("header section too large"));
    assert_eq!(
        parse_chunks(input.chunks(1000)).1,
        Some(Error::BadRequest("header section too large"))
    );
    // Nor is a request line that never ends, nor an endless header.
    let mut line = b"GET /".to_vec();
    line.resize(MAX_HEAD - 1, b'a');
    assert_eq!(parse(&line), (vec![], None));
    line.push(b'a');
    assert_eq!(parse(&line).1, Some(Error::BadRequest("header section too large")));
    let mut endless = b"GET / HTTP/1.1\r\n".to_vec();
    while endless.len() < 3 * MAX_HEAD {
        endless.extend_from_slice(b"X-Header: value\r\n");
    }
    assert_eq!(
        parse_chunks(endless.chunks(100)).1,
        Some(Error::BadRequest("header section too large"))
    );
}

#[test]
fn the_limit_does_not_count_what_came_before() {
    // Earlier requests and bodies in the same buffer do not count.
    let mut input = Vec::new();
    for _ in 0..3 {
        input.extend_from_slice(b"POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n");
        input.resize(input.len() + 5000, b'b');
    }
    input.extend_from_slice(&request_of_head_len(MAX_HEAD));
    let (requests, err) = parse(&input);
    assert_eq!((requests.len(), err), (4, None));
}

#[test]
fn errors_are_sticky() {
    let mut p = Parser::new();
    p.push(b"BAD\r\n\r\n");
    let e = p.next_request().unwrap_err();
    p.push(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(p.next_request(), Err(e));
    assert_eq!(p.next_request(), Err(e));
}

#[test]
fn every_split_gives_the_same_result() {
    let inputs: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\r\n\r\nGET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"POST /p HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789GET /q HTTP/1.1\r\n\r\nHEAD /r HTTP/1.1\r\n\r\n",
        b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nBad Header\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
        b"GET /a HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /a HTTP/1.1\r\n\r\nGET / HTTP/1.1\nHost: x\r\n\r\n",
        b"GET /a HTTP/1.1\r\n\r\nGET / HTTP/3\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\r\n\r",
    ];
    for input in inputs {
        same_at_every_split(input);
    }
    // Heads at the limit: every cut near either end, and a sample between.
    let near_ends = |len: usize| (0..64).chain((64..len - 64).step_by(97)).chain(len - 64..=len);
    let at_limit = request_of_head_len(MAX_HEAD);
    same_at_splits(&at_limit, near_ends(at_limit.len()));
    let mut too_big = b"GET /a HTTP/1.1\r\n\r\n".to_vec();
    too_big.extend_from_slice(&request_of_head_len(MAX_HEAD + 1));
    same_at_splits(&too_big, near_ends(too_big.len()));
}

fn response(r: &Request) -> String {
    let mut out = Vec::new();
    r.write_response(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn responses() {
    let hello = "Content-Type: text/plain\r\nContent-Length: 13\r\n";
    assert_eq!(
        response(&get("/", Version::Http11, true)),
        format!("HTTP/1.1 200 OK\r\n{hello}\r\nHello, world!")
    );
    assert_eq!(
        response(&get("/", Version::Http11, false)),
        format!("HTTP/1.1 200 OK\r\n{hello}Connection: close\r\n\r\nHello, world!")
    );
    assert_eq!(
        response(&get("/", Version::Http10, true)),
        format!("HTTP/1.1 200 OK\r\n{hello}Connection: keep-alive\r\n\r\nHello, world!")
    );
    assert_eq!(
        response(&get("/", Version::Http10, false)),
        format!("HTTP/1.1 200 OK\r\n{hello}Connection: close\r\n\r\nHello, world!")
    );
    let head = Request {
        method: "HEAD".into(),
        ..get("/", Version::Http11, true)
    };
    assert_eq!(response(&head), format!("HTTP/1.1 200 OK\r\n{hello}\r\n"));
    assert_eq!(BODY.len(), 13);

    let mut out = Vec::new();
    Error::BadRequest("x").write_response(&mut out);
    assert_eq!(
        out,
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    out.clear();
    Error::NotImplemented("x").write_response(&mut out);
    assert_eq!(
        out,
        b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn continue_is_sent_once_while_the_body_is_awaited() {
    let mut p = Parser::new();
    p.push(b"POST /up HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(p.next_request(), Ok(None));
    assert!(p.take_continue());
    assert!(!p.take_continue());
    p.push(b"hello");
    assert_eq!(p.next_request().unwrap().unwrap().content_length, 5);
    assert!(!p.take_continue());
    assert_eq!(CONTINUE, b"HTTP/1.1 100 Continue\r\n\r\n");
}

#[test]
fn no_continue_when_not_waited_for() {
    for input in [
        // The body came along already.
        &b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"[..],
        // No body.
        b"POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
        // HTTP/1.0 has no 1xx responses.
        b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
        // Not asked.
        b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n",
        b"POST / HTTP/1.1\r\nExpect: something-else\r\nContent-Length: 2\r\n\r\n",
    ] {
        let mut p = Parser::new();
        p.push(input);
        while let Ok(Some(_)) = p.next_request() {}
        assert!(!p.take_continue(), "{}", String::from_utf8_lossy(input));
    }
}
