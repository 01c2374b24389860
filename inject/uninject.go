package inject

import (
	"fmt"
	"reflect"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Uninject returns the patch that removes exactly what the status annotation of t says
// was injected and restores the original probes. A template without the annotation gets
// an empty patch, unless it has a proxy container, which cannot be removed exactly.
func Uninject(t Template) (Patch, error) {
	st, err := ReadStatus(t.Meta.Annotations)
	if err != nil {
		return nil, err
	}
	if st == nil {
		if decide(t) == SkipInjected {
			return nil, fmt.Errorf("inject: uninject: container %q present without the %s annotation: cannot tell what to remove",
				ProxyName, AnnotationStatus)
		}
		return nil, nil
	}
	root := pointer(t.Path)
	spec := root.field("spec")
	var ops Patch

	// Probes first, at the containers' current indices.
	for i, ctr := range t.Spec.Containers {
		for _, f := range probeFields {
			if orig := st.Probes[ctr.Name][f.name]; orig != nil {
				ops = append(ops, replace(spec.field("containers").index(i).field(f.name), orig))
			}
		}
	}
	ops = append(ops, removeNamed(spec.field("initContainers"), names(t.Spec.InitContainers), st.InitContainers)...)
	ops = append(ops, removeNamed(spec.field("containers"), names(t.Spec.Containers), st.Containers)...)
	vols := make([]string, len(t.Spec.Volumes))
	for i, v := range t.Spec.Volumes {
		vols[i] = v.Name
	}
	ops = append(ops, removeNamed(spec.field("volumes"), vols, st.Volumes)...)

	drop := append([]string{AnnotationStatus}, st.Annotations...)
	left := 0
	for k := range t.Meta.Annotations {
		if !slices.Contains(drop, k) {
			left++
		}
	}
	if left == 0 && t.Path != "" && metaEmptyBut(t.Meta) {
		// A template that had no metadata before injection (a Job's may not) gets none back.
		ops = append(ops, remove(root.field("metadata")))
	} else if left == 0 {
		ops = append(ops, remove(root.field("metadata").field("annotations")))
	} else {
		for _, k := range drop {
			if _, ok := t.Meta.Annotations[k]; ok {
				ops = append(ops, remove(root.field("metadata").field("annotations").field(k)))
			}
		}
	}
	return ops, nil
}

// removeNamed removes the elements of the array at p whose names are in drop, from the
// last so earlier indices stay valid; the array itself when nothing would be left.
func removeNamed(p pointer, have, drop []string) Patch {
	var idx []int
	for i, n := range have {
		if slices.Contains(drop, n) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	if len(idx) == len(have) {
		return Patch{remove(p)}
	}
	ops := make(Patch, 0, len(idx))
	for i := len(idx) - 1; i >= 0; i-- {
		ops = append(ops, remove(p.index(idx[i])))
	}
	return ops
}

func names(ctrs []corev1.Container) []string {
	out := make([]string, len(ctrs))
	for i, c := range ctrs {
		out[i] = c.Name
	}
	return out
}

func sortStrings(s []string) { slices.Sort(s) }

// metaEmptyBut says whether m holds nothing but annotations.
func metaEmptyBut(m *metav1.ObjectMeta) bool {
	rest := *m
	rest.Annotations = nil
	return reflect.DeepEqual(rest, metav1.ObjectMeta{})
}
