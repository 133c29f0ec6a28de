//! The route table, built once from the descriptor pool: one route per `google.api.http` rule
//! (the main rule and each of its `additional_bindings`), with every field path of the rule
//! resolved against the request message at start-up so a broken rule fails loudly then, not on a
//! client's request.

use std::sync::Arc;

use http::{Method, uri::PathAndQuery};
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value,
};

use crate::template::{Binding, PathTemplate, RequestPath, TemplateError};

/// Full name of the extension carrying the HTTP rule of a method.
pub const HTTP_EXTENSION: &str = "google.api.http";

/// One `google.api.http` rule as written in a proto, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRule {
    /// `get`, `post`, ... or the custom kind, upper-case.
    pub method: String,
    /// The path template.
    pub path: String,
    /// `body`: empty, `*` or a top-level field name.
    pub body: String,
    /// `response_body`: empty or a top-level field name of the response.
    pub response_body: String,
}

/// Where the request body goes.
#[derive(Debug, Clone)]
pub enum BodyRule {
    /// No body; every field not bound by the path comes from the query string.
    None,
    /// `body: "*"`: the body is the request message minus the path-bound fields.
    Whole,
    /// `body: "field"`: the body is that field; the other fields come from the path or query.
    Field(FieldDescriptor),
}

/// One routable HTTP binding of an RPC.
#[derive(Debug, Clone)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path template.
    pub template: PathTemplate,
    /// The RPC.
    pub rpc: MethodDescriptor,
    /// `/package.Service/Method`.
    pub grpc_path: PathAndQuery,
    /// Where the body goes.
    pub body: BodyRule,
    /// The response field sent instead of the whole response.
    pub response_body: Option<FieldDescriptor>,
    /// For each template variable, its field path resolved in the request message.
    pub variable_fields: Vec<Vec<FieldDescriptor>>,
    /// Low-cardinality label for logs and metrics: `METHOD template`.
    pub label: Arc<str>,
    /// False for an `additional_bindings` entry.
    pub primary: bool,
}

/// The RPCs anyone may call without an account: the gateway serves them without looking at the
/// `Authorization` header and calls them as itself (the service grants the gateway exactly
/// these). Kept to what another government system or a citizen holding a printed certificate
/// needs to verify it offline: the verification page, a presented credential, the status lists
/// and the issuer's public keys.
pub const PUBLIC_RPCS: &[&str] = &[
    "shequ.training.v1.TrainingService.VerifyCertificate",
    "shequ.training.v1.TrainingService.VerifyCredential",
    "shequ.training.v1.TrainingService.GetStatusList",
    "shequ.training.v1.TrainingService.ListIssuerKeys",
];

/// GeoReport-style routes (Open311): a route whose request message declares this string field
/// takes the caller's API key from a parameter of that name (query string or body) when no
/// `Authorization` header came, as `Authorization: ApiKey <key>` would give it, and accepts
/// form-encoded bodies (`application/x-www-form-urlencoded`), as GeoReport v2 clients send them.
/// The key is a credential: it is removed before the call and never reaches the service.
pub const API_KEY_PARAMETER: &str = "api_key";

/// The response message whose `data` is sent as it is, under its `content_type`.
pub const HTTP_BODY: &str = "google.api.HttpBody";

impl Route {
    /// True when the route takes the API key as a parameter (see [`API_KEY_PARAMETER`]).
    pub fn takes_api_key_parameter(&self) -> bool {
        self.rpc
            .input()
            .get_field_by_name(API_KEY_PARAMETER)
            .is_some_and(|f| f.kind() == prost_reflect::Kind::String && !f.is_list())
    }

    /// True when the response is a `google.api.HttpBody`, sent as it is rather than as JSON.
    pub fn returns_http_body(&self) -> bool {
        self.response_body.is_none() && self.rpc.output().full_name() == HTTP_BODY
    }

    /// Full name of the gRPC service.
    pub fn service(&self) -> &str {
        self.rpc.parent_service().full_name()
    }

    /// True for a route served without an account ([`PUBLIC_RPCS`]).
    pub fn is_public(&self) -> bool {
        PUBLIC_RPCS.contains(&self.rpc.full_name())
    }
}

