//! Training: reads the labeled corpus, holds out 20%, fits the multinomial
//! logistic regression by full-batch gradient descent, and reports held-out
//! accuracy. Everything is single-threaded with a fixed seed and a fixed
//! order of floating-point operations, so the same corpus gives
//! byte-identical weights.

use std::collections::BTreeSet;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::features;
use crate::model::{MAX_CLASSES, Model, ModelError};

/// One labeled text.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub label: String,
    pub text: String,
}

/// Why a corpus could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{path}:{line}: expected LABEL<TAB>TEXT, found no tab")]
    NoTab { path: String, line: usize },
    #[error("{path}:{line}: empty {what}")]
    Empty {
        path: String,
        line: usize,
        what: &'static str,
    },
    #[error("{path}: {found} classes; a model needs 2 to {MAX_CLASSES}")]
    Classes { path: String, found: usize },
}

/// Parses a corpus in `LABEL<TAB>TEXT` lines; blank lines and lines starting
/// with `#` are skipped. `path` only names the source in errors.
pub fn parse_corpus(path: &str, content: &str) -> Result<Vec<Example>, CorpusError> {
    let mut out = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (label, text) = line.split_once('\t').ok_or(CorpusError::NoTab {
            path: path.into(),
            line: line_no,
        })?;
        let (label, text) = (label.trim(), text.trim());
        for (what, v) in [("label", label), ("text", text)] {
            if v.is_empty() {
                return Err(CorpusError::Empty {
                    path: path.into(),
                    line: line_no,
                    what,
                });
            }
        }
        out.push(Example {
            label: label.into(),
            text: text.into(),
        });
    }
    let classes = out.iter().map(|e| &e.label).collect::<BTreeSet<_>>().len();
    if !(2..=MAX_CLASSES).contains(&classes) {
        return Err(CorpusError::Classes {
            path: path.into(),
            found: classes,
        });
    }
    Ok(out)
}

/// Training settings. The defaults are what produced the committed model.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Feature table of 2^hash_bits buckets.
    pub hash_bits: u32,
    /// Full-batch gradient steps.
    pub iterations: usize,
    /// Gradient step size.
    pub learning_rate: f64,
    /// L2 penalty on the weights (not the biases).
    pub l2: f64,
    /// Fraction of the corpus held out for evaluation.
    pub holdout: f64,
    /// Seed of the shuffle that picks the held-out texts.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            hash_bits: 16,
            iterations: 2000,
            learning_rate: 16.0,
            l2: 1e-5,
            holdout: 0.2,
            seed: 42,
        }
    }
}

/// The corpus split into the part trained on and the part held out.
pub struct Split {
    pub train: Vec<Example>,
    pub test: Vec<Example>,
}

/// Shuffles with the seed and holds out `holdout` of the examples.
pub fn split(mut examples: Vec<Example>, settings: &Settings) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    examples.shuffle(&mut rng);
    let n_test = ((examples.len() as f64) * settings.holdout).round() as usize;
    let train = examples.split_off(n_test);
    Split {
        train,
        test: examples,
    }
}

/// A text's features as (bucket, value) pairs, buckets ascending, values
/// scaled by 1/sqrt(n) exactly as the model scores them.
fn sparse_features(text: &str, hash_bits: u32) -> Vec<(usize, f64)> {
    let mut buckets = Vec::new();
    features::for_each_bucket(text, hash_bits, |b| buckets.push(b));
    if buckets.is_empty() {
        return Vec::new();
    }
    let scale = 1.0 / (buckets.len() as f64).sqrt();
    buckets.sort_unstable();
    let mut out: Vec<(usize, f64)> = Vec::new();
    for b in buckets {
        match out.last_mut() {
            Some((last, v)) if *last == b => *v += scale,
            _ => out.push((b, scale)),
        }
    }
    out
}

