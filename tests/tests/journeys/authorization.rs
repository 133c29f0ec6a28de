//! The authorisation matrix: every route of the descriptor set × every role × a caller whose scope
//! covers the target records and one whose scope does not. Out-of-scope and forbidden-role calls
//! must all be denied (403, or 404 where existence must not leak) and never return the records;
//! permitted calls must not be denied. A route without a decision below fails the test, so a new
//! RPC cannot ship without one.

use std::collections::{BTreeMap, BTreeSet};

use http::StatusCode;
use serde_json::{Value, json};
use shequ_kit::auth::{Caller, Role};

use crate::helpers::*;

/// The roles a client can hold (the gateway role is the gateway's own and never a client's).
const ROLES: [Role; 8] = [
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Secretary,
    Role::Assessor,
    Role::Integration,
    Role::Auditor,
];

const ADMINS: &[Role] = &[Role::ProvinceAdmin, Role::CityAdmin, Role::DistrictAdmin];
const RECORD_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Integration,
];
/// Record readers and the secretary reading their own record.
const OWN_RECORD_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Integration,
    Role::Secretary,
];
const POLICY_READERS: &[Role] = OWN_RECORD_READERS;
const PROVINCE_ADMIN: &[Role] = &[Role::ProvinceAdmin];
const AUDITOR: &[Role] = &[Role::Auditor];
const NOBODY: &[Role] = &[];

/// Who may call an RPC within their scope, and the body a realistic call sends.
struct Decision {
    allowed: &'static [Role],
    body: fn(&Fixtures, u32) -> Option<Value>,
    query: &'static str,
}

fn no_body(_: &Fixtures, _: u32) -> Option<Value> {
    None
}

fn empty_body(_: &Fixtures, _: u32) -> Option<Value> {
    Some(json!({}))
}

