//! The OpenAPI 3.0.3 document, generated from the same descriptors and route table that serve the
//! requests, so the documentation cannot drift from the API: one operation per route, path and
//! query parameters as the transcoder reads them, the request body per the rule's `body`, schemas
//! in the proto3 JSON mapping, and the proto comments as descriptions.

use std::collections::{BTreeMap, HashMap, HashSet};

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor, Value as PValue};
use serde_json::{Map, Value, json};

use crate::constraints::Constraints;
use crate::routes::{BodyRule, Route, RouteTable};
use crate::template::Segment;

/// `google.api.FieldBehavior` values the document uses.
const REQUIRED: i32 = 2;
const OUTPUT_ONLY: i32 = 3;
const IDENTIFIER: i32 = 8;

/// How deep query parameters follow nested messages.
const MAX_QUERY_DEPTH: usize = 3;

/// The OpenAPI path of a route and the name of each of its path parameters, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenApiPath {
    /// e.g. `/v1/secretaries/{secretary}:promote`.
    pub path: String,
    /// One per `*`/`**` segment: (parameter name, index of the template variable it belongs to).
    pub parameters: Vec<(String, Option<usize>)>,
}

/// The OpenAPI path of `route`: literals stay, each wildcard becomes a parameter named after the
/// collection before it: by the `google.api.resource` patterns of the pool when one names it
/// (`secretaries/{secretary}` → `{secretary}`), else by a plain English singular; a bare variable
/// is named after its field.
pub fn openapi_path(route: &Route) -> OpenApiPath {
    let names = collection_names(route.rpc.parent_pool());
    let template = &route.template;
    let mut path = String::new();
    let mut parameters: Vec<(String, Option<usize>)> = Vec::new();
    let mut used = HashSet::new();
    for (i, segment) in template.segments.iter().enumerate() {
        path.push('/');
        let variable = template
            .variables
            .iter()
            .position(|v| v.start <= i && i < v.end);
        match segment {
            Segment::Literal(literal) => path.push_str(literal),
            Segment::Single | Segment::Multi => {
                let previous = match (i.checked_sub(1).map(|p| &template.segments[p]), variable) {
                    (Some(Segment::Literal(literal)), Some(v))
                        if template.variables[v].start < i =>
                    {
                        Some(
                            names
                                .get(literal)
                                .cloned()
                                .unwrap_or_else(|| singular(literal)),
                        )
                    }
                    _ => None,
                };
                let base = previous.unwrap_or_else(|| match variable {
                    Some(v) => route.variable_fields[v]
                        .iter()
                        .map(|f| f.json_name())
                        .collect::<Vec<_>>()
                        .join("."),
                    None => format!("segment{i}"),
                });
                let mut name = base.clone();
                let mut n = 2;
                while !used.insert(name.clone()) {
                    name = format!("{base}{n}");
                    n += 1;
                }
                path.push('{');
                path.push_str(&name);
                path.push('}');
                parameters.push((name, variable));
            }
        }
    }
    if let Some(verb) = &template.verb {
        path.push(':');
        path.push_str(verb);
    }
    OpenApiPath { path, parameters }
}

/// Collection → variable name (camelCase) from every `google.api.resource` pattern of the pool,
/// e.g. `negativeListItems` → `negativeListItem` from
/// `provinces/{province}/negativeListItems/{negative_list_item}`.
fn collection_names(pool: &DescriptorPool) -> HashMap<String, String> {
    let mut names = HashMap::new();
    let Some(resource) = pool.get_extension_by_name("google.api.resource") else {
        return names;
    };
    for message in pool.all_messages() {
        let options = message.options();
        if !options.has_extension(&resource) {
            continue;
        }
        let PValue::Message(descriptor) = options.get_extension(&resource).into_owned() else {
            continue;
        };
        let Some(PValue::List(patterns)) = descriptor
            .get_field_by_name("pattern")
            .map(|v| v.into_owned())
        else {
            continue;
        };
        for pattern in patterns.iter().filter_map(|p| p.as_str()) {
            let segments: Vec<&str> = pattern.split('/').collect();
            for pair in segments.windows(2) {
                if let Some(variable) = pair[1].strip_prefix('{').and_then(|v| v.strip_suffix('}'))
                {
                    names
                        .entry(pair[0].to_owned())
                        .or_insert_with(|| camel(variable));
                }
            }
        }
    }
    names
}

fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn singular(collection: &str) -> String {
    if let Some(stem) = collection.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = ["sses", "xes", "ches", "shes"]
        .iter()
        .find_map(|end| collection.strip_suffix(end).map(|s| (s, end)))
    {
        format!("{}{}", stem.0, &stem.1[..stem.1.len() - 2])
    } else if let Some(stem) = collection.strip_suffix('s').filter(|s| !s.ends_with('s')) {
        stem.to_owned()
    } else {
        format!("{collection}Id")
    }
}

/// Leading comments of every descriptor, by file and source path.
struct Comments(HashMap<(String, Vec<i32>), String>);

impl Comments {
    fn new(pool: &DescriptorPool) -> Comments {
        let mut map = HashMap::new();
        for file in pool.files() {
            let proto = file.file_descriptor_proto();
            let Some(info) = &proto.source_code_info else {
                continue;
            };
            for location in &info.location {
                if let Some(comment) = &location.leading_comments {
                    let text = comment
                        .lines()
                        .map(|l| l.strip_prefix(' ').unwrap_or(l))
                        .collect::<Vec<_>>()
                        .join("\n");
                    let text = text.trim();
                    if !text.is_empty() {
                        map.insert(
                            (file.name().to_owned(), location.path.clone()),
                            text.to_owned(),
                        );
                    }
                }
            }
        }
        Comments(map)
    }

    fn get(&self, file: &str, path: &[i32]) -> Option<&str> {
        self.0
            .get(&(file.to_owned(), path.to_vec()))
            .map(String::as_str)
    }

    fn field(&self, field: &FieldDescriptor) -> Option<&str> {
        self.get(field.parent_file().name(), field.path())
    }

    fn message(&self, message: &MessageDescriptor) -> Option<&str> {
        self.get(message.parent_file().name(), message.path())
    }
}

/// Which side of the API a schema describes. A message that is both sent and answered (a
/// resource created, updated and read) gets one schema per side, so that what a response may
/// hold (a masked value, an omitted default) never constrains a request and the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// What the services answer: no input rules and nothing required (proto3 JSON omits defaults).
    Response,
    /// What a request carries: the protovalidate rules, and the REQUIRED fields (AIP-203).
    Request,
    /// The resource of an AIP-134 update: the rules, but nothing required at its top level
    /// (without a mask, the fields the request sets change).
    Update,
}

/// What the generator knows while walking.
struct Generator {
    comments: Comments,
    behavior: Option<prost_reflect::ExtensionDescriptor>,
    constraints: Constraints,
    /// Messages reachable from a response: their request-side schemas get a suffixed name.
    output_messages: HashSet<String>,
    schemas: BTreeMap<String, Value>,
    pending: Vec<(MessageDescriptor, Side)>,
}

