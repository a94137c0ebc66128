//! What the bindings of policies to published APIs have in common in the control plane:
//! access control policies (`acls`), request throttling policies (`throttles`) and signature
//! keys (`signs`). Each binds to publications (an API in an environment) through
//! `publish_ids` and has the same calls: bind, unbind one, unbind several, and three lists
//! (the policies bound to an API, the APIs a policy is bound to, the publications it is not
//! bound to). A kind of policy says what is its own in [`PolicyKind`]; its module keeps the
//! handlers (with their OpenAPI attributes), its query filters and the JSON of its answers,
//! and leaves the rest to this module: the batch unbinding, the joins behind the lists, the
//! API filters and the paging of the answers.

use crate::apis::Context;
use crate::body::{self, contains, eq, paginate, Fields, Query};
use crate::error::{deleted, found, ApiError};
use crate::AppState;
use apigw_model::resources::{Api, PolicyBinding, Publication};
use apigw_model::time;
use apigw_store::{Resource, Store, StoreError};
use axum::http::{StatusCode, Uri};
use axum::Json;
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;

pub(crate) use crate::bindings::MAX_IDS;

/// A call of the store, as [`Store`]'s methods return it.
pub(crate) type StoreCall<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A kind of policy bound to publications: what its calls and lists need to know of it.
pub(crate) trait PolicyKind {
    /// The policy.
    type Policy: Send + Sync;
    /// Its binding to a publication.
    type Binding: PolicyBinding + Send + Sync;
    /// The policy's resource, for a policy id that names none.
    const POLICY: Resource;
    /// The binding's resource, for a binding id that names none.
    const BINDING: Resource;
    /// The body field naming the policy in the bind call (`acl_id`).
    const BIND_FIELD: &'static str;
    /// The query parameter naming the policy in the lists of APIs (`acl_id`).
    const ID_PARAM: &'static str;
    /// The body field listing the bindings to remove in the batch call (`acl_bindings`).
    const BATCH_FIELD: &'static str;
    /// What the bindings are called in the log (`access control bindings`).
    const LOG_NAME: &'static str;
    /// The list field of the APIs a policy is bound to (`apis`; signature keys: `bindings`).
    const BOUND_APIS_FIELD: &'static str = "apis";
    /// The policy's id and name.
    fn id(policy: &Self::Policy) -> &str;
    fn name(policy: &Self::Policy) -> &str;
    /// Whether `binding` holds the place at its publication that `policy` would take there:
    /// the "one per API and environment" rule of the kind.
    fn rivals(policy: &Self::Policy, binding: &Self::Binding) -> bool;
    /// The store calls: one policy, every policy, binding one to publications, every
    /// binding, removing one binding (written by [`store_calls!`]).
    fn get<'a>(
        store: &'a dyn Store,
        instance_id: &'a str,
        id: &'a str,
    ) -> StoreCall<'a, Option<Self::Policy>>;
    fn list<'a>(store: &'a dyn Store, instance_id: &'a str) -> StoreCall<'a, Vec<Self::Policy>>;
    fn bind<'a>(
        store: &'a dyn Store,
        instance_id: &'a str,
        id: &'a str,
        publish_ids: &'a [String],
        now: i64,
    ) -> StoreCall<'a, Vec<Self::Binding>>;
    fn bindings<'a>(
        store: &'a dyn Store,
        instance_id: &'a str,
    ) -> StoreCall<'a, Vec<Self::Binding>>;
    fn unbind<'a>(store: &'a dyn Store, instance_id: &'a str, id: &'a str) -> StoreCall<'a, ()>;
}

