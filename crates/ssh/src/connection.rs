//! A logged-in connection to a target ([`TargetConnection`]) and the
//! channels a front end opens on it.

use russh::client::{self, Msg};
use russh::keys::PublicKey;
use russh::{Channel, Disconnect};
use tokio::sync::mpsc;

use crate::handler::{AgentSender, Client, ForwardedChannel, ForwardedSender};
use crate::{ConnectError, fingerprint, protocol};

/// A logged-in SSH connection to a target, on which a front end opens the
/// channels its client asks for (shells, commands, file transfer, forwards).
pub struct TargetConnection {
    handle: client::Handle<Client>,
    host_key: PublicKey,
    forwarded: ForwardedSender,
    agent: AgentSender,
}

impl TargetConnection {
    pub(crate) fn new(
        handle: client::Handle<Client>,
        host_key: PublicKey,
        forwarded: ForwardedSender,
        agent: AgentSender,
    ) -> Self {
        Self {
            handle,
            host_key,
            forwarded,
            agent,
        }
    }

    /// The host key the target presented, OpenSSH format without comment.
    pub fn host_key(&self) -> String {
        let mut key = self.host_key.clone();
        key.set_comment("");
        key.to_openssh().unwrap_or_default()
    }

    /// The presented host key's SHA-256 fingerprint.
    pub fn host_key_fingerprint(&self) -> String {
        fingerprint(&self.host_key)
    }

    /// Opens a session channel (for a shell, a command or a subsystem).
    pub async fn open_session(&self) -> Result<Channel<Msg>, ConnectError> {
        self.handle.channel_open_session().await.map_err(protocol)
    }

    /// Opens a channel to `host:port` as seen from the target (`ssh -L`).
    pub async fn open_direct_tcpip(
        &self,
        host: &str,
        port: u32,
        originator_address: &str,
        originator_port: u32,
    ) -> Result<Channel<Msg>, ConnectError> {
        self.handle
            .channel_open_direct_tcpip(host, port, originator_address, originator_port)
            .await
            .map_err(protocol)
    }

    /// Asks the target to listen on `address:port` (`ssh -R`) and returns
    /// the port it bound. Connections to it arrive on the receiver from
    /// [`TargetConnection::remote_forwards`].
    pub async fn request_remote_forward(&self, address: &str, port: u32) -> Option<u32> {
        self.handle.tcpip_forward(address, port).await.ok()
    }

    /// Stops a remote forward.
    pub async fn cancel_remote_forward(&self, address: &str, port: u32) -> bool {
        self.handle
            .cancel_tcpip_forward(address, port)
            .await
            .is_ok()
    }

    /// From now on, channels the target opens for remote forwards are
    /// accepted and delivered here; before the first call they are refused.
    /// Only the first call gets the receiver.
    pub fn remote_forwards(&self) -> Option<mpsc::Receiver<ForwardedChannel>> {
        deliver_to(&self.forwarded)
    }

    /// From now on, agent channels the target opens (after a channel asked
    /// for agent forwarding) are accepted and delivered here; before the
    /// first call they are refused. Only the first call gets the receiver.
    pub fn agent_channels(&self) -> Option<mpsc::Receiver<Channel<Msg>>> {
        deliver_to(&self.agent)
    }

    /// Whether the connection to the target is gone.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Closes the connection, telling the target why.
    pub async fn disconnect(&self, why: &str) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, why, "en")
            .await;
    }
}

/// Opens `slot` (the client handler accepts what arrives there) and returns
/// its receiver, the first time only.
fn deliver_to<T>(slot: &std::sync::Mutex<Option<mpsc::Sender<T>>>) -> Option<mpsc::Receiver<T>> {
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    if slot.is_some() {
        return None;
    }
    let (tx, rx) = mpsc::channel(16);
    *slot = Some(tx);
    Some(rx)
}
