//! The authorisation matrix: every route of the descriptor set × every role × a caller whose scope
//! covers the target records and one whose scope does not, each with exactly one expected outcome:
//!
//! - a permitted call (role allowed, caller in scope) answers 2xx, on fixtures of its own (a new
//!   secretary, candidate or API key for each permitted write, the current etag read right before
//!   an update of a province's policy, a new id for each created catalogue item);
//! - a role the RPC does not allow: 403 `ROLE_NOT_PERMITTED`, whatever the scope;
//! - an allowed role out of scope: for a region or province the caller names (in the path or the
//!   body), 403 `REGION_OUT_OF_SCOPE`; for a stored record of another district, 404
//!   `RESOURCE_NOT_FOUND`, exactly like a missing one; a secretary reading another's record is 404;
//! - the unmasked view of a secretary (`?view=SECRETARY_VIEW_UNMASKED`) is its own row: for
//!   administrators in scope and the secretary's own record; other readers get 403
//!   `UNMASKED_VIEW_NOT_PERMITTED`.
//!
//! No refusal returns district A's records. A route without a decision fails the test, so a new
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
/// The province's qualification standard, career policy and negative list: every role with
/// personnel duties, in its own province.
const POLICY_READERS: &[Role] = OWN_RECORD_READERS;
const PROVINCE_ADMIN: &[Role] = &[Role::ProvinceAdmin];
/// Administrators and street officers (who record studio attendance and the mentor's sign-off).
const ADMINS_AND_OFFICERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
];
/// Recording a plan step: staff in scope for the mentor, or the mentor themself.
const STEP_RECORDERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Secretary,
];
/// A public route: every role, in any scope (and no account at all, see the training journey).
const EVERYONE: &[Role] = &ROLES;
const AUDITOR: &[Role] = &[Role::Auditor];
const NOBODY: &[Role] = &[];
/// Warnings: read by every role with warning duties in its scope (a secretary, their community's),
/// and the province's warning policy likewise in one's own province.
const WARNING_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Secretary,
    Role::Integration,
];
/// Raise a warning: the warning readers, for a community in their scope.
const WARNING_RAISERS: &[Role] = WARNING_READERS;
/// Handle a warning: the people responsible, not other departments' systems.
const WARNING_HANDLERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Secretary,
];
/// The community brain's catalogue: read by those who work with warnings above the community and
/// other departments' systems, in their own province.
const CATALOGUE_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Integration,
];
/// Readings come from other departments' systems (with the terminal's key).
const INGESTERS: &[Role] = &[Role::Integration];
/// Close a warning, change its assignee: the levels above the community.
const WARNING_SUPERVISORS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
];

/// Evaluation's schemes: every role with evaluation duties (assessors too), in its own province.
const EVALUATION_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Secretary,
    Role::Assessor,
    Role::Integration,
];

/// Quarterly and special assessments: street officers and district administrators in scope.
const EVALUATION_OFFICERS: &[Role] = &[Role::DistrictAdmin, Role::StreetOfficer];
/// A secretary's assessments and results: staff in scope, and the secretary their own.
const EVALUATION_OWN_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::StreetOfficer,
    Role::Secretary,
];
/// An engagement: administrators covering its regions, and its own assessor.
const ENGAGEMENT_READERS: &[Role] = &[
    Role::ProvinceAdmin,
    Role::CityAdmin,
    Role::DistrictAdmin,
    Role::Assessor,
];
/// Appeals: the secretary themself, or a district administrator on their behalf.
const APPELLANTS: &[Role] = &[Role::DistrictAdmin, Role::Secretary];
/// External assessments: assessors only.
const ASSESSOR: &[Role] = &[Role::Assessor];

/// What an out-of-scope caller with an allowed role names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A region or province, in the path or the body: 403 REGION_OUT_OF_SCOPE.
    Named,
    /// A stored record: 404 RESOURCE_NOT_FOUND, as if it did not exist.
    Stored,
    /// No account needed: the gateway calls as itself, so scope and role do not matter.
    Public,
    /// Nothing of a region is named or read (a catalogue of the deployment): the role decides.
    Unscoped,
}

/// The record a call works on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    /// District A's shared records (reads, and refusals, change nothing).
    Shared,
    /// A secretary of its own for each permitted call (it changes the record).
    FreshSecretary,
    /// A secretary of its own and its appointment event (a correction changes both).
    FreshAppointment,
    /// A secretary of its own who has departed (to be re-appointed).
    FreshDeparted,
    /// A reserve candidate of its own for each permitted call.
    FreshCandidate,
    /// An API key of its own for each permitted call.
    FreshApiKey,
    /// A session of its own (the shared secretary enrols once per session).
    FreshSession,
    /// An enrolment of its own to complete.
    FreshEnrolment,
    /// A newly appointed secretary of its own with a plan and a mentor (a sign-off changes it).
    FreshMentee,
    /// A mentor and a newly appointed mentee of its own (each pairing takes a slot).
    FreshPair,
    /// A pair of its own to end.
    FreshMentorship,
    /// A secretary of its own who passed both basic modules (a certificate per secretary).
    FreshExamined,
    /// A certificate of its own (revoked or suspended once).
    FreshCertificate,
    /// A suspended certificate of its own (reinstated once).
    FreshSuspended,
    /// A warning of its own (open, blue) for each permitted call.
    FreshWarning,
    /// A warning of its own, acknowledged.
    FreshAcknowledged,
    /// A warning of its own, being handled.
    FreshHandling,
    /// A warning of its own, resolved.
    FreshResolved,
    /// A terminal of its own (to be revoked).
    FreshTerminal,
    /// A webhook endpoint of its own (to be deleted).
    FreshWebhookEndpoint,
    /// A secretary of its own with a final result in a ranking open for appeals.
    FreshAppealable,
    /// As FreshAppealable, with an appeal filed.
    FreshAppeal,
}

