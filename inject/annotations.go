package inject

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The label and annotations users set on a pod (or its template); docs/injection.md
// describes each. Every other outrider.io/ annotation is rejected, so a typo is an error
// rather than a silently ignored setting.
const (
	// LabelInject opts a namespace or pod in ("enabled") or out ("disabled"). The webhook's
	// selectors match labels only; as an annotation only "disabled" has an effect.
	LabelInject = "outrider.io/inject"
	// AnnotationStatus records what was injected; written by the injector only.
	AnnotationStatus = "outrider.io/status"

	AnnotationNativeSidecar        = "outrider.io/native-sidecar"
	AnnotationProxyImage           = "outrider.io/proxy-image"
	AnnotationProxyCPU             = "outrider.io/proxy-cpu"
	AnnotationProxyMemory          = "outrider.io/proxy-memory"
	AnnotationProxyCPULimit        = "outrider.io/proxy-cpu-limit"
	AnnotationProxyMemoryLimit     = "outrider.io/proxy-memory-limit"
	AnnotationLogLevel             = "outrider.io/log-level"
	AnnotationDrainTime            = "outrider.io/drain-time"
	AnnotationInboundPorts         = "outrider.io/inbound-ports"
	AnnotationExcludeInboundPorts  = "outrider.io/exclude-inbound-ports"
	AnnotationOutboundPorts        = "outrider.io/outbound-ports"
	AnnotationExcludeOutboundPorts = "outrider.io/exclude-outbound-ports"
	AnnotationOutboundCIDRs        = "outrider.io/outbound-cidrs"
	AnnotationExcludeOutboundCIDRs = "outrider.io/exclude-outbound-cidrs"
	AnnotationRewriteAppProbes     = "outrider.io/rewrite-app-probes"

	prefix  = "outrider.io/"
	enabled = "enabled"
	disable = "disabled"
)

// logLevels are the proxy's (Envoy's names, plus "warn").
var logLevels = map[string]bool{
	"trace": true, "debug": true, "info": true, "warning": true, "warn": true, "error": true, "critical": true, "off": true,
}

// options is the per-pod view of Config after the pod's annotations are applied.
type options struct {
	native        bool
	image         string
	logLevel      string
	drain         time.Duration
	drainExplicit bool
	cpu, memory   *resource.Quantity
	cpuLimit      *resource.Quantity
	memoryLimit   *resource.Quantity
	rewriteProbes bool
	// initArgs are outrider-init's flags beyond the UID/GID ones, in a fixed order.
	initArgs []string
}

