package rest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"volley/servers/go/model"
)

func predictBytes(t *testing.T, s *httptest.Server, text string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"text": text})
	resp, err := s.Client().Post(s.URL+"/predict", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/predict %q: %d %s", text, resp.StatusCode, got)
	}
	return string(got)
}

// rawChunks sends one request with Connection: close and returns the head
// and the body's chunks as framed on the wire.
func rawChunks(t *testing.T, addr, body string) (string, []string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "POST /predict/stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	raw, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok := strings.Cut(string(raw), "\r\n\r\n")
	if !ok || !strings.Contains(strings.ToLower(head), "transfer-encoding: chunked") {
		t.Fatalf("not a chunked answer: %q", raw)
	}
	var chunks []string
	// One turn per chunk, to the zero-length one.
	for {
		line, after, ok := strings.Cut(rest, "\r\n")
		if !ok {
			t.Fatalf("truncated chunk: %q", rest)
		}
		n, err := strconv.ParseUint(line, 16, 32)
		if err != nil || int(n)+2 > len(after) {
			t.Fatalf("bad chunk %q: %v", line, err)
		}
		if n == 0 {
			break
		}
		chunks = append(chunks, after[:n])
		rest = after[n+2:]
	}
	return head, chunks
}

func TestStreamEvents(t *testing.T) {
	s := newServer(t, true)
	texts := []string{"GOAL", "rates and shares", "quote \" backslash \\ newline \n café 🚀", "x"}
	body, _ := json.Marshal(map[string][]string{"texts": texts})
	head, chunks := rawChunks(t, s.Listener.Addr().String(), string(body))
	for _, want := range []string{"HTTP/1.1 200 OK\r\n", "Content-Type: text/event-stream\r\n", "Cache-Control: no-cache\r\n"} {
		if !strings.Contains(head+"\r\n", want) {
			t.Errorf("head lacks %q: %s", want, head)
		}
	}
	// One chunk per event: each flushed on its own.
	if len(chunks) != len(texts)+1 {
		t.Fatalf("%d chunks for %d texts: %q", len(chunks), len(texts), chunks)
	}
	for i, text := range texts {
		if want := "id: " + strconv.Itoa(i) + "\ndata: " + predictBytes(t, s, text) + "\n\n"; chunks[i] != want {
			t.Errorf("event %d: %q, want %q", i, chunks[i], want)
		}
	}
	if chunks[len(texts)] != "data: [DONE]\n\n" {
		t.Errorf("last event %q", chunks[len(texts)])
	}
	_, chunks = rawChunks(t, s.Listener.Addr().String(), `{"texts":[]}`)
	if len(chunks) != 1 || chunks[0] != "data: [DONE]\n\n" {
		t.Errorf("no texts: %q", chunks)
	}
}

