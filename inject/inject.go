package inject

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Template is one pod template inside a document: a Pod itself, or the template of a
// Deployment, Job, …
type Template struct {
	Meta *metav1.ObjectMeta
	Spec *corev1.PodSpec
	// Namespace the pods are created in (a Pod's may be empty in its own metadata).
	Namespace string
	// Path is the JSON Pointer of the template inside the document: "" for a Pod,
	// "/spec/template" for a Deployment. The patch's paths start with it.
	Path string
}

// Skip says why a pod is left as it is; the empty Skip means it is injected.
type Skip string

const (
	SkipOptOut      Skip = "opt-out"          // outrider.io/inject=disabled label or annotation
	SkipHostNetwork Skip = "host-network"     // the redirect rules would apply to the node
	SkipKubeSystem  Skip = "kube-system"      // the control plane's own namespace
	SkipInjected    Skip = "already-injected" // has the status annotation or a proxy container
)

// Result is the outcome of injecting one template.
type Result struct {
	Patch Patch
	// Skip is set when the template is left unchanged (Patch is then empty).
	Skip Skip
	// Warnings are worth showing the user; they do not stop injection.
	Warnings []string
}

// ErrRefused marks pods that must not be injected because the result would not work,
// such as an application running as the proxy's UID. Inject wraps it with the reason.
var ErrRefused = errors.New("inject: refused")

// Inject returns the patch that adds the sidecar to t, or why t is skipped. t is not
// modified. Errors name the offending field; the pod is then not injected.
func (c *Config) Inject(t Template) (Result, error) {
	if skip := decide(t); skip != "" {
		return Result{Skip: skip}, nil
	}
	at := fieldPath(t.Path)
	o, bad := c.readOptions(t.Meta, at)
	if err := problems(bad, append(checkUIDs(t.Spec, at), checkNames(t.Spec, at)...)); err != nil {
		return Result{}, err
	}

	root := pointer(t.Path)
	spec := root.field("spec")
	var res Result
	st := &Status{Version: c.version(), InitContainers: []string{InitName}, Volumes: []string{CertVolume}}

	// 1. Probes first: they address containers by their current index.
	var pr probeRewrite
	if o.rewriteProbes {
		pr = rewriteProbes(t.Spec, spec.field("containers"))
		res.Patch = append(res.Patch, pr.ops...)
		res.Warnings = append(res.Warnings, pr.warnings...)
		st.Probes = pr.originals
	}

	drain := fitDrain(o.drain, t.Spec.TerminationGracePeriodSeconds)
	if o.drainExplicit && drain < o.drain {
		res.Warnings = append(res.Warnings, fmt.Sprintf(
			"%s %s does not fit terminationGracePeriodSeconds; draining for %s", AnnotationDrainTime, o.drain, drain))
	}
	proxy := c.proxyContainer(o, drain, pr.env)

	// 2. Containers: outrider-init first, so the rules are in place before anything
	// else runs; then the proxy, as a native sidecar before the pod's own init
	// containers (their traffic goes through it too), or as the first regular container.
	inits := []corev1.Container{c.initContainer(o)}
	if o.native {
		inits = append(inits, proxy)
		st.InitContainers = append(st.InitContainers, ProxyName)
	}
	res.Patch = append(res.Patch, insertFront(spec.field("initContainers"), len(t.Spec.InitContainers) > 0, inits)...)
	if !o.native {
		res.Patch = append(res.Patch, add(spec.field("containers").index(0), proxy))
		st.Containers = []string{ProxyName}
	}
	if len(t.Spec.Volumes) > 0 {
		res.Patch = append(res.Patch, add(spec.field("volumes").appendTo(), certVolume()))
	} else {
		res.Patch = append(res.Patch, add(spec.field("volumes"), []corev1.Volume{certVolume()}))
	}

	// 3. Annotations, the status last so that it records everything above.
	ann := map[string]string{}
	if _, ok := t.Meta.Annotations["prometheus.io/scrape"]; !ok {
		// Leave an application's own scrape settings alone rather than hijack them.
		ann["prometheus.io/scrape"] = "true"
		ann["prometheus.io/port"] = fmt.Sprint(MetricsPort)
		ann["prometheus.io/path"] = MetricsPath
	}
	if _, ok := t.Meta.Annotations["kubectl.kubernetes.io/default-container"]; !ok && !o.native && len(t.Spec.Containers) > 0 {
		// Keep `kubectl logs/exec` on the application, not the proxy now listed first.
		ann["kubectl.kubernetes.io/default-container"] = t.Spec.Containers[0].Name
	}
	for k := range ann {
		st.Annotations = append(st.Annotations, k)
	}
	sortStrings(st.Annotations)
	ann[AnnotationStatus] = st.encode()
	res.Patch = append(res.Patch, setAnnotations(root.field("metadata"), t.Meta.Annotations != nil, ann)...)
	return res, nil
}

