//! The conformance kit: how an adapter proves it keeps the contract.
//!
//! An adapter's tests implement [`Harness`] over a provider emulator on 127.0.0.1 and invoke
//! [`conformance_tests!`](crate::conformance_tests) with the [`Ability`]s the adapter has. It
//! expands to one `#[tokio::test]` per check that applies, named after the check: the checks
//! every adapter must pass, plus those of each declared ability. A check that does not apply is
//! not registered at all, and one more test, `declared_abilities_match_the_adapter`, fails when
//! the declared abilities disagree with the adapter's [`Capabilities`] and the harness (so an
//! ability can neither be claimed falsely nor forgotten). The checks are plain `pub async fn`s
//! in [`checks`], so a harness can also call them one by one; called where it does not apply, a
//! check panics rather than passing silently.
//!
//! The calling crate needs `tokio` (with `macros` and `rt`) as a dev-dependency.
//!
//! [`Capabilities`]: crate::Capabilities

pub mod checks;
mod memory_harness;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::adapter::Adapter;
use crate::config::ChannelTable;
use crate::model::ConversationRef;
use crate::registry::Registry;
use crate::render::RenderPolicy;
use crate::webhook::WebhookRequest;

pub use memory_harness::MemoryHarness;

/// An outcome the provider gives to the next API call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Staged {
    /// HTTP 429 (or the provider's equivalent) with this `Retry-After`.
    RateLimited {
        /// What the provider says to wait.
        retry_after: Duration,
    },
    /// A 5xx.
    ServerError,
    /// Credentials refused.
    AuthFailure,
    /// The recipient does not exist.
    UnknownRecipient,
    /// The provider accepts the message but its answer never arrives (the connection drops
    /// after the request was written): the adapter must report `Ambiguous`. Harnesses of
    /// adapters that declare `reconcile` must support it.
    LostAnswer,
}

/// One message the provider received, decoded back to neutral form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    /// The conversation it was sent to, in the provider's form.
    pub to: String,
    /// The text as the provider received it (in the channel's dialect).
    pub text: String,
    /// Labels of native buttons.
    pub buttons: Vec<String>,
    /// Labels of native quick replies.
    pub quick_replies: Vec<String>,
    /// URLs (or ids) of native attachments.
    pub attachments: Vec<String>,
}

/// An inbound message signed three ways.
#[derive(Debug, Clone)]
pub struct SignedSet {
    /// Correctly signed.
    pub valid: WebhookRequest,
    /// Signed, then the body altered.
    pub tampered: WebhookRequest,
    /// Correctly signed with a timestamp outside the replay window; `None` when the provider
    /// signs no timestamp.
    pub stale: Option<WebhookRequest>,
}

/// An optional part of the contract. The checks of an ability run only for a harness that
/// declares it in [`conformance_tests!`](crate::conformance_tests); the declaration is data,
/// checked against the adapter by [`checks::declared_abilities_match`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Ability {
    /// The adapter declares [`Capabilities::reconcile`](crate::Capabilities::reconcile) for the
    /// harness's conversation. Checks: `reconcile_finds_a_delivered_send`,
    /// `reconcile_reports_a_missing_send`, `reconcile_after_a_lost_answer`.
    Reconcile,
    /// The provider signs a timestamp, so [`SignedSet::stale`] exists. Check:
    /// `stale_webhook_rejected`.
    SignedTimestamp,
    /// The provider has a verification handshake ([`Harness::handshake`] gives one). Check:
    /// `handshake_answered`.
    Handshake,
    /// The adapter declares at least one of edit, delete, reactions and typing unsupported.
    /// Check: `unsupported_operations_send_nothing`.
    UnsupportedOperations,
}

impl Ability {
    /// Every ability, in declaration order.
    pub const ALL: [Ability; 4] = [
        Ability::Reconcile,
        Ability::SignedTimestamp,
        Ability::Handshake,
        Ability::UnsupportedOperations,
    ];
}

