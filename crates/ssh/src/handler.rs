//! Our side of the SSH conversation with a target (`Client`, the russh
//! client handler) and what it passes on to a [`TargetConnection`]: the
//! channels a target opens towards us ([`ForwardedChannel`] for remote
//! forwards, agent channels) and the senders they travel through.
//!
//! [`TargetConnection`]: crate::TargetConnection

use std::sync::{Arc, Mutex};

use russh::Channel;
use russh::client::{self, ChannelOpenHandle, Msg};
use russh::keys::{PublicKey, PublicKeyOrCertificate};
use tokio::sync::mpsc;

/// Our side of the SSH conversation: it has an opinion on host keys, and
/// passes on the channels a target opens towards us (remote forwards) only
/// where the front end asked for them.
pub(crate) struct Client {
    pub(crate) pinned: Option<PublicKey>,
    pub(crate) presented: Arc<Mutex<Option<PublicKey>>>,
    pub(crate) forwarded: ForwardedSender,
    pub(crate) agent: AgentSender,
}

pub(crate) type ForwardedSender = Arc<Mutex<Option<mpsc::Sender<ForwardedChannel>>>>;
pub(crate) type AgentSender = Arc<Mutex<Option<mpsc::Sender<Channel<client::Msg>>>>>;

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            // Host certificates need a CA setting we do not have yet.
            return Ok(false);
        };
        if let Ok(mut seen) = self.presented.lock() {
            *seen = Some(key.clone());
        }
        Ok(match &self.pinned {
            Some(pinned) => pinned.key_data() == key.key_data(),
            None => true,
        })
    }

    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        channel: Channel<client::Msg>,
        connected_address: &str,
        connected_port: u32,
        originator_address: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        let sender = self.forwarded.lock().ok().and_then(|s| s.clone());
        // Nobody asked for remote forwards, or too many wait for the front
        // end: dropping `reply` refuses the channel.
        let Some(slot) = reserve(sender) else {
            return Ok(());
        };
        reply.accept().await;
        slot.send(ForwardedChannel {
            channel,
            connected_address: connected_address.to_owned(),
            connected_port,
            originator_address: originator_address.to_owned(),
            originator_port,
        });
        Ok(())
    }

    async fn server_channel_open_agent_forward(
        &mut self,
        channel: Channel<client::Msg>,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        let sender = self.agent.lock().ok().and_then(|s| s.clone());
        // Nobody forwarded an agent, or too many wait for the front end:
        // dropping `reply` refuses the channel.
        let Some(slot) = reserve(sender) else {
            return Ok(());
        };
        reply.accept().await;
        slot.send(channel);
        Ok(())
    }
}

/// A place in the front end's queue, without waiting for one: this handler
/// runs on the connection's only task, so waiting here would stall every
/// channel of the connection behind one slow consumer.
fn reserve<T>(sender: Option<mpsc::Sender<T>>) -> Option<mpsc::OwnedPermit<T>> {
    match sender?.try_reserve_owned() {
        Ok(slot) => Some(slot),
        Err(e) => {
            if matches!(e, mpsc::error::TrySendError::Full(_)) {
                tracing::warn!("refusing a channel from the target: too many wait to be relayed");
            }
            None
        }
    }
}

/// A channel the target opened towards us for a remote forward (`ssh -R`).
pub struct ForwardedChannel {
    /// The channel from the target.
    pub channel: Channel<Msg>,
    /// The address the target listened on.
    pub connected_address: String,
    /// The port the target listened on.
    pub connected_port: u32,
    /// Who connected to it, as the target saw them.
    pub originator_address: String,
    /// Their port.
    pub originator_port: u32,
}