/// The decision of every RPC. Adding an RPC to a contract without adding it here fails the test.
fn decision(rpc: &str) -> Option<Decision> {
    let d = |allowed, body, query| {
        Some(Decision {
            allowed,
            body,
            query,
        })
    };
    match rpc {
        "shequ.personnel.v1.PersonnelService.CreateSecretary" => {
            d(ADMINS, |_, n| Some(secretary(&id_number(1975, n))), "")
        }
        "shequ.personnel.v1.PersonnelService.GetSecretary" => d(OWN_RECORD_READERS, no_body, ""),
        "shequ.personnel.v1.PersonnelService.ListSecretaries" => d(RECORD_READERS, no_body, ""),
        "shequ.personnel.v1.PersonnelService.UpdateSecretary" => d(
            ADMINS,
            |f, _| Some(json!({"displayName": "王芳", "etag": f.secretary_etag})),
            "updateMask=displayName",
        ),
        "shequ.personnel.v1.PersonnelService.GetQualificationStandard" => {
            d(POLICY_READERS, no_body, "")
        }
        "shequ.personnel.v1.PersonnelService.UpdateQualificationStandard" => d(
            PROVINCE_ADMIN,
            |_, _| Some(json!({"maxAgeAtAppointment": 50, "etag": "0"})),
            "updateMask=maxAgeAtAppointment",
        ),
        "shequ.personnel.v1.PersonnelService.CheckSecretaryQualification" => {
            d(OWN_RECORD_READERS, no_body, "")
        }
        "shequ.personnel.v1.PersonnelService.CheckCandidateQualification" => d(
            POLICY_READERS,
            |_, _| {
                Some(
                    json!({"candidate": {"birthDate": "1985-01-01", "education": "EDUCATION_BACHELOR", "communityWorkStartDate": "2015-01-01"}}),
                )
            },
            "",
        ),
        "shequ.personnel.v1.PersonnelService.GetCareerPolicy" => d(POLICY_READERS, no_body, ""),
        "shequ.personnel.v1.PersonnelService.UpdateCareerPolicy" => d(
            PROVINCE_ADMIN,
            |_, _| Some(json!({"reserveAnnualTarget": 1500, "etag": "0"})),
            "updateMask=reserveAnnualTarget",
        ),
        "shequ.personnel.v1.PersonnelService.CheckPromotion" => {
            d(OWN_RECORD_READERS, no_body, "ladder=LADDER_MANAGEMENT")
        }
        "shequ.personnel.v1.PersonnelService.PromoteSecretary" => d(
            ADMINS,
            |_, _| Some(json!({"ladder": "LADDER_MANAGEMENT"})),
            "",
        ),
        "shequ.personnel.v1.PersonnelService.CreateCareerEvent" => d(
            ADMINS,
            |_, _| {
                Some(json!({"type": "CAREER_EVENT_TYPE_TITLE_PROMOTION", "title": "社会工作师"}))
            },
            "",
        ),
        "shequ.personnel.v1.PersonnelService.GetCareerEvent" => d(OWN_RECORD_READERS, no_body, ""),
        "shequ.personnel.v1.PersonnelService.ListCareerEvents" => {
            d(OWN_RECORD_READERS, no_body, "")
        }
        "shequ.personnel.v1.PersonnelService.ListNegativeListItems" => {
            d(POLICY_READERS, no_body, "")
        }
        "shequ.personnel.v1.PersonnelService.GetNegativeListItem" => d(POLICY_READERS, no_body, ""),
        "shequ.personnel.v1.PersonnelService.CreateNegativeListItem" => d(
            PROVINCE_ADMIN,
            |_, _| Some(json!({"title": "新增条目"})),
            "negativeListItemId=GD-MATRIX",
        ),
        "shequ.personnel.v1.PersonnelService.UpdateNegativeListItem" => d(
            PROVINCE_ADMIN,
            |_, _| Some(json!({"title": "违反政治纪律", "etag": "1"})),
            "updateMask=title",
        ),
        "shequ.personnel.v1.PersonnelService.CreateViolation" => d(
            ADMINS,
            |_, _| {
                Some(
                    json!({"negativeListItem": format!("provinces/{GUANGDONG}/negativeListItems/NL01"), "occurredOn": "2025-01-01", "evidence": "通报"}),
                )
            },
            "",
        ),
        "shequ.personnel.v1.PersonnelService.ListViolations" => d(OWN_RECORD_READERS, no_body, ""),
        "shequ.personnel.v1.PersonnelService.CreateReserveCandidate" => d(
            ADMINS,
            |_, _| {
                Some(
                    json!({"displayName": "李明", "birthDate": "1995-05-05", "education": "EDUCATION_BACHELOR", "region": NANTOU_COMMUNITY, "readiness": "READINESS_READY_NOW"}),
                )
            },
            "",
        ),
        "shequ.personnel.v1.PersonnelService.GetReserveCandidate" => d(RECORD_READERS, no_body, ""),
        "shequ.personnel.v1.PersonnelService.ListReserveCandidates" => {
            d(RECORD_READERS, no_body, "")
        }
        "shequ.personnel.v1.PersonnelService.UpdateReserveCandidate" => d(
            ADMINS,
            |f, _| Some(json!({"note": "优秀", "etag": f.candidate_etag})),
            "updateMask=note",
        ),
        "shequ.personnel.v1.PersonnelService.GetReservePoolProgress" => {
            d(POLICY_READERS, no_body, "")
        }
        "shequ.personnel.v1.PersonnelService.GetWorkforceStatistics" => {
            d(RECORD_READERS, no_body, "")
        }
        "shequ.personnel.v1.PersonnelService.ListAuditEntries" => d(AUDITOR, no_body, ""),
        "shequ.identity.v1.ApiKeyService.CreateApiKey" => d(
            ADMINS,
            |_, _| {
                Some(
                    json!({"displayName": "平台", "roles": ["integration"], "scope": NANSHAN, "expireTime": "2026-12-31T00:00:00Z"}),
                )
            },
            "",
        ),
        "shequ.identity.v1.ApiKeyService.GetApiKey" => d(ADMINS, no_body, ""),
        "shequ.identity.v1.ApiKeyService.ListApiKeys" => d(ADMINS, no_body, ""),
        "shequ.identity.v1.ApiKeyService.RotateApiKey" => d(ADMINS, empty_body, ""),
        "shequ.identity.v1.ApiKeyService.RevokeApiKey" => d(ADMINS, empty_body, ""),
        // the gateway's own call: no client role may make it
        "shequ.identity.v1.ApiKeyService.VerifyApiKey" => {
            d(NOBODY, |f, _| Some(json!({"secret": f.api_key_secret})), "")
        }
        "shequ.identity.v1.ApiKeyService.ListAuditEntries" => d(AUDITOR, no_body, ""),
        _ => None,
    }
}