/// Builds the document.
pub fn document(pool: &DescriptorPool, routes: &RouteTable) -> Value {
    let mut output_messages = HashSet::new();
    for route in routes.routes() {
        collect_messages(&route.rpc.output(), &mut output_messages);
    }
    let mut generator = Generator {
        comments: Comments::new(pool),
        behavior: pool.get_extension_by_name("google.api.field_behavior"),
        constraints: Constraints::new(pool),
        output_messages,
        schemas: BTreeMap::new(),
        pending: Vec::new(),
    };

    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut tags = BTreeMap::new();
    let mut operation_ids: HashMap<String, usize> = HashMap::new();
    for route in routes.routes() {
        let service = route.rpc.parent_service();
        tags.entry(service.full_name().to_owned())
            .or_insert_with(|| {
                let mut tag = json!({ "name": service.full_name() });
                if let Some(comment) = generator
                    .comments
                    .get(service.parent_file().name(), service.path())
                {
                    tag["description"] = json!(comment);
                }
                tag
            });
        let seen = operation_ids
            .entry(route.rpc.name().to_owned())
            .or_insert(0);
        *seen += 1;
        let operation_id = if *seen == 1 {
            route.rpc.name().to_owned()
        } else {
            format!("{}_{}", route.rpc.name(), seen)
        };
        let openapi = openapi_path(route);
        let operation = generator.operation(route, &openapi, operation_id);
        paths
            .entry(openapi.path)
            .or_default()
            .insert(route.method.as_str().to_ascii_lowercase(), operation);
    }

    while let Some((message, side)) = generator.pending.pop() {
        let name = generator.schema_name(&message, side);
        if !generator.schemas.contains_key(&name) {
            let schema = generator.message_schema(&message, side);
            generator.schemas.insert(name, schema);
        }
    }
    let mut schemas: Map<String, Value> = generator.schemas.into_iter().collect();
    schemas.insert("Problem".to_owned(), problem_schema());

    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Shequ REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": INFO_DESCRIPTION,
        },
        "tags": tags.into_values().collect::<Vec<_>>(),
        "security": [{ "bearerAuth": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" },
                "apiKeyParameter": { "type": "apiKey", "in": "query", "name": crate::routes::API_KEY_PARAMETER, "description": "GeoReport-style (Open311) routes only: the API key as a parameter, when no Authorization header is sent." }
            },
            "schemas": schemas,
            "responses": {
                "Problem": {
                    "description": "Error as RFC 9457 problem details, with the gRPC code, the ErrorInfo reason and any field or precondition violations.",
                    "headers": { "x-request-id": { "description": "The gateway's id of this request (also in audit entries).", "schema": { "type": "string" } }, "x-client-request-id": { "description": "The client's own x-request-id, when it sent a valid one.", "schema": { "type": "string" } } },
                    "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
                }
            }
        }
    })
}

const INFO_DESCRIPTION: &str = "REST/JSON front of the Shequ (社区) services, generated from their gRPC contracts.\n\n\
* **Authentication**: `Authorization: Bearer <token>` on every call.\n\
* **JSON**: proto3 canonical JSON: camelCase names (snake_case accepted), enums by name, 64-bit integers as strings, timestamps in RFC 3339, field masks as comma-separated camelCase paths. Fields with default values are omitted from responses. Unknown fields are refused.\n\
* **Request id**: every response carries the gateway's own `x-request-id` (a ULID, also in audit entries); a client's own `x-request-id` (1-128 of `[A-Za-z0-9._:-]`) is kept beside it and echoed as `x-client-request-id`.\n\
* **Retries**: send `Idempotency-Key: <1-128 printable characters>` on a write so that a retry takes effect once.\n\
* **Deadline**: 10 s by default; send `x-request-timeout` (`500ms`, `2s` or a bare number of seconds) to shorten it.\n\
* **Errors**: `application/problem+json` with `code` (gRPC code), `reason` and `domain` (ErrorInfo), `fieldViolations` and `preconditionViolations`.";

fn collect_messages(message: &MessageDescriptor, seen: &mut HashSet<String>) {
    if !seen.insert(message.full_name().to_owned()) {
        return;
    }
    for field in message.fields() {
        if let Kind::Message(inner) = field.kind() {
            collect_messages(&inner, seen);
        }
    }
}

