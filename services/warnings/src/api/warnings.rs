//! Warnings: raising, reading, listing, and the lifecycle's custom methods.

use serde::{Deserialize, Serialize};
use shequ_kit::{
    Error,
    aip::{parse_etag, required_enum},
    auth::Role,
    call::{AuditedTx, Call},
    convert::new_id,
    names::{region_error, region_parent, top_level_id},
    regions::Level,
    validate::Checks,
};
use shequ_proto::warnings::v1 as pb;

use super::{
    Context, access,
    convert::{self, history_pb, warning_pb},
};
use crate::{
    domain::{HistoryEntry, NewWarning, Source, Warning},
    events::{self, Published},
    store::{Store, WarningFilter},
};

/// Longest title, note and text fields.
const TITLE_MAX: usize = 100;
const NOTE_MAX: usize = 500;
pub(crate) const TEXT_MAX: usize = 2_000;

/// `warnings/{id}` → id.
pub(crate) fn warning_id<'a>(field: &str, name: &'a str) -> Result<&'a str, Error> {
    top_level_id(field, name, "warnings")
}

/// A category code: 1 to 40 lower-case letters, digits or `_`.
pub(crate) fn valid_category(code: &str) -> bool {
    (1..=40).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `secretaries/{id}`, checked for form.
fn assignee_name(field: &str, name: &str) -> Result<String, Error> {
    top_level_id(field, name, "secretaries").map(|id| format!("secretaries/{id}"))
}

/// Loads a warning the caller may act on with `roles`: NOT_FOUND when missing or outside scope.
pub(crate) async fn load(
    ctx: &Context,
    call: &Call,
    field: &str,
    name: &str,
    roles: &[Role],
    operation: &str,
) -> Result<Warning, Error> {
    let caller = call.caller();
    caller.require_any(roles, operation)?;
    let id = warning_id(field, name)?;
    let warning = ctx
        .store
        .warning(id)
        .await?
        .filter(|w| caller.covers(w.region))
        .ok_or_else(|| Error::not_found(name))?;
    call.target(&warning.name(), warning.region);
    Ok(warning)
}

/// The refusal of an assignee the roster does not show in post in `community`.
async fn check_assignee(
    tx: &mut AuditedTx,
    assignee: &str,
    community: shequ_kit::regions::RegionCode,
) -> Result<(), Error> {
    let (serves, as_of) = Store::serves(tx, assignee, community).await?;
    if serves {
        return Ok(());
    }
    Err(Error::FailedPrecondition {
        reason: "ASSIGNEE_NOT_ACTIVE_SECRETARY",
        message: format!(
            "{assignee} is not an active secretary of {community} according to {}",
            as_of.describe()
        ),
        preconditions: Vec::new(),
        metadata: vec![
            ("assignee", assignee.to_owned()),
            ("region", community.to_string()),
            ("as_of_sequence", as_of.sequence.to_string()),
            (
                "as_of",
                as_of.time.map(|t| t.to_rfc3339()).unwrap_or_default(),
            ),
        ],
    })
}

pub(crate) async fn create(
    ctx: &Context,
    call: &Call,
    request: pb::CreateWarningRequest,
) -> Result<pb::Warning, Error> {
    let caller = call.caller();
    caller.require_any(access::RAISERS, "CreateWarning")?;
    let input = request
        .warning
        .ok_or_else(|| Error::invalid("warning", "FIELD_REQUIRED", "the warning is required"))?;
    let mut checks = Checks::new();
    let title = checks.text("warning.title", &input.title, TITLE_MAX);
    let description = checks.optional_text("warning.description", &input.description, TEXT_MAX);
    let colour = checks.take(required_enum(
        "warning.colour",
        convert::colour("warning.colour", input.colour),
    ));
    let category = checks.require(
        input.category.clone(),
        valid_category(&input.category),
        "warning.category",
        "CATEGORY_INVALID",
        "1 to 40 lower-case letters, digits or `_`, e.g. flood",
    );
    let region = checks.take(
        ctx.kit
            .regions
            .known_at(&input.region, Level::Community)
            .map_err(|e| region_error("warning.region", e)),
    );
    let assignee = if input.assignee.is_empty() {
        checks.take(Ok(None))
    } else {
        checks.take(assignee_name("warning.assignee", &input.assignee).map(Some))
    };
    let valid = checks.finish()?;
    let region = valid.value(region);
    caller.require_scope(region, "warning.region")?;
    let source = if caller.has_any(&[Role::Integration]) {
        Source::Integration
    } else {
        Source::Person
    };
    let warning = raise(
        ctx,
        call,
        NewWarning {
            title: valid.value(title),
            description: valid.value(description),
            colour: valid.value(colour),
            category: valid.value(category),
            region,
            assignee: valid.value(assignee),
            source,
            rule: None,
        },
    )
    .await?;
    Ok(warning_pb(&warning))
}

/// Raises `new` in one transaction with its history entry and its event: its assignee, when
/// given, must serve the community; when not, the community's current secretary is assigned.
/// The deadline of its colour starts now.
pub(crate) async fn raise(ctx: &Context, call: &Call, new: NewWarning) -> Result<Warning, Error> {
    let caller = call.caller();
    let region = new.region;
    let now = ctx.kit.clock.now();
    let mut tx = call.begin(ctx.store.database()).await?;
    let assignee = match new.assignee {
        Some(assignee) => {
            check_assignee(&mut tx, &assignee, region).await?;
            Some(assignee)
        }
        None => Store::current_secretary(&mut tx, region, None).await?,
    };
    let policy = Store::policy_in(&mut tx, region.province()).await?.value;
    let (warning, entry) = Warning::raise(
        new_id(),
        new_id(),
        NewWarning { assignee, ..new },
        &caller.subject,
        &policy,
        now,
    );
    call.target(&warning.name(), region);
    Store::insert_warning(&mut tx, &warning, &entry).await?;
    events::publish(&mut tx, &warning, Published::Raised).await?;
    tx.commit().await?;
    ctx.changed();
    Ok(warning)
}

pub(crate) async fn get(
    ctx: &Context,
    call: &Call,
    request: pb::GetWarningRequest,
) -> Result<pb::Warning, Error> {
    let warning = load(
        ctx,
        call,
        "name",
        &request.name,
        access::WARNING_READERS,
        "GetWarning",
    )
    .await?;
    Ok(warning_pb(&warning))
}

#[derive(Serialize, Deserialize)]
struct IdCursor {
    before: String,
}

pub(crate) async fn list(
    ctx: &Context,
    call: &Call,
    request: pb::ListWarningsRequest,
) -> Result<pb::ListWarningsResponse, Error> {
    let caller = call.caller();
    caller.require_any(access::WARNING_READERS, "ListWarnings")?;
    let mut checks = Checks::new();
    let scope = checks.take(region_parent(&ctx.kit.regions, "parent", &request.parent));
    let colour = checks.take(convert::colour("colour", request.colour));
    let state = checks.take(convert::state("state", request.state));
    let page = checks.take(ctx.kit.tokens.page::<_, IdCursor>(&request));
    let valid = checks.finish()?;
    let scope = valid.value(scope);
    caller.require_scope(scope, "parent")?;
    let page = valid.value(page);
    let filter = WarningFilter {
        colour: valid.value(colour),
        state: valid.value(state),
        overdue_only: request.overdue_only,
        active_only: false,
    };
    let before = page.cursor.as_ref().map_or("", |c| c.before.as_str());
    let mut warnings = ctx
        .store
        .list_warnings(scope, &filter, before, page.fetch())
        .await?;
    let next_page_token = page.next(&mut warnings, |last| IdCursor {
        before: last.id.clone(),
    });
    Ok(pb::ListWarningsResponse {
        warnings: warnings.iter().map(warning_pb).collect(),
        next_page_token,
    })
}

/// Refuses a custom method whose etag, when sent, is not the warning's version.
fn check_etag(etag: &str, warning: &Warning) -> Result<(), Error> {
    if etag.is_empty() {
        return Ok(());
    }
    if parse_etag("etag", etag)? != warning.version {
        return Err(Error::stale_etag(&warning.name()));
    }
    Ok(())
}

fn changed_concurrently(warning: &Warning) -> Error {
    Error::Aborted {
        reason: "CONCURRENT_MODIFICATION",
        message: format!(
            "{} changed while this request was processed; retry",
            warning.name()
        ),
    }
}

/// Writes a change made on `warning` (loaded at `expected`), publishes `event`, commits.
pub(crate) async fn save(
    ctx: &Context,
    mut tx: AuditedTx,
    warning: &Warning,
    expected: i64,
    entry: &HistoryEntry,
    event: Option<Published>,
) -> Result<(), Error> {
    if !Store::save_change(&mut tx, warning, expected, entry).await? {
        return Err(changed_concurrently(warning));
    }
    if let Some(event) = event {
        events::publish(&mut tx, warning, event).await?;
    }
    tx.commit().await?;
    ctx.changed();
    Ok(())
}

fn note(checks: &mut Checks, field: &str, text: &str) -> shequ_kit::validate::Checked<String> {
    checks.optional_text(field, text, NOTE_MAX)
}

pub(crate) async fn acknowledge(
    ctx: &Context,
    call: &Call,
    request: pb::AcknowledgeWarningRequest,
) -> Result<pb::Warning, Error> {
    let mut warning = load(
        ctx,
        call,
        "name",
        &request.name,
        access::HANDLERS,
        "AcknowledgeWarning",
    )
    .await?;
    let mut checks = Checks::new();
    let note = note(&mut checks, "note", &request.note);
    let valid = checks.finish()?;
    check_etag(&request.etag, &warning)?;
    let expected = warning.version;
    let entry = warning.acknowledge(
        &call.caller().subject,
        valid.value(note),
        ctx.kit.clock.now(),
    )?;
    let tx = call.begin(ctx.store.database()).await?;
    save(ctx, tx, &warning, expected, &entry, None).await?;
    Ok(warning_pb(&warning))
}

pub(crate) async fn start_handling(
    ctx: &Context,
    call: &Call,
    request: pb::StartHandlingWarningRequest,
) -> Result<pb::Warning, Error> {
    let mut warning = load(
        ctx,
        call,
        "name",
        &request.name,
        access::HANDLERS,
        "StartHandlingWarning",
    )
    .await?;
    let mut checks = Checks::new();
    let note = note(&mut checks, "note", &request.note);
    let valid = checks.finish()?;
    check_etag(&request.etag, &warning)?;
    let expected = warning.version;
    let entry = warning.start_handling(
        &call.caller().subject,
        valid.value(note),
        ctx.kit.clock.now(),
    )?;
    let tx = call.begin(ctx.store.database()).await?;
    save(ctx, tx, &warning, expected, &entry, None).await?;
    Ok(warning_pb(&warning))
}

pub(crate) async fn resolve(
    ctx: &Context,
    call: &Call,
    request: pb::ResolveWarningRequest,
) -> Result<pb::Warning, Error> {
    let mut warning = load(
        ctx,
        call,
        "name",
        &request.name,
        access::HANDLERS,
        "ResolveWarning",
    )
    .await?;
    let mut checks = Checks::new();
    let resolution = checks.text("resolution", &request.resolution, TEXT_MAX);
    let valid = checks.finish()?;
    check_etag(&request.etag, &warning)?;
    let expected = warning.version;
    let entry = warning.resolve(
        &call.caller().subject,
        valid.value(resolution),
        ctx.kit.clock.now(),
    )?;
    let tx = call.begin(ctx.store.database()).await?;
    save(
        ctx,
        tx,
        &warning,
        expected,
        &entry,
        Some(Published::Resolved),
    )
    .await?;
    Ok(warning_pb(&warning))
}

pub(crate) async fn close(
    ctx: &Context,
    call: &Call,
    request: pb::CloseWarningRequest,
) -> Result<pb::Warning, Error> {
    let mut warning = load(
        ctx,
        call,
        "name",
        &request.name,
        access::SUPERVISORS,
        "CloseWarning",
    )
    .await?;
    let mut checks = Checks::new();
    let note = note(&mut checks, "note", &request.note);
    let valid = checks.finish()?;
    check_etag(&request.etag, &warning)?;
    let expected = warning.version;
    let entry = warning.close(
        &call.caller().subject,
        valid.value(note),
        ctx.kit.clock.now(),
    )?;
    let tx = call.begin(ctx.store.database()).await?;
    save(ctx, tx, &warning, expected, &entry, None).await?;
    Ok(warning_pb(&warning))
}

pub(crate) async fn escalate(
    ctx: &Context,
    call: &Call,
    request: pb::EscalateWarningRequest,
) -> Result<pb::Warning, Error> {
    let mut warning = load(
        ctx,
        call,
        "name",
        &request.name,
        access::HANDLERS,
        "EscalateWarning",
    )
    .await?;
    let mut checks = Checks::new();
    let colour = checks.take(required_enum(
        "colour",
        convert::colour("colour", request.colour),
    ));
    let reason = checks.text("reason", &request.reason, NOTE_MAX);
    let valid = checks.finish()?;
    check_etag(&request.etag, &warning)?;
    let mut tx = call.begin(ctx.store.database()).await?;
    let policy = Store::policy_in(&mut tx, warning.region.province())
        .await?
        .value;
    let expected = warning.version;
    let from = warning.colour;
    let entry = warning.escalate(
        valid.value(colour),
        new_id(),
        &policy,
        &call.caller().subject,
        valid.value(reason),
        ctx.kit.clock.now(),
    )?;
    save(
        ctx,
        tx,
        &warning,
        expected,
        &entry,
        Some(Published::Escalated(from)),
    )
    .await?;
    Ok(warning_pb(&warning))
}

pub(crate) async fn assign(
    ctx: &Context,
    call: &Call,
    request: pb::AssignWarningRequest,
) -> Result<pb::Warning, Error> {
    let mut warning = load(
        ctx,
        call,
        "name",
        &request.name,
        access::SUPERVISORS,
        "AssignWarning",
    )
    .await?;
    let assignee = assignee_name("assignee", &request.assignee)?;
    check_etag(&request.etag, &warning)?;
    let mut tx = call.begin(ctx.store.database()).await?;
    check_assignee(&mut tx, &assignee, warning.region).await?;
    let expected = warning.version;
    let entry = warning.assign(
        Some(assignee),
        &call.caller().subject,
        String::new(),
        ctx.kit.clock.now(),
    )?;
    save(ctx, tx, &warning, expected, &entry, None).await?;
    Ok(warning_pb(&warning))
}

#[derive(Serialize, Deserialize)]
struct SeqCursor {
    after: i64,
}

pub(crate) async fn history(
    ctx: &Context,
    call: &Call,
    request: pb::ListWarningHistoryEntriesRequest,
) -> Result<pb::ListWarningHistoryEntriesResponse, Error> {
    let warning = load(
        ctx,
        call,
        "parent",
        &request.parent,
        access::WARNING_READERS,
        "ListWarningHistoryEntries",
    )
    .await?;
    let page = ctx.kit.tokens.page::<_, SeqCursor>(&request)?;
    let after = page.cursor.as_ref().map_or(0, |c| c.after);
    let mut entries = ctx.store.history(&warning.id, after, page.fetch()).await?;
    let next_page_token = page.next(&mut entries, |last| SeqCursor { after: last.seq });
    let name = warning.name();
    Ok(pb::ListWarningHistoryEntriesResponse {
        history_entries: entries.iter().map(|e| history_pb(&name, e)).collect(),
        next_page_token,
    })
}
