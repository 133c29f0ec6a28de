//! Deadlines as rows and the scheduler: overdue and notified on time by the injected clock,
//! across a restart, and exactly once with two replicas on one database.

use chrono::Duration;
use shequ_kit::{auth::Role, testing::TestServer};
use shequ_proto::warnings::v1 as pb;

use crate::helpers::*;

#[tokio::test]
async fn a_missed_deadline_makes_the_warning_overdue_and_notifies_the_street_then_the_district() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let warning = raise(&admin, flood(NANTOU_COMMUNITY, pb::Colour::Yellow)).await;
    // a second warning, met in time, is never notified
    let met = raise(&admin, flood(NANTOU_COMMUNITY, pb::Colour::Blue)).await;
    admin
        .clone()
        .acknowledge_warning(pb::AcknowledgeWarningRequest {
            name: met.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();

    // one second before the 72 hours, then exactly at them
    app.clock
        .advance(Duration::hours(72) - Duration::seconds(1));
    app.clock.advance(Duration::seconds(1));
    let overdue = app.until_missed(&warning.name, 1).await;
    assert!(overdue.overdue);
    assert!(overdue.deadlines[0].missed);
    assert_eq!(overdue.deadlines[0].met_time, None);
    let street = app.notifications(Role::StreetOfficer, NANTOU_STREET).await;
    assert_eq!(street.len(), 1);
    let notified = &street[0];
    assert_eq!(notified.warning, warning.name);
    assert_eq!(notified.level, pb::NotificationLevel::Street as i32);
    assert_eq!(notified.region, NANTOU_STREET);
    assert_eq!(notified.community, NANTOU_COMMUNITY);
    assert_eq!(notified.deadline_kind, pb::DeadlineKind::Consult as i32);
    assert_eq!(notified.due_time, Some(hours_after_start(72)));
    // made at the deadline, not a second before
    assert_eq!(notified.create_time, Some(hours_after_start(72)));
    let overdue_list = admin
        .clone()
        .list_warnings(pb::ListWarningsRequest {
            parent: format!("regions/{NANSHAN}"),
            overdue_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .warnings;
    assert_eq!(
        overdue_list
            .iter()
            .map(|w| w.name.clone())
            .collect::<Vec<_>>(),
        std::slice::from_ref(&warning.name)
    );

    // still unmet one more span (72 h) later: the district
    app.clock.advance(Duration::hours(72));
    app.until_missed(&warning.name, 2).await;
    let district = app.notifications(Role::DistrictAdmin, NANSHAN).await;
    assert_eq!(
        district.len(),
        2,
        "the district sees its street's and its own"
    );
    assert_eq!(district[0].level, pb::NotificationLevel::District as i32);
    assert_eq!(district[0].region, NANSHAN);
    assert_eq!(district[0].create_time, Some(hours_after_start(144)));
    assert_eq!(
        app.notifications(Role::StreetOfficer, NANTOU_STREET)
            .await
            .len(),
        1,
        "the street does not see the district's"
    );

    // met late: no longer overdue, the deadline stays missed, and nothing more is notified
    admin
        .clone()
        .acknowledge_warning(pb::AcknowledgeWarningRequest {
            name: warning.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .clone()
        .create_consultation(pb::CreateConsultationRequest {
            parent: warning.name.clone(),
            consultation: Some(pb::Consultation {
                departments: vec![pb::Department::Water as i32],
                summary: "会商排水方案".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let late = app.warning(&warning.name).await;
    assert!(!late.overdue);
    assert!(late.deadlines[0].missed);
    assert_eq!(late.deadlines[0].met_time, Some(hours_after_start(144)));
    app.clock.advance(Duration::days(30));
    assert_eq!(count(&app, "notifications").await, 2);
    assert!(
        !app.warning(&met.name).await.deadlines[0].missed,
        "the one met in time"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_escalation_restarts_the_clock_and_the_replaced_deadline_is_never_notified() {
    let app = TestApp::spawn().await;
    let mut admin = app.admin();
    let warning = raise(&admin, flood(NANTOU_COMMUNITY, pb::Colour::Blue)).await;
    app.clock.advance(Duration::hours(40));
    admin
        .escalate_warning(pb::EscalateWarningRequest {
            name: warning.name.clone(),
            colour: pb::Colour::Yellow as i32,
            reason: "涉及多部门".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // the blue deadline (48 h) passes replaced; the yellow one runs to 40 + 72 hours
    app.clock.advance(Duration::hours(71));
    app.clock.advance(Duration::hours(1));
    let overdue = app.until_missed(&warning.name, 1).await;
    assert!(!overdue.deadlines[0].missed, "the replaced blue deadline");
    assert!(overdue.deadlines[1].missed);
    let notified = app.notifications(Role::DistrictAdmin, NANSHAN).await;
    assert_eq!(notified.len(), 1);
    assert_eq!(notified[0].due_time, Some(hours_after_start(112)));
    assert_eq!(notified[0].create_time, Some(hours_after_start(112)));
    app.stop().await;
}

#[tokio::test]
async fn deadlines_are_rows_that_survive_a_restart_of_the_service() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let red = raise(&admin, flood(NANTOU_COMMUNITY, pb::Colour::Red)).await;
    let blue = raise(&admin, flood(DAXIN_COMMUNITY, pb::Colour::Blue)).await;
    // the red deadline passes while the service is down; it is notified when it comes back
    let clock = app.clock.clone();
    let address = app.server.address;
    let app = {
        let TestApp {
            keys,
            clock,
            personnel,
            server,
            settings,
        } = app;
        let (database, _, _) = server.stop().await;
        clock.advance(Duration::hours(25));
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        let mut config = shequ_kit::service::default_config::<shequ_warnings::Warnings>();
        config.dependencies.insert(
            "personnel".into(),
            shequ_kit::config::DependencyConfig {
                address: personnel.url(),
                ..Default::default()
            },
        );
        config.service = settings.clone();
        let server = TestServer::start_on::<shequ_warnings::Warnings>(
            listener,
            config,
            database,
            keys.clone(),
            clock.clone(),
        )
        .await;
        TestApp {
            keys,
            clock,
            personnel,
            server,
            settings,
        }
    };
    let overdue = app.until_missed(&red.name, 1).await;
    assert!(overdue.overdue);
    let notified = app.notifications(Role::DistrictAdmin, NANSHAN).await;
    assert_eq!(notified.len(), 1);
    assert_eq!(
        notified[0].create_time,
        Some(hours_after_start(25)),
        "at start-up"
    );
    // the blue one (48 h), created before the restart, is notified by the restarted service
    let app = app.restart().await;
    clock.advance(Duration::hours(23));
    let overdue = app.until_missed(&blue.name, 1).await;
    assert!(overdue.overdue);
    let notified: Vec<_> = app
        .notifications(Role::DistrictAdmin, NANSHAN)
        .await
        .into_iter()
        .filter(|n| n.warning == blue.name)
        .collect();
    assert_eq!(notified.len(), 1);
    assert_eq!(notified[0].region, "440305001000", "Daxin's street");
    assert_eq!(notified[0].create_time, Some(hours_after_start(48)));
    // and the red one, still unmet a span (24 h) after its deadline, reached the district
    app.until_missed(&red.name, 2).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_database_notify_each_missed_deadline_exactly_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let mut names = Vec::new();
    for i in 0..30 {
        let community = if i % 2 == 0 {
            NANTOU_COMMUNITY
        } else {
            DAXIN_COMMUNITY
        };
        names.push(raise(&admin, flood(community, pb::Colour::Red)).await.name);
    }
    let replica = app.replica().await;
    // both replicas' schedulers are past their look at the rows and wait on the clock for the
    // same deadline, so moving it wakes both at once: five waits in all, with the maintenance
    // jobs of personnel and of each replica (no more can exist)
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        app.clock.until_waiters(5),
    )
    .await
    .expect("both schedulers wait for the deadline");
    app.clock.advance(Duration::hours(24));
    for name in &names {
        app.until_missed(name, 1).await;
    }
    app.clock.advance(Duration::hours(24));
    for name in &names {
        app.until_missed(name, 2).await;
    }
    // let any straggling claim of either replica finish: both are told to stop and drain
    let (replica_database, _, _) = replica.stop().await;
    drop(replica_database);
    assert_eq!(
        count(&app, "notifications").await,
        60,
        "two levels × 30, once each"
    );
    assert_eq!(
        count(&app, "warning_history WHERE action = 'DEADLINE_MISSED'").await,
        60
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "feed_events WHERE type_url = '{}'",
                shequ_kit::feed::type_url::<pb::WarningOverdue>()
            )
        )
        .await,
        60
    );
    for name in &names {
        let warning = app.warning(name).await;
        assert_eq!(warning.etag, "3", "raised, then missed twice: {name}");
    }
    app.stop().await;
}
