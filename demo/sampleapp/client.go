package sampleapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Targets are the server's addresses by protocol ("host:port"); the
	// client sends load over every protocol that has one.
	Targets map[Protocol]string
	// Rate is the number of requests per second sent over each protocol.
	Rate float64
	// Timeout bounds each request; zero means 5 s.
	Timeout time.Duration
	// MaxInFlight bounds the requests in flight per protocol; zero means 64.
	// A request due while that many are in flight is skipped and counted,
	// so that a slow server does not pile up goroutines.
	MaxInFlight int
	// Dial connects to the server; nil means a net.Dialer's DialContext.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// MaxRate is the highest Rate a client accepts, per protocol.
const MaxRate = 1000

// Client sends load to the sample server. Its methods are safe for
// concurrent use.
type Client struct {
	cfg  ClientConfig
	http *http.Client
	grpc healthpb.HealthClient
	conn *grpc.ClientConn

	mu      sync.Mutex
	started time.Time // when Run began; zero before
	report  ClientReport
}

// NewClient checks cfg and prepares the connections' settings; it does not
// connect yet.
func NewClient(cfg ClientConfig) (*Client, error) {
	if len(cfg.Targets) == 0 {
		return nil, errors.New("sampleapp: client has no targets")
	}
	if !(cfg.Rate > 0 && cfg.Rate <= MaxRate) {
		return nil, fmt.Errorf("sampleapp: rate %v: want more than 0 and at most %d per second", cfg.Rate, MaxRate)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 64
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	c := &Client{cfg: cfg, report: ClientReport{Protocols: map[Protocol]*ClientCounts{}}}
	for p := range cfg.Targets {
		c.report.Protocols[p] = &ClientCounts{}
	}
	c.http = &http.Client{Transport: &http.Transport{
		DialContext:         cfg.Dial,
		MaxIdleConnsPerHost: cfg.MaxInFlight,
		IdleConnTimeout:     30 * time.Second,
	}}
	if target, ok := cfg.Targets[GRPC]; ok {
		conn, err := grpc.NewClient("passthrough:///"+target,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
				return cfg.Dial(ctx, "tcp", addr)
			}))
		if err != nil {
			return nil, fmt.Errorf("sampleapp: grpc client: %w", err)
		}
		c.conn, c.grpc = conn, healthpb.NewHealthClient(conn)
	}
	return c, nil
}

// Run sends load until ctx is done, then waits for the requests in flight
// (each bounded by the timeout) and closes the connections.
func (c *Client) Run(ctx context.Context) {
	c.mu.Lock()
	c.started = time.Now()
	c.mu.Unlock()
	var wg sync.WaitGroup
	for p := range c.cfg.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.load(ctx, p)
		}()
	}
	wg.Wait()
	c.http.CloseIdleConnections()
	if c.conn != nil {
		c.conn.Close()
	}
	c.mu.Lock()
	c.report.Final = true
	c.report.Elapsed = time.Since(c.started)
	c.mu.Unlock()
}

// load sends requests of protocol p at the configured rate: open loop, so
// that a slow answer shows as latency instead of lowering the rate.
func (c *Client) load(ctx context.Context, p Protocol) {
	interval := time.Duration(float64(time.Second) / c.cfg.Rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	slots := make(chan struct{}, c.cfg.MaxInFlight)
	var inFlight sync.WaitGroup
	defer inFlight.Wait()
	for seq := 0; ; seq++ {
		if seq > 0 {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		select {
		case slots <- struct{}{}:
		default:
			c.count(p, func(cc *ClientCounts) { cc.Skipped++ })
			continue
		}
		c.count(p, func(cc *ClientCounts) { cc.Sent++ })
		inFlight.Add(1)
		go func() {
			defer inFlight.Done()
			defer func() { <-slots }()
			// A request in flight when the load stops still completes.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
			defer cancel()
			start := time.Now()
			kind, err := c.send(rctx, p, seq)
			took := time.Since(start)
			c.count(p, func(cc *ClientCounts) {
				cc.Latency.Record(took)
				if kind == "" {
					cc.Succeeded++
					return
				}
				cc.Failed++
				if cc.Failures == nil {
					cc.Failures = map[string]uint64{}
				}
				cc.Failures[kind]++
				if err != nil {
					cc.LastError = err.Error()
				}
			})
		}()
	}
}

func (c *Client) count(p Protocol, fn func(*ClientCounts)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(c.report.Protocols[p])
}

// send sends one request and returns the kind of failure, empty on success.
func (c *Client) send(ctx context.Context, p Protocol, seq int) (string, error) {
	target := c.cfg.Targets[p]
	switch p {
	case HTTP:
		return c.sendHTTP(ctx, target)
	case GRPC:
		resp, err := c.grpc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
				if s.Code() == codes.DeadlineExceeded {
					return "timeout", err
				}
				return s.Code().String(), err
			}
			return kindOf(err), err
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return "error", fmt.Errorf("sampleapp: grpc health status %v", resp.GetStatus())
		}
		return "", nil
	case TCP:
		return c.sendEcho(ctx, target, seq)
	}
	return "error", fmt.Errorf("sampleapp: unknown protocol %q", p)
}

func (c *Client) sendHTTP(ctx context.Context, target string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+target+"/", nil)
	if err != nil {
		return "error", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return kindOf(err), err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return kindOf(err), err
	}
	if resp.StatusCode != http.StatusOK {
		return strconv.Itoa(resp.StatusCode), fmt.Errorf("sampleapp: http status %s", resp.Status)
	}
	return "", nil
}

// sendEcho opens a connection, sends a line and expects it back: one
// connection per request, so that every request is a new intercepted
// connection.
func (c *Client) sendEcho(ctx context.Context, target string, seq int) (string, error) {
	conn, err := c.cfg.Dial(ctx, "tcp", target)
	if err != nil {
		return kindOf(err), err
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	line := fmt.Sprintf("sampleapp echo %d\n", seq)
	if _, err := io.WriteString(conn, line); err != nil {
		return kindOf(err), err
	}
	got := make([]byte, len(line))
	if _, err := io.ReadFull(conn, got); err != nil {
		return kindOf(err), err
	}
	if string(got) != line {
		return "mismatch", fmt.Errorf("sampleapp: echo sent %q, got %q", line, got)
	}
	return "", nil
}

// kindOf names a transport failure.
func kindOf(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return "error"
}

// Report returns a copy of what the client has seen so far.
func (c *Client) Report() ClientReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := ClientReport{Final: c.report.Final, Elapsed: c.report.Elapsed, Protocols: map[Protocol]*ClientCounts{}}
	if !r.Final && !c.started.IsZero() {
		r.Elapsed = time.Since(c.started)
	}
	for p, cc := range c.report.Protocols {
		cp := *cc
		cp.Failures = maps.Clone(cc.Failures)
		cp.Latency = cc.Latency.Clone()
		r.Protocols[p] = &cp
	}
	return r
}
