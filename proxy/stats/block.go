package stats

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A block is a fixed set of stats under one scope, declared as a Go struct
// whose fields are BlockCounter, BlockGauge and BlockHistogram, each tagged
// with its name:
//
//	type clusterStats struct {
//		RqTotal  stats.BlockCounter   `stats:"upstream_rq_total"`
//		RqActive stats.BlockGauge     `stats:"upstream_rq_active"`
//		RqTime   stats.BlockHistogram `stats:"upstream_rq_time"`
//	}
//	st := stats.NewBlock[clusterStats](stats.ClusterScope(store, "backend"))
//
// A block stores values only: 8 bytes a counter, 16 a gauge, 8 a histogram
// until its first value. Names, Prometheus families and labels are rendered
// when the stats are exposed. A cluster has ~50 stats and a mesh may have
// thousands of clusters: named stats (Counter) cost ~300 bytes each in
// names and metadata, more than every value together.

// BlockCounter is a counter in a block. The zero value is ready to use.
type BlockCounter struct{ v atomic.Uint64 }

func (c *BlockCounter) Inc()         { c.v.Add(1) }
func (c *BlockCounter) Add(n uint64) { c.v.Add(n) }

// Value is the count; zero for a nil counter (a lazy block's, not yet
// allocated).
func (c *BlockCounter) Value() uint64 {
	if c == nil {
		return 0
	}
	return c.v.Load()
}

// BlockGauge is a gauge in a block. The zero value is ready to use.
type BlockGauge struct {
	v    atomic.Int64
	used atomic.Bool // ever written, for ?usedonly
}

// markUsed records that the gauge was written. The load first keeps the
// cache line shared once the flag is set.
func (g *BlockGauge) markUsed() {
	if !g.used.Load() {
		g.used.Store(true)
	}
}

func (g *BlockGauge) Inc()        { g.markUsed(); g.v.Add(1) }
func (g *BlockGauge) Dec()        { g.markUsed(); g.v.Add(-1) }
func (g *BlockGauge) Add(n int64) { g.markUsed(); g.v.Add(n) }
func (g *BlockGauge) Set(n int64) { g.markUsed(); g.v.Store(n) }

// Value is the gauge's value; zero for a nil gauge (see BlockCounter).
func (g *BlockGauge) Value() int64 {
	if g == nil {
		return 0
	}
	return g.v.Load()
}

// Used reports whether the gauge was ever written (Envoy's ?usedonly).
func (g *BlockGauge) Used() bool { return g != nil && g.used.Load() }

// NewBlock returns the block of type T under sc, creating it the first
// time: later calls with the same scope and type return the same block, so
// values survive a config reload as named stats do. T is a struct of
// BlockCounter, BlockGauge and BlockHistogram fields tagged `stats:"name"`
// (the name is relative to sc and may hold dots:
// "circuit_breakers.default.cx_open"), and of untagged struct fields made
// the same way, which are walked into. Any other field is a programming
// error and panics.
//
// A named stat created earlier with the same flat name is taken over: its
// value moves into the block and the Counter (Gauge, Histogram) keeps
// working as a view of the block's stat. Scope.Counter and friends return
// such a view for a name a block holds.
func NewBlock[T any](sc Scope) *T {
	return (*T)(register[T](sc, false).load())
}

// NewLazyBlock is NewBlock for stats that most instances never move: the
// block's values are allocated by the first Get. Until then its stats are
// listed all the same, at zero and unused, as Envoy lists them. A large
// mesh's clusters mostly carry no traffic from a given sidecar, and their
// traffic stats are most of what a cluster costs.
func NewLazyBlock[T any](sc Scope) Lazy[T] {
	return Lazy[T]{b: register[T](sc, true)}
}

// Lazy is a block made by NewLazyBlock.
type Lazy[T any] struct{ b *block }

// Get returns the block's values, allocating them the first time.
func (l Lazy[T]) Get() *T { return (*T)(l.b.load()) }

// Scope is the scope the block was registered under.
func (l Lazy[T]) Scope() Scope { return *l.b.scope }

