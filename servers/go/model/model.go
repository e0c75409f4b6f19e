// Package model reads the volley prediction model (servers/model/model.bin)
// and classifies texts exactly as the Rust servers do; docs/predict-api.md
// defines the features, the scoring and the file format.
package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"unicode/utf8"
)

// MaxTextBytes is the largest text (REST: request body) the servers accept.
const MaxTextBytes = 64 * 1024

const (
	magic         = "VLYMODEL"
	version       = 1
	maxClasses    = 64
	maxHashBits   = 24
	minClasses    = 2
	minHashBits   = 1
	headerLen     = 8 + 4 + 4 + 4
	bytesPerFloat = 4
)

// Model is a loaded classifier; it is read-only and safe for concurrent use.
type Model struct {
	hashBits uint32
	labels   []string
	bias     []float32
	weights  []float32 // bucket-major: bucket f, class c at f*C + c
}

// Load reads a model file.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading model file %s: %w", path, err)
	}
	return Parse(b)
}

type reader struct{ b []byte }

func (r *reader) take(n uint64, what string) ([]byte, error) {
	if uint64(len(r.b)) < n {
		return nil, fmt.Errorf("model file is truncated: %s missing", what)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out, nil
}

func (r *reader) u32(what string) (uint32, error) {
	b, err := r.take(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (r *reader) f32s(n uint64, what string) ([]float32, error) {
	b, err := r.take(n*bytesPerFloat, what)
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// Parse decodes the bytes of a model file (version 1, little-endian).
func Parse(b []byte) (*Model, error) {
	r := &reader{b}
	m, err := r.take(8, "magic")
	if err != nil {
		return nil, err
	}
	if string(m) != magic {
		return nil, errors.New("not a volley model file (magic bytes are not VLYMODEL)")
	}
	v, err := r.u32("version")
	if err != nil {
		return nil, err
	}
	if v != version {
		return nil, fmt.Errorf("model file version %d is not supported (this build reads version %d)", v, version)
	}
	hashBits, err := r.u32("hash_bits")
	if err != nil {
		return nil, err
	}
	classes, err := r.u32("class count")
	if err != nil {
		return nil, err
	}
	if hashBits < minHashBits || hashBits > maxHashBits || classes < minClasses || classes > maxClasses {
		return nil, fmt.Errorf("invalid model: hash_bits %d or class count %d out of range", hashBits, classes)
	}
	labels := make([]string, classes)
	for i := range labels {
		n, err := r.u32("label length")
		if err != nil {
			return nil, err
		}
		raw, err := r.take(uint64(n), "label")
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(raw) {
			return nil, errors.New("invalid model: a label is not UTF-8")
		}
		labels[i] = string(raw)
	}
	bias, err := r.f32s(uint64(classes), "bias")
	if err != nil {
		return nil, err
	}
	weights, err := r.f32s(uint64(1)<<hashBits*uint64(classes), "weights")
	if err != nil {
		return nil, err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("model file has %d unexpected bytes after the weights", len(r.b))
	}
	for _, w := range append(append([]float32(nil), bias...), weights...) {
		if math.IsNaN(float64(w)) || math.IsInf(float64(w), 0) {
			return nil, errors.New("invalid model: a weight is not finite")
		}
	}
	return &Model{hashBits: hashBits, labels: labels, bias: bias, weights: weights}, nil
}

// Labels are the class names, in class order.
func (m *Model) Labels() []string { return m.labels }

// HashBits is k: the feature table has 2^k buckets.
func (m *Model) HashBits() uint32 { return m.hashBits }

// Predict returns the category index of text and its label.
func (m *Model) Predict(text string) (int, string) {
	c := m.Category(text)
	return c, m.labels[c]
}

// Category scores text: per feature bucket f in order and class c,
// sum[c] += float64(w[f*C+c]); logit[c] = bias[c] + sum[c]/sqrt(n); argmax
// with the lowest index on ties. The order of additions matters for
// bit-identical answers, so keep it.
func (m *Model) Category(text string) int {
	var sums [maxClasses]float64
	C := len(m.labels)
	mask := BucketMask(m.hashBits)
	n := 0
	ForEachHash(text, func(h uint32) {
		row := m.weights[int(h&mask)*C:][:C]
		for c, w := range row {
			sums[c] += float64(w)
		}
		n++
	})
	scale := 0.0
	if n > 0 {
		scale = 1 / math.Sqrt(float64(n))
	}
	best, bestLogit := 0, math.Inf(-1)
	for c := 0; c < C; c++ {
		// The conversion forbids fusing into an FMA (arm64 would), which
		// Rust never does.
		logit := float64(m.bias[c]) + float64(sums[c]*scale)
		if c == 0 || logit > bestLogit {
			best, bestLogit = c, logit
		}
	}
	return best
}
