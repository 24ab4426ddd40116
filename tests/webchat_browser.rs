//! The widget in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven over WebDriver ([`webchat_support::webdriver`]), against
//! `switchboard serve`'s web chat routes. Without Chromium the tests print a skip line, except
//! under `CI=true`, where they fail. One browser runs at a time ([`ONE_BROWSER`]).
//! Screenshots go to `$SWITCHBOARD_ARTIFACTS/webchat/` (default: the target directory's
//! `tmp/artifacts/webchat/`), never into the repository.
//!
//! - a visitor opens the demo page, sends a message and sees the reply; clicks a button and
//!   the payload reaches the action handler;
//! - the page is closed, the reply comes meanwhile, the page is opened again: everything is
//!   there, each message once;
//! - hostile content from the agent's side (HTML, `javascript:` links, markdown link tricks)
//!   renders inert: no script runs;
//! - [`bridge`]: the web chat bridged to Slack (the Slack emulator): the visitor's message
//!   opens a thread, an agent's reply in the thread shows on the page, the visitor's tap on
//!   its button reaches the bridge's handler and comes back into the thread;
//! - [`crash`]: the server as a child process behind a TCP proxy; 20 forced drops of the
//!   event stream and one SIGKILL of the server during a burst of 100 agent messages (the
//!   gateway's REST API, through the outbox): the page shows each message exactly once, in
//!   order.
//!
//! `cargo test -p switchboard --all-features --test webchat_browser`
#![allow(clippy::unwrap_used, missing_docs)]

mod webchat_support;

#[cfg(all(feature = "emulators", feature = "slack"))]
#[path = "webchat_browser/bridge.rs"]
mod bridge;
#[path = "webchat_browser/crash.rs"]
mod crash;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::{
    ConversationRef, Env, OutboundMessage, Running, Switchboard, SwitchboardBuilder,
};
use webchat_support::webdriver::{Browser, Driver, ENTER, browser_or_skip};
use webchat_support::*;

const WAIT: Duration = Duration::from_secs(20);

/// The widget says it is connected.
const CONNECTED: &str =
    "var s = document.querySelector('.sbw-status'); return !!s && s.textContent === 'Connected'";

/// One browser at a time: the machine running the tests may have few cores.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn artifact(name: &str) -> PathBuf {
    let dir = std::env::var("SWITCHBOARD_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("artifacts"));
    dir.join("webchat").join(name)
}

struct App {
    sb: Switchboard,
    running: Running,
    /// (conversation, action payload) of every action handled.
    actions: Arc<Mutex<Vec<(String, String)>>>,
    /// The conversations that sent messages.
    visitors: Arc<Mutex<Vec<String>>>,
}

/// A server whose channel allows its own origin (the demo page is served by it). Its handler
/// answers "buttons" with a postback button and anything else with "re: {text}".
async fn start() -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let db = temp("browser.sqlite").display().to_string();
    let text = config(&db, 0, "").replace(ORIGIN, &origin);
    let actions: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let visitors: Arc<Mutex<Vec<String>>> = Arc::default();
    let (a, v) = (actions.clone(), visitors.clone());
    let sb = SwitchboardBuilder::from_config_str(
        &text,
        &Env::from_pairs(Vec::<(String, String)>::new()),
    )
    .unwrap()
    .on_message(move |ctx| {
        let v = v.clone();
        async move {
            let conv = ctx.event().conversation.conversation.as_str().to_owned();
            v.lock().unwrap().push(conv);
            let text = ctx.event().text().unwrap_or_default().to_owned();
            if text == "buttons" {
                ctx.reply(
                    OutboundMessage::builder()
                        .text("Which order?")
                        .button("Order 1", "ORDER_1")
                        .build()?,
                )?;
            } else {
                ctx.reply_text(format!("re: {text}"))?;
            }
            Ok(())
        }
    })
    .on_action(move |ctx| {
        let a = a.clone();
        async move {
            let conv = ctx.event().conversation.conversation.as_str().to_owned();
            let payload = ctx.event().action_payload().unwrap_or_default().to_owned();
            a.lock().unwrap().push((conv, payload.clone()));
            ctx.reply_text(format!("got {payload}"))?;
            Ok(())
        }
    })
    .build()
    .await
    .unwrap();
    let running = sb.start(listener).unwrap();
    App {
        sb,
        running,
        actions,
        visitors,
    }
}

/// The texts of the messages shown, in order.
const SHOWN: &str = "return Array.from(document.querySelectorAll('.sbw-msg')).map(function (m) { \
     var p = m.querySelector('p'); return p ? p.textContent : ''; })";

