package module

// ServeAdmin serves a request on the costlb admin API, for the tests of
// package module_test.
var ServeAdmin = adminAPI{}.serve

// Path returns the path from the local site to site, for the tests.
func (a *App) Path(site string) []string { return a.paths.Path(site) }

// ParseGlobalOption is the costlb global option's parser, for the tests.
var ParseGlobalOption = parseGlobalOption