/// A rule that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The template does not parse.
    #[error("{rpc}: {source}")]
    Template {
        /// RPC full name.
        rpc: String,
        /// Parse error.
        source: TemplateError,
    },
    /// Something else is wrong with the rule.
    #[error("{rpc}: {problem}")]
    Rule {
        /// RPC full name.
        rpc: String,
        /// What.
        problem: String,
    },
}

/// Result of looking a request up.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// The route and its variable bindings.
    Found(&'a Route, Vec<Binding>),
    /// The path exists under other methods.
    MethodNotAllowed(Vec<Method>),
    /// No template matches.
    NotFound,
}

/// Routes with the same path shape (segments and verb), tried as one: the first shape that
/// matches decides between "found" and "method not allowed".
#[derive(Debug)]
struct Shape {
    routes: Vec<Route>,
}

/// Every route, grouped by shape and ordered by specificity (see
/// [`PathTemplate::specificity`]), ties broken by declaration order.
#[derive(Debug)]
pub struct RouteTable {
    shapes: Vec<Shape>,
}

/// Every `google.api.http` rule of `method`, main rule first, then its additional bindings.
pub fn http_rules(method: &MethodDescriptor) -> Vec<HttpRule> {
    let pool = method.parent_pool();
    let Some(extension) = pool.get_extension_by_name(HTTP_EXTENSION) else {
        return Vec::new();
    };
    let options = method.options();
    if !options.has_extension(&extension) {
        return Vec::new();
    }
    let Value::Message(rule) = options.get_extension(&extension).into_owned() else {
        return Vec::new();
    };
    let mut rules = Vec::new();
    if let Some(main) = read_rule(&rule) {
        rules.push(main);
    }
    if let Some(Value::List(more)) = rule
        .get_field_by_name("additional_bindings")
        .map(|v| v.into_owned())
    {
        for binding in more {
            if let Value::Message(binding) = binding
                && let Some(extra) = read_rule(&binding)
            {
                rules.push(extra);
            }
        }
    }
    rules
}

fn read_rule(rule: &DynamicMessage) -> Option<HttpRule> {
    let text = |name: &str| match rule.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let (method, path) = ["get", "put", "post", "delete", "patch"]
        .into_iter()
        .find(|m| rule.has_field_by_name(m))
        .map(|m| (m.to_ascii_uppercase(), text(m)))
        .or_else(|| match rule.get_field_by_name("custom").as_deref() {
            Some(Value::Message(custom)) if rule.has_field_by_name("custom") => {
                let field = |name: &str| match custom.get_field_by_name(name).as_deref() {
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                };
                Some((field("kind").to_ascii_uppercase(), field("path")))
            }
            _ => None,
        })?;
    Some(HttpRule {
        method,
        path,
        body: text("body"),
        response_body: text("response_body"),
    })
}

impl RouteTable {
    /// Builds the table from every service of `pool` that has http rules.
    pub fn from_pool(pool: &DescriptorPool) -> Result<RouteTable, RouteError> {
        let mut routes = Vec::new();
        for service in pool.services() {
            for rpc in service.methods() {
                for (i, rule) in http_rules(&rpc).into_iter().enumerate() {
                    routes.push(build(&rpc, &rule, i == 0)?);
                }
            }
        }
        let mut shapes: Vec<Shape> = Vec::new();
        for route in routes {
            let same = shapes.iter_mut().find(|s| {
                let first = &s.routes[0].template;
                first.segments == route.template.segments && first.verb == route.template.verb
            });
            match same {
                Some(shape) => {
                    if shape.routes.iter().any(|r| r.method == route.method) {
                        return Err(RouteError::Rule {
                            rpc: route.rpc.full_name().to_owned(),
                            problem: format!(
                                "{} {} is already bound to another RPC",
                                route.method, route.template
                            ),
                        });
                    }
                    shape.routes.push(route);
                }
                None => shapes.push(Shape {
                    routes: vec![route],
                }),
            }
        }
        // stable sort: equal specificity keeps declaration order
        shapes.sort_by(|a, b| a.routes[0].template.specificity(&b.routes[0].template));
        Ok(RouteTable { shapes })
    }

