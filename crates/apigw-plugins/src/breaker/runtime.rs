//! The running breaker: each call is admitted by the first matching rule's breaker (else the
//! default one), and its outcome, reported back, moves that breaker between closed, open and
//! half-open.

use super::config::{
    BreakerMode, BreakerType, Condition, Config, Downgrade, DowngradeType, HeaderPair,
    CONDITION_VARS,
};
use super::metrics::Transitions;
use crate::chain::{BuildCtx, RequestCtx};
use crate::common::{Parameter, Scope};
use crate::counters::Clock;
use crate::engine::{
    AltBackend, BackendResult, Call, Decision, Flow, Io, Plugin, Refusal, Reply, Step,
};
use crate::headers::{Headers, RequestHead, Touched};
use apigw_model::expr::Expr;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Probe calls let through at once while half-open.
pub const HALF_OPEN_PROBES: u32 = 1;
/// A probe that has not reported after this long (its client went away, say) no longer holds
/// the half-open breaker: the next call probes instead. At least APIG's longest backend
/// timeout (60 s), so a slow probe that is still running is not doubled.
const PROBE_STALE_MS: u64 = 60_000;

/// When a call counts as unhealthy, and when that opens the breaker.
#[derive(Debug)]
struct Spec {
    /// `timeout`: the backend did not answer (timed out or could not be reached).
    on_timeout: bool,
    /// `condition`: this holds over `$context.statusCode` / `$context.backendResponseTime`.
    unhealthy: Option<Expr>,
    mode: Mode,
    window_ms: u64,
    open_ms: u64,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Counter { threshold: u32 },
    Percentage { min_calls: u32, percent: u32 },
}

impl Spec {
    fn new(c: &Condition, params: &[Parameter]) -> Self {
        let known = |p: &str| CONDITION_VARS.contains(&p) || params.iter().any(|q| q.name == p);
        let unhealthy = (c.breaker_type == BreakerType::Condition)
            .then(|| Expr::parse(&c.unhealthy_condition, &known).ok())
            .flatten();
        let mode = match c.breaker_mode {
            BreakerMode::Counter => Mode::Counter {
                threshold: c.unhealthy_threshold.unwrap_or(1).max(1) as u32,
            },
            BreakerMode::Percentage => Mode::Percentage {
                min_calls: c.min_call_threshold.unwrap_or(1).max(1) as u32,
                percent: c.unhealthy_percentage.unwrap_or(100).clamp(1, 100) as u32,
            },
        };
        Self {
            on_timeout: c.breaker_type == BreakerType::Timeout,
            unhealthy,
            mode,
            window_ms: c.time_window.max(1) as u64 * 1000,
            open_ms: c.open_breaker_time.max(1) as u64 * 1000,
        }
    }
}

