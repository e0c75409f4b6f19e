package rest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// parseError is a rejected body: syntax errors are 400, well-formed JSON of
// the wrong shape is 422.
type parseError struct {
	status int
	msg    string
}

// parseBody reads {"text": "..."} the way the Rust server's serde_json
// derive does, so that every body gets the same status: it stops at the first
// problem in document order (a wrong-typed or duplicate text before a later
// syntax error is 422), matches the key "text" exactly (case-sensitively,
// after unescaping), validates UTF-8 and surrogates only in keys and in
// text, skips other values without checking their strings' UTF-8, and checks
// trailing bytes last. encoding/json differs on all of these.
func parseBody(b []byte) (string, *parseError) {
	var text string
	perr := parseObject(b, "text", `body must be a JSON object with a "text" string`, func(p *parser) *parseError {
		t, perr := p.textValue()
		text = t
		return perr
	})
	return text, perr
}

// parseStreamBody reads {"texts": ["...", ...]}, the body of
// /predict/stream, as parseBody reads {"text": "..."}: the same statuses in
// the same order, and a 422 for the first text past MaxStreamTexts.
func parseStreamBody(b []byte) ([]string, *parseError) {
	var texts []string
	perr := parseObject(b, "texts", `body must be a JSON object with a "texts" array`, func(p *parser) *parseError {
		t, perr := p.textsValue()
		texts = t
		return perr
	})
	return texts, perr
}

// parseObject reads a JSON object whose one wanted field, key, value reads;
// every other field is skipped. shape is the 422 message for well-formed
// JSON that is not an object.
func parseObject(b []byte, key, shape string, value func(*parser) *parseError) *parseError {
	// serde would also accept a struct written as an array: only objects do.
	// (Rust's is_ascii_whitespace includes form feed; JSON's does not.)
	first := strings.TrimLeft(string(b), " \t\n\r\f")
	if first == "" || first[0] != '{' {
		p := &parser{b: b}
		if err := p.ignoreValue(); err != nil {
			return syntaxErr(err)
		}
		if err := p.end(); err != nil {
			return syntaxErr(err)
		}
		return &parseError{422, shape}
	}
	p := &parser{b: b}
	if perr := p.object(key, value); perr != nil {
		return perr
	}
	if err := p.end(); err != nil {
		return syntaxErr(err)
	}
	return nil
}

func syntaxErr(err error) *parseError {
	return &parseError{400, "malformed JSON: " + err.Error()}
}

type parser struct {
	b []byte
	i int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf(format+" at byte %d", append(args, p.i)...)
}

// peek skips JSON whitespace and returns the next byte, or -1 at the end.
func (p *parser) peek() int {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return int(p.b[p.i])
		}
	}
	return -1
}

func (p *parser) end() error {
	if p.peek() >= 0 {
		return p.errorf("trailing characters")
	}
	return nil
}

// object reads an object with the field key (read by value), as serde's
// derive does: other fields skipped, a duplicate or a missing key a 422.
func (p *parser) object(key string, value func(*parser) *parseError) *parseError {
	if p.peek() != '{' {
		return syntaxErr(p.errorf("expected value"))
	}
	p.i++
	have := false
	for first := true; ; first = false {
		c := p.peek()
		if c < 0 {
			return syntaxErr(p.errorf("EOF while parsing an object"))
		}
		if c == '}' {
			p.i++
			break
		}
		if !first {
			if c != ',' {
				return syntaxErr(p.errorf("expected `,` or `}`"))
			}
			p.i++
			switch p.peek() {
			case '"':
			case '}':
				return syntaxErr(p.errorf("trailing comma"))
			case -1:
				return syntaxErr(p.errorf("EOF while parsing a value"))
			default:
				return syntaxErr(p.errorf("key must be a string"))
			}
		} else if c != '"' {
			return syntaxErr(p.errorf("key must be a string"))
		}
		p.i++
		k, err := p.str()
		if err != nil {
			return syntaxErr(err)
		}
		switch p.peek() {
		case ':':
			p.i++
		case -1:
			return syntaxErr(p.errorf("EOF while parsing an object"))
		default:
			return syntaxErr(p.errorf("expected `:`"))
		}
		if k != key {
			if err := p.ignoreValue(); err != nil {
				return syntaxErr(err)
			}
			continue
		}
		if have {
			return &parseError{422, "duplicate field `" + key + "`"}
		}
		if perr := value(p); perr != nil {
			return perr
		}
		have = true
	}
	if !have {
		return &parseError{422, "missing field `" + key + "`"}
	}
	return nil
}

