package main

import "runtime/debug"

// releaseConfigMemory returns to the system what loading a configuration
// left behind: the YAML tree, its JSON, the decoder's garbage, several
// times the size of what the running configuration keeps. Without it the
// process holds that peak until the runtime's background scavenger gives
// it back, minutes later, and a sidecar's RSS would grow with the size of
// the mesh far beyond what it uses. One collection per load.
func releaseConfigMemory() {
	debug.FreeOSMemory()
	dropStartupPages()
}
