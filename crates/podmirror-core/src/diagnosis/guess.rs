//! Changes that can be guessed from what the namespace holds — a ConfigMap,
//! Secret, key or claim with a close name, a conventional non-root user, a
//! key named like the file a crash log misses — each a runnable change whose
//! confidence and text say it is a guess a mirror must prove.

use super::{Context, Found, list, text};
use serde_json::{Value, json};

/// The non-root user id a guess sets first (distroless images' `nonroot`),
/// then the first user id many base images create.
pub(super) const NON_ROOT_UID: i64 = 65532;
const FIRST_USER_UID: i64 = 1000;

/// Where HTTP health endpoints usually are, most common first.
pub(super) const HEALTH_PATHS: &[&str] = &[
    "/healthz", "/health", "/livez", "/readyz", "/ready", "/status", "/ping", "/",
];

/// The names among `among` closest to `wanted`, when any is close: a typo
/// (edits at most a quarter of the length, at least one), the same words in
/// another case or with other separators, or one name being the other with
/// words added (`ledger-config` for `config`). Ties are all returned.
pub(super) fn closest<'a>(wanted: &str, among: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut best: Option<usize> = None;
    let mut out: Vec<&'a str> = Vec::new();
    for name in among {
        if name == wanted {
            continue;
        }
        let Some(score) = distance(wanted, name) else {
            continue;
        };
        match best {
            Some(b) if score > b => {}
            Some(b) if score == b => out.push(name),
            _ => {
                best = Some(score);
                out = vec![name];
            }
        }
    }
    out
}

/// How far `name` is from `wanted` (lower is closer), or None when it is not
/// close at all.
fn distance(wanted: &str, name: &str) -> Option<usize> {
    let words = |s: &str| -> Vec<String> {
        s.split(['-', '_', '.'])
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    };
    let (a, b) = (words(wanted), words(name));
    if a == b {
        return Some(0);
    }
    let edits = edit_distance(wanted, name);
    if edits <= (wanted.len().max(name.len()) / 4).max(1) {
        return Some(edits);
    }
    // The other's words in order, with more words around them.
    let contains = |long: &[String], short: &[String]| {
        !short.is_empty() && long.windows(short.len()).any(|w| w == short)
    };
    if contains(&b, &a) || contains(&a, &b) {
        return Some(10 + a.len().abs_diff(b.len()));
    }
    None
}

/// Levenshtein distance with adjacent transpositions, over bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

/// A ConfigMap or a Secret, as a pod spec references it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    ConfigMap,
    Secret,
}

impl Source {
    pub(super) fn kind(self) -> &'static str {
        match self {
            Source::ConfigMap => "ConfigMap",
            Source::Secret => "Secret",
        }
    }
}

/// The JSON pointers (relative to the PodSpec) of every field that names the
/// `source` object `name`: in the container at `path` (`envFrom`, `env`
/// value sources), and in the pod's volumes (plain and projected).
pub(super) fn references(
    spec: &Value,
    path: Option<&str>,
    source: Source,
    name: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    let (from_ref, key_ref) = match source {
        Source::ConfigMap => ("configMapRef", "configMapKeyRef"),
        Source::Secret => ("secretRef", "secretKeyRef"),
    };
    let containers: Vec<String> = match path {
        Some(p) => vec![p.to_string()],
        None => ["containers", "initContainers"]
            .iter()
            .flat_map(|k| {
                let n = spec.get(*k).and_then(Value::as_array).map_or(0, Vec::len);
                (0..n).map(move |i| format!("/{k}/{i}"))
            })
            .collect(),
    };
    for p in containers {
        let c = spec.pointer(&p).cloned().unwrap_or(Value::Null);
        for (i, from) in list(&c, "/envFrom").iter().enumerate() {
            if text(from, &format!("/{from_ref}/name")) == name {
                out.push(format!("{p}/envFrom/{i}/{from_ref}/name"));
            }
        }
        for (i, env) in list(&c, "/env").iter().enumerate() {
            if text(env, &format!("/valueFrom/{key_ref}/name")) == name {
                out.push(format!("{p}/env/{i}/valueFrom/{key_ref}/name"));
            }
        }
    }
    let (volume_key, volume_name) = match source {
        Source::ConfigMap => ("configMap", "name"),
        Source::Secret => ("secret", "secretName"),
    };
    for (i, v) in list(spec, "/volumes").iter().enumerate() {
        if text(v, &format!("/{volume_key}/{volume_name}")) == name {
            out.push(format!("/volumes/{i}/{volume_key}/{volume_name}"));
        }
        for (j, s) in list(v, "/projected/sources").iter().enumerate() {
            if text(s, &format!("/{volume_key}/name")) == name {
                out.push(format!(
                    "/volumes/{i}/projected/sources/{j}/{volume_key}/name"
                ));
            }
        }
    }
    out
}

