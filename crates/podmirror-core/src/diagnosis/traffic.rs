//! What only the traffic tap can see, and the tap itself: a pod that is
//! Running and Ready yet answers its real requests with errors (the tap's
//! figures, gathered elsewhere), and a tap that keeps the pod from starting.

use super::{Category, Context, Found, RequestCheck, Revision, list, repo, text};
use crate::contract::TAP_CONTAINER;
use jiff::Timestamp;
use serde_json::{Value, json};

/// At least this many answered requests on an endpoint before its error
/// share means anything.
pub const MIN_REQUESTS: u64 = 20;
/// An endpoint whose answers are at least this share 5xx, and still were in
/// the last minute, is failing.
pub const FAILING_SHARE: f64 = 0.10;

/// The tap's figures of one endpoint of the pod, over its window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointTraffic {
    /// The method.
    pub method: String,
    /// The path template (`/api/orders/{id}`).
    pub template: String,
    /// Answered requests.
    pub answered: u64,
    /// Of them, answers with status 500 or more.
    pub errors: u64,
    /// The 5xx status answered most.
    pub top_error: u16,
    /// Since when every minute's answers were errors enough (the tap's
    /// `errors_since`); `None` when the last minute's were not.
    pub errors_since: Option<Timestamp>,
}

/// What the tap saw of the pod.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Traffic {
    /// The window, in minutes.
    pub window_minutes: u64,
    /// The ports the tap watches.
    pub ports: Vec<u16>,
    /// By endpoint.
    pub endpoints: Vec<EndpointTraffic>,
}

/// The injected tap cannot start (its image, its configuration), so the
/// pod's own containers wait behind it: a native sidecar starts first.
pub(super) fn tap_failing(ctx: &Context) -> Option<Found> {
    let status = list(&ctx.pod, "/status/initContainerStatuses")
        .iter()
        .find(|c| c["name"] == TAP_CONTAINER)?;
    let reason = text(status, "/state/waiting/reason");
    let message = text(status, "/state/waiting/message");
    if !matches!(
        reason,
        "ErrImagePull"
            | "ImagePullBackOff"
            | "InvalidImageName"
            | "CrashLoopBackOff"
            | "CreateContainerConfigError"
            | "CreateContainerError"
            | "RunContainerError"
    ) {
        return None;
    }
    let ns = text(&ctx.pod, "/metadata/namespace");
    let image = list(&ctx.pod, "/spec/initContainers")
        .iter()
        .find(|c| c["name"] == TAP_CONTAINER)
        .map(|c| text(c, "/image"))
        .unwrap_or_default();
    let opt_out = match &ctx.owner {
        Some(o) if o.kind != "Job" => format!(
            "kubectl -n {ns} patch {} {} -p '{{\"spec\":{{\"template\":{{\"metadata\":{{\"annotations\":{{\"tap.podmirror.dev/inject\":\"false\"}}}}}}}}}}'",
            o.kind.to_ascii_lowercase(),
            o.name
        ),
        _ => {
            "annotate the pod's manifest tap.podmirror.dev/inject=\"false\" and re-create it".into()
        }
    };
    let mut f = Found::new(
        Category::InitContainer,
        format!(
            "The traffic tap podmirror injected (container {TAP_CONTAINER}, {image}) cannot start ({reason}{}), and the pod's own containers wait for it: a native sidecar starts first.",
            if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            }
        ),
        format!(
            "Make the tap's image pullable where this cluster runs (podmirror webhook --image, or the chart's tap.image), or take the workload out of the tap: {opt_out}"
        ),
    );
    f.evidence.push(format!(
        "init container {TAP_CONTAINER} waiting: {reason}{}",
        if message.is_empty() {
            String::new()
        } else {
            format!(" ({message})")
        }
    ));
    f.evidence
        .push("annotation tap.podmirror.dev/status: injected".into());
    f.confidence = 0.9;
    Some(f)
}

