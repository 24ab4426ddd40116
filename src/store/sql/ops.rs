//! The logic of each write, over a backend's statements ([`Tx`]): dedupe and insert, finishing
//! inbox rows, application sends, outbox updates, receipts, state and renewals. Each takes a
//! merged batch and answers per item; refusals that belong to one item (a lost lease, an
//! outbox key taken) are answers, never errors.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::SystemTime;

use switchboard_core::Result;
use switchboard_core::model::{DeliveryStatus, MessageId, SentMessage};

use super::prepared::{Prepared, PreparedEvent, PreparedFinish, PreparedOutbound};
use super::rows::{self, Param};
use super::{SqlRow, Tx};
use crate::store::contacts::ContactWrites;
use crate::store::{
    Inserted, Lease, OutboxChange, OutboxUpdate, Queue, Receipt, SendProof, from_json, millis,
    outbox_key_taken, proven_ids, to_json,
};

/// Inserts every job's events in one go. Answers per job and event: `New(seq)` for the first
/// occurrence of a (channel, event id) not stored yet, `Duplicate` otherwise (also for a
/// repeat inside the batch: two concurrent deliveries of one webhook).
pub(crate) async fn insert<T: Tx>(
    tx: &mut T,
    jobs: &[&[PreparedEvent]],
) -> Result<Vec<Vec<Inserted>>> {
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let candidates: Vec<&PreparedEvent> = jobs
        .iter()
        .flat_map(|rows| rows.iter())
        .filter(|r| seen.insert((r.channel.as_str(), r.event_id.as_str())))
        .collect();
    let seqs = tx.insert_keys(&candidates).await?;
    let mut new: HashMap<(&str, &str), i64> = HashMap::with_capacity(candidates.len());
    let mut fresh: Vec<(i64, &PreparedEvent)> = Vec::new();
    for (r, seq) in candidates.iter().zip(seqs) {
        if let Some(seq) = seq {
            new.insert((r.channel.as_str(), r.event_id.as_str()), seq);
            fresh.push((seq, r));
        }
    }
    if !fresh.is_empty() {
        fresh.sort_by_key(|(seq, _)| *seq);
        tx.insert_events(&fresh).await?;
        // Each raw payload the new events share, once (see `store::raw`).
        let raws: BTreeMap<&str, &str> = fresh
            .iter()
            .filter_map(|(_, r)| r.raw.as_deref())
            .map(|raw| (raw.digest.as_str(), raw.json.as_str()))
            .collect();
        if !raws.is_empty() {
            let now = fresh.iter().map(|(_, r)| r.received_at).max().unwrap_or(0);
            let raws: Vec<(&str, &str)> = raws.into_iter().collect();
            tx.insert_raw(&raws, now).await?;
        }
        let mut first: BTreeMap<&str, i64> = BTreeMap::new();
        for (seq, r) in &fresh {
            first.entry(r.conversation.as_str()).or_insert(*seq);
        }
        let heads: Vec<(&str, i64)> = first.into_iter().collect();
        tx.insert_heads(Queue::Inbox, &heads).await?;
        // The policy facts, in the same transaction (no commit of their own).
        let contacts = ContactWrites::of(
            fresh
                .iter()
                .filter(|(_, r)| !r.contact.is_empty())
                .map(|(_, r)| (r.conversation.as_str(), &r.contact)),
        );
        if !contacts.is_empty() {
            tx.upsert_contacts(&contacts).await?;
        }
    }
    let mut answered: HashSet<i64> = HashSet::new();
    Ok(jobs
        .iter()
        .map(|rows| {
            rows.iter()
                .map(
                    |r| match new.get(&(r.channel.as_str(), r.event_id.as_str())) {
                        Some(&seq) if answered.insert(seq) => Inserted::New(seq),
                        _ => Inserted::Duplicate,
                    },
                )
                .collect()
        })
        .collect())
}

