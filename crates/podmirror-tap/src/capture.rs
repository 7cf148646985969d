//! Where frames come from, behind one trait: a passive AF_PACKET socket
//! filtered in the kernel (classic BPF: IPv4 TCP to or from the pod's IP
//! and, in ingress, its ports; loopback's second copy of each frame, the
//! outgoing one, left out), or frames recorded earlier (the tests). Nothing
//! here can slow the pod's traffic: the socket only receives copies, and a
//! full receive buffer makes the kernel drop copies, not packets.

use crate::tap::Mode;
use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use std::collections::VecDeque;
use std::io::Read;
use std::net::Ipv4Addr;
use std::time::Duration;

/// A source of captured frames.
pub trait Capture: Send {
    /// The next frame, or `None` when none came within a short wait.
    fn next_frame(&mut self) -> std::io::Result<Option<&[u8]>>;
}

/// Frames recorded earlier, handed out in order.
#[derive(Debug, Default)]
pub struct Recorded {
    frames: VecDeque<Vec<u8>>,
    current: Vec<u8>,
}

impl Recorded {
    /// These frames.
    pub fn new(frames: Vec<Vec<u8>>) -> Recorded {
        Recorded {
            frames: frames.into(),
            current: Vec::new(),
        }
    }
}

impl Capture for Recorded {
    fn next_frame(&mut self) -> std::io::Result<Option<&[u8]>> {
        match self.frames.pop_front() {
            Some(f) => {
                self.current = f;
                Ok(Some(&self.current))
            }
            None => Ok(None),
        }
    }
}

/// A passive AF_PACKET socket on every interface, filtered to one pod.
pub struct PacketSocket {
    socket: Socket,
    buf: Vec<u8>,
}

const ETH_P_ALL: u16 = 0x0003;

impl PacketSocket {
    /// Opens the socket (needs CAP_NET_RAW) and attaches the filter.
    pub fn open(ip: Ipv4Addr, ports: &[u16], mode: Mode) -> std::io::Result<PacketSocket> {
        let protocol = Protocol::from(i32::from(ETH_P_ALL.to_be()));
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(protocol))?;
        socket.attach_filter(&filter(ip, ports, mode))?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        // Bounded: when the tap falls behind, the kernel drops copies here.
        let _ = socket.set_recv_buffer_size(4 << 20);
        Ok(PacketSocket {
            socket,
            buf: vec![0u8; 70_000],
        })
    }
}

impl Capture for PacketSocket {
    fn next_frame(&mut self) -> std::io::Result<Option<&[u8]>> {
        match (&self.socket).read(&mut self.buf) {
            Ok(n) => Ok(Some(&self.buf[..n])),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_H_IND: u16 = 0x48;
const LDX_B_MSH: u16 = 0xb1;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
/// The ancillary load of the packet type; 4 is PACKET_OUTGOING.
const SKF_AD_PKTTYPE: u32 = 0xffff_f004;

#[derive(Clone, Copy)]
enum To {
    Next,
    Drop,
    Accept,
    Ports,
}

/// The filter program: Ethernet, IPv4, TCP, not fragmented, the pod's IP
/// as source or destination, and (ingress) one of its ports on either side.
pub fn filter(ip: Ipv4Addr, ports: &[u16], mode: Mode) -> Vec<SockFilter> {
    let ip = u32::from(ip);
    let mut prog: Vec<(u16, To, To, u32)> = vec![
        (LD_W_ABS, To::Next, To::Next, SKF_AD_PKTTYPE),
        (JEQ_K, To::Drop, To::Next, 4),
        (LD_H_ABS, To::Next, To::Next, 12),
        (JEQ_K, To::Next, To::Drop, 0x0800),
        (LD_B_ABS, To::Next, To::Next, 23),
        (JEQ_K, To::Next, To::Drop, 6),
        (LD_H_ABS, To::Next, To::Next, 20),
        (JSET_K, To::Drop, To::Next, 0x1fff),
        (LD_W_ABS, To::Next, To::Next, 26),
        (JEQ_K, To::Ports, To::Next, ip),
        (LD_W_ABS, To::Next, To::Next, 30),
        (JEQ_K, To::Ports, To::Drop, ip),
    ];
    let ports_at = prog.len();
    if mode == Mode::Ingress && !ports.is_empty() {
        prog.push((LDX_B_MSH, To::Next, To::Next, 14));
        for offset in [14, 16] {
            prog.push((LD_H_IND, To::Next, To::Next, offset));
            for p in ports {
                prog.push((JEQ_K, To::Accept, To::Next, u32::from(*p)));
            }
        }
        prog.push((JEQ_K, To::Drop, To::Drop, 0));
    } else {
        prog.push((JEQ_K, To::Accept, To::Accept, 0));
    }
    let drop_at = prog.len();
    let accept_at = drop_at + 1;
    let mut out: Vec<SockFilter> = prog
        .iter()
        .enumerate()
        .map(|(i, &(code, jt, jf, k))| {
            let rel = |to: To| -> u8 {
                let target = match to {
                    To::Next => i + 1,
                    To::Drop => drop_at,
                    To::Accept => accept_at,
                    To::Ports => ports_at,
                };
                u8::try_from(target - i - 1).unwrap_or(u8::MAX)
            };
            SockFilter::new(code, rel(jt), rel(jf), k)
        })
        .collect();
    out.push(SockFilter::new(RET_K, 0, 0, 0));
    out.push(SockFilter::new(RET_K, 0, 0, 0x0004_0000));
    out
}
