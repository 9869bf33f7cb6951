package pluginhost

import (
	"errors"

	"github.com/patchbayhq/patchbay/sdk"
)

// secretFieldNames returns the config fields a manifest marks secret.
func secretFieldNames(m sdk.Manifest) []string {
	var out []string
	for _, f := range m.ConfigFields {
		if f.Secret {
			out = append(out, f.Name)
		}
	}
	return out
}

// redact removes the channel's secret values (env() values, URL passwords
// and the fields its plugin's manifest marks secret) from text the host
// shows operators: LastError, the reported status, log lines, send errors.
// A plugin that echoes its token in an error message does not leak it.
func (in *instance) redact(s string) string {
	in.mu.RLock()
	m := in.manifest
	in.mu.RUnlock()
	return in.ch.redact(s, secretFieldNames(m)...)
}

// redactedError is an error whose message had secrets removed; it still
// unwraps to the original for errors.Is/As.
type redactedError struct {
	msg string
	err error
}

// Error returns the redacted message.
func (e *redactedError) Error() string { return e.msg }

// Unwrap returns the original error.
func (e *redactedError) Unwrap() error { return e.err }

// redactErr returns err with secrets removed from its message. A
// *sdk.SendError stays a *sdk.SendError (the outbox reads its retry flag),
// with its message redacted.
func (in *instance) redactErr(err error) error {
	if err == nil {
		return nil
	}
	var se *sdk.SendError
	if errors.As(err, &se) {
		msg := se.Message
		if msg == "" && se.Err != nil {
			msg = se.Err.Error()
		}
		if red := in.redact(msg); red != msg || se.Err != nil {
			cp := *se
			cp.Message, cp.Err = red, nil
			return &cp
		}
		return err
	}
	msg := err.Error()
	if red := in.redact(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}
