//! The tap fed recorded frames: each bad input it must survive, one by one.

#![allow(clippy::unwrap_used)]

use podmirror_tap::packet::{Flags, frame};
use podmirror_tap::report::Endpoint;
use podmirror_tap::{Config, Mode, Tap};
use std::net::SocketAddr;

const POD: &str = "127.64.250.80:8080";

fn pod() -> SocketAddr {
    POD.parse().unwrap()
}

fn client(port: u16) -> SocketAddr {
    format!("127.64.250.90:{port}").parse().unwrap()
}

fn flags(syn: bool, fin: bool) -> Flags {
    Flags {
        syn,
        fin,
        rst: false,
        ack: !syn,
    }
}

/// One connection's frames, written as its two sides send them.
struct Conn {
    client: SocketAddr,
    c_seq: u32,
    s_seq: u32,
    frames: Vec<(u64, Vec<u8>)>,
    t: u64,
}

impl Conn {
    fn open(port: u16, c_isn: u32, s_isn: u32) -> Conn {
        let c = client(port);
        let frames = vec![
            (0, frame(c, pod(), c_isn, flags(true, false), b"")),
            (0, frame(pod(), c, s_isn, flags(true, false), b"")),
        ];
        Conn {
            client: c,
            c_seq: c_isn.wrapping_add(1),
            s_seq: s_isn.wrapping_add(1),
            frames,
            t: 1_000_000,
        }
    }

    fn at(&mut self, t: u64) -> &mut Self {
        self.t = t;
        self
    }

    /// The client's next bytes as one segment (returned, not yet recorded).
    fn c(&mut self, bytes: &[u8]) -> (u64, Vec<u8>) {
        let f = frame(self.client, pod(), self.c_seq, flags(false, false), bytes);
        self.c_seq = self.c_seq.wrapping_add(bytes.len() as u32);
        (self.t, f)
    }

    fn s(&mut self, bytes: &[u8]) -> (u64, Vec<u8>) {
        let f = frame(pod(), self.client, self.s_seq, flags(false, false), bytes);
        self.s_seq = self.s_seq.wrapping_add(bytes.len() as u32);
        (self.t, f)
    }

    fn send(&mut self, bytes: &[u8]) -> &mut Self {
        let f = self.c(bytes);
        self.frames.push(f);
        self
    }

    fn answer(&mut self, bytes: &[u8]) -> &mut Self {
        let f = self.s(bytes);
        self.frames.push(f);
        self
    }

    fn close(&mut self) -> Vec<(u64, Vec<u8>)> {
        let f = frame(self.client, pod(), self.c_seq, flags(false, true), b"");
        self.frames.push((self.t, f));
        std::mem::take(&mut self.frames)
    }
}

fn run(frames: &[(u64, Vec<u8>)]) -> Tap {
    let mut tap = Tap::new(Config::new(pod().ip(), vec![8080], Mode::Ingress));
    for (t, f) in frames {
        tap.feed(*t, f);
    }
    tap
}

