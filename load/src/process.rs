//! Processes and cores: the benchmarks pin themselves (the load side) to one core and each
//! server to the other with `taskset` (util-linux), read each process's CPU time from
//! `/proc/PID/stat` and what every other process used on its core from `/proc/stat`, and show
//! the core a server may run on (`Cpus_allowed_list`), so a reader can check the server really
//! had one core, and had it to itself.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::Result;

/// Set in the environment of the re-executed, pinned load tool.
const PINNED: &str = "SWITCHBOARD_LOAD_PINNED";

/// Kernel clock ticks per second of `/proc/PID/stat` (`getconf CLK_TCK`: 100 on every
/// mainstream Linux).
const CLK_TCK: f64 = 100.0;

/// Runs this very command again under `taskset -c CPU` unless it already is. `Some(code)` when
/// it did (the caller exits with it), `None` in the pinned process.
///
/// # Errors
/// `taskset` cannot be run.
pub(crate) fn pin_self(cpu: Option<usize>) -> Result<Option<i32>> {
    let Some(cpu) = cpu else { return Ok(None) };
    if std::env::var_os(PINNED).is_some() {
        return Ok(None);
    }
    let exe = std::env::current_exe()?;
    let status = std::process::Command::new("taskset")
        .arg("-c")
        .arg(cpu.to_string())
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(PINNED, "1")
        .status()
        .map_err(|e| format!("cannot run taskset (util-linux) to pin the load side: {e}; pass --no-pin to run unpinned"))?;
    Ok(Some(status.code().unwrap_or(1)))
}

/// A server process, killed when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    pid: u32,
    name: String,
}

impl Server {
    /// Starts `program args…` (under `taskset -c CPU` when `cpu` is set), its output going to
    /// `log`.
    ///
    /// # Errors
    /// The process cannot be started.
    pub(crate) fn spawn(
        name: &str,
        cpu: Option<usize>,
        program: &Path,
        args: &[OsString],
        log: &Path,
    ) -> Result<Server> {
        let mut cmd = match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(program);
                c
            }
            None => Command::new(program),
        };
        let out = std::fs::File::create(log)?;
        let err = out.try_clone()?;
        let child = cmd
            .args(args)
            .env_remove(PINNED)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let pid = child.id().ok_or("the server exited at once")?;
        Ok(Server {
            child,
            pid,
            name: name.to_owned(),
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until `GET url` answers 2xx (the server is ready).
    ///
    /// # Errors
    /// The process exited, or `timeout` passed.
    pub(crate) async fn wait_ready(
        &mut self,
        url: &str,
        timeout: Duration,
        log: &Path,
    ) -> Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(20).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(format!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.name,
                    tail.join("\n")
                )
                .into());
            }
            if let Ok(r) = http.get(url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{} not ready at {url} after {timeout:?}", self.name).into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Where the kernel lets it run (`Cpus_allowed_list` of `/proc/PID/status`).
    pub(crate) fn cpus_allowed(&self) -> String {
        cpus_allowed(self.pid).unwrap_or_else(|| "?".to_owned())
    }

    /// Stops it with SIGTERM (graceful), then SIGKILL after 10 s.
    pub(crate) async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// CPU seconds (user + system, every thread) a process has used so far.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after its closing parenthesis are fixed.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLK_TCK)
}

/// CPU seconds (user + system) every process named `comm` (`/proc/PID/comm`, e.g. the
/// PostgreSQL server's `postgres` processes) has used so far; processes that end in between
/// are not counted.
pub(crate) fn cpu_seconds_named(comm: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .filter_map(cpu_seconds)
        .sum()
}

/// The one CPU a process may run on (`Cpus_allowed_list` of a pinned process), if it is one.
pub(crate) fn pinned_cpu(pid: u32) -> Option<usize> {
    cpus_allowed(pid)?.parse().ok()
}

/// `Cpus_allowed_list` of `/proc/PID/status` (`"0"`, `"0-1"`).
pub(crate) fn cpus_allowed(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix("Cpus_allowed_list:")
            .map(|v| v.trim().to_owned())
    })
}

