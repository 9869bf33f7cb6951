package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"
)

// logFlags are the logging flags shared by the commands.
type logFlags struct {
	level  string
	format string
}

func (l *logFlags) register(fs *flag.FlagSet, defLevel string) {
	fs.StringVar(&l.level, "log-level", defLevel, "log level: trace, debug, info, warn, error")
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
}

func (l *logFlags) logger(w io.Writer) (hclog.Logger, error) {
	level := hclog.LevelFromString(l.level)
	if level == hclog.NoLevel {
		return nil, fmt.Errorf("%w: unknown -log-level %q", errUsage, l.level)
	}
	if l.format != "text" && l.format != "json" {
		return nil, fmt.Errorf("%w: unknown -log-format %q", errUsage, l.format)
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "patchbay",
		Level:      level,
		Output:     w,
		JSONFormat: l.format == "json",
	}), nil
}