// textValue reads a string (the value of "text", an element of "texts"), or
// the first error.
func (p *parser) textValue() (string, *parseError) {
	if p.peek() == '"' {
		p.i++
		s, err := p.str()
		if err != nil {
			return "", syntaxErr(err)
		}
		return s, nil
	}
	return "", p.wrongType("a string")
}

// textsValue reads the value of "texts": an array of strings, refusing (422)
// the first one past MaxStreamTexts once it has been read, as the Rust
// server's visitor does.
func (p *parser) textsValue() ([]string, *parseError) {
	if p.peek() != '[' {
		return nil, p.wrongType(fmt.Sprintf("an array of at most %d strings", MaxStreamTexts))
	}
	p.i++
	texts := []string{}
	if p.peek() == ']' {
		p.i++
		return texts, nil
	}
	// One element per turn; the body's size bounds them.
	for {
		t, perr := p.textValue()
		if perr != nil {
			return nil, perr
		}
		if len(texts) >= MaxStreamTexts {
			return nil, &parseError{422, fmt.Sprintf("more than %d texts", MaxStreamTexts)}
		}
		texts = append(texts, t)
		switch p.peek() {
		case ',':
			p.i++
			if p.peek() == ']' {
				return nil, syntaxErr(p.errorf("trailing comma"))
			}
		case ']':
			p.i++
			return texts, nil
		case -1:
			return nil, syntaxErr(p.errorf("EOF while parsing a list"))
		default:
			return nil, syntaxErr(p.errorf("expected `,` or `]`"))
		}
	}
}

// wrongType reads a value that is not the expected one and returns its
// error: 422 naming its type, or 400 if it is not even well-formed (serde
// reads a wrong-typed string, number or literal whole, but stops at the
// opening bracket of an array or object).
func (p *parser) wrongType(expected string) *parseError {
	wrong := func(what string) *parseError {
		return &parseError{422, "invalid type: " + what + ", expected " + expected}
	}
	switch c := p.peek(); {
	case c < 0:
		return syntaxErr(p.errorf("EOF while parsing a value"))
	case c == '"':
		p.i++
		s, err := p.str()
		if err != nil {
			return syntaxErr(err)
		}
		return wrong("string " + jsonString(s))
	case c == 'n' || c == 't' || c == 'f':
		word := map[int]string{'n': "null", 't': "true", 'f': "false"}[c]
		if err := p.ident(word); err != nil {
			return syntaxErr(err)
		}
		if c == 'n' {
			return wrong("null")
		}
		return wrong("boolean `" + word + "`")
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.i
		if err := p.number(); err != nil {
			return syntaxErr(err)
		}
		f, _ := strconv.ParseFloat(string(p.b[start:p.i]), 64)
		if math.IsInf(f, 0) {
			return syntaxErr(p.errorf("number out of range"))
		}
		return wrong("number `" + string(p.b[start:p.i]) + "`")
	case c == '[':
		return wrong("sequence")
	case c == '{':
		return wrong("map")
	default:
		return syntaxErr(p.errorf("expected value"))
	}
}

func (p *parser) ident(word string) error {
	for k := 0; k < len(word); k++ {
		if p.i >= len(p.b) {
			return p.errorf("EOF while parsing a value")
		}
		if p.b[p.i] != word[k] {
			return p.errorf("expected ident")
		}
		p.i++
	}
	return nil
}

// number consumes a JSON number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func (p *parser) number() error {
	digit := func() bool { return p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' }
	if p.b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
		if digit() {
			return p.errorf("invalid number")
		}
	case digit():
		for digit() {
			p.i++
		}
	default:
		return p.errorf("invalid number")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if !digit() {
			return p.errorf("invalid number")
		}
		for digit() {
			p.i++
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if !digit() {
			return p.errorf("invalid number")
		}
		for digit() {
			p.i++
		}
	}
	return nil
}

func (p *parser) hex4() (rune, error) {
	if p.i+4 > len(p.b) {
		p.i = len(p.b)
		return 0, p.errorf("EOF while parsing a string")
	}
	v, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 16)
	if err != nil || strings.ContainsAny(string(p.b[p.i:p.i+4]), "+-") {
		return 0, p.errorf("invalid escape")
	}
	p.i += 4
	return rune(v), nil
}

