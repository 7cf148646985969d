//! Mutating admission webhooks, called as the real API server calls them:
//! every MutatingWebhookConfiguration's webhooks, in name order, whose
//! rules, `namespaceSelector` and `objectSelector` match the object being
//! created, get an AdmissionReview v1 over HTTPS (`clientConfig.url`, or
//! `clientConfig.service` resolved to a ready pod the Service selects),
//! trusting only `caBundle`, within `timeoutSeconds`; a JSONPatch answer
//! is applied, warnings go back to the client, and a failure follows
//! `failurePolicy` (`Fail` refuses the object, `Ignore` goes on without
//! the webhook).
//!
//! The call is blocking (a thread of its own, waited for), made while no
//! store lock is held: creates are synchronous in the sim. On a
//! multi-threaded runtime the waiting worker hands its tasks on
//! (`block_in_place`), so a webhook served by the same runtime answers; on
//! a single-threaded one (a plain `#[tokio::test]`) it cannot, so tests
//! with webhooks use the multi-threaded flavor.

use crate::error::ApiError;
use crate::meta;
use crate::resources::Resource;
use crate::selector::LabelSelector;
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a webhook call needs from the cluster, read under one short lock.
pub struct Context {
    /// The MutatingWebhookConfigurations.
    pub configurations: Vec<Arc<Value>>,
    /// The object's namespace, when it is namespaced.
    pub namespace: Option<Arc<Value>>,
    /// Where each Service a webhook names is served (a Ready pod's address).
    pub endpoints: Vec<(ServiceRef, SocketAddr)>,
}

/// A `clientConfig.service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    /// The Service's namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The port (443 when unset).
    pub port: u16,
    /// The URL path ("/" when unset).
    pub path: String,
}

impl ServiceRef {
    /// Reads a `clientConfig.service`.
    pub fn of(svc: &Value) -> ServiceRef {
        ServiceRef {
            namespace: svc["namespace"].as_str().unwrap_or_default().to_string(),
            name: svc["name"].as_str().unwrap_or_default().to_string(),
            port: svc["port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(443),
            path: svc["path"].as_str().unwrap_or("/").to_string(),
        }
    }
}

/// The outcome of mutating admission.
#[derive(Debug, Default)]
pub struct Admitted {
    /// Whether any webhook changed the object.
    pub patched: bool,
    /// Warnings to send back (`Warning: 299 - …` headers).
    pub warnings: Vec<String>,
}

/// A webhook of a configuration.
struct Hook<'a> {
    name: &'a str,
    spec: &'a Value,
}

/// Runs the matching webhooks over `obj` (a create of `r` in `ns`).
pub fn mutate(
    ctx: &Context,
    r: &Resource,
    ns: &str,
    obj: &mut Value,
    dry_run: bool,
    user: &str,
) -> Result<Admitted, ApiError> {
    let mut configs: Vec<&Arc<Value>> = ctx.configurations.iter().collect();
    configs.sort_by(|a, b| meta::name(a).cmp(meta::name(b)));
    let mut out = Admitted::default();
    for config in configs {
        for spec in config["webhooks"].as_array().into_iter().flatten() {
            let hook = Hook {
                name: spec["name"].as_str().unwrap_or_default(),
                spec,
            };
            if !applies(&hook, r, ctx.namespace.as_deref(), obj) {
                continue;
            }
            match call(ctx, &hook, r, ns, obj, dry_run, user) {
                Ok(answer) => {
                    out.warnings.extend(answer.warnings);
                    if let Some(denied) = answer.denied {
                        return Err(denied);
                    }
                    if let Some(patch) = answer.patch {
                        json_patch::patch(obj, &patch).map_err(|e| {
                            ApiError::internal(format!(
                                "Internal error occurred: failed calling webhook {:?}: the patch does not apply: {e}",
                                hook.name
                            ))
                        })?;
                        out.patched = true;
                    }
                }
                Err(why) => {
                    let message = format!("failed calling webhook {:?}: {why}", hook.name);
                    if spec["failurePolicy"].as_str() == Some("Ignore") {
                        tracing::warn!("{message} (failurePolicy Ignore: admitted without it)");
                    } else {
                        return Err(ApiError::internal(format!(
                            "Internal error occurred: {message}"
                        )));
                    }
                }
            }
        }
    }
    Ok(out)
}

