//! `switchboard check`: every problem of a config file, each naming the channel (or section)
//! and the key.

use std::path::Path;
use std::sync::Arc;

use switchboard::bridge::{Bridge, BridgeConfig};
use switchboard::gateway::GatewayConfig;
use switchboard::{Config, Env, ErrorKind, MemoryStore, SwitchboardBuilder};

use crate::outcome::{Failure, read_config};

pub(crate) async fn run(path: &Path, live: bool) -> Result<(), Failure> {
    let text = read_config(path)?;
    let (problems, channels) = problems(&text, &Env::process()).await;
    if problems.is_empty() {
        println!(
            "{}: ok ({} channel(s): {})",
            path.display(),
            channels.len(),
            channels.join(", ")
        );
        return if live {
            live_check(&text, &channels).await
        } else {
            Ok(())
        };
    }
    let mut out = format!("{}: {} problem(s)", path.display(), problems.len());
    for p in &problems {
        out.push_str("\n  - ");
        out.push_str(p);
    }
    Err(Failure::Config(out))
}

/// Calls each channel's cheapest authenticated endpoint (`Adapter::verify_credentials`).
/// Refused credentials are config problems (exit 2); an unreachable provider is a runtime
/// failure (exit 1).
async fn live_check(text: &str, channels: &[String]) -> Result<(), Failure> {
    let (mut doc, _) = switchboard::bridge::split_document(text)?;
    doc.remove("gateway");
    let engine_text = toml::to_string(&doc).map_err(|e| Failure::Config(e.to_string()))?;
    let switchboard = SwitchboardBuilder::from_config_str(&engine_text, &Env::process())?
        .store(Arc::new(MemoryStore::new()))
        .build()
        .await?;
    let mut refused = Vec::new();
    let mut unreachable = Vec::new();
    for name in channels {
        let Some(adapter) = switchboard::ChannelName::new(name)
            .ok()
            .and_then(|c| switchboard.adapter(&c).cloned())
        else {
            continue;
        };
        let provider = adapter.info().provider;
        match adapter.verify_credentials().await {
            Ok(()) => println!("channels.{name} ({provider}): credentials accepted"),
            Err(e) if e.kind() == ErrorKind::Unsupported => {
                println!("channels.{name} ({provider}): no live check for this provider")
            }
            Err(e) if matches!(e.kind(), ErrorKind::Transport | ErrorKind::Timeout) => {
                unreachable.push(format!("channels.{name} ({provider}): {e}"))
            }
            Err(e) => refused.push(format!("channels.{name} ({provider}): {e}")),
        }
    }
    match store_check(switchboard.config()).await {
        Ok(Some(found)) => println!("store: {found}"),
        Ok(None) => {}
        Err(e) if e.kind() == ErrorKind::InvalidConfig => refused.push(format!("store: {e}")),
        Err(e) => unreachable.push(format!("store: {e}")),
    }
    if let Some(shared) = switchboard.rate_limits_shared() {
        let url = switchboard
            .config()
            .rate_limits
            .as_ref()
            .map(|r| r.redacted_url())
            .unwrap_or_default();
        if shared {
            println!("rate_limits: Redis at {url} answered: limits are shared");
        } else {
            unreachable.push(format!(
                "rate_limits: Redis at {url} is unreachable (each instance would send within its local share)"
            ));
        }
    }
    let list = |v: &[String]| v.iter().map(|p| format!("\n  - {p}")).collect::<String>();
    if !refused.is_empty() {
        refused.extend(unreachable);
        return Err(Failure::Config(format!("live check:{}", list(&refused))));
    }
    if !unreachable.is_empty() {
        return Err(Failure::Runtime(format!(
            "live check:{}",
            list(&unreachable)
        )));
    }
    Ok(())
}

