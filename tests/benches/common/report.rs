//! The results of a bench as people read them: a table (figure, now, baseline, ratio, target,
//! met or not) on stdout, and the same rows appended to a JSON file per `make bench` run
//! (`bench/results/<date>.json`, or `BENCH_RESULTS`), with the facts of the machine: its
//! cores, the load average sampled during the run, the commit and the compiler.
//!
//! A figure with a baseline is judged on the ratio (`now / baseline`, e.g. GET at least half
//! of a raw PostgreSQL select); a latency on its own value (e.g. p99 at most 20 ms). Smoke runs
//! (`BENCH_SMOKE=1`) print the table but judge nothing and write no file.

use serde_json::{json, Value};
use std::{
    path::PathBuf,
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::Duration,
};

/// What a figure must reach.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// `now / baseline` at least this.
    RatioAtLeast(f64),
    /// `now` at most this (in the row's unit).
    AtMost(f64),
    /// Shown for information.
    None,
}

/// One row of the table.
pub struct Row {
    pub figure: String,
    pub unit: &'static str,
    pub now: f64,
    pub baseline: Option<(String, f64)>,
    pub target: Target,
}

impl Row {
    pub fn ratio(&self) -> Option<f64> {
        self.baseline.as_ref().map(|(_, b)| self.now / b)
    }

    /// Whether the target is met; `None` when there is no target.
    pub fn met(&self) -> Option<bool> {
        match self.target {
            Target::RatioAtLeast(min) => Some(self.ratio().is_some_and(|r| r >= min)),
            Target::AtMost(max) => Some(self.now <= max),
            Target::None => None,
        }
    }

    fn target_text(&self) -> String {
        match self.target {
            Target::RatioAtLeast(min) => format!("ratio >= {min}"),
            Target::AtMost(max) => format!("<= {max} {}", self.unit),
            Target::None => String::new(),
        }
    }
}

/// Samples `/proc/loadavg` (the one-minute average) every few seconds until stopped.
pub struct LoadSampler {
    samples: Arc<Mutex<Vec<f64>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LoadSampler {
    const EVERY: Duration = Duration::from_secs(5);

    pub fn start() -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (samples, stop) = (samples.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(load) = load_average() {
                        samples.lock().expect("load samples").push(load);
                    }
                    // Short naps, so that stopping does not wait for a whole interval.
                    for _ in 0..(Self::EVERY.as_millis() / 100) {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            })
        };
        LoadSampler {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; returns the samples.
    fn finish(&mut self) -> Vec<f64> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.samples.lock().expect("load samples").clone()
    }
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether this is a smoke run (`BENCH_SMOKE=1`): one tiny run, figures not judged.
pub fn smoke() -> bool {
    std::env::var("BENCH_SMOKE").is_ok_and(|v| v != "0" && !v.is_empty())
}

/// A bench's table, filled as figures come in.
pub struct Report {
    bench: &'static str,
    /// The run's settings (clients, seconds, repetitions, ...), as the bench states them.
    settings: Value,
    rows: Vec<Row>,
    load: LoadSampler,
}

impl Report {
    /// Starts the report (and the load sampling) of `bench`.
    pub fn start(bench: &'static str, settings: Value) -> Self {
        Report {
            bench,
            settings,
            rows: Vec::new(),
            load: LoadSampler::start(),
        }
    }