/// What a batch of finishes writes, planned from the leases that hold and the outbox keys
/// taken.
pub(crate) struct FinishPlan<'a> {
    /// One answer per finish, in order.
    pub(crate) answers: Vec<Result<bool>>,
    /// Handled rows: they leave the inbox (their dedupe keys stay).
    pub(crate) handled: Vec<i64>,
    /// (seq, error, conversation) of rows dead-lettered.
    pub(crate) dead: Vec<(i64, &'a str, &'a str)>,
    /// (conversation, at, error) of heads released to retry.
    pub(crate) retry: Vec<(&'a str, i64, &'a str)>,
    /// Conversations whose head row left the queue.
    pub(crate) freed: Vec<&'a str>,
    /// The completions' outbox rows.
    pub(crate) outbox: Vec<&'a PreparedOutbound>,
    /// The completions' state writes, in order.
    pub(crate) state: Vec<(&'a str, Option<&'a str>)>,
    /// The latest completion time.
    pub(crate) now: i64,
}

impl<'a> FinishPlan<'a> {
    /// Plans `items` given the positions whose lease holds (with the conversation) and the
    /// outbox keys already taken.
    fn new(
        items: &[&'a PreparedFinish],
        held: &'a HashMap<usize, String>,
        mut taken: HashSet<String>,
    ) -> Self {
        let mut plan = FinishPlan {
            answers: Vec::with_capacity(items.len()),
            handled: vec![],
            dead: vec![],
            retry: vec![],
            freed: vec![],
            outbox: vec![],
            state: vec![],
            now: 0,
        };
        let mut seen = HashSet::new();
        for (i, f) in items.iter().copied().enumerate() {
            let Some(conversation) = held.get(&i).filter(|_| seen.insert(f.lease.seq)) else {
                plan.answers.push(Ok(false));
                continue;
            };
            let conversation = conversation.as_str();
            match &f.outcome {
                Prepared::Done { outbox, state, now } => {
                    let mut mine = HashSet::new();
                    if let Some(o) = outbox
                        .iter()
                        .find(|o| taken.contains(&o.key) || !mine.insert(o.key.as_str()))
                    {
                        // Refused: nothing of it is written and the lease is kept.
                        seen.remove(&f.lease.seq);
                        plan.answers.push(Err(outbox_key_taken(&o.key)));
                        continue;
                    }
                    taken.extend(outbox.iter().map(|o| o.key.clone()));
                    plan.outbox.extend(outbox);
                    plan.state
                        .extend(state.iter().map(|(c, v)| (c.as_str(), v.as_deref())));
                    plan.now = plan.now.max(*now);
                    plan.handled.push(f.lease.seq);
                    plan.freed.push(conversation);
                }
                Prepared::Retry { at, error } => plan.retry.push((conversation, *at, error)),
                Prepared::Dead { error } => {
                    plan.dead.push((f.lease.seq, error.as_str(), conversation));
                    plan.freed.push(conversation);
                }
            }
            plan.answers.push(Ok(true));
        }
        plan
    }
}

/// Finishes claimed rows; one answer per item, in order.
pub(crate) async fn finish<T: Tx>(
    tx: &mut T,
    items: &[&PreparedFinish],
) -> Result<Vec<Result<bool>>> {
    let leases: Vec<Lease> = items.iter().map(|f| f.lease).collect();
    let held: HashMap<usize, String> = tx
        .leases(Queue::Inbox, &leases)
        .await?
        .into_iter()
        .map(|(i, (conversation, _))| (i, conversation))
        .collect();
    // Outbox keys of every completion, checked against the outbox at once.
    let keys: Vec<&str> = items
        .iter()
        .filter_map(|f| match &f.outcome {
            Prepared::Done { outbox, .. } => Some(outbox.iter().map(|o| o.key.as_str())),
            _ => None,
        })
        .flatten()
        .collect();
    let taken = if keys.is_empty() {
        HashSet::new()
    } else {
        tx.taken_keys(&keys)
            .await?
            .iter()
            .map(|row| row.text("key"))
            .collect::<Result<_>>()?
    };
    let plan = FinishPlan::new(items, &held, taken);
    tx.finish_rows(&plan).await?;
    if !plan.outbox.is_empty() {
        insert_outbox(tx, &plan.outbox, plan.now).await?;
    }
    write_state(tx, &plan.state, plan.now).await?;
    tx.advance(Queue::Inbox, &plan.freed).await?;
    Ok(plan.answers)
}

/// Inserts outbox rows whose keys are known to be new, at the end of their conversations.
pub(crate) async fn insert_outbox<T: Tx>(
    tx: &mut T,
    rows: &[&PreparedOutbound],
    now: i64,
) -> Result<()> {
    let mut first: BTreeMap<String, i64> = BTreeMap::new();
    let with_media: HashMap<&str, &[(i64, bytes::Bytes)]> = rows
        .iter()
        .filter(|o| !o.media.is_empty())
        .map(|o| (o.key.as_str(), o.media.as_slice()))
        .collect();
    for row in tx.insert_outbox(rows, now).await? {
        let seq = row.int("seq")?;
        let head = first.entry(row.text("conversation")?).or_insert(seq);
        *head = (*head).min(seq);
        // Byte attachments go to their own table (see `store::media`).
        if !with_media.is_empty()
            && let Some(media) = with_media.get(row.text("key")?.as_str())
        {
            tx.insert_media(seq, media).await?;
        }
    }
    let heads: Vec<(&str, i64)> = first.iter().map(|(c, s)| (c.as_str(), *s)).collect();
    tx.insert_heads(Queue::Outbox, &heads).await
}

/// Application sends: all or nothing. `Ok(Err(..))` when a key holds another row (nothing
/// written); per row, whether it was new.
pub(crate) async fn enqueue<T: Tx>(
    tx: &mut T,
    rows: &[PreparedOutbound],
    now: i64,
) -> Result<Result<Vec<bool>>> {
    let keys: Vec<&str> = rows.iter().map(|o| o.key.as_str()).collect();
    let held: HashMap<String, (String, String)> = tx
        .held_keys(&keys)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.text("key")?,
                (row.text("target")?, row.text("message")?),
            ))
        })
        .collect::<Result<_>>()?;
    // Compared as JSON values, not text, so a different key order is still the same row.
    let same = |a: &str, b: &str| {
        serde_json::from_str::<serde_json::Value>(a).ok()
            == serde_json::from_str::<serde_json::Value>(b).ok()
    };
    let mut new = Vec::with_capacity(rows.len());
    let mut fresh: Vec<&PreparedOutbound> = Vec::new();
    for o in rows {
        let earlier = fresh
            .iter()
            .find(|f| f.key == o.key)
            .map(|f| (f.target.as_str(), f.message.as_str()));
        let holder = earlier.or_else(|| held.get(&o.key).map(|(t, m)| (t.as_str(), m.as_str())));
        match holder {
            Some((t, m)) if same(t, &o.target) && same(m, &o.message) => new.push(false),
            Some(_) => return Ok(Err(outbox_key_taken(&o.key))),
            None => {
                fresh.push(o);
                new.push(true);
            }
        }
    }
    if !fresh.is_empty() {
        insert_outbox(tx, &fresh, now).await?;
    }
    Ok(Ok(new))
}

