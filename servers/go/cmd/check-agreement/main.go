// Command check-agreement sends every line of servers/model/vectors.jsonl to
// a REST and/or gRPC prediction server (over REST through /predict, and
// through /predict/stream and /predict/ws where the server has them, which
// must answer each text with /predict's bytes; over gRPC through Predict and
// through PredictStream), then a set of bad inputs, and exits non-zero
// naming every answer that differs from the expected one.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"volley/servers/go/internal/wsraw"
	pb "volley/servers/go/predictpb"
)

type vector struct {
	Text     string `json:"text"`
	Category int    `json:"category"`
	Label    string `json:"label"`
}

var failures int

func fail(format string, args ...any) {
	failures++
	fmt.Fprintf(os.Stderr, "MISMATCH: "+format+"\n", args...)
}

func main() {
	restURL := flag.String("rest", "", "base URL of a REST server, e.g. http://127.0.0.1:8000")
	grpcAddr := flag.String("grpc", "", "HOST:PORT of a gRPC server")
	vectorsPath := flag.String("vectors", "", "vectors file (default: servers/model/vectors.jsonl above the working directory)")
	slow := flag.Bool("slow", true, "also check the 408 for a body that stalls (takes 10 s)")
	flag.Parse()
	if *restURL == "" && *grpcAddr == "" {
		fmt.Fprintln(os.Stderr, "check-agreement: give -rest URL and/or -grpc HOST:PORT")
		os.Exit(2)
	}
	vectors, err := readVectors(*vectorsPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "check-agreement:", err)
		os.Exit(2)
	}
	if *restURL != "" {
		checkREST(strings.TrimRight(*restURL, "/"), vectors, *slow)
	}
	if *grpcAddr != "" {
		checkGRPC(*grpcAddr, vectors)
	}
	if failures > 0 {
		fmt.Fprintf(os.Stderr, "check-agreement: %d mismatches\n", failures)
		os.Exit(1)
	}
	fmt.Printf("check-agreement: %d vectors and the bad inputs agree (rest %q, grpc %q)\n", len(vectors), *restURL, *grpcAddr)
}