/// The store calls of a [`PolicyKind`] impl, named by the [`Store`] methods they are:
/// `store_calls!(get_acl, list_acls, bind_acl, list_acl_bindings, unbind_acl)`.
macro_rules! store_calls {
    ($get:ident, $list:ident, $bind:ident, $bindings:ident, $unbind:ident) => {
        fn get<'a>(
            store: &'a dyn apigw_store::Store,
            instance_id: &'a str,
            id: &'a str,
        ) -> $crate::policy_bindings::StoreCall<'a, Option<Self::Policy>> {
            store.$get(instance_id, id)
        }
        fn list<'a>(
            store: &'a dyn apigw_store::Store,
            instance_id: &'a str,
        ) -> $crate::policy_bindings::StoreCall<'a, Vec<Self::Policy>> {
            store.$list(instance_id)
        }
        fn bind<'a>(
            store: &'a dyn apigw_store::Store,
            instance_id: &'a str,
            id: &'a str,
            publish_ids: &'a [String],
            now: i64,
        ) -> $crate::policy_bindings::StoreCall<'a, Vec<Self::Binding>> {
            store.$bind(instance_id, id, publish_ids, now)
        }
        fn bindings<'a>(
            store: &'a dyn apigw_store::Store,
            instance_id: &'a str,
        ) -> $crate::policy_bindings::StoreCall<'a, Vec<Self::Binding>> {
            store.$bindings(instance_id)
        }
        fn unbind<'a>(
            store: &'a dyn apigw_store::Store,
            instance_id: &'a str,
            id: &'a str,
        ) -> $crate::policy_bindings::StoreCall<'a, ()> {
            store.$unbind(instance_id, id)
        }
    };
}
pub(crate) use store_calls;

/// The policy `id` of kind `K`, or its APIG "does not exist" error.
pub(crate) async fn find<K: PolicyKind>(
    state: &AppState,
    instance_id: &str,
    id: &str,
) -> Result<K::Policy, ApiError> {
    found(K::get(&*state.store, instance_id, id).await, K::POLICY, id)
}

/// `?action=delete`, mandatory on the batch calls.
pub(crate) fn require_delete_action(q: &Query) -> Result<(), ApiError> {
    match q.get("action") {
        Some("delete") => Ok(()),
        _ => Err(ApiError::invalid("action", "must be delete")),
    }
}

/// A list's answer: the page of `items` that the query's `offset` and `limit` ask for, under
/// `key`, with the total and the page's size.
pub(crate) fn page(items: Vec<Value>, q: &Query, key: &str) -> Result<Json<Value>, ApiError> {
    let (total, page) = paginate(items, q)?;
    Ok(Json(json!({"total": total, "size": page.len(), key: page})))
}

/// The bind call (`POST …-bindings` {`K::BIND_FIELD`, publish_ids}), all or nothing: the
/// policy id, the publish ids and the bindings made (or kept), in the order of the ids.
pub(crate) async fn bind<K: PolicyKind>(
    state: &AppState,
    instance_id: &str,
    bytes: &[u8],
) -> Result<(String, Vec<String>, Vec<K::Binding>), ApiError> {
    let mut f = Fields::new(body::object(bytes)?);
    let policy_id = f.string(K::BIND_FIELD);
    let publish_ids = f.ids("publish_ids", MAX_IDS);
    f.errs.len(&policy_id, 1, 64, K::BIND_FIELD);
    f.finish()?;
    let now = time::now_millis();
    let made = K::bind(&*state.store, instance_id, &policy_id, &publish_ids, now).await?;
    Ok((policy_id, publish_ids, made))
}

/// The unbind call (`DELETE …-bindings/{id}`): 204, or APIG's "does not exist".
pub(crate) async fn unbind<K: PolicyKind>(
    state: &AppState,
    instance_id: &str,
    id: &str,
) -> Result<StatusCode, ApiError> {
    deleted(
        K::unbind(&*state.store, instance_id, id).await,
        K::BINDING,
        id,
    )
}

