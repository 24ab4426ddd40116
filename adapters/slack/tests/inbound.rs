//! Events API payloads through `handle_webhook`: messages, mentions, reactions, edits, the
//! loop guard, unknown events, retries and bad requests (interactivity and slash commands are in
//! `interactivity.rs`).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod signed;

use serde_json::json;
use std::time::{Duration, UNIX_EPOCH};

use signed::{URL, adapter, case, events_of, message, now_secs, signed, signed_at};
use switchboard_core::model::AttachmentKind;
use switchboard_core::{Adapter, EventKind, InboundEvent, RejectReason, WebhookRequest};
use switchboard_slack::SlackAdapter;

fn decode_with(a: &SlackAdapter, id: &str) -> Vec<InboundEvent> {
    let c = case("events", id);
    let body = serde_json::to_vec(&c["payload"]).unwrap();
    events_of(a.handle_webhook(&signed(&body, "application/json")))
}

fn one(a: &SlackAdapter, id: &str) -> InboundEvent {
    let mut evs = decode_with(a, id);
    assert_eq!(evs.len(), 1, "{id}: {evs:?}");
    evs.remove(0)
}

fn wrap_inner(id: &str) -> Vec<u8> {
    let c = case("events", id);
    serde_json::to_vec(&json!({
        "token": "x", "team_id": "T123ABC456", "api_app_id": "A0APP",
        "event": c["payload"], "type": "event_callback",
        "event_id": format!("Ev-{id}"), "event_time": 1_360_782_804
    }))
    .unwrap()
}

#[test]
fn url_verification_answers_the_challenge_after_the_signature() {
    let a = adapter("");
    let c = case("events", "url_verification-doc");
    let body = serde_json::to_vec(&c["payload"]).unwrap();
    let out = a.handle_webhook(&signed(&body, "application/json"));
    let resp = out.response();
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.body,
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    assert_eq!(out.accepted_events().map(<[_]>::len), Some(0));
    let unsigned = WebhookRequest::post(URL, body);
    let r = a.handle_webhook(&unsigned);
    assert_eq!(
        r.rejection().unwrap().reason,
        RejectReason::MissingSignature
    );
    assert_eq!(r.response().status, 401);
}

#[test]
fn app_mentions_are_messages_marked_as_mentions() {
    let a = adapter("");
    let ev = one(&a, "app_mention-doc");
    assert_eq!(ev.id.as_str(), "msg:C123ABC456:1515449522.000016");
    assert_eq!(ev.attributes["slack.event_id"], "Ev123ABC456");
    assert_eq!(ev.conversation.channel.as_str(), "team");
    assert_eq!(ev.conversation.conversation.as_str(), "C123ABC456");
    assert_eq!(ev.conversation.thread, None);
    assert_eq!(ev.sender.id.as_str(), "U061F7AUR");
    let m = message(&ev);
    assert!(m.mention);
    assert_eq!(
        m.text.as_deref(),
        Some("<@U0LAN0Z89> is it everything a river should be?")
    );
    assert_eq!(m.id.as_ref().map(|i| i.as_str()), Some("1515449522.000016"));
    assert_eq!(
        ev.at.duration_since(UNIX_EPOCH).unwrap(),
        Duration::from_secs(1_515_449_522) + Duration::from_micros(16)
    );
    assert_eq!(ev.raw["event"]["type"], "app_mention");
    assert_eq!(ev.attributes["slack.event_type"], "app_mention");
    assert_eq!(ev.attributes["slack.team_id"], "T123ABC456");

    let ev = one(&a, "app_mention-bolt");
    assert_eq!(
        (ev.id.as_str(), ev.sender.id.as_str()),
        ("msg:C111:1595926230.009600", "W222")
    );
    assert_eq!(ev.conversation.conversation.as_str(), "C111");
    assert!(message(&ev).mention);
    assert_eq!(ev.text(), Some("<@W111> Hi there!"));
}

