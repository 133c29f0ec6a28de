//! Domain values ↔ wire messages.

use shequ_kit::{convert::to_timestamp, wire_enum};
use shequ_proto::warnings::v1 as pb;

use crate::{
    domain::{
        Action, Colour, Deadline, DeadlineKind, Department, HistoryEntry, Source, State, Warning,
    },
    store::Meeting,
};

wire_enum!(colour, colour_pb, pb::Colour, Colour {
    Blue <=> Blue,
    Yellow <=> Yellow,
    Red <=> Red,
});

wire_enum!(state, state_pb, pb::WarningState, State {
    Open <=> Open,
    Acknowledged <=> Acknowledged,
    Handling <=> Handling,
    Resolved <=> Resolved,
    Closed <=> Closed,
});

wire_enum!(department, department_pb, pb::Department, Department {
    Weather <=> Weather,
    PublicSecurity <=> PublicSecurity,
    Fire <=> Fire,
    Emergency <=> Emergency,
    Health <=> Health,
    CivilAffairs <=> CivilAffairs,
    Housing <=> Housing,
    UrbanManagement <=> UrbanManagement,
    MarketRegulation <=> MarketRegulation,
    Water <=> Water,
    Power <=> Power,
    Cyberspace <=> Cyberspace,
});

pub(crate) fn source_pb(source: Source) -> pb::WarningSource {
    match source {
        Source::Person => pb::WarningSource::Person,
        Source::Rule => pb::WarningSource::Rule,
        Source::Integration => pb::WarningSource::Integration,
        Source::Open311 => pb::WarningSource::Open311,
    }
}

pub(crate) fn kind_pb(kind: DeadlineKind) -> pb::DeadlineKind {
    match kind {
        DeadlineKind::Respond => pb::DeadlineKind::Respond,
        DeadlineKind::Consult => pb::DeadlineKind::Consult,
        DeadlineKind::TaskForce => pb::DeadlineKind::TaskForce,
    }
}

fn action_pb(action: Action) -> pb::HistoryAction {
    match action {
        Action::Raised => pb::HistoryAction::Raised,
        Action::Acknowledged => pb::HistoryAction::Acknowledged,
        Action::HandlingStarted => pb::HistoryAction::HandlingStarted,
        Action::ConsultationRecorded => pb::HistoryAction::ConsultationRecorded,
        Action::TaskForceRecorded => pb::HistoryAction::TaskForceRecorded,
        Action::Escalated => pb::HistoryAction::Escalated,
        Action::Resolved => pb::HistoryAction::Resolved,
        Action::Closed => pb::HistoryAction::Closed,
        Action::DeadlineMissed => pb::HistoryAction::DeadlineMissed,
        Action::Assigned => pb::HistoryAction::Assigned,
    }
}

pub(crate) fn deadline_pb(deadline: &Deadline) -> pb::Deadline {
    pb::Deadline {
        kind: kind_pb(deadline.kind) as i32,
        colour: colour_pb(deadline.colour) as i32,
        start_time: Some(to_timestamp(deadline.start)),
        due_time: Some(to_timestamp(deadline.due)),
        met_time: deadline.met.map(to_timestamp),
        missed: deadline.missed,
        supersede_time: deadline.superseded.map(to_timestamp),
    }
}

/// A warning as the API shows it.
pub(crate) fn warning_pb(warning: &Warning) -> pb::Warning {
    pb::Warning {
        name: warning.name(),
        title: warning.title.clone(),
        description: warning.description.clone(),
        colour: colour_pb(warning.colour) as i32,
        category: warning.category.clone(),
        region: warning.region.to_string(),
        assignee: warning.assignee.clone().unwrap_or_default(),
        state: state_pb(warning.state) as i32,
        source: source_pb(warning.source) as i32,
        threshold_rule: warning.rule.clone().unwrap_or_default(),
        overdue: warning.overdue,
        deadlines: warning.deadlines.iter().map(deadline_pb).collect(),
        raised_by: warning.raised_by.clone(),
        resolution: warning.resolution.clone(),
        etag: shequ_kit::aip::etag(warning.version),
        create_time: Some(to_timestamp(warning.create_time)),
        update_time: Some(to_timestamp(warning.update_time)),
        escalate_time: warning.escalate_time.map(to_timestamp),
        resolve_time: warning.resolve_time.map(to_timestamp),
        close_time: warning.close_time.map(to_timestamp),
    }
}

pub(crate) fn history_pb(warning: &str, entry: &HistoryEntry) -> pb::WarningHistoryEntry {
    pb::WarningHistoryEntry {
        name: format!("{warning}/historyEntries/{}", entry.seq),
        action: action_pb(entry.action) as i32,
        from_state: state_pb(entry.from_state) as i32,
        to_state: state_pb(entry.to_state) as i32,
        from_colour: colour_pb(entry.from_colour) as i32,
        to_colour: colour_pb(entry.to_colour) as i32,
        assignee: entry.assignee.clone().unwrap_or_default(),
        actor: entry.actor.clone(),
        note: entry.note.clone(),
        create_time: Some(to_timestamp(entry.at)),
    }
}

fn departments_pb(departments: &[Department]) -> Vec<i32> {
    departments
        .iter()
        .map(|d| department_pb(*d) as i32)
        .collect()
}

pub(crate) fn consultation_pb(meeting: &Meeting) -> pb::Consultation {
    pb::Consultation {
        name: format!(
            "warnings/{}/consultations/{}",
            meeting.warning_id, meeting.id
        ),
        departments: departments_pb(&meeting.departments),
        participants: meeting.people.clone(),
        summary: meeting.text.clone(),
        hold_time: Some(to_timestamp(meeting.at)),
        recorded_by: meeting.recorded_by.clone(),
        create_time: Some(to_timestamp(meeting.create_time)),
    }
}

pub(crate) fn task_force_pb(meeting: &Meeting) -> pb::TaskForce {
    pb::TaskForce {
        name: format!("warnings/{}/taskForces/{}", meeting.warning_id, meeting.id),
        leader: meeting.leader.clone(),
        members: meeting.people.clone(),
        departments: departments_pb(&meeting.departments),
        note: meeting.text.clone(),
        form_time: Some(to_timestamp(meeting.at)),
        recorded_by: meeting.recorded_by.clone(),
        create_time: Some(to_timestamp(meeting.create_time)),
    }
}

pub(crate) fn notification_pb(notification: &crate::store::Notification) -> pb::Notification {
    pb::Notification {
        name: format!("notifications/{}", notification.id),
        warning: format!("warnings/{}", notification.warning_id),
        title: notification.title.clone(),
        community: notification.community.to_string(),
        level: match notification.level {
            1 => pb::NotificationLevel::Street,
            _ => pb::NotificationLevel::District,
        } as i32,
        region: notification.region.to_string(),
        colour: colour_pb(notification.colour) as i32,
        deadline_kind: kind_pb(notification.kind) as i32,
        due_time: Some(to_timestamp(notification.due)),
        create_time: Some(to_timestamp(notification.create_time)),
    }
}
