//! `GET widget.js` and `GET demo`: the widget of the provider crate
//! (`adapters/webchat/widget/`), compiled into the binary, and a page that embeds it for the
//! channel asked for.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The widget, as in the crate.
const WIDGET: &str = include_str!("../../../adapters/webchat/widget/widget.js");
/// The demo page, as in the crate (its channel is replaced by the one asked for).
const DEMO: &str = include_str!("../../../adapters/webchat/widget/demo.html");

/// `GET widget.js`.
pub(super) fn widget() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        WIDGET,
    )
        .into_response()
}

/// Escapes text for an HTML attribute value.
fn attribute(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '"' => "&quot;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '\'' => "&#39;".into(),
            c => c.to_string(),
        })
        .collect()
}

/// The demo page for `channel`.
pub(crate) fn demo_page(channel: &str) -> String {
    DEMO.replace(
        "data-channel=\"site\"",
        &format!("data-channel=\"{}\"", attribute(channel)),
    )
}

/// `GET demo`.
pub(super) fn demo(channel: &str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        demo_page(channel),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_page_names_its_channel_escaped() {
        assert!(
            DEMO.contains("data-channel=\"site\""),
            "the crate's page changed"
        );
        let page = demo_page("support");
        assert!(page.contains("data-channel=\"support\""));
        assert!(demo_page("a\"b").contains("data-channel=\"a&quot;b\""));
    }
}
