use shequ_kit::auth::Role;
use shequ_personnel::Personnel;
use shequ_proto::{audit::v1 as audit_pb, personnel::v1 as pb};
use tonic::Code;

use crate::helpers::*;

async fn audit_entries(app: &TestApp, scope: &str) -> Vec<audit_pb::AuditEntry> {
    app.client(Role::Auditor, scope)
        .list_audit_entries(audit_pb::ListAuditEntriesRequest {
            parent: format!("regions/{scope}"),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .audit_entries
}

#[tokio::test]
async fn writes_refusals_and_unmasked_reads_are_audited_but_masked_reads_are_not() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1985, 90))).await;
    let mut admin = app.admin();
    admin
        .get_secretary(pb::GetSecretaryRequest {
            name: created.name.clone(),
            view: 0,
        })
        .await
        .unwrap();
    admin
        .get_secretary(pb::GetSecretaryRequest {
            name: created.name.clone(),
            view: pb::SecretaryView::Unmasked as i32,
        })
        .await
        .unwrap();
    let mut stale = created.clone();
    stale.etag = "999".into();
    admin
        .update_secretary(pb::UpdateSecretaryRequest {
            secretary: Some(stale),
            update_mask: mask(&["display_name"]),
        })
        .await
        .unwrap_err();

    let entries = audit_entries(&app, NANSHAN).await;
    let summary: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| (e.action.clone(), e.resource.clone(), e.outcome.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "CreateSecretary".to_owned(),
                created.name.clone(),
                "OK".to_owned()
            ),
            (
                "GetSecretary".to_owned(),
                created.name.clone(),
                "OK".to_owned()
            ),
            (
                "UpdateSecretary".to_owned(),
                created.name.clone(),
                "ABORTED".to_owned()
            ),
        ]
    );
    assert_eq!(entries[1].detail, "personal data returned unmasked");
    assert!(entries.iter().all(|e| e.region == NANTOU_COMMUNITY
        && e.actor.contains("district_admin")
        && !e.request_id.is_empty()));
    assert!(entries[0].roles.contains(&"district_admin".to_owned()));
    assert_eq!(
        entries[1].previous_hash, entries[0].hash,
        "entries are chained"
    );
    // nothing personal in the log
    let text = format!("{entries:?}");
    assert!(!text.contains(&id_number(1985, 90)) && !text.contains("13800138000"));
}

