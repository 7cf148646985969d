//! Whether a pod gets the tap, and how: the opt-in keys on its namespace
//! and on the pod, the pods that are never tapped, and the Pod Security
//! levels that would refuse the tap's capability.

use serde_json::Value;
use std::collections::BTreeMap;

/// Namespace label: `enabled` lets the webhook look at the namespace's pods.
pub const LABEL_TAP: &str = "podmirror.dev/tap";
/// Namespace annotation: `"true"` taps every pod unless it says otherwise.
pub const ANN_DEFAULT_INJECT: &str = "tap.podmirror.dev/default-inject";
/// Namespace annotation: `ingress` (the default) or `egress`.
pub const ANN_DEFAULT_MODE: &str = "tap.podmirror.dev/default-mode";
/// Pod annotation: `"true"` / `"false"`, over the namespace's default.
pub const ANN_INJECT: &str = "tap.podmirror.dev/inject";
/// Pod annotation: `ingress` / `egress`, over the namespace's default.
pub const ANN_MODE: &str = "tap.podmirror.dev/mode";
/// Pod annotation: comma-separated ports (default: the containers' ports).
pub const ANN_PORTS: &str = "tap.podmirror.dev/ports";
/// Pod annotation the webhook sets: `injected`.
pub use podmirror_core::contract::ANN_TAP_STATUS as ANN_STATUS;
/// The label every mirror carries.
pub use podmirror_core::contract::LABEL_MIRROR;
/// The tap container's name.
pub use podmirror_core::contract::TAP_CONTAINER;
/// The label the chart puts on podmirror's own pods (`podmirror`,
/// `podmirror-webhook`).
pub const LABEL_APP_NAME: &str = "app.kubernetes.io/name";

/// Which side of the pod's traffic the tap records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Requests to the pod and its responses.
    Ingress,
    /// The pod's outgoing calls and their answers.
    Egress,
}

impl Mode {
    /// The annotation value.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Ingress => "ingress",
            Mode::Egress => "egress",
        }
    }
}

/// What the tap of one pod watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tap {
    /// Ingress or egress.
    pub mode: Mode,
    /// The TCP ports it filters on.
    pub ports: Vec<u16>,
}

/// The webhook's answer for one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `Some`: inject this tap.
    pub tap: Option<Tap>,
    /// Why not, in a few words (for the log), when `tap` is `None`.
    pub skipped: Option<String>,
    /// Admission warnings for the user (`kubectl` prints them).
    pub warnings: Vec<String>,
}

impl Decision {
    fn skip(why: impl Into<String>) -> Decision {
        Decision {
            tap: None,
            skipped: Some(why.into()),
            warnings: Vec::new(),
        }
    }

    fn warn(why: impl Into<String>) -> Decision {
        let why = why.into();
        Decision {
            tap: None,
            skipped: Some(why.clone()),
            warnings: vec![why],
        }
    }
}

/// The namespace as the webhook sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceView {
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
}

