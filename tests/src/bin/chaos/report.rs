//! The run's figures and its one summary line.

use crate::{
    faults::{by_kind, Injected},
    ledger::Order,
    oracle::Violation,
};
use std::time::Duration;

pub struct Report<'a> {
    pub seed: u64,
    pub secs: u64,
    /// How the stack was run, e.g. `1 broker, plaintext, 2 instances per service`.
    pub setup: String,
    pub orders: &'a [Order],
    pub unplaced: usize,
    pub injected: &'a [Injected],
    pub violations: &'a [Violation],
}

impl Report<'_> {
    /// Prints the figures, every violation, and the summary line last.
    pub fn print(&self) {
        println!("chaos: seed {}, {} s, {}", self.seed, self.secs, self.setup);
        let count = |f: &dyn Fn(&Order) -> bool| self.orders.iter().filter(|o| f(o)).count();
        println!(
            "orders: {} accepted (202), {} never accepted; {} declined, {} cancellations taken, {} dispatched, {} delivered",
            self.orders.len(),
            self.unplaced,
            count(&|o| o.declines),
            count(&|o| o.cancel_requested && !o.declines),
            count(&|o| o.dispatched),
            count(&|o| o.delivered),
        );
        let mut kinds: Vec<_> = by_kind(self.injected).into_iter().collect();
        kinds.sort();
        let kinds: Vec<String> = kinds
            .iter()
            .map(|(kind, n)| format!("{} {n}", kind.name()))
            .collect();
        println!(
            "faults: {} injected: {}",
            self.injected.len(),
            kinds.join(", ")
        );
        let unconverged = self
            .injected
            .iter()
            .filter(|i| i.converged_in.is_none())
            .count();
        match self
            .injected
            .iter()
            .filter_map(|i| Some((i.converged_in?, i)))
            .max_by_key(|(d, _)| *d)
        {
            Some((longest, i)) => println!(
                "longest time to converge after a fault: {:.1} s ({} on {}); {unconverged} did not converge in time",
                longest.as_secs_f64(),
                i.kind.name(),
                i.target
            ),
            None => println!("longest time to converge after a fault: -"),
        }
        let mut latencies: Vec<Duration> =
            self.orders.iter().filter_map(Order::end_to_end).collect();
        latencies.sort();
        println!(
            "end-to-end under faults (POST to the payment outcome in the view), {} orders: p50 {}, p99 {}, max {}",
            latencies.len(),
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0),
        );
        for v in self.violations {
            println!("violation: {v}");
        }
        println!(
            "chaos: seed {}, {} orders, {} faults, violations: {}",
            self.seed,
            self.orders.len(),
            self.injected.len(),
            self.violations.len()
        );
    }
}

/// The `q` quantile of sorted `values` (nearest rank), as seconds.
fn percentile(sorted: &[Duration], q: f64) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    format!("{:.2} s", sorted[rank - 1].as_secs_f64())
}
