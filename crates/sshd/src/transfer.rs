//! Telling a file transfer from a command: the one kind of channel whose
//! bytes are counted but not recorded, so recognised strictly.

/// Whether `command` is exactly what the `scp` client asks the far side to
/// run in its legacy protocol: `scp`, flags among `-v -r -p -d` (as
/// separate words), then `-t` (receive) or `-f` (send), an optional `--`,
/// and one path made only of characters no shell treats specially — no
/// `;`, `|`, `&`, `$`, backticks, quotes, redirections, parentheses,
/// backslashes or line breaks. Globs (`*`, `?`, `[…]`) and `~` pass: the
/// far shell expands them, and `scp host:'*.log' .` relies on it.
pub(crate) fn is_scp_server(command: &[u8]) -> bool {
    let Ok(command) = std::str::from_utf8(command) else {
        return false;
    };
    let mut words = command.split(' ');
    if words.next() != Some("scp") {
        return false;
    }
    let mut mode = false;
    let mut path = None;
    let mut options_done = false;
    for word in words {
        match word {
            "-v" | "-r" | "-p" | "-d" if !options_done && !mode => {}
            "-t" | "-f" if !options_done && !mode => mode = true,
            "--" if !options_done && mode => options_done = true,
            _ if mode && path.is_none() && (options_done || !word.starts_with('-')) => {
                path = Some(word);
            }
            _ => return false,
        }
    }
    mode && path.is_some_and(|p| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_alphanumeric() || "-_./,:@+=%~*?[]".contains(c))
    })
}

#[cfg(test)]
mod tests {
    use super::is_scp_server;

    #[test]
    fn what_the_scp_client_sends_is_a_transfer() {
        for command in [
            "scp -t /tmp/upload.bin",
            "scp -f /tmp/upload.bin",
            "scp -v -r -p -d -t -- -odd/dir",
            "scp -f ~/logs/*.log",
            "scp -t .",
            "scp -f café/ü.txt",
        ] {
            assert!(is_scp_server(command.as_bytes()), "{command}");
        }
    }

    #[test]
    fn anything_more_is_a_command() {
        for command in [
            "scp 2>/dev/null; exec sh -i",
            "scp",
            "scp -t",
            "scp -t a b",
            "scp -t x; sh",
            "scp -f x|sh",
            "scp -f x&&sh",
            "scp -f $(sh)",
            "scp -f `sh`",
            "scp -f x>y",
            "scp -f <x",
            "scp -f x\nsh",
            "scp -f x\rsh",
            "scp -f 'x'",
            "scp -f x\\",
            "scp -f -x",
            "scp -t -f x",
            "scp -f x -r",
            "scp  -f x",
            "scp\t-f x",
            "/usr/bin/scp -f x",
            "scp -S sh -f x",
            "rsync --server -vlogDtpre.iLsfxCIvu . /tmp/x",
            "sh -c 'scp -f x'",
        ] {
            assert!(!is_scp_server(command.as_bytes()), "{command:?}");
        }
        assert!(!is_scp_server(b"scp -f \xff"));
    }
}