// readOptions applies meta's annotations to c, reporting every bad one with its path.
func (c *Config) readOptions(meta *metav1.ObjectMeta, at *field.Path) (options, field.ErrorList) {
	o := options{
		native:        !c.ClassicSidecar,
		image:         c.proxyImage(),
		logLevel:      c.LogLevel,
		drain:         c.DrainTime,
		cpu:           orDefault(c.ProxyCPU, defaultCPU),
		memory:        orDefault(c.ProxyMemory, defaultMemory),
		cpuLimit:      c.ProxyCPULimit,
		memoryLimit:   orDefault(c.ProxyMemoryLimit, defaultMemoryLimit),
		rewriteProbes: true,
	}
	if o.logLevel == "" {
		o.logLevel = defaultLogLevel
	}
	if o.drain == 0 {
		o.drain = defaultDrain
	}
	var errs field.ErrorList
	ann := at.Child("metadata", "annotations")
	bad := func(key, format string, args ...any) {
		errs = append(errs, field.Invalid(ann.Key(key), meta.Annotations[key], fmt.Sprintf(format, args...)))
	}
	ports := map[string]string{}
	cidrs := map[string]string{}
	if v, ok := meta.Labels[LabelInject]; ok && v != enabled && v != disable {
		// "true"/"false" (Istio's spelling) would otherwise be silently ignored.
		errs = append(errs, field.Invalid(at.Child("metadata", "labels").Key(LabelInject), v,
			fmt.Sprintf("want %q or %q", enabled, disable)))
	}

	for key, v := range meta.Annotations {
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		switch key {
		case LabelInject:
			if v != enabled && v != disable {
				bad(key, "want %q or %q", enabled, disable)
			}
		case AnnotationStatus:
		case AnnotationNativeSidecar:
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad(key, "want true or false")
			}
			o.native = b
		case AnnotationRewriteAppProbes:
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad(key, "want true or false")
			}
			o.rewriteProbes = b
		case AnnotationProxyImage:
			if strings.TrimSpace(v) == "" || strings.ContainsAny(v, " \t\n") {
				bad(key, "not an image reference")
			}
			o.image = v
		case AnnotationProxyCPU, AnnotationProxyMemory, AnnotationProxyCPULimit, AnnotationProxyMemoryLimit:
			q, err := resource.ParseQuantity(v)
			if err != nil || q.Sign() < 0 {
				bad(key, "not a resource quantity such as 100m or 64Mi")
				continue
			}
			switch key {
			case AnnotationProxyCPU:
				o.cpu = &q
			case AnnotationProxyMemory:
				o.memory = &q
			case AnnotationProxyCPULimit:
				o.cpuLimit = &q
			default:
				o.memoryLimit = &q
			}
		case AnnotationLogLevel:
			if !logLevels[v] {
				bad(key, "want one of trace, debug, info, warning, error, critical, off")
			}
			o.logLevel = v
		case AnnotationDrainTime:
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				bad(key, "not a duration such as 5s")
			}
			o.drain, o.drainExplicit = d, true
		case AnnotationInboundPorts, AnnotationOutboundPorts, AnnotationExcludeInboundPorts, AnnotationExcludeOutboundPorts:
			list, err := portList(v, key == AnnotationInboundPorts || key == AnnotationOutboundPorts)
			if err != nil {
				bad(key, "%v", err)
			}
			ports[key] = list
		case AnnotationOutboundCIDRs, AnnotationExcludeOutboundCIDRs:
			list, err := cidrList(v, key == AnnotationOutboundCIDRs)
			if err != nil {
				bad(key, "%v", err)
			}
			cidrs[key] = list
		default:
			bad(key, "unknown annotation (see docs/injection.md for the supported ones)")
		}
	}
	if len(errs) > 0 {
		// Map order is random; messages should not be.
		slices.SortFunc(errs, func(a, b *field.Error) int { return strings.Compare(a.Field, b.Field) })
		return o, errs
	}
	// Flag order is fixed so the injected spec, and its golden file, are stable.
	// outrider-init's own defaults apply to what is not set; an empty inbound-ports or
	// outbound-cidrs is passed on, as it means "none" there.
	inbound, ok := ports[AnnotationInboundPorts]
	if !ok {
		inbound = "*"
	}
	o.initArgs = []string{"--inbound-ports=" + inbound}
	for _, f := range []struct {
		key, flag string
		list      map[string]string
		keepEmpty bool
	}{
		{AnnotationExcludeInboundPorts, "--exclude-inbound-ports", ports, false},
		{AnnotationOutboundPorts, "--outbound-ports", ports, false},
		{AnnotationExcludeOutboundPorts, "--exclude-outbound-ports", ports, false},
		{AnnotationOutboundCIDRs, "--outbound-cidrs", cidrs, true},
		{AnnotationExcludeOutboundCIDRs, "--exclude-outbound-cidrs", cidrs, false},
	} {
		if v, ok := f.list[f.key]; ok && (v != "" || f.keepEmpty) {
			o.initArgs = append(o.initArgs, f.flag+"="+v)
		}
	}
	return o, nil
}

// portList normalises "80, 443" to "80,443"; "*" is allowed where star is.
func portList(v string, star bool) (string, error) {
	v = strings.TrimSpace(v)
	if v == "*" && star {
		return v, nil
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q is not a port number", f)
		}
		out = append(out, strconv.Itoa(n))
	}
	return strings.Join(out, ","), nil
}

// cidrList normalises a comma-separated list of CIDRs (IPv4 or IPv6).
func cidrList(v string, star bool) (string, error) {
	v = strings.TrimSpace(v)
	if v == "*" && star {
		return v, nil
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return "", fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", f)
		}
		out = append(out, p.Masked().String())
	}
	return strings.Join(out, ","), nil
}
