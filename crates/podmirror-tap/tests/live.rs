//! The tap on a real AF_PACKET socket: an HTTP server on a loopback
//! address, real requests to it, and what the tap makes of the frames the
//! kernel copies to it. Needs CAP_NET_RAW (root here and in CI); without
//! it the test says so and passes, unless PODMIRROR_REQUIRE_CAPTURE is set.

#![allow(clippy::unwrap_used)]

use podmirror_tap::capture::{Capture, PacketSocket};
use podmirror_tap::report::Endpoint;
use podmirror_tap::{Config, Mode, Tap};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

#[test]
fn the_kernel_copies_a_pods_traffic_to_the_tap_and_nothing_else() {
    let ip = Ipv4Addr::new(127, 64, 250, 81);
    let mut socket = match PacketSocket::open(ip, &[18091], Mode::Ingress) {
        Ok(s) => s,
        Err(e) if std::env::var_os("PODMIRROR_REQUIRE_CAPTURE").is_none() => {
            eprintln!("skipped: cannot open an AF_PACKET socket ({e}); it needs CAP_NET_RAW");
            return;
        }
        Err(e) => panic!("cannot open an AF_PACKET socket: {e}"),
    };
    let listener = TcpListener::bind((ip, 18091)).unwrap();
    let other = TcpListener::bind((ip, 18092)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(5) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            let path = String::from_utf8_lossy(&buf[..n])
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .to_string();
            let status = if path == "/fail" {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            s.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
        }
    });
    std::thread::spawn(move || {
        for stream in other.incoming().take(1) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        }
    });
    for path in ["/ok", "/ok", "/fail", "/ok", "/fail"] {
        let mut s = TcpStream::connect((ip, 18091)).unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: pod\r\n\r\n").as_bytes())
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
    }
    // A port the tap does not watch.
    let mut s = TcpStream::connect((ip, 18092)).unwrap();
    s.write_all(b"GET /elsewhere HTTP/1.1\r\n\r\n").unwrap();
    let mut tap = Tap::new(Config::new(ip.into(), vec![18091], Mode::Ingress));
    let deadline = Instant::now() + Duration::from_secs(5);
    let start = Instant::now();
    while tap.counters().exchanges < 5 && Instant::now() < deadline {
        let now = start.elapsed().as_millis() as u64;
        if let Some(frame) = socket.next_frame().unwrap() {
            tap.feed(now, frame);
        }
    }
    let figures = tap.report().since(0);
    let get = |p: &str| Endpoint {
        method: "GET".into(),
        template: p.into(),
    };
    assert_eq!(
        figures[&get("/ok")].count,
        3,
        "{figures:?} {:?}",
        tap.counters()
    );
    assert_eq!(figures[&get("/fail")].statuses.get(&500), Some(&2));
    assert!(
        !figures.contains_key(&get("/elsewhere")),
        "other ports are left out"
    );
}
