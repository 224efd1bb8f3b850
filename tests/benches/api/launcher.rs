//! Starts the three services as processes on an isolated slice of the stack: fresh databases,
//! a fresh Kafka namespace, free ports, logs in a file each.
//!
//! The binaries are release builds (a benchmark of debug builds would measure the compiler's
//! settings): [`service_binaries`] runs `cargo build --release` for the three service crates,
//! which is a no-op when they are up to date, and finds them beside this bench's executable.
//! A bench built by `cargo test --benches` (the smoke runs, `BENCH_SMOKE=1`) is a debug build
//! and gets debug services, which that build already made.

use orderflow_tests::{
    fixtures::Isolated,
    services::{free_port, GROUPS},
    Env,
};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};
use tokio::time::Instant;

const SERVICES: [&str; 3] = ["order-service", "payment-service", "shipping-service"];
/// How long a service may take to answer `/health/ready` with 200.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// How long a service may take to stop after SIGTERM before it is killed.
const STOP_WITHIN: Duration = Duration::from_secs(15);

/// Builds the service binaries in the profile of this bench's executable (release under
/// `cargo bench`, debug under `cargo test --benches`) and returns the directory holding them.
pub fn service_binaries() -> PathBuf {
    // This bench runs from <target>/<profile>/deps; the binaries are in <target>/<profile>.
    let exe = std::env::current_exe().expect("own path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("bench executable lives in <target>/<profile>/deps")
        .to_owned();
    let release = dir.file_name().is_some_and(|name| name == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--bins", "--quiet"]);
    if release {
        build.arg("--release");
    }
    for service in SERVICES {
        build.args(["-p", service]);
    }
    let status = build
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build of the services failed");
    for service in SERVICES {
        assert!(
            dir.join(service).is_file(),
            "{} missing after the build",
            dir.join(service).display()
        );
    }
    dir
}

/// One service process.
pub struct Service {
    name: &'static str,
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Service {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then a kill if it has not exited within [`STOP_WITHIN`].
    async fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + STOP_WITHIN;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("warning: {} ignored SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    /// A bench that panics still leaves no process behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The three services on their own databases and namespace.
pub struct Stack {
    // Fields drop in order: the processes end before their databases go.
    pub order: Service,
    pub payment: Service,
    pub shipping: Service,
    /// order-service's gRPC port (the grpc bench's; the api bench shares this launcher).
    #[allow(dead_code)]
    pub order_grpc_port: u16,
    pub log_dir: PathBuf,
    /// The three services' databases: order, payment, shipping.
    databases: [String; 3],
    /// The namespace and the order-service database (where the bench checks how far the flow
    /// got); the other two databases are its extra ones. Dropped, it removes them (unless
    /// the bench panicked) and the registry subjects.
    pub iso: Isolated,
}

impl Stack {
    /// Starts the services and waits until each is ready.
    pub async fn start(env: Env, binaries: &Path) -> Stack {
        let iso = Isolated::new(env.clone(), &GROUPS).await;
        let payment_db = iso.extra_database().await;
        let shipping_db = iso.extra_database().await;
        let log_dir = std::env::temp_dir().join(format!(
            "orderflow-bench-{}",
            iso.namespace.trim_end_matches('.')
        ));
        std::fs::create_dir_all(&log_dir).expect("log directory");

        let launch =
            |name: &'static str, prefix: &str, database: &str, extra: &[(&str, String)]| {
                let port = free_port();
                let log = log_dir.join(format!("{name}.log"));
                let file = std::fs::File::create(&log).expect("log file");
                let child = Command::new(binaries.join(name))
                    .env(format!("{prefix}__DATABASE__URL"), database)
                    .env(format!("{prefix}__HTTP__HOST"), "127.0.0.1")
                    .env(format!("{prefix}__HTTP__PORT"), port.to_string())
                    .env("ORDERFLOW__KAFKA__BOOTSTRAP_SERVERS", &env.kafka)
                    .env("ORDERFLOW__KAFKA__NAMESPACE", &iso.namespace)
                    .env("ORDERFLOW__REGISTRY__URL", &env.registry)
                    .envs(extra.iter().map(|(k, v)| (k, v)))
                    // Spans stay local: no exporter competes for the two cores.
                    .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
                    .stdin(Stdio::null())
                    .stdout(file.try_clone().expect("log file handle"))
                    .stderr(file)
                    .spawn()
                    .unwrap_or_else(|e| panic!("{name} did not start: {e}"));
                Service {
                    name,
                    child,
                    port,
                    log,
                }
            };
        let order_grpc_port = free_port();
        let order_grpc = [("ORDER__GRPC__PORT", order_grpc_port.to_string())];
        let mut stack = Stack {
            order: launch("order-service", "ORDER", &iso.database_url, &order_grpc),
            payment: launch("payment-service", "PAYMENT", &payment_db, &[]),
            shipping: launch("shipping-service", "SHIPPING", &shipping_db, &[]),
            order_grpc_port,
            log_dir,
            databases: [iso.database_url.clone(), payment_db, shipping_db],
            iso,
        };
        let http = reqwest::Client::new();
        for service in [&mut stack.order, &mut stack.payment, &mut stack.shipping] {
            wait_ready(&http, service).await;
        }
        stack
    }

    /// `ANALYZE` in the three databases: statistics of the tables as they are now, as
    /// autovacuum gives a running system within its first minutes (a fresh database has none,
    /// and plans cached before them may not suit the tables grown since).
    #[allow(dead_code)] // The api bench's; the grpc bench shares this launcher.
    pub async fn analyze(&self) {
        for url in &self.databases {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .expect("service database reachable");
            tokio::spawn(connection);
            client.batch_execute("ANALYZE").await.expect("ANALYZE");
        }
    }

    /// Stops the services gracefully and removes their topics, databases and subjects.
    pub async fn stop(mut self) {
        for service in [&mut self.order, &mut self.payment, &mut self.shipping] {
            service.stop().await;
        }
        crate::common::delete_namespace(&self.iso.env, &self.iso.namespace).await;
    }
}

async fn wait_ready(http: &reqwest::Client, service: &mut Service) {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Ok(Some(status)) = service.child.try_wait() {
            panic!(
                "{} exited ({status}) before it was ready; log: {}",
                service.name,
                service.log.display()
            );
        }
        let ready = http
            .get(service.url("/health/ready"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|r| r.status() == reqwest::StatusCode::OK);
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready within {READY_WITHIN:?}; log: {}",
            service.name,
            service.log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
