//! A lightweight SSH target for the 1,000- and 10,000-session rows, where a
//! real `sshd` (a few processes and megabytes per session) would not fit in
//! the machine's memory: a tiny russh server in the bench process that
//! accepts any password, gives a `$ ` prompt and echoes what is typed.
//! It stands in only for the target; the gateway does exactly what it does
//! for a real `sshd` (the same SSH client, key exchange, pty and shell).

use std::sync::Arc;

use russh::server::{self, Auth, Msg, Session};
use russh::{Channel, ChannelId};
use tokio::net::TcpListener;

/// A running light target.
pub struct LightTarget {
    /// Its loopback port.
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl LightTarget {
    /// Listens on a free loopback port with a fresh ed25519 host key.
    pub async fn start(dir: &std::path::Path) -> LightTarget {
        let key_path = dir.join("light_host_key");
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key_path)
            .status()
            .unwrap();
        assert!(status.success());
        let key =
            russh::keys::decode_secret_key(&std::fs::read_to_string(&key_path).unwrap(), None)
                .unwrap();
        let config = Arc::new(server::Config {
            keys: vec![key],
            inactivity_timeout: None,
            auth_rejection_time_initial: Some(std::time::Duration::ZERO),
            nodelay: true,
            ..Default::default()
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let config = config.clone();
                tokio::spawn(async move {
                    if let Ok(running) = server::run_stream(config, tcp, Echo).await {
                        let _ = running.await;
                    }
                });
            }
        });
        LightTarget { port, task }
    }
}

/// The light target in a process of its own (this bench binary, with
/// `BENCH_LIGHT_TARGET` set): its sockets must not count against the bench
/// client's open-file limit.
pub struct LightProcess {
    /// Its loopback port.
    pub port: u16,
    _child: tokio::process::Child,
}

impl LightProcess {
    /// Starts it and reads its port.
    pub async fn start(dir: &std::path::Path) -> LightProcess {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .env(ENV, dir)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines.next_line().await.unwrap().unwrap().parse().unwrap();
        LightProcess {
            port,
            _child: child,
        }
    }
}

/// Set to a directory: this process is the light target (see [`serve_if_asked`]).
const ENV: &str = "BENCH_LIGHT_TARGET";

/// When this process was started as the light target, serves until killed.
pub async fn serve_if_asked() {
    if let Some(dir) = std::env::var_os(ENV) {
        let target = LightTarget::start(std::path::Path::new(&dir)).await;
        println!("{}", target.port);
        std::future::pending::<()>().await;
    }
}

impl Drop for LightTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection: any password logs in; the shell is an echo.
struct Echo;

impl server::Handler for Echo {
    type Error = russh::Error;

    async fn auth_password(&mut self, _: &str, _: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::Accept)
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _cols: u32,
        _rows: u32,
        _pw: u32,
        _ph: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        session.data(channel, &b"$ "[..])?;
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.data(channel, data.to_vec())?;
        Ok(())
    }
}
