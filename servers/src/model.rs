//! The classifier: multinomial logistic regression over hashed features, and
//! its file format.
//!
//! # Model file, version 1 (all integers and floats little-endian)
//!
//! | field | type | meaning |
//! |---|---|---|
//! | magic | 8 bytes | ASCII `VLYMODEL` |
//! | version | u32 | 1 |
//! | hash_bits | u32 | k: the feature table has F = 2^k buckets (1..=24) |
//! | classes | u32 | C, the number of classes (2..=64) |
//! | labels | C × (u32 length, UTF-8 bytes) | class names, in class order |
//! | bias | C × f32 | one bias per class |
//! | weights | F × C × f32 | bucket-major: the weight of bucket f for class c is at f*C + c |
//!
//! Nothing may follow the weights.
//!
//! # Scoring (the same in every implementation, for identical answers)
//!
//! For each feature bucket `f` of the text, in the order of
//! [`crate::features`], and for each class `c`: `sum[c] += f64(w[f*C + c])`
//! (sums in f64, starting at 0.0). With `n` the number of features,
//! `scale = 1/sqrt(n)` (0 when n = 0), and `logit[c] = f64(bias[c]) +
//! sum[c] * scale`. The category is the index of the largest logit; on a tie
//! the lowest index wins.

use std::path::Path;

use crate::features;

/// The file's first eight bytes.
pub const MAGIC: &[u8; 8] = b"VLYMODEL";
/// The only version this code reads and writes.
pub const VERSION: u32 = 1;
/// The most classes a model may have (scoring keeps them on the stack).
pub const MAX_CLASSES: usize = 64;
/// The largest feature table a model may have.
pub const MAX_HASH_BITS: u32 = 24;

/// The model compiled into the servers, trained from servers/data/corpus.tsv.
pub static BUILTIN: &[u8] = include_bytes!("../model/model.bin");
/// Where the built-in model lives in the repository, for log lines.
pub const BUILTIN_PATH: &str = "servers/model/model.bin";

/// Why a model file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("reading model file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("not a volley model file (magic bytes are not VLYMODEL)")]
    BadMagic,
    #[error("model file version {0} is not supported (this build reads version {VERSION})")]
    Version(u32),
    #[error("model file is truncated: {0} missing")]
    Truncated(&'static str),
    #[error("model file has {0} unexpected bytes after the weights")]
    Trailing(usize),
    #[error("invalid model: {0}")]
    Invalid(String),
}

/// A loaded model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    hash_bits: u32,
    labels: Vec<String>,
    bias: Vec<f32>,
    weights: Vec<f32>,
}

/// The answer for one text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prediction<'m> {
    pub category: usize,
    pub label: &'m str,
}

impl Model {
    /// Builds a model from its parts, checking their sizes.
    pub fn new(
        hash_bits: u32,
        labels: Vec<String>,
        bias: Vec<f32>,
        weights: Vec<f32>,
    ) -> Result<Self, ModelError> {
        if !(1..=MAX_HASH_BITS).contains(&hash_bits) {
            return Err(ModelError::Invalid(format!(
                "hash_bits {hash_bits} is outside 1..={MAX_HASH_BITS}"
            )));
        }
        let classes = labels.len();
        if !(2..=MAX_CLASSES).contains(&classes) {
            return Err(ModelError::Invalid(format!(
                "{classes} classes is outside 2..={MAX_CLASSES}"
            )));
        }
        if bias.len() != classes {
            return Err(ModelError::Invalid(format!(
                "{} biases for {classes} classes",
                bias.len()
            )));
        }
        let want = (1usize << hash_bits) * classes;
        if weights.len() != want {
            return Err(ModelError::Invalid(format!(
                "{} weights, expected {want}",
                weights.len()
            )));
        }
        if bias.iter().chain(&weights).any(|w| !w.is_finite()) {
            return Err(ModelError::Invalid("a weight is not finite".into()));
        }
        Ok(Model {
            hash_bits,
            labels,
            bias,
            weights,
        })
    }

    /// The model compiled into this binary.
    pub fn builtin() -> Result<Self, ModelError> {
        Self::from_bytes(BUILTIN)
    }