/// (busy, total) clock ticks of one CPU so far, from `/proc/stat`: busy is every state but
/// idle and iowait.
fn core_ticks(cpu: usize) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))?;
    let t: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = t.iter().take(8).sum();
    let idle = t.get(3)? + t.get(4)?;
    Some((total - idle, total))
}

/// Measures, over an interval, the CPU a process uses and the CPU every other process used on
/// the core it is pinned to (in % of one core): a figure taken while others held the core is
/// a low one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuMeter {
    pid: u32,
    start: Option<f64>,
    core: Option<(usize, (u64, u64))>,
    at: Instant,
}

impl CpuMeter {
    pub(crate) fn start(pid: u32) -> Self {
        CpuMeter {
            pid,
            start: cpu_seconds(pid),
            core: pinned_cpu(pid).and_then(|c| Some((c, core_ticks(c)?))),
            at: Instant::now(),
        }
    }

    /// This process.
    pub(crate) fn own() -> Self {
        CpuMeter::start(std::process::id())
    }

    /// CPU seconds the process used since the start.
    pub(crate) fn seconds(&self) -> Option<f64> {
        Some(cpu_seconds(self.pid)? - self.start?)
    }

    /// CPU the process used since the start, in % of one core.
    pub(crate) fn percent(&self) -> Option<f64> {
        let used = cpu_seconds(self.pid)? - self.start?;
        let wall = self.at.elapsed().as_secs_f64();
        (wall > 0.0).then(|| used / wall * 100.0)
    }

    /// CPU every other process used on the process's core since the start, in % of the core
    /// (`None` when the process is not pinned to one core).
    pub(crate) fn others_percent(&self) -> Option<f64> {
        let (cpu, (busy0, total0)) = self.core?;
        let (busy, total) = core_ticks(cpu)?;
        let ticks = total.checked_sub(total0).filter(|t| *t > 0)?;
        let busy = (busy - busy0) as f64 / ticks as f64 * 100.0;
        Some((busy - self.percent()?).max(0.0))
    }
}

/// Raises this process's open-file limit (which the processes it starts inherit) to at least
/// `needed`: the soft limit up to the hard one, and the hard one too where that is allowed
/// (root). Returns the soft limit now in force.
///
/// # Errors
/// The limit cannot be raised to `needed`.
pub(crate) fn raise_open_files(needed: u64) -> Result<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    if now.current.is_none_or(|c| c >= needed) {
        return Ok(now.current.unwrap_or(u64::MAX));
    }
    let hard = now.maximum;
    let want = Rlimit {
        current: Some(hard.map_or(needed, |h| h.max(needed))),
        maximum: hard.map(|h| h.max(needed)),
    };
    if setrlimit(Resource::Nofile, want).is_err() {
        // Not allowed to raise the hard limit: the soft one up to it.
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: hard,
                maximum: hard,
            },
        )
        .map_err(|e| format!("cannot raise the open-file limit: {e}"))?;
    }
    let got = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if got < needed {
        return Err(format!(
            "the open-file limit is {got} and cannot be raised to {needed}: raise the hard limit \
             (ulimit -Hn, as root) or open fewer streams"
        )
        .into());
    }
    Ok(got)
}

/// A free port on 127.0.0.1 (bound, then released for a child to take).
///
/// # Errors
/// No port could be bound.
pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_open_file_limit_is_raised_to_what_is_needed() {
        let limit = raise_open_files(1024).unwrap();
        assert!(limit >= 1024);
        assert_eq!(raise_open_files(16).unwrap(), limit, "never lowered");
    }

    #[test]
    fn own_cpu_time_is_readable() {
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(cpu_seconds(std::process::id()).is_some());
        assert!(CpuMeter::own().percent().is_some());
        assert!(core_ticks(0).is_some_and(|(busy, total)| busy <= total));
        assert!(cpus_allowed(std::process::id()).is_some());
        let own = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert!(cpu_seconds_named(own.trim()) > 0.0);
    }
}
