//! What the web chat tests share: a server with a web chat channel on a SQLite file, a
//! protocol client over HTTP (sessions, messages, the long poll, an SSE reader that parses
//! records) and waiting helpers; for the browser tests, a WebDriver client ([`webdriver`]) and
//! a TCP proxy that keeps the page's origin across server restarts and cuts event streams
//! ([`proxy`]).
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub mod proxy;
pub mod webdriver;

/// The origin the channel allows.
pub const ORIGIN: &str = "https://shop.example";

/// A temporary file path.
pub fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "switchboard-webchat-{}-{}-{name}",
        std::process::id(),
        fastrand::u32(..)
    ))
}

/// A config with channel `site` (and `other`), on `db`, listening on `port` (0: any).
pub fn config(db: &str, port: u16, extra_site: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
shutdown_grace = "1s"

[store]
url = "sqlite://{db}"
synchronous = "normal"

[engine]
poll_interval = "50ms"
backoff_base = "20ms"
backoff_max = "200ms"

[channels.site]
provider = "webchat"
allowed_origins = ["{ORIGIN}"]
visitor_rate = {{ per_second = 1000.0, burst = 1000 }}
{extra_site}

[channels.site.rate]
per_second = 5000.0
burst = 1000
per_conversation_per_second = 5000.0
per_conversation_burst = 1000

[channels.other]
provider = "webchat"
allowed_origins = ["{ORIGIN}"]
"#
    )
}

/// A protocol client of `base` (`http://127.0.0.1:PORT`), channel `site`.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub channel: String,
}

/// A record: sequence number (0 for ephemeral ones), event name, data.
#[derive(Debug, Clone, PartialEq)]
pub struct Rec {
    pub seq: u64,
    pub event: String,
    pub data: Value,
}

impl Client {
    pub fn new(base: &str) -> Self {
        Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(40))
                .build()
                .unwrap(),
            base: base.to_owned(),
            channel: "site".into(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/webchat/{}/{path}", self.base, self.channel)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .header("origin", ORIGIN)
            .header("content-type", "application/json")
    }

    /// `POST sessions` with `body`; panics unless 200. Returns (token, conversation_id).
    pub async fn session_with(&self, body: Value) -> (String, String) {
        let r = self
            .post("sessions")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let v: Value = r.json().await.unwrap();
        (
            v["token"].as_str().unwrap().to_owned(),
            v["conversation_id"].as_str().unwrap().to_owned(),
        )
    }

    /// A new anonymous session's token.
    pub async fn session(&self) -> String {
        self.session_with(json!({})).await.0
    }

    /// `POST messages`; the response.
    pub async fn send_raw(&self, token: &str, body: Value) -> reqwest::Response {
        self.post("messages")
            .bearer_auth(token)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// Sends `text` as `client_id`; panics unless 202; the message id.
    pub async fn say(&self, token: &str, client_id: &str, text: &str) -> String {
        let r = self
            .send_raw(token, json!({ "client_id": client_id, "text": text }))
            .await;
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        let v: Value = r.json().await.unwrap();
        v["id"].as_str().unwrap().to_owned()
    }

    /// `GET messages?after=&wait=`: (records, last_seq).
    pub async fn poll(&self, token: &str, after: u64, wait: u64) -> (Vec<Rec>, u64) {
        let r = self
            .http
            .get(self.url(&format!("messages?after={after}&wait={wait}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let recs = v["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| Rec {
                seq: r["seq"].as_u64().unwrap(),
                event: r["event"].as_str().unwrap().to_owned(),
                data: r["data"].clone(),
            })
            .collect();
        (recs, v["last_seq"].as_u64().unwrap())
    }

    /// Every record of the conversation, by pages.
    pub async fn history(&self, token: &str) -> Vec<Rec> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let (recs, last) = self.poll(token, after, 0).await;
            if recs.is_empty() {
                return all;
            }
            all.extend(recs);
            after = last;
        }
    }

    /// Every record of the conversation, or `None` when the server does not answer.
    pub async fn try_history(&self, token: &str) -> Option<Vec<Rec>> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let r = self
                .http
                .get(self.url(&format!("messages?after={after}")))
                .bearer_auth(token)
                .send()
                .await
                .ok()?;
            if r.status() != 200 {
                return None;
            }
            let v: Value = r.json().await.ok()?;
            let recs = v["records"].as_array()?;
            if recs.is_empty() {
                return Some(all);
            }
            for r in recs {
                all.push(Rec {
                    seq: r["seq"].as_u64()?,
                    event: r["event"].as_str()?.to_owned(),
                    data: r["data"].clone(),
                });
            }
            after = v["last_seq"].as_u64()?;
        }
    }

    /// Opens `GET events` (with `Last-Event-ID` when `after` is given).
    pub async fn events(&self, token: &str, after: Option<u64>) -> Sse {
        let mut r = self
            .http
            .get(self.url(&format!("events?token={token}")))
            .header("origin", ORIGIN);
        if let Some(a) = after {
            r = r.header("last-event-id", a.to_string());
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Sse {
            resp,
            buf: String::new(),
            lines: Vec::new(),
        }
    }
}

/// A Server-Sent Events reader.
pub struct Sse {
    resp: reqwest::Response,
    buf: String,
    /// Every raw line seen (comments and `retry:` included).
    pub lines: Vec<String>,
}

impl Sse {
    /// Reads the stream of `resp`.
    pub fn from_response(resp: reqwest::Response) -> Self {
        Sse {
            resp,
            buf: String::new(),
            lines: Vec::new(),
        }
    }

    /// The next record (comments and `retry:` skipped), or `None` at the end of the stream or
    /// after `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Rec> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(at) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..at + 2).collect();
                let (mut seq, mut event, mut data) = (0, String::new(), String::new());
                for line in block.lines() {
                    self.lines.push(line.to_owned());
                    if let Some(v) = line.strip_prefix("id:") {
                        seq = v.trim().parse().unwrap();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if event.is_empty() {
                    continue;
                }
                return Some(Rec {
                    seq,
                    event,
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// The next `n` records with a sequence number (ephemeral ones skipped).
    pub async fn take(&mut self, n: usize, within: Duration) -> Vec<Rec> {
        let mut out = Vec::new();
        let start = Instant::now();
        while out.len() < n {
            let left = within.saturating_sub(start.elapsed());
            match self.next(left).await {
                Some(r) if r.seq > 0 => out.push(r),
                Some(_) => {}
                None => break,
            }
        }
        out
    }
}

/// Waits until `f` holds, up to `within`.
pub async fn eventually<F, Fut>(within: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < within {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// The text of a `message` record.
pub fn text(r: &Rec) -> &str {
    r.data["text"].as_str().unwrap_or("")
}

/// The role of a `message` record's author.
pub fn role(r: &Rec) -> &str {
    r.data["from"]["role"].as_str().unwrap_or("")
}
