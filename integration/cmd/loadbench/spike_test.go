package main

import (
	"context"
	"testing"
	"time"
)

// TestSpikeTargets runs the event-loop spike's child targets through
// every load in a tiny mode: each echoes what it is sent, churning and
// request by request, with no error, and gets an idle figure; loop-proxy
// also in bulk. (nbio-proxy carries no bulk echo here: 0 MB/s in this
// test, with no error; see nbioproxy.go for what nbio lacks as a proxy.)
func TestSpikeTargets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Run(ctx, Options{
		Targets: []string{"loop-proxy", "nbio-proxy"},
		Loads:   []string{"churn", "bulk", "reqresp"},
		Conc:    []int{4},
		RRConc:  []int{4},
		Rounds:  1,
		Idle:    []int{20},
		Window:  300 * time.Millisecond,
		Pause:   20 * time.Millisecond,
		Args:    "loadbench (test)",
		Log:     testWriter{t},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, target := range []string{"loop-proxy", "nbio-proxy"} {
		cell, rr := res.Cell(target, 4), res.RRCell(target, 4)
		if cell == nil || len(cell.Samples) != 1 || rr == nil || len(rr.Samples) != 1 {
			t.Fatalf("%s: want a churn/bulk and a reqresp sample, got %+v and %+v", target, cell, rr)
		}
		s, q := cell.Samples[0], rr.Samples[0]
		if s.ConnPerSec <= 0 || (target == "loop-proxy" && s.MBps <= 0) || q.ReqPerSec <= 0 {
			t.Errorf("%s: implausible samples %+v, %+v", target, s, q)
		}
		if s.ConnErrors+s.BulkErrors+q.ReqErrors > 0 {
			t.Errorf("%s: %d churn, %d bulk, %d reqresp errors", target, s.ConnErrors, s.BulkErrors, q.ReqErrors)
		}
		ir, ok := res.idleOf(target)
		if p, found := ir.Point(20); !ok || ir.Err != "" || !found || p.RSSKiB <= 0 {
			t.Errorf("%s: idle measurement %+v", target, ir)
		}
	}
}
