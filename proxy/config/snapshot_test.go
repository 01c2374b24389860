package config

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

func TestASnapshotGivesBackTheBootstrapAndItsDump(t *testing.T) {
	b, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	back, err := s.Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(back, b) {
		t.Error("the snapshot's bootstrap differs from the one it was made of")
	}
	if !proto.Equal(s.Node(), b.GetNode()) {
		t.Errorf("node = %v, want %v", s.Node(), b.GetNode())
	}
	loaded := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want, err := DumpAt(b, loaded)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.DumpAt(loaded)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the snapshot's dump differs from the bootstrap's:\n%s", got)
	}
}
