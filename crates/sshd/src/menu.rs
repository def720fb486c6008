//! The connection menu for `ssh USER@gateway`: the user's connections in a
//! list, chosen with the arrow keys or a number, then Enter.

use gatehouse_domain::{ConnectionName, Protocol};
use russh::server::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf};

use crate::ctx::Ctx;

/// One line of the menu.
struct Item {
    name: ConnectionName,
    target: String,
}

/// Shows the menu on the client's terminal and returns the connection the
/// user chose, or `None` if they quit (q, Ctrl-C, Ctrl-D) or left.
pub(crate) async fn choose(
    ctx: &Ctx,
    from_client: &mut ChannelReadHalf,
    to_client: &ChannelWriteHalf<Msg>,
) -> Option<ConnectionName> {
    let items: Vec<Item> = match ctx.front.access.connections_for(&ctx.principal).await {
        Ok(mut list) => {
            list.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
            // Only SSH connections open from an SSH client.
            list.into_iter()
                .filter(|c| c.protocol() == Protocol::Ssh)
                .map(|c| Item {
                    target: c.target.display(),
                    name: c.name,
                })
                .collect()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not list connections for the menu");
            Vec::new()
        }
    };
    if items.is_empty() {
        let text = format!(
            "No connections are granted to {}.\r\n",
            ctx.principal.username
        );
        let _ = to_client.data_bytes(text.into_bytes()).await;
        return None;
    }
    let mut menu = Menu {
        selected: 0,
        typed: String::new(),
    };
    let _ = to_client
        .data_bytes(
            menu.render(ctx.principal.username.as_str(), &items)
                .into_bytes(),
        )
        .await;
    loop {
        let data = match from_client.wait().await {
            Some(ChannelMsg::Data { data }) => data,
            Some(ChannelMsg::Close | ChannelMsg::Eof) | None => return None,
            Some(_) => continue,
        };
        match menu.keys(&data, items.len()) {
            Choice::Pending => {
                let screen = menu.render(ctx.principal.username.as_str(), &items);
                let _ = to_client.data_bytes(screen.into_bytes()).await;
            }
            Choice::Quit => {
                let _ = to_client.data_bytes(&b"\r\n"[..]).await;
                return None;
            }
            Choice::Chosen(i) => {
                let item = &items[i];
                let text = format!("\r\nConnecting to {} ({})…\r\n", item.name, item.target);
                let _ = to_client.data_bytes(text.into_bytes()).await;
                return Some(item.name.clone());
            }
        }
    }
}

/// The menu's state: the highlighted line and digits typed so far.
struct Menu {
    selected: usize,
    typed: String,
}

#[derive(Debug, PartialEq, Eq)]
enum Choice {
    Pending,
    Quit,
    Chosen(usize),
}

impl Menu {
    fn render(&self, user: &str, items: &[Item]) -> String {
        let width = items
            .iter()
            .map(|i| i.name.as_str().len())
            .max()
            .unwrap_or(0);
        let mut out = format!(
            "\x1b[2J\x1b[HGatehouse: connections for {user}\r\n\
             Up/Down or a number to choose, Enter to connect, q to quit.\r\n\r\n"
        );
        for (i, item) in items.iter().enumerate() {
            let marker = if i == self.selected { ">" } else { " " };
            let (on, off) = if i == self.selected {
                ("\x1b[7m", "\x1b[0m")
            } else {
                ("", "")
            };
            out.push_str(&format!(
                "{marker} {on}{:>3}  {:<width$}  {}{off}\r\n",
                i + 1,
                item.name.as_str(),
                item.target
            ));
        }
        if !self.typed.is_empty() {
            out.push_str(&format!("\r\nNumber: {}", self.typed));
        }
        out
    }

    /// Applies a burst of keys; the first decisive key wins.
    fn keys(&mut self, data: &[u8], count: usize) -> Choice {
        let mut i = 0;
        while i < data.len() {
            match data[i] {
                b'\r' | b'\n' => return Choice::Chosen(self.selected),
                b'q' | b'Q' | 3 | 4 => return Choice::Quit,
                0x1b if data.get(i + 1).is_some_and(|b| *b == b'[' || *b == b'O') => {
                    match data.get(i + 2) {
                        Some(b'A') => self.selected = self.selected.saturating_sub(1),
                        Some(b'B') => self.selected = (self.selected + 1).min(count - 1),
                        _ => {}
                    }
                    self.typed.clear();
                    i += 2;
                }
                b'k' => self.selected = self.selected.saturating_sub(1),
                b'j' => self.selected = (self.selected + 1).min(count - 1),
                d @ b'0'..=b'9' => {
                    self.typed.push(d as char);
                    match self.typed.parse::<usize>() {
                        Ok(n) if (1..=count).contains(&n) => self.selected = n - 1,
                        _ => self.typed = (d as char).to_string(),
                    }
                }
                0x7f | 8 => {
                    self.typed.pop();
                }
                _ => {}
            }
            i += 1;
        }
        Choice::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu() -> Menu {
        Menu {
            selected: 0,
            typed: String::new(),
        }
    }

    #[test]
    fn arrows_move_the_highlight_within_the_list() {
        let mut m = menu();
        assert_eq!(m.keys(b"\x1b[B\x1b[B\x1b[B", 3), Choice::Pending);
        assert_eq!(m.selected, 2);
        assert_eq!(m.keys(b"\x1b[A", 3), Choice::Pending);
        assert_eq!(m.keys(b"\r", 3), Choice::Chosen(1));
    }

    #[test]
    fn a_number_then_enter_chooses_that_line() {
        let mut m = menu();
        assert_eq!(m.keys(b"12\r", 12), Choice::Chosen(11));
        let mut m = menu();
        assert_eq!(m.keys(b"2\r", 3), Choice::Chosen(1));
    }

    #[test]
    fn q_ctrl_c_and_ctrl_d_quit() {
        for key in [&b"q"[..], b"\x03", b"\x04"] {
            assert_eq!(menu().keys(key, 3), Choice::Quit);
        }
    }
}
