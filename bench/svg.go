package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// chartPanels are the figures the chart of r compares, one panel each:
// TCP with the first flow count measured, small UDP packets, latency.
func chartPanels(r *Report) []struct{ key, title string } {
	flows := 1
	if len(r.Settings.Flows) > 0 {
		flows = r.Settings.Flows[0]
	}
	return []struct{ key, title string }{
		{KeyTCP(flows), "TCP throughput, " + flowsName(flows) + " — Gbit/s, higher is better"},
		{KeyUDPRate(64), "UDP packets received at 64-byte payloads — thousands per second, higher is better"},
		{KeyRTTP50, "Round-trip time p50 — µs, lower is better"},
	}
}

// pathColors keep a path's colour the same in every panel; the kernel is
// blue and vtepd warm so that the comparison the chart is for stands out.
var pathColors = map[string]string{
	PathVeth:        "#9e9e9e",
	PathKernelVXLAN: "#3b6fb6",
	PathVtepdVXLAN:  "#e07b24",
	PathVtepdIPIP:   "#c0392b",

	PathVtepdVXLANOneThread: "#b35a12",
	PathVtepdIPIPFanout:     "#8e2a1f",

	PathVtepdVXLANPlain: "#f3c089",
	PathVtepdIPIPPlain:  "#e6a39b",
}

// Chart geometry, in SVG user units (pixels).
const (
	svgWidth   = 960
	plotLeft   = 180 // bars start here; path names sit to the left
	plotRight  = 800 // the axis maximum; value labels go to the right of it
	rowPitch   = 26
	barHeight  = 18
	panelTitle = 26 // room for a panel's title above its bars
	axisRoom   = 22 // room for the tick labels below the bars
	panelGap   = 18
	headerRoom = 70
)

// WriteSVG draws r as a bar chart: one panel per figure of chartPanels, one
// bar per path at its median, a whisker from min to max, and the value with
// its ratio to the kernel's vxlan beside each bar.
func WriteSVG(w io.Writer, r *Report) error {
	rows := max(len(r.Paths), 1)
	panelHeight := panelTitle + rows*rowPitch + axisRoom + panelGap
	panels := chartPanels(r)
	height := headerRoom + len(panels)*panelHeight + 18*len(r.Skipped) + 10

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	text(&b, 20, 30, 19, "start", "#222", "bold", "vtepd against the kernel path")
	runs := "1 run"
	if r.Settings.Runs > 1 {
		runs = fmt.Sprintf("median of %d runs, whiskers min–max", r.Settings.Runs)
	}
	sub := fmt.Sprintf("%s · %s, %d cores, Linux %s · %s · ×N: ratio to kernel vxlan",
		r.Date.UTC().Format("2006-01-02"), r.Machine.CPUModel, r.Machine.Cores, r.Machine.Kernel, runs)
	if r.Settings.Quick {
		sub += " · quick mode"
	}
	text(&b, 20, 52, 12, "start", "#555", "normal", sub)

	y := headerRoom
	for _, panel := range panels {
		drawPanel(&b, r, panel.key, panel.title, y)
		y += panelHeight
	}
	for _, s := range r.Skipped {
		text(&b, 20, float64(y), 12, "start", "#555", "normal",
			fmt.Sprintf("Not measured: %s (%s).", titleOf(s.Path), firstLineOf(s.Reason)))
		y += 18
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func drawPanel(b *strings.Builder, r *Report, key, title string, top int) {
	text(b, 20, float64(top+16), 14, "start", "#222", "bold", title)
	hi := 0.0
	for _, p := range r.Paths {
		if f := p.Figures[key]; f != nil {
			hi = max(hi, f.Max, f.Median)
		}
	}
	step, axisMax := niceAxis(hi)
	scale := func(v float64) float64 { return plotLeft + (plotRight-plotLeft)*v/axisMax }

	barsTop := top + panelTitle
	barsBottom := barsTop + max(len(r.Paths), 1)*rowPitch
	// Grid lines and tick labels first, so the bars are drawn over them.
	for v := 0.0; v <= axisMax+step/2; v += step {
		x := scale(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e3e3e3" stroke-width="1"/>`+"\n", x, barsTop-4, x, barsBottom)
		text(b, x, float64(barsBottom+15), 11, "middle", "#666", "normal", tick(v, step))
	}
	for i, p := range r.Paths {
		cy := barsTop + i*rowPitch + rowPitch/2
		text(b, plotLeft-10, float64(cy+4), 12, "end", "#222", "normal", p.Title)
		f := p.Figures[key]
		if f == nil {
			text(b, plotLeft+6, float64(cy+4), 12, "start", "#777", "normal", "n/a")
			continue
		}
		color := pathColors[p.Name]
		if color == "" {
			color = "#777"
		}
		x1 := scale(f.Median)
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
			plotLeft, cy-barHeight/2, math.Max(x1-plotLeft, 1), barHeight, color,
			html.EscapeString(fmt.Sprintf("%s: %s %s", p.Title, value(f.Median, f.Unit), f.Unit)))
		end := x1
		if f.Max > f.Min {
			lo, hiX := scale(f.Min), scale(f.Max)
			fmt.Fprintf(b, `<path d="M%.1f %dV%dM%.1f %dH%.1fM%.1f %dV%d" stroke="#222" stroke-width="1.2" fill="none"/>`+"\n",
				lo, cy-5, cy+5, lo, cy, hiX, hiX, cy-5, cy+5)
			end = math.Max(end, hiX)
		}
		label := html.EscapeString(value(f.Median, f.Unit))
		if f.VsKernel != nil && p.Name != PathKernelVXLAN {
			label += `<tspan fill="#777" dx="6">×` + ratio(*f.VsKernel) + `</tspan>`
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="12" fill="#222">%s</text>`+"\n", end+6, cy+4, label)
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444" stroke-width="1"/>`+"\n", plotLeft, barsTop-4, plotLeft, barsBottom)
}

func text(b *strings.Builder, x, y float64, size int, anchor, color, weight, s string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" fill="%s" font-weight="%s">%s</text>`+"\n",
		x, y, size, anchor, color, weight, html.EscapeString(s))
}

// tick prints an axis value with no more decimals than the step needs.
func tick(v, step float64) string {
	decimals := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// niceAxis returns a tick step of 1, 2 or 5 times a power of ten that cuts
// [0, hi] into about five parts, and the axis maximum: hi rounded up to a
// whole step.
func niceAxis(hi float64) (step, axisMax float64) {
	if hi <= 0 || math.IsNaN(hi) || math.IsInf(hi, 0) {
		return 1, 1
	}
	raw := hi / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / mag; {
	case f <= 1:
		step = mag
	case f <= 2:
		step = 2 * mag
	case f <= 5:
		step = 5 * mag
	default:
		step = 10 * mag
	}
	return step, math.Ceil(hi/step-1e-9) * step
}
