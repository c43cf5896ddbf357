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

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args)
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
		fmt.Fprintf(stderr, "vtepd: %v\n", err)
		var ce *configError
		if errors.As(err, &ce) {
			return exitUsage
		}
		return exitError
	}
	sig, err := wait(d, sigs)
	for err == nil && sig == syscall.SIGHUP {
		reloadFrom(d, cfg.Path, log)
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

// wait returns the next signal, or the error the daemon has to stop over.
func wait(d *daemon, sigs <-chan os.Signal) (os.Signal, error) {
	select {
	case sig := <-sigs:
		return sig, nil
	case err := <-d.failed():
		return nil, err
	}
}

// reloadFrom reads the config file again and applies what changed; a file
// that does not parse changes nothing.
func reloadFrom(d *daemon, path string, log *zap.Logger) {
	if path == "" {
		log.Warn("SIGHUP: nothing to reload, vtepd was started from flags, not --config")
		return
	}
	next, err := control.Load(path)
	if err != nil {
		log.Error("SIGHUP: config not reloaded", zap.Error(err))
		return
	}
	if err := d.reload(next); err != nil {
		msg := "SIGHUP: reload incomplete"
		if errors.Is(err, errReloadRefused) {
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
