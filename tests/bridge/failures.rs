//! The support bridge when sends fail, end to end with the emulators: a refused reply, a reply
//! whose retries run out across a restart, and a thread parent that Slack refused.
#![allow(clippy::unwrap_used)]

use crate::world::{PHONE, World, eventually};
use switchboard::slack::emulator::Fault as SlackFault;
use switchboard::twilio::emulator::Fault as TwilioFault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_send_is_reported_in_the_thread() {
    let w = World::start("bridge-refused").await;
    let (_sb, running) = w.engine().await;
    w.customer_sms(&running, "Hello?").await;
    eventually("the SMS thread", || async { w.parents().len() == 1 }).await;
    let parent = w.parents()[0].clone();
    // Twilio answers 21610 (the recipient opted out): OptedOut, never retried.
    w.twilio.stage(switchboard::twilio::emulator::Fault::Error {
        status: 400,
        code: 21610,
        message: "Attempt to send to unsubscribed recipient".to_owned(),
    });
    w.agent(&running, &parent.ts, "1700000400.000100", "Hi there")
        .await;
    eventually("the refusal notice", || async {
        w.in_thread(&parent.ts)
            .iter()
            .any(|m| m.text.contains("Not delivered") && m.text.contains("opted_out"))
    })
    .await;
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_that_run_out_across_a_restart_are_reported_in_the_thread() {
    let mut w = World::start("bridge-retries").await;
    // Retries a second apart, so the engine can be restarted between two attempts.
    w.backoff_base = "1s";
    let (sb, running) = w.engine().await;
    w.customer_sms(&running, "Hello?").await;
    eventually("the SMS thread", || async { w.parents().len() == 1 }).await;
    let parent = w.parents()[0].clone();
    // Twilio answers 429 three times (send_attempts = 3): safe to retry, every time.
    for _ in 0..3 {
        w.twilio.stage(TwilioFault::Error {
            status: 429,
            code: 20429,
            message: "Too Many Requests".to_owned(),
        });
    }
    w.agent(&running, &parent.ts, "1700000500.000100", "Hi there")
        .await;
    eventually("the first attempt", || async {
        w.twilio.calls().len() == 1
    })
    .await;
    running.shutdown().await.unwrap();
    drop(sb);
    let (_sb, running) = w.engine().await;
    eventually("the notice after the last attempt", || async {
        w.in_thread(&parent.ts)
            .iter()
            .any(|m| m.text.contains("Not delivered") && m.text.contains("rate_limited"))
    })
    .await;
    assert_eq!(w.twilio.calls().len(), 3, "three attempts, no more");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_parent_slack_refused_is_replaced_by_the_next_message() {
    let w = World::start("bridge-parent").await;
    let (_sb, running) = w.engine().await;
    // Slack refuses the parent for good: it is dead-lettered.
    w.slack
        .stage(SlackFault::SlackError("channel_not_found".to_owned()));
    w.customer_sms(&running, "Hello?").await;
    eventually("the refused parent", || async {
        !w.slack.calls().is_empty()
    })
    .await;
    // The next message opens the thread, saying whose it is.
    w.customer_sms(&running, "Anyone there?").await;
    eventually("the new thread", || async { w.parents().len() == 1 }).await;
    let parent = w.parents()[0].clone();
    assert!(parent.text.contains("New conversation"), "{}", parent.text);
    assert!(parent.text.contains("sms"), "{}", parent.text);
    assert!(parent.text.contains(PHONE), "{}", parent.text);
    assert!(parent.text.contains("Anyone there?"), "{}", parent.text);
    // Later messages go into it, and replies in it reach the customer.
    w.customer_sms(&running, "Hello??").await;
    eventually("the follow-up in the thread", || async {
        w.in_thread(&parent.ts).len() == 1
    })
    .await;
    w.agent(&running, &parent.ts, "1700000600.000100", "Sorry, here!")
        .await;
    eventually("the reply by SMS", || async {
        !w.twilio.messages().is_empty()
    })
    .await;
    assert_eq!(w.twilio.messages()[0].body.as_deref(), Some("Sorry, here!"));
    assert_eq!(w.parents().len(), 1);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_reply_whose_answer_was_lost_is_found_in_its_thread_not_posted_again() {
    let w = World::start("bridge-lost-reply").await;
    let (sb, running) = w.engine().await;
    w.customer_sms(&running, "Hello?").await;
    eventually("the SMS thread", || async { w.parents().len() == 1 }).await;
    let parent = w.parents()[0].clone();
    // The reply in the thread reaches Slack, but its answer is lost: the engine must look for
    // it where it went (the parent's thread), not among the channel's top-level messages.
    // Before, it was not found there, held for Slack's send timeout (30 s), then posted twice.
    w.slack.stage(SlackFault::LostAnswer);
    w.customer_sms(&running, "Still there?").await;
    eventually("the reply in the thread", || async {
        w.in_thread(&parent.ts).len() == 1
    })
    .await;
    eventually("the reply settled as sent", || async {
        let stats = sb.stats().await.unwrap();
        (stats.outbox_pending, stats.outbox_sent) == (0, 2)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(w.in_thread(&parent.ts).len(), 1, "posted once");
    let posts = w
        .slack
        .calls()
        .iter()
        .filter(|c| c.method == "chat.postMessage")
        .count();
    assert_eq!(posts, 2, "the parent and the reply, nothing again");
    running.shutdown().await.unwrap();
}