/// A released outbox head.
pub(crate) struct Release<'a> {
    pub(crate) conversation: &'a str,
    pub(crate) why: &'a str,
    pub(crate) at: i64,
    /// The claim does not count as an attempt (deferred, reconciled later).
    pub(crate) uncounted: bool,
    /// Whether a send may have happened.
    pub(crate) uncertain: bool,
}

/// An outbox row leaving the queue, with its head's final claim state.
pub(crate) struct Settled<'a> {
    pub(crate) seq: i64,
    pub(crate) conversation: &'a str,
    /// 1 sent, 2 dead.
    pub(crate) state: i64,
    /// The provider ids (JSON) of a sent row.
    pub(crate) ids: Option<String>,
    pub(crate) error: Option<&'a str>,
}

/// What a batch of outbox updates writes, planned from the leases that hold.
pub(crate) struct UpdatePlan<'a> {
    /// One answer per update, in order.
    pub(crate) answers: Vec<bool>,
    /// (conversation, at): sends begin.
    pub(crate) attempts: Vec<(&'a str, i64)>,
    /// (seq, message ids JSON): parts sent so far.
    pub(crate) ids: Vec<(i64, String)>,
    /// (channel, message id) → seq, so receipts find the row; the last mapping wins.
    pub(crate) mapped: BTreeMap<(&'a str, &'a str), i64>,
    pub(crate) releases: Vec<Release<'a>>,
    pub(crate) settled: Vec<Settled<'a>>,
    /// Conversations whose head row left the queue.
    pub(crate) freed: Vec<&'a str>,
    /// (conversation, options JSON or `None` to clear, expires at).
    pub(crate) options: Vec<(&'a str, Option<String>, i64)>,
}

impl<'a> UpdatePlan<'a> {
    fn new(items: &[&'a OutboxUpdate], held: &'a HashMap<usize, (String, String)>) -> Result<Self> {
        let mut plan = UpdatePlan {
            answers: Vec::with_capacity(items.len()),
            attempts: vec![],
            ids: vec![],
            mapped: BTreeMap::new(),
            releases: vec![],
            settled: vec![],
            freed: vec![],
            options: vec![],
        };
        let mut finished = HashSet::new();
        for (i, u) in items.iter().copied().enumerate() {
            let seq = u.lease.seq;
            let Some((conversation, channel)) = held.get(&i).filter(|_| !finished.contains(&seq))
            else {
                plan.answers.push(false);
                continue;
            };
            let conversation = conversation.as_str();
            let mut map = |messages: &'a [SentMessage]| -> Result<String> {
                let list: Vec<&MessageId> = messages.iter().map(|m| &m.id).collect();
                for id in &list {
                    plan.mapped.insert((channel.as_str(), id.as_str()), seq);
                }
                to_json("message ids", &list)
            };
            let release =
                |why: &'a str, at: SystemTime, uncounted: bool, uncertain: bool| Release {
                    conversation,
                    why,
                    at: millis(at),
                    uncounted,
                    uncertain,
                };
            match &u.change {
                OutboxChange::Attempt { at } => plan.attempts.push((conversation, millis(*at))),
                OutboxChange::Partial { messages } => {
                    let ids = map(messages)?;
                    plan.ids.push((seq, ids));
                }
                OutboxChange::Sent {
                    messages,
                    options,
                    options_expire,
                } => {
                    let ids = map(messages)?;
                    plan.settled.push(Settled {
                        seq,
                        conversation,
                        state: 1,
                        ids: Some(ids),
                        error: None,
                    });
                    let value = (!options.is_empty())
                        .then(|| to_json("options", options))
                        .transpose()?;
                    plan.options
                        .push((conversation, value, millis(*options_expire)));
                }
                OutboxChange::DeadLetter { error } => plan.settled.push(Settled {
                    seq,
                    conversation,
                    state: 2,
                    ids: None,
                    error: Some(error.as_str()),
                }),
                OutboxChange::Retry { at, error } => {
                    plan.releases.push(release(error, *at, false, false))
                }
                OutboxChange::RetryUncertain { at, error } => {
                    plan.releases.push(release(error, *at, false, true))
                }
                OutboxChange::Defer { at, why } => {
                    plan.releases.push(release(why, *at, true, false))
                }
                OutboxChange::ReconcileLater { at, why } => {
                    plan.releases.push(release(why, *at, true, true))
                }
            }
            plan.answers.push(true);
            match u.change {
                OutboxChange::Attempt { .. } | OutboxChange::Partial { .. } => {}
                OutboxChange::Sent { .. } | OutboxChange::DeadLetter { .. } => {
                    finished.insert(seq);
                    plan.freed.push(conversation);
                }
                _ => {
                    finished.insert(seq);
                }
            }
        }
        Ok(plan)
    }
}

