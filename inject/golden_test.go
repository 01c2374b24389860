package inject

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// testConfig pins the version so golden files do not change with every build.
var testConfig = Config{Version: "test"}

// inputs returns the testdata/*.yaml files that are inputs, not golden outputs.
func inputs(t *testing.T, dir string) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range all {
		if !strings.HasSuffix(f, ".injected.yaml") {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no inputs in %s", dir)
	}
	return out
}

// golden compares got with the file, or rewrites the file under -update.
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run: go test ./inject -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale (run: go test ./inject -update, then review the diff)\n--- got ---\n%s", file, got)
	}
}

// withNotes puts the notes in front of out as YAML comments, so golden files show them.
func withNotes(notes []string, out []byte) []byte {
	var b bytes.Buffer
	for _, n := range notes {
		b.WriteString("# note: " + n + "\n")
	}
	b.Write(out)
	return b.Bytes()
}

func TestInjectedManifestsMatchGoldenFiles(t *testing.T) {
	for _, in := range inputs(t, "testdata") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, notes, err := testConfig.InjectYAML(src)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(in, ".yaml")+".injected.yaml", withNotes(notes, out))
		})
	}
}

func TestInjectingTwiceEqualsInjectingOnce(t *testing.T) {
	for _, in := range inputs(t, "testdata") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, _ := os.ReadFile(in)
			once, _, err := testConfig.InjectYAML(src)
			if err != nil {
				t.Fatal(err)
			}
			twice, _, err := testConfig.InjectYAML(once)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(once, twice) {
				t.Errorf("second injection changed the output:\n--- once ---\n%s\n--- twice ---\n%s", once, twice)
			}
		})
	}
}

func TestUninjectingRestoresTheOriginal(t *testing.T) {
	for _, in := range inputs(t, "testdata") {
		if filepath.Base(in) == "reinject.yaml" {
			continue // its input is itself an injection
		}
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, _ := os.ReadFile(in)
			injected, _, err := testConfig.InjectYAML(src)
			if err != nil {
				t.Fatal(err)
			}
			back, _, err := UninjectYAML(injected)
			if err != nil {
				t.Fatal(err)
			}
			if want, got := documents(t, src), documents(t, back); !reflect.DeepEqual(want, got) {
				t.Errorf("uninject(inject(x)) != x:\n--- x ---\n%s\n--- uninject(inject(x)) ---\n%s", src, back)
			}
		})
	}
}

func TestUntouchedDocumentsComeOutByteForByte(t *testing.T) {
	tests := []struct {
		name, file string
		// docs is how many leading documents must be unchanged; -1 means all of them.
		docs int
	}{
		{name: "kinds without a pod template pass through", file: "testdata/multi-doc.yaml", docs: 3},
		{name: "skipped pods pass through", file: "testdata/opt-out.yaml", docs: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, _ := os.ReadFile(tt.file)
			out, _, err := testConfig.InjectYAML(src)
			if err != nil {
				t.Fatal(err)
			}
			in, got := split(t, src), split(t, out)
			if tt.docs < 0 {
				tt.docs = len(in)
			}
			for i := 0; i < tt.docs; i++ {
				if !bytes.Equal(in[i], got[i]) {
					t.Errorf("document %d changed:\n--- in ---\n%s\n--- out ---\n%s", i+1, in[i], got[i])
				}
			}
		})
	}
}

func TestBadManifestsFailNamingTheDocumentAndWriteNothing(t *testing.T) {
	for _, in := range inputs(t, filepath.Join("testdata", "errors")) {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, _ := os.ReadFile(in)
			out, _, err := testConfig.InjectYAML(src)
			if err == nil {
				t.Fatalf("want an error, got:\n%s", out)
			}
			if out != nil {
				t.Errorf("wrote output despite the error:\n%s", out)
			}
			golden(t, strings.TrimSuffix(in, ".yaml")+".err", []byte(err.Error()+"\n"))
		})
	}
}

// split returns the documents of a YAML stream as raw bytes.
func split(t *testing.T, src []byte) [][]byte {
	t.Helper()
	r := k8syaml.NewYAMLReader(bufioReader(src))
	var docs [][]byte
	for {
		d, err := r.Read()
		if err != nil {
			break
		}
		docs = append(docs, append([]byte(nil), d...))
	}
	return docs
}

// documents decodes a YAML stream into generic values for comparison.
func documents(t *testing.T, src []byte) []any {
	t.Helper()
	var out []any
	for _, d := range split(t, src) {
		var v any
		if err := yaml.Unmarshal(d, &v); err != nil {
			t.Fatal(err)
		}
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}
