//! A consumer process for crash tests: runs the consumer group `recorder` with the
//! [`Recorder`](orderflow_tests::fixtures::Recorder) handler until SIGTERM, configured by
//! `RECORDER_DATABASE_URL`, `RECORDER_NAMESPACE`, `ORDERFLOW_TEST_KAFKA`,
//! `ORDERFLOW_TEST_REGISTRY` and `RECORDER_COMMIT_INTERVAL_MS`.

use orderflow_tests::fixtures::{Recorder, EFFECTS_TABLE};
use platform::{app::Platform, config::CommonSettings};
use schemas::Topic;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = platform::telemetry::init("recorder")?;
    let env = orderflow_tests::Env::from_env();
    let var = |name: &str| std::env::var(name).map_err(|_| anyhow::anyhow!("{name} is not set"));
    let settings: CommonSettings = serde_json::from_value(serde_json::json!({
        "http": {"port": 0},
        "database": {"url": var("RECORDER_DATABASE_URL")?},
        "kafka": {
            "bootstrap_servers": env.kafka,
            "namespace": var("RECORDER_NAMESPACE")?,
            // A killed member's partitions move on after 6 s instead of the default 45 s.
            "properties": {"session.timeout.ms": "6000"},
        },
        "registry": {"url": env.registry},
        "consumer": {"commit_interval_ms": var("RECORDER_COMMIT_INTERVAL_MS")?.parse::<u64>()?},
    }))?;
    let platform = Platform::build(settings, &[EFFECTS_TABLE]).await?;
    let shutdown = platform::shutdown::on_signal();
    platform
        .consumer("recorder", &[Topic::Orders], Recorder)
        .run(shutdown)
        .await?;
    Ok(())
}
