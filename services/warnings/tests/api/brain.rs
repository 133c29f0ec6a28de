//! The community brain: catalogue, terminals and their keys, readings in batches and streams,
//! and the warnings threshold rules raise and upgrade.

use chrono::Duration;
use shequ_kit::auth::Role;
use shequ_proto::warnings::v1 as pb;
use tonic::Code;

use crate::helpers::*;

async fn send(
    ingester: &Ingester,
    terminal: &str,
    sequence: i64,
    readings: Vec<pb::Reading>,
) -> Result<pb::BatchCreateReadingsResponse, tonic::Status> {
    ingester
        .clone()
        .batch_create_readings(pb::BatchCreateReadingsRequest {
            terminal: terminal.to_owned(),
            sequence,
            readings,
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn readings_keep_one_active_warning_per_community_and_rule_and_upgrade_its_colour() {
    let app = TestApp::spawn().await;
    let brain = app.brain(NANTOU_COMMUNITY).await;
    let ingester = app.ingester(NANSHAN, Some(&brain.key));
    // below every threshold: nothing
    let quiet = send(&ingester, &brain.terminal, 1, vec![rain(5.0, now(&app))])
        .await
        .unwrap();
    assert_eq!((quiet.accepted_count, quiet.warnings.len()), (1, 0));
    // 25 mm crosses blue (20)
    let first = send(&ingester, &brain.terminal, 2, vec![rain(25.0, now(&app))])
        .await
        .unwrap();
    assert_eq!(first.warnings.len(), 1);
    let name = first.warnings[0].clone();
    let raised = app.warning(&name).await;
    assert_eq!(raised.colour, pb::Colour::Blue as i32);
    assert_eq!(raised.source, pb::WarningSource::Rule as i32);
    assert_eq!(
        raised.threshold_rule,
        format!("provinces/{GUANGDONG}/thresholdRules/{RAINSTORM}")
    );
    assert_eq!(raised.region, NANTOU_COMMUNITY);
    assert_eq!(raised.title, "暴雨内涝");
    assert_eq!(raised.category, "flood");
    assert!(
        raised.description.contains("25mm"),
        "{}",
        raised.description
    );
    assert_eq!(raised.deadlines[0].due_time, Some(hours_after_start(48)));
    // 30 mm is still blue: the same warning, untouched
    let again = send(&ingester, &brain.terminal, 3, vec![rain(30.0, now(&app))])
        .await
        .unwrap();
    assert!(again.warnings.is_empty());
    // an hour later, 120 mm crosses red (100): the same warning is upgraded, its deadline anew
    app.clock.advance(Duration::hours(1));
    let storm = send(
        &ingester,
        &brain.terminal,
        4,
        vec![
            rain(60.0, now(&app)),
            rain(120.0, now(&app)),
            rain(40.0, now(&app)),
        ],
    )
    .await
    .unwrap();
    assert_eq!(storm.warnings, std::slice::from_ref(&name));
    let upgraded = app.warning(&name).await;
    assert_eq!(upgraded.colour, pb::Colour::Red as i32);
    assert_eq!(upgraded.deadlines.len(), 2);
    assert_eq!(
        upgraded.deadlines[1].kind,
        pb::DeadlineKind::TaskForce as i32
    );
    assert_eq!(upgraded.deadlines[1].due_time, Some(hours_after_start(25)));
    let in_community = app
        .admin()
        .list_warnings(pb::ListWarningsRequest {
            parent: format!("regions/{NANTOU_COMMUNITY}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .warnings;
    assert_eq!(
        in_community.len(),
        1,
        "one active warning per (community, rule)"
    );
    let history = app
        .admin()
        .list_warning_history_entries(pb::ListWarningHistoryEntriesRequest {
            parent: name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .history_entries;
    let rule = format!("provinces/{GUANGDONG}/thresholdRules/{RAINSTORM}");
    assert_eq!(history.len(), 2);
    assert_eq!(
        (
            history[1].action,
            history[1].from_colour,
            history[1].to_colour,
            history[1].actor.as_str()
        ),
        (
            pb::HistoryAction::Escalated as i32,
            pb::Colour::Blue as i32,
            pb::Colour::Red as i32,
            rule.as_str()
        )
    );
    assert!(history[1].note.contains("120mm"), "{}", history[1].note);

    // once it is resolved, the next crossing raises a new warning
    let mut admin = app.admin();
    for step in 0..3 {
        match step {
            0 => {
                admin
                    .acknowledge_warning(pb::AcknowledgeWarningRequest {
                        name: name.clone(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
            }
            1 => {
                admin
                    .create_task_force(pb::CreateTaskForceRequest {
                        parent: name.clone(),
                        task_force: Some(pb::TaskForce {
                            leader: "李强".into(),
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    })
                    .await
                    .unwrap();
            }
            _ => {
                admin
                    .resolve_warning(pb::ResolveWarningRequest {
                        name: name.clone(),
                        resolution: "排涝完成".into(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
            }
        }
    }
    let next = send(&ingester, &brain.terminal, 5, vec![rain(55.0, now(&app))])
        .await
        .unwrap();
    assert_eq!(next.warnings.len(), 1);
    assert_ne!(next.warnings[0], name);
    assert_eq!(
        app.warning(&next.warnings[0]).await.colour,
        pb::Colour::Yellow as i32
    );
    app.stop().await;
}

#[tokio::test]
async fn a_repeated_batch_is_applied_once_and_answered_as_the_first_time() {
    let app = TestApp::spawn().await;
    let brain = app.brain(NANTOU_COMMUNITY).await;
    let ingester = app.ingester(NANSHAN, Some(&brain.key));
    let batch = vec![rain(25.0, now(&app)), rain(400.0, now(&app))];
    let first = send(&ingester, &brain.terminal, 7, batch.clone())
        .await
        .unwrap();
    assert!(!first.replayed);
    assert_eq!(
        (
            first.accepted_count,
            first.rejections.len(),
            first.warnings.len()
        ),
        (1, 1, 1)
    );
    app.clock.advance(Duration::minutes(1));
    let repeat = send(&ingester, &brain.terminal, 7, batch).await.unwrap();
    assert!(repeat.replayed);
    assert_eq!(
        pb::BatchCreateReadingsResponse {
            replayed: false,
            ..repeat
        },
        first,
        "the first answer, commit time included"
    );
    assert_eq!(count(&app, "readings").await, 1);
    assert_eq!(count(&app, "warnings").await, 1);
    // the same sequence of another terminal is another batch
    let (other, other_key) = app.terminal(NANTOU_COMMUNITY).await;
    let other_batch = send(
        &app.ingester(NANSHAN, Some(&other_key)),
        &other,
        7,
        vec![rain(1.0, now(&app))],
    )
    .await
    .unwrap();
    assert!(!other_batch.replayed);
    assert_eq!(count(&app, "readings").await, 2);
    app.stop().await;
}

#[tokio::test]
async fn bad_readings_are_reported_one_by_one_and_the_rest_of_the_batch_lands() {
    let app = TestApp::spawn().await;
    let brain = app.brain(NANTOU_COMMUNITY).await;
    // a retired indicator of the same province
    let mut province = app.province_admin();
    let level = province
        .create_indicator(pb::CreateIndicatorRequest {
            parent: format!("provinces/{GUANGDONG}"),
            indicator_id: "water-level".into(),
            indicator: Some(pb::Indicator {
                display_name: "内河水位".into(),
                department: pb::Department::Water as i32,
                unit: "m".into(),
                min_value: -5.0,
                max_value: 20.0,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    province
        .update_indicator(pb::UpdateIndicatorRequest {
            indicator: Some(pb::Indicator {
                name: level.name.clone(),
                active: false,
                etag: level.etag,
                ..Default::default()
            }),
            update_mask: mask(&["active"]),
        })
        .await
        .unwrap();
    let start = shequ_kit::clock::Clock::now(&app.clock);
    let at = |d: Duration| shequ_kit::convert::to_timestamp(start + d);
    let readings = vec![
        rain(10.0, at(Duration::zero())),
        pb::Reading {
            indicator_id: "pm25".into(),
            value: 35.0,
            observe_time: Some(at(Duration::zero())),
        },
        rain(300.5, at(Duration::zero())),
        rain(10.0, at(Duration::minutes(5) + Duration::seconds(1))),
        rain(10.0, at(-Duration::days(7) - Duration::seconds(1))),
        pb::Reading {
            indicator_id: "water-level".into(),
            value: 3.0,
            observe_time: Some(at(Duration::zero())),
        },
        pb::Reading {
            indicator_id: RAIN.into(),
            value: 3.0,
            observe_time: None,
        },
        rain(-0.5, at(Duration::zero())),
        rain(0.0, at(-Duration::days(7))),
        rain(300.0, at(Duration::minutes(5))),
    ];
    let answer = send(
        &app.ingester(NANSHAN, Some(&brain.key)),
        &brain.terminal,
        1,
        readings,
    )
    .await
    .unwrap();
    let refused: Vec<(i32, &str)> = answer
        .rejections
        .iter()
        .map(|r| (r.index, r.reason.as_str()))
        .collect();
    assert_eq!(
        refused,
        [
            (1, "INDICATOR_UNKNOWN"),
            (2, "VALUE_OUT_OF_RANGE"),
            (3, "TIME_IN_FUTURE"),
            (4, "TIME_TOO_OLD"),
            (5, "INDICATOR_UNKNOWN"),
            (6, "TIME_REQUIRED"),
            (7, "VALUE_OUT_OF_RANGE"),
        ]
    );
    assert_eq!(
        answer.accepted_count, 3,
        "the limits themselves are accepted"
    );
    assert_eq!(count(&app, "readings").await, 3);
    assert_eq!(answer.warnings.len(), 1, "300 mm, 5 minutes ahead, is red");
    // a batch of nothing, or more than 1,000 readings, or a sequence below 1, is refused whole
    let ingester = app.ingester(NANSHAN, Some(&brain.key));
    let status = send(&ingester, &brain.terminal, 0, vec![])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violations(&status),
        [
            ("sequence".to_owned(), "SEQUENCE_INVALID".to_owned()),
            ("readings".to_owned(), "FIELD_REQUIRED".to_owned()),
        ]
    );
    let many = vec![rain(1.0, now(&app)); 1_001];
    let status = send(&ingester, &brain.terminal, 2, many).await.unwrap_err();
    assert_eq!(
        violations(&status),
        [("readings".to_owned(), "TOO_MANY_VALUES".to_owned())]
    );
    let full = send(
        &ingester,
        &brain.terminal,
        2,
        vec![rain(1.0, now(&app)); 1_000],
    )
    .await
    .unwrap();
    assert_eq!(full.accepted_count, 1_000);
    app.stop().await;
}

#[tokio::test]
async fn a_terminal_key_is_required_checked_and_dead_once_revoked() {
    let app = TestApp::spawn().await;
    let brain = app.brain(NANTOU_COMMUNITY).await;
    let (other, other_key) = app.terminal(DAXIN_COMMUNITY).await;
    let batch = || vec![rain(1.0, now(&app))];
    assert_refused(
        app.ingester(NANSHAN, None)
            .batch_create_readings(pb::BatchCreateReadingsRequest {
                terminal: brain.terminal.clone(),
                sequence: 1,
                readings: batch(),
            })
            .await,
        Code::Unauthenticated,
        "TERMINAL_KEY_MISSING",
    );
    // another terminal's key, and a key with one character changed
    let mut forged = brain.key.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for key in [other_key.as_str(), forged.as_str()] {
        let status = send(
            &app.ingester(NANSHAN, Some(key)),
            &brain.terminal,
            1,
            batch(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (status.code(), reason(&status).as_str()),
            (Code::Unauthenticated, "TERMINAL_KEY_INVALID")
        );
    }
    // people do not send readings; a system of another district does not find the terminal
    assert_refused(
        app.client(Role::DistrictAdmin, NANSHAN)
            .batch_create_readings(pb::BatchCreateReadingsRequest {
                terminal: brain.terminal.clone(),
                sequence: 1,
                readings: batch(),
            })
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    let status = send(
        &app.ingester(FUTIAN, Some(&brain.key)),
        &brain.terminal,
        1,
        batch(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::NotFound, "RESOURCE_NOT_FOUND")
    );
    assert_eq!(count(&app, "readings").await, 0);
    // the right key works, until the terminal is revoked
    let ingester = app.ingester(NANSHAN, Some(&brain.key));
    send(&ingester, &brain.terminal, 1, batch()).await.unwrap();
    let revoked = app
        .admin()
        .revoke_terminal(pb::RevokeTerminalRequest {
            name: brain.terminal.clone(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.state, pb::TerminalState::Revoked as i32);
    let status = send(&ingester, &brain.terminal, 2, batch())
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::Unauthenticated, "TERMINAL_REVOKED")
    );
    // the key is stored only as a keyed hash
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(app.database().url())
        .await
        .unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT key_hash FROM terminals")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|h| !h.contains(&brain.key[5..]) && !h.starts_with("shqt_"))
    );
    let _ = other;
    app.stop().await;
}

async fn stream(
    ingester: &Ingester,
    batches: Vec<pb::IngestReadingsRequest>,
) -> Result<pb::IngestReadingsResponse, tonic::Status> {
    ingester
        .clone()
        .ingest_readings(tokio_stream::iter(batches))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_stream_is_committed_batch_by_batch_and_a_resent_stream_applies_nothing_twice() {
    let app = TestApp::spawn().await;
    let brain = app.brain(NANTOU_COMMUNITY).await;
    let ingester = app.ingester(NANSHAN, Some(&brain.key));
    let batch = |sequence: i64, mm: f64| pb::IngestReadingsRequest {
        terminal: brain.terminal.clone(),
        sequence,
        readings: vec![rain(mm, now(&app)), rain(mm / 2.0, now(&app))],
    };
    let answer = stream(
        &ingester,
        vec![batch(1, 10.0), batch(2, 30.0), batch(3, 60.0)],
    )
    .await
    .unwrap();
    let summary: Vec<(i64, i32, usize, bool)> = answer
        .batches
        .iter()
        .map(|b| (b.sequence, b.accepted_count, b.warnings.len(), b.replayed))
        .collect();
    assert_eq!(
        summary,
        [(1, 2, 0, false), (2, 2, 1, false), (3, 2, 1, false)]
    );
    assert_eq!(count(&app, "readings").await, 6);
    // a stream broken after its second batch (the third is malformed): the first two committed
    let broken = stream(
        &ingester,
        vec![
            batch(4, 1.0),
            batch(5, 1.0),
            pb::IngestReadingsRequest {
                sequence: 0,
                ..batch(6, 1.0)
            },
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(broken.code(), Code::InvalidArgument);
    assert_eq!(count(&app, "readings").await, 10);
    // sent again in full: what committed is answered from before, the rest applied once
    let resent = stream(
        &ingester,
        vec![batch(3, 60.0), batch(4, 1.0), batch(5, 1.0), batch(6, 1.0)],
    )
    .await
    .unwrap();
    let replayed: Vec<(i64, bool)> = resent
        .batches
        .iter()
        .map(|b| (b.sequence, b.replayed))
        .collect();
    assert_eq!(replayed, [(3, true), (4, true), (5, true), (6, false)]);
    assert_eq!(count(&app, "readings").await, 12);
    assert_eq!(count(&app, "reading_batches").await, 6);
    // every batch of a stream names the stream's terminal
    let (other, _) = app.terminal(NANTOU_COMMUNITY).await;
    let mixed = stream(
        &ingester,
        vec![
            batch(7, 1.0),
            pb::IngestReadingsRequest {
                terminal: other,
                ..batch(8, 1.0)
            },
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&mixed), "TERMINAL_MISMATCH");
    // without the key the stream is refused at its first batch
    let status = stream(&app.ingester(NANSHAN, None), vec![batch(9, 1.0)])
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "TERMINAL_KEY_MISSING");
    // each committed batch left its audit entry, attributed to the system that sent it
    assert_eq!(
        count(
            &app,
            "audit_entries WHERE action = 'IngestReadings' AND outcome = 'OK'"
        )
        .await,
        7,
        "batches 1 to 7: committed one by one"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_catalogue_holds_200_indicators_a_province_and_rules_must_be_coherent() {
    let app = TestApp::spawn().await;
    let mut province = app.province_admin();
    let indicator = |id: String| pb::CreateIndicatorRequest {
        parent: format!("provinces/{GUANGDONG}"),
        indicator_id: id,
        indicator: Some(pb::Indicator {
            display_name: "指标".into(),
            department: pb::Department::Health as i32,
            min_value: 0.0,
            max_value: 1.0,
            ..Default::default()
        }),
        request_id: String::new(),
    };
    for i in 0..200 {
        province
            .create_indicator(indicator(format!("i{i:03}")))
            .await
            .unwrap();
    }
    assert_refused(
        province.create_indicator(indicator("i200".into())).await,
        Code::FailedPrecondition,
        "INDICATOR_CATALOGUE_FULL",
    );
    assert_refused(
        province.create_indicator(indicator("i000".into())).await,
        Code::AlreadyExists,
        "INDICATOR_EXISTS",
    );
    // another province's catalogue is its own; a province administrator of Zhejiang adds there
    app.client(Role::ProvinceAdmin, ZHEJIANG)
        .create_indicator(pb::CreateIndicatorRequest {
            parent: format!("provinces/{ZHEJIANG}"),
            ..indicator("i200".into())
        })
        .await
        .unwrap();
    let page = app
        .client(Role::StreetOfficer, NANTOU_STREET)
        .list_indicators(pb::ListIndicatorsRequest {
            parent: format!("provinces/{GUANGDONG}"),
            page_size: 500,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.indicators.len(), 200);

    let refused = assert_refused(
        province
            .create_threshold_rule(pb::CreateThresholdRuleRequest {
                parent: format!("provinces/{GUANGDONG}"),
                threshold_rule_id: "bad rule".into(),
                threshold_rule: Some(pb::ThresholdRule {
                    indicator: format!("provinces/{ZHEJIANG}/indicators/i200"),
                    display_name: String::new(),
                    direction: pb::ThresholdDirection::Above as i32,
                    blue_threshold: Some(0.5),
                    yellow_threshold: Some(0.4),
                    category: "Health".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "RESOURCE_ID_INVALID",
    );
    assert_eq!(
        violations(&refused),
        [
            (
                "threshold_rule_id".to_owned(),
                "RESOURCE_ID_INVALID".to_owned()
            ),
            (
                "threshold_rule.indicator".to_owned(),
                "INDICATOR_UNKNOWN".to_owned()
            ),
            (
                "threshold_rule.display_name".to_owned(),
                "FIELD_REQUIRED".to_owned()
            ),
            ("threshold_rule".to_owned(), "THRESHOLDS_INVALID".to_owned()),
            (
                "threshold_rule.category".to_owned(),
                "CATEGORY_INVALID".to_owned()
            ),
        ]
    );
    assert_eq!(count(&app, "threshold_rules").await, 0);
    // a district administrator reads the catalogue but does not change it
    assert_refused(
        app.admin().create_indicator(indicator("x".into())).await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    app.stop().await;
}

#[tokio::test]
async fn a_city_registers_at_most_5000_active_terminals() {
    let app = TestApp::spawn().await;
    // 4,999 active terminals of Shenzhen already registered (written behind the API)
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(app.database().url())
        .await
        .unwrap();
    let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
    for i in 0..4_999 {
        sqlx::query(
            "INSERT INTO terminals (id, display_name, region, key_hash, revoked, creator, \
             create_time, revoke_time, version) VALUES ($1, 't', $2, 'h', 0, 'setup', \
             '2026-06-01T00:00:00.000000Z', NULL, 1)",
        )
        .bind(format!("setup{i:05}"))
        .bind(NANTOU_COMMUNITY)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let (five_thousandth, _) = app.terminal(DAXIN_COMMUNITY).await;
    let create = |community: &str| pb::CreateTerminalRequest {
        terminal: Some(pb::Terminal {
            display_name: "传感器".into(),
            region: community.into(),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let refused = assert_refused(
        app.admin().create_terminal(create(NANTOU_COMMUNITY)).await,
        Code::FailedPrecondition,
        "TERMINAL_LIMIT_REACHED",
    );
    assert!(refused.message().contains("5000"), "{}", refused.message());
    // another city is not concerned; a revoked terminal frees its place
    app.client(Role::CityAdmin, "440100000000")
        .create_terminal(create("440104001007"))
        .await
        .unwrap();
    app.admin()
        .revoke_terminal(pb::RevokeTerminalRequest {
            name: five_thousandth,
            request_id: String::new(),
        })
        .await
        .unwrap();
    app.admin()
        .create_terminal(create(NANTOU_COMMUNITY))
        .await
        .unwrap();
    app.stop().await;
}

/// Polls until the readings retention job has run `runs` times (its audit entries).
async fn until_retention_ran(app: &TestApp, runs: i64) {
    for _ in 0..2_000 {
        if count(app, "audit_entries WHERE action = 'PurgeReadings'").await >= runs {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("the readings retention never ran {runs} times");
}

#[tokio::test]
async fn readings_are_kept_90_days_and_purged_by_the_daily_job() {
    let app = TestApp::spawn().await;
    let brain = app.brain(NANTOU_COMMUNITY).await;
    send(
        &app.ingester(NANSHAN, Some(&brain.key)),
        &brain.terminal,
        1,
        vec![rain(1.0, now(&app))],
    )
    .await
    .unwrap();
    until_retention_ran(&app, 1).await;
    // 89 days later the reading is still kept
    app.clock.advance(Duration::days(89));
    until_retention_ran(&app, 2).await;
    assert_eq!(count(&app, "readings").await, 1);
    // 130 days later it is gone (on PostgreSQL with its whole month, June, once July 25 is 90
    // days back)
    app.clock.advance(Duration::days(41));
    until_retention_ran(&app, 3).await;
    assert_eq!(count(&app, "readings").await, 0);
    assert_eq!(
        count(&app, "reading_batches").await,
        0,
        "its answer went with it"
    );
    // sent again now, the old batch applies nothing: its reading is older than 7 days
    let repeat = send(
        &app.ingester(NANSHAN, Some(&brain.key)),
        &brain.terminal,
        1,
        vec![rain(1.0, hours_after_start(0))],
    )
    .await
    .unwrap();
    assert_eq!(
        (repeat.accepted_count, repeat.rejections[0].reason.as_str()),
        (0, "TIME_TOO_OLD")
    );
    assert_eq!(count(&app, "readings").await, 0);
    app.stop().await;
}
