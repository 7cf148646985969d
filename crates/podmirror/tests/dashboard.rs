//! The dashboard's tests, run from the Rust suite so `scripts/test` and CI
//! run them with the rest: the component tests (vitest) and the browser
//! tests (`dashboard/e2e/*.test.mjs`: playwright-core drives Debian's
//! chromium against a real `podmirror demo` started from this build's
//! binary). The dashboard's node_modules come from the build (`npm ci` in
//! the server crate's build script). Without Node or chromium the tests
//! skip, unless `PODMIRROR_REQUIRE_BROWSER` is set (CI), when they fail.
//! Screenshots go to `target/e2e/<test>/`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dashboard() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboard")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Why the tests cannot run here, if they cannot.
fn missing(browser: bool) -> Option<String> {
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is not installed".into());
    }
    if !dashboard().join("node_modules/playwright-core").exists() {
        return Some(
            "dashboard/node_modules is missing (the build runs npm ci when npm is found)".into(),
        );
    }
    if browser && !chromium().exists() {
        return Some(format!(
            "{} is missing (scripts/install-browser installs Debian's chromium)",
            chromium().display()
        ));
    }
    None
}

fn skip_unless_able(test: &str, browser: bool) -> bool {
    match missing(browser) {
        None => false,
        Some(why) if std::env::var_os("PODMIRROR_REQUIRE_BROWSER").is_some() => {
            panic!("{test}: {why}, and PODMIRROR_REQUIRE_BROWSER is set")
        }
        Some(why) => {
            eprintln!("{test}: skipped: {why}");
            true
        }
    }
}

fn run(test: &str, cmd: &mut Command) {
    let out = cmd.output().expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{test} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    println!("{stdout}");
}

/// Runs one browser test file against this build's binary.
fn browser(file: &str) {
    if skip_unless_able(file, true) {
        return;
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/e2e")
        .join(file.trim_end_matches(".test.mjs"));
    run(
        file,
        Command::new("node")
            .args(["--test", "--test-reporter=spec", &format!("e2e/{file}")])
            .current_dir(dashboard())
            .env("PODMIRROR_BIN", env!("CARGO_BIN_EXE_podmirror"))
            .env("E2E_OUT", out)
            .env("CHROMIUM", chromium()),
    );
}

#[test]
fn component_tests() {
    if skip_unless_able("component_tests", false) {
        return;
    }
    run(
        "component_tests",
        Command::new("node")
            .args(["node_modules/vitest/vitest.mjs", "run"])
            .current_dir(dashboard())
            .env("NO_COLOR", "1"),
    );
}

#[test]
fn browser_signin_and_live_list() {
    browser("signin-and-list.test.mjs");
}

#[test]
fn browser_admin_tests_a_fix_on_a_mirror() {
    browser("testfix.test.mjs");
}

#[test]
fn browser_roles_expiry_and_a_vanished_pod() {
    browser("roles-and-errors.test.mjs");
}

#[test]
fn browser_admin_sets_the_ttl_applies_a_proven_fix_and_audits_it() {
    browser("admin.test.mjs");
}

#[test]
fn browser_write_tokens_see_what_their_orgs_fix_policy_allows() {
    browser("policy.test.mjs");
}

#[test]
fn browser_a_thousand_failing_pods() {
    browser("scale.test.mjs");
}

#[test]
fn browser_keyboard_alone_themes_and_a_narrow_screen() {
    browser("habits.test.mjs");
}

#[test]
fn browser_candidates_are_tested_one_by_one_and_the_proven_one_comes_first() {
    browser("candidates.test.mjs");
}

#[test]
fn browser_a_workload_whose_pods_are_refused_has_its_own_row() {
    browser("workloads.test.mjs");
}
