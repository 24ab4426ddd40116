//! The web chat protocol's inputs (issue 13 and issue 15 item 14): the JSON bodies of `POST
//! sessions`, `POST messages`, `POST typing` and `POST read` through the adapter's public
//! `handle`, and session tokens and upload references through `verify_session` /
//! `verify_upload`.
//!
//! Input: one flag byte, then the rest. Flags bits 0–2: what the rest is: 0 sessions body,
//! 1 messages body, 2 typing body, 3 read body (each with a valid token), 4 a messages body with
//! the rest's first line as the token, 5 a session token, 6 an upload reference, 7 a verified
//! user's id and name (NUL between them) for `POST sessions` with the right `user_hash`.
//! Invariants: never a 5xx; a refusal is a 4xx with `{"error","message"}`; an accepted request's
//! events belong to the channel and to the token's conversation, and an echo is always the
//! visitor's (a visitor cannot speak as an agent or the bot); a token decodes only when it is
//! one we signed for this channel; a session the server issues is accepted with its own token.
#![no_main]

use std::sync::LazyLock;
use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use switchboard_core::model::time::to_millis;
use switchboard_core::{ChannelTable, Secret, WebhookRequest};
use switchboard_fuzz::text;
use switchboard_webchat::signature::user_hash;
use switchboard_webchat::token::{SessionClaims, issue_session, verify_session, verify_upload};
use switchboard_webchat::wire::{Event, Role, SessionResponse};
use switchboard_webchat::{TokenKey, WebchatAdapter};

const SECRET: &str = "fuzz-webchat-token-secret-0123456789";
const IDENTITY_SECRET: &str = "fuzz-identity-secret";
const ORIGIN: &str = "https://shop.example";
const CONVERSATION: &str = "anon:0123456789abcdef0123456789abcdef";

static ADAPTER: LazyLock<WebchatAdapter> = LazyLock::new(|| {
    let table = ChannelTable::from_toml_str(
        "site",
        &format!(
            "provider = 'webchat'\nallowed_origins = ['{ORIGIN}']\ntoken_secret = '{SECRET}'\nidentity_secret = '{IDENTITY_SECRET}'\nvisitor_rate = {{ per_second = 1000000.0, burst = 1000000 }}"
        ),
    )
    .expect("fuzz channel table");
    WebchatAdapter::from_table(table).expect("fuzz channel")
});
static KEY: LazyLock<TokenKey> = LazyLock::new(|| TokenKey::from_secret(&Secret::new(SECRET)));

static TOKEN: LazyLock<String> = LazyLock::new(|| {
    let now = to_millis(SystemTime::now());
    let claims = SessionClaims {
        channel: "site".into(),
        conversation: CONVERSATION.into(),
        user_id: None,
        name: None,
        issued_at: now,
        expires_at: now + 3_600_000,
    };
    issue_session(&KEY, &claims)
});

fn post(endpoint: &str, token: &str, conversation: &str, body: &[u8]) {
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
        assert!(
            status.is_client_error(),
            "{endpoint}: refused with {status}"
        );
        assert_eq!(e.status(), status);
        let body: serde_json::Value =
            serde_json::from_slice(&handled.reply.body).expect("an error body is JSON");
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{body}"
        );
        assert!(handled.events.is_empty() && handled.echo.is_none());
        return;
    }
    assert!(status.is_success(), "{endpoint}: {status}");
    for event in &handled.events {
        assert_eq!(event.conversation.channel.as_str(), "site");
        if endpoint != "sessions" {
            assert_eq!(event.conversation.conversation.as_str(), conversation);
        }
        serde_json::to_string(event).expect("an accepted event serializes");
    }
    if let Some(Event::Message(m)) = &handled.echo {
        assert_eq!(
            m.from.role,
            Role::Visitor,
            "a visitor spoke as {:?}",
            m.from
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let now = SystemTime::now();
    match flags & 7 {
        0 => post("sessions", "", "", rest),
        1 => post("messages", &TOKEN, CONVERSATION, rest),
        2 => post("typing", &TOKEN, CONVERSATION, rest),
        3 => post("read", &TOKEN, CONVERSATION, rest),
        4 => {
            let s = text(rest);
            let (token, body) = s.split_once('\n').unwrap_or((&s, "{}"));
            post("messages", token, CONVERSATION, body.as_bytes());
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
                assert_eq!(
                    (c.channel.as_str(), c.conversation.as_str()),
                    ("site", CONVERSATION)
                );
            }
        }
        _ => {
            // A session the server issues is accepted: a verified user whose id and name are
            // the input (NUL between them), with the right user_hash.
            let s = text(rest);
            let (user_id, name) = s.split_once('\0').unwrap_or((&s, "Ann"));
            let body = serde_json::json!({
                "user_id": user_id,
                "user_hash": user_hash(IDENTITY_SECRET, user_id),
                "name": name,
            });
            let request = WebhookRequest::post(
                "https://chat.example/webchat/site/sessions",
                body.to_string().into_bytes(),
            )
            .with_header("origin", ORIGIN)
            .with_header("content-type", "application/json");
            let handled = ADAPTER.handle(&request);
            if handled.error.is_some() {
                return;
            }
            let session: SessionResponse =
                handled.reply.body_as().expect("a session answer is JSON");
            let claims = verify_session(&KEY, "site", &session.token, now)
                .unwrap_or_else(|e| panic!("a token we issued is refused: {e:?}"));
            assert_eq!(claims.conversation, session.conversation_id);
            assert_eq!(claims.user_id.as_deref(), Some(user_id));
            assert!(verify_session(&KEY, "other", &session.token, now).is_err());
            let text = br#"{"client_id":"c-1","text":"hi"}"#;
            post("messages", &session.token, &session.conversation_id, text);
        }
    }
});
