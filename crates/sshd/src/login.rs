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

    mod properties {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;
        use proptest::sample::select;

        /// A valid name: a lowercase letter or digit, then up to 30 of
        /// those and `.`, `_`, `-`.
        fn name() -> impl Strategy<Value = String> {
            let first: Vec<char> = ('a'..='z').chain('0'..='9').collect();
            let rest: Vec<char> = first.iter().copied().chain(['.', '_', '-']).collect();
            (select(first), vec(select(rest), 0..30))
                .prop_map(|(f, r)| std::iter::once(f).chain(r).collect())
        }

        proptest! {
            /// A login name from the network never panics the parser; what
            /// it accepts names a valid user (and connection), and says the
            /// same when written back.
            #[test]
            fn any_login_name_parses_or_is_refused_and_what_parses_round_trips(
                chars in vec(any::<char>(), 0..80)
            ) {
                let text: String = chars.into_iter().collect();
                if let Some(login) = LoginName::parse(&text) {
                    let again = match &login.connection {
                        Some(c) => format!("{}:{}", login.user.as_str(), c.as_str()),
                        None => login.user.as_str().to_owned(),
                    };
                    prop_assert_eq!(LoginName::parse(&again), Some(login));
                }
            }

            /// `USER:CONNECTION` of valid names always parses to them.
            #[test]
            fn valid_names_always_parse(user in name(), connection in name()) {
                let login = LoginName::parse(&format!("{user}:{connection}")).unwrap();
                prop_assert_eq!(login.user.as_str(), user.as_str());
                let parsed = login.connection.unwrap();
                prop_assert_eq!(parsed.as_str(), connection.as_str());
            }
        }
    }
}