/// The batch unbinding (`PUT …-bindings?action=delete` {`K::BATCH_FIELD`: ids}): each
/// binding on its own, the failures listed with the API it was bound to.
pub(crate) async fn batch_unbind<K: PolicyKind>(
    state: &AppState,
    instance_id: &str,
    uri: &Uri,
    bytes: &[u8],
) -> Result<Json<Value>, ApiError> {
    require_delete_action(&Query::parse(uri.query()))?;
    let mut f = Fields::new(body::object(bytes)?);
    let ids = f.opt_ids(K::BATCH_FIELD, MAX_IDS);
    f.finish()?;
    let bindings = K::bindings(&*state.store, instance_id).await?;
    let apis = state.store.list_apis(instance_id).await?;
    let (mut success, mut failure) = (0, Vec::new());
    for bind_id in &ids {
        match K::unbind(&*state.store, instance_id, bind_id).await {
            Ok(()) => success += 1,
            Err(e) => {
                let (_, code, msg) = ApiError::store(K::BINDING, bind_id)(e).parts();
                let api_id = bindings
                    .iter()
                    .find(|b| b.id() == bind_id)
                    .map(|b| b.api_id())
                    .unwrap_or("");
                let api_name = apis
                    .iter()
                    .find(|a| a.id == api_id)
                    .map(|a| a.name.as_str())
                    .unwrap_or("");
                failure.push(
                    json!({"bind_id": bind_id, "error_code": code, "error_msg": msg,
                           "api_id": api_id, "api_name": api_name}),
                );
            }
        }
    }
    tracing::info!(
        unbound = success,
        failed = failure.len(),
        "{} removed",
        K::LOG_NAME
    );
    Ok(Json(json!({"success_count": success, "failure": failure})))
}

/// The filters of the list of the policies bound to an API (`api_id`, mandatory); `env_name`
/// is not a filter of every kind.
#[derive(Debug)]
pub(crate) struct BoundFilter {
    pub(crate) api_id: String,
    pub(crate) env_id: Option<String>,
    pub(crate) env_name: Option<String>,
    pub(crate) policy_id: Option<String>,
    /// A substring of the policy's name.
    pub(crate) policy_name: Option<String>,
}

/// The list of the policies bound to an API (`ListAclPolicyBindedToApiV2`, …): the API must
/// exist; each binding passing `filter` answered by `item`, under `key`.
pub(crate) async fn bound_to_api<K: PolicyKind>(
    state: &AppState,
    instance_id: &str,
    q: &Query,
    filter: BoundFilter,
    key: &str,
    item: impl Fn(&Listing<K>, &K::Policy, &K::Binding) -> Value,
) -> Result<Json<Value>, ApiError> {
    crate::apis::find(state, instance_id, &filter.api_id).await?;
    let l = Listing::<K>::load(state, instance_id).await?;
    let items: Vec<Value> = l
        .bindings
        .iter()
        .filter(|b| {
            b.api_id() == filter.api_id
                && eq(&filter.env_id, b.env_id())
                && eq(&filter.env_name, l.ctx.env_name(b.env_id()))
                && eq(&filter.policy_id, b.policy_id())
        })
        .filter_map(|b| l.policy(b.policy_id()).map(|p| (p, b)))
        .filter(|(p, _)| contains(&filter.policy_name, K::name(p)))
        .map(|(p, b)| item(&l, p, b))
        .collect();
    page(items, q, key)
}

/// The API filters of the two lists of APIs: `api_id`, `api_name` (substring), `env_id`,
/// `group_id`.
struct ApiFilter {
    api_id: Option<String>,
    api_name: Option<String>,
    env_id: Option<String>,
    group_id: Option<String>,
}

impl ApiFilter {
    fn parse(q: &Query) -> Result<Self, ApiError> {
        Ok(Self {
            api_id: q.text("api_id", 64)?,
            api_name: q.text("api_name", 64)?,
            env_id: q.text("env_id", 64)?,
            group_id: q.text("group_id", 64)?,
        })
    }

    fn accepts(&self, a: &Api, env_id: &str) -> bool {
        eq(&self.api_id, &a.id)
            && contains(&self.api_name, &a.name)
            && eq(&self.env_id, env_id)
            && eq(&self.group_id, &a.group_id)
    }
}

