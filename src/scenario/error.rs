//! Errors in scenario files, always with file, line and column.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// A problem at a place in a scenario file.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}:{column}: {message}{}", file.display(), excerpt.as_deref().map(|e| format!("\n{e}")).unwrap_or_default())]
pub struct ScenarioError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The offending line with a caret under the column.
    pub excerpt: Option<String>,
}

impl ScenarioError {
    /// An error at byte `span` of `source`, the text of `file`.
    pub fn at(
        file: &Path,
        source: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        let offset = span.map(|s| s.start).unwrap_or(0).min(source.len());
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = source[line_start..offset].chars().count() + 1;
        let line_text = source[line_start..].lines().next().unwrap_or("");
        let excerpt = (!line_text.trim().is_empty()).then(|| {
            format!(
                "  {line:>4} | {line_text}\n         {}^",
                " ".repeat(column.saturating_sub(1))
            )
        });
        ScenarioError {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            excerpt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let src = "a = 1\nbé = 2\n";
        let e = ScenarioError::at(Path::new("s.toml"), src, Some(9..10), "bad");
        assert_eq!((e.line, e.column), (2, 3));
        assert!(e.to_string().starts_with("s.toml:2:3: bad\n"), "{e}");
        let e = ScenarioError::at(Path::new("s.toml"), src, None, "whole file");
        assert_eq!((e.line, e.column), (1, 1));
    }
}
