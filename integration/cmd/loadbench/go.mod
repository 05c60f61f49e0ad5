module github.com/costlb/costlb/integration/cmd/loadbench

go 1.26.8

require (
	github.com/costlb/costlb v0.0.0-00010101000000-000000000000
	github.com/lesismal/nbio v1.6.8
)

require golang.org/x/sys v0.48.0 // indirect

replace github.com/costlb/costlb => ../../..