func readVectors(path string) ([]vector, error) {
	if path == "" {
		dir, _ := os.Getwd()
		for {
			p := filepath.Join(dir, "servers", "model", "vectors.jsonl")
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
			if filepath.Dir(dir) == dir {
				return nil, fmt.Errorf("cannot find servers/model/vectors.jsonl; pass -vectors")
			}
			dir = filepath.Dir(dir)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
}

// badREST are requests whose status is fixed by docs/predict-api.md and by
// what the Rust server's serde_json accepts.
var badREST = []struct {
	name, method, path, ctype, body string
	chunked                         bool
	want                            int
}{
	{"no content type", "POST", "/predict", "", `{"text":"hi"}`, false, 400},
	{"text/plain", "POST", "/predict", "text/plain", `{"text":"hi"}`, false, 400},
	{"charset parameter", "POST", "/predict", "Application/JSON; charset=utf-8", `{"text":"hi"}`, false, 200},
	{"syntax error", "POST", "/predict", "application/json", `{"text": "hi"`, false, 400},
	{"trailing bytes", "POST", "/predict", "application/json", `{"text":"hi"} x`, false, 400},
	{"invalid UTF-8 in text", "POST", "/predict", "application/json", "{\"text\":\"a\xffb\"}", false, 400},
	{"lone surrogate", "POST", "/predict", "application/json", `{"text":"\ud800"}`, false, 400},
	{"empty body", "POST", "/predict", "application/json", ``, false, 400},
	{"number out of range", "POST", "/predict", "application/json", `{"text":1e400}`, false, 400},
	{"array", "POST", "/predict", "application/json", `["hi"]`, false, 422},
	{"string", "POST", "/predict", "application/json", `"hi"`, false, 422},
	{"empty object", "POST", "/predict", "application/json", `{}`, false, 422},
	{"text null", "POST", "/predict", "application/json", `{"text":null}`, false, 422},
	{"text number", "POST", "/predict", "application/json", `{"text":5}`, false, 422},
	{"text object", "POST", "/predict", "application/json", `{"text":{"a":1}}`, false, 422},
	{"text empty", "POST", "/predict", "application/json", `{"text":""}`, false, 422},
	{"duplicate text", "POST", "/predict", "application/json", `{"text":"a","text":"b"}`, false, 422},
	{"key case", "POST", "/predict", "application/json", `{"TEXT":"hi"}`, false, 422},
	{"wrong type before syntax error", "POST", "/predict", "application/json", `{"text":5,`, false, 422},
	{"missing text before trailing bytes", "POST", "/predict", "application/json", `{"a":1} x`, false, 422},
	{"escaped key", "POST", "/predict", "application/json", `{"t\u0065xt":"goal"}`, false, 200},
	{"other fields ignored", "POST", "/predict", "application/json", "{\"a\":[{\"b\":\"\xff\"}],\"text\":\"goal\"}", false, 200},
	{"over 64 KiB by content-length", "POST", "/predict", "application/json", `{"text":"` + strings.Repeat("a", 65530) + `"}`, false, 413},
	{"over 64 KiB chunked", "POST", "/predict", "application/json", `{"text":"` + strings.Repeat("a", 70000) + `"}`, true, 413},
	{"exactly 64 KiB", "POST", "/predict", "application/json", `{"text":"` + strings.Repeat("a", 65536-11) + `"}`, false, 200},
	{"unknown path", "GET", "/nope", "", ``, false, 404},
	{"encoded path", "POST", "/pre%64ict", "application/json", `{"text":"hi"}`, false, 404},
	{"predict GET", "GET", "/predict", "", ``, false, 405},
	{"healthz POST", "POST", "/healthz", "application/json", `{}`, false, 405},
	{"healthz", "GET", "/healthz", "", ``, false, 200},
	{"readyz", "GET", "/readyz", "", ``, false, 200},
}

// badStream are the bad requests to /predict/stream and /predict/ws, sent
// only to a server that has them.
var badStream = []struct {
	name, method, path, ctype, body string
	chunked                         bool
	want                            int
}{
	{"stream: 100 000 texts", "POST", "/predict/stream", "application/json", `{"texts":["a"` + strings.Repeat(`,"a"`, 99999) + `]}`, false, 422},
	{"stream: 10 001 texts", "POST", "/predict/stream", "application/json", `{"texts":["a"` + strings.Repeat(`,"a"`, 10000) + `]}`, false, 422},
	{"stream: not JSON", "POST", "/predict/stream", "application/json", `texts=a`, false, 400},
	{"stream: trailing comma", "POST", "/predict/stream", "application/json", `{"texts":["a",]}`, false, 400},
	{"stream: no content type", "POST", "/predict/stream", "", `{"texts":["a"]}`, false, 400},
	{"stream: array", "POST", "/predict/stream", "application/json", `["a"]`, false, 422},
	{"stream: texts missing", "POST", "/predict/stream", "application/json", `{"text":"a"}`, false, 422},
	{"stream: texts a string", "POST", "/predict/stream", "application/json", `{"texts":"a"}`, false, 422},
	{"stream: a number text", "POST", "/predict/stream", "application/json", `{"texts":["a",5]}`, false, 422},
	{"stream: wrong type before syntax error", "POST", "/predict/stream", "application/json", `{"texts":["a",5,`, false, 422},
	{"stream: empty text mid-list", "POST", "/predict/stream", "application/json", `{"texts":["a","","b"]}`, false, 422},
	{"stream: text over 64 KiB", "POST", "/predict/stream", "application/json", `{"texts":["` + strings.Repeat("a", 65537) + `"]}`, false, 422},
	{"stream: over 1 MiB", "POST", "/predict/stream", "application/json", `{"texts":["` + strings.Repeat("a", 1<<20) + `"]}`, false, 413},
	{"stream: over 1 MiB chunked", "POST", "/predict/stream", "application/json", `{"texts":["` + strings.Repeat("a", 1<<20) + `"]}`, true, 413},
	{"stream: GET", "GET", "/predict/stream", "", ``, false, 405},
	{"ws: no upgrade", "GET", "/predict/ws", "", ``, false, 400},
	{"ws: POST", "POST", "/predict/ws", "application/json", `{}`, false, 405},
}

func checkREST(base string, vectors []vector, slow bool) {
	client := &http.Client{Timeout: 30 * time.Second}
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		if slow {
			checkSlowBody(base)
		}
	}()
	predicted := make([]string, len(vectors)) // /predict's bytes for each
	for i, v := range vectors {
		body, _ := json.Marshal(map[string]string{"text": v.Text})
		resp, err := client.Post(base+"/predict", "application/json", bytes.NewReader(body))
		if err != nil {
			fail("rest %q: %v", v.Text, err)
			continue
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got vector
		if err == nil {
			err = json.Unmarshal(raw, &got)
		}
		predicted[i] = string(raw)
		if err != nil || resp.StatusCode != 200 || got.Category != v.Category || got.Label != v.Label {
			fail("rest %q: status %d, category %d label %q (%v); want %d %q", v.Text, resp.StatusCode, got.Category, got.Label, err, v.Category, v.Label)
		}
	}
	bad := badREST
	if has(client, base, "POST", "/predict/stream") && has(client, base, "GET", "/predict/ws") {
		checkSSE(client, base, vectors, predicted)
		checkWS(base, vectors, predicted)
		bad = append(bad[:len(bad):len(bad)], badStream...)
	} else {
		fmt.Printf("check-agreement: %s has no /predict/stream and /predict/ws; not checked\n", base)
	}
	for _, c := range bad {
		var body io.Reader = strings.NewReader(c.body)
		if c.chunked {
			body = io.MultiReader(body) // unknown length: sent chunked
		}
		req, err := http.NewRequest(c.method, base+c.path, body)
		if err != nil {
			fail("rest %s: %v", c.name, err)
			continue
		}
		if c.path == "/pre%64ict" {
			req.URL = &url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host, Opaque: "/pre%64ict"}
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		resp, err := client.Do(req)
		if err != nil {
			fail("rest %s: %v", c.name, err)
			continue
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			fail("rest %s: status %d, want %d (body %s)", c.name, resp.StatusCode, c.want, got)
			continue
		}
		var parsed map[string]any
		if json.Unmarshal(got, &parsed) != nil || (c.want >= 400 && parsed["error"] == nil) {
			fail("rest %s: body %q is not the expected JSON", c.name, got)
		}
	}
	<-slowDone
}

// has reports whether the server routes method path (anything but a 404).
func has(client *http.Client, base, method, path string) bool {
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode != http.StatusNotFound
}

// checkSSE sends every vector in one /predict/stream request: the answer
// must be 200, text/event-stream, no-cache, then exactly one event per text
// carrying /predict's bytes, in order, and [DONE]; and no texts is [DONE].
func checkSSE(client *http.Client, base string, vectors []vector, predicted []string) {
	texts := make([]string, len(vectors))
	var want strings.Builder
	for i, v := range vectors {
		texts[i] = v.Text
		fmt.Fprintf(&want, "id: %d\ndata: %s\n\n", i, predicted[i])
	}
	want.WriteString("data: [DONE]\n\n")
	for _, c := range []struct {
		name  string
		texts []string
		want  string
	}{
		{fmt.Sprintf("%d vectors", len(texts)), texts, want.String()},
		{"no texts", []string{}, "data: [DONE]\n\n"},
	} {
		body, _ := json.Marshal(map[string][]string{"texts": c.texts})
		resp, err := client.Post(base+"/predict/stream", "application/json", bytes.NewReader(body))
		if err != nil {
			fail("rest stream, %s: %v", c.name, err)
			continue
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" ||
			resp.Header.Get("Cache-Control") != "no-cache" {
			fail("rest stream, %s: %d %q %q (%v)", c.name, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), err)
			continue
		}
		if string(got) != c.want {
			fail("rest stream, %s: body differs from /predict's answers:\n got %.300q\nwant %.300q", c.name, got, c.want)
		}
	}
}

// checkWS opens /predict/ws: each vector one at a time and then all at once
// must be answered with /predict's bytes, bad messages with {"error"} on a
// session that goes on, a ping with its pong, a close with a close; a binary
// message closes with 1003, a frame announcing 4 GiB with 1009.
func checkWS(base string, vectors []vector, predicted []string) {
	u, err := url.Parse(base)
	if err != nil {
		fail("ws: %v", err)
		return
	}
	dial := func() *wsraw.Conn {
		c, err := wsraw.Dial(u.Host, "/predict/ws", 30*time.Second)
		if err != nil {
			fail("ws: %v", err)
		}
		return c
	}
	ask := func(c *wsraw.Conn, what string, msg []byte) (string, bool) {
		if err := c.Write(wsraw.Text, msg); err != nil {
			fail("ws %s: %v", what, err)
			return "", false
		}
		op, p, err := c.Read(1 << 20)
		if err != nil || op != wsraw.Text {
			fail("ws %s: opcode %d %q (%v), want a text", what, op, p, err)
			return "", false
		}
		return string(p), true
	}
	c := dial()
	if c == nil {
		return
	}
	defer c.C.Close()
	for i, v := range vectors {
		msg, _ := json.Marshal(map[string]string{"text": v.Text})
		got, ok := ask(c, fmt.Sprintf("%q", v.Text), msg)
		if !ok {
			return
		}
		if got != predicted[i] {
			fail("ws %q: %s; /predict says %s", v.Text, got, predicted[i])
		}
	}
	for _, bad := range []string{`not json`, `{"text":""}`, `{"txt":"a"}`, `["a"]`, `{"text":5}`} {
		got, ok := ask(c, bad, []byte(bad))
		if !ok {
			return
		}
		var e map[string]string
		if json.Unmarshal([]byte(got), &e) != nil || len(e) != 1 || e["error"] == "" {
			fail("ws %s: %s, want {\"error\": \"...\"}", bad, got)
		}
	}
	for _, v := range vectors { // all at once, then every answer in order
		msg, _ := json.Marshal(map[string]string{"text": v.Text})
		if err := c.Write(wsraw.Text, msg); err != nil {
			fail("ws, all at once: %v", err)
			return
		}
	}
	for i := range vectors {
		op, p, err := c.Read(1 << 20)
		if err != nil || op != wsraw.Text || string(p) != predicted[i] {
			fail("ws, all at once, answer %d: opcode %d %q (%v); want %s", i, op, p, err, predicted[i])
			return
		}
	}
	if err := c.Write(wsraw.Ping, []byte("ping")); err != nil {
		fail("ws ping: %v", err)
		return
	}
	if op, p, err := c.Read(125); err != nil || op != wsraw.Pong || string(p) != "ping" {
		fail("ws ping: opcode %d %q (%v), want its pong", op, p, err)
	}
	_ = c.Write(wsraw.Close, []byte{0x03, 0xe8})
	if code, err := c.CloseCode(); err != nil || code != 1000 {
		fail("ws close: %d (%v), want a close 1000", code, err)
	}

	for _, h := range []struct {
		name  string
		frame []byte
		want  int
	}{
		{"binary message", nil, 1003},
		{"frame header announcing 4 GiB", []byte{0x81, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}, 1009},
	} {
		c := dial()
		if c == nil {
			return
		}
		if h.frame == nil {
			err = c.Write(wsraw.Binary, []byte(`{"text":"GOAL"}`))
		} else {
			_, err = c.C.Write(h.frame)
		}
		code, cerr := c.CloseCode()
		if err != nil || cerr != nil || code != h.want {
			fail("ws %s: close %d (%v %v), want %d", h.name, code, err, cerr, h.want)
		}
		c.C.Close()
	}
}

// checkSlowBody sends a head promising a body that never comes: 408.
func checkSlowBody(base string) {
	u, err := url.Parse(base)
	if err != nil {
		fail("rest slow body: %v", err)
		return
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		fail("rest slow body: %v", err)
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "POST /predict HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"text\":", u.Host)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 408") {
		fail("rest slow body: got %q (%v), want HTTP/1.1 408", line, err)
	}
}

func checkGRPC(addr string, vectors []vector) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail("grpc %s: %v", addr, err)
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"", pb.Predictor_ServiceDesc.ServiceName} {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			fail("grpc health %q: %v %v, want SERVING", svc, r.GetStatus(), err)
		}
	}
	pc := pb.NewPredictorClient(conn)
	for _, v := range vectors {
		r, err := pc.Predict(ctx, &pb.PredictRequest{Text: v.Text})
		if err != nil || int(r.GetCategory()) != v.Category || r.GetLabel() != v.Label {
			fail("grpc %q: category %d label %q (%v); want %d %q", v.Text, r.GetCategory(), r.GetLabel(), err, v.Category, v.Label)
		}
	}
	for _, c := range []struct {
		name string
		text string
		want codes.Code
	}{
		{"empty text", "", codes.InvalidArgument},
		{"text over 65536 bytes", strings.Repeat("a", 65537), codes.InvalidArgument},
		{"text of 65536 bytes", strings.Repeat("a", 65536), codes.OK},
	} {
		_, err := pc.Predict(ctx, &pb.PredictRequest{Text: c.text})
		if got := status.Code(err); got != c.want {
			fail("grpc %s: %v, want %v", c.name, err, c.want)
		}
	}
	checkStream(ctx, pc, vectors)
}

