//! `google.api.http` path templates (see `google/api/http.proto`): parsing, matching a request
//! path and extracting the variables, and an ordering that makes overlapping templates match
//! deterministically.
//!
//! ```text
//! Template = "/" Segments [ Verb ] ;
//! Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb     = ":" LITERAL ;
//! ```

use std::{borrow::Cow, cmp::Ordering, fmt};

use percent_encoding::percent_decode_str;

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches exactly this text (after percent-decoding the request segment).
    Literal(String),
    /// `*`: exactly one non-empty segment.
    Single,
    /// `**`: zero or more segments; only last.
    Multi,
}

/// A `{field.path=...}` variable covering `segments[start..end]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Field path in the request message, e.g. `["secretary", "name"]`.
    pub field_path: Vec<String>,
    /// First template segment of the variable.
    pub start: usize,
    /// One past its last template segment.
    pub end: usize,
}

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    /// The template as written in the proto, e.g. `/v1/{name=secretaries/*}:promote`.
    pub source: String,
    /// The segments, variables expanded in place.
    pub segments: Vec<Segment>,
    /// The variables, in order.
    pub variables: Vec<Variable>,
    /// Custom verb without the colon, e.g. `promote`.
    pub verb: Option<String>,
}

/// Why a template is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path template {template:?}: {problem} at byte {position}")]
pub struct TemplateError {
    template: String,
    problem: &'static str,
    position: usize,
}

/// A request path split once into raw (still percent-encoded) segments, reused across templates.
#[derive(Debug)]
pub struct RequestPath<'a> {
    raw: &'a str,
}

impl<'a> RequestPath<'a> {
    /// Wraps the path part of a request URI.
    pub fn new(raw: &'a str) -> Self {
        RequestPath { raw }
    }
}

/// A variable bound by a match: field path and decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Index of the variable in [`PathTemplate::variables`].
    pub variable: usize,
    /// Decoded value.
    pub value: String,
}

impl PathTemplate {
    /// Parses a template.
    pub fn parse(source: &str) -> Result<PathTemplate, TemplateError> {
        Parser {
            source,
            pos: 0,
            segments: Vec::new(),
            variables: Vec::new(),
        }
        .template()
    }

    /// Matches `path`, returning the variable bindings, or `None` when the path does not fit.
    /// Bindings that are not valid UTF-8 after percent-decoding do not match.
    pub fn matches(&self, path: &RequestPath<'_>) -> Option<Vec<Binding>> {
        let mut raw = path.raw.strip_prefix('/')?;
        if let Some(verb) = &self.verb {
            raw = raw.strip_suffix(verb.as_str())?.strip_suffix(':')?;
        }
        let parts: Vec<&str> = raw.split('/').collect();
        let multi = matches!(self.segments.last(), Some(Segment::Multi));
        let fixed = self.segments.len() - usize::from(multi);
        if parts.len() < fixed || (!multi && parts.len() != fixed) {
            return None;
        }
        for (segment, part) in self.segments.iter().zip(&parts) {
            match segment {
                Segment::Literal(literal) => {
                    if decode(part, false)?.as_ref() != literal {
                        return None;
                    }
                }
                Segment::Single => {
                    if part.is_empty() {
                        return None;
                    }
                }
                Segment::Multi => {}
            }
        }
        let mut bindings = Vec::with_capacity(self.variables.len());
        for (index, variable) in self.variables.iter().enumerate() {
            // A variable ending in `**` takes every remaining segment.
            let end = if multi && variable.end == self.segments.len() {
                parts.len()
            } else {
                variable.end
            };
            let covered = &parts[variable.start..end];
            let single = variable.end - variable.start == 1
                && self.segments[variable.start] != Segment::Multi;
            let value = if single {
                decode(covered[0], false)?.into_owned()
            } else {
                // Multi-segment values keep an encoded slash so it stays distinguishable from a
                // separator (the "reserved expansion" of RFC 6570, as http.proto specifies).
                let mut value = String::new();
                for (i, part) in covered.iter().enumerate() {
                    if i > 0 {
                        value.push('/');
                    }
                    value.push_str(&decode(part, true)?);
                }
                value
            };
            bindings.push(Binding {
                variable: index,
                value,
            });
        }
        Some(bindings)
    }

