package model

// FNV-1a 32-bit parameters.
const (
	fnvOffset uint32 = 0x811c9dc5
	fnvPrime  uint32 = 0x01000193
)

// isTokenByte reports whether b belongs inside a token: ASCII letters and
// digits, and every byte >= 0x80 so that UTF-8 letters stay inside words.
func isTokenByte(b byte) bool {
	return b >= 0x80 || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
}

func lower(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + ('a' - 'A')
	}
	return b
}

// step is one FNV-1a step over a byte, lowercasing ASCII letters first.
func step(h uint32, b byte) uint32 {
	return (h ^ uint32(lower(b))) * fnvPrime
}

// FNV1a is FNV-1a-32 of the lowercased bytes of s.
func FNV1a(s string) uint32 {
	h := fnvOffset
	for i := 0; i < len(s); i++ {
		h = step(h, s[i])
	}
	return h
}

// Tokenize returns the lowercased tokens of text (for tests and tools; the
// scoring path never builds them).
func Tokenize(text string) []string {
	var out []string
	for i := 0; i < len(text); {
		if !isTokenByte(text[i]) {
			i++
			continue
		}
		j := i
		tok := make([]byte, 0, 16)
		for j < len(text) && isTokenByte(text[j]) {
			tok = append(tok, lower(text[j]))
			j++
		}
		out = append(out, string(tok))
		i = j
	}
	return out
}

// ForEachHash calls emit with the 32-bit hash of every feature of text in
// the documented order: per token its unigram, then from the second token on
// the bigram ending with it. It allocates nothing.
func ForEachHash(text string, emit func(uint32)) {
	var prev uint32
	havePrev := false
	for i := 0; i < len(text); {
		if !isTokenByte(text[i]) {
			i++
			continue
		}
		uni := fnvOffset
		// The bigram continues the previous token's hash with a space.
		bi := step(prev, ' ')
		for ; i < len(text) && isTokenByte(text[i]); i++ {
			uni = step(uni, text[i])
			bi = step(bi, text[i])
		}
		emit(uni)
		if havePrev {
			emit(bi)
		}
		prev, havePrev = uni, true
	}
}

// BucketMask maps a hash to one of 2^hashBits buckets.
func BucketMask(hashBits uint32) uint32 {
	if hashBits >= 32 {
		return ^uint32(0)
	}
	return 1<<hashBits - 1
}
