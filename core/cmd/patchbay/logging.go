package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/core/logscrub"
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

// logger returns the command's logger writing to w. With a scrubber, every
// line passes through it (core/logscrub): no configured secret reaches the
// log.
func (l *logFlags) logger(w io.Writer, scrub *logscrub.Scrubber) (hclog.Logger, error) {
	level := hclog.LevelFromString(l.level)
	if level == hclog.NoLevel {
		return nil, fmt.Errorf("%w: unknown -log-level %q", errUsage, l.level)
	}
	if l.format != "text" && l.format != "json" {
		return nil, fmt.Errorf("%w: unknown -log-format %q", errUsage, l.format)
	}
	if scrub != nil {
		w = scrub.Writer(w)
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "patchbay",
		Level:      level,
		Output:     w,
		JSONFormat: l.format == "json",
	}), nil
}
