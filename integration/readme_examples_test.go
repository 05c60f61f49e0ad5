package integration

import "testing"

// TestReadmeExamples follows each example's README.md literally, one
// example after another (each on its own fixed ports, which no other test
// uses): see readme_parse_test.go for what it runs and checks.
func TestReadmeExamples(t *testing.T) {
	for _, name := range []string{"quickstart", "failover", "http", "multi-hop", "chain", "mtls", "auto-cost"} {
		t.Run(name, func(t *testing.T) { runReadme(t, name) })
	}
}

// TestReadmeQuickStart follows the quick start of the repository's
// README.md literally, from the root, with the quickstart example's config.
func TestReadmeQuickStart(t *testing.T) {
	runReadmeIn(t, "README.md", ".", "quickstart")
}
