use shequ_kit::auth::Role;
use shequ_proto::personnel::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_created_secretary_reads_back_with_personal_data_masked() {
    let app = TestApp::spawn().await;
    let id = id_number(1985, 1);
    let created = create(&app, secretary(&id)).await;
    assert!(created.name.starts_with("secretaries/"));
    assert_eq!(created.status, pb::SecretaryStatus::Active as i32);
    assert_eq!(created.rung, pb::Rung::Secretary as i32);
    assert!(created.personal_data_masked);
    assert_eq!(created.id_number, "440305************");
    assert_eq!(created.phone_number, "138****8000");

    let read = app
        .client(Role::StreetOfficer, NANTOU_STREET)
        .get_secretary(pb::GetSecretaryRequest {
            name: created.name.clone(),
            view: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.display_name, "王芳");
    assert_eq!(read.id_number, created.id_number);
    assert_eq!(read.etag, created.etag);
}

#[tokio::test]
async fn the_unmasked_view_is_for_administrators_only() {
    let app = TestApp::spawn().await;
    let id = id_number(1985, 2);
    let created = create(&app, secretary(&id)).await;
    let unmasked = pb::GetSecretaryRequest {
        name: created.name.clone(),
        view: pb::SecretaryView::Unmasked as i32,
    };

    let read = app
        .admin()
        .get_secretary(unmasked.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.id_number, id);
    assert_eq!(read.phone_number, "13800138000");
    assert!(!read.personal_data_masked);

    let officer = app.client(Role::StreetOfficer, NANTOU_STREET);
    assert_refused(
        officer.clone().get_secretary(unmasked).await,
        Code::PermissionDenied,
        "UNMASKED_VIEW_NOT_PERMITTED",
    );
}

#[tokio::test]
async fn a_wrong_check_digit_is_refused_naming_the_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let mut id = id_number(1985, 3);
    let last = id.pop().unwrap();
    id.push(if last == '1' { '2' } else { '1' });
    let status = assert_refused(
        app.admin()
            .create_secretary(pb::CreateSecretaryRequest {
                request_id: String::new(),
                secretary: Some(secretary(&id)),
            })
            .await,
        Code::InvalidArgument,
        "ID_NUMBER_CHECK_DIGIT",
    );
    assert_eq!(
        violations(&status),
        vec![(
            "secretary.id_number".to_owned(),
            "ID_NUMBER_CHECK_DIGIT".to_owned()
        )]
    );
    assert!(
        status.message().contains("check digit"),
        "{}",
        status.message()
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
    assert!(listed.secretaries.is_empty());
}

#[tokio::test]
async fn every_mistake_of_a_form_is_named_at_once() {
    let app = TestApp::spawn().await;
    let mut profile = secretary(&id_number(1985, 4));
    profile.display_name = " ".into();
    profile.phone_number = "12345".into();
    profile.region = "440305001999".into();
    profile.birth_date = "1986-01-01".into(); // disagrees with the ID number
    profile.education = 0;
    let status = assert_refused(
        app.admin()
            .create_secretary(pb::CreateSecretaryRequest {
                request_id: String::new(),
                secretary: Some(profile),
            })
            .await,
        Code::InvalidArgument,
        "FIELD_REQUIRED",
    );
    let fields: Vec<(String, String)> = violations(&status);
    for expected in [
        ("secretary.display_name", "FIELD_REQUIRED"),
        ("secretary.id_number", "ID_NUMBER_BIRTH_DATE_MISMATCH"),
        ("secretary.phone_number", "PHONE_NUMBER_INVALID"),
        ("secretary.education", "FIELD_REQUIRED"),
        ("secretary.region", "REGION_UNKNOWN"),
    ] {
        assert!(
            fields.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} missing from {fields:?}"
        );
    }
}

#[tokio::test]
async fn an_unknown_region_and_a_non_community_region_are_refused() {
    let app = TestApp::spawn().await;
    let mut unknown = secretary(&id_number(1985, 5));
    unknown.region = "440305001999".into();
    assert_refused(
        app.admin()
            .create_secretary(pb::CreateSecretaryRequest {
                request_id: String::new(),
                secretary: Some(unknown),
            })
            .await,
        Code::InvalidArgument,
        "REGION_UNKNOWN",
    );
    let mut street = secretary(&id_number(1985, 5));
    street.region = NANTOU_STREET.into();
    assert_refused(
        app.admin()
            .create_secretary(pb::CreateSecretaryRequest {
                request_id: String::new(),
                secretary: Some(street),
            })
            .await,
        Code::InvalidArgument,
        "REGION_WRONG_LEVEL",
    );
}

