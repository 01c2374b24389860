package inject

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
)

// workloads maps each kind that holds a pod template to its API version and the
// template's JSON Pointer. Other kinds pass through unchanged.
var workloads = map[string]struct{ apiVersion, path string }{
	"Pod":                   {"v1", ""},
	"ReplicationController": {"v1", "/spec/template"},
	"Deployment":            {"apps/v1", "/spec/template"},
	"StatefulSet":           {"apps/v1", "/spec/template"},
	"DaemonSet":             {"apps/v1", "/spec/template"},
	"ReplicaSet":            {"apps/v1", "/spec/template"},
	"Job":                   {"batch/v1", "/spec/template"},
	"CronJob":               {"batch/v1", "/spec/jobTemplate/spec/template"},
}

// InjectYAML injects every pod template in the YAML documents of in (multi-document
// streams and Lists), replacing an earlier injection, so injecting twice equals
// injecting once. notes say what was skipped or is worth a warning. On any error nothing
// is returned but the errors, each naming its document.
func (c *Config) InjectYAML(in []byte) (out []byte, notes []string, err error) {
	return transform(in, func(t Template) (Patch, []string, error) {
		res, err := c.Inject(t)
		if err != nil {
			return nil, nil, err
		}
		notes := res.Warnings
		if res.Skip != "" {
			notes = append(notes, "not injected: "+string(res.Skip))
		}
		return res.Patch, notes, nil
	}, true)
}

// UninjectYAML removes what InjectYAML added.
func UninjectYAML(in []byte) (out []byte, notes []string, err error) {
	return transform(in, func(t Template) (Patch, []string, error) {
		p, err := Uninject(t)
		return p, nil, err
	}, false)
}

type templateFunc func(Template) (Patch, []string, error)

func transform(in []byte, fn templateFunc, reinject bool) ([]byte, []string, error) {
	var out bytes.Buffer
	var notes []string
	var errs []error
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(in)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", n, err))
			break
		}
		res, docNotes, err := transformDoc(doc, fmt.Sprintf("document %d", n), fn, reinject)
		notes = append(notes, docNotes...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if out.Len() > 0 {
			out.WriteString("---\n")
		}
		out.Write(res)
		if len(res) > 0 && res[len(res)-1] != '\n' {
			out.WriteByte('\n')
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, notes, err
	}
	return out.Bytes(), notes, nil
}

// transformDoc returns doc itself when nothing in it changes, the re-encoded document otherwise.
func transformDoc(doc []byte, name string, fn templateFunc, reinject bool) ([]byte, []string, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, nil, fmt.Errorf("%s: invalid YAML: %w", name, err)
	}
	if len(root.Content) == 0 {
		return doc, nil, nil // only comments
	}
	obj := root.Content[0]
	changed, notes, err := transformObject(obj, "", name, fn, reinject)
	if err != nil || !changed {
		return doc, notes, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, notes, fmt.Errorf("%s: %w", name, err)
	}
	return buf.Bytes(), notes, nil
}

// header is what every object says about itself.
type header struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        struct{ Name, Namespace string } `json:"metadata"`
	Items           []struct{}                       `json:"items"`
}

// transformObject handles the object at path below obj (the document root), recursing
// into List items.
func transformObject(obj *yaml.Node, path, name string, fn templateFunc, reinject bool) (bool, []string, error) {
	node, _ := lookup(obj, splitPointer(path))
	if node == nil || node.Kind != yaml.MappingNode {
		return false, nil, fmt.Errorf("%s: not a Kubernetes object (want a mapping with apiVersion and kind)", name)
	}
	var h header
	if err := decodeNode(node, &h); err != nil {
		return false, nil, fmt.Errorf("%s: %w", name, err)
	}
	if h.APIVersion == "" || h.Kind == "" {
		return false, nil, fmt.Errorf("%s: not a Kubernetes object: apiVersion and kind are required", name)
	}
	if h.Metadata.Name != "" {
		name = fmt.Sprintf("%s (%s %s %s)", name, h.APIVersion, h.Kind, strings.TrimPrefix(h.Metadata.Namespace+"/"+h.Metadata.Name, "/"))
	} else {
		name = fmt.Sprintf("%s (%s %s)", name, h.APIVersion, h.Kind)
	}

	if strings.HasSuffix(h.Kind, "List") && h.Items != nil {
		changed := false
		var notes []string
		var errs []error
		for i := range h.Items {
			c, n, err := transformObject(obj, fmt.Sprintf("%s/items/%d", path, i), fmt.Sprintf("%s item %d", name, i), fn, reinject)
			changed = changed || c
			notes = append(notes, n...)
			errs = append(errs, err)
		}
		return changed, notes, errors.Join(errs...)
	}
	w, ok := workloads[h.Kind]
	if !ok {
		return false, nil, nil
	}
	if h.APIVersion != w.apiVersion {
		return false, nil, fmt.Errorf("%s: unsupported apiVersion %q for kind %s: want %q", name, h.APIVersion, h.Kind, w.apiVersion)
	}

	tpath := path + w.path
	t, err := decodeTemplate(obj, tpath, h.Metadata.Namespace)
	if err != nil {
		return false, nil, fmt.Errorf("%s: %w", name, err)
	}
	changed := false
	if _, injected := t.Meta.Annotations[AnnotationStatus]; injected && reinject {
		// Replace an earlier injection: remove it exactly, then inject afresh.
		undo, err := Uninject(t)
		if err != nil {
			return false, nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := applyPatch(obj, undo); err != nil {
			return false, nil, fmt.Errorf("%s: %w", name, err)
		}
		changed = true
		if t, err = decodeTemplate(obj, tpath, h.Metadata.Namespace); err != nil {
			return false, nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	patch, notes, err := fn(t)
	for i, n := range notes {
		notes[i] = name + ": " + n
	}
	if err != nil {
		return false, notes, fmt.Errorf("%s: %w", name, err)
	}
	if err := applyPatch(obj, patch); err != nil {
		return false, notes, fmt.Errorf("%s: %w", name, err)
	}
	return changed || len(patch) > 0, notes, nil
}

func decodeTemplate(obj *yaml.Node, path, namespace string) (Template, error) {
	node, err := lookup(obj, splitPointer(path))
	if err != nil || node == nil {
		return Template{}, fmt.Errorf("no pod template at %s", fieldPath(path))
	}
	var tpl struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     corev1.PodSpec    `json:"spec"`
	}
	if err := decodeNode(node, &tpl); err != nil {
		return Template{}, fmt.Errorf("pod template at %s: %w", fieldPath(path), err)
	}
	return Template{Meta: &tpl.Metadata, Spec: &tpl.Spec, Namespace: namespace, Path: path}, nil
}
