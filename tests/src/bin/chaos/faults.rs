//! The fault schedule and its injection.
//!
//! [`Schedule`] draws, from the seed alone, an endless sequence of faults: which kind, which
//! service and instance, how long the fault lasts and the quiet gap before it. The run
//! injects them one at a time: wait the gap, inject, hold, recover, then wait until the
//! platform has **converged**: every order placed before the recovery shows its payment's
//! outcome in the view. That time is the fault's time to converge. One fault at a time keeps
//! a failure attributable to the fault that caused it, and the seed replays the same sequence.
//!
//! Every fault is undone before the next: a killed or stopped instance is started again, a
//! paused one continued, a killed broker restarted; an added instance is matched by a removed
//! one, so each service keeps its number of instances.

use crate::{client::Client, ledger::Ledger, log};
use orderflow_tests::{
    services::{Replica, Service, Services},
    stack::SecondStack,
    Env,
};
use rand::{
    rngs::StdRng,
    seq::{IndexedRandom, SliceRandom},
    Rng, SeedableRng,
};
use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::Arc,
    time::Duration,
};
use tokio::time::Instant;

/// How long the platform may take to converge after a fault before the run moves on (the
/// oracle at the end still checks every order).
const CONVERGE_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// SIGKILL an instance, start it again after the hold.
    KillInstance,
    /// SIGTERM an instance (graceful drain), start it again after the hold.
    TermInstance,
    /// SIGSTOP an instance for the hold, then SIGCONT.
    PauseInstance,
    /// SIGKILL the broker leading most partitions, start it again after the hold.
    KillBroker,
    /// PostgreSQL fast shutdown (SIGINT) and start.
    RestartPostgres,
    /// Stop and start the schema registry.
    RestartRegistry,
    /// Add an instance of a service, and after the hold remove one (a rebalance each time).
    Rebalance,
}

impl Kind {
    /// The kinds by weight: instance faults are the most common.
    const WEIGHTS: [(Kind, u32); 7] = [
        (Kind::KillInstance, 6),
        (Kind::TermInstance, 3),
        (Kind::PauseInstance, 4),
        (Kind::KillBroker, 2),
        (Kind::RestartPostgres, 2),
        (Kind::RestartRegistry, 1),
        (Kind::Rebalance, 3),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::KillInstance => "sigkill-instance",
            Kind::TermInstance => "sigterm-instance",
            Kind::PauseInstance => "sigstop-instance",
            Kind::KillBroker => "sigkill-broker",
            Kind::RestartPostgres => "postgres-restart",
            Kind::RestartRegistry => "registry-restart",
            Kind::Rebalance => "rebalance",
        }
    }
}

/// One fault as the schedule drew it.
#[derive(Clone, Debug)]
pub struct Fault {
    pub kind: Kind,
    /// For instance faults and rebalances.
    pub service: Service,
    /// Picks the instance among those running (modulo their number).
    pub pick: usize,
    /// How long the fault lasts before it is undone.
    pub hold: Duration,
    /// The quiet time before it.
    pub gap: Duration,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (hold {:?})", self.kind.name(), self.hold)
    }
}

/// The faults a seed gives, in order: first every kind once, in an order the seed shuffles
/// (so that even a short run meets each kind), then kinds drawn by weight.
pub struct Schedule {
    rng: StdRng,
    first: Vec<Kind>,
}

impl Schedule {
    pub fn new(seed: u64) -> Self {
        // Apart from the load's sequence, which uses the seed as it is.
        let mut rng = StdRng::seed_from_u64(seed ^ 0x6368_616f_735f_6661);
        let mut first: Vec<Kind> = Kind::WEIGHTS.iter().map(|(k, _)| *k).collect();
        first.shuffle(&mut rng);
        Schedule { rng, first }
    }

    fn draw_kind(&mut self) -> Kind {
        if let Some(kind) = self.first.pop() {
            return kind;
        }
        Kind::WEIGHTS
            .choose_weighted(&mut self.rng, |(_, weight)| *weight)
            .expect("positive weights")
            .0
    }
}

impl Iterator for Schedule {
    type Item = Fault;

    fn next(&mut self) -> Option<Fault> {
        let kind = self.draw_kind();
        let rng = &mut self.rng;
        Some(Fault {
            kind,
            service: Service::ALL[rng.random_range(0..Service::ALL.len())],
            pick: rng.random_range(0..64),
            hold: Duration::from_millis(rng.random_range(1_000..=8_000)),
            gap: Duration::from_millis(rng.random_range(3_000..=10_000)),
        })
    }
}

/// What one injected fault did.
#[derive(Clone, Debug)]
pub struct Injected {
    pub kind: Kind,
    /// What exactly was hit, e.g. `payment-service#4` or `broker 1`.
    pub target: String,
    /// From the recovery to every earlier order showing its payment outcome; `None` when that
    /// did not happen within [`CONVERGE_DEADLINE`].
    pub converged_in: Option<Duration>,
}

/// Injects faults into the chaos stack and the service instances.
pub struct Injector {
    pub stack: Arc<SecondStack>,
    pub env: Env,
    pub client: Client,
    pub ledger: Arc<Ledger>,
    /// The namespace's contract topics, whose partition leaders decide which broker to kill.
    pub topics: Vec<String>,
    /// Brokers in the stack's Kafka (`KAFKA_BROKERS`).
    pub brokers: usize,
}

