package webhook_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// A real kube-apiserver, etcd and kube-controller-manager (deployment and replicaset
// controllers, so Deployments really create pods), shared by the tests of this package
// and started by the first one that needs them. scripts/kube-test-bins.sh builds them.

var kube struct {
	once sync.Once
	err  error
	skip string
	env  *envtest.Environment
	cfg  *rest.Config
	kcm  *exec.Cmd
}

// kubeBinDir is where the binaries are: $KUBEBUILDER_ASSETS, or the script's cache
// ($KUBE_BINS_DIR, by default under $HOME).
func kubeBinDir() string {
	for _, v := range []string{"KUBEBUILDER_ASSETS", "KUBE_BINS_DIR"} {
		if d := os.Getenv(v); d != "" {
			return d
		}
	}
	home := os.Getenv("HOME")
	if home == "" {
		home = "/root"
	}
	return filepath.Join(home, ".cache", "outrider", "kube-bins")
}

// cluster returns a client config for the shared control plane. Without the binaries it
// skips the test, unless running as root (as CI does, after scripts/deps.sh built them),
// where a missing binary is a failure.
func cluster(t *testing.T) *rest.Config {
	t.Helper()
	kube.once.Do(startCluster)
	if kube.skip != "" {
		if os.Geteuid() == 0 {
			t.Fatalf("%s; as root these tests must run: run scripts/kube-test-bins.sh", kube.skip)
		}
		t.Skip(kube.skip + " (run scripts/kube-test-bins.sh)")
	}
	if kube.err != nil {
		t.Fatalf("starting kube-apiserver: %v", kube.err)
	}
	return rest.CopyConfig(kube.cfg)
}

func startCluster() {
	dir := kubeBinDir()
	for _, b := range []string{"kube-apiserver", "etcd", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			kube.skip = "no " + b + " in " + dir
			return
		}
	}
	kube.env = &envtest.Environment{BinaryAssetsDirectory: dir, ControlPlaneStartTimeout: time.Minute}
	kube.cfg, kube.err = kube.env.Start()
	if kube.err != nil {
		return
	}
	user, err := kube.env.AddUser(envtest.User{Name: "kube-controller-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		kube.err = err
		return
	}
	kc, err := user.KubeConfig()
	if err != nil {
		kube.err = err
		return
	}
	kcf := filepath.Join(kube.env.ControlPlane.APIServer.CertDir, "kcm.kubeconfig")
	if kube.err = os.WriteFile(kcf, kc, 0o600); kube.err != nil {
		return
	}
	kube.kcm = exec.Command(filepath.Join(dir, "kube-controller-manager"),
		"--kubeconfig="+kcf,
		"--controllers=deployment-controller,replicaset-controller",
		"--leader-elect=false",
		"--secure-port=0",
		"--v=0")
	kube.kcm.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	if testing.Verbose() {
		kube.kcm.Stderr = os.Stderr
	}
	kube.err = kube.kcm.Start()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if kube.kcm != nil && kube.kcm.Process != nil {
		_ = kube.kcm.Process.Kill()
		_ = kube.kcm.Wait()
	}
	if kube.env != nil {
		_ = kube.env.Stop()
	}
	os.Exit(code)
}

// namespace creates a namespace with labels and deletes it after the test.
func namespace(t *testing.T, c kubernetes.Interface, name string, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}) })
}

// eventually polls cond every 50 ms until it returns true or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s (last error: %v)", what, timeout, lastErr)
}
