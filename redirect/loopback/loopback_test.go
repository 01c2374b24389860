package loopback_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/outrider-mesh/outrider/localpod"
	"github.com/outrider-mesh/outrider/redirect/loopback"
)

func TestAddAndRemoveAreIdempotentAndLeaveLoAsItWas(t *testing.T) {
	node := localpod.NewTestNode(t, localpod.Options{})
	pod := node.AddTestPod(t, "app")
	ctx := context.Background()
	six := netip.MustParseAddr("::6")
	showLo := func() string {
		t.Helper()
		out, err := pod.CombinedOutput(ctx, "ip", "addr", "show", "dev", "lo")
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	has := func() bool {
		t.Helper()
		var ok bool
		if err := pod.Do(func() (err error) { ok, err = loopback.Has(six); return err }); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	before := showLo()
	if has() {
		t.Fatal("::6 is on lo before Add")
	}

	for range 2 {
		if err := pod.Do(func() error { return loopback.Add(six) }); err != nil {
			t.Fatal(err)
		}
	}
	if !has() {
		t.Fatal("::6 is not on lo after Add")
	}
	lo := showLo()
	if strings.Count(lo, "inet6 ::6/128") != 1 || !strings.Contains(lo, "inet6 ::6/128 scope global nodad") {
		t.Fatalf("want ::6/128 once, nodad:\n%s", lo)
	}

	for range 2 {
		if err := pod.Do(func() error { return loopback.Remove(six) }); err != nil {
			t.Fatal(err)
		}
	}
	if has() {
		t.Fatal("::6 is on lo after Remove")
	}
	if after := showLo(); after != before {
		t.Fatalf("lo after Remove:\n%s\nbefore:\n%s", after, before)
	}
}

func TestAddRefusesAnInvalidAddress(t *testing.T) {
	if err := loopback.Add(netip.Addr{}); err == nil {
		t.Fatal("no error for the zero address")
	}
}
