//! Several Pages on one channel: the `pages = [{ id, access_token }, …]` key, and how a
//! conversation id names its Page.
//!
//! A channel of one Page keeps the native conversation ids (the user's PSID). A channel of
//! several Pages prefixes the Page id and `/`: `{page_id}/{psid}` (PSIDs are Page-scoped, so
//! the same person has another PSID on each Page). An id without a prefix means the default
//! Page, the first configured, so conversations stored before a channel had several Pages keep
//! working.

use serde::Deserialize;
use switchboard_core::{ChannelTable, Error, ErrorKind, Result, Secret};

use super::{MessengerConfig, valid_page_id};
use crate::PROVIDER;

/// One more Facebook Page a channel serves, with its Page access token. `Debug` prints `***`
/// for the token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PageConfig {
    /// The Page id.
    pub id: String,
    /// The Page access token.
    pub access_token: Secret,
}

impl PageConfig {
    /// Page `id` with its token.
    pub fn new(id: impl Into<String>, access_token: Secret) -> Self {
        PageConfig {
            id: id.into(),
            access_token,
        }
    }
}

/// One entry of `pages`, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    access_token: String,
}

/// Reads `pages` (when present): the Pages in order, every token `${ENV}`-substituted and
/// checked under its own key name (`pages[1].access_token`).
pub(super) fn read_pages(t: &mut ChannelTable) -> Result<Option<Vec<PageConfig>>> {
    let Some(entries) = t.optional::<Vec<Entry>>("pages")? else {
        return Ok(None);
    };
    if entries.is_empty() {
        return Err(t.error("key 'pages' must list at least one Page"));
    }
    let mut pages: Vec<PageConfig> = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        if !valid_page_id(&e.id) {
            return Err(t.error(format_args!(
                "key 'pages[{i}].id': {:?} is not a Page id (digits)",
                e.id
            )));
        }
        if pages.iter().any(|p| p.id == e.id) {
            return Err(t.error(format_args!("key 'pages': Page {} is listed twice", e.id)));
        }
        // Read back through the table so `${ENV}` is substituted and an error names the key.
        let key = format!("pages[{i}].access_token");
        t.insert(&key, e.access_token);
        let token = t.secret(&key)?;
        pages.push(PageConfig::new(e.id, token));
    }
    Ok(Some(pages))
}

/// Whether `pages` (default first) holds a Page twice: the id, if so.
pub(super) fn duplicate<'a>(ids: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for id in ids {
        if seen.contains(&id) {
            return Some(id);
        }
        seen.push(id);
    }
    None
}

impl MessengerConfig {
    /// The ids of every Page the channel serves, the default Page first.
    pub fn page_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.page_id.as_str()).chain(self.other_pages.iter().map(|p| p.id.as_str()))
    }

    /// Whether the channel serves several Pages (its conversation ids are then prefixed).
    pub fn is_multi_page(&self) -> bool {
        !self.other_pages.is_empty()
    }

    /// The conversation id of user `psid` of Page `page_id` on this channel: `psid` on a
    /// channel of one Page, `{page_id}/{psid}` on a channel of several.
    pub fn conversation_id(&self, page_id: &str, psid: &str) -> String {
        if self.is_multi_page() {
            format!("{page_id}/{psid}")
        } else {
            psid.to_owned()
        }
    }

    /// The Page a conversation id belongs to (its index, 0 for the default Page) and the
    /// user's id at that Page. An unprefixed id is the default Page's.
    ///
    /// # Errors
    ///
    /// `NotFound` when the id names a Page this channel does not serve.
    pub(crate) fn route<'a>(&self, conversation: &'a str) -> Result<(usize, &'a str)> {
        let Some((page, native)) = conversation.split_once('/') else {
            return Ok((0, conversation));
        };
        // A user_ref may hold a '/', but never starts with a Page-id-like prefix of digits.
        if !page.bytes().all(|b| b.is_ascii_digit()) || page.is_empty() {
            return Ok((0, conversation));
        }
        match self.page_ids().position(|id| id == page) {
            Some(i) => Ok((i, native)),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "conversation {conversation:?} names Page {page}, which channel {} does not serve",
                    self.channel
                ),
            )
            .with_provider(PROVIDER)),
        }
    }

    /// The canonical form of a conversation id (prefixed on a channel of several Pages).
    ///
    /// # Errors
    ///
    /// As [`route`](Self::route).
    pub(crate) fn canonical(&self, conversation: &str) -> Result<String> {
        let (i, native) = self.route(conversation)?;
        let page = self.page_ids().nth(i).unwrap_or(&self.page_id);
        Ok(self.conversation_id(page, native))
    }

    /// One configuration per Page, the default first: the same channel settings with that
    /// Page as `page_id`/`page_access_token` and no other Pages (what the Graph client of a
    /// Page uses).
    pub(crate) fn page_views(&self) -> Vec<MessengerConfig> {
        let single = MessengerConfig {
            other_pages: Vec::new(),
            ..self.clone()
        };
        let mut out = vec![single.clone()];
        for p in &self.other_pages {
            out.push(MessengerConfig {
                page_id: p.id.clone(),
                page_access_token: p.access_token.clone(),
                ..single.clone()
            });
        }
        out
    }
}
