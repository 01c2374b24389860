package config

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
)

// Snapshot is a loaded bootstrap kept for /config_dump, /server_info and
// for putting the previous configuration back after a refused reload, in
// its wire form, compressed. Decoded, a bootstrap costs ~1.4 KB per
// cluster, ten times its wire form; in a large mesh it would outweigh
// everything the proxy runs on. The wire form of a mesh's clusters and
// virtual hosts repeats itself (names, field tags, the same options):
// compressed it is ~15 times smaller again, and it is read only by an
// operator's /config_dump or a refused reload. Hold a Snapshot, not the
// *Bootstrap, once the configuration is translated: the translated
// structures keep no reference to the protos.
type Snapshot struct {
	packed []byte // the bootstrap in wire form, deflated
	node   *corev3.Node
}

// NewSnapshot encodes b.
func NewSnapshot(b *bootstrapv3.Bootstrap) (*Snapshot, error) {
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("config: snapshot: %w", err)
	}
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		return nil, fmt.Errorf("config: snapshot: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return nil, fmt.Errorf("config: snapshot: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("config: snapshot: %w", err)
	}
	// A copy of exactly its size: the buffer's spare capacity would stay.
	return &Snapshot{packed: bytes.Clone(buf.Bytes()), node: b.GetNode()}, nil
}

// Bootstrap decodes a new copy of the bootstrap.
func (s *Snapshot) Bootstrap() (*bootstrapv3.Bootstrap, error) {
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(s.packed)))
	if err != nil {
		return nil, fmt.Errorf("config: snapshot: %w", err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := proto.Unmarshal(raw, b); err != nil {
		return nil, fmt.Errorf("config: snapshot: %w", err)
	}
	return b, nil
}

// Node is the bootstrap's node (id, cluster), kept decoded: /server_info
// reads it. Nil for a nil Snapshot (nothing loaded yet).
func (s *Snapshot) Node() *corev3.Node {
	if s == nil {
		return nil
	}
	return s.node
}

// DumpAt renders the bootstrap as DumpAt does.
func (s *Snapshot) DumpAt(loaded time.Time) ([]byte, error) {
	b, err := s.Bootstrap()
	if err != nil {
		return nil, err
	}
	return DumpAt(b, loaded)
}