/// Applies outbox changes in order; one answer per item.
pub(crate) async fn update<T: Tx>(tx: &mut T, items: &[&OutboxUpdate]) -> Result<Vec<bool>> {
    let now = millis(SystemTime::now());
    let leases: Vec<Lease> = items.iter().map(|u| u.lease).collect();
    let held = tx.leases(Queue::Outbox, &leases).await?;
    let plan = UpdatePlan::new(items, &held)?;
    tx.update_rows(&plan, now).await?;
    // Sent rows' byte attachments are no longer needed (see `store::media`).
    let sent: Vec<i64> = plan
        .settled
        .iter()
        .filter(|s| s.state == 1)
        .map(|s| s.seq)
        .collect();
    if !sent.is_empty() {
        tx.drop_media(&sent).await?;
    }
    if !plan.mapped.is_empty() {
        apply_kept_receipts(tx, &plan.mapped).await?;
    }
    write_options(tx, &plan.options).await?;
    tx.advance(Queue::Outbox, &plan.freed).await?;
    Ok(plan.answers)
}

/// Applies (conversation, value or delete) writes; the last write of a conversation wins.
/// Conversations are written in sorted order, so two transactions writing the same ones lock
/// them in one order.
pub(crate) async fn write_state<T: Tx>(
    tx: &mut T,
    writes: &[(&str, Option<&str>)],
    now: i64,
) -> Result<()> {
    if writes.is_empty() {
        return Ok(());
    }
    let last: BTreeMap<&str, Option<&str>> = writes.iter().copied().collect();
    let upserts: Vec<(&str, &str)> = last
        .iter()
        .filter_map(|(c, v)| v.map(|v| (*c, v)))
        .collect();
    let deletes: Vec<&str> = last
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(c, _)| *c)
        .collect();
    tx.write_state(&upserts, &deletes, now).await
}

