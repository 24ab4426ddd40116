//! The adapter against the emulator: every outbound operation and a full round trip through a
//! signed delivery. (Failures: `failures.rs`.)

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{setup, to};
use serde_json::json;
use switchboard_core::model::{Attachment, AttachmentKind, InboundAttachment};
use switchboard_core::{
    Adapter, ChannelTable, ErrorKind, EventKind, MessageId, MessageRef, OutboundMessage, ThreadId,
};
use switchboard_slack::emulator::{Emulator, EmulatorOptions};
use switchboard_slack::{SlackAdapter, SlackBlocks, SlackEphemeral, SlackPostOptions};

#[tokio::test]
async fn text_threads_and_buttons() {
    let (em, a) = setup(true, 10).await;
    let msg = OutboundMessage::builder()
        .text("Deploy *now*?")
        .button("Yes", "DEPLOY")
        .quick_reply("Later", "LATER")
        .build()
        .unwrap();
    let thread = to("C0GENERAL").in_thread(ThreadId::new("1700000000.000100").unwrap());
    let receipt = a.send(&thread, &msg).await.unwrap();
    assert_eq!(receipt.messages.len(), 1);
    assert!(receipt.degradations.is_empty());
    let sent = &receipt.messages[0];
    assert_eq!(
        sent.conversation.thread.as_ref().unwrap().as_str(),
        "1700000000.000100"
    );
    let m = &em.messages()[0];
    assert_eq!(m.ts, sent.id.as_str());
    assert_eq!(m.thread_ts.as_deref(), Some("1700000000.000100"));
    assert_eq!(m.text, "Deploy _now_?");
    let els = m.blocks[1]["elements"].as_array().unwrap();
    assert_eq!(els[0]["value"], "DEPLOY");
    assert_eq!(els[1]["value"], "LATER");
    let call = &em.calls()[0];
    assert_eq!(call.method, "chat.postMessage");
    assert!(call.content_type.starts_with("application/json"));
    assert!(call.authorized);
}

#[tokio::test]
async fn dms_open_a_conversation_once() {
    let (em, a) = setup(true, 10).await;
    for text in ["one", "two"] {
        a.send(&to("U0ALICE"), &OutboundMessage::text(text).unwrap())
            .await
            .unwrap();
    }
    let methods: Vec<String> = em.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(
        methods,
        ["conversations.open", "chat.postMessage", "chat.postMessage"]
    );
    let msgs = em.messages();
    assert!(msgs[0].channel.starts_with('D'));
    assert_eq!(msgs[0].channel, msgs[1].channel);
}

#[tokio::test]
async fn edit_delete_and_react() {
    let (em, a) = setup(true, 10).await;
    let r = a
        .send(&to("C0GENERAL"), &OutboundMessage::text("v1").unwrap())
        .await
        .unwrap();
    let target = MessageRef::new(to("C0GENERAL"), r.messages[0].id.clone());
    a.edit(&target, &OutboundMessage::text("v2").unwrap())
        .await
        .unwrap();
    a.react(&target, ":tada:", true).await.unwrap();
    a.react(&target, "tada", true).await.unwrap(); // already_reacted is success
    assert_eq!(em.messages()[0].reactions, vec!["tada".to_owned()]);
    a.react(&target, "tada", false).await.unwrap();
    let too_long = OutboundMessage::text("x ".repeat(2500)).unwrap();
    let e = a.edit(&target, &too_long).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidMessage);
    a.delete(&target).await.unwrap();
    let m = &em.messages()[0];
    assert!(m.edited && m.deleted);
    assert_eq!(m.text, "v2");
    let e = a.delete(&target).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.provider_code()),
        (ErrorKind::NotFound, Some("message_not_found"))
    );
    let gone = MessageRef::new(to("C0GENERAL"), MessageId::new("1.000001").unwrap());
    assert_eq!(
        a.edit(&gone, &OutboundMessage::text("x").unwrap())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn files_use_the_external_upload_flow() {
    let (em, a) = setup(true, 10).await;
    let msg = OutboundMessage::builder()
        .text("Here is the report")
        .attachment(
            Attachment::bytes(b"%PDF-1.4".to_vec(), "application/pdf", "report.pdf")
                .with_caption("Q3 report"),
        )
        .build()
        .unwrap();
    let thread = to("C0GENERAL").in_thread(ThreadId::new("1700000000.000200").unwrap());
    let r = a.send(&thread, &msg).await.unwrap();
    assert_eq!(r.messages.len(), 2);
    let calls = em.calls();
    let methods: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "chat.postMessage",
            "files.getUploadURLExternal",
            "files.completeUploadExternal"
        ]
    );
    assert!(
        calls[1]
            .content_type
            .starts_with("application/x-www-form-urlencoded")
    );
    assert_eq!(calls[1].args["length"], "8");
    assert_eq!(calls[1].args["alt_txt"], "Q3 report");
    assert_eq!(calls[2].args["thread_ts"], "1700000000.000200");
    let file_id = r.messages[1].id.as_str();
    assert_eq!(em.file_bytes(file_id).unwrap().as_ref(), b"%PDF-1.4");
    let shared = em
        .messages()
        .into_iter()
        .find(|m| m.files.contains(&file_id.to_owned()))
        .unwrap();
    assert_eq!(shared.channel, "C0GENERAL");
    assert!(em.calls().iter().all(|c| c.method != "files.upload"));
}

