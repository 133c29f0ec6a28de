//! Interoperability: the Open311 GeoReport v2 intake mapped onto warnings, and the CAP 1.2 feed
//! of active warnings validated against the official CAP 1.2 schema.

use shequ_kit::auth::Role;
use shequ_proto::warnings::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn flood_request(community: &str) -> pb::CreateOpen311RequestRequest {
    pb::CreateOpen311RequestRequest {
        service_code: "flood".into(),
        address_id: community.into(),
        address_string: "南头街道幸福路 1 号".into(),
        lat: 22.53,
        long: 113.92,
        description: "地下车库入口积水 30 厘米".into(),
        media_url: "https://photos.example/1.jpg".into(),
        email: "zhang.san@example.com".into(),
        first_name: "三".into(),
        last_name: "张".into(),
        phone: "13800138000".into(),
        device_id: "device-77".into(),
        ..Default::default()
    }
}

async fn open311_status(client: &Client, id: &str) -> pb::Open311ServiceRequest {
    let mut found = client
        .clone()
        .get_open311_request(pb::GetOpen311RequestRequest {
            service_request_id: format!("{id}.json"),
            ..Default::default()
        })
        .await
        .expect("request status")
        .into_inner()
        .service_requests;
    assert_eq!(found.len(), 1);
    found.remove(0)
}

