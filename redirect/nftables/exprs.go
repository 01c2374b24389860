package nftables

import (
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/outrider-mesh/outrider/redirect"
)

// Offsets of the addresses in the IPv4 and IPv6 headers.
const (
	ip4Src, ip4Dst = 12, 16
	ip6Src, ip6Dst = 8, 24
)

// Exprs builds the expressions of one rule, statement by statement in the
// order RuleText prints them, the way nft encodes the same text (so `nft list`
// prints RuleText back). Every match loads into register 1 and compares it.
func Exprs(r redirect.Rule) []expr.Any {
	var e []expr.Any
	familyDone := false
	family := func(f redirect.Family) {
		if familyDone {
			return
		}
		proto := byte(unix.NFPROTO_IPV4)
		if f == redirect.IPv6 {
			proto = unix.NFPROTO_IPV6
		}
		e = append(e, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}})
		familyDone = true
	}

	if needsFamilyMatch(r) {
		family(r.Family)
	}
	if r.OutIface != "" {
		e = append(e, &expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(r.OutIface)})
	}
	for _, m := range []struct {
		p   netip.Prefix
		src bool
		not bool
	}{{r.Src, true, false}, {r.Dst, false, r.NotDst}} {
		if !m.p.IsValid() {
			continue
		}
		fam := redirect.IPv4
		if m.p.Addr().Is6() {
			fam = redirect.IPv6
		}
		family(fam)
		e = append(e, addrMatch(m.p, m.src, m.not)...)
	}
	if r.DstPort != 0 || r.TCP || r.Verdict.Kind == redirect.Redirect {
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}})
	}
	if r.DstPort != 0 {
		e = append(e, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.DstPort)})
	}
	if r.Owner.Kind != redirect.NoOwner {
		key := expr.MetaKeySKUID
		if r.Owner.Kind == redirect.GID {
			key = expr.MetaKeySKGID
		}
		e = append(e, &expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: cmpOp(r.Owner.Not), Register: 1, Data: binaryutil.NativeEndian.PutUint32(r.Owner.ID)})
	}
	switch r.Verdict.Kind {
	case redirect.Return:
		e = append(e, &expr.Verdict{Kind: expr.VerdictReturn})
	case redirect.Jump:
		e = append(e, &expr.Verdict{Kind: expr.VerdictJump, Chain: ChainName(r.Verdict.Chain)})
	case redirect.Redirect:
		e = append(e, &expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(r.Verdict.Port)},
			&expr.Redir{RegisterProtoMin: 1, RegisterProtoMax: 1, Flags: unix.NF_NAT_RANGE_PROTO_SPECIFIED})
	}
	return e
}

// addrMatch compares a source or destination address with a prefix. Like
// nft, it loads only the prefix's bytes when the prefix ends on a byte
// boundary, and masks the whole address otherwise. A /0 prefix compares
// nothing: the family match before it is the whole test.
func addrMatch(p netip.Prefix, src, not bool) []expr.Any {
	if p.Bits() == 0 {
		return nil
	}
	addr := p.Masked().Addr().AsSlice()
	offset := uint32(ip4Dst)
	switch {
	case p.Addr().Is4() && src:
		offset = ip4Src
	case p.Addr().Is6() && src:
		offset = ip6Src
	case p.Addr().Is6():
		offset = ip6Dst
	}
	if p.Bits()%8 == 0 {
		n := uint32(p.Bits() / 8)
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: n},
			&expr.Cmp{Op: cmpOp(not), Register: 1, Data: addr[:n]},
		}
	}
	n := uint32(len(addr))
	mask := netMask(p.Bits(), len(addr))
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: n},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: make([]byte, n)},
		&expr.Cmp{Op: cmpOp(not), Register: 1, Data: addr},
	}
}

func netMask(bits, size int) []byte {
	m := make([]byte, size)
	for i := range m {
		switch {
		case bits >= 8:
			m[i] = 0xff
			bits -= 8
		case bits > 0:
			m[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return m
}

func cmpOp(not bool) expr.CmpOp {
	if not {
		return expr.CmpOpNeq
	}
	return expr.CmpOpEq
}

// ifname pads an interface name to IFNAMSIZ, as nft compares it.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}
