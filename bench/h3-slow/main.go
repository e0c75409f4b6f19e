// h3-slow: a target of known latency for bench/run-h3's accuracy part. One
// port of 127.0.0.1 serves HTTP/1.1 and HTTP/2 over TLS (TCP, Go's net/http)
// and HTTP/3 (UDP, quic-go's http3), the same handler on both:
//
//	/slow?ms=N   200 "slow" after N milliseconds (0 to 60000)
//
// The handler times itself (from its first line to its last, the sleep and
// the answer's write; the server's parsing and framing outside it) and keeps
// every time by protocol; on SIGTERM or SIGINT it writes, to -stats FILE, one
// JSON object: {"HTTP/3.0": {"count": ..., "p50_us": ..., "p99_us": ...,
// "mean_us": ...}, ...}. The time a client measures for the same request is
// this handler time plus the transport both ways: the client's p50 minus the
// handler's p50 is what the client adds.
//
// Flags: -addr 127.0.0.1:PORT, -cert-out FILE (its self-signed ECDSA P-256
// certificate for 127.0.0.1 and localhost, PEM, written once both sockets are
// bound: its existence says the server is ready), -stats FILE.
package main

import (
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
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/quic-go/quic-go/http3"
)

type times struct {
	mu sync.Mutex
	by map[string][]time.Duration
}

func (t *times) add(proto string, d time.Duration) {
	t.mu.Lock()
	t.by[proto] = append(t.by[proto], d)
	t.mu.Unlock()
}

type summary struct {
	Count  int     `json:"count"`
	P50us  float64 `json:"p50_us"`
	P90us  float64 `json:"p90_us"`
	P99us  float64 `json:"p99_us"`
	MeanUs float64 `json:"mean_us"`
}

func (t *times) summaries() map[string]summary {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]summary{}
	for proto, ds := range t.by {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		at := func(q float64) float64 {
			// The nearest rank, as an HDR histogram reads it.
			i := int(q*float64(len(ds))+0.999999) - 1
			if i < 0 {
				i = 0
			}
			return float64(ds[i].Nanoseconds()) / 1e3
		}
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		out[proto] = summary{len(ds), at(0.50), at(0.90), at(0.99),
			float64(sum.Nanoseconds()) / 1e3 / float64(len(ds))}
	}
	return out
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "TCP and UDP address")
	certOut := flag.String("cert-out", "", "where to write the certificate (PEM); written once ready")
	statsOut := flag.String("stats", "", "where to write the handler times on SIGTERM (JSON)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("h3-slow: ")
	if *certOut == "" || *statsOut == "" {
		log.Fatal("-cert-out and -stats are required")
	}
	cert, certPEM, err := selfSigned()
	if err != nil {
		log.Fatal(err)
	}

	rec := &times{by: map[string][]time.Duration{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 || ms > 60000 {
			http.Error(w, "ms: a number of milliseconds, 0 to 60000", http.StatusBadRequest)
			return
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "slow")
		rec.add(r.Proto, time.Since(t0))
	})

	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}}
	tcp, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	udp, err := net.ListenPacket("udp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	h12 := &http.Server{Handler: mux, TLSConfig: tlsConf.Clone()}
	h3 := &http3.Server{Handler: mux, TLSConfig: http3.ConfigureTLSConfig(tlsConf.Clone())}
	go func() {
		if err := h12.ServeTLS(tcp, "", ""); err != nil && err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	go func() {
		if err := h3.Serve(udp); err != nil && err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()

	tmp := *certOut + ".tmp"
	if err := os.WriteFile(tmp, certPEM, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(tmp, *certOut); err != nil {
		log.Fatal(err)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	h3.Close()
	h12.Close()
	b, err := json.Marshal(rec.summaries())
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*statsOut, append(b, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
}

// selfSigned: an ECDSA P-256 certificate for 127.0.0.1 and localhost, valid
// from an hour ago for a day, not a CA (webpki refuses a CA certificate as
// the server's own); as a client's root it is a trust anchor all the same.
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
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "h3-slow"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
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
