// Command vtepd makes this host a VXLAN tunnel endpoint in user space: it
// creates a TAP device per network, and carries its frames to peer endpoints
// over UDP, wire compatible with Linux's vxlan driver.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vtepd/vtepd/control"
	"github.com/vtepd/vtepd/control/node"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // a failure while starting or running
	exitUsage = 2 // bad flags or config: nothing was created
)

// shortUsage is what vtepd says when run with nothing.
const shortUsage = `usage: vtepd --local IP --vni N [--remote IP]... [options]
       vtepd --config FILE
vtepd --help lists every option.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, shortUsage)
		return exitUsage
	}
	cfg, err := control.ParseFlags(args)
	if errors.Is(err, control.ErrVersion) {
		fmt.Fprintln(stdout, control.Version("vtepd"))
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, control.Usage())
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "vtepd: %v\n", err)
		return exitUsage
	}
	log, err := newLogger(cfg.LogLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "vtepd: log_level: %v\n", err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	d, err := start(cfg, log)
	if err != nil {
		// A value this host cannot honour is named as the user gave it.
		var fe *control.FieldError
		if errors.As(err, &fe) {
			fmt.Fprintf(stderr, "vtepd: %s\n", fe.In(cfg.Names()))
			return exitUsage
		}
		fmt.Fprintf(stderr, "vtepd: %v\n", err)
		return exitError
	}
	sig, err := wait(d, sigs)
	for err == nil && sig == syscall.SIGHUP {
		reloadFrom(d.node, cfg.Path, log)
		sig, err = wait(d, sigs)
	}
	if err != nil {
		// A device deleted under vtepd with on_device_loss exit, or one
		// that could not be made again: what is left is removed.
		if cerr := d.Close(); cerr != nil {
			log.Error("shutdown", zap.Error(cerr))
		}
		fmt.Fprintf(stderr, "vtepd: %v\n", err)
		return exitError
	}
	log.Info("shutting down", zap.String("signal", sig.String()))
	if err := d.Close(); err != nil {
		log.Error("shutdown", zap.Error(err))
		return exitError
	}
	log.Info("stopped; every device and socket vtepd made is removed")
	return exitOK
}

// daemon is the node and the listeners that serve it.
type daemon struct {
	node    *node.Node
	server  *control.Server
	metrics *control.MetricsServer
	served  chan struct{} // closed when the control API stops serving
}

// start brings up the node cfg describes and serves it: the control API,
// and metrics when asked for. On error nothing it made is left.
func start(cfg *control.Config, log *zap.Logger) (d *daemon, err error) {
	n, err := node.Start(cfg, node.Linux(), log)
	if err != nil {
		return nil, err
	}
	d = &daemon{node: n}
	defer func() {
		if err != nil {
			if cerr := d.Close(); cerr != nil {
				log.Error("cleaning up after a failed start", zap.Error(cerr))
			}
			d = nil
		}
	}()
	if cfg.Metrics != "" {
		if d.metrics, err = control.ListenMetrics(cfg.Metrics, n.Stats, log, control.MetricsBGP(n.BGP)); err != nil {
			return d, control.Refused("metrics", err)
		}
	}
	srv := control.NewServer(n, log)
	if err := srv.Listen(cfg.Control); err != nil {
		return d, control.Refused("control", err)
	}
	d.server, d.served = srv, make(chan struct{})
	go func() {
		defer close(d.served)
		if err := srv.Serve(); err != nil {
			log.Error("control API stopped", zap.Error(err))
		}
	}()
	log.Info("vtepd running", zap.String("control", cfg.Control))
	return d, nil
}

// Close stops serving, then stops the node, removing what it made.
func (d *daemon) Close() error {
	var errs []error
	if d.server != nil {
		errs = append(errs, d.server.Close())
		<-d.served
	}
	if d.metrics != nil {
		errs = append(errs, d.metrics.Close())
	}
	return errors.Join(append(errs, d.node.Close())...)
}

// wait returns the next signal, or the error the daemon has to stop over.
func wait(d *daemon, sigs <-chan os.Signal) (os.Signal, error) {
	select {
	case sig := <-sigs:
		return sig, nil
	case err := <-d.node.Failed():
		return nil, err
	}
}

// reloadFrom reads the config file again and applies what changed; a file
// that does not parse changes nothing.
func reloadFrom(n *node.Node, path string, log *zap.Logger) {
	if path == "" {
		log.Warn("SIGHUP: nothing to reload, vtepd was started from flags, not --config")
		return
	}
	next, err := control.Load(path)
	if err != nil {
		log.Error("SIGHUP: config not reloaded", zap.Error(err))
		return
	}
	if err := n.Reload(next); err != nil {
		msg := "SIGHUP: reload incomplete"
		if errors.Is(err, node.ErrReloadRefused) {
			msg = "SIGHUP: config refused"
		}
		log.Error(msg, zap.Error(err))
		return
	}
	log.Info("SIGHUP: config reloaded", zap.String("config", path))
}

// newLogger returns a console-encoded structured logger at level.
func newLogger(level string, w io.Writer) (*zap.Logger, error) {
	lvl := zapcore.InfoLevel
	if level != "" {
		if err := lvl.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("want debug, info, warn or error, got %q", level)
		}
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(w), lvl)
	return zap.New(core), nil
}
