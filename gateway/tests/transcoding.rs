//! Routing and JSON ⇄ protobuf transcoding against a test API that uses every feature: nested
//! path variables, `**`, custom verbs, a literal route overlapping a variable one, query
//! parameters (nested, repeated, enums, well-known types), `body: "*"` and `body: "field"`,
//! `response_body`, and the canonical JSON forms of int64, enums, timestamps and field masks.

mod common;

use http::Method;
use prost::Message as _;
use prost_reflect::{DynamicMessage, SerializeOptions};
use serde_json::{Value, json};
use shequ_gateway::{
    errors::InputError,
    routes::{Lookup, Route, RouteTable},
    template::Binding,
    transcode::{BodyFormat, encode_request, encode_response},
};

fn table() -> RouteTable {
    RouteTable::from_pool(&common::library_pool()).expect("routes build")
}

fn found<'a>(table: &'a RouteTable, method: Method, path: &str) -> (&'a Route, Vec<Binding>) {
    match table.lookup(&method, path) {
        Lookup::Found(route, bindings) => (route, bindings),
        other => panic!("{method} {path}: {other:?}"),
    }
}

/// The request message the gateway would send, as JSON (defaults omitted).
fn request(method: Method, path_and_query: &str, body: &str) -> Result<Value, InputError> {
    let table = table();
    let (path, query) = path_and_query
        .split_once('?')
        .map_or((path_and_query, None), |(p, q)| (p, Some(q)));
    let (route, bindings) = found(&table, method, path);
    let bytes = encode_request(route, &bindings, query, body.as_bytes(), BodyFormat::Json)?;
    let message = DynamicMessage::decode(route.rpc.input(), bytes.as_slice()).unwrap();
    Ok(message
        .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
        .unwrap())
}

fn refused(method: Method, path_and_query: &str, body: &str) -> InputError {
    request(method, path_and_query, body).expect_err("should be refused")
}

#[test]
fn literal_routes_win_over_variables_and_verbs_over_plain_templates() {
    let table = table();
    assert_eq!(
        found(&table, Method::GET, "/v1/shelves/featured/books/top")
            .0
            .rpc
            .name(),
        "GetFeaturedBook"
    );
    assert_eq!(
        found(&table, Method::GET, "/v1/shelves/featured/books/other")
            .0
            .rpc
            .name(),
        "GetBook"
    );
    assert_eq!(
        found(&table, Method::GET, "/v1/shelves/s1/books/b1:title")
            .0
            .rpc
            .name(),
        "GetBookTitle"
    );
    assert_eq!(
        found(&table, Method::POST, "/v1/shelves/s1/books/b1:archive")
            .0
            .rpc
            .name(),
        "ArchiveBook"
    );
    assert_eq!(
        found(&table, Method::DELETE, "/v1/shelves/s1/books/b1")
            .0
            .rpc
            .name(),
        "DeleteBook"
    );
    assert_eq!(
        found(&table, Method::PATCH, "/v1/shelves/s1/books/b1")
            .0
            .rpc
            .name(),
        "UpdateBook"
    );
}

