package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// Load reads the Envoy v3 Bootstrap in the file at path, in YAML or JSON,
// and checks it as Parse does.
func Load(path string) (*bootstrapv3.Bootstrap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes an Envoy v3 Bootstrap in YAML or JSON (name only labels
// the input) and checks it: unknown fields, fields and typed_config types
// outside the supported subset (supported.go), Envoy's own constraints and
// its load-time cross-field rules. On failure the error is a config.Errors
// listing every problem with its field path, in document order per kind of
// check.
func Parse(data []byte, name string) (*bootstrapv3.Bootstrap, error) {
	doc, err := parseDocument(data)
	if err != nil {
		return nil, Errors{{Err: err}}
	}
	if doc.kind != jsonObject {
		if doc.kind == jsonNull {
			return nil, Errors{{Err: fmt.Errorf("%s is empty", name)}}
		}
		return nil, Errors{{Err: fmt.Errorf("%s must hold a Bootstrap (a mapping), not %s", name, doc.kind)}}
	}
	b := &bootstrapv3.Bootstrap{}
	var d decoder
	d.message(b.ProtoReflect().Descriptor(), string(b.ProtoReflect().Descriptor().FullName()), doc, "", false)
	if err := (protojson.UnmarshalOptions{Resolver: supportedTypes{}}).Unmarshal(appendJSON(nil, doc), b); err != nil {
		// The decoder should have caught and pruned everything protojson
		// rejects; if not, report protojson's own words.
		d.errs.Addf("", "%s", protojsonMessage(err))
		return nil, d.errs
	}
	v := validation{dropped: d.dropped}
	v.run(b)
	later := v.result()
	for _, e := range later {
		e.Line = lineOf(doc, e.Path)
	}
	if errs := append(d.errs, later...); len(errs) > 0 {
		// Document order: a user fixes the file from the top.
		slices.SortStableFunc(errs, func(a, b *FieldError) int { return a.Line - b.Line })
		return nil, errs
	}
	return b, nil
}

// parseDocument decodes JSON, or else YAML, keeping the order of keys and
// their lines.
func parseDocument(data []byte) (*jsonValue, error) {
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' && json.Valid(t) {
		return parseJSON(data)
	}
	return parseYAML(data)
}
