//! What a caller may do. `viewer` ⊂ `operator` ⊂ `admin`; `ingest` posts records to the
//! sources its certificate or token names (admin: every source); `node` is a peer.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
    Ingest,
    Node,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?}: expected viewer, operator, admin, ingest or node")]
pub struct UnknownRole(pub String);

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Operator,
        Role::Admin,
        Role::Ingest,
        Role::Node,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Ingest => "ingest",
            Role::Node => "node",
        }
    }

    /// Whether a caller holding `self` may do what needs `needed`.
    pub fn grants(self, needed: Role) -> bool {
        match (self, needed) {
            (held, needed) if held == needed => true,
            (Role::Admin, Role::Viewer | Role::Operator | Role::Ingest) => true,
            (Role::Operator, Role::Viewer) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| UnknownRole(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn admin_holds_the_client_roles_and_no_peer_role() {
        assert!(Role::Admin.grants(Role::Viewer));
        assert!(Role::Admin.grants(Role::Operator));
        assert!(Role::Admin.grants(Role::Ingest));
        assert!(!Role::Admin.grants(Role::Node));
        assert!(Role::Operator.grants(Role::Viewer));
        assert!(!Role::Operator.grants(Role::Admin));
        assert!(!Role::Viewer.grants(Role::Operator));
        assert!(!Role::Ingest.grants(Role::Viewer));
        assert!(!Role::Node.grants(Role::Viewer));
        assert!(Role::Node.grants(Role::Node));
    }
}
