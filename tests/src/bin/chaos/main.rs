//! `chaos` (`make chaos CHAOS_SEED=<n> CHAOS_SECS=<s>`): the platform under a steady order
//! load while a seeded schedule injects faults, then an oracle that checks that nothing was
//! lost, doubled or left inconsistent. It ends with one line,
//! `chaos: seed <n>, <orders> orders, <faults> faults, violations: <v>`, and exits 1 when
//! v > 0. The seed replays the same orders and the same faults in the same order.
//!
//! # Layout
//! - `main.rs`: the arguments and the run's phases.
//! - [`ledger`]: what the load did to each order, shared by the others.
//! - [`client`]: requests as a client behind a load balancer makes them: any instance,
//!   retried across instances until a deadline.
//! - [`load`]: the open-loop order load and each order's planned actions.
//! - [`faults`]: the seeded fault schedule, injection, recovery, time to converge.
//! - [`oracle`]: settling, then what must hold for every order and the whole namespace.
//! - [`report`]: the figures and the summary line.
//!
//! # A run
//! 1. A private stack (`--stack`, ports shifted by `--offset`, default 3000): PostgreSQL,
//!    Kafka (`--brokers`, passed on as `KAFKA_BROKERS`; `--security`, as `KAFKA_SECURITY`)
//!    and the registry. A secured stack is brought up with the run's namespace as
//!    `KAFKA_NAMESPACE`, so it grants its users' ACLs there before anything connects.
//! 2. `--instances` instances of each service on it, from the build's binaries, in a
//!    namespace and databases of their own, with a short Kafka session timeout so a killed
//!    or paused member's partitions move on within seconds. On a secured stack each
//!    service logs in as its own user (`order`, `payment`, `shipping`), the harness's own
//!    clients (topics, metadata) as `admin` and the `orderflow` tool as `orderflow`: the
//!    ACLs are the ones a deployment has, so a fault cannot pass for lack of them.
//! 3. For `--secs`: the load at `--rate` orders/s, and the faults one after another.
//! 4. The load stops and every order's task ends; the oracle waits for the platform to
//!    settle and checks; the report is printed and the stack stopped.

mod client;
mod faults;
mod ledger;
mod load;
mod oracle;
mod report;

use clap::{Parser, ValueEnum};
use orderflow_tests::{
    cli::Orderflow,
    fixtures::fresh_namespace,
    services::{Options, Service, Services},
    stack::SecondStack,
    Env,
};
use std::{process::ExitCode, sync::Arc, sync::OnceLock, time::Duration};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// payment-service's limit in the run: orders above it are declined.
const PAYMENT_LIMIT_CENTS: i64 = 100_000;

#[derive(Debug, Parser)]
#[command(name = "chaos")]
struct Args {
    /// The seed of the load's plans and the fault schedule (default: a random one, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// How long the load and the faults run, in seconds.
    #[arg(long, default_value_t = 600)]
    secs: u64,
    /// Orders placed per second.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// Instances of each service.
    #[arg(long, default_value_t = 2)]
    instances: usize,
    /// Kafka brokers of the chaos stack: 3, a cluster with replication factor 3 and
    /// `min.insync.replicas` 2; 1, a single broker whose loss stops the whole flow.
    #[arg(long, default_value_t = 3)]
    brokers: usize,
    /// How clients reach Kafka: `sasl_ssl`, SCRAM-SHA-512 over TLS with a user per service
    /// and ACLs in the run's namespace; `plaintext`, no login.
    #[arg(long, value_enum, default_value_t = Security::SaslSsl)]
    security: Security,
    /// The chaos stack's name (its state folder under .local/stacks/). Default: `chaos-cluster`,
    /// or `chaos` with one broker, with `-sasl` appended when secured (a stack keeps the
    /// Kafka mode it was made with, so the modes cannot share one).
    #[arg(long)]
    stack: Option<String>,
    /// Added to every port of the chaos stack.
    #[arg(long, default_value_t = 3000)]
    offset: u16,
}

/// `--security`, named as `KAFKA_SECURITY` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Security {
    #[value(name = "sasl_ssl", alias = "sasl-ssl")]
    SaslSsl,
    Plaintext,
}

impl Security {
    fn as_str(self) -> &'static str {
        match self {
            Security::SaslSsl => "sasl_ssl",
            Security::Plaintext => "plaintext",
        }
    }
}

static STARTED: OnceLock<std::time::Instant> = OnceLock::new();

