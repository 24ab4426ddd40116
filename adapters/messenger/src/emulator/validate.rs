//! The Send API's checks on a request body, with the Graph errors Meta answers.

use serde_json::Value;

/// A Graph error to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GraphErr {
    pub(crate) status: u16,
    pub(crate) code: i64,
    pub(crate) subcode: Option<i64>,
    pub(crate) kind: &'static str,
    pub(crate) message: String,
}

impl GraphErr {
    pub(crate) fn new(code: i64, subcode: Option<i64>, message: impl Into<String>) -> Self {
        // Meta answers Send API errors, `(#100)` parameter errors included, as `OAuthException`;
        // `GraphMethodException` is for an object that cannot be found (100/33).
        let kind = match (code, subcode) {
            (100, Some(33)) => "GraphMethodException",
            _ => "OAuthException",
        };
        GraphErr {
            status: if code == 2 || code == 1 { 500 } else { 400 },
            code,
            subcode,
            kind,
            message: message.into(),
        }
    }

    /// `(#100) <what>`.
    pub(crate) fn param(what: impl std::fmt::Display) -> Self {
        GraphErr::new(100, None, format!("(#100) {what}"))
    }

    pub(crate) fn body(&self, trace: &str) -> Value {
        let mut e = serde_json::json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "fbtrace_id": trace,
        });
        if let Some(s) = self.subcode {
            e["error_subcode"] = s.into();
        }
        if matches!(self.code, 1 | 2 | 4 | 17 | 32 | 613 | 1200) {
            e["is_transient"] = true.into();
        }
        serde_json::json!({ "error": e })
    }
}

/// What a valid body asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    Message {
        recipient: String,
        messaging_type: String,
        tag: Option<String>,
        message: Value,
    },
    SenderAction {
        recipient: String,
    },
}

const TAGS: &[&str] = &[
    "ACCOUNT_UPDATE",
    "CONFIRMED_EVENT_UPDATE",
    "POST_PURCHASE_UPDATE",
    "HUMAN_AGENT",
];

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

fn check_len(v: &Value, field: &str, max: usize, required: bool) -> Result<(), GraphErr> {
    match v {
        Value::Null if !required => Ok(()),
        Value::String(s) if !s.is_empty() || !required => {
            if chars(v) > max {
                Err(GraphErr::param(format!(
                    "Length of param {field} must be less than or equal to {max}"
                )))
            } else {
                Ok(())
            }
        }
        _ => Err(GraphErr::param(format!(
            "param {field} must be a non-empty string"
        ))),
    }
}

/// Checks a Send API body (JSON, form values already decoded).
pub(crate) fn send_body(body: &Value) -> Result<Request, GraphErr> {
    let r = &body["recipient"];
    let recipient = match (r["id"].as_str(), r["user_ref"].as_str()) {
        (Some(id), _) if !id.is_empty() => id.to_owned(),
        (None, Some(u)) if !u.is_empty() => format!("user_ref:{u}"),
        _ => return Err(GraphErr::param("The parameter recipient is required")),
    };
    if let Some(action) = body.get("sender_action") {
        if body.get("message").is_some() {
            return Err(GraphErr::param("sender_action cannot be sent with message"));
        }
        return match action.as_str() {
            Some("typing_on" | "typing_off" | "mark_seen") => {
                Ok(Request::SenderAction { recipient })
            }
            _ => Err(GraphErr::param(
                "Param sender_action must be one of {MARK_SEEN, TYPING_ON, TYPING_OFF}",
            )),
        };
    }
    let messaging_type = body["messaging_type"]
        .as_str()
        .unwrap_or("RESPONSE")
        .to_owned();
    let tag = body["tag"].as_str().map(str::to_owned);
    match (messaging_type.as_str(), tag.as_deref()) {
        ("MESSAGE_TAG", Some(t)) if TAGS.contains(&t) => {}
        ("MESSAGE_TAG", Some(t)) => {
            return Err(GraphErr::param(format!(
                "Param tag {t:?} is not a valid message tag"
            )));
        }
        ("MESSAGE_TAG", None) => {
            return Err(GraphErr::param(
                "The parameter tag is required with MESSAGE_TAG",
            ));
        }
        ("RESPONSE" | "UPDATE", None) => {}
        ("RESPONSE" | "UPDATE", Some(_)) => {
            return Err(GraphErr::param(
                "Param tag requires messaging_type MESSAGE_TAG",
            ));
        }
        (other, _) => {
            return Err(GraphErr::param(format!(
                "Param messaging_type {other:?} must be one of {{RESPONSE, UPDATE, MESSAGE_TAG}}"
            )));
        }
    }
    let message = body.get("message").cloned().unwrap_or(Value::Null);
    check_message(&message)?;
    Ok(Request::Message {
        recipient,
        messaging_type,
        tag,
        message,
    })
}

