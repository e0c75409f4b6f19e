// Package rest is the REST flavour of the prediction API: POST /predict,
// POST /predict/stream (Server-Sent Events), GET /predict/ws (WebSocket),
// GET /healthz, GET /readyz, with the Rust server's statuses, JSON error
// bodies and answer bytes.
package rest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"volley/servers/go/model"
)

// ClientTimeout is how long a client may take to send its request head or
// body.
const ClientTimeout = 10 * time.Second

// Handler serves the API over a model that may still be loading.
type Handler struct {
	model atomic.Pointer[model.Model]
	// BodyTimeout overrides ClientTimeout for the body (tests).
	BodyTimeout time.Duration
	// WSIdleTimeout overrides WSIdleTimeout (tests).
	WSIdleTimeout time.Duration

	// The WebSocket sessions: net/http forgets a connection once it is
	// hijacked, so Shutdown does not wait for them; CloseSessions does.
	mu       sync.Mutex
	open     int
	stopping chan struct{} // closed by CloseSessions; made on first use
	idle     chan struct{} // closed when stopping and no session is open
}

// SetModel makes the handler ready.
func (h *Handler) SetModel(m *model.Model) { h.model.Store(m) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Routes match the raw path, as axum does: /pre%64ict is not /predict.
	path := r.URL.EscapedPath()
	switch path {
	case "/predict":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			methodNotAllowed(w, r, path)
			return
		}
		h.predict(w, r)
	case "/predict/stream":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			methodNotAllowed(w, r, path)
			return
		}
		h.predictStream(w, r)
	case "/predict/ws":
		// axum's get routes take HEAD too, which its WebSocket extractor
		// then refuses (in predictWS).
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET,HEAD")
			methodNotAllowed(w, r, path)
			return
		}
		h.predictWS(w, r)
	case "/healthz", "/readyz":
		// axum's get routes answer HEAD too.
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET,HEAD")
			methodNotAllowed(w, r, path)
			return
		}
		if path == "/healthz" {
			writeJSON(w, http.StatusOK, `{"status":"ok"}`)
		} else if h.model.Load() == nil {
			writeError(w, http.StatusServiceUnavailable, "the model is still loading")
		} else {
			writeJSON(w, http.StatusOK, `{"status":"ready"}`)
		}
	default:
		writeError(w, http.StatusNotFound, "no route for "+path)
	}
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, path string) {
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s", r.Method, path))
}

// isJSON reports whether the first content-type is application/json, with
// any parameters.
func isJSON(r *http.Request) bool {
	v := r.Header.Values("Content-Type")
	if len(v) == 0 {
		return false
	}
	// Like http::HeaderValue::to_str: visible ASCII, space and tab only.
	for i := 0; i < len(v[0]); i++ {
		if c := v[0][i]; (c < 0x20 && c != '\t') || c >= 0x7f {
			return false
		}
	}
	mime, _, _ := strings.Cut(v[0], ";")
	return strings.EqualFold(strings.Trim(mime, " \t"), "application/json")
}

// readJSONBody reads a JSON request body of at most limit bytes, or answers
// why not (400 for another content type, 413 over the limit, 408 when it is
// too slow) and returns false.
func (h *Handler) readJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	timeout := h.BodyTimeout
	if timeout == 0 {
		timeout = ClientTimeout
	}
	// The server itself only bounds the head (ReadHeaderTimeout); the body
	// gets its own deadline so that a slow body is a 408, not a dropped
	// connection. It stays set when the body is not read to the end, so that
	// net/http's discarding of the rest cannot hang. Where unsupported,
	// reading is not bounded.
	rc := http.NewResponseController(w)
	deadlineSet := rc.SetReadDeadline(time.Now().Add(timeout)) == nil
	if !isJSON(r) {
		writeError(w, http.StatusBadRequest, "content type must be application/json")
		return nil, false
	}
	tooLarge := func() {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over %d bytes", limit))
	}
	if r.ContentLength > limit {
		tooLarge()
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if deadlineSet && err == nil {
		_ = rc.SetReadDeadline(time.Time{})
	}
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		tooLarge()
		return nil, false
	case errors.Is(err, os.ErrDeadlineExceeded):
		writeError(w, http.StatusRequestTimeout, "request body did not arrive in time")
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "reading request body: "+err.Error())
		return nil, false
	}
	return body, true
}

// refusal says why a text gets no prediction, with the Rust server's
// statuses and messages (its SharedModel::check); 0 when there is none.
func refusal(text string) (int, string) {
	if text == "" {
		return http.StatusUnprocessableEntity, "text must not be empty"
	}
	if len(text) > model.MaxTextBytes {
		return http.StatusUnprocessableEntity, fmt.Sprintf("text is %d bytes; the limit is %d", len(text), model.MaxTextBytes)
	}
	return 0, ""
}

// answer is what /predict, each /predict/stream event and each /predict/ws
// message say for one text: the prediction's JSON, or the status and
// message of its refusal. Their one path from a text to its bytes.
func answer(m *model.Model, text string) (string, int, string) {
	if status, msg := refusal(text); status != 0 {
		return "", status, msg
	}
	c, label := m.Predict(text)
	return `{"category":` + strconv.Itoa(c) + `,"label":` + jsonString(label) + `}`, 0, ""
}

func (h *Handler) predict(w http.ResponseWriter, r *http.Request) {
	m := h.model.Load()
	if m == nil {
		writeError(w, http.StatusServiceUnavailable, "the model is still loading")
		return
	}
	body, ok := h.readJSONBody(w, r, model.MaxTextBytes)
	if !ok {
		return
	}
	text, perr := parseBody(body)
	if perr != nil {
		writeError(w, perr.status, perr.msg)
		return
	}
	json, status, msg := answer(m, text)
	if status != 0 {
		writeError(w, status, msg)
		return
	}
	writeJSON(w, http.StatusOK, json)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorJSON(msg))
}

// errorJSON is the error body of every route: {"error":"..."}.
func errorJSON(msg string) string {
	return `{"error":` + jsonString(msg) + `}`
}

// jsonString quotes s as serde_json does: only quotes, backslashes and
// control characters are escaped (encoding/json also escapes <, >, & and
// U+2028/9). Invalid UTF-8 (a raw path) becomes U+FFFD.
func jsonString(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
