use serde_json::json;

use super::*;

fn setup() -> (State, Identity) {
    let mut s = State::default();
    s.channels.insert("C1".into());
    s.users.insert("U1".into());
    let me = Identity {
        team_id: "T1".into(),
        bot_user_id: "UBOT".into(),
        bot_id: "BBOT".into(),
    };
    (s, me)
}

fn call(s: &mut State, me: &Identity, method: &str, args: Value) -> Reply {
    run(
        s,
        me,
        "http://127.0.0.1:1",
        method,
        args.as_object().unwrap(),
    )
}

#[test]
fn post_update_delete_and_react() {
    let (mut s, me) = setup();
    let r = call(
        &mut s,
        &me,
        "chat.postMessage",
        json!({"channel": "C1", "text": "hi"}),
    );
    assert_eq!(r.body["ok"], true);
    let ts = r.body["ts"].as_str().unwrap().to_owned();
    assert_eq!(r.body["message"]["bot_id"], "BBOT");
    let long = "x".repeat(4001);
    let r = call(
        &mut s,
        &me,
        "chat.update",
        json!({"channel": "C1", "ts": ts, "text": long}),
    );
    assert_eq!(r.body, json!({"ok": false, "error": "msg_too_long"}));
    let r = call(
        &mut s,
        &me,
        "chat.update",
        json!({"channel": "C1", "ts": ts, "text": "", "blocks": []}),
    );
    assert_eq!(r.body, json!({"ok": false, "error": "no_text"}));
    let r = call(
        &mut s,
        &me,
        "chat.update",
        json!({"channel": "C1", "ts": ts, "text": "new"}),
    );
    assert_eq!(r.body["text"], "new");
    assert_eq!(s.messages[0].text, "new");
    assert_eq!(
        call(
            &mut s,
            &me,
            "reactions.add",
            json!({"channel": "C1", "timestamp": ts, "name": "eyes"})
        )
        .body["ok"],
        true
    );
    assert_eq!(
        call(
            &mut s,
            &me,
            "reactions.add",
            json!({"channel": "C1", "timestamp": ts, "name": "eyes"})
        )
        .body["error"],
        "already_reacted"
    );
    assert_eq!(
        call(
            &mut s,
            &me,
            "reactions.remove",
            json!({"channel": "C1", "timestamp": ts, "name": "eyes"})
        )
        .body["ok"],
        true
    );
    assert_eq!(
        call(
            &mut s,
            &me,
            "chat.delete",
            json!({"channel": "C1", "ts": ts})
        )
        .body["ok"],
        true
    );
    assert_eq!(
        call(
            &mut s,
            &me,
            "chat.delete",
            json!({"channel": "C1", "ts": ts})
        )
        .body["error"],
        "message_not_found"
    );
}

#[test]
fn post_limits() {
    let (mut s, me) = setup();
    assert_eq!(
        call(
            &mut s,
            &me,
            "chat.postMessage",
            json!({"channel": "C9", "text": "x"})
        )
        .body["error"],
        "channel_not_found"
    );
    assert_eq!(
        call(&mut s, &me, "chat.postMessage", json!({"channel": "C1"})).body["error"],
        "no_text"
    );
    let blocks: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
    assert_eq!(
        call(
            &mut s,
            &me,
            "chat.postMessage",
            json!({"channel": "C1", "blocks": blocks})
        )
        .body["error"],
        "invalid_blocks"
    );
    assert_eq!(
        call(
            &mut s,
            &me,
            "chat.postMessage",
            json!({"channel": "C1", "blocks": "[oops"})
        )
        .body["error"],
        "invalid_blocks_format"
    );
    let long = "y".repeat(40_010);
    assert_eq!(
        call(
            &mut s,
            &me,
            "chat.postMessage",
            json!({"channel": "C1", "text": long})
        )
        .body["ok"],
        true
    );
    assert_eq!(s.messages[0].text.chars().count(), MAX_POST_TEXT);
    // Posting to a user id lands in the DM with that user.
    let r = call(
        &mut s,
        &me,
        "chat.postMessage",
        json!({"channel": "U1", "text": "dm"}),
    );
    assert!(r.body["channel"].as_str().unwrap().starts_with('D'));
}

#[test]
fn dms_and_uploads() {
    let (mut s, me) = setup();
    let r = call(&mut s, &me, "conversations.open", json!({"users": "U1"}));
    let dm = r.body["channel"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&mut s, &me, "conversations.open", json!({"users": "U1"})).body["channel"]["id"],
        dm.as_str()
    );
    assert_eq!(
        call(&mut s, &me, "conversations.open", json!({"users": "U404"})).body["error"],
        "user_not_found"
    );

    let r = call(
        &mut s,
        &me,
        "files.getUploadURLExternal",
        json!({"filename": "a.txt", "length": "3"}),
    );
    let id = r.body["file_id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.body["upload_url"],
        format!("http://127.0.0.1:1/upload/v1/{id}")
    );
    let files = json!([{"id": id, "title": "A"}]).to_string();
    assert_eq!(
        call(
            &mut s,
            &me,
            "files.completeUploadExternal",
            json!({"files": files})
        )
        .body["error"],
        "file_not_found"
    );
    s.files[0].bytes = Some(bytes::Bytes::from_static(b"abc"));
    let r = call(
        &mut s,
        &me,
        "files.completeUploadExternal",
        json!({"files": files, "channel_id": "C1"}),
    );
    assert_eq!(r.body["files"][0]["title"], "A");
    assert_eq!(s.messages.last().unwrap().files, vec![id]);
}