fn check_message(m: &Value) -> Result<(), GraphErr> {
    if !m.is_object() {
        return Err(GraphErr::param("The parameter message is required"));
    }
    match (m.get("text"), m.get("attachment")) {
        (Some(_), Some(_)) => {
            return Err(GraphErr::param(
                "message must have text or attachment, not both",
            ));
        }
        (None, None) => return Err(GraphErr::param("message must have text or attachment")),
        (Some(t), None) => check_len(t, "message[text]", 2000, true)?,
        (None, Some(a)) => check_attachment(a)?,
    }
    check_len(&m["metadata"], "message[metadata]", 1000, false)?;
    if let Some(qrs) = m.get("quick_replies") {
        let qrs = qrs
            .as_array()
            .ok_or_else(|| GraphErr::param("param message[quick_replies] must be an array"))?;
        if qrs.len() > 13 {
            return Err(GraphErr::param(
                "param message[quick_replies] must have at most 13 elements",
            ));
        }
        for (i, q) in qrs.iter().enumerate() {
            let field = format!("message[quick_replies][{i}]");
            match q["content_type"].as_str() {
                Some("text") => {
                    check_len(&q["title"], &format!("{field}[title]"), 20, true)?;
                    check_len(&q["payload"], &format!("{field}[payload]"), 1000, true)?;
                }
                Some("user_phone_number" | "user_email") => {}
                _ => {
                    return Err(GraphErr::param(format!(
                        "param {field}[content_type] is invalid"
                    )));
                }
            }
        }
    }
    Ok(())
}

fn check_attachment(a: &Value) -> Result<(), GraphErr> {
    let p = &a["payload"];
    match a["type"].as_str() {
        Some("image" | "audio" | "video" | "file") => {
            if let Some(url) = p["url"].as_str() {
                match url::Url::parse(url) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
                    _ => Err(GraphErr::param(
                        "param message[attachment][payload][url] must be a valid URL",
                    )),
                }
            } else if p["attachment_id"].is_string() {
                Ok(())
            } else {
                Err(GraphErr::param(
                    "message[attachment][payload] needs url or attachment_id",
                ))
            }
        }
        Some("template") => match p["template_type"].as_str() {
            Some("button") => {
                check_len(&p["text"], "message[attachment][payload][text]", 640, true)?;
                check_buttons(&p["buttons"], "message[attachment][payload][buttons]", 1)
            }
            Some("generic") => {
                let els = p["elements"]
                    .as_array()
                    .filter(|e| !e.is_empty() && e.len() <= 10);
                let els = els
                    .ok_or_else(|| GraphErr::param("param elements must have 1 to 10 elements"))?;
                for (i, e) in els.iter().enumerate() {
                    let f = format!("elements[{i}]");
                    check_len(&e["title"], &format!("{f}[title]"), 80, true)?;
                    check_len(&e["subtitle"], &format!("{f}[subtitle]"), 80, false)?;
                    if e.get("buttons").is_some() {
                        check_buttons(&e["buttons"], &format!("{f}[buttons]"), 0)?;
                    }
                }
                Ok(())
            }
            Some("media") => Ok(()),
            _ => Err(GraphErr::param("param template_type is invalid")),
        },
        _ => Err(GraphErr::param(
            "param message[attachment][type] is invalid",
        )),
    }
}

