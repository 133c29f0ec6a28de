//! The OpenAPI document carries the input rules the contracts declare (protovalidate
//! `buf.validate.field`), and those rules are the ones the services enforce: each declared
//! pattern or bound is compared with the services' own parser on many generated inputs.

mod common;

use regex::Regex;
use serde_json::Value;
use shequ_gateway::{Gateway, GatewayConfig};
use shequ_kit::regions::{Level, RegionCode, Regions};

fn suite() -> Value {
    let config = GatewayConfig::development::<&str, &str>(
        [],
        &shequ_kit::auth::KeyPair::generate().private_pem,
    );
    let gateway = Gateway::new(
        &config,
        shequ_proto::FILE_DESCRIPTOR_SET,
        shequ_kit::shutdown::channel().1,
    );
    let gateway = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(gateway)
        .expect("gateway builds");
    serde_json::from_slice(gateway.openapi_json()).unwrap()
}

/// Every (path, method, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            found.push((path.clone(), method.clone(), operation));
        }
    }
    found
}

fn parameter<'a>(operation: &'a Value, name: &str) -> Option<&'a Value> {
    operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
}

fn regex(schema: &Value) -> Regex {
    let pattern = schema["pattern"]
        .as_str()
        .unwrap_or_else(|| panic!("no pattern in {schema}"));
    Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

fn request_property<'a>(doc: &'a Value, schema: &str, property: &str) -> &'a Value {
    let found = &doc["components"]["schemas"][schema]["properties"][property];
    assert!(found.is_object(), "{schema}.{property} missing");
    found
}

/// A small deterministic generator (xorshift), so that a failure can be replayed.
struct Inputs(u64);

impl Inputs {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// 12 digits, mostly zeros in some segments so that every level and shape comes up.
    fn region_like(&mut self) -> String {
        let mut digits: Vec<u8> = (0..12).map(|_| b'0' + self.below(10) as u8).collect();
        for (from, to) in [(0, 2), (2, 4), (4, 6), (6, 9), (9, 12)] {
            if self.below(2) == 0 {
                digits[from..to].fill(b'0');
            }
        }
        match self.below(20) {
            0 => digits.push(b'1'),
            1 => {
                digits.pop();
            }
            2 => digits[self.below(12) as usize] = b'a',
            _ => {}
        }
        String::from_utf8(digits).unwrap()
    }

    fn text(&mut self, max: usize) -> String {
        const PIECES: [&str; 10] = [
            "王", "a", " ", "\t", "\n", "\u{7}", "\u{3000}", "-", "芳", "\r",
        ];
        let length = self.below(max as u64 + 4) as usize;
        (0..length)
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }
}

#[test]
fn every_path_parameter_and_page_size_states_its_rule() {
    let doc = suite();
    let mut unconstrained = Vec::new();
    let mut page_sizes = 0;
    for (path, method, operation) in operations(&doc) {
        for parameter in operation["parameters"].as_array().unwrap() {
            let name = parameter["name"].as_str().unwrap();
            let schema = &parameter["schema"];
            if parameter["in"] == "path" && schema.get("pattern").is_none() {
                unconstrained.push(format!("{method} {path}: {name}"));
            }
            if name == "pageSize" {
                page_sizes += 1;
                assert_eq!(
                    schema["minimum"], 0,
                    "{method} {path}: pageSize is never negative"
                );
                assert!(
                    schema.get("maximum").is_none(),
                    "{method} {path}: larger page sizes are served at most 500, not refused"
                );
            }
        }
    }
    assert!(
        unconstrained.is_empty(),
        "path parameters without a pattern: {unconstrained:#?}"
    );
    assert!(page_sizes >= 20, "only {page_sizes} list operations");
}

