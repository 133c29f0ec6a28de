//! Indicator schemes: versions per province and year, the shipped default, the weight rule.

use shequ_kit::auth::Role;
use shequ_proto::evaluation::v1 as pb;

use crate::helpers::*;

fn indicator(id: &str, weight: i32, source: pb::IndicatorSource, share: i32) -> pb::CoreIndicator {
    pb::CoreIndicator {
        id: id.into(),
        display_name: format!("指标{id}"),
        weight,
        source: source as i32,
        feed_share_percent: share,
    }
}

fn create(year: i32, core: Vec<pb::CoreIndicator>) -> pb::CreateIndicatorSchemeRequest {
    pb::CreateIndicatorSchemeRequest {
        parent: format!("provinces/{GUANGDONG}"),
        indicator_scheme: Some(pb::IndicatorScheme {
            year,
            core_indicators: core,
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

#[tokio::test]
async fn the_shipped_scheme_is_in_force_until_a_province_creates_a_version() {
    let app = TestApp::spawn().await;
    let current = app
        .client(Role::Secretary, NANTOU_COMMUNITY)
        .get_indicator_scheme(pb::GetIndicatorSchemeRequest {
            name: format!("provinces/{GUANGDONG}/indicatorSchemes/2026-current"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.version, 0);
    assert_eq!(
        current.name,
        format!("provinces/{GUANGDONG}/indicatorSchemes/2026-v0")
    );
    let weights: Vec<(String, i32)> = current
        .core_indicators
        .iter()
        .map(|c| (c.display_name.clone(), c.weight))
        .collect();
    assert_eq!(
        weights,
        [
            ("群众满意度".to_owned(), 40),
            ("治理效能".to_owned(), 30),
            ("创新贡献".to_owned(), 20),
            ("学习成长".to_owned(), 10)
        ]
    );
    assert_eq!(current.x_cap_points, 10);
    assert_eq!(current.adjustment_percent, 5);
    let x: Vec<&str> = current
        .x_indicators
        .iter()
        .map(|x| x.display_name.as_str())
        .collect();
    assert_eq!(x, ["风险防控", "舆情处理"]);

    // a new version takes over; the old one stays readable as it was
    let admin = app.province_admin();
    let v1 = admin
        .clone()
        .create_indicator_scheme(create(
            2026,
            vec![
                indicator("satisfaction", 50, pb::IndicatorSource::People, 0),
                indicator("learning", 50, pb::IndicatorSource::Training, 100),
            ],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v1.version, 1);
    assert!(!v1.created_by.is_empty());
    let v2 = admin
        .clone()
        .create_indicator_scheme(create(2026, vec![]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.core_indicators.len(), 4, "empty takes the shipped four");
    let read = |name: String| {
        let mut client = app.client(Role::DistrictAdmin, NANSHAN);
        async move {
            client
                .get_indicator_scheme(pb::GetIndicatorSchemeRequest { name })
                .await
        }
    };
    let current = read(format!(
        "provinces/{GUANGDONG}/indicatorSchemes/2026-current"
    ))
    .await
    .unwrap()
    .into_inner();
    assert_eq!(current.version, 2);
    let first = read(v1.name.clone()).await.unwrap().into_inner();
    assert_eq!(first, v1);
    let missing = read(format!("provinces/{GUANGDONG}/indicatorSchemes/2026-v9"))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    // other years keep the shipped default
    let other = read(format!(
        "provinces/{GUANGDONG}/indicatorSchemes/2027-current"
    ))
    .await
    .unwrap()
    .into_inner();
    assert_eq!(other.version, 0);
    let listed = admin
        .clone()
        .list_indicator_schemes(pb::ListIndicatorSchemesRequest {
            parent: format!("provinces/{GUANGDONG}"),
            year: 2026,
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.indicator_schemes[0].version, 2);
    let next = admin
        .clone()
        .list_indicator_schemes(pb::ListIndicatorSchemesRequest {
            parent: format!("provinces/{GUANGDONG}"),
            year: 2026,
            page_size: 1,
            page_token: listed.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.indicator_schemes[0].version, 1);
    app.stop().await;
}

#[tokio::test]
async fn weights_that_do_not_sum_to_100_are_refused_naming_the_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let mut admin = app.province_admin();
    let refused = admin
        .create_indicator_scheme(create(
            2026,
            vec![
                indicator("satisfaction", 40, pb::IndicatorSource::People, 0),
                indicator("governance", 30, pb::IndicatorSource::Warnings, 50),
                indicator("innovation", 20, pb::IndicatorSource::People, 0),
                indicator("learning", 5, pb::IndicatorSource::Training, 100),
            ],
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        violations(&refused),
        [(
            "indicator_scheme.core_indicators".to_owned(),
            "WEIGHTS_NOT_100".to_owned()
        )]
    );
    assert!(refused.message().contains("95"), "{}", refused.message());
    let refused = admin
        .create_indicator_scheme(pb::CreateIndicatorSchemeRequest {
            parent: format!("provinces/{GUANGDONG}"),
            indicator_scheme: Some(pb::IndicatorScheme {
                year: 2026,
                x_cap_points: 31,
                core_indicators: vec![indicator(
                    "Bad Id",
                    100,
                    pb::IndicatorSource::Unspecified,
                    0,
                )],
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        violations(&refused),
        [(
            "indicator_scheme.core_indicators[0].source".to_owned(),
            "FIELD_REQUIRED".to_owned()
        )]
    );
    // nothing was stored: the shipped default is still in force
    let current = admin
        .get_indicator_scheme(pb::GetIndicatorSchemeRequest {
            name: format!("provinces/{GUANGDONG}/indicatorSchemes/2026-current"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.version, 0);
    // other provinces' administrators and other roles may not create Guangdong's schemes
    assert_refused(
        app.client(Role::ProvinceAdmin, ZHEJIANG)
            .create_indicator_scheme(create(2026, vec![]))
            .await,
        tonic::Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );
    assert_refused(
        app.district()
            .create_indicator_scheme(create(2026, vec![]))
            .await,
        tonic::Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    app.stop().await;
}
