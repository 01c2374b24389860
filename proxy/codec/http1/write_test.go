package http1

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestWriteFieldsWritesFieldsSortedByName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields int
	}{
		{name: "a small head sorted in place", fields: 5},
		{name: "a head larger than the stack array", fields: 80},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := make(http.Header)
			for i := tc.fields; i > 0; i-- {
				h[fmt.Sprintf("X-F%03d", i)] = []string{"v1", "v2"}
			}
			var out bytes.Buffer
			bw := bufio.NewWriter(&out)
			if err := writeFields(bw, h, nil, 0, true); err != nil {
				t.Fatal(err)
			}
			bw.Flush()
			lines := strings.Split(strings.TrimSuffix(out.String(), "\r\n"), "\r\n")
			if len(lines) != 2*tc.fields {
				t.Fatalf("wrote %d lines, want %d", len(lines), 2*tc.fields)
			}
			if !slices.IsSorted(lines) {
				t.Errorf("fields not sorted:\n%s", out.String())
			}
		})
	}
}
