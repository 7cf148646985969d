//! CLI tier: the real `podmirror` binary in a scratch directory.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

fn scratch(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("podmirror-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn sim_serves_and_writes_a_kubeconfig() {
    let dir = scratch("sim_serves_and_writes_a_kubeconfig");
    let kubeconfig = dir.join("kc.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_podmirror"))
        .args(["sim", "--port", "0", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(text.contains(&format!("server: {url}")), "{text}");
    assert!(text.contains("current-context: podmirror-sim"), "{text}");

    let addr = url.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET /version HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"gitVersion\":\"v1.35.0\""), "{resp}");
}

#[test]
fn sim_refuses_a_bad_time_scale() {
    let out = Command::new(env!("CARGO_BIN_EXE_podmirror"))
        .args(["sim", "--port", "0", "--time-scale", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--time-scale must be a positive number"),
        "{stderr}"
    );
}

#[test]
fn sim_reports_a_busy_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = scratch("sim_reports_a_busy_port");
    let out = Command::new(env!("CARGO_BIN_EXE_podmirror"))
        .args(["sim", "--port", &port, "--kubeconfig"])
        .arg(dir.join("kc"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot listen on 127.0.0.1:") && stderr.contains("--port 0"),
        "{stderr}"
    );
    assert!(
        !dir.join("kc").exists(),
        "no kubeconfig for a sim that did not start"
    );
}

#[test]
fn a_bad_catalog_is_refused_with_file_and_line() {
    let dir = scratch("a_bad_catalog_is_refused_with_file_and_line");
    let catalog = dir.join("catalog.yaml");
    std::fs::write(
        &catalog,
        "images:\n  - name: registry.example.com/shop/api\n    tags: [\"1.0\"]\n    memory_mib: lots\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_podmirror"))
        .args(["sim", "--port", "0", "--kubeconfig"])
        .arg(dir.join("kc"))
        .arg("--catalog")
        .arg(&catalog)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("catalog.yaml:4") && stderr.contains("memory_mib"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_lists_its_failing_workloads() {
    let dir = scratch("demo_lists_its_failing_workloads");
    let mut child = Command::new(env!("CARGO_BIN_EXE_podmirror"))
        .args(["demo", "--port", "0", "--time-scale", "20", "--kubeconfig"])
        .arg(dir.join("kc"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("Press Ctrl-C"))
        .collect();
    child.kill().unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let text = lines.join("\n");
    for want in [
        "OOMKilled",
        "image pull: bad tag",
        "unschedulable: untolerated taint",
        "kubectl get pods -n shop",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn node_flags_are_checked() {
    let dir = scratch("node_flags_are_checked");
    for (flag, value, want) in [
        ("--node-label", "disktype", "needs the form key=value"),
        ("--node-taint", "dedicated=gpu", "has no effect"),
        ("--node-memory", "lots", "is not a quantity"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_podmirror"))
            .args(["sim", "--port", "0", flag, value, "--kubeconfig"])
            .arg(dir.join("kc"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(want), "{flag} {value}: {stderr}");
    }
    assert!(!dir.join("kc").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
