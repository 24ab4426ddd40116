//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the crate-private renderer,
//! reachable without a network. Not a stable API.

use serde_json::Value;
use switchboard_core::render::RenderPolicy;
use switchboard_core::{OutboundMessage, Result};

/// The Send API `message` objects that sending `message` on a Messenger channel with the
/// default capabilities makes, in order (byte attachments not uploaded: no attachment id).
///
/// # Errors
///
/// As the adapter's send: invalid extensions, `Unsupported` under `strict`.
pub fn render_messages(message: &OutboundMessage, policy: RenderPolicy) -> Result<Vec<Value>> {
    let plan = crate::render::plan(message, &crate::capabilities(), policy)?;
    Ok(plan
        .messages
        .iter()
        .map(|p| crate::render::message(p, None, None))
        .collect())
}
