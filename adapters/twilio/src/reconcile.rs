//! Reconciliation: the outbox key rides in the `StatusCallback` URL (so a status callback proves
//! a send), and an interrupted send is looked up in the Messages list by recipient, sender, time
//! window and content, since a Message resource does not say which key it was sent with.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchboard_core::model::OutboxKey;
use switchboard_core::reconcile::hold_in_flight;
use switchboard_core::{PendingSend, Reconciled, Result, SentMessage};

use crate::adapter::sent_message;
use crate::api::Api;
use crate::config::TwilioConfig;
use crate::date::{format_date, format_rfc2822, parse_rfc2822};
use crate::render::render_message;
use crate::wire::{CreateMessage, MessageResource};

/// Query parameter of the `StatusCallback` URL that carries the outbox key.
pub const OUTBOX_KEY_QUERY: &str = "switchboard_outbox_key";
/// Query parameter of the `StatusCallback` URL that carries the part's index (from 0).
pub const OUTBOX_PART_QUERY: &str = "switchboard_part";
/// Query parameter of the `StatusCallback` URL that carries how many parts the send has.
pub const OUTBOX_PARTS_QUERY: &str = "switchboard_parts";
/// How long before the first attempt the search starts: room for the difference between our
/// clock and Twilio's, and for Twilio's dates being whole seconds.
pub const RECONCILE_CLOCK_MARGIN: Duration = Duration::from_secs(2);

/// Messages per list page the lookup asks for (Twilio allows 1–1000; 50 by default).
const PAGE_SIZE: u32 = 100;
/// Pages read at most before the answer is `Unknown`.
const MAX_PAGES: usize = 10;