// decide says whether t is skipped, and why.
func decide(t Template) Skip {
	switch {
	case t.Meta.Labels[LabelInject] == disable || t.Meta.Annotations[LabelInject] == disable:
		return SkipOptOut
	case t.Spec.HostNetwork:
		return SkipHostNetwork
	case t.Namespace == metav1.NamespaceSystem:
		return SkipKubeSystem
	}
	if _, ok := t.Meta.Annotations[AnnotationStatus]; ok {
		return SkipInjected
	}
	for _, list := range [][]corev1.Container{t.Spec.InitContainers, t.Spec.Containers} {
		for _, ctr := range list {
			if ctr.Name == ProxyName {
				return SkipInjected
			}
		}
	}
	return ""
}

// checkUIDs refuses pods whose application runs as the proxy's UID or GID: the redirect
// rules exempt that owner, so its traffic would silently bypass the proxy.
func checkUIDs(spec *corev1.PodSpec, at *field.Path) field.ErrorList {
	var errs field.ErrorList
	podUID, podGID := int64(-1), int64(-1)
	if sc := spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			podUID = *sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			podGID = *sc.RunAsGroup
		}
	}
	for _, list := range []struct {
		field string
		ctrs  []corev1.Container
	}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}} {
		for i, ctr := range list.ctrs {
			uid, gid := podUID, podGID
			uidPath := at.Child("spec", "securityContext", "runAsUser")
			gidPath := at.Child("spec", "securityContext", "runAsGroup")
			if sc := ctr.SecurityContext; sc != nil {
				ctrPath := at.Child("spec", list.field).Index(i).Child("securityContext")
				if sc.RunAsUser != nil {
					uid, uidPath = *sc.RunAsUser, ctrPath.Child("runAsUser")
				}
				if sc.RunAsGroup != nil {
					gid, gidPath = *sc.RunAsGroup, ctrPath.Child("runAsGroup")
				}
			}
			if uid == ProxyUID {
				errs = append(errs, field.Forbidden(uidPath, fmt.Sprintf(
					"container %q runs as UID %d, the proxy's: its traffic would bypass interception", ctr.Name, ProxyUID)))
			}
			if gid == ProxyUID {
				errs = append(errs, field.Forbidden(gidPath, fmt.Sprintf(
					"container %q runs as GID %d, the proxy's: its traffic would bypass interception", ctr.Name, ProxyUID)))
			}
		}
	}
	return errs
}

// checkNames refuses pods that already use a name the injector needs.
func checkNames(spec *corev1.PodSpec, at *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ctr := range spec.InitContainers {
		if ctr.Name == InitName {
			errs = append(errs, field.Duplicate(at.Child("spec", "initContainers").Index(i).Child("name"), InitName))
		}
	}
	for i, ctr := range spec.Containers {
		if ctr.Name == InitName {
			errs = append(errs, field.Duplicate(at.Child("spec", "containers").Index(i).Child("name"), InitName))
		}
	}
	for i, v := range spec.Volumes {
		if v.Name == CertVolume {
			errs = append(errs, field.Duplicate(at.Child("spec", "volumes").Index(i).Child("name"), CertVolume))
		}
	}
	return errs
}

// problems reports every bad setting and every reason to refuse at once, one per line,
// each naming its field. Refusals make the error an ErrRefused.
func problems(bad, refused field.ErrorList) error {
	if len(bad)+len(refused) == 0 {
		return nil
	}
	what := "bad labels or annotations"
	var kind error
	switch {
	case len(refused) > 0 && len(bad) > 0:
		what, kind = "refused, and bad labels or annotations", ErrRefused
	case len(refused) > 0:
		what, kind = "refused", ErrRefused
	}
	var b strings.Builder
	b.WriteString("inject: " + what + ":")
	for _, e := range append(bad, refused...) {
		b.WriteString("\n  " + e.Error())
	}
	return &fieldErrors{msg: b.String(), list: append(bad, refused...), kind: kind}
}

// fieldErrors keeps the field errors available to errors.As callers.
type fieldErrors struct {
	msg  string
	list field.ErrorList
	kind error // ErrRefused, or nil
}

func (e *fieldErrors) Error() string { return e.msg }
func (e *fieldErrors) Unwrap() error { return e.kind }

// fieldPath turns a JSON Pointer such as "/spec/template" into a field path.
func fieldPath(p string) *field.Path {
	toks := splitPointer(p)
	if len(toks) == 0 {
		return nil
	}
	return field.NewPath(toks[0], toks[1:]...)
}

// insertFront puts ctrs at the start of the array at p, creating it when absent.
func insertFront(p pointer, exists bool, ctrs []corev1.Container) Patch {
	if !exists {
		return Patch{add(p, ctrs)}
	}
	ops := make(Patch, len(ctrs))
	for i := range ctrs {
		ops[i] = add(p.index(i), ctrs[i])
	}
	return ops
}

// setAnnotations adds ann (in sorted key order) to the metadata at meta.
func setAnnotations(meta pointer, exists bool, ann map[string]string) Patch {
	if !exists {
		return Patch{add(meta.field("annotations"), ann)}
	}
	keys := make([]string, 0, len(ann))
	for k := range ann {
		keys = append(keys, k)
	}
	sortStrings(keys)
	ops := make(Patch, len(keys))
	for i, k := range keys {
		ops[i] = add(meta.field("annotations").field(k), ann[k])
	}
	return ops
}
