package stats

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"regexp"
	"strconv"
)

// Type selects a kind of stat (Envoy's /stats?type=).
type Type int

const (
	AllTypes Type = iota
	Counters
	Gauges
	Histograms
)

// Query selects the stats an exposition shows: Envoy's /stats and
// /stats/prometheus query parameters. The zero Query shows everything.
type Query struct {
	// Filter keeps the stats whose flat name it matches anywhere (Envoy's
	// ?filter=, a partial match); nil keeps all.
	Filter *regexp.Regexp
	// UsedOnly keeps the stats that were ever written (?usedonly).
	UsedOnly bool
	// Type keeps one kind of stat (?type=); AllTypes keeps all.
	Type Type
}

func (q *Query) keep(name string, used bool, t Type) bool {
	if q.Type != AllTypes && q.Type != t {
		return false
	}
	if q.UsedOnly && !used {
		return false
	}
	return q.Filter == nil || q.Filter.MatchString(name)
}

// WriteText writes Envoy's /stats text: "name: value" lines for counters
// and gauges together in name order, then one line per histogram with its
// interval and cumulative quantiles, "P0(1,1) P25(2.5,2) ...", or "No
// recorded values".
func (s *Store) WriteText(w io.Writer, q Query) error {
	v := s.view()
	bw := bufio.NewWriterSize(w, 32<<10)
	var buf []byte
	cs, gs := v.counters, v.gauges
	for len(cs) > 0 || len(gs) > 0 {
		buf = buf[:0]
		if len(gs) == 0 || len(cs) > 0 && cs[0].Name < gs[0].Name {
			c := cs[0]
			cs = cs[1:]
			if !q.keep(c.Name, c.Used(), Counters) {
				continue
			}
			buf = strconv.AppendUint(append(append(buf, c.Name...), ": "...), c.Value(), 10)
		} else {
			g := gs[0]
			gs = gs[1:]
			if !q.keep(g.Name, g.Used(), Gauges) {
				continue
			}
			buf = strconv.AppendInt(append(append(buf, g.Name...), ": "...), g.Value(), 10)
		}
		bw.Write(append(buf, '\n'))
	}
	cum := make([]uint64, len(DefaultBuckets)+1)
	ivl := make([]uint64, len(DefaultBuckets)+1)
	cq := make([]float64, len(SupportedQuantiles))
	iq := make([]float64, len(SupportedQuantiles))
	for _, h := range v.histograms {
		if !q.keep(h.Name, h.Used(), Histograms) {
			continue
		}
		buf = append(append(buf[:0], h.Name...), ": "...)
		if !quantiles(cum, h.cumulative(cum), cq) {
			buf = append(buf, "No recorded values"...)
		} else {
			iok := quantiles(ivl, h.intervalCumulative(ivl), iq)
			for i, p := range SupportedQuantiles {
				if i > 0 {
					buf = append(buf, ' ')
				}
				buf = append(buf, 'P')
				buf = strconv.AppendFloat(buf, p*100, 'f', -1, 64)
				buf = append(buf, '(')
				if iok {
					buf = appendQuantile(buf, iq[i])
				} else {
					buf = append(buf, "nan"...)
				}
				buf = append(buf, ',')
				buf = appendQuantile(buf, cq[i])
				buf = append(buf, ')')
			}
		}
		bw.Write(append(buf, '\n'))
	}
	return bw.Flush()
}

// appendQuantile prints an estimated quantile with at most four decimals,
// hiding the float noise of the interpolation.
func appendQuantile(b []byte, v float64) []byte {
	return strconv.AppendFloat(b, math.Round(v*1e4)/1e4, 'f', -1, 64)
}