/// A progress line on stderr, stamped with the time since the run started.
pub fn log(what: &str) {
    let started = STARTED.get_or_init(std::time::Instant::now);
    eprintln!("[chaos +{:>6.1}s] {what}", started.elapsed().as_secs_f64());
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args
        .seed
        .unwrap_or_else(|| rand::random_range(0..1_000_000));
    log(&format!(
        "seed {seed} (replay: make chaos CHAOS_SEED={seed} CHAOS_SECS={})",
        args.secs
    ));
    if run(&args, seed).await {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The whole run; whether it found no violation.
async fn run(args: &Args, seed: u64) -> bool {
    let secured = args.security == Security::SaslSsl;
    let setup = format!(
        "{} broker(s), {}, {} instances per service, {} orders/s",
        args.brokers,
        args.security.as_str(),
        args.instances,
        args.rate
    );
    let name = args.stack.clone().unwrap_or_else(|| {
        let base = if args.brokers == 1 {
            "chaos"
        } else {
            "chaos-cluster"
        };
        format!("{base}{}", if secured { "-sasl" } else { "" })
    });
    // The namespace is chosen before the stack comes up: a secured stack grants its users'
    // ACLs in `KAFKA_NAMESPACE` only (the topics the run makes itself).
    let namespace = fresh_namespace();
    log(&format!("bringing up stack {name} ({setup})"));
    let brokers = args.brokers.to_string();
    let stack = Arc::new(SecondStack::custom(
        &name,
        args.offset,
        &["postgres", "kafka", "registry"],
        &[
            ("KAFKA_BROKERS", &brokers),
            ("KAFKA_SECURITY", args.security.as_str()),
            ("KAFKA_NAMESPACE", &namespace),
        ],
    ));
    let env = Env {
        kafka_login: secured.then(|| stack.login("admin")),
        ..stack.env()
    };
    let logins = if secured {
        Service::ALL
            .iter()
            .flat_map(|s| stack.login(s.kafka_user()).env(s.prefix()))
            .collect()
    } else {
        Vec::new()
    };
    let mut services = start_services(env.clone(), namespace, logins, args.instances).await;
    let client = client::Client::new(&services);
    let ledger = Arc::new(ledger::Ledger::default());

    log(&format!("load and faults for {} s", args.secs));
    let until = Instant::now() + Duration::from_secs(args.secs);
    let stop = CancellationToken::new();
    let load = load::Load {
        client: client.clone(),
        ledger: ledger.clone(),
        seed,
        rate: args.rate,
        limit_cents: PAYMENT_LIMIT_CENTS,
    };
    let injector = faults::Injector {
        stack: stack.clone(),
        env,
        client: client.clone(),
        ledger: ledger.clone(),
        topics: schemas::Topic::ALL
            .iter()
            .map(|t| services.topic(*t))
            .collect(),
        brokers: args.brokers,
    };
    let timer = async {
        tokio::time::sleep_until(until).await;
        log("load stops");
        stop.cancel();
    };
    let (placed, injected, ()) = tokio::join!(
        load.run(stop.clone()),
        injector.run(&mut services, faults::Schedule::new(seed), until),
        timer
    );
    log(&format!(
        "{placed} orders tried, {} faults; every order's task ended; checking",
        injected.len()
    ));

    let cli = Orderflow::for_services(&services);
    let cli = if secured {
        cli.with_kafka_login(&stack.login("orderflow"))
    } else {
        cli
    };
    let oracle = oracle::Oracle {
        services: &services,
        cli: &cli,
        client: &client,
    };
    let mut violations = oracle.settle().await;
    log("settled; checking every order");
    violations.extend(oracle.check(&ledger).await);
    let orders = ledger.snapshot();
    report::Report {
        seed,
        secs: args.secs,
        setup,
        orders: &orders,
        unplaced: ledger.unplaced_list().len(),
        injected: &injected,
        violations: &violations,
    }
    .print();
    violations.is_empty()
}

/// `instances` instances of each service in `namespace`, with `logins` (each service's Kafka
/// user, on a secured stack) and a Kafka session timeout short enough that a killed or paused
/// member's partitions move on within seconds (the default is 45 s).
async fn start_services(
    env: Env,
    namespace: String,
    logins: Vec<(String, String)>,
    instances: usize,
) -> Services {
    let config = std::env::temp_dir().join(format!("orderflow-chaos-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        "[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"1500\"\n",
    )
    .expect("chaos settings file written");
    let config = config.display().to_string();
    let options = Options {
        payment_limit_cents: Some(PAYMENT_LIMIT_CENTS),
        env: ["ORDER_CONFIG", "PAYMENT_CONFIG", "SHIPPING_CONFIG"]
            .iter()
            .map(|k| (k.to_string(), config.clone()))
            .chain(logins)
            .collect(),
        namespace: Some(namespace),
        ..Options::default()
    };
    let mut services = Services::start_with(env, options).await;
    for service in Service::ALL {
        for _ in 1..instances {
            services.start_replica(service).await;
        }
    }
    log(&format!(
        "{instances} instances of each service ready, namespace {}",
        services.iso.namespace
    ));
    services
}
