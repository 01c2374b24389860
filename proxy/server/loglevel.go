package server

import (
	"fmt"
	"log/slog"
	"strings"
)

// Levels beyond slog's four, so that Envoy's names all mean something.
const (
	LevelTrace    = slog.LevelDebug - 4
	LevelCritical = slog.LevelError + 4
	LevelOff      = slog.LevelError + 8
)

// ParseLevel maps Envoy's log level names (trace, debug, info, warning or
// warn, error, critical, off) onto slog levels.
func ParseLevel(name string) (slog.Level, error) {
	switch strings.ToLower(name) {
	case "trace":
		return LevelTrace, nil
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warning", "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	case "critical":
		return LevelCritical, nil
	case "off":
		return LevelOff, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want trace, debug, info, warning, error, critical or off)", name)
}

// LevelName is the Envoy name of l.
func LevelName(l slog.Level) string {
	switch {
	case l <= LevelTrace:
		return "trace"
	case l <= slog.LevelDebug:
		return "debug"
	case l <= slog.LevelInfo:
		return "info"
	case l <= slog.LevelWarn:
		return "warning"
	case l <= slog.LevelError:
		return "error"
	case l <= LevelCritical:
		return "critical"
	}
	return "off"
}
