//! The mirror manifest of the cluster contract (the cluster contract, docs/architecture.md) and how to read a
//! mirror back from the cluster: name, labels, annotations, TTL and deadline.

use crate::CoreError;
use crate::changes::{self, Change};
use crate::cleanup::clean_pod;
use crate::contract::*;
use crate::ttl::{self, Ttl};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Longest name Kubernetes accepts for a pod we create (a DNS label).
const MAX_NAME: usize = 63;

/// How to make a mirror.
#[derive(Debug, Clone, Default)]
pub struct MirrorOptions {
    /// Lifetime.
    pub ttl: Ttl,
    /// Remove liveness, readiness and startup probes.
    pub strip_probes: bool,
    /// Keep the source's labels (Services may then send it traffic).
    pub keep_labels: bool,
    /// Who creates it (`podmirror.dev/created-by`).
    pub created_by: String,
    /// Their organisation (`podmirror.dev/org`).
    pub org: String,
    /// The diagnosis it tests, if any.
    pub diagnosis_id: Option<String>,
    /// Which of that diagnosis's candidates it tests (index; 0 when None).
    pub candidate: Option<usize>,
    /// The owning workload of the source, as `Kind/name`.
    pub source_owner: Option<String>,
    /// The Deployment this mirror scales down, if any.
    pub scales_down: Option<String>,
}

/// Five random characters from `[a-z0-9]`, as the contract's names use.
pub fn random_suffix() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..5)
        .map(|_| char::from(CHARS[fastrand::usize(..CHARS.len())]))
        .collect()
}

/// `<source>-mirror-<suffix>`, the source part shortened so the name fits 63 characters.
pub fn mirror_name(source: &str, suffix: &str) -> String {
    let tail = format!("-mirror-{suffix}");
    let room = MAX_NAME.saturating_sub(tail.len());
    let head: String = source.chars().take(room).collect();
    let head = head.trim_end_matches(['-', '.']);
    format!("{head}{tail}")
}

/// Builds the mirror of `source` (a pod as the API server returned it, or one
/// made from a pod template) with `changes` applied. The mirror id is its name.
pub fn build(
    source: &Value,
    changes: &[Change],
    opts: &MirrorOptions,
    suffix: &str,
) -> Result<Value, CoreError> {
    let source_name = source
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| CoreError::NotAPod("the source has no metadata.name".into()))?;
    if !source
        .pointer("/spec/containers")
        .is_some_and(Value::is_array)
    {
        return Err(CoreError::NotAPod(format!(
            "{source_name} has no spec.containers"
        )));
    }
    let source_uid = source
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut pod = clean_pod(source);
    changes::apply(&mut pod, changes, source_name)?;
    let name = mirror_name(source_name, suffix);

    let md = pod
        .as_object_mut()
        .map(|m| m.entry("metadata").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| CoreError::NotAPod(source_name.to_string()))?;
    md.insert("name".into(), json!(name));
    let source_labels = md
        .remove("labels")
        .and_then(|l| l.as_object().cloned())
        .unwrap_or_default();
    let mut labels = if opts.keep_labels {
        source_labels.clone()
    } else {
        Map::new()
    };
    labels.insert(LABEL_MIRROR.into(), json!("true"));
    labels.insert(LABEL_MIRROR_ID.into(), json!(name));
    labels.insert(LABEL_SOURCE.into(), json!(label_value(source_name)));
    md.insert("labels".into(), Value::Object(labels));

    let mut annotations = md
        .remove("annotations")
        .and_then(|a| a.as_object().cloned())
        .unwrap_or_default();
    if !opts.keep_labels && !source_labels.is_empty() {
        annotations.insert(
            ANN_ORIGINAL_LABELS.into(),
            json!(Value::Object(source_labels).to_string()),
        );
    }
    annotations.insert(
        ANN_TTL_SECONDS.into(),
        json!(opts.ttl.seconds().to_string()),
    );
    annotations.insert(ANN_CREATED_BY.into(), json!(opts.created_by));
    annotations.insert(ANN_ORG.into(), json!(opts.org));
    annotations.insert(ANN_SOURCE_UID.into(), json!(source_uid));
    if let Some(d) = &opts.diagnosis_id {
        annotations.insert(ANN_DIAGNOSIS_ID.into(), json!(d));
        if let Some(c) = opts.candidate {
            annotations.insert(ANN_CANDIDATE.into(), json!(c.to_string()));
        }
    }
    if let Some(o) = &opts.source_owner {
        annotations.insert(ANN_SOURCE_OWNER.into(), json!(o));
    }
    if let Some(d) = &opts.scales_down {
        annotations.insert(ANN_SCALED_DOWN.into(), json!(d));
    }
    for (k, v) in QUIET_ANNOTATIONS {
        annotations.insert((*k).into(), json!(v));
    }
    md.insert("annotations".into(), Value::Object(annotations));

    let spec = pod
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| CoreError::NotAPod(source_name.to_string()))?;
    spec.remove("nodeName");
    // Kubernetes lets a pod's deadline shrink but never grow, so it is set to
    // what the longest TTL needs: a TTL can then be extended (docs/mirrors.md).
    spec.insert("activeDeadlineSeconds".into(), json!(DEADLINE_SECONDS));
    if opts.strip_probes {
        for list in ["initContainers", "containers"] {
            if let Some(Value::Array(cs)) = spec.get_mut(list) {
                for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                    for p in ["livenessProbe", "readinessProbe", "startupProbe"] {
                        c.remove(p);
                    }
                }
            }
        }
    }
    Ok(pod)
}