impl Injector {
    /// Injects `schedule`'s faults one after another until `until`; returns what was done.
    pub async fn run(
        &self,
        services: &mut Services,
        schedule: Schedule,
        until: Instant,
    ) -> Vec<Injected> {
        let mut done = Vec::new();
        for fault in schedule {
            if Instant::now() + fault.gap >= until {
                break;
            }
            tokio::time::sleep(fault.gap).await;
            let target = self.inject(services, &fault).await;
            let recovered = Instant::now();
            let converged_in = self.converge(recovered).await;
            log(&format!(
                "{fault} on {target}: converged in {}",
                converged_in.map_or("(not within the deadline)".into(), |d| format!("{d:.1?}"))
            ));
            done.push(Injected {
                kind: fault.kind,
                target,
                converged_in,
            });
        }
        done
    }

    /// Injects `fault` and undoes it after its hold; returns what it hit.
    async fn inject(&self, services: &mut Services, fault: &Fault) -> String {
        log(&format!("inject {fault}"));
        match fault.kind {
            Kind::KillInstance | Kind::TermInstance | Kind::PauseInstance => {
                let replica = pick(services, fault.service, fault.pick);
                let target = services.label(replica);
                match fault.kind {
                    Kind::KillInstance => services.kill_replica(replica).await,
                    Kind::TermInstance => services.stop_replica(replica).await,
                    _ => services.signal(replica, "STOP"),
                }
                tokio::time::sleep(fault.hold).await;
                if fault.kind == Kind::PauseInstance {
                    services.signal(replica, "CONT");
                } else {
                    services.restart_replica(replica).await;
                }
                target
            }
            Kind::KillBroker => {
                let broker = self.leader_of_most_partitions().await;
                let component = broker_component(broker, self.brokers);
                let again = component.clone();
                self.stack_op(move |s| s.kill(&component)).await;
                tokio::time::sleep(fault.hold).await;
                self.stack_op(move |s| s.start(&again)).await;
                format!("broker {broker}")
            }
            Kind::RestartPostgres => {
                self.restart_component("postgres", fault.hold).await;
                "postgres".into()
            }
            Kind::RestartRegistry => {
                self.restart_component("registry", fault.hold).await;
                "registry".into()
            }
            Kind::Rebalance => {
                let added = services.start_replica(fault.service).await;
                self.client.refresh(services);
                tokio::time::sleep(fault.hold).await;
                let removed = pick(services, fault.service, fault.pick);
                services.stop_replica(removed).await;
                self.client.refresh(services);
                format!("+{} -{}", services.label(added), services.label(removed))
            }
        }
    }

    /// Stops `component` (gracefully: PostgreSQL's fast shutdown), waits `hold`, starts it.
    async fn restart_component(&self, component: &'static str, hold: Duration) {
        self.stack_op(move |s| s.stop(component)).await;
        tokio::time::sleep(hold).await;
        self.stack_op(move |s| s.start(component)).await;
    }

    /// Runs a blocking `stack.sh` command off the runtime, so the load goes on meanwhile.
    async fn stack_op(&self, op: impl FnOnce(&SecondStack) + Send + 'static) {
        let stack = self.stack.clone();
        tokio::task::spawn_blocking(move || op(&stack))
            .await
            .expect("stack.sh task");
    }

    /// The id of the broker that leads most partitions of the contract topics.
    async fn leader_of_most_partitions(&self) -> i32 {
        let (env, topics) = (self.env.clone(), self.topics.clone());
        tokio::task::spawn_blocking(move || leaders(&env, &topics))
            .await
            .expect("metadata task")
            .into_iter()
            .max_by_key(|&(broker, partitions)| (partitions, -broker))
            .map(|(broker, _)| broker)
            .expect("the contract topics have leaders")
    }

    /// Waits until every order placed before `recovered` shows its payment outcome.
    async fn converge(&self, recovered: Instant) -> Option<Duration> {
        let deadline = recovered + CONVERGE_DEADLINE;
        while Instant::now() < deadline {
            if self.ledger.undecided_before(recovered) == 0 {
                return Some(recovered.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

/// The `pick`-th running instance of `service`, counting round.
fn pick(services: &Services, service: Service, pick: usize) -> Replica {
    let running = services.running(service);
    running[pick % running.len()]
}

/// How many partitions of `topics` each broker leads.
fn leaders(env: &Env, topics: &[String]) -> BTreeMap<i32, usize> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = env.client_config().create().expect("metadata client");
    let mut led = BTreeMap::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            *led.entry(partition.leader()).or_default() += 1;
        }
    }
    led
}

/// The `stack.sh` component that runs broker `id`: `kafka` alone, `kafka-<id>` in a cluster.
fn broker_component(id: i32, brokers: usize) -> String {
    if brokers == 1 {
        "kafka".into()
    } else {
        format!("kafka-{id}")
    }
}

/// How many faults of each kind.
pub fn by_kind(injected: &[Injected]) -> HashMap<Kind, usize> {
    let mut counts = HashMap::new();
    for i in injected {
        *counts.entry(i.kind).or_default() += 1;
    }
    counts
}
