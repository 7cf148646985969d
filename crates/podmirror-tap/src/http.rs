//! HTTP/1.1 read off both directions of a connection: requests (method,
//! path, body framing) from the client's bytes, responses (status, body
//! framing) from the server's, paired in order (pipelining), with the time
//! from the request's first byte to the response's first byte. Bodies are
//! skipped, never kept. Traffic that is not HTTP/1.1 — a TLS ClientHello,
//! the HTTP/2 preface — is recognised and left alone; conflicting framing
//! (Content-Length with Transfer-Encoding) stops reading the connection
//! rather than guess; a gap marks the exchange it falls in incomplete and
//! reading resumes at the next message.

use std::collections::VecDeque;

/// Largest request or response head read; longer ones are counted.
pub const MAX_HEAD: usize = 16 * 1024;

/// One request and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The request method.
    pub method: String,
    /// The request path, query removed.
    pub path: String,
    /// The status, when a response came.
    pub status: Option<u16>,
    /// Milliseconds from the request's first byte to the response's first.
    pub latency_ms: Option<u64>,
    /// When the request began (the capture's clock, milliseconds).
    pub at_ms: u64,
    /// Bytes went missing in it, or the connection ended before its end.
    pub incomplete: bool,
}

/// Why a connection is not read (any more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unread {
    /// It begins with a TLS record (a ClientHello).
    Tls,
    /// It begins with the HTTP/2 connection preface.
    Http2,
    /// A message had both Content-Length and Transfer-Encoding.
    ConflictingLength,
    /// Bytes that are not HTTP/1.x where a message should start.
    NotHttp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    Length(u64),
    Chunked(ChunkState),
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

/// One direction's message reader.
#[derive(Debug)]
struct Reader {
    buf: Vec<u8>,
    body: Option<Body>,
    /// Skipping to the next message start after a gap.
    resync: bool,
}

impl Reader {
    fn new() -> Reader {
        Reader {
            buf: Vec::new(),
            body: None,
            resync: false,
        }
    }
}

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Heads longer than [`MAX_HEAD`].
    pub oversized_heads: u64,
    /// Responses with no request to pair with.
    pub unpaired_responses: u64,
}

/// A connection's HTTP reading.
#[derive(Debug)]
pub struct Conn {
    requests: Reader,
    responses: Reader,
    /// Requests sent and not answered yet, oldest first.
    waiting: VecDeque<Exchange>,
    /// The request being read: its start time.
    reading_since: Option<u64>,
    /// HEAD requests waiting, to know which responses have no body.
    head_methods: VecDeque<bool>,
    /// Set once the connection is not read any more.
    pub unread: Option<Unread>,
    /// Counters.
    pub stats: ConnStats,
    /// Exchanges finished and not taken yet.
    done: Vec<Exchange>,
}

impl Default for Conn {
    fn default() -> Self {
        Conn::new()
    }
}

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

impl Conn {
    /// A new connection.
    pub fn new() -> Conn {
        Conn {
            requests: Reader::new(),
            responses: Reader::new(),
            waiting: VecDeque::new(),
            reading_since: None,
            head_methods: VecDeque::new(),
            unread: None,
            stats: ConnStats::default(),
            done: Vec::new(),
        }
    }

    /// Finished exchanges, oldest first.
    pub fn take(&mut self) -> Vec<Exchange> {
        std::mem::take(&mut self.done)
    }

    /// Bytes from the client, at `now_ms`.
    pub fn client_bytes(&mut self, bytes: &[u8], now_ms: u64) {
        if self.unread.is_some() {
            return;
        }
        if self.requests.buf.is_empty() && self.reading_since.is_none() {
            self.reading_since = Some(now_ms);
        }
        self.requests.buf.extend_from_slice(bytes);
        self.read_requests(now_ms);
    }

    /// Bytes from the server, at `now_ms`.
    pub fn server_bytes(&mut self, bytes: &[u8], now_ms: u64) {
        if self.unread.is_some() {
            return;
        }
        self.responses.buf.extend_from_slice(bytes);
        self.read_responses(now_ms);
    }

    /// Bytes went missing from the client's side.
    pub fn client_gap(&mut self) {
        if self.requests.body.is_some() || !self.requests.buf.is_empty() {
            // The request being read is cut: it is counted, incomplete.
            let at = self.reading_since.take().unwrap_or_default();
            self.done.push(incomplete("?", "?", at));
        }
        self.requests.buf.clear();
        self.requests.body = None;
        self.requests.resync = true;
    }

