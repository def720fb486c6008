//! Can the registry carry a large node? Fills it with `N` live sessions (no
//! sockets: registry cost only) and times what the Active Sessions view
//! does most: the first page, a search that matches one session, a search
//! that matches none, a sort by user, and ending 1,000 sessions at once
//! until their front ends have let go.
//!
//! Run: `cargo bench -p gatehouse-sessions --bench registry_scale`.

#![allow(missing_docs)]

use std::time::{Duration, Instant};

use gatehouse_domain::EndReason;
use gatehouse_sessions::{EndRequest, ListQuery, Registry, SessionHandle, Visibility};

#[path = "synthetic.rs"]
mod synthetic;

const N: usize = 100_000;
const RUNS: usize = 50;

fn stats(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    format!(
        "{} | {} | {}",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(*samples.last().unwrap())
    )
}

fn time(mut f: impl FnMut()) -> String {
    stats(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

#[tokio::main]
async fn main() {
    let (registry, mut lifecycle) = Registry::new("bench");
    tokio::spawn(async move { while lifecycle.recv().await.is_some() {} });
    let connections = synthetic::connections(50);
    let handles: Vec<SessionHandle> = (0..N)
        .map(|i| registry.open(synthetic::session(i, &connections)))
        .collect();

    let first_page = ListQuery::default();
    let exact = ListQuery::search("user42424");
    let none = ListQuery::search("no-such-session");
    let by_user = ListQuery::parse(None, Some("user"), Some(100), Some(500)).unwrap();
    assert_eq!(registry.list(&exact, Visibility::All).total, 1);
    assert_eq!(registry.list(&none, Visibility::All).total, 0);

    println!("Registry with {N} live sessions ({RUNS} runs each)");
    println!("| operation | p50 | p99 | max |");
    println!("|---|---|---|---|");
    let list = |q: &ListQuery| {
        let q = q.clone();
        let r = registry.clone();
        move || {
            std::hint::black_box(r.list(&q, Visibility::All));
        }
    };
    println!(
        "| list, first page of 100 (newest first) | {} |",
        time(list(&first_page))
    );
    println!("| search matching one session | {} |", time(list(&exact)));
    println!("| search matching none | {} |", time(list(&none)));
    println!("| sort by user, page 6 | {} |", time(list(&by_user)));

    // End 1,000 at once; each "front end" lets go when told, as a relay does.
    let mut handles = handles;
    let ending: Vec<_> = handles.drain(..1000).collect();
    let ids: Vec<_> = ending.iter().map(|h| h.id()).collect();
    let relays: Vec<_> = ending
        .into_iter()
        .map(|h| {
            tokio::spawn(async move {
                h.ended().await;
                h.finish(EndReason::ClientClosed);
            })
        })
        .collect();
    let t = Instant::now();
    for id in &ids {
        registry.end(*id, EndRequest::because(EndReason::EndedByAdmin));
    }
    for relay in relays {
        relay.await.unwrap();
    }
    println!(
        "| end 1,000 sessions, until all handles dropped | {:.2} ms | | |",
        t.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(registry.len(), N - 1000);
    drop(handles);
}
