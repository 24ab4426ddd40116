//! Per-event decode + verify cost of each landed adapter's `handle_webhook`.
//!
//! `cargo bench -p switchboard --bench decode`
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard::core::memory::MemoryInbound;
use switchboard::{Adapter, ChannelName, MemoryAdapter, Secret};

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

criterion_group!(benches, memory);
criterion_main!(benches);
