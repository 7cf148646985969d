//! Everything podmirror asks of the Kubernetes API, over a [`kube::Client`]:
//! finding a mirror's source ([`source`]), creating, listing and deleting
//! mirrors and reaping expired ones ([`mirrors`]), and reading the API
//! server's clock ([`clock`]). The pure decisions live in `podmirror-core`.

pub mod clock;
pub mod error;
pub mod mirrors;
pub mod source;

pub use error::KubeError;
