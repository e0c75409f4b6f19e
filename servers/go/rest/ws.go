package rest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/websocket"

	"volley/servers/go/model"
)

// MaxWSMessageBytes is the largest WebSocket frame a session reads:
// /predict's body limit.
const MaxWSMessageBytes = model.MaxTextBytes

// WSIdleTimeout is how long a session may stay without a message before it
// is closed (1000).
const WSIdleTimeout = 300 * time.Second

// wsCloseTimeout is how long a session waits for the client's close after
// sending its own.
const wsCloseTimeout = 5 * time.Second

// http2Refused is the 400 for /predict/ws over HTTP/2.
const http2Refused = "WebSocket needs HTTP/1.1 here: HTTP/2's extended CONNECT is not offered"

// Close codes (RFC 6455 section 7.4.1).
const (
	closeNormal      = 1000
	closeGoingAway   = 1001
	closeProtocol    = 1002
	closeUnsupported = 1003
	closeTooBig      = 1009
)

// wsFrame is one data frame as x/net/websocket's Codec hands it over.
type wsFrame struct {
	data        []byte
	payloadType byte
}

var frameCodec = websocket.Codec{
	Marshal: func(v any) ([]byte, byte, error) {
		return []byte(v.(string)), websocket.TextFrame, nil
	},
	Unmarshal: func(data []byte, payloadType byte, v any) error {
		*v.(*wsFrame) = wsFrame{data, payloadType}
		return nil
	},
}

// predictWS answers GET /predict/ws: axum's refusals (in its order, with
// its messages, as JSON), then the upgrade. x/net/websocket checks the same
// headers again; its Origin check is off, as axum has none.
func (h *Handler) predictWS(w http.ResponseWriter, r *http.Request) {
	m := h.model.Load()
	if m == nil {
		writeError(w, http.StatusServiceUnavailable, "the model is still loading")
		return
	}
	if r.ProtoMajor >= 2 {
		writeError(w, http.StatusBadRequest, http2Refused)
		return
	}
	first := func(name string) string {
		if v := r.Header.Values(name); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	switch {
	case r.Method != http.MethodGet:
		writeError(w, http.StatusMethodNotAllowed, "Request method must be `GET`")
		return
	case !strings.Contains(strings.ToLower(first("Connection")), "upgrade"):
		writeError(w, http.StatusBadRequest, "Connection header did not include 'upgrade'")
		return
	case !strings.EqualFold(first("Upgrade"), "websocket"):
		writeError(w, http.StatusBadRequest, "`Upgrade` header did not include 'websocket'")
		return
	case len(r.Header.Values("Sec-Websocket-Key")) == 0:
		writeError(w, http.StatusBadRequest, "`Sec-WebSocket-Key` header missing")
		return
	case !strings.EqualFold(first("Sec-Websocket-Version"), "13"):
		writeError(w, http.StatusBadRequest, "`Sec-WebSocket-Version` header did not include '13'")
		return
	}
	stopping := h.sessionOpened()
	defer h.sessionClosed()
	websocket.Server{
		Handshake: func(*websocket.Config, *http.Request) error { return nil },
		Handler:   func(ws *websocket.Conn) { h.session(ws, m, stopping) },
	}.ServeHTTP(w, r)
}

// wsSession is one session's writing side: answers, and at most one close,
// after which nothing more is written.
type wsSession struct {
	ws     *websocket.Conn
	mu     sync.Mutex
	closed bool
}

func (s *wsSession) send(msg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return io.ErrClosedPipe
	}
	return frameCodec.Send(s.ws, msg)
}

// close sends a close with code (x/net/websocket writes no reason) unless
// one was sent already, and reports whether this call sent it.
func (s *wsSession) close(code int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	_ = s.ws.WriteClose(code)
	return true
}

// armRead sets the deadline of the next read: idle from now, or the close
// timeout once a close has been sent. Under the lock, so that a stop's
// shorter deadline is not overwritten.
func (s *wsSession) armRead(idle time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		idle = wsCloseTimeout
	}
	_ = s.ws.SetReadDeadline(time.Now().Add(idle))
}

// stop closes with 1001 and shortens the read under way to the close
// timeout.
func (s *wsSession) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		_ = s.ws.WriteClose(closeGoingAway)
		_ = s.ws.SetReadDeadline(time.Now().Add(wsCloseTimeout))
	}
}

// awaitClose reads and drops frames until the client's close, a bounded
// time: each frame is at most MaxPayloadBytes, and the deadline ends it.
func (s *wsSession) awaitClose() {
	_ = s.ws.SetReadDeadline(time.Now().Add(wsCloseTimeout))
	var f wsFrame
	for frameCodec.Receive(s.ws, &f) == nil {
	}
}

// session answers each text message like /predict, as the Rust server does:
// see the package's README for what x/net/websocket does differently.
func (h *Handler) session(ws *websocket.Conn, m *model.Model, stopping <-chan struct{}) {
	ws.MaxPayloadBytes = MaxWSMessageBytes
	s := &wsSession{ws: ws}
	idle := h.WSIdleTimeout
	if idle == 0 {
		idle = WSIdleTimeout
	}
	// A stopping server closes the session (1001); the read below then ends
	// at the client's close or the deadline.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-stopping:
			s.stop()
		case <-done:
		}
	}()
	// One message per turn; ends with the connection, an error or a close.
	for {
		s.armRead(idle)
		var f wsFrame
		err := frameCodec.Receive(ws, &f)
		switch {
		case errors.Is(err, websocket.ErrFrameTooLarge):
			// Refused from the header: the payload is never read.
			s.close(closeTooBig)
			return
		case errors.Is(err, io.EOF):
			// The client's close (or the connection's end): answer it.
			s.close(closeNormal)
			return
		case isTimeout(err):
			if s.close(closeNormal) { // idle; a stop has closed already
				s.awaitClose()
			}
			return
		case err != nil:
			return
		}
		switch f.payloadType {
		case websocket.TextFrame:
		case websocket.BinaryFrame:
			if s.close(closeUnsupported) {
				s.awaitClose()
			}
			return
		default:
			s.close(closeProtocol)
			return
		}
		text, perr := parseBody(f.data)
		var reply string
		if perr != nil {
			reply = errorJSON(perr.msg)
		} else if json, status, msg := answer(m, text); status != 0 {
			reply = errorJSON(msg)
		} else {
			reply = json
		}
		if s.send(reply) != nil {
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// stopChan is made on first use, so that the zero Handler works.
func (h *Handler) stopChan() chan struct{} {
	if h.stopping == nil {
		h.stopping = make(chan struct{})
	}
	return h.stopping
}

func (h *Handler) sessionOpened() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open++
	return h.stopChan()
}

func (h *Handler) sessionClosed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open--
	if h.open == 0 && h.idle != nil {
		close(h.idle)
		h.idle = nil
	}
}

// CloseSessions closes every WebSocket session, open or yet to open, with
// 1001 (going away) and waits until they have ended or ctx is done.
func (h *Handler) CloseSessions(ctx context.Context) error {
	h.mu.Lock()
	ch := h.stopChan()
	select {
	case <-ch:
	default:
		close(ch)
	}
	if h.open == 0 {
		h.mu.Unlock()
		return nil
	}
	if h.idle == nil {
		h.idle = make(chan struct{})
	}
	idle := h.idle
	h.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("WebSocket sessions still open: %w", ctx.Err())
	}
}
