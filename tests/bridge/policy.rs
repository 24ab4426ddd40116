//! The support bridge and the channels' policies, end to end with the emulators (issue 15 item
//! 12): an agent's reply the engine refuses before any request (a closed messaging window, a
//! customer who texted STOP) comes back into the thread as a notice saying why; an agent's
//! reply to a Messenger customer goes out with the `HUMAN_AGENT` tag, so it is allowed for 7
//! days.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use crate::world::{PSID, World, eventually};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// The customer writes on Messenger `ago` before now (the webhook carries the emulator's
/// clock), and their thread opens.
async fn customer_fb_ago(w: &World, running: &switchboard::Running, ago: Duration) -> String {
    let now = SystemTime::now();
    w.meta.set_now(now - ago);
    let item = w.meta.text_item(PSID, "Where is my refund?");
    w.meta.set_now(now);
    let url = format!("{}/webhooks/fb", running.url());
    assert_eq!(w.meta.deliver(&url, &[item], 1).await[0].status, 200);
    eventually("the Messenger thread", || async { w.parents().len() == 1 }).await;
    w.parents()[0].ts.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_reply_outside_the_window_is_refused_with_a_notice() {
    let w = World::start("bridge-window").await;
    let (_sb, running) = w.engine().await;
    let thread = customer_fb_ago(&w, &running, DAY * 8).await;
    w.agent(
        &running,
        &thread,
        "1700000600.000100",
        "Sorry for the wait!",
    )
    .await;
    eventually("the notice", || async {
        w.in_thread(&thread).iter().any(|m| {
            m.text.contains("Not sent to")
                && m.text.contains(
                    "the customer's 7-day window for a human agent's reply (HUMAN_AGENT) closed on",
                )
        })
    })
    .await;
    assert!(w.meta.messages().is_empty(), "no request reached Messenger");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_reply_three_days_on_goes_out_tagged_human_agent() {
    let w = World::start("bridge-human-agent").await;
    let (_sb, running) = w.engine().await;
    let thread = customer_fb_ago(&w, &running, DAY * 3).await;
    w.agent(
        &running,
        &thread,
        "1700000700.000100",
        "Your refund went out today.",
    )
    .await;
    eventually("the reply at Messenger", || async {
        w.meta.messages().len() == 1
    })
    .await;
    let sent = &w.meta.messages()[0];
    assert_eq!(sent.messaging_type, "MESSAGE_TAG");
    assert_eq!(sent.tag.as_deref(), Some("HUMAN_AGENT"));
    assert_eq!(sent.text(), Some("Your refund went out today."));
    assert!(
        !w.in_thread(&thread)
            .iter()
            .any(|m| m.text.contains("Not sent")),
        "no notice"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_reply_to_a_customer_who_texted_stop_is_refused_with_a_notice() {
    let w = World::start("bridge-stop").await;
    let (_sb, running) = w.engine().await;
    w.customer_sms(&running, "Hello?").await;
    eventually("the SMS thread", || async { w.parents().len() == 1 }).await;
    let thread = w.parents()[0].ts.clone();
    w.customer_sms(&running, "STOP").await;
    eventually("the STOP in the thread", || async {
        w.in_thread(&thread).iter().any(|m| m.text.contains("STOP"))
    })
    .await;
    let creates_before = w
        .twilio
        .calls()
        .iter()
        .filter(|c| c.created_message())
        .count();
    w.agent(&running, &thread, "1700000800.000100", "Can I help?")
        .await;
    eventually("the notice", || async {
        w.in_thread(&thread).iter().any(|m| {
            m.text.contains("Not sent to") && m.text.contains("the customer texted STOP on ")
        })
    })
    .await;
    let creates = w
        .twilio
        .calls()
        .iter()
        .filter(|c| c.created_message())
        .count();
    assert_eq!(creates, creates_before, "no request reached Twilio");
    running.shutdown().await.unwrap();
}
