use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;

/// `value` parses as `T` and serializes back to the same JSON.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: Value) -> T {
    let parsed: T =
        serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"));
    let back = serde_json::to_value(&parsed).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, value, "{parsed:?}");
    parsed
}

#[test]
fn session_bodies() {
    let req: SessionRequest = round_trip(json!({
        "user_id": "u-1842", "user_hash": "9f86d081", "name": "Ada", "token": "wc1.x.y"
    }));
    assert_eq!(req.user_id.as_deref(), Some("u-1842"));
    let empty: SessionRequest = round_trip(json!({}));
    assert_eq!(empty, SessionRequest::default());
    let ignored: SessionRequest = serde_json::from_value(json!({"future": 1}))
        .unwrap_or_else(|e| panic!("unknown fields are ignored: {e}"));
    assert_eq!(ignored, SessionRequest::default());
    round_trip::<SessionResponse>(json!({
        "token": "wc1.x.y", "conversation_id": "user:u-1842", "expires_at": 1767225600000_i64,
        "resumed": false
    }));
}

#[test]
fn message_bodies() {
    let text: PostMessage =
        round_trip(json!({"client_id": "5f0c2b1e9d4a4c7e", "text": "Where is my order?"}));
    assert_eq!(text.text.as_deref(), Some("Where is my order?"));
    round_trip::<PostMessage>(json!({
        "client_id": "c2", "text": "the receipt", "attachments": [{"upload": "wu1.a.b"}]
    }));
    let action: PostMessage = round_trip(json!({
        "client_id": "c3",
        "action": {"payload": "ORDER_STATUS", "label": "Order status", "message_id": "m-1",
                   "source": "quick_reply"}
    }));
    assert_eq!(
        action.action.map(|a| a.source),
        Some(ActionOrigin::QuickReply)
    );
    let default_source: PostAction =
        serde_json::from_value(json!({"payload": "P"})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(default_source.source, ActionOrigin::Button);
    assert!(serde_json::from_value::<PostMessage>(json!({"text": "no client id"})).is_err());
    round_trip::<MessageAccepted>(json!({"id": "v-00"}));
    let typing: TypingRequest = serde_json::from_value(json!({})).unwrap_or_else(|e| panic!("{e}"));
    assert!(typing.active);
    round_trip::<TypingRequest>(json!({"active": false}));
    round_trip::<ReadRequest>(json!({"seq": 42}));
    round_trip::<UploadResponse>(json!({
        "upload": "wu1.a.b", "kind": "image", "filename": "receipt.png",
        "mime_type": "image/png", "size": 48213
    }));
    round_trip::<ErrorBody>(json!({"error": "bad_token", "message": "the token is not valid"}));
}

#[test]
fn each_event_type_has_its_json() {
    let message: Record = round_trip(json!({
        "seq": 17, "event": "message",
        "data": {
            "id": "m-1", "from": {"role": "bot"}, "at": 1767225600000_i64,
            "text": "Which order? **Pick one**:",
            "attachments": [{"kind": "image", "url": "https://shop.example/a.png",
                             "mime_type": "image/png", "filename": "a.png", "caption": "the parcel"}],
            "buttons": [{"type": "postback", "label": "Order 1", "payload": "ORDER_1"},
                        {"type": "link", "label": "Track", "url": "https://track.example/1"}],
            "quick_replies": [{"label": "Something else", "payload": "OTHER"}],
            "reply_to": "v-1"
        }
    }));
    assert_eq!(message.event.name(), "message");
    let edit: Record = round_trip(json!({
        "seq": 18, "event": "message",
        "data": {"id": "m-1", "from": {"role": "agent", "name": "Sam"}, "at": 1, "text": "fixed",
                 "edited": true}
    }));
    assert!(matches!(edit.event, Event::Message(ref m) if m.edited && !m.deleted));
    round_trip::<Record>(json!({
        "seq": 19, "event": "message",
        "data": {"id": "v-1", "from": {"role": "visitor", "name": "Ada"}, "at": 1,
                 "text": "hi", "client_id": "c1"}
    }));
    round_trip::<Record>(json!({
        "seq": 20, "event": "message",
        "data": {"id": "m-1", "from": {"role": "bot"}, "at": 1, "deleted": true}
    }));
    round_trip::<Record>(json!({
        "seq": 21, "event": "typing", "data": {"from": {"role": "agent", "name": "Sam"}, "active": true}
    }));
    round_trip::<Record>(json!({
        "seq": 22, "event": "receipt",
        "data": {"status": "read", "up_to": 42, "by": "visitor", "at": 1767225600000_i64}
    }));
    round_trip::<Record>(json!({
        "seq": 23, "event": "status", "data": {"code": "history_truncated", "message": "older records are gone"}
    }));
    round_trip::<Record>(json!({
        "seq": 40, "event": "status", "data": {"code": "history_truncated", "up_to": 40}
    }));
    round_trip::<LogPage>(json!({"records": [], "last_seq": 23}));
}

#[test]
fn history_truncated_carries_up_to() {
    let e = Event::Status(StatusEvent::history_truncated(40));
    assert_eq!(
        e.to_sse(Some(40)),
        "id: 40\nevent: status\ndata: {\"code\":\"history_truncated\",\"up_to\":40}\n\n"
    );
    let other = Event::Status(StatusEvent::new(StatusCode::Closed, None));
    assert_eq!(
        other.data(),
        json!({"code": "closed"}),
        "no up_to elsewhere"
    );
}

#[test]
fn unknown_status_codes_and_roles() {
    let s: StatusEvent =
        serde_json::from_value(json!({"code": "maintenance"})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.code, StatusCode::Other);
    assert!(serde_json::from_value::<Author>(json!({"role": "admin"})).is_err());
}

#[test]
fn records_as_server_sent_events() {
    let r = Record {
        seq: 17,
        event: Event::Message(MessageEvent {
            text: Some("line one\nline two".into()),
            ..MessageEvent::new("m-1", Author::new(Role::Agent), 5)
        }),
    };
    let sse = r.to_sse();
    let lines: Vec<&str> = sse.split('\n').collect();
    assert_eq!(lines[0], "id: 17");
    assert_eq!(lines[1], "event: message");
    assert!(lines[2].starts_with("data: {"), "{sse}");
    assert_eq!(
        &lines[3..],
        ["", ""],
        "one data line, then a blank line: {sse:?}"
    );
    let data: Value =
        serde_json::from_str(&lines[2]["data: ".len()..]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(data["text"], "line one\nline two");
    let typing = Event::Typing(TypingEvent {
        from: Author::new(Role::Agent),
        active: true,
    });
    assert!(
        typing.to_sse(None).starts_with("event: typing\n"),
        "typing has no id line"
    );
}
