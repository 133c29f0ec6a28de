//! JSON ⇄ protobuf for one route: path bindings, query parameters and the body are merged into
//! one proto3-JSON object and decoded against the request descriptor in a single pass (so unknown
//! fields, wrong types and bad enum names are all refused the same way); responses are encoded
//! back as canonical proto3 JSON (camelCase, enums by name, 64-bit integers as strings, RFC 3339
//! timestamps, field masks as comma-separated camelCase paths).

use prost::Message as _;
use prost_reflect::{DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, SerializeOptions};
use serde_json::{Map, Value};

use crate::{
    errors::InputError,
    routes::{API_KEY_PARAMETER, BodyRule, Route, resolve_path},
    template::Binding,
};

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// JSON (proto3 JSON mapping).
    Json,
    /// `application/x-www-form-urlencoded` (GeoReport-style routes only): each pair sets a field
    /// as a query parameter would.
    Form,
}

/// The API key a GeoReport-style route was given as a parameter: in the query string, a form
/// body or a JSON body's top level (see `routes::API_KEY_PARAMETER`).
pub fn api_key_parameter(query: Option<&str>, body: &[u8], format: BodyFormat) -> Option<String> {
    let from_pairs = |text: &[u8]| {
        form_urlencoded::parse(text)
            .find(|(k, _)| k == API_KEY_PARAMETER)
            .map(|(_, v)| v.into_owned())
    };
    let found = query.and_then(|q| from_pairs(q.as_bytes()));
    let found = found.or_else(|| match format {
        BodyFormat::Form => from_pairs(body),
        BodyFormat::Json => serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get(API_KEY_PARAMETER)?.as_str().map(str::to_owned)),
    });
    found.filter(|k| !k.trim().is_empty())
}

/// The encoded request message for `route`, from the path `bindings`, the raw `query` string and
/// the `body` (empty means none) in `format`.
pub fn encode_request(
    route: &Route,
    bindings: &[Binding],
    query: Option<&str>,
    body: &[u8],
    format: BodyFormat,
) -> Result<Vec<u8>, InputError> {
    let mut root = Map::new();
    let credential_parameter = route.takes_api_key_parameter();

    match &route.body {
        BodyRule::None => {}
        BodyRule::Whole if format == BodyFormat::Form => {
            let text = std::str::from_utf8(body).map_err(|_| {
                InputError::general("FORM_BODY_INVALID", "the form body is not UTF-8")
            })?;
            apply_pairs(route, &mut root, text, ParameterSource::Form)?;
        }
        BodyRule::Whole => {
            if !body.is_empty() {
                match parse_body(body)? {
                    Value::Object(object) => root = object,
                    _ => {
                        return Err(InputError::general(
                            "BODY_NOT_OBJECT",
                            "the request body must be a JSON object",
                        ));
                    }
                }
            }
        }
        BodyRule::Field(field) => {
            if !body.is_empty() {
                root.insert(field.json_name().to_owned(), parse_body(body)?);
            }
        }
    }

    // Path variables win over anything the body says about the same field.
    for binding in bindings {
        let fields = &route.variable_fields[binding.variable];
        let value = scalar_json(
            fields
                .last()
                .ok_or_else(|| InputError::general("PATH_INVALID", "empty path variable"))?,
            &binding.value,
        )
        .map_err(|why| InputError::field("PATH_PARAMETER_INVALID", dotted(fields), why))?;
        set(&mut root, fields, value, true)
            .map_err(|why| InputError::field("PATH_PARAMETER_INVALID", dotted(fields), why))?;
    }

    if let Some(query) = query.filter(|q| !q.is_empty()) {
        apply_pairs(route, &mut root, query, ParameterSource::Query)?;
    }
    // A credential given as a parameter is the gateway's, never the service's.
    if credential_parameter {
        root.remove(API_KEY_PARAMETER);
    }

    let value = Value::Object(root);
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_path_to_error::Deserializer::new(&value, &mut track);
    let message = DynamicMessage::deserialize_with_options(
        route.rpc.input(),
        deserializer,
        &DeserializeOptions::new(),
    )
    .map_err(|error| {
        let path = track.path().to_string();
        let text = error.to_string();
        let reason = if text.contains("unrecognized field") || text.contains("unknown field") {
            "UNKNOWN_FIELD"
        } else {
            "FIELD_VALUE_INVALID"
        };
        if path.is_empty() || path == "." {
            InputError::general(reason, text)
        } else {
            InputError::field(reason, path.clone(), format!("{path}: {text}"))
        }
    })?;
    Ok(message.encode_to_vec())
}

