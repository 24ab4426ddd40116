//! The example receivers in examples/gateway/ against the engine: Python (`receiver.py`,
//! standard library only) and Node (`receiver.mjs`, no framework). Each verifies the signature
//! and its synchronous reply is sent once. Needs `python3` and `node`; a machine without one
//! prints a skip line (CI fails instead).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Served, builder, eventually, inbound, memory};
use switchboard::Env;
use switchboard::gateway::GatewayConfig;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Starts `program example` (which prints "listening on PORT"), forwards one message to it and
/// checks the reply went out once.
async fn receiver_replies_once(program: &str, example: &str) {
    let script = format!("{}/examples/gateway/{example}", env!("CARGO_MANIFEST_DIR"));
    let child = Command::new(program)
        .arg(script)
        .arg("0")
        .env("FORWARD_SECRET", SECRET)
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        assert!(std::env::var("CI").is_err(), "{program} is needed under CI");
        eprintln!("skipped: no {program}");
        return;
    };
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .trim_start_matches("listening on ")
        .parse()
        .unwrap();
    let doc: toml::Table = format!(
        "[gateway]\nallow_private_targets = true\n[[gateway.forward]]\nname = \"app\"\n\
         url = \"http://127.0.0.1:{port}/events\"\nsecrets = [\"{SECRET}\"]\n"
    )
    .parse()
    .unwrap();
    let config = GatewayConfig::from_document(&doc, &Env::from_pairs::<_, &str, &str>([]))
        .unwrap()
        .unwrap();
    let mem = memory("mem");
    let served = Served::start(builder(&mem).gateway(config), "mem").await;
    served.deliver(&mem, &[inbound("e1", "c1", "hello")]).await;
    let replied = eventually(Duration::from_secs(10), || async { !mem.sent().is_empty() }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(replied, "no reply from the {example} receiver");
    let sent = mem.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(format!("{:?}", sent[0]).contains("echo: hello"), "{sent:?}");
    let store = served.sb.store().clone();
    assert!(
        store
            .forward_endpoints()
            .await
            .unwrap()
            .iter()
            .all(|e| e.pending == 0 && e.dead == 0)
    );
    served.shutdown().await;
}

#[tokio::test]
async fn the_python_receiver_verifies_and_replies_once() {
    receiver_replies_once("python3", "receiver.py").await;
}

#[tokio::test]
async fn the_node_receiver_verifies_and_replies_once() {
    receiver_replies_once("node", "receiver.mjs").await;
}
