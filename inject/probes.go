package inject

import (
	"encoding/json"
	"fmt"

	"github.com/outrider-mesh/outrider/proxy/apphealth"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeFields lists a container's probes in a fixed order with their apphealth kind.
var probeFields = []struct {
	name, kind string
	get        func(*corev1.Container) *corev1.Probe
}{
	{"livenessProbe", "livez", func(c *corev1.Container) *corev1.Probe { return c.LivenessProbe }},
	{"readinessProbe", "readyz", func(c *corev1.Container) *corev1.Probe { return c.ReadinessProbe }},
	{"startupProbe", "startupz", func(c *corev1.Container) *corev1.Probe { return c.StartupProbe }},
}

// probeRewrite is the outcome of rewriting one pod's application probes.
type probeRewrite struct {
	ops       Patch
	originals map[string]map[string]*corev1.Probe
	// env is the value of apphealth.EnvProbes, empty when nothing was rewritten.
	env      string
	warnings []string
}

// rewriteProbes points every HTTP, tcpSocket and gRPC probe of the regular containers at
// the proxy's health port, so that the kubelet's probes pass through the proxy, which runs
// the original probe against the application. Exec probes run inside the application
// container and are left alone. containers is the JSON Pointer of spec.containers.
func rewriteProbes(spec *corev1.PodSpec, containers pointer) probeRewrite {
	var r probeRewrite
	app := map[string]apphealth.Probe{}
	for i := range spec.Containers {
		ctr := &spec.Containers[i]
		for _, f := range probeFields {
			orig := f.get(ctr)
			if orig == nil {
				continue
			}
			hp, ok, warn := toAppProbe(ctr, orig)
			if warn != "" {
				r.warnings = append(r.warnings, fmt.Sprintf("container %q %s: %s", ctr.Name, f.name, warn))
			}
			if !ok {
				continue
			}
			path := apphealth.Path(ctr.Name, f.kind)
			app[path] = hp
			rewritten := orig.DeepCopy()
			rewritten.ProbeHandler = corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromInt32(HealthPort), Scheme: corev1.URISchemeHTTP,
			}}
			r.ops = append(r.ops, replace(containers.index(i).field(f.name), rewritten))
			if r.originals == nil {
				r.originals = map[string]map[string]*corev1.Probe{}
			}
			if r.originals[ctr.Name] == nil {
				r.originals[ctr.Name] = map[string]*corev1.Probe{}
			}
			r.originals[ctr.Name][f.name] = orig.DeepCopy()
		}
	}
	if len(app) > 0 {
		b, err := json.Marshal(app) // map keys are sorted: the value is stable
		if err != nil {
			panic(fmt.Sprintf("inject: encoding app probes: %v", err))
		}
		r.env = string(b)
	}
	return r
}

// toAppProbe translates a Kubernetes probe to the proxy's description of it. ok is false
// for probes that stay as they are, with warn saying why when the user should know.
func toAppProbe(ctr *corev1.Container, p *corev1.Probe) (hp apphealth.Probe, ok bool, warn string) {
	hp.TimeoutSeconds = p.TimeoutSeconds
	switch {
	case p.HTTPGet != nil:
		port, err := resolvePort(ctr, p.HTTPGet.Port)
		if err != nil {
			return hp, false, err.Error() + "; probe left as is"
		}
		if port == HealthPort {
			return hp, false, "" // already served by the proxy
		}
		a := &apphealth.HTTPGetAction{Path: p.HTTPGet.Path, Port: port, Host: p.HTTPGet.Host, Scheme: string(p.HTTPGet.Scheme)}
		for _, h := range p.HTTPGet.HTTPHeaders {
			a.HTTPHeaders = append(a.HTTPHeaders, apphealth.HTTPHeader{Name: h.Name, Value: h.Value})
		}
		hp.HTTPGet = a
	case p.TCPSocket != nil:
		port, err := resolvePort(ctr, p.TCPSocket.Port)
		if err != nil {
			return hp, false, err.Error() + "; probe left as is, and a TCP probe through the redirect always succeeds"
		}
		hp.TCPSocket = &apphealth.TCPSocketAction{Port: port, Host: p.TCPSocket.Host}
	case p.GRPC != nil:
		hp.GRPC = &apphealth.GRPCAction{Port: int(p.GRPC.Port), Service: p.GRPC.Service}
	default:
		return hp, false, "" // exec: runs in the application's container, unaffected
	}
	return hp, true, ""
}

// resolvePort turns a probe port into a number, looking named ports up in the container
// as the kubelet does.
func resolvePort(ctr *corev1.Container, port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, p := range ctr.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("named port %q is not a port of the container", port.StrVal)
}