/// Records of district A (Nanshan, Guangdong) that the calls target.
struct Fixtures {
    secretary: String,
    secretary_etag: String,
    career_event: String,
    candidate: String,
    candidate_etag: String,
    api_key: String,
    api_key_secret: String,
}

impl Fixtures {
    /// The value of a path variable of the given pattern.
    fn resource(&self, pattern: &str) -> Option<String> {
        Some(match pattern {
            "secretaries/*" => self.secretary.clone(),
            "secretaries/*/careerEvents/*" => self.career_event.clone(),
            // a street: inside the scope of every in-scope caller that may list (down to a street
            // officer's), outside every out-of-scope caller's
            "regions/*" => "regions/440305001000".to_owned(),
            "provinces/*" => format!("provinces/{GUANGDONG}"),
            "provinces/*/qualificationStandard" => {
                format!("provinces/{GUANGDONG}/qualificationStandard")
            }
            "provinces/*/careerPolicy" => format!("provinces/{GUANGDONG}/careerPolicy"),
            "provinces/*/negativeListItems/*" => {
                format!("provinces/{GUANGDONG}/negativeListItems/NL01")
            }
            "reserveCandidates/*" => self.candidate.clone(),
            "apiKeys/*" => self.api_key.clone(),
            _ => return None,
        })
    }
}

async fn fixtures(stack: &Stack) -> Fixtures {
    let province = stack.token(Role::ProvinceAdmin, GUANGDONG);
    let secretary = create(stack, &secretary(&id_number(1980, 400))).await;
    let name = secretary["name"].as_str().unwrap().to_owned();
    let events = stack
        .get(&format!("/v1/{name}/careerEvents"), Some(&province))
        .await;
    let candidate = stack
        .post(
            "/v1/reserveCandidates",
            Some(&province),
            &json!({"displayName": "张伟", "birthDate": "1994-04-04", "education": "EDUCATION_BACHELOR", "region": NANTOU_COMMUNITY, "readiness": "READINESS_DEVELOPING"}),
        )
        .await;
    let key = stack
        .post(
            "/v1/apiKeys",
            Some(&province),
            &json!({"displayName": "平台", "roles": ["integration"], "scope": NANSHAN, "expireTime": "2026-12-31T00:00:00Z"}),
        )
        .await;
    Fixtures {
        secretary: name,
        secretary_etag: secretary["etag"].as_str().unwrap().to_owned(),
        career_event: events.body["careerEvents"][0]["name"]
            .as_str()
            .unwrap()
            .to_owned(),
        candidate: candidate.body["name"].as_str().unwrap().to_owned(),
        candidate_etag: candidate.body["etag"].as_str().unwrap().to_owned(),
        api_key: key.body["apiKey"]["name"].as_str().unwrap().to_owned(),
        api_key_secret: key.body["secret"].as_str().unwrap().to_owned(),
    }
}

/// A caller with `role` whose scope covers district A (in scope) or lies in Zhejiang (out of
/// scope). The secretary role reads its own record in scope and another's out of it.
fn caller(role: Role, in_scope: bool, fixtures: &Fixtures) -> Caller {
    let scope = match (role, in_scope) {
        (Role::ProvinceAdmin, true) => GUANGDONG,
        (Role::ProvinceAdmin, false) => "330000000000",
        (Role::CityAdmin, true) => "440300000000",
        (Role::CityAdmin, false) => "330100000000",
        (Role::StreetOfficer, true) => "440305001000",
        (Role::StreetOfficer, false) => "330102001000",
        (Role::Secretary, true) => NANTOU_COMMUNITY,
        (Role::Secretary, false) => "330102001051",
        (_, true) => NANSHAN,
        (_, false) => "330102000000",
    };
    let mut caller = shequ_kit::testing::caller(role, scope);
    if role == Role::Secretary {
        caller.secretary = Some(if in_scope {
            fixtures.secretary.clone()
        } else {
            "secretaries/someone-else".into()
        });
    }
    caller
}

