package integration

// The README runner follows an example's README.md literally: it reads the
// README's ```sh blocks, in order, and runs their commands with bash in
// the example's directory, one shell for the whole README (so a `wait`
// waits for what an earlier command left in the background), and checks
// what the README shows each command print.
//
// The convention, for README writers:
//
//   - Only blocks fenced ```sh are run, every one of them, in order. A
//     block for reading only (a config, a log line, a step the test does
//     not take because it needs a tool the test does not assume, such as
//     Graphviz's dot) is fenced with another language: ```text, ```json,
//     ```shell.
//   - One command per line; a line ending in a backslash continues on the
//     next. Comment lines are notes for people, except shown output.
//   - Shown output is a comment that starts with "# -> ", either at the end
//     of the command's line or on the lines right after it (one per line
//     of output). The shown text ends at the end of the line or at the
//     first run of two or more spaces: what follows is a note for people
//     ("# -> east   (path cost 0)").
//   - "# -> TEXT" lines: the command prints exactly these lines (stdout and
//     stderr together, as in a terminal; trailing spaces and newlines
//     aside).
//   - "# -> ... TEXT ...": the output contains TEXT. When TEXT is a JSON
//     object, the output is JSON and some object in it, at any depth, has
//     at least TEXT's fields with TEXT's values (the same rule applies to
//     objects inside TEXT; arrays must have the same length).
//   - "# -> exit status N": the command exits with status N. Without it,
//     every command must exit 0.
//   - Every command is bounded by readmeStepTimeout; a README that waits
//     must wait with a bounded loop or a sleep.
//
// The only thing not taken literally is where ../../caddy is: the runner
// copies the example's directory to examples/<name> in a temporary
// directory and links ../../caddy there to the Caddy under test
// (harness.CaddyBinary: $COSTLB_CADDY or one built from this tree). So the
// commands run unchanged, with the README's own paths and ports, they
// cannot run a stale ./caddy at the repository's root, and what they
// write (certificates, pictures) stays out of the working tree.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// readmeStep is one command of a README's ```sh blocks and what the README
// shows it print.
type readmeStep struct {
	line     int    // line of README.md where the command starts
	command  string // as written, comments and continuation lines included
	exact    []string
	contains []string
	exit     int
}

var (
	fenceRe     = regexp.MustCompile("^```\\s*(\\S*)")
	shownRe     = regexp.MustCompile(`(?:^|\s)# -> (.*)$`)
	exitShownRe = regexp.MustCompile(`^exit status (\d+)$`)
	noteRe      = regexp.MustCompile(`\s{2,}`)
)

// parseReadme returns the steps of the ```sh blocks of a README, in order.
func parseReadme(readme string) ([]readmeStep, error) {
	var (
		steps   []readmeStep
		inBlock bool // inside any fenced block
		run     bool // inside a ```sh block
		cont    bool // the last command line ended in a backslash
		last    = -1 // index of the step shown output may still attach to
		lines   = strings.Split(readme, "\n")
	)
	for i, raw := range lines {
		n := i + 1
		if m := fenceRe.FindStringSubmatch(strings.TrimSpace(raw)); m != nil && strings.HasPrefix(strings.TrimSpace(raw), "```") {
			if inBlock {
				if cont {
					return nil, fmt.Errorf("line %d: the block ends in a continued line", n)
				}
				inBlock, run = false, false
			} else {
				inBlock, run, last = true, m[1] == "sh", -1
			}
			continue
		}
		if !run {
			continue
		}
		line := strings.TrimSpace(raw)
		switch {
		case cont:
			s := &steps[len(steps)-1]
			s.command += "\n" + raw
			cont = strings.HasSuffix(line, `\`)
			if err := s.addShown(line); err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
		case line == "":
			last = -1
		case strings.HasPrefix(line, "#"):
			if !strings.HasPrefix(line, "# -> ") {
				last = -1
				continue
			}
			if last < 0 {
				return nil, fmt.Errorf("line %d: shown output %q follows no command", n, line)
			}
			if err := steps[last].addShown(line); err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
		default:
			steps = append(steps, readmeStep{line: n, command: raw})
			last = len(steps) - 1
			cont = strings.HasSuffix(line, `\`)
			if err := steps[last].addShown(line); err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
		}
	}
	if inBlock {
		return nil, fmt.Errorf("a fenced block is not closed")
	}
	return steps, nil
}

// addShown records the shown output of line, if it has any ("# -> ...").
func (s *readmeStep) addShown(line string) error {
	m := shownRe.FindStringSubmatch(line)
	if m == nil {
		return nil
	}
	shown := noteRe.Split(strings.TrimSpace(m[1]), 2)[0]
	switch e := exitShownRe.FindStringSubmatch(shown); {
	case e != nil:
		fmt.Sscan(e[1], &s.exit)
	case strings.HasPrefix(shown, "... ") && strings.HasSuffix(shown, " ..."):
		s.contains = append(s.contains, strings.TrimSpace(shown[4:len(shown)-4]))
	case shown == "":
		return fmt.Errorf("empty shown output")
	default:
		s.exact = append(s.exact, shown)
	}
	return nil
}

// check compares a command's output and exit status with what the README
// shows, and returns what differs, or "".
func (s *readmeStep) check(output string, exit int) string {
	var why []string
	if exit != s.exit {
		why = append(why, fmt.Sprintf("exit status %d, README shows %d", exit, s.exit))
	}
	got := outputLines(output)
	if len(s.exact) > 0 && strings.Join(got, "\n") != strings.Join(s.exact, "\n") {
		why = append(why, fmt.Sprintf("printed\n\t%s\nREADME shows\n\t%s", strings.Join(got, "\n\t"), strings.Join(s.exact, "\n\t")))
	}
	for _, c := range s.contains {
		if !outputContains(output, c) {
			why = append(why, fmt.Sprintf("the output lacks %s", c))
		}
	}
	return strings.Join(why, "; ")
}

// outputLines splits output into lines without trailing spaces, dropping
// trailing empty lines.
func outputLines(output string) []string {
	lines := strings.Split(output, "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " \t\r")
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// outputContains applies the rule of "# -> ... TEXT ...": a JSON object
// TEXT must match some object of the JSON output; any other TEXT must be
// a substring of the output.
func outputContains(output, text string) bool {
	var want map[string]any
	if json.Unmarshal([]byte(text), &want) != nil {
		return strings.Contains(output, text)
	}
	var got any
	if json.Unmarshal([]byte(output), &got) != nil {
		return false
	}
	return containsJSON(got, want)
}

// containsJSON reports whether want matches got or any value inside it.
func containsJSON(got any, want map[string]any) bool {
	if matchJSON(got, want) {
		return true
	}
	switch g := got.(type) {
	case map[string]any:
		for _, v := range g {
			if containsJSON(v, want) {
				return true
			}
		}
	case []any:
		for _, v := range g {
			if containsJSON(v, want) {
				return true
			}
		}
	}
	return false
}

// matchJSON: an object matches if got has every field of want with a
// matching value; an array if it has as many elements, each matching;
// anything else if equal.
func matchJSON(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !matchJSON(gv, wv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !matchJSON(g[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return got == want
	}
}
