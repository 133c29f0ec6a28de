//! The input constraints the contracts declare with protovalidate (`buf.validate.field`, vendored in
//! `proto/buf/validate/validate.proto`), as JSON Schema keywords for the OpenAPI document.
//!
//! The services enforce their own rules; the annotations say in the contract what those rules
//! are, so that a generated client can tell good input from bad. Only the rules that JSON Schema
//! can state are translated: string `pattern`, `min_len`/`max_len`/`len`, `in`/`const`; numeric
//! `gt`/`gte`/`lt`/`lte`, `in`/`const`; enum `in`/`not_in`/`const`; repeated `min_items`/
//! `max_items`/`unique` and `items`; map `min_pairs`/`max_pairs`; field mask `in`; `required`;
//! `ignore = IGNORE_IF_ZERO_VALUE`. A 64-bit integer (a string in proto3 JSON) states only a lower
//! bound of 0 or 1; CEL expressions are not translated.

use prost_reflect::{
    DescriptorPool, DynamicMessage, EnumDescriptor, ExtensionDescriptor, FieldDescriptor, Kind,
    Value as PValue,
};
use serde_json::{Map, Value, json};

/// Reads `buf.validate.field` options.
#[derive(Debug, Clone)]
pub struct Constraints {
    field: Option<ExtensionDescriptor>,
}

impl Constraints {
    /// The rules of `pool` (none when its contracts do not import protovalidate).
    pub fn new(pool: &DescriptorPool) -> Self {
        Constraints {
            field: pool.get_extension_by_name("buf.validate.field"),
        }
    }

    /// The `buf.validate.FieldRules` of `field`, if it declares any.
    pub fn rules(&self, field: &FieldDescriptor) -> Option<DynamicMessage> {
        let extension = self.field.as_ref()?;
        let options = field.options();
        if !options.has_extension(extension) {
            return None;
        }
        match options.get_extension(extension).into_owned() {
            PValue::Message(rules) => Some(rules),
            _ => None,
        }
    }

    /// True when `field` must be set (`required`): present in an object, and for a string, an
    /// enum or a number a value other than the default.
    pub fn required(&self, field: &FieldDescriptor) -> bool {
        self.rules(field)
            .and_then(|rules| bool_field(&rules, "required"))
            .unwrap_or(false)
    }

    /// The path-segment schema of the `index`-th segment of `literals_and_wildcards` (the segments
    /// of one template variable; `None` for a wildcard) bound to `field`, when the field's pattern
    /// is written segment by segment: `^provinces/[0-9]{2}0{10}/negativeListItems/[A-Z0-9]{1,16}$`
    /// gives each wildcard its own anchored pattern. `None` when the pattern does not split that way.
    pub fn segment_pattern(
        &self,
        field: &FieldDescriptor,
        segments: &[Option<&str>],
        index: usize,
    ) -> Option<String> {
        let rules = self.rules(field)?;
        let string = set_message(&rules, "string")?;
        let pattern = string_field(&string, "pattern")?;
        let mut body = pattern.strip_prefix('^')?.strip_suffix('$')?;
        // `^(name)?$`: a resource's own name, which a request may leave empty; a path segment
        // never is.
        if let Some(inner) = body.strip_prefix('(').and_then(|b| b.strip_suffix(")?"))
            && balanced(inner)
        {
            body = inner;
        }
        let parts: Vec<&str> = body.split('/').collect();
        if parts.len() != segments.len() {
            return None;
        }
        for (part, segment) in parts.iter().zip(segments) {
            if let Some(literal) = segment
                && part != literal
            {
                return None;
            }
        }
        segments[index]
            .is_none()
            .then(|| format!("^{}$", parts[index]))
    }

