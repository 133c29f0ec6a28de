use shequ_kit::auth::Role;
use shequ_proto::warnings::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn policy_name(province: &str) -> String {
    format!("provinces/{province}/warningPolicy")
}

#[tokio::test]
async fn a_province_reads_the_shipped_deadlines_until_it_changes_them() {
    let app = TestApp::spawn().await;
    let read = |client: Client| async move {
        let mut client = client;
        client
            .get_warning_policy(pb::GetWarningPolicyRequest {
                name: policy_name(GUANGDONG),
            })
            .await
            .map(tonic::Response::into_inner)
    };
    // a secretary reads their province's policy
    let shipped = read(app.client(Role::Secretary, NANTOU_COMMUNITY))
        .await
        .unwrap();
    assert_eq!(
        (
            shipped.blue_response_hours,
            shipped.yellow_consultation_hours,
            shipped.red_task_force_hours,
            shipped.etag.as_str()
        ),
        (48, 72, 24, "0")
    );
    assert!(shipped.update_time.is_none());

    let updated = app
        .province_admin()
        .update_warning_policy(pb::UpdateWarningPolicyRequest {
            warning_policy: Some(pb::WarningPolicy {
                name: policy_name(GUANGDONG),
                red_task_force_hours: 12,
                etag: shipped.etag.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["red_task_force_hours"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            updated.blue_response_hours,
            updated.yellow_consultation_hours,
            updated.red_task_force_hours
        ),
        (48, 72, 12)
    );
    assert_eq!(read(app.admin()).await.unwrap(), updated);

    // the etag read before the change is stale now
    let stale = app
        .province_admin()
        .update_warning_policy(pb::UpdateWarningPolicyRequest {
            warning_policy: Some(pb::WarningPolicy {
                name: policy_name(GUANGDONG),
                red_task_force_hours: 6,
                etag: shipped.etag,
                ..Default::default()
            }),
            update_mask: mask(&["red_task_force_hours"]),
        })
        .await;
    assert_refused(stale, Code::Aborted, "ETAG_MISMATCH");

    // another province is out of scope, for reading and writing
    assert_refused(
        app.admin()
            .get_warning_policy(pb::GetWarningPolicyRequest {
                name: policy_name(ZHEJIANG),
            })
            .await,
        Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );
    app.stop().await;
}

#[tokio::test]
async fn every_bad_hour_is_named_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let refused = app
        .province_admin()
        .update_warning_policy(pb::UpdateWarningPolicyRequest {
            warning_policy: Some(pb::WarningPolicy {
                name: policy_name(GUANGDONG),
                blue_response_hours: 0,
                yellow_consultation_hours: 721,
                red_task_force_hours: -1,
                etag: "0".into(),
                ..Default::default()
            }),
            update_mask: mask(&["*"]),
        })
        .await;
    let status = assert_refused(refused, Code::InvalidArgument, "VALUE_OUT_OF_RANGE");
    assert_eq!(
        violations(&status),
        [
            (
                "warning_policy.blue_response_hours".to_owned(),
                "VALUE_OUT_OF_RANGE".to_owned()
            ),
            (
                "warning_policy.yellow_consultation_hours".to_owned(),
                "VALUE_OUT_OF_RANGE".to_owned()
            ),
            (
                "warning_policy.red_task_force_hours".to_owned(),
                "VALUE_OUT_OF_RANGE".to_owned()
            ),
        ]
    );
    // the limits themselves are accepted: 1 and 720 hours
    let edges = app
        .province_admin()
        .update_warning_policy(pb::UpdateWarningPolicyRequest {
            warning_policy: Some(pb::WarningPolicy {
                name: policy_name(GUANGDONG),
                blue_response_hours: 1,
                yellow_consultation_hours: 720,
                red_task_force_hours: 24,
                etag: "0".into(),
                ..Default::default()
            }),
            update_mask: mask(&["*"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((edges.blue_response_hours, edges.etag.as_str()), (1, "1"));
    // a district administrator may not change the province's policy
    assert_refused(
        app.admin()
            .update_warning_policy(pb::UpdateWarningPolicyRequest {
                warning_policy: Some(pb::WarningPolicy {
                    name: policy_name(GUANGDONG),
                    blue_response_hours: 2,
                    etag: edges.etag,
                    ..Default::default()
                }),
                update_mask: None,
            })
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    app.stop().await;
}