    /// Specificity order: templates with a verb first, then literals before `*` before `**`
    /// segment by segment, then more segments first. Overlapping templates are tried in this
    /// order, so `/v1/{name=secretaries/*}:promote` wins over `/v1/{name=secretaries/*}` and
    /// `/v1/secretaries/summary` over `/v1/secretaries/*` whatever the declaration order.
    pub fn specificity(&self, other: &PathTemplate) -> Ordering {
        fn rank(segment: &Segment) -> u8 {
            match segment {
                Segment::Literal(_) => 0,
                Segment::Single => 1,
                Segment::Multi => 2,
            }
        }
        other
            .verb
            .is_some()
            .cmp(&self.verb.is_some())
            .then_with(|| {
                let mine = self.segments.iter().map(rank);
                let theirs = other.segments.iter().map(rank);
                mine.cmp(theirs)
            })
            .then_with(|| other.segments.len().cmp(&self.segments.len()))
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Percent-decodes one segment; with `keep_slash`, `%2F` stays encoded. `None` if the result is not
/// UTF-8.
fn decode(segment: &str, keep_slash: bool) -> Option<Cow<'_, str>> {
    if !segment.contains('%') {
        return Some(Cow::Borrowed(segment));
    }
    if keep_slash {
        let mut out = String::with_capacity(segment.len());
        for (i, piece) in split_keeping_encoded_slash(segment).enumerate() {
            if i > 0 {
                out.push_str("%2F");
            }
            out.push_str(&percent_decode_str(piece).decode_utf8().ok()?);
        }
        return Some(Cow::Owned(out));
    }
    percent_decode_str(segment).decode_utf8().ok()
}

fn split_keeping_encoded_slash(segment: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(segment);
    std::iter::from_fn(move || {
        let current = rest?;
        let lower = current.find("%2F");
        let upper = current.find("%2f");
        let at = match (lower, upper) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match at {
            Some(i) => {
                rest = Some(&current[i + 3..]);
                Some(&current[..i])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

struct Parser<'a> {
    source: &'a str,
    pos: usize,
    segments: Vec<Segment>,
    variables: Vec<Variable>,
}

impl Parser<'_> {
    fn fail<T>(&self, problem: &'static str) -> Result<T, TemplateError> {
        Err(TemplateError {
            template: self.source.to_owned(),
            problem,
            position: self.pos,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.source.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn template(mut self) -> Result<PathTemplate, TemplateError> {
        if !self.eat(b'/') {
            return self.fail("must start with '/'");
        }
        self.segments_until(false)?;
        let verb = if self.eat(b':') {
            let verb = self.literal();
            if verb.is_empty() {
                return self.fail("empty verb");
            }
            Some(verb)
        } else {
            None
        };
        if self.pos != self.source.len() {
            return self.fail("unexpected character");
        }
        if let Some(i) = self.segments.iter().position(|s| *s == Segment::Multi)
            && i + 1 != self.segments.len()
        {
            return self.fail("'**' must be the last segment");
        }
        Ok(PathTemplate {
            source: self.source.to_owned(),
            segments: self.segments,
            variables: self.variables,
            verb,
        })
    }

    /// Segments separated by '/'; inside a variable no nested variables are allowed.
    fn segments_until(&mut self, in_variable: bool) -> Result<(), TemplateError> {
        loop {
            match self.peek() {
                Some(b'*') => {
                    self.pos += 1;
                    if self.eat(b'*') {
                        self.segments.push(Segment::Multi);
                    } else {
                        self.segments.push(Segment::Single);
                    }
                }
                Some(b'{') if !in_variable => self.variable()?,
                Some(b'{') => return self.fail("nested variable"),
                _ => {
                    let literal = self.literal();
                    if literal.is_empty() {
                        return self.fail("empty segment");
                    }
                    self.segments.push(Segment::Literal(literal));
                }
            }
            if !self.eat(b'/') {
                return Ok(());
            }
        }
    }

    fn variable(&mut self) -> Result<(), TemplateError> {
        self.pos += 1; // '{'
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
                self.pos += 1;
            } else {
                break;
            }
        }
        let path = &self.source[start..self.pos];
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return self.fail("bad field path");
        }
        let first = self.segments.len();
        if self.eat(b'=') {
            self.segments_until(true)?;
        } else {
            self.segments.push(Segment::Single);
        }
        if !self.eat(b'}') {
            return self.fail("expected '}'");
        }
        self.variables.push(Variable {
            field_path: path.split('.').map(str::to_owned).collect(),
            start: first,
            end: self.segments.len(),
        });
        Ok(())
    }

    fn literal(&mut self) -> String {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if matches!(b, b'/' | b':' | b'{' | b'}' | b'*' | b'=') {
                break;
            }
            self.pos += 1;
        }
        self.source[start..self.pos].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(source: &str) -> PathTemplate {
        PathTemplate::parse(source).unwrap()
    }

    fn bind(template: &str, path: &str) -> Option<Vec<(String, String)>> {
        let template = t(template);
        template.matches(&RequestPath::new(path)).map(|bindings| {
            bindings
                .into_iter()
                .map(|b| (template.variables[b.variable].field_path.join("."), b.value))
                .collect()
        })
    }

    fn pairs(items: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            items
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_resource_name_variable_binds_the_whole_name() {
        assert_eq!(
            bind("/v1/{name=secretaries/*}", "/v1/secretaries/01HX"),
            pairs(&[("name", "secretaries/01HX")])
        );
        assert_eq!(bind("/v1/{name=secretaries/*}", "/v1/secretaries"), None);
        assert_eq!(
            bind("/v1/{name=secretaries/*}", "/v1/secretaries/"),
            None,
            "a wildcard needs a non-empty segment"
        );
        assert_eq!(
            bind("/v1/{name=secretaries/*}", "/v1/secretaries/a/b"),
            None
        );
        assert_eq!(
            bind("/v1/{name=secretaries/*}", "/v1/reserveCandidates/a"),
            None
        );
    }

    #[test]
    fn nested_field_paths_and_trailing_literals() {
        assert_eq!(
            bind("/v1/{secretary.name=secretaries/*}", "/v1/secretaries/x"),
            pairs(&[("secretary.name", "secretaries/x")])
        );
        assert_eq!(
            bind(
                "/v1/{parent=regions/*}/secretaries",
                "/v1/regions/440305000000/secretaries"
            ),
            pairs(&[("parent", "regions/440305000000")])
        );
        assert_eq!(
            bind(
                "/v1/{name=provinces/*/negativeListItems/*}",
                "/v1/provinces/44/negativeListItems/NL01"
            ),
            pairs(&[("name", "provinces/44/negativeListItems/NL01")])
        );
    }

    #[test]
    fn a_bare_variable_is_one_segment_and_several_variables_bind_in_order() {
        assert_eq!(
            bind(
                "/v1/shelves/{shelf}/books/{book}",
                "/v1/shelves/s1/books/b2"
            ),
            pairs(&[("shelf", "s1"), ("book", "b2")])
        );
    }

    #[test]
    fn custom_verbs_must_be_present_and_are_stripped() {
        let promote = "/v1/{name=secretaries/*}:promote";
        assert_eq!(
            bind(promote, "/v1/secretaries/x:promote"),
            pairs(&[("name", "secretaries/x")])
        );
        assert_eq!(bind(promote, "/v1/secretaries/x"), None);
        assert_eq!(bind(promote, "/v1/secretaries/x:demote"), None);
        assert_eq!(bind(promote, "/v1/secretaries/:promote"), None);
        // a colon inside the name is kept
        assert_eq!(
            bind(promote, "/v1/secretaries/a:b:promote"),
            pairs(&[("name", "secretaries/a:b")])
        );
    }

    #[test]
    fn percent_encoding_is_decoded_but_an_encoded_slash_stays_in_its_segment() {
        assert_eq!(
            bind("/v1/{name=secretaries/*}", "/v1/secretaries/%E7%8E%8B%20x"),
            pairs(&[("name", "secretaries/王 x")])
        );
        assert_eq!(
            bind("/v1/{name=secretaries/*}", "/v1/secretaries/a%2Fb"),
            pairs(&[("name", "secretaries/a%2Fb")])
        );
        assert_eq!(
            bind("/v1/{id}", "/v1/a%2Fb"),
            pairs(&[("id", "a/b")]),
            "single-segment values decode fully"
        );
        assert_eq!(bind("/v1/{id}", "/v1/%FF"), None, "not UTF-8");
        assert_eq!(
            bind("/v1/s%65cretaries", "/v1/secretaries"),
            None,
            "templates are not decoded"
        );
        assert_eq!(
            bind("/v1/secretaries", "/v1/s%65cretaries"),
            pairs(&[]),
            "request literals are"
        );
    }

    #[test]
    fn a_double_wildcard_takes_the_rest_of_the_path() {
        assert_eq!(
            bind("/v1/{path=files/**}", "/v1/files/a/b/c"),
            pairs(&[("path", "files/a/b/c")])
        );
        assert_eq!(
            bind("/v1/{path=files/**}", "/v1/files"),
            pairs(&[("path", "files")])
        );
        assert_eq!(bind("/v1/{path=**}", "/v1/x/y"), pairs(&[("path", "x/y")]));
        assert_eq!(
            bind("/v1/{path=**}:get", "/v1/x/y:get"),
            pairs(&[("path", "x/y")])
        );
    }

    #[test]
    fn malformed_templates_are_refused() {
        for bad in [
            "v1/x",
            "/v1/{name",
            "/v1/{=x}",
            "/v1/{a.=x}",
            "/v1/**/x",
            "/v1/{a={b}}",
            "/v1//x",
            "/v1/x:",
            "/v1/x}",
        ] {
            assert!(PathTemplate::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn overlapping_templates_are_ordered_by_specificity() {
        let mut templates = [
            t("/v1/{name=secretaries/*}"),
            t("/v1/{path=**}"),
            t("/v1/{name=secretaries/*}:promote"),
            t("/v1/secretaries/summary"),
        ];
        templates.sort_by(|a, b| a.specificity(b));
        let order: Vec<&str> = templates.iter().map(|t| t.source.as_str()).collect();
        assert_eq!(
            order,
            [
                "/v1/{name=secretaries/*}:promote",
                "/v1/secretaries/summary",
                "/v1/{name=secretaries/*}",
                "/v1/{path=**}"
            ]
        );
    }
}
