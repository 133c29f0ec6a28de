//! Collecting every problem of a request before answering, so a form with three mistakes gets
//! one error naming all three.

use crate::{
    Error,
    convert::{parse_date, parse_date_or},
    error::Violation,
};
use chrono::NaiveDate;

/// Accumulates field violations; other errors are kept and win.
#[derive(Debug, Default)]
pub struct Checks {
    violations: Vec<Violation>,
    other: Option<Error>,
}

impl Checks {
    pub fn new() -> Self {
        Checks::default()
    }

    /// The value, or `None` after recording why it is invalid.
    pub fn take<T>(&mut self, result: Result<T, Error>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(Error::InvalidArgument { violations, .. }) => {
                self.violations.extend(violations);
                None
            }
            Err(other) => {
                self.other.get_or_insert(other);
                None
            }
        }
    }

    /// Records a rule broken by `field` when `broken`.
    pub fn rule(
        &mut self,
        broken: bool,
        field: &str,
        reason: &'static str,
        description: impl Into<String>,
    ) {
        if broken {
            self.violations
                .push(Violation::new(field, reason, description));
        }
    }

    /// Ok when nothing was recorded.
    pub fn finish(self) -> Result<(), Error> {
        if let Some(other) = self.other {
            return Err(other);
        }
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid_all(self.violations))
        }
    }

    /// A required text of at most `max` characters, trimmed.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        let value = value.trim();
        if value.is_empty() {
            self.rule(true, field, "FIELD_REQUIRED", "a value is required");
            return None;
        }
        self.optional_text(field, value, max)
    }

    /// An optional text of at most `max` characters without control characters, trimmed.
    pub fn optional_text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        let value = value.trim();
        let length = value.chars().count();
        if length > max {
            self.rule(
                true,
                field,
                "FIELD_TOO_LONG",
                format!("at most {max} characters, got {length}"),
            );
            return None;
        }
        if value.chars().any(|c| c.is_control() && c != '\n') {
            self.rule(
                true,
                field,
                "FIELD_INVALID",
                "control characters are not allowed",
            );
            return None;
        }
        Some(value.to_owned())
    }

    /// A required `YYYY-MM-DD` date, not after `today`.
    pub fn past_date(&mut self, field: &str, value: &str, today: NaiveDate) -> Option<NaiveDate> {
        let date = self.take(parse_date(field, value))?;
        self.not_future(field, date, today)
    }

    /// An optional date (empty: `today`), not after `today`.
    pub fn past_date_or_today(
        &mut self,
        field: &str,
        value: &str,
        today: NaiveDate,
    ) -> Option<NaiveDate> {
        let date = self.take(parse_date_or(field, value, today))?;
        self.not_future(field, date, today)
    }

    fn not_future(&mut self, field: &str, date: NaiveDate, today: NaiveDate) -> Option<NaiveDate> {
        if date > today {
            self.rule(
                true,
                field,
                "DATE_IN_FUTURE",
                format!("{date} is after today ({today})"),
            );
            return None;
        }
        Some(date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_violation_is_reported_together() {
        let today: NaiveDate = "2026-01-01".parse().unwrap();
        let mut checks = Checks::new();
        checks.text("display_name", "  ", 50);
        checks.past_date("birth_date", "2030-01-01", today);
        checks.past_date("appointment_date", "not a date", today);
        let Err(Error::InvalidArgument { violations, .. }) = checks.finish() else {
            panic!("expected a validation error");
        };
        let fields: Vec<_> = violations
            .iter()
            .map(|v| (v.field.as_str(), v.reason))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("display_name", "FIELD_REQUIRED"),
                ("birth_date", "DATE_IN_FUTURE"),
                ("appointment_date", "DATE_INVALID")
            ]
        );
    }

    #[test]
    fn texts_are_trimmed_and_bounded() {
        let mut checks = Checks::new();
        assert_eq!(checks.text("n", " 王芳 ", 50).as_deref(), Some("王芳"));
        assert!(checks.text("n", &"长".repeat(51), 50).is_none());
        assert!(checks.finish().is_err());
    }
}