impl Generator {
    fn behaviors(&self, field: &FieldDescriptor) -> Vec<i32> {
        let Some(extension) = &self.behavior else {
            return Vec::new();
        };
        let options = field.options();
        if !options.has_extension(extension) {
            return Vec::new();
        }
        match options.get_extension(extension).as_ref() {
            PValue::List(values) => values.iter().filter_map(|v| v.as_enum_number()).collect(),
            PValue::EnumNumber(n) => vec![*n],
            _ => Vec::new(),
        }
    }

    fn operation(&mut self, route: &Route, openapi: &OpenApiPath, operation_id: String) -> Value {
        let rpc = &route.rpc;
        let comment = self
            .comments
            .get(rpc.parent_file().name(), rpc.path())
            .unwrap_or("")
            .to_owned();
        let summary = comment
            .split(['\n'])
            .next()
            .unwrap_or("")
            .split(". ")
            .next()
            .unwrap_or("")
            .trim_end_matches('.')
            .to_owned();

        let mut parameters = Vec::new();
        for (position, (name, variable)) in openapi.parameters.iter().enumerate() {
            let mut description = String::new();
            let mut schema = json!({ "type": "string", "minLength": 1 });
            if let Some(v) = variable {
                let fields = &route.variable_fields[*v];
                let field_path = fields
                    .iter()
                    .map(|f| f.json_name())
                    .collect::<Vec<_>>()
                    .join(".");
                let variable = &route.template.variables[*v];
                let pattern: Vec<String> = route.template.segments[variable.start..variable.end]
                    .iter()
                    .map(|s| match s {
                        Segment::Literal(l) => l.clone(),
                        Segment::Single => "*".to_owned(),
                        Segment::Multi => "**".to_owned(),
                    })
                    .collect();
                description = format!("Part of `{field_path}` (`{}`).", pattern.join("/"));
                if let Some(comment) = fields.last().and_then(|f| self.comments.field(f)) {
                    description.push(' ');
                    description.push_str(comment);
                }
                // The field's declared pattern, cut down to this wildcard's segment.
                let segments: Vec<Option<&str>> = route.template.segments
                    [variable.start..variable.end]
                    .iter()
                    .map(|s| match s {
                        Segment::Literal(l) => Some(l.as_str()),
                        Segment::Single | Segment::Multi => None,
                    })
                    .collect();
                let wildcard = openapi.parameters[..position]
                    .iter()
                    .filter(|(_, other)| *other == Some(*v))
                    .count();
                let index = segments
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.is_none())
                    .nth(wildcard)
                    .map(|(i, _)| i);
                if let (Some(field), Some(index)) = (fields.last(), index)
                    && let Some(segment) = self.constraints.segment_pattern(field, &segments, index)
                {
                    schema = json!({ "type": "string", "pattern": segment });
                }
            }
            parameters.push(json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": description,
                "schema": schema,
            }));
        }
        if !matches!(route.body, BodyRule::Whole) {
            let input = rpc.input();
            let mut prefix = Vec::new();
            self.query_parameters(route, &input, &mut prefix, &mut parameters);
        }

        let mut operation = Map::new();
        operation.insert("operationId".into(), json!(operation_id));
        operation.insert("tags".into(), json!([rpc.parent_service().full_name()]));
        if !summary.is_empty() {
            operation.insert("summary".into(), json!(summary));
        }
        if !comment.is_empty() {
            operation.insert("description".into(), json!(comment));
        }
        if route.is_public() {
            // No account needed (see `routes::PUBLIC_RPCS`).
            operation.insert("security".into(), json!([]));
        } else if route.takes_api_key_parameter() {
            operation.insert(
                "security".into(),
                json!([{ "bearerAuth": [] }, { "apiKeyParameter": [] }]),
            );
        }
        operation.insert(
            "x-grpc-method".into(),
            json!(format!(
                "{}/{}",
                rpc.parent_service().full_name(),
                rpc.name()
            )),
        );
        operation.insert("parameters".into(), Value::Array(parameters));
        if let Some(body) = self.request_body(route) {
            operation.insert("requestBody".into(), body);
        }
        // A google.api.HttpBody is sent as it is: its media type is the service's choice.
        let response_content = if route.returns_http_body() {
            json!({ "*/*": { "schema": { "type": "string" } } })
        } else {
            let response_schema = match &route.response_body {
                Some(field) => self.field_schema(field, Side::Response),
                None => self.message_ref(&rpc.output(), Side::Response),
            };
            json!({ "application/json": { "schema": response_schema } })
        };
        operation.insert(
            "responses".into(),
            json!({
                "200": {
                    "description": format!("The {}.", route.response_body.as_ref().map_or(rpc.output().name().to_owned(), |f| f.json_name().to_owned())),
                    "headers": { "x-request-id": { "description": "The gateway's id of this request (also in audit entries).", "schema": { "type": "string" } }, "x-client-request-id": { "description": "The client's own x-request-id, when it sent a valid one.", "schema": { "type": "string" } } },
                    "content": response_content
                },
                "4XX": { "$ref": "#/components/responses/Problem" },
                "5XX": { "$ref": "#/components/responses/Problem" }
            }),
        );
        Value::Object(operation)
    }

    /// Every field the transcoder accepts from the query string: not bound by the path, not the
    /// body, following singular messages.
    fn query_parameters(
        &mut self,
        route: &Route,
        message: &MessageDescriptor,
        prefix: &mut Vec<FieldDescriptor>,
        out: &mut Vec<Value>,
    ) {
        for field in message.fields() {
            if prefix.is_empty()
                && let BodyRule::Field(body) = &route.body
                && body.number() == field.number()
            {
                continue;
            }
            // A credential, documented as the apiKeyParameter security scheme.
            if prefix.is_empty()
                && route.takes_api_key_parameter()
                && field.name() == crate::routes::API_KEY_PARAMETER
            {
                continue;
            }
            prefix.push(field.clone());
            let bound = route.variable_fields.iter().any(|b| {
                b.iter()
                    .zip(prefix.iter())
                    .all(|(a, c)| a.number() == c.number())
                    && b.len() <= prefix.len()
            });
            let nested_message = match field.kind() {
                Kind::Message(inner)
                    if !field.is_list() && !field.is_map() && !is_text_wkt(inner.full_name()) =>
                {
                    Some(inner)
                }
                _ => None,
            };
            let recursive = nested_message.as_ref().is_some_and(|inner| {
                prefix[..prefix.len() - 1].iter().any(
                    |f| matches!(f.kind(), Kind::Message(m) if m.full_name() == inner.full_name()),
                )
            });
            let repeated_message = field.is_list() && matches!(field.kind(), Kind::Message(_));
            match nested_message {
                _ if bound || field.is_map() || repeated_message => {}
                Some(inner) if prefix.len() < MAX_QUERY_DEPTH && !recursive => {
                    self.query_parameters(route, &inner, prefix, out)
                }
                Some(_) => {}
                None => {
                    let name = prefix
                        .iter()
                        .map(|f| f.json_name())
                        .collect::<Vec<_>>()
                        .join(".");
                    let mut parameter = json!({
                        "name": name,
                        "in": "query",
                        "schema": self.field_schema(&field, Side::Request),
                    });
                    if field.is_list() {
                        parameter["style"] = json!("form");
                        parameter["explode"] = json!(true);
                    }
                    if let Some(comment) = self.comments.field(&field) {
                        parameter["description"] = json!(comment);
                    }
                    if prefix.len() == 1
                        && (self.behaviors(&field).contains(&REQUIRED)
                            || self.constraints.required(&field))
                        && (field.is_list()
                            || !crate::constraints::accepts_default(
                                &field.kind(),
                                &parameter["schema"],
                            ))
                    {
                        parameter["required"] = json!(true);
                    }
                    out.push(parameter);
                }
            }
            prefix.pop();
        }
    }

    fn request_body(&mut self, route: &Route) -> Option<Value> {
        let input = route.rpc.input();
        let (schema, required) = match &route.body {
            BodyRule::None => return None,
            BodyRule::Field(field) => {
                // The resource of an AIP-134 update (a request with an update_mask).
                let side = if input.get_field_by_name("update_mask").is_some() {
                    Side::Update
                } else {
                    Side::Request
                };
                (
                    self.field_schema(field, side),
                    self.behaviors(field).contains(&REQUIRED),
                )
            }
            BodyRule::Whole => {
                // The request message minus what the path sets.
                let bound: HashSet<u32> = route
                    .variable_fields
                    .iter()
                    .filter(|f| f.len() == 1)
                    .map(|f| f[0].number())
                    .collect();
                if bound.is_empty() {
                    (self.message_ref(&input, Side::Request), true)
                } else {
                    let mut schema =
                        self.object_schema(&input, Side::Request, |f| !bound.contains(&f.number()));
                    schema["title"] = json!(format!("{} (without path fields)", input.name()));
                    (schema, true)
                }
            }
        };
        let mut content = json!({ "application/json": { "schema": schema } });
        // GeoReport-style routes also take form bodies (see routes::API_KEY_PARAMETER).
        if route.takes_api_key_parameter() && matches!(route.body, BodyRule::Whole) {
            content["application/x-www-form-urlencoded"] = json!({ "schema": schema });
        }
        Some(json!({ "required": required, "content": content }))
    }

    /// The component name of `message`'s schema on `side`: its full name, suffixed on the
    /// request side of a message that responses use too.
    fn schema_name(&self, message: &MessageDescriptor, side: Side) -> String {
        let name = message.full_name();
        match side {
            Side::Response => name.to_owned(),
            Side::Request if !self.output_messages.contains(name) => name.to_owned(),
            Side::Request => format!("{name}-request"),
            Side::Update => format!("{name}-update"),
        }
    }

    fn message_ref(&mut self, message: &MessageDescriptor, side: Side) -> Value {
        if let Some(schema) = wkt_schema(message.full_name()) {
            return schema;
        }
        let name = self.schema_name(message, side);
        if !self.schemas.contains_key(&name) {
            self.pending.push((message.clone(), side));
        }
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    fn message_schema(&mut self, message: &MessageDescriptor, side: Side) -> Value {
        let mut schema = self.object_schema(message, side, |_| true);
        if let Some(comment) = self.comments.message(message) {
            schema["description"] = json!(comment);
        }
        schema
    }

    fn object_schema(
        &mut self,
        message: &MessageDescriptor,
        side: Side,
        include: impl Fn(&FieldDescriptor) -> bool,
    ) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        // An update's nested messages are replaced whole, so they are complete requests.
        let inner = match side {
            Side::Response => Side::Response,
            Side::Request | Side::Update => Side::Request,
        };
        for field in message.fields().filter(|f| include(f)) {
            let behaviors = self.behaviors(&field);
            // A resource's own name in a request body is not input: a create ignores it and an
            // update takes it from the path (AIP-203 IDENTIFIER).
            let identifier = side != Side::Response && behaviors.contains(&IDENTIFIER);
            let field_side = if identifier { Side::Response } else { inner };
            let mut schema = self.field_schema(&field, field_side);
            if side == Side::Update
                && !field.is_list()
                && !field.is_map()
                && !field.supports_presence()
            {
                // Without a mask, an update changes the fields the request sets: a default
                // value leaves the field as it is (AIP-134).
                crate::constraints::admit_default(&field.kind(), &mut schema);
            }
            let comment = self.comments.field(&field).map(str::to_owned);
            let read_only = behaviors.contains(&OUTPUT_ONLY) || identifier;
            let required_here = side == Side::Request
                && (behaviors.contains(&REQUIRED) || self.constraints.required(&field))
                && !read_only
                && (field.is_list()
                    || field.is_map()
                    || !crate::constraints::accepts_default(&field.kind(), &schema));
            // proto3 JSON reads `null` as the field's default: an optional request field
            // accepts it.
            let nullable = side != Side::Response && !required_here && !read_only;
            if comment.is_some() || read_only || nullable {
                // Siblings of $ref are ignored in OpenAPI 3.0, so wrap it.
                if schema.get("$ref").is_some() {
                    schema = json!({ "allOf": [schema] });
                }
                if let Some(comment) = comment {
                    // an inline enum already lists its values: keep them after the field's comment
                    let described = match schema.get("description").and_then(Value::as_str) {
                        Some(values) if !values.is_empty() => format!("{comment}\n\n{values}"),
                        _ => comment,
                    };
                    schema["description"] = json!(described);
                }
                if read_only {
                    schema["readOnly"] = json!(true);
                }
                if nullable {
                    schema["nullable"] = json!(true);
                    if let Some(Value::Array(values)) = schema.get_mut("enum") {
                        values.push(Value::Null);
                    }
                }
            }
            if required_here {
                required.push(json!(field.json_name()));
            }
            properties.insert(field.json_name().to_owned(), schema);
        }
        let mut schema = json!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        });
        if !required.is_empty() {
            schema["required"] = Value::Array(required);
        }
        schema
    }

    /// Schema of a field's JSON value; on the request side with the field's declared rules.
    fn field_schema(&mut self, field: &FieldDescriptor, side: Side) -> Value {
        let mut schema = if let Kind::Message(entry) = field.kind()
            && field.is_map()
        {
            let value_schema = self.kind_schema(&entry.map_entry_value_field().kind(), side);
            json!({ "type": "object", "additionalProperties": value_schema })
        } else {
            let single = self.kind_schema(&field.kind(), side);
            if field.is_list() {
                json!({ "type": "array", "items": single })
            } else {
                single
            }
        };
        if side != Side::Response {
            self.constraints.apply(field, &mut schema);
        }
        schema
    }

    fn kind_schema(&mut self, kind: &Kind, side: Side) -> Value {
        match kind {
            Kind::Double => json!({ "type": "number", "format": "double" }),
            Kind::Float => json!({ "type": "number", "format": "float" }),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({ "type": "integer", "format": "int32" })
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({ "type": "integer", "format": "int64", "minimum": 0, "maximum": 4_294_967_295_u64 })
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({ "type": "string", "format": "int64", "pattern": "^-?[0-9]+$" })
            }
            Kind::Uint64 | Kind::Fixed64 => {
                json!({ "type": "string", "format": "uint64", "pattern": "^[0-9]+$" })
            }
            Kind::Bool => json!({ "type": "boolean" }),
            Kind::String => json!({ "type": "string" }),
            Kind::Bytes => json!({ "type": "string", "format": "byte" }),
            Kind::Enum(e) => {
                let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
                let described: Vec<String> = e
                    .values()
                    .map(
                        |v| match self.comments.get(v.parent_file().name(), v.path()) {
                            Some(c) => format!("* `{}`: {}", v.name(), c.replace('\n', " ")),
                            None => format!("* `{}`", v.name()),
                        },
                    )
                    .collect();
                let mut description = self
                    .comments
                    .get(e.parent_file().name(), e.path())
                    .unwrap_or("")
                    .to_owned();
                if !description.is_empty() {
                    description.push_str("\n\n");
                }
                description.push_str(&described.join("\n"));
                json!({ "type": "string", "title": e.full_name(), "enum": names, "description": description })
            }
            Kind::Message(message) => self.message_ref(message, side),
        }
    }
}

