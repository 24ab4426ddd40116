//! Gateway mode: applications in any language use Switchboard over HTTP. Inbound events are
//! forwarded to the app's endpoints as signed [Standard Webhooks], and the app sends through
//! a REST API.
//!
//! ```toml
//! [gateway]
//! api_keys = ["${SWITCHBOARD_API_KEY}"]
//! [[gateway.forward]]
//! url = "https://app.example/switchboard/events"
//! secrets = ["${FORWARD_SECRET}"]                   # whsec_… ; several at once for rotation
//! channels = ["sms", "site"]                        # default: all
//! ```
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/
pub mod config;
pub mod signature;

pub use config::{ApiKey, ForwardTarget, GatewayConfig};
pub use signature::WebhookSecret;
