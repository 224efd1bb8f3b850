//! The Helm chart's scripts (`helm/orderflow/files/`), run on the host against the real stack
//! as the chart's Pods run them in a cluster.

use std::path::PathBuf;

/// The path of one of the chart's files.
fn file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
