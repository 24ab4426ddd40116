//! Edits and deletes of sent messages, carried by outbox rows of their own so they are as
//! durable as sends and ordered after them: a row keyed `{channel}/edit/{n}/{key}` replaces
//! the content of the message sent under outbox key `key` with its own message (the `n`th
//! edit), and a row keyed `{channel}/delete/{key}` deletes it (its message is a placeholder,
//! never sent). The rows go to the original's conversation, so the sender reaches them only
//! after the original was sent or given up.
//!
//! Both operations are idempotent at the provider (the same content again; a message already
//! gone), so an interrupted or ambiguous attempt is simply made again: no reconciliation.

use switchboard_core::{Error, ErrorKind, MessageRef, OutboundMessage, Result, Retry, SendReceipt};

use crate::engine::{ChannelEntry, Engine};
use crate::store::{OutboxItem, OutboxState};

/// What an outbox row asks for beyond a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op<'a> {
    /// Replace the content of the message sent under this outbox key.
    Edit(&'a str),
    /// Delete the message sent under this outbox key.
    Delete(&'a str),
}

/// The key of the `n`th edit (from 1) of the message under outbox key `original`.
pub(crate) fn edit_key(channel: &str, n: u32, original: &str) -> String {
    format!("{channel}/edit/{n}/{original}")
}

/// The key of the deletion of the message under outbox key `original`.
pub(crate) fn delete_key(channel: &str, original: &str) -> String {
    format!("{channel}/delete/{original}")
}

/// The message a deletion row carries (stores need one; it is never sent).
pub(crate) fn delete_placeholder() -> Result<OutboundMessage> {
    OutboundMessage::text("(delete)")
}

/// The operation of a row with outbox key `key` on `channel` (`None`: a send).
pub(crate) fn op_of<'a>(channel: &str, key: &'a str) -> Option<Op<'a>> {
    let rest = key.strip_prefix(channel)?.strip_prefix('/')?;
    if let Some(original) = rest.strip_prefix("delete/") {
        return Some(Op::Delete(original));
    }
    let (n, original) = rest.strip_prefix("edit/")?.split_once('/')?;
    n.parse::<u32>().ok()?;
    Some(Op::Edit(original))
}

/// The operation of a claimed row.
pub(crate) fn of(item: &OutboxItem) -> Option<Op<'_>> {
    op_of(item.to.channel.as_str(), &item.key)
}

fn refused(what: String) -> Error {
    Error::new(ErrorKind::InvalidMessage, what).with_retry(Retry::Never)
}

/// Sends the row, or performs its edit or delete.
pub(crate) async fn perform(
    engine: &Engine,
    entry: &ChannelEntry,
    item: &OutboxItem,
) -> Result<SendReceipt> {
    let Some(op) = of(item) else {
        return entry.adapter.send(&item.to, &item.message).await;
    };
    let original = match op {
        Op::Edit(k) | Op::Delete(k) => k,
    };
    let status = engine
        .store
        .outbox_status(original)
        .await?
        .ok_or_else(|| refused(format!("no message under outbox key '{original}'")))?;
    match status.state {
        OutboxState::Sent => {}
        OutboxState::Pending => {
            return Err(
                Error::new(ErrorKind::Transport, "the message is not sent yet")
                    .with_retry(Retry::Safe),
            );
        }
        _ => return Err(refused("the message was never sent".to_owned())),
    }
    let target = |id| MessageRef::new(item.to.clone(), id);
    match op {
        Op::Edit(_) => {
            let first = status
                .message_ids
                .first()
                .cloned()
                .ok_or_else(|| refused("the provider gave the message no id".to_owned()))?;
            entry.adapter.edit(&target(first), &item.message).await?;
        }
        Op::Delete(_) => {
            for id in status.message_ids {
                match entry.adapter.delete(&target(id)).await {
                    // Gone already (an attempt before a crash deleted it).
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    other => other?,
                }
            }
        }
    }
    // No ids: the edited message keeps its own, and receipts stay with the original row.
    Ok(SendReceipt::new(Vec::new(), Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_operation() {
        let edit = edit_key("sms", 2, "sms/app/order-1");
        assert_eq!(edit, "sms/edit/2/sms/app/order-1");
        assert_eq!(op_of("sms", &edit), Some(Op::Edit("sms/app/order-1")));
        let delete = delete_key("sms", "sms:E1:0");
        assert_eq!(op_of("sms", &delete), Some(Op::Delete("sms:E1:0")));
        for send in [
            "sms/app/order-1",
            "sms:E1:0",
            "sms/gw/app/sms:E1/0",
            "sms/edit/x/sms/app/1",
            "smsx/delete/k",
        ] {
            assert_eq!(op_of("sms", send), None, "{send}");
        }
    }
}
