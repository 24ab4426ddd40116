//! `POST sessions`: verified users, anonymous visitors and resumed tokens (PROTOCOL.md,
//! section 4).

use std::time::SystemTime;

use switchboard_core::model::time::to_millis;

use crate::config::WebchatConfig;
use crate::error::{Reason, WebchatError};
use crate::signature::verify_user_hash;
use crate::token::{SessionClaims, TokenKey, expiry, issue_session, random_bytes, verify_session};
use crate::wire::{SessionRequest, SessionResponse};

/// The longest `user_id`, in bytes.
pub const MAX_USER_ID_BYTES: usize = 256;
/// The longest `name`, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The prefix of a verified user's conversation id (`user:{user_id}`).
pub const USER_CONVERSATION_PREFIX: &str = "user:";
/// The prefix of an anonymous conversation id (`anon:` and 32 hex digits).
pub const ANONYMOUS_CONVERSATION_PREFIX: &str = "anon:";

/// What a session needs from its channel.
pub(crate) struct SessionIssuer<'a> {
    pub(crate) channel: &'a str,
    pub(crate) config: &'a WebchatConfig,
    pub(crate) key: &'a TokenKey,
}

impl SessionIssuer<'_> {
    /// Answers `POST sessions` at `now`.
    pub(crate) fn open(
        &self,
        request: &SessionRequest,
        now: SystemTime,
    ) -> Result<SessionResponse, WebchatError> {
        let name = check_name(request.name.as_deref())?;
        if let Some(user_id) = request.user_id.as_deref() {
            return self.verified(user_id, request, name, now);
        }
        if request.user_hash.is_some() {
            return Err(invalid("'user_hash' needs 'user_id'"));
        }
        if let Some(token) = request.token.as_deref() {
            let old = verify_session(self.key, self.channel, token, now)?;
            if old.user_id.is_none() && self.config.require_identity {
                return Err(identity_required());
            }
            let name = name.or(old.name);
            return Ok(self.issue(old.conversation, old.user_id, name, true, now));
        }
        if self.config.require_identity {
            return Err(identity_required());
        }
        let mut id = [0_u8; 16];
        random_bytes(&mut id)
            .map_err(|_| WebchatError::new(Reason::Unavailable, "no randomness"))?;
        let conversation = format!("{ANONYMOUS_CONVERSATION_PREFIX}{}", hex::encode(id));
        Ok(self.issue(conversation, None, name, false, now))
    }

    fn verified(
        &self,
        user_id: &str,
        request: &SessionRequest,
        name: Option<String>,
        now: SystemTime,
    ) -> Result<SessionResponse, WebchatError> {
        if user_id.is_empty()
            || user_id.len() > MAX_USER_ID_BYTES
            || user_id.chars().any(char::is_control)
        {
            return Err(invalid(
                "'user_id' must be 1-256 bytes without control characters",
            ));
        }
        let bad_hash = || WebchatError::new(Reason::BadUserHash, "'user_hash' does not match");
        let Some(secret) = self.config.identity_secret.as_ref() else {
            return Err(WebchatError::new(
                Reason::BadUserHash,
                "this channel verifies no users",
            ));
        };
        let hash = request.user_hash.as_deref().ok_or_else(bad_hash)?;
        if !verify_user_hash(secret.expose(), user_id, hash) {
            return Err(bad_hash());
        }
        let conversation = format!("{USER_CONVERSATION_PREFIX}{user_id}");
        let resumed = request
            .token
            .as_deref()
            .and_then(|t| verify_session(self.key, self.channel, t, now).ok())
            .is_some_and(|old| old.conversation == conversation);
        Ok(self.issue(conversation, Some(user_id.to_owned()), name, resumed, now))
    }

    fn issue(
        &self,
        conversation: String,
        user_id: Option<String>,
        name: Option<String>,
        resumed: bool,
        now: SystemTime,
    ) -> SessionResponse {
        let claims = SessionClaims {
            channel: self.channel.to_owned(),
            conversation,
            user_id,
            name,
            issued_at: to_millis(now),
            expires_at: expiry(now, self.config.session_ttl),
        };
        SessionResponse {
            token: issue_session(self.key, &claims),
            conversation_id: claims.conversation,
            expires_at: claims.expires_at,
            resumed,
        }
    }
}

fn check_name(name: Option<&str>) -> Result<Option<String>, WebchatError> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(invalid(
            "'name' must be at most 100 characters without control characters",
        ));
    }
    Ok(Some(name.to_owned()))
}

fn invalid(message: &str) -> WebchatError {
    WebchatError::new(Reason::InvalidRequest, message)
}

fn identity_required() -> WebchatError {
    WebchatError::new(
        Reason::IdentityRequired,
        "this channel accepts verified users only",
    )
}

#[cfg(test)]
mod tests;