/// A label value made from a name: names longer than 63 characters are cut.
fn label_value(s: &str) -> String {
    let v: String = s.chars().take(MAX_NAME).collect();
    v.trim_end_matches(['-', '.', '_']).to_string()
}

/// Takes a mirror manifest a person edited (`podmirror test --edit`) and puts
/// back what the cluster contract needs from `built`, the manifest they were
/// given: the name and namespace, podmirror's labels and annotations, the
/// deadline, and no owner or node. Everything else is theirs.
pub fn keep_contract(edited: &Value, built: &Value) -> Result<Value, CoreError> {
    let kind = edited.get("kind").and_then(Value::as_str).unwrap_or("");
    if !edited.is_object() {
        return Err(CoreError::Manifest(
            "it is not a YAML mapping with kind: Pod".into(),
        ));
    }
    if kind != "Pod" {
        return Err(CoreError::Manifest(format!(
            "its kind is {kind:?}; a mirror is a Pod (kind: Pod)"
        )));
    }
    if !edited
        .pointer("/spec/containers")
        .is_some_and(Value::is_array)
    {
        return Err(CoreError::Manifest("it has no spec.containers list".into()));
    }
    let mut out = edited.clone();
    out["apiVersion"] = json!("v1");
    let md = out
        .as_object_mut()
        .map(|m| m.entry("metadata").or_insert_with(|| json!({})))
        .filter(|m| m.is_object())
        .ok_or_else(|| CoreError::Manifest("its metadata is not a mapping".into()))?;
    for key in [
        "ownerReferences",
        "generateName",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "managedFields",
    ] {
        if let Some(m) = md.as_object_mut() {
            m.remove(key);
        }
    }
    for key in ["name", "namespace"] {
        match built.pointer(&format!("/metadata/{key}")) {
            Some(v) => md[key] = v.clone(),
            None => {
                if let Some(m) = md.as_object_mut() {
                    m.remove(key);
                }
            }
        }
    }
    for key in ["labels", "annotations"] {
        let ours = built
            .pointer(&format!("/metadata/{key}"))
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with("podmirror.dev/"));
        if !md.get(key).is_some_and(Value::is_object) {
            md[key] = json!({});
        }
        // Only podmirror writes podmirror.dev/ keys: the edit's own go first.
        if let Some(m) = md[key].as_object_mut() {
            m.retain(|k, _| !k.starts_with("podmirror.dev/"));
        }
        for (k, v) in ours {
            md[key][k] = v.clone();
        }
    }
    // No controller may adopt the mirror, whatever the edit says.
    if let Some(labels) = md.get_mut("labels").and_then(Value::as_object_mut) {
        for l in CONTROLLER_LABELS {
            labels.remove(*l);
        }
    }
    let spec = out
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| CoreError::Manifest("its spec is not a mapping".into()))?;
    spec.remove("nodeName");
    spec.insert("activeDeadlineSeconds".into(), json!(DEADLINE_SECONDS));
    Ok(out)
}

