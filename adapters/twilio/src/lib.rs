#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod adapter;
mod address;
mod api;
pub mod config;
mod date;
mod error_map;
mod extension;
pub mod policy;
mod reconcile;
mod render;
pub mod signature;
mod smart_encoding;
mod webhook;
mod wire;

#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emulator;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

use std::sync::Arc;

pub use adapter::{
    MAX_BODY_CHARS, MAX_MEDIA_SMS, TwilioAdapter, capabilities_for, sms_capabilities,
    whatsapp_capabilities,
};
pub use address::{WHATSAPP_PREFIX, is_whatsapp};
pub use config::{SenderConfig, TwilioAccount, TwilioConfig, TwilioConfigBuilder};
pub use extension::TwilioContent;
pub use reconcile::{
    OUTBOX_KEY_QUERY, OUTBOX_PART_QUERY, OUTBOX_PARTS_QUERY, RECONCILE_CLOCK_MARGIN,
};
pub use webhook::EMPTY_TWIML;
pub use wire::MessageResource;

/// The provider's registry name: `provider = "twilio"`.
pub const PROVIDER: &str = "twilio";

/// The largest media file `fetch_attachment` downloads: 5 MiB, Twilio's MMS limit. Larger
/// bodies are a `TooLarge` error, found by `Content-Length` or while streaming; WhatsApp media
/// over it (Twilio takes up to 16 MB there) is refused too, and the bridge relays it as a link.
pub const MAX_MEDIA_BYTES: u64 = 5 * 1024 * 1024;

/// Registers the Twilio factory under [`PROVIDER`].
pub fn register(registry: &mut switchboard_core::Registry) {
    registry.register(PROVIDER, |table| {
        TwilioAdapter::from_table(table).map(|a| Arc::new(a) as Arc<dyn switchboard_core::Adapter>)
    });
}