    /// Reads a model file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Parses the bytes of a model file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let mut r = Reader { bytes };
        if r.take(8, "magic")? != MAGIC {
            return Err(ModelError::BadMagic);
        }
        let version = r.u32("version")?;
        if version != VERSION {
            return Err(ModelError::Version(version));
        }
        let hash_bits = r.u32("hash_bits")?;
        let classes = r.u32("class count")? as usize;
        if !(1..=MAX_HASH_BITS).contains(&hash_bits) || !(2..=MAX_CLASSES).contains(&classes) {
            return Err(ModelError::Invalid(format!(
                "hash_bits {hash_bits} or class count {classes} out of range"
            )));
        }
        let mut labels = Vec::with_capacity(classes);
        for _ in 0..classes {
            let len = r.u32("label length")? as usize;
            let raw = r.take(len, "label")?;
            let label = std::str::from_utf8(raw)
                .map_err(|_| ModelError::Invalid("a label is not UTF-8".into()))?;
            labels.push(label.to_owned());
        }
        let bias = r.f32s(classes, "bias")?;
        let weights = r.f32s((1usize << hash_bits) * classes, "weights")?;
        if !r.bytes.is_empty() {
            return Err(ModelError::Trailing(r.bytes.len()));
        }
        Self::new(hash_bits, labels, bias, weights)
    }

    /// Encodes the model in the file format above.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + 4 * (self.bias.len() + self.weights.len()));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.hash_bits.to_le_bytes());
        out.extend_from_slice(&(self.labels.len() as u32).to_le_bytes());
        for label in &self.labels {
            out.extend_from_slice(&(label.len() as u32).to_le_bytes());
            out.extend_from_slice(label.as_bytes());
        }
        for w in self.bias.iter().chain(&self.weights) {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    pub fn hash_bits(&self) -> u32 {
        self.hash_bits
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// The logits of every class for `text`, written into `out` (which must
    /// hold at least as many entries as there are classes). Allocates nothing.
    pub fn logits_into(&self, text: &str, out: &mut [f64]) {
        let classes = self.labels.len();
        let out = &mut out[..classes];
        out.fill(0.0);
        let mut n = 0u32;
        features::for_each_bucket(text, self.hash_bits, |bucket| {
            n += 1;
            let row = &self.weights[bucket * classes..(bucket + 1) * classes];
            for (sum, w) in out.iter_mut().zip(row) {
                *sum += f64::from(*w);
            }
        });
        let scale = if n == 0 {
            0.0
        } else {
            1.0 / f64::from(n).sqrt()
        };
        for (logit, b) in out.iter_mut().zip(&self.bias) {
            *logit = f64::from(*b) + *logit * scale;
        }
    }

    /// The predicted category of `text`. Allocates nothing.
    pub fn predict(&self, text: &str) -> Prediction<'_> {
        let mut logits = [0.0f64; MAX_CLASSES];
        self.logits_into(text, &mut logits);
        let mut best = 0;
        for (c, &l) in logits[..self.labels.len()].iter().enumerate() {
            if l > logits[best] {
                best = c;
            }
        }
        Prediction {
            category: best,
            label: &self.labels[best],
        }
    }
}

/// A cursor over the model file's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ModelError> {
        if self.bytes.len() < n {
            return Err(ModelError::Truncated(what));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, ModelError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f32s(&mut self, n: usize, what: &'static str) -> Result<Vec<f32>, ModelError> {
        let raw = self.take(n.checked_mul(4).ok_or(ModelError::Truncated(what))?, what)?;
        Ok(raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Model {
        let hash_bits = 2;
        let labels = vec!["a".to_string(), "b".to_string()];
        let weights = (0..8).map(|i| i as f32 * 0.5 - 1.0).collect();
        Model::new(hash_bits, labels, vec![0.25, -0.25], weights).unwrap()
    }

    #[test]
    fn file_round_trip_is_identical() {
        let m = tiny();
        let bytes = m.to_bytes();
        assert_eq!(&bytes[..8], MAGIC);
        let back = Model::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn builtin_model_round_trips() {
        let m = Model::builtin().unwrap();
        assert_eq!(m.to_bytes(), BUILTIN);
        assert!(m.labels().len() >= 4);
    }

    #[test]
    fn corrupt_files_are_rejected_with_reasons() {
        let bytes = tiny().to_bytes();
        assert!(matches!(
            Model::from_bytes(b"nope"),
            Err(ModelError::Truncated(_))
        ));
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(matches!(Model::from_bytes(&bad), Err(ModelError::BadMagic)));
        let mut bad = bytes.clone();
        bad[8] = 9;
        assert!(matches!(
            Model::from_bytes(&bad),
            Err(ModelError::Version(9))
        ));
        assert!(matches!(
            Model::from_bytes(&bytes[..bytes.len() - 1]),
            Err(ModelError::Truncated("weights"))
        ));
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            Model::from_bytes(&long),
            Err(ModelError::Trailing(1))
        ));
        let mut nan = bytes;
        let at = nan.len() - 4;
        nan[at..].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(matches!(
            Model::from_bytes(&nan),
            Err(ModelError::Invalid(_))
        ));
    }

    #[test]
    fn scoring_follows_the_documented_formula() {
        let m = tiny();
        let mut got = [0.0; 2];
        m.logits_into("x y", &mut got);
        // Recompute by hand: features in order, sums in f64, then scale.
        let mut sums = [0.0f64; 2];
        let mut n = 0;
        features::for_each_bucket("x y", 2, |b| {
            n += 1;
            sums[0] += f64::from(m.weights()[b * 2]);
            sums[1] += f64::from(m.weights()[b * 2 + 1]);
        });
        assert_eq!(n, 3);
        let s = 1.0 / 3f64.sqrt();
        assert_eq!(got, [0.25 + sums[0] * s, -0.25 + sums[1] * s]);
        // No features: only the bias speaks.
        m.logits_into("!!!", &mut got);
        assert_eq!(got, [0.25, -0.25]);
        assert_eq!(m.predict("!!!").label, "a");
    }
}
