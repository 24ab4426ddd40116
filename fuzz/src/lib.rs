//! Helpers shared by the fuzz targets: channels built from config as the binary builds them, and
//! the invariants every webhook outcome must keep.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use switchboard::{Adapter, ChannelTable, RejectReason, WebhookOutcome, WebhookRequest};

/// Slack's signing secret in the fuzzed channel.
pub const SLACK_SECRET: &str = "fuzz-slack-secret";
/// Messenger's app secret in the fuzzed channel.
pub const MESSENGER_SECRET: &str = "fuzz-app-secret";
/// Messenger's verify token in the fuzzed channel.
pub const MESSENGER_VERIFY_TOKEN: &str = "fuzz-verify-token";
/// Twilio's auth token in the fuzzed channel.
pub const TWILIO_TOKEN: &str = "fuzz-auth-token";
/// The Page id of the fuzzed Messenger channel.
pub const PAGE_ID: &str = "1895382890692545";
/// The account of the fuzzed Twilio channel.
pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000001";

/// A channel built from its TOML table by the default registry, as `switchboard serve` builds it.
///
/// # Panics
///
/// When the table is refused: the targets' fixed configs are valid.
pub fn adapter(channel: &str, toml: &str) -> Arc<dyn Adapter> {
    let table = ChannelTable::from_toml_str(channel, toml).expect("fuzz channel table");
    switchboard::registry().build(table).expect("fuzz channel")
}

/// The Slack channel `team`.
pub fn slack() -> Arc<dyn Adapter> {
    adapter(
        "team",
        &format!(
            "provider = 'slack'\nbot_token = 'xoxb-fuzz'\nsigning_secret = '{SLACK_SECRET}'\nbot_user_id = 'UBOT'\nbot_id = 'BBOT'\napi_base_url = 'http://127.0.0.1:9/api'"
        ),
    )
}

/// The Messenger channel `fb`.
pub fn messenger() -> Arc<dyn Adapter> {
    adapter(
        "fb",
        &format!(
            "provider = 'messenger'\npage_id = '{PAGE_ID}'\npage_access_token = 'EAAB'\napp_secret = '{MESSENGER_SECRET}'\nverify_token = '{MESSENGER_VERIFY_TOKEN}'\napi_base_url = 'http://127.0.0.1:9'"
        ),
    )
}

/// The Twilio channel `sms`.
pub fn twilio() -> Arc<dyn Adapter> {
    adapter(
        "sms",
        &format!(
            "provider = 'twilio'\naccount_sid = '{ACCOUNT_SID}'\nauth_token = '{TWILIO_TOKEN}'\nfrom = '+15550001111'\napi_base_url = 'http://127.0.0.1:9'"
        ),
    )
}

/// Seconds since the epoch, as text (Slack's timestamp header).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether `reason` is about the signature (what a correctly signed request never gets).
pub fn is_signature_reason(reason: RejectReason) -> bool {
    matches!(
        reason,
        RejectReason::MissingSignature | RejectReason::BadSignature | RejectReason::StaleTimestamp
    )
}

/// Invariants of any outcome: the response matches the outcome, accepted events belong to
/// `channel`, and every event has an id.
pub fn check_outcome(channel: &str, request: &WebhookRequest, outcome: &WebhookOutcome) {
    match outcome {
        WebhookOutcome::Accepted { response, events } => {
            assert!(
                response.status.is_success(),
                "accepted with status {}",
                response.status
            );
            for e in events {
                assert_eq!(e.conversation.channel.as_str(), channel, "{e:?}");
                assert!(!e.id.as_str().is_empty(), "event without an id: {e:?}");
                // Events are stored as JSON: they must serialize.
                serde_json::to_vec(e).expect("event serializes");
            }
        }
        WebhookOutcome::Rejected(r) => {
            assert_eq!(outcome.response().status, r.reason.status());
            // A refusal is never a success, except a well-signed event for another tenant:
            // acknowledged (200) so the provider does not retry it, and nothing is stored.
            assert!(
                !outcome.response().status.is_success() || r.reason == RejectReason::ForeignTenant,
                "refused with status {}",
                outcome.response().status
            );
        }
    }
    let _ = request;
}

/// An unsigned (or wrongly signed) request must never reach the application: no events, no
/// handshake answer. `ssl_check` (Slack's unsigned certificate probe) gets a bare 200.
pub fn assert_not_accepted(outcome: &WebhookOutcome) {
    if let WebhookOutcome::Accepted { response, events } = outcome {
        assert!(
            events.is_empty() && response.body.is_empty(),
            "an unsigned request was accepted: {outcome:?}"
        );
    }
}

/// The fuzz input's bytes as text (lossy: headers and URLs need text).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