/// Trains a model on `train`. Labels are the sorted set of labels seen.
pub fn train(train: &[Example], settings: &Settings) -> Result<Model, ModelError> {
    let labels: Vec<String> = train
        .iter()
        .map(|e| e.label.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let classes = labels.len();
    let buckets = 1usize << settings.hash_bits;
    let xs: Vec<Vec<(usize, f64)>> = train
        .iter()
        .map(|e| sparse_features(&e.text, settings.hash_bits))
        .collect();
    let ys: Vec<usize> = train
        .iter()
        .map(|e| labels.binary_search(&e.label).unwrap_or(0))
        .collect();

    let mut w = vec![0.0f64; buckets * classes];
    let mut b = vec![0.0f64; classes];
    let mut gw = vec![0.0f64; buckets * classes];
    let mut gb = vec![0.0f64; classes];
    let mut p = vec![0.0f64; classes];
    let n = train.len().max(1) as f64;

    for _ in 0..settings.iterations {
        gw.fill(0.0);
        gb.fill(0.0);
        for (x, &y) in xs.iter().zip(&ys) {
            // Softmax of the logits, shifted by the max for stability.
            for (c, pc) in p.iter_mut().enumerate() {
                *pc = b[c] + x.iter().map(|&(f, v)| w[f * classes + c] * v).sum::<f64>();
            }
            let max = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut z = 0.0;
            for pc in p.iter_mut() {
                *pc = (*pc - max).exp();
                z += *pc;
            }
            for (c, pc) in p.iter_mut().enumerate() {
                // Gradient of the cross-entropy: p - onehot(y).
                let g = *pc / z - if c == y { 1.0 } else { 0.0 };
                gb[c] += g;
                for &(f, v) in x {
                    gw[f * classes + c] += g * v;
                }
            }
        }
        let lr = settings.learning_rate;
        for (wi, gi) in w.iter_mut().zip(&gw) {
            *wi -= lr * (gi / n + settings.l2 * *wi);
        }
        for (bi, gi) in b.iter_mut().zip(&gb) {
            *bi -= lr * gi / n;
        }
    }

    Model::new(
        settings.hash_bits,
        labels,
        b.iter().map(|&v| v as f32).collect(),
        w.iter().map(|&v| v as f32).collect(),
    )
}

/// Fraction of `examples` whose label the model predicts.
pub fn accuracy(model: &Model, examples: &[Example]) -> f64 {
    if examples.is_empty() {
        return 0.0;
    }
    let right = examples
        .iter()
        .filter(|e| model.predict(&e.text).label == e.label)
        .count();
    right as f64 / examples.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "sports\tthe team won the match\n\
        sports\ta late goal won the cup final\n\
        business\tshares fell as the bank cut rates\n\
        business\tthe company reported record profit\n\
        # comment lines and blank lines are skipped\n\
        \n\
        sports\tthe striker scored twice in the match\n\
        business\tprofit warnings hit shares\n";

    fn settings() -> Settings {
        Settings {
            hash_bits: 10,
            iterations: 50,
            holdout: 0.0,
            ..Settings::default()
        }
    }

    #[test]
    fn corpus_errors_name_file_and_line() {
        let err = parse_corpus("c.tsv", "a\tx\nno tab here\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.tsv:2: expected LABEL<TAB>TEXT, found no tab"
        );
        let err = parse_corpus("c.tsv", "a\tx\n\t text\n").unwrap_err();
        assert_eq!(err.to_string(), "c.tsv:2: empty label");
        let err = parse_corpus("c.tsv", "a\tx\na\ty\n").unwrap_err();
        assert!(err.to_string().contains("1 classes"), "{err}");
    }

    #[test]
    fn training_is_deterministic_and_learns() {
        let examples = parse_corpus("small", SMALL).unwrap();
        assert_eq!(examples.len(), 6);
        let a = train(&examples, &settings()).unwrap();
        let b = train(&examples, &settings()).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes());
        assert_eq!(a.labels(), ["business", "sports"]);
        assert_eq!(accuracy(&a, &examples), 1.0);
        assert_eq!(a.predict("goal in the match").label, "sports");
        assert_eq!(a.predict("bank shares profit").label, "business");
    }

    #[test]
    fn split_is_seeded() {
        let examples = parse_corpus("small", SMALL).unwrap();
        let s = Settings {
            holdout: 0.5,
            ..Settings::default()
        };
        let a = split(examples.clone(), &s);
        let b = split(examples, &s);
        assert_eq!(a.test, b.test);
        assert_eq!(a.test.len(), 3);
        assert_eq!(a.train.len(), 3);
    }

    #[test]
    fn sparse_features_merge_repeats() {
        let f = sparse_features("go go go", 16);
        // "go" ×3 and "go go" ×2 over n = 5 features.
        let s = 1.0 / 5f64.sqrt();
        assert_eq!(f.len(), 2);
        let total: f64 = f.iter().map(|(_, v)| v).sum();
        assert!((total - 5.0 * s).abs() < 1e-12);
    }
}
