//! Access control (SPEC §10): the policies bound to a route, compiled once per policy when the
//! snapshot is built (IP entries parsed into sorted ranges, account entries sorted), so a
//! check is a binary search. A route without policies has no [`Access`] at all: the request
//! path pays one branch.
//!
//! - IP: checked against the client IP (the first `X-Forwarded-For` address when the gateway
//!   trusts it) right after routing, before authentication; refused 403 APIG.0402.
//! - Account (`DOMAIN`, `DOMAIN_ID`): checked on IAM routes after IAM authentication, against
//!   the caller's identity, which for apigw's own IAM credentials is their project id (both
//!   kinds match it); refused 403 APIG.0302. Routes of other auth types have no account to
//!   check and are not refused by it.

use crate::error::GatewayError;
use apigw_model::acl::{Acl, AclType, EntityType, IpSet, Names};
use std::net::IpAddr;
use std::sync::Arc;

/// One compiled policy.
#[derive(Debug)]
pub enum Compiled {
    Ip { permit: bool, set: IpSet },
    Account { permit: bool, names: Names },
}

impl Compiled {
    /// Compiles a stored policy; an error (logged by the caller) when its value does not parse,
    /// which validation prevents.
    pub fn new(acl: &Acl) -> Result<Self, String> {
        let permit = acl.acl_type == AclType::Permit;
        Ok(match acl.entity_type {
            EntityType::Ip => Compiled::Ip {
                permit,
                set: IpSet::parse(&acl.value)?,
            },
            EntityType::Domain | EntityType::DomainId => Compiled::Account {
                permit,
                names: Names::parse(&acl.value),
            },
        })
    }
}

/// The policies of one route (at most one of each kind).
#[derive(Debug, Default)]
pub struct Access {
    pub ip: Option<Arc<Compiled>>,
    pub account: Option<Arc<Compiled>>,
}

impl Access {
    /// Adds a policy in the slot of its kind.
    pub fn add(&mut self, policy: Arc<Compiled>) {
        match *policy {
            Compiled::Ip { .. } => self.ip = Some(policy),
            Compiled::Account { .. } => self.account = Some(policy),
        }
    }

    /// The IP check: DENY refuses a match, PERMIT refuses a non-match.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), GatewayError> {
        match self.ip.as_deref() {
            Some(Compiled::Ip { permit, set }) if set.contains(ip) != *permit => {
                Err(GatewayError::IpDenied)
            }
            _ => Ok(()),
        }
    }

    /// The account check of an IAM caller whose identity is `account` (none: not an IAM call,
    /// nothing to check).
    pub fn check_account(&self, account: Option<&str>) -> Result<(), GatewayError> {
        match (self.account.as_deref(), account) {
            (Some(Compiled::Account { permit, names }), Some(a))
                if names.contains(a) != *permit =>
            {
                Err(GatewayError::AccountDenied)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(acl_type: AclType, entity_type: EntityType, value: &str) -> Arc<Compiled> {
        Arc::new(
            Compiled::new(&Acl {
                id: "a".into(),
                instance_id: "i".into(),
                name: "acl".into(),
                acl_type,
                entity_type,
                value: value.into(),
                update_time: 0,
            })
            .unwrap(),
        )
    }

    #[test]
    fn deny_refuses_matches_and_permit_refuses_the_rest() {
        let local = "127.0.0.1".parse().unwrap();
        let other = "10.1.1.1".parse().unwrap();
        let mut a = Access::default();
        assert!(a.check_ip(local).is_ok(), "no policy");
        a.add(acl(AclType::Deny, EntityType::Ip, "127.0.0.0/8"));
        assert_eq!(a.check_ip(local), Err(GatewayError::IpDenied));
        assert!(a.check_ip(other).is_ok());
        a.add(acl(AclType::Permit, EntityType::Ip, "10.0.0.0/8"));
        assert_eq!(a.check_ip(local), Err(GatewayError::IpDenied));
        assert!(a.check_ip(other).is_ok());
    }

    #[test]
    fn accounts_are_checked_for_iam_callers_only() {
        let mut a = Access::default();
        a.add(acl(AclType::Permit, EntityType::DomainId, "p1,p2"));
        assert!(a.check_account(Some("p2")).is_ok());
        assert_eq!(
            a.check_account(Some("p3")),
            Err(GatewayError::AccountDenied)
        );
        assert!(a.check_account(None).is_ok(), "not an IAM call");
        a.add(acl(AclType::Deny, EntityType::Domain, "p3"));
        assert!(a.check_account(Some("p1")).is_ok());
        assert_eq!(
            a.check_account(Some("p3")),
            Err(GatewayError::AccountDenied)
        );
    }
}
