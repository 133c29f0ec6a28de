//! The OpenAPI document follows the proto3 JSON mapping and carries the protos' comments.

mod common;

use serde_json::{Value, json};
use shequ_gateway::{Gateway, GatewayConfig};

fn document(set: &[u8]) -> Value {
    let config = GatewayConfig::development::<&str, &str>(
        [],
        &shequ_kit::auth::KeyPair::generate().private_pem,
    );
    let gateway = Gateway::new(&config, set, shequ_kit::shutdown::channel().1);
    let gateway = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(gateway)
        .expect("gateway builds");
    serde_json::from_slice(gateway.openapi_json()).unwrap()
}

fn suite() -> Value {
    document(shequ_proto::FILE_DESCRIPTOR_SET)
}

fn library() -> Value {
    document(&common::library_set())
}

fn parameter<'a>(operation: &'a Value, name: &str) -> &'a Value {
    operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no parameter {name} in {operation}"))
}

#[test]
fn paths_use_the_collection_names_and_keep_custom_verbs() {
    let doc = suite();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/secretaries",
        "/v1/secretaries/{secretary}",
        "/v1/secretaries/{secretary}:promote",
        "/v1/regions/{region}/secretaries",
        "/v1/provinces/{province}/negativeListItems/{negativeListItem}",
        "/v1/provinces/{province}/qualificationStandard:check",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    let get = &doc["paths"]["/v1/secretaries/{secretary}"]["get"];
    assert_eq!(get["operationId"], "GetSecretary");
    assert_eq!(get["tags"][0], "shequ.personnel.v1.PersonnelService");
    assert_eq!(
        get["x-grpc-method"],
        "shequ.personnel.v1.PersonnelService/GetSecretary"
    );
    let secretary = parameter(get, "secretary");
    assert_eq!(secretary["in"], "path");
    assert_eq!(secretary["required"], true);
    assert!(
        secretary["description"]
            .as_str()
            .unwrap()
            .contains("`name` (`secretaries/*`)"),
        "{secretary}"
    );
    // the view enum is a query parameter with its values by name
    let view = parameter(get, "view");
    assert_eq!(view["in"], "query");
    assert!(
        view["schema"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("SECRETARY_VIEW_UNMASKED"))
    );
    assert!(
        get["description"]
            .as_str()
            .unwrap()
            .starts_with("Reads one secretary."),
        "method comments become descriptions"
    );
}