// register finds or creates the block of type T under sc; a lazy one has
// no values yet.
func register[T any](sc Scope, lazy bool) *block {
	sch := schemaOf[T]()
	st := sc.store
	st.mu.Lock()
	defer st.mu.Unlock()
	var scope *Scope
	for b := st.blocks[sc.prefix]; b != nil; b = b.next {
		if b.schema == sch {
			return b
		}
		if b.scope.same(sc) {
			scope = b.scope
		}
	}
	if scope == nil {
		// A copy made here only: taking sc's address would allocate it
		// on every call, for blocks that share a scope too.
		own := sc
		own.promPrefix = st.intern(sc.promPrefix)
		scope = &own
	}
	b := &block{scope: scope, schema: sch}
	if !lazy {
		b.base.Store((*byte)(sch.alloc()))
	}
	b.next = st.blocks[sc.prefix]
	st.blocks[sc.prefix] = b
	st.adopt(b)
	st.gen++
	return b
}

// block is the store's record of one registered block.
type block struct {
	// scope is shared by the blocks of one scope (a cluster has two or
	// three): a Scope is 64 bytes.
	scope  *Scope
	schema *schema
	// base is the *T of the values; nil for a lazy block until its first
	// Get, when every stat reads as zero and unused.
	base atomic.Pointer[byte]
	next *block // another block with the same prefix
	// reset marks counters that ResetCounters zeroed while they were
	// non-zero, so that ?usedonly keeps listing them; nil until then.
	// Written under the store's mutex.
	reset atomic.Pointer[[]bool]
}

// load returns the block's values, allocating those of a lazy block.
func (b *block) load() unsafe.Pointer {
	if p := b.base.Load(); p != nil {
		return unsafe.Pointer(p)
	}
	b.base.CompareAndSwap(nil, (*byte)(b.schema.alloc()))
	return unsafe.Pointer(b.base.Load())
}

// The stat of entry e, or nil while a lazy block has no values.
func (b *block) counter(e *entry) *BlockCounter {
	if p := b.base.Load(); p != nil {
		return (*BlockCounter)(unsafe.Add(unsafe.Pointer(p), e.offset))
	}
	return nil
}

func (b *block) gauge(e *entry) *BlockGauge {
	if p := b.base.Load(); p != nil {
		return (*BlockGauge)(unsafe.Add(unsafe.Pointer(p), e.offset))
	}
	return nil
}

func (b *block) histogram(e *entry) *BlockHistogram {
	if p := b.base.Load(); p != nil {
		return (*BlockHistogram)(unsafe.Add(unsafe.Pointer(p), e.offset))
	}
	return nil
}

// The stats of entry e, allocating a lazy block's values: for callers
// that may write.
func (b *block) counterCell(e *entry) *BlockCounter {
	return (*BlockCounter)(unsafe.Add(b.load(), e.offset))
}

func (b *block) gaugeCell(e *entry) *BlockGauge {
	return (*BlockGauge)(unsafe.Add(b.load(), e.offset))
}

func (b *block) histogramCell(e *entry) *BlockHistogram {
	return (*BlockHistogram)(unsafe.Add(b.load(), e.offset))
}

// used reports whether the stat of entry i was ever written.
func (b *block) used(i int) bool {
	e := &b.schema.entries[i]
	switch e.kind {
	case Counters:
		if b.counter(e).Value() != 0 {
			return true
		}
		r := b.reset.Load()
		return r != nil && (*r)[i]
	case Gauges:
		return b.gauge(e).Used()
	default:
		return b.histogram(e).Used()
	}
}

// meta is the identity of entry i, made when a caller asks for it (Each,
// views); blocks do not keep it.
func (b *block) meta(i int) Meta {
	e := &b.schema.entries[i]
	return Meta{Name: b.scope.prefix + e.name, PromName: b.scope.promPrefix + e.name, Tags: b.scope.tags}
}

// schema is the layout of one block type: its stats sorted by name.
type schema struct {
	alloc   func() unsafe.Pointer // a new, zero T
	entries []entry
	byName  map[string]int
	// Entry indexes in name order, by kind; scalars are counters and
	// gauges together, as /stats lists them.
	counters, gauges, scalars, histograms []int
}

type entry struct {
	name   string // relative to the block's scope
	kind   Type
	offset uintptr
}

var (
	schemas     sync.Map // reflect.Type → *schema
	counterType = reflect.TypeFor[BlockCounter]()
	gaugeType   = reflect.TypeFor[BlockGauge]()
	histType    = reflect.TypeFor[BlockHistogram]()
	kindOf      = map[reflect.Type]Type{counterType: Counters, gaugeType: Gauges, histType: Histograms}
)

