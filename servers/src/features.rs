//! The model's features: a byte-level tokenizer and hashed unigrams and
//! bigrams (FNV-1a, 32-bit, into 2^k buckets).
//!
//! The definition is byte-exact so that the Python and Go reference servers
//! compute the same buckets without any Unicode tables:
//!
//! * A token is a maximal run of bytes that are ASCII letters, ASCII digits,
//!   or any byte >= 0x80 (so UTF-8 letters such as `é` stay inside words).
//!   Every other byte (spaces, punctuation, control bytes) separates tokens.
//! * ASCII letters are lowercased (`A`-`Z` become `a`-`z`); other bytes are
//!   kept as they are.
//! * Unigram feature: FNV-1a-32 of the token's lowercased bytes.
//! * Bigram feature: FNV-1a-32 of the first token's lowercased bytes, one
//!   space byte (0x20), then the second token's lowercased bytes, for each
//!   pair of adjacent tokens.
//! * Bucket: hash & (2^k - 1). Features are emitted in text order: for each
//!   token its unigram, then (from the second token on) the bigram that ends
//!   with it.

/// FNV-1a 32-bit offset basis.
pub const FNV_OFFSET: u32 = 0x811c_9dc5;
/// FNV-1a 32-bit prime.
pub const FNV_PRIME: u32 = 0x0100_0193;

/// Whether a byte belongs inside a token.
#[inline]
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// One FNV-1a step over a byte, lowercasing ASCII letters first.
#[inline]
fn step(hash: u32, b: u8) -> u32 {
    (hash ^ u32::from(b.to_ascii_lowercase())).wrapping_mul(FNV_PRIME)
}

/// FNV-1a-32 of the lowercased bytes of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| step(h, b))
}

/// The tokens of a text, as slices of the original bytes (not lowercased).
pub fn tokens(text: &str) -> impl Iterator<Item = &[u8]> {
    text.as_bytes()
        .split(|&b| !is_token_byte(b))
        .filter(|t| !t.is_empty())
}

/// The tokens of a text, lowercased, as strings (for tests and tools; the
/// hot path never builds these).
pub fn tokenize(text: &str) -> Vec<String> {
    tokens(text)
        .map(|t| String::from_utf8_lossy(&t.to_ascii_lowercase()).into_owned())
        .collect()
}

/// Calls `emit` with the raw 32-bit hash of every feature of `text`, in the
/// documented order. Allocates nothing.
#[inline]
pub fn for_each_hash(text: &str, mut emit: impl FnMut(u32)) {
    let mut prev: Option<u32> = None;
    for token in tokens(text) {
        let mut uni = FNV_OFFSET;
        // The bigram continues the previous token's hash with a space.
        let mut bi = prev.map(|p| step(p, b' '));
        for &b in token {
            uni = step(uni, b);
            if let Some(h) = bi.as_mut() {
                *h = step(*h, b);
            }
        }
        emit(uni);
        if let Some(h) = bi {
            emit(h);
        }
        prev = Some(uni);
    }
}

/// Calls `emit` with the bucket of every feature of `text` for a table of
/// `2^hash_bits` buckets. Allocates nothing.
#[inline]
pub fn for_each_bucket(text: &str, hash_bits: u32, mut emit: impl FnMut(usize)) {
    let mask = bucket_mask(hash_bits);
    for_each_hash(text, |h| emit((h & mask) as usize));
}

/// The mask that maps a hash to one of `2^hash_bits` buckets.
pub fn bucket_mask(hash_bits: u32) -> u32 {
    if hash_bits >= 32 {
        u32::MAX
    } else {
        (1u32 << hash_bits) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_splits_on_non_alphanumerics_and_lowercases_ascii() {
        assert_eq!(
            tokenize("Hello, World! It's 2026-11-27."),
            ["hello", "world", "it", "s", "2026", "11", "27"]
        );
        assert_eq!(tokenize("  \t\n  "), Vec::<String>::new());
        assert_eq!(tokenize(""), Vec::<String>::new());
        // Non-ASCII bytes stay inside tokens and are not lowercased.
        assert_eq!(tokenize("Café NAÏVE"), ["café", "naÏve"]);
        assert_eq!(tokenize("rocket🚀launch"), ["rocket🚀launch"]);
        assert_eq!(
            tokenize("snake_case-and/slash"),
            ["snake", "case", "and", "slash"]
        );
    }

    #[test]
    fn fnv1a_matches_published_vectors() {
        // Reference values of FNV-1a 32-bit.
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
        // Lowercasing happens before hashing.
        assert_eq!(fnv1a(b"FooBar"), fnv1a(b"foobar"));
    }

    #[test]
    fn features_are_unigrams_then_bigrams_in_text_order() {
        let mut got = Vec::new();
        for_each_hash("Stock markets rally", |h| got.push(h));
        let want = [
            fnv1a(b"stock"),
            fnv1a(b"markets"),
            fnv1a(b"stock markets"),
            fnv1a(b"rally"),
            fnv1a(b"markets rally"),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn buckets_are_masked_hashes() {
        let mut got = Vec::new();
        for_each_bucket("goal", 4, |b| got.push(b));
        assert_eq!(got, [(fnv1a(b"goal") & 0xf) as usize]);
        assert_eq!(bucket_mask(16), 0xffff);
        assert_eq!(bucket_mask(32), u32::MAX);
    }
}
