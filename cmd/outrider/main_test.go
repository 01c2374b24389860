package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/inject"
	"github.com/outrider-mesh/outrider/version"
	"github.com/outrider-mesh/outrider/webhook/certs"
	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/yaml"
)

// runCmd runs outrider in-process with stdin and returns exit code, stdout and stderr.
func runCmd(t *testing.T, ctx context.Context, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, &stdio{in: strings.NewReader(stdin), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestCommandLine(t *testing.T) {
	pod, err := os.ReadFile("testdata/pod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, append(append([]byte{}, pod...), "---\napiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: old}\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantOut    string // substring of stdout; "" means stdout must be empty
		wantErrOut string // substring of stderr
	}{
		{name: "no command prints usage", wantCode: 2, wantErrOut: "Commands:"},
		{name: "an unknown command is a usage error", args: []string{"frobnicate"}, wantCode: 2, wantErrOut: `unknown command "frobnicate"`},
		{name: "help lists every command", args: []string{"help"}, wantCode: 0, wantErrOut: "uninject"},
		{name: "version prints the version", args: []string{"version"}, wantCode: 0, wantOut: version.String()},
		{name: "inject reads a file", args: []string{"inject", "-f", "testdata/pod.yaml"}, wantCode: 0, wantOut: "name: outrider-proxy"},
		{name: "inject reads standard input", args: []string{"inject", "-f", "-"}, stdin: string(pod), wantCode: 0, wantOut: "name: outrider-init"},
		{name: "inject takes the proxy image from a flag", args: []string{"inject", "-f", "-", "-proxy-image", "registry.local/proxy:1"},
			stdin: string(pod), wantCode: 0, wantOut: "image: registry.local/proxy:1"},
		{name: "inject without -f is a usage error", args: []string{"inject"}, wantCode: 2, wantErrOut: "-f is required"},
		{name: "a bad document writes nothing and names the document", args: []string{"inject", "-f", bad}, wantCode: 1,
			wantErrOut: `document 2 (apps/v1beta1 Deployment old): unsupported apiVersion`},
		{name: "a missing file is an error", args: []string{"inject", "-f", "testdata/nope.yaml"}, wantCode: 1, wantErrOut: "no such file"},
		{name: "a bad pull policy is an error", args: []string{"inject", "-f", "-", "-image-pull-policy", "Sometimes"}, stdin: string(pod),
			wantCode: 1, wantErrOut: `image pull policy "Sometimes"`},
		{name: "a bad proxy log level is an error", args: []string{"inject", "-f", "-", "-log-level", "loud"}, stdin: string(pod),
			wantCode: 1, wantErrOut: `log level "loud"`},
		{name: "uninject of a manifest without the sidecar changes nothing", args: []string{"uninject", "-f", "-"}, stdin: string(pod),
			wantCode: 0, wantOut: string(pod)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, context.Background(), tt.stdin, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr: %s)", code, tt.wantCode, errOut)
			}
			if tt.wantOut == "" && out != "" {
				t.Errorf("stdout should be empty, got:\n%s", out)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("stdout does not contain %q:\n%s", tt.wantOut, out)
			}
			if !strings.Contains(errOut, tt.wantErrOut) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantErrOut, errOut)
			}
		})
	}
}

func TestInjectThenUninjectGivesBackTheManifest(t *testing.T) {
	pod, _ := os.ReadFile("testdata/pod.yaml")
	code, injected, errOut := runCmd(t, context.Background(), string(pod), "inject", "-f", "-", "-native-sidecar=false")
	if code != 0 {
		t.Fatal(errOut)
	}
	code, back, errOut := runCmd(t, context.Background(), injected, "uninject", "-f", "-")
	if code != 0 {
		t.Fatal(errOut)
	}
	var want, got any
	if err := yaml.Unmarshal(pod, &want); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(back), &got); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Errorf("uninject(inject(x)) != x:\n%s", back)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestWebhookCommandServesReviewsHealthAndMetrics(t *testing.T) {
	dir := t.TempDir()
	b, err := certs.NewBundle(nil, nil, []net.IP{net.ParseIP("127.0.0.1")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, certs.CertFile), b.Cert, 0o600)
	os.WriteFile(filepath.Join(dir, certs.KeyFile), b.Key, 0o600)
	addr, metricsAddr := freeAddr(t), freeAddr(t)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errOut bytes.Buffer
	go func() {
		done <- run(ctx, []string{"webhook", "-tls-dir", dir, "-listen", addr, "-metrics-listen", metricsAddr},
			&stdio{in: strings.NewReader(""), out: io.Discard, err: &errOut})
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("webhook exited %d: %s", code, errOut.String())
		}
	}()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.CACert)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var resp *http.Response
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err = client.Get("https://" + addr + "/healthz")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("healthz: %v (%s)", err, errOut.String())
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz status %d", resp.StatusCode)
	}

	podJSON, _ := yaml.YAMLToJSON(must(os.ReadFile("testdata/pod.yaml")))
	review := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"CREATE",`+
		`"resource":{"version":"v1","resource":"pods"},"namespace":"shop","object":%s}}`, podJSON)
	resp, err = client.Post("https://"+addr+"/inject", "application/json", strings.NewReader(review))
	if err != nil {
		t.Fatal(err)
	}
	var out admissionv1.AdmissionReview
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if out.Response == nil || !out.Response.Allowed || len(out.Response.Patch) == 0 {
		t.Fatalf("review response = %+v", out.Response)
	}
	if !bytes.Contains(out.Response.Patch, []byte(inject.ProxyName)) {
		t.Error("patch does not add the proxy")
	}

	resp, err = http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"outrider_webhook_reviews_total 1", "outrider_webhook_injections_total 1",
		"outrider_webhook_review_duration_seconds_count 1", `outrider_webhook_skips_total{reason="opt-out"} 0`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
