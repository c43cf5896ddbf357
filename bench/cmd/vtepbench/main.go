// Command vtepbench measures vtepd against the kernel's data path on this
// machine and writes the figures as a Markdown table (also on stdout), a
// JSON file with every raw figure and the machine, and an SVG chart. It is
// what `sudo make bench` runs; it needs root.
//
//	vtepbench [-runs 3] [-duration 5s] [-quick] [-out bench/results]
//	          [-paths veth,kernel-vxlan,vtepd-vxlan,vtepd-ipip]
//
// Progress goes to stderr. Ctrl-C stops the run and removes the network
// namespaces it made.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vtepd/vtepd/bench"
)

// The files written into -out.
const (
	markdownFile = "results.md"
	jsonFile     = "results.json"
	chartFile    = "chart.svg"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	def := bench.DefaultConfig()
	fs := flag.NewFlagSet("vtepbench", flag.ContinueOnError)
	runs := fs.Int("runs", def.Runs, "every figure is the median of this many runs")
	duration := fs.Duration("duration", def.Duration, "length of each iperf3 run, whole seconds")
	pings := fs.Int("pings", def.Pings, "echo requests per latency run, 1 ms apart")
	quick := fs.Bool("quick", false, "one 1 s run per path and 200 pings: checks the harness, figures not to quote")
	out := fs.String("out", "bench/results", "directory for "+markdownFile+", "+jsonFile+" and "+chartFile)
	paths := fs.String("paths", strings.Join(bench.AllPaths, ","), "comma-separated paths to measure")
	vtepd := fs.String("vtepd", def.Vtepd, "the vtepd binary")
	vtepctl := fs.String("vtepctl", def.Vtepctl, "the vtepctl binary")
	gen := fs.String("gen", bench.GenAuto, "load generator: auto (iperf3, installed with apt if missing, else vtepload), iperf3 or vtepload")
	vtepload := fs.String("vtepload", "", "the vtepload binary (bench/cmd/vtepload), for -gen vtepload or where iperf3 is missing")
	micro := fs.Bool("micro", def.Micro, "also run the Go microbenchmarks of "+strings.Join(def.MicroPackages, " "))
	benchtime := fs.String("benchtime", def.Benchtime, "go test -benchtime for the microbenchmarks")
	goTool := fs.String("go", def.GoTool, "the go command, for the microbenchmarks")
	repo := fs.String("repo", def.RepoDir, "the module's root directory")
	flows := fs.String("flows", "1,4,8", "comma-separated TCP flow counts (iperf3 --parallel); vtepd's CPU per GB is taken over the first")
	queues := fs.Int("queues", 0, "vtepd --queues on every vtepd path (0: vtepd's default, the CPUs it may use up to 8)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: vtepbench [flags]   (as root; sudo make bench runs it)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "vtepbench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}

	// -quick chooses other defaults; flags given explicitly still win.
	cfg := def
	if *quick {
		cfg = bench.QuickConfig()
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["runs"] || !*quick {
		cfg.Runs = *runs
	}
	if set["duration"] || !*quick {
		cfg.Duration = *duration
	}
	if set["pings"] || !*quick {
		cfg.Pings = *pings
	}
	if set["benchtime"] || !*quick {
		cfg.Benchtime = *benchtime
	}
	cfg.Paths = strings.Split(*paths, ",")
	cfg.Queues = *queues
	cfg.Flows = nil
	for _, f := range strings.Split(*flows, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			fmt.Fprintf(os.Stderr, "vtepbench: -flows: want comma-separated integers like 1,4,8, got %q\n", *flows)
			return 2
		}
		cfg.Flows = append(cfg.Flows, n)
	}
	cfg.Vtepd, cfg.Vtepctl = *vtepd, *vtepctl
	cfg.Generator, cfg.Vtepload = *gen, *vtepload
	cfg.Micro, cfg.GoTool, cfg.RepoDir = *micro, *goTool, *repo
	cfg.Progress = &progress{w: os.Stderr, start: time.Now()}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := bench.Run(ctx, cfg)
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "vtepbench: interrupted; the namespaces it made are removed")
		return 130
	}
	if report == nil {
		fmt.Fprintf(os.Stderr, "vtepbench: %v\n", err)
		return 1
	}
	if werr := write(*out, report); werr != nil {
		fmt.Fprintf(os.Stderr, "vtepbench: %v\n", werr)
		return 1
	}
	if err := bench.WriteMarkdown(os.Stdout, report, ""); err != nil {
		fmt.Fprintf(os.Stderr, "vtepbench: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "vtepbench: wrote %s, %s and %s in %s (%.0f s)\n",
		markdownFile, jsonFile, chartFile, *out, report.WallSeconds)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vtepbench: %v\n", err)
		return 1
	}
	return 0
}

// write puts the three result files into dir.
func write(dir string, r *bench.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{markdownFile, func(w io.Writer) error { return bench.WriteMarkdown(w, r, chartFile) }},
		{jsonFile, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(r)
		}},
		{chartFile, func(w io.Writer) error { return bench.WriteSVG(w, r) }},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		// Write beside and rename, so a reader never sees half a file.
		tmp, err := os.CreateTemp(dir, "."+f.name+".*")
		if err != nil {
			return err
		}
		err = f.write(tmp)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(tmp.Name(), 0o644)
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}

// progress prefixes each line with the time since the start.
type progress struct {
	w     io.Writer
	start time.Time
}

func (p *progress) Write(b []byte) (int, error) {
	if _, err := fmt.Fprintf(p.w, "%5.0fs %s", time.Since(p.start).Seconds(), b); err != nil {
		return 0, err
	}
	return len(b), nil
}