/// The media type and bytes of a `google.api.HttpBody` response.
pub fn http_body(route: &Route, bytes: &[u8]) -> Result<(String, Vec<u8>), String> {
    let message = DynamicMessage::decode(route.rpc.output(), bytes).map_err(|e| e.to_string())?;
    let content_type = message
        .get_field_by_name("content_type")
        .and_then(|v| v.as_str().map(str::to_owned))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let data = message
        .get_field_by_name("data")
        .and_then(|v| v.as_bytes().map(|b| b.to_vec()))
        .unwrap_or_default();
    Ok((content_type, data))
}

/// The JSON body of a response: the whole message, or its `response_body` field.
pub fn encode_response(route: &Route, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let message = DynamicMessage::decode(route.rpc.output(), bytes).map_err(|e| e.to_string())?;
    let options = SerializeOptions::new();
    match &route.response_body {
        None => {
            let mut out = Vec::with_capacity(bytes.len() * 2 + 16);
            message
                .serialize_with_options(&mut serde_json::Serializer::new(&mut out), &options)
                .map_err(|e| e.to_string())?;
            Ok(out)
        }
        Some(field) => {
            let whole = message
                .serialize_with_options(serde_json::value::Serializer, &options)
                .map_err(|e| e.to_string())?;
            let part = whole
                .get(field.json_name())
                .cloned()
                .unwrap_or_else(|| default_json(field));
            serde_json::to_vec(&part).map_err(|e| e.to_string())
        }
    }
}

/// The JSON of an unset field (canonical JSON omits it; a bare response body cannot).
fn default_json(field: &FieldDescriptor) -> Value {
    if field.is_map() {
        return Value::Object(Map::new());
    }
    if field.is_list() {
        return Value::Array(Vec::new());
    }
    match field.kind() {
        Kind::Message(_) => Value::Object(Map::new()),
        Kind::Bool => Value::Bool(false),
        Kind::String | Kind::Bytes => Value::String(String::new()),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            Value::String("0".into())
        }
        Kind::Enum(e) => e.default_value().name().into(),
        Kind::Double
        | Kind::Float
        | Kind::Int32
        | Kind::Sint32
        | Kind::Sfixed32
        | Kind::Uint32
        | Kind::Fixed32 => Value::from(0),
    }
}

fn parse_body(body: &[u8]) -> Result<Value, InputError> {
    serde_json::from_slice(body).map_err(|e| {
        InputError::general(
            "MALFORMED_JSON",
            format!("the request body is not valid JSON: {e}"),
        )
    })
}

fn dotted(fields: &[FieldDescriptor]) -> String {
    fields
        .iter()
        .map(FieldDescriptor::name)
        .collect::<Vec<_>>()
        .join(".")
}

/// Where name=value pairs come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParameterSource {
    /// The query string.
    Query,
    /// A form-encoded body.
    Form,
}