#[test]
fn reactions_added_and_removed() {
    let a = adapter("");
    let ev = one(&a, "wrapper-example-2-reaction_added");
    assert_eq!(ev.id.as_str(), "EvXXXXXXXX");
    assert_eq!(ev.conversation.conversation.as_str(), "C0G9QF9GZ");
    assert_eq!(ev.sender.id.as_str(), "U024BE7LH");
    match &ev.kind {
        EventKind::Reaction(r) => {
            assert_eq!(r.message.as_str(), "1360782400.498405");
            assert_eq!(r.reaction, "thumbsup");
            assert!(r.added);
        }
        k => panic!("{k:?}"),
    }
    let ev = one(&a, "reaction_added-bolt");
    assert!(
        matches!(&ev.kind, EventKind::Reaction(r) if r.reaction == "heart_eyes" && r.message.as_str() == "1599529504.000400")
    );
    assert_eq!(ev.sender.id.as_str(), "W111");

    let mut removed = case("events", "reaction_added-bolt")["payload"].clone();
    removed["event"]["type"] = json!("reaction_removed");
    let body = serde_json::to_vec(&removed).unwrap();
    let ev = events_of(a.handle_webhook(&signed(&body, "application/json"))).remove(0);
    assert!(matches!(&ev.kind, EventKind::Reaction(r) if !r.added && r.reaction == "heart_eyes"));

    let body = wrap_inner("inner-reaction_added-doc");
    let ev = events_of(a.handle_webhook(&signed(&body, "application/json"))).remove(0);
    assert_eq!(ev.id.as_str(), "Ev-inner-reaction_added-doc");
    assert!(matches!(&ev.kind, EventKind::Reaction(r) if r.added && r.reaction == "thumbsup"));
    assert_eq!(ev.attributes["slack.event_type"], "reaction_added");
}

#[test]
fn plain_messages() {
    let a = adapter("bot_user_id = 'W23456789'\nbot_id = 'BZYBOTHED'");
    let ev = one(&a, "event-wrapper-field-examples");
    assert_eq!(ev.id.as_str(), "msg:D0PNCRP9N:1525215129.000001");
    assert_eq!(ev.attributes["slack.event_id"], "Ev0PV52K25");
    assert_eq!(ev.conversation.conversation.as_str(), "D0PNCRP9N");
    assert_eq!(ev.text(), Some("How many cats did we herd yesterday?"));
    assert_eq!(ev.attributes["slack.channel_type"], "app_home");
    assert!(!message(&ev).mention && !ev.sender.is_bot);

    for id in ["message-user-with-blocks-bolt", "message-user-bolt"] {
        let ev = one(&a, id);
        assert_eq!(ev.sender.id.as_str(), "W111", "{id}");
        assert_eq!(ev.conversation.conversation.as_str(), "C111");
        assert!(ev.text().unwrap().starts_with("H"), "{id}");
        assert_eq!(ev.attributes.get("slack.retry_num"), None);
    }

    let body = wrap_inner("inner-message-doc");
    let ev = events_of(a.handle_webhook(&signed(&body, "application/json"))).remove(0);
    assert_eq!(ev.text(), Some("Hello world"));
    assert_eq!(
        message(&ev).id.as_ref().unwrap().as_str(),
        "1355517523.000005"
    );
    assert_eq!(ev.sender.id.as_str(), "U123ABC456");
}

#[test]
fn thread_replies_broadcasts_and_me_messages() {
    let a = adapter("");
    let mut p = case("events", "message-user-bolt")["payload"].clone();
    p["event"]["thread_ts"] = json!("1610261000.000100");
    p["event"]["parent_user_id"] = json!("U999");
    let body = serde_json::to_vec(&p).unwrap();
    let ev = events_of(a.handle_webhook(&signed(&body, "application/json"))).remove(0);
    assert_eq!(
        ev.conversation.thread.as_ref().unwrap().as_str(),
        "1610261000.000100"
    );
    assert_eq!(
        message(&ev).id.as_ref().unwrap().as_str(),
        "1610261659.001400"
    );

    for subtype in ["thread_broadcast", "me_message"] {
        p["event"]["subtype"] = json!(subtype);
        let body = serde_json::to_vec(&p).unwrap();
        let ev = events_of(a.handle_webhook(&signed(&body, "application/json"))).remove(0);
        assert_eq!(ev.text(), Some("Hi there! Thanks for sharing the info!"));
        assert_eq!(ev.attributes["slack.subtype"], subtype);
    }
}

