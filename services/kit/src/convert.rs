//! Identifiers, times and dates as the services store and send them: ULID identifiers, RFC 3339
//! UTC text in the database, `google.protobuf.Timestamp` on the wire, `YYYY-MM-DD` dates.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::error::Error;

/// A new resource identifier: a lower-case ULID (26 characters, sortable by creation time).
pub fn new_id() -> String {
    ulid::Ulid::new().to_string().to_ascii_lowercase()
}

/// Database text form of an instant: RFC 3339 in UTC with microseconds, which sorts correctly as
/// text.
pub fn to_db_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Reads a stored instant.
pub fn from_db_time(text: &str) -> Result<DateTime<Utc>, Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::internal(anyhow::anyhow!("stored time {text:?} is not RFC 3339: {e}")))
}

/// An instant as a protobuf timestamp.
pub fn to_timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// A stored instant as a protobuf timestamp.
pub fn db_time_to_timestamp(text: &str) -> Result<prost_types::Timestamp, Error> {
    from_db_time(text).map(to_timestamp)
}

/// Parses a `YYYY-MM-DD` date from `field`, naming the field on error.
pub fn parse_date(field: &str, text: &str) -> Result<NaiveDate, Error> {
    if text.is_empty() {
        return Err(Error::invalid(
            field,
            "FIELD_REQUIRED",
            "a date (YYYY-MM-DD) is required",
        ));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10)
        .ok_or_else(|| {
            Error::invalid(
                field,
                "DATE_INVALID",
                format!("{text:?} is not a date in the form YYYY-MM-DD"),
            )
        })
}

/// Parses an optional date: empty means `default`.
pub fn parse_date_or(field: &str, text: &str, default: NaiveDate) -> Result<NaiveDate, Error> {
    if text.is_empty() {
        Ok(default)
    } else {
        parse_date(field, text)
    }
}

/// A date in `YYYY-MM-DD` form.
pub fn format_date(date: NaiveDate) -> String {
    // Display writes YYYY-MM-DD for years 0..=9999 without interpreting a format string (a
    // measurable share of a point read's CPU); other years cannot pass our validation.
    date.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_formatted_as_iso_calendar_dates_with_padding() {
        let date = NaiveDate::from_ymd_opt(1975, 3, 9).unwrap();
        assert_eq!(format_date(date), "1975-03-09");
        assert_eq!(parse_date("d", &format_date(date)).unwrap(), date);
    }

    #[test]
    fn ids_are_unique_lowercase_and_sortable_text() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id();
        assert_eq!(a.len(), 26);
        assert_eq!(a, a.to_ascii_lowercase());
        assert!(a < b);
    }

    #[test]
    fn stored_times_round_trip_and_sort_as_text() {
        let early: DateTime<Utc> = "2026-01-02T03:04:05.123456Z".parse().unwrap();
        let late: DateTime<Utc> = "2026-01-02T03:04:05.9Z".parse().unwrap();
        assert_eq!(from_db_time(&to_db_time(early)).unwrap(), early);
        assert!(to_db_time(early) < to_db_time(late));
    }

    #[test]
    fn dates_must_be_iso_calendar_dates() {
        assert_eq!(
            parse_date("d", "2024-02-29").unwrap().to_string(),
            "2024-02-29"
        );
        for bad in ["2023-02-29", "2024-2-1", "20240201", "yesterday"] {
            let err = parse_date("birth_date", bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidArgument {
                        reason: "DATE_INVALID",
                        ..
                    }
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_date("d", ""),
            Err(Error::InvalidArgument {
                reason: "FIELD_REQUIRED",
                ..
            })
        ));
    }
}
