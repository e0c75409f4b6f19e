//! The cost of one prediction of a 200-character text with the built-in model.
//! Run: cargo bench -p volley-predict --bench predict

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const TEXT_200: &str = "The central bank held interest rates steady on Thursday, citing cooling \
inflation and a softer labour market, while shares of regional lenders rallied and bond yields \
slipped to a two-month low on Friday.";

fn predict(c: &mut Criterion) {
    let model = predict::Model::builtin().expect("built-in model");
    assert!((195..=205).contains(&TEXT_200.len()), "{}", TEXT_200.len());
    c.bench_function("predict 200-char text", |b| {
        b.iter(|| model.predict(black_box(TEXT_200)).category)
    });
    let long = TEXT_200.repeat(20);
    c.bench_function("predict 4000-char text", |b| {
        b.iter(|| model.predict(black_box(&long)).category)
    });
}

criterion_group!(benches, predict);
criterion_main!(benches);
