//! Deploying a mirror, as the CLI and the backend both do it: resolve the
//! source, build the manifest with the changes ([`plan`]), then — after a
//! server-side dry run when a Deployment is to be scaled down — scale down,
//! create, and put the replicas back if the create fails ([`deploy`]).

use crate::{KubeError, mirrors, scaledown, source};
use podmirror_core::changes::Change;
use podmirror_core::mirror::{self, MirrorInfo, MirrorOptions};
use serde_json::Value;

/// A mirror ready to deploy.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where it comes from.
    pub source: source::Source,
    /// The manifest to create.
    pub manifest: Value,
    /// The namespace.
    pub namespace: String,
    /// The Deployment to scale down while it runs, if asked.
    pub scales_down: Option<String>,
}

impl Plan {
    /// A unified diff of the source (less its runtime fields) and the
    /// mirror, as `podmirror preview` shows it.
    pub fn diff(&self, color: bool) -> String {
        use podmirror_core::render;
        let src = &self.source;
        let source_yaml = render::yaml(&podmirror_core::cleanup::clean_pod(&src.pod));
        let label = if src.from_template {
            format!(
                "{} pod template",
                src.owner.as_deref().unwrap_or("workload")
            )
        } else {
            format!("pod/{} (runtime fields removed)", src.name())
        };
        render::diff(
            &source_yaml,
            &render::yaml(&self.manifest),
            &label,
            "mirror",
            color,
        )
    }

    /// The mirror's id (its name).
    pub fn id(&self) -> &str {
        self.manifest
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Resolves `target` (a pod name or `KIND/NAME`) in `ns` and builds its
/// mirror with `changes`. `opts.scales_down` is filled in when
/// `scale_down` is asked, which needs a Deployment-owned source.
pub async fn plan(
    client: &kube::Client,
    ns: &str,
    target: &str,
    changes: &[Change],
    opts: MirrorOptions,
    scale_down: bool,
) -> Result<Plan, KubeError> {
    let src = source::resolve(client, ns, target).await?;
    plan_from(src, ns, changes, opts, scale_down)
}

/// [`plan`] for a source already resolved.
pub fn plan_from(
    src: source::Source,
    ns: &str,
    changes: &[Change],
    mut opts: MirrorOptions,
    scale_down: bool,
) -> Result<Plan, KubeError> {
    opts.source_owner = src.owner.clone();
    opts.scales_down = match (scale_down, src.deployment()) {
        (false, _) => None,
        (true, Some(d)) => Some(d.to_string()),
        (true, None) => {
            return Err(KubeError::NotADeployment(match &src.owner {
                Some(o) => format!("{} is owned by {o}", src.name()),
                None => format!("pod {} has no owning workload", src.name()),
            }));
        }
    };
    let manifest = mirror::build(&src.pod, changes, &opts, &mirror::random_suffix())?;
    Ok(Plan {
        source: src,
        manifest,
        namespace: ns.to_string(),
        scales_down: opts.scales_down,
    })
}

/// A created mirror.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// The pod as the API server stored it.
    pub pod: Value,
    /// It, read as a mirror.
    pub info: MirrorInfo,
    /// The Deployment scaled down for it, if any.
    pub scaled: Option<scaledown::ScaleDown>,
}

/// Creates the planned mirror, scaling its Deployment down first when the
/// plan says so. A manifest the API server refuses leaves nothing changed:
/// it is checked in a dry run before any scale-down, and a failed create
/// puts the replicas back.
pub async fn deploy(client: &kube::Client, plan: &Plan) -> Result<Deployed, KubeError> {
    let ns = &plan.namespace;
    let id = plan.id().to_string();
    let deployment = &plan.scales_down;
    if deployment.is_some() {
        mirrors::dry_run(client, &plan.manifest).await?;
    }
    let scaled = match &deployment {
        Some(d) => Some(scaledown::scale_down(client, ns, d, &id).await?),
        None => None,
    };
    let pod = match mirrors::create(client, &plan.manifest).await {
        Ok(p) => p,
        Err(e) => {
            if let Some(s) = &scaled {
                scaledown::restore(
                    client,
                    ns,
                    &s.deployment,
                    &id,
                    "the mirror could not be created",
                )
                .await?;
            }
            return Err(e);
        }
    };
    let info = MirrorInfo::from_pod(&pod).ok_or_else(|| KubeError::Api {
        action: "create the mirror".into(),
        message: "the created pod does not read as a mirror".into(),
        code: 500,
        causes: Vec::new(),
    })?;
    Ok(Deployed { pod, info, scaled })
}
