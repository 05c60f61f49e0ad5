package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
)

// chart colours per target
var targetColor = map[string]string{
	"direct":            "#9e9e9e",
	"l4-echo":           "#c7c7c7",
	"go-proxy":          "#8c564b",
	"loop-proxy":        "#17becf",
	"nbio-proxy":        "#bcbd22",
	"proxy-leastconn":   "#1f77b4",
	"proxy-random":      "#9ecae1",
	"costlb-before":     "#98df8a",
	"costlb-goroutines": "#a1d99b",
	"costlb":            "#2ca02c",
	"haproxy":           "#ff7f0e",
	"haproxy-splice":    "#d62728",
}

type panel struct {
	title string
	m     metricFunc
	goal  float64 // 0: none
	goalL string
	cost  bool // a proxy cost: n/a for direct, which has no proxy
}

// The chart's layout, in pixels.
const (
	svgWidth   = 960
	svgLeft    = 64
	svgRight   = 96 // room for the reference and goal labels
	svgTitleH  = 58
	svgLegendH = 30
	svgPanelH  = 250
	svgPlotTop = 30 // within a panel, below its title
	svgPlotH   = 180
	svgMaxY    = 3.0 // ratios above are clipped and labelled
)

// svgEsc escapes s for SVG text.
func svgEsc(s string) string {
	var e bytes.Buffer
	_ = xml.EscapeText(&e, []byte(s))
	return e.String()
}

