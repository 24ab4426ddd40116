//! What the machine was like when a benchmark ran: the load average and how long an fsync
//! takes on the disk under the benchmark's directory (SQLite `synchronous = "full"` waits for
//! one per commit, so a slow or busy disk shows in every engine figure).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use crate::report::{Latencies, micros};

/// `/proc/loadavg`'s three averages.
pub(crate) fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Times `n` 4 KiB writes each followed by `fdatasync` in `dir`; `"p50 …, p99 …"`.
pub(crate) fn fsync_latency(dir: &Path, n: usize) -> String {
    let path = dir.join("fsync-probe");
    let probe = || -> std::io::Result<Latencies> {
        let mut file = std::fs::File::create(&path)?;
        let block = [0u8; 4096];
        let mut lat = Latencies::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            file.write_all(&block)?;
            file.sync_data()?;
            lat.record(t.elapsed());
        }
        Ok(lat)
    };
    let out = match probe() {
        Ok(mut lat) => format!(
            "p50 {}, p99 {} ({n} writes)",
            micros(lat.quantile(0.5)),
            micros(lat.quantile(0.99))
        ),
        Err(e) => format!("not measured ({e})"),
    };
    let _ = std::fs::remove_file(&path);
    out
}

/// Writes the header's fsync probe makes.
pub(crate) const FSYNC_PROBES: usize = 50;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_the_temp_dir() {
        let line = fsync_latency(&std::env::temp_dir(), 3);
        assert!(line.starts_with("p50 "), "{line}");
        assert!(!load_average().is_empty());
    }
}
