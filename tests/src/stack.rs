//! A second, private stack (its own ports and state folder) for tests that stop or kill a
//! component, so tests running at the same time on the default stack are not disturbed; also
//! a Kafka cluster or a secured one (`KAFKA_BROKERS`, `KAFKA_SECURITY`, see `stack.sh`).

use crate::KafkaLogin;
use std::{path::PathBuf, process::Command};

pub struct SecondStack {
    name: String,
    offset: u16,
    /// `stack.sh` variables every command of this stack runs with.
    vars: Vec<(String, String)>,
}

impl SecondStack {
    /// Brings up `components` of the stack `name`, its ports shifted by `offset`.
    pub fn up(name: &str, offset: u16, components: &[&str]) -> Self {
        Self::up_with(name, offset, components, &[])
    }

    /// [`SecondStack::up`] with `stack.sh` variables, e.g. `KAFKA_BROKERS=3`; they win over
    /// the default `KAFKA_SKIP_TOPICS=1`.
    pub fn up_with(name: &str, offset: u16, components: &[&str], vars: &[(&str, &str)]) -> Self {
        let stack = SecondStack {
            name: name.to_owned(),
            offset,
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        stack.run("up", components);
        stack
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The bootstrap servers: every broker (broker i on 9092 + 2(i-1), shifted).
    pub fn kafka_address(&self) -> String {
        let brokers: u16 = self.var("KAFKA_BROKERS").unwrap_or("1").parse().unwrap();
        (0..brokers)
            .map(|i| format!("127.0.0.1:{}", 9092 + self.offset + 2 * i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The stack's state folder, `.local/stacks/<name>`.
    fn state_dir(&self) -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.local/stacks")).join(&self.name)
    }

    /// A user of a secured stack (`admin`, `order`, `payment`, `shipping`, `orderflow`).
    pub fn login(&self, username: &str) -> KafkaLogin {
        KafkaLogin {
            username: username.to_owned(),
            password_file: self
                .state_dir()
                .join(format!("kafka-secrets/{username}.password")),
            ca_location: self.state_dir().join("kafka-tls/ca.pem"),
        }
    }

    /// Where the stack's Kafka (every broker), registry and PostgreSQL are, and the topics'
    /// replication factor, as `stack.sh env` tells them.
    pub fn env(&self) -> crate::Env {
        const VARS: [&str; 4] = [
            "ORDERFLOW_TEST_KAFKA",
            "ORDERFLOW_TEST_REGISTRY",
            "ORDERFLOW_TEST_DATABASE_URL",
            "ORDERFLOW_TEST_KAFKA_REPLICATION_FACTOR",
        ];
        // stack.sh prints shell-quoted `export` lines (a broker list's commas escaped): let a
        // shell read them, then print the values one per line.
        let print = VARS.map(|v| format!("\"${v}\"")).join(" ");
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "eval \"$(bash \"$0\" env)\" && printf '%s\\n' {print}"
            ))
            .arg(script())
            .env("ORDERFLOW_STACK", &self.name)
            .env("ORDERFLOW_PORT_OFFSET", self.offset.to_string())
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("stack.sh env runs");
        let text = String::from_utf8_lossy(&output.stdout);
        let values: Vec<&str> = text.lines().collect();
        assert!(
            output.status.success() && values.len() == VARS.len(),
            "stack.sh env printed {text:?}"
        );
        crate::Env {
            kafka: values[0].to_owned(),
            registry: values[1].to_owned(),
            admin_database_url: values[2].to_owned(),
            replication_factor: values[3].parse().expect("a replication factor"),
            kafka_login: None,
        }
    }

    /// The maintenance database of the stack's PostgreSQL (`postgres` component).
    pub fn postgres_admin_url(&self) -> String {
        format!(
            "postgres://orderflow:orderflow@127.0.0.1:{}/postgres",
            5432 + self.offset
        )
    }

    /// Jaeger's UI and query API (`jaeger` component).
    pub fn jaeger_query_url(&self) -> String {
        format!("http://127.0.0.1:{}", 16686 + self.offset)
    }

    /// Jaeger's OTLP/HTTP receiver, as `OTEL_EXPORTER_OTLP_ENDPOINT` names it.
    pub fn jaeger_otlp_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", 4318 + self.offset)
    }

    pub fn stop(&self, component: &str) {
        self.run("stop", &[component]);
    }

    pub fn start(&self, component: &str) {
        self.run("start", &[component]);
    }

    /// SIGKILLs `component` (e.g. one broker of a cluster, `kafka-2`).
    pub fn kill(&self, component: &str) {
        self.run("kill", &[component]);
    }

    /// Stops and starts `component` on a thread of its own, so that the caller's tasks (a
    /// load running beside the restart) go on meanwhile. Join the handle to wait for it.
    pub fn restart_in_background(&self, component: &str) -> std::thread::JoinHandle<()> {
        let (name, offset, vars, component) = (
            self.name.clone(),
            self.offset,
            self.vars.clone(),
            component.to_owned(),
        );
        std::thread::spawn(move || {
            stack_sh(&name, offset, &vars, "stop", &[&component]);
            stack_sh(&name, offset, &vars, "start", &[&component]);
        })
    }

    fn run(&self, command: &str, components: &[&str]) {
        stack_sh(&self.name, self.offset, &self.vars, command, components);
    }
}

/// Runs `stack.sh <command> <components>` on the stack `name` with ports shifted by `offset`.
fn stack_sh(
    name: &str,
    offset: u16,
    vars: &[(String, String)],
    command: &str,
    components: &[&str],
) {
    let status = Command::new("bash")
        .arg(script())
        .arg(command)
        .args(components)
        .env("ORDERFLOW_STACK", name)
        .env("ORDERFLOW_PORT_OFFSET", offset.to_string())
        // Tests create the topics of their own namespace.
        .env("KAFKA_SKIP_TOPICS", "1")
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .status()
        .expect("stack.sh runs");
    assert!(status.success(), "stack.sh {command} {components:?} failed");
}

impl Drop for SecondStack {
    fn drop(&mut self) {
        self.run("down", &[]);
    }
}

/// The `stack.sh` of this checkout.
fn script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/local/stack.sh")
}
