// Command predict-rest serves the prediction API over HTTP/1.1 and h2c on
// one port, answering exactly like the Rust predict-rest.
package main

import (
	"context"
	"errors"
	"net/http"
	"os"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"volley/servers/go/internal/cli"
	"volley/servers/go/rest"
)

func main() {
	const name = "predict-rest"
	start := cli.Start(name, "PREDICT_REST_ADDR", "127.0.0.1:8000")
	opts, logger, ctx, ln := start.Opts, start.Logger, start.Ctx, start.Listener
	defer start.Stop()
	handler := &rest.Handler{}
	srv := &http.Server{
		ReadHeaderTimeout: rest.ClientTimeout,
		ErrorLog:          logger,
	}
	h2s := &http2.Server{}
	// Registers h2s with srv so that Shutdown also drains h2c connections.
	if err := http2.ConfigureServer(srv, h2s); err != nil {
		logger.Fatalf("%s: %v", name, err)
	}
	srv.Handler = h2c.NewHandler(handler, h2s)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	// Serve first so that /readyz says 503 while the model loads.
	m, path, err := opts.LoadModel()
	if err != nil {
		logger.Fatalf("%s: %v", name, err)
	}
	handler.SetModel(m)
	logger.Print(cli.StartLine(name, ln.Addr().String(), path, m))

	select {
	case <-ctx.Done():
	case err := <-served:
		logger.Fatalf("%s: %v", name, err)
	}
	logger.Printf("%s stopping: no new connections, draining requests in flight", name)
	drain, cancel := context.WithTimeout(context.Background(), cli.DrainTimeout)
	defer cancel()
	if err := srv.Shutdown(drain); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Printf("%s: shutdown: %v", name, err)
	} else if err != nil {
		logger.Printf("requests still in flight after %v; exiting anyway", cli.DrainTimeout)
	}
	// Hijacked (WebSocket) connections are not Shutdown's: close them (1001).
	if err := handler.CloseSessions(drain); err != nil {
		logger.Printf("%s: %v; exiting anyway", name, err)
	}
	logger.Printf("%s stopped", name)
	os.Exit(0)
}