/// What serves calls while a breaker is open.
#[derive(Debug, Clone)]
pub enum Action {
    /// No downgrade configured: 503.
    Unavailable,
    /// A fixed response.
    Mock {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    /// Another HTTP backend.
    Http(AltBackend),
    /// The API's own backend, with extra request headers.
    Passthrough { headers: Vec<(String, String)> },
}

fn action(d: Option<&Downgrade>) -> Action {
    let Some(d) = d else {
        return Action::Unavailable;
    };
    let pairs = |h: &[HeaderPair]| {
        h.iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect()
    };
    match d.downgrade_type {
        DowngradeType::Mock => {
            let m = d.mock_info.as_ref();
            Action::Mock {
                status: m.map(|m| m.status_code as u16).unwrap_or(200),
                body: m.map(|m| m.result_content.clone()).unwrap_or_default(),
                headers: m.map(|m| pairs(&m.headers)).unwrap_or_default(),
            }
        }
        DowngradeType::Http => match &d.http_info {
            Some(h) => Action::Http(AltBackend {
                https: h.scheme == "HTTPS",
                address: h.address.clone(),
                method: (h.method != "ANY").then(|| h.method.clone()),
                path: h.path.clone(),
                timeout_ms: h.timeout.max(1) as u64,
            }),
            None => Action::Unavailable,
        },
        DowngradeType::Passthrough => Action::Passthrough {
            headers: pairs(&d.passthrough_infos),
        },
        DowngradeType::HttpVpc | DowngradeType::Function => Action::Unavailable,
    }
}

/// The state of one breaker.
#[derive(Debug, Clone)]
enum State {
    /// Counting. Counter mode keeps the times of recent unhealthy calls; percentage mode the
    /// current fixed window's totals.
    Closed {
        unhealthy_at: VecDeque<u64>,
        window: u64,
        calls: u32,
        unhealthy: u32,
    },
    Open {
        until: u64,
    },
    HalfOpen {
        probes: u32,
        /// When the last probe was let through.
        since: u64,
    },
}

impl State {
    fn closed() -> Self {
        State::Closed {
            unhealthy_at: VecDeque::new(),
            window: 0,
            calls: 0,
            unhealthy: 0,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            State::Closed { .. } => "closed",
            State::Open { .. } => "open",
            State::HalfOpen { .. } => "half_open",
        }
    }
}

/// A running breaker plug-in: the default condition, the rules, and one state per scope key
/// (per API under `basic`, one under `share`) and rule.
pub struct Breaker {
    plugin_id: String,
    share: bool,
    default: (Arc<Spec>, Action),
    rules: Vec<(String, Expr, Arc<Spec>, Action)>,
    parameters: Vec<Parameter>,
    states: Mutex<HashMap<String, State>>,
    clock: Clock,
    transitions: Transitions,
}

impl Breaker {
    /// Its breakers' state changes, for `/metrics`.
    pub(super) fn transitions(&self) -> &Transitions {
        &self.transitions
    }
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("plugin_id", &self.plugin_id)
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

/// The admission of one call, to be reported back with [`Breaker::record`].
#[derive(Debug, Clone)]
pub struct Ticket {
    key: String,
    /// The API and rule, for logs and metrics.
    api_id: String,
    rule: String,
    spec: Arc<Spec>,
    probe: bool,
    /// `Some` when the breaker is open for this call: what to do instead of the backend.
    pub open: Option<Action>,
}

/// Percentage mode: when the window a closed breaker counts in has ended, judge it (open when
/// calls >= min and the unhealthy share >= the percentage), else start counting the new one.
fn roll(state: &mut State, spec: &Spec, now: u64) {
    let Mode::Percentage { min_calls, percent } = spec.mode else {
        return;
    };
    let w = now / spec.window_ms;
    if let State::Closed {
        window,
        calls,
        unhealthy,
        ..
    } = state
    {
        if w != *window {
            // The window is judged when it has ended; the breaker is open from its end for
            // the open time — already over when the next call comes much later.
            let until = (*window + 1) * spec.window_ms + spec.open_ms;
            if *calls >= min_calls && *unhealthy * 100 >= percent * *calls && now < until {
                *state = State::Open { until };
            } else {
                *window = w;
                *calls = 0;
                *unhealthy = 0;
            }
        }
    }
}

impl Breaker {
    /// Builds the plug-in from validated content.
    pub fn new(c: &Config, plugin_id: &str, clock: Clock) -> Self {
        let params = &c.downgrade_parameters;
        let default_spec = Arc::new(Spec::new(&c.breaker_condition, params));
        let default_action = action(c.downgrade_default.as_ref());
        let known = |p: &str| {
            params.iter().any(|q| q.name == p) || crate::common::CONTEXT_VARS.contains(&p)
        };
        let rules = c
            .downgrade_rules
            .iter()
            .filter_map(|r| {
                let expr = Expr::parse(&r.match_regex, &known).ok()?;
                let spec = r
                    .breaker_condition
                    .as_ref()
                    .map(|c| Arc::new(Spec::new(c, params)))
                    .unwrap_or(default_spec.clone());
                let act = match &r.downgrade_backend {
                    Some(d) => action(Some(d)),
                    None => default_action.clone(),
                };
                Some((r.rule_name.clone(), expr, spec, act))
            })
            .collect();
        Self {
            plugin_id: plugin_id.to_string(),
            share: c.scope == Scope::Share,
            default: (default_spec, default_action),
            rules,
            parameters: params.clone(),
            states: Mutex::new(HashMap::new()),
            clock,
            transitions: Transitions::default(),
        }
    }