    /// Every route, in matching order.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.shapes.iter().flat_map(|s| s.routes.iter())
    }

    /// Finds the route of a request.
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_> {
        let path = RequestPath::new(path);
        for shape in &self.shapes {
            if shape.routes[0].template.matches(&path).is_none() {
                continue;
            }
            return match shape.routes.iter().find(|r| r.method == *method) {
                Some(route) => match route.template.matches(&path) {
                    Some(bindings) => Lookup::Found(route, bindings),
                    None => Lookup::NotFound,
                },
                None => Lookup::MethodNotAllowed(
                    shape.routes.iter().map(|r| r.method.clone()).collect(),
                ),
            };
        }
        Lookup::NotFound
    }
}

fn build(rpc: &MethodDescriptor, rule: &HttpRule, primary: bool) -> Result<Route, RouteError> {
    let fail = |problem: String| RouteError::Rule {
        rpc: rpc.full_name().to_owned(),
        problem,
    };
    if rpc.is_client_streaming() || rpc.is_server_streaming() {
        return Err(fail(
            "streaming RPCs cannot be transcoded; remove the http rule or serve it elsewhere"
                .into(),
        ));
    }
    let method = Method::from_bytes(rule.method.as_bytes())
        .map_err(|_| fail(format!("bad HTTP method {:?}", rule.method)))?;
    let template = PathTemplate::parse(&rule.path).map_err(|source| RouteError::Template {
        rpc: rpc.full_name().to_owned(),
        source,
    })?;
    let input = rpc.input();
    let mut variable_fields = Vec::new();
    for variable in &template.variables {
        let fields = resolve_path(&input, &variable.field_path).map_err(|p| {
            fail(format!(
                "path variable {}: {p}",
                variable.field_path.join(".")
            ))
        })?;
        let last = fields
            .last()
            .ok_or_else(|| fail("empty path variable".into()))?;
        if last.is_list() || last.is_map() || matches!(last.kind(), Kind::Message(_)) {
            return Err(fail(format!(
                "path variable {} must be a singular scalar field",
                variable.field_path.join(".")
            )));
        }
        variable_fields.push(fields);
    }
    let body =
        match rule.body.as_str() {
            "" => BodyRule::None,
            "*" => BodyRule::Whole,
            name => BodyRule::Field(input.get_field_by_name(name).ok_or_else(|| {
                fail(format!("body field {name} is not in {}", input.full_name()))
            })?),
        };
    let response_body = match rule.response_body.as_str() {
        "" => None,
        name => {
            let output = rpc.output();
            Some(output.get_field_by_name(name).ok_or_else(|| {
                fail(format!(
                    "response_body field {name} is not in {}",
                    output.full_name()
                ))
            })?)
        }
    };
    let grpc_path = format!("/{}/{}", rpc.parent_service().full_name(), rpc.name())
        .parse()
        .map_err(|_| fail("the RPC name is not a valid URI path".into()))?;
    Ok(Route {
        label: Arc::from(format!("{method} {}", template.source)),
        method,
        template,
        rpc: rpc.clone(),
        grpc_path,
        body,
        response_body,
        variable_fields,
        primary,
    })
}

/// Resolves `a.b.c` against `message`, accepting proto and JSON names; every step but the last
/// must be a singular message field.
pub fn resolve_path<S: AsRef<str>>(
    message: &MessageDescriptor,
    path: &[S],
) -> Result<Vec<FieldDescriptor>, String> {
    let mut fields = Vec::with_capacity(path.len());
    let mut current = message.clone();
    for (i, name) in path.iter().enumerate() {
        let name = name.as_ref();
        let field = current
            .get_field_by_name(name)
            .or_else(|| current.get_field_by_json_name(name))
            .ok_or_else(|| format!("no field {name} in {}", current.full_name()))?;
        if i + 1 < path.len() {
            match field.kind() {
                Kind::Message(next) if !field.is_list() && !field.is_map() => current = next,
                _ => return Err(format!("{name} is not a singular message field")),
            }
        }
        fields.push(field);
    }
    Ok(fields)
}
