//! The Helm chart's scripts (`helm/orderflow/files/`), run on the host against the real stack
//! as the chart's Pods run them in a cluster.

use std::path::PathBuf;

/// The path of one of the chart's files. `cargo test` names the crate's folder at run time; the
/// compile-time one is the fallback (a binary built in another clone keeps that clone's).
fn file(name: &str) -> PathBuf {
    let tests = std::env::var("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
    PathBuf::from(tests)
        .join("../helm/orderflow/files")
        .join(name)
}

/// Runs the chart's script `name` with `interpreter` (e.g. `bash`, `python3`) and `env`, and
/// fails the test with its output unless it succeeds.
pub async fn run_script(interpreter: &str, name: &str, env: &[(&str, &str)]) {
    let out = tokio::process::Command::new(interpreter)
        .arg(file(name))
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{interpreter} could not be started: {e}"));
    assert!(
        out.status.success(),
        "the chart's {name} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
