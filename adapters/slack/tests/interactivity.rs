//! Interactivity and slash commands through `handle_webhook`: block actions (buttons, quick
//! replies, buttons in views), shortcuts and view submissions, slash commands, `ssl_check`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod signed;

use serde_json::{Value, json};
use signed::{URL, adapter, case, events_of, message, signed};
use switchboard_core::model::ActionSource;
use switchboard_core::{Adapter, EventKind, InboundEvent, RejectReason, WebhookRequest};
use switchboard_slack::SlackAdapter;

/// Signs `body` as a form post and hands it to `a`: the events it accepted.
fn posted(a: &SlackAdapter, body: &[u8]) -> Vec<InboundEvent> {
    events_of(a.handle_webhook(&signed(body, "application/x-www-form-urlencoded")))
}

/// The form body Slack posts for an interaction: `payload=<JSON>`.
fn form(payload: &Value) -> Vec<u8> {
    let encoded: String =
        url::form_urlencoded::byte_serialize(payload.to_string().as_bytes()).collect();
    format!("payload={encoded}").into_bytes()
}

#[test]
fn block_actions_become_actions() {
    let a = adapter("");
    let c = case("interactivity", "block_actions-button");
    let body = c["raw_body"].as_str().unwrap().as_bytes();
    let evs = posted(&a, body);
    assert_eq!(evs.len(), 1);
    let ev = &evs[0];
    assert_eq!(ev.id.as_str(), "111.222.valid");
    assert_eq!(ev.conversation.conversation.as_str(), "C111");
    assert_eq!(ev.sender.id.as_str(), "W111");
    assert_eq!(ev.sender.name.as_deref(), Some("primary-owner"));
    match &ev.kind {
        EventKind::Action(act) => {
            assert_eq!(act.payload, "click_me_123");
            assert_eq!(act.action_id.as_deref(), Some("a"));
            assert_eq!(act.label.as_deref(), Some("Button"));
            assert_eq!(act.source, ActionSource::Button);
            assert_eq!(act.message.as_ref().unwrap().as_str(), "111.222");
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(
        ev.attributes["slack.response_url"],
        "https://hooks.slack.com/actions/T111/111/random-value"
    );
    assert_eq!(ev.attributes["slack.block_id"], "b");
    assert_eq!(ev.raw, c["payload"]);
}

#[test]
fn quick_reply_buttons_come_back_as_quick_replies() {
    let a = adapter("");
    let mut p = case("interactivity", "block_actions-button")["payload"].clone();
    p["actions"][0]["action_id"] = json!("sb_qr_2");
    let ev = posted(&a, &form(&p)).remove(0);
    assert!(
        matches!(&ev.kind, EventKind::Action(x) if x.source == ActionSource::QuickReply && x.payload == "click_me_123")
    );
}

/// A button in a view (App Home tab, modal) carries no channel and no message: still an Action,
/// in the user's DM (a conversation given as a user id), never a 400.
#[test]
fn block_actions_in_views_are_actions_in_the_users_dm() {
    let a = adapter("");
    let mut p = case("interactivity", "block_actions-button")["payload"].clone();
    let obj = p.as_object_mut().unwrap();
    obj.remove("channel");
    obj.remove("response_url");
    obj.insert(
        "container".into(),
        json!({"type": "view", "view_id": "V111"}),
    );
    obj.insert("view".into(), json!({"id": "V111", "type": "home"}));
    let evs = posted(&a, &form(&p));
    assert_eq!(evs.len(), 1);
    let ev = &evs[0];
    assert_eq!(ev.id.as_str(), "111.222.valid");
    assert_eq!(ev.conversation.conversation.as_str(), "W111");
    assert_eq!(ev.sender.id.as_str(), "W111");
    match &ev.kind {
        EventKind::Action(act) => {
            assert_eq!(act.payload, "click_me_123");
            assert_eq!(act.action_id.as_deref(), Some("a"));
            assert_eq!(act.message, None);
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(ev.attributes["slack.view_id"], "V111");
}

#[test]
fn shortcuts_and_views_are_other() {
    let a = adapter("");
    for (id, kind, conv) in [
        ("shortcut-global", "shortcut", "T111"),
        ("message_action", "message_action", "C111"),
        ("view_submission", "view_submission", "T111"),
        (
            "view_submission-with-response_urls",
            "view_submission",
            "T111",
        ),
    ] {
        let c = case("interactivity", id);
        let body = c["raw_body"].as_str().unwrap().as_bytes();
        let ev = posted(&a, body).remove(0);
        assert!(
            matches!(&ev.kind, EventKind::Other(o) if o.event_type == kind),
            "{id}"
        );
        assert_eq!(ev.conversation.conversation.as_str(), conv, "{id}");
        assert_eq!(ev.raw, c["payload"], "{id}");
        assert!(
            ev.sender.id.as_str() == "W111" || ev.sender.id.as_str() == "U111",
            "{id}"
        );
    }
}

#[test]
fn slash_commands_are_messages_with_a_command() {
    let a = adapter("");
    let c = case("interactivity", "slash_command-bolt");
    let body = c["raw_body"].as_str().unwrap().as_bytes();
    let ev = posted(&a, body).remove(0);
    assert_eq!(ev.id.as_str(), "111.111.xxx");
    assert_eq!(ev.conversation.conversation.as_str(), "C111");
    assert_eq!(ev.sender.id.as_str(), "W111");
    let m = message(&ev);
    let cmd = m.command.as_ref().unwrap();
    assert_eq!(
        (cmd.name.as_str(), cmd.text.as_str()),
        ("/hello-world", "Hi")
    );
    assert_eq!(m.text.as_deref(), Some("/hello-world Hi"));
    assert_eq!(
        ev.attributes["slack.response_url"],
        "https://hooks.slack.com/commands/T111/111/xxxxx"
    );
    assert_eq!(ev.raw["enterprise_name"], "Org Name");

    let c = case("interactivity", "slash_command-doc");
    let body = c["raw_body"].as_str().unwrap().as_bytes();
    let ev = posted(&a, body).remove(0);
    let cmd = message(&ev).command.clone().unwrap();
    assert_eq!(
        (cmd.name.as_str(), cmd.text.as_str()),
        ("/webhook-collect", "")
    );
    assert_eq!(ev.conversation.conversation.as_str(), "G8PSS9T3V");
    assert_eq!(ev.sender.name.as_deref(), Some("roadrunner"));
}

#[test]
fn ssl_check_is_answered_without_events() {
    let a = adapter("");
    let c = case("interactivity", "ssl_check");
    let req = WebhookRequest::post(URL, c["raw_body"].as_str().unwrap().to_owned())
        .with_header("content-type", "application/x-www-form-urlencoded");
    let out = a.handle_webhook(&req);
    assert_eq!(out.response().status, 200);
    assert_eq!(out.accepted_events().map(<[_]>::len), Some(0));
}

/// Issue 15, item 11 for interactivity and slash commands: with `team_id` and `app_id`
/// configured, a button click or slash command of another workspace or app is refused as
/// `ForeignTenant` (acknowledged with 200, nothing stored), like an Events API envelope; this
/// channel's pass; without the keys nothing is checked.
#[test]
fn interactions_and_commands_of_another_workspace_or_app_are_refused() {
    let ours = adapter("team_id = 'T111'\napp_id = 'A111'");
    let click = case("interactivity", "block_actions-button")["payload"].clone();
    // Slack sends `api_app_id` with slash commands; this fixture (a Bolt test body) has none.
    let command = format!(
        "{}&api_app_id=A111",
        case("interactivity", "slash_command-bolt")["raw_body"]
            .as_str()
            .unwrap()
    );
    assert!(command.contains("&team_id=T111&"));
    let refused = |body: Vec<u8>, what: &str| {
        let out = ours.handle_webhook(&signed(&body, "application/x-www-form-urlencoded"));
        assert_eq!(
            out.rejection().map(|r| r.reason),
            Some(RejectReason::ForeignTenant),
            "{what}"
        );
        assert_eq!(out.response().status, 200, "{what}: acknowledged");
        assert_eq!(out.accepted_events(), None, "{what}");
    };
    let mut other_team = click.clone();
    other_team["team"]["id"] = json!("T999");
    refused(form(&other_team), "a click of another workspace");
    let mut other_app = click.clone();
    other_app["api_app_id"] = json!("A999");
    refused(form(&other_app), "a click for another app");
    refused(
        command.replace("team_id=T111", "team_id=T999").into_bytes(),
        "a command of another workspace",
    );
    refused(
        command
            .replace("api_app_id=A111", "api_app_id=A999")
            .into_bytes(),
        "a command for another app",
    );

    assert_eq!(posted(&ours, &form(&click)).len(), 1);
    assert_eq!(posted(&ours, command.as_bytes()).len(), 1);
    let unchecked = adapter("");
    assert_eq!(posted(&unchecked, &form(&other_team)).len(), 1);
    let foreign_command = command.replace("team_id=T111", "team_id=T999");
    assert_eq!(posted(&unchecked, foreign_command.as_bytes()).len(), 1);
}