/// What an adapter's tests provide so the shared checks can run against it.
#[async_trait]
pub trait Harness: Sized + Send + Sync + 'static {
    /// A fresh provider (emulator on 127.0.0.1) and the adapter under test pointed at it,
    /// configured with render `policy`.
    async fn start(policy: RenderPolicy) -> Self;

    /// The adapter under test.
    fn adapter(&self) -> Arc<dyn Adapter>;

    /// A conversation the provider accepts sends to.
    fn conversation(&self) -> ConversationRef;

    /// Makes the provider answer the next API call with `outcome`.
    async fn stage(&self, outcome: Staged);

    /// The messages the provider received so far, in order.
    async fn received(&self) -> Vec<Received>;

    /// How many API requests the provider received so far.
    async fn request_count(&self) -> usize;

    /// An inbound text message from a user in [`conversation`](Self::conversation), signed.
    fn inbound_text(&self, text: &str) -> SignedSet;

    /// A handshake request and the body the adapter must answer; `None` if the provider has none.
    fn handshake(&self) -> Option<(WebhookRequest, Bytes)>;

    /// A valid channel table for this adapter.
    fn config(&self) -> ChannelTable;

    /// A registry with this adapter's provider registered.
    fn registry(&self) -> Registry;

    /// Every secret value in [`config`](Self::config).
    fn secrets(&self) -> Vec<String>;

    /// Delivers to the adapter whatever webhooks the provider sends after the sends so far
    /// (echoes, status callbacks), as the engine would. The default does nothing.
    async fn settle(&self) {}

    /// Whether the provider says how long to wait when it rate-limits (HTTP `Retry-After`).
    /// Providers that signal throttling without a delay (Meta's Graph API) return `false`, and
    /// the rate-limit check then asks only for `RateLimited` + `Safe`.
    fn reports_retry_after(&self) -> bool {
        true
    }
}

/// Expands to one `#[tokio::test]` per conformance check that applies to a [`Harness`] type:
/// the checks every adapter passes, those of each [`Ability`] listed after the colon, and
/// `declared_abilities_match_the_adapter`, which fails when the list disagrees with the adapter.
///
/// ```
/// // The kit against the reference MemoryAdapter (as in core/tests/conformance_memory.rs).
/// // Run with: cargo test -p switchboard-core --features testkit
/// use switchboard_core::testkit::MemoryHarness;
/// switchboard_core::conformance_tests!(
///     MemoryHarness: Reconcile,
///     SignedTimestamp,
///     Handshake,
///     UnsupportedOperations
/// );
/// # fn main() {}
/// ```
///
/// An adapter with no optional ability writes `conformance_tests!(MyHarness);`. An unknown
/// ability name does not compile.
#[macro_export]
macro_rules! conformance_tests {
    (@ability $harness:ty; Reconcile) => {
        $crate::conformance_tests!(@checks $harness;
            reconcile_finds_a_delivered_send,
            reconcile_reports_a_missing_send,
            reconcile_after_a_lost_answer,
            reconcile_holds_a_send_still_in_flight,
        );
    };
    (@ability $harness:ty; SignedTimestamp) => {
        $crate::conformance_tests!(@checks $harness; stale_webhook_rejected);
    };
    (@ability $harness:ty; Handshake) => {
        $crate::conformance_tests!(@checks $harness; handshake_answered);
    };
    (@ability $harness:ty; UnsupportedOperations) => {
        $crate::conformance_tests!(@checks $harness; unsupported_operations_send_nothing);
    };
    (@checks $harness:ty; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                $crate::testkit::checks::$check::<$harness>().await;
            }
        )*
    };
    ($harness:ty $(: $($ability:ident),* $(,)?)?) => {
        $crate::conformance_tests!(@checks $harness;
            text_round_trip,
            long_text_split_in_order,
            buttons_degrade_to_numbered_options,
            strict_policy_sends_nothing,
            rate_limited_is_safe_with_retry_after,
            auth_failure_is_unauthenticated,
            unknown_recipient_is_not_found,
            server_error_is_ambiguous,
            valid_webhook_decodes,
            tampered_webhook_rejected,
            unknown_config_key_rejected,
            debug_shows_no_secret,
        );
        $($($crate::conformance_tests!(@ability $harness; $ability);)*)?

        #[tokio::test]
        async fn declared_abilities_match_the_adapter() {
            $crate::testkit::checks::declared_abilities_match::<$harness>(&[
                $($($crate::testkit::Ability::$ability),*)?
            ])
            .await;
        }
    };
}
