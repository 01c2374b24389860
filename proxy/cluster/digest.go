package cluster

import (
	"crypto/sha256"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"
)

// digest identifies a cluster's configuration: Update keeps a cluster
// whose configuration is unchanged. A cluster keeps this instead of its
// proto, which is ~1.4 KB decoded: holding no reference lets the
// configuration's messages go once they are translated.
type digest struct {
	// sum is the first half of a SHA-256: 128 bits tell configurations
	// apart as surely as 256, in half the memory.
	sum [sha256.Size / 2]byte
	ok  bool // false when pb could not be hashed: equal to nothing
}

// digester hashes clusters' deterministic wire form (equal messages have
// equal digests), reusing one buffer: an update of thousands of clusters
// leaves no garbage between the clusters it creates.
type digester struct{ buf []byte }

func (d *digester) of(pb *clusterv3.Cluster) digest {
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(d.buf[:0], pb)
	if err != nil {
		// Only an invalid UTF-8 string fails, which the loader rejects;
		// the cluster is then recreated on every update.
		return digest{}
	}
	d.buf = b
	full := sha256.Sum256(b)
	dg := digest{ok: true}
	copy(dg.sum[:], full[:])
	return dg
}

// same reports whether d and o are the digests of equal configurations.
func (d digest) same(o digest) bool { return d.ok && d == o }
