//! The three service binaries as real processes, for end-to-end tests.
//!
//! [`Services::start`] gives a test its own Kafka namespace (topics and consumer groups), one
//! fresh database per service and free ports, starts `order-service`, `payment-service` and
//! `shipping-service` from the build's `debug` folder (`make test` builds them first), and
//! returns once each answers `GET /health/ready` with 200. The test then drives them only through
//! REST, order-service's gRPC API ([`Services::grpc`]) and Kafka. Dropping [`Services`] kills
//! the processes; when the test failed, the tail of each service's log is printed. With
//! [`Options::images`] the same services run as containers of their images (`podman run
//! --network host`, or `docker run`: the engine `make images-check` chose) instead of binaries.

use crate::{fixtures::Isolated, wait_until, Env};
use orderflow_proto::v1::{orders_client::OrdersClient, Item, PlaceOrderRequest};
use reqwest::{header, Response, StatusCode};
use schemas::Group;
use serde_json::Value;
use std::{
    fs,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};
use tokio::time::Instant;
use tonic::transport::Channel;
use uuid::Uuid;

/// The consumer groups of the three services (`schemas::Group::ALL`); each needs its
/// `<ns><group>.dlq` topic.
pub const GROUPS: [&str; 4] = [
    Group::ALL[0].name(),
    Group::ALL[1].name(),
    Group::ALL[2].name(),
    Group::ALL[3].name(),
];

/// order-service's gRPC port setting.
const GRPC_PORT_KEY: &str = "ORDER__GRPC__PORT";

/// How long a service may take to become ready or to stop on a loaded 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Order,
    Payment,
    Shipping,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Order, Service::Payment, Service::Shipping];

    pub fn binary(self) -> &'static str {
        match self {
            Service::Order => "order-service",
            Service::Payment => "payment-service",
            Service::Shipping => "shipping-service",
        }
    }

    /// The user a secured stack makes for the service (`stack.sh`'s `KAFKA_USERS`).
    pub fn kafka_user(self) -> &'static str {
        self.binary().trim_end_matches("-service")
    }

    /// The service's own settings prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Service::Order => "ORDER",
            Service::Payment => "PAYMENT",
            Service::Shipping => "SHIPPING",
        }
    }
}

/// What a test may change about the services it starts.
#[derive(Clone, Debug)]
pub struct Options {
    /// `PAYMENT_LIMIT_CENTS`; the service default (1000000) when `None`.
    pub payment_limit_cents: Option<i64>,
    /// `RUST_LOG` of the services. Below `info` the platform drops the trace context (see
    /// the trace tests), so tests of tracing ask for `info`.
    pub rust_log: String,
    /// More environment for every service, e.g. `ORDER__HTTP__SHUTDOWN_TIMEOUT_SECS`; it wins
    /// over the harness's own settings.
    pub env: Vec<(String, String)>,
    /// Run the services from these container images instead of the build's binaries.
    pub images: Option<Images>,
    /// The Kafka namespace; a fresh one when `None`.
    pub namespace: Option<String>,
}

/// The service images of `make images`: `<repo>/<service>:<tag>`, run with the engine that
/// built them (`deploy/tools.sh engine`: docker or podman) on the host network, a read-only
/// root filesystem and a tmpfs on `/tmp`.
#[derive(Clone, Debug)]
pub struct Images {
    /// The engine's command: `docker` or `podman`.
    pub engine: String,
    pub repo: String,
    pub tag: String,
}

impl Images {
    /// From `ORDERFLOW_TEST_IMAGE_ENGINE`, `ORDERFLOW_TEST_IMAGE_REPO` and
    /// `ORDERFLOW_TEST_IMAGE_TAG`, which `make images-check` sets.
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .unwrap_or_else(|_| panic!("{name} is not set: run `make images-check`"))
        };
        let engine = var("ORDERFLOW_TEST_IMAGE_ENGINE");
        assert!(
            engine == "docker" || engine == "podman",
            "ORDERFLOW_TEST_IMAGE_ENGINE is {engine:?}: must be docker or podman"
        );
        Images {
            engine,
            repo: var("ORDERFLOW_TEST_IMAGE_REPO"),
            tag: var("ORDERFLOW_TEST_IMAGE_TAG"),
        }
    }

    fn of(&self, service: Service) -> String {
        format!("{}/{}:{}", self.repo, service.binary(), self.tag)
    }
}

