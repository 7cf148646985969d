//! Frames as captured (Ethernet, as Linux hands loopback and veth frames to
//! an AF_PACKET socket) down to TCP segments: addresses, ports, sequence
//! numbers, flags and payload. Anything else is `None`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP flags the reassembly cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// SYN.
    pub syn: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
    /// ACK.
    pub ack: bool,
}

/// One TCP segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number of the first payload byte (of the SYN itself when set).
    pub seq: u32,
    /// Flags.
    pub flags: Flags,
    /// Payload bytes.
    pub payload: &'a [u8],
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTO_TCP: u8 = 6;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// Parses an Ethernet frame carrying IPv4 or IPv6 and TCP.
pub fn parse(frame: &[u8]) -> Option<Segment<'_>> {
    match u16_at(frame, 12)? {
        ETHERTYPE_IPV4 => ipv4(frame.get(14..)?),
        ETHERTYPE_IPV6 => ipv6(frame.get(14..)?),
        _ => None,
    }
}

fn ipv4(p: &[u8]) -> Option<Segment<'_>> {
    let ihl = usize::from(p.first()? & 0x0f) * 4;
    if p.first()? >> 4 != 4 || ihl < 20 || p.get(9)? != &PROTO_TCP {
        return None;
    }
    // Fragments other than the first carry no TCP header; the tap skips
    // fragmented packets altogether (TCP avoids fragmentation).
    let frag = u16_at(p, 6)?;
    if frag & 0x1fff != 0 || frag & 0x2000 != 0 {
        return None;
    }
    let total = usize::from(u16_at(p, 2)?).min(p.len());
    let src = IpAddr::V4(Ipv4Addr::from(u32_at(p, 12)?));
    let dst = IpAddr::V4(Ipv4Addr::from(u32_at(p, 16)?));
    tcp(src, dst, p.get(ihl..total)?)
}

fn ipv6(p: &[u8]) -> Option<Segment<'_>> {
    if p.first()? >> 4 != 6 || p.get(6)? != &PROTO_TCP {
        return None;
    }
    let len = usize::from(u16_at(p, 4)?);
    let mut a = [0u8; 16];
    a.copy_from_slice(p.get(8..24)?);
    let src = IpAddr::V6(Ipv6Addr::from(a));
    a.copy_from_slice(p.get(24..40)?);
    let dst = IpAddr::V6(Ipv6Addr::from(a));
    tcp(src, dst, p.get(40..(40 + len).min(p.len()))?)
}

fn tcp(src: IpAddr, dst: IpAddr, t: &[u8]) -> Option<Segment<'_>> {
    let offset = usize::from(t.get(12)? >> 4) * 4;
    if offset < 20 {
        return None;
    }
    let bits = t.get(13)?;
    Some(Segment {
        src: SocketAddr::new(src, u16_at(t, 0)?),
        dst: SocketAddr::new(dst, u16_at(t, 2)?),
        seq: u32_at(t, 4)?,
        flags: Flags {
            fin: bits & 0x01 != 0,
            syn: bits & 0x02 != 0,
            rst: bits & 0x04 != 0,
            ack: bits & 0x10 != 0,
        },
        payload: t.get(offset..)?,
    })
}

/// Builds an Ethernet/IPv4/TCP frame (for tests and recorded fixtures).
pub fn frame(src: SocketAddr, dst: SocketAddr, seq: u32, flags: Flags, payload: &[u8]) -> Vec<u8> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        return Vec::new();
    };
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    let total = (20 + 20 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, PROTO_TCP, 0, 0]);
    f.extend_from_slice(&s.octets());
    f.extend_from_slice(&d.octets());
    f.extend_from_slice(&src.port().to_be_bytes());
    f.extend_from_slice(&dst.port().to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&0u32.to_be_bytes());
    let bits = u8::from(flags.fin)
        | u8::from(flags.syn) << 1
        | u8::from(flags.rst) << 2
        | u8::from(flags.ack) << 4;
    f.extend_from_slice(&[0x50, bits, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}
