//! Which processes a load keeps busy: CPU time per process group over a measurement, from
//! Linux's `/proc` (USER_HZ = 100 ticks per second). On a shared machine "postgres" and "java"
//! (Kafka, the registry) include other users' work, and the time of processes that exit
//! during the window is missed: a rough map of where the time goes, not an exact account.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};
use tokio::time::Instant;

const TICKS_PER_SECOND: f64 = 100.0;

/// Process groups: the bench's own processes by name, then PostgreSQL, the JVMs, the rest.
pub struct CpuMeter {
    ours: Vec<(&'static str, u32)>,
    start: Snapshot,
}

struct Snapshot {
    at: Instant,
    /// Group and user + system ticks of every process, by id.
    processes: HashMap<u32, (&'static str, u64)>,
    machine_busy: u64,
}

impl CpuMeter {
    /// Starts measuring; `ours` names the processes to show on their own.
    pub fn start(ours: Vec<(&'static str, u32)>) -> Self {
        let start = snapshot(&ours);
        CpuMeter { ours, start }
    }

    /// CPU use since the start in percent of one core, by group, and the whole machine's.
    pub fn stop(&self) -> Usage {
        let end = snapshot(&self.ours);
        let wall = end.at - self.start.at;
        let percent = |ticks: u64| 100.0 * ticks as f64 / TICKS_PER_SECOND / wall.as_secs_f64();
        let mut ticks: BTreeMap<&'static str, u64> = BTreeMap::new();
        for (name, _) in &self.ours {
            ticks.insert(name, 0);
        }
        for group in OTHERS {
            ticks.insert(group, 0);
        }
        for (pid, (group, now)) in &end.processes {
            // A process that started during the window counts from zero.
            let before = match self.start.processes.get(pid) {
                Some((g, t)) if g == group => *t,
                _ => 0,
            };
            *ticks.entry(group).or_default() += now.saturating_sub(before);
        }
        let groups = ticks
            .into_iter()
            .map(|(name, t)| (name, percent(t)))
            .collect();
        Usage {
            wall,
            groups,
            machine: percent(end.machine_busy.saturating_sub(self.start.machine_busy)),
        }
    }
}

pub struct Usage {
    pub wall: Duration,
    pub groups: Vec<(&'static str, f64)>,
    pub machine: f64,
}

impl Usage {
    /// Each group's median over several measurements of the same phase.
    pub fn median_of(usages: &[Usage]) -> String {
        let Some(first) = usages.first() else {
            return "no samples".into();
        };
        let groups: Vec<String> = first
            .groups
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let values: Vec<f64> = usages.iter().map(|u| u.groups[i].1).collect();
                format!("{name} {:.0}%", crate::common::median(&values))
            })
            .collect();
        let machine: Vec<f64> = usages.iter().map(|u| u.machine).collect();
        format!(
            "{}  (machine busy {:.0}%)",
            groups.join("  "),
            crate::common::median(&machine)
        )
    }

    pub fn line(&self) -> String {
        let groups: Vec<String> = self
            .groups
            .iter()
            .map(|(name, pct)| format!("{name} {pct:.0}%"))
            .collect();
        format!(
            "{}  (machine busy {:.0}% of {} cores, over {:.1} s)",
            groups.join("  "),
            self.machine,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            self.wall.as_secs_f64()
        )
    }
}

const OTHERS: [&str; 3] = ["postgres", "java (kafka, registry)", "other"];

fn snapshot(ours: &[(&'static str, u32)]) -> Snapshot {
    let mut processes = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Some((command, ticks)) = process(pid) else {
                continue;
            };
            let group = match ours.iter().find(|(_, p)| *p == pid) {
                Some((name, _)) => *name,
                None if command == "postgres" => OTHERS[0],
                None if command == "java" => OTHERS[1],
                None => OTHERS[2],
            };
            processes.insert(pid, (group, ticks));
        }
    }
    Snapshot {
        at: Instant::now(),
        processes,
        machine_busy: machine_busy(),
    }
}

/// The command name and user + system ticks of `pid`.
fn process(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ...`: comm may hold spaces and parentheses, so split at the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let command = stat[open + 1..close].to_owned();
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // Fields 14 and 15 of the line (utime, stime) are 11 and 12 after the command.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((command, utime + stime))
}

/// Busy ticks of all cores together (everything but idle and iowait).
fn machine_busy() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(cpu) = stat.lines().next() else {
        return 0;
    };
    let values: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    values.iter().take(8).sum::<u64>()
        - values.get(3).copied().unwrap_or(0)
        - values.get(4).copied().unwrap_or(0)
}
