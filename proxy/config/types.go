package config

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// The supported typed_config types, imported so that they are
	// registered and a typed_config naming them can be decoded.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/http/header_formatters/preserve_case/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	_ "github.com/outrider-mesh/outrider/proxy/deststats/deststatspb"
)

// supportedTypes resolves google.protobuf.Any type URLs to the supported
// typed_config types only, so that protojson never decodes a type the
// proxy does not implement (even one another package registered).
type supportedTypes struct{}

var _ interface {
	protoregistry.MessageTypeResolver
	protoregistry.ExtensionTypeResolver
} = supportedTypes{}

func (supportedTypes) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	if _, ok := extensionNames[string(name)]; !ok {
		return nil, protoregistry.NotFound
	}
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

func (r supportedTypes) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	return r.FindMessageByName(typeName(url))
}

func (supportedTypes) FindExtensionByName(protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return nil, protoregistry.NotFound
}

func (supportedTypes) FindExtensionByNumber(protoreflect.FullName, protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return nil, protoregistry.NotFound
}

// typeName is the message name of a type URL: the part after the last '/'.
func typeName(url string) protoreflect.FullName {
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		url = url[i+1:]
	}
	return protoreflect.FullName(url)
}

// extensionName names a typed_config for messages: its extension name when
// it is supported, else its type name.
func extensionName(name protoreflect.FullName) string {
	if n, ok := extensionNames[string(name)]; ok {
		return n
	}
	return string(name)
}

// isWellKnown reports whether md is one of protobuf's well-known types
// (Duration, wrappers, Struct, …), which are leaves of the allowlist.
func isWellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "google.protobuf"
}

const anyFullName = "google.protobuf.Any"

// ruleSet returns the rules of the message held by field fd under rule r.
func ruleSet(r fieldRule, md protoreflect.MessageDescriptor) string {
	if r.rules != "" {
		return r.rules
	}
	return string(md.FullName())
}

// lookup returns the rule of field name in rule set rules. When the field
// is not supported, msg says why, ready to be reported at its path.
func lookup(rules string, name protoreflect.Name) (r fieldRule, msg string, found bool) {
	if r, found := supported[rules][string(name)]; found {
		return r, "", true
	}
	switch {
	case later[rules][string(name)]:
		return r, string(name) + " is not supported yet", false
	case hints[rules][string(name)] != "":
		return r, string(name) + " is not supported; " + hints[rules][string(name)], false
	}
	return r, string(name) + " is not supported", false
}

// unsupportedType explains why typed_config type t (with extension name
// from the config, possibly empty) cannot be used.
func unsupportedType(t protoreflect.FullName, name string) string {
	if name == "" {
		name = string(t)
	}
	if laterTypes[string(t)] || laterNames[name] {
		return name + " is not supported yet"
	}
	return name + " is not supported"
}

// checkType reports whether type t may appear where rule r applies, and why
// not.
func checkType(r fieldRule, t protoreflect.FullName) (msg string, allowed bool) {
	for _, want := range r.types {
		if string(t) == want {
			return "", true
		}
	}
	names := make([]string, len(r.types))
	for i, want := range r.types {
		names[i] = extensionNames[want]
	}
	return extensionName(t) + " cannot be used here (expected " + strings.Join(names, ", ") + ")", false
}

// checkEnum reports whether enum value v is accepted by rule r.
func checkEnum(r fieldRule, v protoreflect.Name) bool {
	if r.enums == nil {
		return true
	}
	for _, e := range r.enums {
		if string(v) == e {
			return true
		}
	}
	return false
}
