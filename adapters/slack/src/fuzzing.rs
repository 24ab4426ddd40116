//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the crate-private renderer,
//! reachable without a network. Not a stable API.

use serde_json::{Map, Value};
use switchboard_core::render::RenderPolicy;
use switchboard_core::{OutboundMessage, Result};

/// The `chat.postMessage` bodies (other than `channel` and `thread_ts`) that sending `message`
/// on a Slack channel with the default capabilities makes, in order.
///
/// # Errors
///
/// As the adapter's send: `Unsupported` under `strict` or for content Slack cannot carry.
pub fn render_posts(
    message: &OutboundMessage,
    policy: RenderPolicy,
) -> Result<Vec<Map<String, Value>>> {
    crate::render::plan(message, &crate::capabilities(), policy).map(|plan| plan.posts)
}
