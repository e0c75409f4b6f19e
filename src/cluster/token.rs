//! Join tokens: a shared secret that a worker shows in its Hello. Compared in
//! constant time; never logged or printed.

use std::path::Path;

use subtle::ConstantTimeEq;

/// A join token. Its Debug output hides the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the token file {path}: {error}")]
    File { path: String, error: std::io::Error },
    #[error("the token {0} is empty")]
    Empty(String),
    #[error(
        "no join token: give --token-file FILE or set VOLLEY_TOKEN (the same on the master and its workers)"
    )]
    Missing,
}

impl Token {
    pub fn new(value: impl Into<String>) -> Result<Self, TokenError> {
        let v = value.into().trim().to_owned();
        if v.is_empty() {
            return Err(TokenError::Empty("value".into()));
        }
        Ok(Token(v))
    }

    /// A random token, for a master and workers started together.
    pub fn generate() -> Self {
        Token(uuid::Uuid::new_v4().simple().to_string())
    }

    /// From --token-file, else VOLLEY_TOKEN.
    pub fn from_flag_or_env(file: Option<&Path>) -> Result<Self, TokenError> {
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|error| TokenError::File {
                path: path.display().to_string(),
                error,
            })?;
            return Token::new(text).map_err(|_| TokenError::Empty(path.display().to_string()));
        }
        match std::env::var("VOLLEY_TOKEN") {
            Ok(v) => Token::new(v).map_err(|_| TokenError::Empty("in VOLLEY_TOKEN".into())),
            Err(_) => Err(TokenError::Missing),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with what a peer sent.
    pub fn matches(&self, offered: &str) -> bool {
        self.0.as_bytes().ct_eq(offered.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_and_hide() {
        let t = Token::new(" s3cret\n").unwrap();
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre"));
        assert!(!t.matches(""));
        assert_eq!(format!("{t:?}"), "Token(..)");
        assert!(Token::new("  ").is_err());
        assert_ne!(Token::generate(), Token::generate());
    }
}
