package main

import (
	"fmt"
	"math"
)

// The figures the reports take from the samples: medians over rounds and
// medians of per-round ratios.

// metricFunc is one figure of a sample.
type metricFunc func(Sample) float64

var (
	mConn metricFunc = func(s Sample) float64 { return s.ConnPerSec }
	mP50  metricFunc = func(s Sample) float64 { return float64(s.P50) }
	mP99  metricFunc = func(s Sample) float64 { return float64(s.P99) }
	mMB   metricFunc = func(s Sample) float64 { return s.MBps }
	mCPUc metricFunc = func(s Sample) float64 { return float64(s.CPUPerConn) }
	mCPUb metricFunc = func(s Sample) float64 { return float64(s.CPUPerMB) }
	mBD50 metricFunc = func(s Sample) float64 { return float64(s.BulkDialP50) }
	mBD99 metricFunc = func(s Sample) float64 { return float64(s.BulkDialP99) }

	mReq  metricFunc = func(s Sample) float64 { return s.ReqPerSec }
	mRP50 metricFunc = func(s Sample) float64 { return float64(s.ReqP50) }
	mRP99 metricFunc = func(s Sample) float64 { return float64(s.ReqP99) }
	mCPUr metricFunc = func(s Sample) float64 { return float64(s.CPUPerReq) }
)

// cellMedian returns the median over c's rounds of m.
func cellMedian(c *Cell, m metricFunc) (float64, bool) {
	if c == nil || len(c.Samples) == 0 {
		return 0, false
	}
	xs := make([]float64, len(c.Samples))
	for i, s := range c.Samples {
		xs[i] = m(s)
	}
	return median(xs), true
}

// cellRatio returns the median over rounds of m(c)/m(ref), each round's
// sample of c divided by ref's of the same round, so slow drift of a
// noisy machine cancels out. Rounds where ref's m is 0 are left out.
func cellRatio(c, ref *Cell, m metricFunc) (float64, bool) {
	if c == nil || ref == nil {
		return 0, false
	}
	var xs []float64
	for i := range min(len(c.Samples), len(ref.Samples)) {
		if d := m(ref.Samples[i]); d > 0 {
			xs = append(xs, m(c.Samples[i])/d)
		}
	}
	if len(xs) == 0 {
		return 0, false
	}
	return median(xs), true
}

// cellSpan returns the lowest and highest value of m over c's rounds.
func cellSpan(c *Cell, m metricFunc) (lo, hi float64) {
	if c == nil || len(c.Samples) == 0 {
		return 0, 0
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range c.Samples {
		lo, hi = min(lo, m(s)), max(hi, m(s))
	}
	return lo, hi
}

// Median returns the median over rounds of churn or bulk figure m for
// target at conc.
func (r *Results) Median(target string, conc int, m metricFunc) (float64, bool) {
	return cellMedian(r.Cell(target, conc), m)
}

// span returns the lowest and highest churn or bulk value of m over the
// rounds.
func (r *Results) span(target string, conc int, m metricFunc) (lo, hi float64) {
	return cellSpan(r.Cell(target, conc), m)
}

// Ratio returns the median over rounds of m(target)/m(reference) in churn
// or bulk, each round's target measurement divided by the reference's of
// the same round.
func (r *Results) Ratio(target string, conc int, m metricFunc) (float64, bool) {
	return r.RatioTo(target, refTarget, conc, m)
}

// RatioTo is Ratio against ref instead of the reference target.
func (r *Results) RatioTo(target, ref string, conc int, m metricFunc) (float64, bool) {
	return cellRatio(r.Cell(target, conc), r.Cell(ref, conc), m)
}

// RRMedian is Median of a request/response figure.
func (r *Results) RRMedian(target string, conc int, m metricFunc) (float64, bool) {
	return cellMedian(r.RRCell(target, conc), m)
}

// RRRatioTo is RatioTo of a request/response figure.
func (r *Results) RRRatioTo(target, ref string, conc int, m metricFunc) (float64, bool) {
	return cellRatio(r.RRCell(target, conc), r.RRCell(ref, conc), m)
}

// errorsOf sums the failed churn cycles and bulk dials of a cell.
func (r *Results) errorsOf(target string, conc int) int64 {
	var n int64
	if c := r.Cell(target, conc); c != nil {
		for _, s := range c.Samples {
			n += s.ConnErrors + s.BulkErrors
		}
	}
	return n
}

// rrErrorsOf sums the failed dials and exchanges of a request/response
// cell.
func (r *Results) rrErrorsOf(target string, conc int) int64 {
	var n int64
	if c := r.RRCell(target, conc); c != nil {
		for _, s := range c.Samples {
			n += s.ReqErrors
		}
	}
	return n
}

func fmtRatio(v float64, ok bool) string {
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", v)
}

func check(ok bool) string {
	if ok {
		return "✅"
	}
	return "❌"
}
