//! Readings from the community brain's terminals: one batch at a time (BatchCreateReadings, also
//! over REST) or a stream of batches (IngestReadings, gRPC only). Each batch is applied in one
//! audited transaction: its claim (terminal, sequence), the accepted readings, the warnings the
//! threshold rules raise or escalate, and the answer stored for a repeat. It is answered only
//! after that transaction commits.

use std::collections::{BTreeMap, HashMap};

use prost::Message as _;
use shequ_kit::{
    Error,
    call::Call,
    convert::{new_id, to_timestamp},
    names::top_level_id,
};
use shequ_proto::warnings::v1 as pb;
use tonic::{Request, Response, Status, Streaming, metadata::MetadataMap};

use super::{Context, access};
use crate::{
    domain::{
        Colour, NewWarning, Source, Warning,
        brain::{MAX_READINGS_PER_BATCH, key_terminal, reading_problem},
    },
    events::{self, Published},
    store::{Store, StoredReading, Terminal, indicators_in},
};

/// The metadata (and REST header) that carries a terminal's key.
pub(crate) const TERMINAL_KEY: &str = "x-terminal-key";

/// The terminal key the request presents, if any.
pub(crate) fn terminal_key(metadata: &MetadataMap) -> Option<String> {
    metadata
        .get(TERMINAL_KEY)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn unauthenticated(reason: &'static str, message: &str) -> Error {
    Error::Unauthenticated {
        reason,
        message: message.to_owned(),
    }
}

/// The terminal `name`, for a caller allowed to ingest within its scope that presents its key.
async fn authenticate(
    ctx: &Context,
    call: &Call,
    name: &str,
    key: Option<&str>,
    operation: &str,
) -> Result<Terminal, Error> {
    let caller = call.caller();
    caller.require_any(access::INGESTERS, operation)?;
    let id = top_level_id("terminal", name, "terminals")?;
    let terminal = ctx
        .store
        .terminal(id)
        .await?
        .filter(|t| caller.covers(t.region))
        .ok_or_else(|| Error::not_found(name))?;
    call.target(&terminal.name(), terminal.region);
    let key = key.ok_or_else(|| {
        unauthenticated(
            "TERMINAL_KEY_MISSING",
            "send the terminal's key as x-terminal-key",
        )
    })?;
    let invalid = || unauthenticated("TERMINAL_KEY_INVALID", "the terminal key is not valid");
    if key_terminal(key) != Some(id) {
        return Err(invalid());
    }
    let terminal = ctx
        .store
        .terminal_by_key(&ctx.kit.keys.blind_index, id, key)
        .await?
        .ok_or_else(invalid)?;
    if terminal.revoked {
        return Err(unauthenticated(
            "TERMINAL_REVOKED",
            "the terminal is revoked; its key no longer works",
        ));
    }
    Ok(terminal)
}

/// Refuses a batch whose shape is wrong (its readings are checked one by one instead).
fn check_batch(sequence: i64, readings: usize) -> Result<(), Error> {
    let mut checks = shequ_kit::validate::Checks::new();
    checks.rule(
        sequence < 1,
        "sequence",
        "SEQUENCE_INVALID",
        "a batch's sequence number starts at 1",
    );
    checks.rule(
        readings == 0,
        "readings",
        "FIELD_REQUIRED",
        "a batch holds at least one reading",
    );
    checks.rule(
        readings > MAX_READINGS_PER_BATCH,
        "readings",
        "TOO_MANY_VALUES",
        format!("a batch holds at most {MAX_READINGS_PER_BATCH} readings, got {readings}"),
    );
    checks.finish().map(|_| ())
}

/// Applies one batch of `terminal` and commits it; the answer, or the first answer of a repeat.
/// How often a batch is applied afresh when a concurrent batch of the same community changed its
/// rule's warning first (the second application sees that warning and escalates or keeps it).
const CONCURRENT_ATTEMPTS: usize = 3;

/// Applies a batch, again when it lost a race for a rule's warning to another batch.
async fn apply(
    ctx: &Context,
    call: &Call,
    terminal: &Terminal,
    sequence: i64,
    readings: &[pb::Reading],
) -> Result<pb::BatchCreateReadingsResponse, Error> {
    let mut attempt = 1;
    loop {
        match apply_once(ctx, call, terminal, sequence, readings).await {
            Err(Error::Aborted {
                reason: "CONCURRENT_MODIFICATION",
                ..
            }) if attempt < CONCURRENT_ATTEMPTS => attempt += 1,
            outcome => return outcome,
        }
    }
}

/// Two batches of one community raising the same rule's warning at once: the unique index lets
/// one in and refuses the other, whose batch is rolled back and applied again.
fn lost_race(error: Error, rule: &str) -> Error {
    let unique = matches!(
        &error,
        Error::Internal(cause) if cause
            .downcast_ref::<sqlx::Error>()
            .is_some_and(|e| matches!(e, sqlx::Error::Database(d) if d.is_unique_violation()))
    );
    if unique {
        Error::Aborted {
            reason: "CONCURRENT_MODIFICATION",
            message: format!(
                "another batch raised the warning of {rule} meanwhile; send the batch again"
            ),
        }
    } else {
        error
    }
}

async fn apply_once(
    ctx: &Context,
    call: &Call,
    terminal: &Terminal,
    sequence: i64,
    readings: &[pb::Reading],
) -> Result<pb::BatchCreateReadingsResponse, Error> {
    let now = ctx.kit.clock.now();
    let mut tx = call.begin(ctx.store.database()).await?;
    if let Some(stored) = Store::claim_batch(&mut tx, &terminal.id, sequence, now).await? {
        tx.rollback().await?;
        let mut answer =
            pb::BatchCreateReadingsResponse::decode(stored.as_slice()).map_err(Error::internal)?;
        answer.replayed = true;
        return Ok(answer);
    }
    let province = terminal.region.province();
    let indicators: HashMap<String, _> = indicators_in(&mut tx, province, "", 1_000)
        .await?
        .into_iter()
        .map(|i| (i.id.clone(), i))
        .collect();
    let mut accepted = Vec::new();
    let mut rejections = Vec::new();
    for (index, reading) in readings.iter().enumerate() {
        let observed = reading
            .observe_time
            .as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32));
        match reading_problem(
            indicators.get(&reading.indicator_id),
            &reading.indicator_id,
            reading.value,
            observed,
            now,
        ) {
            Some((reason, message)) => rejections.push(pb::ReadingRejection {
                index: index as i32,
                reason: reason.to_owned(),
                message,
            }),
            None => accepted.push(StoredReading {
                indicator_id: reading.indicator_id.clone(),
                value: reading.value,
                observed: observed.unwrap_or(now),
            }),
        }
    }
    Store::insert_readings(
        &mut tx,
        &terminal.id,
        terminal.region,
        sequence,
        &accepted,
        now,
    )
    .await?;

    // The highest colour each active rule reaches over the batch, and the reading that reached it.
    let mut crossed: BTreeMap<String, (crate::domain::brain::Rule, Colour, f64, &StoredReading)> =
        BTreeMap::new();
    for rule in Store::active_rules(&mut tx, province).await? {
        for reading in accepted.iter().filter(|r| r.indicator_id == rule.indicator) {
            if let Some((colour, threshold)) = rule.colour_for(reading.value) {
                let higher = crossed
                    .get(&rule.id)
                    .is_none_or(|(_, known, _, _)| colour > *known);
                if higher {
                    crossed.insert(rule.id.clone(), (rule.clone(), colour, threshold, reading));
                }
            }
        }
    }
    let mut touched = Vec::new();
    let policy = if crossed.is_empty() {
        None
    } else {
        Some(Store::policy_in(&mut tx, province).await?.value)
    };
    for (rule, colour, threshold, reading) in crossed.into_values() {
        let policy = policy.unwrap_or_default();
        let indicator = indicators.get(&rule.indicator);
        let unit = indicator.map_or("", |i| i.unit.as_str());
        let what = format!(
            "{} {}{unit} at {} from {} reached the {} threshold {threshold}{unit}",
            indicator.map_or(rule.indicator.as_str(), |i| i.display_name.as_str()),
            reading.value,
            reading.observed.to_rfc3339(),
            terminal.name(),
            colour.code(),
        );
        let actor = rule.name();
        match Store::active_rule_warning(&mut tx, terminal.region, &actor).await? {
            None => {
                let assignee = Store::current_secretary(&mut tx, terminal.region, None).await?;
                let (warning, entry) = Warning::raise(
                    new_id(),
                    new_id(),
                    NewWarning {
                        title: rule.display_name.clone(),
                        description: what,
                        colour,
                        category: rule.category.clone(),
                        region: terminal.region,
                        assignee,
                        source: Source::Rule,
                        rule: Some(rule.name()),
                    },
                    &actor,
                    &policy,
                    now,
                );
                Store::insert_warning(&mut tx, &warning, &entry)
                    .await
                    .map_err(|e| lost_race(e, &actor))?;
                events::publish(&mut tx, &warning, Published::Raised).await?;
                touched.push(warning.name());
            }
            Some(mut warning) if colour > warning.colour => {
                let expected = warning.version;
                let from = warning.colour;
                let entry = warning.escalate(colour, new_id(), &policy, &actor, what, now)?;
                if !Store::save_change(&mut tx, &warning, expected, &entry).await? {
                    return Err(Error::Aborted {
                        reason: "CONCURRENT_MODIFICATION",
                        message: format!(
                            "{} changed meanwhile; send the batch again",
                            warning.name()
                        ),
                    });
                }
                events::publish(&mut tx, &warning, Published::Escalated(from)).await?;
                touched.push(warning.name());
            }
            Some(_) => {}
        }
    }
    let answer = pb::BatchCreateReadingsResponse {
        terminal: terminal.name(),
        sequence,
        accepted_count: accepted.len() as i32,
        rejections,
        warnings: touched,
        replayed: false,
        commit_time: Some(to_timestamp(now)),
    };
    Store::answer_batch(&mut tx, &terminal.id, sequence, answer.encode_to_vec()).await?;
    tx.commit().await?;
    if !answer.warnings.is_empty() {
        ctx.changed();
    }
    Ok(answer)
}

