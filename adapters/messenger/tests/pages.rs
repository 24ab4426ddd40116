//! Several Pages on one channel (issue 16) against the Graph API emulator serving two Pages:
//! each event is attributed to its Page (prefixed conversation ids), each reply, upload, sender
//! action and credentials check goes out with that Page's token, URL and `appsecret_proof`, and
//! nothing crosses Pages (asserted at the emulator, by token).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use switchboard_core::model::Attachment;
use switchboard_core::{
    Adapter, ChannelTable, ConversationRef, ErrorKind, OutboundMessage, OutboxKey, PendingSend,
    Reconciled, RejectReason,
};
use switchboard_messenger::emulator::{EmulatedPage, Emulator, EmulatorOptions};
use switchboard_messenger::{MessengerAdapter, signature};

const PAGE_B: &str = "2222222222222222";
const TOKEN_B: &str = "EAApageBtoken";
const ANNA: &str = "6254710388245291";
const BOB: &str = "7254710388245292";

async fn two_pages() -> (Emulator, MessengerAdapter) {
    let emu = Emulator::start(EmulatorOptions {
        other_pages: vec![EmulatedPage::new(PAGE_B, "Page B", TOKEN_B)],
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    let table = ChannelTable::from_toml_str("fb", &emu.channel_toml()).unwrap();
    let adapter = MessengerAdapter::from_table(table).unwrap();
    (emu, adapter)
}

fn to(conversation: &str) -> ConversationRef {
    ConversationRef::parse("fb", conversation).unwrap()
}

#[tokio::test]
async fn events_name_their_page_and_replies_use_its_token() {
    let (emu, a) = two_pages().await;
    let page_a = emu.options().page_id.clone();
    let token_a = emu.options().page_access_token.clone();
    // One webhook POST with an entry per Page, as Meta batches them.
    let items = [
        emu.text_item(ANNA, "hello A"),
        emu.page(PAGE_B).text_item(BOB, "hello B"),
    ];
    let body = emu.webhook_body(&items);
    let out = a.handle_webhook(&emu.signed_request("https://bot.test/webhooks/fb", &body));
    let events = out.accepted_events().expect("accepted");
    let conversations: Vec<&str> = events
        .iter()
        .map(|e| e.conversation.conversation.as_str())
        .collect();
    assert_eq!(
        conversations,
        [format!("{page_a}/{ANNA}"), format!("{PAGE_B}/{BOB}")]
    );
    assert_eq!(
        events[1].sender.id.as_str(),
        BOB,
        "the sender stays the PSID"
    );

    for e in events {
        let text = format!("re: {}", e.conversation.conversation);
        a.send(&e.conversation, &OutboundMessage::text(text).unwrap())
            .await
            .unwrap();
    }
    let calls = emu.calls();
    assert_eq!(calls.len(), 2);
    for (c, page, token, psid) in [
        (&calls[0], page_a.as_str(), token_a.as_str(), ANNA),
        (&calls[1], PAGE_B, TOKEN_B, BOB),
    ] {
        assert_eq!(c.status, 200, "{c:?}");
        assert_eq!(c.path, format!("/v25.0/{page}/messages"));
        assert_eq!(c.access_token.as_deref(), Some(token));
        assert_eq!(c.page.as_deref(), Some(page));
        assert_eq!(
            c.query["appsecret_proof"],
            signature::appsecret_proof(&emu.options().app_secret, token)
        );
        assert_eq!(c.body["recipient"]["id"], psid);
    }
    let sent = emu.messages();
    assert_eq!(
        (sent[0].page_id.as_str(), sent[1].page_id.as_str()),
        (page_a.as_str(), PAGE_B)
    );
    assert!(sent[1].text().unwrap().contains(PAGE_B));
}

#[tokio::test]
async fn an_unprefixed_id_is_the_default_page_and_an_unknown_page_is_refused() {
    let (emu, a) = two_pages().await;
    emu.add_user(ANNA);
    a.send(&to(ANNA), &OutboundMessage::text("old id").unwrap())
        .await
        .unwrap();
    assert_eq!(
        emu.calls()[0].access_token.as_deref(),
        Some(emu.options().page_access_token.as_str())
    );
    let e = a
        .send(
            &to(&format!("999/{ANNA}")),
            &OutboundMessage::text("x").unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("Page 999"), "{e}");
    assert_eq!(emu.calls().len(), 1, "nothing was sent for an unknown Page");
}

#[tokio::test]
async fn a_user_of_page_b_is_unknown_to_page_a() {
    let (emu, a) = two_pages().await;
    emu.page(PAGE_B).add_user(BOB);
    // Page A's token cannot reach Page B's user: the emulator keeps users per Page.
    let e = a
        .send(
            &to(&format!("{}/{BOB}", emu.options().page_id)),
            &OutboundMessage::text("x").unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.provider_code(), Some("100/2018001"), "{e:?}");
    a.send(
        &to(&format!("{PAGE_B}/{BOB}")),
        &OutboundMessage::text("ok").unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn uploads_and_sender_actions_use_the_page_token() {
    let (emu, a) = two_pages().await;
    emu.page(PAGE_B).add_user(BOB);
    let conv = to(&format!("{PAGE_B}/{BOB}"));
    let photo = Attachment::bytes(b"PNG".to_vec(), "image/png", "p.png");
    let m = OutboundMessage::builder()
        .attachment(photo)
        .build()
        .unwrap();
    a.send(&conv, &m).await.unwrap();
    a.typing(&conv).await.unwrap();
    let calls = emu.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(
        calls[0].path,
        format!("/v25.0/{PAGE_B}/message_attachments")
    );
    for c in &calls {
        assert_eq!(c.status, 200, "{c:?}");
        assert_eq!(c.access_token.as_deref(), Some(TOKEN_B));
    }
    assert_eq!(emu.uploads()[0].page_id, PAGE_B);
    assert_eq!(calls[2].body["sender_action"], "typing_on");
}

#[tokio::test]
async fn credentials_of_every_page_are_verified() {
    let (emu, a) = two_pages().await;
    a.verify_credentials().await.unwrap();
    let tokens: Vec<Option<String>> = emu.calls().into_iter().map(|c| c.access_token).collect();
    assert_eq!(
        tokens,
        [
            Some(emu.options().page_access_token.clone()),
            Some(TOKEN_B.to_owned())
        ]
    );
    // Page B listed with Page A's token: the token belongs to another node.
    let toml = emu
        .channel_toml()
        .replace(TOKEN_B, &emu.options().page_access_token);
    let wrong =
        MessengerAdapter::from_table(ChannelTable::from_toml_str("fb", &toml).unwrap()).unwrap();
    let e = wrong.verify_credentials().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(e.to_string().contains("pages[1].access_token"), "{e}");
    assert!(!e.to_string().contains(TOKEN_B), "{e}");
}

#[tokio::test]
async fn the_emulator_refuses_a_token_of_another_page() {
    let emu = Emulator::start(EmulatorOptions {
        other_pages: vec![EmulatedPage::new(PAGE_B, "Page B", TOKEN_B)],
        require_appsecret_proof: false,
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    emu.page(PAGE_B).add_user(BOB);
    let url = format!(
        "{}/v25.0/{PAGE_B}/messages?access_token={}",
        emu.base_url(),
        emu.options().page_access_token
    );
    let body = serde_json::json!({"recipient": {"id": BOB}, "message": {"text": "x"}});
    let r = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let c = &emu.calls()[0];
    assert_eq!(c.page.as_deref(), Some(emu.options().page_id.as_str()));
    assert_eq!(c.response["error"]["code"], 100);
    assert!(emu.messages().is_empty());
}

#[tokio::test]
async fn an_entry_of_a_page_the_channel_does_not_serve_is_refused() {
    let (emu, a) = two_pages().await;
    let body = emu.webhook_body(&[emu.page("3333").text_item(ANNA, "not ours")]);
    let out = a.handle_webhook(&emu.signed_request("https://bot.test/webhooks/fb", &body));
    assert_eq!(
        out.rejection().map(|r| r.reason),
        Some(RejectReason::ForeignTenant)
    );
    // Acknowledged (Meta would retry a 4xx for 36 h) and nothing stored.
    assert_eq!(out.response().status, 200);
}

/// Echo reconciliation on a channel of several Pages: the echo of Page B's send proves it, and
/// a send recorded under the unprefixed (default-Page) id is found under its canonical id too.
#[tokio::test]
async fn echoes_reconcile_per_page_whatever_the_id_form() {
    let emu = Emulator::start(EmulatorOptions {
        other_pages: vec![EmulatedPage::new(PAGE_B, "Page B", TOKEN_B)],
        ..EmulatorOptions::default()
    })
    .await
    .unwrap();
    emu.subscribe(&["messages", "message_echoes"]);
    emu.add_user(ANNA);
    emu.page(PAGE_B).add_user(BOB);
    let toml = format!(
        "{}message_echoes = true\necho_wait = '200ms'\n",
        emu.channel_toml()
    );
    let a =
        MessengerAdapter::from_table(ChannelTable::from_toml_str("fb", &toml).unwrap()).unwrap();
    let since = std::time::SystemTime::now();
    let keyed = |key: &str| {
        OutboundMessage::builder()
            .text("once")
            .idempotency_key(key)
            .build()
            .unwrap()
    };
    let (old, b) = (to(ANNA), to(&format!("{PAGE_B}/{BOB}")));
    a.send(&old, &keyed("fb:e1:0")).await.unwrap();
    a.send(&b, &keyed("fb:e2:0")).await.unwrap();
    let items = emu.take_webhooks();
    let body = emu.webhook_body(&items);
    let out = a.handle_webhook(&emu.signed_request("https://bot.test/webhooks/fb", &body));
    let proofs = out.accepted_events().expect("accepted");
    assert_eq!(
        proofs[1].conversation.conversation.as_str(),
        format!("{PAGE_B}/{BOB}"),
        "an echo of Page B is attributed to Page B (its sender)"
    );
    for (conv, key) in [(&old, "fb:e1:0"), (&b, "fb:e2:0")] {
        let pending = PendingSend::new(conv.clone(), keyed(key), since);
        let r = a
            .reconcile(&OutboxKey::new(key).unwrap(), &pending)
            .await
            .unwrap();
        assert!(
            matches!(r, Reconciled::Delivered(ref m) if m.len() == 1),
            "{key}: {r:?}"
        );
    }
}

/// `GET /me/accounts` with a user token (Facebook Login for Business): every Page the person
/// manages with its own token, ready to become a `pages` list; a Page token has no such edge.
#[tokio::test]
async fn a_user_token_lists_the_pages_with_their_tokens() {
    let (emu, a) = two_pages().await;
    let user = switchboard_core::Secret::new(emu.options().user_access_token.clone());
    let pages = switchboard_messenger::managed_pages(a.config(), &user)
        .await
        .unwrap();
    let ids: Vec<&str> = pages.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [emu.options().page_id.as_str(), PAGE_B]);
    assert_eq!(pages[1].access_token.expose(), TOKEN_B);
    assert!(pages.iter().all(|p| p.can_message()));
    assert_eq!(pages[1].to_page_config().id, PAGE_B);
    assert!(!format!("{pages:?}").contains(TOKEN_B));
    let c = &emu.calls()[0];
    assert_eq!((c.path.as_str(), c.status), ("/v25.0/me/accounts", 200));
    assert_eq!(
        c.query["appsecret_proof"],
        signature::appsecret_proof(&emu.options().app_secret, user.expose())
    );
    let page_token = switchboard_core::Secret::new(TOKEN_B);
    let e = switchboard_messenger::managed_pages(a.config(), &page_token)
        .await
        .unwrap_err();
    assert_eq!(e.provider_code(), Some("100"), "{e:?}");
    let bad = switchboard_core::Secret::new("EAAnobody");
    let e = switchboard_messenger::managed_pages(a.config(), &bad)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e:?}");
}
