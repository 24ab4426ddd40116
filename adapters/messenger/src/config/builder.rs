//! [`MessengerConfigBuilder`]: a [`MessengerConfig`] built in code, with the same checks as a
//! channel table.

use std::time::Duration;

use switchboard_core::{ChannelName, Error, RenderPolicy, Result, Secret};

use super::{
    DEFAULT_API_BASE_URL, DEFAULT_API_VERSION, DEFAULT_ECHO_WAIT, MessengerConfig, PageConfig,
    pages::duplicate, valid_page_id, valid_version,
};

impl MessengerConfig {
    /// Starts a builder with the required values (`page_id` is the default Page; add others
    /// with [`MessengerConfigBuilder::page`]); the rest take their defaults.
    pub fn builder(
        channel: ChannelName,
        page_id: impl Into<String>,
        page_access_token: Secret,
        app_secret: Secret,
        verify_token: Secret,
    ) -> MessengerConfigBuilder {
        MessengerConfigBuilder {
            config: MessengerConfig {
                channel,
                page_id: page_id.into(),
                page_access_token,
                other_pages: Vec::new(),
                app_secret,
                verify_token,
                app_id: None,
                api_version: DEFAULT_API_VERSION.to_owned(),
                api_base_url: DEFAULT_API_BASE_URL.to_owned(),
                appsecret_proof: true,
                render: RenderPolicy::Fallback,
                message_echoes: false,
                echo_wait: DEFAULT_ECHO_WAIT,
            },
        }
    }
}

/// Builds a [`MessengerConfig`] in code.
#[derive(Debug, Clone)]
pub struct MessengerConfigBuilder {
    config: MessengerConfig,
}

impl MessengerConfigBuilder {
    /// Adds another Page the channel serves, with its own access token.
    pub fn page(mut self, id: impl Into<String>, access_token: Secret) -> Self {
        self.config
            .other_pages
            .push(PageConfig::new(id, access_token));
        self
    }

    /// Sets this app's id (own echoes are dropped).
    pub fn app_id(mut self, app_id: impl Into<String>) -> Self {
        self.config.app_id = Some(app_id.into());
        self
    }

    /// Sets the Graph API version.
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.config.api_version = version.into();
        self
    }

    /// Sets the Graph API base URL (an emulator, a proxy).
    pub fn api_base_url(mut self, url: impl Into<String>) -> Self {
        self.config.api_base_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// Whether to send `appsecret_proof`.
    pub fn appsecret_proof(mut self, on: bool) -> Self {
        self.config.appsecret_proof = on;
        self
    }

    /// Declares that the app's webhook receives the Page's `message_echoes` at this channel
    /// (turns on reconciliation).
    pub fn message_echoes(mut self, on: bool) -> Self {
        self.config.message_echoes = on;
        self
    }

    /// Sets how long `reconcile` waits for echoes.
    pub fn echo_wait(mut self, wait: Duration) -> Self {
        self.config.echo_wait = wait;
        self
    }

    /// Sets the render policy.
    pub fn render(mut self, policy: RenderPolicy) -> Self {
        self.config.render = policy;
        self
    }

    /// Checks the values and returns the configuration.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming the channel and the field: an empty token, App Secret or verify
    /// token, a Page id that is not digits or given twice, an API version not like `v25.0`, or an
    /// `api_base_url` that is not an absolute http(s) URL.
    pub fn build(self) -> Result<MessengerConfig> {
        let c = self.config;
        let channel = c.channel.as_str().to_owned();
        // An empty App Secret or verify token would let anyone sign webhooks or pass the handshake.
        for (key, secret) in [
            ("page_access_token", &c.page_access_token),
            ("app_secret", &c.app_secret),
            ("verify_token", &c.verify_token),
        ] {
            if secret.expose().is_empty() {
                return Err(Error::config(
                    &channel,
                    format_args!("{key} must not be empty"),
                ));
            }
        }
        if !valid_page_id(&c.page_id) {
            return Err(Error::config(
                &channel,
                format_args!("page_id {:?} is not a Page id (digits)", c.page_id),
            ));
        }
        for p in &c.other_pages {
            if !valid_page_id(&p.id) {
                return Err(Error::config(
                    &channel,
                    format_args!("pages: {:?} is not a Page id (digits)", p.id),
                ));
            }
            if p.access_token.expose().is_empty() {
                return Err(Error::config(
                    &channel,
                    format_args!("pages: the access_token of Page {} must not be empty", p.id),
                ));
            }
        }
        if let Some(id) = duplicate(c.page_ids()) {
            return Err(Error::config(
                &channel,
                format_args!("pages: Page {id} is listed twice"),
            ));
        }
        if !valid_version(&c.api_version) {
            return Err(Error::config(
                &channel,
                format_args!("api_version {:?} is not like 'v25.0'", c.api_version),
            ));
        }
        match url::Url::parse(&c.api_base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(c),
            _ => Err(Error::config(
                &channel,
                format_args!(
                    "api_base_url {:?} is not an absolute http(s) URL",
                    c.api_base_url
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::ErrorKind;

    #[test]
    fn builder_checks_values() {
        let ch = ChannelName::new("fb").unwrap();
        let ok = MessengerConfig::builder(
            ch.clone(),
            "42",
            Secret::new("t"),
            Secret::new("s"),
            Secret::new("v"),
        )
        .api_base_url("http://127.0.0.1:1/")
        .build()
        .unwrap();
        assert_eq!(ok.api_base_url, "http://127.0.0.1:1");
        let bad = MessengerConfig::builder(
            ch,
            "42",
            Secret::new("t"),
            Secret::new("s"),
            Secret::new("v"),
        )
        .api_version("latest")
        .build();
        assert_eq!(bad.unwrap_err().kind(), ErrorKind::InvalidConfig);
    }

    #[test]
    fn builder_refuses_empty_secrets() {
        let secrets = |t: &str, s: &str, v: &str| {
            MessengerConfig::builder(
                ChannelName::new("fb").unwrap(),
                "42",
                Secret::new(t),
                Secret::new(s),
                Secret::new(v),
            )
            .build()
        };
        for (built, key) in [
            (secrets("", "s", "v"), "page_access_token"),
            (secrets("t", "", "v"), "app_secret"),
            (secrets("t", "s", ""), "verify_token"),
        ] {
            let err = built.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig);
            assert!(err.to_string().contains(key), "{err}");
        }
    }
}