fn endpoint(method: &str, template: &str) -> Endpoint {
    Endpoint {
        method: method.into(),
        template: template.into(),
    }
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn a_request_and_its_answer_by_endpoint_template_with_latency() {
    let mut c = Conn::open(40000, 100, 9000);
    c.send(b"GET /api/orders/17?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer secret\r\nCookie: s=1\r\n\r\n")
        .at(1_000_012)
        .answer(OK);
    let tap = run(&c.close());
    let figures = tap.report().since(0);
    let f = &figures[&endpoint("GET", "/api/orders/{id}")];
    assert_eq!((f.count, f.incomplete), (1, 0));
    assert_eq!(f.statuses.get(&200), Some(&1));
    assert_eq!(f.quantile_ms(0.5), Some(12));
    assert_eq!(tap.connections(), 0, "closed on FIN");
    let shown = format!("{figures:?}");
    assert!(
        !shown.contains("secret") && !shown.contains("s=1"),
        "nothing secret is kept"
    );
}

#[test]
fn reordered_segments_and_sequence_wraparound() {
    let mut c = Conn::open(40001, u32::MAX - 5, 7);
    let a = c.c(b"GET /a HTTP/1.1\r\n");
    let b = c.c(b"Host: x\r\n\r\n");
    let r1 = c.s(b"HTTP/1.1 500 Internal Server Error\r\n");
    let r2 = c.s(b"Content-Length: 0\r\n\r\n");
    let mut frames = c.close();
    let fin = frames.pop().unwrap();
    frames.extend([b, a, r2, r1, fin]);
    let tap = run(&frames);
    let f = &tap.report().since(0)[&endpoint("GET", "/a")];
    assert_eq!(f.statuses.get(&500), Some(&1));
    assert_eq!(f.error_share(), 1.0);
}

#[test]
fn a_retransmission_with_other_bytes_is_counted_and_the_first_copy_read() {
    let mut c = Conn::open(40002, 1, 1);
    let first = c.c(b"GET /x HTTP/1.1\r\n\r\n");
    c.c_seq -= 19;
    let other = c.c(b"GET /y HTTP/1.1\r\n\r\n");
    // The original arrives after a later segment, then its altered copy.
    let later = c.c(b"GET /z HTTP/1.1\r\n\r\n");
    let mut frames = c.close();
    let fin = frames.pop().unwrap();
    frames.extend([later, first, other]);
    frames.push(Conn::open(40002, 1, 1).s(OK));
    frames.push(fin);
    let tap = run(&frames);
    let figures = tap.report().since(0);
    assert!(figures.contains_key(&endpoint("GET", "/x")));
    assert!(!figures.contains_key(&endpoint("GET", "/y")));
    assert_eq!(
        tap.counters().conflicting_retransmissions,
        0,
        "delivered before the copy came"
    );
    // Held, then contradicted: counted.
    let mut d = Conn::open(40003, 1, 1);
    let a = d.c(b"GET /p ");
    let held = d.c(b"HTTP/1.1\r\n\r\n");
    d.c_seq -= 12;
    let altered = d.c(b"HTTP/1.0\r\n\r\n");
    let mut frames = d.close();
    let fin = frames.pop().unwrap();
    frames.extend([held, altered, a, fin]);
    let tap = run(&frames);
    assert_eq!(tap.counters().conflicting_retransmissions, 1);
}

#[test]
fn a_gap_marks_its_exchange_incomplete_and_reading_resumes() {
    let mut c = Conn::open(40004, 1, 1);
    c.send(b"GET /first HTTP/1.1\r\n\r\n");
    let lost = c.c(b"GET /lost HTTP/1.1\r\nHost: x\r\n");
    let _ = lost; // never arrives
    c.send(b"X-More: 1\r\n\r\n");
    c.send(b"GET /after HTTP/1.1\r\n\r\n");
    c.answer(OK).answer(OK).answer(OK);
    let tap = run(&c.close());
    let figures = tap.report().since(0);
    assert_eq!(figures[&endpoint("GET", "/first")].count, 1);
    assert!(tap.counters().gaps >= 1, "{:?}", tap.counters());
    let incomplete: u64 = figures.values().map(|f| f.incomplete).sum();
    assert!(incomplete >= 1, "{figures:?}");
    assert!(
        figures.contains_key(&endpoint("GET", "/after")),
        "{figures:?}"
    );
}

#[test]
fn pipelined_requests_pair_in_order_and_chunked_bodies_are_skipped() {
    let mut c = Conn::open(40005, 1, 1);
    c.send(b"GET /one HTTP/1.1\r\n\r\nPOST /two HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloHEAD /three HTTP/1.1\r\n\r\n");
    c.at(1_000_005)
        .answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n");
    c.at(1_000_009)
        .answer(b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\n");
    c.answer(b"abc");
    c.answer(b"HTTP/1.1 404 Not Found\r\nContent-Length: 100\r\n\r\n");
    let tap = run(&c.close());
    let figures = tap.report().since(0);
    assert_eq!(
        figures[&endpoint("GET", "/one")].statuses.get(&200),
        Some(&1)
    );
    assert_eq!(
        figures[&endpoint("POST", "/two")].statuses.get(&201),
        Some(&1)
    );
    assert_eq!(
        figures[&endpoint("HEAD", "/three")].statuses.get(&404),
        Some(&1),
        "a HEAD answer has no body, whatever its Content-Length"
    );
    assert_eq!(
        figures[&endpoint("POST", "/two")].quantile_ms(0.99),
        Some(9)
    );
}

#[test]
fn conflicting_length_and_encoding_stops_reading_the_connection() {
    let mut c = Conn::open(40006, 1, 1);
    c.send(b"POST /smuggle HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\n\r\n");
    let tap = run(&c.close());
    assert_eq!(tap.counters().conflicting_length, 1);
    assert!(tap.report().since(0).is_empty());
}

#[test]
fn tls_and_http2_are_skipped_and_counted() {
    let mut c = Conn::open(40007, 1, 1);
    c.send(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ]);
    let mut d = Conn::open(40008, 1, 1);
    d.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let mut frames = c.close();
    frames.extend(d.close());
    let tap = run(&frames);
    assert_eq!((tap.counters().tls, tap.counters().http2), (1, 1));
    assert!(tap.report().since(0).is_empty());
}

#[test]
fn oversized_heads_and_garbage_are_counted_not_kept() {
    let mut c = Conn::open(40009, 1, 1);
    let mut huge = b"GET /big HTTP/1.1\r\nX-Pad: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 20_000));
    c.send(&huge[..10_000]).send(&huge[10_000..]);
    let mut d = Conn::open(40010, 1, 1);
    d.send(b"\x00\x01\x02 definitely not http\r\n\r\n");
    let mut frames = c.close();
    frames.extend(d.close());
    let tap = run(&frames);
    assert_eq!(tap.counters().oversized_heads, 1);
    assert_eq!(tap.counters().not_http, 1);
}

#[test]
fn the_connection_table_is_bounded_and_egress_sees_outgoing_calls() {
    let mut config = Config::new(pod().ip(), vec![8080], Mode::Ingress);
    config.max_connections = 2;
    let mut tap = Tap::new(config);
    for port in [41000, 41001, 41002] {
        let mut c = Conn::open(port, 1, 1);
        c.send(b"GET / HTTP/1.1\r\n\r\n");
        for (t, f) in &c.frames {
            tap.feed(*t, f);
        }
    }
    assert_eq!(tap.connections(), 2);
    assert_eq!(tap.counters().dropped_connections, 1);

    // Egress: the pod (port 33000) calls a database on another address.
    let mut egress = Tap::new(Config::new(pod().ip(), vec![8080], Mode::Egress));
    let me: SocketAddr = "127.64.250.80:33000".parse().unwrap();
    let db: SocketAddr = "127.64.250.99:5000".parse().unwrap();
    let frames = [
        frame(me, db, 10, flags(true, false), b""),
        frame(db, me, 50, flags(true, false), b""),
        frame(
            me,
            db,
            11,
            flags(false, false),
            b"GET /rows HTTP/1.1\r\n\r\n",
        ),
        frame(db, me, 51, flags(false, false), OK),
        frame(me, db, 33, flags(false, true), b""),
    ];
    for f in &frames {
        egress.feed(5, f);
    }
    assert_eq!(egress.report().since(0)[&endpoint("GET", "/rows")].count, 1);
    // ...and ingress on the same frames sees nothing.
    assert!(run(&frames.map(|f| (5, f))).report().since(0).is_empty());
}
