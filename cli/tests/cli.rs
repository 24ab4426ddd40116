//! The `switchboard` binary, run as a process: exit codes, `check`, `send`, `sandbox` and
//! `installs`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn switchboard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write_config(name: &str, body: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "switchboard-cli-{}-{name}.toml",
        std::process::id()
    ));
    std::fs::write(&path, body).unwrap();
    path
}

const VALID: &str = r#"
[server]
listen = "127.0.0.1:8080"

[channels.sms]
provider = "twilio"
account_sid = "AC00000000000000000000000000000001"
auth_token = "not-a-real-token"
from = "+15005550006"

[channels.team]
provider = "slack"
bot_token = "xoxb-1"
signing_secret = "s"

[bridge]
agents = "team"
agents_conversation = "C0AGENTS"
customers = ["sms"]
"#;

#[test]
fn check_accepts_a_valid_config() {
    let path = write_config("valid", VALID);
    let out = switchboard(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("ok (2 channel(s)"), "{}", text(&out));
}

#[test]
fn check_names_the_channel_and_key_of_every_typo() {
    let config = VALID
        .replace("auth_token =", "auth_tokn =")
        .replace("signing_secret", "signing_secrt");
    let path = write_config("typo", &config);
    let out = switchboard(&["check", "--config", path.to_str().unwrap()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("4 problem(s)"), "{t}");
    assert!(t.contains("channels.sms: missing key 'auth_token'"), "{t}");
    assert!(t.contains("channels.sms: unknown key 'auth_tokn'"), "{t}");
    assert!(
        t.contains("channels.team: unknown key 'signing_secrt'"),
        "{t}"
    );
    assert!(!t.contains("not-a-real-token"), "a secret was printed: {t}");
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    let out = switchboard(&["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = switchboard(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = switchboard(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).contains("Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config"));
    for cmd in ["serve", "check", "send", "sandbox"] {
        let out = switchboard(&[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{cmd}");
        assert!(text(&out).contains("Examples:"), "{cmd}: {}", text(&out));
    }
    let missing = switchboard(&["check", "--config", "/nonexistent/switchboard.toml"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_renders_for_the_channel_and_reaches_the_provider() {
    use switchboard::twilio::emulator::{Emulator, EmulatorOptions};
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let c = emulator.options();
    let config = format!(
        "[channels.sms]\nprovider = 'twilio'\naccount_sid = '{}'\nauth_token = '{}'\nfrom = '{}'\napi_base_url = '{}'\n",
        c.account_sid,
        c.auth_token,
        c.numbers[0],
        emulator.base_url()
    );
    let path = write_config("send", &config);
    let p = path.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        switchboard(&[
            "send",
            "--config",
            &p,
            "--channel",
            "sms",
            "--to",
            "+15558675310",
            "Your order **shipped**",
        ])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("sent SM"), "{}", text(&out));
    let calls = emulator.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].param("Body"), Some("Your order shipped"));
    // An unknown channel is a usage error; a refused send is a runtime failure.
    let p = path.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        switchboard(&[
            "send",
            "--config",
            &p,
            "--channel",
            "nope",
            "--to",
            "+1",
            "x",
        ])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    emulator.stage(switchboard::twilio::emulator::Fault::UnknownRecipient);
    let p = path.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        switchboard(&[
            "send",
            "--config",
            &p,
            "--channel",
            "sms",
            "--to",
            "+15558675310",
            "x",
        ])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn sandbox_plays_the_script_and_exits_0() {
    let out = switchboard(&["sandbox"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    for expected in [
        "new thread",
        "1. Standard, 5 days  2. Express, 2 days",
        "SHIP_EXPRESS",
        "(the same one)",
        "Not delivered",
        "on _web_",
        "Web → visitor (event 2, agent): Yes, 10:00 to 18:00. [button Directions]",
        "chose *Directions* (DIRECTIONS)",
        // Issue 16: the second Page's customer is answered with that Page's own token.
        "Messenger Page 2041337099990002 → 7254710388245299 (token EAAsecondP…)",
        "POST /v25.0/2041337099990002/messages token=EAAsecondP…",
        "/webchat/web/demo",
        "POST /api/chat.postMessage",
        "Messages.json",
        "0 dead letters",
        "Sandbox OK",
    ] {
        assert!(t.contains(expected), "missing {expected:?} in:\n{t}");
    }
}

#[test]
fn check_live_proves_credentials_where_the_adapter_can() {
    let path = write_config(
        "live",
        "[channels.mem]\nprovider = 'memory'\nsigning_secret = 'x'\n",
    );
    let out = switchboard(&["check", "--live", "--config", path.to_str().unwrap()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("channels.mem (memory): credentials accepted"),
        "{t}"
    );
}

#[test]
fn check_live_reports_an_unreachable_redis_as_a_runtime_failure() {
    // Nothing listens on port 1: the engine starts on the local share, and the live check says so.
    let path = write_config(
        "live-redis",
        "[rate_limits]\nurl = 'redis://:pw@127.0.0.1:1'\n\n[channels.mem]\nprovider = 'memory'\nsigning_secret = 'x'\n",
    );
    let offline = switchboard(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(offline.status.code(), Some(0), "{}", text(&offline));
    let out = switchboard(&["check", "--live", "--config", path.to_str().unwrap()]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("rate_limits: Redis at redis://:***@127.0.0.1:1 is unreachable"),
        "{t}"
    );
    assert!(!t.contains(":pw@"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_list_without_tokens_and_revoke() {
    use switchboard::core::install::{Installation, Installations, SecretString};
    use switchboard::install::{KeyRing, StoreInstallations};

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let db = std::env::temp_dir().join(format!(
        "switchboard-cli-{}-installs.db",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&db);
    let url = format!("sqlite://{}", db.display());
    {
        let store = std::sync::Arc::new(switchboard::SqliteStore::connect(&url).await.unwrap());
        let installs =
            StoreInstallations::new(store, std::sync::Arc::new(KeyRing::new(&[KEY]).unwrap()));
        let team = switchboard::ChannelName::new("team").unwrap();
        for tenant in ["T0A", "T0B"] {
            let i = Installation::new(
                team.clone(),
                tenant,
                SecretString::from("xoxb-do-not-print"),
            )
            .with_scopes(vec!["chat:write".into()]);
            installs.put(&i).await.unwrap();
        }
    }
    let config = write_config(
        "installs",
        &format!("[store]\nurl = \"{url}\"\n\n[installs]\nkeys = [\"{KEY}\"]\n"),
    );
    let c = config.to_str().unwrap();
    let out = switchboard(&["installs", "list", "--config", c]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("team T0A scopes=chat:write expires=never"),
        "{shown}"
    );
    assert!(shown.contains("team T0B"), "{shown}");
    assert!(!shown.contains("xoxb"), "never a token: {shown}");
    let out = switchboard(&["installs", "revoke", "--config", c, "team", "T0A"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = switchboard(&["installs", "revoke", "--config", c, "team", "T0A"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown installation: {}",
        text(&out)
    );
    let shown = text(&switchboard(&["installs", "list", "--config", c]));
    assert!(!shown.contains("T0A") && shown.contains("T0B"), "{shown}");
    // The wrong key: a config error naming the key id it needs.
    let wrong = write_config(
        "installs-wrong",
        &format!(
            "[store]\nurl = \"{url}\"\n\n[installs]\nkeys = [\"{}\"]\n",
            "11".repeat(32)
        ),
    );
    let out = switchboard(&["installs", "list", "--config", wrong.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("installs.keys lacks"), "{}", text(&out));
    let _ = std::fs::remove_file(&db);
}

#[test]
fn check_wants_installs_keys_for_a_multi_workspace_channel() {
    let channel = "[channels.team]\nprovider = \"slack\"\nsigning_secret = \"s\"\nclient_id = \"1.2\"\n\
                   client_secret = \"c\"\nscopes = [\"chat:write\"]\n\
                   redirect_url = \"https://bot.example/oauth/slack/team/callback\"\n";
    let with = write_config(
        "multi-ok",
        &format!("[installs]\nkeys = [\"{}\"]\n\n{channel}", "ab".repeat(32)),
    );
    let out = switchboard(&["check", "--config", with.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let without = write_config("multi-no-keys", channel);
    let out = switchboard(&["check", "--config", without.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("[installs] keys"), "{}", text(&out));
}