/// A PostgreSQL store must answer, take the credentials, and hold a schema this binary
/// understands (nothing is created or migrated); other stores are local and checked at start.
async fn store_check(config: &Config) -> switchboard::Result<Option<String>> {
    let url = config.store.url.as_str();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Ok(None);
    }
    let found = switchboard::store::PgStore::inspect(url, config.store.pg_options()).await?;
    Ok(Some(found.summary()))
}

const SECTIONS: [&str; 5] = ["server", "store", "engine", "rate_limits", "installs"];

/// Every problem of `text`, and the names of the channels that were built.
pub(crate) async fn problems(text: &str, env: &Env) -> (Vec<String>, Vec<String>) {
    let doc: toml::Table = match text.parse() {
        Ok(doc) => doc,
        Err(e) => return (vec![format!("invalid_config: config: {e}")], Vec::new()),
    };
    let mut problems = Vec::new();
    for key in doc.keys() {
        if !SECTIONS.contains(&key.as_str())
            && !["channels", "bridge", "gateway"].contains(&key.as_str())
        {
            problems.push(format!(
                "invalid_config: unknown top-level table '{key}' (known: server, store, engine, rate_limits, installs, channels, bridge, gateway)"
            ));
        }
    }
    // Each section on its own, so that one bad section does not hide another.
    for section in SECTIONS {
        if let Some(v) = doc.get(section) {
            let mut one = toml::Table::new();
            one.insert(section.to_owned(), v.clone());
            if let Err(e) = Config::from_document_with_env(&one, env) {
                problems.push(e.to_string());
            }
        }
    }
    let bridge = match BridgeConfig::from_document(&doc) {
        Ok(b) => b,
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    // Each channel on its own, built with its adapter (no network, no store file).
    let mut built = Vec::new();
    let mut names = Vec::new();
    match doc.get("channels") {
        None => problems.push("invalid_config: no [channels.NAME] table".to_owned()),
        Some(toml::Value::Table(channels)) => {
            for (name, table) in channels {
                names.push(name.clone());
                match build(&one_channel(name, table, doc.get("installs")), env).await {
                    Ok(()) => built.push(name.clone()),
                    Err(e) => {
                        let behind =
                            problems_behind(&e, name, table, doc.get("installs"), env).await;
                        problems.push(e);
                        problems.extend(behind);
                    }
                }
            }
        }
        Some(_) => problems.push("invalid_config: 'channels' must be a table of tables".to_owned()),
    }
    // Every problem of [gateway], not only the first.
    let known: Vec<&str> = names.iter().map(String::as_str).collect();
    problems.extend(
        GatewayConfig::problems(&doc, env, &known)
            .into_iter()
            .map(|e| e.to_string()),
    );
    if let Some(bridge) = bridge {
        problems.extend(
            bridge
                .check_channels(names.iter().map(String::as_str))
                .into_iter()
                .map(|e| e.to_string()),
        );
        // The checks that need the built channels (the agents' channel has threads).
        if problems.is_empty() {
            let mut engine_doc = doc.clone();
            engine_doc.remove("bridge");
            engine_doc.remove("gateway");
            engine_doc.remove("store");
            // Checked above, without connecting (an offline check makes no network calls).
            engine_doc.remove("rate_limits");
            if let Ok(text) = toml::to_string(&engine_doc)
                && let Ok(builder) = SwitchboardBuilder::from_config_str(&text, env)
                && let Err(e) = Bridge::new(bridge)
                    .build(builder.store(Arc::new(MemoryStore::new())))
                    .await
            {
                problems.push(e.to_string());
            }
        }
    }
    (problems, built)
}

/// A document of one channel, with `[installs]` when the config has it (a multi-workspace
/// channel needs it to build).
fn one_channel(name: &str, table: &toml::Value, installs: Option<&toml::Value>) -> toml::Table {
    let mut chans = toml::Table::new();
    chans.insert(name.to_owned(), table.clone());
    let mut one = toml::Table::new();
    one.insert("channels".to_owned(), toml::Value::Table(chans));
    if let Some(i) = installs {
        one.insert("installs".to_owned(), i.clone());
    }
    one
}

/// An adapter stops at its first problem, so a second one (another unset variable, a typo)
/// hides behind it. Puts a placeholder where each named key failed (or leaves the key out when
/// the placeholder is refused too), a few times, and reports each new problem found then. It
/// stops when a key takes neither: what hides behind that is found once it is fixed.
async fn problems_behind(
    first: &str,
    name: &str,
    table: &toml::Value,
    installs: Option<&toml::Value>,
    env: &Env,
) -> Vec<String> {
    let mut table = table.clone();
    let mut error = first.to_owned();
    let mut patched: Vec<String> = Vec::new();
    let mut found = Vec::new();
    for _ in 0..12 {
        let (Some(key), Some(t)) = (failing_key(&error), table.as_table_mut()) else {
            break;
        };
        match patched.iter().filter(|k| **k == key).count() {
            0 => {
                t.insert(key.clone(), toml::Value::String("placeholder".to_owned()));
            }
            1 if !error.contains("missing key") => {
                t.remove(&key);
            }
            _ => break,
        }
        patched.push(key);
        match build(&one_channel(name, &table, installs), env).await {
            Ok(()) => break,
            Err(e) => {
                // An error about a patched key is what the patch caused, not a new problem.
                let induced = failing_key(&e).is_some_and(|k| patched.contains(&k));
                if !induced {
                    found.push(e.clone());
                }
                if e.contains("unknown key") {
                    break;
                }
                error = e;
            }
        }
    }
    found
}

/// The key a channel error names: `missing key 'x'` or `key 'x': …` (not an unknown key).
fn failing_key(error: &str) -> Option<String> {
    if error.contains("unknown key") {
        return None;
    }
    let rest = error.split("key '").nth(1)?;
    rest.split('\'').next().map(str::to_owned)
}

async fn build(doc: &toml::Table, env: &Env) -> Result<(), String> {
    let text = toml::to_string(doc).map_err(|e| e.to_string())?;
    SwitchboardBuilder::from_config_str(&text, env)
        .map_err(|e| e.to_string())?
        .store(Arc::new(MemoryStore::new()))
        .build()
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_problem_is_listed_with_its_channel_and_key() {
        let text = r#"
[server]
listn = "127.0.0.1:8080"

[rate_limits]
url = "localhost:6379"

[channels.sms]
provider = "twilio"
account_sid = "AC00000000000000000000000000000001"
auth_tokn = "x"
from = "+15005550006"

[channels.wa]
provider = "twilio"
account_sid = "AC00000000000000000000000000000001"
auth_token = "${NOT_SET_ANYWHERE_789}"
smart_encoding = "yes"
fromm = "whatsapp:+14155238886"

[channels.team]
provider = "slack"
bot_token = "${NOT_SET_ANYWHERE_123}"
signing_secret = "${NOT_SET_ANYWHERE_456}"
ignore_other_bots = "sometimes"

[bridge]
agents = "team"
agents_conversation = "C0AGENTS"
customers = ["sms", "wa", "fbb"]

[gateway]
api_keys = ["short"]

[[gateway.forward]]
url = "https://10.0.0.8/events"
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
"#;
        let (problems, _) = problems(text, &Env::from_pairs::<_, &str, &str>([])).await;
        let all = problems.join("\n");
        assert!(all.contains("server: unknown field `listn`"), "{all}");
        assert!(
            all.contains("rate_limits.url: \"localhost:6379\" is not a Redis URL"),
            "{all}"
        );
        assert!(
            all.contains("channels.sms: unknown key 'auth_tokn'"),
            "{all}"
        );
        assert!(all.contains("channels.team: key 'bot_token'"), "{all}");
        assert!(all.contains("NOT_SET_ANYWHERE_123"), "{all}");
        // Behind the first problem of a channel: a second unset variable, a bad value, a typo.
        assert!(
            all.contains("channels.team: key 'signing_secret'")
                && all.contains("NOT_SET_ANYWHERE_456"),
            "{all}"
        );
        assert!(
            all.contains("channels.team: key 'ignore_other_bots'"),
            "{all}"
        );
        assert!(all.contains("channels.wa: key 'auth_token'"), "{all}");
        assert!(all.contains("channels.wa: key 'smart_encoding'"), "{all}");
        assert!(all.contains("channels.wa: unknown key 'fromm'"), "{all}");
        assert!(
            all.contains("bridge: key 'customers': no channel 'fbb'"),
            "{all}"
        );
        assert!(
            all.contains("gateway: key 'api_keys[0]': must be at least 16 characters"),
            "{all}"
        );
        assert!(
            all.contains("gateway: key 'forward[0].url': the address is a private address"),
            "{all}"
        );
        assert_eq!(problems.len(), 14, "{all}");
    }

    #[tokio::test]
    async fn every_problem_of_the_gateway_section_is_reported() {
        let text = r#"
[channels.sms]
provider = "twilio"
account_sid = "AC00000000000000000000000000000001"
auth_token = "x"
from = "+15005550006"

[gateway]
api_keys = ["short", "${NOT_SET_GW_KEY}", { key = "k-0123456789abcdef", channels = ["site"] }]
api_on = "admin_listen"
timeout = "2m"
retry_schedule = ["0s", "soon", "5s", "later"]
secret = "typo"

[[gateway.forward]]
name = "a b"
url = "http://app.example/events"
secrets = ["whsec_c2hvcnQ=", "${NOT_SET_GW_SECRET}"]
channels = []

[[gateway.forward]]
url = "https://app.example/events"
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
channels = ["fb"]
"#;
        let (problems, _) = problems(text, &Env::from_pairs::<_, &str, &str>([])).await;
        let all = problems.join("\n");
        for expected in [
            "gateway: unknown field `secret`",
            "gateway: key 'api_keys[0]': must be at least 16 characters",
            "NOT_SET_GW_KEY",
            "gateway: key 'api_on': \"admin_listen\" needs [server] admin_listen",
            "gateway: key 'timeout': must be between",
            "gateway: key 'retry_schedule[1]'",
            "gateway: key 'retry_schedule[3]'",
            "gateway: key 'forward[0].url': plain http is refused",
            "gateway: key 'forward[0].name'",
            "gateway: key 'forward[0].secrets[0]'",
            "NOT_SET_GW_SECRET",
            "gateway: key 'forward[0].channels'",
            "gateway: key 'api_keys[2].channels': no channel 'site'",
            "gateway: key 'forward[1].channels': no channel 'fb'",
        ] {
            assert!(all.contains(expected), "{expected} missing from:\n{all}");
        }
        assert_eq!(problems.len(), 14, "{all}");
    }

    #[tokio::test]
    async fn the_gateway_section_is_checked_against_the_channels() {
        let text = r#"
[channels.sms]
provider = "twilio"
account_sid = "AC00000000000000000000000000000001"
auth_token = "x"
from = "+15005550006"

[gateway]
api_keys = [{ key = "k-0123456789abcdef", channels = ["sms", "site"] }]

[[gateway.forward]]
url = "https://app.example/events"
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
channels = ["sms"]
"#;
        let (problems, channels) = problems(text, &Env::from_pairs::<_, &str, &str>([])).await;
        assert_eq!(channels, vec!["sms".to_owned()]);
        assert_eq!(
            problems,
            vec![
                "invalid_config: gateway: key 'api_keys[0].channels': no channel 'site' (known: sms)"
                    .to_owned()
            ]
        );
        let fixed = text.replace(", \"site\"", "");
        let (problems, _) = problems_of(&fixed).await;
        assert!(problems.is_empty(), "{problems:?}");
    }

    async fn problems_of(text: &str) -> (Vec<String>, Vec<String>) {
        problems(text, &Env::from_pairs::<_, &str, &str>([])).await
    }
}
