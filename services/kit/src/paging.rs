//! AIP-158 pagination: a clamped `page_size` and an opaque, tamper-evident `page_token`.
//!
//! A token is the list cursor sealed with SM4-GCM, bound to the query it came from (parent and
//! filters): a forged token, an edited one, or one replayed against another query is rejected with
//! INVALID_ARGUMENT naming `page_token`. Tokens grant no authority; the caller's scope is checked
//! on every page.

use serde::{Serialize, de::DeserializeOwned};

use crate::{crypto::FieldCipher, error::Error};

/// Page size when the request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Larger requests are served this many.
pub const MAX_PAGE_SIZE: usize = 500;

/// Validates a requested page size: 0 means the default, larger than the maximum is clamped,
/// negative is an error.
pub fn page_size(requested: i32) -> Result<usize, Error> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n < 0 => Err(Error::invalid(
            "page_size",
            "PAGE_SIZE_NEGATIVE",
            "page_size must not be negative",
        )),
        n => Ok((n as usize).min(MAX_PAGE_SIZE)),
    }
}

/// Seals and opens page tokens.
#[derive(Clone)]
pub struct PageTokens {
    cipher: FieldCipher,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens")
    }
}

impl PageTokens {
    /// Page tokens sealed with `cipher` (the page-token key of [`crate::crypto::Keys`]).
    pub fn new(cipher: FieldCipher) -> Self {
        PageTokens { cipher }
    }

    /// The token for the page after `cursor` of the query described by `query`.
    pub fn seal<C: Serialize>(&self, query: &str, cursor: &C) -> String {
        let json = serde_json::to_vec(cursor).expect("cursors serialise to JSON");
        self.cipher.encrypt(&json, &format!("page-token|{query}"))
    }

    /// Trims a page fetched with one look-ahead item (`limit + 1` asked for) back to `limit` and
    /// returns the token of the next page, sealed from the last item kept, or an empty token when
    /// there is no next page.
    pub fn next_page<T, C: Serialize>(
        &self,
        query: &str,
        page: &mut Vec<T>,
        limit: usize,
        cursor: impl FnOnce(&T) -> C,
    ) -> String {
        if page.len() <= limit {
            return String::new();
        }
        page.truncate(limit);
        match page.last() {
            Some(last) => self.seal(query, &cursor(last)),
            None => String::new(),
        }
    }

    /// The cursor in `token`, or `None` for the first page (empty token).
    pub fn open<C: DeserializeOwned>(&self, token: &str, query: &str) -> Result<Option<C>, Error> {
        if token.is_empty() {
            return Ok(None);
        }
        let invalid = || {
            Error::invalid(
                "page_token",
                "PAGE_TOKEN_INVALID",
                "page_token was not issued for this query; start again without it",
            )
        };
        let json = self
            .cipher
            .decrypt(token, &format!("page-token|{query}"))
            .map_err(|_| invalid())?;
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|_| invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keys;

    fn tokens() -> PageTokens {
        PageTokens::new(
            Keys::from_master(&Keys::generate_master())
                .unwrap()
                .page_tokens,
        )
    }

    #[test]
    fn page_size_defaults_to_50_clamps_to_500_and_rejects_negatives() {
        // The documented numbers (AIP-158 as the contracts describe it), not the constants.
        assert_eq!(page_size(0).unwrap(), 50);
        assert_eq!(page_size(7).unwrap(), 7);
        assert_eq!(page_size(500).unwrap(), 500);
        assert_eq!(page_size(501).unwrap(), 500);
        assert_eq!(page_size(100_000).unwrap(), 500);
        assert_eq!(page_size(i32::MAX).unwrap(), 500);
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn a_token_round_trips_for_the_same_query_only() {
        let tokens = tokens();
        let token = tokens.seal(
            "regions/440305000000|status=1",
            &"secretaries/abc".to_owned(),
        );
        let cursor: Option<String> = tokens
            .open(&token, "regions/440305000000|status=1")
            .unwrap();
        assert_eq!(cursor.as_deref(), Some("secretaries/abc"));
        assert!(
            tokens
                .open::<String>(&token, "regions/440306000000|status=1")
                .is_err()
        );
    }

    #[test]
    fn forged_and_edited_tokens_are_rejected() {
        let tokens = tokens();
        assert!(tokens.open::<String>("c2VjcmV0YXJpZXMvYWJj", "q").is_err());
        let token = tokens.seal("q", &"x".to_owned());
        let middle = token.len() / 2;
        let flipped = if &token[middle..=middle] == "A" {
            "B"
        } else {
            "A"
        };
        let edited = format!("{}{flipped}{}", &token[..middle], &token[middle + 1..]);
        assert!(tokens.open::<String>(&edited, "q").is_err());
        assert!(
            tokens.open::<String>("", "q").unwrap().is_none(),
            "empty token is the first page"
        );
    }
}
