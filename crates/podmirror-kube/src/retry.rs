//! Optimistic writes: read, decide, write with the resourceVersion read as a
//! precondition, and on a conflict (someone wrote in between) do it all
//! again, a few times, as client-go's `RetryOnConflict` does.

use crate::KubeError;
use std::future::Future;

/// How many attempts before giving up.
const ATTEMPTS: usize = 5;

/// What one attempt came to.
pub enum Attempt<T> {
    /// Finished (written, or nothing to write).
    Done(T),
    /// The write met a conflict: read again.
    Conflict,
}

/// Runs `attempt` until it is [`Attempt::Done`], at most five times; `what`
/// names the action in the error when every attempt met a conflict.
pub async fn on_conflict<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, KubeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<T>, KubeError>>,
{
    for n in 0..ATTEMPTS {
        if n > 0 {
            // client-go's DefaultRetry waits 10 ms between attempts.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        if let Attempt::Done(t) = attempt().await? {
            return Ok(t);
        }
    }
    Err(KubeError::Api {
        action: what.to_string(),
        message: format!(
            "it kept changing while podmirror wrote it ({ATTEMPTS} conflicts); run the command again"
        ),
        code: 409,
        causes: Vec::new(),
    })
}

/// Whether a kube error is a 409 Conflict.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