/// The concrete path of a route template, its `{field=pattern}` variables filled from the fixtures.
fn fill(template: &str, fixtures: &Fixtures) -> Result<String, String> {
    let mut path = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let close = rest[open..].find('}').ok_or("unclosed variable")? + open;
        let variable = &rest[open + 1..close];
        let pattern = variable.split_once('=').map_or("*", |(_, p)| p);
        path.push_str(
            &fixtures
                .resource(pattern)
                .ok_or_else(|| format!("no fixture for pattern {pattern}"))?,
        );
        rest = &rest[close + 1..];
    }
    path.push_str(rest);
    Ok(path)
}

#[tokio::test]
async fn every_route_denies_forbidden_roles_and_out_of_scope_callers_and_leaks_nothing() {
    let stack = Stack::spawn_with(|config| {
        config.auth.rate_per_second = 1_000_000.0;
        config.auth.rate_burst = 1_000_000;
    })
    .await;
    let fixtures = fixtures(&stack).await;
    let pool = prost_reflect::DescriptorPool::decode(shequ_proto::FILE_DESCRIPTOR_SET).unwrap();
    let routes = shequ_gateway::routes::RouteTable::from_pool(&pool).unwrap();

    let mut undecided = BTreeSet::new();
    let mut failures = Vec::new();
    let mut counted: BTreeMap<&str, u32> = BTreeMap::new();
    let mut serial = 0;
    for route in routes.routes() {
        let rpc = route.rpc.full_name().to_owned();
        let Some(decision) = decision(&rpc) else {
            undecided.insert(rpc);
            continue;
        };
        let template = route
            .label
            .split_once(' ')
            .map(|(_, t)| t)
            .unwrap_or_default();
        let path = match fill(template, &fixtures) {
            Ok(path) if decision.query.is_empty() => path,
            Ok(path) => format!("{path}?{}", decision.query),
            Err(why) => {
                failures.push(format!("{rpc}: {why}"));
                continue;
            }
        };
        // denials first (they change nothing), then the permitted calls
        let mut cases: Vec<(Role, bool)> = ROLES
            .iter()
            .flat_map(|r| [(*r, false), (*r, true)])
            .collect();
        cases.sort_by_key(|(role, in_scope)| *in_scope && decision.allowed.contains(role));
        for (role, in_scope) in cases {
            serial += 1;
            let token = stack.keys.token_for(&caller(role, in_scope, &fixtures));
            let body = (decision.body)(&fixtures, serial).map(|b| b.to_string().into_bytes());
            let reply = stack
                .send(route.method.clone(), &path, Some(&token), body, &[])
                .await;
            let permitted = in_scope && decision.allowed.contains(&role);
            let status = reply.status;
            let case = format!(
                "{} as {role} ({}): {status} {}",
                route.label,
                if in_scope { "in scope" } else { "out of scope" },
                reply.body["reason"]
            );
            if permitted {
                *counted.entry("permitted").or_default() += 1;
                let denied = matches!(
                    status,
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
                );
                if denied || status.is_server_error() {
                    failures.push(format!("permitted call refused: {case}"));
                }
            } else {
                *counted.entry("denied").or_default() += 1;
                if !matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) {
                    failures.push(format!("not denied: {case}"));
                }
                // nothing of district A's records comes back in a denial
                for secret in [
                    &fixtures.secretary,
                    &fixtures.candidate,
                    &fixtures.api_key_secret,
                ] {
                    if reply.text.contains(secret.as_str()) && !path.contains(secret.as_str()) {
                        failures.push(format!("leak in {case}"));
                    }
                }
            }
        }
    }
    assert!(
        undecided.is_empty(),
        "routes without an authorisation decision: {undecided:?}"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // the matrix really ran: every route × 8 roles × 2 scopes
    let total: u32 = counted.values().sum();
    assert_eq!(total as usize, routes.routes().count() * ROLES.len() * 2);
    assert!(counted["denied"] > counted["permitted"]);
    stack.stop().await;
}