// RenderSVG draws grouped bars of ratio-to-reference per concurrency and
// target: connections per second, p99 latency, proxy CPU per connection
// and bulk throughput, the panels of the loads measured (none for a run of
// reqresp alone, which the chart does not show).
func RenderSVG(r *Results) []byte {
	var panels []panel
	if r.Opts.measures(loadChurn) {
		panels = append(panels,
			panel{"Connections per second ÷ caddy-l4 proxy least_conn (higher is better)", mConn, goalConnRatio, fmt.Sprintf("goal ≥ %.2f×", goalConnRatio), false},
			panel{"p99 connect-to-first-byte latency ÷ caddy-l4 proxy least_conn (lower is better)", mP99, goalP99Ratio, fmt.Sprintf("goal ≤ %.2f×", goalP99Ratio), false},
			panel{"Proxy CPU time per connection ÷ caddy-l4 proxy least_conn (lower is better; least sensitive to noise)", mCPUc, 0, "", true})
	}
	if r.Opts.measures(loadBulk) {
		panels = append(panels, panel{"Bulk throughput ÷ caddy-l4 proxy least_conn (higher is better)", mMB, 0, "", false})
	}
	var b bytes.Buffer
	svgHeader(&b, r, svgTitleH+svgLegendH+len(panels)*svgPanelH+10)
	for pi, p := range panels {
		svgPanel(&b, r, p, svgTitleH+svgLegendH+pi*svgPanelH)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// svgHeader writes the SVG's opening, title and legend.
func svgHeader(b *bytes.Buffer, r *Results, height int) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", svgWidth, height, svgWidth, height)
	fmt.Fprintf(b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	fmt.Fprintf(b, `<text x="%d" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", svgLeft, svgEsc("costlb load benchmark: ratio to caddy-l4 proxy (lb_policy least_conn = 1.0)"))
	fmt.Fprintf(b, `<text x="%d" y="44" fill="#555">%s</text>`+"\n", svgLeft, svgEsc(fmt.Sprintf("%s · %d CPUs · rounds: %d × %v · medians of per-round ratios · loopback", r.Env.Date, r.Env.CPUs, r.RoundsDone, r.Opts.Window)))
	x := svgLeft
	for _, t := range r.Targets {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="14" height="14" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", x, svgTitleH+4, targetColor[t], x+19, svgTitleH+16, svgEsc(t))
		x += 30 + 8*len(t)
	}
}

// svgAxis is the vertical scale of one panel.
type svgAxis struct {
	y0 int     // baseline
	hi float64 // top ratio
}

func (a svgAxis) y(v float64) float64 { return float64(a.y0) - v/a.hi*svgPlotH }

// svgPanel draws panel p with its top at top: its title, grid, bars, and
// reference and goal lines.
func svgPanel(b *bytes.Buffer, r *Results, p panel, top int) {
	ax := svgAxis{y0: top + svgPlotTop + svgPlotH, hi: panelTop(r, p)}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="13" font-weight="bold">%s</text>`+"\n", svgLeft, top+18, svgEsc(p.title))
	step := 0.25
	if ax.hi > 1.5 {
		step = 0.5
	}
	plotW := svgWidth - svgLeft - svgRight
	for v := 0.0; v <= ax.hi+1e-9; v += step {
		y := ax.y(v)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`+"\n", svgLeft, y, svgLeft+plotW, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">%.2f×</text>`+"\n", svgLeft-6, y+4, v)
	}
	groupW := float64(plotW) / float64(len(r.Opts.Conc))
	for gi, c := range r.Opts.Conc {
		svgBars(b, r, p, ax, c, float64(svgLeft)+float64(gi)*groupW, groupW)
	}
	svgRefAndGoal(b, p, ax, plotW)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", svgLeft, ax.y0, svgLeft+plotW, ax.y0)
}

// panelTop returns the top of panel p's scale: the largest ratio shown,
// at least 1.2, rounded up to a quarter and clipped at svgMaxY.
func panelTop(r *Results, p panel) float64 {
	hi := 1.2
	for _, c := range r.Opts.Conc {
		for _, t := range r.Targets {
			if v, ok := r.Ratio(t, c, p.m); ok {
				hi = max(hi, v)
			}
		}
	}
	return math.Min(svgMaxY, math.Ceil(hi*4)/4)
}

// svgBars draws the bars of concurrency c, one per target, in the group
// starting at x and groupW wide, and the group's label.
func svgBars(b *bytes.Buffer, r *Results, p panel, ax svgAxis, c int, x, groupW float64) {
	gx := x + groupW*0.1
	barW := groupW * 0.8 / float64(max(len(r.Targets), 1))
	for ti, t := range r.Targets {
		bx := gx + float64(ti)*barW
		cx := bx + barW/2
		v, ok := r.Ratio(t, c, p.m)
		if med, _ := r.Median(t, c, p.m); p.cost && med == 0 {
			ok = false
		}
		if !ok {
			fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="10" fill="#999">n/a</text>`+"\n", cx, ax.y0-4)
			continue
		}
		y := ax.y(math.Min(v, ax.hi))
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`+"\n",
			bx+1, y, barW-2, float64(ax.y0)-y, targetColor[t], svgEsc(fmt.Sprintf("%s, concurrency %d: %.3f×", t, c, v)))
		label := fmt.Sprintf("%.2f", v)
		if v > ax.hi {
			label = "▲" + label
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10" stroke="#ffffff" stroke-width="3" paint-order="stroke">%s</text>`+"\n", cx, y-3, svgEsc(label))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x+groupW/2, ax.y0+18, svgEsc(fmt.Sprintf("concurrency %d", c)))
}

// svgRefAndGoal draws the reference line (1.00×) and panel p's goal line,
// if any, on top of the bars, with their labels kept apart.
func svgRefAndGoal(b *bytes.Buffer, p panel, ax svgAxis, plotW int) {
	fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#1f77b4" stroke-width="1.5" stroke-dasharray="6 3"/>`+"\n", svgLeft, ax.y(1), svgLeft+plotW, ax.y(1))
	refY := ax.y(1) + 4
	fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="10" fill="#1f77b4">%s</text>`+"\n", svgLeft+plotW+4, refY, svgEsc("ref 1.00×"))
	if p.goal <= 0 {
		return
	}
	goalY := ax.y(p.goal) + 4
	if math.Abs(goalY-refY) < 12 {
		if p.goal < 1 {
			goalY = refY + 12
		} else {
			goalY = refY - 12
		}
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#d62728" stroke-width="1.2" stroke-dasharray="2 3"/>`+"\n", svgLeft, ax.y(p.goal), svgLeft+plotW, ax.y(p.goal))
	fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="10" fill="#d62728">%s</text>`+"\n", svgLeft+plotW+4, goalY, svgEsc(p.goalL))
}
