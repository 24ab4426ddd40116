//! Reads the engine's counters from `GET /metrics` (Prometheus text, see the repository's
//! `src/metrics.rs`): the benchmarks follow `switchboard_events_handled_total` to see the
//! backlog drain.

/// Handled events, every channel.
pub(crate) const HANDLED: &str = "switchboard_events_handled_total";

/// The sum of every series of counter `name` in a Prometheus text exposition (0 if absent).
pub(crate) fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            // `name{labels} value` or `name value`, not `name_suffix …`.
            let value = match rest.chars().next()? {
                '{' => rest.rsplit_once('}')?.1,
                ' ' => rest,
                _ => return None,
            };
            value.split_whitespace().next()?.parse::<f64>().ok()
        })
        .map(|v| v as u64)
        .sum()
}

/// Scrapes `url` (`http://…/metrics`) and returns counter `name`.
///
/// # Errors
/// The server does not answer 2xx.
pub(crate) async fn scrape(http: &reqwest::Client, url: &str, name: &str) -> crate::Result<u64> {
    let text = http
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(counter(&text, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_series_of_one_counter() {
        let text = "# HELP switchboard_events_handled Events handled successfully.\n\
                    # TYPE switchboard_events_handled counter\n\
                    switchboard_events_handled_total{channel=\"fb\"} 1200\n\
                    switchboard_events_handled_total{channel=\"sms\"} 34\n\
                    switchboard_events_handled_totalx 99\n\
                    switchboard_handler_failures_total{channel=\"fb\"} 5\n\
                    # EOF\n";
        assert_eq!(counter(text, HANDLED), 1234);
        assert_eq!(counter(text, "switchboard_messages_sent_total"), 0);
    }
}