/// Query parameters (or a form body's pairs): `a.b=1&tags=x&tags=y`, names in proto or JSON
/// form, nested through singular message fields, repeated fields by repetition.
fn apply_pairs(
    route: &Route,
    root: &mut Map<String, Value>,
    query: &str,
    source: ParameterSource,
) -> Result<(), InputError> {
    let input = route.rpc.input();
    let credential_parameter = route.takes_api_key_parameter();
    for (key, raw) in form_urlencoded::parse(query.as_bytes()) {
        let reason = match source {
            ParameterSource::Query => "QUERY_PARAMETER_INVALID",
            ParameterSource::Form => "FORM_FIELD_INVALID",
        };
        let bad = |why: String| InputError::field(reason, key.to_string(), why);
        if credential_parameter && key == API_KEY_PARAMETER {
            continue; // the gateway's credential, see routes::API_KEY_PARAMETER
        }
        // A form has no null, and the document (like proto3 JSON) accepts null for an optional
        // field: a form field given as `null` is a field not given.
        if source == ParameterSource::Form && raw == "null" {
            continue;
        }
        if source == ParameterSource::Query && matches!(route.body, BodyRule::Whole) {
            return Err(bad(format!(
                "this operation takes every field in the body; query parameter {key} is not accepted"
            )));
        }
        let names: Vec<&str> = key.split('.').collect();
        let fields = resolve_path(&input, &names)
            .map_err(|why| bad(format!("unknown query parameter {key}: {why}")))?;
        if let BodyRule::Field(body) = &route.body
            && fields[0].number() == body.number()
        {
            return Err(bad(format!("{key} belongs in the request body")));
        }
        if route.variable_fields.iter().any(|bound| {
            bound
                .iter()
                .zip(&fields)
                .all(|(a, b)| a.number() == b.number())
        }) {
            return Err(bad(format!("{key} is set by the path")));
        }
        let leaf = fields
            .last()
            .ok_or_else(|| bad("empty parameter name".into()))?;
        if leaf.is_map() {
            return Err(bad(format!(
                "map field {key} cannot be set from the query string"
            )));
        }
        let value = scalar_json(leaf, &raw).map_err(|why| bad(format!("{key}: {why}")))?;
        if leaf.is_list() {
            let list = entry(root, &fields).map_err(bad)?;
            match list {
                Value::Array(items) => items.push(value),
                other => *other = Value::Array(vec![value]),
            }
        } else {
            set(root, &fields, value, false).map_err(bad)?;
        }
    }
    Ok(())
}

/// The JSON form of one textual value (a path segment or a query parameter) of a scalar field,
/// left as a string wherever proto3 JSON accepts strings so the decoder reports bad values.
fn scalar_json(field: &FieldDescriptor, raw: &str) -> Result<Value, String> {
    match field.kind() {
        Kind::Bool => parse_bool(raw),
        Kind::Enum(_) => Ok(raw
            .parse::<i32>()
            .map_or_else(|_| Value::String(raw.to_owned()), Value::from)),
        Kind::Message(message) => match message.full_name() {
            "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
            | "google.protobuf.Int32Value"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.FloatValue"
            | "google.protobuf.DoubleValue" => Ok(Value::String(raw.to_owned())),
            "google.protobuf.BoolValue" => parse_bool(raw),
            other => Err(format!(
                "a {other} cannot be given as text; set its fields one by one"
            )),
        },
        _ => Ok(Value::String(raw.to_owned())),
    }
}

fn parse_bool(raw: &str) -> Result<Value, String> {
    match raw {
        "true" | "1" => Ok(Value::Bool(true)),
        "false" | "0" => Ok(Value::Bool(false)),
        _ => Err(format!("expected true or false, got {raw:?}")),
    }
}

/// Sets the field at `fields` (creating objects on the way) to `value`. Without `overwrite`, a
/// value already there is an error (a singular parameter given twice).
fn set(
    root: &mut Map<String, Value>,
    fields: &[FieldDescriptor],
    value: Value,
    overwrite: bool,
) -> Result<(), String> {
    let slot = entry(root, fields)?;
    if !overwrite && !slot.is_null() {
        return Err(format!("{} is given more than once", dotted(fields)));
    }
    *slot = value;
    Ok(())
}

/// The JSON slot of `fields` (null when new), normalising a proto-named key to the JSON name so
/// that one field never appears twice.
fn entry<'a>(
    root: &'a mut Map<String, Value>,
    fields: &[FieldDescriptor],
) -> Result<&'a mut Value, String> {
    let mut object = root;
    let (last, parents) = fields
        .split_last()
        .ok_or_else(|| "empty field path".to_owned())?;
    for field in parents {
        let slot = normalised(object, field);
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        object = match slot {
            Value::Object(next) => next,
            _ => return Err(format!("{} must be a JSON object", field.json_name())),
        };
    }
    Ok(normalised(object, last))
}

fn normalised<'a>(object: &'a mut Map<String, Value>, field: &FieldDescriptor) -> &'a mut Value {
    if field.name() != field.json_name()
        && let Some(value) = object.remove(field.name())
    {
        object.entry(field.json_name().to_owned()).or_insert(value);
    }
    object
        .entry(field.json_name().to_owned())
        .or_insert(Value::Null)
}
