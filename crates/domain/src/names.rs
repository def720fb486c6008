use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a name or address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {problem}")]
pub struct NameError {
    what: &'static str,
    problem: &'static str,
}

impl NameError {
    fn new(what: &'static str, problem: &'static str) -> Self {
        Self { what, problem }
    }
}

/// Letters, digits, `.`, `_` and `-`, starting with a letter or digit: safe in
/// URLs, shell commands and the `USER:CONNECTION@gateway` SSH login syntax.
fn check_simple_name(
    what: &'static str,
    s: &str,
    max: usize,
    lowercase: bool,
) -> Result<String, NameError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(NameError::new(what, "must not be empty"));
    }
    if s.chars().count() > max {
        return Err(NameError::new(what, "is too long"));
    }
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(NameError::new(what, "must start with a letter or digit"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(NameError::new(
            what,
            "may contain only letters, digits, '.', '_' and '-'",
        ));
    }
    Ok(if lowercase {
        s.to_ascii_lowercase()
    } else {
        s.to_owned()
    })
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:literal, $lower:literal, $pattern:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String, pattern = $pattern)]
        pub struct $name(String);

        impl $name {
            /// Checks and normalises a name.
            pub fn parse(s: &str) -> Result<Self, NameError> {
                check_simple_name($what, s, $max, $lower).map(Self)
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A user's login name: 1–64 of `[a-z0-9._-]`, stored lowercase so logins
    /// are case-insensitive.
    Username, "username", 64, true, r"^\s*[A-Za-z0-9][A-Za-z0-9._-]{0,63}\s*$"
);
name_type!(
    /// A connection's name as users see and type it: 1–100 of `[A-Za-z0-9._-]`.
    ConnectionName, "connection name", 100, false, r"^\s*[A-Za-z0-9][A-Za-z0-9._-]{0,99}\s*$"
);
name_type!(
    /// A role's name (`admin`, `auditor`, `user` or a custom one), lowercase.
    RoleName, "role name", 64, true, r"^\s*[A-Za-z0-9][A-Za-z0-9._-]{0,63}\s*$"
);

/// A target's host and port, as the gateway dials it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TargetAddr {
    host: String,
    port: u16,
}

impl TargetAddr {
    /// Checks a host name or IP literal and a port.
    pub fn new(host: &str, port: u16) -> Result<Self, NameError> {
        let host = host.trim();
        if host.is_empty() {
            return Err(NameError::new("host", "must not be empty"));
        }
        if host.len() > 253 {
            return Err(NameError::new("host", "is too long"));
        }
        let ok = host.parse::<std::net::IpAddr>().is_ok()
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            return Err(NameError::new(
                "host",
                "must be a host name or an IP address",
            ));
        }
        if port == 0 {
            return Err(NameError::new("port", "must be between 1 and 65535"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// The host name or IP literal.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for TargetAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(Username::parse(" Ops1 ").unwrap().as_str(), "ops1");
        assert!(Username::parse("").is_err());
        assert!(Username::parse("-x").is_err());
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("a:b").is_err());
        assert!(Username::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn connection_names_keep_case_but_refuse_separators() {
        assert_eq!(
            ConnectionName::parse("Prod-DB").unwrap().as_str(),
            "Prod-DB"
        );
        assert!(ConnectionName::parse("prod@db").is_err());
    }

    #[test]
    fn target_addresses_format_ipv6_in_brackets() {
        assert_eq!(TargetAddr::new("::1", 22).unwrap().to_string(), "[::1]:22");
        assert_eq!(
            TargetAddr::new("db.local", 2200).unwrap().to_string(),
            "db.local:2200"
        );
        assert!(TargetAddr::new("a;rm", 22).is_err());
        assert!(TargetAddr::new("h", 0).is_err());
    }
}
