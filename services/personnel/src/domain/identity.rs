//! Personal identifiers: the resident ID number (居民身份证号, GB 11643-1999) and the mobile
//! number, parsed at the edge and masked for display.

use chrono::NaiveDate;

use super::Gender;

/// Why an ID number is refused. Each case has its own reason code for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdNumberError {
    /// Not 17 digits followed by a digit or X.
    Format,
    /// The 7th-14th characters are not a real date.
    BirthDate,
    /// The 18th character does not match the ISO 7064 MOD 11-2 check of the first 17.
    CheckDigit {
        /// The check character the first 17 digits call for.
        expected: char,
    },
}

impl IdNumberError {
    /// API reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            IdNumberError::Format => "ID_NUMBER_FORMAT",
            IdNumberError::BirthDate => "ID_NUMBER_BIRTH_DATE",
            IdNumberError::CheckDigit { .. } => "ID_NUMBER_CHECK_DIGIT",
        }
    }

    /// Human-readable rule.
    pub fn describe(&self) -> String {
        match self {
            IdNumberError::Format => {
                "an ID number is 17 digits followed by a digit or X".to_owned()
            }
            IdNumberError::BirthDate => {
                "characters 7-14 of an ID number must be a valid birth date (YYYYMMDD)".to_owned()
            }
            IdNumberError::CheckDigit { expected } => {
                format!(
                    "the check digit (GB 11643, ISO 7064 MOD 11-2) does not match; the first 17 digits call for {expected}"
                )
            }
        }
    }
}

/// A valid 18-character resident ID number, upper-case X.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

/// Weights of the first 17 digits (2^(17-i) mod 11).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder of the weighted sum mod 11.
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

impl IdNumber {
    /// Parses and validates format, embedded birth date and check digit.
    pub fn parse(text: &str) -> Result<IdNumber, IdNumberError> {
        let text = text.trim().to_ascii_uppercase();
        let bytes = text.as_bytes();
        if bytes.len() != 18
            || !bytes[..17].iter().all(u8::is_ascii_digit)
            || !(bytes[17].is_ascii_digit() || bytes[17] == b'X')
        {
            return Err(IdNumberError::Format);
        }
        if NaiveDate::parse_from_str(&text[6..14], "%Y%m%d").is_err() {
            return Err(IdNumberError::BirthDate);
        }
        let sum: u32 = bytes[..17]
            .iter()
            .zip(WEIGHTS)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        let expected = CHECK_CHARS[(sum % 11) as usize];
        if char::from(bytes[17]) != expected {
            return Err(IdNumberError::CheckDigit { expected });
        }
        Ok(IdNumber(text))
    }

    /// The number in full. Personal data: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The birth date encoded in the number.
    pub fn birth_date(&self) -> NaiveDate {
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").expect("validated at parse")
    }

    /// The gender encoded in the 17th digit (odd: male, even: female).
    pub fn gender(&self) -> Gender {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        }
    }

    /// Display form, e.g. `110105************`: the six characters of the region of
    /// registration and nothing else. The birth date (eight characters), serial and check digit
    /// (four) stay hidden: with the birth year and gender a masked reader also sees, a masked
    /// number that kept them would leave only a handful of candidates.
    pub fn masked(&self) -> String {
        format!("{}************", &self.0[..6])
    }
}

impl std::fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

/// A mainland mobile number: 11 digits, starting 13-19.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a mobile number; spaces, dashes and a +86 prefix are tolerated.
    pub fn parse(text: &str) -> Option<PhoneNumber> {
        let digits: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits = digits.strip_prefix("+86").unwrap_or(&digits);
        let b = digits.as_bytes();
        (b.len() == 11
            && b.iter().all(u8::is_ascii_digit)
            && b[0] == b'1'
            && (b'3'..=b'9').contains(&b[1]))
        .then(|| PhoneNumber(digits.to_owned()))
    }

    /// The number in full. Personal data: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Display form, e.g. `138****5678`.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

impl std::fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The GB 11643 example number.
    const VALID: &str = "11010519491231002X";

    #[test]
    fn a_number_with_the_right_check_digit_is_accepted() {
        let id = IdNumber::parse(VALID).unwrap();
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(id.gender(), Gender::Female);
        assert_eq!(
            IdNumber::parse("440305199001011213").unwrap().gender(),
            Gender::Male
        );
    }

    #[test]
    fn a_lower_case_x_is_normalised() {
        assert_eq!(
            IdNumber::parse("11010519491231002x").unwrap().expose(),
            VALID
        );
    }

    #[test]
    fn a_wrong_check_digit_is_refused_and_the_right_one_named() {
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err(IdNumberError::CheckDigit { expected: 'X' })
        );
    }

    #[test]
    fn a_malformed_number_is_refused() {
        for bad in [
            "",
            "11010519491231002",
            "1101051949123100XX",
            "11010519491231002Y",
            "A1010519491231002X",
        ] {
            assert_eq!(IdNumber::parse(bad), Err(IdNumberError::Format), "{bad}");
        }
    }

    #[test]
    fn an_impossible_birth_date_is_refused() {
        assert_eq!(
            IdNumber::parse("110105194902300028"),
            Err(IdNumberError::BirthDate)
        );
    }

    #[test]
    fn masking_keeps_only_the_area_code_and_the_last_four() {
        assert_eq!(
            IdNumber::parse(VALID).unwrap().masked(),
            "110105************"
        );
        assert!(!format!("{:?}", IdNumber::parse(VALID).unwrap()).contains("19491231"));
    }

    #[test]
    fn mobile_numbers_are_validated_and_masked() {
        assert_eq!(
            PhoneNumber::parse("138 0013 8000").unwrap().expose(),
            "13800138000"
        );
        assert_eq!(
            PhoneNumber::parse("+8613800138000").unwrap().masked(),
            "138****8000"
        );
        for bad in ["12800138000", "1380013800", "23800138000", "1380013800a"] {
            assert!(PhoneNumber::parse(bad).is_none(), "{bad}");
        }
    }
}
