//! `GET Messages.json`: the Messages list as documented: filters `To`, `From`, `DateSent`,
//! `DateSent<` and `DateSent>` (GMT dates `YYYY-MM-DD`: on, on and before, on and after), sorted
//! by `date_sent` with the most recent first, pages of `PageSize` (default 50, at most 1000)
//! linked by `next_page_uri` / `previous_page_uri` whose `PageToken` keeps a page stable while
//! messages are being sent.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use super::state::{ApiFailure, State};
use crate::date::{parse_date, parse_rfc2822};
use crate::wire::MessageResource;

const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

fn day(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) / 86_400
}

fn invalid(message: String) -> ApiFailure {
    ApiFailure::new(400, 20001, message)
}

/// A `DateSent` filter: which GMT days of `date_sent` pass.
enum DateFilter {
    On(u64),
    OnOrBefore(u64),
    OnOrAfter(u64),
}

impl DateFilter {
    fn passes(&self, sent: Option<SystemTime>) -> bool {
        let Some(d) = sent.map(day) else {
            // Not sent yet (scheduled): no `sent_date` to match.
            return false;
        };
        match *self {
            DateFilter::On(x) => d == x,
            DateFilter::OnOrBefore(x) => d <= x,
            DateFilter::OnOrAfter(x) => d >= x,
        }
    }
}

/// The filters of one list request, and the query they came from (repeated in page URIs).
struct Query {
    to: Option<String>,
    from: Option<String>,
    dates: Vec<DateFilter>,
    page_size: usize,
    page: u64,
    token: Option<String>,
    filters: Vec<(String, String)>,
}

fn parse_query(params: &[(String, String)]) -> Result<Query, ApiFailure> {
    let mut q = Query {
        to: None,
        from: None,
        dates: Vec::new(),
        page_size: DEFAULT_PAGE_SIZE,
        page: 0,
        token: None,
        filters: Vec::new(),
    };
    for (name, value) in params {
        let date = || {
            parse_date(value).map(day).ok_or_else(|| {
                invalid(format!(
                    "Invalid {name} {value:?}: the emulator takes the documented GMT date \
                     YYYY-MM-DD"
                ))
            })
        };
        match name.as_str() {
            "To" => q.to = Some(value.clone()),
            "From" => q.from = Some(value.clone()),
            "DateSent" => q.dates.push(DateFilter::On(date()?)),
            "DateSent<" => q.dates.push(DateFilter::OnOrBefore(date()?)),
            "DateSent>" => q.dates.push(DateFilter::OnOrAfter(date()?)),
            "PageSize" => {
                q.page_size = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                    .ok_or_else(|| invalid(format!("Invalid PageSize {value:?}: 1 to 1000")))?;
                continue;
            }
            "Page" => {
                q.page = value
                    .parse()
                    .map_err(|_| invalid(format!("Invalid Page {value:?}")))?;
                continue;
            }
            "PageToken" => {
                q.token = Some(value.clone());
                continue;
            }
            _ => continue,
        }
        q.filters.push((name.clone(), value.clone()));
    }
    Ok(q)
}

fn page_uri(path: &str, q: &Query, page: u64, token: Option<&str>) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &q.filters {
        s.append_pair(k, v);
    }
    s.append_pair("PageSize", &q.page_size.to_string());
    s.append_pair("Page", &page.to_string());
    if let Some(t) = token {
        s.append_pair("PageToken", t);
    }
    format!("{path}?{}", s.finish())
}

/// One page of account `account`'s list for `params`, as the JSON Twilio answers.
pub(crate) fn list_page(
    state: &State,
    account: &str,
    path: &str,
    params: &[(String, String)],
) -> Result<serde_json::Value, ApiFailure> {
    let q = parse_query(params)?;
    let position: BTreeMap<&str, usize> = state
        .order
        .iter()
        .enumerate()
        .map(|(i, sid)| (sid.as_str(), i))
        .collect();
    let mut all: Vec<(&MessageResource, Option<SystemTime>)> = state
        .messages
        .values()
        .map(|m| (m, m.date_sent.as_deref().and_then(parse_rfc2822)))
        .filter(|(m, sent)| {
            m.account_sid == account
                && q.to.as_deref().is_none_or(|t| m.to.as_deref() == Some(t))
                && q.from
                    .as_deref()
                    .is_none_or(|f| m.from.as_deref() == Some(f))
                && q.dates.iter().all(|d| d.passes(*sent))
        })
        .collect();
    // Most recent `date_sent` first (unsent last); equal dates newest created first.
    all.sort_by(|(a, sa), (b, sb)| {
        let pa = position.get(a.sid.as_str());
        let pb = position.get(b.sid.as_str());
        sb.cmp(sa).then(pb.cmp(&pa))
    });
    let index_of = |sid: &str| all.iter().position(|(m, _)| m.sid == sid);
    let bad_token = || invalid("Invalid PageToken".to_owned());
    let (start, end) = match q.token.as_deref() {
        None => (0, q.page_size.min(all.len())),
        Some(t) => {
            if let Some(after) = t.strip_prefix("PA") {
                let i = index_of(after).ok_or_else(bad_token)? + 1;
                (i, (i + q.page_size).min(all.len()))
            } else if let Some(before) = t.strip_prefix("PB") {
                let i = index_of(before).ok_or_else(bad_token)?;
                (i.saturating_sub(q.page_size), i)
            } else {
                return Err(bad_token());
            }
        }
    };
    let messages: Vec<&MessageResource> = all[start..end].iter().map(|(m, _)| *m).collect();
    let next = match messages.last() {
        Some(last) if end < all.len() => Some(page_uri(
            path,
            &q,
            q.page + 1,
            Some(&format!("PA{}", last.sid)),
        )),
        _ => None,
    };
    let previous = match messages.first() {
        Some(first) if start > 0 && q.page > 0 => Some(page_uri(
            path,
            &q,
            q.page - 1,
            Some(&format!("PB{}", first.sid)),
        )),
        _ => None,
    };
    Ok(serde_json::json!({
        "end": (start + messages.len()).saturating_sub(1),
        "first_page_uri": page_uri(path, &q, 0, None),
        "next_page_uri": next,
        "page": q.page,
        "page_size": q.page_size,
        "previous_page_uri": previous,
        "messages": messages,
        "start": start,
        "uri": page_uri(path, &q, q.page, q.token.as_deref()),
    }))
}
