//! The request bodies the adapter sends, checked against Slack's published method reference
//! (argument names known, required arguments present), independently of the emulator: a plain
//! recording server answers with Slack's documented example responses.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use serde_json::{Map, Value, json};
use switchboard_core::model::Attachment;
use switchboard_core::{
    Adapter, ChannelTable, ConversationRef, MessageRef, OutboundMessage, ThreadId,
};
use switchboard_slack::{SlackAdapter, SlackEphemeral};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn reference() -> Value {
    serde_json::from_str(include_str!("fixtures/web_api_methods_reference.json")).unwrap()
}

fn example(id: &str) -> Value {
    let v: Value = serde_json::from_str(include_str!("fixtures/web_api_responses.json")).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()["body"]
        .clone()
}

async fn answer(server: &MockServer, m: &str, body: Value) {
    Mock::given(method("POST"))
        .and(path(format!("/api/{m}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

fn args_of(req: &wiremock::Request) -> Map<String, Value> {
    let ct = req
        .headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    if ct.starts_with("application/json") {
        serde_json::from_slice::<Value>(&req.body)
            .unwrap()
            .as_object()
            .unwrap()
            .clone()
    } else {
        url::form_urlencoded::parse(&req.body)
            .into_owned()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    }
}

#[tokio::test]
async fn every_request_body_matches_the_method_reference() {
    let server = MockServer::start().await;
    answer(
        &server,
        "chat.postMessage",
        example("chat.postMessage-docs-success"),
    )
    .await;
    answer(&server, "chat.update", example("chat.update-docs-success")).await;
    answer(&server, "chat.delete", example("chat.delete-docs-success")).await;
    answer(
        &server,
        "chat.postEphemeral",
        example("chat.postEphemeral-success"),
    )
    .await;
    answer(
        &server,
        "reactions.add",
        example("reactions.add-docs-success"),
    )
    .await;
    answer(&server, "reactions.remove", json!({"ok": true})).await;
    answer(
        &server,
        "conversations.open",
        example("conversations.open-docs-success"),
    )
    .await;
    let mut upload = example("files.getUploadURLExternal-success");
    upload["upload_url"] = json!(format!("{}/upload/v1/F123ABC456", server.uri()));
    answer(&server, "files.getUploadURLExternal", upload).await;
    answer(
        &server,
        "files.completeUploadExternal",
        example("files.completeUploadExternal-success"),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/upload/v1/F123ABC456"))
        .respond_with(ResponseTemplate::new(200).set_body_string("OK - 3"))
        .mount(&server)
        .await;

    let t = ChannelTable::from_toml_str(
        "team",
        &format!(
            "provider = 'slack'\nbot_token = 'xoxb-ref'\nsigning_secret = 's'\nbot_user_id = 'U1'\n\
             bot_id = 'B1'\napi_base_url = '{}/api'",
            server.uri()
        ),
    )
    .unwrap();
    let a = SlackAdapter::from_table(t).unwrap();
    let chan = ConversationRef::parse("team", "C123ABC456").unwrap();
    let thread = chan
        .clone()
        .in_thread(ThreadId::new("1503435956.000247").unwrap());
    let rich = OutboundMessage::builder()
        .text("**Ship it?**")
        .button("Yes", "Y")
        .link_button("Docs", "https://docs.test")
        .quick_reply("Later", "L")
        .attachment(Attachment::bytes(b"abc".to_vec(), "text/plain", "a.txt").with_caption("notes"))
        .build()
        .unwrap();
    let r = a.send(&thread, &rich).await.unwrap();
    assert_eq!(r.messages[0].id.as_str(), "1503435956.000247");
    let dm = ConversationRef::parse("team", "U061F7AUR").unwrap();
    a.send(&dm, &OutboundMessage::text("hi").unwrap())
        .await
        .unwrap();
    let eph = OutboundMessage::builder()
        .text("psst")
        .extension(&SlackEphemeral {
            user: "U061F7AUR".into(),
        })
        .build()
        .unwrap();
    a.send(&chan, &eph).await.unwrap();
    let target = MessageRef::new(chan.clone(), r.messages[0].id.clone());
    a.edit(&target, &OutboundMessage::text("edited").unwrap())
        .await
        .unwrap();
    a.react(&target, "thumbsup", true).await.unwrap();
    a.react(&target, "thumbsup", false).await.unwrap();
    a.delete(&target).await.unwrap();

    let reference = reference();
    let requests = server.received_requests().await.unwrap();
    let mut checked = std::collections::BTreeSet::new();
    for req in &requests {
        let p = req.url.path();
        let Some(m) = p.strip_prefix("/api/") else {
            assert_eq!(p, "/upload/v1/F123ABC456");
            assert_eq!(req.body, b"abc");
            assert!(
                req.headers.get("authorization").is_none(),
                "the upload URL is the credential"
            );
            continue;
        };
        assert_eq!(
            req.headers.get("authorization").unwrap().to_str().unwrap(),
            "Bearer xoxb-ref",
            "{m}"
        );
        let args = args_of(req);
        if m == "reactions.remove" {
            // Not in the fixture; its documented arguments are those of reactions.add.
            let keys: Vec<&str> = args.keys().map(String::as_str).collect();
            assert_eq!(keys, ["channel", "name", "timestamp"]);
            continue;
        }
        let spec = &reference["methods"][m];
        assert!(spec.is_object(), "{m} is not in the reference");
        let known: Vec<&str> = spec["args"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for k in args.keys() {
            assert!(known.contains(&k.as_str()), "{m}: unknown argument {k}");
        }
        for req_arg in spec["args"]["required"].as_array().unwrap() {
            let name = req_arg.as_str().unwrap();
            assert!(
                name == "token" || args.contains_key(name),
                "{m}: missing {name}"
            );
        }
        let json_body = req
            .headers
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/json");
        assert!(
            !json_body || spec["json_input_supported"] == true,
            "{m} does not take JSON"
        );
        checked.insert(m.to_owned());
    }
    let expected = [
        "chat.delete",
        "chat.postEphemeral",
        "chat.postMessage",
        "chat.update",
        "conversations.open",
        "files.completeUploadExternal",
        "files.getUploadURLExternal",
        "reactions.add",
    ];
    assert_eq!(
        checked.iter().map(String::as_str).collect::<Vec<_>>(),
        expected
    );

    // Spot-check the content of the rich post.
    let post = requests
        .iter()
        .find(|r| r.url.path() == "/api/chat.postMessage")
        .unwrap();
    let args = args_of(post);
    assert_eq!(args["thread_ts"], "1503435956.000247");
    assert_eq!(args["text"], "*Ship it?*");
    let elements = args["blocks"][1]["elements"].as_array().unwrap();
    assert!(elements.len() <= 25);
    let ids: std::collections::BTreeSet<&str> = elements
        .iter()
        .map(|e| e["action_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), elements.len(), "action_id unique per block");
    let complete = requests
        .iter()
        .find(|r| r.url.path() == "/api/files.completeUploadExternal")
        .unwrap();
    let args = args_of(complete);
    assert_eq!(
        args["files"],
        json!([{"id": "F123ABC456", "title": "notes"}])
    );
    assert_eq!(
        (args["channel_id"].as_str(), args["thread_ts"].as_str()),
        (Some("C123ABC456"), Some("1503435956.000247"))
    );
}

#[test]
fn the_emulator_method_table_matches_the_reference() {
    let reference = reference();
    let table = switchboard_slack::emulator::methods();
    for (name, spec) in reference["methods"].as_object().unwrap() {
        if name == "oauth.v2.access" {
            assert!(!table.contains_key(name), "the adapter does not do OAuth");
            continue;
        }
        let ours = &table[name];
        let args: Vec<&str> = spec["args"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut our_args: Vec<&str> = ours.args.iter().map(String::as_str).collect();
        our_args.sort_unstable();
        assert_eq!(our_args, args, "{name}");
        let required: Vec<&str> = spec["args"]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(ours.required, required, "{name}");
        let errors: Vec<&str> = spec["errors"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut our_errors: Vec<&str> = ours.errors.iter().map(String::as_str).collect();
        our_errors.sort_unstable();
        assert_eq!(our_errors, errors, "{name}");
        assert_eq!(ours.json, spec["json_input_supported"] == true, "{name}");
        assert_eq!(ours.tier, spec["rate_limits"].as_str().unwrap(), "{name}");
    }
    assert!(table.contains_key("auth.test") && table.contains_key("reactions.remove"));
}
