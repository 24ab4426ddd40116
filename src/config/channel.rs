//! Each channel's engine-side keys: `[channels.NAME] delivery` ([`DeliveryPolicy`], and what
//! the sender makes of it, [`UncertainSends`]) and `[channels.NAME.rate]` ([`RateConfig`]).

use serde::{Deserialize, Serialize};
use switchboard_core::{Error, RateHint, Result};

/// `[channels.NAME] delivery`: what the sender does with a send that may have reached the
/// provider (the process died mid-send, the answer was lost, a split message failed half-way)
/// when the provider cannot say whether it has it.
///
/// The sender first settles such a send with what is certain: keyed proofs that webhooks
/// brought (every part proven → sent, nothing resent), then the adapter's
/// [`reconcile`](switchboard_core::Adapter::reconcile) when its capabilities declare it
/// (`Delivered` → sent with the provider's ids; `NotDelivered` → sent again). The policy decides
/// the rest:
///
/// | what is known | `at_least_once` (default) | `at_most_once` |
/// |---|---|---|
/// | `Unknown` (after [`EngineConfig::reconcile_window`](super::EngineConfig::reconcile_window)) | sent again: a duplicate is possible | dead-lettered with the reason: a loss is possible |
/// | `Partial` (some parts there, the rest not) | the whole message sent again: its first parts appear twice | dead-lettered, naming how many parts were sent |
/// | the adapter cannot reconcile | sent again, only when `delivery` is set explicitly (else as `at_most_once`, today's cautious default) | dead-lettered |
///
/// Adapters whose sends are idempotent at the provider (`idempotent_sends`) are resent in every
/// case: the provider drops the repeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryPolicy {
    /// Never lose a message the provider may not have: resend when in doubt.
    #[default]
    AtLeastOnce,
    /// Never send a message twice: dead-letter when in doubt.
    AtMostOnce,
}

impl DeliveryPolicy {
    /// Its config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryPolicy::AtLeastOnce => "at_least_once",
            DeliveryPolicy::AtMostOnce => "at_most_once",
        }
    }
}

/// What the sender does, on one channel, with a send that may have reached the provider: what
/// [`Switchboard::channel_delivery`](crate::Switchboard::channel_delivery) reports. Keyed proofs
/// (every part proven by a webhook → sent, nothing resent) come first in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UncertainSends {
    /// Sent again: the adapter declares `idempotent_sends`, so the provider drops a repeat.
    Deduplicated,
    /// The adapter's [`reconcile`](switchboard_core::Adapter::reconcile) asks the provider;
    /// what it cannot tell (`Unknown` after the window, `Partial`) this policy decides (the
    /// channel's `delivery`, `at_least_once` when unset).
    Reconciled(DeliveryPolicy),
    /// The adapter can neither reconcile nor deduplicate; the channel's explicitly set
    /// `delivery` decides at once.
    Policy(DeliveryPolicy),
    /// Dead-lettered (a loss is possible, a duplicate is not): the adapter can neither
    /// reconcile nor deduplicate sends and the channel sets no `delivery`.
    DeadLettered,
}

impl UncertainSends {
    /// What the sender does for an adapter with `caps` and a channel whose `delivery` key is
    /// `delivery` (`None` when unset).
    pub fn of(caps: &switchboard_core::Capabilities, delivery: Option<DeliveryPolicy>) -> Self {
        if caps.idempotent_sends {
            UncertainSends::Deduplicated
        } else if caps.reconcile {
            UncertainSends::Reconciled(delivery.unwrap_or_default())
        } else {
            match delivery {
                Some(policy) => UncertainSends::Policy(policy),
                None => UncertainSends::DeadLettered,
            }
        }
    }

    /// Whether such a send is settled later (resent, reconciled or resent by policy) rather
    /// than given up at once.
    pub fn settles_later(self) -> bool {
        !matches!(
            self,
            UncertainSends::DeadLettered | UncertainSends::Policy(DeliveryPolicy::AtMostOnce)
        )
    }
}

