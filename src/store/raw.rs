//! A request's raw payload stored once (issue 15, item 6).
//!
//! Every [`InboundEvent`] keeps the provider's raw payload, and one request can carry many
//! events: a signed Slack `block_actions` payload with 300 actions stored 300 full copies of
//! the request. So when events of one [`insert_inbound`](super::Store::insert_inbound) call
//! carry the same raw payload (consecutive events with equal `raw`: the events of one
//! request), the SQL stores write it once to a table of its own (`inbox_raw`, keyed by the
//! SHA-256 of its JSON) and the rows keep the event without it plus that key; a claim (and a
//! dead letter's payload) puts it back, so handlers see every event whole. A raw payload goes
//! with the retention once no pending event or dead letter refers to it. The memory store
//! shares one `Arc` per payload. An event alone in its request keeps its raw inline.

use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};
use switchboard_core::{InboundEvent, Result};

use super::to_json;

/// A raw payload shared by several events of one call: its key and JSON.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SharedRaw {
    /// The SHA-256 of `json`, in hex.
    pub(crate) digest: String,
    /// The raw payload's JSON.
    pub(crate) json: String,
}

/// Per event of one call, the raw payload it shares with a neighbour (`None`: its own, kept
/// inline). Events of one request come together, so equal neighbours are compared; scalars
/// (no payload) are never shared.
pub(crate) fn share(events: &[InboundEvent]) -> Result<Vec<Option<Arc<SharedRaw>>>> {
    let mut out: Vec<Option<Arc<SharedRaw>>> = vec![None; events.len()];
    let mut i = 0;
    while i < events.len() {
        let raw = &events[i].raw;
        let mut end = i + 1;
        while end < events.len() && events[end].raw == *raw {
            end += 1;
        }
        if end - i > 1 && (raw.is_object() || raw.is_array()) {
            let json = to_json("raw payload", raw)?;
            let digest = Sha256::digest(json.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let shared = Arc::new(SharedRaw { digest, json });
            for slot in &mut out[i..end] {
                *slot = Some(shared.clone());
            }
        }
        i = end;
    }
    Ok(out)
}

/// `event` without its raw payload (kept elsewhere), as JSON.
pub(crate) fn event_without_raw(event: &InboundEvent) -> Result<String> {
    let mut stripped = event.clone();
    stripped.raw = Value::Null;
    to_json("event", &stripped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testkit::event;

    #[test]
    fn equal_neighbours_share_scalars_and_loners_do_not() {
        let big = serde_json::json!({"actions": (0..300).collect::<Vec<_>>()});
        let mut evs: Vec<InboundEvent> = (0..4).map(|i| event(&format!("e{i}"), "C")).collect();
        for e in &mut evs[..3] {
            e.raw = big.clone();
        }
        let shared = share(&evs).unwrap();
        let first = shared[0].clone().unwrap();
        assert!(shared[..3].iter().all(|s| s.as_deref() == Some(&*first)));
        assert_eq!(shared[3], None, "alone with its raw");
        assert_eq!(first.json, to_json("raw", &big).unwrap());
        let mut nulls = vec![event("n1", "C"), event("n2", "C")];
        for e in &mut nulls {
            e.raw = Value::Null;
        }
        assert_eq!(share(&nulls).unwrap(), vec![None, None]);
        assert!(!event_without_raw(&evs[0]).unwrap().contains("actions"));
    }
}