#[test]
fn bodies_follow_the_rule_and_other_fields_become_query_parameters() {
    let doc = suite();
    let patch = &doc["paths"]["/v1/secretaries/{secretary}"]["patch"];
    assert_eq!(
        patch["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/shequ.personnel.v1.Secretary-update",
        "an update's resource has its own schema: nothing required, defaults leave fields as they are"
    );
    let mask = parameter(patch, "updateMask");
    assert_eq!(
        mask["schema"]["type"], "string",
        "a FieldMask is a comma-separated string"
    );
    assert!(
        mask.get("required").is_none_or(|r| r == false),
        "optional: without a mask the fields the request sets change (AIP-134)"
    );
    let create_item = &doc["paths"]["/v1/provinces/{province}/negativeListItems"]["post"];
    assert_eq!(
        parameter(create_item, "negativeListItemId")["required"],
        true,
        "REQUIRED field behaviour"
    );

    let promote = &doc["paths"]["/v1/secretaries/{secretary}:promote"]["post"];
    let body = &promote["requestBody"]["content"]["application/json"]["schema"];
    assert!(body["properties"]["ladder"].is_object());
    assert!(
        body["properties"].get("name").is_none(),
        "path-bound fields are not in a body \"*\" schema: {body}"
    );
    assert_eq!(body["required"], json!(["ladder"]));
    assert!(
        promote["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["in"] == "path"),
        "body \"*\" leaves no query parameters"
    );

    let list = &doc["paths"]["/v1/regions/{region}/secretaries"]["get"];
    assert_eq!(
        parameter(list, "pageSize")["schema"],
        json!({ "type": "integer", "format": "int32", "minimum": 0 })
    );
    assert!(
        parameter(list, "pageToken")["description"]
            .as_str()
            .unwrap()
            .contains("next_page_token")
    );
    for status in ["4XX", "5XX"] {
        assert_eq!(
            list["responses"][status]["$ref"],
            "#/components/responses/Problem"
        );
    }
    assert_eq!(
        list["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/shequ.personnel.v1.ListSecretariesResponse"
    );
}

#[test]
fn message_schemas_use_the_proto3_json_mapping_with_comments() {
    let doc = suite();
    let secretary = &doc["components"]["schemas"]["shequ.personnel.v1.Secretary"];
    assert_eq!(secretary["additionalProperties"], false);
    let props = &secretary["properties"];
    assert!(
        props["idNumber"]["description"]
            .as_str()
            .unwrap()
            .contains("居民身份证号"),
        "field comments: {}",
        props["idNumber"]
    );
    assert_eq!(props["createTime"]["format"], "date-time");
    assert_eq!(props["createTime"]["readOnly"], true, "OUTPUT_ONLY");
    assert_eq!(props["gender"]["type"], "string");
    assert!(
        props["gender"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("GENDER_FEMALE"))
    );
    assert!(
        props["gender"]["description"]
            .as_str()
            .unwrap()
            .contains("GENDER_MALE`: 男"),
        "{}",
        props["gender"]
    );
    assert!(
        secretary.get("required").is_none(),
        "a message that is also a response has no required list"
    );
    let candidate = &doc["components"]["schemas"]["shequ.personnel.v1.CandidateProfile"];
    assert_eq!(
        candidate["required"],
        json!(["birthDate", "education", "communityWorkStartDate"])
    );
    let list = &doc["components"]["schemas"]["shequ.personnel.v1.ListSecretariesResponse"];
    assert_eq!(list["properties"]["secretaries"]["type"], "array");
    let problem = &doc["components"]["schemas"]["Problem"];
    for field in [
        "type",
        "title",
        "status",
        "detail",
        "code",
        "reason",
        "domain",
        "metadata",
        "fieldViolations",
        "preconditionViolations",
        "requestId",
    ] {
        assert!(problem["properties"][field].is_object(), "Problem.{field}");
    }
    assert!(
        doc["info"]["description"]
            .as_str()
            .unwrap()
            .contains("x-request-timeout")
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
}

#[test]
fn int64_maps_wrappers_durations_and_response_bodies() {
    let doc = library();
    let book = &doc["components"]["schemas"]["library.v1.Book"]["properties"];
    assert_eq!(book["pageCount"]["type"], "string");
    assert_eq!(book["pageCount"]["format"], "int64");
    assert_eq!(book["labels"]["type"], "object");
    assert_eq!(book["labels"]["additionalProperties"]["type"], "string");
    assert_eq!(book["rating"]["nullable"], true);
    assert_eq!(book["readTime"]["type"], "string");
    assert_eq!(book["cover"]["format"], "byte");
    assert!(
        book["isbn"].is_object() && book["doi"].is_object(),
        "oneof members are plain optional properties"
    );
    let author = &book["author"];
    assert_eq!(
        author["allOf"][0]["$ref"], "#/components/schemas/library.v1.Author",
        "a described $ref is wrapped"
    );

    let title = &doc["paths"]["/v1/shelves/{shelf}/books/{book}:title"]["get"];
    assert_eq!(
        title["responses"]["200"]["content"]["application/json"]["schema"]["type"], "string",
        "response_body"
    );
    let list = &doc["paths"]["/v1/shelves/{shelf}/books"]["get"];
    for name in [
        "filter.author",
        "filter.minPages",
        "genres",
        "publishedAfter",
    ] {
        parameter(list, name);
    }
    assert!(
        list["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "labels"),
        "maps are not query parameters"
    );
    assert!(
        list["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| !p["name"].as_str().unwrap().starts_with("filter.nested")),
        "a message type is not followed into itself (the transcoder still accepts filter.nested.author)"
    );
    assert_eq!(parameter(list, "genres")["schema"]["type"], "array");
    let extra = &doc["paths"]["/v1/books/{name}"]["get"];
    assert_eq!(
        extra["operationId"], "GetBook_2",
        "additional bindings get distinct operation ids"
    );
}