#[tokio::test]
async fn ephemeral_messages_use_post_ephemeral() {
    let (em, a) = setup(true, 10).await;
    let msg = OutboundMessage::builder()
        .text("only you")
        .extension(&SlackEphemeral {
            user: "U0BOB".into(),
        })
        .build()
        .unwrap();
    let r = a.send(&to("C0GENERAL"), &msg).await.unwrap();
    assert_eq!(em.calls()[0].method, "chat.postEphemeral");
    assert_eq!(em.messages()[0].ephemeral_to.as_deref(), Some("U0BOB"));
    assert_eq!(em.messages()[0].ts, r.messages[0].id.as_str());
}

/// `chat.postEphemeral` takes no `reply_broadcast`, `unfurl_links` or `unfurl_media` (Slack's
/// method reference): the post options apply to `chat.postMessage` only.
#[tokio::test]
async fn ephemeral_messages_carry_only_post_ephemeral_arguments() {
    let (em, a) = setup(true, 10).await;
    let msg = OutboundMessage::builder()
        .text("only you, in the thread")
        .extension(&SlackEphemeral {
            user: "U0BOB".into(),
        })
        .extension(&SlackPostOptions {
            reply_broadcast: true,
            unfurl_links: Some(false),
            unfurl_media: Some(false),
        })
        .build()
        .unwrap();
    let thread = to("C0GENERAL").in_thread(ThreadId::new("1700000000.000300").unwrap());
    a.send(&thread, &msg).await.unwrap();
    let call = &em.calls()[0];
    assert_eq!(call.method, "chat.postEphemeral");
    let mut keys: Vec<&str> = call.args.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["channel", "text", "thread_ts", "user"]);

    // The same options on a normal post are sent.
    let msg = OutboundMessage::builder()
        .text("for everyone")
        .extension(&SlackPostOptions {
            reply_broadcast: true,
            unfurl_links: Some(false),
            unfurl_media: Some(false),
        })
        .build()
        .unwrap();
    a.send(&thread, &msg).await.unwrap();
    let call = &em.calls()[1];
    assert_eq!(call.method, "chat.postMessage");
    assert_eq!(
        (
            &call.args["reply_broadcast"],
            &call.args["unfurl_links"],
            &call.args["unfurl_media"]
        ),
        (&json!(true), &json!(false), &json!(false))
    );
}

/// A message whose only content is for another provider (or Slack post options) sends nothing
/// and says so, rather than succeeding with an empty receipt.
#[tokio::test]
async fn a_message_with_nothing_for_slack_is_refused() {
    let (em, a) = setup(true, 10).await;
    for msg in [
        OutboundMessage::builder()
            .extension(&SlackPostOptions::default())
            .build()
            .unwrap(),
        OutboundMessage::builder()
            .extension(&SlackBlocks(Vec::new()))
            .build()
            .unwrap(),
    ] {
        let e = a.send(&to("C0GENERAL"), &msg).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidMessage, "{e}");
    }
    assert!(em.calls().is_empty());
}

#[tokio::test]
async fn identity_is_learned_on_first_send_and_guards_the_loop() {
    let (em, a) = setup(false, 10).await;
    assert_eq!(a.bot_identity().user_id, None);
    a.send(&to("C0GENERAL"), &OutboundMessage::text("hi").unwrap())
        .await
        .unwrap();
    a.send(&to("C0GENERAL"), &OutboundMessage::text("again").unwrap())
        .await
        .unwrap();
    let methods: Vec<String> = em.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(
        methods,
        ["auth.test", "chat.postMessage", "chat.postMessage"]
    );
    let id = a.bot_identity();
    assert_eq!(
        (id.user_id.as_deref(), id.bot_id.as_deref()),
        (Some("U0EMUBOT"), Some("B0EMUBOT"))
    );
    let own = em.event_callback(json!({"type": "reaction_added", "user": "U0EMUBOT", "reaction": "eyes",
        "item": {"type": "message", "channel": "C0GENERAL", "ts": "1.000001"}, "event_ts": "1.000002"}));
    let req = em.signed_request("http://127.0.0.1/hook", own.to_string(), "application/json");
    assert_eq!(a.handle_webhook(&req).accepted_events().unwrap().len(), 0);
}

