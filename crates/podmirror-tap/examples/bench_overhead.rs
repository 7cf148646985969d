//! Benchmark of the tap's cost to the app: an HTTP server on a loopback
//! address, a client at a steady rate (1,000 requests a second by
//! default) on keep-alive connections, with and without a tap capturing
//! that address (AF_PACKET, the kernel filter, reassembly, pairing, the
//! report), in alternating rounds of one run. Prints the app's p50/p99
//! latency both ways and their ratio, and the capture thread's CPU and the
//! process's memory. Needs CAP_NET_RAW.
//!
//! `cargo run --release -p podmirror-tap --example bench_overhead [-- RATE SECONDS ROUNDS]`

#![allow(clippy::unwrap_used)]

use podmirror_tap::capture::{Capture, PacketSocket};
use podmirror_tap::{Config, Mode, Tap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const IP: Ipv4Addr = Ipv4Addr::new(127, 64, 250, 200);
const PORT: u16 = 18200;

fn serve() {
    let listener = TcpListener::bind((IP, PORT)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut w = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        let body = "{\"orders\":[]}";
                        let _ = write!(
                            w,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                    }
                }
            });
        }
    });
}

/// Sends `rate` requests a second for `secs` over 4 keep-alive connections; latencies.
fn load(rate: u64, secs: u64) -> Vec<Duration> {
    let mut conns: Vec<TcpStream> = (0..4)
        .map(|_| {
            let s = TcpStream::connect((IP, PORT)).unwrap();
            s.set_nodelay(true).unwrap();
            s
        })
        .collect();
    let mut out = Vec::new();
    let gap = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let mut next = start;
    let mut buf = [0u8; 512];
    for i in 0..rate * secs {
        while Instant::now() < next {
            std::hint::spin_loop();
        }
        next += gap;
        let c = &mut conns[(i % 4) as usize];
        let t = Instant::now();
        c.write_all(b"GET /api/orders HTTP/1.1\r\nHost: app\r\n\r\n")
            .unwrap();
        let mut got = 0;
        while got < 51 {
            got += c.read(&mut buf[got..]).unwrap();
        }
        out.push(t.elapsed());
    }
    out
}

fn q(v: &mut [Duration], q: f64) -> Duration {
    v.sort();
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

fn thread_cpu_seconds(tid: u64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (rate, secs, rounds) = (
        args.first().copied().unwrap_or(1000),
        args.get(1).copied().unwrap_or(5),
        args.get(2).copied().unwrap_or(3),
    );
    serve();
    std::thread::sleep(Duration::from_millis(100));
    let (mut with, mut without) = (Vec::new(), Vec::new());
    let mut cpu = 0.0;
    let rss_before = rss_mib();
    let mut rss_tap: f64 = 0.0;
    for round in 0..rounds {
        // Odd rounds measure "without" after "with", so order cancels out.
        if round % 2 == 0 {
            without.extend(load(rate, secs));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let tid = Arc::new(AtomicU64::new(0));
        let (s2, t2) = (stop.clone(), tid.clone());
        let capture = std::thread::spawn(move || {
            t2.store(std::process::id() as u64, Ordering::SeqCst);
            let task = std::fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .and_then(|n| n.parse::<u64>().ok())
                })
                .unwrap_or(0);
            t2.store(task, Ordering::SeqCst);
            let mut socket = PacketSocket::open(IP, &[PORT], Mode::Ingress).expect("CAP_NET_RAW");
            let mut tap = Tap::new(Config::new(IP.into(), vec![PORT], Mode::Ingress));
            let start = Instant::now();
            while !s2.load(Ordering::SeqCst) {
                if let Some(f) = socket.next_frame().unwrap() {
                    tap.feed(start.elapsed().as_millis() as u64, f);
                }
            }
            tap.counters()
        });
        std::thread::sleep(Duration::from_millis(200));
        let task = tid.load(Ordering::SeqCst);
        let cpu_before = thread_cpu_seconds(task);
        with.extend(load(rate, secs));
        cpu += thread_cpu_seconds(task) - cpu_before;
        rss_tap = rss_tap.max(rss_mib());
        stop.store(true, Ordering::SeqCst);
        let counters = capture.join().unwrap();
        if round % 2 == 1 {
            without.extend(load(rate, secs));
        }
        eprintln!(
            "round {round}: the tap recorded {} exchanges ({} dropped)",
            counters.exchanges, counters.dropped_exchanges
        );
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (w50, w99) = (q(&mut with, 0.5), q(&mut with, 0.99));
    let (o50, o99) = (q(&mut without, 0.5), q(&mut without, 0.99));
    println!("{rate} req/s, {secs} s x {rounds} rounds each way");
    println!(
        "  without the tap: p50 {:.3} ms p99 {:.3} ms",
        ms(o50),
        ms(o99)
    );
    println!(
        "  with the tap:    p50 {:.3} ms p99 {:.3} ms",
        ms(w50),
        ms(w99)
    );
    println!(
        "  ratio with/without: p50 {:.3} p99 {:.3}",
        ms(w50) / ms(o50),
        ms(w99) / ms(o99)
    );
    println!(
        "  the tap: {:.1}% of a core while capturing; process RSS {:.1} MiB before, {:.1} MiB at most with it",
        100.0 * cpu / (secs * rounds) as f64,
        rss_before,
        rss_tap
    );
}
