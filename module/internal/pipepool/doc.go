// Package pipepool is what both data-path engines share to splice(2): the
// pool of pipes, taken only while a burst of data moves, so that an idle
// proxied connection holds none (Go's own splice keeps a pipe per
// direction for the whole connection); the two splice steps through a
// pipe; and the policy of when to splice (Burst). See docs/data-path.md.
// It needs no Caddy.
package pipepool
