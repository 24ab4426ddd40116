//! The Attachment Upload API's body: `multipart/form-data` with a `message` field (JSON) and a
//! `filedata` file, or JSON with `message.attachment.payload.url` (Meta's Postman example).

use axum::http::HeaderMap;
use serde_json::Value;

use super::validate::GraphErr;

/// What an upload carries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parsed {
    pub(crate) message: Value,
    pub(crate) kind: String,
    pub(crate) mime_type: Option<String>,
    pub(crate) size: usize,
    pub(crate) url: Option<String>,
}

pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Parsed, GraphErr> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (message, file) = match content_type.split_once("boundary=") {
        Some((ct, boundary)) if ct.starts_with("multipart/form-data") => {
            let parts = multipart(body, boundary.trim_matches('"'))?;
            let mut message = None;
            let mut file = None;
            for p in parts {
                match p.name.as_str() {
                    "message" => {
                        message = serde_json::from_slice::<Value>(&p.data).ok();
                    }
                    "filedata" => file = Some(p),
                    _ => {}
                }
            }
            let message =
                message.ok_or_else(|| GraphErr::param("The parameter message is required"))?;
            (message, file)
        }
        _ => {
            let v: Value = serde_json::from_slice(body)
                .map_err(|_| GraphErr::param("The request body is not valid JSON"))?;
            (v["message"].clone(), None)
        }
    };
    let a = &message["attachment"];
    let kind = match a["type"].as_str() {
        Some(k @ ("image" | "audio" | "video" | "file")) => k.to_owned(),
        _ => {
            return Err(GraphErr::param(
                "param message[attachment][type] is invalid",
            ));
        }
    };
    let url = a["payload"]["url"].as_str().map(str::to_owned);
    match (&file, &url) {
        (Some(f), _) if !f.data.is_empty() => Ok(Parsed {
            message: message.clone(),
            kind,
            mime_type: f.content_type.clone(),
            size: f.data.len(),
            url,
        }),
        (None, Some(_)) => Ok(Parsed {
            message: message.clone(),
            kind,
            mime_type: None,
            size: 0,
            url,
        }),
        _ => Err(GraphErr::param(
            "Upload needs filedata or message[attachment][payload][url]",
        )),
    }
}

#[derive(Debug)]
struct Part {
    name: String,
    content_type: Option<String>,
    data: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn multipart(body: &[u8], boundary: &str) -> Result<Vec<Part>, GraphErr> {
    let bad = || GraphErr::param("malformed multipart body");
    let delim = format!("--{boundary}");
    let mut pos = find(body, delim.as_bytes(), 0).ok_or_else(bad)? + delim.len();
    let mut parts = Vec::new();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            return Ok(parts);
        }
        let head_start = pos + 2; // CRLF after the delimiter
        let head_end = find(body, b"\r\n\r\n", head_start).ok_or_else(bad)?;
        let head = String::from_utf8_lossy(body.get(head_start..head_end).ok_or_else(bad)?);
        let next = find(body, format!("\r\n{delim}").as_bytes(), head_end + 4).ok_or_else(bad)?;
        let mut name = String::new();
        let mut content_type = None;
        for line in head.split("\r\n") {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-disposition:") {
                if let Some(n) = line
                    .split("name=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                {
                    name = n.to_owned();
                }
            } else if lower.starts_with("content-type:") {
                content_type = line.split_once(':').map(|(_, v)| v.trim().to_owned());
            }
        }
        parts.push(Part {
            name,
            content_type,
            data: body[head_end + 4..next].to_vec(),
        });
        pos = next + 2 + delim.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_adapter_uploads() {
        let msg = crate::api::upload_message("image").to_string();
        let (boundary, body) = crate::api::multipart(&msg, b"\x89PNG\r\n--x", "image/png", "a.png");
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            format!("multipart/form-data; boundary={boundary}")
                .parse()
                .unwrap(),
        );
        let p = parse(&h, &body).unwrap();
        assert_eq!(
            (p.kind.as_str(), p.size, p.mime_type.as_deref()),
            ("image", 9, Some("image/png"))
        );
        assert_eq!(p.message["attachment"]["payload"]["is_reusable"], true);
    }

    #[test]
    fn parses_the_postman_url_upload() {
        let body = br#"{"message":{"attachment":{"type":"image","payload":{"url":"https://example.com/a.png","is_reusable":true}}}}"#;
        let p = parse(&HeaderMap::new(), body).unwrap();
        assert_eq!(p.url.as_deref(), Some("https://example.com/a.png"));
        assert!(
            parse(
                &HeaderMap::new(),
                br#"{"message":{"attachment":{"type":"sticker"}}}"#
            )
            .is_err()
        );
    }
}