/// Reads a channel's `delivery` key (already taken out of the channel table); `None` when the
/// channel has none.
pub(crate) fn delivery_from(
    channel: &str,
    v: Option<toml::Value>,
) -> Result<Option<DeliveryPolicy>> {
    let Some(v) = v else {
        return Ok(None);
    };
    DeliveryPolicy::deserialize(v).map(Some).map_err(|e| {
        Error::config(
            channel,
            format_args!(
                "key 'delivery': {} (use \"at_least_once\" or \"at_most_once\")",
                e.message()
            ),
        )
    })
}

/// `[channels.NAME.rate]`: outbound rate limits (GCRA via governor). Unset limits are off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RateConfig {
    /// Sends per second on the whole channel.
    pub per_second: Option<f64>,
    /// Burst on the whole channel (default: 1).
    pub burst: Option<u32>,
    /// Sends per second to one conversation.
    pub per_conversation_per_second: Option<f64>,
    /// Burst to one conversation (default: 1).
    pub per_conversation_burst: Option<u32>,
}

impl RateConfig {
    /// Limits of `per_second` on the channel and `per_conversation` per conversation.
    pub fn new(per_second: Option<f64>, per_conversation: Option<f64>) -> Self {
        RateConfig {
            per_second,
            burst: None,
            per_conversation_per_second: per_conversation,
            per_conversation_burst: None,
        }
    }

    /// Sets the channel burst.
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// Sets the per-conversation burst.
    pub fn with_conversation_burst(mut self, burst: u32) -> Self {
        self.per_conversation_burst = Some(burst);
        self
    }

    /// The fallback when neither the channel's `rate` table nor the adapter's
    /// [`rate_hint`](switchboard_core::Adapter::rate_hint) says anything: 1 per second per
    /// conversation with a burst of 3 (Slack's guidance; well under Messenger's and Twilio's
    /// limits), no channel limit.
    pub fn conservative() -> Self {
        RateConfig::new(None, Some(1.0)).with_conversation_burst(3)
    }

    /// The limits an adapter suggests ([`Adapter::rate_hint`](switchboard_core::Adapter::rate_hint));
    /// [`conservative`](Self::conservative) when the hint is empty or not usable (a rate that
    /// is not a positive number is dropped).
    pub fn from_hint(hint: &RateHint) -> Self {
        let valid = |r: Option<f64>| r.filter(|r| r.is_finite() && *r > 0.0);
        let rate = RateConfig {
            per_second: valid(hint.per_second),
            burst: hint.burst,
            per_conversation_per_second: valid(hint.per_conversation_per_second),
            per_conversation_burst: hint.per_conversation_burst,
        };
        if rate.per_second.is_none() && rate.per_conversation_per_second.is_none() {
            RateConfig::conservative()
        } else {
            rate
        }
    }
}

