//! What a native SSH client logs in as: `USER:CONNECTION` or just `USER`.

use gatehouse_domain::{ConnectionName, Username};

/// The SSH user name split into the person and, if given, the connection
/// they want: `ops1:prod-db` → (`ops1`, `prod-db`); `ops1` → (`ops1`, none),
/// which shows a menu of their connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LoginName {
    pub(crate) user: Username,
    pub(crate) connection: Option<ConnectionName>,
}

impl LoginName {
    /// Parses `USER[:CONNECTION]`. `None` for anything else: such a login
    /// is refused like a wrong password.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (user, connection) = match text.split_once(':') {
            Some((user, connection)) => (user, Some(connection)),
            None => (text, None),
        };
        Some(Self {
            user: Username::parse(user).ok()?,
            connection: match connection {
                Some(c) => Some(ConnectionName::parse(c).ok()?),
                None => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_connection_are_split_at_the_colon() {
        let login = LoginName::parse("ops1:prod-db").unwrap();
        assert_eq!(login.user.as_str(), "ops1");
        assert_eq!(login.connection.unwrap().as_str(), "prod-db");
        let menu = LoginName::parse("ops1").unwrap();
        assert_eq!(menu.user.as_str(), "ops1");
        assert!(menu.connection.is_none());
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in [
            "",
            ":prod",
            "ops1:",
            "ops1:prod:db",
            "ops 1:prod",
            "ops1:pr od",
        ] {
            assert_eq!(LoginName::parse(bad), None, "{bad:?}");
        }
    }
}
