package model

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestTokenize(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"Hello, World! It's 2026-11-27.", []string{"hello", "world", "it", "s", "2026", "11", "27"}},
		{"  \t\n  ", nil},
		{"", nil},
		{"!!!", nil},
		// Non-ASCII bytes stay inside tokens and are not lowercased.
		{"Café NAÏVE", []string{"café", "naÏve"}},
		{"rocket🚀launch", []string{"rocket🚀launch"}},
		{"snake_case-and/slash", []string{"snake", "case", "and", "slash"}},
		{"The   quick\tbrown\nfox", []string{"the", "quick", "brown", "fox"}},
		{"a\x00b\x7fc", []string{"a", "b", "c"}},
		// Invalid UTF-8 bytes are token bytes like any other byte >= 0x80.
		{"x\xffY \xc3", []string{"x\xffy", "\xc3"}},
		{"ÀZ", []string{"Àz"}},
	}
	for _, c := range cases {
		if got := Tokenize(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Tokenize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestFNV1a(t *testing.T) {
	for in, want := range map[string]uint32{"": 0x811c9dc5, "a": 0xe40c292c, "foobar": 0xbf9cf968} {
		if got := FNV1a(in); got != want {
			t.Errorf("FNV1a(%q) = %#x, want %#x", in, got, want)
		}
	}
	if FNV1a("FooBar") != FNV1a("foobar") {
		t.Error("FNV1a does not lowercase")
	}
}

func hashes(text string) []uint32 {
	var got []uint32
	ForEachHash(text, func(h uint32) { got = append(got, h) })
	return got
}

func TestFeatureOrder(t *testing.T) {
	got := hashes("Stock markets, RALLY")
	want := []uint32{FNV1a("stock"), FNV1a("markets"), FNV1a("stock markets"), FNV1a("rally"), FNV1a("markets rally")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
	if got := hashes("...;"); got != nil {
		t.Errorf("no tokens gave features %x", got)
	}
	if got, want := hashes("Ünï"), []uint32{FNV1a("Ünï")}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
	if BucketMask(16) != 0xffff || BucketMask(32) != 0xffffffff {
		t.Error("BucketMask")
	}
}

// ModelPath is servers/model/model.bin seen from this package's directory.
var modelPath = filepath.Join("..", "..", "model", "model.bin")

func TestVectors(t *testing.T) {
	m, err := Load(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(m.Labels()); got != 5 || m.HashBits() != 16 {
		t.Fatalf("%d classes, hash_bits %d", got, m.HashBits())
	}
	f, err := os.Open(filepath.Join("..", "..", "model", "vectors.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var v struct {
			Text     string `json:"text"`
			Category int    `json:"category"`
			Label    string `json:"label"`
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		c, l := m.Predict(v.Text)
		if c != v.Category || l != v.Label {
			t.Errorf("%q: got %d %q, want %d %q", v.Text, c, l, v.Category, v.Label)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 50 {
		t.Errorf("%d vectors, want 50", n)
	}
}

func TestParseRejectsBadFiles(t *testing.T) {
	good, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"empty":     nil,
		"magic":     append([]byte("XLYMODEL"), good[8:]...),
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte(nil), good...), 0),
	}
	for name, b := range bad {
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestPredictAllocatesNothing(t *testing.T) {
	m, err := Load(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(100, func() { m.Category("Stock markets rally on strong earnings") }); a != 0 {
		t.Errorf("%v allocations per prediction", a)
	}
}
