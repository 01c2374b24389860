package hcm

import (
	"net/http"
	"net/netip"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

func TestForwardingHeadersFollowEnvoysRules(t *testing.T) {
	const id = "11111111-2222-4333-8444-555555555555"
	tests := []struct {
		name          string
		useRemote     bool
		trustedHops   uint32
		preserveExtID bool
		peer          string
		xff           string
		reqID         string
		wantXFF       string
		wantRemote    string
		wantKeepID    bool
		wantInternal  string
	}{
		{name: "use_remote_address appends the peer", useRemote: true, peer: "203.0.113.7",
			wantXFF: "203.0.113.7", wantRemote: "203.0.113.7", wantInternal: ""},
		{name: "use_remote_address appends to an existing header", useRemote: true, peer: "203.0.113.7", xff: "198.51.100.1",
			wantXFF: "198.51.100.1,203.0.113.7", wantRemote: "203.0.113.7"},
		{name: "one trusted hop trusts the address before the peer", useRemote: true, trustedHops: 1, peer: "10.0.0.9", xff: "198.51.100.1",
			wantXFF: "198.51.100.1,10.0.0.9", wantRemote: "198.51.100.1"},
		{name: "too few addresses fall back to the peer", useRemote: true, trustedHops: 2, peer: "10.0.0.9", xff: "198.51.100.1",
			wantXFF: "198.51.100.1,10.0.0.9", wantRemote: "10.0.0.9"},
		{name: "without use_remote_address the last address is trusted and nothing is appended", peer: "10.0.0.9", xff: "198.51.100.1, 198.51.100.2",
			wantXFF: "198.51.100.1, 198.51.100.2", wantRemote: "198.51.100.2", wantKeepID: true, reqID: id},
		{name: "an edge request from outside gets a new request id", useRemote: true, peer: "203.0.113.7", reqID: id,
			wantXFF: "203.0.113.7", wantRemote: "203.0.113.7", wantKeepID: false},
		{name: "an edge request keeps its id with preserve_external_request_id", useRemote: true, preserveExtID: true, peer: "203.0.113.7", reqID: id,
			wantXFF: "203.0.113.7", wantRemote: "203.0.113.7", wantKeepID: true},
		{name: "an internal peer keeps its id and is marked internal", useRemote: true, peer: "10.1.2.3", reqID: id,
			wantXFF: "10.1.2.3", wantRemote: "10.1.2.3", wantKeepID: true, wantInternal: "true"},
		{name: "an internal peer behind another proxy is not internal", useRemote: true, peer: "10.1.2.3", xff: "10.9.9.9", reqID: id,
			wantXFF: "10.9.9.9,10.1.2.3", wantRemote: "10.1.2.3", wantKeepID: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb := baseConfig(t)
			pb.UseRemoteAddress = wrapperspb.Bool(tt.useRemote)
			pb.XffNumTrustedHops = tt.trustedHops
			pb.PreserveExternalRequestId = tt.preserveExtID
			cm, err := Translate(pb, &testEnvWithEcho(nil).Env, "p")
			if err != nil {
				t.Fatal(err)
			}
			r, _ := http.NewRequest("GET", "http://x/", nil)
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if tt.reqID != "" {
				r.Header.Set("X-Request-Id", tt.reqID)
			}
			r.Header.Set("X-Envoy-Internal", "spoofed")
			info := &streaminfo.Info{DownstreamDirect: netip.AddrPortFrom(netip.MustParseAddr(tt.peer), 5555)}
			if code := cm.prepare(r, info); code != 0 {
				t.Fatalf("prepare answered %d", code)
			}
			if got := r.Header.Get("X-Forwarded-For"); got != tt.wantXFF {
				t.Errorf("x-forwarded-for = %q, want %q", got, tt.wantXFF)
			}
			if got := info.DownstreamRemote.Addr().String(); got != tt.wantRemote {
				t.Errorf("downstream remote = %s, want %s", got, tt.wantRemote)
			}
			gotID := r.Header.Get("X-Request-Id")
			if !uuidRE.MatchString(gotID) || gotID != info.RequestID {
				t.Errorf("x-request-id = %q (info %q), want a uuid4 recorded in info", gotID, info.RequestID)
			}
			if tt.reqID != "" && (gotID == tt.reqID) != tt.wantKeepID {
				t.Errorf("kept incoming id = %v, want %v", gotID == tt.reqID, tt.wantKeepID)
			}
			if got := r.Header.Get("X-Forwarded-Proto"); got != "http" {
				t.Errorf("x-forwarded-proto = %q", got)
			}
			if tt.useRemote {
				if got := r.Header.Get("X-Envoy-Internal"); got != tt.wantInternal {
					t.Errorf("x-envoy-internal = %q, want %q", got, tt.wantInternal)
				}
			}
		})
	}
}
