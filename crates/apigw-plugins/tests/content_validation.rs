//! `plugin_content` validation through the registry: the seeds pass, bad content is refused
//! with the offending field named.

use apigw_model::PluginType;
use apigw_plugins::naming::Naming;
use apigw_plugins::registry::{canonical_content, decode, masked_content, shown_content, MASK};
use serde_json::{json, Value};

fn seeds() -> Vec<Value> {
    let text = include_str!("../../../tests/fixtures/seed-example-requests.json");
    serde_json::from_str(text).unwrap()
}

fn ok(t: PluginType, content: Value) -> Value {
    let s = canonical_content(t, &content.to_string(), None)
        .unwrap_or_else(|e| panic!("{t} {content}: {e:?}"));
    serde_json::from_str(&s).unwrap()
}

/// The fields named by the errors for this content.
fn bad(t: PluginType, content: Value) -> Vec<String> {
    canonical_content(t, &content.to_string(), None)
        .expect_err(&format!("{t} should refuse {content}"))
        .into_iter()
        .map(|e| e.field)
        .collect()
}

#[test]
fn all_twelve_seed_contents_validate() {
    let seeds = seeds();
    assert_eq!(seeds.len(), 12);
    for seed in seeds {
        let body = &seed["body"];
        let t: PluginType = body["plugin_type"].as_str().unwrap().parse().unwrap();
        let content = body["plugin_content"].as_str().unwrap();
        let canonical =
            canonical_content(t, content, None).unwrap_or_else(|e| panic!("{t}: {e:?}"));
        // Canonical content is a fixed point.
        assert_eq!(
            canonical_content(t, &canonical, None).unwrap(),
            canonical,
            "{t}"
        );
    }
}

#[test]
fn what_either_family_shows_is_stored_back_unchanged() {
    for seed in seeds() {
        let body = &seed["body"];
        let t: PluginType = body["plugin_type"].as_str().unwrap().parse().unwrap();
        let stored = canonical_content(t, body["plugin_content"].as_str().unwrap(), None).unwrap();
        for naming in [Naming::Apig, Naming::Roma] {
            let shown = shown_content(t, &stored, naming);
            assert_eq!(
                canonical_content(t, &shown, Some(&stored)).unwrap(),
                stored,
                "{t} {naming:?}"
            );
        }
    }
}

#[test]
fn roma_names_are_shown_only_to_roma() {
    let seed = seeds()
        .into_iter()
        .find(|s| s["body"]["plugin_type"] == "third_auth")
        .unwrap();
    let t = PluginType::ThirdAuth;
    let stored =
        canonical_content(t, seed["body"]["plugin_content"].as_str().unwrap(), None).unwrap();
    let apig: Value = serde_json::from_str(&shown_content(t, &stored, Naming::Apig)).unwrap();
    let roma: Value = serde_json::from_str(&shown_content(t, &stored, Naming::Roma)).unwrap();
    for (apig_name, roma_name) in [
        ("carry_path_enabled", "carry_path"),
        ("return_resp_body_enabled", "return_resp_body"),
        ("simple_auth_mode_enabled", "simple_auth_mode"),
        ("rule_enabled", "rule_switch"),
    ] {
        assert_eq!(roma[roma_name], apig[apig_name], "{roma_name}");
        assert!(roma.get(apig_name).is_none() && apig.get(roma_name).is_none());
    }
    assert_eq!(roma["carry_body"]["switch"], apig["carry_body"]["enabled"]);
    assert_eq!(
        roma["auth_request"]["vpc_channel_enable"],
        apig["auth_request"]["vpc_channel_enabled"]
    );
    assert_eq!(roma["identities"]["queries"], apig["identities"]["queries"]);
    assert!(roma["identities"].get("query").is_none());
}

#[test]
fn seed_values_survive_canonicalisation() {
    for seed in seeds() {
        let body = &seed["body"];
        let t: PluginType = body["plugin_type"].as_str().unwrap().parse().unwrap();
        let given = Value::Object(decode(body["plugin_content"].as_str().unwrap()).unwrap());
        let stored: Value = serde_json::from_str(
            &canonical_content(t, body["plugin_content"].as_str().unwrap(), None).unwrap(),
        )
        .unwrap();
        if t == PluginType::ThirdAuth {
            // ROMA aliases are renamed; check the renamed ones.
            assert_eq!(stored["carry_body"]["max_body_size"], 10000);
            assert_eq!(stored["carry_body"]["enabled"], true);
            assert_eq!(stored["return_resp_body_enabled"], true);
            assert_eq!(stored["rule_enabled"], true);
            assert_eq!(stored["identities"]["queries"][0]["name"], "user");
            assert_eq!(
                stored["rules"][0]["match_regex"],
                given["rules"][0]["match_regex"]
            );
            continue;
        }
        assert_subset(&given, &stored, t.as_str());
    }
}

