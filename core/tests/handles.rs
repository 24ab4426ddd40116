//! The application-facing handles, used as an application would: config → registry → channel →
//! conversation → send, edit, react; and a stored `ConversationRef` used to reply later.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use switchboard_core::memory::{MemoryAdapter, RecordedOp};
use switchboard_core::{
    Channel, ChannelTable, ConversationRef, Env, ErrorKind, MessageId, OutboundMessage, Registry,
    ThreadId,
};

const CONFIG: &str = "[channels.team]\nprovider = 'memory'\nsigning_secret = '${S}'\n";

fn memory() -> MemoryAdapter {
    let env = Env::from_pairs([("S", "secret")]);
    let table = ChannelTable::parse_document(CONFIG, &env)
        .unwrap()
        .pop()
        .unwrap();
    MemoryAdapter::from_table(table).unwrap()
}

#[tokio::test]
async fn conversation_handle_sends_edits_and_reacts() {
    let mem = memory();
    let channel = Channel::new(Arc::new(mem.clone()));
    let conv = channel.conversation("C42".parse().unwrap());
    let receipt = conv.say("first").await.unwrap();
    let id = receipt.first_id().unwrap().clone();
    conv.edit(id.clone(), &OutboundMessage::text("first, edited").unwrap())
        .await
        .unwrap();
    conv.react(id.clone(), "eyes", true).await.unwrap();
    conv.thread(ThreadId::new(id.as_str()).unwrap())
        .say("in thread")
        .await
        .unwrap();

    let sent = mem.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[1].to.thread.as_ref().map(ThreadId::as_str),
        Some(id.as_str())
    );
    let ops = mem.ops();
    assert!(matches!(&ops[0], RecordedOp::Edit(r, text) if r.id == id && text == "first, edited"));
    assert!(matches!(&ops[1], RecordedOp::React(r, name, true) if r.id == id && name == "eyes"));
}

#[tokio::test]
async fn a_stored_reference_replies_later() {
    let mem = memory();
    let channel = Channel::new(Arc::new(mem.clone()));
    let stored =
        serde_json::to_string(channel.conversation("C7".parse().unwrap()).reference()).unwrap();
    // ... later, in another process ...
    let reference: ConversationRef = serde_json::from_str(&stored).unwrap();
    channel.at(reference).say("back to you").await.unwrap();
    assert_eq!(mem.sent()[0].to.conversation.as_str(), "C7");
}

#[tokio::test]
async fn registry_builds_and_unsupported_operations_say_so() {
    let env = Env::from_pairs([("S", "secret")]);
    let table = ChannelTable::parse_document(CONFIG, &env)
        .unwrap()
        .pop()
        .unwrap();
    let adapter = Registry::new().build(table).unwrap();
    assert_eq!(adapter.info().provider, "memory");
    let plain = memory().with_capabilities(switchboard_core::Capabilities::default());
    let conv = Channel::new(Arc::new(plain.clone())).conversation("C1".parse().unwrap());
    let err = conv
        .delete(MessageId::new("m1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(
        err.to_string().contains("delete on memory channel 'team'"),
        "{err}"
    );
    assert_eq!(plain.requests(), 0);
}