#[test]
fn file_shares_carry_attachments() {
    let a = adapter("");
    let ev = one(&a, "message-subtype-file_share-bolt");
    assert_eq!(ev.id.as_str(), "msg:C111:1652227646.593159");
    assert_eq!(ev.attributes["slack.event_id"], "Ev03EGJQAVMM");
    let m = message(&ev);
    assert_eq!(m.text.as_deref(), Some("Hi there!"));
    assert_eq!(m.attachments.len(), 1);
    let f = &m.attachments[0];
    assert_eq!(f.kind, AttachmentKind::Image);
    assert_eq!(
        f.url.as_deref(),
        Some("https://files.slack.com/files-pri/T111-F111/download/file.png")
    );
    assert_eq!(f.mime_type.as_deref(), Some("image/png"));
    assert_eq!(f.filename.as_deref(), Some("file.png"));
    assert_eq!(f.provider_id.as_deref(), Some("F111"));
}

#[test]
fn edits_and_deletes() {
    let a = adapter("");
    let ev = one(&a, "message-subtype-message_changed-bolt");
    assert_eq!(ev.sender.id.as_str(), "U111");
    assert_eq!(ev.conversation.conversation.as_str(), "C111");
    match &ev.kind {
        EventKind::Edited(e) => {
            assert_eq!(e.message.as_str(), "1665102338.901939");
            assert_eq!(e.text.as_deref(), Some("updated message"));
        }
        k => panic!("{k:?}"),
    }
    let ev = one(&a, "message-subtype-message_deleted-bolt");
    assert_eq!(ev.sender.id.as_str(), "U111");
    assert!(matches!(&ev.kind, EventKind::Deleted(d) if d.message.as_str() == "1665368619.804829"));
}

#[test]
fn loop_guard_drops_own_events_and_other_bots_by_default() {
    let a = adapter("bot_user_id = 'W23456789'\nbot_id = 'B888'");
    assert!(decode_with(&a, "reaction_added-by-self-bolt").is_empty());
    assert!(decode_with(&a, "message-subtype-bot_message-bolt").is_empty());
    assert!(decode_with(&a, "message-from-other-bot-bolt").is_empty());
    // The bot joining a channel is not an echo.
    let ev = one(&a, "member_joined_channel-self-bolt");
    assert!(matches!(&ev.kind, EventKind::Other(o) if o.event_type == "member_joined_channel"));
    assert_eq!(ev.sender.id.as_str(), "W23456789");

    let keep = adapter("ignore_other_bots = false\nbot_id = 'B888'");
    let ev = one(&keep, "message-from-other-bot-bolt");
    assert!(ev.sender.is_bot);
    assert_eq!(ev.sender.id.as_str(), "UB111");
    assert!(message(&ev).from_business);
    // A classic bot_message from this bot is still dropped; from another bot it is kept.
    assert!(decode_with(&keep, "message-subtype-bot_message-bolt").is_empty());
    let other = adapter("ignore_other_bots = false");
    let ev = one(&other, "message-subtype-bot_message-bolt");
    assert_eq!((ev.sender.id.as_str(), ev.sender.is_bot), ("B888", true));
    assert_eq!(ev.sender.name.as_deref(), Some("classic-bot"));

    // Posted by this very app (bot_profile.app_id == api_app_id): dropped even when the bot's
    // ids are unknown and other bots are kept.
    let mut p = case("events", "message-from-other-bot-bolt")["payload"].clone();
    p["event"]["bot_profile"]["app_id"] = json!("A111");
    let body = serde_json::to_vec(&p).unwrap();
    assert!(events_of(other.handle_webhook(&signed(&body, "application/json"))).is_empty());
}

