//! Typed per-provider extensions: content only one adapter understands (Slack blocks, a
//! Messenger message tag, a Twilio content template). Other adapters ignore them.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// A typed extension. `KEY` is `"<provider>.<name>"`, e.g. `"slack.blocks"`; the provider part
/// is the registry name of the only adapter that reads it.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use switchboard_core::model::{Extension, OutboundMessage};
///
/// #[derive(Serialize, Deserialize)]
/// struct Priority { level: u8 }
/// impl Extension for Priority { const KEY: &'static str = "example.priority"; }
///
/// let msg = OutboundMessage::builder().text("hi").extension(&Priority { level: 2 }).build()?;
/// assert_eq!(msg.extensions.get::<Priority>().transpose()?.map(|p| p.level), Some(2));
/// # Ok::<(), switchboard_core::Error>(())
/// ```
pub trait Extension: Serialize + DeserializeOwned {
    /// `"<provider>.<name>"`.
    const KEY: &'static str;
}

/// The extensions of one message, stored as JSON so a message survives the outbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Extensions(BTreeMap<String, serde_json::Value>);

impl Extensions {
    /// Adds or replaces the extension of type `E`.
    ///
    /// # Errors
    ///
    /// `InvalidMessage` when the extension does not serialize to JSON.
    pub fn insert<E: Extension>(&mut self, ext: &E) -> crate::Result<()> {
        let value = serde_json::to_value(ext).map_err(|e| {
            Error::new(
                ErrorKind::InvalidMessage,
                format!("extensions.{}: {e}", E::KEY),
            )
        })?;
        self.0.insert(E::KEY.to_owned(), value);
        Ok(())
    }

    /// The extension of type `E`, if present; an error if it is present but malformed.
    pub fn get<E: Extension>(&self) -> Option<crate::Result<E>> {
        self.0.get(E::KEY).map(|v| {
            E::deserialize(v).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidMessage,
                    format!("extensions.{}: {e}", E::KEY),
                )
            })
        })
    }

    /// Whether an extension with this key is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Whether any extension for `provider` (keys `"<provider>.…"`) is present.
    pub fn has_provider(&self, provider: &str) -> bool {
        self.0.keys().any(|k| k.split('.').next() == Some(provider))
    }

    /// No extensions at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys present, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}