/// Replaces conversations' options: (conversation, options JSON or `None` to clear, expires
/// at); the last of a conversation wins.
pub(crate) async fn write_options<T: Tx>(
    tx: &mut T,
    writes: &[(&str, Option<String>, i64)],
) -> Result<()> {
    if writes.is_empty() {
        return Ok(());
    }
    let last: BTreeMap<&str, (Option<&str>, i64)> = writes
        .iter()
        .map(|(c, o, at)| (*c, (o.as_deref(), *at)))
        .collect();
    let set: Vec<(&str, &str, i64)> = last
        .iter()
        .filter_map(|(c, (o, at))| o.map(|o| (*c, o, *at)))
        .collect();
    let clear: Vec<&str> = last
        .iter()
        .filter(|(_, (o, _))| o.is_none())
        .map(|(c, _)| *c)
        .collect();
    tx.write_options(&set, &clear).await
}

/// Extends held leases of `queue` to `until`; one answer per lease.
pub(crate) async fn renew<T: Tx>(
    tx: &mut T,
    queue: Queue,
    leases: &[Lease],
    until: i64,
) -> Result<Vec<bool>> {
    let renewed: HashSet<(i64, i64)> = tx
        .renew(queue, leases, until)
        .await?
        .iter()
        .map(|row| Ok((row.int("seq")?, row.int("token")?)))
        .collect::<Result<_>>()?;
    Ok(leases
        .iter()
        .map(|l| renewed.contains(&(l.seq, l.token)))
        .collect())
}

/// Records the receipts in order at `now`; one count per receipt.
pub(crate) async fn record_receipts<T: Tx>(
    tx: &mut T,
    receipts: &[Receipt],
    now: i64,
) -> Result<Vec<u64>> {
    let mut counts = Vec::with_capacity(receipts.len());
    for r in receipts {
        counts.push(match r {
            Receipt::Proof(proof) => u64::from(record_proof(tx, proof, now).await?),
            Receipt::Delivery {
                channel,
                messages,
                status,
            } => {
                // Locked first: a send recording these ids elsewhere commits before we look,
                // or finds the receipt kept below.
                tx.lock_receipts(channel.as_str(), messages).await?;
                let rows = tx.delivered(channel.as_str(), messages).await?;
                // Ids no send has recorded yet: kept until one does.
                let json = to_json("delivery", status)?;
                tx.keep_receipts(channel.as_str(), messages, &json, now)
                    .await?;
                set_delivery(tx, &rows, *status).await?
            }
            Receipt::Watermark {
                conversation,
                watermark,
                status,
            } => {
                let params = [Param::Text(conversation), Param::Int(millis(*watermark))];
                let rows = tx.fetch(rows::WATERMARK, &params).await?;
                set_delivery(tx, &rows, *status).await?
            }
        });
    }
    Ok(counts)
}