#[tokio::test]
async fn inbound_files_are_fetched_with_the_token_only_from_slack_hosts() {
    let (em, a) = setup(true, 10).await;
    let url = em.host_file("cat.png", bytes::Bytes::from_static(b"\x89PNG"));
    let att = InboundAttachment::new(AttachmentKind::Image, Some(url));
    let got = a.fetch_attachment(&att).await.unwrap();
    assert_eq!(got.bytes.as_ref(), b"\x89PNG");
    // Any origin but the configured API host is checked (issue 15, item 7): the emulator
    // reached by another name is plain http on loopback, refused before any request, as are
    // the metadata address and private addresses.
    let other = att.url.clone().unwrap().replace("127.0.0.1", "localhost");
    for url in [
        other,
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://10.1.2.3/files-pri/x".to_owned(),
    ] {
        let e = a
            .fetch_attachment(&InboundAttachment::new(AttachmentKind::Image, Some(url)))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnsafeUrl, "{e}");
    }
}

#[tokio::test]
async fn a_delivered_event_round_trips_through_handle_webhook() {
    use std::sync::{Arc, Mutex};
    let (em, a) = setup(true, 10).await;
    let a = Arc::new(a);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (a2, s2) = (a.clone(), seen.clone());
    let app = axum::Router::new().route(
        "/webhooks/team",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (a, seen) = (a2.clone(), s2.clone());
                async move {
                    let mut req = switchboard_core::WebhookRequest::post(
                        "http://127.0.0.1/webhooks/team",
                        body,
                    );
                    req.headers = headers;
                    let out = a.handle_webhook(&req);
                    seen.lock()
                        .unwrap()
                        .extend(out.accepted_events().unwrap_or_default().to_vec());
                    out.response().status
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let body = em.user_message("C0GENERAL", "U0ALICE", "hello bot");
    let d = em
        .deliver(&format!("http://{addr}/webhooks/team"), &body)
        .await;
    assert!(d.delivered());
    assert_eq!(d.attempts.len(), 1);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].text(), Some("hello bot"));
    assert_eq!(
        seen[0].attributes["slack.event_id"],
        body["event_id"].as_str().unwrap()
    );
    assert!(seen[0].id.as_str().starts_with("msg:C0GENERAL:"));
    assert!(matches!(seen[0].kind, EventKind::Message(_)));
    let msg = OutboundMessage::builder()
        .attachment(Attachment::url(
            AttachmentKind::Image,
            "https://x.test/a.png",
        ))
        .build()
        .unwrap();
    a.send(&seen[0].conversation, &msg).await.unwrap();
    let last = em.messages().pop().unwrap();
    assert_eq!(last.blocks[0]["type"], "image");
    assert_eq!(last.text, "image");
}

/// Issue 15, item 4: Slack downloads stop at `max_media_bytes` (default 25 MiB): a larger file
/// is `TooLarge` naming the cap, found while streaming; one within it is fetched whole. The
/// key is read from the channel table and must be a positive number of bytes.
#[tokio::test]
async fn files_over_max_media_bytes_are_refused_naming_the_cap() {
    let em = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let table = |extra: &str| {
        ChannelTable::from_toml_str(
            "team",
            &format!(
                "provider = 'slack'\nbot_token = 'xoxb-emulator-token'\n\
                 signing_secret = 'emulator-signing-secret'\napi_base_url = '{}'\n{extra}",
                em.base_url()
            ),
        )
        .unwrap()
    };
    let a = SlackAdapter::from_table(table("max_media_bytes = 1048576")).unwrap();
    assert_eq!(a.config().max_media_bytes, 1024 * 1024);
    let big = em.host_file("big.bin", bytes::Bytes::from(vec![0u8; 3 * 1024 * 1024]));
    let e = a
        .fetch_attachment(&InboundAttachment::new(AttachmentKind::File, Some(big)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert!(e.to_string().contains("1 MiB (1048576 bytes)"), "{e}");
    let small = em.host_file("small.bin", bytes::Bytes::from(vec![1u8; 1024 * 1024]));
    let got = a
        .fetch_attachment(&InboundAttachment::new(AttachmentKind::File, Some(small)))
        .await
        .unwrap();
    assert_eq!(got.bytes.len(), 1024 * 1024);

    let default = SlackAdapter::from_table(table("")).unwrap();
    assert_eq!(
        default.config().max_media_bytes,
        switchboard_slack::DEFAULT_MAX_MEDIA_BYTES
    );
    for bad in [
        "max_media_bytes = 0",
        "max_media_bytes = -5",
        "max_media_bytes = 'big'",
    ] {
        let e = SlackAdapter::from_table(table(bad)).err().unwrap();
        assert!(e.to_string().contains("max_media_bytes"), "{bad}: {e}");
    }
}
