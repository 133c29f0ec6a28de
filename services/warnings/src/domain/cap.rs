//! Active warnings as CAP 1.2 alerts (OASIS Common Alerting Protocol, the format emergency
//! early-warning systems exchange), inside an Atom feed. The XML is written by quick-xml's serde
//! serializer from the structs below, whose field order is the schema's element order
//! (`services/warnings/cap/CAP-v1.2.xsd`, validated in the tests).
//!
//! Mapping (the README's table is the same):
//! - colour → urgency / severity / responseType: blue (常规问题, respond within 48 h) → Future /
//!   Minor / Monitor; yellow (复杂问题, joint consultation) → Expected / Moderate / Prepare; red
//!   (重大风险, task force) → Immediate / Severe / Execute.
//! - certainty: Observed for a rule-raised warning (a measured reading crossed a threshold),
//!   Likely for one raised by a person, a system or an Open311 request (reported, not measured).
//! - category code → CAP category by [`cap_category`], Other when no closer one applies.
//! - each version of a warning is its own message: identifier `<sender>.<id>.<version>`;
//!   version 1 is msgType Alert, later ones Update referencing version 1.

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;

use super::{Colour, Source, Warning};

/// CAP 1.2's XML namespace.
pub const CAP_NAMESPACE: &str = "urn:oasis:names:tc:emergency:cap:1.2";
/// Atom's XML namespace.
pub const ATOM_NAMESPACE: &str = "http://www.w3.org/2005/Atom";
/// The media type of the feed.
pub const FEED_CONTENT_TYPE: &str = "application/atom+xml; charset=utf-8";

/// A CAP `sender` or `identifier`: 1 to 200 characters, no spaces, commas, `<` or `&`
/// (CAP 1.2 §3.2.1).
pub fn valid_sender(text: &str) -> bool {
    (1..=200).contains(&text.chars().count())
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | '<' | '&'))
}

/// CAP `urgency`, `severity` and `responseType` of a colour.
pub fn colour_terms(colour: Colour) -> (&'static str, &'static str, &'static str) {
    match colour {
        Colour::Blue => ("Future", "Minor", "Monitor"),
        Colour::Yellow => ("Expected", "Moderate", "Prepare"),
        Colour::Red => ("Immediate", "Severe", "Execute"),
    }
}

/// CAP `certainty` of a warning by who raised it.
pub fn certainty(source: Source) -> &'static str {
    match source {
        Source::Rule => "Observed",
        Source::Person | Source::Integration | Source::Open311 => "Likely",
    }
}

/// The CAP category of a warning category code: the closest of CAP's twelve, `Other` when none
/// applies.
pub fn cap_category(code: &str) -> &'static str {
    match code {
        "flood" | "rainstorm" | "typhoon" | "storm" | "heat" | "cold" | "weather" => "Met",
        "landslide" | "earthquake" | "subsidence" => "Geo",
        "fire" | "fire_hazard" => "Fire",
        "public_order" | "security" | "dispute" => "Security",
        "building_safety" | "safety" | "gas_leak" => "Safety",
        "public_health" | "epidemic" | "food_safety" => "Health",
        "water_supply" | "power_outage" | "infrastructure" | "cyberspace" => "Infra",
        "urban_management" | "pollution" | "environment" => "Env",
        "traffic" | "transport" => "Transport",
        "rescue" => "Rescue",
        "hazardous_materials" => "CBRNE",
        _ => "Other",
    }
}

