package network

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/outrider-mesh/outrider/proxy/config"
)

// RejectUnhandled records an error for every field set in m whose name is
// not in handled, so that a translator never silently ignores a field it
// received. Fields listed in harmless (metadata, names) are allowed
// without being handled. p is the path of m.
func RejectUnhandled(errs *config.Errors, m proto.Message, p config.Path, handled ...string) {
	if m == nil {
		return
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return
	}
	r.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		name := string(fd.Name())
		for _, h := range handled {
			if h == name {
				return true
			}
		}
		errs.Addf(p.Field(name), "not supported")
		return true
	})
}
