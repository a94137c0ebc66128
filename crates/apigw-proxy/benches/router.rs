//! Route lookup cost against the number of published APIs: 10, 1 000 and 10 000 routes of
//! mixed shapes (exact, `{param}`, SWA), looked up by paths that hit the last-inserted routes,
//! the middle ones and a miss. Prints ns per lookup and the ratio to the 10-route case; a trie
//! keeps it flat. Run: `cargo bench -p apigw-proxy --bench router`.

use apigw_model::api::parse_template;
use apigw_proxy::router::Router;
use http::Method;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

fn build(n: usize) -> (Router<usize>, Vec<String>) {
    let mut r = Router::default();
    let mut probes = Vec::new();
    for i in 0..n {
        let (template, probe, prefix) = match i % 3 {
            0 => (format!("/svc{i}/items"), format!("/svc{i}/items"), false),
            1 => (
                format!("/svc{i}/items/{{id}}/detail"),
                format!("/svc{i}/items/42/detail"),
                false,
            ),
            _ => (
                format!("/static{i}"),
                format!("/static{i}/css/site.css"),
                true,
            ),
        };
        r.insert(
            &parse_template(&template).unwrap(),
            Some(Method::GET),
            prefix,
            Arc::new(i),
        );
        if i + 3 >= n || i == n / 2 {
            probes.push(probe);
        }
    }
    probes.push("/nothing/here/at/all".to_string());
    (r, probes)
}

fn ns_per_lookup(n: usize) -> f64 {
    let (router, probes) = build(n);
    let rounds = 200_000;
    // Warm up, then take the best of five runs.
    let mut best = f64::MAX;
    for _ in 0..6 {
        let start = Instant::now();
        for i in 0..rounds {
            let p = &probes[i % probes.len()];
            black_box(router.lookup(&Method::GET, black_box(p)).map(|m| *m.route));
        }
        best = best.min(start.elapsed().as_nanos() as f64 / rounds as f64);
    }
    best
}

fn main() {
    let base = ns_per_lookup(10);
    println!("routes   ns/lookup   ratio to 10 routes");
    for n in [10, 1_000, 10_000] {
        let ns = ns_per_lookup(n);
        println!("{n:>6}   {ns:>9.1}   {:>6.2}", ns / base);
    }
}
