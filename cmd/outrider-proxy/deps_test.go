package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The data plane must stay small and fast to start: it never links the
// Kubernetes libraries, which belong to the control plane.
func TestProxyBinaryLinksNoKubernetesPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 10 {
		t.Fatalf("go list -deps listed only %d packages; the check would be meaningless", len(pkgs))
	}
	for _, p := range pkgs {
		if strings.HasPrefix(p, "k8s.io/") || strings.HasPrefix(p, "sigs.k8s.io/controller-runtime") {
			t.Errorf("outrider-proxy links %s", p)
		}
	}
}
