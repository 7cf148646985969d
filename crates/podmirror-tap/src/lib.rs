//! podmirror's traffic tap: passive capture of a pod's HTTP/1.1 traffic
//! (AF_PACKET and a kernel filter, behind the [`capture::Capture`] trait),
//! TCP put back in order, requests paired with responses, and figures by
//! endpoint — out of band, so nothing the tap does can slow or stop the
//! pod's own traffic. Bodies and headers are never kept.

pub mod capture;
pub mod http;
pub mod packet;
pub mod reassembly;
pub mod report;
pub mod snapshot;
pub mod tap;

pub use tap::{Config, Counters, Mode, Tap};
