//! The routes of the API contract (docs/architecture.md). Each handler authenticates the caller, keeps
//! to the caller's org (another org's objects answer 404), checks the role,
//! does the work with the same service code as the CLI (`podmirror-kube`),
//! and appends every mutation and every refusal to the audit log.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::views::*;
use crate::{AppState, Body, MAX_TTL, MIN_TTL, Q};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use http::StatusCode;
use podmirror_core::changes::Change;
use podmirror_core::diagnosis;
use podmirror_core::mirror::{MirrorInfo, MirrorOptions};
use podmirror_core::ttl::Ttl;
use podmirror_core::verdict::{self, Verdict};
use podmirror_kube::{deploy, fixes, mirrors};
use podmirror_store::{NewEntry, sha256_hex};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

type S = State<Arc<AppState>>;

/// `?namespace=NS` (default `default`), and for a fix `&dry_run=true`.
#[derive(Debug, Deserialize)]
pub struct NamespaceQuery {
    namespace: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

impl NamespaceQuery {
    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }

    /// The namespace of `pod` for the caller: both names checked, and 404
    /// when the caller's org does not see the namespace.
    fn pod_namespace(&self, caller: &Caller, pod: &str) -> Result<&str, ApiError> {
        crate::names::target(pod)?;
        caller.namespace(self.ns(), &format!("pod {}/{pod}", self.ns()))
    }
}

/// `?settle=SECONDS` for a mirror's status.
#[derive(Debug, Deserialize)]
pub struct SettleQuery {
    settle: Option<f64>,
}

/// `?after=SEQ&limit=N` for the audit log.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

fn text<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// `namespace:name` → (namespace, name).
pub(crate) fn split_pod_id(id: &str) -> Result<(&str, &str), ApiError> {
    match id.split_once(':') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
            // The name may be KIND/NAME of a workload.
            let bare = name.rsplit('/').next().unwrap_or(name);
            crate::names::object_name(bare, "pod")?;
            Ok((ns, name))
        }
        _ => Err(ApiError::bad_request(format!(
            "pod id {id:?} is not namespace:name (e.g. shop:api-7c9f-abcde)"
        ))),
    }
}

/// What a request sent on, for its audit entry: the SHA-256 of it as sent,
/// and the command or patch in words (environment values left out).
#[derive(Debug, Clone, Default)]
pub(crate) struct Sent {
    digest: String,
    detail: String,
}

impl Sent {
    /// `digested` as sent, and `detail` as the entry shows it.
    fn of(digested: &str, detail: String) -> Sent {
        Sent {
            digest: sha256_hex(digested.as_bytes()),
            detail,
        }
    }
}

impl AppState {
    /// Appends to the audit log and returns the entry's position; a log
    /// that cannot be written fails the request.
    pub(crate) async fn audit(
        &self,
        caller: &Caller,
        action: &str,
        target: &str,
        sent: &Sent,
        outcome: &str,
    ) -> Result<i64, ApiError> {
        let entry = NewEntry {
            who: caller.name.clone(),
            role: caller.role.as_str().into(),
            org: caller.org.name.clone(),
            action: action.into(),
            target: target.into(),
            request_id: caller.request_id.clone(),
            digest: sent.digest.clone(),
            outcome: outcome.into(),
            detail: sent.detail.clone(),
        };
        self.store
            .append_audit(&entry, jiff::Timestamp::now())
            .await
            .map(|e| e.seq)
            .map_err(ApiError::store)
    }