/// Well-known types whose JSON form is a string, settable from a query parameter.
fn is_text_wkt(name: &str) -> bool {
    matches!(
        name,
        "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
            | "google.protobuf.BoolValue"
            | "google.protobuf.Int32Value"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.FloatValue"
            | "google.protobuf.DoubleValue"
    )
}

/// The proto3 JSON form of the well-known types.
fn wkt_schema(name: &str) -> Option<Value> {
    Some(match name {
        "google.protobuf.Timestamp" => json!({ "type": "string", "format": "date-time" }),
        "google.protobuf.Duration" => {
            json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$", "example": "1.5s" })
        }
        "google.protobuf.FieldMask" => json!({
            "type": "string",
            "description": "Comma-separated field paths in camelCase, e.g. `displayName,phoneNumber`.",
        }),
        "google.protobuf.Empty" => json!({ "type": "object", "additionalProperties": false }),
        "google.protobuf.Struct" => json!({ "type": "object", "additionalProperties": true }),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({ "type": "array", "items": {} }),
        "google.protobuf.Any" => json!({
            "type": "object",
            "properties": { "@type": { "type": "string" } },
            "required": ["@type"],
            "additionalProperties": true,
        }),
        "google.protobuf.StringValue" => json!({ "type": "string", "nullable": true }),
        "google.protobuf.BytesValue" => {
            json!({ "type": "string", "format": "byte", "nullable": true })
        }
        "google.protobuf.BoolValue" => json!({ "type": "boolean", "nullable": true }),
        "google.protobuf.Int32Value" => {
            json!({ "type": "integer", "format": "int32", "nullable": true })
        }
        "google.protobuf.UInt32Value" => {
            json!({ "type": "integer", "format": "int64", "minimum": 0, "nullable": true })
        }
        "google.protobuf.Int64Value" => {
            json!({ "type": "string", "format": "int64", "pattern": "^-?[0-9]+$", "nullable": true })
        }
        "google.protobuf.UInt64Value" => {
            json!({ "type": "string", "format": "uint64", "pattern": "^[0-9]+$", "nullable": true })
        }
        "google.protobuf.FloatValue" => {
            json!({ "type": "number", "format": "float", "nullable": true })
        }
        "google.protobuf.DoubleValue" => {
            json!({ "type": "number", "format": "double", "nullable": true })
        }
        _ => return None,
    })
}

