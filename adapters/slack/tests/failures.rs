//! Failures against the emulator and a recording server: error kinds and retry classes,
//! partial sends, timeouts, and no credential in an error.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{setup, to};
use serde_json::json;
use switchboard_core::model::Attachment;
use switchboard_core::{Adapter, ChannelName, ErrorKind, OutboundMessage, Retry, Secret};
use switchboard_slack::emulator::Fault;
use switchboard_slack::{SlackAdapter, SlackConfig};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn failures_map_to_kinds_and_keep_partial_sends() {
    let (em, a) = setup(true, 10).await;
    let long = format!("{}\n\n{}", "a ".repeat(1900), "b ".repeat(1900));
    em.stage(Fault::Delay(Duration::ZERO));
    em.stage(Fault::RateLimited {
        retry_after: Duration::from_secs(4),
    });
    let e = a
        .send(&to("C0GENERAL"), &OutboundMessage::text(long).unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.retry_after()),
        (ErrorKind::RateLimited, Some(Duration::from_secs(4)))
    );
    assert_eq!(e.partial().len(), 1, "the first part went out");
    assert_eq!(
        e.retry(),
        Retry::Ambiguous,
        "a partial send is no longer safe to repeat whole"
    );

    em.stage(Fault::Drop);
    let e = a
        .send(&to("C0GENERAL"), &OutboundMessage::text("x").unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.retry()),
        (ErrorKind::Transport, Retry::Ambiguous),
        "{e:?}"
    );

    let e = a
        .send(&to("C0NOPE"), &OutboundMessage::text("x").unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.provider_code()),
        (ErrorKind::NotFound, Some("channel_not_found"))
    );

    let (_em2, limited) = setup(true, 1).await;
    limited
        .send(&to("C0GENERAL"), &OutboundMessage::text("1").unwrap())
        .await
        .unwrap();
    let e = limited
        .send(&to("C0GENERAL"), &OutboundMessage::text("2").unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.retry(), e.retry_after()),
        (
            ErrorKind::RateLimited,
            Retry::Safe,
            Some(Duration::from_secs(1))
        )
    );
}

/// A request that was written and then timed out may have been posted: `Timeout`, `Ambiguous`.
#[tokio::test]
async fn a_timeout_after_the_request_was_written_is_ambiguous() {
    let (em, _) = setup(true, 10).await;
    let config = SlackConfig::builder(
        Secret::new("xoxb-emulator-token"),
        Secret::new("emulator-signing-secret"),
    )
    .bot_user_id("U0EMUBOT")
    .bot_id("B0EMUBOT")
    .api_base_url(em.base_url())
    .timeout(Duration::from_millis(200))
    .build()
    .unwrap();
    let a = SlackAdapter::new(ChannelName::new("team").unwrap(), config).unwrap();
    em.stage(Fault::Delay(Duration::from_secs(2)));
    let e = a
        .send(&to("C0GENERAL"), &OutboundMessage::text("slow").unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.retry(), e.provider()),
        (ErrorKind::Timeout, Retry::Ambiguous, Some("slack")),
        "{e:?}"
    );
    assert_eq!(em.calls().len(), 0, "the emulator was still waiting");
}

/// The `upload_url` Slack hands out is a credential: a failed upload does not show it.
#[tokio::test]
async fn a_failed_upload_does_not_reveal_the_upload_url() {
    let server = MockServer::start().await;
    let secret_url = "http://127.0.0.1:9/upload/v1/CwABAAAAXAoAAZnSECRETPART";
    Mock::given(method("POST"))
        .and(path("/api/files.getUploadURLExternal"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"ok": true, "upload_url": secret_url, "file_id": "F123ABC456"}),
            ),
        )
        .mount(&server)
        .await;
    let config = SlackConfig::builder(Secret::new("xoxb-ref"), Secret::new("s"))
        .bot_user_id("U1")
        .bot_id("B1")
        .api_base_url(format!("{}/api", server.uri()))
        .build()
        .unwrap();
    let a = SlackAdapter::new(ChannelName::new("team").unwrap(), config).unwrap();
    let msg = OutboundMessage::builder()
        .attachment(Attachment::bytes(b"abc".to_vec(), "text/plain", "a.txt"))
        .build()
        .unwrap();
    let e = a.send(&to("C123ABC456"), &msg).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport, "{e:?}");
    let mut shown = format!("{e} {e:?}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        shown.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    assert!(!shown.contains("SECRETPART"), "{shown}");
}
