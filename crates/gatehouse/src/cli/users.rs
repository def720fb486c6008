//! `gatehouse users list|lock|unlock`: accounts from the terminal
//! (`users.manage`). Locking a user ends their logins and every live
//! session of theirs at once.

use anyhow::bail;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ServerArgs;
use crate::client::ApiClient;

#[derive(clap::Subcommand, Debug)]
pub(super) enum UsersCommand {
    /// List every account, with its roles and whether it is locked.
    List {
        #[command(flatten)]
        server: ServerArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Lock a user: their logins and live sessions end at once, and they
    /// cannot log in until unlocked.
    Lock {
        #[command(flatten)]
        server: ServerArgs,
        /// The username.
        name: String,
    },
    /// Unlock a user: they may log in again.
    Unlock {
        #[command(flatten)]
        server: ServerArgs,
        /// The username.
        name: String,
    },
}

/// An account as `GET /users` lists it.
#[derive(Deserialize)]
struct User {
    id: String,
    username: String,
    disabled: bool,
    roles: Vec<String>,
    created_at: String,
}

pub(super) async fn run(cmd: UsersCommand) -> anyhow::Result<()> {
    match cmd {
        UsersCommand::List { server, json } => {
            let client = ApiClient::new(&server.server, server.token);
            if json {
                let users: Value = client.get("/users", &[]).await?;
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                let users: Vec<User> = client.get("/users", &[]).await?;
                print!("{}", table(&users));
            }
        }
        UsersCommand::Lock { server, name } => {
            let client = ApiClient::new(&server.server, server.token);
            let user = find(&client, &name).await?;
            let _: Value = client
                .post(&format!("/users/{}/lock", user.id), &json!({}))
                .await?;
            println!(
                "locked {}: their logins and live sessions have ended",
                user.username
            );
        }
        UsersCommand::Unlock { server, name } => {
            let client = ApiClient::new(&server.server, server.token);
            let user = find(&client, &name).await?;
            let _: Value = client
                .post(&format!("/users/{}/unlock", user.id), &json!({}))
                .await?;
            println!("unlocked {}: they may log in again", user.username);
        }
    }
    Ok(())
}

/// The account called `name` (usernames are case-insensitive).
async fn find(client: &ApiClient, name: &str) -> anyhow::Result<User> {
    let wanted = name.trim().to_lowercase();
    let users: Vec<User> = client.get("/users", &[]).await?;
    match users.into_iter().find(|u| u.username == wanted) {
        Some(user) => Ok(user),
        None => bail!("no user named {name:?}"),
    }
}

/// The accounts as an aligned text table.
fn table(users: &[User]) -> String {
    let header = ["USERNAME", "ROLES", "STATUS", "CREATED"];
    let rows: Vec<[String; 4]> = users
        .iter()
        .map(|u| {
            [
                u.username.clone(),
                if u.roles.is_empty() {
                    "-".to_owned()
                } else {
                    u.roles.join(",")
                },
                if u.disabled { "locked" } else { "active" }.to_owned(),
                u.created_at.chars().take(10).collect(),
            ]
        })
        .collect();
    super::align(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_who_is_locked() {
        let user = |name: &str, roles: &[&str], disabled| User {
            id: "x".into(),
            username: name.into(),
            disabled,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            created_at: "2026-01-02T03:04:05Z".into(),
        };
        let text = table(&[
            user("admin", &["admin"], false),
            user("ops1", &["user", "auditor"], true),
            user("nobody", &[], false),
        ]);
        assert_eq!(
            text,
            "USERNAME  ROLES         STATUS  CREATED\n\
             admin     admin         active  2026-01-02\n\
             ops1      user,auditor  locked  2026-01-02\n\
             nobody    -             active  2026-01-02\n"
        );
    }
}
