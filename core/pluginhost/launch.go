package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/patchbayhq/patchbay/internal/wire"
	"github.com/patchbayhq/patchbay/sdk"
)

// BinaryPrefix is the file name prefix of plugin binaries:
// patchbay-plugin-<kind>.
const BinaryPrefix = "patchbay-plugin-"

// EnvAllowlist returns the names of the core's environment variables that a
// plugin inherits. Everything else (PATCHBAY_ADMIN_TOKEN, provider secrets,
// cloud credentials) stays in the core: plugins get their secrets through
// Configure. go-plugin adds its own handshake variables.
func EnvAllowlist() []string {
	return []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "SSL_CERT_FILE", "SSL_CERT_DIR"}
}

// PluginPath returns the binary a channel runs: its explicit command, or
// patchbay-plugin-<kind> in pluginDir.
func PluginPath(pluginDir string, ch Channel) string {
	if ch.Command != "" {
		return ch.Command
	}
	return filepath.Join(pluginDir, BinaryPrefix+ch.Plugin)
}

// checkBinary verifies that path is an executable regular file and, when
// pin is set, that its sha256 matches.
func checkBinary(path, pin string) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s does not exist (run `make build`, or set plugin_dir or command)", ErrPluginNotFound, path)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPluginNotFound, err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%w: %s is not an executable file", ErrPluginNotFound, path)
	}
	if pin == "" {
		return nil
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return fmt.Errorf("checksum %s: %w", path, err)
	}
	if sum != pin {
		return fmt.Errorf("%w: %s has sha256 %s, the channel pins %s; refusing to start it", ErrChecksumMismatch, path, sum, pin)
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// pluginEnv returns the allowlisted part of the core's environment.
func pluginEnv() []string {
	names := EnvAllowlist()
	env := make([]string, 0, len(names))
	for _, name := range names {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// newClient builds a go-plugin client for one launch of the binary at
// path: versioned handshake, gRPC only, AutoMTLS, the sha256 pin (checked
// again by go-plugin right before exec), a minimal environment and a new
// process group. A go-plugin client is good for one process only.
func newClient(path, pin string, logger hclog.Logger, startTimeout time.Duration) (*plugin.Client, *exec.Cmd, error) {
	cmd := exec.Command(path)
	cmd.Env = append(pluginEnv(), sdk.LogLevelEnv+"="+levelName(logger))
	cmd.SysProcAttr = procAttr()

	cc := &plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          wire.ClientPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		Logger:           logger,
		GRPCDialOptions:  wire.GRPCDialOptions(),
		StartTimeout:     startTimeout,
	}
	if pin != "" {
		sum, err := hex.DecodeString(pin)
		if err != nil {
			return nil, nil, fmt.Errorf("sha256 pin: %w", err)
		}
		cc.SecureConfig = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	return plugin.NewClient(cc), cmd, nil
}

// levelName is the plugin log level matching the core's logger.
func levelName(l hclog.Logger) string {
	switch {
	case l.IsTrace():
		return "trace"
	case l.IsDebug():
		return "debug"
	case l.IsInfo():
		return "info"
	case l.IsWarn():
		return "warn"
	default:
		return "error"
	}
}

// launchError turns go-plugin's errors into ours.
func launchError(path string, err error) error {
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("%w: %s changed since it was checked; refusing to start it", ErrChecksumMismatch, path)
	case strings.Contains(strings.ToLower(err.Error()), "incompatible api version"):
		return fmt.Errorf("%w: %s does not speak plugin protocol %d (rebuild it against this SDK): %w", ErrIncompatible, path, wire.Handshake.ProtocolVersion, err)
	default:
		return fmt.Errorf("start plugin %s: %w", path, err)
	}
}

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) {
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}
