package inject

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Status is the value of the outrider.io/status annotation: exactly what the injector
// added, so that uninjection removes exactly that and re-injection can replace it.
type Status struct {
	// Version of the injector that wrote it.
	Version        string   `json:"version"`
	InitContainers []string `json:"initContainers,omitempty"`
	Containers     []string `json:"containers,omitempty"`
	Volumes        []string `json:"volumes,omitempty"`
	// Annotations the injector added besides this one.
	Annotations []string `json:"annotations,omitempty"`
	// Probes holds the original probes of each rewritten container, by probe field name
	// ("livenessProbe", …), so that uninjection restores them.
	Probes map[string]map[string]*corev1.Probe `json:"probes,omitempty"`
}

// ReadStatus returns the status recorded in annotations, or nil when there is none.
func ReadStatus(annotations map[string]string) (*Status, error) {
	raw, ok := annotations[AnnotationStatus]
	if !ok {
		return nil, nil
	}
	var s Status
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return nil, fmt.Errorf("inject: annotation %s: %w", AnnotationStatus, err)
	}
	return &s, nil
}

func (s *Status) encode() string {
	b, err := json.Marshal(s)
	if err != nil {
		// Only strings and core/v1 Probes: marshalling cannot fail.
		panic(fmt.Sprintf("inject: encoding status: %v", err))
	}
	return string(b)
}
