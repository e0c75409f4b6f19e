//! predict-train: trains the model from a labeled corpus, prints held-out
//! accuracy, writes the model file and, optionally, the test vectors.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use predict::train::{self, Settings};
use predict::vectors;

/// Trains the hashed bag-of-words logistic regression that the servers use.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Labeled corpus, one `LABEL<TAB>TEXT` per line.
    #[arg(long, default_value = "servers/data/corpus.tsv")]
    corpus: PathBuf,
    /// Where to write the model file.
    #[arg(long, default_value = "servers/model/model.bin")]
    out: PathBuf,
    /// Also write this many test vectors (held-out texts and edge cases with
    /// the model's answers) to --vectors-out.
    #[arg(long, value_name = "N")]
    vectors: Option<usize>,
    /// Where to write the test vectors.
    #[arg(long, default_value = "servers/model/vectors.jsonl")]
    vectors_out: PathBuf,
    /// Feature table of 2^BITS buckets.
    #[arg(long, default_value_t = Settings::default().hash_bits)]
    hash_bits: u32,
    /// Full-batch gradient steps.
    #[arg(long, default_value_t = Settings::default().iterations)]
    iterations: usize,
    /// Gradient step size.
    #[arg(long, default_value_t = Settings::default().learning_rate)]
    learning_rate: f64,
    /// L2 penalty on the weights.
    #[arg(long, default_value_t = Settings::default().l2)]
    l2: f64,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let settings = Settings {
        hash_bits: cli.hash_bits,
        iterations: cli.iterations,
        learning_rate: cli.learning_rate,
        l2: cli.l2,
        ..Settings::default()
    };
    let content = std::fs::read_to_string(&cli.corpus)
        .with_context(|| format!("reading corpus {}", cli.corpus.display()))?;
    let examples = train::parse_corpus(&cli.corpus.display().to_string(), &content)?;
    let total = examples.len();
    let split = train::split(examples, &settings);
    let model = train::train(&split.train, &settings)?;
    let held_out = train::accuracy(&model, &split.test);
    let train_acc = train::accuracy(&model, &split.train);
    std::fs::write(&cli.out, model.to_bytes())
        .with_context(|| format!("writing model {}", cli.out.display()))?;
    println!(
        "corpus: {total} texts, {} classes [{}]; trained on {}, held out {}",
        model.labels().len(),
        model.labels().join(", "),
        split.train.len(),
        split.test.len()
    );
    println!("training accuracy: {:.1}%", train_acc * 100.0);
    println!(
        "held-out accuracy: {:.1}% ({} of {})",
        held_out * 100.0,
        (held_out * split.test.len() as f64).round(),
        split.test.len()
    );
    println!("model written to {}", cli.out.display());
    if let Some(n) = cli.vectors {
        let picked = vectors::pick(&model, &split.test, n);
        std::fs::write(&cli.vectors_out, vectors::to_jsonl(&picked))
            .with_context(|| format!("writing vectors {}", cli.vectors_out.display()))?;
        println!(
            "{} vectors written to {}",
            picked.len(),
            cli.vectors_out.display()
        );
    }
    Ok(())
}
