//! Everything podmirror asks of the Kubernetes API, over a [`kube::Client`]:
//! finding a mirror's source ([`source`]), creating, listing and deleting
//! mirrors and reaping expired ones ([`mirrors`]), scaling a source
//! Deployment down while its mirror runs ([`scaledown`]), and reading the API
//! server's clock ([`clock`]), gathering what the diagnosis rules read
//! ([`gather`]), and the two steps the CLI and the backend share: deploying
//! a mirror ([`deploy`]), applying a fix ([`fixes`]) and reading a tapped
//! pod's traffic figures ([`traffic`]). The pure decisions
//! live in `podmirror-core`.

pub mod clock;
pub mod deploy;
pub mod error;
pub mod fixes;
pub mod gather;
pub mod mirrors;
pub mod retry;
pub mod scaledown;
pub mod source;
pub mod traffic;

pub use error::KubeError;
