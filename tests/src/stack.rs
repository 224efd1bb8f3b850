//! A second, private stack (its own ports and state folder) for tests that stop or kill a
//! component, so tests running at the same time on the default stack are not disturbed.

use std::process::Command;

pub struct SecondStack {
    name: String,
    offset: u16,
}

impl SecondStack {
    /// Brings up `components` of the stack `name`, its ports shifted by `offset`.
    pub fn up(name: &str, offset: u16, components: &[&str]) -> Self {
        let stack = SecondStack {
            name: name.to_owned(),
            offset,
        };
        stack.run("up", components);
        stack
    }

    pub fn kafka_address(&self) -> String {
        format!("127.0.0.1:{}", 9092 + self.offset)
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

    fn run(&self, command: &str, components: &[&str]) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/local/stack.sh");
        let status = Command::new("bash")
            .arg(script)
            .arg(command)
            .args(components)
            .env("ORDERFLOW_STACK", &self.name)
            .env("ORDERFLOW_PORT_OFFSET", self.offset.to_string())
            // Tests create the topics of their own namespace.
            .env("KAFKA_SKIP_TOPICS", "1")
            .status()
            .expect("stack.sh runs");
        assert!(status.success(), "stack.sh {command} {components:?} failed");
    }
}

impl Drop for SecondStack {
    fn drop(&mut self) {
        self.run("down", &[]);
    }
}
