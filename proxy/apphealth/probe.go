package apphealth

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// userAgent is what the kubelet sends (kube-probe/<minor version>); apps that special-case
// probes by user agent keep working.
const userAgent = "kube-probe/outrider"

// maxRedirects matches the kubelet's limit.
const maxRedirects = 10

// result is the outcome of one probe run.
type result struct {
	ok bool
	// status is the application's HTTP status, when it answered one.
	status int
	detail string
}

// prober runs one original probe. Built once from the Config; safe for concurrent use.
type prober interface {
	run(ctx context.Context) result
}

func newProber(pr Probe, podIP string) prober {
	switch {
	case pr.HTTPGet != nil:
		return newHTTPProber(pr.HTTPGet, podIP)
	case pr.TCPSocket != nil:
		return tcpProber{addr: hostPort(pr.TCPSocket.Host, podIP, pr.TCPSocket.Port)}
	default:
		svc := ""
		if pr.GRPC.Service != nil {
			svc = *pr.GRPC.Service
		}
		return grpcProber{addr: hostPort("", podIP, pr.GRPC.Port), service: svc}
	}
}

func hostPort(host, podIP string, port int) string {
	if host == "" {
		host = podIP
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

type httpProber struct {
	url    string
	host   string // Host header override, if any
	header http.Header
	client *http.Client
}

func newHTTPProber(a *HTTPGetAction, podIP string) *httpProber {
	scheme := "http"
	if strings.EqualFold(a.Scheme, "HTTPS") {
		scheme = "https"
	}
	path := a.Path
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	u := scheme + "://" + hostPort(a.Host, podIP, a.Port) + path
	h := http.Header{"User-Agent": {userAgent}, "Accept": {"*/*"}}
	p := &httpProber{url: u, header: h}
	replaced := map[string]bool{}
	for _, hd := range a.HTTPHeaders {
		name := http.CanonicalHeaderKey(hd.Name)
		switch {
		case name == "":
		case name == "Host":
			p.host = hd.Value
		default:
			// A user header replaces the kubelet's default of the same name, as it does there.
			if (name == "User-Agent" || name == "Accept") && !replaced[name] {
				h.Del(name)
				replaced[name] = true
			}
			h.Add(name, hd.Value)
		}
	}
	p.client = &http.Client{
		Transport: &http.Transport{
			// Each probe opens its own connection, as the kubelet's do: a pooled connection
			// would hide an application that no longer accepts.
			DisableKeepAlives: true,
			// The kubelet does not verify the application's certificate either.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probe semantics
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			// Like the kubelet: follow redirects on the same host; a redirect elsewhere
			// counts as success without being followed.
			if len(via) >= maxRedirects || req.URL.Hostname() != via[0].URL.Hostname() {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return p
}

func (p *httpProber) run(ctx context.Context) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return result{detail: err.Error()}
	}
	req.Header = p.header.Clone()
	if p.host != "" {
		req.Host = p.host
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return result{detail: trimURLError(err)}
	}
	defer resp.Body.Close()
	// Read a little of the body so the application sees a normal client, then drop it.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	ok := resp.StatusCode >= 200 && resp.StatusCode < 400
	return result{ok: ok, status: resp.StatusCode, detail: "HTTP probe returned " + strconv.Itoa(resp.StatusCode)}
}

func trimURLError(err error) string {
	if ue, ok := err.(*url.Error); ok {
		return "HTTP probe failed: " + ue.Err.Error()
	}
	return "HTTP probe failed: " + err.Error()
}

type tcpProber struct{ addr string }

func (p tcpProber) run(ctx context.Context) result {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return result{detail: "TCP probe failed: " + err.Error()}
	}
	_ = conn.Close()
	return result{ok: true, detail: "TCP probe connected to " + p.addr}
}

type grpcProber struct {
	addr    string
	service string
}

func (p grpcProber) run(ctx context.Context) result {
	conn, err := grpc.NewClient("passthrough:///"+p.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent(userAgent))
	if err != nil {
		return result{detail: "gRPC probe failed: " + err.Error()}
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: p.service})
	if err != nil {
		return result{detail: "gRPC probe failed: " + err.Error()}
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return result{detail: fmt.Sprintf("gRPC probe returned %s", st)}
	}
	return result{ok: true, detail: "gRPC probe returned SERVING"}
}
