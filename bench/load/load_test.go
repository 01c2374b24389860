package load_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outrider-mesh/outrider/bench/backend"
	"github.com/outrider-mesh/outrider/bench/load"
)

func TestPercentileUsesTheNearestRank(t *testing.T) {
	r := load.Result{}
	for i := 1; i <= 1000; i++ {
		r.Latencies = append(r.Latencies, float64(i)*1e-6)
	}
	for _, tc := range []struct {
		name string
		p    float64
		want time.Duration
	}{
		{name: "the median", p: 50, want: 500 * time.Microsecond},
		{name: "p99", p: 99, want: 990 * time.Microsecond},
		{name: "p99.9", p: 99.9, want: 999 * time.Microsecond},
		{name: "the maximum", p: 100, want: 1000 * time.Microsecond},
		{name: "below the first rank", p: 0.01, want: time.Microsecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Percentile(tc.p); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if got := (load.Result{}).Percentile(50); got != 0 {
		t.Errorf("an empty result's median is %v, want 0", got)
	}
}

func TestMergeKeepsEveryCallSortedAndAddsCounts(t *testing.T) {
	a := load.Result{Requests: 2, Errors: 1, Elapsed: time.Second, Latencies: []float64{1, 3}}
	a.Merge(load.Result{Requests: 2, Elapsed: time.Second, Latencies: []float64{2, 4}, Bytes: 7})
	if a.Requests != 4 || a.Errors != 1 || a.Elapsed != 2*time.Second || a.Bytes != 7 {
		t.Errorf("counts after merge: %+v", a)
	}
	for i, want := range []float64{1, 2, 3, 4} {
		if a.Latencies[i] != want {
			t.Fatalf("latencies %v, want 1 2 3 4", a.Latencies)
		}
	}
	if got := a.RPS(); got != 2 {
		t.Errorf("rps %v, want 2", got)
	}
}

func TestEveryLoadReachesARealBackend(t *testing.T) {
	b, err := backend.Start(backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pace := load.Pace{Connections: 2, QPS: 200, Duration: 300 * time.Millisecond}
	for _, tc := range []struct {
		name string
		run  func() (load.Result, error)
	}{
		{name: "HTTP/1.1 keep-alive", run: func() (load.Result, error) {
			return load.RunHTTP(load.HTTP{URL: "http://" + b.HTTP.String() + "/", Pace: pace})
		}},
		{name: "HTTP/1.1 with a new connection per request", run: func() (load.Result, error) {
			return load.RunHTTP(load.HTTP{URL: "http://" + b.HTTP.String() + "/", NewConnection: true, Pace: pace})
		}},
		{name: "h2c", run: func() (load.Result, error) {
			return load.RunHTTP(load.HTTP{URL: "http://" + b.HTTP.String() + "/", H2: true, Pace: pace})
		}},
		{name: "gRPC unary", run: func() (load.Result, error) {
			return load.RunGRPC(load.GRPC{Addr: b.GRPC.String(), Pace: pace})
		}},
		{name: "HTTP/1.1 as fast as it answers", run: func() (load.Result, error) {
			return load.RunHTTP(load.HTTP{URL: "http://" + b.HTTP.String() + "/", Pace: load.Pace{Connections: 2, Duration: 200 * time.Millisecond}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.run()
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests < 10 || res.Errors != 0 {
				t.Fatalf("%d requests, %d errors; want at least 10 and none", res.Requests, res.Errors)
			}
			if int64(len(res.Latencies)) != res.Requests || res.Percentile(50) <= 0 {
				t.Fatalf("%d latencies for %d requests, median %v", len(res.Latencies), res.Requests, res.Percentile(50))
			}
		})
	}
	t.Run("opaque TCP upload", func(t *testing.T) {
		res, err := load.RunTCP(load.TCP{Addr: b.TCP.String(), Connections: 2, Duration: 200 * time.Millisecond, Received: b.Received})
		if err != nil {
			t.Fatal(err)
		}
		if res.Bytes < 1<<20 {
			t.Fatalf("only %d bytes arrived in 200 ms", res.Bytes)
		}
	})
}

func TestAPaceWithoutConnectionsIsRefused(t *testing.T) {
	_, err := load.RunHTTP(load.HTTP{URL: "http://127.0.0.1:1/", Pace: load.Pace{Duration: time.Second}})
	if err == nil {
		t.Fatal("zero connections accepted")
	}
}

func TestEveryDialGoesThroughInWhenItIsSet(t *testing.T) {
	b, err := backend.Start(backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, tc := range []struct {
		name string
		// minCalls: the TCP load dials all its connections in one call.
		minCalls int64
		run      func(in func(func() error) error) error
	}{
		{name: "HTTP/1.1", minCalls: 3, run: func(in func(func() error) error) error {
			_, err := load.RunHTTP(load.HTTP{URL: "http://" + b.HTTP.String() + "/", Pace: load.Pace{Connections: 3, QPS: 100, Duration: 100 * time.Millisecond, In: in}})
			return err
		}},
		{name: "h2c", minCalls: 3, run: func(in func(func() error) error) error {
			_, err := load.RunHTTP(load.HTTP{URL: "http://" + b.HTTP.String() + "/", H2: true, Pace: load.Pace{Connections: 3, QPS: 100, Duration: 100 * time.Millisecond, In: in}})
			return err
		}},
		{name: "gRPC", minCalls: 3, run: func(in func(func() error) error) error {
			_, err := load.RunGRPC(load.GRPC{Addr: b.GRPC.String(), Pace: load.Pace{Connections: 3, QPS: 100, Duration: 100 * time.Millisecond, In: in}})
			return err
		}},
		{name: "TCP", minCalls: 1, run: func(in func(func() error) error) error {
			_, err := load.RunTCP(load.TCP{Addr: b.TCP.String(), Connections: 3, Duration: 50 * time.Millisecond, Received: b.Received, In: in})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			in := func(fn func() error) error { calls.Add(1); return fn() }
			if err := tc.run(in); err != nil {
				t.Fatal(err)
			}
			if calls.Load() < tc.minCalls {
				t.Errorf("In ran %d times for 3 connections, want at least %d", calls.Load(), tc.minCalls)
			}
			refuse := func(func() error) error { return errors.New("not here") }
			if err := tc.run(refuse); err == nil {
				t.Error("the load ran although In refused every dial")
			}
		})
	}
}
