//! Multi-workspace Slack ("Add to Slack", issue 16) through the engine, the OAuth routes and
//! the Slack emulator over real HTTP: two workspaces on one channel never cross (asserted at
//! the emulator by the token each call carried), an uninstall stops sends at once, token
//! expiry during a burst of sends loses and doubles nothing, and the callback refuses forged,
//! replayed and expired states.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::common::eventually;
use switchboard::install::KeyRing;
use switchboard::install::state;
use switchboard::slack::emulator::{Emulator, EmulatorOptions, Workspace};
use switchboard::{
    ChannelName, ConversationRef, Env, ErrorKind, EventKind, InboundEvent, OutboundMessage,
    Running, Switchboard, SwitchboardBuilder,
};

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

struct World {
    emu: Emulator,
    sb: Switchboard,
    _running: Running,
    base: String,
    runs: Arc<AtomicUsize>,
    events: Arc<Mutex<Vec<InboundEvent>>>,
    http: reqwest::Client,
    _dir: std::path::PathBuf,
}

async fn world(lifetime: Option<Duration>, extra: &str) -> World {
    let emu = Emulator::start(EmulatorOptions {
        rate_limit: None,
        token_lifetime: lifetime,
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    emu.add_channel("C0A");
    emu.add_channel("C0B");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = std::env::temp_dir().join(format!(
        "switchboard-installs-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let o = emu.options();
    let text = format!(
        "[server]\npublic_url = \"{base}\"\n\n[store]\nurl = \"sqlite://{}/engine.db\"\n\n\
         [engine]\npoll_interval = \"20ms\"\nbackoff_base = \"20ms\"\nbackoff_max = \"200ms\"\n\n\
         [installs]\nkeys = [\"${{INSTALL_KEY}}\"]\n\n\
         [channels.team]\nprovider = \"slack\"\nsigning_secret = \"{}\"\nclient_id = \"{}\"\n\
         client_secret = \"{}\"\nscopes = [\"chat:write\"]\n\
         redirect_url = \"{base}/oauth/slack/team/callback\"\noauth_base_url = \"{}\"\n\
         api_base_url = \"{}\"\napp_id = \"{}\"\n{extra}\n\
         rate = {{ per_conversation_per_second = 1000.0, per_conversation_burst = 1000 }}\n",
        dir.display(),
        o.signing_secret,
        o.client_id,
        o.client_secret,
        emu.oauth_base_url(),
        emu.base_url(),
        o.app_id,
    );
    let b = SwitchboardBuilder::from_config_str(&text, &Env::from_pairs([("INSTALL_KEY", KEY)]))
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let events = Arc::new(Mutex::new(Vec::new()));
    let (counter, seen) = (runs.clone(), events.clone());
    let sb = b
        .on_message(move |ctx| {
            let counter = counter.clone();
            seen.lock().unwrap().push(ctx.event().clone());
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let text = ctx.event().text().unwrap_or_default().to_owned();
                ctx.reply_text(format!("re: {text}"))?;
                Ok(())
            }
        })
        .build()
        .await
        .unwrap();
    let running = sb.start(listener).unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    World {
        emu,
        sb,
        _running: running,
        base,
        runs,
        events,
        http,
        _dir: dir,
    }
}

impl World {
    /// The install flow as a browser runs it: our install route → the emulator's authorize
    /// page (approving as `team`) → our callback. Returns the callback's status and body.
    async fn install(&self, team: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}/oauth/slack/team/install", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 302);
        let authorize = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            authorize.starts_with(&format!(
                "{}/oauth/v2/authorize?",
                self.emu.oauth_base_url()
            )),
            "{authorize}"
        );
        self.emu.approve_as(Workspace::new(team));
        let r = self.http.get(&authorize).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 302);
        let callback = r.headers()["location"].to_str().unwrap().to_owned();
        self.get(&callback).await
    }

    async fn get(&self, url: &str) -> (u16, String) {
        let r = self.http.get(url).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// A user's message in `channel` of workspace `team`, delivered signed.
    async fn say(&self, team: &str, channel: &str, text: &str) -> u16 {
        let mut body = self.emu.user_message(channel, "U0ALICE", text);
        body["team_id"] = json!(team);
        body["event"]["team"] = json!(team);
        body["authorizations"][0]["team_id"] = json!(team);
        self.deliver(&body).await
    }

    async fn deliver(&self, body: &Value) -> u16 {
        let url = format!("{}/webhooks/team", self.base);
        let d = self.emu.deliver(&url, body).await;
        assert!(d.delivered(), "{d:?}");
        200
    }

    /// Successful `chat.postMessage` calls: (channel, team of the token, text).
    fn posts(&self) -> Vec<(String, String, String)> {
        self.emu
            .calls()
            .into_iter()
            .filter(|c| c.method == "chat.postMessage" && c.status == 200)
            .filter(|c| c.response.as_ref().is_some_and(|r| r["ok"] == json!(true)))
            .map(|c| {
                (
                    c.args["channel"].as_str().unwrap_or_default().to_owned(),
                    c.team.clone().unwrap_or_default(),
                    c.args["text"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    fn channel(&self) -> ChannelName {
        ChannelName::new("team").unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workspaces_on_one_channel_never_cross() {
    let w = world(None, "").await;
    for team in ["T0A", "T0B"] {
        let (status, body) = w.install(team).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(team), "{body}");
    }
    let installs = w.emu.calls();
    assert!(
        installs.iter().all(|c| c.method != "oauth.v2.access"
            || !c
                .args
                .values()
                .any(|v| v.as_str().is_some_and(|s| s.contains("secret")))),
        "the emulator's log redacts the client secret"
    );
    w.say("T0A", "C0A", "hello from A").await;
    w.say("T0B", "C0B", "hello from B").await;
    assert!(
        eventually(Duration::from_secs(10), || async { w.posts().len() == 2 }).await,
        "{:?}",
        w.posts()
    );
    let mut posts = w.posts();
    posts.sort();
    assert_eq!(
        posts,
        vec![
            (
                "C0A".to_owned(),
                "T0A".to_owned(),
                "re: hello from A".to_owned()
            ),
            (
                "C0B".to_owned(),
                "T0B".to_owned(),
                "re: hello from B".to_owned()
            ),
        ],
        "each reply carries its own workspace's token"
    );
    // A workspace with no installation: acknowledged, dropped, never answered.
    w.say("T0C", "C0A", "hello from C").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.runs.load(Ordering::SeqCst), 2);
    assert_eq!(w.posts().len(), 2);
    // Sends name their workspace; an unprefixed id has no default workspace here.
    let to = ConversationRef::new(w.channel(), "T0B/C0B".parse().unwrap());
    w.sb.send(to, OutboundMessage::text("direct to B").unwrap())
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || async { w.posts().len() == 3 }).await);
    assert!(
        w.posts()
            .contains(&("C0B".to_owned(), "T0B".to_owned(), "direct to B".to_owned()))
    );
    let adapter = w.sb.adapter(&w.channel()).unwrap();
    let bare = ConversationRef::new(w.channel(), "C0A".parse().unwrap());
    let e = adapter
        .send(&bare, &OutboundMessage::text("x").unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotInstalled, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninstall_stops_sends_at_once() {
    let w = world(None, "").await;
    assert_eq!(w.install("T0A").await.0, 200);
    assert_eq!(w.install("T0B").await.0, 200);
    let adapter = w.sb.adapter(&w.channel()).unwrap().clone();
    let to_a = ConversationRef::new(w.channel(), "T0A/C0A".parse().unwrap());
    adapter
        .send(&to_a, &OutboundMessage::text("before").unwrap())
        .await
        .unwrap();
    // Slack revokes the tokens and tells the app.
    w.emu.revoke("T0A");
    let mut ev = w.emu.event_callback(json!({"type": "app_uninstalled"}));
    ev["team_id"] = json!("T0A");
    w.deliver(&ev).await;
    let e = adapter
        .send(&to_a, &OutboundMessage::text("after").unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotInstalled, "{e}");
    assert_eq!(e.retry(), switchboard::Retry::Never);
    assert!(
        !w.emu
            .calls()
            .iter()
            .any(|c| c.args.get("text") == Some(&json!("after"))),
        "nothing reached Slack"
    );
    // The other workspace is untouched.
    let to_b = ConversationRef::new(w.channel(), "T0B/C0B".parse().unwrap());
    adapter
        .send(&to_b, &OutboundMessage::text("still here").unwrap())
        .await
        .unwrap();
    let installs = switchboard::core::Installations::list(
        &switchboard::install::StoreInstallations::new(
            w.sb.store().clone(),
            Arc::new(KeyRing::new(&[KEY]).unwrap()),
        ),
        None,
    )
    .await
    .unwrap();
    let tenants: Vec<&str> = installs.iter().map(|i| i.tenant.as_str()).collect();
    assert_eq!(tenants, ["T0B"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_files_download_with_their_workspace_token() {
    let w = world(None, "").await;
    assert_eq!(w.install("T0A").await.0, 200);
    assert_eq!(w.install("T0B").await.0, 200);
    let url = w
        .emu
        .host_file_in("T0B", "plan.txt", bytes::Bytes::from_static(b"B's plan"));
    let file_id = url.rsplit('/').nth(1).unwrap().to_owned();
    let mut body = w.emu.user_message("C0B", "U0ALICE", "see attached");
    body["team_id"] = json!("T0B");
    body["authorizations"][0]["team_id"] = json!("T0B");
    body["event"]["subtype"] = json!("file_share");
    body["event"]["files"] = json!([{"id": file_id, "name": "plan.txt",
        "mimetype": "text/plain", "url_private_download": url}]);
    w.deliver(&body).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            !w.events.lock().unwrap().is_empty()
        })
        .await
    );
    let event = w.events.lock().unwrap()[0].clone();
    let EventKind::Message(m) = &event.kind else {
        panic!("{event:?}")
    };
    let attachment = m.attachments[0].clone();
    assert_eq!(attachment.provider_id, Some(format!("T0B/{file_id}")));
    let adapter = w.sb.adapter(&w.channel()).unwrap().clone();
    let fetched = adapter.fetch_attachment(&attachment).await.unwrap();
    assert_eq!(&fetched.bytes[..], b"B's plan");
    // The same file claimed for the other workspace: downloaded with A's token, which Slack
    // (the emulator) refuses for B's file.
    let mut crossed = attachment.clone();
    crossed.provider_id = Some(format!("T0A/{file_id}"));
    assert!(adapter.fetch_attachment(&crossed).await.is_err());
    // A workspace with no installation: NotInstalled, no request.
    crossed.provider_id = Some(format!("T0C/{file_id}"));
    let e = adapter.fetch_attachment(&crossed).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotInstalled, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiry_during_a_burst_loses_and_doubles_nothing() {
    let w = world(Some(Duration::from_secs(2)), "refresh_before = \"1s\"").await;
    assert_eq!(w.install("T0A").await.0, 200);
    let to = ConversationRef::new(w.channel(), "T0A/C0A".parse().unwrap());
    let n = 40;
    for i in 0..n {
        w.sb.send(
            to.clone(),
            OutboundMessage::text(format!("burst {i}")).unwrap(),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        eventually(Duration::from_secs(30), || async { w.posts().len() >= n }).await,
        "{} of {n} posted",
        w.posts().len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posts = w.posts();
    let mut texts: Vec<String> = posts.iter().map(|p| p.2.clone()).collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), n, "every message once");
    assert_eq!(posts.len(), n, "none twice");
    assert!(posts.iter().all(|p| p.1 == "T0A"));
    assert!(w.emu.refreshes() >= 1, "the burst outlived the first token");
    assert!(w.sb.dead_letters(10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callback_refuses_forged_replayed_and_expired_states() {
    let w = world(None, "").await;
    let callback = |state: &str, code: &str| {
        format!(
            "{}/oauth/slack/team/callback?code={code}&state={state}",
            w.base
        )
    };
    let code = w.emu.issue_code(Workspace::new("T0A"));
    // Forged: a state of another deployment's key.
    let other = KeyRing::new(&[hex_key(9)]).unwrap();
    let forged = state::issue(&other, "team", SystemTime::now()).unwrap();
    let (s, body) = w.get(&callback(&forged, &code)).await;
    assert_eq!((s, body.trim()), (403, "state signature does not verify"));
    // Malformed.
    assert_eq!(w.get(&callback("nope", &code)).await.0, 400);
    // Expired: ours, but eleven minutes old.
    let ours = KeyRing::new(&[KEY]).unwrap();
    let old = state::issue(&ours, "team", SystemTime::now() - Duration::from_secs(660)).unwrap();
    let (s, body) = w.get(&callback(&old, &code)).await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("expired"), "{body}");
    // Another channel's state.
    let elsewhere = state::issue(&ours, "other", SystemTime::now()).unwrap();
    assert_eq!(w.get(&callback(&elsewhere, &code)).await.0, 403);
    // A good one works once; its replay is refused.
    let good = state::issue(&ours, "team", SystemTime::now()).unwrap();
    assert_eq!(w.get(&callback(&good, &code)).await.0, 200);
    let again = w.emu.issue_code(Workspace::new("T0B"));
    let (s, body) = w.get(&callback(&good, &again)).await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("already used"), "{body}");
    // A spent or bad code: Slack refuses the exchange (502, its error code).
    let fresh = state::issue(&ours, "team", SystemTime::now()).unwrap();
    let (s, body) = w.get(&callback(&fresh, &code)).await;
    assert_eq!(
        (s, body.trim()),
        (502, "code exchange failed: invalid_code")
    );
    // No installation was made by any refused callback.
    let all = w.sb.store().list_installs(None).await.unwrap();
    let tenants: Vec<&str> = all.iter().map(|r| r.tenant.as_str()).collect();
    assert_eq!(tenants, ["T0A"]);
}

fn hex_key(b: u8) -> String {
    format!("{b:02x}").repeat(32)
}