    fn param(&self, name: &str, req: &RequestHead, ctx: &RequestCtx) -> Option<String> {
        crate::common::param_value(&self.parameters, name, req, ctx)
    }

    /// Admits a call: which breaker it belongs to (the first matching rule's, else the
    /// default), and whether that breaker lets it through.
    pub fn admit(&self, req: &RequestHead, ctx: &RequestCtx) -> Ticket {
        let rule = self
            .rules
            .iter()
            .find(|(_, expr, _, _)| expr.eval(&mut |p| self.param(p, req, ctx)));
        let (rule_name, spec, act) = match rule {
            Some((name, _, spec, act)) => (name.as_str(), spec.clone(), act),
            None => ("", self.default.0.clone(), &self.default.1),
        };
        let api = if self.share { "*" } else { &*ctx.api_id };
        let key = format!("{api}/{rule_name}");
        let now = (self.clock)();
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        let state = states.entry(key.clone()).or_insert_with(State::closed);
        let before = state.name();
        roll(state, &spec, now);
        if before != state.name() {
            self.transitions
                .note(api, rule_name, &self.plugin_id, before, state.name());
        }
        let mut probe = false;
        let open = match state {
            State::Closed { .. } => false,
            State::Open { until } if now >= *until => {
                *state = State::HalfOpen {
                    probes: 1,
                    since: now,
                };
                self.transitions
                    .note(api, rule_name, &self.plugin_id, "open", "half_open");
                probe = true;
                false
            }
            State::Open { .. } => true,
            State::HalfOpen { probes, since }
                if *probes < HALF_OPEN_PROBES
                    || now >= *since + PROBE_STALE_MS.max(spec.open_ms) =>
            {
                *probes = (*probes + 1).min(HALF_OPEN_PROBES);
                *since = now;
                probe = true;
                false
            }
            State::HalfOpen { .. } => true,
        };
        Ticket {
            key,
            api_id: api.to_string(),
            rule: rule_name.to_string(),
            spec,
            probe,
            open: open.then(|| act.clone()),
        }
    }

    /// Whether a finished backend call was unhealthy: `timed_out` when the backend did not
    /// answer (timeout or unreachable); else the status and latency decide.
    pub fn unhealthy(ticket: &Ticket, timed_out: bool, status: u16, latency_ms: u64) -> bool {
        if ticket.spec.on_timeout {
            return timed_out;
        }
        match &ticket.spec.unhealthy {
            None => timed_out,
            Some(expr) => {
                timed_out
                    || expr.eval(&mut |p| match p {
                        "$context.statusCode" => Some(status.to_string()),
                        "$context.backendResponseTime" => Some(latency_ms.to_string()),
                        _ => None,
                    })
            }
        }
    }

    /// Reports how an admitted call went.
    pub fn record(&self, ticket: &Ticket, unhealthy: bool) {
        if ticket.open.is_some() {
            return;
        }
        let now = (self.clock)();
        let spec = &ticket.spec;
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        let state = states
            .entry(ticket.key.clone())
            .or_insert_with(State::closed);
        let from = state.name();
        match state {
            State::HalfOpen { .. } if ticket.probe => {
                *state = if unhealthy {
                    State::Open {
                        until: now + spec.open_ms,
                    }
                } else {
                    State::closed()
                };
            }
            State::Closed { unhealthy_at, .. } => match spec.mode {
                Mode::Counter { threshold } => {
                    if unhealthy {
                        unhealthy_at.push_back(now);
                        while unhealthy_at
                            .front()
                            .is_some_and(|t| now.saturating_sub(*t) >= spec.window_ms)
                        {
                            unhealthy_at.pop_front();
                        }
                        if unhealthy_at.len() as u32 >= threshold {
                            *state = State::Open {
                                until: now + spec.open_ms,
                            };
                        }
                    }
                }
                Mode::Percentage { .. } => {
                    roll(state, spec, now);
                    if let State::Closed {
                        calls,
                        unhealthy: bad,
                        ..
                    } = state
                    {
                        *calls += 1;
                        *bad += u32::from(unhealthy);
                    }
                }
            },
            _ => {}
        }
        let to = state.name();
        if from != to {
            self.transitions
                .note(&ticket.api_id, &ticket.rule, &self.plugin_id, from, to);
        }
    }
}

impl Plugin for Breaker {
    const TYPE: apigw_model::PluginType = apigw_model::PluginType::Breaker;
    type Config = super::Config;
    /// The ticket of a call it let through, to report the backend's answer on.
    type State = Option<Ticket>;
    const STEP: Option<Step> = Some(Step::Admitted);

