//! Synthetic live sessions for the scale benchmarks: many users spread over
//! a few connections, each with its own client address, no target behind.

use gatehouse_domain::{ConnectionId, Protocol, UserId};
use gatehouse_sessions::{ConnectionRef, NewSession};

/// `n` connections named `server-00`, `server-01`, ….
pub(crate) fn connections(n: usize) -> Vec<ConnectionRef> {
    (0..n)
        .map(|i| ConnectionRef {
            id: ConnectionId::new(),
            name: format!("server-{i:02}"),
        })
        .collect()
}

/// Session `i`: user `user{i}` on one of `connections`, unrecorded.
pub(crate) fn session(i: usize, connections: &[ConnectionRef]) -> NewSession {
    NewSession {
        user: format!("user{i}"),
        user_id: UserId::new(),
        connection: connections[i % connections.len()].clone(),
        protocol: Protocol::Ssh,
        client_addr: format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
        target: format!("192.0.2.{}:22", i % 250),
        recording: false,
        record_input: false,
        terminal: Some(gatehouse_sessions::Terminal { cols: 80, rows: 24 }),
        limits: Default::default(),
    }
}
