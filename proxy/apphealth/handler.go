package apphealth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Kinds are the last path segment of each probe path, one per kind of Kubernetes probe.
var Kinds = map[string]string{
	"livenessProbe":  "livez",
	"readinessProbe": "readyz",
	"startupProbe":   "startupz",
}

// Path returns the path the injector points the probe of kind ("livez", "readyz",
// "startupz") of the named container at.
func Path(container, kind string) string {
	return PathPrefix + container + "/" + kind
}

// handler serves the probe paths of one Config. Immutable after New.
type handler struct {
	probes map[string]entry
}

type entry struct {
	prober prober
	probe  Probe
}

// New validates cfg and returns the handler for the paths below PathPrefix; mount it on
// the proxy's health listener (:15021). Every problem in cfg is reported at once.
func New(cfg Config) (http.Handler, error) {
	h := &handler{probes: make(map[string]entry, len(cfg.Probes))}
	podIP := cfg.PodIP
	if podIP == "" {
		podIP = "127.0.0.1"
	}
	paths := make([]string, 0, len(cfg.Probes))
	for p := range cfg.Probes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var errs []error
	for _, p := range paths {
		pr := cfg.Probes[p]
		if !strings.HasPrefix(p, PathPrefix) || len(p) == len(PathPrefix) {
			errs = append(errs, fmt.Errorf("%s: path must start with %s", p, PathPrefix))
			continue
		}
		if err := pr.validate(p); err != nil {
			errs = append(errs, err)
			continue
		}
		h.probes[p] = entry{prober: newProber(pr, podIP), probe: pr}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("apphealth: %w", err)
	}
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e, ok := h.probes[r.URL.Path]
	if !ok {
		http.Error(w, "apphealth: no probe for "+r.URL.Path, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "apphealth: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), e.probe.timeout())
	defer cancel()
	res := e.prober.run(ctx)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case res.ok:
		w.WriteHeader(http.StatusOK)
	case res.status >= 400:
		// Pass the application's own failure status through: the kubelet's event then
		// shows the code the application returned.
		w.WriteHeader(res.status)
	default:
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, res.detail)
}
