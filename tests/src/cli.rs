//! The `orderflow` binary as a process, the way an operator runs it: settings from the
//! environment (a test's namespace and databases only), `--output json`, and what it printed
//! and exited with.

use crate::{
    fixtures::Isolated,
    services::{binary_path, Service, Services},
};
use serde_json::Value;
use std::time::Duration;

/// Longer than any command the tests run; a hang fails the test instead of blocking it.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The tool, configured for one test.
pub struct Orderflow {
    env: Vec<(String, String)>,
}

/// What one run printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Orderflow {
    /// Pointed at `iso`'s namespace, with its database as every service's.
    pub fn for_isolated(iso: &Isolated) -> Self {
        Self::with_databases(iso, [iso.database_url.as_str(); 3])
    }

    /// Pointed at the services' namespace and their databases.
    pub fn for_services(services: &Services) -> Self {
        Self::with_databases(
            &services.iso,
            Service::ALL.map(|service| services.database_url(service)),
        )
    }

    fn with_databases(iso: &Isolated, databases: [&str; 3]) -> Self {
        let mut env = vec![
            (
                "ORDERFLOW__KAFKA__BOOTSTRAP_SERVERS".to_owned(),
                iso.env.kafka.clone(),
            ),
            ("ORDERFLOW__KAFKA__NAMESPACE".into(), iso.namespace.clone()),
            ("ORDERFLOW__REGISTRY__URL".into(), iso.env.registry.clone()),
        ];
        for (prefix, url) in ["ORDER", "PAYMENT", "SHIPPING"].iter().zip(databases) {
            env.push((format!("{prefix}__DATABASE__URL"), url.to_owned()));
        }
        Orderflow { env }
    }

    /// Logging in to a secured Kafka as `login`'s user.
    pub fn with_kafka_login(mut self, login: &crate::KafkaLogin) -> Self {
        self.env.extend(login.env("ORDERFLOW"));
        self
    }

    /// `orderflow --output json <args>`, ready to run.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(binary_path("orderflow"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["--output", "json"])
            .args(args)
            .kill_on_drop(true);
        command
    }

    /// Runs `orderflow --output json <args>` and returns what it did, whatever the exit code.
    pub async fn run(&self, args: &[&str]) -> Run {
        let mut command = self.command(args);
        let output = tokio::time::timeout(RUN_TIMEOUT, command.output())
            .await
            .unwrap_or_else(|_| panic!("orderflow {args:?} did not finish in {RUN_TIMEOUT:?}"))
            .expect("orderflow runs");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs `args`, asserts success and returns the JSON lines it printed.
    pub async fn json(&self, args: &[&str]) -> Vec<Value> {
        self.run(args).await.success()
    }
}

impl Run {
    /// Asserts exit code 0; the JSON lines printed.
    pub fn success(self) -> Vec<Value> {
        assert_eq!(self.code, Some(0), "orderflow failed: {self:#?}");
        self.lines()
    }

    /// Every stdout line parsed as JSON.
    pub fn lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}