fn shown_contains(text: &str) -> String {
    format!(
        "return Array.from(document.querySelectorAll('.sbw-msg p')).some(function (p) {{ return p.textContent === {} }})",
        serde_json::to_string(text).unwrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_sends_a_message_shows_the_reply_and_a_button_reaches_the_handler() {
    let Some((chromium, driver)) = browser_or_skip("webchat_browser") else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let app = start().await;
    let driver = Driver::start(&driver).await;
    let browser = Browser::open(&driver, &chromium).await;
    browser
        .goto(&format!("{}/webchat/site/demo", app.running.url()))
        .await;
    assert!(browser.until(CONNECTED, WAIT).await, "the widget connected");
    browser
        .type_into(".sbw-input", &format!("hello{ENTER}"))
        .await;
    assert!(
        browser.until(&shown_contains("re: hello"), WAIT).await,
        "the reply is shown"
    );
    browser
        .type_into(".sbw-input", &format!("buttons{ENTER}"))
        .await;
    assert!(browser.until(&shown_contains("Which order?"), WAIT).await);
    browser
        .screenshot(&artifact("1-reply-and-button.png"))
        .await;
    browser.click(".sbw-msg .sbw-button").await;
    assert!(
        browser.until(&shown_contains("got ORDER_1"), WAIT).await,
        "the action's answer"
    );
    let actions = app.actions.lock().unwrap().clone();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].1, "ORDER_1");
    assert_eq!(
        browser.js(SHOWN).await,
        serde_json::json!([
            "hello",
            "re: hello",
            "buttons",
            "Which order?",
            "Order 1",
            "got ORDER_1"
        ]),
        "the tapped button is echoed as the visitor's message"
    );
    browser.screenshot(&artifact("2-action.png")).await;
    browser.quit().await;
    app.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_sent_while_the_page_was_closed_is_there_when_it_reopens() {
    let Some((chromium, driver)) = browser_or_skip("webchat_browser") else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let app = start().await;
    let driver = Driver::start(&driver).await;
    let browser = Browser::open(&driver, &chromium).await;
    let demo = format!("{}/webchat/site/demo", app.running.url());
    browser.goto(&demo).await;
    browser
        .type_into(".sbw-input", &format!("first{ENTER}"))
        .await;
    assert!(browser.until(&shown_contains("re: first"), WAIT).await);
    // The page closes; an agent answers meanwhile.
    browser.goto("about:blank").await;
    let conv = app.visitors.lock().unwrap()[0].clone();
    let to = ConversationRef::parse("site", &conv).unwrap();
    app.sb
        .send(
            to,
            OutboundMessage::text("Your parcel left today.").unwrap(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    browser.goto(&demo).await;
    assert!(
        browser
            .until(&shown_contains("Your parcel left today."), WAIT)
            .await,
        "the reply sent while the page was closed is shown"
    );
    assert_eq!(
        browser.js(SHOWN).await,
        serde_json::json!(["first", "re: first", "Your parcel left today."]),
        "each message once, in order"
    );
    browser.screenshot(&artifact("3-reopened.png")).await;
    browser.quit().await;
    app.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_content_renders_inert() {
    let Some((chromium, driver)) = browser_or_skip("webchat_browser") else {
        return;
    };
    let _one = ONE_BROWSER.lock().await;
    let app = start().await;
    let driver = Driver::start(&driver).await;
    let browser = Browser::open(&driver, &chromium).await;
    browser
        .goto(&format!("{}/webchat/site/demo", app.running.url()))
        .await;
    browser.type_into(".sbw-input", &format!("hi{ENTER}")).await;
    assert!(browser.until(&shown_contains("re: hi"), WAIT).await);
    let conv = app.visitors.lock().unwrap()[0].clone();
    let to = ConversationRef::parse("site", &conv).unwrap();
    let hostile = [
        "<img src=x onerror=\"window.__pwned='img'\">",
        "<script>window.__pwned='script'</script>",
        "[click me](javascript:window.__pwned='link')",
        "[tricky](jAvAsCrIpT:window.__pwned='case')",
        "[nested [x](javascript:alert(1))](https://ok.example)",
        "<a href=\"javascript:window.__pwned='a'\">a</a> <svg onload=\"window.__pwned='svg'\">",
        "last hostile line",
    ];
    for text in hostile {
        app.sb
            .send(to.clone(), OutboundMessage::text(text).unwrap())
            .await
            .unwrap();
    }
    assert!(
        browser
            .until(&shown_contains("last hostile line"), WAIT)
            .await
    );
    // Click every link the widget made (a javascript: one would run now).
    let clicked = browser
        .js("var n = 0; document.querySelectorAll('.sbw-log a').forEach(function (a) { \
             a.removeAttribute('target'); a.addEventListener('click', function (e) { e.preventDefault(); }); \
             a.click(); n++; }); return n")
        .await;
    browser.screenshot(&artifact("4-hostile.png")).await;
    let verdict = browser
        .js("return { pwned: window.__pwned === undefined ? null : window.__pwned, \
             elements: document.querySelectorAll('.sbw-log img, .sbw-log script, .sbw-log svg, .sbw-log [onerror], .sbw-log [onload]').length, \
             badLinks: Array.from(document.querySelectorAll('.sbw-log a')).filter(function (a) { return !/^https?:/.test(a.href); }).length, \
             text: Array.from(document.querySelectorAll('.sbw-msg p')).map(function (p) { return p.textContent; }) }")
        .await;
    assert_eq!(
        verdict["pwned"],
        serde_json::Value::Null,
        "no script ran: {verdict}"
    );
    assert_eq!(
        verdict["elements"], 0,
        "no element from the text: {verdict}"
    );
    assert_eq!(verdict["badLinks"], 0, "links only http(s): {verdict}");
    let shown = verdict["text"].to_string();
    assert!(
        shown.contains("<img src=x onerror="),
        "the markup shows as text: {shown}"
    );
    assert!(clicked.as_u64().is_some());
    browser.quit().await;
    app.running.shutdown().await.unwrap();
}