/// Names `among` as a sentence: `"a", "b" and "c"`.
pub(super) fn quoted_list(among: &[&str]) -> String {
    let q: Vec<String> = among.iter().map(|n| format!("{n:?}")).collect();
    match q.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Each of `several` equally close names as a candidate of its own (the
/// fields at `refs` set to it), worded by `fix(name, all the names)`.
pub(super) fn each_close(
    f: &mut Found,
    several: &[&str],
    refs: &[String],
    fix: impl Fn(&str, &str) -> String,
) {
    let all = quoted_list(several);
    for one in several {
        f.also(fix(one, &all), set_all(refs, one), 0.45);
    }
}

/// JSON Patch ops setting every field at `refs` to `value`.
pub(super) fn set_all(refs: &[String], value: &str) -> Vec<Value> {
    refs.iter()
        .map(|at| json!({"op": "replace", "path": at, "value": value}))
        .collect()
}

/// A missing ConfigMap or Secret `name`: point every reference at the one
/// of the namespace with the closest name, when exactly one is closest.
/// True when a change was made.
pub(super) fn missing_object(
    f: &mut Found,
    spec: &Value,
    path: Option<&str>,
    source: Source,
    name: &str,
    existing: &[&str],
) -> bool {
    let close = closest(name, existing.iter().copied());
    let refs = references(spec, path, source, name);
    match close.as_slice() {
        [one] if !refs.is_empty() => {
            f.evidence.push(format!(
                "no {} {name:?} in the namespace; {one:?} has a close name",
                source.kind()
            ));
            f.also(
                format!(
                    "Use the {} {one:?} instead of {name:?}, which does not exist (a guess from the close name: a mirror shows whether it holds what the pod needs). If {name:?} is meant, create it instead.",
                    source.kind()
                ),
                set_all(&refs, one),
                0.6,
            );
            true
        }
        several if !refs.is_empty() => {
            f.evidence.push(format!(
                "no {} {name:?} in the namespace; close names: {}",
                source.kind(),
                quoted_list(several)
            ));
            each_close(f, several, &refs, |one, all| {
                format!(
                    "Use the {} {one:?} instead of {name:?}, which does not exist (one of several close names, {all}: each is a guess a mirror tries in turn). If {name:?} is meant, create it instead.",
                    source.kind()
                )
            });
            true
        }
        _ => false,
    }
}

/// A key `key` missing from the ConfigMap or Secret `name`, which has the
/// keys `keys`: point the container's references at the closest key.
pub(super) fn missing_key(
    f: &mut Found,
    spec: &Value,
    path: &str,
    source: Source,
    name: &str,
    key: &str,
    keys: &[String],
) -> bool {
    let key_ref = match source {
        Source::ConfigMap => "configMapKeyRef",
        Source::Secret => "secretKeyRef",
    };
    let container = spec.pointer(path).cloned().unwrap_or(Value::Null);
    let refs: Vec<String> = list(&container, "/env")
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            text(e, &format!("/valueFrom/{key_ref}/name")) == name
                && text(e, &format!("/valueFrom/{key_ref}/key")) == key
        })
        .map(|(i, _)| format!("{path}/env/{i}/valueFrom/{key_ref}/key"))
        .collect();
    let close = closest(key, keys.iter().map(String::as_str));
    match close.as_slice() {
        [one] if !refs.is_empty() => {
            f.evidence.push(format!(
                "{} {name} has the keys {}; {one:?} is close to {key:?}",
                source.kind(),
                quoted_list(&keys.iter().map(String::as_str).collect::<Vec<_>>())
            ));
            f.also(
                format!(
                    "Read the key {one:?} of {} {name} instead of {key:?}, which it does not have (a guess from the close name: a mirror shows whether it is the value the app needs). If {key:?} is meant, add it to {name}.",
                    source.kind()
                ),
                set_all(&refs, one),
                0.6,
            );
            true
        }
        several if !refs.is_empty() => {
            each_close(f, several, &refs, |one, all| {
                format!(
                    "Read the key {one:?} of {} {name} instead of {key:?} (one of several close keys, {all}: each is a guess a mirror tries in turn).",
                    source.kind()
                )
            });
            true
        }
        _ => false,
    }
}

