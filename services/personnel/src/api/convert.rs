//! Conversions between the wire contract and the domain types. Enum values from the wire are
//! parsed here so that an unknown or unspecified value is a clear field error.

use shequ_kit::{
    aip::etag,
    convert::{format_date, to_timestamp},
};
use shequ_proto::personnel::v1 as pb;

use super::names::secretary_name;
use crate::domain::{
    CareerEvent, Education, Gender, NegativeListItem, PoliticalStatus, Readiness, ReserveCandidate,
    ReserveStatus, Secretary, Status, Violation,
    career::{EventType, Ladder, Rung},
};

shequ_kit::wire_enum!(gender, gender_pb, pb::Gender, Gender { Male <=> Male, Female <=> Female });
shequ_kit::wire_enum!(education, education_pb, pb::Education, Education {
    JuniorSecondaryOrBelow <=> JuniorSecondaryOrBelow,
    SeniorSecondary <=> SeniorSecondary,
    JuniorCollege <=> JuniorCollege,
    Bachelor <=> Bachelor,
    Master <=> Master,
    Doctorate <=> Doctorate,
});
shequ_kit::wire_enum!(political_status, political_status_pb, pb::PoliticalStatus, PoliticalStatus {
    Unspecified <=> Unspecified,
    CpcMember <=> CpcMember,
    CpcProbationaryMember <=> CpcProbationaryMember,
    CylMember <=> CylMember,
    DemocraticPartyMember <=> DemocraticPartyMember,
    Masses <=> Masses,
});
shequ_kit::wire_enum!(status, status_pb, pb::SecretaryStatus, Status {
    Active <=> Active,
    Transferred <=> Transferred,
    Departed <=> Departed,
    Retired <=> Retired,
    Removed <=> Removed,
});
shequ_kit::wire_enum!(ladder, ladder_pb, pb::Ladder, Ladder { Management <=> Management, Professional <=> Professional });
shequ_kit::wire_enum!(rung, rung_pb, pb::Rung, Rung {
    Secretary <=> Secretary,
    AreaDirector <=> AreaDirector,
    StreetLeader <=> StreetLeader,
    ChiefGovernanceExpert <=> ChiefGovernanceExpert,
    ThinkTankAdvisor <=> ThinkTankAdvisor,
});
shequ_kit::wire_enum!(event_type, event_type_pb, pb::CareerEventType, EventType {
    Appointment <=> Appointment,
    Promotion <=> Promotion,
    Transfer <=> Transfer,
    Reassignment <=> Reassignment,
    TitlePromotion <=> TitlePromotion,
    Departure <=> Departure,
    Retirement <=> Retirement,
    Removal <=> Removal,
    Correction <=> Correction,
});
shequ_kit::wire_enum!(readiness, readiness_pb, pb::Readiness, Readiness {
    ReadyNow <=> ReadyNow,
    ReadyWithinOneYear <=> ReadyWithinOneYear,
    Developing <=> Developing,
});
shequ_kit::wire_enum!(reserve_status, reserve_status_pb, pb::ReserveStatus, ReserveStatus {
    InPool <=> InPool,
    Appointed <=> Appointed,
    Withdrawn <=> Withdrawn,
});

/// A secretary on the wire, personal data masked unless `unmasked`.
pub(crate) fn secretary_pb(s: &Secretary, unmasked: bool) -> pb::Secretary {
    pb::Secretary {
        name: secretary_name(&s.id),
        display_name: s.display_name.clone(),
        gender: gender_pb(s.gender) as i32,
        // The date is half of the ID number: the masked view keeps the year only.
        birth_date: if unmasked {
            format_date(s.birth_date)
        } else {
            String::new()
        },
        birth_year: chrono::Datelike::year(&s.birth_date),
        tenure: s.tenure,
        id_number: if unmasked {
            s.id_number.expose().to_owned()
        } else {
            s.id_number.masked()
        },
        phone_number: s
            .phone_number
            .as_ref()
            .map(|p| {
                if unmasked {
                    p.expose().to_owned()
                } else {
                    p.masked()
                }
            })
            .unwrap_or_default(),
        education: education_pb(s.education) as i32,
        political_status: political_status_pb(s.political_status) as i32,
        region: s.region.to_string(),
        appointment_date: format_date(s.appointment_date),
        community_work_start_date: format_date(s.community_work_start),
        status: status_pb(s.status) as i32,
        ladder: s.ladder.map_or(pb::Ladder::Unspecified, ladder_pb) as i32,
        rung: rung_pb(s.rung) as i32,
        rung_since: format_date(s.rung_since),
        professional_title: s.professional_title.clone(),
        personal_data_masked: !unmasked,
        etag: etag(s.version),
        create_time: Some(to_timestamp(s.create_time)),
        update_time: Some(to_timestamp(s.update_time)),
    }
}

