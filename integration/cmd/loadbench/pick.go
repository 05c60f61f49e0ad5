package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
)

// The pick's goal: costlb's pick, with its exact count taken and given
// back, costs at most this much of caddy-l4's least_conn selection over
// the same pool.
const goalPickVsLeastConn = 1.05

// pickRuns is how many times BenchmarkPick runs (go test -count).
const pickRuns = 5

// PickResult is BenchmarkPick's time per pick of one policy over n
// backends, one sample per run.
type PickResult struct {
	Policy  string
	N       int
	NsPerOp []float64
}

// median returns the median time per pick.
func (p PickResult) median() float64 { return median(p.NsPerOp) }

// pickLine is a line of go test -bench output for BenchmarkPick.
var pickLine = regexp.MustCompile(`^BenchmarkPick/policy=(\S+)/n=(\d+)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op`)

// runPickBench runs BenchmarkPick (module/l4handler) in the repository at
// root, in this process's quiet moment before any load, and returns its
// results in the order the benchmark ran them.
func runPickBench(ctx context.Context, root string, log io.Writer) ([]PickResult, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkPick$",
		"-benchtime", "1s", "-count", strconv.Itoa(pickRuns), "./module/l4handler")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("BenchmarkPick: %v\n%s", err, out)
	}
	res := parsePickBench(out)
	if len(res) == 0 {
		return nil, fmt.Errorf("BenchmarkPick printed no result:\n%s", out)
	}
	if log != nil {
		for _, p := range res {
			fmt.Fprintf(log, "pick %-14s n=%-5d %8.1f ns/pick\n", p.Policy, p.N, p.median())
		}
	}
	return res, nil
}

// parsePickBench reads go test -bench output into one result per policy
// and pool size.
func parsePickBench(out []byte) []PickResult {
	var res []PickResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := pickLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		ns, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		i := slices.IndexFunc(res, func(p PickResult) bool { return p.Policy == m[1] && p.N == n })
		if i < 0 {
			res = append(res, PickResult{Policy: m[1], N: n})
			i = len(res) - 1
		}
		res[i].NsPerOp = append(res[i].NsPerOp, ns)
	}
	return res
}

// pickOf returns the result of policy over n backends.
func (r *Results) pickOf(policy string, n int) (PickResult, bool) {
	for _, p := range r.Pick {
		if p.Policy == policy && p.N == n {
			return p, true
		}
	}
	return PickResult{}, false
}

// WritePickTable writes the pick's time per policy and pool size, and
// costlb's against least_conn's with the goal.
func WritePickTable(w io.Writer, r *Results) {
	var policies []string
	var ns []int
	for _, p := range r.Pick {
		if !slices.Contains(policies, p.Policy) {
			policies = append(policies, p.Policy)
		}
		if !slices.Contains(ns, p.N) {
			ns = append(ns, p.N)
		}
	}
	fmt.Fprintf(w, "| backends |")
	for _, p := range policies {
		fmt.Fprintf(w, " %s |", p)
	}
	fmt.Fprintf(w, " cost ÷ least_conn (goal ≤ %.2f×) |\n|---:|", goalPickVsLeastConn)
	for range policies {
		fmt.Fprintf(w, "---:|")
	}
	fmt.Fprintf(w, "---:|\n")
	for _, n := range ns {
		fmt.Fprintf(w, "| %d |", n)
		for _, pol := range policies {
			if p, ok := r.pickOf(pol, n); ok {
				fmt.Fprintf(w, " %.1f ns |", p.median())
			} else {
				fmt.Fprintf(w, " – |")
			}
		}
		c, ok1 := r.pickOf("cost", n)
		l, ok2 := r.pickOf("least_conn", n)
		if ok1 && ok2 && l.median() > 0 {
			v := c.median() / l.median()
			mark := "❌"
			if v <= goalPickVsLeastConn {
				mark = "✅"
			}
			fmt.Fprintf(w, " %.2f× %s |\n", v, mark)
		} else {
			fmt.Fprintf(w, " – |\n")
		}
	}
}