#[test]
fn unknown_events_become_other_with_the_raw_payload() {
    let a = adapter("");
    let ev = one(&a, "app_uninstalled-bolt");
    assert_eq!(ev.id.as_str(), "Ev111");
    assert_eq!(ev.conversation.conversation.as_str(), "T111");
    assert!(matches!(&ev.kind, EventKind::Other(o) if o.event_type == "app_uninstalled"));
    assert_eq!(ev.raw, case("events", "app_uninstalled-bolt")["payload"]);

    let body = wrap_inner("inner-member_joined_channel-doc");
    let ev = events_of(a.handle_webhook(&signed(&body, "application/json"))).remove(0);
    assert!(matches!(&ev.kind, EventKind::Other(o) if o.event_type == "member_joined_channel"));
    assert_eq!(ev.conversation.conversation.as_str(), "C123ABC456");
    assert_eq!(ev.sender.id.as_str(), "W123ABC456");

    let tokens = json!({"token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
        "event": {"type": "tokens_revoked", "tokens": {"bot": ["U1"]}}, "event_id": "EvTok", "event_time": 1});
    let ev = events_of(a.handle_webhook(&signed(
        &serde_json::to_vec(&tokens).unwrap(),
        "application/json",
    )))
    .remove(0);
    assert!(matches!(&ev.kind, EventKind::Other(o) if o.event_type == "tokens_revoked"));
    assert_eq!(ev.raw["event"]["tokens"]["bot"][0], "U1");

    let join = json!({"team_id": "T1", "type": "event_callback", "event_id": "EvJ", "event_time": 1,
        "event": {"type": "message", "subtype": "channel_join", "user": "U2", "channel": "C9", "ts": "1.000001"}});
    let ev = events_of(a.handle_webhook(&signed(
        &serde_json::to_vec(&join).unwrap(),
        "application/json",
    )))
    .remove(0);
    assert!(matches!(&ev.kind, EventKind::Other(o) if o.event_type == "message.channel_join"));

    let limited = json!({"token": "x", "type": "app_rate_limited", "team_id": "T1", "minute_rate_limited": 1518467820, "api_app_id": "A1"});
    let ev = events_of(a.handle_webhook(&signed(
        &serde_json::to_vec(&limited).unwrap(),
        "application/json",
    )))
    .remove(0);
    assert!(matches!(&ev.kind, EventKind::Other(o) if o.event_type == "app_rate_limited"));
}

#[test]
fn retries_are_kept_on_the_event() {
    let a = adapter("");
    let body = serde_json::to_vec(&case("events", "message-user-bolt")["payload"]).unwrap();
    let req = signed(&body, "application/json")
        .with_header("X-Slack-Retry-Num", "2")
        .with_header("X-Slack-Retry-Reason", "http_timeout");
    let ev = events_of(a.handle_webhook(&req)).remove(0);
    assert_eq!(ev.id.as_str(), "msg:C111:1610261659.001400");
    assert_eq!(ev.attributes["slack.event_id"], "Ev111");
    assert_eq!(ev.attributes["slack.retry_num"], "2");
    assert_eq!(ev.attributes["slack.retry_reason"], "http_timeout");
}

#[test]
fn bad_requests_are_rejected_with_no_event() {
    let a = adapter("");
    let body = serde_json::to_vec(&case("events", "message-user-bolt")["payload"]).unwrap();
    let mut tampered = signed(&body, "application/json");
    let mut altered = body.clone();
    altered.extend_from_slice(b" ");
    tampered.body = altered.into();
    let r = a.handle_webhook(&tampered);
    assert_eq!(r.rejection().unwrap().reason, RejectReason::BadSignature);
    assert_eq!(r.response().status, 401);

    for skew in [-301_i64, 301] {
        let ts = now_secs().checked_add_signed(skew).unwrap();
        let r = a.handle_webhook(&signed_at(&body, "application/json", ts));
        assert_eq!(
            r.rejection().unwrap().reason,
            RejectReason::StaleTimestamp,
            "{skew}"
        );
    }

    for bad in [
        &b"{not json"[..],
        b"{\"type\":\"event_callback\"}",
        b"hello=world",
    ] {
        let r = a.handle_webhook(&signed(bad, "application/json"));
        assert_eq!(
            r.rejection().unwrap().reason,
            RejectReason::Malformed,
            "{bad:?}"
        );
        assert_eq!(r.response().status, 400);
    }
    let mut get = signed(&body, "application/json");
    get.method = http::Method::GET;
    assert_eq!(a.handle_webhook(&get).response().status, 405);
}

