//! Gatehouse end to end: the real gateway, a real OpenSSH `sshd`, and
//! clients speaking HTTP, WebSocket and SSE. One binary (fast to link);
//! one module per story.

#![allow(unreachable_pub, missing_docs)]

mod harness;

mod accounts;
mod admin;
mod api_contract;
mod approvals;
mod browser;
mod cli;
mod cluster;
mod desktops;
mod ending;
mod faults;
mod feed;
mod finding;
mod history_filters;
mod ldap;
mod limits;
mod native_ssh;
mod operations;
mod permissions;
mod policies;
mod private_data;
mod recordings;
mod restart;
mod revoking;
mod second_factor;
mod sharing;
mod sso;
mod target_account;
mod terminal;
mod tls;
mod tunnels;
mod watching;
mod webapps;