// checkStream calls PredictStream: the vectors one at a time (each answer
// awaited before the next text is sent, which fails unless answers come
// before the client half-closes), the vectors all at once, a refused text
// after a few good ones, and no texts at all.
func checkStream(ctx context.Context, pc pb.PredictorClient, vectors []vector) {
	pingPong(ctx, pc, vectors)

	texts := make([]string, len(vectors))
	for i, v := range vectors {
		texts[i] = v.Text
	}
	got, err := streamTexts(ctx, pc, texts)
	if err != nil {
		fail("grpc stream of %d vectors: %v after %d answers, want OK", len(vectors), err, len(got))
	}
	if len(got) != len(vectors) {
		fail("grpc stream of %d vectors: %d answers", len(vectors), len(got))
	}
	for i := 0; i < len(got) && i < len(vectors); i++ {
		sameAnswer("grpc stream", vectors[i], got[i])
	}

	const before = 3 // good texts before the refused one
	if len(vectors) < before+2 {
		fail("grpc stream: need at least %d vectors, have %d", before+2, len(vectors))
		return
	}
	for _, c := range []struct{ name, text string }{
		{"empty text", ""},
		{"text over 65536 bytes", strings.Repeat("a", 65537)},
	} {
		texts := []string{vectors[0].Text, vectors[1].Text, vectors[2].Text, c.text, vectors[3].Text, vectors[4].Text}
		got, err := streamTexts(ctx, pc, texts)
		if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() == "" {
			fail("grpc stream, %s after %d texts: %v, want InvalidArgument with a message", c.name, before, err)
		}
		if len(got) != before {
			fail("grpc stream, %s after %d texts: %d answers, want %d", c.name, before, len(got), before)
		}
		for i := 0; i < len(got) && i < before; i++ {
			sameAnswer("grpc stream, "+c.name+" later", vectors[i], got[i])
		}
	}

	got, err = streamTexts(ctx, pc, nil)
	if err != nil || len(got) != 0 {
		fail("grpc stream of no texts: %d answers, %v; want none and OK", len(got), err)
	}
}

