// Package version reports what build of Outrider is running.
package version

import "runtime/debug"

// Version is set at link time (-ldflags "-X github.com/outrider-mesh/outrider/version.Version=v1.2.3");
// otherwise it is taken from the module build info, or "dev".
var Version = ""

// String returns the version.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}
