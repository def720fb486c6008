//! tokio's mpsc channels with every value boxed. (A Gatehouse patch: see
//! vendor/README.md.)
//!
//! A tokio mpsc channel allocates its first block of 32 slots when it is
//! created, and keeps it for as long as the channel lives. A session's
//! messages are up to 136 bytes, so each of the six message channels an idle
//! connection pair holds would keep 4.3 KiB of slots that are never used.
//! Boxed, a slot is one pointer: the block is 288 bytes, and a message costs
//! one small allocation when it is sent.
//!
//! The types mirror the part of tokio's API that russh uses, taking and
//! giving back the values themselves.

use std::fmt;
use std::task::{Context, Poll};

use tokio::sync::mpsc;
pub use tokio::sync::mpsc::error;
use tokio::sync::mpsc::error::{SendError, TryRecvError, TrySendError};

/// A bounded channel of boxed values.
pub fn channel<T>(buffer: usize) -> (Sender<T>, Receiver<T>) {
    let (sender, receiver) = mpsc::channel(buffer);
    (Sender(sender), Receiver(receiver))
}

/// An unbounded channel of boxed values.
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    (UnboundedSender(sender), UnboundedReceiver(receiver))
}

fn unbox_send_error<T>(SendError(value): SendError<Box<T>>) -> SendError<T> {
    SendError(*value)
}

pub struct Sender<T>(mpsc::Sender<Box<T>>);

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T> Sender<T> {
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.0.send(Box::new(value)).await.map_err(unbox_send_error)
    }

    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.0.try_send(Box::new(value)).map_err(|e| match e {
            TrySendError::Full(value) => TrySendError::Full(*value),
            TrySendError::Closed(value) => TrySendError::Closed(*value),
        })
    }

    pub async fn reserve_owned(self) -> Result<OwnedPermit<T>, SendError<()>> {
        self.0.reserve_owned().await.map(OwnedPermit)
    }

    pub async fn closed(&self) {
        self.0.closed().await
    }

    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

/// A slot reserved in a bounded channel.
pub struct OwnedPermit<T>(mpsc::OwnedPermit<Box<T>>);

impl<T> OwnedPermit<T> {
    pub fn send(self, value: T) -> Sender<T> {
        Sender(self.0.send(Box::new(value)))
    }
}

pub struct Receiver<T>(mpsc::Receiver<Box<T>>);

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T> Receiver<T> {
    pub async fn recv(&mut self) -> Option<T> {
        self.0.recv().await.map(|value| *value)
    }

    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.0.try_recv().map(|value| *value)
    }

    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.0.poll_recv(cx).map(|value| value.map(|value| *value))
    }

    pub fn close(&mut self) {
        self.0.close()
    }
}

pub struct UnboundedSender<T>(mpsc::UnboundedSender<Box<T>>);

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T> UnboundedSender<T> {
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.0.send(Box::new(value)).map_err(unbox_send_error)
    }
}

pub struct UnboundedReceiver<T>(mpsc::UnboundedReceiver<Box<T>>);

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T> UnboundedReceiver<T> {
    pub async fn recv(&mut self) -> Option<T> {
        self.0.recv().await.map(|value| *value)
    }

    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.0.try_recv().map(|value| *value)
    }

    pub fn close(&mut self) {
        self.0.close()
    }
}
