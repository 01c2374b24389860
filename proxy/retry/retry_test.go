package retry

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/outrider-mesh/outrider/proxy/config"
	"github.com/outrider-mesh/outrider/proxy/failure"
)

func policy(t *testing.T, js string) *Policy {
	t.Helper()
	pb := &routev3.RetryPolicy{}
	if err := protojson.Unmarshal([]byte(js), pb); err != nil {
		t.Fatal(err)
	}
	var errs config.Errors
	p := Translate(pb, "retry_policy", &errs)
	if err := errs.Err(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRetryDecisions(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		status int
		header http.Header
		err    error
		want   bool
	}{
		{name: "5xx retries a 503", policy: `{"retry_on":"5xx"}`, status: 503, want: true},
		{name: "5xx does not retry a 404", policy: `{"retry_on":"5xx"}`, status: 404, want: false},
		{name: "gateway-error retries a 502", policy: `{"retry_on":"gateway-error"}`, status: 502, want: true},
		{name: "gateway-error does not retry a 500", policy: `{"retry_on":"gateway-error"}`, status: 500, want: false},
		{name: "retriable-4xx retries a 409", policy: `{"retry_on":"retriable-4xx"}`, status: 409, want: true},
		{name: "retriable-status-codes retries a listed code", policy: `{"retry_on":"retriable-status-codes","retriable_status_codes":[418]}`, status: 418, want: true},
		{name: "retriable-status-codes ignores other codes", policy: `{"retry_on":"retriable-status-codes","retriable_status_codes":[418]}`, status: 500, want: false},
		{name: "grpc unavailable retries a trailers-only status 14", policy: `{"retry_on":"unavailable"}`, status: 200,
			header: http.Header{"Grpc-Status": {"14"}}, want: true},
		{name: "grpc cancelled does not retry status 14", policy: `{"retry_on":"cancelled"}`, status: 200,
			header: http.Header{"Grpc-Status": {"14"}}, want: false},
		{name: "grpc deadline-exceeded and resource-exhausted", policy: `{"retry_on":"deadline-exceeded,resource-exhausted"}`, status: 200,
			header: http.Header{"Grpc-Status": {"8"}}, want: true},
		{name: "connect-failure retries a connect failure", policy: `{"retry_on":"connect-failure"}`, err: failure.ErrConnectFailure.With(io.EOF), want: true},
		{name: "connect-failure does not retry a reset", policy: `{"retry_on":"connect-failure"}`, err: failure.ErrUpstreamReset, want: false},
		{name: "reset retries a reset", policy: `{"retry_on":"reset"}`, err: failure.ErrUpstreamReset.With(io.EOF), want: true},
		{name: "5xx retries a per-try timeout", policy: `{"retry_on":"5xx"}`, err: failure.ErrPerTryTimeout, want: true},
		{name: "refused-stream retries a refused stream", policy: `{"retry_on":"refused-stream"}`, err: failure.ErrRefusedStream, want: true},
		{name: "nothing retries an overflow", policy: `{"retry_on":"5xx,reset,connect-failure"}`, err: failure.ErrOverflow, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy(t, tt.policy)
			var got bool
			if tt.err != nil {
				got = p.RetryError(tt.err)
			} else {
				got = p.RetryResponse(tt.status, tt.header)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTranslateDefaultsAndRejections(t *testing.T) {
	p := policy(t, `{"retry_on":"5xx"}`)
	if p.NumRetries != 1 || p.BaseInterval != 25*time.Millisecond || p.MaxInterval != 250*time.Millisecond {
		t.Errorf("defaults: %+v", p)
	}
	pb := &routev3.RetryPolicy{}
	protojson.Unmarshal([]byte(`{"retry_on":"5xx,envoy-ratelimited","retry_host_predicate":[{"name":"envoy.retry_host_predicates.omit_canary_hosts"}],"per_try_idle_timeout":"1s"}`), pb)
	var errs config.Errors
	Translate(pb, "r", &errs)
	want := []string{
		`r.retry_on: retry: retry_on "envoy-ratelimited" is not supported`,
		`r.retry_host_predicate[0].name: retry: host predicate "envoy.retry_host_predicates.omit_canary_hosts" is not supported`,
		`r.per_try_idle_timeout: retry: per_try_idle_timeout is not supported`,
	}
	got := errs.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
}

func TestBackoffIsJitteredAndCapped(t *testing.T) {
	p := &Policy{BaseInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond}
	for n := 1; n <= 6; n++ {
		limit := time.Duration((1<<n)-1) * 10 * time.Millisecond
		limit = min(limit, 50*time.Millisecond)
		for range 200 {
			if d := p.Backoff(n); d < 0 || d > limit {
				t.Fatalf("retry %d waited %v, want within [0, %v]", n, d, limit)
			}
		}
	}
}

func TestRequestHeadersExtendThePolicy(t *testing.T) {
	base := policy(t, `{"retry_on":"5xx","num_retries":1}`)
	if got := base.WithRequestHeaders(http.Header{}); got != base {
		t.Fatal("no header changed the policy")
	}
	got := base.WithRequestHeaders(http.Header{"X-Envoy-Retry-On": {"retriable-4xx"}, "X-Envoy-Max-Retries": {"4"}})
	if got.NumRetries != 4 || got.On&OnRetriable4xx == 0 || got.On&On5xx == 0 {
		t.Errorf("got %+v", got)
	}
}

func TestBufferReplaysWhatFitsAndGivesUpBeyond(t *testing.T) {
	t.Run("a body within the limit is replayed whole", func(t *testing.T) {
		b := NewBuffer(strings.NewReader("hello world"), 64)
		first := b.Try()
		buf := make([]byte, 5)
		io.ReadFull(first, buf) // the first try fails after 5 bytes
		second, _ := io.ReadAll(b.Try())
		if string(second) != "hello world" || !b.Replayable() {
			t.Fatalf("second try read %q, replayable %v", second, b.Replayable())
		}
		if _, err := first.Read(buf); !errors.Is(err, errSuperseded) {
			t.Errorf("the first try's body still reads: %v", err)
		}
	})
	t.Run("a body beyond the limit cannot be replayed", func(t *testing.T) {
		body := strings.Repeat("x", 100)
		b := NewBuffer(strings.NewReader(body), 10)
		got, _ := io.ReadAll(b.Try())
		if string(got) != body {
			t.Fatalf("first try read %d bytes, want 100", len(got))
		}
		if b.Replayable() {
			t.Fatal("a 100-byte body is replayable with a 10-byte buffer")
		}
	})
}

func ExamplePolicy_Backoff() {
	p := &Policy{BaseInterval: 25 * time.Millisecond}
	fmt.Println(p.Backoff(1) < 25*time.Millisecond+1)
	// Output: true
}
