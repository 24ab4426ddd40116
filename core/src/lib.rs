#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adapter;
pub mod capabilities;
pub mod config;
#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emulator;
pub mod error;
#[cfg(feature = "fetch")]
#[cfg_attr(docsrs, doc(cfg(feature = "fetch")))]
pub mod fetch;
mod handle;
pub mod install;
pub mod memory;
pub mod model;
pub mod policy;
pub mod reconcile;
pub mod registry;
pub mod render;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod webhook;

pub use adapter::{Adapter, AdapterInfo, FetchedAttachment};
pub use async_trait::async_trait;
pub use capabilities::{
    AttachmentCapabilities, Capabilities, LengthUnit, MarkdownDialect, RateHint, TextLimit,
};
pub use config::{ChannelTable, Env, Secret};
pub use error::{Error, ErrorKind, Result, Retry};
pub use handle::{Channel, Conversation};
pub use install::{Installation, Installations, OAuthFlow};
pub use memory::MemoryAdapter;
pub use model::{
    ChannelName, ConversationId, ConversationRef, EventKind, InboundEvent, MessageId, MessageRef,
    OutboundMessage, OutboxKey, SendReceipt, SentMessage, ThreadId, UserId,
};
pub use policy::{ConsentAction, ConsentChange, Contact, OptOut, SendPolicy, Window};
pub use reconcile::{PendingSend, Reconciled};
pub use registry::{AdapterFactory, Registry};
pub use render::{Degradation, RenderPlan, RenderPolicy};
pub use webhook::{RejectReason, Rejection, WebhookOutcome, WebhookRequest, WebhookResponse};
