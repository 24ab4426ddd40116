//! Several Pages on one emulator: [`EmulatedPage`] (an id, a name, a token) and [`PageView`],
//! the webhook items a user of one Page causes (the [`Emulator`]'s own item methods are those
//! of its first Page).

use std::time::SystemTime;

use serde_json::{Value, json};

use super::deliver::millis;
use super::{Emulator, EmulatorOptions};

/// One more Page the emulated app serves. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct EmulatedPage {
    /// The Page id.
    pub id: String,
    /// The Page's name (the node's `name` field).
    pub name: String,
    /// The Page's access token: a call with it may address only this Page (or `me`).
    pub access_token: String,
}

impl EmulatedPage {
    /// Page `id` named `name` with token `access_token`.
    pub fn new(id: &str, name: &str, access_token: &str) -> Self {
        EmulatedPage {
            id: id.to_owned(),
            name: name.to_owned(),
            access_token: access_token.to_owned(),
        }
    }
}

impl std::fmt::Debug for EmulatedPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatedPage")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl EmulatorOptions {
    /// Every Page, the first (`page_id`) first.
    pub fn pages(&self) -> Vec<EmulatedPage> {
        let first = EmulatedPage::new(&self.page_id, &self.page_name, &self.page_access_token);
        std::iter::once(first)
            .chain(self.other_pages.iter().cloned())
            .collect()
    }

    /// Whether `id` is one of the Pages.
    pub(crate) fn is_page(&self, id: &str) -> bool {
        id == self.page_id || self.other_pages.iter().any(|p| p.id == id)
    }
}

/// The webhook items of one Page's users (see [`Emulator::page`]).
#[derive(Debug, Clone, Copy)]
pub struct PageView<'a> {
    emu: &'a Emulator,
    page: &'a str,
}

impl Emulator {
    /// The items of Page `page_id`'s users (any id: an unknown Page makes items the app
    /// would not get from Meta, for tests of refusals).
    pub fn page<'a>(&'a self, page_id: &'a str) -> PageView<'a> {
        PageView {
            emu: self,
            page: page_id,
        }
    }

    pub(crate) fn main_page(&self) -> PageView<'_> {
        self.page(&self.options().page_id)
    }
}

impl PageView<'_> {
    /// The Page id.
    pub fn id(&self) -> &str {
        self.page
    }

    /// Registers a user (PSID) who messaged this Page now, opening the 24 h window.
    pub fn add_user(&self, psid: &str) {
        let mut st = self.emu.shared.state();
        let now = st.now();
        st.users
            .insert((self.page.to_owned(), psid.to_owned()), now);
    }

    /// Registers a user of this Page whose last message was at `at`.
    pub fn user_messaged_at(&self, psid: &str, at: SystemTime) {
        self.emu
            .shared
            .state()
            .users
            .insert((self.page.to_owned(), psid.to_owned()), at);
    }

    fn item(&self, psid: &str, key: &str, value: Value) -> Value {
        json!({
            "sender": { "id": psid },
            "recipient": { "id": self.page },
            "timestamp": millis(self.emu.now()),
            key: value,
        })
    }

    fn mid(&self) -> String {
        let n = self.emu.shared.state().next();
        format!("m_in{n:08}{}", self.page)
    }

    /// A user's text message; it also opens the user's 24 h window at the emulator clock.
    pub fn text_item(&self, psid: &str, text: &str) -> Value {
        self.add_user(psid);
        let mid = self.mid();
        self.item(psid, "message", json!({ "mid": mid, "text": text }))
    }

    /// A quick reply tap: the title as text and the payload.
    pub fn quick_reply_item(&self, psid: &str, title: &str, payload: &str) -> Value {
        self.add_user(psid);
        let mid = self.mid();
        self.item(
            psid,
            "message",
            json!({ "mid": mid, "text": title, "quick_reply": { "payload": payload } }),
        )
    }

    /// A postback from a button.
    pub fn postback_item(&self, psid: &str, title: &str, payload: &str) -> Value {
        self.add_user(psid);
        let mid = self.mid();
        self.item(
            psid,
            "postback",
            json!({ "mid": mid, "title": title, "payload": payload }),
        )
    }

    /// A delivery receipt for `mids`, with the watermark at the emulator clock.
    pub fn delivery_item(&self, psid: &str, mids: &[&str]) -> Value {
        let mut v = self.item(
            psid,
            "delivery",
            json!({ "mids": mids, "watermark": millis(self.emu.now()) }),
        );
        // Meta's published delivery example has no timestamp.
        if let Some(o) = v.as_object_mut() {
            o.remove("timestamp");
        }
        v
    }

    /// A read receipt up to the emulator clock.
    pub fn read_item(&self, psid: &str) -> Value {
        self.item(psid, "read", json!({ "watermark": millis(self.emu.now()) }))
    }
}
