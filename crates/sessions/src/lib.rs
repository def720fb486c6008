//! The live session registry: the one place that knows which sessions exist.
//!
//! Every front end (browser terminal and native SSH; later HTTP and TCP) calls
//! [`Registry::open`] and gets a [`SessionHandle`]. It relays bytes while
//! awaiting [`SessionHandle::ended`], reports traffic through the handle, and
//! drops it when the session is over; the drop removes the session and
//! publishes exactly one [`Lifecycle::Ended`]. Listing, searching
//! ([`ListQuery`]), ending ([`Registry::end`]) and the live event feed
//! ([`Registry::subscribe`], [`SessionEvent`]) are written here once and work
//! the same for every protocol, and so are the policies ([`SessionLimits`],
//! [`Registry::enforce`]) and the other participants: watchers and people
//! the owner shared the session with ([`Registry::watch`], [`Registry::join`],
//! [`Watcher`]). Sessions opened with [`NewSession::recording`] in a
//! registry made by [`Registry::with_recordings`] are recorded through the
//! same handle calls (`record_output`, `record_input`, `resized`), whatever
//! the protocol. Nothing here knows a protocol or a database:
//! history is written by whoever consumes the [`Lifecycle`] channel.

mod end;
mod entry;
mod events;
mod forward_guard;
mod forwards;
mod handle;
mod limits;
mod locks;
mod merge;
mod policy;
mod query;
mod recording;
mod registry;
mod screen;
mod shared;
mod table;
mod view;
mod watch;

pub use end::EndRequest;
pub use events::{EndedSession, Lifecycle, SessionEvent};
pub use forward_guard::ForwardGuard;
pub use forwards::{Forward, ForwardKind};
pub use handle::SessionHandle;
pub use limits::{Limit, SessionLimits, Warning};
pub use query::{ListQuery, Page, SortKey, Visibility};
pub use registry::{NewSession, Registry, Tally};
pub use view::{ConnectionRef, Participant, ParticipantMode, SessionView, Terminal};
pub use watch::{Input, Typist, WatchEvent, Watcher};

#[cfg(test)]
mod recording_tests;
#[cfg(test)]
mod tests;
