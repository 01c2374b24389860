package cluster

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/outrider-mesh/outrider/proxy/config"
)

// notYet names fields that other issues will implement; everything else
// not allowed is simply unsupported.
var notYet = map[string]bool{
	"transport_socket_matches": true,
	"health_checks":            true,
	"outlier_detection":        true,
}

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
		if notYet[name] {
			errs.Addf(p.Field(name), "cluster: %s is not supported yet", name)
		} else {
			errs.Addf(p.Field(name), "cluster: %s is not supported", name)
		}
		return true
	})
}
