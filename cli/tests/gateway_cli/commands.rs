//! `switchboard gateway status|enable|replay` on a SQLite store: what the store holds, an
//! endpoint enabled again, dead letters queued again; unknown names are refused with the known
//! ones listed.

use std::process::Command;
use std::time::{Duration, SystemTime};

use switchboard::store::{Claim, ForwardFinish, ForwardOutcome, NewForward};
use switchboard::{SqliteStore, Store};

fn run(args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn status_enable_and_replay() {
    let dir = std::env::temp_dir().join(format!("sb-gw-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("gw.db");
    let url = format!("sqlite://{}", db.display());
    {
        let store = SqliteStore::connect(&url).await.unwrap();
        let now = SystemTime::now();
        store
            .enqueue_forwards(
                &[
                    NewForward::new("app", "sms:e1", "sms/c1", "{}"),
                    NewForward::new("app", "sms:e2", "sms/c2", "{}"),
                ],
                now,
            )
            .await
            .unwrap();
        let items = store
            .claim_forwards(Claim::new(now, Duration::from_secs(30), 10))
            .await
            .unwrap();
        let e1 = items.iter().find(|i| i.id == "sms:e1").unwrap();
        let e2 = items.iter().find(|i| i.id == "sms:e2").unwrap();
        let finishes = vec![
            ForwardFinish::new(
                e1.lease,
                ForwardOutcome::DeadLetter {
                    error: "gave up".into(),
                },
            ),
            ForwardFinish::new(
                e2.lease,
                ForwardOutcome::Disable {
                    reason: "HTTP 410 Gone".into(),
                },
            ),
        ];
        store.finish_forwards(finishes, now).await.unwrap();
    }
    let config = dir.join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"{url}\"\n\n[gateway]\n[[gateway.forward]]\nname = \"app\"\nurl = \"https://app.example/events\"\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n"
        ),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let (code, out) = run(&["gateway", "status", "--config", c]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("app: disabled (HTTP 410 Gone), 1 pending, 1 dead"),
        "{out}"
    );
    let (code, out) = run(&["gateway", "enable", "--config", c, "nope"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no endpoint 'nope' (known: app)"), "{out}");
    let (code, out) = run(&["gateway", "enable", "--config", c, "app"]);
    assert_eq!((code, out.trim()), (0, "app: enabled"));
    let (code, out) = run(&["gateway", "replay", "--config", c, "app"]);
    assert_eq!(
        (code, out.trim()),
        (0, "app: 1 dead letter(s) queued again")
    );
    let (_, out) = run(&["gateway", "status", "--config", c]);
    assert!(out.contains("app: enabled, 2 pending, 0 dead"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}
