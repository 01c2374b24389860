package inject

import (
	"strconv"
	"time"

	"github.com/outrider-mesh/outrider/proxy/apphealth"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// initContainer runs outrider-init, which installs the redirect rules and exits. It needs
// root with NET_ADMIN and NET_RAW to program netfilter, and nothing else.
func (c *Config) initContainer(o options) corev1.Container {
	args := append([]string{
		"--proxy-uid=" + strconv.Itoa(ProxyUID),
		"--proxy-gid=" + strconv.Itoa(ProxyUID),
	}, o.initArgs...)
	return corev1.Container{
		Name:            InitName,
		Image:           c.initImage(o.image),
		ImagePullPolicy: c.ImagePullPolicy,
		Command:         []string{InitName},
		Args:            args,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: initCPU, corev1.ResourceMemory: initMemory},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: initMemoryLimit},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To[int64](0),
			RunAsGroup:               ptr.To[int64](0),
			RunAsNonRoot:             ptr.To(false),
			Privileged:               ptr.To(false),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities: &corev1.Capabilities{
				Add:  []corev1.Capability{"NET_ADMIN", "NET_RAW"},
				Drop: []corev1.Capability{"ALL"},
			},
		},
	}
}

// proxyContainer runs outrider-proxy beside the application.
func (c *Config) proxyContainer(o options, drain time.Duration, appProbes string) corev1.Container {
	args := []string{"--sidecar", "--log-level=" + o.logLevel, "--drain-time=" + drain.String()}
	if o.native {
		// A native sidecar is signalled only after the application containers have
		// exited, so nothing new will arrive: it can leave as soon as the last
		// connection closes instead of waiting out the drain.
		args = append(args, "--exit-on-zero-active-connections")
	}
	ready := &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: ReadyPath, Port: intstr.FromInt32(HealthPort), Scheme: corev1.URISchemeHTTP,
		}},
		TimeoutSeconds:   1,
		PeriodSeconds:    5,
		SuccessThreshold: 1,
		FailureThreshold: 3,
	}
	ctr := corev1.Container{
		Name:            ProxyName,
		Image:           o.image,
		ImagePullPolicy: c.ImagePullPolicy,
		Command:         []string{ProxyName},
		Args:            args,
		Ports: []corev1.ContainerPort{
			{Name: "outrider-prom", ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP},
		},
		Env:                      proxyEnv(o, appProbes),
		Resources:                resources(o),
		ReadinessProbe:           ready,
		VolumeMounts:             []corev1.VolumeMount{{Name: CertVolume, MountPath: CertPath}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To[int64](ProxyUID),
			RunAsGroup:               ptr.To[int64](ProxyUID),
			RunAsNonRoot:             ptr.To(true),
			Privileged:               ptr.To(false),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	if o.native {
		ctr.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		// The kubelet starts the next container once this probe passes; checking every
		// second lets the application start about a second after the proxy is ready. The
		// threshold allows ten minutes, as a slow node or image pull may need.
		startup := *ready
		startup.PeriodSeconds, startup.FailureThreshold = 1, 600
		ctr.StartupProbe = &startup
	} else {
		// Classic sidecar: the kubelet starts the next container only after this hook
		// returns, so the application waits for the proxy.
		ctr.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{
			Exec: &corev1.ExecAction{Command: []string{ProxyName, "wait", "--timeout=10m"}},
		}}
	}
	return ctr
}

func proxyEnv(o options, appProbes string) []corev1.EnvVar {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path},
		}}
	}
	env := []corev1.EnvVar{
		field("POD_NAME", "metadata.name"),
		field("POD_NAMESPACE", "metadata.namespace"),
		field("POD_IP", "status.podIP"),
		field("SERVICE_ACCOUNT", "spec.serviceAccountName"),
		field("NODE_NAME", "spec.nodeName"),
	}
	if o.memoryLimit != nil && !o.memoryLimit.IsZero() {
		// 90% of the limit: GOMEMLIMIT covers the Go heap and runtime, not every byte
		// the kernel charges to the container, so leave headroom before the OOM killer.
		env = append(env, corev1.EnvVar{Name: "GOMEMLIMIT", Value: strconv.FormatInt(o.memoryLimit.Value()/10*9, 10)})
	}
	if appProbes != "" {
		env = append(env, corev1.EnvVar{Name: apphealth.EnvProbes, Value: appProbes})
	}
	return env
}

func resources(o options) corev1.ResourceRequirements {
	var r corev1.ResourceRequirements
	set := func(list *corev1.ResourceList, name corev1.ResourceName, q *resource.Quantity) {
		if q == nil || q.IsZero() {
			return
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = *q
	}
	set(&r.Requests, corev1.ResourceCPU, o.cpu)
	set(&r.Requests, corev1.ResourceMemory, o.memory)
	set(&r.Limits, corev1.ResourceCPU, o.cpuLimit)
	set(&r.Limits, corev1.ResourceMemory, o.memoryLimit)
	return r
}

// certVolume holds the proxy's certificates in memory, never on the node's disk.
func certVolume() corev1.Volume {
	return corev1.Volume{Name: CertVolume, VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("5Mi"))},
	}}
}

// fitDrain shortens the drain to end a second before the kubelet's SIGKILL.
func fitDrain(drain time.Duration, grace *int64) time.Duration {
	g := defaultGrace
	if grace != nil {
		g = time.Duration(*grace) * time.Second
	}
	if limit := max(g-time.Second, 0); drain > limit {
		return limit
	}
	return drain
}
