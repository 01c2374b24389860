package apphealth

import (
	"os/exec"
	"strings"
	"testing"
)

// outrider-proxy must never link Kubernetes libraries (start time, size); this package is
// the one place where injection and proxy meet, so it guards the line.
func TestPackageDoesNotImportKubernetes(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "k8s.io/") || strings.HasPrefix(dep, "sigs.k8s.io/") {
			t.Errorf("apphealth depends on %s", dep)
		}
	}
}