    /// Bytes went missing from the server's side.
    pub fn server_gap(&mut self) {
        if let Some(mut e) = self.waiting.pop_front() {
            self.head_methods.pop_front();
            e.incomplete = true;
            self.done.push(e);
        }
        self.responses.buf.clear();
        self.responses.body = None;
        self.responses.resync = true;
    }

    /// The connection closed: a body read until close ends here; requests
    /// left unanswered are incomplete.
    pub fn close(&mut self) {
        if self.responses.body == Some(Body::UntilClose) {
            self.responses.body = None;
        }
        for mut e in self.waiting.drain(..) {
            e.incomplete = true;
            self.done.push(e);
        }
    }

    fn read_requests(&mut self, now_ms: u64) {
        loop {
            if let Some(body) = self.requests.body {
                match skip_body(&mut self.requests.buf, body) {
                    Some(Some(left)) => {
                        self.requests.body = Some(left);
                        return;
                    }
                    Some(None) => self.requests.body = None,
                    None => return self.stop(Unread::NotHttp),
                }
                if self.requests.buf.is_empty() {
                    self.reading_since = None;
                    return;
                }
                self.reading_since = Some(now_ms);
            }
            if self.requests.resync && !resync(&mut self.requests.buf, request_start) {
                return;
            }
            self.requests.resync = false;
            if self.waiting.is_empty()
                && self.done.is_empty()
                && starts_tls_or_h2(&self.requests.buf)
            {
                return self.stop(if self.requests.buf[0] == 0x16 {
                    Unread::Tls
                } else {
                    Unread::Http2
                });
            }
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            let used = match req.parse(&self.requests.buf) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => {
                    if self.requests.buf.len() > MAX_HEAD {
                        self.stats.oversized_heads += 1;
                        self.client_gap();
                    }
                    if self.requests.buf.len() >= 4 && !request_start(&self.requests.buf) {
                        return self.stop(Unread::NotHttp);
                    }
                    return;
                }
                Err(httparse::Error::TooManyHeaders) => {
                    self.stats.oversized_heads += 1;
                    self.client_gap();
                    return;
                }
                Err(_) => return self.stop(Unread::NotHttp),
            };
            let method = req.method.unwrap_or("?").to_string();
            let path = req
                .path
                .unwrap_or("/")
                .split('?')
                .next()
                .unwrap_or("/")
                .to_string();
            let Some(body) = framing(req.headers, false) else {
                return self.stop(Unread::ConflictingLength);
            };
            // A request without framing has no body.
            let body = if body == Body::UntilClose {
                Body::None
            } else {
                body
            };
            self.requests.buf.drain(..used);
            self.head_methods.push_back(method == "HEAD");
            self.waiting.push_back(Exchange {
                method,
                path,
                status: None,
                latency_ms: None,
                at_ms: self.reading_since.take().unwrap_or(now_ms),
                incomplete: false,
            });
            self.requests.body = (body != Body::None).then_some(body);
            if self.requests.body.is_none() {
                if self.requests.buf.is_empty() {
                    return;
                }
                self.reading_since = Some(now_ms);
            }
        }
    }

    fn read_responses(&mut self, now_ms: u64) {
        loop {
            if let Some(body) = self.responses.body {
                match skip_body(&mut self.responses.buf, body) {
                    Some(Some(left)) => {
                        self.responses.body = Some(left);
                        return;
                    }
                    Some(None) => self.responses.body = None,
                    None => return self.stop(Unread::NotHttp),
                }
            }
            if self.responses.buf.is_empty() {
                return;
            }
            if self.responses.resync
                && !resync(&mut self.responses.buf, |b| b.starts_with(b"HTTP/1."))
            {
                return;
            }
            self.responses.resync = false;
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut res = httparse::Response::new(&mut headers);
            let used = match res.parse(&self.responses.buf) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => {
                    if self.responses.buf.len() > MAX_HEAD {
                        self.stats.oversized_heads += 1;
                        self.server_gap();
                    }
                    return;
                }
                Err(_) => return self.stop(Unread::NotHttp),
            };
            let status = res.code.unwrap_or(0);
            let Some(body) = framing(res.headers, true) else {
                return self.stop(Unread::ConflictingLength);
            };
            self.responses.buf.drain(..used);
            if (100..200).contains(&status) {
                continue; // 100 Continue and friends: the real answer follows
            }
            let head_request = self.head_methods.pop_front().unwrap_or(false);
            let body = if head_request || status == 204 || status == 304 {
                Body::None
            } else {
                body
            };
            match self.waiting.pop_front() {
                Some(mut e) => {
                    e.status = Some(status);
                    e.latency_ms = Some(now_ms.saturating_sub(e.at_ms));
                    self.done.push(e);
                }
                None => self.stats.unpaired_responses += 1,
            }
            self.responses.body = (body != Body::None).then_some(body);
        }
    }

    fn stop(&mut self, why: Unread) {
        self.unread = Some(why);
        self.requests.buf = Vec::new();
        self.responses.buf = Vec::new();
        for mut e in self.waiting.drain(..) {
            e.incomplete = true;
            self.done.push(e);
        }
    }
}