/// A service run as a container: its engine, its image and the container's name.
#[derive(Clone, Debug)]
struct Container {
    engine: String,
    image: String,
    name: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            payment_limit_cents: None,
            rust_log: "warn".into(),
            env: Vec::new(),
            images: None,
            namespace: None,
        }
    }
}

/// One service process, with what it takes to start it again the same way.
struct Process {
    service: Service,
    port: u16,
    /// order-service's gRPC port.
    grpc_port: Option<u16>,
    env: Vec<(String, String)>,
    log: PathBuf,
    /// Set when the service runs from its image.
    container: Option<Container>,
    child: Option<Child>,
}

impl Process {
    fn spawn(&mut self) {
        assert!(
            self.child.is_none(),
            "{} already runs",
            self.service.binary()
        );
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("service log file opens");
        let (mut command, what) = match &self.container {
            None => {
                let binary = binary_path(self.service.binary());
                let what = binary.display().to_string();
                (Command::new(binary), what)
            }
            Some(container) => {
                let mut command = Command::new(&container.engine);
                command.args(["run", "--rm", "--name", &container.name]);
                command.args(["--network", "host", "--read-only", "--tmpfs", "/tmp"]);
                // `--env NAME` passes the value from the engine client's environment, set
                // below.
                for (name, _) in &self.env {
                    command.args(["--env", name]);
                }
                command.arg(&container.image);
                (command, container.image.clone())
            }
        };
        // Only what the test sets: a developer's ORDER__* or OTEL_* must not leak in.
        command.env_clear();
        if let (Some(_), Some(conf)) = (&self.container, std::env::var_os("CONTAINERS_CONF")) {
            command.env("CONTAINERS_CONF", conf);
        }
        let child = command
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{what} could not be started: {e}"));
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let (Some(container), Some(_)) = (&self.container, &self.child) {
            // Killing the engine's client would leave the container running. `docker rm
            // --force` kills at once; podman waits for the stop timeout unless given `--time 0`.
            let mut rm = Command::new(&container.engine);
            rm.args(["rm", "--force"]);
            if container.engine == "podman" {
                rm.args(["--time", "0"]);
            }
            let _ = rm
                .arg(&container.name)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// The path of a workspace binary beside the running executable: a test's
/// `<target>/debug/deps/<test>` → `<target>/debug/<name>`, or a harness binary's
/// `<target>/debug/<harness>` (the chaos run) → `<target>/debug/<name>`.
pub fn binary_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    let folder = exe.parent().expect("the executable lives in a folder");
    let debug = if folder.ends_with("deps") {
        folder.parent().expect("deps lives in <target>/<profile>")
    } else {
        folder
    };
    let path = debug.join(name);
    assert!(
        path.exists(),
        "{} does not exist: run `cargo build --workspace --bins` first (make test does)",
        path.display()
    );
    path
}

/// Where [`free_port`] looks: below the kernel's ephemeral range (32768 and up) and above the
/// stacks' fixed ports. A port handed out by `bind(0)` comes from that range, so between the
/// check and the service's own bind any outgoing connection of a parallel test (Kafka,
/// PostgreSQL) could take it as its source port: seen as "Address already in use".
const TEST_PORTS: std::ops::Range<u32> = 20_000..32_000;

/// A port that was free a moment ago, from [`TEST_PORTS`], never the same twice in a process
/// (each process starts at a random place, so test binaries do not walk the same ports).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: std::sync::OnceLock<AtomicU32> = std::sync::OnceLock::new();
    let span = TEST_PORTS.end - TEST_PORTS.start;
    let next =
        NEXT.get_or_init(|| AtomicU32::new((Uuid::new_v4().as_u128() % span as u128) as u32));
    for _ in 0..span {
        let port = (TEST_PORTS.start + next.fetch_add(1, Ordering::Relaxed) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {TEST_PORTS:?}");
}

/// One instance of a service: the first ones [`Services::start_with`] starts, or one started
/// by [`Services::start_replica`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replica(usize);

/// The three services of one test, with their namespace and databases.
pub struct Services {
    /// The namespace (topics `<ns>orders`, ...) and the stack it lives on.
    pub iso: Isolated,
    pub http: reqwest::Client,
    processes: Vec<Process>,
}

impl Services {
    /// Starts the three services on the default stack with default options.
    pub async fn start() -> Self {
        Self::start_with(Env::from_env(), Options::default()).await
    }

    /// Starts the three services against `env` (e.g. a second stack's Kafka).
    pub async fn start_with(env: Env, options: Options) -> Self {
        let iso = match options.namespace.clone() {
            Some(namespace) => Isolated::in_namespace(env, namespace, &GROUPS).await,
            None => Isolated::new(env, &GROUPS).await,
        };
        let log_dir = std::env::temp_dir()
            .join("orderflow-e2e")
            .join(iso.namespace.trim_end_matches('.'));
        fs::create_dir_all(&log_dir).expect("log folder created");
        let mut processes = Vec::new();
        for service in Service::ALL {
            // order-service gets the namespace's database; the others fresh ones of their own.
            let database_url = match service {
                Service::Order => iso.database_url.clone(),
                _ => iso.extra_database().await,
            };
            let port = free_port();
            let p = service.prefix();
            let mut env = vec![
                (format!("{p}__DATABASE__URL"), database_url),
                (format!("{p}__DATABASE__POOL_SIZE"), "8".into()),
                (format!("{p}__HTTP__HOST"), "127.0.0.1".into()),
                (format!("{p}__HTTP__PORT"), port.to_string()),
                (
                    "ORDERFLOW__KAFKA__BOOTSTRAP_SERVERS".into(),
                    iso.env.kafka.clone(),
                ),
                ("ORDERFLOW__KAFKA__NAMESPACE".into(), iso.namespace.clone()),
                ("ORDERFLOW__REGISTRY__URL".into(), iso.env.registry.clone()),
                // Fast recovery after an outage; tests wait for it.
                ("ORDERFLOW__RELAY__POLL_INTERVAL_MS".into(), "200".into()),
                ("ORDERFLOW__RELAY__LEADER_RETRY_MS".into(), "200".into()),
                ("ORDERFLOW__RELAY__BACKOFF_MAX_MS".into(), "1000".into()),
                ("ORDERFLOW__CONSUMER__BACKOFF_MAX_MS".into(), "1000".into()),
                ("RUST_LOG".into(), options.rust_log.clone()),
                ("NO_COLOR".into(), "1".into()),
            ];
            if let (Service::Payment, Some(limit)) = (service, options.payment_limit_cents) {
                env.push(("PAYMENT_LIMIT_CENTS".into(), limit.to_string()));
            }
            let grpc_port = (service == Service::Order).then(free_port);
            if let Some(grpc_port) = grpc_port {
                env.push((GRPC_PORT_KEY.into(), grpc_port.to_string()));
            }
            env.extend(options.env.iter().cloned());
            let container = options.images.as_ref().map(|images| Container {
                engine: images.engine.clone(),
                image: images.of(service),
                name: format!(
                    "{}-{}",
                    iso.namespace.trim_end_matches('.'),
                    service.binary()
                ),
            });
            processes.push(Process {
                service,
                port,
                grpc_port,
                env,
                log: log_dir.join(format!("{}.log", service.binary())),
                container,
                child: None,
            });
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(90))
            // Below actix's keep-alive (5 s), so an idle connection is never reused just as
            // the server closes it.
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("HTTP client");
        let mut services = Services {
            iso,
            http,
            processes,
        };
        for service in Service::ALL {
            services.process(service).spawn();
        }
        for service in Service::ALL {
            services.wait_ready(service as usize).await;
        }
        services
    }

    /// The first instance of `service` (the ones [`Services::start_with`] starts come first).
    fn process(&mut self, service: Service) -> &mut Process {
        &mut self.processes[service as usize]
    }

    /// `http://127.0.0.1:<port><path>` of `service`.
    pub fn url(&self, service: Service, path: &str) -> String {
        self.replica_url(Replica(service as usize), path)
    }

    /// Starts another instance of `service`: same database, namespace and consumer groups,
    /// its own port. Returns once it is ready.
    pub async fn start_replica(&mut self, service: Service) -> Replica {
        let replica = self.spawn_replica_with(service, &[]);
        self.wait_ready(replica.0).await;
        replica
    }

    /// Starts another instance of `service` as [`Services::start_replica`] does, with
    /// `overrides` of its environment (e.g. a wrong password), and returns at once: it may
    /// never become ready.
    pub fn spawn_replica_with(
        &mut self,
        service: Service,
        overrides: &[(String, String)],
    ) -> Replica {
        let first = &self.processes[service as usize];
        let port = free_port();
        let grpc_port = first.grpc_port.map(|_| free_port());
        let port_key = format!("{}__HTTP__PORT", service.prefix());
        let mut env: Vec<_> = first
            .env
            .iter()
            .filter(|(k, _)| !overrides.iter().any(|(key, _)| key == k))
            .map(|(k, v)| {
                let v = match (grpc_port, k.as_str()) {
                    (_, k) if k == port_key => port.to_string(),
                    (Some(grpc_port), GRPC_PORT_KEY) => grpc_port.to_string(),
                    _ => v.clone(),
                };
                (k.clone(), v)
            })
            .collect();
        env.extend(overrides.iter().cloned());
        let index = self.processes.len();
        let log = first
            .log
            .with_file_name(format!("{}-{index}.log", service.binary()));
        let container = first.container.clone().map(|c| Container {
            name: format!("{}-{index}", c.name),
            ..c
        });
        let mut process = Process {
            service,
            port,
            grpc_port,
            env,
            log,
            container,
            child: None,
        };
        process.spawn();
        self.processes.push(process);
        Replica(index)
    }

    /// The container `service` runs in, when it runs from its image.
    pub fn container(&self, service: Service) -> Option<&str> {
        self.processes[service as usize]
            .container
            .as_ref()
            .map(|c| c.name.as_str())
    }

    /// The first order-service instance, as a replica.
    pub fn first_order_service(&self) -> Replica {
        Replica(Service::Order as usize)
    }

    /// `127.0.0.1:<port>` of an order-service instance's gRPC API.
    pub fn grpc_address(&self, replica: Replica) -> String {
        let port = self.processes[replica.0]
            .grpc_port
            .expect("only order-service serves gRPC");
        format!("127.0.0.1:{port}")
    }

    /// A gRPC client of an order-service instance (one HTTP/2 connection).
    pub async fn grpc_of(&self, replica: Replica) -> OrdersClient<Channel> {
        let endpoint = format!("http://{}", self.grpc_address(replica));
        OrdersClient::connect(endpoint.clone())
            .await
            .unwrap_or_else(|e| panic!("gRPC {endpoint} unreachable: {e}"))
    }

    /// A gRPC client of the first order-service instance.
    pub async fn grpc(&self) -> OrdersClient<Channel> {
        self.grpc_of(self.first_order_service()).await
    }

    /// `http://127.0.0.1:<port><path>` of a replica.
    pub fn replica_url(&self, replica: Replica, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.processes[replica.0].port)
    }

    pub fn topic(&self, topic: schemas::Topic) -> String {
        self.iso.topic(topic)
    }

    /// The database URL `service` was started with.
    pub fn database_url(&self, service: Service) -> &str {
        let key = format!("{}__DATABASE__URL", service.prefix());
        self.processes[service as usize]
            .env
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .expect("every service gets a database URL")
    }

    /// How many events of each type (short name, e.g. `OrderPlaced`) each order (the message
    /// key) has on `topic` now.
    pub async fn event_counts(
        &self,
        topic: schemas::Topic,
    ) -> std::collections::HashMap<(String, String), usize> {
        let mut counts = std::collections::HashMap::new();
        for m in all_messages(&self.iso.env, &self.topic(topic)).await {
            use rdkafka::Message;
            let key = String::from_utf8_lossy(m.key().expect("every event has a key")).into_owned();
            let event_type = platform::consumer::header(&m, "event_type")
                .expect("every event has an event_type header");
            let short = event_type.rsplit('.').next().unwrap_or_default().to_owned();
            *counts.entry((key, short)).or_default() += 1;
        }
        counts
    }

    /// Asserts that no consumer group dead-lettered anything: in a healthy flow every event
    /// is one its consumers can apply.
    pub async fn assert_no_dead_letters(&self) {
        for group in GROUPS {
            let topic = self.iso.dead_letter_topic(group);
            let dead = all_messages(&self.iso.env, &topic).await;
            let reasons: Vec<_> = dead
                .iter()
                .map(|m| platform::consumer::header(m, "dlq.error.message"))
                .collect();
            assert!(dead.is_empty(), "{topic} holds {reasons:?}");
        }
    }

    async fn wait_ready(&mut self, index: usize) {
        let url = self.replica_url(Replica(index), "/health/ready");
        let http = self.http.clone();
        let process = &mut self.processes[index];
        let service = process.service;
        let what = format!("{} to be ready", service.binary());
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = process.child.as_mut().and_then(|c| c.try_wait().ok()?) {
                panic!(
                    "{} exited with {status} before it was ready:\n{}",
                    service.binary(),
                    process.log_tail(40)
                );
            }
            let ready = http
                .get(&url)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {START_TIMEOUT:?} waiting for {what}:\n{}",
                process.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops `service` gracefully (SIGTERM) and waits until the process has exited.
    pub async fn stop(&mut self, service: Service) {
        self.stop_replica(Replica(service as usize)).await;
    }

    /// Starts a stopped `service` again with the same settings and port, and waits until ready.
    pub async fn restart(&mut self, service: Service) {
        self.restart_replica(Replica(service as usize)).await;
    }

    // --- Instances, for fault injection ---------------------------------------------------------

    /// The instances of `service` whose process runs (or is paused), in start order.
    pub fn running(&self, service: Service) -> Vec<Replica> {
        (0..self.processes.len())
            .filter(|&i| self.processes[i].service == service && self.processes[i].child.is_some())
            .map(Replica)
            .collect()
    }

    /// Every instance ever started, running or not.
    pub fn replicas(&self) -> Vec<Replica> {
        (0..self.processes.len()).map(Replica).collect()
    }

    /// `<binary>#<n>`: the instance's name in a report.
    pub fn label(&self, replica: Replica) -> String {
        format!("{}#{}", self.service_of(replica).binary(), replica.0)
    }

    /// Which service `replica` is an instance of.
    pub fn service_of(&self, replica: Replica) -> Service {
        self.processes[replica.0].service
    }

    /// Sends `signal` (`KILL`, `TERM`, `STOP`, `CONT`, ...) to a running instance's process.
    pub fn signal(&self, replica: Replica, signal: &str) {
        let process = &self.processes[replica.0];
        let child = process.child.as_ref().expect("the instance runs");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(
            status.success(),
            "SIG{signal} to {} failed",
            process.service.binary()
        );
    }

    /// Sends `signal` to an instance and waits until its process has exited.
    async fn end_replica(&mut self, replica: Replica, signal: &str) {
        self.signal(replica, signal);
        let process = &mut self.processes[replica.0];
        let mut child = process.child.take().expect("the instance runs");
        wait_until(
            STOP_TIMEOUT,
            &format!("{} to exit after SIG{signal}", process.service.binary()),
            || {
                let done = child.try_wait().expect("child status").map(|_| ());
                async move { done }
            },
        )
        .await;
    }

    /// Stops an instance gracefully (SIGTERM) and waits until its process has exited.
    pub async fn stop_replica(&mut self, replica: Replica) {
        self.end_replica(replica, "TERM").await;
    }

    /// Kills an instance (SIGKILL): no drain, no goodbye to its consumer group.
    pub async fn kill_replica(&mut self, replica: Replica) {
        self.end_replica(replica, "KILL").await;
    }

    /// Starts a stopped instance again with the same settings and port, and waits until ready.
    pub async fn restart_replica(&mut self, replica: Replica) {
        self.processes[replica.0].spawn();
        self.wait_ready(replica.0).await;
    }

    // --- REST helpers -------------------------------------------------------------------------

    /// `POST /orders` with `body` and optional extra headers; the raw response.
    pub async fn post_order(&self, body: &Value, headers: &[(&str, &str)]) -> Response {
        let mut request = self
            .http
            .post(self.url(Service::Order, "/orders"))
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("POST /orders answers")
    }

    /// Places a valid order (202 asserted) and returns its representation.
    pub async fn place(&self, body: &Value) -> Value {
        let response = self.post_order(body, &[]).await;
        expect_json(response, StatusCode::ACCEPTED).await
    }

    /// `GET /orders/{id}` expecting 200; the representation.
    pub async fn order(&self, order_id: &str) -> Value {
        let response = self
            .http
            .get(self.url(Service::Order, &format!("/orders/{order_id}")))
            .send()
            .await
            .expect("GET /orders/{id} answers");
        expect_json(response, StatusCode::OK).await
    }

    /// `GET /orders/{id}/events` expecting 200: the events the read model applied, in order.
    pub async fn order_events(&self, order_id: &str) -> Vec<Value> {
        let response = self
            .http
            .get(self.url(Service::Order, &format!("/orders/{order_id}/events")))
            .send()
            .await
            .expect("GET /orders/{id}/events answers");
        match expect_json(response, StatusCode::OK).await {
            Value::Array(events) => events,
            other => panic!("the events of an order are a list: {other}"),
        }
    }

    /// Long-polls `GET /orders/{id}` until `done` holds for the representation, or fails after
    /// `timeout` showing the last one seen.
    pub async fn wait_for_order(
        &self,
        order_id: &str,
        timeout: Duration,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let url = self.url(Service::Order, &format!("/orders/{order_id}"));
        let mut etag: Option<String> = None;
        let mut last = Value::Null;
        loop {
            let mut request = self.http.get(&url);
            if let Some(tag) = &etag {
                request = request
                    .header(header::IF_NONE_MATCH, tag)
                    .header("Prefer", "wait=5");
            }
            let response = request.send().await.expect("GET /orders/{id} answers");
            match response.status() {
                StatusCode::OK => {
                    etag = etag_if_any(&response);
                    last = response.json().await.expect("order JSON");
                    if done(&last) {
                        return last;
                    }
                }
                StatusCode::NOT_MODIFIED => {}
                other => panic!("GET {url} answered {other}"),
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for order {order_id} to be {what}; last seen: {last:#}"
            );
        }
    }

    /// Waits until the order shows `status`. Other parts of the view may still lag: the
    /// projector applies the events of different topics in any order.
    pub async fn wait_for_status(&self, order_id: &str, status: &str) -> Value {
        self.wait_for_order(order_id, Duration::from_secs(120), status, |o| {
            o["status"] == status
        })
        .await
    }

    /// Waits until the order shows `status` with exactly `events` events applied (its
    /// version), i.e. the whole view has caught up with the flow so far.
    pub async fn wait_for_settled(&self, order_id: &str, status: &str, events: u64) -> Value {
        let what = format!("{status} with {events} events applied");
        self.wait_for_order(order_id, Duration::from_secs(120), &what, |o| {
            o["status"] == status && o["version"] == events
        })
        .await
    }

    /// Waits until the order is SHIPMENT_SCHEDULED with its three events (placed, authorized,
    /// scheduled) applied. The status alone can show SHIPMENT_SCHEDULED before the payment is
    /// in the view.
    pub async fn wait_until_scheduled(&self, order_id: &str) -> Value {
        self.wait_for_settled(order_id, "SHIPMENT_SCHEDULED", 3)
            .await
    }

    /// Places an order of `total_cents` and takes it through dispatch and delivery, each step
    /// once the view shows the previous one; returns its id once its five events are applied.
    pub async fn place_and_deliver(&self, total_cents: i64) -> String {
        let placed = self.place(&order_body(&customer(), total_cents)).await;
        let order_id = placed["order_id"].as_str().expect("an order id").to_owned();
        let scheduled = self.wait_until_scheduled(&order_id).await;
        let shipment = scheduled["shipment"]["shipment_id"]
            .as_str()
            .expect("a shipment id");
        for (action, status) in [("dispatch", "SHIPPED"), ("deliver", "DELIVERED")] {
            expect_json(
                self.shipment_action(shipment, action).await,
                StatusCode::ACCEPTED,
            )
            .await;
            self.wait_for_status(&order_id, status).await;
        }
        self.wait_for_settled(&order_id, "DELIVERED", 5).await;
        order_id
    }

    /// One page of `GET /orders?{query}`, which must answer 200.
    pub async fn orders_page(&self, query: &str) -> Value {
        let response = self
            .http
            .get(self.url(Service::Order, &format!("/orders?{query}")))
            .send()
            .await
            .expect("GET /orders answers");
        expect_json(response, StatusCode::OK).await
    }

    /// Every order of `customer` through the list endpoint, `limit` per page, following
    /// `next_cursor` to the end, in the order the pages gave them.
    pub async fn list_orders(&self, customer: &str, limit: u32) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = format!("customer_id={customer}&limit={limit}");
            if let Some(c) = &cursor {
                query.push_str(&format!("&cursor={c}"));
            }
            let page = self.orders_page(&query).await;
            all.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return all,
            }
        }
    }

    /// `GET /payments?order_id=` expecting 200; the list.
    pub async fn payments_of(&self, order_id: &str) -> Vec<Value> {
        let response = self
            .http
            .get(self.url(Service::Payment, &format!("/payments?order_id={order_id}")))
            .send()
            .await
            .expect("GET /payments answers");
        serde_json::from_value(expect_json(response, StatusCode::OK).await).expect("a list")
    }

    /// `GET /shipments?order_id=` expecting 200; the list.
    pub async fn shipments_of(&self, order_id: &str) -> Vec<Value> {
        let response = self
            .http
            .get(self.url(
                Service::Shipping,
                &format!("/shipments?order_id={order_id}"),
            ))
            .send()
            .await
            .expect("GET /shipments answers");
        serde_json::from_value(expect_json(response, StatusCode::OK).await).expect("a list")
    }

    /// `POST /shipments/{id}/<action>` (dispatch or deliver); the raw response.
    pub async fn shipment_action(&self, shipment_id: &str, action: &str) -> Response {
        self.http
            .post(self.url(
                Service::Shipping,
                &format!("/shipments/{shipment_id}/{action}"),
            ))
            .send()
            .await
            .expect("POST /shipments/{id}/<action> answers")
    }

    /// The trace id in each message's `traceparent` header, by event type (short name), for
    /// all three topics of the test's namespace, which only `order_id`'s events may be on.
    pub async fn trace_ids_by_event(&self, order_id: &str) -> Vec<(String, Option<String>)> {
        use rdkafka::Message;
        let mut seen = Vec::new();
        for topic in [
            schemas::Topic::Orders,
            schemas::Topic::Payments,
            schemas::Topic::Shipments,
        ] {
            for m in all_messages(&self.iso.env, &self.topic(topic)).await {
                assert_eq!(m.key(), Some(order_id.as_bytes()));
                let headers = platform::consumer::header_map(&m);
                let event_type = headers["event_type"].rsplit('.').next().unwrap().to_owned();
                let trace_id = headers
                    .get("traceparent")
                    .and_then(|t| platform::telemetry::trace_id(t))
                    .map(str::to_owned);
                seen.push((event_type, trace_id));
            }
        }
        seen
    }

    /// `POST /orders/{id}/cancel`; the raw response.
    pub async fn cancel(&self, order_id: &str) -> Response {
        self.http
            .post(self.url(Service::Order, &format!("/orders/{order_id}/cancel")))
            .send()
            .await
            .expect("POST /orders/{id}/cancel answers")
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        for process in &mut self.processes {
            if panicking {
                let state = match process.child.as_mut().map(Child::try_wait) {
                    None => "stopped by the test".to_owned(),
                    Some(Ok(None)) => "running".to_owned(),
                    Some(Ok(Some(status))) => format!("exited: {status}"),
                    Some(Err(e)) => format!("unknown: {e}"),
                };
                eprintln!(
                    "----- {} ({state}), last lines of {} -----\n{}",
                    process.service.binary(),
                    process.log.display(),
                    process.log_tail(60)
                );
            }
            process.kill();
        }
    }
}

/// A small valid order of `customer_id` totalling `total_cents` (one item).
pub fn order_body(customer_id: &str, total_cents: i64) -> Value {
    serde_json::json!({
        "customer_id": customer_id,
        "currency": "EUR",
        "items": [{"sku": "sku-1", "quantity": 1, "unit_price_cents": total_cents}],
    })
}

/// [`order_body`] as a gRPC `PlaceOrder` request.
pub fn place_request(customer_id: &str, total_cents: i64) -> PlaceOrderRequest {
    PlaceOrderRequest {
        customer_id: customer_id.into(),
        currency: "EUR".into(),
        items: vec![Item {
            sku: "sku-1".into(),
            quantity: 1,
            unit_price_cents: total_cents,
        }],
    }
}

/// A W3C `traceparent` of a fresh trace, and its trace id.
pub fn new_trace() -> (String, String) {
    let trace_id = Uuid::new_v4().simple().to_string();
    (format!("00-{trace_id}-00f067aa0ba902b7-01"), trace_id)
}

/// A fresh customer id, so a test's orders can be listed apart from any other's.
pub fn customer() -> String {
    format!("c-{}", Uuid::new_v4().simple())
}

/// Asserts the status and returns the JSON body.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let url = response.url().clone();
    let actual = response.status();
    let text = response.text().await.expect("response body");
    assert_eq!(actual, status, "{url} answered {actual}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url} answered non-JSON ({e}): {text}"))
}

