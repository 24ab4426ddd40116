//! What providers report about our sends, in the memory store: keyed proofs, delivery
//! receipts and watermarks.

use std::collections::BTreeSet;

use super::Inner;
use super::outbox::advance;
use crate::store::{Receipt, SendProof, millis, proven_ids};

impl Inner {
    pub(super) fn record_receipt(&mut self, receipt: &Receipt, now: i64) -> u64 {
        match receipt {
            Receipt::Proof(proof) => u64::from(self.record_proof(proof, now)),
            Receipt::Delivery {
                channel,
                messages,
                status,
            } => {
                let mut seqs = BTreeSet::new();
                for m in messages {
                    match self
                        .sent_ids
                        .get(&(channel.as_str().to_owned(), m.as_str().to_owned()))
                    {
                        Some(seq) => {
                            seqs.insert(*seq);
                        }
                        // Before its send is recorded: kept until then (or the retention).
                        None => {
                            self.early_receipts
                                .keep(channel.as_str(), m.as_str(), *status, now)
                        }
                    }
                }
                let mut changed = 0;
                for seq in seqs {
                    if let Some(row) = self.outbox_row_mut(seq)
                        && advance(row, *status)
                    {
                        changed += 1;
                    }
                }
                changed
            }
            Receipt::Watermark {
                conversation,
                watermark,
                status,
            } => {
                let mut changed = 0;
                for seq in self.sent_until(conversation, millis(*watermark)) {
                    if let Some(row) = self.outbox_row_mut(seq)
                        && advance(row, *status)
                    {
                        changed += 1;
                    }
                }
                changed
            }
        }
    }

    fn record_proof(&mut self, proof: &SendProof, now: i64) -> bool {
        let parts = self.proofs.entry(proof.key.clone()).or_default();
        if let std::collections::btree_map::Entry::Vacant(part) = parts.entry(proof.part) {
            part.insert((proof.clone(), now));
            self.proofs_by_age
                .insert((now, proof.key.clone(), proof.part));
        }
        let all: Vec<SendProof> = self
            .proofs
            .get(&proof.key)
            .map(|parts| parts.values().map(|(p, _)| p.clone()).collect())
            .unwrap_or_default();
        if proven_ids(&all).is_none() {
            return false;
        }
        match self.outbox_keys.get(&proof.key).copied() {
            Some(seq) => self.ready_now(seq, now),
            None => false,
        }
    }
}
