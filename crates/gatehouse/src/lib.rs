//! The `gatehouse` binary's library: configuration ([`config::Config`]),
//! the assembled gateway ([`app::Application`]) and the command line
//! ([`cli`]). `main` only parses flags and calls [`cli::run`].

pub mod allocator;
pub mod app;
pub mod cli;
pub mod client;
pub mod config;
mod directory;
pub mod node;
mod private_dir;
pub mod sso_config;