/// `base` with the outbox key, the part index and the part count added to its query (before any
/// `#` fragment, which holds Twilio's connection overrides and is never sent).
pub(crate) fn keyed_callback(base: &str, key: &str, part: usize, parts: usize) -> String {
    let (head, fragment) = match base.split_once('#') {
        Some((h, f)) => (h, Some(f)),
        None => (base, None),
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(OUTBOX_KEY_QUERY, key)
        .append_pair(OUTBOX_PART_QUERY, &part.to_string())
        .append_pair(OUTBOX_PARTS_QUERY, &parts.to_string())
        .finish();
    let sep = match head.split_once('?') {
        None => "?",
        Some((_, q)) if q.is_empty() || q.ends_with('&') => "",
        Some(_) => "&",
    };
    let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
    format!("{head}{sep}{query}{fragment}")
}

/// The start of the search window: `first_attempt` less the margin, down to a whole second.
fn window_start(first_attempt: SystemTime) -> SystemTime {
    let t = first_attempt
        .checked_sub(RECONCILE_CLOCK_MARGIN)
        .unwrap_or(UNIX_EPOCH);
    UNIX_EPOCH + Duration::from_secs(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// Looks `pending` up at Twilio (see the crate docs, "Reconciliation", for how exact it is) in
/// the account of `config`; `to` is the customer's address (the conversation id without an
/// account prefix).
pub(crate) async fn reconcile(
    api: &Api,
    config: &TwilioConfig,
    to: &str,
    key: &OutboxKey,
    pending: &PendingSend,
) -> Result<Reconciled> {
    let rendered = render_message(config, to, &pending.message)?;
    let since = window_start(pending.first_attempt_at);
    let mut filters = vec![("To", to.to_owned())];
    if let Some(from) = config.sender.from() {
        filters.push(("From", from.to_owned()));
    }
    // `DateSent>=YYYY-MM-DD`: the documented filter is by GMT date; the time is checked here.
    filters.push(("DateSent>", format_date(since)));
    filters.push(("PageSize", PAGE_SIZE.to_string()));
    let mut page = api.list_messages(config, &filters).await?;
    let mut candidates: Vec<MessageResource> = Vec::new();
    for read in 1.. {
        // Newest `date_sent` first: once one is older than the window, so is the rest.
        let mut reached_older = false;
        for m in std::mem::take(&mut page.messages) {
            let sent = m.date_sent.as_deref().and_then(parse_rfc2822);
            if sent.is_some_and(|t| t < since) {
                reached_older = true;
                break;
            }
            if is_candidate(config, &m, since) {
                candidates.push(m);
            }
        }
        let next = match page.next_page_uri.take() {
            Some(next) if !reached_older => next,
            _ => break,
        };
        if read >= MAX_PAGES {
            return Ok(Reconciled::Unknown(format!(
                "more than {} messages to {to} since {}: the search stopped",
                MAX_PAGES * PAGE_SIZE as usize,
                format_rfc2822(since)
            )));
        }
        page = api.next_page(config, &next).await?;
    }
    // Oldest first; the list's order among equal dates is kept reversed (newest listed first).
    candidates.reverse();
    candidates.sort_by_key(created);
    let context = Context { key, to, since };
    let found = match_parts(&pending.to, &rendered.requests, candidates, &context)?;
    // A create Twilio is still processing is not listed yet: core's in-flight rule (which the
    // engine applies to every adapter's answer too) keeps what was not found `Unknown` until
    // the request timeout has passed since the last attempt began.
    Ok(hold_in_flight(
        found,
        pending,
        config.timeout,
        SystemTime::now(),
    ))
}

/// When a message was created (or, failing that, sent).
fn created(m: &MessageResource) -> Option<SystemTime> {
    m.date_created
        .as_deref()
        .or(m.date_sent.as_deref())
        .and_then(parse_rfc2822)
}

/// An outbound message of this channel's sender created inside the window.
fn is_candidate(config: &TwilioConfig, m: &MessageResource, since: SystemTime) -> bool {
    let outbound = m
        .direction
        .as_deref()
        .is_some_and(|d| d.starts_with("outbound"));
    let ours = match config.sender.from() {
        Some(from) => m.from.as_deref() == Some(from),
        None => m.messaging_service_sid.as_deref() == config.sender.messaging_service_sid(),
    };
    // A date Twilio did not give (or that does not parse) cannot rule the message out.
    let in_window = created(m).is_none_or(|t| t >= since);
    outbound && ours && in_window
}

/// What a message looks like in the list: its body and how many media it has.
type Shape = (String, u32);

fn shape_of_request(r: &CreateMessage) -> Shape {
    (
        r.body.clone().unwrap_or_default(),
        u32::try_from(r.media_urls.len()).unwrap_or(u32::MAX),
    )
}

fn shape_of_message(m: &MessageResource) -> Shape {
    (
        m.body.clone().unwrap_or_default(),
        m.num_media
            .as_deref()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    )
}

struct Context<'a> {
    key: &'a OutboxKey,
    to: &'a str,
    since: SystemTime,
}

/// Assigns the candidates to the parts they look like, in order, and says what was found.
fn match_parts(
    conversation: &switchboard_core::ConversationRef,
    requests: &[CreateMessage],
    candidates: Vec<MessageResource>,
    cx: &Context<'_>,
) -> Result<Reconciled> {
    let since = format_rfc2822(cx.since);
    if requests.iter().any(|r| r.content_sid.is_some()) {
        // Twilio fills a template's text in; the adapter cannot know it.
        return Ok(if candidates.is_empty() {
            Reconciled::NotDelivered
        } else {
            Reconciled::Unknown(format!(
                "{} message(s) to {} since {since}, and '{}' is a content template whose text \
                 the adapter cannot compare",
                candidates.len(),
                cx.to,
                cx.key
            ))
        });
    }
    let shapes: Vec<Shape> = requests.iter().map(shape_of_request).collect();
    let mut by_shape: BTreeMap<&Shape, Vec<MessageResource>> = BTreeMap::new();
    for m in candidates {
        let shape = shape_of_message(&m);
        if let Some(s) = shapes.iter().find(|s| **s == shape) {
            by_shape.entry(s).or_default().push(m);
        }
    }
    for (shape, found) in &by_shape {
        let needed = shapes.iter().filter(|s| s == shape).count();
        if found.len() > needed {
            let part = shapes.iter().position(|s| s == *shape).unwrap_or(0);
            return Ok(Reconciled::Unknown(format!(
                "{} messages to {} since {since} look like part {part} of '{}': \
                 cannot tell which is ours",
                found.len(),
                cx.to,
                cx.key
            )));
        }
    }
    let mut found: Vec<Option<SentMessage>> = Vec::with_capacity(requests.len());
    for (shape, request) in shapes.iter().zip(requests) {
        let next = by_shape
            .get_mut(shape)
            .filter(|v| !v.is_empty())
            .map(|v| v.remove(0));
        found.push(match next {
            Some(m) => Some(sent_message(conversation, &m, request.segments)?),
            None => None,
        });
    }
    let present = found.iter().take_while(|f| f.is_some()).count();
    if found[present..].iter().any(Option::is_some) {
        let missing: Vec<usize> = (0..found.len()).filter(|i| found[*i].is_none()).collect();
        return Ok(Reconciled::Unknown(format!(
            "parts {missing:?} of '{}' are missing at Twilio but later parts are there",
            cx.key
        )));
    }
    let sent: Vec<SentMessage> = found.into_iter().flatten().collect();
    Ok(if sent.is_empty() {
        Reconciled::NotDelivered
    } else if sent.len() == requests.len() {
        Reconciled::Delivered(sent)
    } else {
        Reconciled::Partial(sent)
    })
}

#[cfg(test)]
mod tests {
    fn unless_in_flight(
        found: Reconciled,
        last_attempt: SystemTime,
        timeout: Duration,
    ) -> Reconciled {
        let to = switchboard_core::ConversationRef::new(
            switchboard_core::ChannelName::new("sms").unwrap(),
            switchboard_core::ConversationId::new("+15551230000").unwrap(),
        );
        let m = switchboard_core::OutboundMessage::text("x").unwrap();
        let pending = PendingSend::new(to, m, last_attempt);
        hold_in_flight(found, &pending, timeout, SystemTime::now())
    }

    use super::*;

    #[test]
    fn the_key_goes_in_the_query_before_any_fragment() {
        let k = "team:Ev123:0";
        assert_eq!(
            keyed_callback("https://bot.test/webhooks/sms", k, 0, 1),
            "https://bot.test/webhooks/sms?switchboard_outbox_key=team%3AEv123%3A0\
             &switchboard_part=0&switchboard_parts=1"
        );
        assert_eq!(
            keyed_callback("https://bot.test/cb?a=1#rc=3", k, 1, 2),
            "https://bot.test/cb?a=1&switchboard_outbox_key=team%3AEv123%3A0\
             &switchboard_part=1&switchboard_parts=2#rc=3"
        );
        assert!(keyed_callback("https://bot.test/cb?", k, 0, 1).contains("cb?switchboard_"));
    }

    #[test]
    fn absence_is_unknown_while_a_create_may_be_in_flight() {
        let timeout = Duration::from_secs(30);
        let now = SystemTime::now();
        let recent = now - Duration::from_secs(5);
        let settled = now - Duration::from_secs(31);
        assert!(matches!(
            unless_in_flight(Reconciled::NotDelivered, recent, timeout),
            Reconciled::Unknown(why) if why.contains("in flight")
        ));
        assert!(matches!(
            unless_in_flight(Reconciled::Partial(Vec::new()), recent, timeout),
            Reconciled::Unknown(_)
        ));
        assert!(matches!(
            unless_in_flight(
                Reconciled::NotDelivered,
                now + Duration::from_secs(5),
                timeout
            ),
            Reconciled::Unknown(_)
        ));
        assert_eq!(
            unless_in_flight(Reconciled::NotDelivered, settled, timeout),
            Reconciled::NotDelivered
        );
        assert_eq!(
            unless_in_flight(Reconciled::Delivered(Vec::new()), recent, timeout),
            Reconciled::Delivered(Vec::new())
        );
    }

    #[test]
    fn the_window_starts_a_margin_before_on_a_whole_second() {
        let t = UNIX_EPOCH + Duration::from_millis(10_500);
        assert_eq!(window_start(t), UNIX_EPOCH + Duration::from_secs(8));
        assert_eq!(window_start(UNIX_EPOCH), UNIX_EPOCH);
    }
}