/// BatchCreateReadings.
pub(crate) async fn batch(
    ctx: &Context,
    call: &Call,
    request: pb::BatchCreateReadingsRequest,
    key: Option<String>,
) -> Result<pb::BatchCreateReadingsResponse, Error> {
    let terminal = authenticate(
        ctx,
        call,
        &request.terminal,
        key.as_deref(),
        "BatchCreateReadings",
    )
    .await?;
    check_batch(request.sequence, request.readings.len())?;
    apply(ctx, call, &terminal, request.sequence, &request.readings).await
}

/// IngestReadings: every batch of the stream, each committed before the next is read.
pub(crate) async fn stream(
    ctx: &Context,
    mut request: Request<Streaming<pb::IngestReadingsRequest>>,
) -> Result<Response<pb::IngestReadingsResponse>, Status> {
    let key = terminal_key(request.metadata());
    let call = ctx
        .kit
        .recorder
        .start_stream("IngestReadings", &mut request)
        .await?;
    let outcome = ingest_stream(ctx, &call, request.into_inner(), key).await;
    if !call.recorded() {
        let code = outcome
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok);
        call.record_outcome(code).await;
    }
    outcome.map(Response::new)
}

async fn ingest_stream(
    ctx: &Context,
    call: &Call,
    mut stream: Streaming<pb::IngestReadingsRequest>,
    key: Option<String>,
) -> Result<pb::IngestReadingsResponse, Status> {
    call.caller()
        .require_any(access::INGESTERS, "IngestReadings")
        .map_err(Error::into_status)?;
    let mut terminal: Option<Terminal> = None;
    let mut batches = Vec::new();
    while let Some(message) = stream.message().await? {
        let known = match &terminal {
            Some(known) if known.name() == message.terminal => known.clone(),
            Some(known) => {
                return Err(Error::invalid(
                    "terminal",
                    "TERMINAL_MISMATCH",
                    format!("every batch of a stream names {}", known.name()),
                )
                .into_status());
            }
            None => {
                let found = authenticate(
                    ctx,
                    call,
                    &message.terminal,
                    key.as_deref(),
                    "IngestReadings",
                )
                .await
                .map_err(Error::into_status)?;
                terminal = Some(found.clone());
                found
            }
        };
        check_batch(message.sequence, message.readings.len()).map_err(Error::into_status)?;
        let answer = apply(ctx, call, &known, message.sequence, &message.readings)
            .await
            .map_err(Error::into_status)?;
        batches.push(answer);
    }
    Ok(pb::IngestReadingsResponse { batches })
}
