// Package deststatspb is the configuration message of the
// outrider.filters.http.destination_stats HTTP filter:
//
//	message DestinationStats {
//	  // Names the filter's stats: destination.<stat_prefix>.… and the
//	  // Prometheus label destination_stats_prefix. Required.
//	  string stat_prefix = 1;
//	  // How many distinct (authority, protocol) pairs get their own
//	  // series; requests to any other destination are counted under the
//	  // authority "overflow". Zero means 256.
//	  uint32 max_destinations = 2;
//	}
//
// There is no protoc in the build, so the message is described here and
// registered at init as a dynamic type, under the full name
// outrider.extensions.filters.http.destination_stats.v1.DestinationStats,
// in the global registries: protojson decodes it in a bootstrap's
// typed_config and /config_dump prints it like any Envoy extension.
//
// This package imports nothing of the proxy, so that the config loader can
// import it to know the type.
package deststatspb

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// FullName is the message's full name; TypeURL is its typed_config type.
const (
	FullName = "outrider.extensions.filters.http.destination_stats.v1.DestinationStats"
	TypeURL  = "type.googleapis.com/" + FullName
	// ExtensionName is the filter's name, as http_filters[].name gives it.
	ExtensionName = "outrider.filters.http.destination_stats"
)

var (
	msgType         protoreflect.MessageType
	statPrefix      protoreflect.FieldDescriptor
	maxDestinations protoreflect.FieldDescriptor
)

func init() {
	str, u32 := descriptorpb.FieldDescriptorProto_TYPE_STRING, descriptorpb.FieldDescriptorProto_TYPE_UINT32
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
	file := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("outrider/extensions/filters/http/destination_stats/v1/destination_stats.proto"),
		Package: proto.String("outrider.extensions.filters.http.destination_stats.v1"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("DestinationStats"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("stat_prefix"), JsonName: proto.String("statPrefix"), Number: proto.Int32(1), Type: &str, Label: &opt},
				{Name: proto.String("max_destinations"), JsonName: proto.String("maxDestinations"), Number: proto.Int32(2), Type: &u32, Label: &opt},
			},
		}},
	}
	fd, err := protodesc.NewFile(file, protoregistry.GlobalFiles)
	if err != nil {
		panic("deststatspb: " + err.Error())
	}
	if err := protoregistry.GlobalFiles.RegisterFile(fd); err != nil {
		panic("deststatspb: " + err.Error())
	}
	md := fd.Messages().Get(0)
	msgType = dynamicpb.NewMessageType(md)
	if err := protoregistry.GlobalTypes.RegisterMessage(msgType); err != nil {
		panic("deststatspb: " + err.Error())
	}
	statPrefix = md.Fields().ByName("stat_prefix")
	maxDestinations = md.Fields().ByName("max_destinations")
}

// New returns a DestinationStats message with the given fields.
func New(prefix string, max uint32) proto.Message {
	m := msgType.New()
	if prefix != "" {
		m.Set(statPrefix, protoreflect.ValueOfString(prefix))
	}
	if max != 0 {
		m.Set(maxDestinations, protoreflect.ValueOfUint32(max))
	}
	return m.Interface()
}

// Is reports whether m is a DestinationStats message.
func Is(m proto.Message) bool {
	return m != nil && m.ProtoReflect().Descriptor().FullName() == FullName
}

// StatPrefix is m's stat_prefix; m must be a DestinationStats message.
func StatPrefix(m proto.Message) string {
	return m.ProtoReflect().Get(statPrefix).String()
}

// MaxDestinations is m's max_destinations.
func MaxDestinations(m proto.Message) uint32 {
	return uint32(m.ProtoReflect().Get(maxDestinations).Uint())
}