    fn build(c: &super::Config, plugin_id: &str, _: &str, ctx: &BuildCtx) -> Result<Self, String> {
        Ok(Self::new(c, plugin_id, ctx.clock.clone()))
    }

    fn render_metrics(instances: &[(&str, &Self)], out: &mut String) {
        super::metrics::render_metrics(instances, out)
    }

    /// It counts the backend's results, not its headers.
    fn touches_response_headers(&self) -> Touched {
        Touched::none()
    }

    /// While open, the downgrade answers instead of the backend.
    async fn request<I: Io>(&self, admitted: &mut Option<Ticket>, call: &mut Call<'_, I>) -> Flow {
        let mut ticket = self.admit(call.head, call.ctx);
        match ticket.open.take() {
            None => {
                *admitted = Some(ticket);
                Flow::Continue
            }
            Some(Action::Unavailable) => Flow::Refuse(Refusal::BreakerOpen),
            Some(Action::Mock {
                status,
                body,
                headers,
            }) => Flow::Respond(Reply {
                status: http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK),
                headers: {
                    let mut h = Headers::new();
                    for (k, v) in valid(&headers) {
                        h.append(k, v);
                    }
                    h
                },
                body: body.into(),
                decision: Decision::Downgraded,
            }),
            Some(Action::Http(backend)) => Flow::Backend(backend),
            Some(Action::Passthrough { headers }) => {
                for (k, v) in valid(&headers) {
                    call.head.headers.insert(k, v);
                }
                Flow::Continue
            }
        }
    }

