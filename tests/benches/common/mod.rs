//! What the benches share: their knobs, medians, the comparison table, and removing the
//! Kafka topics a run created on the shared stack (the fixtures' `Isolated` removes its
//! databases and registry subjects when dropped); [`report`]: the results table and its JSON
//! file; [`svg`]: the charts.
//!
//! The machine the benches run on is small and shared, so no single run is trusted: every
//! figure is taken several times, interleaved with its baseline, and reported as the median
//! of the runs, beside the baseline's median and the median of the per-run ratios (a ratio of
//! two runs made seconds apart is steadier than either figure alone).

pub mod report;
pub mod svg;

use orderflow_tests::Env;
use rdkafka::{
    admin::{AdminClient, AdminOptions},
    client::DefaultClientContext,
};
use std::time::Duration;

/// A numeric setting from the environment, e.g. `BENCH_REPS=5`, or `default`; in a smoke run
/// (`BENCH_SMOKE=1`) an unset knob is at most 1 (one run, one client, one second, one
/// event...), so that the run takes seconds.
pub fn knob(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")),
        Err(_) if report::smoke() => default.min(1),
        Err(_) => default,
    }
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    assert!(!values.is_empty(), "median of no values");
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// `12345.6` as `12,346`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One figure of the system beside the same figure of its baseline, run by run.
pub struct Comparison {
    pub label: String,
    pub baseline_label: String,
    pub unit: &'static str,
    /// The system's figure, run by run.
    pub system: Vec<f64>,
    pub baseline: Vec<f64>,
}

impl Comparison {
    pub fn new(label: &str, baseline_label: &str, unit: &'static str) -> Self {
        Comparison {
            label: label.to_owned(),
            baseline_label: baseline_label.to_owned(),
            unit,
            system: Vec::new(),
            baseline: Vec::new(),
        }
    }

    /// The figure over its baseline, run by run (paired by position).
    fn ratios(&self) -> Vec<f64> {
        self.system
            .iter()
            .zip(&self.baseline)
            .map(|(m, b)| m / b)
            .collect()
    }

    /// The medians as a row of the results table.
    pub fn row(&self, target: report::Target) -> report::Row {
        report::Row {
            figure: self.label.clone(),
            unit: self.unit,
            now: median(&self.system),
            baseline: Some((self.baseline_label.clone(), median(&self.baseline))),
            target,
        }
    }

    /// e.g. `relay: 12,345 ev/s (median of 3)  raw producer: 45,678 ev/s  ratio 0.27`, then the
    /// single runs, so the spread is visible.
    pub fn print(&self) {
        let runs = |values: &[f64]| {
            values
                .iter()
                .map(|v| thousands(*v))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        println!(
            "{}: {} {} (median of {})  {}: {} {}  ratio {:.2}",
            self.label,
            thousands(median(&self.system)),
            self.unit,
            self.system.len(),
            self.baseline_label,
            thousands(median(&self.baseline)),
            self.unit,
            median(&self.ratios()),
        );
        println!(
            "    runs: {} [{}]  {} [{}]",
            self.label,
            runs(&self.system),
            self.baseline_label,
            runs(&self.baseline),
        );
    }
}

/// Deletes every topic whose name starts with `namespace` (a fresh, UUID-named prefix).
pub async fn delete_namespace(env: &Env, namespace: &str) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let timeout = Duration::from_secs(10);
    let metadata = env
        .client_config()
        .create::<BaseConsumer>()
        .and_then(|c| c.fetch_metadata(None, timeout));
    let topics: Vec<String> = match metadata {
        Ok(m) => m
            .topics()
            .iter()
            .map(|t| t.name().to_owned())
            .filter(|name| name.starts_with(namespace))
            .collect(),
        Err(e) => {
            eprintln!("warning: topics of {namespace} not listed: {e}");
            return;
        }
    };
    if topics.is_empty() {
        return;
    }
    let admin: AdminClient<DefaultClientContext> =
        env.client_config().create().expect("admin client");
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    if let Err(e) = admin
        .delete_topics(
            &names,
            &AdminOptions::new().operation_timeout(Some(timeout)),
        )
        .await
    {
        eprintln!("warning: topics of {namespace} not deleted: {e}");
    }
}

/// The order the benches place: two items, as the order-service would announce it.
pub fn sample_order(customer_id: String) -> schemas::OrderPlaced {
    use schemas::{EventHeader, OrderItem};
    schemas::OrderPlaced {
        header: EventHeader::new(uuid::Uuid::now_v7()),
        customer_id,
        currency: "EUR".into(),
        items: vec![
            OrderItem {
                sku: "SKU-1001".into(),
                quantity: 2,
                unit_price_cents: 1999,
            },
            OrderItem {
                sku: "SKU-2002".into(),
                quantity: 1,
                unit_price_cents: 4550,
            },
        ],
        total_cents: 2 * 1999 + 4550,
        sales_channel: "api".into(),
    }
}