/// China Standard Time, CAP's form: `2026-12-02T08:00:00+08:00` (no fraction, no `Z`).
fn cap_time(time: DateTime<Utc>) -> String {
    let china = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    time.with_timezone(&china)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// A named value (CAP's `parameter`, `eventCode`, `geocode`).
#[derive(Debug, Serialize)]
struct NamedValue {
    #[serde(rename = "valueName")]
    value_name: String,
    value: String,
}

fn named(name: &str, value: impl Into<String>) -> NamedValue {
    NamedValue {
        value_name: name.to_owned(),
        value: value.into(),
    }
}

#[derive(Debug, Serialize)]
struct Area {
    #[serde(rename = "areaDesc")]
    area_desc: String,
    geocode: Vec<NamedValue>,
}

#[derive(Debug, Serialize)]
struct Info {
    language: &'static str,
    category: &'static str,
    event: String,
    #[serde(rename = "responseType")]
    response_type: &'static str,
    urgency: &'static str,
    severity: &'static str,
    certainty: &'static str,
    #[serde(rename = "eventCode")]
    event_code: Vec<NamedValue>,
    #[serde(rename = "senderName")]
    sender_name: &'static str,
    headline: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    parameter: Vec<NamedValue>,
    area: Area,
}

/// One CAP 1.2 `alert`.
#[derive(Debug, Serialize)]
#[serde(rename = "alert")]
struct Alert {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    identifier: String,
    sender: String,
    sent: String,
    status: &'static str,
    #[serde(rename = "msgType")]
    msg_type: &'static str,
    scope: &'static str,
    restriction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    references: Option<String>,
    info: Info,
}

/// The CAP identifier of a version of a warning.
pub fn identifier(sender: &str, warning_id: &str, version: i64) -> String {
    format!("{sender}.{warning_id}.{version}")
}

/// The alert of a warning as it stands; `area_desc` names its community for people.
fn alert(warning: &Warning, sender: &str, area_desc: &str) -> Alert {
    let (urgency, severity, response_type) = colour_terms(warning.colour);
    let first = warning.version <= 1;
    let mut parameter = vec![
        named("shequ:colour", warning.colour.code().to_ascii_lowercase()),
        named("shequ:state", warning.state.code().to_ascii_lowercase()),
        named(
            "shequ:overdue",
            if warning.overdue { "true" } else { "false" },
        ),
        named("shequ:source", warning.source.code().to_ascii_lowercase()),
    ];
    if let Some(due) = warning
        .deadlines
        .last()
        .filter(|d| d.met.is_none() && d.superseded.is_none())
    {
        parameter.push(named("shequ:deadline", cap_time(due.due)));
    }
    Alert {
        xmlns: CAP_NAMESPACE,
        identifier: identifier(sender, &warning.id, warning.version),
        sender: sender.to_owned(),
        sent: cap_time(warning.update_time),
        status: "Actual",
        msg_type: if first { "Alert" } else { "Update" },
        scope: "Restricted",
        restriction: "Government departments and systems granted the warnings of this region",
        references: (!first).then(|| {
            format!(
                "{sender},{},{}",
                identifier(sender, &warning.id, 1),
                cap_time(warning.create_time)
            )
        }),
        info: Info {
            language: "zh-CN",
            category: cap_category(&warning.category),
            event: warning.category.clone(),
            response_type,
            urgency,
            severity,
            certainty: certainty(warning.source),
            event_code: vec![named("shequ:category", warning.category.clone())],
            sender_name: "社区三色预警 Shequ incident warnings",
            headline: warning.title.clone(),
            description: warning.description.clone(),
            parameter,
            area: Area {
                area_desc: area_desc.to_owned(),
                geocode: vec![named("统计用区划代码", warning.region.to_string())],
            },
        },
    }
}

#[derive(Debug, Serialize)]
struct Author {
    name: String,
}

#[derive(Debug, Serialize)]
struct Content {
    #[serde(rename = "@type")]
    media_type: &'static str,
    alert: Alert,
}

#[derive(Debug, Serialize)]
struct Entry {
    id: String,
    title: String,
    updated: String,
    content: Content,
}

#[derive(Debug, Serialize)]
#[serde(rename = "feed")]
struct Feed {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    id: String,
    title: String,
    updated: String,
    author: Author,
    entry: Vec<Entry>,
}

/// The Atom feed of `warnings` (each with its area's description) for `region`, each entry
/// carrying the warning's CAP alert inline; `now` dates an empty feed.
pub fn feed(
    sender: &str,
    region: &str,
    warnings: &[(Warning, String)],
    now: DateTime<Utc>,
) -> Result<String, quick_xml::SeError> {
    let updated = warnings
        .iter()
        .map(|(w, _)| w.update_time)
        .max()
        .unwrap_or(now);
    let feed = Feed {
        xmlns: ATOM_NAMESPACE,
        id: format!("urn:shequ:warnings:cap:{sender}:{region}"),
        title: format!("Active warnings (三色预警) of region {region}"),
        updated: cap_time(updated),
        author: Author {
            name: sender.to_owned(),
        },
        entry: warnings
            .iter()
            .map(|(warning, area)| {
                let alert = alert(warning, sender, area);
                Entry {
                    id: format!("urn:shequ:warnings:cap:{}", alert.identifier),
                    title: warning.title.clone(),
                    updated: alert.sent.clone(),
                    content: Content {
                        media_type: "application/cap+xml",
                        alert,
                    },
                }
            })
            .collect(),
    };
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let mut serializer = quick_xml::se::Serializer::new(&mut xml);
    serializer.indent(' ', 1);
    feed.serialize(serializer)?;
    xml.push('\n');
    Ok(xml)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewWarning, Policy, State};
    use shequ_kit::regions::RegionCode;

    fn warning(colour: Colour, source: Source) -> Warning {
        let now = DateTime::parse_from_rfc3339("2026-12-01T16:00:00Z")
            .unwrap()
            .to_utc();
        Warning::raise(
            "01W".into(),
            "01H".into(),
            NewWarning {
                title: "积水 <30 cm> & rising".into(),
                description: String::new(),
                colour,
                category: "flood".into(),
                region: RegionCode::parse("440305001001").unwrap(),
                assignee: None,
                source,
                rule: None,
            },
            "tester",
            &Policy::default(),
            now,
        )
        .0
    }

    #[test]
    fn colours_map_to_rising_urgency_severity_and_response() {
        assert_eq!(colour_terms(Colour::Blue), ("Future", "Minor", "Monitor"));
        assert_eq!(
            colour_terms(Colour::Yellow),
            ("Expected", "Moderate", "Prepare")
        );
        assert_eq!(
            colour_terms(Colour::Red),
            ("Immediate", "Severe", "Execute")
        );
    }

    #[test]
    fn a_measured_warning_is_observed_and_a_reported_one_likely() {
        assert_eq!(certainty(Source::Rule), "Observed");
        assert_eq!(certainty(Source::Open311), "Likely");
        assert_eq!(certainty(Source::Person), "Likely");
    }

    #[test]
    fn categories_fall_back_to_other() {
        assert_eq!(cap_category("flood"), "Met");
        assert_eq!(cap_category("fire_hazard"), "Fire");
        assert_eq!(cap_category("noise"), "Other");
    }

    #[test]
    fn times_carry_an_offset_and_no_fraction() {
        let t = DateTime::parse_from_rfc3339("2026-12-01T16:00:00.123Z")
            .unwrap()
            .to_utc();
        assert_eq!(cap_time(t), "2026-12-02T00:00:00+08:00");
    }

    #[test]
    fn senders_refuse_spaces_commas_and_markup() {
        assert!(valid_sender("warnings.gd.gov.cn"));
        for bad in ["", "a b", "a,b", "a<b", "a&b"] {
            assert!(!valid_sender(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_first_version_is_an_alert_and_later_ones_update_it() {
        let mut w = warning(Colour::Red, Source::Rule);
        let xml = feed(
            "s",
            "440305000000",
            &[(w.clone(), "社区".into())],
            w.create_time,
        )
        .unwrap();
        assert!(xml.contains("<msgType>Alert</msgType>"), "{xml}");
        assert!(!xml.contains("<references>"));
        assert!(xml.contains("<urgency>Immediate</urgency>"));
        assert!(xml.contains("<certainty>Observed</certainty>"));
        // text is escaped by the serializer, never spliced in
        assert!(xml.contains("积水 &lt;30 cm&gt; &amp; rising"), "{xml}");
        w.version = 3;
        w.state = State::Acknowledged;
        let xml = feed("s", "440305000000", &[(w, "社区".into())], Utc::now()).unwrap();
        assert!(xml.contains("<msgType>Update</msgType>"));
        assert!(xml.contains("<identifier>s.01W.3</identifier>"));
        assert!(xml.contains("<references>s,s.01W.1,2026-12-02T00:00:00+08:00</references>"));
    }
}
