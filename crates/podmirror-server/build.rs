//! Builds the dashboard (`dashboard/`, TypeScript) with npm into OUT_DIR and
//! embeds its files, with their gzip copies, in the binary: the page works
//! with no network and no CDN. Without npm the crate still compiles and the
//! page at `/` says how to get the dashboard.
//!
//! - `PODMIRROR_DASHBOARD_DIST=DIR` embeds an already built dashboard.
//! - `PODMIRROR_DASHBOARD=skip` builds without it.
//! - Otherwise, when `npm` runs: `npm ci` (only when node_modules is older
//!   than the lock file) and `npm run build`; a failure stops the build
//!   with npm's output.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PODMIRROR_DASHBOARD");
    println!("cargo:rerun-if-env-changed=PODMIRROR_DASHBOARD_DIST");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let source = manifest.join("../../dashboard");

    let dist = if let Ok(dir) = std::env::var("PODMIRROR_DASHBOARD_DIST") {
        let dir = PathBuf::from(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        Some(dir)
    } else if std::env::var("PODMIRROR_DASHBOARD").as_deref() == Ok("skip")
        || !source.join("package.json").exists()
    {
        None
    } else {
        for input in [
            "src",
            "public",
            "scripts",
            "index.html",
            "package.json",
            "package-lock.json",
            "tsconfig.json",
            "vite.config.ts",
            "../docs/openapi.json",
        ] {
            println!("cargo:rerun-if-changed={}", source.join(input).display());
        }
        build_with_npm(&source, &out.join("dashboard"))
    };

    let mut files = Vec::new();
    if let Some(dist) = &dist {
        if !dist.join("index.html").exists() {
            panic!(
                "the dashboard at {} has no index.html; build it with `npm run build` in dashboard/",
                dist.display()
            );
        }
        collect(dist, dist, &mut files);
    }
    files.sort();
    let mut code = String::from(
        "/// One embedded file: (URL path, body, gzip copy of the body).\n\
         pub type File = (&'static str, &'static [u8], Option<&'static [u8]>);\n\
         /// Every embedded file.\n\
         pub static FILES: &[File] = &[\n",
    );
    for (url, path) in &files {
        let gz = PathBuf::from(format!("{}.gz", path.display()));
        let gz = if gz.exists() {
            format!("Some(include_bytes!({:?}))", gz.display().to_string())
        } else {
            "None".into()
        };
        code.push_str(&format!(
            "    ({url:?}, include_bytes!({:?}), {gz}),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    std::fs::write(out.join("dashboard_files.rs"), code).expect("OUT_DIR is writable");
}

/// Every file under `dir` but the `.gz` copies, as (`/relative/path`, path).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read the dashboard folder {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if path.extension().is_none_or(|e| e != "gz") {
            let rel = path.strip_prefix(root).expect("under the root");
            let url = format!("/{}", rel.to_string_lossy().replace('\\', "/"));
            files.push((url, path));
        }
    }
}

fn npm() -> Option<&'static str> {
    let ok = |name: &str| {
        Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    ["npm"].into_iter().find(|n| ok(n))
}

fn run(cmd: &mut Command, what: &str) {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    if !output.status.success() {
        panic!(
            "{what} failed ({}):\n{}\n{}\nFix it, or build without the dashboard with PODMIRROR_DASHBOARD=skip",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn build_with_npm(source: &Path, out: &Path) -> Option<PathBuf> {
    let Some(npm) = npm() else {
        println!(
            "cargo:warning=npm not found: podmirror is built without its dashboard (install Node.js 20+ and build again to get it)"
        );
        return None;
    };
    let stamp = source.join("node_modules/.package-lock.json");
    let lock = source.join("package-lock.json");
    if modified(&stamp).is_none() || modified(&stamp) < modified(&lock) {
        run(
            Command::new(npm)
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(source),
            "npm ci (in dashboard/)",
        );
    }
    run(
        Command::new(npm)
            .args(["run", "build", "--silent"])
            .env("DASHBOARD_OUT", out)
            .current_dir(source),
        "npm run build (in dashboard/)",
    );
    Some(out.to_path_buf())
}
