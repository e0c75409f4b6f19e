//! What can go wrong importing an OpenAPI document, and where: every error
//! about the document's content names the offending part by its JSON
//! Pointer (RFC 6901), e.g. `/paths/~1pets/get/responses`.

use std::fmt;

/// Why a document could not be turned into a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Bigger than anything that is read (the bound keeps a hostile input
    /// from costing more than a fixed amount of memory).
    #[error("the document is {size} bytes: at most {max} bytes are read")]
    TooLarge { size: usize, max: usize },
    /// Neither JSON nor YAML, or beyond the parser's bounds (nesting,
    /// values, aliases); `message` says where (line and column).
    #[error("not a {format} document: {message}")]
    Syntax {
        format: &'static str,
        message: String,
    },
    /// `--base-url` is not a base URL.
    #[error("--base-url {url:?}: {why}")]
    BaseUrl { url: String, why: String },
    /// The scenario could not be written as TOML (a bug: every value
    /// written is a string, a number or a table of them).
    #[error("cannot write the scenario: {0}")]
    Write(String),
    /// Something in the document, at `pointer`.
    #[error("{}: {message}", Shown(pointer))]
    At { pointer: String, message: String },
}

impl ImportError {
    /// An error about the part of the document at `pointer`.
    pub fn at(pointer: &Ptr, message: impl Into<String>) -> Self {
        ImportError::At {
            pointer: pointer.0.clone(),
            message: message.into(),
        }
    }

    /// The JSON Pointer of the offending part, when the error is about one.
    pub fn pointer(&self) -> Option<&str> {
        match self {
            ImportError::At { pointer, .. } => Some(pointer),
            _ => None,
        }
    }
}

/// A pointer as an error shows it: the empty pointer (the whole document)
/// would read as nothing.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("the document's top level")
        } else {
            f.write_str(self.0)
        }
    }
}

/// A JSON Pointer to a part of the document, built as the importer walks
/// it (each token escaped: `~` as `~0`, `/` as `~1`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ptr(pub String);

impl Ptr {
    /// The whole document.
    pub fn root() -> Self {
        Ptr(String::new())
    }

    /// This pointer, one key or index further.
    pub fn join(&self, token: impl fmt::Display) -> Self {
        let token = token.to_string();
        let mut s = String::with_capacity(self.0.len().saturating_add(token.len()));
        s.push_str(&self.0);
        s.push('/');
        for c in token.chars() {
            match c {
                '~' => s.push_str("~0"),
                '/' => s.push_str("~1"),
                c => s.push(c),
            }
        }
        Ptr(s)
    }
}

impl fmt::Display for Ptr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
