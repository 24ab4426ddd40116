use super::*;

#[test]
fn markers_round_trip_whatever_the_key_holds() {
    for key in ["fb:m_1:0", "a#1/2", "x#", "#/"] {
        for (part, parts) in [(0, 1), (2, 3)] {
            let md = metadata(Some(key), part, parts);
            assert_eq!(
                parse(&md),
                Some(Marker {
                    key: key.to_owned(),
                    part,
                    parts
                }),
                "{md}"
            );
        }
    }
    assert_eq!(metadata(Some("fb:E1:0"), 1, 2), "switchboard:fb:E1:0#2/2");
    assert_eq!(metadata(None, 0, 1), "switchboard:");
    assert_eq!(metadata(Some(""), 0, 1), "switchboard:");
    assert_eq!(parse("switchboard:"), None);
    assert_eq!(parse("<DEVELOPER_DEFINED_METADATA_STRING>"), None);
    // Without the suffix (or with a nonsensical one): a one-part send.
    assert_eq!(parse("switchboard:outbox-17").map(|m| m.parts), Some(1));
    assert_eq!(
        parse("switchboard:k#4/3").map(|m| (m.key, m.part)),
        Some(("k#4/3".to_owned(), 0))
    );
}

fn echo(part: usize, mid: &str) -> Echo {
    Echo {
        conversation: "psid".into(),
        part,
        mid: mid.into(),
        at: SystemTime::now(),
    }
}

#[test]
fn the_log_keeps_one_echo_per_mid_and_forgets_old_keys() {
    let log = EchoLog::default();
    log.record("k", echo(0, "m_1"));
    log.record("k", echo(0, "m_1"));
    assert_eq!(log.lock().by_key["k"].len(), 1);
    for i in 0..MAX_KEYS + 5 {
        log.record(&format!("k{i}"), echo(0, "m"));
    }
    let seen = log.lock();
    assert!(seen.by_key.len() <= MAX_KEYS && seen.order.len() <= MAX_KEYS);
    assert!(!seen.by_key.contains_key("k") && seen.by_key.contains_key("k20004"));
}

#[tokio::test]
async fn waits_for_late_echoes_and_reports_what_is_missing() {
    let log = std::sync::Arc::new(EchoLog::default());
    let to = ConversationRef::parse("fb", "psid").unwrap();
    let since = SystemTime::now() - SKEW;
    log.record("k", echo(1, "m_2"));
    let late = log.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        late.record("k", echo(0, "m_1"));
    });
    let r = log
        .reconcile(
            "k",
            to.conversation.as_str(),
            &to,
            since,
            2,
            Duration::from_secs(5),
        )
        .await;
    let Reconciled::Delivered(found) = r else {
        panic!("{r:?}")
    };
    let ids: Vec<_> = found.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["m_1", "m_2"]);

    // Another conversation, or an echo from before the first attempt, does not count.
    log.record(
        "j",
        Echo {
            conversation: "other".into(),
            ..echo(0, "m_3")
        },
    );
    log.record(
        "j",
        Echo {
            at: since - Duration::from_secs(1),
            ..echo(1, "m_4")
        },
    );
    let r = log
        .reconcile(
            "j",
            to.conversation.as_str(),
            &to,
            since,
            2,
            Duration::from_millis(20),
        )
        .await;
    assert!(
        matches!(&r, Reconciled::Unknown(why) if why.starts_with("no message_echoes")),
        "{r:?}"
    );
    log.record("j", echo(0, "m_5"));
    let r = log
        .reconcile(
            "j",
            to.conversation.as_str(),
            &to,
            since,
            2,
            Duration::from_millis(20),
        )
        .await;
    assert!(
        matches!(&r, Reconciled::Unknown(why) if why.starts_with("1 of 2 parts echoed (part 1 (m_5))")),
        "{r:?}"
    );
}
