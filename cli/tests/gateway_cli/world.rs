//! What the crash tests share: `switchboard serve` as a child process on a SQLite file (started,
//! SIGKILLed, started again), its config, and a Twilio emulator as the provider.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard::twilio::emulator::Emulator as Twilio;

/// Every test's forwarding secret.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The REST API's key.
pub const API_KEY: &str = "gw-crash-test-key-0123456789";
/// The public URL Twilio signs webhooks for (nothing calls it).
pub const PUBLIC: &str = "http://switchboard.crash.test";

/// `switchboard serve` on a config file, killed and started again at will.
pub struct Serve {
    pub port: u16,
    config: PathBuf,
    child: Option<Child>,
    pub kills: usize,
}

impl Serve {
    /// A server for `config` (a `[server]`-less document: the listener and the store are added
    /// here) in a fresh directory; not started.
    pub fn new(name: &str, config: &str) -> Serve {
        let dir = std::env::temp_dir().join(format!(
            "sb-gw-{name}-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let db = dir.join("switchboard.db");
        let path = dir.join("switchboard.toml");
        std::fs::write(
            &path,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{PUBLIC}\"\n\
                 shutdown_grace = \"1s\"\n\n[store]\nurl = \"sqlite://{}\"\n\
                 synchronous = \"normal\"\n\n{config}",
                db.display()
            ),
        )
        .unwrap();
        Serve {
            port,
            config: path,
            child: None,
            kills: 0,
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL, then wait for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap(); // SIGKILL on Unix
            c.wait().unwrap();
            self.kills += 1;
        }
    }

    /// Waits until `/readyz` answers 200.
    pub async fn ready(&self, client: &reqwest::Client) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Ok(r) = client.get(format!("{}/readyz", self.base())).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("switchboard serve on {} did not become ready", self.base());
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(dir) = self.config.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `[engine]` tuned for crash tests (short leases and backoffs) and `[channels.sms]` on the
/// Twilio emulator.
pub fn engine_and_sms(twilio: &Twilio) -> String {
    let t = twilio.options();
    format!(
        r#"[engine]
workers = 4
senders = 4
lease = "3s"
poll_interval = "50ms"
backoff_base = "20ms"
backoff_max = "200ms"

[channels.sms]
provider = "twilio"
account_sid = "{sid}"
auth_token = "{token}"
from = "{from}"
api_base_url = "{base}"
"#,
        sid = t.account_sid,
        token = t.auth_token,
        from = t.numbers[0],
        base = twilio.base_url(),
    )
}

/// A client that gives up quickly on a killed server and keeps no connections.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}
