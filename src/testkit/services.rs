//! Skip or fail: what a test does when a service it needs is not there.

use std::time::Duration;

/// Where the tests find Redis (this machine's, and CI's).
pub const REDIS_ADDR: &str = "127.0.0.1:6379";

/// Whether missing services fail tests instead of skipping them: `SWITCHBOARD_REQUIRE_SERVICES`
/// set to `1` or `true`, or `CI=true` (set by CI systems).
pub fn services_required() -> bool {
    let set = |name: &str| {
        std::env::var(name)
            .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true"))
    };
    set("SWITCHBOARD_REQUIRE_SERVICES") || set("CI")
}

/// Whether `service` answers a TCP connection at `addr` (within 2 s). When it does not, prints
/// `skipped: {service} not reachable at {addr}` and returns `false`, so the test returns early;
/// where services are required ([`services_required`]) it panics instead, so that a CI run
/// without the service fails rather than passing on skipped tests.
///
/// ```no_run
/// # async fn test() {
/// use switchboard::testkit::{REDIS_ADDR, require_service};
/// if !require_service("Redis", REDIS_ADDR).await {
///     return;
/// }
/// // … the test, against the real Redis …
/// # }
/// ```
///
/// # Panics
///
/// When the service is not reachable and services are required.
pub async fn require_service(service: &str, addr: &str) -> bool {
    let reachable = matches!(
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    );
    if reachable {
        return true;
    }
    assert!(
        !services_required(),
        "{service} is not reachable at {addr}, and SWITCHBOARD_REQUIRE_SERVICES=1 or CI=true \
         requires it: start {service} there (or unset the variable to skip these tests)"
    );
    eprintln!("skipped: {service} not reachable at {addr}");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_service_is_skipped_or_fails() {
        // Port 9 (discard) on loopback: nothing listens there on a test machine.
        let addr = "127.0.0.1:9";
        let required = services_required();
        let outcome = tokio::spawn(require_service("Nothing", addr)).await;
        match outcome {
            Ok(reachable) => assert!(!required && !reachable),
            Err(panic) => assert!(required && panic.is_panic()),
        }
    }

    #[tokio::test]
    async fn a_listening_service_is_reachable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        assert!(require_service("Listener", &addr).await);
    }
}
