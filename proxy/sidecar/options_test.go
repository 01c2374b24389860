package sidecar

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFromEnvReadsTheIdentityAndTheDetectionSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Options
		wantErr string
	}{
		{name: "an empty environment gives the zero options", env: nil, want: Options{}},
		{name: "the pod identity is read", env: map[string]string{
			"POD_NAME": "web-1", "POD_NAMESPACE": "shop", "POD_IP": "10.0.0.7", "SERVICE_ACCOUNT": "web", "NODE_NAME": "n1", "TRUST_DOMAIN": "example.org"},
			want: Options{PodName: "web-1", PodNamespace: "shop", PodIP: "10.0.0.7", ServiceAccount: "web", NodeName: "n1", TrustDomain: "example.org"}},
		{name: "INSTANCE_IPS lists every address", env: map[string]string{"INSTANCE_IPS": "10.0.0.7, fd00::7"},
			want: Options{InstanceIPs: []string{"10.0.0.7", "fd00::7"}}},
		{name: "Istio's INSTANCE_IP is read when INSTANCE_IPS is not", env: map[string]string{"INSTANCE_IP": "10.0.0.8"},
			want: Options{InstanceIPs: []string{"10.0.0.8"}}},
		{name: "opaque ports replace the defaults", env: map[string]string{"OUTRIDER_OPAQUE_PORTS": "3306,9000-9002"},
			want: Options{OpaquePorts: []uint16{3306, 9000, 9001, 9002}}},
		{name: "none clears the opaque ports", env: map[string]string{"OUTRIDER_OPAQUE_PORTS": "none"},
			want: Options{OpaquePorts: []uint16{}}},
		{name: "the detection timeout is a Go duration", env: map[string]string{"OUTRIDER_PROTOCOL_DETECTION_TIMEOUT": "250ms"},
			want: Options{DetectionTimeout: 250 * time.Millisecond}},
		{name: "a bad port list names its variable", env: map[string]string{"OUTRIDER_OPAQUE_PORTS": "25,smtp"},
			wantErr: `OUTRIDER_OPAQUE_PORTS: "smtp" is not a port number`},
		{name: "a zero timeout is refused", env: map[string]string{"OUTRIDER_PROTOCOL_DETECTION_TIMEOUT": "0s"},
			wantErr: "is not a positive duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParsePortsReadsListsAndRanges(t *testing.T) {
	tests := []struct {
		in      string
		want    []uint16
		wantErr string
	}{
		{in: "25", want: []uint16{25}},
		{in: " 587, 25 ,25", want: []uint16{25, 587}},
		{in: "9000-9002,1", want: []uint16{1, 9000, 9001, 9002}},
		{in: "none", want: []uint16{}},
		{in: "0", wantErr: `"0" is not a port number`},
		{in: "65536", wantErr: `"65536" is not a port number`},
		{in: "10-5", wantErr: `port range "10-5" is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePorts(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestIdentityHoldsWhatIsKnownAndTheSPIFFEID(t *testing.T) {
	got := Options{PodName: "web-1", PodNamespace: "shop", PodIP: "10.0.0.7", ServiceAccount: "web"}.Identity()
	want := map[string]string{"pod_name": "web-1", "pod_namespace": "shop", "pod_ip": "10.0.0.7",
		"instance_ips": "10.0.0.7", "service_account": "web", "spiffe_id": "spiffe://cluster.local/ns/shop/sa/web"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if id := (Options{PodName: "x"}).Identity(); id["spiffe_id"] != "" || len(id) != 1 {
		t.Errorf("without namespace and account: %v", id)
	}
}

// FuzzParsePorts: whatever the environment holds, the list comes back
// sorted, without duplicates or port 0, or an error.
func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"25,587", "9000-9010", "none", "", "1-65535", "5-1", "a,b", ",,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ports, err := ParsePorts(s)
		if err != nil {
			return
		}
		for i, p := range ports {
			if p == 0 || (i > 0 && ports[i-1] >= p) {
				t.Fatalf("ParsePorts(%q) = %v", s, ports)
			}
		}
	})
}