fn applies(hook: &Hook<'_>, r: &Resource, namespace: Option<&Value>, obj: &Value) -> bool {
    let listed = |v: &Value, want: &str| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|x| x == "*" || x == want))
    };
    let rule_ok = hook.spec["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|rule| {
            let scope = rule["scope"].as_str().unwrap_or("*");
            (listed(&rule["operations"], "CREATE"))
                && listed(&rule["apiGroups"], r.group)
                && listed(&rule["apiVersions"], r.version)
                && (listed(&rule["resources"], r.plural)
                    || rule["resources"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == "*/*")))
                && match scope {
                    "Namespaced" => r.namespaced,
                    "Cluster" => !r.namespaced,
                    _ => true,
                }
        });
    if !rule_ok {
        return false;
    }
    let selects = |selector: &Value, labels: Option<&serde_json::Map<String, Value>>| {
        if selector.is_null() {
            return true;
        }
        LabelSelector::from_api(selector).is_ok_and(|s| s.matches(labels))
    };
    if r.namespaced {
        let labels = namespace.and_then(|n| n["metadata"]["labels"].as_object());
        if !selects(&hook.spec["namespaceSelector"], labels) {
            return false;
        }
    }
    selects(
        &hook.spec["objectSelector"],
        obj["metadata"]["labels"].as_object(),
    )
}

/// A webhook's answer.
struct Answer {
    patch: Option<json_patch::Patch>,
    warnings: Vec<String>,
    denied: Option<ApiError>,
}