/// What podmirror knows about a mirror from the pod alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorInfo {
    /// The mirror id (its pod name).
    pub id: String,
    /// Namespace.
    pub namespace: String,
    /// The source pod's name.
    pub source: String,
    /// The source's owning workload, `Kind/name`, if known.
    pub source_owner: Option<String>,
    /// The Deployment it scaled down, if any.
    pub scaled_down: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// TTL in seconds.
    pub ttl_seconds: u64,
    /// creationTimestamp (API server clock).
    pub created: Option<Timestamp>,
    /// When it expires (API server clock).
    pub expires: Option<Timestamp>,
    /// status.phase.
    pub phase: String,
    /// uid of the mirror pod.
    pub uid: String,
    /// Whether it is already being deleted (Terminating).
    pub deleting: bool,
    /// resourceVersion of the pod as read (a precondition for changes).
    #[serde(skip)]
    pub resource_version: String,
    /// `spec.activeDeadlineSeconds`: how long the kubelet lets it run.
    #[serde(skip)]
    pub deadline_seconds: Option<u64>,
}

impl MirrorInfo {
    /// Reads a mirror; None when the pod is not one.
    pub fn from_pod(pod: &Value) -> Option<MirrorInfo> {
        let md = pod.get("metadata")?;
        let label = |k: &str| md.pointer(&format!("/labels/{}", k.replace('/', "~1")));
        if label(LABEL_MIRROR).and_then(Value::as_str) != Some("true") {
            return None;
        }
        let ann = |k: &str| {
            md.get("annotations")
                .and_then(|a| a.get(k))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let text = |p: &str| {
            pod.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let ttl_seconds = ann(ANN_TTL_SECONDS)
            .and_then(|t| t.parse().ok())
            .unwrap_or(ttl::DEFAULT_SECONDS);
        let created: Option<Timestamp> = md
            .get("creationTimestamp")
            .and_then(Value::as_str)
            .and_then(|t| t.parse().ok());
        Some(MirrorInfo {
            id: label(LABEL_MIRROR_ID)
                .and_then(Value::as_str)
                .map_or_else(|| text("/metadata/name"), str::to_string),
            namespace: text("/metadata/namespace"),
            source: label(LABEL_SOURCE)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            source_owner: ann(ANN_SOURCE_OWNER),
            scaled_down: ann(ANN_SCALED_DOWN),
            created_by: ann(ANN_CREATED_BY).unwrap_or_default(),
            ttl_seconds,
            created,
            expires: created.map(|c| ttl::expiry(c, ttl_seconds)),
            phase: text("/status/phase"),
            uid: text("/metadata/uid"),
            deleting: md.get("deletionTimestamp").is_some_and(|d| !d.is_null()),
            resource_version: text("/metadata/resourceVersion"),
            deadline_seconds: pod
                .pointer("/spec/activeDeadlineSeconds")
                .and_then(Value::as_u64),
        })
    }

    /// Whether it has expired at `cluster_now` (the API server's clock).
    pub fn expired(&self, cluster_now: Timestamp) -> bool {
        self.expires.is_some_and(|e| e <= cluster_now)
    }

    /// The TTL that makes it live `by` longer: checked against the longest
    /// TTL (counted from creation) and refused once it has expired.
    pub fn extended_ttl(&self, by: Ttl, cluster_now: Timestamp) -> Result<Ttl, CoreError> {
        let refuse = |reason: String| CoreError::Extend {
            id: self.id.clone(),
            reason,
        };
        if self.deleting {
            return Err(refuse("it is being deleted already".into()));
        }
        if self.expired(cluster_now) {
            return Err(refuse(
                "it has already expired; start a new mirror with podmirror test".into(),
            ));
        }
        // Longest life: the TTL cap, and what the kubelet's deadline allows
        // (mirrors made before the deadline was 3660 s had `ttl + 60`).
        let longest = self.deadline_seconds.map_or(ttl::MAX_SECONDS, |d| {
            d.saturating_sub(DEADLINE_GRACE_SECONDS)
                .min(ttl::MAX_SECONDS)
        });
        let wanted = self.ttl_seconds + by.seconds();
        if wanted > longest {
            let room = longest.saturating_sub(self.ttl_seconds);
            let left = if room == 0 {
                "it cannot be extended; start a new mirror with podmirror test to keep testing"
                    .to_string()
            } else {
                format!("{} left to add", ttl::human(room))
            };
            return Err(refuse(format!(
                "a mirror lives at most {} from its creation and this one has {} of it already ({left})",
                ttl::human(longest),
                ttl::human(self.ttl_seconds),
            )));
        }
        Ttl::from_seconds(wanted)
    }

    /// The "Original Target" column: the owning workload, or the pod.
    pub fn target(&self) -> String {
        match &self.source_owner {
            Some(o) => o.to_ascii_lowercase(),
            None => format!("pod/{}", self.source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "api-7d9c-x2x4q", "namespace": "shop", "uid": "src-uid",
                         "labels": {"app": "api", "pod-template-hash": "7d9c"},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "api-7d9c"}]},
            "spec": {"nodeName": "sim-worker-1", "containers": [{"name": "api", "image": "api:1",
                "livenessProbe": {"httpGet": {"path": "/", "port": 8080}}}]},
            "status": {"phase": "Running"}
        })
    }

    #[test]
    fn names_fit_a_dns_label() {
        assert_eq!(
            mirror_name("api-7d9c-x2x4q", "ab1c2"),
            "api-7d9c-x2x4q-mirror-ab1c2"
        );
        let long = "a".repeat(60) + "-b";
        let n = mirror_name(&long, "zzzzz");
        assert!(n.len() <= 63 && n.ends_with("-mirror-zzzzz"), "{n}");
        let dashy = format!("{}-{}", "a".repeat(49), "b".repeat(10));
        assert!(!mirror_name(&dashy, "zzzzz").contains("--"));
        let s = random_suffix();
        assert!(
            s.len() == 5
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn builds_the_contract_manifest() {
        let opts = MirrorOptions {
            ttl: "3m".parse().unwrap(),
            created_by: "alice".into(),
            org: "shop".into(),
            source_owner: Some("Deployment/api".into()),
            ..Default::default()
        };
        let m = build(
            &source(),
            &[Change::set_image("api=api:2").unwrap()],
            &opts,
            "x1y2z",
        )
        .unwrap();
        assert_eq!(m["metadata"]["name"], "api-7d9c-x2x4q-mirror-x1y2z");
        assert_eq!(m["metadata"]["namespace"], "shop");
        assert_eq!(
            m["metadata"]["labels"],
            json!({"podmirror.dev/mirror": "true", "podmirror.dev/mirror-id": "api-7d9c-x2x4q-mirror-x1y2z", "podmirror.dev/source": "api-7d9c-x2x4q"})
        );
        let ann = &m["metadata"]["annotations"];
        assert_eq!(ann[ANN_ORIGINAL_LABELS], r#"{"app":"api"}"#);
        assert_eq!(ann[ANN_TTL_SECONDS], "180");
        assert_eq!(ann[ANN_CREATED_BY], "alice");
        assert_eq!(ann[ANN_SOURCE_UID], "src-uid");
        assert_eq!(ann["prometheus.io/scrape"], "false");
        assert_eq!(ann["sidecar.istio.io/inject"], "false");
        assert!(m["metadata"].get("ownerReferences").is_none());
        assert!(m["spec"].get("nodeName").is_none());
        assert!(m.get("status").is_none());
        assert_eq!(m["spec"]["activeDeadlineSeconds"], 3660);
        assert_eq!(m["spec"]["containers"][0]["image"], "api:2");
        assert!(m["spec"]["containers"][0].get("livenessProbe").is_some());

        let info = MirrorInfo::from_pod(&m).unwrap();
        assert_eq!(info.id, "api-7d9c-x2x4q-mirror-x1y2z");
        assert_eq!(info.source, "api-7d9c-x2x4q");
        assert_eq!(info.target(), "deployment/api");
        assert_eq!(info.ttl_seconds, 180);
    }

    #[test]
    fn keep_labels_and_strip_probes() {
        let opts = MirrorOptions {
            keep_labels: true,
            strip_probes: true,
            ..Default::default()
        };
        let m = build(&source(), &[], &opts, "aaaaa").unwrap();
        assert_eq!(m["metadata"]["labels"]["app"], "api");
        assert!(m["metadata"]["labels"].get("pod-template-hash").is_none());
        assert!(
            m["metadata"]["annotations"]
                .get(ANN_ORIGINAL_LABELS)
                .is_none()
        );
        assert!(m["spec"]["containers"][0].get("livenessProbe").is_none());
    }

    #[test]
    fn expiry_is_read_from_the_cluster_fields() {
        let mut m = build(&source(), &[], &MirrorOptions::default(), "aaaaa").unwrap();
        m["metadata"]["creationTimestamp"] = json!("2026-11-22T10:00:00Z");
        let info = MirrorInfo::from_pod(&m).unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert!(!info.expired(at("2026-11-22T10:02:59Z")));
        assert!(info.expired(at("2026-11-22T10:03:00Z")));
        assert!(MirrorInfo::from_pod(&source()).is_none());
    }

    #[test]
    fn extending_adds_to_the_ttl_up_to_the_longest_and_not_after_expiry() {
        let mut m = build(&source(), &[], &MirrorOptions::default(), "aaaaa").unwrap();
        m["metadata"]["creationTimestamp"] = json!("2026-11-22T10:00:00Z");
        let info = MirrorInfo::from_pod(&m).unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let by = |s: &str| s.parse::<Ttl>().unwrap();
        let now = at("2026-11-22T10:02:00Z");
        assert_eq!(info.extended_ttl(by("2m"), now).unwrap().seconds(), 300);
        assert_eq!(info.extended_ttl(by("57m"), now).unwrap().seconds(), 3600);
        let too_long = info.extended_ttl(by("58m"), now).unwrap_err().to_string();
        assert!(
            too_long.contains("at most 1h") && too_long.contains("57m left"),
            "{too_long}"
        );
        let late = info
            .extended_ttl(by("2m"), at("2026-11-22T10:03:00Z"))
            .unwrap_err()
            .to_string();
        assert!(late.contains("already expired"), "{late}");
        // A mirror made with the old deadline (ttl + 60) cannot outlive it.
        let mut old = info.clone();
        old.deadline_seconds = Some(240);
        let e = old.extended_ttl(by("2m"), now).unwrap_err().to_string();
        assert!(e.contains("cannot be extended; start a new mirror"), "{e}");
    }

    #[test]
    fn an_edited_manifest_keeps_the_contract_and_the_persons_changes() {
        let built = build(&source(), &[], &MirrorOptions::default(), "aaaaa").unwrap();
        let mut edited = built.clone();
        edited["metadata"]["name"] = json!("renamed");
        edited["metadata"]["labels"] = json!({"extra": "yes", "pod-template-hash": "abc"});
        edited["metadata"]["annotations"]["podmirror.dev/scaled-down-deployment"] = json!("web");
        edited["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove(ANN_TTL_SECONDS);
        edited["metadata"]["ownerReferences"] = json!([{"kind": "ReplicaSet"}]);
        edited["spec"]["containers"][0]["image"] = json!("api:9");
        edited["spec"]["nodeName"] = json!("n1");
        edited["spec"]["activeDeadlineSeconds"] = json!(99999);
        let kept = keep_contract(&edited, &built).unwrap();
        assert_eq!(kept["metadata"]["name"], built["metadata"]["name"]);
        assert_eq!(kept["metadata"]["labels"]["extra"], "yes");
        assert!(
            kept["metadata"]["labels"]
                .get("pod-template-hash")
                .is_none()
        );
        assert_eq!(kept["metadata"]["labels"][LABEL_MIRROR], "true");
        assert_eq!(
            kept["metadata"]["annotations"][ANN_TTL_SECONDS],
            built["metadata"]["annotations"][ANN_TTL_SECONDS]
        );
        assert!(kept["metadata"].get("ownerReferences").is_none());
        assert!(
            kept["metadata"]["annotations"]
                .get("podmirror.dev/scaled-down-deployment")
                .is_none()
        );
        assert!(kept["spec"].get("nodeName").is_none());
        assert_eq!(kept["spec"]["activeDeadlineSeconds"], DEADLINE_SECONDS);
        assert_eq!(kept["spec"]["containers"][0]["image"], "api:9");

        let mut deployment = edited.clone();
        deployment["kind"] = json!("Deployment");
        let err = keep_contract(&deployment, &built).unwrap_err().to_string();
        assert!(
            err.contains("its kind is \"Deployment\"; a mirror is a Pod"),
            "{err}"
        );
        let err = keep_contract(&json!("just text"), &built)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a YAML mapping"), "{err}");
    }
}
