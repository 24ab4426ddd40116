//! The web chat protocol's inputs (issue 13 and issue 15 item 14): the JSON bodies of `POST
//! sessions`, `POST messages`, `POST typing` and `POST read` through the adapter's public
//! `handle`, and session tokens and upload references through `verify_session` /
//! `verify_upload`.
//!
//! Input: one flag byte, then the rest. Flags bits 0–2: what the rest is: 0 sessions body,
//! 1 messages body, 2 typing body, 3 read body (each with a valid token), 4 a messages body with
//! the rest's first line as the token, 5 a session token, 6 an upload reference, 7 the claims
//! of a token to issue and verify again (fields separated by NUL).
//! Invariants: never a 5xx; a refusal is a 4xx with `{"error","message"}`; an accepted request's
//! events belong to the channel and to the token's conversation, and an echo is always the
//! visitor's (a visitor cannot speak as an agent or the bot); a token decodes only when it is
//! one we signed for this channel; a token we issue verifies to the same claims.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use switchboard_core::model::time::to_millis;
use switchboard_core::{ChannelTable, Secret, WebhookRequest};
use switchboard_fuzz::text;
use switchboard_webchat::token::{
    SessionClaims, issue_session, verify_session, verify_upload,
};
use switchboard_webchat::wire::{Event, Role};
use switchboard_webchat::{TokenKey, WebchatAdapter};

const SECRET: &str = "fuzz-webchat-token-secret-0123456789";
const ORIGIN: &str = "https://shop.example";
const CONVERSATION: &str = "anon:0123456789abcdef0123456789abcdef";

static ADAPTER: LazyLock<WebchatAdapter> = LazyLock::new(|| {
    let table = ChannelTable::from_toml_str(
        "site",
        &format!(
            "provider = 'webchat'\nallowed_origins = ['{ORIGIN}']\ntoken_secret = '{SECRET}'\nidentity_secret = 'fuzz-identity-secret'\nvisitor_rate = {{ per_second = 1000000.0, burst = 1000000 }}"
        ),
    )
    .expect("fuzz channel table");
    WebchatAdapter::from_table(table).expect("fuzz channel")
});
static KEY: LazyLock<TokenKey> = LazyLock::new(|| TokenKey::from_secret(&Secret::new(SECRET)));

fn claims(conversation: &str, user_id: Option<String>, name: Option<String>) -> SessionClaims {
    let now = to_millis(SystemTime::now());
    SessionClaims {
        channel: "site".into(),
        conversation: conversation.into(),
        user_id,
        name,
        issued_at: now,
        expires_at: now + 3_600_000,
    }
}

static TOKEN: LazyLock<String> =
    LazyLock::new(|| issue_session(&KEY, &claims(CONVERSATION, None, None)));

fn post(endpoint: &str, token: &str, body: &[u8]) {
    let request = WebhookRequest::post(
        format!("https://chat.example/webchat/site/{endpoint}"),
        body.to_vec(),
    )
    .with_header("origin", ORIGIN)
    .with_header("content-type", "application/json")
    .with_header("authorization", &format!("Bearer {token}"));
    let handled = ADAPTER.handle(&request);
    let status = handled.reply.status;
    assert!(!status.is_server_error(), "{endpoint}: {status}");
    if let Some(e) = &handled.error {
        assert!(status.is_client_error(), "{endpoint}: refused with {status}");
        assert_eq!(e.status(), status);
        let body: serde_json::Value =
            serde_json::from_slice(&handled.reply.body).expect("an error body is JSON");
        assert!(body["error"].is_string() && body["message"].is_string(), "{body}");
        assert!(handled.events.is_empty() && handled.echo.is_none());
        return;
    }
    assert!(status.is_success(), "{endpoint}: {status}");
    for event in &handled.events {
        assert_eq!(event.conversation.channel.as_str(), "site");
        if endpoint != "sessions" {
            assert_eq!(event.conversation.conversation.as_str(), CONVERSATION);
        }
        serde_json::to_string(event).expect("an accepted event serializes");
    }
    if let Some(Event::Message(m)) = &handled.echo {
        assert_eq!(m.from.role, Role::Visitor, "a visitor spoke as {:?}", m.from);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let now = SystemTime::now();
    match flags & 7 {
        0 => post("sessions", "", rest),
        1 => post("messages", &TOKEN, rest),
        2 => post("typing", &TOKEN, rest),
        3 => post("read", &TOKEN, rest),
        4 => {
            let s = text(rest);
            let (token, body) = s.split_once('\n').unwrap_or((&s, "{}"));
            post("messages", token, body.as_bytes());
        }
        5 => {
            let token = text(rest);
            if let Ok(c) = verify_session(&KEY, "site", &token, now) {
                // Only a token we signed decodes: it is one of ours, re-sealed identically.
                assert_eq!(c.channel, "site");
                assert_eq!(issue_session(&KEY, &c), token, "an altered token decoded");
            }
            let other = TokenKey::from_secret(&Secret::new("another-secret-0123456789"));
            assert!(verify_session(&other, "site", &token, now).is_err());
        }
        6 => {
            if let Ok(c) = verify_upload(&KEY, "site", CONVERSATION, &text(rest)) {
                assert_eq!((c.channel.as_str(), c.conversation.as_str()), ("site", CONVERSATION));
            }
        }
        _ => {
            let s = text(rest);
            let mut parts = s.split('\0');
            let conversation = parts.next().unwrap_or_default().to_owned();
            let user_id = parts.next().map(str::to_owned);
            let name = parts.next().map(str::to_owned);
            let issued = claims(&conversation, user_id, name);
            let token = issue_session(&KEY, &issued);
            let back = verify_session(&KEY, "site", &token, now)
                .expect("a token we issued verifies");
            assert_eq!(back, issued);
            assert!(
                verify_session(&KEY, "site", &token, now + Duration::from_secs(7200)).is_err(),
                "an expired token verified"
            );
            assert!(verify_session(&KEY, "other", &token, now).is_err());
        }
    }
});