// WriteJSON writes Envoy's /stats?format=json:
//
//	{"stats":[{"name":"...","value":1},...,{"histograms":{"supported_quantiles":[0,25,...],
//	 "computed_quantiles":[{"name":"...","values":[{"interval":1,"cumulative":2},...]}]}}]}
//
// Quantiles with no value are null.
func (s *Store) WriteJSON(w io.Writer, q Query) error {
	v := s.view()
	bw := bufio.NewWriterSize(w, 32<<10)
	var buf []byte
	first := true
	sep := func() {
		if !first {
			buf = append(buf, ',')
		}
		first = false
	}
	buf = append(buf, `{"stats":[`...)
	cs, gs := v.counters, v.gauges
	for len(cs) > 0 || len(gs) > 0 {
		if len(gs) == 0 || len(cs) > 0 && cs[0].Name < gs[0].Name {
			c := cs[0]
			cs = cs[1:]
			if !q.keep(c.Name, c.Used(), Counters) {
				continue
			}
			sep()
			buf = strconv.AppendUint(appendJSONName(buf, c.Name), c.Value(), 10)
		} else {
			g := gs[0]
			gs = gs[1:]
			if !q.keep(g.Name, g.Used(), Gauges) {
				continue
			}
			sep()
			buf = strconv.AppendInt(appendJSONName(buf, g.Name), g.Value(), 10)
		}
		buf = append(buf, '}')
		bw.Write(buf)
		buf = buf[:0]
	}
	cum := make([]uint64, len(DefaultBuckets)+1)
	ivl := make([]uint64, len(DefaultBuckets)+1)
	cq := make([]float64, len(SupportedQuantiles))
	iq := make([]float64, len(SupportedQuantiles))
	hfirst := true
	for _, h := range v.histograms {
		if !q.keep(h.Name, h.Used(), Histograms) {
			continue
		}
		if hfirst {
			sep()
			buf = append(buf, `{"histograms":{"supported_quantiles":[`...)
			for i, p := range SupportedQuantiles {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = strconv.AppendFloat(buf, p*100, 'f', -1, 64)
			}
			buf = append(buf, `],"computed_quantiles":[`...)
			hfirst = false
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"name":`...)
		buf = appendJSONString(buf, h.Name)
		buf = append(buf, `,"values":[`...)
		cok := quantiles(cum, h.cumulative(cum), cq)
		iok := quantiles(ivl, h.intervalCumulative(ivl), iq)
		for i := range SupportedQuantiles {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"interval":`...)
			buf = appendJSONQuantile(buf, iok, iq[i])
			buf = append(buf, `,"cumulative":`...)
			buf = appendJSONQuantile(buf, cok, cq[i])
			buf = append(buf, '}')
		}
		buf = append(buf, "]}"...)
		bw.Write(buf)
		buf = buf[:0]
	}
	if !hfirst {
		buf = append(buf, "]}}"...)
	}
	buf = append(buf, "]}\n"...)
	bw.Write(buf)
	return bw.Flush()
}

func appendJSONName(b []byte, name string) []byte {
	b = append(b, `{"name":`...)
	b = appendJSONString(b, name)
	return append(b, `,"value":`...)
}

func appendJSONQuantile(b []byte, ok bool, v float64) []byte {
	if !ok {
		return append(b, "null"...)
	}
	return appendQuantile(b, v)
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// WritePrometheus writes the Prometheus text exposition format as Envoy's
// /stats/prometheus does: counters, gauges, then histograms; one "# TYPE"
// line per metric family followed by its series and a blank line;
// histograms as _bucket{le=...}, _sum and _count. Only the store's
// creation mutex is taken, and only when stats were created since the
// previous call.
func (s *Store) WritePrometheus(w io.Writer, q Query) error {
	v := s.view()
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 512)
	var family string
	open := false
	cum := make([]uint64, len(boundText))
	for i := range v.prom {
		e := &v.prom[i]
		var typ string
		switch {
		case e.c != nil:
			if !q.keep(e.c.Name, e.c.Used(), Counters) {
				continue
			}
			typ = "counter"
		case e.g != nil:
			if !q.keep(e.g.Name, e.g.Used(), Gauges) {
				continue
			}
			typ = "gauge"
		default:
			if !q.keep(e.h.Name, e.h.Used(), Histograms) {
				continue
			}
			typ = "histogram"
		}
		buf = buf[:0]
		if !open || e.expo.family != family {
			if open {
				buf = append(buf, '\n')
			}
			family, open = e.expo.family, true
			buf = append(buf, "# TYPE "...)
			buf = append(buf, family...)
			buf = append(buf, ' ')
			buf = append(buf, typ...)
			buf = append(buf, '\n')
		}
		switch {
		case e.c != nil:
			buf = appendSeries(buf, e.expo, "", "", "")
			buf = strconv.AppendUint(buf, e.c.Value(), 10)
			buf = append(buf, '\n')
		case e.g != nil:
			buf = appendSeries(buf, e.expo, "", "", "")
			buf = strconv.AppendInt(buf, e.g.Value(), 10)
			buf = append(buf, '\n')
		default:
			total := e.h.cumulative(cum)
			for b, le := range boundText {
				buf = appendSeries(buf, e.expo, "_bucket", "le", le)
				buf = strconv.AppendUint(buf, cum[b], 10)
				buf = append(buf, '\n')
			}
			buf = appendSeries(buf, e.expo, "_sum", "", "")
			buf = strconv.AppendUint(buf, e.h.sum.Load(), 10)
			buf = append(buf, '\n')
			buf = appendSeries(buf, e.expo, "_count", "", "")
			buf = strconv.AppendUint(buf, total, 10)
			buf = append(buf, '\n')
		}
		bw.Write(buf)
	}
	if open {
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// appendSeries appends `family+suffix{labels[,extra="value"]} `.
func appendSeries(b []byte, e *exposition, suffix, extra, value string) []byte {
	b = append(b, e.family...)
	b = append(b, suffix...)
	b = append(b, '{')
	b = append(b, e.labels...)
	if extra != "" {
		if e.labels != "" {
			b = append(b, ',')
		}
		b = append(b, extra...)
		b = append(b, `="`...)
		b = append(b, value...)
		b = append(b, '"')
	}
	return append(b, "} "...)
}