fn incomplete(method: &str, path: &str, at_ms: u64) -> Exchange {
    Exchange {
        method: method.into(),
        path: path.into(),
        status: None,
        latency_ms: None,
        at_ms,
        incomplete: true,
    }
}

fn request_start(b: &[u8]) -> bool {
    METHODS.iter().any(|m| {
        let m = m.as_bytes();
        let n = m.len().min(b.len());
        b[..n] == m[..n] && (b.len() <= m.len() || b[m.len()] == b' ')
    })
}

fn starts_tls_or_h2(b: &[u8]) -> bool {
    (b.len() >= 3 && b[0] == 0x16 && b[1] == 0x03) || b.starts_with(b"PRI * HTTP/2.0")
}

/// Drops bytes up to the next line that starts a message; false when none
/// is in the buffer yet (a short tail is kept, it may begin one).
fn resync(buf: &mut Vec<u8>, starts: impl Fn(&[u8]) -> bool) -> bool {
    let mut at = 0;
    while at < buf.len() {
        if (at == 0 || buf[at - 1] == b'\n') && buf.len() - at >= 8 && starts(&buf[at..]) {
            buf.drain(..at);
            return true;
        }
        at += 1;
    }
    let keep = buf.len().min(16);
    let cut = buf.len() - keep;
    buf.drain(..cut);
    false
}

/// The body's framing from the headers; `None` for Content-Length with
/// Transfer-Encoding, or several different Content-Lengths.
fn framing(headers: &[httparse::Header<'_>], response: bool) -> Option<Body> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut encoded = false;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v: u64 = std::str::from_utf8(h.value).ok()?.trim().parse().ok()?;
            if length.is_some_and(|l| l != v) {
                return None;
            }
            length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            encoded = true;
            chunked = std::str::from_utf8(h.value)
                .ok()?
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        }
    }
    match (length, encoded) {
        (Some(_), true) => None,
        (Some(0), false) => Some(Body::None),
        (Some(n), false) => Some(Body::Length(n)),
        (None, true) if chunked => Some(Body::Chunked(ChunkState::Size)),
        (None, true) => Some(if response {
            Body::UntilClose
        } else {
            Body::None
        }),
        (None, false) => Some(if response {
            Body::UntilClose
        } else {
            Body::None
        }),
    }
}

/// Consumes body bytes from `buf`; `Some(Some(left))` when more are
/// needed, `Some(None)` at the body's end, `None` for a malformed chunk.
fn skip_body(buf: &mut Vec<u8>, body: Body) -> Option<Option<Body>> {
    match body {
        Body::None => Some(None),
        Body::UntilClose => {
            buf.clear();
            Some(Some(Body::UntilClose))
        }
        Body::Length(n) => {
            let take = (n as usize).min(buf.len());
            buf.drain(..take);
            let left = n - take as u64;
            Some(if left == 0 {
                None
            } else {
                Some(Body::Length(left))
            })
        }
        Body::Chunked(mut state) => loop {
            match state {
                ChunkState::Size => {
                    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                        if buf.len() > 1024 {
                            return None;
                        }
                        return Some(Some(Body::Chunked(state)));
                    };
                    let line = std::str::from_utf8(&buf[..end]).ok()?;
                    let size = u64::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
                    buf.drain(..end + 2);
                    state = if size == 0 {
                        ChunkState::Trailers
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(n) => {
                    let take = (n as usize).min(buf.len());
                    buf.drain(..take);
                    if take as u64 == n {
                        state = ChunkState::DataEnd;
                    } else {
                        return Some(Some(Body::Chunked(ChunkState::Data(n - take as u64))));
                    }
                }
                ChunkState::DataEnd => {
                    if buf.len() < 2 {
                        return Some(Some(Body::Chunked(state)));
                    }
                    if &buf[..2] != b"\r\n" {
                        return None;
                    }
                    buf.drain(..2);
                    state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                        return Some(Some(Body::Chunked(state)));
                    };
                    buf.drain(..end + 2);
                    if end == 0 {
                        return Some(None);
                    }
                }
            }
        },
    }
}
