//! Kubernetes names, checked before they reach the cluster: a namespace is
//! a DNS label, a pod (or mirror) name a DNS subdomain.

use crate::error::ApiError;

/// A DNS-1123 label: 1–63 of `[a-z0-9-]`, starting and ending alphanumeric.
pub fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain: up to 253 characters of labels joined by `.`.
pub fn dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Refuses a pod or mirror name that cannot exist (400).
pub fn object_name<'a>(s: &'a str, what: &str) -> Result<&'a str, ApiError> {
    if dns_subdomain(s) {
        Ok(s)
    } else {
        Err(ApiError::bad_request(format!(
            "{what} {s:?} is not a Kubernetes name (lower-case letters, digits, '-' and '.')"
        )))
    }
}

/// A pod's name, or `KIND/NAME` of a workload that has no pod to diagnose
/// (`deployment`, `statefulset`, `daemonset`, `job`); the kind, if any.
pub fn target(s: &str) -> Result<Option<&str>, ApiError> {
    match s.split_once('/') {
        None => object_name(s, "pod").map(|_| None),
        Some((kind @ ("deployment" | "statefulset" | "daemonset" | "job"), name)) => {
            object_name(name, kind).map(|_| Some(kind))
        }
        Some((kind, _)) => Err(ApiError::bad_request(format!(
            "{s:?}: {kind:?} is not a workload podmirror diagnoses; give a pod, or deployment/NAME, statefulset/NAME, daemonset/NAME or job/NAME"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_the_api_server_takes_them() {
        assert!(dns_label("shop") && dns_label("a-1") && !dns_label("Shop") && !dns_label("-a"));
        assert!(!dns_label("D\u{15}") && !dns_label(&"a".repeat(64)));
        assert!(dns_subdomain("api-7c9f.x") && !dns_subdomain("a..b") && !dns_subdomain("a/b"));
    }
}