// str reads the rest of a string after its opening quote, validating escapes,
// surrogate pairs and UTF-8 like serde_json's parse_str.
func (p *parser) str() (string, error) {
	var out []byte
	for {
		if p.i >= len(p.b) {
			return "", p.errorf("EOF while parsing a string")
		}
		c := p.b[p.i]
		p.i++
		switch {
		case c == '"':
			if !utf8.Valid(out) {
				return "", p.errorf("invalid unicode code point")
			}
			return string(out), nil
		case c < 0x20:
			return "", p.errorf("control character (\\u0000-\\u001F) found while parsing a string")
		case c != '\\':
			out = append(out, c)
			continue
		}
		if p.i >= len(p.b) {
			return "", p.errorf("EOF while parsing a string")
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return "", err
			}
			if r >= 0xDC00 && r <= 0xDFFF {
				return "", p.errorf("lone leading surrogate in hex escape")
			}
			if r >= 0xD800 && r <= 0xDBFF {
				if p.i+2 > len(p.b) {
					p.i = len(p.b)
					return "", p.errorf("EOF while parsing a string")
				}
				if p.b[p.i] != '\\' || p.b[p.i+1] != 'u' {
					return "", p.errorf("unexpected end of hex escape")
				}
				p.i += 2
				r2, err := p.hex4()
				if err != nil {
					return "", err
				}
				if r2 < 0xDC00 || r2 > 0xDFFF {
					return "", p.errorf("lone leading surrogate in hex escape")
				}
				r = utf16.DecodeRune(r, r2)
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", p.errorf("invalid escape")
		}
	}
}

// skipStr skips the rest of a string like serde_json's ignore_str: escapes
// must be well-formed, but neither UTF-8 nor surrogates are checked.
func (p *parser) skipStr() error {
	for {
		if p.i >= len(p.b) {
			return p.errorf("EOF while parsing a string")
		}
		c := p.b[p.i]
		p.i++
		switch {
		case c == '"':
			return nil
		case c < 0x20:
			return p.errorf("control character (\\u0000-\\u001F) found while parsing a string")
		case c == '\\':
			if p.i >= len(p.b) {
				return p.errorf("EOF while parsing a string")
			}
			e := p.b[p.i]
			p.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, err := p.hex4(); err != nil {
					return err
				}
			default:
				return p.errorf("invalid escape")
			}
		}
	}
}

// ignoreValue skips one JSON value (with no depth limit, like serde_json's
// ignore_value; recursion depth is bounded by the 64 KiB body).
func (p *parser) ignoreValue() error {
	c := p.peek()
	switch {
	case c < 0:
		return p.errorf("EOF while parsing a value")
	case c == 'n':
		return p.ident("null")
	case c == 't':
		return p.ident("true")
	case c == 'f':
		return p.ident("false")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == '"':
		p.i++
		return p.skipStr()
	case c == '[':
		p.i++
		if p.peek() == ']' {
			p.i++
			return nil
		}
		for {
			if err := p.ignoreValue(); err != nil {
				return err
			}
			switch p.peek() {
			case ',':
				p.i++
			case ']':
				p.i++
				return nil
			case -1:
				return p.errorf("EOF while parsing a list")
			default:
				return p.errorf("expected `,` or `]`")
			}
		}
	case c == '{':
		p.i++
		if p.peek() == '}' {
			p.i++
			return nil
		}
		for {
			switch p.peek() {
			case '"':
				p.i++
			case -1:
				return p.errorf("EOF while parsing an object")
			default:
				return p.errorf("key must be a string")
			}
			if err := p.skipStr(); err != nil {
				return err
			}
			switch p.peek() {
			case ':':
				p.i++
			case -1:
				return p.errorf("EOF while parsing an object")
			default:
				return p.errorf("expected `:`")
			}
			if err := p.ignoreValue(); err != nil {
				return err
			}
			switch p.peek() {
			case ',':
				p.i++
			case '}':
				p.i++
				return nil
			case -1:
				return p.errorf("EOF while parsing an object")
			default:
				return p.errorf("expected `,` or `}`")
			}
		}
	default:
		return p.errorf("expected value")
	}
}
