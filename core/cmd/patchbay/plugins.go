package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/patchbayhq/patchbay/config"
	"github.com/patchbayhq/patchbay/core/pluginhost"
	"github.com/patchbayhq/patchbay/sdk"
)

// pluginListing is one discovered plugin in `patchbay plugins -json`.
type pluginListing struct {
	Path     string        `json:"path"`
	Manifest *manifestJSON `json:"manifest,omitempty"`
	Error    string        `json:"error,omitempty"`
}

type manifestJSON struct {
	Kind         string            `json:"kind"`
	Version      string            `json:"version"`
	DisplayName  string            `json:"display_name"`
	Description  string            `json:"description"`
	Capabilities capabilitiesJSON  `json:"capabilities"`
	ConfigFields []configFieldJSON `json:"config_fields"`
}

type capabilitiesJSON struct {
	AttachmentsIn      bool   `json:"attachments_in"`
	AttachmentsOut     bool   `json:"attachments_out"`
	MaxAttachmentBytes int64  `json:"max_attachment_bytes"`
	Threads            bool   `json:"threads"`
	HTML               bool   `json:"html"`
	ReplyWindow        string `json:"reply_window,omitempty"`
	Webhooks           bool   `json:"webhooks"`
}

type configFieldJSON struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Required    bool   `json:"required"`
	Secret      bool   `json:"secret"`
	Description string `json:"description,omitempty"`
	Default     string `json:"default,omitempty"`
}

func toManifestJSON(m sdk.Manifest) *manifestJSON {
	c := m.Capabilities
	out := &manifestJSON{
		Kind: m.Kind, Version: m.Version, DisplayName: m.DisplayName, Description: m.Description,
		Capabilities: capabilitiesJSON{
			AttachmentsIn: c.AttachmentsIn, AttachmentsOut: c.AttachmentsOut, MaxAttachmentBytes: c.MaxAttachmentBytes,
			Threads: c.Threads, HTML: c.HTML, Webhooks: c.Webhooks,
		},
		ConfigFields: []configFieldJSON{},
	}
	if c.ReplyWindow > 0 {
		out.Capabilities.ReplyWindow = c.ReplyWindow.String()
	}
	for _, f := range m.ConfigFields {
		out.ConfigFields = append(out.ConfigFields, configFieldJSON(f))
	}
	return out
}

// cmdPlugins lists the plugin binaries of a plugin directory (-dir, or the
// plugin_dir of -config plus the explicit `command` binaries of its
// channels) with their Describe manifests.
func cmdPlugins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("plugins", "[-config FILE | -dir DIR] [-json]", stderr)
	cfgPath := fs.String("config", "", "configuration file whose plugin_dir to list")
	dir := fs.String("dir", "", "plugin directory to list (default: "+config.DefaultPluginDir+")")
	asJSON := fs.Bool("json", false, "print JSON")
	var lf logFlags
	lf.register(fs, "error")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if *cfgPath != "" && *dir != "" {
		return fmt.Errorf("%w: give -config or -dir, not both", errUsage)
	}
	logger, err := lf.logger(stderr, nil)
	if err != nil {
		return err
	}
	pluginDir := *dir
	var commands []string // explicit `command` binaries of the config's channels
	switch {
	case *cfgPath != "":
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		pluginDir = cfg.PluginDir
		for _, ch := range cfg.Channels {
			if ch.Command != "" {
				commands = append(commands, ch.Command)
			}
		}
	case pluginDir == "":
		pluginDir = config.DefaultPluginDir
	}
	paths, err := pluginhost.Discover(pluginDir)
	if err != nil && len(commands) == 0 {
		return err
	}
	for _, c := range commands {
		if !slices.Contains(paths, c) {
			paths = append(paths, c)
		}
	}
	listings := make([]pluginListing, 0, len(paths))
	failed := false
	for _, p := range paths {
		l := pluginListing{Path: p}
		m, err := pluginhost.Describe(ctx, p, logger)
		if err != nil {
			l.Error = err.Error()
			failed = true
		} else {
			l.Manifest = toManifestJSON(m)
		}
		listings = append(listings, l)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"plugin_dir": pluginDir, "plugins": listings}); err != nil {
			return err
		}
	} else {
		printPlugins(stdout, pluginDir, listings)
	}
	if failed {
		return errFailed
	}
	return nil
}

func printPlugins(w io.Writer, dir string, listings []pluginListing) {
	if len(listings) == 0 {
		fmt.Fprintf(w, "no plugins (patchbay-plugin-<kind>) in %s\n", dir)
		return
	}
	for i, l := range listings {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if l.Manifest == nil {
			fmt.Fprintf(w, "%s\n  error: %s\n", l.Path, l.Error)
			continue
		}
		m := l.Manifest
		fmt.Fprintf(w, "%s %s — %s\n  %s\n", m.Kind, m.Version, m.DisplayName, l.Path)
		if m.Description != "" {
			fmt.Fprintf(w, "  %s\n", m.Description)
		}
		fmt.Fprintf(w, "  capabilities: %s\n", capabilities(m.Capabilities))
		if len(m.ConfigFields) > 0 {
			fmt.Fprintln(w, "  config:")
			for _, f := range m.ConfigFields {
				var tags []string
				if f.Required {
					tags = append(tags, "required")
				}
				if f.Secret {
					tags = append(tags, "secret")
				}
				if f.Default != "" {
					tags = append(tags, "default "+f.Default)
				}
				extra := ""
				if len(tags) > 0 {
					extra = " (" + strings.Join(tags, ", ") + ")"
				}
				fmt.Fprintf(w, "    %-20s %-8s %s%s\n", f.Name, f.Type, f.Description, extra)
			}
		}
	}
}

func capabilities(c capabilitiesJSON) string {
	var out []string
	add := func(ok bool, s string) {
		if ok {
			out = append(out, s)
		}
	}
	add(c.Webhooks, "webhooks")
	add(c.AttachmentsIn, "attachments in")
	add(c.AttachmentsOut, "attachments out")
	add(c.Threads, "threads")
	add(c.HTML, "html")
	if c.MaxAttachmentBytes > 0 {
		out = append(out, fmt.Sprintf("max attachment %d MiB", c.MaxAttachmentBytes>>20))
	}
	if c.ReplyWindow != "" {
		out = append(out, "reply window "+c.ReplyWindow)
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}
