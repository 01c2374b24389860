package stats

import "strconv"

// blockWalk yields the stats of blocks in flat-name order. Blocks are
// entered in prefix order, and only when the next name may be theirs: a
// block's names all start with its prefix, so a block whose prefix sorts
// after the smallest pending name holds nothing smaller. Blocks whose
// prefixes do not nest (the usual case: cluster.a. and cluster.b.) are
// therefore walked one after the other; nested ones (cluster.a. and
// cluster.a.b.) are merged through a small heap.
type blockWalk struct {
	blocks []*block            // not entered yet, by prefix
	ents   func(*schema) []int // the entries to walk, in name order
	heap   []blockCursor       // entered blocks with entries left
	fixed  []int               // ents' result when every block has the same
}

type blockCursor struct {
	b    *block
	ents []int // entries left, in name order; ents[0] is the current one
}

func (c *blockCursor) suffix() string { return c.b.schema.entries[c.ents[0]].name }

func cursorLess(a, b *blockCursor) bool {
	return cmpConcat(a.b.scope.prefix, a.suffix(), b.b.scope.prefix, b.suffix()) < 0
}

func kindEntries(kind Type) func(*schema) []int {
	switch kind {
	case Counters:
		return func(s *schema) []int { return s.counters }
	case Gauges:
		return func(s *schema) []int { return s.gauges }
	case Histograms:
		return func(s *schema) []int { return s.histograms }
	default:
		return func(s *schema) []int { return s.scalars }
	}
}

// peek returns the next stat, or ok false when every block is done.
func (w *blockWalk) peek() (b *block, i int, ok bool) {
	for len(w.blocks) > 0 {
		next := w.blocks[0]
		if len(w.heap) > 0 {
			top := &w.heap[0]
			if cmpConcat(next.scope.prefix, "", top.b.scope.prefix, top.suffix()) > 0 {
				break
			}
		}
		w.blocks = w.blocks[1:]
		ents := w.fixed
		if ents == nil {
			ents = w.ents(next.schema)
		}
		if len(ents) > 0 {
			w.push(blockCursor{b: next, ents: ents})
		}
	}
	if len(w.heap) == 0 {
		return nil, 0, false
	}
	return w.heap[0].b, w.heap[0].ents[0], true
}

// pop moves past the stat peek returned.
func (w *blockWalk) pop() {
	top := &w.heap[0]
	top.ents = top.ents[1:]
	if len(top.ents) == 0 {
		last := len(w.heap) - 1
		w.heap[0] = w.heap[last]
		w.heap = w.heap[:last]
	}
	w.down(0)
}

func (w *blockWalk) push(c blockCursor) {
	w.heap = append(w.heap, c)
	for i := len(w.heap) - 1; i > 0; {
		parent := (i - 1) / 2
		if !cursorLess(&w.heap[i], &w.heap[parent]) {
			break
		}
		w.heap[i], w.heap[parent] = w.heap[parent], w.heap[i]
		i = parent
	}
}

func (w *blockWalk) down(i int) {
	for {
		least, l, r := i, 2*i+1, 2*i+2
		if l < len(w.heap) && cursorLess(&w.heap[l], &w.heap[least]) {
			least = l
		}
		if r < len(w.heap) && cursorLess(&w.heap[r], &w.heap[least]) {
			least = r
		}
		if least == i {
			return
		}
		w.heap[i], w.heap[least] = w.heap[least], w.heap[i]
		i = least
	}
}

// namedStat is a Counter, Gauge or Histogram.
type namedStat interface{ flatName() string }

func (m *Meta) flatName() string { return m.Name }

// eachMerged calls named for each named stat and inBlock for each block
// stat of kind, together in flat-name order.
func eachMerged[T namedStat](list []T, blocks []*block, kind Type, named func(T), inBlock func(*block, int)) {
	w := blockWalk{blocks: blocks, ents: kindEntries(kind)}
	for {
		b, i, ok := w.peek()
		switch {
		case ok && (len(list) == 0 || cmpConcat(b.scope.prefix, b.schema.entries[i].name, list[0].flatName(), "") < 0):
			inBlock(b, i)
			w.pop()
		case len(list) > 0:
			named(list[0])
			list = list[1:]
		default:
			return
		}
	}
}