func TestStreamStatuses(t *testing.T) {
	s := newServer(t, true)
	many := func(n int) string {
		b, _ := json.Marshal(map[string][]string{"texts": make([]string, n)})
		return strings.ReplaceAll(string(b), `""`, `"a"`)
	}
	big := make([]string, 18)
	for i := range big {
		big[i] = strings.Repeat("y", 60000)
	}
	overMiB, _ := json.Marshal(map[string][]string{"texts": big})
	const j = "application/json"
	cases := []struct {
		name, ctype, body string
		want              int
		wantBody          string
	}{
		{"100 000 texts", j, many(100000), 422, `{"error":"more than 10000 texts"}`},
		{"10 001 texts", j, many(10001), 422, ""},
		{"10 000 texts", j, many(10000), 200, ""},
		{"not JSON", j, `texts=a`, 400, ""},
		{"truncated", j, `{"texts":["a"`, 400, ""},
		{"trailing comma", j, `{"texts":["a",]}`, 400, ""},
		{"wrong type then syntax error", j, `{"texts":["a",5,`, 422, ""},
		{"text/plain", "text/plain", `{"texts":["a"]}`, 400, ""},
		{"array", j, `["a"]`, 422, `{"error":"body must be a JSON object with a \"texts\" array"}`},
		{"missing texts", j, `{"text":"a"}`, 422, `{"error":"missing field ` + "`texts`" + `"}`},
		{"duplicate texts", j, `{"texts":[],"texts":[]}`, 422, ""},
		{"texts a string", j, `{"texts":"a"}`, 422, ""},
		{"texts a bad string", j, "{\"texts\":\"\xff\"}", 400, ""},
		{"texts null", j, `{"texts":null}`, 422, ""},
		{"a number text", j, `{"texts":["a",5]}`, 422, ""},
		{"empty text mid-list", j, `{"texts":["a","","b"]}`, 422, `{"error":"texts[1]: text must not be empty"}`},
		{"text over 64 KiB", j, `{"texts":["` + strings.Repeat("x", 65537) + `"]}`, 422, `{"error":"texts[0]: text is 65537 bytes; the limit is 65536"}`},
		{"body over 1 MiB", j, string(overMiB), 413, `{"error":"request body is over 1048576 bytes"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := s.Client().Post(s.URL+"/predict/stream", c.ctype, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("status %d, want %d; body %.200s", resp.StatusCode, c.want, got)
			}
			if c.wantBody != "" && string(got) != c.wantBody {
				t.Errorf("body %s, want %s", got, c.wantBody)
			}
			if c.want == 200 && !bytes.HasSuffix(got, []byte("\n\ndata: [DONE]\n\n")) {
				t.Errorf("no [DONE]: %.200s", got)
			}
		})
	}
	resp, err := http.Get(s.URL + "/predict/stream")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET /predict/stream: %d", resp.StatusCode)
	}
}

// wsClient is a WebSocket client by hand, for frames no library would send.
type wsClient struct {
	c net.Conn
	r *bufio.Reader
}

func wsDial(t *testing.T, addr string) *wsClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(c, "GET /predict/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	if got := resp.Header.Get("Sec-Websocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("accept %q", got)
	}
	return &wsClient{c, r}
}

// write sends one masked frame with FIN set.
func (w *wsClient) write(t *testing.T, opcode byte, payload []byte) {
	t.Helper()
	head := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n <= 125:
		head = append(head, 0x80|byte(n))
	case n <= 0xffff:
		head = append(head, 0x80|126, byte(n>>8), byte(n))
	default:
		head = append(head, 0x80|127)
		head = binary.BigEndian.AppendUint64(head, uint64(n))
	}
	mask := make([]byte, 4)
	_, _ = rand.Read(mask)
	head = append(head, mask...)
	masked := make([]byte, len(payload))
	for i := range payload {
		masked[i] = payload[i] ^ mask[i%4]
	}
	if _, err := w.c.Write(append(head, masked...)); err != nil {
		t.Fatal(err)
	}
}

// read returns the server's next frame (unmasked), or opcode 0 at the
// connection's end.
func (w *wsClient) read(t *testing.T) (byte, []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(w.r, h[:]); err != nil {
		return 0, nil
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, _ = io.ReadFull(w.r, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, _ = io.ReadFull(w.r, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 || h[1]&0x80 != 0 {
		t.Fatalf("server frame: %x, length %d", h, n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(w.r, payload); err != nil {
		t.Fatal(err)
	}
	return h[0] & 0x0f, payload
}

func (w *wsClient) ask(t *testing.T, msg string) string {
	t.Helper()
	w.write(t, 1, []byte(msg))
	op, p := w.read(t)
	if op != 1 {
		t.Fatalf("%q: opcode %d %q", msg, op, p)
	}
	return string(p)
}

// closeCode reads the next frame, which must be a close, and returns its code.
func (w *wsClient) closeCode(t *testing.T) int {
	t.Helper()
	op, p := w.read(t)
	if op != 8 || len(p) < 2 {
		t.Fatalf("want a close, got opcode %d %q", op, p)
	}
	return int(binary.BigEndian.Uint16(p))
}

func TestWebSocket(t *testing.T) {
	s := newServer(t, true)
	w := wsDial(t, s.Listener.Addr().String())
	for _, text := range []string{"GOAL", "rates and shares", "quote \" backslash \\ café 🚀"} {
		body, _ := json.Marshal(map[string]string{"text": text})
		if got, want := w.ask(t, string(body)), predictBytes(t, s, text); got != want {
			t.Errorf("%q: %s, want %s", text, got, want)
		}
	}
	for _, c := range []struct{ msg, want string }{
		{`not json`, "malformed JSON"},
		{`{"text":""}`, `{"error":"text must not be empty"}`},
		{`{"txt":"a"}`, "missing field `text`"},
		{`["a"]`, `{"error":"body must be a JSON object with a \"text\" string"}`},
	} {
		if got := w.ask(t, c.msg); !strings.Contains(got, c.want) || !strings.HasPrefix(got, `{"error":`) {
			t.Errorf("%s: %s, want %s", c.msg, got, c.want)
		}
	}
	if got, want := w.ask(t, `{"text":"GOAL"}`), `{"category":3,"label":"sports"}`; got != want {
		t.Errorf("after errors: %s", got)
	}
	w.write(t, 9, []byte("are you there"))
	if op, p := w.read(t); op != 10 || string(p) != "are you there" {
		t.Errorf("ping: opcode %d %q", op, p)
	}
	// A close is answered with a close, then the end.
	w.write(t, 8, []byte{0x03, 0xe8})
	if code := w.closeCode(t); code != 1000 {
		t.Errorf("close answered with %d", code)
	}
	if op, _ := w.read(t); op != 0 {
		t.Errorf("more after the close: opcode %d", op)
	}
}

func TestWebSocketCloses(t *testing.T) {
	s := newServer(t, true)
	addr := s.Listener.Addr().String()
	w := wsDial(t, addr)
	w.write(t, 2, []byte(`{"text":"GOAL"}`))
	if code := w.closeCode(t); code != 1003 {
		t.Errorf("binary: close %d, want 1003", code)
	}
	w.write(t, 8, []byte{0x03, 0xe8})
	if op, _ := w.read(t); op != 0 {
		t.Errorf("more after the close: opcode %d", op)
	}
	for _, length := range []uint64{1 << 62, 1 << 32, MaxWSMessageBytes + 1} {
		w := wsDial(t, addr)
		frame := []byte{0x81, 0xff}
		frame = binary.BigEndian.AppendUint64(frame, length)
		frame = append(frame, 1, 2, 3, 4)
		if _, err := w.c.Write(frame); err != nil {
			t.Fatal(err)
		}
		if code := w.closeCode(t); code != 1009 {
			t.Errorf("length %d: close %d, want 1009", length, code)
		}
	}
	// A message of exactly the limit is still read.
	w = wsDial(t, addr)
	msg := `{"text":"` + strings.Repeat("a", MaxWSMessageBytes-11) + `"}`
	if got := w.ask(t, msg); !strings.HasPrefix(got, `{"category":`) {
		t.Errorf("64 KiB message: %s", got)
	}
}

func TestWebSocketHandshakeStatuses(t *testing.T) {
	s := newServer(t, true)
	for _, c := range []struct {
		name, method string
		headers      map[string]string
		want         int
	}{
		{"plain GET", "GET", nil, 400},
		{"POST", "POST", nil, 405},
		{"HEAD", "HEAD", nil, 405},
		{"no upgrade", "GET", map[string]string{"Connection": "Upgrade"}, 400},
		{"no key", "GET", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}, 400},
		{"version 8", "GET", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, 400},
	} {
		req, _ := http.NewRequest(c.method, s.URL+"/predict/ws", nil)
		for k, v := range c.headers {
			req.Header.Set(k, v)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s, want %d JSON", c.name, resp.StatusCode, resp.Header.Get("Content-Type"), c.want)
		}
	}
	ns := newServer(t, false)
	req, _ := http.NewRequest("GET", ns.URL+"/predict/ws", nil)
	resp, err := ns.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("before the model: %d", resp.StatusCode)
	}
}

func TestCloseSessions(t *testing.T) {
	m, err := model.Load("../../model/model.bin")
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{}
	h.SetModel(m)
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	w := wsDial(t, s.Listener.Addr().String())
	if got := w.ask(t, `{"text":"GOAL"}`); !strings.HasPrefix(got, `{"category":`) {
		t.Fatal(got)
	}
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- h.CloseSessions(ctx)
	}()
	if code := w.closeCode(t); code != 1001 {
		t.Errorf("stop: close %d, want 1001", code)
	}
	w.write(t, 8, []byte{0x03, 0xe9})
	if err := <-stopped; err != nil {
		t.Error(err)
	}
}

func TestWebSocketIdle(t *testing.T) {
	m, err := model.Load("../../model/model.bin")
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{WSIdleTimeout: 200 * time.Millisecond}
	h.SetModel(m)
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	w := wsDial(t, s.Listener.Addr().String())
	if code := w.closeCode(t); code != 1000 {
		t.Errorf("idle: close %d, want 1000", code)
	}
}