fn call(
    ctx: &Context,
    hook: &Hook<'_>,
    r: &Resource,
    ns: &str,
    obj: &Value,
    dry_run: bool,
    user: &str,
) -> Result<Answer, String> {
    let timeout = Duration::from_secs(
        hook.spec["timeoutSeconds"]
            .as_u64()
            .unwrap_or(10)
            .clamp(1, 30),
    );
    let cc = &hook.spec["clientConfig"];
    let (target, host, path, shown) = if let Some(url) = cc["url"].as_str() {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("the URL {url:?} is not https"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (host, port) = split_host_port(authority);
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("dial tcp: lookup {host}: no such host"))?;
        (addr, host, path, format!("https://{authority}"))
    } else if cc["service"].is_object() {
        let svc = ServiceRef::of(&cc["service"]);
        let (name, sns, port) = (&svc.name, &svc.namespace, svc.port);
        let host = format!("{name}.{sns}.svc");
        let addr = ctx
            .endpoints
            .iter()
            .find(|(k, _)| *k == svc)
            .map(|(_, a)| *a)
            .ok_or_else(|| format!("no endpoints available for service {name:?}"))?;
        (
            addr,
            host,
            svc.path.clone(),
            format!("https://{name}.{sns}.svc:{port}"),
        )
    } else {
        return Err("the clientConfig has neither url nor service".into());
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    let path = format!("{path}{sep}timeout={}s", timeout.as_secs());
    let post = format!("Post \"{shown}{path}\"");

    let uid = meta::new_uid();
    let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let gvr = json!({"group": r.group, "version": r.version, "resource": r.plural});
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": meta::name(obj),
            "namespace": ns,
            "operation": "CREATE",
            "userInfo": {"username": user, "groups": ["system:authenticated"]},
            "object": obj,
            "oldObject": null,
            "dryRun": dry_run,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        }
    });
    let body = serde_json::to_vec(&review).map_err(|e| e.to_string())?;
    let roots = roots(cc)?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nAccept: application/json, */*\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // The call runs on a thread of its own so a slow webhook costs this
    // thread only the timeout.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(exchange(
            target,
            &host,
            roots,
            request.as_bytes(),
            &body,
            timeout,
        ));
    });
    let (status, bytes) = rx
        .recv_timeout(timeout + Duration::from_millis(200))
        .map_err(|_| format!("failed to call webhook: {post}: context deadline exceeded"))?
        .map_err(|e| format!("failed to call webhook: {post}: {e}"))?;
    if status != 200 {
        return Err(format!(
            "received invalid webhook response: expected status 200, got {status}"
        ));
    }
    let answer: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("received invalid webhook response: {e}"))?;
    let response = &answer["response"];
    if answer["apiVersion"] != "admission.k8s.io/v1" || answer["kind"] != "AdmissionReview" {
        return Err(format!(
            "received invalid webhook response: expected admission.k8s.io/v1 AdmissionReview, got {}/{}",
            answer["apiVersion"], answer["kind"]
        ));
    }
    if response["uid"].as_str() != Some(uid.as_str()) {
        return Err(format!(
            "expected response.uid={uid:?}, got {}",
            response["uid"]
        ));
    }
    let warnings: Vec<String> = response["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w.as_str().map(str::to_string))
        .collect();
    if response["allowed"] != true {
        let message = response["status"]["message"].as_str().unwrap_or("");
        let code = response["status"]["code"]
            .as_u64()
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(403);
        let mut e = ApiError::internal(format!(
            "admission webhook {:?} denied the request: {message}",
            hook.name
        ));
        e.code = code;
        e.reason = "Forbidden";
        return Ok(Answer {
            patch: None,
            warnings,
            denied: Some(e),
        });
    }
    let patch = match (response["patchType"].as_str(), response["patch"].as_str()) {
        (None, None) => None,
        (Some("JSONPatch"), Some(b64)) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("the patch is not base64: {e}"))?;
            Some(
                serde_json::from_slice::<json_patch::Patch>(&raw)
                    .map_err(|e| format!("the patch is not a JSON patch: {e}"))?,
            )
        }
        (Some(t), None) => {
            return Err(format!("webhook returned patchType {t:?} but no patch"));
        }
        (t, _) => return Err(format!("webhook returned unsupported patchType {t:?}")),
    };
    Ok(Answer {
        patch,
        warnings,
        denied: None,
    })
}

fn split_host_port(authority: &str) -> (String, u16) {
    if let Some(rest) = authority.strip_prefix('[')
        && let Some((host, port)) = rest.split_once(']')
    {
        let port = port.trim_start_matches(':').parse().unwrap_or(443);
        return (host.to_string(), port);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().unwrap_or(443)),
        _ => (authority.to_string(), 443),
    }
}

fn roots(cc: &Value) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(b64) = cc["caBundle"].as_str() {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("the caBundle is not base64: {e}"))?;
        for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
            let _ = roots.add(cert);
        }
    }
    Ok(roots)
}

/// One HTTPS exchange; returns the status and body.
fn exchange(
    addr: SocketAddr,
    host: &str,
    roots: rustls::RootCertStore,
    head: &[u8],
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, Vec<u8>), String> {
    let deadline = Instant::now() + timeout;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            format!("dial tcp {addr}: connect: connection refused")
        }
        _ => format!("dial tcp {addr}: {e}"),
    })?;
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let _ = tcp.set_read_timeout(Some(left));
    let _ = tcp.set_write_timeout(Some(left));
    let _ = tcp.set_nodelay(true);
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let tls_words = |e: std::io::Error| {
        let text = e.to_string();
        if text.contains("UnknownIssuer") || text.contains("invalid peer certificate") {
            format!(
                "tls: failed to verify certificate: x509: certificate signed by unknown authority ({text})"
            )
        } else if e.kind() == std::io::ErrorKind::WouldBlock
            || e.kind() == std::io::ErrorKind::TimedOut
        {
            "context deadline exceeded".to_string()
        } else {
            text
        }
    };
    tls.write_all(head).map_err(tls_words)?;
    tls.write_all(body).map_err(tls_words)?;
    tls.flush().map_err(tls_words)?;
    let mut got = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match tls.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            // A peer that closes without close_notify has still sent it all.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(tls_words(e)),
        }
        if let Some(done) = complete(&got) {
            return done;
        }
    }
    complete(&got).unwrap_or_else(|| Err("EOF before a whole response".into()))
}

/// The status and body once `got` holds a whole response.
fn complete(got: &[u8]) -> Option<Result<(u16, Vec<u8>), String>> {
    let end = got.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
    let status: u16 = match head.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
        Some(s) => s,
        None => return Some(Err("malformed HTTP response".into())),
    };
    let rest = &got[end..];
    if head.contains("\r\ntransfer-encoding: chunked") {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = rest[at..].windows(2).position(|w| w == b"\r\n")? + at;
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[at..line_end])
                    .split(';')
                    .next()?
                    .trim(),
                16,
            )
            .ok()?;
            let start = line_end + 2;
            if size == 0 {
                return Some(Ok((status, body)));
            }
            if rest.len() < start + size + 2 {
                return None;
            }
            body.extend_from_slice(&rest[start..start + size]);
            at = start + size + 2;
        }
    }
    let length = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())?;
    (rest.len() >= length).then(|| Ok((status, rest[..length].to_vec())))
}
