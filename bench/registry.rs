//! Criterion benchmark of the registry alone at 100,000 live sessions:
//! the first page of the Active Sessions list, a search matching one
//! session, a search matching none, a sort by user, and ending one session
//! (end request, the front end's drop, removal from the map and the index).
//!
//! Run: `cargo bench -p gatehouse-sessions --bench registry`.
//! `bench/registry_scale.rs` prints p50/p99 of the same operations.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gatehouse_domain::{ConnectionId, EndReason, Protocol, UserId};
use gatehouse_sessions::{ConnectionRef, EndRequest, ListQuery, NewSession, Registry, Visibility};

const N: usize = 100_000;

fn new_session(i: usize, connection: &ConnectionRef) -> NewSession {
    NewSession {
        user: format!("user{i}"),
        user_id: UserId::new(),
        connection: connection.clone(),
        protocol: Protocol::Ssh,
        client_addr: format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
        target: format!("192.0.2.{}:22", i % 250),
        recording: false,
        record_input: false,
        cols: 80,
        rows: 24,
        limits: Default::default(),
    }
}

fn registry(c: &mut Criterion) {
    let (registry, mut lifecycle) = Registry::new("bench");
    let connections: Vec<_> = (0..50)
        .map(|i| ConnectionRef {
            id: ConnectionId::new(),
            name: format!("server-{i:02}"),
        })
        .collect();
    let _handles: Vec<_> = (0..N)
        .map(|i| registry.open(new_session(i, &connections[i % 50])))
        .collect();
    while lifecycle.try_recv().is_ok() {}

    let mut group = c.benchmark_group("registry_100k");
    let queries = [
        ("list_first_page", ListQuery::default()),
        ("search_one", ListQuery::search("user42424")),
        ("search_none", ListQuery::search("no-such-session")),
        (
            "sort_by_user_page_6",
            ListQuery::parse(None, Some("user"), Some(100), Some(500)).unwrap(),
        ),
    ];
    for (name, q) in &queries {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(registry.list(q, Visibility::All)))
        });
    }
    let mut i = N;
    group.bench_function("end_one", |b| {
        b.iter_batched(
            || {
                while lifecycle.try_recv().is_ok() {}
                i += 1;
                registry.open(new_session(i, &connections[i % 50]))
            },
            |handle| {
                registry.end(handle.id(), EndRequest::because(EndReason::EndedByAdmin));
                handle.finish(EndReason::ClientClosed)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, registry);
criterion_main!(benches);