fn check_buttons(b: &Value, field: &str, min: usize) -> Result<(), GraphErr> {
    let Some(buttons) = b.as_array() else {
        return Err(GraphErr::param(format!("param {field} must be an array")));
    };
    if buttons.len() < min || buttons.len() > 3 {
        return Err(GraphErr::param(format!(
            "param {field} must have {min} to 3 elements"
        )));
    }
    for (i, btn) in buttons.iter().enumerate() {
        let f = format!("{field}[{i}]");
        check_len(&btn["title"], &format!("{f}[title]"), 20, true)?;
        match btn["type"].as_str() {
            Some("postback") => check_len(&btn["payload"], &format!("{f}[payload]"), 1000, true)?,
            Some("web_url") => check_len(&btn["url"], &format!("{f}[url]"), 2000, true)?,
            Some("phone_number") => check_len(&btn["payload"], &format!("{f}[payload]"), 30, true)?,
            _ => return Err(GraphErr::param(format!("param {f}[type] is invalid"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(body: Value) -> Option<(i64, String)> {
        send_body(&body).err().map(|e| (e.code, e.message))
    }

    #[test]
    fn limits_are_enforced() {
        let to = json!({"id": "1"});
        let ok = json!({"recipient": to, "message": {"text": "x".repeat(2000)}});
        assert!(matches!(send_body(&ok), Ok(Request::Message { .. })));
        let long = json!({"recipient": to, "message": {"text": "x".repeat(2001)}});
        assert!(code(long).unwrap().1.contains("message[text]"));
        let qr = |n: usize, title: &str| {
            let q: Vec<Value> = (0..n)
                .map(|_| json!({"content_type": "text", "title": title, "payload": "p"}))
                .collect();
            json!({"recipient": to, "message": {"text": "t", "quick_replies": q}})
        };
        assert!(send_body(&qr(13, &"t".repeat(20))).is_ok());
        assert!(code(qr(14, "t")).unwrap().1.contains("at most 13"));
        assert!(code(qr(1, &"t".repeat(21))).unwrap().1.contains("[title]"));
        let tpl = |n: usize, text: &str| {
            let b: Vec<Value> = (0..n)
                .map(|i| json!({"type": "postback", "title": format!("B{i}"), "payload": "p"}))
                .collect();
            json!({"recipient": to, "message": {"attachment": {"type": "template", "payload": {"template_type": "button", "text": text, "buttons": b}}}})
        };
        assert!(send_body(&tpl(3, &"t".repeat(640))).is_ok());
        assert_eq!(code(tpl(4, "t")).map(|c| c.0), Some(100));
        assert!(code(tpl(1, &"t".repeat(641))).unwrap().1.contains("640"));
    }

    #[test]
    fn types_tags_and_actions() {
        let to = json!({"id": "1"});
        let tagged = |t: &str, tag: Option<&str>| json!({"recipient": to, "messaging_type": t, "tag": tag, "message": {"text": "x"}});
        assert!(send_body(&tagged("MESSAGE_TAG", Some("HUMAN_AGENT"))).is_ok());
        assert!(code(tagged("MESSAGE_TAG", Some("PROMO"))).is_some());
        assert!(
            code(
                json!({"recipient": to, "messaging_type": "MESSAGE_TAG", "message": {"text": "x"}})
            )
            .is_some()
        );
        assert!(
            code(json!({"recipient": to, "messaging_type": "LATER", "message": {"text": "x"}}))
                .is_some()
        );
        assert_eq!(
            send_body(&json!({"recipient": to, "sender_action": "typing_on"})),
            Ok(Request::SenderAction {
                recipient: "1".into()
            })
        );
        assert!(
            code(json!({"recipient": to, "sender_action": "typing_on", "message": {"text": "x"}}))
                .is_some()
        );
        assert!(
            code(json!({"message": {"text": "x"}}))
                .unwrap()
                .1
                .contains("recipient")
        );
    }
}
