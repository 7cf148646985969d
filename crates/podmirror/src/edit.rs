//! `--edit`: the mirror manifest opened in the user's editor, checked by a
//! server-side dry run, with the choice to edit again or abort on any error.

use anyhow::{Context, bail};
use podmirror_core::{mirror, render};
use podmirror_kube::mirrors;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

const HEADER: &str = "\
# Edit the mirror pod below, then save and quit to deploy it.
# Lines starting with '#' are ignored; an empty file aborts.
# podmirror keeps its own labels and annotations (podmirror.dev/*), the
# name, the namespace and activeDeadlineSeconds whatever the edit says.
";

/// The editor command: `$VISUAL`, else `$EDITOR`, else `vi` (as kubectl).
fn editor() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".into())
}

/// Runs the editor on `path` through the shell, so `EDITOR="code --wait"` works.
fn run_editor(path: &Path) -> anyhow::Result<()> {
    let command = editor();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{command} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .with_context(|| format!("cannot start the editor {command:?}"))?;
    if !status.success() {
        bail!(
            "the editor ({command}) exited with {}; nothing was created",
            status
                .code()
                .map_or_else(|| "a signal".to_string(), |c| format!("status {c}"))
        );
    }
    Ok(())
}

/// Whether a saved file holds nothing but comments and blank lines.
fn is_empty(text: &str) -> bool {
    text.lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
}

/// The saved file without its leading comment block (our header and the
/// errors of an earlier round), to put fresh ones on top.
fn body(text: &str) -> String {
    let mut lines = text.lines().peekable();
    while lines.next_if(|l| l.starts_with('#')).is_some() {}
    lines.collect::<Vec<_>>().join("\n")
}

/// Reads and checks an edit: YAML, a Pod, the contract kept, accepted by the
/// API server in a dry run. The error says what is wrong.
async fn check(client: &kube::Client, text: &str, built: &Value) -> Result<Value, String> {
    let edited: Value = serde_saphyr::from_str(text).map_err(|e| {
        let e = e.to_string();
        let e = e.strip_prefix("error: ").unwrap_or(&e).to_string();
        format!("the edited manifest is not valid YAML: {e}")
    })?;
    let manifest = mirror::keep_contract(&edited, built).map_err(|e| e.to_string())?;
    mirrors::dry_run(client, &manifest)
        .await
        .map_err(|e| e.to_string())?;
    Ok(manifest)
}

/// Asks whether to edit again; no answer (end of input) means no.
fn again() -> bool {
    eprint!("Edit again? (y/N) ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    match std::io::stdin().read_line(&mut answer) {
        Ok(0) | Err(_) => {
            eprintln!();
            false
        }
        Ok(_) => matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"),
    }
}

/// A new file only this user can read (the manifest may hold secrets in env
/// values), never one that was there before.
fn scratch_file(built: &Value) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = built
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("mirror");
    let path =
        std::env::temp_dir().join(format!("podmirror-edit-{name}-{}.yaml", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok(path)
}

/// Opens `built` in the editor until the result passes [`check`] or the
/// person gives up. Nothing is created here: the caller deploys what it returns.
pub async fn edit(client: &kube::Client, built: &Value) -> anyhow::Result<Value> {
    let path = scratch_file(built)?;
    let mut text = format!("{HEADER}{}", render::yaml(built));
    loop {
        std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
        if let Err(e) = run_editor(&path) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        let saved = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {} back", path.display()))?;
        if is_empty(&saved) {
            let _ = std::fs::remove_file(&path);
            bail!("the edited manifest is empty: edit cancelled, nothing was created");
        }
        // The whole file is parsed (YAML skips comments), so the line and
        // column of an error are those the person sees in the editor.
        match check(client, &saved, built).await {
            Ok(manifest) => {
                let _ = std::fs::remove_file(&path);
                return Ok(manifest);
            }
            Err(problem) => {
                eprintln!("error: {problem}");
                if !again() {
                    bail!(
                        "edit aborted, nothing was created; your edit is kept in {}",
                        path.display()
                    );
                }
                // As kubectl edit does: the problem on top, the edit below.
                let notes: String = problem.lines().map(|l| format!("# error: {l}\n")).collect();
                text = format!("{HEADER}{notes}{}\n", body(&saved));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_of_only_comments_is_empty_and_the_header_is_replaced() {
        assert!(is_empty("# only comments\n\n   \n  # indented\n"));
        assert!(!is_empty("# a\nkind: Pod\n"));
        assert_eq!(
            body("# header\n# error: x\nkind: Pod\n# kept\nspec: {}\n"),
            "kind: Pod\n# kept\nspec: {}"
        );
    }
}
