//! The committed model against the committed corpus and vectors.

use predict::train::{self, Settings};
use predict::{Model, vectors};

const CORPUS: &str = include_str!("../data/corpus.tsv");

#[test]
fn committed_model_answers_every_vector() {
    let model = Model::builtin().unwrap();
    let vs = vectors::parse_jsonl("vectors.jsonl", vectors::COMMITTED).unwrap();
    assert_eq!(vs.len(), 50);
    for v in &vs {
        let p = model.predict(&v.text);
        assert_eq!(
            (p.category, p.label),
            (v.category, v.label.as_str()),
            "{:?}",
            v.text
        );
    }
}

#[test]
fn retraining_the_committed_corpus_gives_the_committed_model_byte_for_byte() {
    let examples = train::parse_corpus("corpus.tsv", CORPUS).unwrap();
    let settings = Settings::default();
    let split = train::split(examples, &settings);
    let model = train::train(&split.train, &settings).unwrap();
    assert!(
        model.to_bytes() == predict::model::BUILTIN,
        "retrained weights differ from servers/model/model.bin"
    );
}

#[test]
fn corpus_meets_its_requirements() {
    let examples = train::parse_corpus("corpus.tsv", CORPUS).unwrap();
    assert!(examples.len() >= 600, "{} texts", examples.len());
    let mut per_label = std::collections::BTreeMap::new();
    for e in &examples {
        *per_label.entry(e.label.as_str()).or_insert(0) += 1;
    }
    assert!(per_label.len() >= 4, "{per_label:?}");
    let settings = Settings::default();
    let split = train::split(examples, &settings);
    let model = Model::builtin().unwrap();
    // The held-out accuracy the README quotes.
    let acc = train::accuracy(&model, &split.test);
    assert!(acc > 0.75, "held-out accuracy {acc}");
}