/// The list of the APIs a policy (`K::ID_PARAM`, mandatory) is bound to
/// (`ListApisBindedToAclPolicyV2`, …): each binding passing the API filters answered by
/// `item`, under [`PolicyKind::BOUND_APIS_FIELD`].
pub(crate) async fn apis_bound<K: PolicyKind>(
    state: &AppState,
    instance_id: &str,
    uri: &Uri,
    item: impl Fn(&Listing<K>, &K::Policy, &Api, &K::Binding) -> Value,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let policy_id = q.required(K::ID_PARAM, 64)?;
    let filter = ApiFilter::parse(&q)?;
    let policy = find::<K>(state, instance_id, &policy_id).await?;
    let l = Listing::<K>::load(state, instance_id).await?;
    let items: Vec<Value> = l
        .bindings
        .iter()
        .filter(|b| b.policy_id() == policy_id)
        .filter_map(|b| l.api(b.api_id()).map(|a| (a, b)))
        .filter(|(a, b)| filter.accepts(a, b.env_id()))
        .map(|(a, b)| item(&l, &policy, a, b))
        .collect();
    page(items, &q, K::BOUND_APIS_FIELD)
}

/// The list of the publications a policy (`K::ID_PARAM`, mandatory) is not bound to
/// (`ListApisUnbindedToAclPolicyV2`, …): each passing the API filters answered by `item`,
/// with the binding that holds there the place the policy would take, if any; under `apis`.
pub(crate) async fn apis_not_bound<K: PolicyKind>(
    state: &AppState,
    instance_id: &str,
    uri: &Uri,
    item: impl Fn(&Listing<K>, &Api, &Publication, Option<&K::Binding>) -> Value,
) -> Result<Json<Value>, ApiError> {
    let q = Query::parse(uri.query());
    let policy_id = q.required(K::ID_PARAM, 64)?;
    let filter = ApiFilter::parse(&q)?;
    let policy = find::<K>(state, instance_id, &policy_id).await?;
    let l = Listing::<K>::load(state, instance_id).await?;
    let at = |p: &Publication, pred: &dyn Fn(&K::Binding) -> bool| {
        l.bindings
            .iter()
            .find(|b| b.api_id() == p.api_id && b.env_id() == p.env_id && pred(b))
    };
    let items: Vec<Value> = l
        .ctx
        .publications
        .iter()
        .filter_map(|p| l.api(&p.api_id).map(|a| (a, p)))
        .filter(|(a, p)| filter.accepts(a, &p.env_id))
        .filter(|(_, p)| at(p, &|b| b.policy_id() == policy_id).is_none())
        .map(|(a, p)| item(&l, a, p, at(p, &|b| K::rivals(&policy, b))))
        .collect();
    page(items, &q, "apis")
}

/// What the lists join: the instance's groups, environments and publications, its APIs, and
/// the policies of kind `K` with their bindings.
pub(crate) struct Listing<K: PolicyKind> {
    pub(crate) ctx: Context,
    pub(crate) apis: Vec<Api>,
    pub(crate) policies: Vec<K::Policy>,
    pub(crate) bindings: Vec<K::Binding>,
}

impl<K: PolicyKind> Listing<K> {
    pub(crate) async fn load(state: &AppState, instance_id: &str) -> Result<Self, ApiError> {
        Ok(Self {
            ctx: Context::load(state, instance_id).await?,
            apis: state.store.list_apis(instance_id).await?,
            policies: K::list(&*state.store, instance_id).await?,
            bindings: K::bindings(&*state.store, instance_id).await?,
        })
    }

    /// The policy with that id.
    pub(crate) fn policy(&self, id: &str) -> Option<&K::Policy> {
        self.policies.iter().find(|p| K::id(p) == id)
    }

    /// The API with that id.
    pub(crate) fn api(&self, id: &str) -> Option<&Api> {
        self.apis.iter().find(|a| a.id == id)
    }

    /// How many bindings the policy with that id has (`bind_num`).
    pub(crate) fn bind_num(&self, id: &str) -> usize {
        self.bindings.iter().filter(|b| b.policy_id() == id).count()
    }
}
