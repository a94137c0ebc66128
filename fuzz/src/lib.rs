//! The fuzz targets' bodies. Each takes arbitrary bytes, must never panic, and checks a
//! property where one exists: canonical plug-in content is a fixed point, and a request signed
//! by `sign_request` verifies, and an HTTP/1.1 message reads the same whatever its read
//! boundaries.

use apigw_model::expr::Expr;
use apigw_model::plugin::PluginType;
use apigw_model::sign::{self, Authorization, RequestParts};
use apigw_plugins::registry;

/// Rule expressions (`rate_limit`/`breaker`/`third_auth` rules): parse, then evaluate against
/// parameters whose values come from the input too.
pub fn expr(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (src, values) = text.split_once('\u{1}').unwrap_or((text, ""));
    if let Ok(e) = Expr::parse(src, &|_| true) {
        let _ = e.params();
        let mut it = values.split('\u{2}');
        let _ = e.eval(&mut |_| it.next().map(str::to_string));
    }
}

/// `plugin_content` of every type: decode and validate; what validates must validate again to
/// itself (the stored canonical form is a fixed point) and mask without panicking.
pub fn plugin_content(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(content) = std::str::from_utf8(rest) else {
        return;
    };
    let t = PluginType::ALL[usize::from(first) % PluginType::ALL.len()];
    if let Ok(canonical) = registry::canonical_content(t, content, None) {
        let again = registry::canonical_content(t, &canonical, None)
            .unwrap_or_else(|e| panic!("canonical {t:?} content no longer validates: {e:?}"));
        assert_eq!(again, canonical, "canonical {t:?} content is not a fixed point");
        let _ = registry::masked_content(t, &canonical);
    }
}

/// `Authorization: SDK-HMAC-SHA256 …`: parse arbitrary headers and verify them against an
/// arbitrary request; and a request signed from the input's parts must verify.
pub fn signature(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut f = text.split('\u{1}');
    let mut next = || f.next().unwrap_or("");
    let (authorization, method, path, query, body, date, extra) =
        (next(), next(), next(), next(), next(), next(), next());
    let _ = Authorization::parse(authorization);
    let _ = sign::canonical_uri(path);
    let _ = sign::canonical_query(Some(query));
    let _ = sign::parse_sdk_date(date);
    let req = RequestParts {
        method,
        path,
        query: (!query.is_empty()).then_some(query),
        body: body.as_bytes(),
    };
    let headers = |n: &str| match n {
        "x-sdk-date" => vec![date.to_string()],
        "host" => vec!["apig.example.com".to_string()],
        // A header sent twice, to reach the repeated-value form.
        _ => vec![extra.to_string(), date.to_string()],
    };
    let secret = |_: &str| Some("secret".to_string());
    let now = sign::parse_sdk_date(date).unwrap_or(0);
    let _ = sign::verify(authorization, &req, &headers, &secret, now);

    // Round trip: what the SDK signer makes, the server accepts.
    if sign::parse_sdk_date(date).is_some() && !method.is_empty() {
        let mut signed = vec![("host", "apig.example.com"), ("x-sdk-date", date)];
        if !extra.is_empty() {
            signed.push(("x-extra", extra));
        }
        let authz = sign::sign_request("AK", "secret", &req, &signed);
        let lookup = |n: &str| {
            signed
                .iter()
                .filter(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
                .collect()
        };
        assert_eq!(
            sign::verify(&authz, &req, &lookup, &secret, now),
            Ok("AK".to_string()),
            "a signed request did not verify: {authz}"
        );
    }
}

/// HTTP/1.1 request and response heads and bodies (`apigw_proxy::fuzzing`).
pub fn http1(data: &[u8]) {
    apigw_proxy::fuzzing::http1(data);
}
