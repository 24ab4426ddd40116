//! The process's open-file limit, which bounds how many connections the server may hold.

/// The soft `RLIMIT_NOFILE` of this process, read from `/proc/self/limits` (Linux); `None`
/// where that file does not exist or says "unlimited".
pub(crate) fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_limits(&text)
}

/// The soft limit on the `Max open files` line of a `/proc/PID/limits` text.
fn parse_limits(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The default connection cap for an open-file limit: three quarters of it, keeping at least
/// 32 descriptors for everything else (store, clients, logs); 1024 when the limit is unknown.
pub(crate) fn default_max_connections(limit: Option<u64>) -> usize {
    match limit {
        Some(limit) => {
            let reserve = (limit / 4).max(32);
            usize::try_from(limit.saturating_sub(reserve).max(1)).unwrap_or(usize::MAX)
        }
        None => 1024,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_soft_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            192                  524288               files     \n";
        assert_eq!(parse_limits(text), Some(192));
        assert_eq!(
            parse_limits("Max open files  unlimited unlimited files"),
            None
        );
        assert_eq!(default_max_connections(Some(192)), 144);
        assert_eq!(default_max_connections(Some(40)), 8);
        assert_eq!(default_max_connections(Some(10)), 1);
        assert_eq!(default_max_connections(None), 1024);
        if cfg!(target_os = "linux") {
            assert!(open_file_limit().is_some_and(|n| n > 0));
        }
    }
}
