//! Where client connections run: one single-threaded runtime per core (a
//! shard), each connection on one shard for its whole life, with its
//! target connection and every task that relays it.
//!
//! Why (measured, issue 8): relaying one session takes several tasks that
//! wake one another for every packet — russh's reader of the target, the
//! channel relay, russh's writer to the client. On the gateway's
//! work-stealing runtime those wake-ups often landed on another worker
//! thread: about one context switch per 64 KiB packet (17,300 per GB of
//! bulk output, through an OpenSSH client on this 2-core machine). On
//! shards they fell to 1,750 per GB, the gateway's CPU per GB from 1.60 s
//! to 1.31 s, and the rate rose 15% (six interleaved 1 GiB runs each).
//! Connections on different shards still use different cores.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

/// A connection handed to a shard: its socket, its peer, and its place in
/// the shard's count.
type Accepted = (std::net::TcpStream, SocketAddr, Live);

/// Runs each connection on the shard with the fewest.
pub(crate) struct Shards {
    shards: Vec<Shard>,
}

struct Shard {
    tx: mpsc::UnboundedSender<Accepted>,
    live: Arc<AtomicUsize>,
}

/// One live connection of a shard, uncounted when it ends (panics too).
struct Live(Arc<AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Shards {
    /// Starts `n` shards, each running `serve` for the connections it is
    /// handed. A shard ends once it is dropped (with the [`Shards`]) and
    /// its connections have ended. `None` if a shard could not start.
    pub(crate) fn start<F, Fut>(n: usize, serve: F) -> Option<Shards>
    where
        F: Fn(tokio::net::TcpStream, SocketAddr) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut shards = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, mut rx) = mpsc::unbounded_channel::<Accepted>();
            let live = Arc::new(AtomicUsize::new(0));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| tracing::warn!(error = %e, "could not build an SSH shard"))
                .ok()?;
            let serve = serve.clone();
            std::thread::Builder::new()
                .name(format!("gatehouse-ssh-{i}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        let tracker = TaskTracker::new();
                        while let Some((socket, peer, live)) = rx.recv().await {
                            let socket = match tokio::net::TcpStream::from_std(socket) {
                                Ok(s) => s,
                                Err(e) => {
                                    tracing::warn!(%peer, error = %e, "SSH connection lost in hand-off");
                                    continue;
                                }
                            };
                            let serve = serve.clone();
                            tracker.spawn(async move {
                                serve(socket, peer).await;
                                drop(live);
                            });
                        }
                        tracker.close();
                        tracker.wait().await;
                    });
                })
                .map_err(|e| tracing::warn!(error = %e, "could not start an SSH shard"))
                .ok()?;
            shards.push(Shard { tx, live });
        }
        Some(Shards { shards })
    }

    /// Hands `socket` to the least busy shard.
    pub(crate) fn run(&self, socket: tokio::net::TcpStream, peer: SocketAddr) {
        let Some(shard) = self
            .shards
            .iter()
            .min_by_key(|s| s.live.load(Ordering::Relaxed))
        else {
            return;
        };
        let socket = match socket.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "SSH connection lost in hand-off");
                return;
            }
        };
        shard.live.fetch_add(1, Ordering::Relaxed);
        // Uncounted by the guard however it ends, a failed send included.
        let _ = shard.tx.send((socket, peer, Live(shard.live.clone())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    #[tokio::test]
    async fn each_connection_runs_on_the_least_busy_shard_until_it_ends() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        // A connection reports the thread it runs on, then lasts until
        // its client hangs up.
        let shards = Shards::start(2, move |mut socket: TcpStream, _peer| {
            let seen_tx = seen_tx.clone();
            async move {
                let thread = std::thread::current().name().map(str::to_owned);
                seen_tx.send(thread).unwrap();
                let _ = socket.read(&mut [0u8; 1]).await;
            }
        })
        .unwrap();
        let mut seen_thread = async || seen.recv().await.unwrap().unwrap();
        let connect = async || {
            let client = TcpStream::connect(addr).await.unwrap();
            let (socket, peer) = listener.accept().await.unwrap();
            shards.run(socket, peer);
            client
        };
        let (mut clients, mut threads) = (Vec::new(), Vec::new());
        for _ in 0..4 {
            clients.push(connect().await);
            threads.push(seen_thread().await);
        }
        assert_eq!(
            threads,
            [
                "gatehouse-ssh-0",
                "gatehouse-ssh-1",
                "gatehouse-ssh-0",
                "gatehouse-ssh-1"
            ],
            "each new connection goes to the shard with the fewest"
        );

        // The second shard's first connection ends: it is now the least busy.
        drop(clients.remove(1));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while shards.shards[1].live.load(Ordering::Relaxed) != 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the ended connection is uncounted"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _client = connect().await;
        assert_eq!(seen_thread().await, "gatehouse-ssh-1");
    }
}
