//! Delivery status updates for messages we sent.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::ids::MessageId;
use crate::error::ErrorKind;

/// Delivery states, in the order they advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Accepted by the provider, not yet sent.
    Queued,
    /// Sent to the carrier or platform.
    Sent,
    /// Delivered to the device.
    Delivered,
    /// Read by the recipient.
    Read,
    /// Failed; see the error.
    Failed,
}

impl DeliveryStatus {
    /// Whether `self` is further along than `other` (`Failed` is final and beats everything but `Read`).
    pub fn advances(self, other: DeliveryStatus) -> bool {
        self.rank() > other.rank()
    }

    fn rank(self) -> u8 {
        match self {
            DeliveryStatus::Queued => 0,
            DeliveryStatus::Sent => 1,
            DeliveryStatus::Delivered => 2,
            DeliveryStatus::Failed => 3,
            DeliveryStatus::Read => 4,
        }
    }
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryError {
    /// The neutral kind, mapped by the adapter.
    pub kind: ErrorKind,
    /// The provider's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The provider's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A delivery status update for messages we sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryEvent {
    /// The new status.
    pub status: DeliveryStatus,
    /// The messages it applies to (empty when only a watermark is given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<MessageId>,
    /// Everything sent up to this time has this status (Messenger `watermark`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::time::option"
    )]
    pub watermark: Option<SystemTime>,
    /// Why it failed, for `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<DeliveryError>,
}

impl DeliveryEvent {
    /// A status update for these messages.
    pub fn new(status: DeliveryStatus, messages: Vec<MessageId>) -> Self {
        DeliveryEvent {
            status,
            messages,
            watermark: None,
            error: None,
        }
    }

    /// Sets the watermark.
    pub fn with_watermark(mut self, watermark: SystemTime) -> Self {
        self.watermark = Some(watermark);
        self
    }

    /// Sets the error.
    pub fn with_error(mut self, error: DeliveryError) -> Self {
        self.error = Some(error);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_status_advances_monotonically() {
        use DeliveryStatus::*;
        assert!(Sent.advances(Queued));
        assert!(Delivered.advances(Sent));
        assert!(Read.advances(Delivered));
        assert!(!Sent.advances(Delivered));
        assert!(Failed.advances(Sent));
        assert!(!Failed.advances(Read));
    }
}