func schemaOf[T any]() *schema {
	t := reflect.TypeFor[T]()
	if s, ok := schemas.Load(t); ok {
		return s.(*schema)
	}
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("stats: block type %s is not a struct", t))
	}
	s := &schema{byName: map[string]int{}, alloc: func() unsafe.Pointer { return unsafe.Pointer(new(T)) }}
	s.walk(t, 0)
	sort.Slice(s.entries, func(i, j int) bool { return s.entries[i].name < s.entries[j].name })
	for i, e := range s.entries {
		if _, dup := s.byName[e.name]; dup {
			panic(fmt.Sprintf("stats: block type %s names %q twice", t, e.name))
		}
		s.byName[e.name] = i
		switch e.kind {
		case Counters:
			s.counters = append(s.counters, i)
			s.scalars = append(s.scalars, i)
		case Gauges:
			s.gauges = append(s.gauges, i)
			s.scalars = append(s.scalars, i)
		default:
			s.histograms = append(s.histograms, i)
		}
	}
	actual, _ := schemas.LoadOrStore(t, s)
	return actual.(*schema)
}

func (s *schema) walk(t reflect.Type, base uintptr) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, tagged := f.Tag.Lookup("stats")
		if kind, ok := kindOf[f.Type]; ok {
			if tag == "" {
				panic(fmt.Sprintf("stats: field %s.%s has no stats:\"name\" tag", t, f.Name))
			}
			s.entries = append(s.entries, entry{name: tag, kind: kind, offset: base + f.Offset})
			continue
		}
		if f.Type.Kind() == reflect.Struct && !tagged {
			s.walk(f.Type, base+f.Offset)
			continue
		}
		panic(fmt.Sprintf("stats: field %s.%s (%s) is not a stat", t, f.Name, f.Type))
	}
}

// findBlock returns the block entry whose flat name is name, searching the
// blocks of every prefix of name that ends at a dot.
func (s *Store) findBlock(name string, kind Type) (*block, int) {
	for i := 0; i < len(name); i++ {
		if name[i] != '.' {
			continue
		}
		for b := s.blocks[name[:i+1]]; b != nil; b = b.next {
			if j, ok := b.schema.byName[name[i+1:]]; ok && b.schema.entries[j].kind == kind {
				return b, j
			}
		}
	}
	return nil, 0
}

// adopt moves named stats that already hold a name of the new block b
// into it, leaving the named stat as a view of the block's. Called with
// s.mu held.
func (s *Store) adopt(b *block) {
	if len(s.counters)+len(s.gauges)+len(s.histograms) == 0 {
		return
	}
	buf := []byte(b.scope.prefix)
	for i := range b.schema.entries {
		e := &b.schema.entries[i]
		buf = append(buf[:len(b.scope.prefix)], e.name...)
		switch e.kind {
		case Counters:
			if c, ok := s.counters[string(buf)]; ok {
				cell := b.counterCell(e)
				cell.v.Store(c.Value())
				c.cell.Store(cell)
				delete(s.counters, c.Name)
				s.views[viewKey{c.Name, Counters}] = c
			}
		case Gauges:
			if g, ok := s.gauges[string(buf)]; ok {
				cell := b.gaugeCell(e)
				cell.v.Store(g.Value())
				if g.Used() {
					cell.used.Store(true)
				}
				g.cell.Store(cell)
				delete(s.gauges, g.Name)
				s.views[viewKey{g.Name, Gauges}] = g
			}
		default:
			if h, ok := s.histograms[string(buf)]; ok {
				cell := b.histogramCell(e)
				cell.d.Store(h.cell.Load().d.Load())
				h.cell.Store(cell)
				delete(s.histograms, h.Name)
				s.views[viewKey{h.Name, Histograms}] = h
			}
		}
	}
}

// same reports whether o names stats as sc does.
func (sc *Scope) same(o Scope) bool {
	return sc.prefix == o.prefix && sc.promPrefix == o.promPrefix && slices.Equal(sc.tags, o.tags)
}

// viewKey names a named stat that is a view of a block's stat.
type viewKey struct {
	name string
	kind Type
}

// internBytes is intern for a prefix being built; it takes the store's
// mutex. A store-less Scope (the zero Scope) gets a plain copy.
func (s *Store) internBytes(v []byte) string {
	if s == nil {
		return string(v)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.interned[string(v)]; ok {
		return w
	}
	w := string(v)
	s.interned[w] = w
	return w
}

// intern returns a shared copy of a scope's Prometheus prefix: every
// cluster scope has the same one.
func (s *Store) intern(v string) string {
	if w, ok := s.interned[v]; ok {
		return w
	}
	s.interned[v] = v
	return v
}
