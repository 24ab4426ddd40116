//! The policy facts a store keeps per conversation ([`Store::contact`]): last inbound times and
//! opt-outs, written with the inbound insert.

use switchboard_core::model::{EventKind, InboundMessage};
use switchboard_core::policy::{ConsentAction, ConsentChange};
use switchboard_core::{Contact, InboundEvent};

use super::prelude::*;

const SCOPE: &str = "+15550001111";

/// A whole-second time `secs` after a fixed instant (stores keep milliseconds).
fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000 + secs)
}

fn at(id: &str, conv: &str, secs: u64) -> InboundEvent {
    let mut e = ev(id, conv);
    e.at = t(secs);
    e
}

fn keyword(id: &str, conv: &str, secs: u64, action: ConsentAction, word: &str) -> InboundEvent {
    at(id, conv, secs).with_consent(ConsentChange::new(action, word, SCOPE))
}

async fn contact(store: &dyn Store, conv: &str, scope: Option<&str>) -> Contact {
    store
        .contact(&format!("mem/{conv}"), scope)
        .await
        .expect("the store keeps policy facts")
}

/// The last inbound time is the latest customer event's `at`, kept with the insert: it only
/// moves forward, duplicates and the business side's own messages change nothing, and
/// conversations are apart.
pub async fn last_inbound_times_are_kept_with_the_insert(store: &dyn Store) {
    assert_eq!(contact(store, "A", None).await, Contact::default());
    // One batch, out of order: the latest wins.
    let r = store
        .insert_inbound(&[at("a2", "A", 200), at("a1", "A", 100), at("b1", "B", 50)])
        .await
        .unwrap();
    assert!(r.iter().all(|i| matches!(i, Inserted::New(_))));
    assert_eq!(contact(store, "A", None).await.last_inbound, Some(t(200)));
    assert_eq!(contact(store, "B", None).await.last_inbound, Some(t(50)));
    // A later batch with an older event (a provider's retry of an old webhook) keeps it.
    store.insert_inbound(&[at("a0", "A", 10)]).await.unwrap();
    assert_eq!(contact(store, "A", None).await.last_inbound, Some(t(200)));
    // A duplicate with another time changes nothing.
    let dup = store.insert_inbound(&[at("b1", "B", 900)]).await.unwrap();
    assert_eq!(dup, vec![Inserted::Duplicate]);
    assert_eq!(contact(store, "B", None).await.last_inbound, Some(t(50)));
    // The business side's own message, a bot's and a receipt do not count.
    let mut business = InboundMessage::text("from the Page inbox");
    business.from_business = true;
    let mut own = at("b2", "B", 300);
    own.kind = EventKind::Message(business);
    let mut bot = at("b3", "B", 300);
    bot.sender.is_bot = true;
    let mut typing = at("b4", "B", 300);
    typing.kind = EventKind::Typing;
    store.insert_inbound(&[own, bot, typing]).await.unwrap();
    assert_eq!(contact(store, "B", None).await.last_inbound, Some(t(50)));
    // A later customer message moves it.
    store.insert_inbound(&[at("b5", "B", 400)]).await.unwrap();
    assert_eq!(contact(store, "B", None).await.last_inbound, Some(t(400)));
    assert_eq!(
        contact(store, "C", None).await,
        Contact::default(),
        "unknown conversation"
    );
}

