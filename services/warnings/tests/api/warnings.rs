use chrono::Duration;
use shequ_kit::auth::Role;
use shequ_proto::{personnel::v1 as personnel_pb, warnings::v1 as pb};
use tonic::Code;

use crate::helpers::*;

fn name_of(warning: &pb::Warning) -> String {
    warning.name.clone()
}

#[tokio::test]
async fn a_warning_moves_through_its_lifecycle_and_every_change_is_kept_in_its_history() {
    let app = TestApp::spawn().await;
    let secretary = appoint(&app, NANTOU_COMMUNITY, 1).await;
    until_roster_shows(&app, &secretary, Some(NANTOU_COMMUNITY)).await;
    let mut own = app.client(Role::Secretary, NANTOU_COMMUNITY);
    let raised = raise(&own, flood(NANTOU_COMMUNITY, pb::Colour::Blue)).await;
    let name = name_of(&raised);
    // the community's secretary is assigned when nobody is named
    assert_eq!(raised.assignee, secretary);
    assert_eq!(raised.state, pb::WarningState::Open as i32);
    assert_eq!(raised.source, pb::WarningSource::Person as i32);
    assert_eq!(raised.deadlines.len(), 1);
    let deadline = &raised.deadlines[0];
    assert_eq!(deadline.kind, pb::DeadlineKind::Respond as i32);
    assert_eq!(deadline.due_time, Some(hours_after_start(48)));
    assert_eq!(raised.etag, "1");

    // nothing but an acknowledgement fits an open warning, and the refusal names the state
    let refused = assert_refused(
        own.resolve_warning(pb::ResolveWarningRequest {
            name: name.clone(),
            resolution: "已处理".into(),
            ..Default::default()
        })
        .await,
        Code::FailedPrecondition,
        "ILLEGAL_STATE_TRANSITION",
    );
    assert_eq!(metadata(&refused, "state"), "WARNING_STATE_OPEN");
    assert!(refused.message().contains("OPEN"), "{}", refused.message());

    app.clock.advance(Duration::hours(2));
    let acknowledged = own
        .acknowledge_warning(pb::AcknowledgeWarningRequest {
            name: name.clone(),
            etag: raised.etag.clone(),
            note: "已到现场".into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(acknowledged.state, pb::WarningState::Acknowledged as i32);
    assert_eq!(
        acknowledged.deadlines[0].met_time,
        Some(hours_after_start(2))
    );
    // the etag read before is stale now
    assert_refused(
        own.start_handling_warning(pb::StartHandlingWarningRequest {
            name: name.clone(),
            etag: raised.etag,
            ..Default::default()
        })
        .await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    let refused = assert_refused(
        own.acknowledge_warning(pb::AcknowledgeWarningRequest {
            name: name.clone(),
            ..Default::default()
        })
        .await,
        Code::FailedPrecondition,
        "ILLEGAL_STATE_TRANSITION",
    );
    assert_eq!(metadata(&refused, "state"), "WARNING_STATE_ACKNOWLEDGED");
    own.start_handling_warning(pb::StartHandlingWarningRequest {
        name: name.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    app.clock.advance(Duration::hours(3));
    let resolved = own
        .resolve_warning(pb::ResolveWarningRequest {
            name: name.clone(),
            resolution: "排水完毕".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.state, pb::WarningState::Resolved as i32);
    assert_eq!(resolved.resolve_time, Some(hours_after_start(5)));
    // a secretary does not close; the street does
    assert_refused(
        own.close_warning(pb::CloseWarningRequest {
            name: name.clone(),
            ..Default::default()
        })
        .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    let mut street = app.client(Role::StreetOfficer, NANTOU_STREET);
    let closed = street
        .close_warning(pb::CloseWarningRequest {
            name: name.clone(),
            note: "复核通过".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.state, pb::WarningState::Closed as i32);
    let refused = assert_refused(
        own.escalate_warning(pb::EscalateWarningRequest {
            name: name.clone(),
            colour: pb::Colour::Red as i32,
            reason: "x".into(),
            ..Default::default()
        })
        .await,
        Code::FailedPrecondition,
        "ILLEGAL_STATE_TRANSITION",
    );
    assert_eq!(metadata(&refused, "state"), "WARNING_STATE_CLOSED");

    let history = street
        .list_warning_history_entries(pb::ListWarningHistoryEntriesRequest {
            parent: name.clone(),
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.history_entries.len(), 2);
    let rest = street
        .list_warning_history_entries(pb::ListWarningHistoryEntriesRequest {
            parent: name.clone(),
            page_size: 0,
            page_token: history.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    let entries: Vec<_> = history
        .history_entries
        .into_iter()
        .chain(rest.history_entries)
        .collect();
    let steps: Vec<(i32, i32, i32, &str, i64)> = entries
        .iter()
        .map(|e| {
            (
                e.action,
                e.from_state,
                e.to_state,
                e.actor.as_str(),
                e.create_time.as_ref().unwrap().seconds,
            )
        })
        .collect();
    let secretary_subject = format!("test:secretary:{NANTOU_COMMUNITY}");
    let street_subject = format!("test:street_officer:{NANTOU_STREET}");
    let at = |hours: i64| hours_after_start(hours).seconds;
    use pb::{HistoryAction as A, WarningState as S};
    assert_eq!(
        steps,
        [
            (
                A::Raised as i32,
                S::Open as i32,
                S::Open as i32,
                secretary_subject.as_str(),
                at(0)
            ),
            (
                A::Acknowledged as i32,
                S::Open as i32,
                S::Acknowledged as i32,
                secretary_subject.as_str(),
                at(2)
            ),
            (
                A::HandlingStarted as i32,
                S::Acknowledged as i32,
                S::Handling as i32,
                secretary_subject.as_str(),
                at(2)
            ),
            (
                A::Resolved as i32,
                S::Handling as i32,
                S::Resolved as i32,
                secretary_subject.as_str(),
                at(5)
            ),
            (
                A::Closed as i32,
                S::Resolved as i32,
                S::Closed as i32,
                street_subject.as_str(),
                at(5)
            ),
        ]
    );
    assert_eq!(entries[1].note, "已到现场");
    assert_eq!(entries[3].note, "排水完毕");
    assert_eq!(entries[4].name, format!("{name}/historyEntries/5"));
    // the history is append-only in the database too
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(app.database().url())
        .await
        .unwrap();
    assert!(
        sqlx::query("UPDATE warning_history SET note = 'rewritten'")
            .execute(&mut conn)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM warning_history")
            .execute(&mut conn)
            .await
            .is_err()
    );
    app.stop().await;
}

#[tokio::test]
async fn an_escalation_recomputes_the_deadline_from_the_escalation_with_the_provinces_hours() {
    let app = TestApp::spawn().await;
    let province = app.province_admin();
    province
        .clone()
        .update_warning_policy(pb::UpdateWarningPolicyRequest {
            warning_policy: Some(pb::WarningPolicy {
                name: format!("provinces/{GUANGDONG}/warningPolicy"),
                red_task_force_hours: 12,
                etag: "0".into(),
                ..Default::default()
            }),
            update_mask: None,
        })
        .await
        .unwrap();
    let mut admin = app.admin();
    let raised = raise(&admin, flood(NANTOU_COMMUNITY, pb::Colour::Blue)).await;
    assert_eq!(raised.assignee, "", "no secretary in the roster yet");
    app.clock.advance(Duration::hours(10));
    let escalated = admin
        .escalate_warning(pb::EscalateWarningRequest {
            name: raised.name.clone(),
            colour: pb::Colour::Red as i32,
            reason: "积水漫入配电房".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(escalated.colour, pb::Colour::Red as i32);
    assert_eq!(escalated.escalate_time, Some(hours_after_start(10)));
    assert_eq!(escalated.deadlines.len(), 2);
    assert_eq!(
        escalated.deadlines[0].supersede_time,
        Some(hours_after_start(10))
    );
    let running = &escalated.deadlines[1];
    assert_eq!(
        (
            running.kind,
            running.colour,
            running.start_time,
            running.due_time
        ),
        (
            pb::DeadlineKind::TaskForce as i32,
            pb::Colour::Red as i32,
            Some(hours_after_start(10)),
            Some(hours_after_start(22)),
        ),
        "12 hours, the province's red deadline, from the escalation"
    );
    assert_refused(
        admin
            .escalate_warning(pb::EscalateWarningRequest {
                name: raised.name.clone(),
                colour: pb::Colour::Yellow as i32,
                reason: "降级".into(),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
        "COLOUR_NOT_HIGHER",
    );
    admin
        .acknowledge_warning(pb::AcknowledgeWarningRequest {
            name: raised.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    // a consultation does not meet a red deadline, and a red warning is resolved only after its
    // task force
    let consulted = admin
        .create_consultation(pb::CreateConsultationRequest {
            parent: raised.name.clone(),
            consultation: Some(pb::Consultation {
                departments: vec![pb::Department::Water as i32, pb::Department::Power as i32],
                participants: vec!["南头街道办".into()],
                summary: "联合排查配电房".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        consulted
            .name
            .starts_with(&format!("{}/consultations/", raised.name))
    );
    let refused = assert_refused(
        admin
            .resolve_warning(pb::ResolveWarningRequest {
                name: raised.name.clone(),
                resolution: "x".into(),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
        "RESOLUTION_PREREQUISITE_UNMET",
    );
    assert!(
        refused.message().contains("task force"),
        "{}",
        refused.message()
    );
    app.clock.advance(Duration::hours(1));
    let task_force = admin
        .create_task_force(pb::CreateTaskForceRequest {
            parent: raised.name.clone(),
            task_force: Some(pb::TaskForce {
                leader: "李强".into(),
                members: vec!["张伟".into(), "王芳".into()],
                departments: vec![pb::Department::Emergency as i32],
                note: "24小时值守".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(task_force.form_time, Some(hours_after_start(11)));
    let now = admin
        .get_warning(pb::GetWarningRequest {
            name: raised.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now.state, pb::WarningState::Handling as i32);
    assert_eq!(now.deadlines[1].met_time, Some(hours_after_start(11)));
    admin
        .resolve_warning(pb::ResolveWarningRequest {
            name: raised.name.clone(),
            resolution: "抽排完成".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let listed = admin
        .list_task_forces(pb::ListTaskForcesRequest {
            parent: raised.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.task_forces, [task_force]);
    let listed = admin
        .list_consultations(pb::ListConsultationsRequest {
            parent: raised.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.consultations, [consulted]);
    app.stop().await;
}

#[tokio::test]
async fn an_assignee_must_serve_the_community_as_personnel_has_told_and_follows_a_move() {
    let app = TestApp::spawn().await;
    let first = appoint(&app, NANTOU_COMMUNITY, 1).await;
    let second = appoint(&app, NANTOU_COMMUNITY, 2).await;
    let elsewhere = appoint(&app, FUTIAN_COMMUNITY, 3).await;
    until_roster_shows(&app, &elsewhere, Some(FUTIAN_COMMUNITY)).await;
    until_roster_shows(&app, &first, Some(NANTOU_COMMUNITY)).await;
    let admin = app.client(Role::CityAdmin, SHENZHEN);
    // a secretary of another community, and one personnel never told of, are refused
    for stranger in [elsewhere.clone(), "secretaries/nobody".to_owned()] {
        let refused = assert_refused(
            admin
                .clone()
                .create_warning(pb::CreateWarningRequest {
                    warning: Some(pb::Warning {
                        assignee: stranger.clone(),
                        ..flood(NANTOU_COMMUNITY, pb::Colour::Yellow)
                    }),
                    request_id: String::new(),
                })
                .await,
            Code::FailedPrecondition,
            "ASSIGNEE_NOT_ACTIVE_SECRETARY",
        );
        assert!(
            refused.message().contains("as of its event"),
            "{}",
            refused.message()
        );
        assert!(!metadata(&refused, "as_of").is_empty());
        assert_eq!(metadata(&refused, "assignee"), stranger);
    }
    assert_eq!(count(&app, "warnings").await, 0, "nothing was raised");
    let warning = raise(
        &admin,
        pb::Warning {
            assignee: first.clone(),
            ..flood(NANTOU_COMMUNITY, pb::Colour::Yellow)
        },
    )
    .await;
    assert_eq!(warning.assignee, first);

    // the first secretary moves to Daxin: her warning in Nantou passes to the second
    app.personnel_admin()
        .create_career_event(personnel_pb::CreateCareerEventRequest {
            parent: first.clone(),
            career_event: Some(personnel_pb::CareerEvent {
                r#type: personnel_pb::CareerEventType::Reassignment as i32,
                to_region: DAXIN_COMMUNITY.into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    until_roster_shows(&app, &first, Some(DAXIN_COMMUNITY)).await;
    let moved = admin
        .clone()
        .get_warning(pb::GetWarningRequest {
            name: warning.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.assignee, second);
    let history = admin
        .clone()
        .list_warning_history_entries(pb::ListWarningHistoryEntriesRequest {
            parent: warning.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .history_entries;
    let last = history.last().unwrap();
    assert_eq!(last.action, pb::HistoryAction::Assigned as i32);
    assert_eq!(last.actor, "service:warnings");
    assert!(last.note.contains(&first), "{}", last.note);
    // and she can no longer be assigned there, though the street may assign the second
    let mut street = app.client(Role::StreetOfficer, NANTOU_STREET);
    assert_refused(
        street
            .assign_warning(pb::AssignWarningRequest {
                name: warning.name.clone(),
                assignee: first.clone(),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
        "ASSIGNEE_NOT_ACTIVE_SECRETARY",
    );
    let assigned = street
        .assign_warning(pb::AssignWarningRequest {
            name: warning.name.clone(),
            assignee: second.clone(),
            etag: moved.etag,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(assigned.assignee, second);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_every_field_and_rule_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let refused = assert_refused(
        admin
            .clone()
            .create_warning(pb::CreateWarningRequest {
                warning: Some(pb::Warning {
                    title: " ".into(),
                    colour: 0,
                    category: "Flood!".into(),
                    region: NANTOU_STREET.into(),
                    assignee: "people/1".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "FIELD_REQUIRED",
    );
    assert_eq!(
        violations(&refused),
        [
            ("warning.title".to_owned(), "FIELD_REQUIRED".to_owned()),
            ("warning.colour".to_owned(), "FIELD_REQUIRED".to_owned()),
            ("warning.category".to_owned(), "CATEGORY_INVALID".to_owned()),
            ("warning.region".to_owned(), "REGION_WRONG_LEVEL".to_owned()),
            (
                "warning.assignee".to_owned(),
                "RESOURCE_NAME_INVALID".to_owned()
            ),
        ]
    );
    // a community outside the caller's scope is named: refused
    assert_refused(
        admin
            .clone()
            .create_warning(pb::CreateWarningRequest {
                warning: Some(flood(FUTIAN_COMMUNITY, pb::Colour::Blue)),
                request_id: String::new(),
            })
            .await,
        Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );
    assert_eq!(count(&app, "warnings").await, 0);
    assert_eq!(count(&app, "warning_history").await, 0);

    let warning = raise(&admin, flood(NANTOU_COMMUNITY, pb::Colour::Yellow)).await;
    admin
        .clone()
        .acknowledge_warning(pb::AcknowledgeWarningRequest {
            name: warning.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let refused = assert_refused(
        admin
            .clone()
            .create_consultation(pb::CreateConsultationRequest {
                parent: warning.name.clone(),
                consultation: Some(pb::Consultation {
                    departments: vec![pb::Department::Fire as i32, pb::Department::Fire as i32, 99],
                    participants: vec!["".into()],
                    summary: String::new(),
                    hold_time: Some(hours_after_start(1)),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "DEPARTMENT_DUPLICATE",
    );
    assert_eq!(
        violations(&refused),
        [
            (
                "consultation.departments[1]".to_owned(),
                "DEPARTMENT_DUPLICATE".to_owned()
            ),
            (
                "consultation.departments[2]".to_owned(),
                "ENUM_VALUE_UNKNOWN".to_owned()
            ),
            (
                "consultation.participants[0]".to_owned(),
                "FIELD_REQUIRED".to_owned()
            ),
            (
                "consultation.summary".to_owned(),
                "FIELD_REQUIRED".to_owned()
            ),
            (
                "consultation.hold_time".to_owned(),
                "TIME_IN_FUTURE".to_owned()
            ),
        ]
    );
    assert_eq!(count(&app, "consultations").await, 0);
    let now = admin
        .clone()
        .get_warning(pb::GetWarningRequest {
            name: warning.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        now.state,
        pb::WarningState::Acknowledged as i32,
        "unchanged"
    );
    app.stop().await;
}

#[tokio::test]
async fn warnings_are_read_within_scope_and_listed_newest_first_with_filters() {
    let app = TestApp::spawn().await;
    let system = app.client(Role::Integration, NANSHAN);
    let mut names = Vec::new();
    for (i, colour) in [
        pb::Colour::Blue,
        pb::Colour::Yellow,
        pb::Colour::Red,
        pb::Colour::Blue,
    ]
    .into_iter()
    .enumerate()
    {
        let community = if i == 3 {
            DAXIN_COMMUNITY
        } else {
            NANTOU_COMMUNITY
        };
        let warning = raise(&system, flood(community, colour)).await;
        assert_eq!(warning.source, pb::WarningSource::Integration as i32);
        assert_eq!(warning.raised_by, format!("test:integration:{NANSHAN}"));
        names.push(warning.name);
        app.clock.advance(Duration::milliseconds(1));
    }
    // another department's system raises and reads, but does not handle
    assert_refused(
        system
            .clone()
            .acknowledge_warning(pb::AcknowledgeWarningRequest {
                name: names[0].clone(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    // Futian sees none of Nanshan's
    let futian = app.client(Role::DistrictAdmin, FUTIAN);
    assert_refused(
        futian
            .clone()
            .get_warning(pb::GetWarningRequest {
                name: names[0].clone(),
            })
            .await,
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    assert_refused(
        futian
            .clone()
            .list_warnings(pb::ListWarningsRequest {
                parent: format!("regions/{NANSHAN}"),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );
    let list = |parent: &str, request: pb::ListWarningsRequest| {
        let client = app.admin();
        let parent = format!("regions/{parent}");
        async move {
            let mut client = client;
            client
                .list_warnings(pb::ListWarningsRequest { parent, ..request })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let all = list(NANSHAN, pb::ListWarningsRequest::default()).await;
    let listed: Vec<_> = all.warnings.iter().map(|w| w.name.clone()).collect();
    let mut newest_first = names.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);
    let nantou = list(NANTOU_COMMUNITY, pb::ListWarningsRequest::default()).await;
    assert_eq!(nantou.warnings.len(), 3);
    let blue = list(
        NANSHAN,
        pb::ListWarningsRequest {
            colour: pb::Colour::Blue as i32,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(blue.warnings.len(), 2);
    let page = list(
        NANSHAN,
        pb::ListWarningsRequest {
            page_size: 3,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(page.warnings.len(), 3);
    let next = list(
        NANSHAN,
        pb::ListWarningsRequest {
            page_size: 3,
            page_token: page.next_page_token,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(next.warnings.len(), 1);
    assert_eq!(next.warnings[0].name, names[0]);
    assert!(next.next_page_token.is_empty());
    let open = list(
        NANSHAN,
        pb::ListWarningsRequest {
            state: pb::WarningState::Acknowledged as i32,
            ..Default::default()
        },
    )
    .await;
    assert!(open.warnings.is_empty());
    // a secretary lists their own community
    let own = app
        .client(Role::Secretary, NANTOU_COMMUNITY)
        .list_warnings(pb::ListWarningsRequest {
            parent: format!("regions/{NANTOU_COMMUNITY}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.warnings.len(), 3);
    app.stop().await;
}