// scalar is one counter or gauge on its way to /stats: a named one (c or
// g), or entry i of block b.
type scalar struct {
	c *Counter
	g *Gauge
	b *block
	i int
}

// eachScalar calls fn for every counter and gauge in flat-name order, as
// /stats lists them.
func (v *sorted) eachScalar(fn func(*scalar)) {
	cs, gs := v.counters, v.gauges
	w := blockWalk{blocks: v.blocks, ents: kindEntries(AllTypes)}
	var s scalar
	for {
		s = scalar{}
		b, i, ok := w.peek()
		// The smallest of the three heads.
		var name string
		switch {
		case len(cs) > 0 && (len(gs) == 0 || cs[0].Name < gs[0].Name):
			s.c, name = cs[0], cs[0].Name
		case len(gs) > 0:
			s.g, name = gs[0], gs[0].Name
		}
		named := s.c != nil || s.g != nil
		switch {
		case ok && (!named || cmpConcat(b.scope.prefix, b.schema.entries[i].name, name, "") < 0):
			s = scalar{b: b, i: i}
			w.pop()
		case s.c != nil:
			cs = cs[1:]
		case s.g != nil:
			gs = gs[1:]
		default:
			return
		}
		fn(&s)
	}
}

// appendName appends the scalar's flat name.
func (s *scalar) appendName(buf []byte) []byte {
	switch {
	case s.c != nil:
		return append(buf, s.c.Name...)
	case s.g != nil:
		return append(buf, s.g.Name...)
	default:
		return append(append(buf, s.b.scope.prefix...), s.b.schema.entries[s.i].name...)
	}
}

// kind is Counters or Gauges.
func (s *scalar) kind() Type {
	switch {
	case s.c != nil:
		return Counters
	case s.g != nil:
		return Gauges
	default:
		return s.b.schema.entries[s.i].kind
	}
}

func (s *scalar) used() bool {
	switch {
	case s.c != nil:
		return s.c.Used()
	case s.g != nil:
		return s.g.Used()
	default:
		return s.b.used(s.i)
	}
}

// appendValue appends the scalar's value in decimal.
func (s *scalar) appendValue(buf []byte) []byte {
	switch {
	case s.c != nil:
		return strconv.AppendUint(buf, s.c.Value(), 10)
	case s.g != nil:
		return strconv.AppendInt(buf, s.g.Value(), 10)
	}
	e := &s.b.schema.entries[s.i]
	if e.kind == Counters {
		return strconv.AppendUint(buf, s.b.counter(e).Value(), 10)
	}
	return strconv.AppendInt(buf, s.b.gauge(e).Value(), 10)
}

// eachHistogram calls fn for every histogram in flat-name order with its
// name split in two (named: the whole name and "").
func (v *sorted) eachHistogram(fn func(prefix, suffix string, used bool, h *BlockHistogram)) {
	eachMerged(v.histograms, v.blocks, Histograms,
		func(h *Histogram) { fn(h.Name, "", h.Used(), h.cell.Load()) },
		func(b *block, i int) {
			e := &b.schema.entries[i]
			h := b.histogram(e)
			fn(b.scope.prefix, e.name, h.Used(), h)
		})
}

// eachSeries calls named or inBlock for every series of family f in
// flat-name order.
func (f *promFamily) eachSeries(named func(*promEntry), inBlock func(*block, int)) {
	list := f.named
	walks := make([]blockWalk, len(f.cols))
	for i, c := range f.cols {
		walks[i] = blockWalk{blocks: c.blocks, fixed: c.entry}
	}
	for {
		// The smallest head among the named list and the columns.
		best := -1
		var bb *block
		var bi int
		for k := range walks {
			b, i, ok := walks[k].peek()
			if ok && (bb == nil || cmpConcat(b.scope.prefix, b.schema.entries[i].name, bb.scope.prefix, bb.schema.entries[bi].name) < 0) {
				best, bb, bi = k, b, i
			}
		}
		if bb != nil && (len(list) == 0 || cmpConcat(bb.scope.prefix, bb.schema.entries[bi].name, list[0].name(), "") < 0) {
			inBlock(bb, bi)
			walks[best].pop()
			continue
		}
		if len(list) == 0 {
			return
		}
		named(&list[0])
		list = list[1:]
	}
}
