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
use gatehouse_domain::EndReason;
use gatehouse_sessions::{EndRequest, ListQuery, Registry, Visibility};

#[path = "synthetic.rs"]
mod synthetic;

const N: usize = 100_000;

fn registry(c: &mut Criterion) {
    let (registry, mut lifecycle) = Registry::new("bench");
    let connections = synthetic::connections(50);
    let _handles: Vec<_> = (0..N)
        .map(|i| registry.open(synthetic::session(i, &connections)))
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
                registry.open(synthetic::session(i, &connections))
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
