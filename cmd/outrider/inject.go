package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/outrider-mesh/outrider/inject"
	"github.com/outrider-mesh/outrider/version"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// injectorFlags registers the mesh-wide injection settings shared by inject and webhook.
func injectorFlags(fs *flag.FlagSet) func() (*inject.Config, error) {
	cfg := &inject.Config{}
	fs.StringVar(&cfg.ProxyImage, "proxy-image", "", "proxy image (default "+inject.DefaultRepository+":<version>)")
	fs.StringVar(&cfg.InitImage, "init-image", "", "image running outrider-init (default: the proxy image)")
	pull := fs.String("image-pull-policy", "", "imagePullPolicy of the injected containers: Always, IfNotPresent or Never (default: Kubernetes')")
	native := fs.Bool("native-sidecar", true, "inject the proxy as a native sidecar (Kubernetes 1.29+); false: as the first regular container")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "proxy log level: trace, debug, info, warning, error, critical or off")
	fs.DurationVar(&cfg.DrainTime, "drain-time", 5*time.Second, "proxy drain time at shutdown (shortened to fit terminationGracePeriodSeconds)")
	quantities := map[string]**resource.Quantity{
		"proxy-cpu": &cfg.ProxyCPU, "proxy-memory": &cfg.ProxyMemory,
		"proxy-cpu-limit": &cfg.ProxyCPULimit, "proxy-memory-limit": &cfg.ProxyMemoryLimit,
	}
	raw := map[string]*string{}
	for name, dflt := range map[string]string{"proxy-cpu": "50m", "proxy-memory": "64Mi", "proxy-cpu-limit": "0", "proxy-memory-limit": "256Mi"} {
		raw[name] = fs.String(name, dflt, "proxy resource "+strings.TrimPrefix(name, "proxy-")+` ("0": none)`)
	}
	return func() (*inject.Config, error) {
		cfg.Version = version.String()
		cfg.ClassicSidecar = !*native
		cfg.ImagePullPolicy = corev1.PullPolicy(*pull)
		for name, dst := range quantities {
			q, err := resource.ParseQuantity(*raw[name])
			if err != nil {
				return nil, fmt.Errorf("-%s: %w", name, err)
			}
			*dst = &q
		}
		return cfg, cfg.Validate()
	}
}

func runInject(ctx context.Context, args []string, env *stdio) error {
	fs := newFlags("inject", "-f FILE|- [flags]", env)
	file := fs.String("f", "", "manifests to inject: a YAML file, or - for standard input (required)")
	config := injectorFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := config()
	if err != nil {
		return err
	}
	return transformFile(*file, env, fs, cfg.InjectYAML)
}

func runUninject(ctx context.Context, args []string, env *stdio) error {
	fs := newFlags("uninject", "-f FILE|-", env)
	file := fs.String("f", "", "manifests to uninject: a YAML file, or - for standard input (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return transformFile(*file, env, fs, inject.UninjectYAML)
}

// transformFile reads all of file, transforms it and writes the result only when every
// document succeeded, so a failure never leaves half a manifest on stdout.
func transformFile(file string, env *stdio, fs *flag.FlagSet, fn func([]byte) ([]byte, []string, error)) error {
	if file == "" {
		fmt.Fprintln(env.err, "-f is required")
		fs.Usage()
		return errUsage
	}
	var in []byte
	var err error
	if file == "-" {
		in, err = io.ReadAll(env.in)
	} else {
		in, err = os.ReadFile(file)
	}
	if err != nil {
		return err
	}
	out, notes, err := fn(in)
	for _, n := range notes {
		fmt.Fprintln(env.err, "note:", n)
	}
	if err != nil {
		return err
	}
	_, err = env.out.Write(out)
	return err
}
