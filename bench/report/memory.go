package report

// Memory is each proxy's resident memory outside the load scenarios.
type Memory struct {
	Proxies []ProxyMemory `json:"proxies"`
}

// ProxyMemory is one proxy's memory figures.
type ProxyMemory struct {
	Path string `json:"path"`
	// IdleRSS is the RSS with the benchmark configuration, started and
	// settled, before any traffic.
	IdleRSS uint64 `json:"idle_rss_bytes"`
	// IdleAnon and IdleFile split IdleRSS into private memory and
	// file-backed pages (the executable's, shared through the page cache
	// by every instance on a node).
	IdleAnon uint64 `json:"idle_rss_anon_bytes,omitempty"`
	IdleFile uint64 `json:"idle_rss_file_bytes,omitempty"`
	// IdleGoHeap is the Go heap in use (Outrider's /memory "allocated").
	IdleGoHeap uint64 `json:"idle_go_heap_bytes,omitempty"`
	// Scale is the idle RSS with that many extra services (one cluster and
	// one route each) in the configuration.
	Scale []SizePoint `json:"scale,omitempty"`
	// BytesPerService is the RSS growth per added service, between the
	// smallest and the largest configuration.
	BytesPerService float64 `json:"bytes_per_service,omitempty"`
	// AnonBytesPerService is the growth of private memory alone: the
	// file-backed part of RSS (the executable's pages) does not grow with
	// the configuration, but how much of it is resident moves by
	// megabytes between two starts (Outrider drops its start-up pages,
	// the page cache may reclaim any), which swamps the RSS slope.
	AnonBytesPerService float64 `json:"anon_bytes_per_service,omitempty"`
}

// SizePoint is the idle RSS at one configuration size.
type SizePoint struct {
	Services int    `json:"services"`
	RSS      uint64 `json:"rss_bytes"`
	Anon     uint64 `json:"rss_anon_bytes,omitempty"`
	GoHeap   uint64 `json:"go_heap_bytes,omitempty"`
}

// Slope fills BytesPerService from the smallest and largest points.
func (p *ProxyMemory) Slope() {
	if len(p.Scale) < 2 {
		return
	}
	lo, hi := p.Scale[0], p.Scale[0]
	for _, s := range p.Scale {
		if s.Services < lo.Services {
			lo = s
		}
		if s.Services > hi.Services {
			hi = s
		}
	}
	if hi.Services == lo.Services {
		return
	}
	n := float64(hi.Services - lo.Services)
	p.BytesPerService = (float64(hi.RSS) - float64(lo.RSS)) / n
	if hi.Anon > 0 && lo.Anon > 0 {
		p.AnonBytesPerService = (float64(hi.Anon) - float64(lo.Anon)) / n
	}
}

// Proxy returns the named proxy's memory figures, or nil.
func (m *Memory) Proxy(path string) *ProxyMemory {
	if m == nil {
		return nil
	}
	for i := range m.Proxies {
		if m.Proxies[i].Path == path {
			return &m.Proxies[i]
		}
	}
	return nil
}
