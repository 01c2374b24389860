package route

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/outrider-mesh/outrider/proxy/config"
)

// rejectUnsupported records an error for every field set in m whose name
// is not in allowed, so that nothing the translator does not implement is
// silently ignored.
func rejectUnsupported(errs *config.Errors, m proto.Message, p config.Path, allowed ...string) {
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		name := string(fd.Name())
		for _, a := range allowed {
			if a == name {
				return true
			}
		}
		errs.Addf(p.Field(name), "route: %s is not supported", name)
		return true
	})
}
