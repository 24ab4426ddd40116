//! Per-event decode + verify cost of each landed adapter's `handle_webhook`.
//!
//! `cargo bench -p switchboard --bench decode`
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use switchboard::core::memory::MemoryInbound;

use switchboard::{Adapter, ChannelName, ChannelTable, MemoryAdapter, Secret, WebhookRequest};

fn memory(c: &mut Criterion) {
    let mem = MemoryAdapter::new(
        ChannelName::new("mem").unwrap(),
        Secret::new("bench-secret"),
    );
    let one = mem.signed_request(
        "http://127.0.0.1/webhooks/mem",
        &[MemoryInbound::message(
            "Ev1",
            "C1",
            "U1",
            "hello there, how are you?",
        )],
    );
    let batch: Vec<MemoryInbound> = (0..10)
        .map(|i| MemoryInbound::message(&format!("Ev{i}"), "C1", "U1", "hello there"))
        .collect();
    let ten = mem.signed_request("http://127.0.0.1/webhooks/mem", &batch);
    let mut g = c.benchmark_group("decode_verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("memory/1 event", |b| {
        b.iter(|| {
            let out = mem.handle_webhook(std::hint::black_box(&one));
            assert_eq!(out.accepted_events().map(<[_]>::len), Some(1));
        })
    });
    g.throughput(Throughput::Elements(10));
    g.bench_function("memory/10 events", |b| {
        b.iter(|| {
            let out = mem.handle_webhook(std::hint::black_box(&ten));
            assert_eq!(out.accepted_events().map(<[_]>::len), Some(10));
        })
    });
    g.finish();
}

fn adapter(channel: &str, toml: &str) -> Arc<dyn Adapter> {
    let table = ChannelTable::from_toml_str(channel, toml).unwrap();
    switchboard::registry().build(table).unwrap()
}

fn now_secs() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

fn bench_one(c: &mut Criterion, name: &str, adapter: &Arc<dyn Adapter>, request: &WebhookRequest) {
    let out = adapter.handle_webhook(request);
    assert_eq!(
        out.accepted_events().map(<[_]>::len),
        Some(1),
        "{name}: {out:?}"
    );
    let mut g = c.benchmark_group("decode_verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("{name}/1 event"), |b| {
        b.iter(|| {
            let out = adapter.handle_webhook(std::hint::black_box(request));
            assert_eq!(out.accepted_events().map(<[_]>::len), Some(1));
        })
    });
    g.finish();
}

/// An Events API `message` in a channel, signed `v0` as Slack signs it.
fn slack(c: &mut Criterion) {
    let a = adapter(
        "team",
        "provider = 'slack'\nbot_token = 'xoxb-bench'\nsigning_secret = 'bench-secret'\nbot_user_id = 'UBOT'\nbot_id = 'BBOT'\napi_base_url = 'http://127.0.0.1:9/api'",
    );
    let body = r#"{"token":"t","team_id":"T1","api_app_id":"A1","event":{"type":"message","channel":"C1","user":"U1","text":"hello there, how are you?","ts":"1700000000.000100","channel_type":"channel","event_ts":"1700000000.000100"},"type":"event_callback","event_id":"Ev1","event_time":1700000000}"#;
    let ts = now_secs();
    let sig = switchboard::slack::signature::sign("bench-secret", &ts, body.as_bytes());
    let request = WebhookRequest::post("http://127.0.0.1/webhooks/team", body)
        .with_header("content-type", "application/json")
        .with_header("x-slack-request-timestamp", &ts)
        .with_header("x-slack-signature", &sig);
    bench_one(c, "slack", &a, &request);
}

/// A Messenger text message in one entry, signed with `X-Hub-Signature-256`.
fn messenger(c: &mut Criterion) {
    let a = adapter(
        "fb",
        "provider = 'messenger'\npage_id = '1895382890692545'\npage_access_token = 'EAAB'\napp_secret = 'bench-secret'\nverify_token = 'vt'\napi_base_url = 'http://127.0.0.1:9'",
    );
    let body = r#"{"object":"page","entry":[{"id":"1895382890692545","time":1700000000000,"messaging":[{"sender":{"id":"6254710388245291"},"recipient":{"id":"1895382890692545"},"timestamp":1700000000000,"message":{"mid":"m_bench1","text":"hello there, how are you?"}}]}]}"#;
    let sig = switchboard::messenger::signature::sign("bench-secret", body.as_bytes());
    let request = WebhookRequest::post("http://127.0.0.1/webhooks/fb", body)
        .with_header("content-type", "application/json")
        .with_header("x-hub-signature-256", &sig);
    bench_one(c, "messenger", &a, &request);
}

/// An inbound SMS, form-encoded and signed with `X-Twilio-Signature` over the public URL.
fn twilio(c: &mut Criterion) {
    let a = adapter(
        "sms",
        "provider = 'twilio'\naccount_sid = 'AC00000000000000000000000000000001'\nauth_token = 'bench-token'\nfrom = '+15550001111'\napi_base_url = 'http://127.0.0.1:9'",
    );
    let params: Vec<(String, String)> = [
        ("MessageSid", "SM00000000000000000000000000000001"),
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("From", "+15558675310"),
        ("To", "+15550001111"),
        ("Body", "hello there, how are you?"),
        ("NumMedia", "0"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let url = "https://bot.example.com/webhooks/sms";
    let body = serde_urlencoded::to_string(&params).unwrap();
    let sig = switchboard::twilio::signature::sign("bench-token", url, &params);
    let request = WebhookRequest::post(url, body)
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_header("x-twilio-signature", &sig);
    bench_one(c, "twilio", &a, &request);
}

criterion_group!(benches, memory, slack, messenger, twilio);
criterion_main!(benches);
