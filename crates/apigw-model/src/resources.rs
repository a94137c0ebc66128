//! The resources a plug-in is bound through (SPEC §1.2): API groups, environments, published
//! APIs, apps and their authorisations, and the bindings themselves. Stored rows; the API's
//! own definition and its checks live in [`crate::api`].

/// The id of the built-in RELEASE environment, as in APIG.
pub const RELEASE_ENV_ID: &str = "DEFAULT_ENVIRONMENT_RELEASE_ID";
/// The name of the built-in environment.
pub const RELEASE_ENV_NAME: &str = "RELEASE";
/// The name of each instance's built-in API group.
pub const DEFAULT_GROUP_NAME: &str = "DEFAULT";

/// An API group. Its `sl_domain` is `{id}.{domain suffix}`, derived, not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub instance_id: String,
    /// Unique per instance (APIG.3201).
    pub name: String,
    pub remark: String,
    /// The built-in `DEFAULT` group, which cannot be renamed or deleted.
    pub is_default: bool,
    /// ROMA Connect integration app, kept as given.
    pub roma_app_id: Option<String>,
    pub register_time: i64,
    pub update_time: i64,
}

/// An environment (`RELEASE` is built in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    pub id: String,
    pub instance_id: String,
    /// Unique per instance.
    pub name: String,
    pub remark: String,
    pub create_time: i64,
}

/// An API: indexed fields plus the canonical JSON of its definition ([`crate::api::ApiDef`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    pub id: String,
    pub instance_id: String,
    pub group_id: String,
    /// Unique within its group (APIG.3202).
    pub name: String,
    /// `METHOD MATCH_MODE /normalised/{}/uri`: unique within the group (APIG.3301).
    pub route_key: String,
    /// Canonical JSON of the definition.
    pub def: String,
    pub register_time: i64,
    pub update_time: i64,
}

/// An API published in an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub publish_id: String,
    pub instance_id: String,
    pub api_id: String,
    pub env_id: String,
    pub remark: String,
    pub publish_time: i64,
}

/// An app: the identity of APP-authenticated callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub id: String,
    pub instance_id: String,
    /// Unique per instance.
    pub name: String,
    pub remark: String,
    /// Unique per instance; the AK of APP signatures.
    pub app_key: String,
    /// The SK of APP signatures.
    pub app_secret: String,
    pub register_time: i64,
    pub update_time: i64,
}

/// An app authorised to call an API in an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppAuth {
    pub id: String,
    pub instance_id: String,
    pub app_id: String,
    pub api_id: String,
    pub env_id: String,
    pub auth_time: i64,
}

/// A plug-in bound to an API in an environment (one per type per API per environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// `plugin_attach_id`.
    pub id: String,
    pub instance_id: String,
    pub plugin_id: String,
    /// Copied from the plug-in (its type cannot change): the key of "one per type".
    pub plugin_type: crate::PluginType,
    pub api_id: String,
    pub env_id: String,
    pub attached_time: i64,
}

/// A policy bound to a publication (an API in an environment): an access control policy's
/// binding, a request throttling policy's (and, next, a signature key's). The fields they all
/// have, so that what binds and lists them is written once (the store's `bind_policy`, the
/// control plane's `policy_bindings`).
pub trait PolicyBinding {
    /// The binding's own id (`bind_id` in APIG's answers).
    fn id(&self) -> &str;
    /// The id of the policy bound.
    fn policy_id(&self) -> &str;
    /// The API and environment of the publication it is bound to.
    fn api_id(&self) -> &str;
    fn env_id(&self) -> &str;
    /// When it was bound, in milliseconds.
    fn create_time(&self) -> i64;
}

/// Implements [`PolicyBinding`] for a binding whose policy id is the field `$policy`.
macro_rules! policy_binding {
    ($t:ty, $policy:ident) => {
        impl PolicyBinding for $t {
            fn id(&self) -> &str {
                &self.id
            }
            fn policy_id(&self) -> &str {
                &self.$policy
            }
            fn api_id(&self) -> &str {
                &self.api_id
            }
            fn env_id(&self) -> &str {
                &self.env_id
            }
            fn create_time(&self) -> i64 {
                self.create_time
            }
        }
    };
}
policy_binding!(crate::acl::AclBinding, acl_id);
policy_binding!(crate::throttle::ThrottleBinding, throttle_id);
policy_binding!(crate::signature_key::SignBinding, sign_id);
