//! podmirror's pure domain, with no I/O: how a failing pod becomes a mirror.
//!
//! - [`cleanup`] strips the runtime noise from a pod so it can be created anew;
//! - [`changes`] are the edits a user asks for (`--set-image`, `--set-env`, `--patch`, `-f`);
//! - [`mirror`] builds the mirror manifest of the cluster contract (the cluster contract, docs/architecture.md) and reads one back;
//! - [`ttl`] parses and bounds mirror lifetimes and computes expiry from the API server's clock;
//! - [`contract`] names every label, annotation and Lease the contract fixes;
//! - [`render`] turns manifests into YAML and coloured diffs;
//! - [`verdict`] judges a mirror: Healthy, Failing or Pending;
//! - [`diagnosis`] is the rule engine: why a pod fails and the change that fixes it.

pub mod changes;
pub mod cleanup;
pub mod contract;
pub mod diagnosis;
pub mod error;
pub mod mirror;
pub mod render;
pub mod ttl;
pub mod verdict;

pub use error::CoreError;