/// Issue 15, item 8: one post mentioning the bot arrives as `message` and as `app_mention`,
/// with different event ids; both decode to the same event id (the engine stores one), and both
/// are marked as a mention, so whichever arrives first is the same message.
#[test]
fn a_mention_delivered_as_message_and_app_mention_is_one_event() {
    let a = adapter("bot_user_id = 'U0BOT'\nbot_id = 'B0BOT'");
    let inner = |kind: &str| {
        json!({"type": kind, "channel": "C0AGENTS", "user": "U0ALICE",
            "text": "<@U0BOT> please answer", "ts": "1700000000.000200",
            "event_ts": "1700000000.000200", "channel_type": "channel"})
    };
    let envelope = |kind: &str, event_id: &str| {
        serde_json::to_vec(&json!({
            "token": "x", "team_id": "T123ABC456", "api_app_id": "A0APP",
            "event": inner(kind), "type": "event_callback",
            "event_id": event_id, "event_time": 1_700_000_000
        }))
        .unwrap()
    };
    let from_message = events_of(a.handle_webhook(&signed(
        &envelope("message", "Ev0MESSAGE"),
        "application/json",
    )));
    let from_mention = events_of(a.handle_webhook(&signed(
        &envelope("app_mention", "Ev0MENTION"),
        "application/json",
    )));
    assert_eq!(from_message.len(), 1);
    assert_eq!(from_mention.len(), 1);
    assert_eq!(from_message[0].id, from_mention[0].id);
    assert_eq!(
        from_message[0].id.as_str(),
        "msg:C0AGENTS:1700000000.000200"
    );
    assert!(message(&from_message[0]).mention);
    assert!(message(&from_mention[0]).mention);
    assert_eq!(from_message[0].attributes["slack.event_id"], "Ev0MESSAGE");
}

/// Issue 15, item 11: with `team_id` and `app_id` configured, an event of another workspace or
/// app is refused (200, nothing stored); this channel's events pass; without the keys nothing
/// is checked.
#[test]
fn events_of_another_workspace_or_app_are_refused() {
    let a = adapter("team_id = 'T123ABC456'\napp_id = 'A0APP'");
    let body = |team: &str, app: &str| {
        serde_json::to_vec(&json!({
            "token": "x", "team_id": team, "api_app_id": app, "type": "event_callback",
            "event_id": "Ev0TENANT", "event_time": 1_700_000_000,
            "event": {"type": "message", "channel": "C1", "user": "U1", "text": "hi",
                "ts": "1700000000.000100"}
        }))
        .unwrap()
    };
    for (team, app) in [("T999OTHER", "A0APP"), ("T123ABC456", "A0OTHER")] {
        let out = a.handle_webhook(&signed(&body(team, app), "application/json"));
        assert_eq!(
            out.rejection().map(|r| r.reason),
            Some(RejectReason::ForeignTenant),
            "{team} {app}"
        );
        assert_eq!(
            out.response().status,
            200,
            "acknowledged so Slack does not retry"
        );
        assert_eq!(out.accepted_events(), None);
    }
    let ours = a.handle_webhook(&signed(&body("T123ABC456", "A0APP"), "application/json"));
    assert_eq!(events_of(ours).len(), 1);
    let unchecked = adapter("");
    let any = unchecked.handle_webhook(&signed(&body("T999OTHER", "A0OTHER"), "application/json"));
    assert_eq!(events_of(any).len(), 1);
}

#[test]
fn tenant_keys_are_validated() {
    let t = switchboard_core::ChannelTable::from_toml_str(
        "team",
        "provider = 'slack'\nbot_token = 'xoxb-1'\nsigning_secret = 's'\nteam_id = 'not-a-team'",
    )
    .unwrap();
    let e = SlackAdapter::from_table(t).err().unwrap();
    assert!(e.to_string().contains("key 'team_id'"), "{e}");
}