/// `STOP` opts out under its scope until `START`; `HELP` changes nothing; the latest keyword
/// by time wins, whatever order they arrive in; other scopes and conversations are apart.
pub async fn opt_outs_follow_the_latest_keyword(store: &dyn Store) {
    store
        .insert_inbound(&[keyword("s1", "A", 100, ConsentAction::OptOut, "STOP")])
        .await
        .unwrap();
    let c = contact(store, "A", Some(SCOPE)).await;
    let out = c.opted_out.expect("opted out");
    assert_eq!((out.keyword.as_str(), out.at), ("STOP", t(100)));
    assert_eq!(c.last_inbound, Some(t(100)), "a keyword is a message too");
    assert_eq!(contact(store, "A", None).await.opted_out, None, "no scope");
    assert_eq!(
        contact(store, "A", Some("+15559999999")).await.opted_out,
        None,
        "another of our numbers"
    );
    assert_eq!(contact(store, "B", Some(SCOPE)).await.opted_out, None);
    // HELP is only recorded (with the event); the opt-out stays.
    store
        .insert_inbound(&[keyword("h1", "A", 150, ConsentAction::Help, "HELP")])
        .await
        .unwrap();
    let out = contact(store, "A", Some(SCOPE)).await.opted_out.unwrap();
    assert_eq!((out.keyword.as_str(), out.at), ("STOP", t(100)));
    // START opts back in.
    store
        .insert_inbound(&[keyword("y1", "A", 200, ConsentAction::OptIn, "START")])
        .await
        .unwrap();
    assert_eq!(contact(store, "A", Some(SCOPE)).await.opted_out, None);
    // A STOP sent before that START but delivered after it does not win.
    store
        .insert_inbound(&[keyword("s0", "A", 180, ConsentAction::OptOut, "QUIT")])
        .await
        .unwrap();
    assert_eq!(contact(store, "A", Some(SCOPE)).await.opted_out, None);
    // In one batch, the later of two keywords wins.
    store
        .insert_inbound(&[
            keyword("s2", "A", 400, ConsentAction::OptOut, "UNSUBSCRIBE"),
            keyword("y2", "A", 300, ConsentAction::OptIn, "UNSTOP"),
        ])
        .await
        .unwrap();
    let out = contact(store, "A", Some(SCOPE)).await.opted_out.unwrap();
    assert_eq!((out.keyword.as_str(), out.at), ("UNSUBSCRIBE", t(400)));
    // A duplicate of the old START changes nothing.
    let dup = store
        .insert_inbound(&[keyword("y1", "A", 999, ConsentAction::OptIn, "START")])
        .await
        .unwrap();
    assert_eq!(dup, vec![Inserted::Duplicate]);
    assert!(contact(store, "A", Some(SCOPE)).await.opted_out.is_some());
}

/// A claimed outbox row that carries its conversation's policy facts
/// ([`OutboxItem::contact`](crate::store::OutboxItem::contact)) carries what
/// [`Store::contact`] answers at the claim, under every scope: the last inbound time and each
/// opt-out in force (a store may carry none; the sender then asks `contact`).
pub async fn claimed_sends_carry_the_contact_facts(store: &dyn Store) {
    const OTHER: &str = "+15559999999";
    let other =
        |id: &str, conv: &str, secs: u64, action: ConsentAction, word: &str| -> InboundEvent {
            at(id, conv, secs).with_consent(ConsentChange::new(action, word, OTHER))
        };
    store
        .insert_inbound(&[
            keyword("f1", "F", 100, ConsentAction::OptOut, "STOP"),
            other("f2", "F", 150, ConsentAction::OptOut, "QUIT"),
            at("f3", "F", 200),
            keyword("g1", "G", 90, ConsentAction::OptOut, "STOP"),
            keyword("g2", "G", 95, ConsentAction::OptIn, "START"),
        ])
        .await
        .unwrap();
    store
        .enqueue_outbound(&[
            reply("f:0", "F", "one"),
            reply("g:0", "G", "two"),
            reply("h:0", "H", "three"),
        ])
        .await
        .unwrap();
    let claimed = store
        .claim_outbox(Claim::new(SystemTime::now(), LEASE, 3))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    for item in &claimed {
        let Some(facts) = &item.contact else { continue };
        let conv = item.to.conversation.as_str();
        for scope in [None, Some(SCOPE), Some(OTHER), Some("+15550000000")] {
            assert_eq!(
                facts.contact(scope),
                contact(store, conv, scope).await,
                "conversation {conv}, scope {scope:?}"
            );
        }
        let expected: &[(&str, &str, u64)] = match conv {
            "F" => &[(SCOPE, "STOP", 100), (OTHER, "QUIT", 150)],
            _ => &[],
        };
        let mut got: Vec<(&str, &str, SystemTime)> = facts
            .opted_out
            .iter()
            .map(|(s, o)| (s.as_str(), o.keyword.as_str(), o.at))
            .collect();
        got.sort();
        let mut expected: Vec<(&str, &str, SystemTime)> =
            expected.iter().map(|(s, k, a)| (*s, *k, t(*a))).collect();
        expected.sort();
        assert_eq!(got, expected, "conversation {conv}: the opt-outs in force");
        let last = match conv {
            "F" => Some(t(200)),
            "G" => Some(t(95)),
            _ => None,
        };
        assert_eq!(facts.last_inbound, last, "conversation {conv}");
    }
}
