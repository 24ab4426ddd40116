//! What the integration tests share: a channel, requests as a browser on the allowed origin
//! sends them, and sessions.

#![allow(dead_code, unreachable_pub)]

use std::time::SystemTime;

use switchboard_core::{ChannelTable, Env, WebhookRequest};
use switchboard_webchat::WebchatAdapter;
use switchboard_webchat::wire::SessionResponse;

pub const ORIGIN: &str = "https://shop.example";
pub const IDENTITY_SECRET: &str = "id-s3cret-for-tests";

pub fn url(channel: &str, endpoint: &str) -> String {
    format!("https://chat.example/webchat/{channel}/{endpoint}")
}

pub fn adapter(channel: &str, extra: &str) -> WebchatAdapter {
    let table = ChannelTable::from_toml_str(
        channel,
        &format!(
            "provider = 'webchat'\nallowed_origins = ['{ORIGIN}']\n\
             identity_secret = '${{WEBCHAT_IDENTITY_SECRET}}'\n{extra}"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .with_env(Env::from_pairs([(
        "WEBCHAT_IDENTITY_SECRET",
        IDENTITY_SECRET,
    )]));
    WebchatAdapter::from_table(table).unwrap_or_else(|e| panic!("{e}"))
}

/// A JSON `POST` from the allowed origin.
pub fn post(channel: &str, endpoint: &str, body: &str) -> WebhookRequest {
    WebhookRequest::post(url(channel, endpoint), body.to_owned())
        .with_header("origin", ORIGIN)
        .with_header("content-type", "application/json")
}

/// The same with a bearer token.
pub fn post_as(token: &str, channel: &str, endpoint: &str, body: &str) -> WebhookRequest {
    post(channel, endpoint, body).with_header("authorization", &format!("Bearer {token}"))
}

pub fn session(adapter: &WebchatAdapter, body: &str) -> SessionResponse {
    let channel = adapter.config_channel();
    let h = adapter.handle(&post(&channel, "sessions", body));
    assert_eq!(h.reply.status, 200, "{:?}", h.reply);
    h.reply.body_as().unwrap_or_else(|e| panic!("{e}"))
}

pub fn session_at(adapter: &WebchatAdapter, at: SystemTime) -> SessionResponse {
    adapter
        .open_session(&Default::default(), at)
        .unwrap_or_else(|e| panic!("{e}"))
}

pub trait ChannelOf {
    fn config_channel(&self) -> String;
}

impl ChannelOf for WebchatAdapter {
    fn config_channel(&self) -> String {
        use switchboard_core::Adapter;
        self.info().channel.to_string()
    }
}
