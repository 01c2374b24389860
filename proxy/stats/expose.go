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

func (q *Query) keepBytes(name []byte, used bool, t Type) bool {
	if q.Type != AllTypes && q.Type != t {
		return false
	}
	if q.UsedOnly && !used {
		return false
	}
	return q.Filter == nil || q.Filter.Match(name)
}

// WriteText writes Envoy's /stats text: "name: value" lines for counters
// and gauges together in name order, then one line per histogram with its
// interval and cumulative quantiles, "P0(1,1) P25(2.5,2) ...", or "No
// recorded values".
func (s *Store) WriteText(w io.Writer, q Query) error {
	v := s.view()
	bw := bufio.NewWriterSize(w, 32<<10)
	var buf []byte
	v.eachScalar(func(sc *scalar) {
		buf = sc.appendName(buf[:0])
		if !q.keepBytes(buf, sc.used(), sc.kind()) {
			return
		}
		buf = sc.appendValue(append(buf, ": "...))
		bw.Write(append(buf, '\n'))
	})
	cum := make([]uint64, bucketCount)
	ivl := make([]uint64, bucketCount)
	cq := make([]float64, len(SupportedQuantiles))
	iq := make([]float64, len(SupportedQuantiles))
	v.eachHistogram(func(prefix, suffix string, used bool, h *BlockHistogram) {
		buf = append(append(buf[:0], prefix...), suffix...)
		if !q.keepBytes(buf, used, Histograms) {
			return
		}
		buf = append(buf, ": "...)
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
	})
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
	var buf, name []byte
	first := true
	sep := func() {
		if !first {
			buf = append(buf, ',')
		}
		first = false
	}
	buf = append(buf, `{"stats":[`...)
	v.eachScalar(func(sc *scalar) {
		name = sc.appendName(name[:0])
		if !q.keepBytes(name, sc.used(), sc.kind()) {
			return
		}
		sep()
		buf = append(appendJSONString(append(buf, `{"name":`...), name), `,"value":`...)
		buf = append(sc.appendValue(buf), '}')
		bw.Write(buf)
		buf = buf[:0]
	})
	cum := make([]uint64, bucketCount)
	ivl := make([]uint64, bucketCount)
	cq := make([]float64, len(SupportedQuantiles))
	iq := make([]float64, len(SupportedQuantiles))
	hfirst := true
	v.eachHistogram(func(prefix, suffix string, used bool, h *BlockHistogram) {
		name = append(append(name[:0], prefix...), suffix...)
		if !q.keepBytes(name, used, Histograms) {
			return
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
		buf = appendJSONString(buf, name)
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
	})
	if !hfirst {
		buf = append(buf, "]}}"...)
	}
	buf = append(buf, "]}\n"...)
	bw.Write(buf)
	return bw.Flush()
}

func appendJSONQuantile(b []byte, ok bool, v float64) []byte {
	if !ok {
		return append(b, "null"...)
	}
	return appendQuantile(b, v)
}

func appendJSONString(b []byte, s []byte) []byte {
	q, _ := json.Marshal(string(s)) // a string always marshals
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
	var name, labels []byte
	cum := make([]uint64, bucketCount)
	for _, f := range v.prom {
		typ := promTypes[f.kind]
		open := false
		// header starts the family before its first kept series.
		header := func() {
			if !open {
				buf = append(append(append(append(buf, "# TYPE "...), f.name...), ' '), typ...)
				buf = append(buf, '\n')
				open = true
			}
		}
		f.eachSeries(func(e *promEntry) {
			buf = buf[:0]
			switch {
			case e.c != nil:
				if !q.keep(e.c.Name, e.c.Used(), Counters) {
					return
				}
				header()
				buf = appendSeries(buf, e.expo.family, e.expo.labels, "", "", "")
				buf = strconv.AppendUint(buf, e.c.Value(), 10)
				buf = append(buf, '\n')
			case e.g != nil:
				if !q.keep(e.g.Name, e.g.Used(), Gauges) {
					return
				}
				header()
				buf = appendSeries(buf, e.expo.family, e.expo.labels, "", "", "")
				buf = strconv.AppendInt(buf, e.g.Value(), 10)
				buf = append(buf, '\n')
			default:
				if !q.keep(e.h.Name, e.h.Used(), Histograms) {
					return
				}
				header()
				buf = appendHistogram(buf, e.expo.family, e.expo.labels, e.h.cell.Load(), cum)
			}
			bw.Write(buf)
		}, func(b *block, i int) {
			buf = buf[:0]
			ent := &b.schema.entries[i]
			name = append(append(name[:0], b.scope.prefix...), ent.name...)
			if !q.keepBytes(name, b.used(i), ent.kind) {
				return
			}
			header()
			labels = appendLabels(labels[:0], b.scope.tags)
			switch ent.kind {
			case Counters:
				buf = appendSeries(buf, f.name, labels, "", "", "")
				buf = strconv.AppendUint(buf, b.counter(ent).Value(), 10)
				buf = append(buf, '\n')
			case Gauges:
				buf = appendSeries(buf, f.name, labels, "", "", "")
				buf = strconv.AppendInt(buf, b.gauge(ent).Value(), 10)
				buf = append(buf, '\n')
			default:
				buf = appendHistogram(buf, f.name, labels, b.histogram(ent), cum)
			}
			bw.Write(buf)
		})
		if open {
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

var promTypes = [...]string{Counters: "counter", Gauges: "gauge", Histograms: "histogram"}

// appendHistogram appends a histogram's _bucket, _sum and _count series.
func appendHistogram[L string | []byte](buf []byte, family string, labels L, h *BlockHistogram, cum []uint64) []byte {
	total := h.cumulative(cum)
	for b, le := range boundText {
		buf = appendSeries(buf, family, labels, "_bucket", "le", le)
		buf = strconv.AppendUint(buf, cum[b], 10)
		buf = append(buf, '\n')
	}
	buf = appendSeries(buf, family, labels, "_sum", "", "")
	buf = strconv.AppendUint(buf, h.sum(), 10)
	buf = append(buf, '\n')
	buf = appendSeries(buf, family, labels, "_count", "", "")
	buf = strconv.AppendUint(buf, total, 10)
	return append(buf, '\n')
}

// appendSeries appends `family+suffix{labels[,extra="value"]} `.
func appendSeries[L string | []byte](b []byte, family string, labels L, suffix, extra, value string) []byte {
	b = append(b, family...)
	b = append(b, suffix...)
	b = append(b, '{')
	b = append(b, labels...)
	if extra != "" {
		if len(labels) != 0 {
			b = append(b, ',')
		}
		b = append(b, extra...)
		b = append(b, `="`...)
		b = append(b, value...)
		b = append(b, '"')
	}
	return append(b, "} "...)
}
