//! Typed identifiers.
//!
//! Every row is keyed by a UUIDv7 (time-ordered, so keyset pagination by id follows creation order). In
//! the API an id is shown with a type prefix, `org_0190…`, so that an id of the wrong kind is rejected at
//! the edge instead of silently matching nothing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// An id string that does not have the expected prefix or is not a valid UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {prefix}_… id")]
pub struct IdParseError {
    /// The prefix that was expected.
    pub prefix: &'static str,
    /// The text that was given (truncated).
    pub value: String,
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            /// The prefix used in the API.
            pub const PREFIX: &'static str = $prefix;

            /// A new time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The raw UUID, as stored in the database.
            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }

        impl From<$name> for Uuid {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0.simple())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_prefixed(s, $prefix).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "_[0-9a-f]{32}$")))
                    .examples([serde_json::Value::from(concat!($prefix, "_0190f3c2a1b27c4d8e9f0a1b2c3d4e5f"))])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

fn parse_prefixed(s: &str, prefix: &'static str) -> Result<Uuid, IdParseError> {
    let error = || IdParseError {
        prefix,
        value: s.chars().take(80).collect(),
    };
    let rest = s
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or_else(error)?;
    // Only the 32-hex-digit form is accepted, so one id has exactly one spelling.
    if rest.len() != 32 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(error());
    }
    Uuid::try_parse(rest).map_err(|_| error())
}

typed_id!(/// An organization (the tenant).
    OrgId, "org");
typed_id!(/// A user account.
    UserId, "usr");
typed_id!(/// A user's membership of one organization.
    MembershipId, "mem");
typed_id!(/// A team inside an organization.
    TeamId, "team");
typed_id!(/// An API token.
    TokenId, "tok");
typed_id!(/// A login session of the web UI.
    SessionId, "ses");
typed_id!(/// An audit log entry.
    AuditId, "aud");
typed_id!(/// A background job.
    JobId, "job");
typed_id!(/// A config object (one logical component).
    ConfigObjectId, "cob");
typed_id!(/// One immutable version of a config object.
    ConfigVersionId, "cov");
typed_id!(/// A plugin.
    PluginId, "plg");
typed_id!(/// A marketplace.
    MarketplaceId, "mkt");
typed_id!(/// An access grant.
    GrantId, "grt");
typed_id!(/// A connector account (GitHub App installation or git credential).
    ConnectorAccountId, "cac");
typed_id!(/// A connector instance (one connected repository branch).
    ConnectorInstanceId, "cin");
typed_id!(/// A connector target.
    ConnectorTargetId, "ctg");
typed_id!(/// A connector mapping.
    MappingId, "cmp");
typed_id!(/// A sync event.
    SyncEventId, "cse");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let id = OrgId::new();
        let text = id.to_string();
        assert!(text.starts_with("org_"));
        assert_eq!(text.len(), 4 + 32);
        assert_eq!(text.parse::<OrgId>().unwrap(), id);
    }

    #[test]
    fn rejects_wrong_prefix_and_garbage() {
        let id = OrgId::new();
        let as_user = id.to_string().replacen("org_", "usr_", 1);
        assert!(as_user.parse::<OrgId>().is_err());
        assert!("org_".parse::<OrgId>().is_err());
        assert!("org_zz".parse::<OrgId>().is_err());
        assert!(id.uuid().hyphenated().to_string().parse::<OrgId>().is_err());
    }

    #[test]
    fn serializes_as_a_string() {
        let id = TeamId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: TeamId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
    }
}