#[test]
fn region_and_province_patterns_agree_with_the_region_parser() {
    let doc = suite();
    let list = &doc["paths"]["/v1/regions/{region}/secretaries"]["get"];
    let any_level = regex(&parameter(list, "region").unwrap()["schema"]);
    let items = &doc["paths"]["/v1/provinces/{province}/negativeListItems"]["get"];
    let province = regex(&parameter(items, "province").unwrap()["schema"]);
    let community = regex(request_property(
        &doc,
        "shequ.personnel.v1.Secretary-request",
        "region",
    ));
    let street_or_community = regex(request_property(
        &doc,
        "shequ.personnel.v1.ReserveCandidate-request",
        "region",
    ));
    // The patterns state the shape, the level and the province (the table's 31 provinces); the
    // rest of the table (cities, streets, communities) is beyond a pattern.
    let regions = Regions::shipped();
    let mut inputs = Inputs(0x5eed_1234_abcd_0001);
    let mut levels_seen = std::collections::HashSet::new();
    for _ in 0..20_000 {
        let code = inputs.region_like();
        let parsed = RegionCode::parse(&code).ok().filter(|c| {
            regions
                .known_at(&c.province().to_string(), Level::Province)
                .is_ok()
        });
        let level = parsed.map(|c| c.level());
        if let Some(level) = level {
            levels_seen.insert(level);
        }
        assert_eq!(any_level.is_match(&code), parsed.is_some(), "{code}");
        assert_eq!(
            province.is_match(&code),
            regions.known_at(&code, Level::Province).is_ok(),
            "{code}"
        );
        assert_eq!(
            community.is_match(&code),
            level == Some(Level::Community),
            "{code}"
        );
        assert_eq!(
            street_or_community.is_match(&code),
            level >= Some(Level::Street),
            "{code}"
        );
    }
    assert_eq!(levels_seen.len(), 5, "every level was tried");
}

#[test]
fn identifier_date_text_and_request_id_patterns_agree_with_the_services_checks() {
    let doc = suite();
    let get = &doc["paths"]["/v1/secretaries/{secretary}"]["get"];
    let segment = regex(&parameter(get, "secretary").unwrap()["schema"]);
    let date = regex(request_property(
        &doc,
        "shequ.personnel.v1.Violation-request",
        "occurredOn",
    ));
    // No serving secretary was born before 1920 (personnel's `domain::plausible::EARLIEST_BIRTH`).
    let birth_date = regex(request_property(
        &doc,
        "shequ.personnel.v1.Secretary-request",
        "birthDate",
    ));
    let name = regex(request_property(
        &doc,
        "shequ.personnel.v1.Secretary-request",
        "displayName",
    ));
    let create = &doc["paths"]["/v1/secretaries"]["post"];
    let request_id = regex(&parameter(create, "requestId").unwrap()["schema"]);

    let mut inputs = Inputs(0x0dd5_eed5_0000_0002);
    for _ in 0..5_000 {
        let length = inputs.below(70) as usize;
        let id: String = (0..length)
            .map(|_| b"aZ09-_/.%"[inputs.below(9) as usize] as char)
            .collect();
        assert_eq!(
            segment.is_match(&id),
            shequ_kit::names::valid_segment(&id),
            "{id:?}"
        );

        let text = format!(
            "{:04}-{:02}-{:02}",
            inputs.below(2_401),
            inputs.below(14),
            inputs.below(33)
        );
        let parsed = shequ_kit::convert::parse_date("d", &text).ok();
        assert_eq!(date.is_match(&text), parsed.is_some(), "{text}");
        assert_eq!(
            birth_date.is_match(&text),
            parsed.is_some_and(|d| d >= chrono::NaiveDate::from_ymd_opt(1920, 1, 1).unwrap()),
            "{text}"
        );

        let display_name = inputs.text(50);
        let mut checks = shequ_kit::validate::Checks::new();
        let _ = checks.text("display_name", &display_name, 50);
        assert_eq!(
            name.is_match(&display_name),
            checks.finish().is_ok(),
            "{display_name:?}"
        );

        let length = inputs.below(131) as usize + 1;
        let id: String = (0..length)
            .map(|_| char::from(b' ' + inputs.below(96) as u8))
            .collect();
        assert_eq!(
            request_id.is_match(&id),
            shequ_kit::idempotency::validate_request_id(&id).is_ok(),
            "{id:?}"
        );
    }
    // Leap days by the Gregorian rule.
    for (text, valid) in [
        ("2000-02-29", true),
        ("1900-02-29", false),
        ("2024-02-29", true),
        ("2023-02-29", false),
        ("2023-04-31", false),
        ("1920-02-29", true),
    ] {
        assert_eq!(date.is_match(text), valid, "{text}");
        assert_eq!(birth_date.is_match(text), valid, "{text}");
        assert_eq!(shequ_kit::convert::parse_date("d", text).is_ok(), valid);
    }
}