/// Who may call an RPC within their scope, and the call a realistic client makes.
struct Decision {
    /// Appended to the route's label (a route may have several rows).
    row: &'static str,
    allowed: &'static [Role],
    kind: Kind,
    target: Target,
    /// Roles past the role check that may not have what this row asks for: 403 with this reason
    /// in scope.
    partly: Option<(&'static [Role], &'static str)>,
    body: fn(&Fixtures, u32) -> Option<Value>,
    query: fn(u32) -> String,
    /// `regions/*` names the community of district A's records rather than its street (a list
    /// secretaries may call over their own community).
    community_parent: bool,
    /// Headers a realistic client sends besides its credential (a terminal's key).
    headers: fn(&Fixtures) -> Vec<(&'static str, String)>,
}

fn no_headers(_: &Fixtures) -> Vec<(&'static str, String)> {
    Vec::new()
}

fn no_body(_: &Fixtures, _: u32) -> Option<Value> {
    None
}

fn empty_body(_: &Fixtures, _: u32) -> Option<Value> {
    Some(json!({}))
}

fn no_query(_: u32) -> String {
    String::new()
}

fn decide(
    allowed: &'static [Role],
    kind: Kind,
    target: Target,
    body: fn(&Fixtures, u32) -> Option<Value>,
    query: fn(u32) -> String,
) -> Decision {
    Decision {
        row: "",
        allowed,
        kind,
        target,
        partly: None,
        body,
        query,
        community_parent: false,
        headers: no_headers,
    }
}

/// A read of a collection under `regions/*` that secretaries may call, over their community.
fn community_read(allowed: &'static [Role]) -> Vec<Decision> {
    vec![Decision {
        community_parent: true,
        ..decide(allowed, Kind::Named, Target::Shared, no_body, no_query)
    }]
}

fn read(allowed: &'static [Role], kind: Kind) -> Vec<Decision> {
    vec![decide(allowed, kind, Target::Shared, no_body, no_query)]
}

/// The decisions of every RPC. Adding an RPC to a contract without adding it here fails the test.
fn decisions(rpc: &str) -> Option<Vec<Decision>> {
    use Kind::*;
    use Target::*;
    let one = |d: Decision| Some(vec![d]);
    match rpc {
        "shequ.personnel.v1.PersonnelService.CreateSecretary" => one(decide(
            ADMINS,
            Named,
            Shared,
            |_, n| Some(secretary(&id_number(1970 + n / 500, n % 500))),
            no_query,
        )),
        "shequ.personnel.v1.PersonnelService.GetSecretary" => Some(vec![
            decide(OWN_RECORD_READERS, Stored, Shared, no_body, no_query),
            Decision {
                row: "?view=SECRETARY_VIEW_UNMASKED",
                partly: Some((
                    &[Role::StreetOfficer, Role::Integration],
                    "UNMASKED_VIEW_NOT_PERMITTED",
                )),
                ..decide(OWN_RECORD_READERS, Stored, Shared, no_body, |_| {
                    "view=SECRETARY_VIEW_UNMASKED".into()
                })
            },
        ]),
        "shequ.personnel.v1.PersonnelService.ListSecretaries" => Some(read(RECORD_READERS, Named)),
        "shequ.personnel.v1.PersonnelService.UpdateSecretary" => one(decide(
            ADMINS,
            Stored,
            FreshSecretary,
            |f, _| Some(json!({"displayName": "王芳芳", "etag": f.secretary_etag})),
            |_| "updateMask=displayName".into(),
        )),
        "shequ.personnel.v1.PersonnelService.GetQualificationStandard" => {
            Some(read(POLICY_READERS, Named))
        }
        "shequ.personnel.v1.PersonnelService.UpdateQualificationStandard" => one(decide(
            PROVINCE_ADMIN,
            Named,
            Shared,
            |f, _| Some(json!({"maxAgeAtAppointment": 50, "etag": f.current_etag})),
            |_| "updateMask=maxAgeAtAppointment".into(),
        )),
        "shequ.personnel.v1.PersonnelService.CheckSecretaryQualification" => {
            Some(read(OWN_RECORD_READERS, Stored))
        }
        "shequ.personnel.v1.PersonnelService.CheckCandidateQualification" => one(decide(
            POLICY_READERS,
            Named,
            Shared,
            |_, _| {
                Some(
                    json!({"candidate": {"birthDate": "1985-01-01", "education": "EDUCATION_BACHELOR", "communityWorkStartDate": "2015-01-01"}}),
                )
            },
            no_query,
        )),
        "shequ.personnel.v1.PersonnelService.GetCareerPolicy" => Some(read(POLICY_READERS, Named)),
        "shequ.personnel.v1.PersonnelService.UpdateCareerPolicy" => one(decide(
            PROVINCE_ADMIN,
            Named,
            Shared,
            |f, _| Some(json!({"reserveAnnualTarget": 1500, "etag": f.current_etag})),
            |_| "updateMask=reserveAnnualTarget".into(),
        )),
        "shequ.personnel.v1.PersonnelService.CheckPromotion" => {
            one(decide(OWN_RECORD_READERS, Stored, Shared, no_body, |_| {
                "ladder=LADDER_MANAGEMENT".into()
            }))
        }
        "shequ.personnel.v1.PersonnelService.PromoteSecretary" => one(decide(
            ADMINS,
            Stored,
            FreshSecretary,
            |_, _| Some(json!({"ladder": "LADDER_MANAGEMENT"})),
            no_query,
        )),
        "shequ.personnel.v1.PersonnelService.CreateCareerEvent" => one(decide(
            ADMINS,
            Stored,
            FreshSecretary,
            |_, _| {
                Some(json!({"type": "CAREER_EVENT_TYPE_TITLE_PROMOTION", "title": "社会工作师"}))
            },
            no_query,
        )),
        "shequ.personnel.v1.PersonnelService.CorrectCareerEvent" => one(decide(
            ADMINS,
            Stored,
            FreshAppointment,
            |_, _| Some(json!({"effectiveDate": "2019-09-01", "note": "任职文件日期更正"})),
            no_query,
        )),
        "shequ.personnel.v1.PersonnelService.ReappointSecretary" => one(decide(
            ADMINS,
            Stored,
            FreshDeparted,
            |_, _| Some(json!({"appointmentDate": "2026-03-01", "region": NANTOU_COMMUNITY})),
            no_query,
        )),
        "shequ.personnel.v1.PersonnelService.GetViolation" => {
            Some(read(OWN_RECORD_READERS, Stored))
        }
        "shequ.personnel.v1.PersonnelService.GetCareerEvent" => {
            Some(read(OWN_RECORD_READERS, Stored))
        }
        "shequ.personnel.v1.PersonnelService.ListCareerEvents" => {
            Some(read(OWN_RECORD_READERS, Stored))
        }
        "shequ.personnel.v1.PersonnelService.ListNegativeListItems" => {
            Some(read(POLICY_READERS, Named))
        }
        "shequ.personnel.v1.PersonnelService.GetNegativeListItem" => {
            Some(read(POLICY_READERS, Named))
        }
        "shequ.personnel.v1.PersonnelService.CreateNegativeListItem" => one(decide(
            PROVINCE_ADMIN,
            Named,
            Shared,
            |_, _| Some(json!({"title": "新增条目"})),
            |n| format!("negativeListItemId=GD-M{n}"),
        )),
        "shequ.personnel.v1.PersonnelService.UpdateNegativeListItem" => one(decide(
            PROVINCE_ADMIN,
            Named,
            Shared,
            |f, _| Some(json!({"title": "违反政治纪律", "etag": f.current_etag})),
            |_| "updateMask=title".into(),
        )),
        "shequ.personnel.v1.PersonnelService.CreateViolation" => one(decide(
            ADMINS,
            Stored,
            FreshSecretary,
            |_, _| {
                Some(
                    json!({"negativeListItem": format!("provinces/{GUANGDONG}/negativeListItems/NL01"), "occurredOn": "2025-01-01", "evidence": "通报"}),
                )
            },
            no_query,
        )),
        "shequ.personnel.v1.PersonnelService.ListViolations" => {
            Some(read(OWN_RECORD_READERS, Stored))
        }
        "shequ.personnel.v1.PersonnelService.CreateReserveCandidate" => one(decide(
            ADMINS,
            Named,
            Shared,
            |_, _| {
                Some(
                    json!({"displayName": "李明", "birthDate": "1995-05-05", "education": "EDUCATION_BACHELOR", "region": NANTOU_COMMUNITY, "readiness": "READINESS_READY_NOW"}),
                )
            },
            no_query,
        )),
        "shequ.personnel.v1.PersonnelService.GetReserveCandidate" => {
            Some(read(RECORD_READERS, Stored))
        }
        "shequ.personnel.v1.PersonnelService.ListReserveCandidates" => {
            Some(read(RECORD_READERS, Named))
        }
        "shequ.personnel.v1.PersonnelService.UpdateReserveCandidate" => one(decide(
            ADMINS,
            Stored,
            FreshCandidate,
            |f, _| Some(json!({"note": "优秀", "etag": f.candidate_etag})),
            |_| "updateMask=note".into(),
        )),
        // the reserve pool is read by the record readers (not by secretaries); its progress is a
        // figure of the whole province, read in one's own province
        "shequ.personnel.v1.PersonnelService.GetReservePoolProgress" => {
            Some(read(RECORD_READERS, Named))
        }
        "shequ.personnel.v1.PersonnelService.GetWorkforceStatistics" => {
            Some(read(RECORD_READERS, Named))
        }
        "shequ.personnel.v1.PersonnelService.ListAuditEntries" => Some(read(AUDITOR, Named)),
        "shequ.personnel.v1.PersonnelService.VerifyAuditLog" => Some(read(AUDITOR, Named)),
        "shequ.identity.v1.ApiKeyService.CreateApiKey" => one(decide(
            ADMINS,
            Named,
            Shared,
            |_, _| Some(api_key()),
            no_query,
        )),
        "shequ.identity.v1.ApiKeyService.GetApiKey" => Some(read(ADMINS, Stored)),
        "shequ.identity.v1.ApiKeyService.ListApiKeys" => Some(read(ADMINS, Named)),
        "shequ.identity.v1.ApiKeyService.RotateApiKey" => {
            one(decide(ADMINS, Stored, FreshApiKey, empty_body, no_query))
        }
        "shequ.identity.v1.ApiKeyService.RevokeApiKey" => {
            one(decide(ADMINS, Stored, FreshApiKey, empty_body, no_query))
        }
        // the gateway's own call: no client role may make it
        "shequ.identity.v1.ApiKeyService.VerifyApiKey" => one(decide(
            NOBODY,
            Named,
            Shared,
            |f, _| Some(json!({"secret": f.api_key_secret})),
            no_query,
        )),
        "shequ.identity.v1.ApiKeyService.ListAuditEntries" => Some(read(AUDITOR, Named)),
        "shequ.identity.v1.ApiKeyService.VerifyAuditLog" => Some(read(AUDITOR, Named)),
        // training: policies like personnel's; records of secretaries like theirs; the
        // verification operations are public
        "shequ.training.v1.TrainingService.GetTrainingPolicy" => Some(read(POLICY_READERS, Named)),
        "shequ.training.v1.TrainingService.UpdateTrainingPolicy" => one(decide(
            PROVINCE_ADMIN,
            Named,
            Shared,
            |f, _| Some(json!({"examPassMark": 60, "etag": f.current_etag})),
            |_| "updateMask=examPassMark".into(),
        )),
        "shequ.training.v1.TrainingService.CreateCourse" => one(decide(
            ADMINS,
            Named,
            Shared,
            |_, _| {
                Some(
                    json!({"title": "智慧治理", "layer": "COURSE_LAYER_PROFESSIONAL", "creditHours": 8, "region": NANSHAN}),
                )
            },
            no_query,
        )),
        "shequ.training.v1.TrainingService.GetCourse" => Some(read(POLICY_READERS, Stored)),
        "shequ.training.v1.TrainingService.ListCourses" => Some(read(POLICY_READERS, Named)),
        "shequ.training.v1.TrainingService.CreateSession" => one(decide(
            ADMINS,
            Stored,
            Shared,
            |_, _| {
                Some(json!({"startDate": "2026-06-01", "endDate": "2026-06-02", "region": NANSHAN}))
            },
            no_query,
        )),
        "shequ.training.v1.TrainingService.CreateEnrolment" => one(decide(
            ADMINS,
            Stored,
            FreshSession,
            |f, _| Some(json!({"secretary": f.secretary})),
            no_query,
        )),
        "shequ.training.v1.TrainingService.CompleteEnrolment" => {
            one(decide(ADMINS, Stored, FreshEnrolment, empty_body, no_query))
        }
        "shequ.training.v1.TrainingService.GetLearningProgress" => {
            Some(read(OWN_RECORD_READERS, Stored))
        }
        "shequ.training.v1.TrainingService.ListLearningSummaries" => {
            one(decide(RECORD_READERS, Named, Shared, no_body, |_| {
                "year=2026".into()
            }))
        }
        "shequ.training.v1.TrainingService.CreateStudio" => one(decide(
            ADMINS,
            Named,
            Shared,
            |f, _| {
                Some(
                    json!({"displayName": "书记工作室", "region": NANTOU_COMMUNITY, "lead": f.secretary}),
                )
            },
            no_query,
        )),
        "shequ.training.v1.TrainingService.GetStudio" => Some(read(RECORD_READERS, Stored)),
        "shequ.training.v1.TrainingService.RecordStudioAttendance" => one(decide(
            ADMINS_AND_OFFICERS,
            Stored,
            Shared,
            |_, _| Some(json!({"personTimes": 12})),
            no_query,
        )),
        "shequ.training.v1.TrainingService.GetCultivationPlan" => {
            Some(read(OWN_RECORD_READERS, Stored))
        }
        // the secretary in training reads the plan but does not sign their own steps off
        "shequ.training.v1.TrainingService.CompletePlanStep" => one(Decision {
            partly: Some((&[Role::Secretary], "NOT_THE_MENTOR")),
            ..decide(
                STEP_RECORDERS,
                Stored,
                FreshMentee,
                |_, _| Some(json!({"step": 1})),
                no_query,
            )
        }),
        "shequ.training.v1.TrainingService.CreateMentorship" => one(decide(
            ADMINS,
            Stored,
            FreshPair,
            |f, _| Some(json!({"mentor": f.mentor, "mentee": f.mentee})),
            no_query,
        )),
        "shequ.training.v1.TrainingService.EndMentorship" => one(decide(
            ADMINS,
            Stored,
            FreshMentorship,
            |_, _| Some(json!({"reason": "导师调整"})),
            no_query,
        )),
        "shequ.training.v1.TrainingService.ListMentorships" => {
            Some(read(OWN_RECORD_READERS, Stored))
        }
        "shequ.training.v1.TrainingService.CreateExamResult" => one(decide(
            ADMINS,
            Stored,
            Shared,
            |_, _| Some(json!({"module": "EXAM_MODULE_DATA_ANALYSIS", "score": 70})),
            no_query,
        )),
        "shequ.training.v1.TrainingService.CreateCertificate" => one(decide(
            ADMINS,
            Stored,
            FreshExamined,
            |_, _| Some(json!({"level": "CERTIFICATE_LEVEL_BASIC"})),
            no_query,
        )),
        "shequ.training.v1.TrainingService.GetCertificate" => {
            Some(read(OWN_RECORD_READERS, Stored))
        }
        "shequ.training.v1.TrainingService.RenewCertificate" => {
            one(decide(ADMINS, Stored, Shared, empty_body, no_query))
        }
        "shequ.training.v1.TrainingService.RevokeCertificate" => one(decide(
            ADMINS,
            Stored,
            FreshCertificate,
            |_, _| Some(json!({"reason": "考试舞弊"})),
            no_query,
        )),
        "shequ.training.v1.TrainingService.SuspendCertificate" => one(decide(
            ADMINS,
            Stored,
            FreshCertificate,
            |_, _| Some(json!({"reason": "核查中"})),
            no_query,
        )),
        "shequ.training.v1.TrainingService.ReinstateCertificate" => {
            one(decide(ADMINS, Stored, FreshSuspended, empty_body, no_query))
        }
        "shequ.training.v1.TrainingService.VerifyCertificate" => Some(read(EVERYONE, Public)),
        "shequ.training.v1.TrainingService.VerifyCredential" => one(decide(
            EVERYONE,
            Public,
            Shared,
            |f, _| Some(json!({"credential": f.credential})),
            no_query,
        )),
        "shequ.training.v1.TrainingService.GetStatusList" => Some(read(EVERYONE, Public)),
        "shequ.training.v1.TrainingService.ListIssuerKeys" => Some(read(EVERYONE, Public)),
        "shequ.training.v1.TrainingService.RotateIssuerKey" => {
            one(decide(PROVINCE_ADMIN, Named, Shared, empty_body, no_query))
        }
        "shequ.training.v1.TrainingService.ListAuditEntries" => Some(read(AUDITOR, Named)),
        "shequ.training.v1.TrainingService.VerifyAuditLog" => Some(read(AUDITOR, Named)),
        // evaluation: schemes read by every role with evaluation duties in its own province,
        // created by its province administrator
        "shequ.evaluation.v1.EvaluationService.CreateIndicatorScheme" => one(decide(
            PROVINCE_ADMIN,
            Named,
            Shared,
            |_, _| Some(json!({"year": 2026})),
            no_query,
        )),
        "shequ.evaluation.v1.EvaluationService.GetIndicatorScheme"
        | "shequ.evaluation.v1.EvaluationService.ListIndicatorSchemes" => {
            Some(read(EVALUATION_READERS, Named))
        }
        "shequ.evaluation.v1.EvaluationService.CreateQuarterlyAssessment" => one(decide(
            EVALUATION_OFFICERS,
            Stored,
            Shared,
            // a quarter of its own for each permitted call (one assessment per quarter)
            |_, n| {
                Some(json!({
                    "year": 2001 + (n / 4) % 20,
                    "quarter": n % 4 + 1,
                    "scores": [{"indicator": "satisfaction", "score": 80}],
                    "evidenceLinks": ["https://docs.example.cn/kaohe"],
                }))
            },
            no_query,
        )),
        "shequ.evaluation.v1.EvaluationService.ListQuarterlyAssessments" => one(decide(
            EVALUATION_OWN_READERS,
            Stored,
            Shared,
            no_body,
            |_| "year=2026".into(),
        )),
        "shequ.evaluation.v1.EvaluationService.CreateEngagement" => one(decide(
            ADMINS,
            Named,
            Shared,
            |_, _| {
                Some(
                    json!({"organisation": "社会评估中心", "assessor": "org:pingjia", "regions": [NANSHAN], "year": 2026}),
                )
            },
            no_query,
        )),
        "shequ.evaluation.v1.EvaluationService.GetEngagement" => {
            Some(read(ENGAGEMENT_READERS, Stored))
        }
        // only the engaged assessor (the fixture engages district A's in-scope assessor for
        // 2025; one assessment per secretary and year, and one permitted call)
        "shequ.evaluation.v1.EvaluationService.CreateExternalAssessment" => one(decide(
            ASSESSOR,
            Stored,
            Shared,
            |f, _| {
                Some(json!({
                    "year": 2025,
                    "score": 75,
                    "evidenceLinks": ["https://pingjia.example.cn/report"],
                    "engagement": f.engagement,
                }))
            },
            no_query,
        )),
        "shequ.evaluation.v1.EvaluationService.CreateSpecialAssessment" => one(decide(
            EVALUATION_OFFICERS,
            Stored,
            Shared,
            |_, _| {
                Some(json!({
                    "year": 2026,
                    "indicator": "risk",
                    "points": 2,
                    "evidenceLinks": ["https://docs.example.cn/x"],
                }))
            },
            no_query,
        )),
        "shequ.evaluation.v1.EvaluationService.FinaliseAnnualResults" => one(decide(
            ADMINS,
            Named,
            Shared,
            |_, _| Some(json!({"year": 2026})),
            no_query,
        )),
        "shequ.evaluation.v1.EvaluationService.GetAnnualResult" => {
            Some(read(EVALUATION_OWN_READERS, Stored))
        }
        "shequ.evaluation.v1.EvaluationService.CreateRanking" => one(decide(
            ADMINS,
            Named,
            Shared,
            |_, _| Some(json!({"region": NANSHAN, "year": 2026})),
            no_query,
        )),
        "shequ.evaluation.v1.EvaluationService.GetRanking" => {
            Some(read(ADMINS_AND_OFFICERS, Stored))
        }
        // the secretary appeals their own result, or a district administrator on their behalf;
        // a result of its own for each permitted call (one open appeal per result)
        "shequ.evaluation.v1.EvaluationService.CreateAppeal" => one(decide(
            APPELLANTS,
            Stored,
            FreshAppealable,
            |_, _| Some(json!({"reason": "满意度测评样本不足"})),
            no_query,
        )),
        "shequ.evaluation.v1.EvaluationService.DecideAppeal" => one(decide(
            ADMINS,
            Stored,
            FreshAppeal,
            |_, _| Some(json!({"decision": "APPEAL_STATE_DISMISSED", "note": "理由不成立"})),
            no_query,
        )),
        // the shared ranking is confirmed already: confirming again answers it as it is
        "shequ.evaluation.v1.EvaluationService.ConfirmAdjustments" => {
            one(decide(ADMINS, Stored, Shared, empty_body, no_query))
        }
        // the sandbox writes nothing: a read of a region in scope
        "shequ.evaluation.v1.EvaluationService.SimulateRanking" => one(decide(
            ADMINS,
            Named,
            Shared,
            |_, _| {
                Some(json!({"year": 2026, "draftScheme": {"year": 2026, "adjustmentPercent": 50}}))
            },
            no_query,
        )),
        "shequ.evaluation.v1.EvaluationService.ListAuditEntries" => Some(read(AUDITOR, Named)),
        "shequ.evaluation.v1.EvaluationService.VerifyAuditLog" => Some(read(AUDITOR, Named)),
        "shequ.warnings.v1.WarningsService.GetWarningPolicy" => Some(read(WARNING_READERS, Named)),
        "shequ.warnings.v1.WarningsService.UpdateWarningPolicy" => one(decide(
            PROVINCE_ADMIN,
            Named,
            Shared,
            |f, _| Some(json!({"blueResponseHours": 48, "etag": f.current_etag})),
            |_| "updateMask=blueResponseHours".into(),
        )),
        "shequ.warnings.v1.WarningsService.ListAuditEntries" => Some(read(AUDITOR, Named)),
        "shequ.warnings.v1.WarningsService.VerifyAuditLog" => Some(read(AUDITOR, Named)),
        "shequ.warnings.v1.WarningsService.CreateWarning" => one(decide(
            WARNING_RAISERS,
            Named,
            Shared,
            |_, _| Some(flood_warning()),
            no_query,
        )),
        "shequ.warnings.v1.WarningsService.GetWarning" => Some(read(WARNING_READERS, Stored)),
        // Open311 GeoReport v2: the service list is the deployment's configuration
        "shequ.warnings.v1.WarningsService.ListOpen311Services" => {
            Some(read(WARNING_READERS, Unscoped))
        }
        "shequ.warnings.v1.WarningsService.CreateOpen311Request" => one(decide(
            WARNING_RAISERS,
            Named,
            Shared,
            |_, _| {
                Some(
                    json!({"service_code": "flood", "address_id": NANTOU_COMMUNITY, "description": "积水"}),
                )
            },
            no_query,
        )),
        "shequ.warnings.v1.WarningsService.GetOpen311Request" => {
            Some(read(WARNING_READERS, Stored))
        }
        "shequ.warnings.v1.WarningsService.GetCapFeed" => Some(community_read(WARNING_READERS)),
        "shequ.warnings.v1.WarningsService.ListWarnings" => Some(community_read(WARNING_READERS)),
        "shequ.warnings.v1.WarningsService.AcknowledgeWarning" => one(decide(
            WARNING_HANDLERS,
            Stored,
            FreshWarning,
            |_, _| Some(json!({"note": "已到现场"})),
            no_query,
        )),
        "shequ.warnings.v1.WarningsService.StartHandlingWarning" => one(decide(
            WARNING_HANDLERS,
            Stored,
            FreshAcknowledged,
            empty_body,
            no_query,
        )),
        "shequ.warnings.v1.WarningsService.ResolveWarning" => one(decide(
            WARNING_HANDLERS,
            Stored,
            FreshHandling,
            |_, _| Some(json!({"resolution": "排水完毕"})),
            no_query,
        )),
        "shequ.warnings.v1.WarningsService.CloseWarning" => one(decide(
            WARNING_SUPERVISORS,
            Stored,
            FreshResolved,
            |_, _| Some(json!({"note": "复核通过"})),
            no_query,
        )),
        "shequ.warnings.v1.WarningsService.EscalateWarning" => one(decide(
            WARNING_HANDLERS,
            Stored,
            FreshWarning,
            |_, _| Some(json!({"colour": "COLOUR_RED", "reason": "积水漫入配电房"})),
            no_query,
        )),
        "shequ.warnings.v1.WarningsService.AssignWarning" => one(decide(
            WARNING_SUPERVISORS,
            Stored,
            FreshWarning,
            |f, _| Some(json!({"assignee": f.secretary})),
            no_query,
        )),
        "shequ.warnings.v1.WarningsService.ListWarningHistoryEntries"
        | "shequ.warnings.v1.WarningsService.ListConsultations"
        | "shequ.warnings.v1.WarningsService.ListTaskForces" => Some(read(WARNING_READERS, Stored)),
        "shequ.warnings.v1.WarningsService.CreateIndicator" => one(decide(
            PROVINCE_ADMIN,
            Named,
            Shared,
            |_, _| {
                Some(
                    json!({"displayName": "内河水位", "department": "DEPARTMENT_WATER", "unit": "m", "minValue": -5, "maxValue": 20}),
                )
            },
            |n| format!("indicatorId=level-{n}"),
        )),
        "shequ.warnings.v1.WarningsService.GetIndicator"
        | "shequ.warnings.v1.WarningsService.ListIndicators"
        | "shequ.warnings.v1.WarningsService.GetThresholdRule"
        | "shequ.warnings.v1.WarningsService.ListThresholdRules" => {
            Some(read(CATALOGUE_READERS, Named))
        }
        "shequ.warnings.v1.WarningsService.UpdateIndicator" => one(decide(
            PROVINCE_ADMIN,
            Named,
            Shared,
            |f, _| Some(json!({"displayName": "小时降雨量", "etag": f.current_etag})),
            |_| "updateMask=displayName".into(),
        )),
        "shequ.warnings.v1.WarningsService.CreateThresholdRule" => one(decide(
            PROVINCE_ADMIN,
            Named,
            Shared,
            |f, _| {
                Some(
                    json!({"indicator": f.indicator, "displayName": "暴雨", "direction": "THRESHOLD_DIRECTION_ABOVE", "blueThreshold": 20, "redThreshold": 100, "category": "flood"}),
                )
            },
            |n| format!("thresholdRuleId=storm-{n}"),
        )),
        "shequ.warnings.v1.WarningsService.UpdateThresholdRule" => one(decide(
            PROVINCE_ADMIN,
            Named,
            Shared,
            |f, _| Some(json!({"yellowThreshold": 50, "etag": f.current_etag})),
            |_| "updateMask=yellowThreshold".into(),
        )),
        "shequ.warnings.v1.WarningsService.CreateTerminal" => one(decide(
            ADMINS,
            Named,
            Shared,
            |_, _| Some(json!({"displayName": "南头雨量站", "region": NANTOU_COMMUNITY})),
            no_query,
        )),
        "shequ.warnings.v1.WarningsService.GetTerminal" => Some(read(ADMINS, Stored)),
        "shequ.warnings.v1.WarningsService.ListTerminals" => Some(read(ADMINS, Named)),
        "shequ.warnings.v1.WarningsService.RevokeTerminal" => {
            one(decide(ADMINS, Stored, FreshTerminal, empty_body, no_query))
        }
        // a city's sensing platform relaying a terminal's batch, with the terminal's key
        "shequ.warnings.v1.WarningsService.BatchCreateReadings" => one(Decision {
            headers: |f| vec![("x-terminal-key", f.terminal_key.clone())],
            ..decide(
                INGESTERS,
                Stored,
                Shared,
                |_, n| {
                    Some(
                        json!({"sequence": n, "readings": [{"indicatorId": "rain", "value": 25, "observeTime": "2026-06-15T02:00:00Z"}]}),
                    )
                },
                no_query,
            )
        }),
        "shequ.warnings.v1.WarningsService.CreateWebhookEndpoint" => one(decide(
            ADMINS,
            Named,
            Shared,
            |_, _| Some(webhook_endpoint()),
            no_query,
        )),
        "shequ.warnings.v1.WarningsService.GetWebhookEndpoint"
        | "shequ.warnings.v1.WarningsService.ListWebhookDeliveries" => Some(read(ADMINS, Stored)),
        "shequ.warnings.v1.WarningsService.ListWebhookEndpoints" => Some(read(ADMINS, Named)),
        "shequ.warnings.v1.WarningsService.DeleteWebhookEndpoint" => one(decide(
            ADMINS,
            Stored,
            FreshWebhookEndpoint,
            no_body,
            no_query,
        )),
        "shequ.warnings.v1.WarningsService.GetWarningStatistics" => {
            Some(read(CATALOGUE_READERS, Named))
        }
        // evaluation calls it as itself (a grant); administrators for the secretaries in scope
        "shequ.warnings.v1.WarningsService.BatchGetSecretaryWarningSummaries" => one(decide(
            ADMINS,
            Stored,
            Shared,
            |f, _| Some(json!({"secretaries": [f.secretary], "year": 2026})),
            no_query,
        )),
        // the streets and districts notified of missed deadlines, and the administrators above
        "shequ.warnings.v1.WarningsService.ListNotifications" => {
            Some(read(WARNING_SUPERVISORS, Named))
        }
        "shequ.warnings.v1.WarningsService.CreateConsultation" => one(decide(
            WARNING_HANDLERS,
            Stored,
            FreshAcknowledged,
            |_, _| {
                Some(
                    json!({"departments": ["DEPARTMENT_WATER", "DEPARTMENT_POWER"], "summary": "联合排查"}),
                )
            },
            no_query,
        )),
        "shequ.warnings.v1.WarningsService.CreateTaskForce" => one(decide(
            WARNING_HANDLERS,
            Stored,
            FreshAcknowledged,
            |_, _| Some(json!({"leader": "李强", "members": ["张伟"]})),
            no_query,
        )),
        _ => None,
    }
}

/// A subscriber of district A's other community (Daxin), where no call of the matrix raises a
/// warning: nothing is sent.
fn webhook_endpoint() -> Value {
    json!({"displayName": "区应急指挥平台", "url": "https://hooks.example.cn/shequ", "region": "440305001003"})
}

/// A blue warning about flooding in district A's community.
fn flood_warning() -> Value {
    json!({"title": "暴雨积水", "colour": "COLOUR_BLUE", "category": "flood", "region": NANTOU_COMMUNITY})
}

fn api_key() -> Value {
    json!({"displayName": "平台", "roles": ["integration"], "scope": NANSHAN, "expireTime": "2026-12-31T00:00:00Z"})
}

/// Records of district A (Nanshan, Guangdong) that the calls target.
#[derive(Clone, Default)]
struct Fixtures {
    secretary: String,
    secretary_etag: String,
    career_event: String,
    violation: String,
    candidate: String,
    candidate_etag: String,
    api_key: String,
    api_key_secret: String,
    /// The etag of the province policy or catalogue item a call updates, read right before it.
    current_etag: String,
    /// Training: a course, a session of it, an enrolment, a studio, a mentor (eligible) with a
    /// pair, another newcomer, a certificate of the shared secretary and its credential.
    course: String,
    session: String,
    enrolment: String,
    studio: String,
    mentor: String,
    mentee: String,
    mentorship: String,
    certificate: String,
    credential: String,
    warning: String,
    /// A warning raised through the Open311 intake, as GeoReport's `{id}.json`.
    open311_request: String,
    /// What `regions/*` names: district A's street, or its community.
    regions_parent: String,
    indicator: String,
    rule: String,
    terminal: String,
    terminal_key: String,
    webhook_endpoint: String,
    /// Evaluation: an engagement of district A's in-scope assessor (2025), and the shared
    /// secretary's finalised 2026 result.
    engagement: String,
    annual_result: String,
    /// An engagement of the same assessor for 2026 (fresh results), a confirmed ranking of
    /// district A's community, and an appeal.
    engagement_2026: String,
    ranking: String,
    appeal: String,
}

impl Fixtures {
    /// The value of a path variable of the given pattern.
    fn resource(&self, pattern: &str) -> Option<String> {
        Some(match pattern {
            "secretaries/*" => self.secretary.clone(),
            "secretaries/*/careerEvents/*" => self.career_event.clone(),
            "secretaries/*/violations/*" => self.violation.clone(),
            // a street: inside the scope of every in-scope caller that may list (down to a street
            // officer's), outside every out-of-scope caller's; or the community, for lists
            // secretaries may call
            "regions/*" => self.regions_parent.clone(),
            "warnings/*" => self.warning.clone(),
            // the one bare variable: GeoReport's requests/{service_request_id}.json
            "*" => self.open311_request.clone(),
            "provinces/*/indicators/*" => self.indicator.clone(),
            "provinces/*/thresholdRules/*" => self.rule.clone(),
            "terminals/*" => self.terminal.clone(),
            "webhookEndpoints/*" => self.webhook_endpoint.clone(),
            "engagements/*" => self.engagement.clone(),
            "secretaries/*/annualResults/*" => self.annual_result.clone(),
            "secretaries/*/annualResults/*/appeals/*" => self.appeal.clone(),
            "rankings/*" => self.ranking.clone(),
            "provinces/*" => format!("provinces/{GUANGDONG}"),
            "provinces/*/qualificationStandard" => {
                format!("provinces/{GUANGDONG}/qualificationStandard")
            }
            "provinces/*/careerPolicy" => format!("provinces/{GUANGDONG}/careerPolicy"),
            "provinces/*/warningPolicy" => format!("provinces/{GUANGDONG}/warningPolicy"),
            "provinces/*/indicatorSchemes/*" => {
                format!("provinces/{GUANGDONG}/indicatorSchemes/2026-current")
            }
            "provinces/*/negativeListItems/*" => {
                format!("provinces/{GUANGDONG}/negativeListItems/NL01")
            }
            "reserveCandidates/*" => self.candidate.clone(),
            "apiKeys/*" => self.api_key.clone(),
            "provinces/*/trainingPolicy" => format!("provinces/{GUANGDONG}/trainingPolicy"),
            "provinces/*/statusLists/*" => format!("provinces/{GUANGDONG}/statusLists/revocation"),
            "courses/*" => self.course.clone(),
            "courses/*/sessions/*" => self.session.clone(),
            "courses/*/sessions/*/enrolments/*" => self.enrolment.clone(),
            "secretaries/*/learningProgress" => format!("{}/learningProgress", self.secretary),
            "secretaries/*/cultivationPlan" => format!("{}/cultivationPlan", self.secretary),
            "studios/*" => self.studio.clone(),
            "mentorships/*" => self.mentorship.clone(),
            "certificates/*" => self.certificate.clone(),
            _ => return None,
        })
    }
}

/// A province administrator of Guangdong, who sets up the fixtures.
fn province(stack: &Stack) -> String {
    stack.token(Role::ProvinceAdmin, GUANGDONG)
}

/// A new secretary of district A; `serial` makes its ID number unique.
async fn new_secretary(stack: &Stack, serial: u32) -> (String, String) {
    let created = create(
        stack,
        &secretary(&id_number(1990 + serial / 500, serial % 500)),
    )
    .await;
    (
        created["name"].as_str().unwrap().to_owned(),
        created["etag"].as_str().unwrap().to_owned(),
    )
}

async fn new_candidate(stack: &Stack) -> (String, String) {
    let candidate = stack
        .post(
            "/v1/reserveCandidates",
            Some(&province(stack)),
            &json!({"displayName": "张伟", "birthDate": "1994-04-04", "education": "EDUCATION_BACHELOR", "region": NANTOU_COMMUNITY, "readiness": "READINESS_DEVELOPING"}),
        )
        .await;
    assert_eq!(candidate.status, StatusCode::OK, "{}", candidate.text);
    (
        candidate.body["name"].as_str().unwrap().to_owned(),
        candidate.body["etag"].as_str().unwrap().to_owned(),
    )
}

async fn new_api_key(stack: &Stack) -> (String, String) {
    let key = stack
        .post("/v1/apiKeys", Some(&province(stack)), &api_key())
        .await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.text);
    (
        key.body["apiKey"]["name"].as_str().unwrap().to_owned(),
        key.body["secret"].as_str().unwrap().to_owned(),
    )
}

