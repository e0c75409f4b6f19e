//! Test vectors (servers/model/vectors.jsonl): texts with the category the
//! model must give them. Every implementation of the API, in every language,
//! must answer all of them exactly.

use serde::{Deserialize, Serialize};

use crate::model::Model;
use crate::train::Example;

/// One line of vectors.jsonl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vector {
    pub text: String,
    pub category: usize,
    pub label: String,
}

/// Texts that probe the tokenizer's edges, added to the held-out samples.
const EDGE_TEXTS: &[&str] = &[
    "!!!",
    "GOAL",
    "Café naïve résumé: über-fast chips 🚀🚀",
    "The   quick\tbrown\nfox",
    "2026-11-27 12:00:00 UTC",
    "snake_case, kebab-case and CamelCase identifiers in a pull request",
];

/// Picks `n` vectors: the edge texts, then held-out texts spread evenly over
/// their length order (short to long), with the model's answers.
pub fn pick(model: &Model, held_out: &[Example], n: usize) -> Vec<Vector> {
    let mut texts: Vec<&str> = EDGE_TEXTS.iter().copied().take(n).collect();
    let mut by_len: Vec<&Example> = held_out.iter().collect();
    by_len.sort_by(|a, b| a.text.len().cmp(&b.text.len()).then(a.text.cmp(&b.text)));
    let want = n.saturating_sub(texts.len());
    if want > 0 && !by_len.is_empty() {
        for i in 0..want.min(by_len.len()) {
            texts.push(&by_len[i * by_len.len() / want.min(by_len.len())].text);
        }
    }
    texts
        .into_iter()
        .map(|text| {
            let p = model.predict(text);
            Vector {
                text: text.to_owned(),
                category: p.category,
                label: p.label.to_owned(),
            }
        })
        .collect()
}

/// Encodes vectors as JSON lines.
pub fn to_jsonl(vectors: &[Vector]) -> String {
    let mut out = String::new();
    for v in vectors {
        // A struct of strings and integers always serializes.
        out.push_str(&serde_json::to_string(v).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Parses JSON lines; `path` only names the source in errors.
pub fn parse_jsonl(path: &str, content: &str) -> Result<Vec<Vector>, String> {
    content
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{path}:{}: {e}", i + 1)))
        .collect()
}

/// The committed vectors, compiled in for tests and tools.
pub static COMMITTED: &str = include_str!("../model/vectors.jsonl");