    /// Adds the JSON Schema form of `field`'s rules to `schema` (the schema of its JSON value).
    pub fn apply(&self, field: &FieldDescriptor, schema: &mut Value) {
        let Some(rules) = self.rules(field) else {
            return;
        };
        let required = bool_field(&rules, "required").unwrap_or(false);
        if field.is_list() {
            if let Some(repeated) = set_message(&rules, "repeated") {
                let object = object(schema);
                put_u64(object, "minItems", &repeated, "min_items");
                put_u64(object, "maxItems", &repeated, "max_items");
                if bool_field(&repeated, "unique") == Some(true) {
                    object.insert("uniqueItems".into(), json!(true));
                }
                if let (Some(items), Some(item_schema)) =
                    (set_message(&repeated, "items"), object.get_mut("items"))
                {
                    scalar(&field.kind(), &items, item_schema, false);
                }
            }
            if required
                && !schema
                    .as_object()
                    .is_some_and(|o| o.contains_key("minItems"))
            {
                object(schema).insert("minItems".into(), json!(1));
            }
            return;
        }
        if let Kind::Message(message) = field.kind()
            && message.full_name() == "google.protobuf.FieldMask"
        {
            if let Some(mask) = set_message(&rules, "field_mask") {
                let paths = strings(&mask, "in");
                if !paths.is_empty() {
                    object(schema).insert("pattern".into(), json!(mask_pattern(&paths)));
                }
            }
            return;
        }
        if field.is_map() {
            if let Some(map) = set_message(&rules, "map") {
                let object = object(schema);
                put_u64(object, "minProperties", &map, "min_pairs");
                put_u64(object, "maxProperties", &map, "max_pairs");
            }
            return;
        }
        scalar(
            &field.kind(),
            &rules,
            schema,
            required && !field.supports_presence(),
        );
        if rules
            .get_field_by_name("ignore")
            .and_then(|v| v.as_enum_number())
            == Some(IGNORE_IF_ZERO_VALUE)
        {
            admit_default(&field.kind(), schema);
        }
    }
}

/// The JSON form of a field mask whose paths are among `paths` (snake_case, `*` for all): the
/// camelCase paths, comma-separated, or `*` alone.
fn mask_pattern(paths: &[String]) -> String {
    let names: Vec<String> = paths
        .iter()
        .filter(|p| p.as_str() != "*")
        .map(|p| {
            p.split('.')
                .map(lower_camel)
                .collect::<Vec<_>>()
                .join("\\.")
        })
        .collect();
    let one = format!("({})", names.join("|"));
    let star = if paths.iter().any(|p| p == "*") {
        "\\*|"
    } else {
        ""
    };
    format!("^({star}{one}(,{one})*)?$")
}