    pub fn add(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// The medians of each comparison, as rows without a target.
    pub fn add_all(&mut self, comparisons: &[&super::Comparison]) {
        for comparison in comparisons {
            self.add(comparison.row(Target::None));
        }
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Prints the table and, unless this is a smoke run, appends it to the results file,
    /// whose path it returns.
    pub fn finish(mut self) -> Option<PathBuf> {
        let load = self.load.finish();
        self.print(&load);
        if smoke() {
            println!("(smoke run: figures not judged, nothing written)");
            return None;
        }
        let path = results_path();
        let section = self.json(&load);
        if let Err(e) = append(&path, section) {
            eprintln!("warning: results not written to {}: {e}", path.display());
            return None;
        }
        println!("results appended to {}", path.display());
        Some(path)
    }

    fn print(&self, load: &[f64]) {
        let header = ["figure", "now", "baseline", "ratio", "target", "met"];
        let mut lines = vec![header.map(String::from).to_vec()];
        for row in &self.rows {
            lines.push(vec![
                row.figure.clone(),
                format!("{} {}", figure(row.now), row.unit),
                row.baseline
                    .as_ref()
                    .map(|(label, b)| format!("{} ({label})", figure(*b)))
                    .unwrap_or_default(),
                row.ratio().map(|r| format!("{r:.2}")).unwrap_or_default(),
                row.target_text(),
                match (smoke(), row.met()) {
                    (true, Some(_)) => "(smoke)".into(),
                    (false, Some(true)) => "yes".into(),
                    (false, Some(false)) => "NO".into(),
                    (_, None) => String::new(),
                },
            ]);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|c| {
                lines
                    .iter()
                    .map(|l| l[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        println!();
        println!(
            "== {} ({}; load average {}) ==",
            self.bench,
            self.settings,
            load_text(load)
        );
        for line in lines {
            let cells: Vec<String> = line
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            println!("{}", cells.join("  ").trim_end());
        }
    }

    fn json(&self, load: &[f64]) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                json!({
                    "figure": row.figure,
                    "unit": row.unit,
                    "now": row.now,
                    "baseline": row.baseline.as_ref().map(|(label, value)| json!({
                        "label": label,
                        "value": value,
                    })),
                    "ratio": row.ratio(),
                    "target": row.target_text(),
                    "met": row.met(),
                })
            })
            .collect();
        json!({
            "bench": self.bench,
            "finished_at": chrono::Utc::now().to_rfc3339(),
            "settings": self.settings,
            "load_average_1m": {
                "samples": load.len(),
                "min": load.iter().copied().reduce(f64::min),
                "median": (!load.is_empty()).then(|| super::median(load)),
                "max": load.iter().copied().reduce(f64::max),
            },
            "rows": rows,
        })
    }
}

/// `1234.5` as `1,235`, `12.345` as `12.3`, `1.2345` as `1.23`.
fn figure(value: f64) -> String {
    if value.abs() >= 100.0 {
        super::thousands(value)
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn load_text(load: &[f64]) -> String {
    match (
        load.iter().copied().reduce(f64::min),
        load.iter().copied().reduce(f64::max),
    ) {
        (Some(min), Some(max)) => format!(
            "{min:.1} to {max:.1}, median {:.1}, on {} cores",
            super::median(load),
            cores()
        ),
        _ => format!("not sampled, {} cores", cores()),
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `BENCH_RESULTS` (`make bench` names one file for all its benches), else
/// `bench/results/<UTC date>.json` in the repository.
pub fn results_path() -> PathBuf {
    match std::env::var_os("BENCH_RESULTS") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/results"))
            .join(format!("{}.json", chrono::Utc::now().format("%Y-%m-%d"))),
    }
}

/// Adds `section` to the file's benches, creating the file with the machine's facts.
fn append(path: &PathBuf, section: Value) -> std::io::Result<()> {
    let mut document = match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(std::io::Error::other)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({
            "machine": machine(),
            "benches": [],
        }),
        Err(e) => return Err(e),
    };
    document["benches"]
        .as_array_mut()
        .ok_or_else(|| std::io::Error::other("no \"benches\" list"))?
        .push(section);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(&document).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}

/// The facts of the machine and the build that the figures depend on.
fn machine() -> Value {
    let output = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    json!({
        "cores": cores(),
        "cpu": std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim().to_owned()))
        }),
        "os": output("uname", &["-srm"]),
        "git_commit": output("git", &["rev-parse", "HEAD"]),
        "git_dirty": output("git", &["status", "--porcelain"]).map(|s| !s.is_empty()),
        "rustc": output(&rustc, &["--version"]),
        "started_at": chrono::Utc::now().to_rfc3339(),
    })
}
