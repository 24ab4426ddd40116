//! Slack's method reference data (argument names, required arguments, documented errors, JSON
//! support), derived from Slack's published method JSON in the fixtures, and argument checks.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value};

/// The reference of one Web API method.
#[derive(Debug, Clone, Deserialize)]
pub struct MethodSpec {
    /// Whether the method accepts `application/json` bodies.
    pub json: bool,
    /// Required arguments (`token` is satisfied by the `Authorization` header).
    pub required: Vec<String>,
    /// Every known argument.
    pub args: Vec<String>,
    /// The documented error codes.
    pub errors: Vec<String>,
    /// Slack's rate-limit tier code (`t3`, `t5` = special).
    pub tier: String,
}

/// The methods the emulator implements, keyed by name.
pub fn methods() -> &'static BTreeMap<String, MethodSpec> {
    static METHODS: OnceLock<BTreeMap<String, MethodSpec>> = OnceLock::new();
    METHODS.get_or_init(|| {
        serde_json::from_str(include_str!("methods.json")).unwrap_or_else(|e| {
            tracing::error!(error = %e, "slack emulator: methods.json is invalid");
            BTreeMap::new()
        })
    })
}

/// Why arguments were refused: Slack's error code and a `response_metadata` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// Checks `args` of `method` against the reference: unknown arguments → `invalid_arg_name`;
/// a missing `channel` → `channel_not_found`; other missing arguments → `invalid_arguments`.
pub(crate) fn check_args(spec: &MethodSpec, args: &Map<String, Value>) -> Result<(), ArgError> {
    if let Some(unknown) = args.keys().find(|k| !spec.args.iter().any(|a| a == *k)) {
        return Err(ArgError {
            code: "invalid_arg_name",
            message: format!("[ERROR] unknown argument: {unknown}"),
        });
    }
    for req in spec.required.iter().filter(|r| r.as_str() != "token") {
        let present = args.get(req).is_some_and(|v| match v {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        });
        if !present {
            let code = if req == "channel" {
                "channel_not_found"
            } else {
                "invalid_arguments"
            };
            return Err(ArgError {
                code,
                message: format!("[ERROR] missing required field: {req}"),
            });
        }
    }
    Ok(())
}

/// An argument that may be given as JSON or as a JSON string (form encoding).
pub(crate) fn json_arg(args: &Map<String, Value>, name: &str) -> Option<Result<Value, ()>> {
    match args.get(name)? {
        Value::String(s) => Some(serde_json::from_str(s).map_err(|_| ())),
        Value::Null => None,
        other => Some(Ok(other.clone())),
    }
}

/// A string argument (numbers and booleans as their text).
pub(crate) fn str_arg(args: &Map<String, Value>, name: &str) -> Option<String> {
    match args.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn reference_checks() {
        let m = methods();
        let post = &m["chat.postMessage"];
        assert!(post.json);
        assert!(check_args(post, &args(json!({"channel": "C1", "text": "hi"}))).is_ok());
        let e = check_args(post, &args(json!({"text": "hi"}))).unwrap_err();
        assert_eq!(e.code, "channel_not_found");
        let e = check_args(post, &args(json!({"channel": "C1", "txet": "hi"}))).unwrap_err();
        assert_eq!(e.code, "invalid_arg_name");
        let e = check_args(&m["chat.update"], &args(json!({"channel": "C1"}))).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("invalid_arguments", "[ERROR] missing required field: ts")
        );
        assert!(!m["files.getUploadURLExternal"].json);
        assert_eq!(
            json_arg(&args(json!({"files": "[{\"id\":\"F1\"}]"})), "files"),
            Some(Ok(json!([{"id": "F1"}])))
        );
    }
}
