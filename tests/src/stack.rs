//! A second, private stack (its own ports and state folder) for tests that stop or kill a
//! component, so tests running at the same time on the default stack are not disturbed; also
//! a Kafka cluster or a secured one (`KAFKA_BROKERS`, `KAFKA_SECURITY`, see `stack.sh`).
//!
//! The tests' private stacks are one table, [`Private`]: a name and a port offset each. The
//! ports themselves are `stack.sh`'s (its defaults plus the offset), read back from
//! `stack.sh env`, so the rule is written once; a test below checks that no two stacks of the
//! table, the default stack and the chaos run's meet on a port.

use crate::KafkaLogin;
use std::{collections::HashMap, path::PathBuf, process::Command};

/// The private stacks of the tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Private {
    /// A broker stopped under the relay (`kafka_outage`).
    RelayOutage,
    /// A broker stopped under the three services (`e2e_outage`).
    KafkaOutage,
    /// A Jaeger of its own (`e2e_traces`).
    Jaeger,
    /// A PostgreSQL restarted under the services (`e2e_database`).
    PostgresRestart,
    /// Three brokers over SASL_SSL (`kafka_cluster`).
    KafkaCluster,
}

impl Private {
    pub const ALL: [Private; 5] = [
        Private::RelayOutage,
        Private::KafkaOutage,
        Private::Jaeger,
        Private::PostgresRestart,
        Private::KafkaCluster,
    ];

    /// Its name: the state folder `.local/stacks/<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Private::RelayOutage => "test-relay-outage",
            Private::KafkaOutage => "e2e-kafka-outage",
            Private::Jaeger => "e2e-jaeger",
            Private::PostgresRestart => "e2e-postgres-restart",
            Private::KafkaCluster => "kafka-cluster",
        }
    }

    /// What its ports are shifted by from the default stack's.
    pub fn offset(self) -> u16 {
        match self {
            Private::RelayOutage => 110,
            Private::KafkaOutage => 120,
            Private::Jaeger => 130,
            Private::PostgresRestart => 140,
            Private::KafkaCluster => 170,
        }
    }

    /// The components it runs (the rest of what a test needs is the default stack's).
    pub fn components(self) -> &'static [&'static str] {
        match self {
            Private::Jaeger => &["jaeger"],
            Private::PostgresRestart => &["postgres"],
            Private::RelayOutage | Private::KafkaOutage | Private::KafkaCluster => &["kafka"],
        }
    }

    /// The brokers of its Kafka.
    pub fn brokers(self) -> u16 {
        match self {
            Private::KafkaCluster => 3,
            _ => 1,
        }
    }
}

pub struct SecondStack {
    name: String,
    offset: u16,
    /// `stack.sh` variables every command of this stack runs with.
    vars: Vec<(String, String)>,
    /// What `stack.sh env` printed once the stack was up: its addresses, by variable.
    printed: HashMap<String, String>,
}

impl SecondStack {
    /// Brings up the private stack `stack`.
    pub fn up(stack: Private) -> Self {
        Self::up_with(stack, &[])
    }

    /// [`SecondStack::up`] with `stack.sh` variables, e.g. `KAFKA_SECURITY=sasl_ssl`; they win
    /// over the default `KAFKA_SKIP_TOPICS=1`.
    pub fn up_with(stack: Private, vars: &[(&str, &str)]) -> Self {
        let brokers = stack.brokers().to_string();
        let vars: Vec<(&str, &str)> = [("KAFKA_BROKERS", brokers.as_str())]
            .into_iter()
            .chain(vars.iter().copied())
            .collect();
        Self::custom(stack.name(), stack.offset(), stack.components(), &vars)
    }

    /// A stack outside the table (the chaos run's, whose offset is its user's): `name`, its
    /// ports shifted by `offset`.
    pub fn custom(name: &str, offset: u16, components: &[&str], vars: &[(&str, &str)]) -> Self {
        let mut stack = SecondStack {
            name: name.to_owned(),
            offset,
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            printed: HashMap::new(),
        };
        // Made before `up`, so that a failed `up` still brings the stack down (on drop).
        stack.run("up", components);
        stack.printed = stack_env(&stack.name, stack.offset, &stack.vars);
        stack
    }

    /// The bootstrap servers: every broker.
    pub fn kafka_address(&self) -> String {
        self.printed("ORDERFLOW_TEST_KAFKA")
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
        let printed = &self.printed;
        crate::Env {
            kafka: printed["ORDERFLOW_TEST_KAFKA"].clone(),
            registry: printed["ORDERFLOW_TEST_REGISTRY"].clone(),
            admin_database_url: printed["ORDERFLOW_TEST_DATABASE_URL"].clone(),
            replication_factor: printed["ORDERFLOW_TEST_KAFKA_REPLICATION_FACTOR"]
                .parse()
                .expect("a replication factor"),
            kafka_login: None,
        }
    }

