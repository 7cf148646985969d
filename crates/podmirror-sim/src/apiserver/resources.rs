//! The resource types the simulated API server serves, with the facts discovery,
//! routing, tables and OpenAPI need about each.

/// How one REST resource is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Kind of one object.
    pub kind: &'static str,
    /// Plural name used in URLs.
    pub plural: &'static str,
    /// Singular name as discovery reports it.
    pub singular: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts (`po`, `deploy`, …).
    pub short_names: &'static [&'static str],
    /// Categories (`all`) for `kubectl get all`.
    pub categories: &'static [&'static str],
    /// Subresources served below each object.
    pub subresources: &'static [Subresource],
    /// Whether a spec change bumps `metadata.generation`.
    pub tracks_generation: bool,
}

/// A subresource of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    /// `/status`: only the status stanza is written.
    Status,
    /// `/scale`: an `autoscaling/v1` Scale view of `spec.replicas`.
    Scale,
    /// `/log`: container logs (pods only).
    Log,
}

impl Subresource {
    /// The URL segment of the subresource.
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Log => "log",
        }
    }
}

/// The verbs every collection in the sim supports.
pub const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

impl Resource {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The kind of a list of these objects.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// `plural` or `plural.group` as the API server names a resource in messages.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The URL prefix of this group version (`/api/v1` or `/apis/apps/v1`).
    pub fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// Whether the resource has the given subresource.
    pub fn has(&self, sub: Subresource) -> bool {
        self.subresources.contains(&sub)
    }
}

const fn res(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
) -> Resource {
    Resource {
        group,
        version,
        kind,
        plural,
        singular,
        namespaced,
        short_names: &[],
        categories: &[],
        subresources: &[],
        tracks_generation: false,
    }
}

/// Every resource the sim serves, in discovery order.
pub static RESOURCES: &[Resource] = &[
    Resource {
        short_names: &["ns"],
        subresources: &[Subresource::Status],
        ..res("", "v1", "Namespace", "namespaces", "namespace", false)
    },
    Resource {
        short_names: &["po"],
        categories: &["all"],
        subresources: &[Subresource::Status, Subresource::Log],
        tracks_generation: true,
        ..res("", "v1", "Pod", "pods", "pod", true)
    },
    Resource {
        short_names: &["ev"],
        ..res("", "v1", "Event", "events", "event", true)
    },
    Resource {
        short_names: &["cm"],
        ..res("", "v1", "ConfigMap", "configmaps", "configmap", true)
    },
    res("", "v1", "Secret", "secrets", "secret", true),
    Resource {
        short_names: &["svc"],
        categories: &["all"],
        subresources: &[Subresource::Status],
        ..res("", "v1", "Service", "services", "service", true)
    },
    Resource {
        short_names: &["sa"],
        ..res(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            "serviceaccount",
            true,
        )
    },
    Resource {
        short_names: &["quota"],
        subresources: &[Subresource::Status],
        ..res(
            "",
            "v1",
            "ResourceQuota",
            "resourcequotas",
            "resourcequota",
            true,
        )
    },
    Resource {
        short_names: &["no"],
        subresources: &[Subresource::Status],
        ..res("", "v1", "Node", "nodes", "node", false)
    },
    Resource {
        short_names: &["pvc"],
        subresources: &[Subresource::Status],
        ..res(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            "persistentvolumeclaim",
            true,
        )
    },
    Resource {
        short_names: &["deploy"],
        categories: &["all"],
        subresources: &[Subresource::Status, Subresource::Scale],
        tracks_generation: true,
        ..res(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            "deployment",
            true,
        )
    },
    Resource {
        short_names: &["rs"],
        categories: &["all"],
        subresources: &[Subresource::Status, Subresource::Scale],
        tracks_generation: true,
        ..res(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            "replicaset",
            true,
        )
    },
    Resource {
        short_names: &["sts"],
        categories: &["all"],
        subresources: &[Subresource::Status, Subresource::Scale],
        tracks_generation: true,
        ..res(
            "apps",
            "v1",
            "StatefulSet",
            "statefulsets",
            "statefulset",
            true,
        )
    },
    Resource {
        short_names: &["ds"],
        categories: &["all"],
        subresources: &[Subresource::Status],
        tracks_generation: true,
        ..res("apps", "v1", "DaemonSet", "daemonsets", "daemonset", true)
    },
    Resource {
        categories: &["all"],
        subresources: &[Subresource::Status],
        tracks_generation: true,
        ..res("batch", "v1", "Job", "jobs", "job", true)
    },
    res(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        "lease",
        true,
    ),
    Resource {
        short_names: &["ev"],
        ..res("events.k8s.io", "v1", "Event", "events", "event", true)
    },
    Resource {
        tracks_generation: true,
        ..res(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            "mutatingwebhookconfiguration",
            false,
        )
    },
];

/// Index of a resource in [`RESOURCES`].
pub type ResourceId = usize;

/// Finds a resource by group, version and plural (or singular/short name when `loose`).
pub fn find(group: &str, version: &str, plural: &str) -> Option<ResourceId> {
    RESOURCES
        .iter()
        .position(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds a resource by its `apiVersion` and `kind`.
pub fn find_kind(api_version: &str, kind: &str) -> Option<ResourceId> {
    RESOURCES
        .iter()
        .position(|r| r.api_version() == api_version && r.kind == kind)
}

/// The resource at an index.
pub fn get(id: ResourceId) -> &'static Resource {
    &RESOURCES[id]
}

/// Group versions served, in discovery order, with their resources.
pub fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// Well-known ids, resolved once.
pub mod ids {
    use super::{ResourceId, find};
    use std::sync::OnceLock;

    macro_rules! id {
        ($fn:ident, $g:literal, $p:literal) => {
            /// Resource id of this well-known resource.
            pub fn $fn() -> ResourceId {
                static ID: OnceLock<ResourceId> = OnceLock::new();
                // The table above always contains this resource.
                *ID.get_or_init(|| find($g, "v1", $p).unwrap_or(usize::MAX))
            }
        };
    }
    id!(namespaces, "", "namespaces");
    id!(pods, "", "pods");
    id!(events, "", "events");
    id!(configmaps, "", "configmaps");
    id!(secrets, "", "secrets");
    id!(services, "", "services");
    id!(serviceaccounts, "", "serviceaccounts");
    id!(resourcequotas, "", "resourcequotas");
    id!(nodes, "", "nodes");
    id!(pvcs, "", "persistentvolumeclaims");
    id!(deployments, "apps", "deployments");
    id!(replicasets, "apps", "replicasets");
    id!(statefulsets, "apps", "statefulsets");
    id!(daemonsets, "apps", "daemonsets");
    id!(jobs, "batch", "jobs");
    id!(leases, "coordination.k8s.io", "leases");
    id!(new_events, "events.k8s.io", "events");
    id!(
        mutatingwebhookconfigurations,
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_ids_resolve() {
        assert_eq!(get(ids::pods()).kind, "Pod");
        assert_eq!(get(ids::deployments()).api_version(), "apps/v1");
        assert_eq!(get(ids::new_events()).group, "events.k8s.io");
        assert_eq!(find_kind("v1", "Event"), Some(ids::events()));
    }

    #[test]
    fn group_versions_are_unique_and_core_first() {
        let gvs = group_versions();
        assert_eq!(gvs[0], ("", "v1"));
        assert_eq!(gvs.len(), 6);
    }
}
