//! Every `google.api.http` rule of the descriptor sets (main rules and additional bindings) is
//! routed and documented. The rules are read here straight from the method options, independently
//! of the gateway's own reader, so an RPC whose rule the gateway skipped makes this test fail.

mod common;

use prost_reflect::{DescriptorPool, Value};
use serde_json::Value as Json;
use shequ_gateway::{
    Gateway, GatewayConfig,
    openapi::openapi_path,
    routes::{Route, RouteTable},
};

/// (RPC full name, HTTP method, path template) of every rule in `pool`.
fn rules_in(pool: &DescriptorPool) -> Vec<(String, String, String)> {
    let http = pool
        .get_extension_by_name("google.api.http")
        .expect("google.api.http is in the pool");
    let mut found = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&http) {
                continue;
            }
            let Value::Message(rule) = options.get_extension(&http).into_owned() else {
                panic!("HttpRule is a message")
            };
            let mut rules = vec![rule.clone()];
            if let Some(Value::List(extra)) = rule
                .get_field_by_name("additional_bindings")
                .map(|v| v.into_owned())
            {
                rules.extend(extra.into_iter().map(|v| match v {
                    Value::Message(m) => m,
                    other => panic!("binding {other:?}"),
                }));
            }
            for rule in rules {
                let (verb, path) = ["get", "put", "post", "delete", "patch"]
                    .into_iter()
                    .find(|v| rule.has_field_by_name(v))
                    .map(|v| {
                        (
                            v.to_uppercase(),
                            rule.get_field_by_name(v)
                                .unwrap()
                                .as_str()
                                .unwrap()
                                .to_owned(),
                        )
                    })
                    .expect("a standard method (custom kinds cannot be documented in OpenAPI)");
                found.push((method.full_name().to_owned(), verb, path));
            }
        }
    }
    found
}

/// Asserts every rule is routed and documented, and nothing else is; returns the rule count.
fn check(pool: &DescriptorPool, set: &[u8]) -> usize {
    let rules = rules_in(pool);
    let table = RouteTable::from_pool(pool).expect("every rule builds");
    let config = GatewayConfig::development::<&str, &str>(
        [],
        &shequ_kit::auth::KeyPair::generate().private_pem,
    );
    let gateway = Gateway::new(&config, set, shequ_kit::shutdown::channel().1);
    let gateway = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(gateway)
        .expect("gateway builds");
    let document: Json = serde_json::from_slice(gateway.openapi_json()).unwrap();
    let routes: Vec<&Route> = table.routes().collect();
    assert_eq!(routes.len(), rules.len(), "one route per rule");
    for (rpc, verb, path) in &rules {
        let route = routes
            .iter()
            .find(|r| {
                r.rpc.full_name() == rpc && r.method.as_str() == verb && r.template.source == *path
            })
            .unwrap_or_else(|| panic!("{verb} {path} of {rpc} is not routed"));
        let openapi = openapi_path(route);
        let operation = &document["paths"][&openapi.path][verb.to_lowercase()];
        assert!(
            operation.is_object(),
            "{verb} {path} of {rpc} is not documented at {}",
            openapi.path
        );
        let name = rpc.rsplit('.').next().unwrap();
        assert!(
            operation["operationId"].as_str().unwrap().starts_with(name),
            "{operation}"
        );
        assert_eq!(operation["tags"][0], rpc.rsplit_once('.').unwrap().0);
    }
    let documented: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, rules.len(), "no operation without a rule");
    rules.len()
}

#[test]
fn every_http_rule_of_the_suite_is_routed_and_documented() {
    let pool = common::suite_pool();
    let rules = rules_in(&pool);
    // Decision 1 of the architecture: every RPC of every service has an http rule. The
    // exceptions: the event feed every service serves to the others (decision 10): internal,
    // streaming, and under one name on every port, it has no REST route; and the warnings
    // service's client-streaming IngestReadings, whose REST form is BatchCreateReadings.
    let client_streaming = ["shequ.warnings.v1.WarningsService.IngestReadings"];
    let mut services = 0;
    for service in pool
        .services()
        .filter(|s| s.package_name().starts_with("shequ.") && s.package_name() != "shequ.feed.v1")
    {
        services += 1;
        for method in service
            .methods()
            .filter(|m| !client_streaming.contains(&m.full_name()))
        {
            assert!(
                rules.iter().any(|(rpc, _, _)| rpc == method.full_name()),
                "{} has no google.api.http rule",
                method.full_name()
            );
        }
    }
    assert!(
        services >= 1,
        "the suite's services are in the descriptor set"
    );
    assert!(
        pool.get_service_by_name("shequ.personnel.v1.PersonnelService")
            .is_some()
    );
    let feed = pool
        .get_service_by_name("shequ.feed.v1.EventFeedService")
        .expect("the feed contract");
    assert!(
        feed.methods()
            .all(|m| !rules.iter().any(|(rpc, _, _)| rpc == m.full_name())),
        "the feed is not exposed over REST"
    );
    for name in client_streaming {
        let method = pool
            .services()
            .flat_map(|s| s.methods().collect::<Vec<_>>())
            .find(|m| m.full_name() == name)
            .expect("the exempted method exists");
        assert!(
            method.is_client_streaming() && !rules.iter().any(|(rpc, _, _)| rpc == name),
            "{name} is exempted as client-streaming and has no REST route"
        );
    }
    assert!(check(&pool, shequ_proto::FILE_DESCRIPTOR_SET) >= 27);
}

#[test]
fn additional_bindings_are_routed_and_documented_too() {
    let set = common::library_set();
    let pool = DescriptorPool::decode(set.as_slice()).unwrap();
    // 8 RPCs with rules, one with an additional binding, one without any rule
    assert_eq!(check(&pool, &set), 9);
}