#[tokio::test]
async fn one_district_cannot_create_in_or_see_another() {
    let app = TestApp::spawn().await;
    let mut in_futian = secretary(&id_number(1985, 6));
    in_futian.region = FUTIAN_COMMUNITY.into();
    assert_refused(
        app.admin()
            .create_secretary(pb::CreateSecretaryRequest {
                request_id: String::new(),
                secretary: Some(in_futian.clone()),
            })
            .await,
        Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );

    let futian_admin = app.client(Role::DistrictAdmin, "440304000000");
    let futian_record = futian_admin
        .clone()
        .create_secretary(pb::CreateSecretaryRequest {
            request_id: String::new(),
            secretary: Some(in_futian),
        })
        .await
        .unwrap()
        .into_inner();
    // Nanshan cannot tell the record exists: the same answer as for a name that was never used.
    let hidden = assert_refused(
        app.admin()
            .get_secretary(pb::GetSecretaryRequest {
                name: futian_record.name.clone(),
                view: 0,
            })
            .await,
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    let missing = assert_refused(
        app.admin()
            .get_secretary(pb::GetSecretaryRequest {
                name: "secretaries/nonexistent".into(),
                view: 0,
            })
            .await,
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    assert_eq!(
        hidden.message().replace(&futian_record.name, "X"),
        missing.message().replace("secretaries/nonexistent", "X")
    );
    // ... nor list it, nor change it
    assert_refused(
        app.admin()
            .list_secretaries(pb::ListSecretariesRequest {
                parent: "regions/440304000000".into(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "REGION_OUT_OF_SCOPE",
    );
    let mut change = futian_record.clone();
    change.display_name = "篡改".into();
    assert_refused(
        app.admin()
            .update_secretary(pb::UpdateSecretaryRequest {
                secretary: Some(change),
                update_mask: mask(&["display_name"]),
            })
            .await,
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    let unchanged = futian_admin
        .clone()
        .get_secretary(pb::GetSecretaryRequest {
            name: futian_record.name,
            view: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unchanged.display_name, "王芳");
}

#[tokio::test]
async fn an_id_number_can_be_registered_once() {
    let app = TestApp::spawn().await;
    let id = id_number(1985, 7);
    create(&app, secretary(&id)).await;
    assert_refused(
        app.admin()
            .create_secretary(pb::CreateSecretaryRequest {
                request_id: String::new(),
                secretary: Some(secretary(&id)),
            })
            .await,
        Code::AlreadyExists,
        "SECRETARY_ID_NUMBER_TAKEN",
    );
}

/// Every page of a listing, `page_size` at a time: the names in order, and how many pages.
async fn list_all(
    client: &mut Client,
    request: pb::ListSecretariesRequest,
    page_size: i32,
) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_secretaries(pb::ListSecretariesRequest {
                page_size,
                page_token: token.clone(),
                ..request.clone()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.secretaries.len() <= page_size as usize);
        seen.extend(page.secretaries.into_iter().map(|s| s.name));
        if page.next_page_token.is_empty() {
            return (seen, pages);
        }
        token = page.next_page_token;
    }
}

#[tokio::test]
async fn listing_pages_to_the_end_with_filters_and_rejects_foreign_tokens() {
    let app = TestApp::spawn().await;
    let mut client = app.admin();
    let (mut all, mut active, mut departed, mut promoted) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for serial in 0..7 {
        let mut profile = secretary(&id_number(1980 + serial, 10 + serial));
        if serial % 2 == 1 {
            profile.region = DAXIN_COMMUNITY.into();
        }
        let name = create(&app, profile).await.name;
        all.push(name.clone());
        match serial % 3 {
            // 2, 5: departed
            2 => {
                client
                    .create_career_event(pb::CreateCareerEventRequest {
                        request_id: String::new(),
                        parent: name.clone(),
                        career_event: Some(pb::CareerEvent {
                            r#type: pb::CareerEventType::Departure as i32,
                            ..Default::default()
                        }),
                    })
                    .await
                    .unwrap();
                departed.push(name);
            }
            // 1, 4: promoted on the management ladder (six years on the first rung)
            1 => {
                client
                    .promote_secretary(pb::PromoteSecretaryRequest {
                        name: name.clone(),
                        ladder: pb::Ladder::Management as i32,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                active.push(name.clone());
                promoted.push(name);
            }
            _ => active.push(name),
        }
    }
    for names in [&mut all, &mut active, &mut departed, &mut promoted] {
        names.sort();
    }
    let nanshan = pb::ListSecretariesRequest {
        parent: format!("regions/{NANSHAN}"),
        ..Default::default()
    };

    let (seen, pages) = list_all(&mut client, nanshan.clone(), 3).await;
    assert_eq!(
        (seen, pages),
        (all.clone(), 3),
        "every secretary once, in name order"
    );
    // each filter, paged to the end: exactly the matching secretaries
    let active_only = pb::ListSecretariesRequest {
        status: pb::SecretaryStatus::Active as i32,
        ..nanshan.clone()
    };
    assert_eq!(
        list_all(&mut client, active_only.clone(), 2).await,
        (active.clone(), 3)
    );
    let departed_only = pb::ListSecretariesRequest {
        status: pb::SecretaryStatus::Departed as i32,
        ..nanshan.clone()
    };
    assert_eq!(
        list_all(&mut client, departed_only.clone(), 1).await,
        (departed, 2)
    );
    let on_management_ladder = pb::ListSecretariesRequest {
        ladder: pb::Ladder::Management as i32,
        ..nanshan.clone()
    };
    assert_eq!(
        list_all(&mut client, on_management_ladder, 1).await.0,
        promoted
    );
    let second_rung = pb::ListSecretariesRequest {
        rung: pb::Rung::AreaDirector as i32,
        ..nanshan.clone()
    };
    assert_eq!(list_all(&mut client, second_rung, 10).await.0, promoted);
    let first_rung_active = pb::ListSecretariesRequest {
        rung: pb::Rung::Secretary as i32,
        status: pb::SecretaryStatus::Active as i32,
        ..nanshan.clone()
    };
    let first_rung: Vec<String> = active
        .iter()
        .filter(|name| !promoted.contains(name))
        .cloned()
        .collect();
    assert_eq!(
        list_all(&mut client, first_rung_active, 10).await.0,
        first_rung
    );

    let daxin = client
        .list_secretaries(pb::ListSecretariesRequest {
            parent: format!("regions/{DAXIN_COMMUNITY}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(daxin.secretaries.len(), 3);

    // a token is bound to its query (parent and filters), and cannot be forged
    let first = client
        .list_secretaries(pb::ListSecretariesRequest {
            page_size: 2,
            ..active_only.clone()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!first.next_page_token.is_empty());
    for other_query in [
        pb::ListSecretariesRequest {
            parent: format!("regions/{NANTOU_STREET}"),
            ..active_only.clone()
        },
        departed_only.clone(),
        nanshan.clone(),
    ] {
        let refused = client
            .list_secretaries(pb::ListSecretariesRequest {
                page_size: 2,
                page_token: first.next_page_token.clone(),
                ..other_query
            })
            .await;
        assert_refused(refused, Code::InvalidArgument, "PAGE_TOKEN_INVALID");
    }
    let forged = client
        .list_secretaries(pb::ListSecretariesRequest {
            parent: format!("regions/{NANSHAN}"),
            page_token: "eyJhZnRlciI6IiJ9".into(),
            ..Default::default()
        })
        .await;
    assert_refused(forged, Code::InvalidArgument, "PAGE_TOKEN_INVALID");
    let negative = client
        .list_secretaries(pb::ListSecretariesRequest {
            parent: format!("regions/{NANSHAN}"),
            page_size: -1,
            ..Default::default()
        })
        .await;
    assert_refused(negative, Code::InvalidArgument, "PAGE_SIZE_NEGATIVE");
}

#[tokio::test]
async fn an_update_changes_only_masked_fields_and_a_stale_etag_changes_nothing() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1985, 20))).await;
    let mut client = app.admin();

    let mut change = created.clone();
    change.display_name = "王芳芳".into();
    change.phone_number = "13900139000".into();
    change.education = pb::Education::Master as i32; // not in the mask: must stay
    let updated = client
        .update_secretary(pb::UpdateSecretaryRequest {
            secretary: Some(change.clone()),
            update_mask: mask(&["displayName", "phone_number"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.display_name, "王芳芳");
    assert_eq!(updated.phone_number, "139****9000");
    assert_eq!(updated.education, pb::Education::Bachelor as i32);
    assert_ne!(updated.etag, created.etag);

    // the first etag is stale now
    let mut stale = created.clone();
    stale.display_name = "覆盖".into();
    assert_refused(
        client
            .update_secretary(pb::UpdateSecretaryRequest {
                secretary: Some(stale),
                update_mask: mask(&["display_name"]),
            })
            .await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    let current = client
        .get_secretary(pb::GetSecretaryRequest {
            name: created.name.clone(),
            view: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.display_name, "王芳芳");

    // status is not a profile field
    assert_refused(
        client
            .update_secretary(pb::UpdateSecretaryRequest {
                secretary: Some(current.clone()),
                update_mask: mask(&["status"]),
            })
            .await,
        Code::InvalidArgument,
        "UPDATE_MASK_INVALID",
    );
    // an ID number that disagrees with the stored birth date is refused
    let mut wrong = current;
    wrong.id_number = id_number(1990, 21);
    assert_refused(
        client
            .update_secretary(pb::UpdateSecretaryRequest {
                secretary: Some(wrong),
                update_mask: mask(&["id_number"]),
            })
            .await,
        Code::InvalidArgument,
        "ID_NUMBER_BIRTH_DATE_MISMATCH",
    );
}

#[tokio::test]
async fn a_caller_who_may_not_write_is_refused_before_their_input_is_examined() {
    let app = TestApp::spawn().await;
    let created = create(&app, secretary(&id_number(1985, 22))).await;
    let mut malformed = created.clone();
    malformed.etag = "not-an-etag".into();
    let request = || pb::UpdateSecretaryRequest {
        secretary: Some(malformed.clone()),
        update_mask: mask(&["no_such_field"]),
    };

    let officer = app.keys.token(Role::StreetOfficer, NANTOU_STREET);
    assert_refused(
        app.client_with_token(&officer)
            .update_secretary(request())
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
    // Another district's administrator learns nothing either, not even that the input is bad.
    let futian = app.keys.token(Role::DistrictAdmin, "440304000000");
    let refusal = app
        .client_with_token(&futian)
        .update_secretary(request())
        .await
        .unwrap_err();
    assert!(
        matches!(refusal.code(), Code::PermissionDenied | Code::NotFound),
        "{refusal:?}"
    );
    // The record's own administrator is told what is wrong with the input.
    assert_eq!(
        app.admin()
            .update_secretary(request())
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
}

#[tokio::test]
async fn a_secretary_may_read_only_their_own_record() {
    let app = TestApp::spawn().await;
    let own = create(&app, secretary(&id_number(1985, 30))).await;
    let other = create(&app, secretary(&id_number(1985, 31))).await;
    let mut me = shequ_kit::testing::caller(Role::Secretary, NANTOU_COMMUNITY);
    me.secretary = Some(own.name.clone());
    let mut client = app.client_with_token(&app.keys.token_for(&me));

    let read = client
        .get_secretary(pb::GetSecretaryRequest {
            name: own.name.clone(),
            view: pb::SecretaryView::Unmasked as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!read.personal_data_masked, "one's own data in full");
    assert_refused(
        client
            .get_secretary(pb::GetSecretaryRequest {
                name: other.name,
                view: 0,
            })
            .await,
        Code::NotFound,
        "RESOURCE_NOT_FOUND",
    );
    assert_refused(
        client
            .list_secretaries(pb::ListSecretariesRequest {
                parent: format!("regions/{NANTOU_COMMUNITY}"),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        "ROLE_NOT_PERMITTED",
    );
}

/// A create request whose encoded size is exactly `bytes`, padded in the display name.
fn create_request_of(bytes: usize) -> pb::CreateSecretaryRequest {
    use shequ_proto::prost::Message;
    let mut request = pb::CreateSecretaryRequest {
        secretary: Some(secretary(&id_number(1985, 40))),
        request_id: String::new(),
    };
    let base = request.encoded_len();
    let mut padding = bytes - base;
    loop {
        request.secretary.as_mut().unwrap().display_name = "a".repeat(padding);
        match request.encoded_len() {
            n if n == bytes => return request,
            n if n > bytes => padding -= n - bytes,
            n => padding += bytes - n,
        }
    }
}

#[tokio::test]
async fn a_request_over_1_mib_is_refused_before_it_is_read_and_one_of_1_mib_is_read() {
    let app = TestApp::spawn().await;
    // 1 MiB, as documented: 1,048,576 bytes is read (and refused for its oversized name) ...
    let at_limit = app
        .admin()
        .create_secretary(create_request_of(1_048_576))
        .await
        .unwrap_err();
    assert_eq!(at_limit.code(), Code::InvalidArgument, "{at_limit:?}");
    // ... one byte more is refused before it is decoded.
    let refused = app
        .admin()
        .create_secretary(create_request_of(1_048_577))
        .await
        .unwrap_err();
    assert!(
        matches!(refused.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{refused:?}"
    );
    assert!(
        reason(&refused).is_empty(),
        "not a handler's refusal: {refused:?}"
    );
    let listed = app
        .admin()
        .list_secretaries(pb::ListSecretariesRequest {
            parent: format!("regions/{NANSHAN}"),
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.secretaries.is_empty());
}

#[tokio::test]
async fn an_oversized_name_is_refused_plainly_not_echoed_into_a_transport_error() {
    let app = TestApp::spawn().await;
    // 10,000 characters: echoed whole (twice: message and details) it overflowed the trailers,
    // and the caller saw a transport error instead of an answer.
    let name = format!("secretaries/{}", "x".repeat(10_000));
    let refused = app
        .admin()
        .get_secretary(pb::GetSecretaryRequest { name, view: 0 })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(reason(&refused), "RESOURCE_NAME_INVALID");
    assert!(refused.message().len() < 400, "{}", refused.message());
    assert!(refused.message().contains("(10012 characters)"));
}