    /// The pod's last diagnosis within the window, or 404 saying how to get one.
    async fn last_diagnosis(
        &self,
        ns: &str,
        pod: &str,
    ) -> Result<podmirror_store::Saved, ApiError> {
        self.store
            .last(ns, pod, self.window, jiff::Timestamp::now())
            .await
            .map_err(ApiError::store)?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no diagnosis of pod {ns}/{pod} in the last {} min; POST /api/diagnosis/{pod}?namespace={ns} makes one",
                    self.window.as_secs() / 60
                ))
            })
    }

    /// The mirror TTL setting.
    pub(crate) async fn mirror_ttl(&self) -> Result<u64, ApiError> {
        Ok(self
            .store
            .setting(crate::TTL_SETTING)
            .await
            .map_err(ApiError::store)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.config.mirror_ttl_seconds))
    }

    pub(crate) fn server_now(&self) -> jiff::Timestamp {
        self.clock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .now()
            .unwrap_or_else(jiff::Timestamp::now)
    }

    /// A mirror of the caller's org, from the cache.
    fn mirror(&self, caller: &Caller, id: &str) -> Result<(Arc<Value>, MirrorInfo), ApiError> {
        crate::names::object_name(id, "mirror id")?;
        self.pods
            .find_mirror(|m| m.info.id == id && caller.org.sees(&m.info.namespace))
            .map(|m| (m.pod.clone(), m.info.clone()))
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no mirror {id:?}; GET /api/mirror/active lists them"
                ))
            })
    }

    /// A mirror's verdict at `now` (the API server's clock), with the
    /// configured settle time.
    pub(crate) fn verdict_at(&self, pod: &Value, now: jiff::Timestamp) -> Verdict {
        verdict::judge(pod, ready_for(pod, now), self.config.mirror_settle_seconds)
    }

    /// A mirror's status at `now` (the API server's clock), without its
    /// events and the failing container's logs, which cost a request each.
    pub(crate) fn status_at(
        &self,
        pod: &Value,
        info: &MirrorInfo,
        settle: f64,
        now: jiff::Timestamp,
    ) -> MirrorStatus {
        let v = verdict::judge(pod, ready_for(pod, now), settle);
        let detail = match &v {
            Verdict::Healthy => "all containers ready".to_string(),
            Verdict::Failing { reason, .. } => reason.clone(),
            Verdict::Pending { why } => why.clone(),
        };
        let restarts = verdict::restarts(pod);
        let failure = match &v {
            Verdict::Failing {
                container,
                reason,
                message,
                exit_code,
            } => Some(MirrorFailure {
                container: container.clone(),
                reason: reason.clone(),
                message: message.clone(),
                exit_code: *exit_code,
                last_logs: Vec::new(),
            }),
            _ => None,
        };
        let remaining = info
            .expires
            .map(|e| e.duration_since(now).as_secs().max(0))
            .unwrap_or(0);
        MirrorStatus {
            id: info.id.clone(),
            namespace: info.namespace.clone(),
            source: info.target(),
            phase: info.phase.clone(),
            ready: verdict::all_ready(pod),
            restarts,
            verdict: v.word().to_string(),
            verdict_detail: detail,
            expires_at: info.expires.map(|e| e.to_string()),
            remaining_seconds: remaining,
            ttl_seconds: info.ttl_seconds,
            created_by: info.created_by.clone(),
            scaled_down: info.scaled_down.clone(),
            deleting: info.deleting,
            now: now.to_string(),
            settle_seconds: settle,
            containers: crate::pods::containers(pod),
            failure,
            recent_events: None,
        }
    }
}

impl AppState {
    /// Records a mirror's final verdict on the diagnosis whose fix it tests
    /// (the `diagnosis-id` annotation: `namespace/pod@time`).
    async fn record_verdict(&self, pod: &Value, status: &MirrorStatus) {
        let id = text(pod, "/metadata/annotations/podmirror.dev~1diagnosis-id");
        let Some((ns, rest)) = id.split_once('/') else {
            return;
        };
        let Some((source, _)) = rest.split_once('@') else {
            return;
        };
        let candidate = text(pod, "/metadata/annotations/podmirror.dev~1candidate")
            .parse::<usize>()
            .unwrap_or(0);
        if matches!(status.verdict.as_str(), "Healthy" | "Failing")
            && let Err(e) = self
                .store
                .verify_id(ns, source, id, candidate, &status.id, &status.verdict)
                .await
        {
            tracing::warn!(error = %e, mirror = %status.id, "could not record the verdict on the diagnosis");
        } else if matches!(status.verdict.as_str(), "Healthy" | "Failing") {
            self.diagnoses.send_modify(|n| *n += 1);
        }
    }
}

/// How long the pod has been Ready, from its Ready condition (server clock).
fn ready_for(pod: &Value, now: jiff::Timestamp) -> f64 {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| now.duration_since(t).as_secs_f64().max(0.0))
        .unwrap_or(0.0)
}