    fn backend_result(&self, admitted: &mut Option<Ticket>, r: &BackendResult<'_>) {
        if let Some(t) = admitted.take() {
            let unhealthy = Self::unhealthy(&t, r.backend_failed, r.status, r.latency_ms);
            self.record(&t, unhealthy);
        }
    }
}

/// The pairs that make valid headers.
fn valid(
    pairs: &[(String, String)],
) -> impl Iterator<Item = (http::HeaderName, http::HeaderValue)> + '_ {
    pairs.iter().filter_map(|(k, v)| {
        Some((
            http::HeaderName::from_bytes(k.as_bytes()).ok()?,
            http::HeaderValue::from_str(v).ok()?,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;
    use std::net::Ipv4Addr;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Fixture {
        b: Breaker,
        now: Arc<AtomicU64>,
    }

    fn fixture(content: serde_json::Value) -> Fixture {
        let c: Config = serde_json::from_value(content).unwrap();
        assert!(
            crate::registry::ContentModel::validate(&c).is_empty(),
            "{:?}",
            crate::registry::ContentModel::validate(&c)
        );
        let now = Arc::new(AtomicU64::new(1_000_000));
        let n = now.clone();
        Fixture {
            b: Breaker::new(&c, "p1", Arc::new(move || n.load(Ordering::SeqCst))),
            now,
        }
    }

    fn ctx(api: &str) -> RequestCtx {
        let mut c = RequestCtx::new(
            "r".into(),
            Method::GET,
            "/".into(),
            Ipv4Addr::LOCALHOST.into(),
        );
        c.api_id = api.into();
        c
    }

    fn req(path: &str) -> RequestHead {
        http::Request::builder()
            .uri(path)
            .body(())
            .unwrap()
            .into_parts()
            .0
            .into()
    }

    impl Fixture {
        /// One call to `api` at `path`: whether it was let through, then reported with the outcome.
        fn call(&self, api: &str, path: &str, timed_out: bool, status: u16, latency: u64) -> bool {
            let t = self.b.admit(&req(path), &ctx(api));
            if t.open.is_some() {
                return false;
            }
            self.b
                .record(&t, Breaker::unhealthy(&t, timed_out, status, latency));
            true
        }
        fn secs(&self, s: u64) {
            self.now.fetch_add(s * 1000, Ordering::SeqCst);
        }
    }

    fn timeout_counter(threshold: i64) -> serde_json::Value {
        serde_json::json!({"breaker_condition": {"breaker_type": "timeout", "breaker_mode": "counter",
            "unhealthy_threshold": threshold, "time_window": 10, "open_breaker_time": 5}})
    }

    #[test]
    fn n_minus_one_timeouts_keep_it_closed_and_n_open_it() {
        let f = fixture(timeout_counter(3));
        assert!(f.call("a", "/", true, 504, 0) && f.call("a", "/", true, 504, 0));
        assert!(
            f.call("a", "/", false, 200, 5),
            "two unhealthy calls: still closed"
        );
        assert!(
            f.call("a", "/", true, 504, 0),
            "the third timeout is let through..."
        );
        assert!(!f.call("a", "/", false, 200, 5), "...and opens the breaker");
    }

    #[test]
    fn unhealthy_calls_outside_the_window_do_not_count() {
        let f = fixture(timeout_counter(2));
        assert!(f.call("a", "/", true, 504, 0));
        f.secs(10);
        assert!(f.call("a", "/", true, 504, 0));
        assert!(
            f.call("a", "/", false, 200, 1),
            "the first timeout fell out of the window"
        );
    }

    #[test]
    fn open_lasts_open_breaker_time_then_one_probe_decides() {
        let f = fixture(timeout_counter(1));
        f.call("a", "/", true, 504, 0);
        assert!(!f.call("a", "/", false, 200, 1));
        f.secs(4);
        assert!(
            !f.call("a", "/", false, 200, 1),
            "still open after 4 of 5 seconds"
        );
        f.secs(1);
        // Half-open: one probe; a concurrent call beyond the budget is treated as open.
        let probe = f.b.admit(&req("/"), &ctx("a"));
        assert!(probe.open.is_none() && probe.probe);
        assert!(
            f.b.admit(&req("/"), &ctx("a")).open.is_some(),
            "beyond the probe budget"
        );
        f.b.record(&probe, true);
        assert!(
            !f.call("a", "/", false, 200, 1),
            "a failed probe opens it again"
        );
        f.secs(5);
        assert!(f.call("a", "/", false, 200, 1), "a good probe...");
        assert!(f.call("a", "/", false, 200, 1), "...closes it");
    }

    #[test]
    fn condition_mode_judges_status_and_latency() {
        let f = fixture(
            serde_json::json!({"breaker_condition": {"breaker_type": "condition", "breaker_mode": "counter",
            "unhealthy_condition": "[\"OR\",[\"$context.statusCode\",\"in\",\"500,503\"],[\"$context.backendResponseTime\",\">\",1000]]",
            "unhealthy_threshold": 2, "time_window": 10, "open_breaker_time": 5}}),
        );
        assert!(f.call("a", "/", false, 404, 10), "404 is healthy");
        assert!(f.call("a", "/", false, 503, 10));
        assert!(
            f.call("a", "/", false, 200, 1500),
            "slow: unhealthy, the second one"
        );
        assert!(!f.call("a", "/", false, 200, 1));
    }

    #[test]
    fn percentage_mode_judges_each_window_at_its_end() {
        let f = fixture(
            serde_json::json!({"breaker_condition": {"breaker_type": "timeout", "breaker_mode": "percentage",
            "min_call_threshold": 4, "unhealthy_percentage": 50, "time_window": 10, "open_breaker_time": 5}}),
        );
        let w = f.now.load(Ordering::SeqCst);
        f.now.store(w - w % 10_000, Ordering::SeqCst);
        // 3 calls, all failing: below min_call_threshold, stays closed at the window's end.
        for _ in 0..3 {
            assert!(f.call("a", "/", true, 504, 0));
        }
        f.secs(10);
        assert!(
            f.call("a", "/", false, 200, 1),
            "3 calls < 4: not judged unhealthy"
        );
        // This window: the call above, 1 more ok and 2 failing: 2 of 4 = 50 %.
        assert!(f.call("a", "/", false, 200, 1));
        assert!(f.call("a", "/", true, 504, 0));
        assert!(f.call("a", "/", true, 504, 0));
        f.secs(5);
        assert!(
            f.call("a", "/", false, 200, 1),
            "percentage mode waits for the window's end (now 2 of 5)"
        );
        f.secs(5);
        assert!(
            f.call("a", "/", false, 200, 1),
            "2 of 5 = 40 % < 50 %: stays closed"
        );
        // Next window: this call and 3 failing = 3 of 4 = 75 %.
        for _ in 0..3 {
            assert!(f.call("a", "/", true, 504, 0));
        }
        f.secs(10);
        assert!(
            !f.call("a", "/", false, 200, 1),
            "75 % >= 50 % with 4 calls: open at the window's end"
        );
    }

    #[test]
    fn percentage_mode_does_not_open_for_a_window_long_past() {
        let f = fixture(
            serde_json::json!({"breaker_condition": {"breaker_type": "timeout", "breaker_mode": "percentage",
            "min_call_threshold": 4, "unhealthy_percentage": 50, "time_window": 10, "open_breaker_time": 5}}),
        );
        for _ in 0..4 {
            assert!(f.call("a", "/", true, 504, 0));
        }
        // An hour without calls: the failing window ended long ago, and so did its open time.
        f.secs(3600);
        assert!(
            f.call("a", "/", false, 200, 1),
            "open time counts from the window's end, not from the next call"
        );
    }

    #[test]
    fn a_probe_that_never_reports_stops_holding_the_half_open_breaker() {
        let f = fixture(timeout_counter(1));
        f.call("a", "/", true, 504, 0);
        f.secs(5);
        // The probe's client goes away: it never reports.
        let lost = f.b.admit(&req("/"), &ctx("a"));
        assert!(lost.open.is_none() && lost.probe);
        assert!(f.b.admit(&req("/"), &ctx("a")).open.is_some());
        f.secs(59);
        assert!(
            f.b.admit(&req("/"), &ctx("a")).open.is_some(),
            "a probe may take the longest backend timeout"
        );
        f.secs(1);
        let next = f.b.admit(&req("/"), &ctx("a"));
        assert!(next.open.is_none() && next.probe, "a new probe after 60 s");
        f.b.record(&next, false);
        assert!(f.call("a", "/", false, 200, 1), "the good probe closed it");
    }

    #[test]
    fn basic_keeps_apis_apart_and_share_does_not() {
        let basic = fixture(timeout_counter(1));
        basic.call("sick", "/", true, 504, 0);
        assert!(!basic.call("sick", "/", false, 200, 1));
        assert!(
            basic.call("healthy", "/", false, 200, 1),
            "another API bound to the same plug-in is unaffected"
        );
        let mut shared = timeout_counter(1);
        shared["scope"] = serde_json::json!("share");
        let share = fixture(shared);
        share.call("sick", "/", true, 504, 0);
        assert!(
            !share.call("healthy", "/", false, 200, 1),
            "share: one state for all APIs"
        );
    }

    #[test]
    fn rules_have_their_own_condition_state_and_downgrade() {
        let f = fixture(serde_json::json!({
            "breaker_condition": {"breaker_type": "timeout", "breaker_mode": "counter", "unhealthy_threshold": 5, "time_window": 10, "open_breaker_time": 5},
            "downgrade_default": {"type": "mock", "mock_info": {"status_code": 200, "result_content": "default"}},
            "downgrade_parameters": [{"name": "reqPath", "type": "path", "value": "path"}],
            "downgrade_rules": [{"rule_name": "admin", "parameters": ["reqPath"], "match_regex": "[\"reqPath\",\"~~\",\"^/admin\"]",
                "breaker_condition": {"breaker_type": "timeout", "breaker_mode": "counter", "unhealthy_threshold": 1, "time_window": 10, "open_breaker_time": 5},
                "downgrade_backend": {"type": "mock", "mock_info": {"status_code": 503, "result_content": "admin down"}}}]}));
        f.call("a", "/admin/x", true, 504, 0);
        let t = f.b.admit(&req("/admin/y"), &ctx("a"));
        assert!(
            matches!(t.open, Some(Action::Mock { status: 503, ref body, .. }) if body == "admin down")
        );
        assert!(
            f.call("a", "/shop", false, 200, 1),
            "the default breaker has its own state"
        );
    }
}