func sameAnswer(what string, v vector, r *pb.PredictResponse) {
	if int(r.GetCategory()) != v.Category || r.GetLabel() != v.Label {
		fail("%s %q: category %d label %q; want %d %q", what, v.Text, r.GetCategory(), r.GetLabel(), v.Category, v.Label)
	}
}

// pingPong sends each vector on one PredictStream call and waits for its
// answer before sending the next; a server that holds its answers until
// the client half-closes runs into the deadline.
func pingPong(ctx context.Context, pc pb.PredictorClient, vectors []vector) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	stream, err := pc.PredictStream(ctx)
	if err != nil {
		fail("grpc stream, one text at a time: %v", err)
		return
	}
	for _, v := range vectors {
		if err := stream.Send(&pb.PredictRequest{Text: v.Text}); err != nil {
			_, err = stream.Recv() // Send says only io.EOF; Recv has the status
			fail("grpc stream, one text at a time, sending %q: %v", v.Text, err)
			return
		}
		r, err := stream.Recv()
		if err != nil {
			fail("grpc stream, one text at a time, %q: %v (no answer until the client half-closes?)", v.Text, err)
			return
		}
		sameAnswer("grpc stream, one text at a time,", v, r)
	}
	if err := stream.CloseSend(); err != nil {
		fail("grpc stream, one text at a time, half-close: %v", err)
		return
	}
	if r, err := stream.Recv(); err != io.EOF {
		fail("grpc stream, one text at a time, after half-close: %v %v, want the end (OK)", r, err)
	}
}

// streamTexts sends texts on one PredictStream call without waiting for
// answers (from a goroutine of its own) and returns every answer, then the
// call's status as an error (nil for OK).
func streamTexts(ctx context.Context, pc pb.PredictorClient, texts []string) ([]*pb.PredictResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel() // also stops the sender if the server ended the call first
	stream, err := pc.PredictStream(ctx)
	if err != nil {
		return nil, err
	}
	go func() {
		for _, t := range texts {
			if stream.Send(&pb.PredictRequest{Text: t}) != nil {
				return // the call is over; Recv says how
			}
		}
		_ = stream.CloseSend()
	}()
	var got []*pb.PredictResponse
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, r)
	}
}
