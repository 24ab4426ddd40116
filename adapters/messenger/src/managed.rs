//! The Pages a person manages, with their Page access tokens: `GET /{version}/me/accounts` with
//! that person's *user* access token (what Facebook Login for Business gives an app). An
//! application that runs the login flow itself can turn its result into a `pages` list with
//! [`managed_pages`]; the engine has no `/oauth/messenger/…` routes (see the README).

use serde::Deserialize;
use switchboard_core::{Error, ErrorKind, Result, Secret};

use crate::PROVIDER;
use crate::api::{http_client, read, transport};
use crate::config::{MessengerConfig, PageConfig};
use crate::signature::appsecret_proof;

/// Pages read at most (100 per page of the list).
const MAX_PAGES: usize = 10;

/// One Page a person manages. `Debug` prints `***` for the token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ManagedPage {
    /// The Page id.
    pub id: String,
    /// The Page's name.
    pub name: String,
    /// The Page access token.
    pub access_token: Secret,
    /// What the person may do on the Page (`MESSAGING`, `MANAGE`, …).
    pub tasks: Vec<String>,
}

impl ManagedPage {
    /// Whether the person may message as the Page (the `MESSAGING` task; Meta requires it for
    /// the Send API).
    pub fn can_message(&self) -> bool {
        self.tasks.iter().any(|t| t == "MESSAGING")
    }

    /// The Page as an entry of a channel's `pages`.
    pub fn to_page_config(&self) -> PageConfig {
        PageConfig::new(self.id.clone(), self.access_token.clone())
    }
}

#[derive(Deserialize)]
struct AccountsPage {
    #[serde(default)]
    data: Vec<AccountIn>,
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct AccountIn {
    id: String,
    #[serde(default)]
    name: String,
    access_token: Option<String>,
    #[serde(default)]
    tasks: Vec<String>,
}

#[derive(Deserialize)]
struct Paging {
    next: Option<String>,
}

/// The Pages the person whose user access token is `user_token` manages, from
/// `{api_base_url}/{api_version}/me/accounts` of `config` (with `appsecret_proof` of that token
/// when `config` sends proofs). Pages listed without an access token (the person lacks a task
/// that grants one) are left out. Follows `paging.next` on the same host, up to 1,000 Pages.
///
/// # Errors
///
/// The Graph error, mapped as a send's (`Unauthenticated` for a bad user token; a Page token,
/// which has no `accounts` edge, is Graph error 100), `Transport` without a connection,
/// `Provider` for a next page on another host.
pub async fn managed_pages(
    config: &MessengerConfig,
    user_token: &Secret,
) -> Result<Vec<ManagedPage>> {
    let http = http_client()?;
    let token = user_token.expose();
    let mut params = vec![
        ("fields", "id,name,access_token,tasks".to_owned()),
        ("limit", "100".to_owned()),
        ("access_token", token.to_owned()),
    ];
    if config.appsecret_proof {
        params.push((
            "appsecret_proof",
            appsecret_proof(config.app_secret.expose(), token),
        ));
    }
    let first =
        url::Url::parse_with_params(&config.version_url("me/accounts"), &params).map_err(|e| {
            Error::new(ErrorKind::InvalidConfig, format!("bad Graph URL: {e}"))
                .with_provider(PROVIDER)
        })?;
    let mut next = Some(first.to_string());
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let Some(url) = next.take() else { break };
        if !url.starts_with(&config.api_base_url) {
            return Err(Error::new(
                ErrorKind::Provider,
                "me/accounts named a next page on another host",
            )
            .with_provider(PROVIDER));
        }
        let resp = http.get(&url).send().await.map_err(transport)?;
        let page: AccountsPage = read("me/accounts", resp).await?;
        out.extend(page.data.into_iter().filter_map(|a| {
            Some(ManagedPage {
                access_token: Secret::new(a.access_token?),
                id: a.id,
                name: a.name,
                tasks: a.tasks,
            })
        }));
        next = page.paging.and_then(|p| p.next);
    }
    Ok(out)
}
