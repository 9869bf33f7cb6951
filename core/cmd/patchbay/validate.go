package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/patchbayhq/patchbay/config"
	"github.com/patchbayhq/patchbay/core/logscrub"
	"github.com/patchbayhq/patchbay/core/pluginhost"
	"github.com/patchbayhq/patchbay/sdk"
)

// cmdValidate loads the configuration, starts each channel's plugin once,
// runs Configure, and prints every problem. Exit status 1 if any.
func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", "-config FILE", stderr)
	cfgPath := fs.String("config", "config/patchbay.hcl", "configuration file")
	var lf logFlags
	lf.register(fs, "error")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	scrub := logscrub.New()
	logger, err := lf.logger(stderr, scrub)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stdout, "%v\n", err)
		return errFailed
	}
	fmt.Fprintf(stdout, "%s: configuration ok, %d channel(s)\n", cfg.Path, len(cfg.Channels))
	failed := 0
	sink := pluginhost.WithSecretSink(func(channel string, secrets []string) { scrub.Set("channel:"+channel, secrets) })
	for _, c := range pluginhost.Validate(ctx, pluginhostOptions(cfg), logger, sink) {
		// A plugin may echo a value it rejects: keep the channel's secrets
		// (env() values, URL passwords, fields the manifest marks secret)
		// out of the report.
		ch, _ := cfg.Channel(c.Channel)
		redact := func(s string) string { return ch.Redact(s, secretFields(c.Manifest)...) }
		if c.Err == nil {
			fmt.Fprintf(stdout, "channel %q (%s %s, %s): ok\n", c.Channel, c.Manifest.Kind, c.Manifest.Version, c.Path)
			continue
		}
		failed++
		var fe sdk.FieldErrors
		if errors.As(c.Err, &fe) {
			fmt.Fprintf(stdout, "channel %q (%s): invalid configuration\n", c.Channel, c.Plugin)
			for _, f := range fe {
				field := "config"
				if f.Field != "" {
					field = "config." + f.Field
				}
				fmt.Fprintf(stdout, "  channel %q: %s: %s\n", c.Channel, field, redact(f.Message))
			}
			continue
		}
		fmt.Fprintf(stdout, "channel %q (%s): %s\n", c.Channel, c.Plugin, redact(c.Err.Error()))
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d of %d channel(s) failed validation\n", failed, len(cfg.Channels))
		return errFailed
	}
	return nil
}

// secretFields returns the config fields a manifest marks secret.
func secretFields(m sdk.Manifest) []string {
	var out []string
	for _, f := range m.ConfigFields {
		if f.Secret {
			out = append(out, f.Name)
		}
	}
	return out
}
