//! Collecting every problem of a request before answering, so a form with three mistakes gets
//! one error naming all three.
//!
//! Each check returns a [`Checked`] value: the parsed value, or the record that it was refused.
//! [`Checks::finish`] fails with every violation, or returns the proof ([`Valid`]) that all
//! passed, which unlocks the values: a handler builds its domain type from them without
//! `Option` tuples or `unreachable!`.

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

/// A value that passed its check, or the mark of one that was refused (and recorded as a
/// violation, so [`Checks::finish`] fails). Only [`Checks`] makes them.
#[derive(Debug, Clone)]
#[must_use]
pub struct Checked<T>(Option<T>);

impl<T> Checked<T> {
    /// The value, if it passed (for rules that span several fields, before finishing).
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }

    /// The value, if it passed.
    pub fn into_option(self) -> Option<T> {
        self.0
    }

    /// Applies `f` to a passed value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Checked<U> {
        Checked(self.0.map(f))
    }
}

/// Proof that every check of a request passed: unlocks the [`Checked`] values.
#[derive(Debug)]
pub struct Valid(());

impl Valid {
    /// The value of a check that passed. A refused check recorded a violation, and then
    /// [`Checks::finish`] returned an error instead of this proof, so the value is there.
    pub fn value<T>(&self, checked: Checked<T>) -> T {
        checked
            .0
            .expect("a refused check records a violation, so no Valid proof exists for it")
    }
}

impl Checks {
    /// No violations yet.
    pub fn new() -> Self {
        Checks::default()
    }

    /// The value, or a refusal after recording why it is invalid.
    pub fn take<T>(&mut self, result: Result<T, Error>) -> Checked<T> {
        Checked(match result {
            Ok(value) => Some(value),
            Err(Error::InvalidArgument { violations, .. }) => {
                self.violations.extend(violations);
                None
            }
            Err(other) => {
                self.other.get_or_insert(other);
                None
            }
        })
    }

    /// A refusal of `field` for `reason` (when a parsed value fails a further rule).
    pub fn refuse<T>(
        &mut self,
        field: &str,
        reason: &'static str,
        description: impl Into<String>,
    ) -> Checked<T> {
        self.rule(true, field, reason, description);
        Checked(None)
    }

    /// `value` when `ok`, else a refusal of `field` for `reason`.
    pub fn require<T>(
        &mut self,
        value: T,
        ok: bool,
        field: &str,
        reason: &'static str,
        description: impl Into<String>,
    ) -> Checked<T> {
        if ok {
            Checked(Some(value))
        } else {
            self.refuse(field, reason, description)
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

    /// The proof that nothing was recorded, or an error with every violation.
    pub fn finish(self) -> Result<Valid, Error> {
        if let Some(other) = self.other {
            return Err(other);
        }
        if self.violations.is_empty() {
            Ok(Valid(()))
        } else {
            Err(Error::invalid_all(self.violations))
        }
    }

    /// A required text of at most `max` characters, trimmed.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> Checked<String> {
        let value = value.trim();
        if value.is_empty() {
            return self.refuse(field, "FIELD_REQUIRED", "a value is required");
        }
        self.optional_text(field, value, max)
    }

    /// An optional text of at most `max` characters without control characters, trimmed.
    pub fn optional_text(&mut self, field: &str, value: &str, max: usize) -> Checked<String> {
        let value = value.trim();
        let length = value.chars().count();
        if length > max {
            return self.refuse(
                field,
                "FIELD_TOO_LONG",
                format!("at most {max} characters, got {length}"),
            );
        }
        if value.chars().any(|c| c.is_control() && c != '\n') {
            return self.refuse(field, "FIELD_INVALID", "control characters are not allowed");
        }
        Checked(Some(value.to_owned()))
    }

    /// A required `YYYY-MM-DD` date, not after `today`.
    pub fn past_date(&mut self, field: &str, value: &str, today: NaiveDate) -> Checked<NaiveDate> {
        match self.take(parse_date(field, value)).0 {
            Some(date) => self.not_future(field, date, today),
            None => Checked(None),
        }
    }

    /// An optional date (empty: `today`), not after `today`.
    pub fn past_date_or_today(
        &mut self,
        field: &str,
        value: &str,
        today: NaiveDate,
    ) -> Checked<NaiveDate> {
        match self.take(parse_date_or(field, value, today)).0 {
            Some(date) => self.not_future(field, date, today),
            None => Checked(None),
        }
    }

    fn not_future(&mut self, field: &str, date: NaiveDate, today: NaiveDate) -> Checked<NaiveDate> {
        self.require(
            date,
            date <= today,
            field,
            "DATE_IN_FUTURE",
            format!("{date} is after today ({today})"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_violation_is_reported_together() {
        let today: NaiveDate = "2026-01-01".parse().unwrap();
        let mut checks = Checks::new();
        let _ = checks.text("display_name", "  ", 50);
        let _ = checks.past_date("birth_date", "2030-01-01", today);
        let _ = checks.past_date("appointment_date", "not a date", today);
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
        let name = checks.text("n", " 王芳 ", 50);
        assert_eq!(name.get().map(String::as_str), Some("王芳"));
        assert!(checks.text("n", &"长".repeat(51), 50).get().is_none());
        assert!(checks.finish().is_err());
    }

    #[test]
    fn a_valid_proof_unlocks_every_checked_value() {
        let today: NaiveDate = "2026-01-01".parse().unwrap();
        let mut checks = Checks::new();
        let name = checks.text("display_name", " 王芳 ", 50);
        let born = checks.past_date("birth_date", "1980-02-03", today);
        let valid = checks.finish().expect("all passed");
        assert_eq!(valid.value(name), "王芳");
        assert_eq!(valid.value(born).to_string(), "1980-02-03");
    }
}