#[test]
fn a_known_path_with_the_wrong_method_is_not_allowed_and_an_unknown_path_not_found() {
    let table = table();
    match table.lookup(&Method::PUT, "/v1/shelves/s1/books/b1") {
        Lookup::MethodNotAllowed(mut allowed) => {
            allowed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            assert_eq!(allowed, [Method::DELETE, Method::GET, Method::PATCH]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        table.lookup(&Method::GET, "/v1/shelves/s1/books/b1:archive"),
        Lookup::MethodNotAllowed(_)
    ));
    assert!(matches!(
        table.lookup(&Method::GET, "/v2/shelves/s1/books/b1"),
        Lookup::NotFound
    ));
    assert!(
        matches!(
            table.lookup(&Method::GET, "/v1/shelves/s1/books/b1:unknownVerb"),
            Lookup::Found(..)
        ),
        "a colon is part of the name for routes without a verb"
    );
}

#[test]
fn path_variables_are_decoded_into_nested_fields() {
    assert_eq!(
        request(Method::GET, "/v1/shelves/s%201/books/%E4%B9%A6", "").unwrap(),
        json!({ "name": "shelves/s 1/books/书" })
    );
    assert_eq!(
        request(Method::GET, "/v1/books/shelves/1/books/2", "").unwrap(),
        json!({ "name": "shelves/1/books/2" }),
        "additional binding with **"
    );
    let update = request(
        Method::PATCH,
        "/v1/shelves/s1/books/b1?updateMask=title,pageCount",
        r#"{"name":"shelves/x/books/y","title":"T"}"#,
    )
    .unwrap();
    assert_eq!(
        update,
        json!({ "book": { "name": "shelves/s1/books/b1", "title": "T" }, "updateMask": "title,pageCount" }),
        "the path wins over the body"
    );
}

#[test]
fn query_parameters_fill_nested_repeated_enum_and_well_known_fields() {
    let list = request(
        Method::GET,
        "/v1/shelves/s1/books?pageSize=5&page_token=abc&filter.author=%E9%B2%81%E8%BF%85&filter.min_pages=10&genres=GENRE_FICTION&genres=2&includeArchived=true&publishedAfter=2024-01-02T03:04:05Z",
        "",
    )
    .unwrap();
    assert_eq!(
        list,
        json!({
            "parent": "shelves/s1",
            "pageSize": 5,
            "pageToken": "abc",
            "filter": { "author": "鲁迅", "minPages": "10" },
            "genres": ["GENRE_FICTION", "GENRE_HISTORY"],
            "includeArchived": true,
            "publishedAfter": "2024-01-02T03:04:05Z",
        })
    );
}

#[test]
fn bad_query_parameters_are_refused_naming_the_parameter() {
    let cases = [
        ("/v1/shelves/s1/books?pageSiz=5", "pageSiz"),
        ("/v1/shelves/s1/books?pageSize=five", "pageSize"),
        (
            "/v1/shelves/s1/books?includeArchived=yes",
            "includeArchived",
        ),
        ("/v1/shelves/s1/books?pageSize=1&pageSize=2", "pageSize"),
        ("/v1/shelves/s1/books?parent=shelves/other", "parent"),
        ("/v1/shelves/s1/books?genres=GENRE_POETRY", "genres"),
        ("/v1/shelves/s1/books?labels.a=b", "labels.a"),
        ("/v1/shelves/s1/books?filter=x", "filter"),
        (
            "/v1/shelves/s1/books?publishedAfter=yesterday",
            "publishedAfter",
        ),
    ];
    for (path, field) in cases {
        let error = refused(Method::GET, path, "");
        assert!(
            error.field.as_deref().is_some_and(|f| f.starts_with(field)),
            "{path}: {error:?}"
        );
    }
    let error = refused(
        Method::POST,
        "/v1/shelves/s1/books/b1:archive?reason=x",
        r#"{"reason":"y"}"#,
    );
    assert_eq!(
        error.reason, "QUERY_PARAMETER_INVALID",
        "body \"*\" takes no query parameters"
    );
    let error = refused(Method::POST, "/v1/shelves/s1/books?book.title=x", "{}");
    assert_eq!(
        error.reason, "QUERY_PARAMETER_INVALID",
        "the body field cannot come from the query"
    );
}

#[test]
fn a_body_field_maps_every_proto3_json_form() {
    let body = json!({
        "title": "呐喊",
        "pageCount": "300",
        "genre": "GENRE_FICTION",
        "tags": ["a", "b"],
        "labels": { "k": "v" },
        "publishTime": "1923-08-01T00:00:00Z",
        "author": { "displayName": "鲁迅", "born_year": 1881 },
        "isbn": "978-7",
        "readTime": "5400s",
        "rating": 5,
        "cover": "AAEC",
        "price": 12.5,
        "available": true
    });
    let created = request(
        Method::POST,
        "/v1/shelves/s1/books?bookId=b9",
        &body.to_string(),
    )
    .unwrap();
    let mut expected = body.clone();
    expected["author"] = json!({ "displayName": "鲁迅", "bornYear": 1881 });
    assert_eq!(
        created,
        json!({ "parent": "shelves/s1", "bookId": "b9", "book": expected })
    );
}

#[test]
fn a_whole_body_excludes_nothing_but_the_path_wins() {
    let archived = request(
        Method::POST,
        "/v1/shelves/s1/books/b1:archive",
        r#"{"reason":"worn"}"#,
    )
    .unwrap();
    assert_eq!(
        archived,
        json!({ "name": "shelves/s1/books/b1", "reason": "worn" })
    );
    let empty = request(Method::POST, "/v1/shelves/s1/books/b1:archive", "").unwrap();
    assert_eq!(empty, json!({ "name": "shelves/s1/books/b1" }));
}

#[test]
fn bad_bodies_are_refused_with_a_reason_and_where_possible_the_field() {
    let malformed = refused(Method::POST, "/v1/shelves/s1/books", r#"{"title": "#);
    assert_eq!(malformed.reason, "MALFORMED_JSON");
    let unknown = refused(
        Method::POST,
        "/v1/shelves/s1/books",
        r#"{"title":"x","subtitle":"y"}"#,
    );
    assert_eq!(unknown.reason, "UNKNOWN_FIELD");
    assert!(unknown.message.contains("subtitle"), "{unknown:?}");
    let wrong_type = refused(Method::POST, "/v1/shelves/s1/books", r#"{"title":5}"#);
    assert_eq!(wrong_type.reason, "FIELD_VALUE_INVALID");
    assert_eq!(
        wrong_type.field.as_deref(),
        Some("book.title"),
        "{wrong_type:?}"
    );
    let bad_int64 = refused(
        Method::POST,
        "/v1/shelves/s1/books",
        r#"{"pageCount":"many"}"#,
    );
    assert_eq!(
        bad_int64.field.as_deref(),
        Some("book.pageCount"),
        "{bad_int64:?}"
    );
    let bad_enum = refused(
        Method::POST,
        "/v1/shelves/s1/books",
        r#"{"genre":"GENRE_POETRY"}"#,
    );
    assert_eq!(
        bad_enum.field.as_deref(),
        Some("book.genre"),
        "{bad_enum:?}"
    );
    let not_object = refused(Method::POST, "/v1/shelves/s1/books/b1:archive", "[1]");
    assert_eq!(not_object.reason, "BODY_NOT_OBJECT");
    let nested_unknown = refused(
        Method::POST,
        "/v1/shelves/s1/books",
        r#"{"author":{"nickname":"x"}}"#,
    );
    assert_eq!(nested_unknown.reason, "UNKNOWN_FIELD");
}

fn book_bytes() -> Vec<u8> {
    let pool = common::library_pool();
    let book = pool.get_message_by_name("library.v1.Book").unwrap();
    let json = json!({
        "name": "shelves/s1/books/b1",
        "title": "彷徨",
        "pageCount": "9007199254740993",
        "genre": "GENRE_HISTORY",
        "createTime": "2024-05-06T07:08:09.500Z",
        "readTime": "1.500s",
    });
    DynamicMessage::deserialize(book, json)
        .unwrap()
        .encode_to_vec()
}

#[test]
fn responses_are_canonical_proto3_json() {
    let table = table();
    let (route, _) = found(&table, Method::GET, "/v1/shelves/s1/books/b1");
    let json: Value =
        serde_json::from_slice(&encode_response(route, &book_bytes()).unwrap()).unwrap();
    assert_eq!(
        json,
        json!({
            "name": "shelves/s1/books/b1",
            "title": "彷徨",
            "pageCount": "9007199254740993",
            "genre": "GENRE_HISTORY",
            "createTime": "2024-05-06T07:08:09.500Z",
            "readTime": "1.500s",
        })
    );
}

#[test]
fn a_response_body_sends_only_that_field() {
    let table = table();
    let (route, _) = found(&table, Method::GET, "/v1/shelves/s1/books/b1:title");
    assert_eq!(
        encode_response(route, &book_bytes()).unwrap(),
        "\"彷徨\"".as_bytes()
    );
    assert_eq!(
        encode_response(route, &[]).unwrap(),
        br#""""#.to_vec(),
        "an unset field is its default"
    );
}

#[test]
fn a_response_that_does_not_decode_is_an_error_not_a_panic() {
    let table = table();
    let (route, _) = found(&table, Method::GET, "/v1/shelves/s1/books/b1");
    assert!(encode_response(route, &[0xff, 0xff, 0xff]).is_err());
}