/// GET /api/pods/failing
pub async fn failing_pods(State(s): S, caller: Caller) -> Result<Json<Vec<FailingPod>>, ApiError> {
    s.failing_list(&caller).await.map(Json)
}

/// GET /api/diagnosis/{pod}?namespace=NS
pub async fn get_diagnosis(
    State(s): S,
    caller: Caller,
    Path(pod): Path<String>,
    Q(q): Q<NamespaceQuery>,
) -> Result<Json<DiagnosisView>, ApiError> {
    let ns = q.pod_namespace(&caller, &pod)?;
    let saved = s.last_diagnosis(ns, &pod).await?;
    let can_apply_fix = saved.finding.runnable && caller.org.may_apply_fixes(caller.role);
    Ok(Json(DiagnosisView {
        saved_at: saved.saved_at.to_string(),
        verified_by: saved
            .verified
            .map(|(mirror, verdict)| Verification { mirror, verdict }),
        verified_candidate: saved.verified_candidate,
        tries: CandidateTry::all(&saved.tries),
        can_apply_fix,
        finding: saved.finding,
    }))
}

/// POST /api/diagnosis/{pod}?namespace=NS
pub async fn post_diagnosis(
    State(s): S,
    caller: Caller,
    Path(pod): Path<String>,
    Q(q): Q<NamespaceQuery>,
) -> Result<Json<DiagnoseResult>, ApiError> {
    let ns = q.pod_namespace(&caller, &pod)?;
    let target = format!("{ns}:{pod}");
    let result = s.diagnose(ns, &pod).await;
    let outcome = match &result {
        Ok(r) if r.finding.is_some() => "ok".to_string(),
        Ok(_) => "ok: nothing found".to_string(),
        Err(e) => format!("failed: {}", e.message),
    };
    s.audit(&caller, "diagnose", &target, &Sent::default(), &outcome)
        .await?;
    result.map(Json)
}

impl AppState {
    /// Diagnoses one pod now and keeps the finding.
    pub(crate) async fn diagnose(&self, ns: &str, pod: &str) -> Result<DiagnoseResult, ApiError> {
        if let Some((kind, name)) = pod.split_once('/') {
            return self.diagnose_workload(ns, kind, name).await;
        }
        let snapshot = podmirror_kube::gather::Snapshot::take_pod(&self.client, ns, pod).await?;
        let Some(p) = snapshot
            .pods
            .iter()
            .find(|p| text(p, "/metadata/name") == pod)
        else {
            return Err(ApiError::not_found(format!("pod {ns}/{pod} not found")));
        };
        if crate::cache::is_mirror(p) {
            return Err(ApiError::invalid(format!(
                "{pod} is a mirror; mirrors are not diagnosed"
            )));
        }
        let ctx = snapshot.context(&self.client, p).await;
        let rules = diagnosis::diagnose(&ctx);
        let (finding, note) = match &self.llm {
            Some(llm) if !diagnosis::healthy(p) => {
                let got = podmirror_ai::consult(llm, &self.client, &ctx, rules).await;
                (got.finding, got.note)
            }
            _ => (rules, None),
        };
        if let Some(f) = &finding {
            self.keep(f).await?;
        }
        let healthy = diagnosis::healthy(p);
        let message = match (&finding, healthy) {
            (None, true) => Some(format!("pod {ns}/{pod} is healthy; nothing to diagnose")),
            (None, false) => Some(format!(
                "pod {ns}/{pod} is not healthy but no rule explains it yet"
            )),
            _ => None,
        };
        let message = match (message, note) {
            (Some(m), Some(n)) => Some(format!("{m}; {n}")),
            (m, n) => m.or(n),
        };
        Ok(DiagnoseResult {
            namespace: ns.into(),
            pod: pod.into(),
            healthy,
            finding,
            message,
        })
    }

