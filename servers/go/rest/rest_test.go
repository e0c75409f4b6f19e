package rest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"volley/servers/go/model"
)

func newServer(t *testing.T, loaded bool) *httptest.Server {
	t.Helper()
	h := &Handler{BodyTimeout: 300 * time.Millisecond}
	if loaded {
		m, err := model.Load("../../model/model.bin")
		if err != nil {
			t.Fatal(err)
		}
		h.SetModel(m)
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func TestStatuses(t *testing.T) {
	s := newServer(t, true)
	const j = "application/json"
	cases := []struct {
		name, method, path, ctype, body string
		chunked                         bool
		want                            int
		wantBody                        string
	}{
		{"ok", "POST", "/predict", j, `{"text":"GOAL"}`, false, 200, `{"category":3,"label":"sports"}`},
		{"charset", "POST", "/predict", "Application/JSON ; charset=utf-8", `{"text":"GOAL"}`, false, 200, ""},
		{"no content type", "POST", "/predict", "", `{"text":"hi"}`, false, 400, `{"error":"content type must be application/json"}`},
		{"text/plain", "POST", "/predict", "text/plain", `{"text":"hi"}`, false, 400, ""},
		{"syntax error", "POST", "/predict", j, `{"text": "hi"`, false, 400, ""},
		{"trailing bytes", "POST", "/predict", j, `{"text":"hi"} x`, false, 400, ""},
		{"invalid UTF-8", "POST", "/predict", j, "{\"text\":\"a\xffb\"}", false, 400, ""},
		{"invalid UTF-8 in key", "POST", "/predict", j, "{\"\xff\":1,\"text\":\"a\"}", false, 400, ""},
		{"lone surrogate", "POST", "/predict", j, `{"text":"\udc00"}`, false, 400, ""},
		{"unpaired surrogate", "POST", "/predict", j, `{"text":"\ud800x"}`, false, 400, ""},
		{"surrogate pair", "POST", "/predict", j, `{"text":"\ud83d\ude80"}`, false, 200, ""},
		{"control character", "POST", "/predict", j, "{\"text\":\"a\nb\"}", false, 400, ""},
		{"empty body", "POST", "/predict", j, ``, false, 400, ""},
		{"form feed", "POST", "/predict", j, "\f{\"text\":\"a\"}", false, 400, ""},
		{"number out of range", "POST", "/predict", j, `{"text":1e400}`, false, 400, ""},
		{"bad literal", "POST", "/predict", j, `{"text":nul}`, false, 400, ""},
		{"array", "POST", "/predict", j, `["hi"]`, false, 422, `{"error":"body must be a JSON object with a \"text\" string"}`},
		{"array with bad UTF-8", "POST", "/predict", j, "[\"\xff\"]", false, 422, ""},
		{"bad array", "POST", "/predict", j, `[1,]`, false, 400, ""},
		{"number", "POST", "/predict", j, ` 5 `, false, 422, ""},
		{"empty object", "POST", "/predict", j, `{}`, false, 422, `{"error":"missing field ` + "`text`" + `"}`},
		{"text null", "POST", "/predict", j, `{"text":null}`, false, 422, ""},
		{"text number", "POST", "/predict", j, `{"text":5}`, false, 422, ""},
		{"text bool", "POST", "/predict", j, `{"text":true}`, false, 422, ""},
		{"text array", "POST", "/predict", j, `{"text":[1,`, false, 422, ""},
		{"text empty", "POST", "/predict", j, `{"text":""}`, false, 422, `{"error":"text must not be empty"}`},
		{"duplicate text", "POST", "/predict", j, `{"text":"a","text":"b"}`, false, 422, ""},
		{"key case", "POST", "/predict", j, `{"TEXT":"hi"}`, false, 422, ""},
		{"missing before trailing", "POST", "/predict", j, `{"a":1} x`, false, 422, ""},
		{"escaped key", "POST", "/predict", j, `{"t\u0065xt":"GOAL"}`, false, 200, ""},
		{"ignored fields", "POST", "/predict", j, "{\"a\":[{\"b\":\"\xff\\ud800\"}],\"text\":\"GOAL\"}", false, 200, ""},
		{"over 64 KiB", "POST", "/predict", j, `{"text":"` + strings.Repeat("a", 65530) + `"}`, false, 413, `{"error":"request body is over 65536 bytes"}`},
		{"over 64 KiB chunked", "POST", "/predict", j, `{"text":"` + strings.Repeat("a", 70000) + `"}`, true, 413, ""},
		{"exactly 64 KiB", "POST", "/predict", j, `{"text":"` + strings.Repeat("a", 65536-11) + `"}`, false, 200, ""},
		{"unknown path", "GET", "/nope", "", ``, false, 404, `{"error":"no route for /nope"}`},
		{"encoded path", "POST", "/pre%64ict", j, `{"text":"a"}`, false, 404, ""},
		{"predict GET", "GET", "/predict", "", ``, false, 405, `{"error":"method GET is not allowed on /predict"}`},
		{"healthz POST", "POST", "/healthz", j, `{}`, false, 405, ""},
		{"healthz", "GET", "/healthz", "", ``, false, 200, `{"status":"ok"}`},
		{"readyz", "GET", "/readyz", "", ``, false, 200, `{"status":"ready"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(c.body)
			if c.chunked {
				body = io.MultiReader(body)
			}
			req, err := http.NewRequest(c.method, s.URL+c.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("status %d, want %d; body %s", resp.StatusCode, c.want, got)
			}
			if c.wantBody != "" && string(got) != c.wantBody {
				t.Errorf("body %s, want %s", got, c.wantBody)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
		})
	}
}

func TestNotReady(t *testing.T) {
	s := newServer(t, false)
	resp, err := http.Get(s.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("readyz before load: %d", resp.StatusCode)
	}
	resp, err = http.Post(s.URL+"/predict", "application/json", strings.NewReader(`{"text":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("predict before load: %d", resp.StatusCode)
	}
}

func TestSlowBodyIs408(t *testing.T) {
	s := newServer(t, true)
	c, err := net.Dial("tcp", s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"text\":")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 408 ") {
		t.Errorf("got %q, %v; want a 408", line, err)
	}
}

func TestJSONString(t *testing.T) {
	if got, want := jsonString("a\"\\\n\x01<é\u2028"), `"a\"\\\n\u0001<é`+"\u2028"+`"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