/// Leases up to `claim.limit` ready outbox heads, their byte attachments put back (see
/// `store::media`; no read when no message has one).
pub(crate) async fn claim_outbox<T: Tx>(
    tx: &mut T,
    claim: &crate::store::Claim,
) -> Result<Vec<crate::store::OutboxItem>> {
    let mut items = tx.claim_outbox(claim).await?;
    let seqs: Vec<i64> = items
        .iter()
        .filter(|i| crate::store::media::has_bytes(&i.message))
        .map(|i| i.lease.seq)
        .collect();
    if seqs.is_empty() {
        return Ok(items);
    }
    let mut found: HashMap<i64, Vec<(i64, bytes::Bytes)>> = HashMap::new();
    for (seq, idx, bytes) in tx.media(&seqs).await? {
        found.entry(seq).or_default().push((idx, bytes));
    }
    for item in &mut items {
        if let Some(media) = found.remove(&item.lease.seq) {
            crate::store::media::restore(&mut item.message, media)?;
        }
    }
    Ok(items)
}

/// Applies the delivery receipts kept for message ids just recorded (they came before the
/// send was), the most advanced status per row winning.
async fn apply_kept_receipts<T: Tx>(
    tx: &mut T,
    mapped: &BTreeMap<(&str, &str), i64>,
) -> Result<()> {
    let rows = tx.take_receipts(mapped).await?;
    let mut best: BTreeMap<i64, (Option<DeliveryStatus>, Option<DeliveryStatus>)> = BTreeMap::new();
    for row in &rows {
        let kept: DeliveryStatus = from_json("delivery", &row.text("status")?)?;
        let current = row
            .text_opt("delivery")?
            .map(|c| from_json("delivery", &c))
            .transpose()?;
        let entry = best.entry(row.int("seq")?).or_insert((current, None));
        if entry.1.or(entry.0).is_none_or(|top| kept.advances(top)) {
            entry.1 = Some(kept);
        }
    }
    for (seq, (_, new)) in best {
        if let Some(status) = new {
            tx.set_delivery(&to_json("delivery", &status)?, &[seq])
                .await?;
        }
    }
    Ok(())
}

/// Sets `status` on the rows (`seq`, `delivery`) it advances; how many.
async fn set_delivery<T: Tx>(tx: &mut T, rows: &[T::Row], status: DeliveryStatus) -> Result<u64> {
    let mut changed: Vec<i64> = Vec::new();
    for row in rows {
        let old: Option<DeliveryStatus> = row
            .text_opt("delivery")?
            .map(|s| from_json("delivery", &s))
            .transpose()?;
        if old.is_none_or(|o| status.advances(o)) {
            changed.push(row.int("seq")?);
        }
    }
    if !changed.is_empty() {
        changed.sort_unstable();
        tx.set_delivery(&to_json("delivery", &status)?, &changed)
            .await?;
    }
    Ok(changed.len() as u64)
}

/// Records a keyed proof; whether it completed the proof of a pending row (which becomes
/// ready at once, unless a live lease holds it).
async fn record_proof<T: Tx>(tx: &mut T, proof: &SendProof, now: i64) -> Result<bool> {
    let key = Param::Text(&proof.key);
    tx.execute(
        rows::INSERT_PROOF,
        &[
            key,
            Param::Int(i64::from(proof.part)),
            Param::Int(i64::from(proof.parts)),
            Param::Text(proof.channel.as_str()),
            Param::Text(proof.message_id.as_str()),
            Param::Int(now),
        ],
    )
    .await?;
    let all = tx
        .fetch(rows::PROOFS, &[key])
        .await?
        .iter()
        .map(rows::proof)
        .collect::<Result<Vec<_>>>()?;
    if proven_ids(&all).is_none() {
        return Ok(false);
    }
    let Some(row) = tx.fetch(rows::PENDING, &[key]).await?.into_iter().next() else {
        return Ok(false);
    };
    let conversation = row.text("conversation")?;
    let params = [
        Param::Text(&conversation),
        Param::Int(row.int("seq")?),
        Param::Int(now),
    ];
    tx.execute(rows::READY_NOW, &params).await?;
    Ok(true)
}
