package config

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

func unpackAny(t *testing.T, m protoreflect.Message) protoreflect.Message {
	t.Helper()
	inner, err := anypb.UnmarshalNew(m.Interface().(*anypb.Any), proto.UnmarshalOptions{Resolver: supportedTypes{}})
	if err != nil {
		t.Fatalf("unpack %v: %v", m.Interface(), err)
	}
	return inner.ProtoReflect()
}
