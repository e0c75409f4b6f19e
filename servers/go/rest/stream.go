package rest

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// MaxStreamBodyBytes is the largest /predict/stream body: 1 MiB.
const MaxStreamBodyBytes = 1 << 20

// MaxStreamTexts is the most texts one /predict/stream request may carry.
const MaxStreamTexts = 10000

// predictStream answers POST /predict/stream, {"texts": ["...", ...]}, with
// Server-Sent Events as the Rust server does: every text checked first (a bad
// one is a 422 naming its index), then 200, text/event-stream, one event per
// text, "id: <index>\ndata: <what /predict answers>\n\n", each flushed as
// soon as it is made, and last "data: [DONE]\n\n".
func (h *Handler) predictStream(w http.ResponseWriter, r *http.Request) {
	m := h.model.Load()
	if m == nil {
		writeError(w, http.StatusServiceUnavailable, "the model is still loading")
		return
	}
	body, ok := h.readJSONBody(w, r, MaxStreamBodyBytes)
	if !ok {
		return
	}
	texts, perr := parseStreamBody(body)
	if perr != nil {
		writeError(w, perr.status, perr.msg)
		return
	}
	// Checked up front, so that a stream once started is complete.
	for i, t := range texts {
		if status, msg := refusal(t); status != 0 {
			writeError(w, status, fmt.Sprintf("texts[%d]: %s", i, msg))
			return
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// The head goes out now, and chunked (HTTP/1.1) even for no texts, as
	// the Rust server's does.
	if rc.Flush() != nil {
		return
	}
	for i, t := range texts {
		json, status, msg := answer(m, t)
		var event string
		if status != 0 {
			// Not reached: every text was checked. Were it, the stream
			// would end here, on an error event and without [DONE].
			event = "event: error\ndata: " + errorJSON(msg) + "\n\n"
		} else {
			event = "id: " + strconv.Itoa(i) + "\ndata: " + json + "\n\n"
		}
		// Each event its own chunk (HTTP/1.1) or DATA frame (HTTP/2).
		if _, err := io.WriteString(w, event); err != nil || rc.Flush() != nil || status != 0 {
			return
		}
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
}