fn lower_camel(snake: &str) -> String {
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

/// True when a number's schema (its bounds and values; an `anyOf` of [`admit_default`] lets 0
/// through by construction) lets 0 through.
fn admits_zero(object: &Map<String, Value>) -> bool {
    let number = |key: &str| object.get(key).and_then(Value::as_f64);
    let exclusive = |key: &str| object.get(key).and_then(Value::as_bool) == Some(true);
    number("minimum").is_none_or(|min| min < 0.0 || (min == 0.0 && !exclusive("exclusiveMinimum")))
        && number("maximum")
            .is_none_or(|max| max > 0.0 || (max == 0.0 && !exclusive("exclusiveMaximum")))
        && object
            .get("enum")
            .and_then(Value::as_array)
            .is_none_or(|values| values.iter().any(|v| v.as_f64() == Some(0.0)))
}

/// True when `schema` (of a scalar of `kind`, rules applied) accepts the type's default value,
/// which proto3 JSON also reads from an absent field or `null`: then the field cannot be
/// required in JSON, whatever its field behaviour says (an exam score of 0 is a score).
pub fn accepts_default(kind: &Kind, schema: &Value) -> bool {
    let Some(object) = schema.as_object() else {
        return false;
    };
    match kind {
        Kind::Bool => true,
        Kind::Int32
        | Kind::Sint32
        | Kind::Sfixed32
        | Kind::Uint32
        | Kind::Fixed32
        | Kind::Double
        | Kind::Float => admits_zero(object),
        _ => false,
    }
}

/// `buf.validate.Ignore.IGNORE_IF_ZERO_VALUE`: the rules hold unless the field has its default.
const IGNORE_IF_ZERO_VALUE: i32 = 1;

/// Lets `schema` (of a scalar of `kind`) also accept the type's default value, which proto3 JSON
/// cannot tell from an absent field: an empty string, the enum's zero value, the number 0.
pub fn admit_default(kind: &Kind, schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    match kind {
        Kind::String => {
            object.remove("minLength");
            if let Some(Value::String(pattern)) = object.get("pattern")
                && !pattern.is_empty()
            {
                let relaxed = format!("^$|{pattern}");
                object.insert("pattern".into(), json!(relaxed));
            }
            if let Some(Value::Array(values)) = object.get_mut("enum")
                && !values.contains(&json!(""))
            {
                values.push(json!(""));
            }
        }
        Kind::Enum(descriptor) => {
            if let (Some(Value::Array(values)), Some(zero)) =
                (object.get_mut("enum"), descriptor.get_value(0))
                && !values.contains(&json!(zero.name()))
            {
                values.insert(0, json!(zero.name()));
            }
        }
        Kind::Int32
        | Kind::Sint32
        | Kind::Sfixed32
        | Kind::Uint32
        | Kind::Fixed32
        | Kind::Double
        | Kind::Float => {
            if admits_zero(object) {
                return;
            }
            let keys = [
                "minimum",
                "maximum",
                "exclusiveMinimum",
                "exclusiveMaximum",
                "enum",
            ];
            let bounds: Map<String, Value> = keys
                .iter()
                .filter_map(|k| object.remove(*k).map(|v| ((*k).to_owned(), v)))
                .collect();
            if !bounds.is_empty() {
                object.insert(
                    "anyOf".into(),
                    json!([{ "enum": [0] }, Value::Object(bounds)]),
                );
            }
        }
        _ => {}
    }
}

/// True when no group of `pattern` closes before it opens (so an outer `(...)` wraps it whole).
fn balanced(pattern: &str) -> bool {
    let mut depth = 0_i32;
    let mut escaped = false;
    for c in pattern.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// Applies the rules of one value of `kind` (a `FieldRules`) to its schema. `non_default`: the
/// value must not be its type's default (protovalidate's `required` on a field without presence).
fn scalar(kind: &Kind, rules: &DynamicMessage, schema: &mut Value, non_default: bool) {
    match kind {
        Kind::String => {
            let Some(string) = set_message(rules, "string") else {
                if non_default {
                    object(schema).insert("minLength".into(), json!(1));
                }
                return;
            };
            let object = object(schema);
            if let Some(pattern) = string_field(&string, "pattern") {
                object.insert("pattern".into(), json!(pattern));
            }
            put_u64(object, "minLength", &string, "min_len");
            put_u64(object, "maxLength", &string, "max_len");
            put_u64(object, "minLength", &string, "len");
            put_u64(object, "maxLength", &string, "len");
            if non_default && !object.contains_key("minLength") {
                object.insert("minLength".into(), json!(1));
            }
            let mut values = strings(&string, "in");
            if let Some(value) = string_field(&string, "const") {
                values = vec![value];
            }
            if !values.is_empty() {
                object.insert("enum".into(), json!(values));
            }
        }
        Kind::Enum(descriptor) => {
            let enum_rules = set_message(rules, "enum");
            let mut allowed: Vec<i32> = descriptor.values().map(|v| v.number()).collect();
            if let Some(enum_rules) = &enum_rules {
                let listed = numbers(enum_rules, "in");
                if !listed.is_empty() {
                    allowed.retain(|n| listed.contains(n));
                }
                let refused = numbers(enum_rules, "not_in");
                allowed.retain(|n| !refused.contains(n));
                if let Some(PValue::I32(value)) = enum_rules
                    .has_field_by_name("const")
                    .then(|| enum_rules.get_field_by_name("const"))
                    .flatten()
                    .map(|v| v.into_owned())
                {
                    allowed.retain(|n| *n == value);
                }
            }
            if non_default {
                allowed.retain(|n| *n != 0);
            }
            restrict_enum(schema, descriptor, &allowed);
        }
        Kind::Int32
        | Kind::Sint32
        | Kind::Sfixed32
        | Kind::Uint32
        | Kind::Fixed32
        | Kind::Double
        | Kind::Float => {
            let name = match kind {
                Kind::Int32 => "int32",
                Kind::Sint32 => "sint32",
                Kind::Sfixed32 => "sfixed32",
                Kind::Uint32 => "uint32",
                Kind::Fixed32 => "fixed32",
                Kind::Double => "double",
                _ => "float",
            };
            let Some(numeric) = set_message(rules, name) else {
                return;
            };
            let object = object(schema);
            if let Some(v) = number(&numeric, "gte") {
                object.insert("minimum".into(), v);
            }
            if let Some(v) = number(&numeric, "gt") {
                object.insert("minimum".into(), v);
                object.insert("exclusiveMinimum".into(), json!(true));
            }
            if let Some(v) = number(&numeric, "lte") {
                object.insert("maximum".into(), v);
            }
            if let Some(v) = number(&numeric, "lt") {
                object.insert("maximum".into(), v);
                object.insert("exclusiveMaximum".into(), json!(true));
            }
            let mut values: Vec<Value> = match numeric.get_field_by_name("in").as_deref() {
                Some(PValue::List(list)) => list.iter().filter_map(json_number).collect(),
                _ => Vec::new(),
            };
            if let Some(value) = number(&numeric, "const") {
                values = vec![value];
            }
            if !values.is_empty() {
                object.insert("enum".into(), Value::Array(values));
            }
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            // A string in proto3 JSON: only a lower bound of 0 or 1 is stated, as a pattern
            // (at most 18 digits, so the value always fits).
            let name = match kind {
                Kind::Int64 => "int64",
                Kind::Sint64 => "sint64",
                _ => "sfixed64",
            };
            let Some(numeric) = set_message(rules, name) else {
                return;
            };
            let bound = |field: &str| {
                numeric
                    .has_field_by_name(field)
                    .then(|| numeric.get_field_by_name(field))
                    .flatten()
                    .and_then(|v| v.as_i64())
            };
            let lowest = match (bound("gte"), bound("gt")) {
                (Some(gte), _) => Some(gte),
                (None, Some(gt)) => Some(gt + 1),
                _ => None,
            };
            let pattern = match lowest {
                Some(0) => "^[0-9]{1,18}$",
                Some(1) => "^0*[1-9][0-9]{0,17}$",
                _ => return,
            };
            object(schema).insert("pattern".into(), json!(pattern));
        }
        // Bools, bytes and messages have no rules the document states.
        _ => {}
    }
}

/// Narrows an enum schema (inline, or a `$ref` wrapped in `allOf`) to the `allowed` numbers.
fn restrict_enum(schema: &mut Value, descriptor: &EnumDescriptor, allowed: &[i32]) {
    let names: Vec<Value> = descriptor
        .values()
        .filter(|v| allowed.contains(&v.number()))
        .map(|v| json!(v.name()))
        .collect();
    if names.len() == descriptor.values().len() {
        return;
    }
    object(schema).insert("enum".into(), Value::Array(names));
}

fn object(schema: &mut Value) -> &mut Map<String, Value> {
    if !schema.is_object() {
        *schema = json!({});
    }
    schema.as_object_mut().expect("an object")
}

/// The message set in `rules`' field `name` (one member of a oneof), if set.
fn set_message(rules: &DynamicMessage, name: &str) -> Option<DynamicMessage> {
    if !rules.has_field_by_name(name) {
        return None;
    }
    match rules.get_field_by_name(name)?.into_owned() {
        PValue::Message(message) => Some(message),
        _ => None,
    }
}

fn bool_field(message: &DynamicMessage, name: &str) -> Option<bool> {
    if !message.has_field_by_name(name) {
        return None;
    }
    message.get_field_by_name(name)?.as_bool()
}

fn string_field(message: &DynamicMessage, name: &str) -> Option<String> {
    if !message.has_field_by_name(name) {
        return None;
    }
    message.get_field_by_name(name)?.as_str().map(str::to_owned)
}

fn strings(message: &DynamicMessage, name: &str) -> Vec<String> {
    match message.get_field_by_name(name).as_deref() {
        Some(PValue::List(list)) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn numbers(message: &DynamicMessage, name: &str) -> Vec<i32> {
    match message.get_field_by_name(name).as_deref() {
        Some(PValue::List(list)) => list.iter().filter_map(PValue::as_i32).collect(),
        _ => Vec::new(),
    }
}

fn put_u64(object: &mut Map<String, Value>, key: &str, message: &DynamicMessage, name: &str) {
    if message.has_field_by_name(name)
        && let Some(value) = message.get_field_by_name(name).and_then(|v| v.as_u64())
    {
        object.insert(key.into(), json!(value));
    }
}

fn number(message: &DynamicMessage, name: &str) -> Option<Value> {
    if !message.has_field_by_name(name) {
        return None;
    }
    json_number(message.get_field_by_name(name)?.as_ref())
}

fn json_number(value: &PValue) -> Option<Value> {
    match value {
        PValue::I32(v) => Some(json!(v)),
        PValue::U32(v) => Some(json!(v)),
        PValue::F32(v) => Some(json!(v)),
        PValue::F64(v) => Some(json!(v)),
        _ => None,
    }
}