/// A Running and Ready pod whose real requests, as its tap saw them, are
/// answered with errors: the endpoint failing most, and the revision before
/// the running one as the fix.
pub(super) fn server_errors(ctx: &Context) -> Option<Found> {
    let traffic = ctx.traffic.as_ref()?;
    let failing: Vec<&EndpointTraffic> = traffic
        .endpoints
        .iter()
        .filter(|e| {
            e.answered >= MIN_REQUESTS
                && e.errors as f64 >= FAILING_SHARE * e.answered as f64
                && e.errors_since.is_some()
        })
        .collect();
    let worst = failing.iter().max_by_key(|e| e.errors)?;
    let percent = (100.0 * worst.errors as f64 / worst.answered as f64).round();
    let since = clock(worst.errors_since);
    let endpoint = format!("{} {}", worst.method, worst.template);
    let others = failing.len() - 1;
    let mut f = Found::new(
        Category::ServerErrors,
        format!(
            "The pod is Running and Ready, yet {percent}% of {endpoint} answer {} ({} of {} in the last {} minutes) since {since}{}; its probes do not see it, its tap does.",
            worst.top_error,
            worst.errors,
            worst.answered,
            traffic.window_minutes,
            match others {
                0 => String::new(),
                1 => " (and 1 more endpoint answers errors)".into(),
                n => format!(" (and {n} more endpoints answer errors)"),
            }
        ),
        String::new(),
    );
    for e in &failing {
        f.evidence.push(format!(
            "tap: {} {}: {} answered, {} with 5xx (mostly {}) since {}",
            e.method,
            e.template,
            e.answered,
            e.errors,
            e.top_error,
            clock(e.errors_since)
        ));
    }
    // What a mirror must answer: the failing endpoint, when it is safe to
    // ask again (GET, HEAD) and the tap watches one port.
    if matches!(worst.method.as_str(), "GET" | "HEAD")
        && let [port] = traffic.ports.as_slice()
    {
        f.requests = Some(RequestCheck {
            method: worst.method.clone(),
            path: check_path(&worst.template),
            port: *port,
            count: 50,
            source_error_share: worst.errors as f64 / worst.answered as f64,
        });
    }
    let images = images(&ctx.pod["spec"]);
    for (name, image) in &images {
        f.evidence.push(format!("container {name} runs {image}"));
    }
    match previous_revision(&ctx.history, &images) {
        Some((running, before)) => {
            let changed: Vec<(usize, String, String)> = images
                .iter()
                .enumerate()
                .filter_map(|(i, (name, image))| {
                    let then = revision_image(before, name)?;
                    (then != *image).then(|| (i, name.clone(), then))
                })
                .collect();
            let shown: Vec<String> = changed.iter().map(|(_, _, img)| img.clone()).collect();
            for (i, _, img) in &changed {
                f.patch.push(
                    json!({"op": "replace", "path": format!("/containers/{i}/image"), "value": img}),
                );
            }
            if let [(_, name, img)] = changed.as_slice() {
                f.set_image = Some((name.clone(), img.clone()));
            }
            f.suggested_fix = format!(
                "Go back to {}, the image of revision {}: revision {} brought the image that answers errors.",
                shown.join(", "),
                before.number,
                running.map_or_else(|| "the running one".to_string(), |n| n.to_string()),
            );
            f.evidence.push(format!(
                "rollout history: revision {} had {}",
                before.number,
                shown.join(", ")
            ));
            f.confidence = if before.ran { 0.8 } else { 0.7 };
            f.runnable = true;
        }
        None => {
            let ns = text(&ctx.pod, "/metadata/namespace");
            let pod = text(&ctx.pod, "/metadata/name");
            f.suggested_fix = format!(
                "No earlier revision to go back to: read what the app logs for {endpoint} (kubectl -n {ns} logs {pod}) and try a change on a mirror first (podmirror test pod/{pod} -n {ns} --set-image …)."
            );
            f.confidence = 0.6;
        }
    }
    Some(f)
}

/// (container name, image) of the app's containers.
fn images(spec: &Value) -> Vec<(String, String)> {
    list(spec, "/containers")
        .iter()
        .map(|c| (text(c, "/name").to_string(), text(c, "/image").to_string()))
        .collect()
}

fn revision_image(r: &Revision, name: &str) -> Option<String> {
    list(&r.spec, "/containers")
        .iter()
        .find(|c| c["name"] == name)
        .map(|c| text(c, "/image").to_string())
        .filter(|i| !i.is_empty())
}

/// The revision the pod runs (its images), when the history has it, and the
/// latest earlier revision whose images differ in the same repositories.
fn previous_revision<'a>(
    history: &'a [Revision],
    images: &[(String, String)],
) -> Option<(Option<u64>, &'a Revision)> {
    let same = |r: &Revision| {
        images
            .iter()
            .all(|(n, i)| revision_image(r, n).as_deref() == Some(i.as_str()))
    };
    let running = history.iter().rev().find(|r| same(r)).map(|r| r.number);
    let before = history
        .iter()
        .rev()
        .filter(|r| running.is_none_or(|n| r.number < n))
        .find(|r| {
            !same(r)
                && images.iter().any(|(n, i)| {
                    revision_image(r, n).is_some_and(|then| then != *i && repo(&then) == repo(i))
                })
        })?;
    Some((running, before))
}

/// `HH:MM UTC` of a time, as the tap's figures show it.
fn clock(t: Option<Timestamp>) -> String {
    t.map(|t| t.strftime("%H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A path to send for an endpoint's template: each `{id}` becomes `1`.
fn check_path(template: &str) -> String {
    template.replace("{id}", "1")
}
