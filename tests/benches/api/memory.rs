//! How much memory each service holds, from Linux's `/proc/<pid>/status`: `VmRSS` (resident
//! now) when idle, `VmHWM` (the most it was ever resident) after the load, which is the peak of
//! every phase before.

/// Resident memory of `pid` in MiB: (now, peak since the process started).
pub fn resident_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