/// The components of the suite that call services as themselves: the gateway, every service, and
/// the services still to come (whose names the grant tables already use).
fn components() -> Vec<String> {
    let mut names: Vec<String> = shequ::services()
        .iter()
        .map(|e| e.name.to_owned())
        .collect();
    for name in ["gateway", "evaluation", "training", "warnings"] {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// Every RPC of every service, and of the event feed on every service's port, called directly
/// over gRPC by every other component with its own credential: exactly what the callee's grant
/// table names gets past the grant check (and past the handler's role check), everything else is
/// refused with OPERATION_NOT_GRANTED before any handler runs.
#[tokio::test]
async fn every_component_calling_as_itself_gets_exactly_its_grants() {
    use shequ_kit::{clock::ManualClock, grants::Grants, testing::TestKeys};

    let keys = TestKeys::new();
    let clock = ManualClock::at("2026-06-15T02:00:00Z".parse().unwrap());
    let services = start_services(&keys, &clock).await;
    let pool = prost_reflect::DescriptorPool::decode(shequ_proto::FILE_DESCRIPTOR_SET).unwrap();
    let feed = pool
        .get_service_by_name("shequ.feed.v1.EventFeedService")
        .unwrap();
    let mut failures = Vec::new();
    let (mut granted, mut refused) = (0, 0);
    for (entry, server) in &services {
        let api = pool.get_service_by_name(entry.grpc_name).unwrap();
        let grants = Grants::new(entry.grants);
        let methods = api
            .methods()
            .chain(feed.methods().filter(|m| !m.is_server_streaming()));
        for method in methods {
            for component in components().iter().filter(|c| *c != entry.name) {
                let token = if component == "gateway" {
                    keys.token(Role::Gateway, GUANGDONG)
                } else {
                    keys.service_token(component)
                };
                let path: http::uri::PathAndQuery =
                    format!("/{}/{}", method.parent_service().full_name(), method.name())
                        .parse()
                        .unwrap();
                let mut grpc = tonic::client::Grpc::new(server.channel());
                grpc.ready().await.unwrap();
                let mut request = tonic::Request::new(bytes::Bytes::new());
                request
                    .metadata_mut()
                    .insert("authorization", format!("Bearer {token}").parse().unwrap());
                let outcome = grpc
                    .unary(request, path, shequ_gateway::codec::RawCodec)
                    .await;
                let case = format!("{} by {component}", method.full_name());
                let reason = outcome
                    .as_ref()
                    .err()
                    .map(shequ_kit::testing::reason)
                    .unwrap_or_default();
                if grants.allows(component, method.name()) {
                    granted += 1;
                    if matches!(
                        reason.as_str(),
                        "OPERATION_NOT_GRANTED" | "ROLE_NOT_PERMITTED"
                    ) {
                        failures.push(format!("granted but refused ({reason}): {case}"));
                    }
                } else {
                    refused += 1;
                    match &outcome {
                        Err(status)
                            if status.code() == tonic::Code::PermissionDenied
                                && reason == "OPERATION_NOT_GRANTED" => {}
                        other => failures.push(format!(
                            "not refused as ungranted: {case}: {:?}",
                            other
                                .as_ref()
                                .map(|_| "OK")
                                .map_err(|s| (s.code(), reason.clone()))
                        )),
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // personnel: the feed to training, evaluation and warnings, CreateCareerEvent to evaluation;
    // identity: VerifyApiKey and the feed to the gateway (WatchEvents streams; tested elsewhere)
    assert_eq!(granted, 6, "every grant was exercised");
    assert!(refused > 100, "and so were the refusals: {refused}");
    for (_, server) in services {
        server.stop().await;
    }
}
