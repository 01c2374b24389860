package localpod

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ShareExecutable copies the executable at path into a new directory that
// every user may enter, and returns the copy's path. Processes started in a
// pod as an unprivileged user (the proxy as UID 1337) cannot run a program
// kept where go test and t.TempDir keep theirs: in directories only root may
// enter. Remove the copy with os.RemoveAll(filepath.Dir(copy)).
func ShareExecutable(path string) (string, error) {
	dir, err := os.MkdirTemp("", "localpod-bin-")
	if err != nil {
		return "", fmt.Errorf("localpod: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("localpod: %w", err)
	}
	dst := filepath.Join(dir, filepath.Base(path))
	if err := copyExecutable(path, dst); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("localpod: sharing %s: %w", path, err)
	}
	return dst, nil
}

func copyExecutable(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
