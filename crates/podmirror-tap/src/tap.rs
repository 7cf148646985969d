//! The tap's engine: frames in, exchanges out. It keeps only the pod's
//! side of the traffic (its IP and ports, ingress or egress), one
//! reassembly and HTTP reader per connection, within fixed bounds — a
//! connection table of `max_connections`, `held_per_stream` bytes out of
//! order per direction, `max_exchanges_per_second` recorded — and counts
//! whatever it drops instead of growing.

use crate::http::{Conn, Unread};
use crate::packet;
use crate::reassembly::{Chunk, Stream};
use crate::report::Report;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// Which side of the pod's traffic.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Requests to the pod's ports and their responses.
    Ingress,
    /// The pod's outgoing calls and their answers.
    Egress,
}

/// The tap's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The pod's IP.
    pub pod_ip: IpAddr,
    /// The pod's ports (served in ingress; left out in egress).
    pub ports: Vec<u16>,
    /// Ingress or egress.
    pub mode: Mode,
    /// Connections followed at once; new ones beyond are dropped (counted).
    pub max_connections: usize,
    /// Bytes held out of order per direction.
    pub held_per_stream: usize,
    /// Exchanges recorded per second; the rest are counted as dropped.
    pub max_exchanges_per_second: u32,
    /// A connection silent this long is closed (its open exchanges incomplete).
    pub idle_ms: u64,
}

impl Config {
    /// Defaults for a pod.
    pub fn new(pod_ip: IpAddr, ports: Vec<u16>, mode: Mode) -> Config {
        Config {
            pod_ip,
            ports,
            mode,
            max_connections: 4096,
            held_per_stream: 256 * 1024,
            max_exchanges_per_second: 5000,
            idle_ms: 120_000,
        }
    }
}

/// What the tap counted besides the exchanges.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Frames read.
    pub frames: u64,
    /// Frames of other addresses or ports, or not TCP.
    pub ignored: u64,
    /// Connections not followed (the table was full).
    pub dropped_connections: u64,
    /// Exchanges over the rate limit, not recorded.
    pub dropped_exchanges: u64,
    /// Connections that began with a TLS ClientHello.
    pub tls: u64,
    /// Connections that began with the HTTP/2 preface.
    pub http2: u64,
    /// Messages with both Content-Length and Transfer-Encoding.
    pub conflicting_length: u64,
    /// Connections whose bytes were not HTTP/1.x.
    pub not_http: u64,
    /// Gaps in the byte streams.
    pub gaps: u64,
    /// Retransmissions whose bytes disagreed with the copy held.
    pub conflicting_retransmissions: u64,
    /// Heads over the size limit.
    pub oversized_heads: u64,
    /// Exchanges recorded.
    pub exchanges: u64,
}

struct Flow {
    to_server: Stream,
    to_client: Stream,
    http: Conn,
    last_ms: u64,
    counted_unread: bool,
}

/// The engine.
pub struct Tap {
    config: Config,
    flows: HashMap<(SocketAddr, SocketAddr), Flow>,
    report: Report,
    counters: Counters,
    second: u64,
    this_second: u32,
}

