package integration

import (
	"strings"
	"testing"
)

// TestReadmeParse checks the README runner's reading of the convention
// (readme_parse_test.go) on a small README, and that its checks fail
// when the output differs from what the README shows.
func TestReadmeParse(t *testing.T) {
	readme := strings.Join([]string{
		"```sh",
		"echo east            # -> east   (a note)",
		"# a note for people",
		"curl -s localhost:1/ \\",
		"  -o x",
		"# -> line one",
		"# -> line two",
		"false",
		"# -> exit status 1",
		"```",
		"```shell",
		"dot -Tsvg g.dot",
		"```",
		"```sh",
		`echo '{"a": [{"b": 1, "c": 2}]}'   # -> ... {"b": 1} ...`,
		"```",
	}, "\n")
	steps, err := parseReadme(readme)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 4 {
		t.Fatalf("%d steps, want 4: %+v", len(steps), steps)
	}
	for _, c := range []struct {
		step   int
		output string
		exit   int
		ok     bool
	}{
		{0, "east", 0, true},
		{0, "east\n", 0, true},
		{0, "west", 0, false},
		{0, "east", 7, false},
		{1, "line one\nline two\n", 0, true},
		{1, "line one\n", 0, false},
		{2, "", 1, true},
		{2, "", 0, false},
		{3, `{"a": [{"b": 1, "c": 2}]}`, 0, true},
		{3, `{"a": [{"b": 2, "c": 1}]}`, 0, false},
		{3, `not json {"b": 1}`, 0, false},
	} {
		why := steps[c.step].check(c.output, c.exit)
		if (why == "") != c.ok {
			t.Errorf("step %d (%q) with output %q, exit %d: %q, want ok %t", c.step, steps[c.step].command, c.output, c.exit, why, c.ok)
		}
	}
	if !strings.Contains(steps[1].command, "-o x") {
		t.Errorf("continued command %q lacks its second line", steps[1].command)
	}
	for _, bad := range []string{"```sh\n# -> east\n```", "```sh\necho \\\n```", "```sh\necho"} {
		if _, err := parseReadme(bad); err == nil {
			t.Errorf("parseReadme(%q) accepted it", bad)
		}
	}
}