impl NamespaceView {
    /// Reads a Namespace object.
    pub fn from_object(ns: &Value) -> NamespaceView {
        NamespaceView {
            name: ns["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            labels: string_map(&ns["metadata"]["labels"]),
            annotations: string_map(&ns["metadata"]["annotations"]),
        }
    }
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Namespaces the tap never enters.
const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// Decides for a pod being created in `ns`. `own_namespace` is where
/// podmirror itself runs (its pods are never tapped).
pub fn decide(ns: &NamespaceView, pod: &Value, own_namespace: &str) -> Decision {
    let labels = string_map(&pod["metadata"]["labels"]);
    let annotations = string_map(&pod["metadata"]["annotations"]);
    let name = pod_name(pod);
    if annotations.get(ANN_STATUS).map(String::as_str) == Some("injected")
        || containers(pod).any(|c| c["name"] == TAP_CONTAINER)
    {
        return Decision::skip("already injected");
    }
    if SYSTEM_NAMESPACES.contains(&ns.name.as_str()) {
        return Decision::skip(format!("{} is a system namespace", ns.name));
    }
    if labels.contains_key(LABEL_MIRROR) {
        return Decision::skip("a mirror");
    }
    if labels
        .get(LABEL_APP_NAME)
        .is_some_and(|n| n == "podmirror" || n.starts_with("podmirror-"))
        || (!own_namespace.is_empty() && ns.name == own_namespace)
    {
        return Decision::skip("one of podmirror's own pods");
    }
    if pod["spec"]["hostNetwork"] == Value::Bool(true) {
        return Decision::skip("uses the node's network (hostNetwork)");
    }
    if ns.labels.get(LABEL_TAP).map(String::as_str) != Some("enabled") {
        return Decision::skip(format!(
            "namespace {} is not labelled {LABEL_TAP}=enabled",
            ns.name
        ));
    }

    let default_inject = match ns.annotations.get(ANN_DEFAULT_INJECT) {
        None => false,
        Some(v) => match boolean(v) {
            Some(b) => b,
            None => {
                return Decision::warn(format!(
                    "podmirror tap: namespace {} has {ANN_DEFAULT_INJECT}={v:?}, which is not \"true\" or \"false\"; pod {name} was created without the tap. Fix the annotation: kubectl annotate namespace {} {ANN_DEFAULT_INJECT}=true --overwrite",
                    ns.name, ns.name
                ));
            }
        },
    };
    let inject = match annotations.get(ANN_INJECT) {
        None => default_inject,
        Some(v) => match boolean(v) {
            Some(b) => b,
            None => {
                return Decision::warn(format!(
                    "podmirror tap: pod {name} has {ANN_INJECT}={v:?}, which is not \"true\" or \"false\"; it was created without the tap"
                ));
            }
        },
    };
    if !inject {
        return Decision::skip("not opted in");
    }
    let mode = match annotations
        .get(ANN_MODE)
        .map(|v| (v, "pod", ANN_MODE))
        .or_else(|| {
            ns.annotations
                .get(ANN_DEFAULT_MODE)
                .map(|v| (v, "namespace", ANN_DEFAULT_MODE))
        }) {
        None => Mode::Ingress,
        Some((v, _, _)) if v == "ingress" => Mode::Ingress,
        Some((v, _, _)) if v == "egress" => Mode::Egress,
        Some((v, whose, key)) => {
            return Decision::warn(format!(
                "podmirror tap: the {whose}'s {key}={v:?} is neither \"ingress\" nor \"egress\"; pod {name} was created without the tap"
            ));
        }
    };
    let ports = match annotations.get(ANN_PORTS) {
        Some(v) => match parse_ports(v) {
            Ok(p) => p,
            Err(why) => {
                return Decision::warn(format!(
                    "podmirror tap: pod {name} has {ANN_PORTS}={v:?}: {why}; it was created without the tap. Write ports as numbers separated by commas, e.g. \"8080,9090\""
                ));
            }
        },
        None => container_ports(pod),
    };
    if ports.is_empty() {
        return Decision::warn(format!(
            "podmirror tap: pod {name} declares no TCP container ports, so there is nothing to tap; it was created without the tap. Name the ports in the {ANN_PORTS} annotation"
        ));
    }
    // Only `enforce` refuses pods; `warn` and `audit` let them in.
    if let Some(level) = ns.labels.get("pod-security.kubernetes.io/enforce")
        && (level == "baseline" || level == "restricted")
    {
        return Decision::warn(format!(
            "podmirror tap: namespace {} enforces Pod Security level {level:?}, which forbids the tap's NET_RAW capability; pod {name} was created without the tap. To tap it, label the namespace pod-security.kubernetes.io/enforce=privileged, or leave the namespace untapped",
            ns.name
        ));
    }
    Decision {
        tap: Some(Tap { mode, ports }),
        skipped: None,
        warnings: Vec::new(),
    }
}

fn boolean(v: &str) -> Option<bool> {
    match v {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Parses `8080,9090` (spaces allowed); refuses anything else.
pub fn parse_ports(v: &str) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for part in v.split(',') {
        let part = part.trim();
        match part.parse::<u16>() {
            Ok(p) if p > 0 => {
                if !ports.contains(&p) {
                    ports.push(p);
                }
            }
            _ if part.is_empty() => return Err("a port is empty".into()),
            _ => return Err(format!("{part:?} is not a port (1-65535)")),
        }
    }
    Ok(ports)
}

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers"]
        .into_iter()
        .filter_map(|k| pod["spec"][k].as_array())
        .flatten()
}

/// The TCP container ports of the app's containers, in order, once each.
fn container_ports(pod: &Value) -> Vec<u16> {
    let mut out = Vec::new();
    for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
        for p in c["ports"].as_array().into_iter().flatten() {
            let tcp = p["protocol"].as_str().is_none_or(|x| x == "TCP");
            if let Some(n) = p["containerPort"]
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                && tcp
                && n > 0
                && !out.contains(&n)
            {
                out.push(n);
            }
        }
    }
    out
}

/// The pod's name, or its generateName prefix with `*` (pods of a
/// ReplicaSet have no name yet at admission).
pub fn pod_name(pod: &Value) -> String {
    match pod["metadata"]["name"].as_str() {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => format!(
            "{}*",
            pod["metadata"]["generateName"].as_str().unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ns(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> NamespaceView {
        NamespaceView {
            name: "shop".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn pod(labels: Value, annotations: Value) -> Value {
        json!({
            "metadata": {"generateName": "api-7d9f-", "labels": labels, "annotations": annotations},
            "spec": {"containers": [{"name": "api", "image": "shop/api:1", "ports": [
                {"containerPort": 8080}, {"containerPort": 9090, "protocol": "UDP"}
            ]}]},
        })
    }

    /// Every combination of the opt-in keys, against what DESIGN's table says.
    #[test]
    fn the_injection_matrix() {
        let labelled = [None, Some("enabled"), Some("disabled")];
        let default_inject = [None, Some("true"), Some("false")];
        let inject = [None, Some("true"), Some("false")];
        let mode = [None, Some("egress")];
        let mut count = 0;
        for label in labelled {
            for d in default_inject {
                for i in inject {
                    for m in mode {
                        let mut nl = vec![];
                        if let Some(l) = label {
                            nl.push((LABEL_TAP, l));
                        }
                        let mut na = vec![];
                        if let Some(d) = d {
                            na.push((ANN_DEFAULT_INJECT, d));
                        }
                        let mut pa = serde_json::Map::new();
                        if let Some(i) = i {
                            pa.insert(ANN_INJECT.into(), json!(i));
                        }
                        if let Some(m) = m {
                            pa.insert(ANN_MODE.into(), json!(m));
                        }
                        let got = decide(
                            &ns(&nl, &na),
                            &pod(json!({}), Value::Object(pa)),
                            "podmirror",
                        );
                        let want = label == Some("enabled")
                            && match i {
                                Some(v) => v == "true",
                                None => d == Some("true"),
                            };
                        assert_eq!(
                            got.tap.is_some(),
                            want,
                            "label {label:?} default {d:?} inject {i:?}"
                        );
                        assert!(got.warnings.is_empty());
                        if let Some(tap) = got.tap {
                            let want_mode = if m.is_some() {
                                Mode::Egress
                            } else {
                                Mode::Ingress
                            };
                            assert_eq!(tap.mode, want_mode);
                            assert_eq!(tap.ports, [8080], "UDP ports are not tapped");
                        }
                        count += 1;
                    }
                }
            }
        }
        assert_eq!(count, 54);
    }

    #[test]
    fn never_mirrors_own_pods_system_namespaces_host_network_or_twice() {
        let on = ns(&[(LABEL_TAP, "enabled")], &[(ANN_DEFAULT_INJECT, "true")]);
        let yes = pod(json!({}), json!({}));
        assert!(decide(&on, &yes, "podmirror").tap.is_some());
        let mirror = pod(json!({LABEL_MIRROR: "true"}), json!({}));
        assert_eq!(
            decide(&on, &mirror, "podmirror").skipped.as_deref(),
            Some("a mirror")
        );
        let own = pod(json!({LABEL_APP_NAME: "podmirror"}), json!({}));
        assert!(decide(&on, &own, "podmirror").tap.is_none());
        let mut in_own = on.clone();
        in_own.name = "podmirror".into();
        assert!(decide(&in_own, &yes, "podmirror").tap.is_none());
        let mut system = on.clone();
        system.name = "kube-system".into();
        assert!(decide(&system, &yes, "podmirror").tap.is_none());
        let mut host = yes.clone();
        host["spec"]["hostNetwork"] = json!(true);
        assert!(decide(&on, &host, "podmirror").tap.is_none());
        let injected = pod(json!({}), json!({ANN_STATUS: "injected"}));
        assert_eq!(
            decide(&on, &injected, "podmirror").skipped.as_deref(),
            Some("already injected")
        );
        let mut has_tap = yes.clone();
        has_tap["spec"]["initContainers"] = json!([{"name": TAP_CONTAINER}]);
        assert!(decide(&on, &has_tap, "podmirror").tap.is_none());
    }

    #[test]
    fn bad_values_mean_no_tap_and_a_warning_that_says_why() {
        let on = ns(&[(LABEL_TAP, "enabled")], &[(ANN_DEFAULT_INJECT, "true")]);
        let cases = [
            (
                json!({ANN_INJECT: "yes"}),
                "tap.podmirror.dev/inject=\"yes\", which is not \"true\" or \"false\"",
            ),
            (
                json!({ANN_MODE: "both"}),
                "the pod's tap.podmirror.dev/mode=\"both\" is neither",
            ),
            (
                json!({ANN_PORTS: "8080,http"}),
                "\"http\" is not a port (1-65535)",
            ),
            (json!({ANN_PORTS: "8080,,9090"}), "a port is empty"),
            (json!({ANN_PORTS: "70000"}), "\"70000\" is not a port"),
        ];
        for (annotations, want) in cases {
            let d = decide(&on, &pod(json!({}), annotations.clone()), "podmirror");
            assert!(d.tap.is_none(), "{annotations}");
            assert_eq!(d.warnings.len(), 1);
            assert!(
                d.warnings[0].contains(want),
                "{} lacks {want}",
                d.warnings[0]
            );
        }
        let bad_ns = ns(&[(LABEL_TAP, "enabled")], &[(ANN_DEFAULT_INJECT, "True")]);
        let d = decide(&bad_ns, &pod(json!({}), json!({})), "podmirror");
        assert!(d.tap.is_none() && d.warnings[0].contains("kubectl annotate namespace shop"));
        let bad_mode = ns(
            &[(LABEL_TAP, "enabled")],
            &[(ANN_DEFAULT_INJECT, "true"), (ANN_DEFAULT_MODE, "in")],
        );
        let d = decide(&bad_mode, &pod(json!({}), json!({})), "podmirror");
        assert!(d.warnings[0].contains("the namespace's tap.podmirror.dev/default-mode=\"in\""));
        // The pod's own valid value wins over a bad namespace default.
        let d = decide(
            &bad_mode,
            &pod(json!({}), json!({ANN_MODE: "egress"})),
            "podmirror",
        );
        assert_eq!(d.tap.map(|t| t.mode), Some(Mode::Egress));
    }

    #[test]
    fn ports_come_from_the_annotation_or_the_containers() {
        let on = ns(&[(LABEL_TAP, "enabled")], &[(ANN_DEFAULT_INJECT, "true")]);
        let d = decide(
            &on,
            &pod(json!({}), json!({ANN_PORTS: " 9000, 9001,9000"})),
            "x",
        );
        assert_eq!(d.tap.map(|t| t.ports), Some(vec![9000, 9001]));
        let mut portless = pod(json!({}), json!({}));
        portless["spec"]["containers"][0]["ports"] = json!([]);
        let d = decide(&on, &portless, "x");
        assert!(d.tap.is_none() && d.warnings[0].contains("declares no TCP container ports"));
    }

    #[test]
    fn a_pod_security_level_that_refuses_net_raw_skips_with_a_warning() {
        for level in ["baseline", "restricted"] {
            let strict = ns(
                &[
                    (LABEL_TAP, "enabled"),
                    ("pod-security.kubernetes.io/enforce", level),
                ],
                &[(ANN_DEFAULT_INJECT, "true")],
            );
            let d = decide(&strict, &pod(json!({}), json!({})), "x");
            assert!(d.tap.is_none());
            assert!(d.warnings[0].contains(&format!("enforces Pod Security level {level:?}")));
        }
        let only_warns = ns(
            &[
                (LABEL_TAP, "enabled"),
                ("pod-security.kubernetes.io/warn", "restricted"),
            ],
            &[(ANN_DEFAULT_INJECT, "true")],
        );
        assert!(
            decide(&only_warns, &pod(json!({}), json!({})), "x")
                .tap
                .is_some()
        );
    }
}
