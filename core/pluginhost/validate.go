package pluginhost

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/patchbayhq/patchbay/sdk"
)

// Check is the outcome of validating one channel: its plugin was found,
// started, described itself and accepted (or rejected) the configuration.
type Check struct {
	Channel string
	Plugin  string
	// Path is the plugin binary.
	Path     string
	Manifest sdk.Manifest
	// Err is nil when the channel is valid. Invalid configuration is an
	// sdk.FieldErrors (use errors.As); launch failures wrap
	// ErrPluginNotFound or ErrChecksumMismatch.
	Err error
}

// Validate starts each channel's plugin once, without a core behind it,
// runs Describe and Configure (not Start), and stops it again. Channels are
// checked one after the other; every channel gets a Check. During
// validation a plugin's state calls work on a throw-away in-memory copy
// (never the store, which a running core may hold); Deliver and attachment
// calls fail with ErrNoBackend.
//
// Of opts only WithSecretSink applies: it receives each channel's secret
// values before its plugin starts and again once its manifest is known.
func Validate(ctx context.Context, o Options, logger hclog.Logger, opts ...Option) []Check {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	var mo Manager
	for _, opt := range opts {
		opt(&mo)
	}
	checks := make([]Check, 0, len(o.Channels))
	scratch := newScratchBackend()
	for _, ch := range o.Channels {
		in := &instance{
			ch:        ch,
			backend:   scratch,
			path:      PluginPath(o.PluginDir, ch),
			publicURL: o.webhookURL(ch.Name),
			sup:       DefaultSupervision(),
			logger:    logger.Named("validate").With("channel", ch.Name, "plugin", ch.Plugin),
			metrics:   mustMetrics(),
			kick:      make(chan struct{}, 1),
			sink:      mo.secretSink,
		}
		if in.sink != nil {
			in.sink(ch.Name, ch.secretValues())
		}
		c := Check{Channel: ch.Name, Plugin: ch.Plugin, Path: in.path}
		c.Manifest, c.Err = in.probe(ctx, func(ctx context.Context, conn channelConn) error {
			return conn.Configure(ctx, configureArgs{
				Instance:    ch.Name,
				Config:      ch.Config,
				Attachments: ch.Attachments,
				PublicURL:   in.publicURL,
			})
		})
		if c.Err == nil && c.Manifest.Kind != ch.Plugin {
			c.Err = fmt.Errorf("%s describes itself as kind %q, the channel wants %q", in.path, c.Manifest.Kind, ch.Plugin)
		}
		checks = append(checks, c)
	}
	return checks
}

// mustMetrics returns unregistered collectors (registering nothing cannot
// fail).
func mustMetrics() *metrics {
	m, _ := newMetrics(nil)
	return m
}

// probe launches the instance's plugin, runs Describe and then fn, and
// ends the process (Stop RPC only if fn configured it).
func (in *instance) probe(ctx context.Context, fn func(context.Context, channelConn) error) (sdk.Manifest, error) {
	if err := checkBinary(in.path, in.ch.SHA256); err != nil {
		return sdk.Manifest{}, err
	}
	sess, err := startSession(in.path, in.ch.SHA256, in.logger, newHostBackend(in), in.sup.StartTimeout)
	if err != nil {
		return sdk.Manifest{}, err
	}
	defer in.stopSession(sess, stopQuiet)
	ctx, cancel := context.WithTimeout(ctx, in.sup.StartTimeout)
	defer cancel()
	m, err := sess.conn.Describe(ctx)
	if err != nil {
		return sdk.Manifest{}, fmt.Errorf("describe: %w", err)
	}
	if in.sink != nil {
		in.sink(in.ch.Name, in.ch.secretValues(secretFieldNames(m)...))
	}
	if fn != nil {
		if err := fn(ctx, sess.conn); err != nil {
			return m, err
		}
	}
	return m, nil
}

// Describe starts the plugin binary at path, asks for its manifest and
// ends it.
func Describe(ctx context.Context, path string, logger hclog.Logger) (sdk.Manifest, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	kind := strings.TrimPrefix(filepath.Base(path), BinaryPrefix)
	in := &instance{
		ch:      Channel{Name: kind, Plugin: kind},
		backend: newScratchBackend(),
		path:    path,
		sup:     Supervision{StartTimeout: 30 * time.Second}.withDefaults(),
		logger:  logger.Named("describe").With("plugin", kind),
		metrics: mustMetrics(),
		kick:    make(chan struct{}, 1),
	}
	return in.probe(ctx, nil)
}

// Discover lists the plugin binaries (executable files named
// patchbay-plugin-<kind>) in dir, sorted by name.
func Discover(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("plugin directory: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), BinaryPrefix) || len(e.Name()) == len(BinaryPrefix) {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	sort.Strings(out)
	return out, nil
}
