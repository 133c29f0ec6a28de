//! Interoperability through the gateway: the Open311 GeoReport v2 intake at its own paths, with
//! GeoReport's `api_key` parameter and form-encoded bodies, and the CAP feed served as XML.

use http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

const COMMUNITY: &str = "440305001001";

#[tokio::test]
async fn an_open311_client_files_and_follows_a_request_with_its_api_key_and_reads_the_cap_feed() {
    let stack = Stack::spawn().await;
    let issued = stack
        .post(
            "/v1/apiKeys",
            Some(&stack.admin()),
            &json!({
                "displayName": "12345 市民热线",
                "roles": ["integration"],
                "scope": NANSHAN,
                "expireTime": "2026-12-31T00:00:00Z",
            }),
        )
        .await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.text);
    let secret = issued.body["secretString"]
        .as_str()
        .or_else(|| issued.body["secret"].as_str())
        .unwrap()
        .to_owned();
    let key: String = url_encoded(&secret);

    // the service list: GeoReport's bare array, snake_case, the key as a query parameter
    let services = stack
        .get(&format!("/open311/v2/services.json?api_key={key}"), None)
        .await;
    assert_eq!(services.status, StatusCode::OK, "{}", services.text);
    let list = services.body.as_array().expect("a bare array");
    assert!(
        list.iter().any(|s| s["service_code"] == "flood"),
        "{}",
        services.text
    );
    assert_eq!(list[0]["type"], "realtime");

    // a request, form-encoded as GeoReport clients send it, the key in the body; `null` (which
    // the document allows for optional fields and a form can only spell as text) is not given
    let form = format!(
        "api_key={key}&service_code=flood&address_id={COMMUNITY}&lat=22.53&long=113.92\
         &description=%E7%A7%AF%E6%B0%B4&email=someone%40example.com&jurisdiction_id=null"
    );
    let created = stack
        .send(
            Method::POST,
            "/open311/v2/requests.json",
            None,
            Some(form.into_bytes()),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let id = created.body[0]["service_request_id"]
        .as_str()
        .expect("an id")
        .to_owned();

    let status = stack
        .get(
            &format!("/open311/v2/requests/{id}.json?api_key={key}"),
            None,
        )
        .await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    assert_eq!(status.body[0]["status"], "open");
    assert_eq!(status.body[0]["service_code"], "flood");
    assert_eq!(status.body[0]["address_id"], COMMUNITY);
    assert!(!status.text.contains("someone"), "{}", status.text);

    // a bad key is refused like any bad credential; a bad field is named
    stack
        .get("/open311/v2/services.json?api_key=nonsense", None)
        .await
        .problem(401, "UNAUTHENTICATED", "API_KEY_INVALID");
    let refused = stack
        .send(
            Method::POST,
            "/open311/v2/requests.json",
            None,
            Some(format!("api_key={key}&service_code=flood&colour=red").into_bytes()),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert!(refused.text.contains("colour"), "{}", refused.text);
    // form bodies are for GeoReport-style routes only
    stack
        .send(
            Method::POST,
            "/v1/warnings",
            Some(&stack.admin()),
            Some(b"title=x".to_vec()),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await
        .problem(415, "INVALID_ARGUMENT", "UNSUPPORTED_MEDIA_TYPE");

    // the CAP feed is XML, not JSON
    let feed = stack
        .get(
            &format!("/v1/regions/{NANSHAN}/capFeed"),
            Some(&stack.admin()),
        )
        .await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.text);
    assert!(
        feed.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/atom+xml")
    );
    assert!(feed.text.starts_with("<?xml"), "{}", feed.text);
    assert_eq!(
        feed.text
            .matches("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">")
            .count(),
        1
    );
    stack.stop().await;
}

/// Percent-encodes a secret for a query string or form.
fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