#[tokio::test]
async fn only_auditors_read_the_log_and_only_in_their_scope() {
    let app = TestApp::spawn().await;
    let mut futian_admin = app.client(Role::DistrictAdmin, "440304000000");
    let mut profile = secretary(&id_number(1985, 91));
    profile.region = FUTIAN_COMMUNITY.into();
    futian_admin
        .create_secretary(pb::CreateSecretaryRequest {
            secretary: Some(profile),
            ..Default::default()
        })
        .await
        .unwrap();
    create(&app, secretary(&id_number(1985, 92))).await;

    assert_eq!(
        audit_entries(&app, NANSHAN).await.len(),
        1,
        "Nanshan's auditor sees Nanshan only"
    );
    assert_eq!(audit_entries(&app, GUANGDONG).await.len(), 2);
    assert_refused(
        app.admin()
            .list_audit_entries(audit_pb::ListAuditEntriesRequest {
                parent: format!("regions/{NANSHAN}"),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    assert_refused(
        app.client(Role::Auditor, NANSHAN)
            .list_audit_entries(audit_pb::ListAuditEntriesRequest {
                parent: format!("regions/{GUANGDONG}"),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );
}

#[tokio::test]
async fn a_retried_create_takes_effect_once_and_returns_the_first_result() {
    let app = TestApp::spawn().await;
    let request = pb::CreateSecretaryRequest {
        secretary: Some(secretary(&id_number(1985, 93))),
        request_id: "form-7f3a".into(),
    };
    let first = app
        .admin()
        .create_secretary(request.clone())
        .await
        .unwrap()
        .into_inner();
    let again = app
        .admin()
        .create_secretary(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again);

    // the same id for a different request is refused and creates nothing
    let mut different = request.clone();
    different.secretary.as_mut().unwrap().id_number = id_number(1985, 94);
    different.secretary.as_mut().unwrap().birth_date = "1985-01-01".into();
    assert_refused(
        app.admin().create_secretary(different).await,
        Code::AlreadyExists,
        "REQUEST_ID_REUSED",
    );

    // the id belongs to its caller: another caller's same id is a different request
    let other_caller = app.client(Role::CityAdmin, "440300000000");
    let mut theirs = request.clone();
    theirs.secretary.as_mut().unwrap().id_number = id_number(1985, 95);
    theirs.secretary.as_mut().unwrap().birth_date = "1985-01-01".into();
    other_caller.clone().create_secretary(theirs).await.unwrap();

    let listed = app
        .admin()
        .list_secretaries(pb::ListSecretariesRequest {
            parent: format!("regions/{NANSHAN}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.secretaries.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_all_get_the_first_response() {
    let app = TestApp::spawn().await;
    let request = pb::CreateSecretaryRequest {
        secretary: Some(secretary(&id_number(1985, 96))),
        request_id: "burst-1".into(),
    };
    // Ten callers on four worker threads, released together.
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(10));
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let mut client = app.admin();
            let request = request.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                client
                    .create_secretary(request)
                    .await
                    .map(|r| r.into_inner())
            })
        })
        .collect();
    let responses: Vec<pb::Secretary> = futures_results(calls.into_iter()).await;
    assert!(
        responses.iter().all(|r| r == &responses[0]),
        "every duplicate gets the first response"
    );
    let listed = app
        .admin()
        .list_secretaries(pb::ListSecretariesRequest {
            parent: format!("regions/{NANSHAN}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.secretaries.len(), 1);
}

async fn futures_results(
    calls: impl Iterator<Item = tokio::task::JoinHandle<Result<pb::Secretary, tonic::Status>>>,
) -> Vec<pb::Secretary> {
    let mut out = Vec::new();
    for call in calls {
        out.push(call.await.unwrap().expect("duplicate answered"));
    }
    out
}

#[tokio::test]
async fn a_refused_first_attempt_is_replayed_not_retried_into_a_different_outcome() {
    let app = TestApp::spawn().await;
    let mut bad = secretary(&id_number(1985, 97));
    bad.region = "440305001999".into();
    let request = pb::CreateSecretaryRequest {
        secretary: Some(bad),
        request_id: "bad-form".into(),
    };
    let first = app
        .admin()
        .create_secretary(request.clone())
        .await
        .unwrap_err();
    let again = app.admin().create_secretary(request).await.unwrap_err();
    assert_eq!(
        (first.code(), reason(&first)),
        (again.code(), reason(&again))
    );
    assert_eq!(reason(&again), "REGION_UNKNOWN");
}

#[tokio::test]
async fn the_verify_command_reports_an_intact_and_then_a_tampered_chain() {
    let app = TestApp::spawn().await;
    for serial in 0..3 {
        create(&app, secretary(&id_number(1980 + serial, 98))).await;
    }
    let (database, keys, _) = app.stop().await;
    let mut config = shequ_kit::service::default_config::<Personnel>();
    config.database.url = shequ_kit::config::Secret::new(database.url());
    config.crypto.master_key = keys.master_key.clone();
    let intact = shequ_kit::audit::verify_database(&config).await.unwrap();
    assert_eq!((intact.checked, intact.problems.len()), (3, 0));

    let db = shequ_kit::db::Database::connect(&config.database)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_entries SET outcome = 'PERMISSION_DENIED' WHERE seq = 2")
        .execute(db.pool())
        .await
        .unwrap();
    db.close().await;
    let tampered = shequ_kit::audit::verify_database(&config).await.unwrap();
    assert_eq!(
        tampered.problems,
        vec![shequ_kit::audit::Problem::Tampered { seq: 2 }]
    );
}

/// Makes every audit append fail (as a full or read-only audit table would), or undoes that.
async fn break_audit_storage(app: &TestApp, broken: bool) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(app.database().url())
        .await
        .unwrap();
    let statements: &[&str] = match (app.database().is_postgres(), broken) {
        (true, true) => &[
            "CREATE FUNCTION audit_full() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit storage full'; END $$",
            "CREATE TRIGGER audit_full BEFORE INSERT ON audit_entries \
             FOR EACH ROW EXECUTE FUNCTION audit_full()",
        ],
        (true, false) => &[
            "DROP TRIGGER audit_full ON audit_entries",
            "DROP FUNCTION audit_full()",
        ],
        (false, true) => &["CREATE TRIGGER audit_full BEFORE INSERT ON audit_entries \
             BEGIN SELECT RAISE(ABORT, 'audit storage full'); END"],
        (false, false) => &["DROP TRIGGER audit_full"],
    };
    for statement in statements {
        sqlx::query(*statement).execute(&mut db).await.unwrap();
    }
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_change_whose_audit_entry_cannot_be_recorded_does_not_happen() {
    let app = TestApp::spawn().await;
    let existing = create(&app, secretary(&id_number(1985, 95))).await;
    let mut admin = app.admin();
    break_audit_storage(&app, true).await;

    let refused = admin
        .create_secretary(pb::CreateSecretaryRequest {
            secretary: Some(secretary(&id_number(1985, 96))),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(refused.code(), Code::Internal | Code::Unavailable),
        "{refused:?}"
    );
    let mut renamed = existing.clone();
    renamed.display_name = "未审计".into();
    let rename = || pb::UpdateSecretaryRequest {
        secretary: Some(renamed.clone()),
        update_mask: mask(&["display_name"]),
    };
    let refused = admin.update_secretary(rename()).await.unwrap_err();
    assert!(
        matches!(refused.code(), Code::Internal | Code::Unavailable),
        "{refused:?}"
    );

    break_audit_storage(&app, false).await;
    let listed = admin
        .list_secretaries(pb::ListSecretariesRequest {
            parent: format!("regions/{NANSHAN}"),
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .secretaries;
    assert_eq!(listed.len(), 1, "only the audited create took effect");
    assert_eq!(listed[0].display_name, existing.display_name);
    assert_eq!(listed[0].etag, existing.etag);
    // The log holds the one change that happened.
    let entries = audit_entries(&app, NANSHAN).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].action, "CreateSecretary");
    // With the audit table repaired, the very same update goes through (so it was refused for
    // its audit entry alone).
    let renamed = admin.update_secretary(rename()).await.unwrap().into_inner();
    assert_eq!(renamed.display_name, "未审计");
}

#[tokio::test]
async fn refused_probes_are_seen_by_the_auditors_of_the_district_probed_and_of_the_prober() {
    let app = TestApp::spawn().await;
    let nanshan_record = create(&app, secretary(&id_number(1985, 94))).await;
    let mut futian_officer = app.client(Role::StreetOfficer, "440304001000");
    // A Futian officer tries a Nanshan record (NOT_FOUND, as for a missing one) ...
    assert_refused(
        futian_officer
            .get_secretary(pb::GetSecretaryRequest {
                name: nanshan_record.name.clone(),
                view: 0,
            })
            .await,
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    // ... and lists Nanshan's secretaries (PERMISSION_DENIED: the region is named).
    assert_refused(
        futian_officer
            .list_secretaries(pb::ListSecretariesRequest {
                parent: format!("regions/{NANSHAN}"),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );
    let outcomes = |entries: Vec<audit_pb::AuditEntry>| -> Vec<(String, String, String)> {
        entries
            .into_iter()
            .filter(|e| e.actor.contains("street_officer"))
            .map(|e| (e.action, e.region, e.outcome))
            .collect()
    };
    // Nanshan's auditor sees the probe of its record, in the record's region ...
    assert_eq!(
        outcomes(audit_entries(&app, NANSHAN).await),
        vec![(
            "GetSecretary".to_owned(),
            NANTOU_COMMUNITY.to_owned(),
            "NOT_FOUND".to_owned()
        )]
    );
    // ... Futian's sees what its officer tried where no record was reached (the caller's scope) ...
    assert_eq!(
        outcomes(audit_entries(&app, "440304000000").await),
        vec![(
            "ListSecretaries".to_owned(),
            "440304001000".to_owned(),
            "PERMISSION_DENIED".to_owned()
        )]
    );
    // ... and the province's sees both.
    assert_eq!(outcomes(audit_entries(&app, GUANGDONG).await).len(), 2);
}

#[tokio::test]
async fn an_auditor_verifies_the_chain_behind_the_entries_they_can_see() {
    let app = TestApp::spawn().await;
    for serial in 0..3 {
        create(&app, secretary(&id_number(1980 + serial, 95))).await;
    }
    let mut futian_admin = app.client(Role::DistrictAdmin, "440304000000");
    let mut profile = secretary(&id_number(1984, 95));
    profile.region = FUTIAN_COMMUNITY.into();
    futian_admin
        .create_secretary(pb::CreateSecretaryRequest {
            secretary: Some(profile),
            ..Default::default()
        })
        .await
        .unwrap();
    let verify = |scope: &'static str| {
        let mut auditor = app.client(Role::Auditor, scope);
        async move {
            auditor
                .verify_audit_log(audit_pb::VerifyAuditLogRequest {
                    parent: format!("regions/{scope}"),
                })
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let intact = verify(NANSHAN).await.unwrap();
    let listed = audit_entries(&app, NANSHAN).await;
    assert!(intact.intact, "{:?}", intact.problems);
    assert_eq!(
        (intact.checked_entries, intact.entries_in_scope),
        (4, 3),
        "the whole chain is checked; Nanshan's auditor can list three of its entries"
    );
    assert_eq!(listed.len(), 3);
    assert_eq!(intact.head_sequence, 4);
    assert_eq!(intact.head_hash.len(), 64);

    // Someone with database access edits one of Nanshan's entries.
    let db = shequ_kit::db::Database::connect(&shequ_kit::config::DatabaseConfig {
        url: shequ_kit::config::Secret::new(app.database().url()),
        ..Default::default()
    })
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE audit_entries SET actor = 'user:someone-else' WHERE seq = {}",
        listed[1].sequence
    )))
    .execute(db.pool())
    .await
    .unwrap();
    db.close().await;
    let broken = verify(NANSHAN).await.unwrap();
    assert!(!broken.intact);
    assert_eq!(
        broken
            .problems
            .iter()
            .map(|p| (p.kind.as_str(), p.first_sequence, p.last_sequence))
            .collect::<Vec<_>>(),
        vec![("TAMPERED", listed[1].sequence, listed[1].sequence)]
    );
    // Only auditors, only in their scope.
    assert_refused(
        app.admin()
            .verify_audit_log(audit_pb::VerifyAuditLogRequest {
                parent: format!("regions/{NANSHAN}"),
            })
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    assert_refused(
        app.client(Role::Auditor, NANSHAN)
            .verify_audit_log(audit_pb::VerifyAuditLogRequest {
                parent: format!("regions/{GUANGDONG}"),
            })
            .await,
        Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );
}
