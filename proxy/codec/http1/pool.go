package http1

import (
	"bufio"
	"io"
	"sync"
)

// bufSize is the size of pooled readers and writers. Request and response
// heads of typical traffic fit; longer lines are assembled in the head
// parser, and large body reads bypass the buffer entirely.
const bufSize = 4 << 10

// Readers and writers are pooled and held only while a connection is in the
// middle of an exchange, so an idle keep-alive connection pins no buffers.
var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}
)

func getReader(r io.Reader) *bufio.Reader {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putReader(br *bufio.Reader) {
	br.Reset(nil)
	readerPool.Put(br)
}

func getWriter(w io.Writer) *bufio.Writer {
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(w)
	return bw
}

func putWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	writerPool.Put(bw)
}