/// Reads a channel's `rate` table (already taken out of the channel table); `None` when the
/// channel has none (the adapter's hint applies).
pub(crate) fn rate_from(channel: &str, v: Option<toml::Value>) -> Result<Option<RateConfig>> {
    let Some(v) = v else {
        return Ok(None);
    };
    let rate: RateConfig = RateConfig::deserialize(v)
        .map_err(|e| Error::config(channel, format_args!("key 'rate': {}", e.message())))?;
    for r in [rate.per_second, rate.per_conversation_per_second]
        .into_iter()
        .flatten()
    {
        if !(r.is_finite() && r > 0.0) {
            return Err(Error::config(channel, "key 'rate': rates must be positive"));
        }
    }
    Ok(Some(rate))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{Config, EngineConfig};
    use super::*;

    #[test]
    fn uncertain_sends_follow_the_senders_order_of_checks() {
        use DeliveryPolicy::{AtLeastOnce, AtMostOnce};
        let caps = |reconcile, idempotent_sends| switchboard_core::Capabilities {
            reconcile,
            idempotent_sends,
            ..Default::default()
        };
        let of = UncertainSends::of;
        // Idempotent sends are resent whatever the policy (checked before reconcile).
        assert_eq!(
            of(&caps(true, true), Some(AtMostOnce)),
            UncertainSends::Deduplicated
        );
        assert_eq!(
            of(&caps(true, false), None),
            UncertainSends::Reconciled(AtLeastOnce)
        );
        assert_eq!(
            of(&caps(true, false), Some(AtMostOnce)),
            UncertainSends::Reconciled(AtMostOnce)
        );
        assert_eq!(of(&caps(false, false), None), UncertainSends::DeadLettered);
        assert_eq!(
            of(&caps(false, false), Some(AtLeastOnce)),
            UncertainSends::Policy(AtLeastOnce)
        );
        let later: Vec<bool> = [
            UncertainSends::Deduplicated,
            UncertainSends::Reconciled(AtMostOnce),
            UncertainSends::Policy(AtLeastOnce),
            UncertainSends::Policy(AtMostOnce),
            UncertainSends::DeadLettered,
        ]
        .map(UncertainSends::settles_later)
        .into();
        assert_eq!(later, [true, true, true, false, false]);
    }

    #[test]
    fn rates() {
        let v: toml::Value = toml::Value::Table(
            "per_second = 2.0\nper_conversation_burst = 4"
                .parse()
                .unwrap(),
        );
        let r = rate_from("sms", Some(v)).unwrap().unwrap();
        assert_eq!(r.per_second, Some(2.0));
        assert_eq!(r.per_conversation_burst, Some(4));
        assert_eq!(rate_from("sms", None).unwrap(), None);
        let bad = toml::Value::Table("per_secnd = 1.0".parse().unwrap());
        let err = rate_from("sms", Some(bad)).unwrap_err().to_string();
        assert!(err.contains("channels.sms: key 'rate'"), "{err}");
    }

    #[test]
    fn delivery_policies() {
        assert_eq!(delivery_from("sms", None).unwrap(), None);
        let v = |s: &str| Some(toml::Value::String(s.to_owned()));
        assert_eq!(
            delivery_from("sms", v("at_most_once")).unwrap(),
            Some(DeliveryPolicy::AtMostOnce)
        );
        assert_eq!(
            delivery_from("sms", v("at_least_once")).unwrap(),
            Some(DeliveryPolicy::AtLeastOnce)
        );
        assert_eq!(DeliveryPolicy::default(), DeliveryPolicy::AtLeastOnce);
        let err = delivery_from("sms", v("exactly_once"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("channels.sms: key 'delivery'"), "{err}");
        assert!(err.contains("at_most_once"), "{err}");
        let doc: toml::Table = "[engine]\nreconcile_window = '5s'".parse().unwrap();
        let c = Config::from_document(&doc).unwrap();
        assert_eq!(c.engine.reconcile_window, Duration::from_secs(5));
        assert_eq!(
            EngineConfig::default().reconcile_window,
            Duration::from_secs(60)
        );
    }

    #[test]
    fn rates_from_adapter_hints() {
        assert_eq!(
            RateConfig::from_hint(&RateHint::default()),
            RateConfig::conservative()
        );
        let hint = RateHint {
            per_second: Some(40.0),
            burst: Some(40),
            per_conversation_per_second: Some(2.0),
            per_conversation_burst: Some(3),
        };
        let r = RateConfig::from_hint(&hint);
        assert_eq!(r.per_second, Some(40.0));
        assert_eq!(r.burst, Some(40));
        assert_eq!(r.per_conversation_per_second, Some(2.0));
        assert_eq!(r.per_conversation_burst, Some(3));
        // A hint with only unusable rates falls back to the conservative default.
        let bad = RateHint {
            per_second: Some(0.0),
            burst: Some(5),
            per_conversation_per_second: Some(f64::NAN),
            per_conversation_burst: None,
        };
        assert_eq!(RateConfig::from_hint(&bad), RateConfig::conservative());
    }
}