#[test]
fn request_schemas_state_required_fields_enums_and_bounds_while_responses_stay_open() {
    let doc = suite();
    let schemas = &doc["components"]["schemas"];
    let create = &schemas["shequ.personnel.v1.Secretary-request"];
    let required: Vec<&str> = create["required"]
        .as_array()
        .expect("a create request lists its required fields")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in ["displayName", "gender", "birthDate", "idNumber", "region"] {
        assert!(required.contains(&field), "{field} in {required:?}");
    }
    let genders = create["properties"]["gender"]["enum"].as_array().unwrap();
    assert!(
        !genders.contains(&Value::from("GENDER_UNSPECIFIED")),
        "a required enum refuses its zero value: {genders:?}"
    );

    // An update changes the fields it sets: nothing is required, and defaults are accepted.
    let update = &schemas["shequ.personnel.v1.Secretary-update"];
    assert!(update.get("required").is_none(), "{update}");
    assert!(
        regex(&update["properties"]["displayName"]).is_match(""),
        "an empty display name leaves it unchanged"
    );
    let patch = &doc["paths"]["/v1/secretaries/{secretary}"]["patch"];
    let mask = regex(&parameter(patch, "updateMask").unwrap()["schema"]);
    for (value, valid) in [
        ("displayName,phoneNumber", true),
        ("*", true),
        ("", true),
        ("region", false),
        ("*,displayName", false),
    ] {
        assert_eq!(mask.is_match(value), valid, "{value:?}");
    }

    // Responses carry no input rules: a masked ID number is a valid response.
    let response = &schemas["shequ.personnel.v1.Secretary"];
    assert!(response["properties"]["idNumber"].get("pattern").is_none());

    let policy = &schemas["shequ.personnel.v1.CareerPolicy-update"]["properties"];
    assert_eq!(
        policy["violationLookbackMonths"]["maximum"], 120,
        "{}",
        policy["violationLookbackMonths"]
    );
    // 0 leaves the target unchanged; otherwise 1 to 1,000,000.
    assert_eq!(
        policy["reserveAnnualTarget"]["anyOf"][1]["minimum"], 1,
        "{}",
        policy["reserveAnnualTarget"]
    );
    let statistics = &doc["paths"]["/v1/regions/{region}/workforceStatistics"]["get"];
    let year = &parameter(statistics, "year").unwrap()["schema"];
    assert_eq!(
        year["anyOf"][0]["enum"][0], 0,
        "0 is the current year: {year}"
    );
    assert_eq!(year["anyOf"][1]["minimum"], 2000, "{year}");

    // A score of 0 is a score: a REQUIRED number whose default is valid cannot be required in
    // JSON (proto3 reads an absent field and `null` as 0).
    let exam = &schemas["shequ.training.v1.ExamResult-request"];
    let exam_required = exam["required"].as_array().unwrap();
    assert!(exam_required.contains(&Value::from("module")), "{exam}");
    assert!(!exam_required.contains(&Value::from("score")), "{exam}");
    assert_eq!(exam["properties"]["score"]["nullable"], true);

    let roles = &schemas["shequ.identity.v1.ApiKey-request"]["properties"]["roles"];
    assert_eq!(roles["minItems"], 1);
    assert_eq!(roles["uniqueItems"], true);
    assert!(
        !roles["items"]["enum"]
            .as_array()
            .unwrap()
            .contains(&Value::from("gateway")),
        "internal roles cannot be granted: {roles}"
    );
}

#[test]
fn every_refusal_beyond_the_schema_names_real_operations_and_says_why() {
    let doc = suite();
    let ids: std::collections::HashSet<String> = operations(&doc)
        .iter()
        .map(|(_, _, operation)| operation["operationId"].as_str().unwrap().to_owned())
        .collect();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ci/beyond_schema.toml");
    let list: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    let rules = list["rule"].as_array().expect("[[rule]] entries");
    assert!(!rules.is_empty());
    let mut reasons = std::collections::HashSet::new();
    for rule in rules {
        let reason = rule["reason"].as_str().unwrap();
        assert!(reasons.insert(reason), "{reason} listed twice");
        assert!(
            ["data", "fields", "time", "state"].contains(&rule["kind"].as_str().unwrap()),
            "{reason}: kind"
        );
        assert!(
            rule["why"].as_str().unwrap().trim().len() > 20,
            "{reason} says why"
        );
        for operation in rule["operations"].as_array().unwrap() {
            let operation = operation.as_str().unwrap();
            assert!(
                ids.contains(operation),
                "{reason}: no operation {operation} in the document"
            );
        }
    }
}
