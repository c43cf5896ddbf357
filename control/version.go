package control

import (
	"fmt"
	"runtime/debug"
)

// Version is what `vtepd --version` and `vtepctl --version` print: the
// program, the module version it was built as, the commit it was built
// from (with "+changes" when the tree had uncommitted ones) and its time,
// and the Go that built it, all from the binary's build information.
func Version(program string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return program + " (no build information)"
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	s := fmt.Sprintf("%s %s", program, bi.Main.Version)
	if rev := settings["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if settings["vcs.modified"] == "true" {
			rev += "+changes"
		}
		s += ", commit " + rev
		if t := settings["vcs.time"]; t != "" {
			s += " of " + t
		}
	}
	return s + ", " + bi.GoVersion
}