fn problem_schema() -> Value {
    let string = |description: &str| json!({ "type": "string", "description": description });
    json!({
        "type": "object",
        "description": "RFC 9457 problem details extended with the google.rpc.Status details of the failed call.",
        "required": ["type", "title", "status", "detail", "code", "requestId"],
        "properties": {
            "type": string("`urn:shequ:problem:<REASON>`."),
            "title": string("HTTP reason phrase."),
            "status": { "type": "integer", "description": "HTTP status." },
            "detail": string("What went wrong."),
            "code": string("gRPC status code name, e.g. `INVALID_ARGUMENT`."),
            "reason": string("google.rpc.ErrorInfo reason, e.g. `ID_NUMBER_CHECK_DIGIT`."),
            "domain": string("google.rpc.ErrorInfo domain: `shequ` for the services, `gateway.shequ` for the gateway."),
            "metadata": { "type": "object", "additionalProperties": { "type": "string" }, "description": "google.rpc.ErrorInfo metadata." },
            "fieldViolations": {
                "type": "array",
                "description": "google.rpc.BadRequest field violations.",
                "items": {
                    "type": "object",
                    "required": ["field", "description"],
                    "properties": { "field": string("Field path, e.g. `secretary.id_number`."), "description": string("What is wrong."), "reason": string("Rule broken.") }
                }
            },
            "preconditionViolations": {
                "type": "array",
                "description": "google.rpc.PreconditionFailure violations.",
                "items": {
                    "type": "object",
                    "required": ["type", "subject", "description"],
                    "properties": { "type": string("Kind of precondition."), "subject": string("What failed."), "description": string("How it failed.") }
                }
            },
            "retryAfterSeconds": { "type": "integer", "description": "When to retry (also the Retry-After header)." },
            "requestId": string("The request id (also the x-request-id header)."),
        }
    })
}