/// Asserts an RFC 9457 problem with `status`: the media type and the four members. Returns
/// the problem.
pub async fn expect_problem(response: Response, status: StatusCode) -> Value {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let url = response.url().clone();
    let problem = expect_json(response, status).await;
    assert_eq!(
        content_type, "application/problem+json",
        "{url}: media type of {problem}"
    );
    assert!(
        problem["type"].is_string(),
        "problem without type: {problem}"
    );
    assert!(
        problem["title"].is_string(),
        "problem without title: {problem}"
    );
    assert!(
        problem["detail"].is_string(),
        "problem without detail: {problem}"
    );
    assert_eq!(problem["status"], status.as_u16(), "{problem}");
    // Never internals: no Rust wrappers, error structs or crate names.
    let text = problem.to_string();
    for internal in [
        "Path(", "Query(", "Json(", "Error {", "Some(", "postgres", "deadpool", "rdkafka",
        "panicked", ".rs:",
    ] {
        assert!(!text.contains(internal), "{url}: {internal:?} in {problem}");
    }
    problem
}

/// Every message on `topic` now: as many as the partitions' ends add up to.
pub async fn all_messages(env: &Env, topic: &str) -> Vec<rdkafka::message::OwnedMessage> {
    let (_, end) = crate::group_progress_now(env, &crate::unique("count"), topic).await;
    let messages = crate::read_topic(env, topic, end as usize, Duration::from_secs(60)).await;
    assert_eq!(
        messages.len(),
        end as usize,
        "{topic}: not every message could be read"
    );
    messages
}

/// The `ETag` of a response.
pub fn etag(response: &Response) -> String {
    etag_if_any(response).expect("response has an ETag")
}

/// The `ETag` of a response, if it has one.
pub fn etag_if_any(response: &Response) -> Option<String> {
    response
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
