package cluster

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestAReplacedStaticClusterHasItsEndpointsAsSoonAsItIsVisible(t *testing.T) {
	m, _ := newManager(t, staticCluster("backend", "127.0.0.1:1"))
	var (
		stop   atomic.Bool
		wg     sync.WaitGroup
		misses atomic.Int32
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := m.Get("backend").Pick(nil); err != nil {
					misses.Add(1)
				}
			}
		}()
	}
	for i := range 200 {
		// Alternate the endpoint so that every update replaces the cluster.
		addr := "127.0.0.1:1"
		if i%2 == 0 {
			addr = "127.0.0.1:2"
		}
		if err := m.Update(parseClusters(t, staticCluster("backend", addr)), "static_resources.clusters"); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := misses.Load(); n > 0 {
		t.Errorf("%d picks found a replaced cluster without endpoints", n)
	}
}
