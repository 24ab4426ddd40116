//! Validated identifier newtypes. Each holds the provider's native form as a string.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind};

/// Longest identifier accepted, in bytes. Provider ids are far shorter; this bounds storage keys.
pub const MAX_ID_LEN: usize = 512;

fn check_id(what: &str, s: &str) -> Result<(), Error> {
    if s.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidMessage,
            format!("{what}: must not be empty"),
        ));
    }
    if s.len() > MAX_ID_LEN {
        return Err(Error::new(
            ErrorKind::InvalidMessage,
            format!("{what}: longer than {MAX_ID_LEN} bytes"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::new(
            ErrorKind::InvalidMessage,
            format!("{what}: must not contain control characters"),
        ));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Validates and wraps a ", $what, ".")]
            #[doc = ""]
            #[doc = "# Errors"]
            #[doc = ""]
            #[doc = "`InvalidMessage` for an empty value, one over [`MAX_ID_LEN`] bytes or one with"]
            #[doc = "control characters; for a [`ChannelName`], `InvalidConfig` unless it is 1–64"]
            #[doc = "characters of `a-z`, `A-Z`, `0-9`, `-` and `_`."]
            pub fn new(value: impl Into<String>) -> Result<Self, Error> {
                let value = value.into();
                $check($what, &value)?;
                Ok($name(value))
            }

            /// The identifier as the provider writes it.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Unwraps into the inner string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                $name::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                $name::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self, Error> {
                $name::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// A channel name must be usable in a URL path and a config table name.
fn check_channel_name(what: &str, s: &str) -> Result<(), Error> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidConfig,
            format!("{what}: {s:?} must be 1-64 characters of a-z, A-Z, 0-9, '-' or '_'"),
        ))
    }
}

id_type!(
    /// The configured logical name of a channel, e.g. `support-sms` (`[channels.support-sms]`).
    ///
    /// 1–64 ASCII letters, digits, `-` or `_`, so it can appear in the webhook path.
    ChannelName,
    "channel name",
    check_channel_name
);
id_type!(
    /// A conversation in the provider's native form: a Slack channel id (`C…`, or a user id `U…`
    /// for a DM), a Messenger PSID, a phone number or `whatsapp:+…` address.
    ///
    /// **Multi-tenant channels.** A channel that serves several tenants of one provider (Slack
    /// workspaces installed through OAuth, several Messenger Pages, Twilio subaccounts) prefixes
    /// the provider's tenant id and `/` to the native conversation id: `T0123/C0456` is channel
    /// `C0456` of workspace `T0123`. An id without a prefix means the channel's default tenant
    /// (its configured single-tenant credentials). See
    /// [`install::tenant_of`](crate::install::tenant_of).
    ConversationId,
    "conversation id",
    check_id
);
id_type!(
    /// A message id in the provider's native form (Slack `ts`, Messenger `mid`, Twilio `SM…`).
    MessageId,
    "message id",
    check_id
);
id_type!(
    /// A user in the provider's native form (Slack `U…`, a PSID, a phone number).
    UserId,
    "user id",
    check_id
);
id_type!(
    /// A thread in the provider's native form (Slack: the parent message's `ts`).
    ThreadId,
    "thread id",
    check_id
);
id_type!(
    /// The provider's id of an inbound event: the key inbound deduplication uses.
    EventId,
    "event id",
    check_id
);

id_type!(
    /// The engine's key of one outbound send (`{channel}:{event id}:{reply index}` for replies).
    ///
    /// It travels with the message as [`OutboundMessage::idempotency_key`](crate::OutboundMessage)
    /// and adapters that can reconcile carry it to the provider, so an interrupted send can be
    /// looked up there before it is repeated.
    OutboxKey,
    "outbox key",
    check_id
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_empty_and_control_characters() {
        assert!(ConversationId::new("").is_err());
        assert!(MessageId::new("a\nb").is_err());
        assert!(UserId::new("x".repeat(MAX_ID_LEN + 1)).is_err());
        assert_eq!(
            ThreadId::new("1700000000.000100")
                .map(|t| t.to_string())
                .ok()
                .as_deref(),
            Some("1700000000.000100")
        );
    }

    #[test]
    fn channel_names_are_path_safe() {
        assert!(ChannelName::new("support-sms_2").is_ok());
        assert!(ChannelName::new("a/b").is_err());
        assert!(ChannelName::new("").is_err());
        let err = ChannelName::new("a b").map(|_| ()).err().map(|e| e.kind());
        assert_eq!(err, Some(ErrorKind::InvalidConfig));
    }

    #[test]
    fn serde_validates() {
        let ok: Result<ChannelName, _> = serde_json::from_str("\"sms\"");
        assert!(ok.is_ok());
        let bad: Result<ChannelName, _> = serde_json::from_str("\"no way\"");
        assert!(bad.is_err());
        assert_eq!(
            serde_json::to_string(&EventId::new("Ev1").ok())
                .ok()
                .as_deref(),
            Some("\"Ev1\"")
        );
    }
}