async fn fixtures(stack: &Stack) -> Fixtures {
    // Appointed this year, so that training starts a cultivation plan for them.
    let mut profile = secretary(&id_number(1990, 0));
    profile["appointmentDate"] = json!("2026-03-01");
    let created = create(stack, &profile).await;
    let (secretary, secretary_etag) = (
        created["name"].as_str().unwrap().to_owned(),
        created["etag"].as_str().unwrap().to_owned(),
    );
    wait_for_plan(stack, &secretary).await;
    let events = stack
        .get(
            &format!("/v1/{secretary}/careerEvents"),
            Some(&province(stack)),
        )
        .await;
    let violation = stack
        .post(
            &format!("/v1/{secretary}/violations"),
            Some(&province(stack)),
            &json!({"negativeListItem": format!("provinces/{GUANGDONG}/negativeListItems/NL01"), "occurredOn": "2025-01-01", "evidence": "通报"}),
        )
        .await;
    assert_eq!(violation.status, StatusCode::OK, "{}", violation.text);
    let (candidate, candidate_etag) = new_candidate(stack).await;
    let (api_key, api_key_secret) = new_api_key(stack).await;
    let secretary_for_training = secretary.clone();
    let (indicator, rule) = catalogue(stack).await;
    let (terminal, terminal_key) = new_terminal(stack).await;
    Fixtures {
        violation: violation.body["name"].as_str().unwrap().to_owned(),
        secretary,
        secretary_etag,
        career_event: events.body["careerEvents"][0]["name"]
            .as_str()
            .unwrap()
            .to_owned(),
        candidate,
        candidate_etag,
        api_key,
        api_key_secret,
        current_etag: String::new(),
        warning: new_warning(stack, &[]).await,
        open311_request: new_open311_request(stack).await,
        regions_parent: "regions/440305001000".to_owned(),
        indicator,
        rule,
        terminal,
        terminal_key,
        webhook_endpoint: new_webhook_endpoint(stack).await,
        ..training_fixtures(stack, &secretary_for_training).await
    }
}

