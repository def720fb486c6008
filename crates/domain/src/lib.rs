//! Gatehouse's domain vocabulary: the values every other crate passes around.
//!
//! Identifiers ([`UserId`], [`ConnectionId`], [`SessionId`]) are opaque UUIDs;
//! names ([`Username`], [`ConnectionName`], [`RoleName`]) and [`TargetAddr`]
//! can only be built through `parse`, so a handler that holds one knows it is
//! valid. [`Permission`] and the built-in roles encode DESIGN.md's permission
//! table; [`EndReason`] is the closed set of reasons a session can end for.

mod ids;
mod names;
mod permissions;
mod session;
mod target;

pub use ids::{ApprovalId, ConnectionId, SessionId, SshKeyId, UserId};
pub use names::{ConnectionName, NameError, RoleName, TargetAddr, Username};
pub use permissions::{BuiltinRole, Permission};
pub use session::{EndReason, Protocol};
pub use target::{
    HostHeader, HostKeySource, HttpTarget, Injection, Publish, RdpTarget, SshAuth, SshTarget,
    Target, TcpTarget, VncTarget,
};
