//! `gatehouse sessions list|end`: the Active Sessions view for the terminal.
//! `end` takes session ids, a filter (`--search`, `--user`, `--connection`), or both.

use gatehouse_sessions::SessionView;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::ServerArgs;
use crate::client::ApiClient;

#[derive(clap::Subcommand, Debug)]
pub(super) enum SessionsCommand {
    /// List live sessions (all of them with `sessions.view`, else your own).
    List {
        #[command(flatten)]
        server: ServerArgs,
        /// Only sessions whose user, connection, protocol, client address or target contains this.
        #[arg(long, short)]
        search: Option<String>,
        /// Sort column (started_at, user, connection, protocol, client_addr, target,
        /// last_activity_at); prefix '-' for descending.
        #[arg(long, allow_hyphen_values = true)]
        sort: Option<String>,
        /// At most this many sessions.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Watch a live session read-only in this terminal (needs `sessions.watch`).
    Watch {
        #[command(flatten)]
        server: ServerArgs,
        /// The session id.
        id: String,
    },
    /// End sessions at once, by id and/or by filter; their users see who ended them.
    End {
        #[command(flatten)]
        server: ServerArgs,
        /// Session ids (optional when a filter is given).
        #[arg(required_unless_present_any = ["search", "user", "connection"])]
        ids: Vec<String>,
        /// Also end every session whose user, connection, protocol, client address
        /// or target contains this (the same search as `sessions list --search`).
        #[arg(long, short)]
        search: Option<String>,
        /// Also end every session of this user (exact username).
        #[arg(long)]
        user: Option<String>,
        /// Also end every session on this connection (exact name).
        #[arg(long)]
        connection: Option<String>,
        /// A message shown to the users whose sessions end.
        #[arg(long)]
        reason: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Deserialize)]
struct Page {
    total: usize,
    items: Vec<SessionView>,
}

#[derive(Deserialize, serde::Serialize)]
struct Ended {
    ended: Vec<String>,
    missing: Vec<String>,
}

pub(super) async fn run(cmd: SessionsCommand) -> anyhow::Result<()> {
    match cmd {
        SessionsCommand::Watch { server, id } => {
            let client = ApiClient::new(&server.server, server.token);
            client.watch(&id, &mut std::io::stdout()).await?;
        }
        SessionsCommand::List {
            server,
            search,
            sort,
            limit,
            json,
        } => {
            let client = ApiClient::new(&server.server, server.token);
            let mut query = vec![("limit", limit.to_string())];
            if let Some(q) = search {
                query.push(("q", q));
            }
            if let Some(s) = sort {
                query.push(("sort", s));
            }
            if json {
                let page: Value = client.get("/sessions", &query).await?;
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                let page: Page = client.get("/sessions", &query).await?;
                print!("{}", table(&page.items, OffsetDateTime::now_utc()));
                println!("{} of {} sessions", page.items.len(), page.total);
            }
        }
        SessionsCommand::End {
            server,
            ids,
            search,
            user,
            connection,
            reason,
            json,
        } => {
            let client = ApiClient::new(&server.server, server.token);
            let mut body = json!({ "ids": ids, "reason": reason });
            for (key, value) in [("q", search), ("user", user), ("connection", connection)] {
                if let Some(value) = value {
                    body[key] = json!(value);
                }
            }
            let ended: Ended = client.post("/sessions/end", &body).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ended)?);
            } else {
                for id in &ended.ended {
                    println!("ended   {id}");
                }
                for id in &ended.missing {
                    println!("missing {id} (no such live session)");
                }
                if ended.ended.is_empty() && ended.missing.is_empty() {
                    println!("no live session matched");
                }
            }
            if !ended.missing.is_empty() {
                anyhow::bail!("{} of the sessions were not live", ended.missing.len());
            }
        }
    }
    Ok(())
}

fn ago(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The sessions as an aligned text table.
fn table(items: &[SessionView], now: OffsetDateTime) -> String {
    let header = [
        "ID",
        "USER",
        "CONNECTION",
        "PROTO",
        "CLIENT",
        "TARGET",
        "AGE",
        "IDLE",
        "PEOPLE",
    ];
    let rows: Vec<[String; 9]> = items
        .iter()
        .map(|s| {
            [
                s.id.to_string(),
                s.user.clone(),
                s.connection.name.clone(),
                s.protocol.to_string(),
                s.client_addr.clone(),
                s.target.clone(),
                ago((now - s.started_at).whole_seconds().max(0)),
                ago(s.idle_seconds as i64),
                s.participants.len().to_string(),
            ]
        })
        .collect();
    super::align(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(ago(5), "5s");
        assert_eq!(ago(125), "2m05s");
        assert_eq!(ago(7260), "2h01m");
    }
}