/// Serials of the secretaries training's fixtures appoint (ID numbers born in the 1980s, apart
/// from the personnel rows' 1990s).
static TRAINEES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// Waits until training has made the plan of `secretary` from personnel's feed.
async fn wait_for_plan(stack: &Stack, secretary: &str) {
    wait_for_training(stack, &format!("/v1/{secretary}/cultivationPlan")).await;
}

/// Polls a training read until it answers 200 (the feed has caught up).
async fn wait_for_training(stack: &Stack, path: &str) {
    for _ in 0..1_000 {
        if stack.get(path, Some(&province(stack))).await.status == StatusCode::OK {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("training never answered {path}");
}

/// A secretary of district A appointed on `appointed`, once training knows of them.
async fn new_trainee(stack: &Stack, appointed: &str) -> String {
    let serial = TRAINEES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let mut profile = secretary(&id_number(1980 + serial / 500, serial % 500));
    profile["appointmentDate"] = json!(appointed);
    let created = create(stack, &profile).await;
    let name = created["name"].as_str().unwrap().to_owned();
    wait_for_training(stack, &format!("/v1/{name}/learningProgress")).await;
    name
}

/// A training write as the province administrator, which must succeed; returns the body.
async fn train(stack: &Stack, path: &str, body: Value) -> Value {
    let reply = stack.post(path, Some(&province(stack)), &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
    reply.body
}

async fn new_session(stack: &Stack, course: &str) -> String {
    let session = train(
        stack,
        &format!("/v1/{course}/sessions"),
        json!({"startDate": "2026-06-01", "endDate": "2026-06-02", "region": NANSHAN}),
    )
    .await;
    session["name"].as_str().unwrap().to_owned()
}

async fn new_pair(stack: &Stack, mentor: &str, mentee: &str) -> String {
    let pair = train(
        stack,
        "/v1/mentorships",
        json!({"mentor": mentor, "mentee": mentee}),
    )
    .await;
    pair["name"].as_str().unwrap().to_owned()
}

/// A secretary who passed both basic modules.
async fn new_examined(stack: &Stack) -> String {
    let secretary = new_trainee(stack, "2022-03-01").await;
    for module in [
        "EXAM_MODULE_SYSTEM_OPERATION",
        "EXAM_MODULE_DATA_INTERPRETATION",
    ] {
        train(
            stack,
            &format!("/v1/{secretary}/examResults"),
            json!({"module": module, "score": 80}),
        )
        .await;
    }
    secretary
}

async fn new_certificate(stack: &Stack, secretary: &str) -> (String, String) {
    let certificate = train(
        stack,
        &format!("/v1/{secretary}/certificates"),
        json!({"level": "CERTIFICATE_LEVEL_BASIC"}),
    )
    .await;
    (
        certificate["name"].as_str().unwrap().to_owned(),
        certificate["credential"].as_str().unwrap().to_owned(),
    )
}

/// Training's shared records around the shared secretary (who has a plan).
async fn training_fixtures(stack: &Stack, secretary: &str) -> Fixtures {
    let course = train(
        stack,
        "/v1/courses",
        json!({"title": "《城市居民委员会组织法》", "layer": "COURSE_LAYER_BASIC", "creditHours": 24, "region": GUANGDONG}),
    )
    .await["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = new_session(stack, &course).await;
    let enrolment = train(
        stack,
        &format!("/v1/{session}/enrolments"),
        json!({"secretary": secretary}),
    )
    .await["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let studio = train(
        stack,
        "/v1/studios",
        json!({"displayName": "南头书记工作室", "region": NANTOU_COMMUNITY, "lead": secretary}),
    )
    .await["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let mentor = new_trainee(stack, "2019-03-01").await;
    let mentee = new_trainee(stack, "2026-04-01").await;
    let mentorship = new_pair(stack, &mentor, &mentee).await;
    for module in [
        "EXAM_MODULE_SYSTEM_OPERATION",
        "EXAM_MODULE_DATA_INTERPRETATION",
    ] {
        train(
            stack,
            &format!("/v1/{secretary}/examResults"),
            json!({"module": module, "score": 80}),
        )
        .await;
    }
    let (certificate, credential) = new_certificate(stack, secretary).await;
    Fixtures {
        course,
        session,
        enrolment,
        studio,
        mentor,
        mentee,
        mentorship,
        certificate,
        credential,
        ..Fixtures::default()
    }
}

async fn new_webhook_endpoint(stack: &Stack) -> String {
    let created = stack
        .post(
            "/v1/webhookEndpoints",
            Some(&province(stack)),
            &webhook_endpoint(),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    created.body["webhookEndpoint"]["name"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Guangdong's rainfall indicator and a rule over it.
async fn catalogue(stack: &Stack) -> (String, String) {
    let indicator = stack
        .post(
            &format!("/v1/provinces/{GUANGDONG}/indicators?indicatorId=rain"),
            Some(&province(stack)),
            &json!({"displayName": "小时降雨量", "department": "DEPARTMENT_WEATHER", "unit": "mm", "minValue": 0, "maxValue": 300}),
        )
        .await;
    assert_eq!(indicator.status, StatusCode::OK, "{}", indicator.text);
    let name = indicator.body["name"].as_str().unwrap().to_owned();
    let rule = stack
        .post(
            &format!("/v1/provinces/{GUANGDONG}/thresholdRules?thresholdRuleId=rainstorm"),
            Some(&province(stack)),
            &json!({"indicator": name, "displayName": "暴雨内涝", "direction": "THRESHOLD_DIRECTION_ABOVE", "blueThreshold": 20, "yellowThreshold": 50, "redThreshold": 100, "category": "flood"}),
        )
        .await;
    assert_eq!(rule.status, StatusCode::OK, "{}", rule.text);
    (name, rule.body["name"].as_str().unwrap().to_owned())
}

/// A new terminal of district A's community and its key.
async fn new_terminal(stack: &Stack) -> (String, String) {
    let created = stack
        .post(
            "/v1/terminals",
            Some(&province(stack)),
            &json!({"displayName": "南头雨量站", "region": NANTOU_COMMUNITY}),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    (
        created.body["terminal"]["name"]
            .as_str()
            .unwrap()
            .to_owned(),
        created.body["key"].as_str().unwrap().to_owned(),
    )
}

/// Waits until evaluation, warnings and training know `secretary` from personnel's feed.
async fn until_evaluation_knows(stack: &Stack, secretary: &str) {
    let district = stack.token(Role::DistrictAdmin, NANSHAN);
    for attempt in 0.. {
        assert!(attempt < 500, "evaluation never learned of {secretary}");
        let listed = stack
            .get(
                &format!("/v1/{secretary}/quarterlyAssessments?year=2026"),
                Some(&district),
            )
            .await;
        let summaries = stack
            .post(
                "/v1/secretaryWarningSummaries:batchGet",
                Some(&district),
                &json!({"secretaries": [secretary], "year": 2026}),
            )
            .await;
        let progress = stack
            .get(
                &format!("/v1/{secretary}/learningProgress"),
                Some(&district),
            )
            .await;
        if listed.status == StatusCode::OK
            && summaries.status == StatusCode::OK
            && progress.status == StatusCode::OK
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Two complete quarters and the external assessment of 2026 (under `engagement`), all scored
/// `score`, then the finalisation of district A's community.
async fn assess_and_finalise(stack: &Stack, secretary: &str, engagement: &str, score: u32) {
    let district = stack.token(Role::DistrictAdmin, NANSHAN);
    for quarter in [1, 2] {
        let assessed = stack
            .post(
                &format!("/v1/{secretary}/quarterlyAssessments"),
                Some(&district),
                &json!({"year": 2026, "quarter": quarter, "scores": [
                    {"indicator": "satisfaction", "score": score},
                    {"indicator": "governance", "score": score},
                    {"indicator": "innovation", "score": score}],
                    "evidenceLinks": ["https://docs.example.cn/kaohe"]}),
            )
            .await;
        assert_eq!(assessed.status, StatusCode::OK, "{}", assessed.text);
    }
    let assessor = shequ_kit::testing::caller(Role::Assessor, NANSHAN);
    let assessed = stack
        .post(
            &format!("/v1/{secretary}/externalAssessments"),
            Some(&stack.keys.token_for(&assessor)),
            &json!({"year": 2026, "score": score, "engagement": engagement,
                "evidenceLinks": ["https://pingjia.example.cn/report"]}),
        )
        .await;
    assert_eq!(assessed.status, StatusCode::OK, "{}", assessed.text);
    let finalised = stack
        .post(
            &format!("/v1/regions/{NANTOU_COMMUNITY}/annualResults:finalise"),
            Some(&district),
            &json!({"year": 2026}),
        )
        .await;
    assert_eq!(finalised.status, StatusCode::OK, "{}", finalised.text);
    assert!(
        finalised
            .text
            .contains(&format!("{secretary}/annualResults/2026")),
        "{}",
        finalised.text
    );
}

/// A new secretary of district A with a final 2026 result scored `score`.
async fn new_result(stack: &Stack, engagement: &str, score: u32) -> (String, String) {
    let serial = TRAINEES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let created = create(
        stack,
        &secretary(&id_number(1980 + serial / 500, serial % 500)),
    )
    .await;
    let name = created["name"].as_str().unwrap().to_owned();
    until_evaluation_knows(stack, &name).await;
    assess_and_finalise(stack, &name, engagement, score).await;
    let result = format!("{name}/annualResults/2026");
    (name, result)
}

/// Ranks district A's community's 2026 results; returns the ranking's name.
async fn rank_community(stack: &Stack) -> String {
    let ranked = stack
        .post(
            "/v1/rankings",
            Some(&stack.token(Role::DistrictAdmin, NANSHAN)),
            &json!({"region": NANTOU_COMMUNITY, "year": 2026}),
        )
        .await;
    assert_eq!(ranked.status, StatusCode::OK, "{}", ranked.text);
    ranked.body["name"].as_str().unwrap().to_owned()
}

/// Evaluation's shared records around the shared secretary: an engagement of district A's
/// in-scope assessor for 2025 (the matrix's external assessment) and one for 2026, the shared
/// secretary's finalised 2026 result, and a confirmed ranking of the community (ranked as of
/// 16 days ago, so its appeal window has closed; its band holds another secretary, scored
/// lower, whom personnel records as adjusted).
async fn evaluation_fixtures(stack: &Stack, secretary: &str) -> Fixtures {
    let district = stack.token(Role::DistrictAdmin, NANSHAN);
    until_evaluation_knows(stack, secretary).await;
    let assessor = shequ_kit::testing::caller(Role::Assessor, NANSHAN);
    let engage = |year: u32| {
        let subject = assessor.subject.clone();
        let district = district.clone();
        async move {
            let engaged = stack
                .post(
                    "/v1/engagements",
                    Some(&district),
                    &json!({"organisation": "社会评估中心", "assessor": subject, "regions": [NANSHAN], "year": year}),
                )
                .await;
            assert_eq!(engaged.status, StatusCode::OK, "{}", engaged.text);
            engaged.body["name"].as_str().unwrap().to_owned()
        }
    };
    let engagement = engage(2025).await;
    let engagement_2026 = engage(2026).await;
    assess_and_finalise(stack, secretary, &engagement_2026, 70).await;
    new_result(stack, &engagement_2026, 40).await;
    let now = shequ_kit::clock::Clock::now(&stack.clock);
    stack.clock.set(now - chrono::Duration::days(16));
    let ranking = rank_community(stack).await;
    stack.clock.set(now);
    let confirmed = stack
        .post(
            &format!("/v1/{ranking}:confirmAdjustments"),
            Some(&district),
            &json!({}),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    // an appeal the refusals name (permitted decisions get one of their own)
    let (_, appealed) = new_result(stack, &engagement_2026, 80).await;
    rank_community(stack).await;
    let filed = stack
        .post(
            &format!("/v1/{appealed}/appeals"),
            Some(&district),
            &json!({"reason": "满意度测评样本不足"}),
        )
        .await;
    assert_eq!(filed.status, StatusCode::OK, "{}", filed.text);
    Fixtures {
        appeal: filed.body["name"].as_str().unwrap().to_owned(),
        engagement,
        engagement_2026,
        annual_result: format!("{secretary}/annualResults/2026"),
        ranking,
        ..Fixtures::default()
    }
}

/// A new warning of district A's community, moved on by the custom methods `steps`.
async fn new_warning(stack: &Stack, steps: &[(&str, Value)]) -> String {
    let created = stack
        .post("/v1/warnings", Some(&province(stack)), &flood_warning())
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let name = created.body["name"].as_str().unwrap().to_owned();
    for (method, body) in steps {
        let moved = stack
            .post(
                &format!("/v1/{name}:{method}"),
                Some(&province(stack)),
                body,
            )
            .await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    }
    name
}

/// A request through the Open311 intake, named as GeoReport's status path does: `{id}.json`.
async fn new_open311_request(stack: &Stack) -> String {
    let created = stack
        .post(
            "/open311/v2/requests.json",
            Some(&province(stack)),
            &json!({"service_code": "flood", "address_id": NANTOU_COMMUNITY}),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    format!(
        "{}.json",
        created.body[0]["service_request_id"].as_str().unwrap()
    )
}

/// Waits until the warnings service knows district A's secretary from personnel's feed (an
/// assignment naming them is accepted).
async fn until_warnings_know(stack: &Stack, secretary: &str) {
    let warning = new_warning(stack, &[]).await;
    for _ in 0..500 {
        let assigned = stack
            .post(
                &format!("/v1/{warning}:assign"),
                Some(&province(stack)),
                &json!({"assignee": secretary}),
            )
            .await;
        if assigned.status == StatusCode::OK {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the warnings service never learned of {secretary}");
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

/// The one outcome a case must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// 2xx.
    Permitted,
    /// This status and ErrorInfo reason.
    Refused(u16, &'static str),
}

fn expected(decision: &Decision, role: Role, in_scope: bool) -> Expected {
    if !decision.allowed.contains(&role) {
        return Expected::Refused(403, "ROLE_NOT_PERMITTED");
    }
    if !in_scope {
        return match decision.kind {
            Kind::Named => Expected::Refused(403, "REGION_OUT_OF_SCOPE"),
            Kind::Stored => Expected::Refused(404, "RESOURCE_NOT_FOUND"),
            Kind::Public | Kind::Unscoped => Expected::Permitted,
        };
    }
    match decision.partly {
        Some((roles, reason)) if roles.contains(&role) => Expected::Refused(403, reason),
        _ => Expected::Permitted,
    }
}

/// The fixtures of one case: fresh records for a permitted write, and the current etag of the
/// policy or item an update names, read right before the call.
async fn fixtures_for(
    stack: &Stack,
    shared: &Fixtures,
    decision: &Decision,
    path: &str,
    permitted: bool,
    serial: u32,
) -> Fixtures {
    let mut fixtures = shared.clone();
    if permitted {
        match decision.target {
            Target::Shared => {}
            Target::FreshSecretary => {
                (fixtures.secretary, fixtures.secretary_etag) = new_secretary(stack, serial).await;
            }
            Target::FreshAppointment => {
                (fixtures.secretary, fixtures.secretary_etag) = new_secretary(stack, serial).await;
                let events = stack
                    .get(
                        &format!("/v1/{}/careerEvents", fixtures.secretary),
                        Some(&province(stack)),
                    )
                    .await;
                fixtures.career_event = events.body["careerEvents"][0]["name"]
                    .as_str()
                    .unwrap()
                    .to_owned();
            }
            Target::FreshDeparted => {
                (fixtures.secretary, fixtures.secretary_etag) = new_secretary(stack, serial).await;
                let departed = stack
                    .post(
                        &format!("/v1/{}/careerEvents", fixtures.secretary),
                        Some(&province(stack)),
                        &json!({"type": "CAREER_EVENT_TYPE_DEPARTURE", "effectiveDate": "2025-01-01"}),
                    )
                    .await;
                assert_eq!(departed.status, StatusCode::OK, "{}", departed.text);
            }
            Target::FreshCandidate => {
                (fixtures.candidate, fixtures.candidate_etag) = new_candidate(stack).await;
            }
            Target::FreshApiKey => {
                (fixtures.api_key, fixtures.api_key_secret) = new_api_key(stack).await;
            }
            Target::FreshSession => {
                fixtures.session = new_session(stack, &fixtures.course).await;
            }
            Target::FreshEnrolment => {
                let session = new_session(stack, &fixtures.course).await;
                fixtures.enrolment = train(
                    stack,
                    &format!("/v1/{session}/enrolments"),
                    json!({"secretary": fixtures.secretary}),
                )
                .await["name"]
                    .as_str()
                    .unwrap()
                    .to_owned();
            }
            Target::FreshMentee => {
                fixtures.secretary = new_trainee(stack, "2026-03-01").await;
                let mentor = new_trainee(stack, "2019-03-01").await;
                new_pair(stack, &mentor, &fixtures.secretary).await;
            }
            Target::FreshPair => {
                fixtures.mentor = new_trainee(stack, "2019-03-01").await;
                fixtures.mentee = new_trainee(stack, "2026-04-01").await;
            }
            Target::FreshMentorship => {
                let mentor = new_trainee(stack, "2019-03-01").await;
                let mentee = new_trainee(stack, "2026-04-01").await;
                fixtures.mentorship = new_pair(stack, &mentor, &mentee).await;
            }
            Target::FreshExamined => {
                fixtures.secretary = new_examined(stack).await;
            }
            Target::FreshCertificate | Target::FreshSuspended => {
                let secretary = new_examined(stack).await;
                fixtures.certificate = new_certificate(stack, &secretary).await.0;
                if decision.target == Target::FreshSuspended {
                    train(
                        stack,
                        &format!("/v1/{}:suspend", fixtures.certificate),
                        json!({"reason": "核查中"}),
                    )
                    .await;
                }
            }
            Target::FreshWarning => fixtures.warning = new_warning(stack, &[]).await,
            Target::FreshAcknowledged => {
                fixtures.warning = new_warning(stack, &[("acknowledge", json!({}))]).await;
            }
            Target::FreshHandling => {
                fixtures.warning = new_warning(
                    stack,
                    &[("acknowledge", json!({})), ("startHandling", json!({}))],
                )
                .await;
            }
            Target::FreshAppealable | Target::FreshAppeal => {
                let (secretary, result) = new_result(stack, &fixtures.engagement_2026, 80).await;
                rank_community(stack).await;
                fixtures.secretary = secretary;
                fixtures.annual_result = result;
                if decision.target == Target::FreshAppeal {
                    let filed = stack
                        .post(
                            &format!("/v1/{}/appeals", fixtures.annual_result),
                            Some(&stack.token(Role::DistrictAdmin, NANSHAN)),
                            &json!({"reason": "满意度测评样本不足"}),
                        )
                        .await;
                    assert_eq!(filed.status, StatusCode::OK, "{}", filed.text);
                    fixtures.appeal = filed.body["name"].as_str().unwrap().to_owned();
                }
            }
            Target::FreshWebhookEndpoint => {
                fixtures.webhook_endpoint = new_webhook_endpoint(stack).await;
            }
            Target::FreshTerminal => {
                (fixtures.terminal, fixtures.terminal_key) = new_terminal(stack).await;
            }
            Target::FreshResolved => {
                fixtures.warning = new_warning(
                    stack,
                    &[
                        ("acknowledge", json!({})),
                        ("startHandling", json!({})),
                        ("resolve", json!({"resolution": "排水完毕"})),
                    ],
                )
                .await;
            }
        }
    }
    if decision.community_parent {
        fixtures.regions_parent = format!("regions/{NANTOU_COMMUNITY}");
    }
    if path.starts_with("/v1/provinces/") && path.contains("Standard")
        || path.contains("careerPolicy")
        || path.contains("trainingPolicy")
        || path.contains("warningPolicy")
        || path.contains("/indicators/")
        || path.contains("/thresholdRules/")
        || path.contains("negativeListItems/")
    {
        let current = stack
            .get(path.split('?').next().unwrap(), Some(&province(stack)))
            .await;
        fixtures.current_etag = current.body["etag"].as_str().unwrap_or_default().to_owned();
    }
    fixtures
}

#[tokio::test]
async fn every_route_gives_each_role_in_and_out_of_scope_exactly_its_documented_outcome() {
    let stack = Stack::spawn_with(|config| {
        config.auth.rate_per_second = 1_000_000.0;
        config.auth.rate_burst = 1_000_000;
    })
    .await;
    let shared = fixtures(&stack).await;
    until_warnings_know(&stack, &shared.secretary).await;
    let evaluation = evaluation_fixtures(&stack, &shared.secretary).await;
    let shared = Fixtures {
        engagement: evaluation.engagement,
        annual_result: evaluation.annual_result,
        engagement_2026: evaluation.engagement_2026,
        ranking: evaluation.ranking,
        appeal: evaluation.appeal,
        ..shared
    };
    let pool = prost_reflect::DescriptorPool::decode(shequ_proto::FILE_DESCRIPTOR_SET).unwrap();
    let routes = shequ_gateway::routes::RouteTable::from_pool(&pool).unwrap();

    let mut undecided = BTreeSet::new();
    let mut failures = Vec::new();
    let mut counted: BTreeMap<&str, u32> = BTreeMap::new();
    let mut rows = 0;
    let mut serial = 0;
    for route in routes.routes() {
        let rpc = route.rpc.full_name().to_owned();
        let Some(decisions) = decisions(&rpc) else {
            undecided.insert(rpc);
            continue;
        };
        let template = route
            .label
            .split_once(' ')
            .map(|(_, t)| t)
            .unwrap_or_default();
        for decision in decisions {
            rows += 1;
            // refusals first (they change nothing), then the permitted calls
            let mut cases: Vec<(Role, bool)> = ROLES
                .iter()
                .flat_map(|r| [(*r, false), (*r, true)])
                .collect();
            cases.sort_by_key(|(role, in_scope)| {
                expected(&decision, *role, *in_scope) == Expected::Permitted
            });
            for (role, in_scope) in cases {
                serial += 1;
                let expected = expected(&decision, role, in_scope);
                let permitted = expected == Expected::Permitted;
                let shared_path = match fill(template, &shared) {
                    Ok(path) => path,
                    Err(why) => {
                        failures.push(format!("{rpc}: {why}"));
                        continue;
                    }
                };
                let fixtures =
                    fixtures_for(&stack, &shared, &decision, &shared_path, permitted, serial).await;
                let mut path = fill(template, &fixtures).expect("filled above");
                let query = (decision.query)(serial);
                if !query.is_empty() {
                    path = format!("{path}?{query}");
                }
                let token = stack.keys.token_for(&caller(role, in_scope, &fixtures));
                let sent = (decision.body)(&fixtures, serial).map(|b| b.to_string());
                let body = sent.clone().map(String::into_bytes);
                let headers = (decision.headers)(&fixtures);
                let headers: Vec<(&str, &str)> =
                    headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let reply = stack
                    .send(route.method.clone(), &path, Some(&token), body, &headers)
                    .await;
                let case = format!(
                    "{}{} as {role} ({}): expected {expected:?}, got {} {}",
                    route.label,
                    decision.row,
                    if in_scope { "in scope" } else { "out of scope" },
                    reply.status,
                    if reply.status.is_success() {
                        String::new()
                    } else {
                        reply.body["reason"].to_string()
                    },
                );
                match expected {
                    Expected::Permitted => {
                        *counted.entry("permitted").or_default() += 1;
                        if !reply.status.is_success() {
                            failures.push(format!("{case}: {}", reply.text));
                        }
                    }
                    Expected::Refused(status, reason) => {
                        *counted.entry("refused").or_default() += 1;
                        if reply.status.as_u16() != status || reply.body["reason"] != reason {
                            failures.push(case.clone());
                        }
                        // nothing of district A's records comes back in a refusal (but what the
                        // caller named itself, in the path or the body)
                        for secret in [
                            &shared.secretary,
                            &shared.candidate,
                            &shared.api_key_secret,
                            &shared.warning,
                        ] {
                            if reply.text.contains(secret.as_str())
                                && !path.contains(secret.as_str())
                                && !sent.as_deref().unwrap_or("").contains(secret.as_str())
                            {
                                failures.push(format!("leak in {case}"));
                            }
                        }
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
    // the matrix really ran: every row (a route, and the unmasked view) × 8 roles × 2 scopes
    assert_eq!(rows, routes.routes().count() + 1);
    let total: u32 = counted.values().sum();
    assert_eq!(total as usize, rows * ROLES.len() * 2);
    assert!(counted["refused"] > counted["permitted"]);
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
    // identity: VerifyApiKey and the feed to the gateway (WatchEvents streams; tested elsewhere);
    // training: the four public operations to the gateway, ListLearningSummaries and the feed to
    // evaluation, the feed to personnel; warnings: the feed and the secretaries' yearly summaries
    // to evaluation; evaluation: the feed to personnel
    assert_eq!(granted, 16, "every grant was exercised");
    assert!(refused > 100, "and so were the refusals: {refused}");
    for (_, server) in services {
        server.stop().await;
    }
}
