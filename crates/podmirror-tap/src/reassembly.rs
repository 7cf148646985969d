//! One direction of a TCP connection put back in order: segments may come
//! late, twice, or never. Bytes are handed on in sequence order; a
//! retransmission that disagrees with bytes still held is counted (the
//! first copy wins); a hole that outlives the buffer cap, or the end of
//! the connection, is handed on as a gap so the HTTP parser can mark the
//! exchange incomplete and find the next message. Sequence numbers wrap.

use std::collections::BTreeMap;

/// What the stream hands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// The next bytes, in order.
    Data(Vec<u8>),
    /// Bytes that never came (how many).
    Gap(u32),
}

/// Counters of one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Segments wholly before what was already handed on.
    pub duplicates: u64,
    /// Retransmissions whose bytes differ from the copy held.
    pub conflicts: u64,
    /// Gaps handed on.
    pub gaps: u64,
}

/// One direction's reassembly.
#[derive(Debug)]
pub struct Stream {
    /// The sequence number of the next byte to hand on.
    next: Option<u32>,
    /// Early segments by their distance from `next` at arrival, kept as
    /// absolute sequence numbers (distance is recomputed as `next` moves).
    held: BTreeMap<u64, Vec<u8>>,
    /// `next`, counted from the first byte without wrapping.
    offset: u64,
    held_bytes: usize,
    cap: usize,
    /// Counters.
    pub stats: StreamStats,
}

impl Stream {
    /// A stream holding at most `cap` bytes out of order.
    pub fn new(cap: usize) -> Stream {
        Stream {
            next: None,
            held: BTreeMap::new(),
            offset: 0,
            held_bytes: 0,
            cap,
            stats: StreamStats::default(),
        }
    }

    /// Takes a segment; returns what can be handed on now.
    pub fn push(&mut self, seq: u32, syn: bool, payload: &[u8]) -> Vec<Chunk> {
        let mut out = Vec::new();
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        let next = *self.next.get_or_insert(data_seq);
        if payload.is_empty() {
            return out;
        }
        // Distance from what is expected next, in the window of ±2 GiB.
        let distance = data_seq.wrapping_sub(next) as i32;
        let (start, bytes) = if distance < 0 {
            let behind = distance.unsigned_abs() as usize;
            if behind >= payload.len() {
                self.stats.duplicates += 1;
                return out;
            }
            (self.offset, &payload[behind..])
        } else {
            (self.offset + distance as u64, payload)
        };
        self.hold(start, bytes);
        self.deliver(&mut out);
        if self.held_bytes > self.cap {
            self.skip_to_held(&mut out);
        }
        out
    }

    /// The connection ended: whatever is still held is handed on after a gap.
    pub fn finish(&mut self) -> Vec<Chunk> {
        let mut out = Vec::new();
        while !self.held.is_empty() {
            self.skip_to_held(&mut out);
        }
        out
    }

    fn hold(&mut self, start: u64, bytes: &[u8]) {
        // Compare with any held copy that overlaps; the first copy wins.
        let end = start + bytes.len() as u64;
        let mut conflict = false;
        for (&at, held) in self.held.range(..end) {
            let held_end = at + held.len() as u64;
            if held_end <= start {
                continue;
            }
            let from = start.max(at);
            let to = end.min(held_end);
            let a = &bytes[(from - start) as usize..(to - start) as usize];
            let b = &held[(from - at) as usize..(to - at) as usize];
            conflict |= a != b;
        }
        if conflict {
            self.stats.conflicts += 1;
        }
        if let Some(existing) = self.held.get(&start)
            && existing.len() >= bytes.len()
        {
            return;
        }
        self.held_bytes += bytes.len();
        if let Some(old) = self.held.insert(start, bytes.to_vec()) {
            self.held_bytes -= old.len();
        }
    }

    fn deliver(&mut self, out: &mut Vec<Chunk>) {
        while let Some((&at, _)) = self.held.first_key_value() {
            if at > self.offset {
                return;
            }
            let Some((at, bytes)) = self.held.pop_first() else {
                return;
            };
            self.held_bytes -= bytes.len();
            let end = at + bytes.len() as u64;
            if end <= self.offset {
                continue; // wholly delivered already by an earlier copy
            }
            let fresh = &bytes[(self.offset - at) as usize..];
            self.advance(fresh.len() as u64);
            out.push(Chunk::Data(fresh.to_vec()));
        }
    }

    fn skip_to_held(&mut self, out: &mut Vec<Chunk>) {
        if let Some((&at, _)) = self.held.first_key_value()
            && at > self.offset
        {
            let missing = at - self.offset;
            self.advance(missing);
            self.stats.gaps += 1;
            out.push(Chunk::Gap(u32::try_from(missing).unwrap_or(u32::MAX)));
        }
        self.deliver(out);
    }

    fn advance(&mut self, by: u64) {
        self.offset += by;
        if let Some(n) = self.next.as_mut() {
            *n = n.wrapping_add(by as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(chunks: &[Chunk]) -> Vec<u8> {
        chunks
            .iter()
            .flat_map(|c| match c {
                Chunk::Data(d) => d.clone(),
                Chunk::Gap(_) => b"<gap>".to_vec(),
            })
            .collect()
    }

    #[test]
    fn in_order_reordered_and_duplicated_segments() {
        let mut s = Stream::new(1 << 16);
        assert!(s.push(1000, true, b"").is_empty());
        assert_eq!(data(&s.push(1001, false, b"GET ")), b"GET ");
        assert!(
            s.push(1009, false, b"HTTP/1.1\r\n").is_empty(),
            "held until the hole fills"
        );
        assert_eq!(data(&s.push(1005, false, b"/a? ")), b"/a? HTTP/1.1\r\n");
        assert!(s.push(1001, false, b"GET ").is_empty());
        assert_eq!(s.stats.duplicates, 1);
    }

    #[test]
    fn a_retransmission_with_other_bytes_is_counted_and_the_first_copy_wins() {
        let mut s = Stream::new(1 << 16);
        s.push(0, true, b"");
        assert!(s.push(6, false, b"world").is_empty());
        assert!(s.push(6, false, b"WORLD").is_empty());
        assert_eq!(s.stats.conflicts, 1);
        assert_eq!(data(&s.push(1, false, b"hello")), b"helloworld");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = Stream::new(1 << 16);
        s.push(u32::MAX - 2, true, b"");
        assert_eq!(data(&s.push(u32::MAX - 1, false, b"ab")), b"ab");
        assert_eq!(data(&s.push(0, false, b"cd")), b"cd");
    }

    #[test]
    fn a_hole_past_the_cap_or_at_the_end_becomes_a_gap() {
        let mut s = Stream::new(8);
        s.push(0, true, b"");
        assert_eq!(data(&s.push(1, false, b"ab")), b"ab");
        let out = s.push(10, false, b"0123456789");
        assert_eq!(out[0], Chunk::Gap(7));
        assert_eq!(data(&out), b"<gap>0123456789");
        let mut t = Stream::new(1 << 16);
        t.push(0, true, b"");
        t.push(5, false, b"tail");
        assert_eq!(data(&t.finish()), b"<gap>tail");
        assert_eq!(t.stats.gaps, 1);
    }
}
