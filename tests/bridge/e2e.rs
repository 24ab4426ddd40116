//! The support bridge end to end, over real HTTP on 127.0.0.1, with the Slack, Messenger and
//! Twilio emulators and the SQLite store: threads opened and reused, agent replies relayed and
//! rendered, buttons degraded and answered, the bot's own and unrelated messages ignored,
//! delivery failures reported into the thread, and the mapping kept across a restart.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::world::{AGENTS, PHONE, PSID, World, eventually};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_and_agents_talk_through_threads_across_a_restart() {
    let w = World::start("bridge-e2e").await;
    let (sb, running) = w.engine().await;

    // 1. The first customer message opens a thread.
    w.customer_fb(&running, "Hi! Where is my order *1042*?")
        .await;
    eventually("the thread parent", || async { w.parents().len() == 1 }).await;
    let parent = w.parents()[0].clone();
    assert!(parent.text.contains("New conversation"), "{}", parent.text);
    assert!(parent.text.contains("fb"), "{}", parent.text);
    assert!(parent.text.contains(PSID), "{}", parent.text);
    assert!(parent.text.contains("Where is my order"), "{}", parent.text);

    // 2. The second goes into the same thread.
    w.customer_fb(&running, "It was due Monday.").await;
    eventually("the follow-up in the thread", || async {
        w.in_thread(&parent.ts).len() == 1
    })
    .await;
    assert!(
        w.in_thread(&parent.ts)[0]
            .text
            .contains("It was due Monday.")
    );
    assert_eq!(w.parents().len(), 1, "no second thread");

    // 3. An agent's reply in the thread reaches the customer, rendered for Messenger.
    w.agent(
        &running,
        &parent.ts,
        "1700000100.000100",
        "Sorry! It is *out for delivery* today: <https://example.com/t/1042|track it>",
    )
    .await;
    eventually("the reply on Messenger", || async {
        w.meta.messages().len() == 1
    })
    .await;
    let sent = w.meta.messages()[0].clone();
    assert_eq!(sent.recipient, PSID);
    assert_eq!(
        sent.text(),
        Some("Sorry! It is out for delivery today: track it (https://example.com/t/1042)")
    );

    // 4. The bot's own message, a top-level message and a reply in a foreign thread are ignored.
    w.slack_event(
        &running,
        json!({"type": "message", "subtype": "bot_message", "channel": AGENTS, "bot_id": "B0EMUBOT",
            "user": "U0EMUBOT", "text": "bot talking", "ts": "1700000101.000100",
            "thread_ts": parent.ts, "channel_type": "channel"}),
    )
    .await;
    w.slack_event(
        &running,
        json!({"type": "message", "channel": AGENTS, "user": "U0BOB", "text": "lunch?",
            "ts": "1700000102.000100", "channel_type": "channel"}),
    )
    .await;
    w.agent(
        &running,
        "1600000000.000001",
        "1700000103.000100",
        "elsewhere",
    )
    .await;
    // Then a marker reply, which must be the next thing Messenger gets.
    w.agent(&running, &parent.ts, "1700000104.000100", "marker")
        .await;
    eventually("the marker", || async { w.meta.messages().len() == 2 }).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let texts: Vec<String> = w
        .meta
        .messages()
        .iter()
        .map(|s| s.text().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(texts[1], "marker", "{texts:?}");
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(sb.dead_letters(10).await.unwrap().is_empty());

    // 5. Restart: a new engine and a new bridge on the same SQLite file.
    running.shutdown().await.unwrap();
    drop(sb);
    let (sb, running) = w.engine().await;
    w.customer_fb(&running, "Any news?").await;
    eventually("the follow-up after the restart", || async {
        w.in_thread(&parent.ts).len() == 2
    })
    .await;
    assert!(w.in_thread(&parent.ts)[1].text.contains("Any news?"));
    assert_eq!(w.parents().len(), 1, "the restart kept the thread");
    w.agent(
        &running,
        &parent.ts,
        "1700000200.000100",
        "It arrives at 5pm.",
    )
    .await;
    eventually("the reply after the restart", || async {
        w.meta.messages().len() == 3
    })
    .await;
    assert_eq!(w.meta.messages()[2].text(), Some("It arrives at 5pm."));

    // 6. An SMS customer gets a thread of their own; buttons become numbered options and the
    //    answer "2" comes back into the thread as the button's payload.
    w.customer_sms(&running, "Do you ship to Canada?").await;
    eventually("the SMS thread", || async { w.parents().len() == 2 }).await;
    let sms_parent = w.parents()[1].clone();
    assert!(sms_parent.text.contains(PHONE), "{}", sms_parent.text);
    assert!(sms_parent.text.contains("sms"), "{}", sms_parent.text);
    w.agent(
        &running,
        &sms_parent.ts,
        "1700000300.000100",
        "We do! Which shipping?\n[[Standard|SHIP_STD]] [[Express|SHIP_EXP]]",
    )
    .await;
    eventually("the SMS reply", || async {
        !w.twilio.messages().is_empty()
    })
    .await;
    let body = w.twilio.calls()[0]
        .param("Body")
        .unwrap_or_default()
        .to_owned();
    assert!(body.contains("We do! Which shipping?"), "{body}");
    assert!(body.contains("1. Standard  2. Express"), "{body}");
    w.customer_sms(&running, "2").await;
    eventually("the choice in the thread", || async {
        w.in_thread(&sms_parent.ts)
            .iter()
            .any(|m| m.text.contains("SHIP_EXP"))
    })
    .await;

    // 7. A reply that fails to be delivered comes back into the thread as a notice.
    w.twilio.fail_deliveries_to(PHONE, 30003);
    w.agent(&running, &sms_parent.ts, "1700000301.000100", "Shipped!")
        .await;
    eventually("the failure notice", || async {
        w.in_thread(&sms_parent.ts)
            .iter()
            .any(|m| m.text.contains("Not delivered"))
    })
    .await;
    let notice = w
        .in_thread(&sms_parent.ts)
        .into_iter()
        .find(|m| m.text.contains("Not delivered"))
        .unwrap();
    assert!(notice.text.contains("30003"), "{}", notice.text);
    assert_eq!(w.parents().len(), 2);
    running.shutdown().await.unwrap();
    drop(sb);
}
