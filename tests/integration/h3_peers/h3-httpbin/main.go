// h3-httpbin serves go-httpbin's handler over HTTP/3 (quic-go's http3), for
// volley's integration tests (tests/integration/h3_peers.rs): a server
// nobody here wrote, speaking HTTP/3 only, on a UDP port of loopback.
//
// It adds hostile routes in front of httpbin's own:
//
//	/h3/reset    the answer's head (200, Content-Length: 1000) and its first
//	             100 bytes, then, 10 ms later, the request stream reset
//	             (RESET_STREAM and STOP_SENDING) with H3_REQUEST_CANCELLED,
//	             0x10c: the client sees the reset mid-body.
//	/h3/abort    the handler panics with http.ErrAbortHandler before writing
//	             anything: quic-go resets the stream with H3_INTERNAL_ERROR,
//	             0x102, before any head.
//	/h3/close    the whole QUIC connection closed with application error
//	             0x10c (H3_REQUEST_CANCELLED), reason "h3-httpbin: /h3/close":
//	             every request in flight on it ends.
//	/h3/slow     200 "slow" after ?ms=N milliseconds (at most 60000): a
//	             target of known latency.
//
// Flags: -addr 127.0.0.1:PORT (UDP), -cert-out FILE (the self-signed
// certificate it generates at start, ECDSA P-256 for 127.0.0.1 and
// localhost, as PEM: a client's CA), -log FILE (one JSON line per request:
// method, uri, proto, status; status 0 where the route above gave no
// complete answer). The certificate file is written last, once the UDP
// socket is bound: its existence says the server is ready. SIGTERM or
// SIGINT end it (exit 0).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// H3_REQUEST_CANCELLED (RFC 9114, 8.1).
const requestCancelled = 0x10c

type connKey struct{}

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "UDP address to serve HTTP/3 on")
	certOut := flag.String("cert-out", "", "where to write the self-signed certificate (PEM); written once ready")
	logPath := flag.String("log", "", "access log: one JSON line per request")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("h3-httpbin: ")
	if *certOut == "" {
		log.Fatal("-cert-out is required")
	}

	cert, certPEM, err := selfSigned()
	if err != nil {
		log.Fatal(err)
	}
	access := io.Discard
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		access = f
	}

	udp, err := net.ListenPacket("udp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http3.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		Handler:   &logged{next: routes(httpbin.New().Handler()), out: access},
		// /h3/close reaches its connection through the request's context.
		ConnContext: func(ctx context.Context, c *quic.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}

	// Bound: now the certificate, written whole (a rename) so that a
	// reader never sees half a file.
	tmp := *certOut + ".tmp"
	if err := os.WriteFile(tmp, certPEM, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(tmp, *certOut); err != nil {
		log.Fatal(err)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(udp) }()
	select {
	case <-stop:
		srv.Close()
		udp.Close()
	case err := <-served:
		if err != nil && err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}
}

// selfSigned makes an ECDSA P-256 certificate for 127.0.0.1 and localhost,
// valid from an hour ago for a day: its key pair and its PEM.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "h3-httpbin"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// Not a CA: webpki refuses a CA certificate as the server's own
		// (CaUsedAsEndEntity); as a client's root it is a trust anchor
		// whatever its constraints.
		BasicConstraintsValid: true,
		IsCA:                  false,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemBytes, nil
}

// routes puts the hostile routes in front of httpbin's.
func routes(httpbin http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", httpbin)
	mux.HandleFunc("/h3/reset", func(w http.ResponseWriter, r *http.Request) {
		noAnswer(w)
		streamer, ok := unwrap(w).(http3.HTTPStreamer)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		// HTTPStream flushes the head; the stream is then ours alone.
		str := streamer.HTTPStream()
		str.Write(make([]byte, 100))
		// Time for the head and the bytes to be sent, so that the reset
		// comes mid-body (a reset queued with them may discard them).
		time.Sleep(10 * time.Millisecond)
		str.CancelWrite(requestCancelled)
		str.CancelRead(requestCancelled)
	})
	mux.HandleFunc("/h3/abort", func(w http.ResponseWriter, r *http.Request) {
		noAnswer(w)
		panic(http.ErrAbortHandler)
	})
	mux.HandleFunc("/h3/close", func(w http.ResponseWriter, r *http.Request) {
		noAnswer(w)
		conn, ok := r.Context().Value(connKey{}).(*quic.Conn)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		conn.CloseWithError(requestCancelled, "h3-httpbin: /h3/close")
	})
	mux.HandleFunc("/h3/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 || ms > 60000 {
			http.Error(w, "ms: a number of milliseconds, 0 to 60000", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "slow")
		case <-r.Context().Done():
			noAnswer(w)
		}
	})
	return mux
}

// recorder is the ResponseWriter the log sees: the status written.
type recorder struct {
	http.ResponseWriter
	status int
	// none: the route gave no complete answer (logged as status 0).
	none bool
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush, for httpbin's streaming routes (/drip, /sse, /stream).
func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach quic-go's writer.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func noAnswer(w http.ResponseWriter) {
	if rec, ok := w.(*recorder); ok {
		rec.none = true
	}
}

func unwrap(w http.ResponseWriter) http.ResponseWriter {
	if rec, ok := w.(*recorder); ok {
		return rec.ResponseWriter
	}
	return w
}

// logged writes one JSON line per request once its handler returns (or
// panics), each line one write(2) to an unbuffered file: a test reads every
// answered request's line.
type logged struct {
	next http.Handler
	mu   sync.Mutex
	out  io.Writer
}

type line struct {
	Method string `json:"method"`
	URI    string `json:"uri"`
	Proto  string `json:"proto"`
	Status int    `json:"status"`
}

func (l *logged) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w}
	defer func() {
		status := rec.status
		if status == 0 {
			// A handler that returns without writing answers 200.
			status = http.StatusOK
		}
		if rec.none {
			status = 0
		}
		b, err := json.Marshal(line{r.Method, r.RequestURI, r.Proto, status})
		if err == nil {
			l.mu.Lock()
			l.out.Write(append(b, '\n'))
			l.mu.Unlock()
		}
	}()
	l.next.ServeHTTP(rec, r)
}