/// `runAsNonRoot` with an image that runs as root (or a `runAsUser: 0`):
/// the container runs as the conventional non-root user instead.
pub(super) fn non_root_user(f: &mut Found, spec: &Value, path: &str) {
    let mut context = spec
        .pointer(&format!("{path}/securityContext"))
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    // The whole object: the template may have none to add a field to.
    let mut as_user = |uid: i64| {
        context["runAsUser"] = json!(uid);
        vec![
            json!({"op": "add", "path": format!("{path}/securityContext"), "value": context.clone()}),
        ]
    };
    f.evidence.push(format!(
        "a guess: runAsUser {NON_ROOT_UID}, the non-root user of distroless images"
    ));
    f.also(
        format!(
            "Run the container as user {NON_ROOT_UID} (securityContext.runAsUser), a conventional non-root id. A guess: the image must work as that user (files it writes, ports below 1024), which a mirror shows; otherwise use an image built to run as non-root."
        ),
        as_user(NON_ROOT_UID),
        0.5,
    );
    f.also(
        format!(
            "Run the container as user {FIRST_USER_UID}, the first user many base images create (a guess a mirror proves)."
        ),
        as_user(FIRST_USER_UID),
        0.4,
    );
}

/// A file the app misses at `file`, where a ConfigMap or Secret of the
/// namespace has a key named like the file: mount that key there (a
/// `subPath` mount, so the rest of the directory stays as the image has it).
pub(super) fn mount_file(f: &mut Found, ctx: &Context, path: &str, file: &str) {
    let Some(file_name) = file.rsplit('/').next().filter(|n| !n.is_empty()) else {
        return;
    };
    let mut having: Vec<(Source, &str)> = ctx
        .configmaps
        .iter()
        .filter(|(_, keys)| keys.iter().any(|k| k == file_name))
        .map(|(n, _)| (Source::ConfigMap, n.as_str()))
        .collect();
    having.extend(
        ctx.secrets
            .iter()
            .filter(|(_, s)| s.keys.iter().any(|k| k == file_name))
            .map(|(n, _)| (Source::Secret, n.as_str())),
    );
    match having.as_slice() {
        [] => {}
        [(source, object)] => {
            // The lists as the workload has them: without the token volume
            // and mounts admission added to the pod.
            let cleaned = crate::cleanup::clean_pod(&ctx.pod);
            let spec = cleaned.get("spec").cloned().unwrap_or(Value::Null);
            let mut volumes: Vec<Value> = list(&spec, "/volumes").to_vec();
            let mut volume = format!("podmirror-{object}");
            volume.truncate(63);
            let taken = |n: &str| volumes.iter().any(|v| text(v, "/name") == n);
            let mut n = 2;
            while taken(&volume) {
                volume = format!("podmirror-{n}-{object}");
                volume.truncate(63);
                n += 1;
            }
            volumes.push(match source {
                Source::ConfigMap => json!({"name": volume, "configMap": {"name": object}}),
                Source::Secret => json!({"name": volume, "secret": {"secretName": object}}),
            });
            let mut mounts: Vec<Value> = spec
                .pointer(&format!("{path}/volumeMounts"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            mounts.push(
                json!({"name": volume, "mountPath": file, "subPath": file_name, "readOnly": true}),
            );
            // Whole lists: the template may have none to append to.
            f.patch
                .push(json!({"op": "add", "path": "/volumes", "value": volumes}));
            f.patch.push(
                json!({"op": "add", "path": format!("{path}/volumeMounts"), "value": mounts}),
            );
            f.evidence.push(format!(
                "the log names {file}; {} {object} has a key {file_name:?}",
                source.kind()
            ));
            f.suggested_fix = format!(
                "Mount the key {file_name:?} of {} {object} at {file} (a guess from the file's name: a mirror shows whether it is the file the app reads).",
                source.kind()
            );
            f.confidence = 0.55;
            f.runnable = true;
        }
        several => {
            let names: Vec<String> = several
                .iter()
                .map(|(s, n)| format!("{} {n}", s.kind()))
                .collect();
            f.evidence.push(format!(
                "the log names {file}; a key {file_name:?} is in {}",
                names.join(", ")
            ));
            f.suggested_fix = format!(
                "Mount the file at {file} from one of {}, which all have a key {file_name:?}: none is picked, as only you know which is meant.",
                names.join(", ")
            );
        }
    }
}