    /// The maintenance database of the stack's PostgreSQL (`postgres` component).
    pub fn postgres_admin_url(&self) -> String {
        self.printed("ORDERFLOW_TEST_DATABASE_URL")
    }

    /// Jaeger's UI and query API (`jaeger` component).
    pub fn jaeger_query_url(&self) -> String {
        self.printed("ORDERFLOW_TEST_JAEGER_QUERY")
    }

    /// Jaeger's OTLP/HTTP receiver, as `OTEL_EXPORTER_OTLP_ENDPOINT` names it.
    pub fn jaeger_otlp_endpoint(&self) -> String {
        self.printed("ORDERFLOW_TEST_JAEGER_OTLP")
    }

    fn printed(&self, name: &str) -> String {
        self.printed
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("stack.sh env prints no {name}"))
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

/// What `stack.sh env` prints for the stack `name` with ports shifted by `offset`, by name.
fn stack_env(name: &str, offset: u16, vars: &[(String, String)]) -> HashMap<String, String> {
    // stack.sh prints shell-quoted `export` lines (a broker list's commas escaped): let a shell
    // read them, then print each as `NAME=value`.
    let output = Command::new("bash")
        .arg("-c")
        .arg(
            r#"out=$(bash "$0" env) && eval "$out" &&
               for n in $(sed -n 's/^export \([A-Za-z_]*\)=.*/\1/p' <<<"$out"); do
                 printf '%s=%s\n' "$n" "${!n}"
               done"#,
        )
        .arg(script())
        .env("ORDERFLOW_STACK", name)
        .env("ORDERFLOW_PORT_OFFSET", offset.to_string())
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("stack.sh env runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "stack.sh env printed {text:?}");
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// What `stack.sh env` prints of each component's addresses.
    const PRINTED: [(&str, &[&str]); 5] = [
        ("kafka", &["ORDERFLOW_TEST_KAFKA"]),
        ("registry", &["ORDERFLOW_TEST_REGISTRY"]),
        ("postgres", &["ORDERFLOW_TEST_DATABASE_URL"]),
        (
            "jaeger",
            &["ORDERFLOW_TEST_JAEGER_QUERY", "ORDERFLOW_TEST_JAEGER_OTLP"],
        ),
        (
            "services",
            &[
                "ORDERFLOW_ORDER_URL",
                "ORDERFLOW_PAYMENT_URL",
                "ORDERFLOW_SHIPPING_URL",
            ],
        ),
    ];

    /// The TCP ports of `components` in what `stack.sh env` printed (`host:port` lists, URLs).
    fn ports(printed: &HashMap<String, String>, components: &[&str]) -> Vec<u16> {
        let mut ports = Vec::new();
        let names = PRINTED
            .iter()
            .filter(|(component, _)| components.contains(component))
            .flat_map(|(_, names)| names.iter());
        for name in names {
            let value = &printed[*name];
            for address in value.split(',') {
                let authority = address
                    .split_once("://")
                    .map_or(address, |(_, rest)| rest)
                    .split('/')
                    .next()
                    .unwrap_or_default();
                let host_port = authority.rsplit('@').next().unwrap_or_default();
                let (_, port) = host_port
                    .rsplit_once(':')
                    .unwrap_or_else(|| panic!("{name}={value} names no port"));
                ports.push(port.parse().unwrap_or_else(|_| panic!("{name}={value}")));
            }
        }
        ports
    }

    #[test]
    fn no_two_stacks_meet_on_a_port_of_what_they_run() {
        type Stack = (String, u16, Vec<(String, String)>, Vec<&'static str>);
        let mut stacks: Vec<Stack> = Private::ALL
            .iter()
            .map(|s| {
                let brokers = vec![("KAFKA_BROKERS".to_owned(), s.brokers().to_string())];
                (
                    s.name().to_owned(),
                    s.offset(),
                    brokers,
                    s.components().to_vec(),
                )
            })
            .collect();
        let everything = PRINTED.iter().map(|(c, _)| *c).collect::<Vec<_>>();
        stacks.push(("default".into(), 0, vec![], everything));
        // The chaos run's (`make chaos`: CHAOS_OFFSET, three brokers; its services take free
        // ports).
        stacks.push((
            "chaos".into(),
            3000,
            vec![("KAFKA_BROKERS".into(), "3".into())],
            vec!["postgres", "kafka", "registry"],
        ));
        let mut owner: BTreeMap<u16, String> = BTreeMap::new();
        for (name, offset, vars, components) in &stacks {
            let printed = stack_env(name, *offset, vars);
            let ports = ports(&printed, components);
            assert!(!ports.is_empty(), "{name}: {printed:?}");
            for port in ports {
                if let Some(other) = owner.insert(port, name.clone()) {
                    panic!("port {port} of {name} is also {other}'s");
                }
            }
        }
        assert!(owner.len() >= 14, "{owner:?}");
    }
}