    /// Keeps a finding as its pod's (or workload's) last diagnosis, and
    /// tells the live lists.
    async fn keep(&self, f: &diagnosis::Finding) -> Result<(), ApiError> {
        self.store
            .save(f, jiff::Timestamp::now())
            .await
            .map_err(ApiError::store)?;
        self.diagnoses.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Diagnoses `kind/name`, a workload with no pod to diagnose (rules only).
    async fn diagnose_workload(
        &self,
        ns: &str,
        kind: &str,
        name: &str,
    ) -> Result<DiagnoseResult, ApiError> {
        let snapshot = podmirror_kube::gather::Snapshot::take(&self.client, Some(ns)).await?;
        let Some(w) = snapshot.workload(ns, kind, name) else {
            return Err(ApiError::not_found(format!("{kind} {ns}/{name} not found")));
        };
        let finding = diagnosis::diagnose(&snapshot.workload_context(w));
        if let Some(f) = &finding {
            self.keep(f).await?;
        }
        let message = finding.is_none().then(|| {
            format!("{kind}/{name} has nothing its owner chain says explains a failure; its pods, if any, are diagnosed one by one")
        });
        Ok(DiagnoseResult {
            namespace: ns.into(),
            pod: format!("{kind}/{name}"),
            healthy: finding.is_none(),
            finding,
            message,
        })
    }
}

/// The refusal text of the API contract (docs/architecture.md).
pub const FIX_REFUSED: &str =
    "Fix application is disabled for your role. Contact your platform admin.";

/// POST /api/fix/{pod}/apply?namespace=NS
pub async fn apply_fix(
    State(s): S,
    caller: Caller,
    Path(pod): Path<String>,
    Q(q): Q<NamespaceQuery>,
) -> Result<Json<Applied>, ApiError> {
    let ns = q.pod_namespace(&caller, &pod)?;
    let target = format!("{ns}:{pod}");
    if !caller.org.may_apply_fixes(caller.role) {
        s.audit(
            &caller,
            "fix.apply",
            &target,
            &Sent::default(),
            &format!("refused: {FIX_REFUSED}"),
        )
        .await?;
        return Err(ApiError::forbidden(FIX_REFUSED));
    }
    let saved = s.last_diagnosis(ns, &pod).await?;
    // the candidate a mirror proved Healthy, else the first
    let f = saved.best();
    let prepared = match fixes::prepare(&s.client, &f).await {
        Ok(p) => p,
        Err(e) => {
            let e = ApiError::from(e);
            s.audit(
                &caller,
                "fix.apply",
                &target,
                &Sent::default(),
                &format!("failed: {}", e.message),
            )
            .await?;
            return Err(e);
        }
    };
    let patch = Value::Array(prepared.body.clone()).to_string();
    let sent = Sent::of(&patch, patch.clone());
    let diff = podmirror_core::render::diff(
        &podmirror_core::render::yaml(&prepared.before),
        &podmirror_core::render::yaml(&prepared.after),
        "template",
        "template (fixed)",
        false,
    );
    let cluster = s
        .config
        .cluster_name
        .clone()
        .unwrap_or_else(|| "cluster".into());
    if q.dry_run {
        // What would change, for the caller to confirm; nothing is changed.
        return Ok(Json(Applied {
            target: prepared.target,
            diagnosis_id: f.id,
            kubectl_command: f.fix_command,
            before: prepared.before,
            after: prepared.after,
            diff,
            cluster,
            verified_by: saved
                .verified
                .map(|(mirror, verdict)| Verification { mirror, verdict }),
            audit_seq: None,
        }));
    }
    match fixes::apply(&s.client, &prepared).await {
        Ok(()) => {
            let seq = s
                .audit(
                    &caller,
                    "fix.apply",
                    &format!("{target} ({})", prepared.target),
                    &sent,
                    "applied",
                )
                .await?;
            Ok(Json(Applied {
                target: prepared.target,
                diagnosis_id: f.id,
                kubectl_command: f.fix_command,
                before: prepared.before,
                after: prepared.after,
                diff,
                cluster,
                verified_by: saved
                    .verified
                    .map(|(mirror, verdict)| Verification { mirror, verdict }),
                audit_seq: Some(seq),
            }))
        }
        Err(e) => {
            let e = ApiError::from(e);
            s.audit(
                &caller,
                "fix.apply",
                &target,
                &sent,
                &format!("failed: {}", e.message),
            )
            .await?;
            Err(e)
        }
    }
}

/// Reads a submitted manifest: a JSON object, or YAML text parsed with a
/// tight budget (an alias bomb is refused at once).
fn manifest_of(v: &Value) -> Result<Value, ApiError> {
    match v {
        Value::Object(_) => Ok(v.clone()),
        Value::String(yaml) => {
            let mut options = serde_saphyr::Options::default();
            let mut budget = serde_saphyr::Budget::default();
            budget.max_aliases = 100;
            budget.max_anchors = 100;
            budget.max_nodes = 5_000;
            budget.max_depth = 64;
            budget.max_total_scalar_bytes = 1 << 20;
            options.budget = Some(budget);
            serde_saphyr::from_str_with_options::<Value>(yaml, options).map_err(|e| {
                ApiError::invalid(format!("the manifest is not YAML podmirror accepts: {e}"))
            })
        }
        _ => Err(ApiError::invalid(
            "manifest must be a Pod object or YAML text",
        )),
    }
}

impl AppState {
    async fn plan(
        &self,
        caller: &Caller,
        pod_id: &str,
        req: &DeployRequest,
    ) -> Result<(deploy::Plan, Sent), ApiError> {
        let (ns, name) = split_pod_id(pod_id)?;
        let ns = caller.namespace(ns, &format!("pod {ns}/{name}"))?;
        let mut changes = Vec::new();
        let mut digest_of = Vec::new();
        if let Some(m) = &req.manifest {
            let m = manifest_of(m)?;
            digest_of.push(m.to_string());
            changes.push(Change::manifest(m).map_err(|e| ApiError::invalid(e.to_string()))?);
        }
        for arg in &req.set_image {
            digest_of.push(format!("set-image {arg}"));
            changes.push(Change::set_image(arg).map_err(|e| ApiError::invalid(e.to_string()))?);
        }
        let mut detail = Vec::new();
        for arg in &req.set_env {
            // The value is digested, but not kept in the entry's words.
            digest_of.push(format!("set-env {arg}"));
            let key = arg.split_once('=').map_or(arg.as_str(), |(k, _)| k);
            detail.push(format!("set-env {key}=…"));
            changes.push(Change::set_env(arg).map_err(|e| ApiError::invalid(e.to_string()))?);
        }
        if let Some(p) = &req.patch {
            digest_of.push(p.to_string());
            changes.push(Change::patch(p.clone()).map_err(|e| ApiError::invalid(e.to_string()))?);
        }
        let seconds = match req.ttl_seconds {
            Some(t) => t,
            None => self.mirror_ttl().await?,
        };
        if !(MIN_TTL..=MAX_TTL).contains(&seconds) {
            return Err(ApiError::invalid(format!(
                "ttl_seconds {seconds} is outside {MIN_TTL}..{MAX_TTL}"
            )));
        }
        let ttl: Ttl = format!("{seconds}s")
            .parse()
            .map_err(|e: podmirror_core::CoreError| ApiError::invalid(e.to_string()))?;
        let opts = MirrorOptions {
            ttl,
            strip_probes: req.strip_probes,
            keep_labels: req.keep_labels,
            created_by: caller.name.clone(),
            org: caller.org.name.clone(),
            diagnosis_id: req.diagnosis_id.clone(),
            candidate: req.candidate.filter(|_| req.diagnosis_id.is_some()),
            ..Default::default()
        };
        let plan = deploy::plan(&self.client, ns, name, &changes, opts, req.scale_down).await?;
        // A source in a namespace the org sees, but the mirror stays there too.
        let sent = if digest_of.is_empty() {
            Sent::default()
        } else {
            // The words: every change in order, environment values left out.
            let words: Vec<String> = digest_of
                .iter()
                .filter(|d| !d.starts_with("set-env "))
                .cloned()
                .chain(detail)
                .collect();
            Sent::of(&digest_of.join("\n"), words.join("\n"))
        };
        Ok((plan, sent))
    }
}

/// POST /api/mirror/preview/{pod_id}
pub async fn preview(
    State(s): S,
    caller: Caller,
    Path(pod_id): Path<String>,
    body: Body<Option<DeployRequest>>,
) -> Result<Json<Preview>, ApiError> {
    let req = body.0.unwrap_or_default();
    let (plan, _) = s.plan(&caller, &pod_id, &req).await?;
    // The API server's own validation, so an edited manifest's mistakes
    // show at their fields before anyone deploys (nothing is created).
    mirrors::dry_run(&s.client, &plan.manifest).await?;
    let source =
        podmirror_core::render::yaml(&podmirror_core::cleanup::clean_pod(&plan.source.pod));
    let mirror = podmirror_core::render::yaml(&plan.manifest);
    Ok(Json(Preview {
        id: plan.id().to_string(),
        namespace: plan.namespace.clone(),
        diff: podmirror_core::render::diff(&source, &mirror, "source", "mirror", false),
        manifest: plan.manifest,
        source_yaml: source,
        mirror_yaml: mirror,
    }))
}

/// POST /api/mirror/deploy/{pod_id}
pub async fn deploy_mirror(
    State(s): S,
    caller: Caller,
    Path(pod_id): Path<String>,
    body: Body<Option<DeployRequest>>,
) -> Result<(StatusCode, Json<MirrorStatus>), ApiError> {
    let req = body.0.unwrap_or_default();
    let (plan, sent) = match s.plan(&caller, &pod_id, &req).await {
        Ok(p) => p,
        Err(e) => {
            if e.status != StatusCode::NOT_FOUND
                || caller.org.sees(pod_id.split(':').next().unwrap_or(""))
            {
                s.audit(
                    &caller,
                    "mirror.deploy",
                    &pod_id,
                    &Sent::default(),
                    &format!("failed: {}", e.message),
                )
                .await?;
            }
            return Err(e);
        }
    };
    match deploy::deploy(&s.client, &plan).await {
        Ok(d) => {
            // Read-your-writes: answer once the watch has the new mirror, so
            // a status request right after this answer finds it.
            let mut changes = s.pods.changes();
            for _ in 0..40 {
                if s.mirror(&caller, &d.info.id).is_ok() {
                    break;
                }
                let wait = std::time::Duration::from_millis(50);
                let _ = tokio::time::timeout(wait, changes.changed()).await;
            }
            s.audit(
                &caller,
                "mirror.deploy",
                &format!("{pod_id} -> {}", d.info.id),
                &sent,
                "ok",
            )
            .await?;
            Ok((
                StatusCode::CREATED,
                Json(s.status_at(
                    &d.pod,
                    &d.info,
                    s.config.mirror_settle_seconds,
                    s.server_now(),
                )),
            ))
        }
        Err(e) => {
            let e = ApiError::from(e);
            s.audit(
                &caller,
                "mirror.deploy",
                &pod_id,
                &sent,
                &format!("failed: {}", e.message),
            )
            .await?;
            Err(e)
        }
    }
}

/// GET /api/mirror/status/{mirror_id}
pub async fn mirror_status(
    State(s): S,
    caller: Caller,
    Path(id): Path<String>,
    Q(q): Q<SettleQuery>,
) -> Result<Json<MirrorStatus>, ApiError> {
    let (pod, info) = s.mirror(&caller, &id)?;
    let settle = q.settle.unwrap_or(s.config.mirror_settle_seconds);
    if !(0.0..=3600.0).contains(&settle) {
        return Err(ApiError::invalid(format!(
            "settle {settle} is outside 0..3600 (seconds)"
        )));
    }
    let mut status = s.status_at(&pod, &info, settle, s.server_now());
    s.record_verdict(&pod, &status).await;
    s.add_failure_logs(&info, &mut status).await;
    let events = crate::pods::events_of(&s.client, &info.namespace, &id).await?;
    let skip = events.len().saturating_sub(10);
    status.recent_events = Some(events.into_iter().skip(skip).collect());
    Ok(Json(status))
}

impl AppState {
    /// The failing container's last log lines (of its previous run when it
    /// restarted) on a Failing status; left empty when they cannot be read.
    async fn add_failure_logs(&self, info: &MirrorInfo, status: &mut MirrorStatus) {
        let Some(f) = status.failure.as_mut() else {
            return;
        };
        if f.container.is_empty() {
            return;
        }
        let restarted = status
            .containers
            .iter()
            .any(|c| c.name == f.container && c.restarts > 0);
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(self.client.clone(), &info.namespace);
        let params = kube::api::LogParams {
            container: Some(f.container.clone()),
            previous: restarted,
            tail_lines: Some(20),
            ..Default::default()
        };
        if let Ok(text) = pods.logs(&info.id, &params).await {
            f.last_logs = text.lines().map(str::to_string).collect();
        }
    }
}

/// GET /api/mirror/status/{mirror_id}/events — `status` whenever the
/// mirror changes and once a second for the countdown, `events` when its
/// events change (read at most every 2 s), `deleted` at the end.
pub async fn mirror_events(
    State(s): S,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>>, ApiError> {
    s.mirror(&caller, &id)?;
    let mut changes = s.pods.changes();
    let stream = async_stream(move |tx| async move {
        let mut events_read: Option<std::time::Instant> = None;
        let mut last_events: Option<Vec<EventView>> = None;
        // The failing container's logs, read once per (container, restarts).
        let mut logs: Option<((String, i64), Vec<String>)> = None;
        // The verdict last recorded on the diagnosis: written once per
        // change, not every second (each write also wakes the live lists).
        let mut recorded = String::new();
        loop {
            match s.mirror(&caller, &id) {
                Ok((pod, info)) => {
                    let mut status =
                        s.status_at(&pod, &info, s.config.mirror_settle_seconds, s.server_now());
                    if status.verdict != recorded {
                        recorded.clone_from(&status.verdict);
                        s.record_verdict(&pod, &status).await;
                    }
                    if let Some(f) = &status.failure {
                        let key = (f.container.clone(), status.restarts);
                        match &logs {
                            Some((k, lines)) if *k == key => {
                                if let Some(f) = status.failure.as_mut() {
                                    f.last_logs = lines.clone();
                                }
                            }
                            _ => {
                                s.add_failure_logs(&info, &mut status).await;
                                let lines = status
                                    .failure
                                    .as_ref()
                                    .map(|f| f.last_logs.clone())
                                    .unwrap_or_default();
                                logs = Some((key, lines));
                            }
                        }
                    }
                    let data = serde_json::to_string(&status).unwrap_or_default();
                    if tx
                        .send(Event::default().event("status").data(data))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    if events_read.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(2))
                    {
                        events_read = Some(std::time::Instant::now());
                        if let Ok(events) =
                            crate::pods::events_of(&s.client, &info.namespace, &id).await
                            && last_events.as_ref() != Some(&events)
                        {
                            let data = serde_json::json!({ "events": events }).to_string();
                            last_events = Some(events);
                            if tx
                                .send(Event::default().event("events").data(data))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                }
                Err(_) => {
                    let _ = tx
                        .send(
                            Event::default()
                                .event("deleted")
                                .data(format!("{{\"id\":{:?}}}", id)),
                        )
                        .await;
                    return;
                }
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// A stream fed by a task through a channel.
pub(crate) fn async_stream<F, Fut>(
    f: F,
) -> impl Stream<Item = Result<Event, std::convert::Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(f(tx));
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
    )
}

/// DELETE /api/mirror/{mirror_id}
pub async fn delete_mirror(
    State(s): S,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let (_, info) = s.mirror(&caller, &id)?;
    match mirrors::delete(&s.client, &info).await {
        Ok(deleted) => {
            s.audit(
                &caller,
                "mirror.delete",
                &id,
                &Sent::default(),
                if deleted { "ok" } else { "ok: already gone" },
            )
            .await?;
            Ok(Json(Deleted {
                id,
                namespace: info.namespace.clone(),
                deleted,
            }))
        }
        Err(e) => {
            let e = ApiError::from(e);
            s.audit(
                &caller,
                "mirror.delete",
                &id,
                &Sent::default(),
                &format!("failed: {}", e.message),
            )
            .await?;
            Err(e)
        }
    }
}

/// GET /api/mirror/active
pub async fn active_mirrors(State(s): S, caller: Caller) -> Json<Vec<MirrorStatus>> {
    Json(s.active_list(&caller))
}

/// POST /api/mirror/{mirror_id}/extend
pub async fn extend_mirror(
    State(s): S,
    caller: Caller,
    Path(id): Path<String>,
    body: Body<ExtendRequest>,
) -> Result<Json<MirrorStatus>, ApiError> {
    let (_, info) = s.mirror(&caller, &id)?;
    let by = body.0.by_seconds;
    let result = match format!("{by}s").parse::<Ttl>() {
        Ok(ttl) if (1..=MAX_TTL).contains(&by) => mirrors::extend(&s.client, &info, ttl)
            .await
            .map_err(ApiError::from),
        _ => Err(ApiError::invalid(format!(
            "by_seconds {by} is outside 1..{MAX_TTL}"
        ))),
    };
    match result {
        Ok(extended) => {
            s.audit(
                &caller,
                "mirror.extend",
                &format!("{id} +{by}s"),
                &Sent::default(),
                "ok",
            )
            .await?;
            // The watch may not have the new TTL yet: answer from the write.
            let (pod, _) = s.mirror(&caller, &id)?;
            Ok(Json(s.status_at(
                &pod,
                &extended,
                s.config.mirror_settle_seconds,
                s.server_now(),
            )))
        }
        Err(e) => {
            s.audit(
                &caller,
                "mirror.extend",
                &format!("{id} +{by}s"),
                &Sent::default(),
                &format!("failed: {}", e.message),
            )
            .await?;
            Err(e)
        }
    }
}

/// GET /api/admin/settings/mirror-ttl
pub async fn get_ttl(State(s): S, _caller: Caller) -> Result<Json<MirrorTtl>, ApiError> {
    Ok(Json(MirrorTtl {
        ttl_seconds: s.mirror_ttl().await?,
    }))
}

/// PUT /api/admin/settings/mirror-ttl
pub async fn put_ttl(
    State(s): S,
    caller: Caller,
    body: Body<MirrorTtl>,
) -> Result<Json<MirrorTtl>, ApiError> {
    let t = body.0.ttl_seconds;
    if !(MIN_TTL..=MAX_TTL).contains(&t) {
        let e = ApiError::invalid(format!(
            "ttl_seconds {t} is outside {MIN_TTL}..{MAX_TTL} (seconds); the configured default is {}",
            s.config.mirror_ttl_seconds
        ));
        s.audit(
            &caller,
            "settings.mirror-ttl",
            &t.to_string(),
            &Sent::default(),
            &format!("failed: {}", e.message),
        )
        .await?;
        return Err(e);
    }
    s.store
        .set_setting(crate::TTL_SETTING, &t.to_string())
        .await
        .map_err(ApiError::store)?;
    s.audit(
        &caller,
        "settings.mirror-ttl",
        &t.to_string(),
        &Sent::default(),
        "ok",
    )
    .await?;
    Ok(Json(MirrorTtl { ttl_seconds: t }))
}

/// GET /api/audit — the caller's org's entries.
pub async fn audit_log(
    State(s): S,
    caller: Caller,
    Q(q): Q<AuditQuery>,
) -> Result<Json<Vec<podmirror_store::AuditEntry>>, ApiError> {
    let limit = q.limit.unwrap_or(500).clamp(1, 5000);
    let mut after = q.after.unwrap_or(0);
    let mut out = Vec::new();
    // Pages until `limit` entries of this org are found or the log ends.
    loop {
        let page = s
            .store
            .audit_log(after, 1000)
            .await
            .map_err(ApiError::store)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        out.extend(page.into_iter().filter(|e| e.entry.org == caller.org.name));
        if out.len() as i64 >= limit {
            out.truncate(limit as usize);
            break;
        }
    }
    Ok(Json(out))
}

/// GET /api/audit/verify — the whole chain, as `podmirror audit verify`.
pub async fn audit_verify(State(s): S, _caller: Caller) -> Result<Json<AuditVerify>, ApiError> {
    Ok(Json(
        match s.store.verify_audit().await.map_err(ApiError::store)? {
            Ok(n) => AuditVerify {
                ok: true,
                entries: n,
                message: None,
            },
            Err(b) => AuditVerify {
                ok: false,
                entries: b.seq - 1,
                message: Some(format!("entry {}: {}", b.seq, b.reason)),
            },
        },
    ))
}