/// Every non-null value of `given` is in `stored` at the same place.
fn assert_subset(given: &Value, stored: &Value, at: &str) {
    match given {
        Value::Object(m) => {
            for (k, v) in m {
                if !v.is_null() {
                    assert_subset(v, &stored[k], &format!("{at}.{k}"));
                }
            }
        }
        Value::Array(items) => {
            assert_eq!(Some(items.len()), stored.as_array().map(Vec::len), "{at}");
            for (i, v) in items.iter().enumerate() {
                assert_subset(v, &stored[i], &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(given, stored, "{at}"),
    }
}

#[test]
fn content_that_is_not_a_json_object_is_refused() {
    for c in ["", "not json", "[1,2]", "\"x\"", "42", "{\"a\":"] {
        let e = canonical_content(PluginType::Cors, c, None).unwrap_err();
        assert_eq!(e[0].field, "plugin_content", "{c}");
    }
}

#[test]
fn content_over_65535_characters_is_refused() {
    let long = format!("{{\"allow_origin\":\"{}\"}}", "a".repeat(65535));
    let e = canonical_content(PluginType::Cors, &long, None).unwrap_err();
    assert!(e[0].reason.contains("65535"));
}

#[test]
fn unknown_fields_and_wrong_types_name_the_field() {
    assert_eq!(
        bad(PluginType::Cors, json!({"allow_origin": "*", "bogus": 1})),
        ["plugin_content.bogus"]
    );
    assert_eq!(
        bad(
            PluginType::Cors,
            json!({"allow_origin": "*", "max_age": "1"})
        ),
        ["plugin_content.max_age"]
    );
    assert_eq!(
        bad(PluginType::Cors, json!({"max_age": 1})),
        ["plugin_content"]
    );
    assert_eq!(
        bad(
            PluginType::SetRespHeaders,
            json!({"response_headers": [{"name": "a", "action": "add", "value": 5}]})
        ),
        ["plugin_content.response_headers[0].value"]
    );
}

#[test]
fn cors_ranges_and_lists() {
    assert_eq!(
        bad(
            PluginType::Cors,
            json!({"allow_origin": "*", "max_age": -1})
        ),
        ["plugin_content.max_age"]
    );
    assert_eq!(
        bad(PluginType::Cors, json!({"allow_origin": ""})),
        ["plugin_content.allow_origin"]
    );
    assert_eq!(
        bad(PluginType::Cors, json!({"allow_origin": "   "})),
        ["plugin_content.allow_origin"],
        "blank is no origin"
    );
    assert_eq!(
        bad(
            PluginType::Cors,
            json!({"allow_origin": "*", "allow_methods": "GET,FETCH"})
        ),
        ["plugin_content.allow_methods"]
    );
    assert_eq!(
        bad(
            PluginType::Cors,
            json!({"allow_origin": "*", "allow_headers": "a b"})
        ),
        ["plugin_content.allow_headers"]
    );
    let c = ok(
        PluginType::Cors,
        json!({"allow_origin": "https://a.com,https://b.com"}),
    );
    assert_eq!(
        c,
        json!({"allow_origin": "https://a.com,https://b.com", "allow_methods": "", "allow_headers": "", "expose_headers": "", "max_age": 86400, "allow_credentials": false})
    );
}

#[test]
fn set_resp_headers_limits() {
    let h = |n: usize| {
        (0..n)
            .map(|i| json!({"name": format!("x-h{i}"), "value": "v", "action": "add"}))
            .collect::<Vec<_>>()
    };
    ok(
        PluginType::SetRespHeaders,
        json!({"response_headers": h(10)}),
    );
    assert_eq!(
        bad(
            PluginType::SetRespHeaders,
            json!({"response_headers": h(11)})
        ),
        ["plugin_content.response_headers"]
    );
    let one = |v: Value| json!({"response_headers": [v]});
    let field = |f: &str| vec![format!("plugin_content.response_headers[0].{f}")];
    // A value the response could not carry is refused, unless the rule deletes (its value
    // takes no effect).
    for v in ["a\u{1}b", "a\u{7f}b", "a\rb"] {
        assert_eq!(
            bad(
                PluginType::SetRespHeaders,
                one(json!({"name": "x-a", "value": v, "action": "override"}))
            ),
            field("value"),
            "{v:?}"
        );
    }
    ok(
        PluginType::SetRespHeaders,
        one(json!({"name": "server", "value": "\u{1}", "action": "delete"})),
    );
    assert_eq!(
        bad(
            PluginType::SetRespHeaders,
            one(json!({"name": "", "action": "add"}))
        ),
        field("name")
    );
    assert_eq!(
        bad(
            PluginType::SetRespHeaders,
            one(json!({"name": "a".repeat(33), "action": "add"}))
        ),
        field("name")
    );
    ok(
        PluginType::SetRespHeaders,
        one(json!({"name": "a".repeat(32), "action": "add"})),
    );
    assert_eq!(
        bad(
            PluginType::SetRespHeaders,
            one(json!({"name": "x-a", "action": "replace"}))
        ),
        field("action")
    );
    assert_eq!(
        bad(
            PluginType::SetRespHeaders,
            one(json!({"name": "X-Apig-Latency", "action": "add"}))
        ),
        field("name")
    );
    assert_eq!(
        bad(
            PluginType::SetRespHeaders,
            one(json!({"name": "x-request-id", "action": "add"}))
        ),
        field("name")
    );
    assert_eq!(
        bad(
            PluginType::SetRespHeaders,
            one(json!({"name": "Access-Control-Allow-Origin", "action": "add"}))
        ),
        field("name")
    );
    assert_eq!(
        bad(
            PluginType::SetRespHeaders,
            one(json!({"name": "x-a", "value": "a\r\nb", "action": "add"}))
        ),
        field("value")
    );
    assert_eq!(
        bad(
            PluginType::SetRespHeaders,
            one(
                json!({"name": "x-a", "value": "$context.requestId", "value_type": "system_parameter", "action": "override"})
            )
        ),
        field("action")
    );
    assert_eq!(
        bad(
            PluginType::SetRespHeaders,
            one(
                json!({"name": "x-a", "value": "$context.nope", "value_type": "system_parameter", "action": "add"})
            )
        ),
        field("value")
    );
    let dup = json!({"response_headers": [{"name": "X-A", "action": "add"}, {"name": "x-a", "action": "add"}]});
    assert_eq!(
        bad(PluginType::SetRespHeaders, dup),
        ["plugin_content.response_headers[1].name"]
    );
    let c = ok(
        PluginType::SetRespHeaders,
        one(json!({"name": "x-a", "action": "OverRide"})),
    );
    assert_eq!(
        c["response_headers"][0]["action"], "override",
        "actions are case-insensitive, stored lowercase"
    );
}

#[test]
fn rate_limit_limits() {
    let base = |extra: Value| {
        let mut v = json!({"api_limit": 100});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    ok(
        PluginType::RateLimit,
        base(json!({"api_limit": -1, "app_limit": 5})),
    );
    assert_eq!(bad(PluginType::RateLimit, json!({})), ["plugin_content"]);
    assert_eq!(
        bad(PluginType::RateLimit, base(json!({"api_limit": 0}))),
        ["plugin_content.api_limit"]
    );
    assert_eq!(
        bad(PluginType::RateLimit, base(json!({"api_limit": -2}))),
        ["plugin_content.api_limit"]
    );
    assert_eq!(
        bad(PluginType::RateLimit, base(json!({"app_limit": 101}))),
        ["plugin_content.app_limit"]
    );
    assert_eq!(
        bad(PluginType::RateLimit, base(json!({"ip_limit": -1}))),
        ["plugin_content.ip_limit"]
    );
    assert_eq!(
        bad(PluginType::RateLimit, base(json!({"default_interval": 0}))),
        ["plugin_content.default_interval"]
    );
    assert_eq!(
        bad(
            PluginType::RateLimit,
            base(json!({"default_time_unit": "week"}))
        ),
        ["plugin_content.default_time_unit"]
    );
    assert_eq!(
        bad(PluginType::RateLimit, base(json!({"algorithm": "leaky"}))),
        ["plugin_content.algorithm"]
    );
    let special =
        json!({"specials": [{"type": "app", "policies": [{"key": "app1", "limit": 200}]}]});
    assert_eq!(
        bad(PluginType::RateLimit, base(special)),
        ["plugin_content.specials[0].policies[0].limit"]
    );
    let params = json!([{"name": "host", "type": "header", "value": "Host"}]);
    let rule = |expr: &str| {
        base(json!({"parameters": params, "rules": [{"match_regex": expr, "limit": 5}]}))
    };
    ok(PluginType::RateLimit, rule(r#"["host","==","a.com"]"#));
    assert_eq!(
        bad(PluginType::RateLimit, rule(r#"["nohost","==","a.com"]"#)),
        ["plugin_content.rules[0].match_regex"]
    );
    assert_eq!(
        bad(PluginType::RateLimit, rule(r#"["host","~~","("]"#)),
        ["plugin_content.rules[0].match_regex"]
    );
    let rules: Vec<_> = (0..101)
        .map(|_| json!({"match_regex": r#"["host","==","a"]"#, "limit": 1}))
        .collect();
    assert_eq!(
        bad(
            PluginType::RateLimit,
            base(json!({"parameters": params, "rules": rules}))
        ),
        ["plugin_content.rules"]
    );
}

#[test]
fn breaker_conditions_and_downgrades() {
    let cond = |c: Value| json!({"breaker_condition": c});
    let counter = json!({"breaker_type": "condition", "breaker_mode": "counter",
        "unhealthy_condition": r#"["OR",["$context.statusCode","in","500,502"],["$context.backendResponseTime",">",6000]]"#,
        "unhealthy_threshold": 3, "time_window": 10, "open_breaker_time": 5});
    ok(PluginType::Breaker, cond(counter.clone()));
    let mut no_cond = counter.clone();
    no_cond["unhealthy_condition"] = json!("");
    assert_eq!(
        bad(PluginType::Breaker, cond(no_cond)),
        ["plugin_content.breaker_condition.unhealthy_condition"]
    );
    let mut pct = counter.clone();
    pct["breaker_mode"] = json!("percentage");
    assert_eq!(
        bad(PluginType::Breaker, cond(pct.clone())),
        [
            "plugin_content.breaker_condition.min_call_threshold",
            "plugin_content.breaker_condition.unhealthy_percentage"
        ]
    );
    pct["min_call_threshold"] = json!(10);
    pct["unhealthy_percentage"] = json!(101);
    assert_eq!(
        bad(PluginType::Breaker, cond(pct)),
        ["plugin_content.breaker_condition.unhealthy_percentage"]
    );
    let with_default = |d: Value| json!({"breaker_condition": counter, "downgrade_default": d});
    ok(
        PluginType::Breaker,
        with_default(
            json!({"type": "mock", "mock_info": {"status_code": 200, "result_content": "{\"status\":\"ok\"}"}}),
        ),
    );
    ok(
        PluginType::Breaker,
        with_default(
            json!({"type": "http", "http_info": {"address": "127.0.0.1:8080", "scheme": "HTTP", "method": "GET", "path": "/", "timeout": 5000}}),
        ),
    );
    assert_eq!(
        bad(PluginType::Breaker, with_default(json!({"type": "mock"}))),
        ["plugin_content.downgrade_default.mock_info"]
    );
    assert_eq!(
        bad(
            PluginType::Breaker,
            with_default(json!({"type": "function"}))
        ),
        ["plugin_content.downgrade_default.type"]
    );
    let rules = json!({"breaker_condition": counter,
        "downgrade_parameters": [{"name": "reqPath", "type": "path", "value": "path"}],
        "downgrade_rules": [{"rule_name": "r1", "parameters": ["reqPath"], "match_regex": r#"["reqPath","==","/a"]"#,
            "downgrade_backend": {"type": "mock", "mock_info": {"status_code": 503}}}]});
    ok(PluginType::Breaker, rules.clone());
    let mut bad_rule = rules;
    bad_rule["downgrade_rules"][0]["parameters"] = json!(["nope"]);
    assert_eq!(
        bad(PluginType::Breaker, bad_rule),
        ["plugin_content.downgrade_rules[0].parameters[0]"]
    );
}

fn third_auth() -> Value {
    json!({"auth_request": {"method": "GET", "protocol": "HTTP", "url_domain": "127.0.0.1:9000", "path": "/auth"},
           "simple_auth_mode_enabled": true})
}

#[test]
fn third_auth_rules() {
    ok(PluginType::ThirdAuth, third_auth());
    let with = |k: &str, v: Value| {
        let mut c = third_auth();
        c[k] = v;
        c
    };
    let with_req = |k: &str, v: Value| {
        let mut c = third_auth();
        c["auth_request"][k] = v;
        c
    };
    assert_eq!(
        bad(PluginType::ThirdAuth, with_req("method", json!("DELETE"))),
        ["plugin_content.auth_request.method"]
    );
    assert_eq!(
        bad(PluginType::ThirdAuth, with_req("timeout", json!(0))),
        ["plugin_content.auth_request.timeout"]
    );
    assert_eq!(
        bad(PluginType::ThirdAuth, with_req("timeout", json!(60001))),
        ["plugin_content.auth_request.timeout"]
    );
    assert_eq!(
        bad(PluginType::ThirdAuth, with_req("path", json!("auth"))),
        ["plugin_content.auth_request.path"]
    );
    assert_eq!(
        bad(
            PluginType::ThirdAuth,
            with_req("vpc_channel_enabled", json!(true))
        ),
        ["plugin_content.auth_request.vpc_channel_enabled"]
    );
    assert_eq!(
        bad(
            PluginType::ThirdAuth,
            with("simple_auth_mode_enabled", json!(false))
        ),
        ["plugin_content.match_auth"]
    );
    assert_eq!(
        bad(PluginType::ThirdAuth, with("rule_enabled", json!(true))),
        ["plugin_content.rule_type"]
    );
    assert_eq!(
        bad(
            PluginType::ThirdAuth,
            with("carry_body", json!({"enabled": true}))
        ),
        ["plugin_content.carry_body.max_body_size"]
    );
    let c = ok(PluginType::ThirdAuth, with("carry_path", json!(true)));
    assert_eq!(
        c["carry_path_enabled"], true,
        "ROMA aliases are stored under the APIG name"
    );
    let both = with("carry_path", json!(true));
    let mut both = both;
    both["carry_path_enabled"] = json!(true);
    let e = canonical_content(PluginType::ThirdAuth, &both.to_string(), None).unwrap_err();
    assert!(
        e[0].reason.contains("duplicate field `carry_path_enabled`"),
        "{e:?}"
    );
}

fn kafka() -> Value {
    json!({"broker_list": ["127.0.0.1:9092"], "topic": "calls"})
}

#[test]
fn kafka_log_limits_and_defaults() {
    let c = ok(PluginType::KafkaLog, kafka());
    assert_eq!(c["meta_config"]["system"].as_object().unwrap().len(), 50);
    assert_eq!(c["meta_config"]["system"]["start_time"], true);
    assert_eq!(c["retry_backoff"], 1);
    let with = |k: &str, v: Value| {
        let mut c = kafka();
        c[k] = v;
        c
    };
    ok(PluginType::KafkaLog, with("max_retry_count", json!(5)));
    assert_eq!(
        bad(PluginType::KafkaLog, with("max_retry_count", json!(6))),
        ["plugin_content.max_retry_count"]
    );
    assert_eq!(
        bad(PluginType::KafkaLog, with("retry_backoff", json!(0))),
        ["plugin_content.retry_backoff"]
    );
    assert_eq!(
        bad(PluginType::KafkaLog, with("retry_backoff", json!(11))),
        ["plugin_content.retry_backoff"]
    );
    assert_eq!(
        bad(PluginType::KafkaLog, with("broker_list", json!([]))),
        ["plugin_content.broker_list"]
    );
    assert_eq!(
        bad(
            PluginType::KafkaLog,
            with("broker_list", json!(["nohostport:"]))
        ),
        ["plugin_content.broker_list[0]"]
    );
    assert_eq!(
        bad(PluginType::KafkaLog, with("topic", json!("a b"))),
        ["plugin_content.topic"]
    );
    assert_eq!(
        bad(
            PluginType::KafkaLog,
            with("meta_config", json!({"system": {"nope": true}}))
        ),
        ["plugin_content.meta_config.system.nope"]
    );
    assert_eq!(
        bad(
            PluginType::KafkaLog,
            with(
                "sasl_config",
                json!({"security_protocol": "SASL_PLAINTEXT"})
            )
        ),
        [
            "plugin_content.sasl_config.sasl_username",
            "plugin_content.sasl_config.sasl_password"
        ]
    );
}

#[test]
fn kafka_sasl_password_is_masked_and_kept_on_update() {
    let c = kafka_with_password("s3cret");
    let stored = canonical_content(PluginType::KafkaLog, &c.to_string(), None).unwrap();
    assert!(stored.contains("s3cret"));
    let shown = masked_content(PluginType::KafkaLog, &stored);
    assert!(!shown.contains("s3cret"));
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["sasl_config"]["sasl_password"], MASK);
    // The SDK's read-modify-write sends the mask back: the stored secret stays.
    let again = canonical_content(PluginType::KafkaLog, &shown.to_string(), Some(&stored)).unwrap();
    assert_eq!(again, stored);
    // A new password replaces it.
    let new = canonical_content(
        PluginType::KafkaLog,
        &kafka_with_password("other").to_string(),
        Some(&stored),
    )
    .unwrap();
    assert!(new.contains("other"));
}

fn kafka_with_password(p: &str) -> Value {
    let mut c = kafka();
    c["sasl_config"] = json!({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanisms": "SCRAM-SHA-512",
                              "sasl_username": "u", "sasl_password": p});
    c
}
