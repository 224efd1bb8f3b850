//! A second, private stack (its own ports and state folder) for tests that stop or kill a
//! component, so tests running at the same time on the default stack are not disturbed.

use std::process::Command;

pub struct SecondStack {
    name: String,
    offset: u16,
    /// More environment for every `stack.sh` run (e.g. `KAFKA_BROKERS=3`), so that each
    /// command acts on the same kind of stack `up` brought up.
    env: Vec<(String, String)>,
}

impl SecondStack {
    /// Brings up `components` of the stack `name`, its ports shifted by `offset`.
    pub fn up(name: &str, offset: u16, components: &[&str]) -> Self {
        Self::up_with(name, offset, components, Vec::new())
    }

    /// [`SecondStack::up`] with `env` set for this and every later `stack.sh` command.
    pub fn up_with(
        name: &str,
        offset: u16,
        components: &[&str],
        env: Vec<(String, String)>,
    ) -> Self {
        let stack = SecondStack {
            name: name.to_owned(),
            offset,
            env,
        };
        stack.run("up", components);
        stack
    }

    pub fn kafka_address(&self) -> String {
        format!("127.0.0.1:{}", 9092 + self.offset)
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
            .envs(self.env.iter().map(|(k, v)| (k, v)))
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

    /// SIGKILLs `component` and its children: no shutdown at all.
    pub fn kill(&self, component: &str) {
        self.run("kill", &[component]);
    }

    /// Stops and starts `component` on a thread of its own, so that the caller's tasks (a
    /// load running beside the restart) go on meanwhile. Join the handle to wait for it.
    pub fn restart_in_background(&self, component: &str) -> std::thread::JoinHandle<()> {
        let (name, offset, env, component) = (
            self.name.clone(),
            self.offset,
            self.env.clone(),
            component.to_owned(),
        );
        std::thread::spawn(move || {
            stack_sh(&name, offset, &env, "stop", &[&component]);
            stack_sh(&name, offset, &env, "start", &[&component]);
        })
    }

    fn run(&self, command: &str, components: &[&str]) {
        stack_sh(&self.name, self.offset, &self.env, command, components);
    }
}

/// Runs `stack.sh <command> <components>` on the stack `name` with ports shifted by `offset`.
fn stack_sh(name: &str, offset: u16, env: &[(String, String)], command: &str, components: &[&str]) {
    let status = Command::new("bash")
        .arg(script())
        .arg(command)
        .args(components)
        .env("ORDERFLOW_STACK", name)
        .env("ORDERFLOW_PORT_OFFSET", offset.to_string())
        // Tests create the topics of their own namespace.
        .env("KAFKA_SKIP_TOPICS", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
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
