package accesslog

import (
	"context"
	"net/http"
	"testing"

	"github.com/outrider-mesh/outrider/proxy/streaminfo"
)

func TestTLSOperatorsPrintTheSessionOrADash(t *testing.T) {
	session := &streaminfo.TLS{
		Version:      "TLSv1.3",
		Cipher:       "TLS_AES_128_GCM_SHA256",
		PeerURISANs:  []string{"spiffe://cluster.local/ns/default/sa/frontend", "spiffe://cluster.local/ns/default/sa/alias"},
		PeerDNSSANs:  []string{"frontend.default.svc"},
		PeerSubject:  "CN=frontend",
		PeerSerial:   "3e9",
		LocalURISANs: []string{"spiffe://cluster.local/ns/default/sa/backend"},
		LocalSubject: "CN=backend",
	}
	const format = "%DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_TLS_VERSION% %DOWNSTREAM_TLS_CIPHER% %DOWNSTREAM_LOCAL_URI_SAN% %DOWNSTREAM_PEER_SUBJECT% %DOWNSTREAM_PEER_SERIAL% %DOWNSTREAM_PEER_DNS_SAN% | %UPSTREAM_PEER_URI_SAN% %UPSTREAM_TLS_VERSION% %UPSTREAM_TRANSPORT_FAILURE_REASON%"
	req := func(ctx context.Context) *http.Request {
		r, _ := http.NewRequestWithContext(ctx, "GET", "http://x/", nil)
		return r
	}
	tests := []struct {
		name string
		info *streaminfo.Info
		want string
	}{
		{
			name: "a plaintext stream prints dashes",
			info: &streaminfo.Info{Request: req(context.Background())},
			want: "- - - - - - - | - - -",
		},
		{
			name: "a TLS connection's session is found through the request context",
			info: &streaminfo.Info{Request: req(streaminfo.WithDownstreamTLS(context.Background(), session))},
			want: "spiffe://cluster.local/ns/default/sa/frontend,spiffe://cluster.local/ns/default/sa/alias TLSv1.3 TLS_AES_128_GCM_SHA256 spiffe://cluster.local/ns/default/sa/backend CN=frontend 3e9 frontend.default.svc | - - -",
		},
		{
			name: "a TCP stream carries its session in the info, with the upstream's",
			info: &streaminfo.Info{DownstreamTLS: session, UpstreamTLS: &streaminfo.TLS{Version: "TLSv1.2", PeerURISANs: []string{"spiffe://td/sa/db"}}},
			want: "spiffe://cluster.local/ns/default/sa/frontend,spiffe://cluster.local/ns/default/sa/alias TLSv1.3 TLS_AES_128_GCM_SHA256 spiffe://cluster.local/ns/default/sa/backend CN=frontend 3e9 frontend.default.svc | spiffe://td/sa/db TLSv1.2 -",
		},
		{
			name: "a failed upstream handshake gives its reason",
			info: &streaminfo.Info{UpstreamTransportFailureReason: "TLS_error:|CERTIFICATE_VERIFY_FAILED:peer_certificate_expired:TLS_error_end"},
			want: "- - - - - - - | - - TLS_error:|CERTIFICATE_VERIFY_FAILED:peer_certificate_expired:TLS_error_end",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(t, format, tt.info, false); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