impl Tap {
    /// A tap with these settings.
    pub fn new(config: Config) -> Tap {
        Tap {
            config,
            flows: HashMap::new(),
            report: Report::default(),
            counters: Counters::default(),
            second: 0,
            this_second: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The figures so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Connections followed now.
    pub fn connections(&self) -> usize {
        self.flows.len()
    }

    /// Which way a segment goes: `(client, server, from_client)`.
    fn direction(
        &self,
        src: SocketAddr,
        dst: SocketAddr,
    ) -> Option<(SocketAddr, SocketAddr, bool)> {
        let ours = |a: SocketAddr| a.ip() == self.config.pod_ip;
        let served = |a: SocketAddr| ours(a) && self.config.ports.contains(&a.port());
        match self.config.mode {
            Mode::Ingress if served(dst) => Some((src, dst, true)),
            Mode::Ingress if served(src) => Some((dst, src, false)),
            Mode::Egress if ours(src) && !served(src) => Some((src, dst, true)),
            Mode::Egress if ours(dst) && !served(dst) => Some((dst, src, false)),
            _ => None,
        }
    }

    /// Takes one captured frame at `now_ms`.
    pub fn feed(&mut self, now_ms: u64, frame: &[u8]) {
        self.counters.frames += 1;
        let Some(seg) = packet::parse(frame) else {
            self.counters.ignored += 1;
            return;
        };
        let Some((client, server, from_client)) = self.direction(seg.src, seg.dst) else {
            self.counters.ignored += 1;
            return;
        };
        let key = (client, server);
        if !self.flows.contains_key(&key) {
            if seg.flags.rst || (seg.flags.fin && seg.payload.is_empty()) {
                return;
            }
            if self.flows.len() >= self.config.max_connections {
                // Counted once per connection: at the client's SYN.
                if seg.flags.syn && from_client {
                    self.counters.dropped_connections += 1;
                }
                return;
            }
            self.flows.insert(
                key,
                Flow {
                    to_server: Stream::new(self.config.held_per_stream),
                    to_client: Stream::new(self.config.held_per_stream),
                    http: Conn::new(),
                    last_ms: now_ms,
                    counted_unread: false,
                },
            );
        }
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        flow.last_ms = now_ms;
        let stream = if from_client {
            &mut flow.to_server
        } else {
            &mut flow.to_client
        };
        let chunks = stream.push(seg.seq, seg.flags.syn, seg.payload);
        feed_http(&mut flow.http, chunks, from_client, now_ms);
        let end = seg.flags.fin || seg.flags.rst;
        if end {
            self.close(key, now_ms);
        } else {
            self.collect(key);
        }
    }

    /// Closes connections silent for longer than the idle time.
    pub fn expire(&mut self, now_ms: u64) {
        let idle: Vec<_> = self
            .flows
            .iter()
            .filter(|(_, f)| now_ms.saturating_sub(f.last_ms) > self.config.idle_ms)
            .map(|(k, _)| *k)
            .collect();
        for key in idle {
            self.close(key, now_ms);
        }
    }

    fn close(&mut self, key: (SocketAddr, SocketAddr), now_ms: u64) {
        if let Some(flow) = self.flows.get_mut(&key) {
            let to_server = flow.to_server.finish();
            feed_http(&mut flow.http, to_server, true, now_ms);
            let to_client = flow.to_client.finish();
            feed_http(&mut flow.http, to_client, false, now_ms);
            flow.http.close();
        }
        self.collect(key);
        if let Some(flow) = self.flows.remove(&key) {
            let (a, b) = (flow.to_server.stats, flow.to_client.stats);
            self.counters.gaps += a.gaps + b.gaps;
            self.counters.conflicting_retransmissions += a.conflicts + b.conflicts;
        }
    }

    fn collect(&mut self, key: (SocketAddr, SocketAddr)) {
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        if let Some(why) = flow.http.unread
            && !flow.counted_unread
        {
            flow.counted_unread = true;
            match why {
                Unread::Tls => self.counters.tls += 1,
                Unread::Http2 => self.counters.http2 += 1,
                Unread::ConflictingLength => self.counters.conflicting_length += 1,
                Unread::NotHttp => self.counters.not_http += 1,
            }
        }
        self.counters.oversized_heads += std::mem::take(&mut flow.http.stats.oversized_heads);
        for e in flow.http.take() {
            let second = e.at_ms / 1000;
            if second != self.second {
                self.second = second;
                self.this_second = 0;
            }
            if self.this_second >= self.config.max_exchanges_per_second {
                self.counters.dropped_exchanges += 1;
                continue;
            }
            self.this_second += 1;
            self.counters.exchanges += 1;
            self.report.add(&e);
        }
    }
}

fn feed_http(http: &mut Conn, chunks: Vec<Chunk>, from_client: bool, now_ms: u64) {
    for c in chunks {
        match (c, from_client) {
            (Chunk::Data(d), true) => http.client_bytes(&d, now_ms),
            (Chunk::Data(d), false) => http.server_bytes(&d, now_ms),
            (Chunk::Gap(_), true) => http.client_gap(),
            (Chunk::Gap(_), false) => http.server_gap(),
        }
    }
}