#[tokio::test]
async fn an_open311_request_becomes_a_blue_warning_whose_status_follows_its_lifecycle() {
    let app = TestApp::spawn().await;
    let system = app.client(Role::Integration, NANSHAN);
    let services = system
        .clone()
        .list_open311_services(pb::ListOpen311ServicesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .services;
    let codes: Vec<&str> = services.iter().map(|s| s.service_code.as_str()).collect();
    let configured: Vec<&str> = app
        .settings
        .open311_services
        .iter()
        .map(|s| s.code.as_str())
        .collect();
    assert_eq!(codes, configured);
    let flood = services.iter().find(|s| s.service_code == "flood").unwrap();
    assert_eq!(flood.r#type, "realtime");
    assert!(!flood.metadata);

    let created = system
        .clone()
        .create_open311_request(flood_request(NANTOU_COMMUNITY))
        .await
        .expect("request accepted")
        .into_inner()
        .service_requests;
    assert_eq!(created.len(), 1);
    let id = created[0].service_request_id.clone();
    assert!(
        created[0].service_notice.contains("blue"),
        "{:?}",
        created[0]
    );
    assert_eq!(created[0].account_id, "");

    // the request is a warning: blue, of the service's category, in the community, source OPEN311
    let warning = app.warning(&format!("warnings/{id}")).await;
    assert_eq!(warning.colour, pb::Colour::Blue as i32);
    assert_eq!(warning.category, "flood");
    assert_eq!(warning.region, NANTOU_COMMUNITY);
    assert_eq!(warning.source, pb::WarningSource::Open311 as i32);
    assert_eq!(warning.title, flood.service_name);
    assert!(warning.description.contains("积水 30 厘米"));
    assert!(warning.description.contains("幸福路 1 号"));
    assert!(warning.description.contains("22.53"));
    // the reporter's contact is not kept anywhere in the warning
    let kept = format!("{warning:?}");
    for personal in ["zhang.san", "13800138000", "张", "device-77"] {
        assert!(!kept.contains(personal), "{personal} kept in {kept}");
    }

    let status = open311_status(&system, &id).await;
    assert_eq!(status.status, "open");
    assert_eq!(status.status_notes, "open, blue");
    assert_eq!(status.service_code, "flood");
    assert_eq!(status.address_id, NANTOU_COMMUNITY);
    assert_eq!(status.requested_datetime, "2026-06-15T10:00:00+08:00");
    assert_eq!(status.expected_datetime, "2026-06-17T10:00:00+08:00");

    // handled by the community: still open; resolved: closed
    let own = app.client(Role::Secretary, NANTOU_COMMUNITY);
    let name = format!("warnings/{id}");
    own.clone()
        .acknowledge_warning(pb::AcknowledgeWarningRequest {
            name: name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    own.clone()
        .start_handling_warning(pb::StartHandlingWarningRequest {
            name: name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let status = open311_status(&system, &id).await;
    assert_eq!(status.status, "open");
    assert_eq!(status.status_notes, "handling, blue");
    own.clone()
        .resolve_warning(pb::ResolveWarningRequest {
            name: name.clone(),
            resolution: "已排水".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let status = open311_status(&system, &id).await;
    assert_eq!(status.status, "closed");
    assert_eq!(status.status_notes, "resolved, blue");
    assert_eq!(status.expected_datetime, "");

    // outside the caller's scope it does not exist
    let futian = app.client(Role::Integration, FUTIAN);
    assert_refused(
        futian
            .clone()
            .get_open311_request(pb::GetOpen311RequestRequest {
                service_request_id: format!("{id}.json"),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_open311_requests_name_the_field_and_rule_and_raise_nothing() {
    let app = TestApp::spawn().await;
    let system = app.client(Role::Integration, NANSHAN);
    let before = count(&app, "warnings").await;

    let refused = assert_refused(
        system
            .clone()
            .create_open311_request(pb::CreateOpen311RequestRequest {
                lat: 95.0,
                description: "x".repeat(2_001),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "FIELD_REQUIRED",
    );
    let found = violations(&refused);
    for expected in [
        ("service_code", "FIELD_REQUIRED"),
        ("address_id", "ADDRESS_ID_REQUIRED"),
        ("lat", "LATITUDE_OUT_OF_RANGE"),
        ("description", "FIELD_TOO_LONG"),
    ] {
        assert!(
            found.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} not in {found:?}"
        );
    }

    let unknown = pb::CreateOpen311RequestRequest {
        service_code: "noise".into(),
        ..flood_request(NANTOU_COMMUNITY)
    };
    let refused = assert_refused(
        system.clone().create_open311_request(unknown).await,
        Code::InvalidArgument,
        "SERVICE_CODE_UNKNOWN",
    );
    assert_eq!(
        violations(&refused),
        vec![("service_code".into(), "SERVICE_CODE_UNKNOWN".into())]
    );

    // a street, not a community
    let street = flood_request(NANTOU_STREET);
    assert_refused(
        system.clone().create_open311_request(street).await,
        Code::InvalidArgument,
        "REGION_WRONG_LEVEL",
    );

    let elsewhere = pb::CreateOpen311RequestRequest {
        jurisdiction_id: ZHEJIANG.into(),
        ..flood_request(NANTOU_COMMUNITY)
    };
    let refused = assert_refused(
        system.clone().create_open311_request(elsewhere).await,
        Code::InvalidArgument,
        "JURISDICTION_MISMATCH",
    );
    assert_eq!(violations(&refused)[0].0, "jurisdiction_id");

    // a community outside the caller's scope
    assert_refused(
        system
            .clone()
            .create_open311_request(flood_request(FUTIAN_COMMUNITY))
            .await,
        Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );
    // people who may not raise warnings may not file requests
    assert_refused(
        app.client(Role::Auditor, NANSHAN)
            .create_open311_request(flood_request(NANTOU_COMMUNITY))
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    assert_eq!(count(&app, "warnings").await, before, "nothing was raised");

    // status: only JSON, and only warnings raised through the intake are service requests
    let raised = raise(
        &app.client(Role::Secretary, NANTOU_COMMUNITY),
        flood(NANTOU_COMMUNITY, pb::Colour::Blue),
    )
    .await;
    let id = raised.name.trim_start_matches("warnings/").to_owned();
    assert_refused(
        system
            .clone()
            .get_open311_request(pb::GetOpen311RequestRequest {
                service_request_id: format!("{id}.xml"),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "FORMAT_UNSUPPORTED",
    );
    assert_refused(
        system
            .clone()
            .get_open311_request(pb::GetOpen311RequestRequest {
                service_request_id: format!("{id}.json"),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    app.stop().await;
}

/// Raises two blue warnings, a yellow and a red one and files an Open311 request; escalates one
/// blue to yellow and resolves the other; returns the CAP feed of Nanshan.
async fn cap_feed_with_every_colour(app: &TestApp) -> String {
    let own = app.client(Role::Secretary, NANTOU_COMMUNITY);
    let blue = raise(&own, flood(NANTOU_COMMUNITY, pb::Colour::Blue)).await;
    raise(&own, flood(NANTOU_COMMUNITY, pb::Colour::Yellow)).await;
    raise(&own, flood(NANTOU_COMMUNITY, pb::Colour::Red)).await;
    let handled = raise(&own, flood(NANTOU_COMMUNITY, pb::Colour::Blue)).await;
    app.client(Role::Integration, NANSHAN)
        .create_open311_request(flood_request(DAXIN_COMMUNITY))
        .await
        .unwrap();
    own.clone()
        .escalate_warning(pb::EscalateWarningRequest {
            name: blue.name.clone(),
            colour: pb::Colour::Yellow as i32,
            reason: "积水上涨".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    for step in 0..3 {
        let name = handled.name.clone();
        let result = match step {
            0 => own
                .clone()
                .acknowledge_warning(pb::AcknowledgeWarningRequest {
                    name,
                    ..Default::default()
                })
                .await
                .map(drop),
            1 => own
                .clone()
                .start_handling_warning(pb::StartHandlingWarningRequest {
                    name,
                    ..Default::default()
                })
                .await
                .map(drop),
            _ => own
                .clone()
                .resolve_warning(pb::ResolveWarningRequest {
                    name,
                    resolution: "已处置".into(),
                    ..Default::default()
                })
                .await
                .map(drop),
        };
        result.expect("blue warning handled");
    }
    let body = app
        .client(Role::Integration, NANSHAN)
        .get_cap_feed(pb::GetCapFeedRequest {
            parent: format!("regions/{NANSHAN}"),
        })
        .await
        .expect("feed")
        .into_inner();
    assert!(body.content_type.starts_with("application/atom+xml"));
    String::from_utf8(body.data).expect("UTF-8")
}

#[tokio::test]
async fn the_cap_feed_carries_the_active_warnings_with_their_colours_mapped() {
    let app = TestApp::spawn().await;
    let xml = cap_feed_with_every_colour(&app).await;
    // blue escalated to yellow, yellow, red, the Open311 request; the resolved blue is not active
    assert_eq!(
        xml.matches("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">")
            .count(),
        4,
        "{xml}"
    );
    assert_eq!(xml.matches("<urgency>Expected</urgency>").count(), 2);
    assert_eq!(xml.matches("<urgency>Future</urgency>").count(), 1);
    assert_eq!(xml.matches("<urgency>Immediate</urgency>").count(), 1);
    assert_eq!(xml.matches("<certainty>Likely</certainty>").count(), 4);
    // the escalated warning is an update of its first alert
    assert_eq!(xml.matches("<msgType>Update</msgType>").count(), 1);
    assert!(xml.contains("<areaDesc>"));
    assert!(!xml.contains("zhang.san"));

    // outside the caller's scope: refused, naming the field
    assert_refused(
        app.client(Role::Integration, FUTIAN)
            .get_cap_feed(pb::GetCapFeedRequest {
                parent: format!("regions/{NANSHAN}"),
            })
            .await,
        Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );
    app.stop().await;
}

#[tokio::test]
async fn the_cap_feed_is_valid_against_the_official_cap_1_2_schema() {
    let app = TestApp::spawn().await;
    let xml = cap_feed_with_every_colour(&app).await;
    let folder = std::env::temp_dir().join(format!("shequ-cap-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let feed = folder.join("feed.xml");
    std::fs::write(&feed, &xml).unwrap();
    let cap = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cap");
    let python = shequ_kit::testing::python_with(&[("lxml", "lxml")]);
    let output = tokio::process::Command::new(python)
        .arg(cap.join("validate.py"))
        .arg(cap.join("CAP-v1.2.xsd"))
        .arg(&feed)
        .output()
        .await
        .expect("python3 runs");
    std::fs::remove_dir_all(&folder).ok();
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "CAP validation failed: {said}\n{xml}"
    );
    assert!(said.contains("4 CAP alerts valid"), "{said}");
    app.stop().await;
}
