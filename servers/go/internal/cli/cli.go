// Package cli holds what both servers share: flags with environment
// defaults, finding and loading the model, and the stop signal.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"volley/servers/go/model"
)

// DrainTimeout bounds how long requests in flight may take after a stop
// signal.
const DrainTimeout = 10 * time.Second

// modelRel is where the committed model lives, relative to the repository root.
var modelRel = filepath.Join("servers", "model", "model.bin")

// Options are the parsed flags.
type Options struct {
	Addr  string
	Model string // empty: find servers/model/model.bin
}

// Parse reads -addr/--addr and -model/--model (the flag package accepts both
// spellings), defaulting to the environment variables addrEnv and
// PREDICT_MODEL, then to defaultAddr.
func Parse(name, addrEnv, defaultAddr string) Options {
	var o Options
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.StringVar(&o.Addr, "addr", envOr(addrEnv, defaultAddr), "address to listen on, HOST:PORT (env "+addrEnv+")")
	fs.StringVar(&o.Model, "model", os.Getenv("PREDICT_MODEL"), "model file (env PREDICT_MODEL; default: servers/model/model.bin found from the working directory or the executable)")
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected argument %q\n", name, fs.Arg(0))
		fs.Usage()
		os.Exit(2)
	}
	return o
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// ModelPath is the model file to load: the -model flag, or
// servers/model/model.bin in the nearest directory above the working
// directory or the executable that has one.
func (o Options) ModelPath() (string, error) {
	if o.Model != "" {
		return o.Model, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err := filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, modelRel)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			// From inside servers/ itself (e.g. servers/go), model/model.bin.
			if p := filepath.Join(dir, "model", "model.bin"); filepath.Base(dir) == "servers" {
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", errors.New("cannot find " + modelRel + " above the working directory or the executable; pass -model FILE or set PREDICT_MODEL")
}

// LoadModel finds and loads the model, returning it with its path.
func (o Options) LoadModel() (*model.Model, string, error) {
	path, err := o.ModelPath()
	if err != nil {
		return nil, "", err
	}
	m, err := model.Load(path)
	if err != nil {
		return nil, "", fmt.Errorf("loading model %s: %w", path, err)
	}
	return m, path, nil
}

// StartLine is the one log line at start, in the Rust servers' wording.
func StartLine(name, addr, modelPath string, m *model.Model) string {
	return fmt.Sprintf("%s listening on %s (cleartext), model %s, classes [%s]",
		name, addr, modelPath, strings.Join(m.Labels(), ","))
}

// StopContext is cancelled on SIGTERM or SIGINT. The handlers are installed
// now, so a signal sent right after the start line is not lost.
func StopContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
}

// Logger writes to stderr with a timestamp, like the Rust servers.
func Logger() *log.Logger {
	return log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds|log.LUTC)
}

// Server is what both servers start with: their options, the logger, a
// context cancelled on SIGTERM or SIGINT, and the listening socket.
type Server struct {
	Name     string
	Opts     Options
	Logger   *log.Logger
	Ctx      context.Context
	Stop     context.CancelFunc
	Listener net.Listener
}

// Start parses the flags, installs the signal handlers and binds the
// address; it exits with a message when the address cannot be bound.
func Start(name, addrEnv, defaultAddr string) Server {
	opts := Parse(name, addrEnv, defaultAddr)
	logger := Logger()
	ctx, stop := StopContext()
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		logger.Fatalf("%s: binding %s: %v", name, opts.Addr, err)
	}
	return Server{Name: name, Opts: opts, Logger: logger, Ctx: ctx, Stop: stop, Listener: ln}
}