/// The name of a career event.
pub(crate) fn event_name(secretary_id: &str, event_id: &str) -> String {
    format!("{}/careerEvents/{event_id}", secretary_name(secretary_id))
}

/// A career event on the wire (its date in force is its own; see [`event_in_force_pb`]).
pub(crate) fn event_pb(e: &CareerEvent) -> pb::CareerEvent {
    pb::CareerEvent {
        name: event_name(&e.secretary_id, &e.id),
        corrects: e
            .corrects
            .as_deref()
            .map(|id| event_name(&e.secretary_id, id))
            .unwrap_or_default(),
        current_effective_date: format_date(e.effective_date),
        r#type: event_type_pb(e.kind) as i32,
        effective_date: format_date(e.effective_date),
        ladder: e.ladder.map_or(pb::Ladder::Unspecified, ladder_pb) as i32,
        from_rung: e.from_rung.map_or(pb::Rung::Unspecified, rung_pb) as i32,
        to_rung: e.to_rung.map_or(pb::Rung::Unspecified, rung_pb) as i32,
        from_region: e.from_region.map(|r| r.to_string()).unwrap_or_default(),
        to_region: e.to_region.map(|r| r.to_string()).unwrap_or_default(),
        destination: e.destination.clone(),
        title: e.title.clone(),
        note: e.note.clone(),
        recorded_by: e.recorded_by.clone(),
        create_time: Some(to_timestamp(e.create_time)),
    }
}

/// A career event on the wire with its date in force, given the whole history it belongs to.
pub(crate) fn event_in_force_pb(e: &CareerEvent, history: &[CareerEvent]) -> pb::CareerEvent {
    let mut wire = event_pb(e);
    if let Some((_, date)) = crate::domain::in_force(history)
        .into_iter()
        .find(|(event, _)| event.id == e.id)
    {
        wire.current_effective_date = format_date(date);
    }
    wire
}

/// A catalogue item on the wire.
pub(crate) fn item_pb(item: &NegativeListItem) -> pb::NegativeListItem {
    pb::NegativeListItem {
        name: format!(
            "provinces/{}/negativeListItems/{}",
            item.province, item.code
        ),
        title: item.title.clone(),
        description: item.description.clone(),
        active: item.active,
        etag: etag(item.version),
    }
}

/// A violation on the wire.
pub(crate) fn violation_pb(v: &Violation) -> pb::Violation {
    pb::Violation {
        name: format!("{}/violations/{}", secretary_name(&v.secretary_id), v.id),
        negative_list_item: format!("provinces/{}/negativeListItems/{}", v.province, v.item_code),
        occurred_on: format_date(v.occurred_on),
        evidence: v.evidence.clone(),
        recorded_by: v.recorded_by.clone(),
        create_time: Some(to_timestamp(v.create_time)),
    }
}

/// A reserve candidate on the wire; the ID number always masked.
pub(crate) fn candidate_pb(c: &ReserveCandidate) -> pb::ReserveCandidate {
    pb::ReserveCandidate {
        id_number: c
            .id_number
            .as_ref()
            .map(crate::domain::identity::IdNumber::masked)
            .unwrap_or_default(),
        secretary: c.secretary.clone().unwrap_or_default(),
        name: format!("reserveCandidates/{}", c.id),
        display_name: c.display_name.clone(),
        gender: c.gender.map_or(pb::Gender::Unspecified, gender_pb) as i32,
        birth_date: format_date(c.birth_date),
        education: education_pb(c.education) as i32,
        region: c.region.to_string(),
        readiness: readiness_pb(c.readiness) as i32,
        status: reserve_status_pb(c.status) as i32,
        pool_entry_date: format_date(c.pool_entry_date),
        note: c.note.clone(),
        etag: etag(c.version),
        create_time: Some(to_timestamp(c.create_time)),
        update_time: Some(to_timestamp(c.update_time)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_is_none_and_unknown_is_an_error() {
        assert_eq!(gender("g", 0).unwrap(), None);
        assert_eq!(gender("g", 1).unwrap(), Some(Gender::Male));
        assert!(gender("g", 99).is_err());
        assert!(shequ_kit::aip::required_enum("g", gender("g", 0)).is_err());
    }
}
